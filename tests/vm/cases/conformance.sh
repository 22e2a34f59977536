#!/bin/bash
# Guest test: libiscsi's SCSI conformance suite (iscsi-test-cu 1.19, Debian libiscsi-bin;
# -d: destructive tests allowed) against qemu-tcmu and, side by side on the same image
# file and kernel, LIO's in-kernel fileio backstore:
#   -t SCSI   over iSCSI (LIO iscsi_target_mod on 127.0.0.1, demo mode)
#   -t LINUX  over SG_IO on the /dev/sgN of a tcm_loop disk
# Both LUNs get a unit serial (as targetcli gives every backstore), so both have an NAA
# designator for EXTENDED COPY target descriptors.  The runs go one after the other
# (fileio first), never at the same time.  Counts go to cu-summary.txt, failed tests to
# cu-failed.txt, logs to cu-*.log in the results dir (docs/CONFORMANCE.md quotes them).
#
# Fails when, for either family, qemu-tcmu
#   - ran fewer tests than the family has (a run that did not complete),
#   - passes fewer tests than fileio on the same run, or fewer than the recorded floor,
#   - fails a test that tests/vm/cu-known-failures.txt does not list (listed tests that
#     pass now are reported, so the list only shrinks),
# or when the daemon died or a sanitizer reported.
#
# Environment (all optional):
#   CU_FILEIO=0           skip the fileio runs (the floors and the list still judge)
#   CU_SCSI="pattern..."  iscsi-test-cu patterns over iSCSI (default SCSI; empty: none)
#   CU_LINUX="pattern..." patterns over SG_IO (default LINUX; empty: none)
# Partial runs (other patterns) are judged by the known list only.
# Run: tests/vm/run.sh -t 2400 tests/vm/cases/conformance.sh
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

SIZE_MB=64
D=/mnt/cu
IMG=$D/lun.img
IQN_BASE=iqn.2003-01.org.qemu-tcmu.vm:cu
KNOWN=$VM_HARNESS/cu-known-failures.txt
SUMMARY=$LIO_LOGDIR/cu-summary.txt
FAILED=$LIO_LOGDIR/cu-failed.txt
RES=$LIO_LOGDIR/cu-results
CU_FILEIO=${CU_FILEIO:-1}
CU_SCSI=${CU_SCSI-SCSI}
CU_LINUX=${CU_LINUX-LINUX}
# Whole families: how many tests libiscsi 1.19 has, and qemu-tcmu's floors (its recorded
# counts, docs/CONFORMANCE.md, less Reserve6.Logout and .ITNexusLoss: the kernel decides
# them and they flip with timing on a slow guest, on fileio too).
declare -A ALL=([SCSI]=215 [LINUX]=155) FLOOR=([SCSI]=210 [LINUX]=155)
[ "$CU_SCSI" = SCSI ] || ALL[SCSI]=0 FLOOR[SCSI]=0
[ "$CU_LINUX" = LINUX ] || ALL[LINUX]=0 FLOOR[LINUX]=0
BACKENDS=qemu
[ "$CU_FILEIO" = 1 ] && BACKENDS="fileio qemu"

setup() {
	local so b
	lio_scratch_fs $D 256 || return 1
	truncate -s ${SIZE_MB}M "$IMG" || return 1
	mkdir -p "$RES"
	: >"$SUMMARY"
	: >"$FAILED"
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

# run_cu BACKEND FAMILY: one family; RES/BACKEND-FAMILY.counts, SUMMARY and FAILED lines
run_cu() {
	local b=$1 fam=$2 target pats how
	if [ "$fam" = SCSI ]; then
		target=iscsi://127.0.0.1/$IQN_BASE-$b/0 pats=$CU_SCSI how=iscsi
	else
		target=$(cat "$RES/$b.sg") pats=$CU_LINUX how=sg
	fi
	# shellcheck disable=SC2086
	qt_cu "$b-$fam" "$target" $pats || true
	echo "$CU_TESTS $CU_PASSED $CU_FAILED" >"$RES/$b-$fam.counts"
	echo "$b $how $fam $CU_TESTS $CU_PASSED $CU_FAILED" >>"$SUMMARY"
	{ grep -ohE 'Suite [^,]+, Test [^ ]+ had failures' "$LIO_LOGDIR/cu-$b-$fam"-*.log || true; } |
		awk -v p="$b $how" '{ sub(",", "", $2); print p, $2 "." $4 }' | sort -u >>"$FAILED"
	qt_save "$SUMMARY" "$FAILED"
	if [ "$CU_TESTS" -lt "${ALL[$fam]}" ] || [ "$CU_TESTS" = 0 ]; then
		qt_fail "$CU_TESTS tests ran against $target (the family has ${ALL[$fam]})"
	fi
}

# judge FAMILY: qemu-tcmu against fileio, the floor and the known list
judge() {
	local fam=$1 how=iscsi qp fp bad=0 b h t
	[ "$fam" = LINUX ] && how=sg
	read -r _ qp _ <"$RES/qemu-$fam.counts"
	for b in $BACKENDS; do
		read -r _ fp _ <"$RES/$b-$fam.counts"
		echo "$b -t $fam: $fp passed; failed: $(awk -v p="$b $how" '$1" "$2 == p { printf "%s ", $3 }' "$FAILED")"
	done
	if [ -e "$RES/fileio-$fam.counts" ]; then
		read -r _ fp _ <"$RES/fileio-$fam.counts"
		[ "$qp" -ge "$fp" ] || { echo "qemu-tcmu passes $qp, fileio $fp"; bad=1; }
	fi
	[ "$qp" -ge "${FLOOR[$fam]}" ] || { echo "qemu-tcmu passes $qp, below the floor ${FLOOR[$fam]}"; bad=1; }
	while read -r b h t; do
		[ "$b $h" = "qemu $how" ] || continue
		grep -qE "^$h $t( flaky)?\$" "$KNOWN" || { echo "new failure: $h $t"; bad=1; }
	done <"$FAILED"
	[ "${ALL[$fam]}" -gt 0 ] || return "$bad" # a partial run: what did not run did not pass
	grep -v '^#' "$KNOWN" | while read -r h t f; do
		if [ "$h" != "$how" ] || [ -z "$t" ] || [ "$f" = flaky ]; then continue; fi
		grep -qx "qemu $h $t" "$FAILED" || echo "passes now (remove from $(basename "$KNOWN")): $h $t"
	done
	[ "$bad" = 0 ]
}

check_daemon() {
	qt_alive qemu-tcmu || qt_fail "qemu-tcmu exited: $(tail -n 5 "$QT_LOG")"
	! grep -E 'ERROR: AddressSanitizer|runtime error:' "$QT_LOG"
}

setup || exit 1
for b in $BACKENDS; do
	[ -n "$CU_SCSI" ] && qt_check "iscsi-test-cu -t SCSI on $b (iSCSI)" run_cu "$b" SCSI
	[ -n "$CU_LINUX" ] && qt_check "iscsi-test-cu -t LINUX on $b (SG_IO)" run_cu "$b" LINUX
done
[ -n "$CU_SCSI" ] && qt_check "-t SCSI: qemu-tcmu >= fileio, >= ${FLOOR[SCSI]}, known failures only" \
	judge SCSI
[ -n "$CU_LINUX" ] && qt_check "-t LINUX: qemu-tcmu >= fileio, >= ${FLOOR[LINUX]}, known failures only" \
	judge LINUX
qt_check "qemu-tcmu still serving, no sanitizer report" check_daemon
qt_summary
