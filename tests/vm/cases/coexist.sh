#!/bin/bash
# Guest test: qemu-tcmu beside a running tcmu-runner, driven with targetcli.
#   - tcmu-runner first, then qemu-tcmu: we register through its HandlerManager1;
#     targetcli lists user:qemu next to tcmu-runner's user:qcow;
#   - both daemons serve their own backstores at the same time (tcm_loop, verified I/O);
#   - 20 create/delete cycles of user:qemu objects: no failure, each one served and
#     closed; then 20 back-to-back create/delete pairs: every command succeeds;
#   - a bad config string is refused with our message (tcmu-runner forwards CheckConfig);
#   - tcmu-runner stops: targetcli still lists user:qemu (we own the bus name now) and
#     a new user:qemu object works.
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

S=/mnt/scratch
CYCLES=${CYCLES:-20}
# the interpreter targetcli runs with (its rtslib and D-Bus code are used directly)
TC_PY=$(sed -n '1s/^#! *//p' "$(command -v targetcli)")

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

# CYCLES times: create a user:qemu object as targetcli does (CheckConfig over D-Bus, then
# rtslib's UserBackedStorageObject), wait until our daemon serves it, delete it, wait
# until it closed it.  One Python process: targetcli's start-up costs seconds under TCG.
check_cycles() {
	truncate -s 16M $S/cyc.img
	"$TC_PY" - "$CYCLES" "$S/cyc.img" "$QT_LOG" <<-'EOF'
		import sys, time
		from rtslib_fb import UserBackedStorageObject
		from targetcli.ui_backstore import UIBackstores
		n, img, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
		iface = dict((k, i) for k, i, _ in UIBackstores._user_backstores(None))["qemu"]
		def wait_log(what):
		    for _ in range(300):
		        if what in open(log).read():
		            return
		        time.sleep(0.1)
		    sys.exit("no '%s' in the daemon's log within 30 s" % what)
		for i in range(1, n + 1):
		    cfg = "qemu/@id=cyc%d@file=%s" % (i, img)
		    ok, msg = iface.CheckConfig("(s)", cfg)
		    if not ok:
		        sys.exit("CheckConfig refused %s: %s" % (cfg, msg))
		    so = UserBackedStorageObject("cyc%d" % i, size=16 << 20, config=cfg)
		    wait_log("cyc%d: serving %s" % (i, img))
		    so.delete()
		    wait_log("cyc%d: closed" % i)
		print("%d cycles: created, served, deleted, closed" % n)
	EOF
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
}

# The same through targetcli with no pause: objects deleted before the daemon saw them
# are fine, but every command succeeds, nothing is left and the daemon still works.
check_storm() {
	local i
	truncate -s 16M $S/storm.img
	for i in $(seq "$CYCLES"); do
		echo "/backstores/user:qemu create name=storm$i size=16M cfgstring=@id=storm$i@file=$S/storm.img"
		echo "/backstores/user:qemu delete storm$i"
	done | qt_targetcli >/run/storm.out 2>&1
	[ "$(grep -c 'Created user-backed storage object storm' /run/storm.out)" = "$CYCLES" ] ||
		{ cat /run/storm.out; qt_fail "not every creation succeeded"; }
	[ "$(grep -c 'Deleted storage object storm' /run/storm.out)" = "$CYCLES" ]
	! grep -qi 'failed\|error' /run/storm.out
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
	qt_alive qemu-tcmu
	sleep 2
	! ls /sys/class/uio/ 2>/dev/null | grep -q . || qt_fail "UIO devices left: $(ls /sys/class/uio)"
	grep -c 'storm[0-9]*: serving' "$QT_LOG" || true
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
qt_check "$CYCLES create/serve/delete cycles of user:qemu (targetcli's code)" check_cycles
qt_check "$CYCLES create/delete pairs back to back through targetcli" check_storm
qt_check "a bad config string is refused with our message" check_bad_forwarded
qt_check "tcmu-runner stops: we take the bus name, user:qemu keeps working" check_runner_gone
qt_summary
