#!/bin/bash
# Power-loss simulation (qcow2-powercut, see powercut.c): writes since the last fdatasync
# are lost in any subset and order, torn at sectors; every crash image must pass
# `qemu-img check`, hold the data of the last acknowledged flush, and reopen read-write.
# QCOW2_POWERCUT_CRASHES=N per configuration (default: short, for CI);
# QCOW2_POWERCUT_SEED; QCOW2_POWERCUT_ONLY=NAME runs one configuration.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-qcow2.sh"
need qemu-img qemu-io
PC=$BUILD_DIR/tests/func/qcow2/qcow2-powercut
N=${QCOW2_POWERCUT_CRASHES:-0}
seed=${QCOW2_POWERCUT_SEED:-$RANDOM}
echo "seed $seed"

# cut NAME CRASHES CREATE_OPTS [lazy]
cut() {
  local name=$1 img=$T/$1.qcow2 n=$2 out
  [ -n "${QCOW2_POWERCUT_ONLY:-}" ] && [ "$QCOW2_POWERCUT_ONLY" != "$name" ] && return 0
  [ "$N" -gt 0 ] && n=$N
  step "$name ($3): $n power cuts"
  prepare "$name" "$img" "$3"
  out=$(ASAN_OPTIONS=detect_leaks=0 "$PC" "$img" "$seed" "$n" ${4:-}) ||
    fail "$name: power-cut check failed (seed $seed)"
  echo "$out"
}

cut default 12 ""
cut small-clusters 6 "cluster_size=4k"
cut extl2 6 "extended_l2=on,cluster_size=32k"
cut lazy 6 "lazy_refcounts=on" lazy
cut snapshot 6 ""
cut backing 6 ""
cut compressed 6 ""
cut v2 6 "compat=0.10"
echo ok
