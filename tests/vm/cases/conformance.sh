#!/bin/bash
# Guest test: libiscsi's SCSI conformance suite (iscsi-test-cu, Debian libiscsi-bin) against
# qemu-tcmu and, side by side on the same image file, LIO's in-kernel fileio backstore:
#   -t SCSI   over iSCSI (LIO iscsi_target_mod on 127.0.0.1, libiscsi's own initiator)
#   -t LINUX  over SG_IO on the /dev/sgN of a tcm_loop disk
# Both LUNs get a unit serial (as targetcli gives every backstore), so both have an NAA
# designator for EXTENDED COPY target descriptors.  The suites run one after the other
# (fileio first), never at the same time.
#
# The checks fail when qemu-tcmu passes fewer tests than fileio on the same run, or fewer
# than the floor recorded in docs/CONFORMANCE.md (CU_FLOOR_SCSI, CU_FLOOR_LINUX), or when a
# run did not complete.  Failed test names are printed and the logs saved (cu-*.log);
# failures outside the documented list are reported as such.
#
# Environment (all optional):
#   CU_FILEIO=0           skip the fileio runs (then only the floors are checked)
#   CU_SCSI="pattern..."  iscsi-test-cu patterns over iSCSI (default SCSI; empty: none)
#   CU_LINUX="pattern..." patterns over SG_IO (default LINUX; empty: none)
# Run: tests/vm/run.sh -t 2700 tests/vm/cases/conformance.sh
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

SIZE_MB=64
D=/mnt/cu
IMG=$D/lun.img
IQN_BASE=iqn.2003-01.org.qemu-tcmu.vm:cu
CU_FILEIO=${CU_FILEIO:-1}
CU_SCSI=${CU_SCSI-SCSI}
CU_LINUX=${CU_LINUX-LINUX}
# Floors: qemu-tcmu's recorded counts (docs/CONFORMANCE.md) less the tests that the
# kernel, not the handler, decides and that flip with timing (Reserve6.Logout).
CU_FLOOR_SCSI=${CU_FLOOR_SCSI:-211}
CU_FLOOR_LINUX=${CU_FLOOR_LINUX:-155}
# Failures explained in docs/CONFORMANCE.md (libiscsi 1.19 test bugs, features TCMU cannot
# offer); anything else is reported as unexpected.
KNOWN_FAILURES="CompareAndWrite.Simple CompareAndWrite.Miscompare ReceiveCopyResults.CopyStatus"
RES=$LIO_LOGDIR/cu-results
BACKENDS=qemu
[ "$CU_FILEIO" = 1 ] && BACKENDS="fileio qemu"

setup() {
	local so b
	lio_scratch_fs $D 256 || return 1
	truncate -s ${SIZE_MB}M "$IMG" || return 1
	mkdir -p "$RES"
	qt_daemon_start --no-dbus || return 1
	for b in $BACKENDS; do
		if [ "$b" = qemu ]; then
			so=$(qt_user_create cuq "@id=cu@file=$IMG" $((SIZE_MB << 20))) || return 1
		else
			so=$(lio_fileio_create cuf "$IMG" $((SIZE_MB << 20))) || return 1
		fi
		# targetcli gives every backstore a serial; without one there is no NAA
		cat /proc/sys/kernel/random/uuid >"$so/wwn/vpd_unit_serial" || return 1
		lio_iscsi_export "$so" "$IQN_BASE-$b" 127.0.0.1:3260 || return 1
		lio_loop_sg "$(lio_loop_export "$so")" >"$RES/$b.sg" || return 1
		qt_log "$b: iscsi://127.0.0.1/$IQN_BASE-$b/0 and $(cat "$RES/$b.sg")"
	done
}

# run_cu BACKEND FAMILY: one suite; RES/BACKEND-FAMILY.{counts,failed}
run_cu() {
	local b=$1 fam=$2 target pats
	if [ "$fam" = SCSI ]; then
		target=iscsi://127.0.0.1/$IQN_BASE-$b/0
		pats=$CU_SCSI
	else
		target=$(cat "$RES/$b.sg")
		pats=$CU_LINUX
	fi
	# shellcheck disable=SC2086
	qt_cu "$b-$fam" "$target" $pats || true
	echo "$CU_TESTS $CU_PASSED $CU_FAILED" >"$RES/$b-$fam.counts"
	{ grep -ohE 'Suite [^,]+, Test [^ ]+ had failures' "$LIO_LOGDIR/cu-$b-$fam"-*.log || true; } |
		awk '{ sub(",", "", $2); print $2 "." $4 }' | sort -u >"$RES/$b-$fam.failed"
	[ "$CU_TESTS" -gt 0 ] || qt_fail "iscsi-test-cu ran no test against $target"
}

# compare FAMILY FLOOR: qemu-tcmu passes at least FLOOR and at least what fileio passes
compare() {
	local fam=$1 floor=$2 qt qp fp t unexpected=""
	read -r qt qp _ <"$RES/qemu-$fam.counts"
	echo "qemu-tcmu -t $fam: $qp of $qt passed; failed: $(tr '\n' ' ' <"$RES/qemu-$fam.failed")"
	if [ -e "$RES/fileio-$fam.counts" ]; then
		read -r _ fp _ <"$RES/fileio-$fam.counts"
		echo "fileio    -t $fam: $fp passed; failed: $(tr '\n' ' ' <"$RES/fileio-$fam.failed")"
		[ "$qp" -ge "$fp" ] || qt_fail "qemu-tcmu passes $qp, fileio $fp"
	fi
	while read -r t; do
		[[ " $KNOWN_FAILURES " == *" $t "* ]] || unexpected="$unexpected $t"
	done <"$RES/qemu-$fam.failed"
	[ -z "$unexpected" ] || echo "not in the documented failures:$unexpected"
	[ "$qp" -ge "$floor" ] || qt_fail "qemu-tcmu passes $qp, below the floor $floor"
}

check_daemon() {
	qt_alive qemu-tcmu || qt_fail "qemu-tcmu exited: $(tail -n 5 "$QT_LOG")"
	! grep -E 'ERROR: AddressSanitizer|runtime error:' "$QT_LOG"
}

# partial runs (other patterns) have no floor
[ "$CU_SCSI" = SCSI ] || CU_FLOOR_SCSI=0
[ "$CU_LINUX" = LINUX ] || CU_FLOOR_LINUX=0

setup || exit 1
for b in $BACKENDS; do
	[ -n "$CU_SCSI" ] && qt_check "iscsi-test-cu -t SCSI on $b (iSCSI)" run_cu "$b" SCSI
	[ -n "$CU_LINUX" ] && qt_check "iscsi-test-cu -t LINUX on $b (SG_IO)" run_cu "$b" LINUX
done
[ -n "$CU_SCSI" ] && qt_check "-t SCSI: qemu-tcmu >= fileio, >= $CU_FLOOR_SCSI" \
	compare SCSI "$CU_FLOOR_SCSI"
[ -n "$CU_LINUX" ] && qt_check "-t LINUX: qemu-tcmu >= fileio, >= $CU_FLOOR_LINUX" \
	compare LINUX "$CU_FLOOR_LINUX"
qt_check "qemu-tcmu still serving, no sanitizer report" check_daemon
qt_summary
