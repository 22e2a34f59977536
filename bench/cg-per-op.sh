#!/bin/bash
# Instructions per command of sim-bench (the daemon's data path under the ring simulator),
# counted by callgrind: load-independent, so two builds compare on a busy machine.
#   bench/cg-per-op.sh SIM_BENCH [sim-bench options...] CFGSTRING
# Runs the workload twice (-c 4000 and -c 12000 commands) and takes
# (Ir(12000) - Ir(4000)) / 8000: the per-command cost without start-up and open.  Reads
# repeat exactly; writes vary by ~2% (how completions batch), so it prints the median of
# REPS (default 5) such pairs.
set -euo pipefail
bin=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=("$@")
ir() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" "$bin" -c "$1" "${args[@]}" \
    >/dev/null 2>"$tmp/log.$1" || { cat "$tmp/log.$1" >&2; exit 1; }
  sed -n 's/^==[0-9]*== Collected : //p' "$tmp/log.$1"
}
for _ in $(seq "${REPS:-5}"); do
  lo=$(ir 4000)
  hi=$(ir 12000)
  echo $(((hi - lo) / 8000))
done | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
