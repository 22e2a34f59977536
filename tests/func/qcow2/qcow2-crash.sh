#!/bin/bash
# Crash safety: SIGKILL a writer (qemu-tcmu-io fed writes, zero-writes, discards and
# flushes) at random instants; after every kill `qemu-img check` must report no
# corruption (leaks only; none at all after our lazy-refcount repair) and every block must
# hold its value at the last acknowledged flush or a value written later.
# Short by default (CI); QCOW2_CRASH_KILLS=N runs N kills per configuration (the long
# variant: QCOW2_CRASH_KILLS=40 gives 240 kills over 6 configurations).
. "$(dirname "$0")/../lib.sh"
need qemu-img qemu-io python3
CRASH="python3 $SRC_DIR/tests/func/qcow2/crash.py $QT_IO"
K=${QCOW2_CRASH_KILLS:-0}
seed=${QCOW2_CRASH_SEED:-$RANDOM}
echo "seed $seed"

# crash NAME CLUSTER KILLS CREATE_OPTS [lazy]
crash() {
  local img=$T/$1.qcow2 n=$3
  [ "$K" -gt 0 ] && n=$K
  step "$1 ($4): $n kills"
  qemu-img create -q -f qcow2 ${4:+-o "$4"} "$img" 32M
  [ "$1" = snapshot ] && { qemu-io -c 'write -P 0x5 0 32M' "$img" >/dev/null; qemu-img snapshot -c s1 "$img"; }
  $CRASH "$img" "$2" "$n" "$seed" ${5:-} || fail "$1: crash check failed (seed $seed)"
  if [ "$1" = snapshot ]; then
    qemu-img snapshot -a s1 "$img"
    qemu-io -c 'read -P 0x5 0 32M' "$img" | grep -q 'read 33554432/' || fail "snapshot damaged"
  fi
}

crash default 65536 6 ""
crash small-clusters 4096 3 "cluster_size=4k"
crash extl2 32768 3 "extended_l2=on,cluster_size=32k"
crash lazy 65536 3 "lazy_refcounts=on" lazy
crash snapshot 65536 3 ""
crash tiny-rc64 512 2 "cluster_size=512,refcount_bits=64"
echo ok
