#!/bin/bash
# qcow2 benchmarks: raw, preallocated qcow2 and empty qcow2, through qt-bench (our async
# path) and `qemu-img bench` on the same files, page-cache backed (cache=writeback).
#   bench/qcow2/run.sh [BUILD_DIR]     a release build: meson setup build-rel -Dbuildtype=release
# Prints a table: 4K random read/write IOPS at QD32 (qemu-img bench cannot do random
# offsets: it runs with a co-prime step, which we also run), 1M sequential MiB/s at QD8.
set -euo pipefail
B=${1:-build-rel}
QB=$B/bench/qcow2/qt-bench
D=$(mktemp -d "${TMPDIR:-/tmp}/qt-bench.XXXXXX")
trap 'rm -rf "$D"' EXIT
SIZE=${BENCH_SIZE:-512M}
N4K=${BENCH_4K_OPS:-150000}
N1M=${BENCH_1M_OPS:-512}
STEP=$((4096 * 7919)) # co-prime with the block count: a permutation of the 4K blocks

qemu-img create -q -f raw "$D/raw" "$SIZE"
qemu-io -f raw -c "write -P 0x5a 0 $SIZE" "$D/raw" >/dev/null
qemu-img create -q -f qcow2 -o preallocation=full "$D/prealloc.qcow2" "$SIZE"
qemu-io -c "write -P 0x5a 0 $SIZE" "$D/prealloc.qcow2" >/dev/null

# The page cache state matters more than anything we do (large folios vs 4K pages): drop
# each file's pages and read it back sequentially so every image starts alike.
warm() {
  python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$1"
  cat "$1" >/dev/null
}
# best of 3 (the machine is shared): IOPS MiB/s
ours() {
  local i best=""
  for i in 1 2 3; do
    best=$(printf '%s\n%s\n' "$best" "$("$QB" "$@" | awk '{print $(NF-3), $(NF-1)}')" | sort -n | tail -1)
  done
  echo "$best"
}
# best of 3: seconds
theirs() {
  local i best=""
  for i in 1 2 3; do
    best=$(printf '%s\n%s\n' "$best" "$(qemu-img bench -t writeback -i io_uring "$@" 2>&1 | awk '/Run completed/ {print $(NF-1)}')" | grep . | sort -n | head -1)
  done
  echo "$best"
}
row() { printf '%-34s %12s %12s\n' "$@"; }

row "workload" "qt-bench" "qemu-img"
for img in raw prealloc.qcow2 empty.qcow2; do
  fmt=qcow2; [ "$img" = raw ] && fmt=raw
  fresh() { [ "$img" = empty.qcow2 ] && { rm -f "$D/$img"; qemu-img create -q -f qcow2 "$D/$img" "$SIZE"; }; true; }
  fresh
  [ "$img" = empty.qcow2 ] && qemu-io -c "write -P 0x5a 0 $SIZE" "$D/$img" >/dev/null
  warm "$D/$img"
  # reads
  r=$(ours -f $fmt -d 32 -s 4k -c "$N4K" -r "$D/$img")
  s=$(ours -f $fmt -d 32 -s 4k -S $STEP -c "$N4K" "$D/$img")
  t=$(theirs -f $fmt -d 32 -s 4k -S $STEP -c "$N4K" "$D/$img")
  q=$(awk -v n="$N4K" -v t="$t" 'BEGIN { if (t > 0) printf "%.0f", n / t; }')
  row "$img 4K read QD32 random" "${r%% *}" "-"
  row "$img 4K read QD32 step" "${s%% *}" "$q"
  s=$(ours -f $fmt -d 8 -s 1M -c "$N1M" "$D/$img")
  t=$(theirs -f $fmt -d 8 -s 1M -c "$N1M" "$D/$img")
  row "$img 1M read QD8 MiB/s" "${s##* }" "$(awk -v n="$N1M" -v t="$t" 'BEGIN { if (t > 0) printf "%.1f", n / t; }')"
  # writes (the empty image starts empty for each writer)
  fresh
  r=$(ours -f $fmt -w -d 32 -s 4k -c "$N4K" -r "$D/$img")
  fresh
  s=$(ours -f $fmt -w -d 32 -s 4k -S $STEP -c "$N4K" "$D/$img")
  fresh
  t=$(theirs -w -f $fmt -d 32 -s 4k -S $STEP -c "$N4K" "$D/$img")
  row "$img 4K write QD32 random" "${r%% *}" "-"
  row "$img 4K write QD32 step" "${s%% *}" "$(awk -v n="$N4K" -v t="$t" 'BEGIN { if (t > 0) printf "%.0f", n / t; }')"
  fresh
  s=$(ours -f $fmt -w -d 8 -s 1M -c "$N1M" "$D/$img")
  fresh
  t=$(theirs -w -f $fmt -d 8 -s 1M -c "$N1M" "$D/$img")
  row "$img 1M write QD8 MiB/s" "${s##* }" "$(awk -v n="$N1M" -v t="$t" 'BEGIN { if (t > 0) printf "%.1f", n / t; }')"
done
