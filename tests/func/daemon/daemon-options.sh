#!/bin/bash
# qemu-tcmu's options, on the host without LIO:
#  - -d with an unknown category, a bad -x, a bad --poll-us: one line, exit 2;
#  - without target_core_user: one clear line naming the handler, after trying to load
#    the module, exit 1 (also what --syslog sends to syslog);
#  - --no-kernel (logging, signals and D-Bus without netlink) for what needs a running
#    daemon: -x NAME in the log and as the D-Bus object targetcli lists (user:NAME),
#    --syslog (a syslog socket of ours as /dev/log in a mount namespace), and SIGHUP:
#    logging to stderr it has nothing to reopen and says so; with --syslog it reconnects,
#    and messages reach a syslog restarted meanwhile (glibc's syslog() would also
#    reconnect by itself at the next failed send).  SIGTERM then exits 0.
. "$(dirname "$0")/../lib.sh"
need python3

categories="all, block, daemon, dbus, nbd, netlink, qcow2, rbd, scsi, sim, transport"

step "unknown -d categories are refused, listing the valid ones"
expect_fail "qemu-tcmu: unknown debug category 'bogus' (valid: $categories)" "$QT_DAEMON" -d bogus
expect_fail "unknown debug category 'sicsi' (valid: $categories)" "$QT_DAEMON" -d scsi,sicsi -V
expect_fail "qemu-tcmu-io: unknown debug category 'bogus' (valid: $categories)" \
  "$QT_IO" -d bogus -c info "@driver=null@size=1M"
"$QT_DAEMON" -d scsi,qcow2,all -V >/dev/null || fail "valid categories refused"
expect_fail "bad handler name 'a/b'" "$QT_DAEMON" -x a/b

step "--poll-us: microseconds from 0 to 10000, anything else refused"
for bad in x -1 10001 1e3 "" 5us; do
  expect_fail "qemu-tcmu: --poll-us takes microseconds from 0 to 10000, not '$bad'" \
    "$QT_DAEMON" --poll-us "$bad" -V
done
for good in 0 50 10000; do
  "$QT_DAEMON" --poll-us "$good" -V >/dev/null || fail "--poll-us $good refused"
done
help_text=$("$QT_DAEMON" --help) || fail "--help failed"
# (not "| grep -q": grep stops reading early and pipefail then sees SIGPIPE)
grep -q -- "--poll-us N" <<<"$help_text" || fail "--poll-us missing from --help"

step "without target_core_user: one line naming the handler, after trying to load it"
if [ -d /sys/module/target_core_user ] ||
  find "/lib/modules/$(uname -r)" -name 'target_core_user.ko*' 2>/dev/null | grep -q .; then
  # running the daemon here would serve (and take over) real devices
  echo "target_core_user is available on this host: the message cannot be produced here"
else
  expect_fail "cannot serve user:foo devices: the kernel has no target_core_user (TCM-USER netlink family) and loading the module failed: " \
    "$QT_DAEMON" -x foo --no-dbus
  missing_module=1
fi

# wait_for PATTERN FILE: up to 10 s
wait_for() {
  local i
  for i in $(seq 200); do grep -q -- "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
  echo "--- $2:" >&2
  cat "$2" >&2 || true
  fail "no '$1' in $2"
}
# stop PID: SIGTERM, which must end it with status 0
stop() {
  local rc=0
  kill -TERM "$1"
  wait "$1" || rc=$?
  [ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
}

step "--no-kernel -x foo, logging to stderr: the handler in the log; SIGHUP has nothing to reopen"
"$QT_DAEMON" --no-kernel --no-dbus -x foo 2>"$T/stderr.log" &
pid=$!
cleanup_fn "kill $pid 2>/dev/null"
wait_for "info: serving 'foo/' devices; 0 taken over" "$T/stderr.log"
kill -HUP $pid
wait_for "info: SIGHUP: logging to stderr, nothing to reopen" "$T/stderr.log"
kill -0 $pid || fail "SIGHUP ended the daemon"
stop $pid
wait_for "Terminated: draining and closing 0 device(s)" "$T/stderr.log"

step "-x foo on D-Bus: the object targetcli lists as user:foo"
if grep -q '^#define HAVE_LIBSYSTEMD 1' "$BUILD_DIR/config.h"; then
  need dbus-daemon busctl
  cat >"$T/bus.conf" <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><listen>unix:path=$T/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow own="*"/><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow user="*"/></policy>
</busconfig>
EOC
  dbus-daemon --config-file="$T/bus.conf" --nofork --nosyslog --print-address=3 3>"$T/addr" &
  cleanup_fn "kill $! 2>/dev/null"
  wait_for . "$T/addr"
  addr=$(head -n1 "$T/addr")
  DBUS_SYSTEM_BUS_ADDRESS=$addr "$QT_DAEMON" --no-kernel -x foo 2>"$T/dbus.log" &
  pid=$!
  cleanup_fn "kill $pid 2>/dev/null"
  wait_for "info: D-Bus: " "$T/dbus.log"
  busctl --address="$addr" tree --list org.kernel.TCMUService1 >"$T/tree" ||
    fail "org.kernel.TCMUService1 is not on the bus: $(cat "$T/dbus.log")"
  cat "$T/tree"
  grep -qx /org/kernel/TCMUService1/foo "$T/tree" || fail "no /org/kernel/TCMUService1/foo"
  grep -q /org/kernel/TCMUService1/qemu "$T/tree" && fail "the default handler is listed too"
  stop $pid
else
  # built without sd-bus: the warning names the handler targetcli will not list
  "$QT_DAEMON" --no-kernel -x foo 2>"$T/dbus.log" &
  pid=$!
  cleanup_fn "kill $pid 2>/dev/null"
  wait_for "targetcli will not list user:foo" "$T/dbus.log"
  stop $pid
fi

step "--syslog: messages go to syslog (ours, as /dev/log), none to stderr; SIGHUP reconnects"
need unshare
sock=$T/log.sock
# syslog_listen FILE: receive datagrams on $sock into FILE, one per line
syslog_listen() {
  rm -f "$sock"
  python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    f.write(b"listening\n")
    while True:
        f.write(s.recv(65536).rstrip(b"\n") + b"\n")
' "$sock" "$1" &
  listener=$!
  cleanup_fn "kill $listener 2>/dev/null"
  wait_for '^listening' "$1"
}
# in_ns CMD...: run CMD with a private /dev whose log is our socket; "in_ns CMD &" is
# CMD's pid (the subshell, unshare and sh exec it in turn)
in_ns() {
  exec unshare --mount sh -c 'mount -t tmpfs tmpfs /dev && ln -s "$0" /dev/log && exec "$@"' \
    "$sock" "$@"
}
(in_ns true) || fail "cannot make a mount namespace (unshare --mount needs CAP_SYS_ADMIN)"
syslog_listen "$T/syslog1"
if [ -n "${missing_module:-}" ]; then
  rc=0
  (in_ns "$QT_DAEMON" --syslog -x foo --no-dbus 2>"$T/syslog-stderr") || rc=$?
  [ "$rc" = 1 ] || fail "exit status $rc without target_core_user"
  # <27>: facility daemon (3 << 3), priority err (3)
  wait_for "^<27>.*qemu-tcmu\[[0-9]*\]: cannot serve user:foo devices: the kernel has no target_core_user" "$T/syslog1"
  [ ! -s "$T/syslog-stderr" ] || fail "stderr with --syslog: $(cat "$T/syslog-stderr")"
fi
in_ns "$QT_DAEMON" --syslog --no-kernel --no-dbus -x foo 2>"$T/syslog-stderr" &
pid=$!
cleanup_fn "kill $pid 2>/dev/null"
# <30>: facility daemon, priority info
wait_for "^<30>.*qemu-tcmu\[$pid\]: serving 'foo/' devices" "$T/syslog1"
# syslog restarts: a new socket where the old one was
kill $listener
syslog_listen "$T/syslog2"
kill -HUP $pid
wait_for "^<30>.*qemu-tcmu\[$pid\]: SIGHUP: reconnected to syslog" "$T/syslog2"
stop $pid
wait_for "^<30>.*qemu-tcmu\[$pid\]: Terminated: draining and closing 0 device(s)" "$T/syslog2"
[ ! -s "$T/syslog-stderr" ] || fail "stderr with --syslog: $(cat "$T/syslog-stderr")"
echo "all good"
