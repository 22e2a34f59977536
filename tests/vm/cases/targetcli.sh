#!/bin/bash
# Guest test: the README's seed, verbatim, on the real kernel, and what users do next:
#   - `qemu-img create test.file 1G`, `modprobe target_core_user`, `qemu-tcmu`, the four
#     targetcli lines with @id=test@file=/root/test.file;
#   - the kernel's iSCSI initiator (open-iscsi) logs in over 127.0.0.1, writes random
#     data, reads it back identical; libiscsi's tools see the LUN; the data is in the
#     image; targetcli tears it all down and configfs is empty;
#   - a raw image (cache=none, on ext4) exported on tcm_loop with targetcli: mkfs.ext4,
#     files written, fsck -f clean, files read back, fio verify=crc32c;
#   - bad input through targetcli: a missing file, an unknown key, a bad value, a size
#     beyond the image: creation fails with our message, nothing is left half-created;
#   - SIGTERM: the daemon exits 0.
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

IQN=iqn.2003-01.org.linux-iscsi.qt:seed
S=/mnt/scratch # ext4 on a RAM disk: O_DIRECT and fallocate for cache=none

setup() {
	lio_start_dbus || return 1
	lio_scratch_fs $S 512 || return 1
}

check_seed() {
	cd /root
	qemu-img create test.file 1G
	modprobe target_core_user
	qt_daemon_start # = `qemu-tcmu`, in the background until it reports READY=1
	# alone: we own org.kernel.TCMUService1 (a targetcli run before qemu-tcmu would have
	# had D-Bus activate tcmu-runner, which Debian's package allows)
	grep -q 'D-Bus: service' "$QT_LOG"
	! pgrep -x tcmu-runner
	qt_targetcli /backstores/user:qemu create qemulun 1G @id=test@file=/root/test.file
	qt_targetcli /iscsi create $IQN
	qt_targetcli /iscsi/$IQN/tpg1 set attribute authentication=0 generate_node_acls=1 \
		demo_mode_write_protect=0 prod_mode_write_protect=0
	qt_targetcli /iscsi/$IQN/tpg1/luns create /backstores/user:qemu/qemulun
	grep -q 'test: serving /root/test.file' "$QT_LOG"
	# prefs: no saveconfig.json written on every exit (the overlay is thrown away anyway)
	qt_targetcli set global auto_save_on_exit=false >/dev/null
}

check_seed_initiator() {
	local dev
	dev=$(lio_iscsi_login $IQN 127.0.0.1:3260)
	qt_log "open-iscsi: $IQN is $dev"
	sg_inq "$dev" | tee /run/inq.txt
	grep -q 'Vendor identification: LIO-ORG' /run/inq.txt
	[ "$(blockdev --getsize64 "$dev")" = $((1 << 30)) ]
	qt_pattern /run/p32 32
	dd if=/run/p32 of="$dev" bs=1M seek=512 oflag=direct conv=fsync status=none
	cmp /run/p32 <(dd if="$dev" bs=1M skip=512 count=32 iflag=direct status=none)
	lio_iscsi_logout $IQN
	# libiscsi, a second initiator
	iscsi-inq iscsi://127.0.0.1/$IQN/0 | grep -q 'Vendor:LIO-ORG'
	iscsi-readcapacity16 iscsi://127.0.0.1/$IQN/0 | grep -q "Total size:$((1 << 30))"
	# SYNCHRONIZE CACHE went through (conv=fsync): the image holds the data
	cmp /run/p32 <(dd if=/root/test.file bs=1M skip=512 count=32 status=none)
	qemu-img info -f raw /root/test.file | grep -q 'virtual size: 1 GiB'
}

check_seed_teardown() {
	qt_targetcli /iscsi delete $IQN
	qt_targetcli /backstores/user:qemu delete qemulun
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
	qt_alive qemu-tcmu
}

check_loop_raw() {
	local wwn=naa.5001405000000a01 addr dev i
	truncate -s 256M $S/lo0.raw
	qt_targetcli <<-EOF
		/backstores/user:qemu create name=lo0 size=256M cfgstring=@id=lo0@file=$S/lo0.raw@cache=none
		/loopback create $wwn
		/loopback/$wwn/luns create /backstores/user:qemu/lo0
	EOF
	addr=$(cat $CFS/loopback/$wwn/tpgt_1/address)
	dev=$(lio_loop_dev "$addr")
	qt_log "tcm_loop: $dev"
	mkfs.ext4 -q -F "$dev"
	mkdir -p /mnt/lo0
	mount "$dev" /mnt/lo0
	for i in $(seq 12); do head -c $((i * 100000)) /dev/urandom >/mnt/lo0/f$i; done
	(cd /mnt/lo0 && md5sum f*) >/run/md5.txt
	umount /mnt/lo0
	fsck.ext4 -f -n "$dev"
	mount "$dev" /mnt/lo0
	(cd /mnt/lo0 && md5sum -c --quiet /run/md5.txt)
	umount /mnt/lo0
	fio --name=verify --filename="$dev" --ioengine=libaio --direct=1 --iodepth=16 \
		--rw=randwrite --bs=4k --offset=128M --size=32M --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output=/run/fio.txt
	grep -E '^ +(write|read):' /run/fio.txt
	qt_targetcli <<-EOF
		/loopback delete $wwn
		/backstores/user:qemu delete lo0
	EOF
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
}

# refused NAME SIZE CFG WANT...: targetcli fails and prints every WANT; nothing remains
refused() {
	local name=$1 size=$2 cfg=$3 w
	shift 3
	if qt_targetcli /backstores/user:qemu create "$name" "$size" "$cfg" >/run/tc.out 2>&1; then
		cat /run/tc.out
		qt_fail "created $name with $cfg"
		return 1
	fi
	cat /run/tc.out
	for w in "$@"; do grep -qF -- "$w" /run/tc.out || qt_fail "no '$w' in targetcli's output"; done
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
}

check_bad_input() {
	truncate -s 16M $S/ok.img
	refused bad1 16M "@file=$S/missing.img" "cfgstring invalid:" "$S/missing.img" \
		"No such file or directory"
	refused bad2 16M "@file=$S/ok.img@colour=red" "cfgstring invalid:" "colour"
	refused bad3 16M "@file=$S/ok.img@cache=fast" "cfgstring invalid:" "cache" "fast"
	refused bad4 16M "@file=" "cfgstring invalid:" "file"
	# the config string is fine, the size is not: LIO's enable fails with our verdict
	refused bad5 1G "@file=$S/ok.img" "UserBackedStorageObject creation failed"
	grep 'refusing' "$QT_LOG" | tail -n1 | grep -q 'exceeds the image'
	# and a good one still works afterwards
	qt_targetcli /backstores/user:qemu create good 16M "@file=$S/ok.img"
	qt_targetcli /backstores/user:qemu delete good
	[ -z "$(lio_leftovers)" ]
}

check_sigterm() {
	qt_daemon_stop
}

setup || exit 1
qt_check "seed: qemu-img create, modprobe, qemu-tcmu, the four targetcli lines" check_seed
qt_check "seed: open-iscsi over 127.0.0.1 writes and reads back; libiscsi; the image" \
	check_seed_initiator
qt_check "seed: targetcli deletes it all" check_seed_teardown
qt_check "tcm_loop via targetcli: mkfs.ext4, files, fsck -f, fio verify" check_loop_raw
qt_check "bad input through targetcli: refused with our message, nothing left" check_bad_input
qt_check "SIGTERM: exit 0" check_sigterm
qt_summary
