#!/bin/bash
# qcow2 open options, with QEMU 7.2 as the oracle where it has the same option:
#  - lazy-refcounts: on for an image created without lazy refcounts sets the dirty bit
#    while open and leaves the compatible bit alone (as qemu-io does); off on a lazy image
#    keeps the dirty bit clear; a crash while dirty is repaired on the next read-write
#    open; v2 images refuse it; read-only opens never set the bit;
#  - l2-cache-size, refcount-cache-size: the info command shows the sizes (capped like
#    QEMU's at what the image needs), the L2 cache's hit/miss counters show the effect;
#  - bad values: one line naming the key, exit status 1.
. "$(dirname "$0")/../lib.sh"
need python3 qemu-img qemu-io

# bits IMG: "dirty=D lazy=L" from the header (incompatible bit 0, compatible bit 0)
bits() {
  python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read(104)
i, c = struct.unpack(">QQ", b[72:88])
print("dirty=%d lazy=%d" % (i & 1, c & 1))' "$1"
}

# session IMG OPTS...: qemu-tcmu-io reading commands from a pipe (coprocess QT)
session() {
  local img=$1; shift
  coproc QT { exec "$QT_IO" "$@" "$img" 2>&1; }
}
# cmd LINE...: send commands, wait until they ran (an `info` answers with a known line)
cmd() {
  local l
  for l in "$@"; do echo "$l" >&"${QT[1]}"; done
  echo info >&"${QT[1]}"
  while IFS= read -r -t 30 l <&"${QT[0]}"; do
    case $l in "refcount cache:"*) return 0 ;; esac
    _last_info+=$l$'\n'
  done
  fail "qemu-tcmu-io did not answer"
}
quit() { echo quit >&"${QT[1]}"; wait "$QT_PID" || fail "qemu-tcmu-io failed on close"; }
crash() { kill -9 "$QT_PID"; wait "$QT_PID" 2>/dev/null || true; }
# qemu_bits IMG OPTS: the header bits while qemu-io has written with these options
# (qemu-io aborts after the write: the bits as the crash leaves them)
qemu_bits() {
  qemu-io --image-opts -c 'write -P 0x11 0 64k' -c flush -c abort \
    "driver=qcow2,file.filename=$1${2:+,$2}" >/dev/null 2>&1 || true
  bits "$1"
}

step "lazy-refcounts=on on an image without lazy refcounts"
qemu-img create -q -f qcow2 -o lazy_refcounts=off "$T/a.qcow2" 64M
cp "$T/a.qcow2" "$T/a-qemu.qcow2"
want=$(qemu_bits "$T/a-qemu.qcow2" lazy-refcounts=on)
[ "$want" = "dirty=1 lazy=0" ] || fail "qemu-io left $want"
session "$T/a.qcow2" -o lazy-refcounts=on
_last_info=""
cmd 'write -P 0x11 0 64k' flush
grep -q "lazy refcounts: true" <<<"$_last_info" || fail "info does not say lazy refcounts: $_last_info"
[ "$(bits "$T/a.qcow2")" = "$want" ] || fail "while open: $(bits "$T/a.qcow2"), qemu-io: $want"
quit
[ "$(bits "$T/a.qcow2")" = "dirty=0 lazy=0" ] || fail "after close: $(bits "$T/a.qcow2")"
qemu-img check -q "$T/a.qcow2" || fail "not clean after close"
echo "ok: $want while open (as qemu-io), clean after close"

step "a crash while dirty: repaired on the next read-write open"
session "$T/a.qcow2" -o lazy-refcounts=on
cmd 'write -P 0x22 1M 64k' 'write -P 0x23 8M 64k' flush 'write -P 0x24 16M 64k'
crash
[ "$(bits "$T/a.qcow2")" = "dirty=1 lazy=0" ] || fail "after the crash: $(bits "$T/a.qcow2")"
# QEMU opens the dirty image read-write too (and repairs it); we must as well
out=$("$QT_IO" -c 'read -P 0x22 1M 64k' -c 'read -P 0x23 8M 64k' "$T/a.qcow2" 2>&1) ||
  fail "reopening the dirty image failed: $out"
grep -q "repaired" <<<"$out" || fail "no repair reported: $out"
[ "$(bits "$T/a.qcow2")" = "dirty=0 lazy=0" ] || fail "after the repair: $(bits "$T/a.qcow2")"
qemu-img check -q "$T/a.qcow2" || fail "not clean after the repair"
echo "ok: $(grep -o 'repaired.*' <<<"$out")"

step "lazy image: dirty bit while open, clear after close; lazy-refcounts=off keeps it clear"
qemu-img create -q -f qcow2 -o lazy_refcounts=on "$T/b.qcow2" 64M
cp "$T/b.qcow2" "$T/b-qemu.qcow2"
want=$(qemu_bits "$T/b-qemu.qcow2" "")
cp "$T/b.qcow2" "$T/b-qemu.qcow2"
want_off=$(qemu_bits "$T/b-qemu.qcow2" lazy-refcounts=off)
[ "$want $want_off" = "dirty=1 lazy=1 dirty=0 lazy=1" ] || fail "qemu-io left $want / $want_off"
session "$T/b.qcow2"
cmd 'write -P 0x11 0 64k' flush
[ "$(bits "$T/b.qcow2")" = "$want" ] || fail "lazy image while open: $(bits "$T/b.qcow2")"
quit
[ "$(bits "$T/b.qcow2")" = "dirty=0 lazy=1" ] || fail "lazy image after close: $(bits "$T/b.qcow2")"
session "$T/b.qcow2" -o lazy-refcounts=off
_last_info=""
cmd 'write -P 0x11 64k 64k' flush
grep -q "lazy refcounts: false" <<<"$_last_info" || fail "info: $_last_info"
[ "$(bits "$T/b.qcow2")" = "$want_off" ] || fail "lazy-refcounts=off while open: $(bits "$T/b.qcow2")"
crash
# refcounts kept in order: a crash leaves leaks at most (the reserve), no dirty bit
rc=0; qemu-img check -q "$T/b.qcow2" >/dev/null 2>&1 || rc=$?
[ "$rc" = 0 ] || [ "$rc" = 3 ] || fail "lazy-refcounts=off: qemu-img check rc=$rc after a crash"
[ "$(bits "$T/b.qcow2")" = "dirty=0 lazy=1" ] || fail "lazy-refcounts=off: after a crash $(bits "$T/b.qcow2")"
session "$T/b.qcow2" -r
cmd 'read -P 0x11 0 128k'
[ "$(bits "$T/b.qcow2")" = "dirty=0 lazy=1" ] || fail "read-only open set $(bits "$T/b.qcow2")"
quit
echo "ok: $want while open, $want_off with lazy-refcounts=off (as qemu-io); read-only: clean"

step "lazy-refcounts=on on a v2 image is refused (as QEMU)"
qemu-img create -q -f qcow2 -o compat=0.10 "$T/v2.qcow2" 64M
qemu-io --image-opts -c 'read 0 512' "driver=qcow2,file.filename=$T/v2.qcow2,lazy-refcounts=on" \
  >/dev/null 2>&1 && fail "qemu-io accepts lazy-refcounts=on on v2"
expect_fail "lazy-refcounts=on" "$QT_IO" -o lazy-refcounts=on -c 'read 0 512' "$T/v2.qcow2"

# ---- cache sizes ------------------------------------------------------------------------
# 1 GiB, 64 KiB clusters: the L2 tables are 128 KiB = 32 slices of 4 KiB
qemu-img create -q -f qcow2 -o cluster_size=64k,preallocation=metadata "$T/c.qcow2" 1G
# cache_info OPTS: info after reading one block per L2 slice, twice
cache_info() {
  local c=() off
  for off in $(seq 0 32 1023); do c+=(-c "read ${off}M 4k"); done
  "$QT_IO" -q ${1:+-o "$1"} "${c[@]}" "${c[@]}" -c info "$T/c.qcow2" | grep cache
}
# expect_cache OPTS L2_SLICES HITS MISSES RB_SLICES
expect_cache() {
  local out
  out=$(cache_info "$1")
  grep -q "^l2 cache: $2 slices of 4096 bytes ($3 hits, $4 misses" <<<"$out" &&
    grep -q "^refcount cache: $5 slices" <<<"$out" || fail "${1:-defaults}: $out"
  echo "ok: ${1:-defaults}: $(tr '\n' ' ' <<<"$out")"
}
step "l2-cache-size, refcount-cache-size"
expect_cache "" 32 32 32 64                          # defaults: all of L2, 256 KiB refcounts
expect_cache l2-cache-size=64k 16 0 64 64            # half the tables: every read misses
expect_cache l2-cache-size=96K 24 0 64 64
expect_cache l2-cache-size=1M 32 32 32 64            # capped at what the image needs
expect_cache refcount-cache-size=1M 32 32 32 256
expect_cache refcount-cache-size=64k,l2-cache-size=128k 32 32 32 16

step "bad option values: one line naming the key"
for o in l2-cache-size=abc l2-cache-size=-1 l2-cache-size= refcount-cache-size=1x \
  refcount-cache-size=99999999999999999999 refcount-cache-size=1E l2-cache-size=2G \
  lazy-refcounts=maybe lazy-refcounts=2; do
  expect_fail "'${o%%=*}'" "$QT_IO" -o "$o" -c 'read 0 512' "$T/c.qcow2"
done
echo ok
