#!/bin/bash
# Guest test: Ceph RBD served natively, with a one-node Ceph inside the guest
# (tests/ceph/ceph-one-node.sh on the guest's loopback; the binaries are the host's):
#   - the README's seed with an RBD image through targetcli, open-iscsi login, mkfs.ext4,
#     files, fsck -f, fio verify, and the data in the image as `rbd export` reads it.
#     targetcli (rtslib) refuses ':' in a config string, so it gets the structured keys
#     (@driver=rbd@pool=rbd@image=img); QEMU's `@file=rbd:rbd/img` is created through
#     configfs, as `qemu-tcmu export` and ceph-iscsi-style tools do, and read back;
#   - tcmu-runner's `user:rbd` config string (`rbd/pool/image;osd_op_timeout=30`, as
#     ceph-iscsi writes it) served by our daemon with -x rbd, tcmu-runner not running;
#   - `rbd resize` while the initiator is logged in: LIO's dev_size follows and the
#     initiator sees the new capacity after the unit attention (rescan).
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap 'lio_cleanup; "$SRC_DIR/tests/ceph/ceph-one-node.sh" stop /run/ceph' EXIT

IQN=iqn.2003-01.org.linux-iscsi.qt:rbd
IQN2=iqn.2003-01.org.linux-iscsi.qt:rbd2
export CEPH_MEMSTORE_BYTES=$((768 << 20)) CEPH_MGR=0

setup() {
	local t
	t=$(qt_ms)
	"$SRC_DIR/tests/ceph/ceph-one-node.sh" start /run/ceph >&2 || return 1
	export CEPH_CONF=/run/ceph/ceph.conf
	qt_log "ceph up in $(($(qt_ms) - t)) ms"
	lio_start_dbus || return 1
	rbd create --size 256M rbd/img && rbd create --size 64M rbd/img2
}

check_seed_rbd() {
	local dev so
	modprobe target_core_user
	qt_daemon_start
	qt_targetcli /backstores/user:qemu create rbdlun 256M @id=rbd0@driver=rbd@pool=rbd@image=img
	qt_targetcli /iscsi create $IQN
	qt_targetcli /iscsi/$IQN/tpg1 set attribute authentication=0 generate_node_acls=1 \
		demo_mode_write_protect=0 prod_mode_write_protect=0
	qt_targetcli /iscsi/$IQN/tpg1/luns create /backstores/user:qemu/rbdlun
	grep 'rbd0: serving rbd:rbd/img' "$QT_LOG" | grep -q '(.*, rbd)' # native, not the helper
	dev=$(lio_iscsi_login $IQN 127.0.0.1:3260)
	qt_log "open-iscsi: $dev"
	mkfs.ext4 -q -F "$dev"
	mkdir -p /mnt/r
	mount "$dev" /mnt/r
	for i in $(seq 8); do head -c $((i * 100000)) /dev/urandom >/mnt/r/f$i; done
	(cd /mnt/r && md5sum f*) >/run/md5.txt
	umount /mnt/r
	fsck.ext4 -f -n "$dev"
	mount "$dev" /mnt/r
	(cd /mnt/r && md5sum -c --quiet /run/md5.txt)
	umount /mnt/r
	fio --name=verify --filename="$dev" --ioengine=libaio --direct=1 --iodepth=16 \
		--rw=randwrite --bs=4k --offset=128M --size=16M --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output=/run/fio.txt
	grep -E '^ +(write|read):' /run/fio.txt
	qt_pattern /run/p8 8
	dd if=/run/p8 of="$dev" bs=1M seek=200 oflag=direct conv=fsync status=none
	lio_iscsi_logout $IQN
	rbd export --no-progress rbd/img /run/img.raw
	cmp /run/p8 <(dd if=/run/img.raw bs=1M skip=200 count=8 status=none)
	rm -f /run/img.raw
	qt_targetcli /iscsi delete $IQN
	qt_targetcli /backstores/user:qemu delete rbdlun
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
	# QEMU's rbd: name, through configfs (a tcm_loop disk): the pattern is there
	so=$(qt_user_create rbdq "@id=rbdq@file=rbd:rbd/img" $((256 << 20)))
	grep 'rbdq: serving rbd:rbd/img' "$QT_LOG" | grep -q '(.*, raw)'
	dev=$(lio_loop_export "$so")
	cmp /run/p8 <(dd if="$dev" bs=1M skip=200 count=8 iflag=direct status=none)
	lio_teardown
	qt_daemon_stop
}

check_runner_form() {
	local so dev
	qt_daemon_stop # the user:qemu one, if the check before failed half-way
	! pgrep -x tcmu-runner
	qt_daemon_start -x rbd --no-dbus
	so=$(lio_user_create rbd2 rbd "rbd/img2;osd_op_timeout=30" $((64 << 20)))
	qt_wait_log 'serving' "$QT_LOG" 20
	grep 'serving' "$QT_LOG" | tail -n1 | grep -q 'rbd'
	lio_iscsi_export "$so" $IQN2
	dev=$(lio_iscsi_login $IQN2 127.0.0.1:3260)
	echo "$dev" >/run/rbd2.dev
	qt_pattern /run/p4 4
	dd if=/run/p4 of="$dev" bs=1M seek=10 oflag=direct conv=fsync status=none
	rbd export --no-progress rbd/img2 /run/img2.raw
	cmp /run/p4 <(dd if=/run/img2.raw bs=1M skip=10 count=4 status=none)
	rm -f /run/img2.raw
}

check_resize() {
	local dev so size i
	dev=$(cat /run/rbd2.dev)
	so=$CFS/core/user_$LIO_HBA/rbd2
	[ "$(blockdev --getsize64 "$dev")" = $((64 << 20)) ]
	rbd resize --size 96M rbd/img2
	for i in $(seq 100); do
		size=$(cat "$so/attrib/dev_size" 2>/dev/null || echo 0)
		[ "$size" = $((96 << 20)) ] && break
		sleep 0.1
	done
	[ "$size" = $((96 << 20)) ] || qt_fail "LIO's dev_size is $size, not 96M"
	grep -q 'capacity changed' "$QT_LOG"
	# the next command gets the unit attention; the initiator rescans
	dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none || true
	iscsiadm -m session -R >&2
	for i in $(seq 50); do
		[ "$(blockdev --getsize64 "$dev")" = $((96 << 20)) ] && break
		sleep 0.1
	done
	[ "$(blockdev --getsize64 "$dev")" = $((96 << 20)) ] ||
		qt_fail "the initiator sees $(blockdev --getsize64 "$dev") bytes"
	qt_pattern /run/p2 2
	dd if=/run/p2 of="$dev" bs=1M seek=80 oflag=direct conv=fsync status=none
	cmp /run/p2 <(dd if="$dev" bs=1M skip=80 count=2 iflag=direct status=none)
	lio_iscsi_logout $IQN2
	lio_teardown
	qt_daemon_stop
}

setup || exit 1
qt_check "seed with rbd: targetcli user:qemu (rbd keys), iSCSI, mkfs/fsck, fio verify; rbd: name" \
	check_seed_rbd
qt_check "tcmu-runner's user:rbd config (rbd/img2;osd_op_timeout=30) served with -x rbd" \
	check_runner_form
qt_check "rbd resize while logged in: dev_size follows, the initiator sees the capacity" \
	check_resize
qt_summary
