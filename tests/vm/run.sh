#!/bin/bash
# run.sh - run a script as root inside a throw-away VM: Debian 12's kernel (unpacked by
# setup.sh) under qemu-system-x86_64 (KVM when /dev/kvm is usable, TCG otherwise), with
# this host's root file system as the guest's root (9p, read-only, under a tmpfs
# overlay: guest writes are discarded) and the LIO modules loaded.
#
# Usage: run.sh [options] [--] SCRIPT [ARGS...]
#        run.sh [options] -c 'shell command'
#
# The script runs with bash, as root, in the host's current directory, stdin=/dev/null.
# run.sh streams its output and exits with its exit status: 124 = the script timed out,
# 125 = the VM did not boot or returned no status (panic, host-side timeout).
#
# Options:
#   -c CMD          run the shell command CMD instead of a script file
#   -o, --out DIR   results dir, shared read-write at the same path in the guest
#                   ($VM_OUT there): output.log, console.log, dmesg.log, exit-status,
#                   vm-timing, and whatever the script saves.  Default: a temp dir,
#                   deleted afterwards unless --keep.
#   -k, --keep      keep the temp results dir (its path is printed)
#   -s, --share DIR extra host dir shared read-write at the same path (repeatable)
#   -t, --timeout S timeout of the script in seconds (default 600); the whole VM gets
#                   S + VM_BOOT_TIMEOUT (default 120) and is killed after that
#   -m, --mem MB    guest memory (default 2048)
#   -p, --cpus N    guest CPUs (default 2)
#   -M, --modules L modules to modprobe before the script (default: "$DEFAULT_MODULES";
#                   "" for none)
#   -e VAR=VALUE    export VAR in the guest (repeatable)
#   -q, --quiet     do not stream the console; print the script output at the end
#   -v, --verbose   full kernel console (no "quiet" on the kernel command line)
#   --tcg           never use KVM (also: VM_ACCEL=tcg)
#
# Environment: VM_CACHE (see setup.sh), VM_QEMU_EXTRA (extra qemu arguments),
# VM_BOOT_TIMEOUT (seconds added to -t for booting and powering off).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEFAULT_MODULES="configfs target_core_mod target_core_user target_core_file target_core_iblock"
DEFAULT_MODULES="$DEFAULT_MODULES tcm_loop iscsi_target_mod sd_mod sg"

OUT=
KEEP=0
TIMEOUT=600
MEM=2048
CPUS=2
MODULES=$DEFAULT_MODULES
QUIET=0
VERBOSE=0
ACCEL_WANT=${VM_ACCEL:-auto}
CMD=
SHARES=()
ENVS=()

usage() { sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; }
die() {
	echo "vm-run: $*" >&2
	exit 125
}

while [ $# -gt 0 ]; do
	case "$1" in
	-c) CMD=$2; shift 2 ;;
	-o | --out) OUT=$2; shift 2 ;;
	-k | --keep) KEEP=1; shift ;;
	-s | --share) SHARES+=("$2"); shift 2 ;;
	-t | --timeout) TIMEOUT=$2; shift 2 ;;
	-m | --mem) MEM=$2; shift 2 ;;
	-p | --cpus) CPUS=$2; shift 2 ;;
	-M | --modules) MODULES=$2; shift 2 ;;
	-e) ENVS+=("$2"); shift 2 ;;
	-q | --quiet) QUIET=1; shift ;;
	-v | --verbose) VERBOSE=1; shift ;;
	--tcg) ACCEL_WANT=tcg; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) break ;;
	esac
done
case "$TIMEOUT" in '' | *[!0-9]*) die "bad timeout: $TIMEOUT" ;; esac
if [ -z "$CMD" ]; then
	[ $# -ge 1 ] || { usage >&2; exit 2; }
	SCRIPT=$(realpath -e "$1") || die "no such script: $1"
	shift
fi

# --- host preparation (idempotent: downloads and unpacks the kernel on first use) -----
env_lines=$("$HERE/setup.sh" --print-env) || die "setup.sh failed"
eval "$env_lines"

# --- results dir ---------------------------------------------------------------------
QPID=
TAIL_PID=
cleanup() {
	# the VM never outlives us, whatever ends this script
	if [ -n "$QPID" ]; then
		kill -9 "$QPID" 2>/dev/null
		{ wait "$QPID"; } 2>/dev/null
	fi
	[ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
	if [ -n "${TMP_OUT:-}" ] && [ "$KEEP" = 0 ]; then rm -rf "$TMP_OUT"; fi
	return 0
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

if [ -z "$OUT" ]; then
	OUT=$(mktemp -d "${TMPDIR:-/tmp}/qt-vm.XXXXXX")
	TMP_OUT=$OUT
else
	mkdir -p "$OUT"
	OUT=$(realpath "$OUT")
fi
case "$OUT" in *[[:space:],]*) die "results dir path must not contain white space or commas: $OUT" ;; esac
rm -rf "$OUT/.vm" "$OUT/exit-status" "$OUT/output.log" "$OUT/dmesg.log" "$OUT/console.log" \
	"$OUT/vm-timing"
mkdir -p "$OUT/.vm"

# guest configuration, sourced by guest/stage2.sh
{
	printf 'VM_KVER=%q\n' "$VM_KVER"
	printf 'VM_MODDIR=%q\n' "$VM_MODDIR"
	printf 'VM_MODULES=%q\n' "$MODULES"
	printf 'VM_TIMEOUT=%q\n' "$TIMEOUT"
	printf 'VM_HOSTNAME=qt-vm\n'
	printf 'VM_SHARES=('
	i=0
	for s in "${SHARES[@]}"; do
		d=$(realpath -e "$s") || die "no such share dir: $s"
		printf ' %q' "share$i:$d"
		i=$((i + 1))
	done
	printf ' )\n'
} >"$OUT/.vm/config"

# the job: go to the current directory, export the environment, run the script
{
	echo '#!/bin/bash'
	printf 'export VM_OUT=%q\n' "$OUT"
	printf 'export HOME=/root TERM=dumb CI=%q\n' "${CI:-}"
	printf 'export VM_HARNESS=%q\n' "$HERE"
	for e in "${ENVS[@]}"; do printf 'export %q\n' "$e"; done
	printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
	if [ -n "$CMD" ]; then
		printf 'exec /bin/bash -c %q\n' "$CMD"
	else
		printf 'exec /bin/bash %q' "$SCRIPT"
		for a in "$@"; do printf ' %q' "$a"; done
		echo
	fi
} >"$OUT/.vm/job.sh"

# --- qemu ------------------------------------------------------------------------------
# KVM when /dev/kvm is usable; "-accel kvm -accel tcg" falls back to TCG by itself
# when KVM cannot be initialised.
ACCEL=(-accel "tcg,thread=multi,tb-size=512")
CPU=max
# A /dev/kvm that opens is not always one that works (nested or emulated KVM may
# reject the vCPU's MSRs): probe it by creating the machine, stopped, and quitting.
kvm_works() {
	local log
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	log=$(echo quit | timeout 20 qemu-system-x86_64 -accel kvm -cpu host -M q35 -nodefaults \
		-no-user-config -display none -S -monitor stdio 2>&1) && return 0
	echo "vm-run: /dev/kvm is not usable, using TCG: $(echo "$log" | grep -m1 -io "error.*")" >&2
	return 1
}
if [ "$ACCEL_WANT" != tcg ] && kvm_works; then
	ACCEL=(-accel kvm)
	CPU=host
fi

APPEND="console=ttyS0 rdinit=/init panic=-1 oops=panic mitigations=off tsc=reliable"
APPEND="$APPEND no_timer_check i8042.noaux i8042.nokbd 8250.nr_uarts=1 nokaslr"
[ "$VERBOSE" = 1 ] || APPEND="$APPEND quiet loglevel=3"
APPEND="$APPEND vm.stage2=$HERE/guest/stage2.sh vm.out=$OUT"

QEMU=(qemu-system-x86_64
	"${ACCEL[@]}" -M q35 -cpu "$CPU" -smp "$CPUS" -m "$MEM"
	-nodefaults -no-user-config -display none -no-reboot
	-chardev "file,id=con,path=$OUT/.vm/console.raw" -serial chardev:con
	-kernel "$VM_KERNEL" -initrd "$VM_INITRD" -append "$APPEND"
	-fsdev local,id=fsroot,path=/,security_model=none,readonly=on,multidevs=remap
	-device virtio-9p-pci,fsdev=fsroot,mount_tag=hostroot
	-fsdev "local,id=fsout,path=$OUT,security_model=none,multidevs=remap"
	-device virtio-9p-pci,fsdev=fsout,mount_tag=vmout
)
i=0
for s in "${SHARES[@]}"; do
	d=$(realpath -e "$s")
	QEMU+=(-fsdev "local,id=fs$i,path=$d,security_model=none,multidevs=remap"
		-device "virtio-9p-pci,fsdev=fs$i,mount_tag=share$i")
	i=$((i + 1))
done
# shellcheck disable=SC2206
[ -n "${VM_QEMU_EXTRA:-}" ] && QEMU+=($VM_QEMU_EXTRA)

TOTAL=$((TIMEOUT + ${VM_BOOT_TIMEOUT:-120}))
start=$(date +%s%N)
: >"$OUT/.vm/console.raw"
# timeout(1) and the parent-death signal bound the VM's life even if we are SIGKILLed
setpriv --pdeathsig KILL -- timeout -k 5 "$((TOTAL + 10))" \
	setpriv --pdeathsig KILL -- "${QEMU[@]}" </dev/null \
	>"$OUT/.vm/qemu.log" 2>&1 &
QPID=$!
if [ "$QUIET" = 0 ]; then
	tail -n +1 -F --pid="$QPID" "$OUT/.vm/console.raw" 2>/dev/null | tr -d '\r' &
	TAIL_PID=$!
fi
# the host-side timeout: the guest has its own (timeout(1) around the script), this one
# catches a hung or panicking guest
timed_out=0
deadline=$((SECONDS + TOTAL))
while kill -0 "$QPID" 2>/dev/null; do
	if [ "$SECONDS" -ge "$deadline" ]; then
		timed_out=1
		kill -9 "$QPID" 2>/dev/null
		break
	fi
	sleep 0.2
done
qrc=0
{ wait "$QPID" || qrc=$?; } 2>/dev/null
QPID=
if [ -n "$TAIL_PID" ]; then
	wait "$TAIL_PID" 2>/dev/null || true
	TAIL_PID=
fi
end=$(date +%s%N)
wall_ms=$(((end - start) / 1000000))
tr -d '\r' <"$OUT/.vm/console.raw" >"$OUT/console.log"
echo "wall_ms=$wall_ms qemu_rc=$qrc" >>"$OUT/vm-timing"

[ "$QUIET" = 1 ] && [ -r "$OUT/output.log" ] && cat "$OUT/output.log"
if [ -s "$OUT/exit-status" ]; then
	rc=$(cat "$OUT/exit-status")
else
	if [ "$timed_out" = 1 ]; then
		echo "vm-run: VM killed after ${TOTAL}s without an exit status" >&2
	else
		echo "vm-run: VM exited (qemu rc=$qrc) without an exit status" >&2
	fi
	cat "$OUT/.vm/qemu.log" >&2
	if [ "$QUIET" = 1 ]; then
		echo "vm-run: last console lines:" >&2
		tail -n 30 "$OUT/console.log" >&2
	fi
	rc=125
fi
echo "vm-run: exit status $rc, wall ${wall_ms} ms ($(tr '\n' ' ' <"$OUT/vm-timing"))" >&2
[ "$KEEP" = 1 ] && echo "vm-run: results in $OUT" >&2
exit "$rc"
