#!/bin/bash
# daemon/dbus.c (run by tests/func/dbus/dbus-serve) on a private bus, with real clients:
# targetcli's own code (ui_backstore.UIBackstores._user_backstores and its CheckConfig
# call, through GDBus as targetcli does), gdbus and busctl.  Then a fake tcmu-runner
# (python3 + GDBus, owning the bus name with the queueing GDBus uses): we must hand the
# name over and register through HandlerManager1, and take it back when it exits.
. "$(dirname "$0")/../lib.sh"
need dbus-daemon gdbus busctl targetcli
SERVE=$BUILD_DIR/tests/func/dbus/dbus-serve
# the interpreter targetcli runs with (Debian's python3, where targetcli and gi live)
PY=$(sed -n '1s/^#! *//p' "$(command -v targetcli)")

cat >"$T/bus.conf" <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><listen>unix:path=$T/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow own="*"/><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow user="*"/></policy>
</busconfig>
EOC
dbus-daemon --config-file="$T/bus.conf" --nofork --nosyslog --print-address=3 3>"$T/addr" &
cleanup_fn "kill $! 2>/dev/null"
for _ in $(seq 100); do [ -s "$T/addr" ] && break; sleep 0.05; done
ADDR=$(head -n1 "$T/addr")
[ -n "$ADDR" ] || fail "dbus-daemon did not start"
# GDBus (targetcli, gdbus) and sd-bus (busctl, us) read the system bus address from here
export DBUS_SYSTEM_BUS_ADDRESS=$ADDR

start_serve() {
	"$SERVE" >"$T/serve.out" 2>"$T/serve.err" &
	SERVE_PID=$!
	cleanup_fn "kill $SERVE_PID 2>/dev/null"
	for _ in $(seq 100); do grep -q '^ready' "$T/serve.out" && return 0; sleep 0.05; done
	cat "$T/serve.err" >&2
	fail "dbus-serve did not get ready"
}
wait_line() { # PATTERN FILE: up to 10 s
	for _ in $(seq 200); do grep -q "$1" "$2" && return 0; sleep 0.05; done
	cat "$2" "$T/serve.err" >&2
	fail "no '$1' in $2"
}

step "service role: targetcli's own code lists user:qemu and calls CheckConfig"
start_serve
grep -qx 'ready service' "$T/serve.out" || fail "expected the service role: $(cat "$T/serve.out")"
cat >"$T/targetcli-view.py" <<'EOP'
import sys
from targetcli.ui_backstore import UIBackstores
# exactly what targetcli does to list user backstores and to validate "create"
found = {name: (iface, props) for name, iface, props in UIBackstores._user_backstores(None)}
print("handlers:", sorted(found))
iface, props = found["qemu"]
print("ConfigDesc:", props["org.kernel.TCMUService1"]["ConfigDesc"])
for cfg in sys.argv[1:]:
    ok, msg = iface.CheckConfig("(s)", "qemu/" + cfg)
    print("CheckConfig %s -> %s %s" % (cfg, ok, msg))
EOP
"$PY" "$T/targetcli-view.py" "@id=a@file=/dev/null" "@id=b@file=$T/missing.img" \
	"@file=/dev/null@cache=fast" >"$T/view.out"
cat "$T/view.out"
grep -qx "handlers: \['qemu'\]" "$T/view.out" || fail "targetcli does not list user:qemu"
grep -q '^ConfigDesc: @key=value' "$T/view.out" || fail "no ConfigDesc"
grep -qx 'CheckConfig @id=a@file=/dev/null -> True success' "$T/view.out" || fail "valid refused"
grep -qx "CheckConfig @id=b@file=$T/missing.img -> False cannot open '$T/missing.img': No such file or directory" \
	"$T/view.out" || fail "missing file accepted or unclear"
grep -qx "CheckConfig @file=/dev/null@cache=fast -> False unknown option 'cache' for qemu" \
	"$T/view.out" || fail "unknown key accepted or unclear"

step "service role: gdbus and busctl"
gdbus call --system --dest org.kernel.TCMUService1 --object-path /org/kernel/TCMUService1 \
	--method org.freedesktop.DBus.ObjectManager.GetManagedObjects >"$T/gmo.out"
grep -q "objectpath '/org/kernel/TCMUService1/qemu'" "$T/gmo.out" || fail "GetManagedObjects: $(cat "$T/gmo.out")"
out=$(busctl --system call org.kernel.TCMUService1 /org/kernel/TCMUService1/qemu \
	org.kernel.TCMUService1 CheckConfig s "qemu/@file=$T/nope")
echo "busctl: $out"
case "$out" in "bs false \"cannot open "*"$T/nope"*"No such file or directory\"") ;; *) fail "busctl CheckConfig: $out" ;; esac
out=$(busctl --system get-property org.kernel.TCMUService1 /org/kernel/TCMUService1/qemu \
	org.kernel.TCMUService1 ConfigDesc)
case "$out" in 's "@key=value'*) ;; *) fail "ConfigDesc: $out" ;; esac
busctl --system introspect org.kernel.TCMUService1 /org/kernel/TCMUService1/qemu |
	grep -E '^\.(CheckConfig|ConfigDesc)' || fail "introspection lacks the interface"

step "an unprivileged caller: may list, CheckConfig refused by the daemon itself"
# this bus lets anyone send anything (the installed policy would stop the call first:
# tests/vm/cases/dbus-targetcli.sh checks that); the daemon's own check remains
chmod 755 "$T"
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
"${nobody[@]}" busctl --system call org.kernel.TCMUService1 /org/kernel/TCMUService1 \
	org.freedesktop.DBus.ObjectManager GetManagedObjects >"$T/nobody.out" ||
	fail "nobody may not list: $(cat "$T/nobody.out")"
grep -q qemu "$T/nobody.out" || fail "GetManagedObjects as nobody: $(cat "$T/nobody.out")"
if "${nobody[@]}" busctl --system call org.kernel.TCMUService1 /org/kernel/TCMUService1/qemu \
	org.kernel.TCMUService1 CheckConfig s "qemu/@file=/etc/shadow" >"$T/nobody.out" 2>&1; then
	fail "nobody called CheckConfig: $(cat "$T/nobody.out")"
fi
cat "$T/nobody.out"
grep -qx "Call failed: Access denied" "$T/nobody.out" || fail "not the daemon's refusal"
# root's call above was checked and logged; nobody's never reached the check
grep -q "CheckConfig 'qemu/@file=$T/nope' refused" "$T/serve.err" || fail "no log of root's call"
! grep -q "CheckConfig.*shadow" "$T/serve.err" || fail "the daemon checked the file for nobody"

step "a tcmu-runner started after us: hand over, register through HandlerManager1"
cat >"$T/fake-runner.py" <<'EOP'
# The parts of tcmu-runner's D-Bus side that matter here, with GDBus as tcmu-runner uses
# it: own org.kernel.TCMUService1 (queued if taken), export HandlerManager1, and on
# RegisterHandler forward targetcli-style CheckConfig calls to the handler's own name.
import sys
from gi.repository import Gio, GLib
XML = """<node><interface name="org.kernel.TCMUService1.HandlerManager1">
<method name="RegisterHandler"><arg type="s" direction="in"/><arg type="s" direction="in"/>
<arg type="b" direction="out"/><arg type="s" direction="out"/></method></interface></node>"""
bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
def call(conn, sender, path, iface, method, params, inv):
    sub, desc = params.unpack()
    print("RegisterHandler", sub, flush=True)
    proxy = Gio.DBusProxy.new_sync(bus, 0, None, "org.kernel.TCMUService1.HandlerManager1." + sub,
        "/org/kernel/TCMUService1/HandlerManager1/" + sub, "org.kernel.TCMUService1", None)
    ok, msg = proxy.CheckConfig("(s)", sub + "/@file=/nonexistent")
    print("forwarded CheckConfig", ok, msg, flush=True)
    inv.return_value(GLib.Variant("(bs)", (True, "succeeded")))
node = Gio.DBusNodeInfo.new_for_xml(XML)
bus.register_object("/org/kernel/TCMUService1/HandlerManager1", node.interfaces[0], call)
Gio.bus_own_name_on_connection(bus, "org.kernel.TCMUService1", Gio.BusNameOwnerFlags.NONE,
    lambda *a: print("acquired", flush=True), lambda *a: print("lost", flush=True))
GLib.MainLoop().run()
EOP
"$PY" "$T/fake-runner.py" >"$T/runner.out" 2>&1 &
RUNNER=$!
cleanup_fn "kill $RUNNER 2>/dev/null"
wait_line '^role handler' "$T/serve.out"
wait_line '^acquired' "$T/runner.out"
wait_line "^forwarded CheckConfig False cannot open '/nonexistent'" "$T/runner.out"
cat "$T/runner.out"
grep -q 'handing it over' "$T/serve.err" || fail "no hand-over message"

step "tcmu-runner exits: we take the name back"
kill "$RUNNER"
wait_line '^role service' "$T/serve.out"
"$PY" "$T/targetcli-view.py" >"$T/view2.out"
grep -qx "handlers: \['qemu'\]" "$T/view2.out" || fail "targetcli lost user:qemu"

step "SIGTERM: the name is released"
kill "$SERVE_PID"
wait "$SERVE_PID" || fail "dbus-serve exited $?"
"$PY" "$T/targetcli-view.py" >"$T/view3.out" 2>&1 && fail "user:qemu still listed"
grep -qx "handlers: \[\]" "$T/view3.out" || fail "$(cat "$T/view3.out")"

step "no system bus: one clear line"
DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/none expect_fail "targetcli will not list user:qemu backstores" "$SERVE"
echo PASS
