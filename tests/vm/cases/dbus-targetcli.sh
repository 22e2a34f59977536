#!/bin/bash
# Guest test: daemon/dbus.c (run alone by tests/func/dbus/dbus-serve) on the real system
# bus with the real targetcli and tcmu-runner, and our D-Bus policy file:
#   - only our policy installed: we own org.kernel.TCMUService1, targetcli lists
#     user:qemu, shows ConfigDesc, refuses a bad config string with our message and
#     creates nothing; a non-root user may list but not call CheckConfig;
#   - no policy allowing it: one clear line saying why targetcli will not see us;
#   - tcmu-runner running: we register through its HandlerManager1, targetcli lists both
#     daemons' handlers, CheckConfig is forwarded to us, tcmu-runner's own backstores
#     still work; tcmu-runner exits: we take the name over; tcmu-runner starts again
#     (queued behind us): we hand the name back and register again.
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

SERVE=$BUILD_DIR/tests/func/dbus/dbus-serve
POLICY=$SRC_DIR/data/org.kernel.TCMUService1.qemu-tcmu.conf
RUNNER_POLICY=/etc/dbus-1/system.d/tcmu-runner.conf
SERVE_OUT=$LIO_LOGDIR/serve.log # stdout and stderr of dbus-serve

start_serve() {
	: >"$SERVE_OUT"
	qt_spawn serve "$SERVE"
	qt_wait_log '^ready' "$SERVE_OUT"
}
stop_serve() { qt_stop serve || qt_fail "dbus-serve exited with $?"; }
restart_dbus() {
	lio_stop_dbus
	lio_start_dbus
}

check_no_policy() {
	mv "$RUNNER_POLICY" /run/tcmu-runner.conf.saved
	restart_dbus
	"$SERVE" >/run/serve.out 2>/run/serve.err && qt_fail "dbus-serve started without a policy"
	cat /run/serve.err
	grep -q 'not allowed to own org.kernel.TCMUService1' /run/serve.err
	[ "$(wc -l </run/serve.err)" = 1 ]
}

check_service_role() {
	cp "$POLICY" /etc/dbus-1/system.d/
	restart_dbus
	start_serve
	grep -qx 'ready service' "$SERVE_OUT"
	qt_targetcli <<-EOF | tee /run/tc.out
		set global auto_save_on_exit=false
		ls /backstores 1
		/backstores/user:qemu help create
	EOF
	grep -q 'user:qemu' /run/tc.out
	grep -q '@key=value@...: file=PATH (required)' /run/tc.out
	# a bad config string: refused with our message, nothing created
	qt_targetcli /backstores/user:qemu create name=bad size=1M \
		cfgstring=@id=bad@file=/nonexistent/x.img >/run/tc.out 2>&1 && qt_fail "created"
	cat /run/tc.out
	grep -q "cfgstring invalid: cannot open '/nonexistent/x.img'" /run/tc.out
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
	# anyone may list; CheckConfig (it looks at files) is for root only
	setpriv --reuid=65534 --regid=65534 --clear-groups busctl --system call \
		org.kernel.TCMUService1 /org/kernel/TCMUService1 \
		org.freedesktop.DBus.ObjectManager GetManagedObjects | grep -q qemu
	setpriv --reuid=65534 --regid=65534 --clear-groups busctl --system call \
		org.kernel.TCMUService1 /org/kernel/TCMUService1/qemu org.kernel.TCMUService1 \
		CheckConfig s "qemu/@file=/etc/shadow" >/run/nobody.out 2>&1 &&
		qt_fail "nobody may call CheckConfig: $(cat /run/nobody.out)"
	cat /run/nobody.out
	grep -qi 'access denied\|not permitted' /run/nobody.out
	stop_serve
}

check_handler_role() {
	mv /run/tcmu-runner.conf.saved "$RUNNER_POLICY"
	restart_dbus
	lio_start_tcmu_runner
	start_serve
	grep -qx 'ready handler' "$SERVE_OUT"
	truncate -s 16M /run/qcow-raw.img
	qt_targetcli <<-EOF | tee /run/tc.out
		ls /backstores 1
		/backstores/user:qcow create name=theirs size=16M cfgstring=/run/qcow-raw.img
		ls /backstores/user:qcow
	EOF
	grep -q 'user:qemu' /run/tc.out
	grep -q 'user:qcow' /run/tc.out
	grep -q 'theirs' /run/tc.out
	[ -d "$CFS"/core/user_*/theirs ]
	# targetcli -> tcmu-runner -> us
	qt_targetcli /backstores/user:qemu create name=bad size=1M \
		cfgstring=@file=/nonexistent/y.img >/run/tc.out 2>&1 && qt_fail "created"
	cat /run/tc.out
	grep -q "cfgstring invalid: cannot open '/nonexistent/y.img'" /run/tc.out
	qt_targetcli /backstores/user:qcow delete theirs
}

check_take_over() {
	lio_stop_tcmu_runner
	qt_wait_log '^role service' "$SERVE_OUT"
	qt_targetcli ls /backstores 1 | tee /run/tc.out
	grep -q 'user:qemu' /run/tc.out
	! grep -q 'user:qcow' /run/tc.out
}

check_hand_back() {
	lio_start_tcmu_runner
	qt_wait_log '^role handler' "$SERVE_OUT"
	grep -q 'handing it over' "$SERVE_OUT"
	qt_targetcli ls /backstores 1 | tee /run/tc.out
	grep -q 'user:qemu' /run/tc.out
	grep -q 'user:qcow' /run/tc.out
	stop_serve
}

[ -x "$SERVE" ] || {
	echo "FAIL: $SERVE not built (libsystemd-dev missing?)"
	exit 1
}
qt_check "no D-Bus policy: one line explaining why targetcli will not see us" check_no_policy
qt_check "our policy: service role, targetcli lists user:qemu, refuses a bad cfgstring" \
	check_service_role
qt_check "tcmu-runner running: HandlerManager1, targetcli lists both, forwards CheckConfig" \
	check_handler_role
qt_check "tcmu-runner exits: we take org.kernel.TCMUService1 over" check_take_over
qt_check "tcmu-runner starts again: we hand the name back and register" check_hand_back
qt_summary
