#!/bin/bash
# Guest test: the harness and the kernel's own LIO, no daemon of ours.  LIO's in-kernel
# fileio backstore exported on tcm_loop and on iSCSI (127.0.0.1), checked with sg3_utils,
# dd, fio (verify=crc32c), QEMU's libiscsi initiator (qemu-img) and libiscsi's
# conformance suite on a small subset.  The backing file is compared byte for byte with
# what the initiators wrote.
# Run: tests/vm/run.sh tests/vm/cases/lio-kernel.sh
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

SIZE_MB=64
IMG=/run/fileio.img
IQN=iqn.2003-01.org.qemu-tcmu.vm:fileio
URL=iscsi://127.0.0.1/$IQN/0
CU_SUBSET="SCSI.TestUnitReady SCSI.Inquiry SCSI.ReadCapacity16 SCSI.Read10 SCSI.Write10"

setup() {
	truncate -s ${SIZE_MB}M "$IMG" || return 1
	SO=$(lio_fileio_create disk0 "$IMG" $((SIZE_MB << 20))) || return 1
	DEV=$(lio_loop_export "$SO") || return 1
	SG=$(lio_loop_sg "$DEV") || return 1
	lio_iscsi_export "$SO" "$IQN" 127.0.0.1:3260 || return 1
	qt_log "fileio backstore on tcm_loop ($DEV, $SG) and iSCSI ($URL)"
}

# the backing file holds PATTERN at OFFSET_MB
file_has() { # PATTERN OFFSET_MB
	local n
	n=$(stat -c %s "$1")
	cmp -n "$n" "$1" <(dd if="$IMG" bs=1M skip="$2" count=$((n >> 20)) status=none)
}

check_loop_identity() {
	sg_inq "$DEV" | tee /run/inq.txt
	grep -q 'Vendor identification: LIO-ORG' /run/inq.txt
	grep -q 'Product identification: FILEIO' /run/inq.txt
	# READ CAPACITY(16): the last LBA of a 64 MiB disk of 512-byte blocks
	sg_readcap -l "$DEV" | tee /run/cap.txt
	grep -q "Last LBA=$(((SIZE_MB << 11) - 1))" /run/cap.txt
	[ "$(blockdev --getsize64 "$DEV")" = $((SIZE_MB << 20)) ]
}

check_loop_dd() {
	qt_pattern /run/p16 16
	dd if=/run/p16 of="$DEV" bs=1M seek=8 oflag=direct conv=fsync status=none
	cmp /run/p16 <(dd if="$DEV" bs=1M skip=8 count=16 iflag=direct status=none)
	file_has /run/p16 8
}

check_loop_fio() {
	fio --name=verify --filename="$DEV" --ioengine=libaio --direct=1 --iodepth=16 \
		--rw=randwrite --bs=4k --offset=32M --size=16M --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output=/run/fio.txt
	grep -E 'err= *0' /run/fio.txt >/dev/null
	grep -E '^ +(write|read):' /run/fio.txt
}

check_iscsi_discovery() {
	iscsi-ls -s iscsi://127.0.0.1 | tee /run/ls.txt
	grep -q "$IQN" /run/ls.txt
	iscsi-inq "$URL" | tee /run/iinq.txt
	grep -q 'LIO-ORG' /run/iinq.txt
	iscsi-readcapacity16 "$URL" | tee /run/rc16.txt
	grep -q "Total size:$((SIZE_MB << 20))" /run/rc16.txt
}

# QEMU's block layer as a libiscsi initiator: write a random image over iSCSI, compare it
check_iscsi_qemu_img() {
	qt_pattern /run/p64 $SIZE_MB
	qemu-img convert -n -f raw -O raw /run/p64 "$URL"
	qemu-img compare -f raw -F raw /run/p64 "$URL"
	cmp /run/p64 "$IMG"
	# and what tcm_loop sees of the same LUN
	cmp /run/p64 <(dd if="$DEV" bs=1M iflag=direct status=none)
}

# the kernel's own initiator (open-iscsi) over 127.0.0.1: a second /dev/sdX for the LUN
check_iscsi_kernel_initiator() {
	local idev
	idev=$(lio_iscsi_login "$IQN" 127.0.0.1:3260)
	qt_log "open-iscsi: $IQN is $idev"
	sg_inq "$idev" | grep -q 'Product identification: FILEIO'
	qt_pattern /run/p8 8
	dd if=/run/p8 of="$idev" bs=1M seek=40 oflag=direct conv=fsync status=none
	cmp /run/p8 <(dd if="$idev" bs=1M skip=40 count=8 iflag=direct status=none)
	cmp /run/p8 <(dd if="$DEV" bs=1M skip=40 count=8 iflag=direct status=none)
	file_has /run/p8 40
	lio_iscsi_logout "$IQN"
	[ ! -e "$idev" ] || sleep 1
	[ ! -e "$idev" ]
}

check_cu_iscsi() {
	# shellcheck disable=SC2086
	qt_cu fileio-iscsi "$URL" $CU_SUBSET
	[ "$CU_TESTS" -gt 10 ] && [ "$CU_FAILED" = 0 ]
}

check_cu_sg() {
	# shellcheck disable=SC2086
	qt_cu fileio-sg "$SG" ${CU_SUBSET//SCSI./LINUX.}
	[ "$CU_TESTS" -gt 10 ] && [ "$CU_FAILED" = 0 ]
}

check_teardown() {
	lio_teardown
	[ -z "$(lio_leftovers)" ] || qt_fail "configfs not empty: $(lio_leftovers)"
	[ ! -e "$DEV" ] || qt_fail "$DEV still exists"
}

setup || exit 1
qt_check "tcm_loop: sg_inq, READ CAPACITY" check_loop_identity
qt_check "tcm_loop: 16 MiB dd O_DIRECT write, read back, backing file" check_loop_dd
qt_check "tcm_loop: fio randwrite verify=crc32c" check_loop_fio
qt_check "iSCSI: iscsi-ls, iscsi-inq, iscsi-readcapacity16" check_iscsi_discovery
qt_check "iSCSI: qemu-img convert + compare through libiscsi" check_iscsi_qemu_img
qt_check "iSCSI: open-iscsi login, dd write + read back, logout" check_iscsi_kernel_initiator
qt_check "iSCSI: iscsi-test-cu subset" check_cu_iscsi
qt_check "SG_IO: iscsi-test-cu subset on $SG" check_cu_sg
qt_check "teardown leaves configfs empty" check_teardown
qt_summary
