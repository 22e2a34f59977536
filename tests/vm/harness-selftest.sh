#!/bin/bash
# Host-side test of the VM harness itself: the script's exit status comes back, its
# output and the kernel log land in the results dir, a script that outlives its timeout
# ends with 124 and the VM goes away, and a guest kernel panic is reported as 125.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: harness-selftest.sh OUTDIR}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
run() { # EXPECTED_STATUS SUBDIR run.sh-args...
	local want=$1 dir=$OUT/$2 rc=0 t0=$SECONDS
	shift 2
	"$HERE/run.sh" -q -o "$dir" "$@" >"$dir.out" 2>&1 || rc=$?
	echo "run.sh $*: status $rc (want $want), $((SECONDS - t0)) s"
	[ "$rc" = "$want" ] || { cat "$dir.out"; fail "run.sh $* exited $rc, expected $want"; }
}
mkdir -p "$OUT"

# status, output, modules, configfs, the guest's view of the host root and its overlay
run 3 status -c 'echo "guest $(uname -r)"; grep -q "^target_core_user " /proc/modules &&
	[ -d /sys/kernel/config/target/core ] && [ -x "$BASH" ] && touch /etc/qt-overlay && exit 3'
grep -q '^guest 6\.' "$OUT/status/output.log" || fail "no guest output in output.log"
[ -s "$OUT/status/dmesg.log" ] || fail "no dmesg.log"
[ ! -e /etc/qt-overlay ] || fail "a guest write reached the host root"

# the guest's own timeout (timeout(1) around the script) and the VM going away
t0=$SECONDS
run 124 timeout -t 3 -c 'trap "" TERM; echo start; sleep 1000'
[ $((SECONDS - t0)) -lt 60 ] || fail "the timeout took $((SECONDS - t0)) s"

# a kernel panic: no status comes back, qemu exits (panic=-1, -no-reboot)
run 125 panic -c 'echo c > /proc/sysrq-trigger'
grep -q 'sysrq' "$OUT/panic/console.log" || fail "the panic is not in console.log"

if pgrep -f "qemu-system-x86_64.*$OUT" >/dev/null; then fail "a VM outlived run.sh"; fi
echo "PASS harness"
