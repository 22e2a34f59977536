#!/bin/bash
# Guest test: libiscsi's conformance suite (iscsi-test-cu 1.19, -d: destructive tests
# allowed) against our LUN and against LIO's in-kernel fileio backstore on the same image
# file, on the same kernel:
#   -t SCSI  over iSCSI (127.0.0.1, LIO's iscsi_target_mod, demo mode)
#   -t LINUX over SG_IO on the /dev/sgN of a tcm_loop disk
# The counts and the failed tests of all four runs go to cu-summary.txt in the results
# dir (docs/CONFORMANCE.md quotes them); the logs are cu-*.log.
#
# Pass criterion: every run ran its family (at least MIN_TESTS tests), and no test fails
# on our LUN that is not listed in tests/vm/cu-known-failures.txt (the SCSI layer's open
# failures; a listed test that passes now is reported so the list can shrink).  LIO
# fileio's own failures are recorded, not judged.
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

S=/mnt/scratch
IMG=$S/cu.img
SIZE_MB=64
IQN=iqn.2003-01.org.qemu-tcmu.vm:cu
URL=iscsi://127.0.0.1/$IQN/0
KNOWN=$VM_HARNESS/cu-known-failures.txt
SUMMARY=$LIO_LOGDIR/cu-summary.txt
MIN_SCSI=${MIN_SCSI:-200}
MIN_LINUX=${MIN_LINUX:-140}

# run_family BACKEND: SCSI over iSCSI, LINUX over SG_IO; appends to $SUMMARY
run_family() {
	local be=$1 so=$2 dev sg
	lio_iscsi_export "$so" "$IQN" 127.0.0.1:3260
	dev=$(lio_loop_export "$so")
	sg=$(lio_loop_sg "$dev")
	qt_cu "$be-iscsi" "$URL" SCSI
	echo "$be iscsi SCSI $CU_TESTS $CU_PASSED $CU_FAILED" >>"$SUMMARY"
	failed_names "$be-iscsi-SCSI" | sed "s/^/$be iscsi /" >>"$LIO_LOGDIR/cu-failed.txt"
	qt_cu "$be-sg" "$sg" LINUX
	echo "$be sg LINUX $CU_TESTS $CU_PASSED $CU_FAILED" >>"$SUMMARY"
	failed_names "$be-sg-LINUX" | sed "s/^/$be sg /" >>"$LIO_LOGDIR/cu-failed.txt"
	qt_save "$SUMMARY" "$LIO_LOGDIR/cu-failed.txt"
}
failed_names() { # LOGNAME: "Suite.Test" of each failed test
	grep -oE 'Suite [^,]+, Test [^ ]+ had failures' "$LIO_LOGDIR/cu-$1.log" |
		awk '{ sub(",", "", $2); print $2 "." $4 }' | sort -u || true
}

check_ours() {
	qt_daemon_start --no-dbus
	SO=$(qt_user_create cu0 "@id=cu@file=$IMG" $((SIZE_MB << 20)))
	run_family qemu "$SO"
	lio_teardown
	qt_daemon_stop
}

check_fileio() {
	lio_teardown
	qt_daemon_stop
	SO=$(lio_fileio_create cu0 "$IMG" $((SIZE_MB << 20)))
	run_family fileio "$SO"
	lio_teardown
}

# judged: our runs ran, and failed only where the known list says so
check_verdict() {
	local n bad=0 t
	cat "$SUMMARY"
	n=$(awk '$1 == "qemu" && $3 == "SCSI" { print $4 }' "$SUMMARY")
	[ "${n:-0}" -ge "$MIN_SCSI" ] || qt_fail "SCSI family: ${n:-0} tests ran (< $MIN_SCSI)"
	n=$(awk '$1 == "qemu" && $3 == "LINUX" { print $4 }' "$SUMMARY")
	[ "${n:-0}" -ge "$MIN_LINUX" ] || qt_fail "LINUX family: ${n:-0} tests ran (< $MIN_LINUX)"
	while read -r be how t; do
		[ "$be" = qemu ] || continue
		if ! grep -qx "$how $t" <(grep -v '^#' "$KNOWN"); then
			echo "new failure on our LUN: $how $t"
			bad=1
		fi
	done <"$LIO_LOGDIR/cu-failed.txt"
	grep -v '^#' "$KNOWN" | while read -r how t; do
		[ -n "$t" ] || continue
		grep -qx "qemu $how $t" "$LIO_LOGDIR/cu-failed.txt" ||
			echo "passes now (remove from $(basename "$KNOWN")): $how $t"
	done
	[ "$bad" = 0 ]
}

lio_scratch_fs $S 256 || exit 1
truncate -s ${SIZE_MB}M "$IMG" || exit 1
: >"$SUMMARY"
: >"$LIO_LOGDIR/cu-failed.txt"
qt_check "iscsi-test-cu on qemu-tcmu (SCSI over iSCSI, LINUX over SG_IO)" check_ours
qt_check "iscsi-test-cu on LIO fileio, same image file" check_fileio
qt_check "qemu-tcmu: every family ran, no failure beyond the known list" check_verdict
qt_summary
