#!/bin/bash
# Crash safety: SIGKILL a writer (qemu-tcmu-io fed writes, zero-writes, discards and
# flushes; with -a its reads, writes and flushes take the daemon's asynchronous path, where
# allocating writes commit their L2 entries in the event loop) at random instants; after every kill `qemu-img check` must report no
# corruption (leaks only; none at all after our lazy-refcount repair) and every block must
# hold its value at the last acknowledged flush or a value written later.
# Short by default (CI); QCOW2_CRASH_KILLS=N runs N kills per configuration (the long
# variant: QCOW2_CRASH_KILLS=20 gives 300 kills over 15 configurations);
# QCOW2_CRASH_ONLY=NAME runs one configuration.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-qcow2.sh"
need qemu-img qemu-io python3
CRASH="python3 $SRC_DIR/tests/func/qcow2/crash.py $QT_IO"
K=${QCOW2_CRASH_KILLS:-0}
seed=${QCOW2_CRASH_SEED:-$RANDOM}
echo "seed $seed"

# crash NAME CLUSTER KILLS CREATE_OPTS [lazy] [-- WRITER_ARGS]
crash() {
  local name=$1 img=$T/$1.qcow2 cl=$2 n=$3 o=$4
  shift 4
  [ -n "${QCOW2_CRASH_ONLY:-}" ] && [ "$QCOW2_CRASH_ONLY" != "$name" ] && return 0
  [ "$K" -gt 0 ] && n=$K
  step "$name ($o${*:+; $*}): $n kills"
  prepare "$name" "$img" "$o"
  $CRASH "$img" "$cl" "$n" "$seed" "$@" || fail "$name: crash check failed (seed $seed)"
  if [ "$name" = snapshot ]; then
    qemu-img snapshot -a s1 "$img"
    qemu-io -c 'read -P 0x5 0 32M' "$img" | grep -q 'read 33554432/' || fail "snapshot damaged"
  fi
  if [ "$name" = backing ]; then
    qemu-io -r -c 'read -P 0x5 0 24M' -c 'read -P 0 24M 8M' "$img.base" | grep -q 'read 8388608/' ||
      fail "the backing file was modified"
  fi
}

crash default 65536 4 ""
crash small-clusters 4096 2 "cluster_size=4k"
crash extl2 32768 2 "extended_l2=on,cluster_size=32k"
crash lazy 65536 2 "lazy_refcounts=on" lazy
crash snapshot 65536 2 ""
crash tiny-rc64 512 1 "cluster_size=512,refcount_bits=64"
crash backing 65536 2 ""
crash backing-extl2 65536 1 "extended_l2=on"
crash compressed 65536 2 ""
crash compressed-zstd 65536 1 "compression_type=zstd"
crash lazy-extl2 32768 1 "lazy_refcounts=on,extended_l2=on,cluster_size=32k" lazy
crash cache-none 65536 2 "" -- -t none
crash refcount1 65536 1 "refcount_bits=1"
crash async 65536 3 "" -- -a
crash async-small 4096 2 "cluster_size=4k" -- -a
echo ok
