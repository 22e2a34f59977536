#!/bin/bash
# The VM part of the benchmark (real LIO, software-emulated CPU: ratios only): fio
# through tcm_loop on our daemon vs LIO fileio vs tcmu-runner, same file, alternating
# rounds, medians; and the daemon's RSS with one idle device.  See bench/vm-guest.sh.
#   bench/vm.sh [--rbd] [--build-dir DIR] [-e VAR=VALUE]...   (ROUNDS, RUNTIME, SIZE_MB, ...)
# --rbd: a one-node Ceph in the guest, our native rbd driver vs tcmu-runner's rbd handler
# vs fio's rbd engine (4K random QD1 and QD32, 1M sequential QD8).
# Writes bench/results/vm[-rbd]-latest.{md,json}; the guest's logs and fio JSON stay in a
# temp dir (printed).  Never a timed test: run it by hand (or bench/run --vm).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build-rel
ENVS=()
NAME=vm
MEM=2048
while [ $# -gt 0 ]; do
	case "$1" in
	--build-dir) B=$(realpath "$2"); shift 2 ;;
	--rbd)
		NAME=vm-rbd MEM=3072
		ENVS+=(-e "BACKENDS=rbd runner-rbd fio-rbd"
			-e "JOBS=randread:4k:1 randread:4k:32 randwrite:4k:1 randwrite:4k:32 read:1M:8 write:1M:8")
		shift
		;;
	-e) ENVS+=(-e "$2"); shift 2 ;;
	*) echo "usage: bench/vm.sh [--rbd] [--build-dir DIR] [-e VAR=VALUE]..." >&2; exit 2 ;;
	esac
done
[ -x "$B/src/daemon/qemu-tcmu" ] || {
	echo "bench/vm.sh: no $B/src/daemon/qemu-tcmu (build it: bench/run --build)" >&2
	exit 1
}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/qt-vm-bench.XXXXXX")
echo "bench/vm.sh: results in $OUT"
# -p 2: with one vCPU, fio, the kernel and a TCMU daemon share one emulated CPU
"$ROOT/tests/vm/run.sh" -p 2 -m "$MEM" -t 3000 -o "$OUT" -e "BUILD_DIR=$B" -e "SRC_DIR=$ROOT" \
	"${ENVS[@]}" "$ROOT/bench/vm-guest.sh"
mkdir -p "$ROOT/bench/results"
cp "$OUT/vm-bench.md" "$ROOT/bench/results/$NAME-latest.md"
cp "$OUT/vm-bench.json" "$ROOT/bench/results/$NAME-latest.json"
echo "bench/vm.sh: written bench/results/$NAME-latest.{md,json}"
