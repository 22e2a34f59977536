#!/bin/bash
# Run one libFuzzer target for a given amount of CPU time (not wall time: the machine may
# be shared), niced, with leak detection and a per-input timeout, then print its numbers.
#   fuzz/run.sh NAME [CPU_SECONDS] [libFuzzer options...]
# Needs the clang build (fuzz/meson.build's header): BUILD=build-fuzz by default.  Inputs it
# finds go to $OUT/NAME/ (default out/fuzz), seeded from fuzz/corpus/NAME/, which is only
# read; crashes, leaks and timeouts are written to $OUT/NAME-artifacts/.  At the end:
#   fuzz/run.sh --merge NAME   minimises fuzz/corpus/NAME + $OUT/NAME into fuzz/corpus/NAME
# -timeout is wall time (libFuzzer's alarm): 60 s by default (TIMEOUT=N), as a niced run on a
# shared machine can be starved: an input that takes 0.5 s alone once hit 15 s beside a TCG VM.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-fuzz}
OUT=${OUT:-out/fuzz}

if [ "${1:-}" = --merge ]; then
  name=$2
  bin=$BUILD/fuzz/fuzz-$name
  new=$(mktemp -d)
  "$bin" -merge=1 -timeout=10 "$new" "fuzz/corpus/$name" "$OUT/$name" >"$OUT/$name-merge.log" 2>&1
  # libFuzzer names inputs by their SHA-1: keep the names of inputs that stay
  find "fuzz/corpus/$name" -maxdepth 1 -type f -delete
  cp "$new"/* "fuzz/corpus/$name/"
  rm -rf "$new"
  echo "fuzz/corpus/$name: $(ls "fuzz/corpus/$name" | wc -l) inputs, $(du -sk "fuzz/corpus/$name" | cut -f1) KiB"
  exit 0
fi

name=$1
cpu=${2:-1800}
shift $(($# < 2 ? $# : 2))
bin=$BUILD/fuzz/fuzz-$name
mkdir -p "$OUT/$name" "$OUT/$name-artifacts"
log=$OUT/$name.log
dict=()
[ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
start=$(date -u +%Y-%m-%dT%H:%MZ)
nice -n "${NICE:-10}" "$bin" -max_total_time=$((cpu * 20)) -timeout="${TIMEOUT:-60}" -detect_leaks=1 -print_final_stats=1 \
  -artifact_prefix="$OUT/$name-artifacts/" "${dict[@]}" "$@" "$OUT/$name" "fuzz/corpus/$name" \
  >"$log" 2>&1 </dev/null &
pid=$!
tck=$(getconf CLK_TCK)
used=0
while kill -0 "$pid" 2>/dev/null; do
  # utime + stime of every thread, in clock ticks (fields 14 and 15 after the comm)
  t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || break
  used=$((${t:-0} / tck))
  if [ "$used" -ge "$cpu" ]; then
    kill -INT "$pid"
    break
  fi
  sleep 5
done
rc=0
wait "$pid" || rc=$?
end=$(date -u +%Y-%m-%dT%H:%MZ)
execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
cov=$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}')
ft=$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}')
crashes=$(ls "$OUT/$name-artifacts" | grep -c '^crash-' || true)
leaks=$(ls "$OUT/$name-artifacts" | grep -c '^leak-' || true)
timeouts=$(ls "$OUT/$name-artifacts" | grep -c '^timeout-' || true)
ooms=$(ls "$OUT/$name-artifacts" | grep -c '^oom-' || true)
echo "$name start=$start end=$end cpu_s=$used rc=$rc execs=${execs:-?} cov=${cov:-?} ft=${ft:-?}" \
  "crashes=$crashes leaks=$leaks timeouts=$timeouts ooms=$ooms"
