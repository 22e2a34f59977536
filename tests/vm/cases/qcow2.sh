#!/bin/bash
# Guest test: qcow2 images served by qemu-tcmu, set up with targetcli, checked afterwards
# by QEMU's own qemu-img:
#   - the seed with a qcow2 image over iSCSI: open-iscsi writes random data, reads it back;
#     after the export is deleted, `qemu-img check` is clean and `qemu-img compare` finds
#     exactly that data in the image;
#   - a qcow2 image (cache=none) on tcm_loop: mkfs.ext4, files, fsck -f clean, files read
#     back, fio verify=crc32c, blkdiscard of a range reads back as zeroes; afterwards
#     `qemu-img check` clean and `qemu-img map` shows the discarded range unallocated.
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

IQN=iqn.2003-01.org.linux-iscsi.qt:qcow2
WWN=naa.5001405000000c01
S=/mnt/scratch

setup() {
	lio_start_dbus || return 1
	lio_scratch_fs $S 1024 || return 1
	qt_daemon_start || return 1
	qt_targetcli set global auto_save_on_exit=false >/dev/null
}

check_seed_qcow2() {
	local dev
	qemu-img create -q -f qcow2 $S/test.qcow2 1G
	qt_targetcli <<-EOF
		/backstores/user:qemu create name=qemulun size=1G cfgstring=@id=test@file=$S/test.qcow2
		/iscsi create $IQN
		/iscsi/$IQN/tpg1 set attribute authentication=0 generate_node_acls=1 demo_mode_write_protect=0 prod_mode_write_protect=0
		/iscsi/$IQN/tpg1/luns create /backstores/user:qemu/qemulun
	EOF
	grep -q "test: serving $S/test.qcow2.*qcow2" "$QT_LOG"
	dev=$(lio_iscsi_login $IQN 127.0.0.1:3260)
	qt_pattern /run/p32 32
	dd if=/run/p32 of="$dev" bs=1M seek=512 oflag=direct conv=fsync status=none
	cmp /run/p32 <(dd if="$dev" bs=1M skip=512 count=32 iflag=direct status=none)
	lio_iscsi_logout $IQN
	qt_targetcli <<-EOF
		/iscsi delete $IQN
		/backstores/user:qemu delete qemulun
	EOF
	qemu-img check $S/test.qcow2
	# the whole image, as QEMU reads it: the pattern at 512 MiB, zeroes elsewhere
	truncate -s 1G /run/expect.raw
	dd if=/run/p32 of=/run/expect.raw bs=1M seek=512 conv=notrunc status=none
	qemu-img compare -f qcow2 -F raw $S/test.qcow2 /run/expect.raw
}

check_loop_qcow2() {
	local dev i
	qemu-img create -q -f qcow2 $S/lo.qcow2 256M
	qt_targetcli <<-EOF
		/backstores/user:qemu create name=lo size=256M cfgstring=@id=lo@file=$S/lo.qcow2@cache=none
		/loopback create $WWN
		/loopback/$WWN/luns create /backstores/user:qemu/lo
	EOF
	dev=$(lio_loop_dev "$(cat $CFS/loopback/$WWN/tpgt_1/address)")
	mkfs.ext4 -q -F -E nodiscard "$dev"
	mkdir -p /mnt/lo
	mount "$dev" /mnt/lo
	for i in $(seq 10); do head -c $((i * 150000)) /dev/urandom >/mnt/lo/f$i; done
	(cd /mnt/lo && md5sum f*) >/run/md5.txt
	umount /mnt/lo
	fsck.ext4 -f -n "$dev"
	mount "$dev" /mnt/lo
	(cd /mnt/lo && md5sum -c --quiet /run/md5.txt)
	umount /mnt/lo
	fio --name=verify --filename="$dev" --ioengine=libaio --direct=1 --iodepth=16 \
		--rw=randwrite --bs=4k --offset=128M --size=32M --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output=/run/fio.txt
	grep -E '^ +(write|read):' /run/fio.txt
	# UNMAP: the range reads back as zeroes (LBPRZ) and is deallocated in the image
	blkdiscard -o $((192 << 20)) -l $((32 << 20)) "$dev"
	cmp <(head -c 32M /dev/zero) <(dd if="$dev" bs=1M skip=192 count=32 iflag=direct status=none)
	qt_targetcli <<-EOF
		/loopback delete $WWN
		/backstores/user:qemu delete lo
	EOF
	qemu-img check $S/lo.qcow2
	qemu-img map --output=json $S/lo.qcow2 >/run/map.json
	python3 - /run/map.json $((192 << 20)) $((224 << 20)) <<-'EOF'
		import json, sys
		lo, hi = int(sys.argv[2]), int(sys.argv[3])
		for e in json.load(open(sys.argv[1])):
		    a, b = e["start"], e["start"] + e["length"]
		    if a < hi and b > lo and e["data"]:
		        sys.exit("discarded range still has data: %r" % e)
	EOF
	[ -z "$(lio_leftovers)" ]
}

setup || exit 1
qt_check "seed with qcow2 over iSCSI; qemu-img check and compare afterwards" check_seed_qcow2
qt_check "qcow2 on tcm_loop: mkfs, fsck, fio verify, discard; qemu-img check and map" \
	check_loop_qcow2
qt_check "SIGTERM: exit 0" qt_daemon_stop
qt_summary
