#!/bin/bash
# Guest test: qemu-tcmu beside a running tcmu-runner, driven with targetcli.
#   - tcmu-runner first, then qemu-tcmu: we register through its HandlerManager1;
#     targetcli lists user:qemu next to tcmu-runner's user:qcow;
#   - both daemons serve their own backstores at the same time (tcm_loop, verified I/O);
#   - 20 create/delete cycles of user:qemu objects: no failure, each one served;
#   - a bad config string is refused with our message (tcmu-runner forwards CheckConfig);
#   - tcmu-runner stops: targetcli still lists user:qemu (we own the bus name now) and
#     a new user:qemu object works.
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

S=/mnt/scratch
CYCLES=${CYCLES:-20}

setup() {
	lio_start_dbus || return 1
	lio_scratch_fs $S 512 || return 1
	lio_start_tcmu_runner || return 1
	qt_daemon_start || return 1
}

check_registered() {
	grep -q 'D-Bus: registered with tcmu-runner' "$QT_LOG"
	qt_targetcli <<-EOF | tee /run/tc.out
		set global auto_save_on_exit=false
		ls /backstores 1
	EOF
	grep -q 'user:qemu' /run/tc.out
	grep -q 'user:qcow' /run/tc.out
}

# write 8 MiB of random data at OFF_MB through DEV, read it back, find it in IMG
verify_io() { # DEV IMG OFF_MB
	qt_pattern /run/p8 8
	dd if=/run/p8 of="$1" bs=1M seek="$3" oflag=direct conv=fsync status=none
	cmp /run/p8 <(dd if="$1" bs=1M skip="$3" count=8 iflag=direct status=none)
	cmp /run/p8 <(dd if="$2" bs=1M skip="$3" count=8 status=none)
}

check_both_serve() {
	local a b da db
	truncate -s 64M $S/ours.img $S/theirs.img
	qt_targetcli <<-EOF
		/backstores/user:qemu create name=ours size=64M cfgstring=@id=ours@file=$S/ours.img
		/backstores/user:qcow create name=theirs size=64M cfgstring=$S/theirs.img
		/loopback create naa.5001405000000b01
		/loopback/naa.5001405000000b01/luns create /backstores/user:qemu/ours
		/loopback create naa.5001405000000b02
		/loopback/naa.5001405000000b02/luns create /backstores/user:qcow/theirs
	EOF
	a=$(cat $CFS/loopback/naa.5001405000000b01/tpgt_1/address)
	b=$(cat $CFS/loopback/naa.5001405000000b02/tpgt_1/address)
	da=$(lio_loop_dev "$a")
	db=$(lio_loop_dev "$b")
	qt_log "ours: $da, theirs: $db"
	grep -q 'ours: serving' "$QT_LOG"
	! grep -q 'theirs' "$QT_LOG" # tcmu-runner's device is none of our business
	verify_io "$da" $S/ours.img 8
	verify_io "$db" $S/theirs.img 16
	qt_targetcli <<-EOF
		/loopback delete naa.5001405000000b01
		/loopback delete naa.5001405000000b02
		/backstores/user:qemu delete ours
		/backstores/user:qcow delete theirs
	EOF
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
}

check_cycles() {
	local i before after
	truncate -s 16M $S/cyc.img
	before=$(grep -c 'cyc: serving' "$QT_LOG") || before=0
	for i in $(seq "$CYCLES"); do
		echo "/backstores/user:qemu create name=cyc$i size=16M cfgstring=@id=cyc@file=$S/cyc.img"
		echo "/backstores/user:qemu delete cyc$i"
	done | qt_targetcli >/run/cycles.out 2>&1
	grep -c 'Created user-backed storage object' /run/cycles.out
	[ "$(grep -c 'Created user-backed storage object cyc' /run/cycles.out)" = "$CYCLES" ] ||
		{ cat /run/cycles.out; qt_fail "not every creation succeeded"; }
	[ "$(grep -c 'Deleted storage object cyc' /run/cycles.out)" = "$CYCLES" ]
	! grep -qi 'failed\|error' /run/cycles.out
	after=$(grep -c 'cyc: serving' "$QT_LOG")
	[ $((after - before)) = "$CYCLES" ] || qt_fail "served $((after - before)) of $CYCLES"
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
}

check_bad_forwarded() {
	qt_targetcli /backstores/user:qemu create bad 16M "@file=$S/missing.img" >/run/tc.out 2>&1 &&
		qt_fail "created"
	cat /run/tc.out
	grep -q "cfgstring invalid: could not open '$S/missing.img'" /run/tc.out
	[ -z "$(lio_leftovers)" ]
}

check_runner_gone() {
	lio_stop_tcmu_runner
	qt_wait_log 'D-Bus: serving org.kernel.TCMUService1' "$QT_LOG"
	truncate -s 16M $S/after.img
	qt_targetcli <<-EOF | tee /run/tc.out
		ls /backstores 1
		/backstores/user:qemu create name=after size=16M cfgstring=@file=$S/after.img
		/loopback create naa.5001405000000b03
		/loopback/naa.5001405000000b03/luns create /backstores/user:qemu/after
	EOF
	grep -q 'user:qemu' /run/tc.out
	! grep -q 'user:qcow' /run/tc.out
	verify_io "$(lio_loop_dev "$(cat $CFS/loopback/naa.5001405000000b03/tpgt_1/address)")" \
		$S/after.img 4
	qt_targetcli <<-EOF
		/loopback delete naa.5001405000000b03
		/backstores/user:qemu delete after
	EOF
	qt_daemon_stop
}

setup || exit 1
qt_check "tcmu-runner first: registered via HandlerManager1, targetcli lists both" \
	check_registered
qt_check "both daemons serve their own backstores (tcm_loop, verified I/O)" check_both_serve
qt_check "$CYCLES create/delete cycles of user:qemu through targetcli" check_cycles
qt_check "a bad config string is refused with our message" check_bad_forwarded
qt_check "tcmu-runner stops: we take the bus name, user:qemu keeps working" check_runner_gone
qt_summary
