#!/bin/bash
# The header and the backing chain, with QEMU 7.2 as the oracle:
#  - an unknown header extension (patched into the header cluster) survives writes,
#    allocations (new L2 tables, refcount-table growth), discards and resizes (L1 growth,
#    shrink) byte for byte, with and without a backing file name after it, and
#    `qemu-img check` stays clean;
#  - relative backing file names resolve against the directory of the image that names
#    them (`qemu-img create -b sub/name -F qcow2`, `../name`), not the cwd: a chain opened
#    from other directories, by absolute and relative paths, reads and writes the chain's
#    data even with decoy files of the same names in the cwd; through a symlink the names
#    resolve against the link's directory, as qemu-io does.
. "$(dirname "$0")/../lib.sh"
need python3 qemu-img qemu-io

# add_ext IMG: insert an unknown extension (type 0x7e57e7e0) before the end marker, moving
# the backing file name behind it; prints the extension area (hex) afterwards
EXT_PY='
import struct, sys
p, mode = sys.argv[1], sys.argv[2]
b = bytearray(open(p, "rb").read(65536))
hl = struct.unpack(">I", b[100:104])[0]
boff, bsize = struct.unpack(">QI", b[8:20])
pos = hl
while True:
    t, l = struct.unpack(">II", b[pos:pos + 8])
    if t == 0:
        break
    pos += 8 + ((l + 7) & ~7)
if mode == "add":
    name = bytes(b[boff:boff + bsize]) if boff else b""
    ext = struct.pack(">II", 0x7E57E7E0, 13) + b"unknown-ext!!" + bytes(3)
    b[pos:pos + len(ext) + 8] = ext + bytes(8)
    end = pos + len(ext) + 8
    if boff:
        b[end:end + bsize] = name
        b[8:16] = struct.pack(">Q", end)
    with open(p, "r+b") as f:
        f.write(b[:end + bsize])
    pos = end - 8
# the extensions and the backing name: everything from the header length on
print(b[hl:pos + 8].hex(), bytes(b[boff:boff + bsize]).hex() if boff else "-")
'
ext_area() { python3 -c "$EXT_PY" "$1" show; }

# check_ext NAME IMG WANT: the extension area is unchanged and qemu-img check is clean
check_ext() {
  local got
  got=$(ext_area "$2")
  [ "$got" = "$3" ] || fail "$1: header extensions changed:
before: $3
after:  $got"
  grep -q 7e57e7e0 <<<"$got" || fail "$1: the unknown extension is gone"
  qemu-img check -q "$2" || fail "$1: qemu-img check not clean"
}

# unknown_ext NAME CREATE_OPTS GROW_TO [backing]
unknown_ext() {
  local name=$1 img=$T/$1.qcow2 want grow=$3
  step "unknown header extension: $name"
  if [ "${4:-}" = backing ]; then
    qemu-img create -q -f qcow2 "$T/$name.base" 64M
    qemu-io -c 'write -P 0x5 0 64M' "$T/$name.base" >/dev/null
    qemu-img create -q -f qcow2 -o "$2" -b "$name.base" -F qcow2 "$img" 64M
  else
    qemu-img create -q -f qcow2 -o "$2" "$img" 64M
  fi
  python3 -c "$EXT_PY" "$img" add >/dev/null
  want=$(ext_area "$img")
  qemu-img check -q "$img" || fail "$name: QEMU does not accept the patched image"
  # writes everywhere (new L2 tables; with small clusters and 64-bit refcounts the
  # refcount table grows), a discard, zero writes
  "$QT_IO" -q -c 'write -P 0x11 0 4M' -c 'write -P 0x12 32M 64k' -c flush \
    -c 'discard 1M 1M' -c 'write -z 2M 64k' "$img" || fail "$name: writes failed"
  check_ext "$name: writes" "$img" "$want"
  # grow far enough for a new L1 table, write beyond the old end, shrink again
  "$QT_IO" -q -c "truncate $grow" -c 'write -P 0x13 80M 64k' "$img" || fail "$name: grow failed"
  [ "$(qemu-img info "$img" | grep -c "virtual size: ${grow%?} ${grow: -1}iB")" = 1 ] || fail "$name: not grown"
  check_ext "$name: grow" "$img" "$want"
  "$QT_IO" -q -c 'truncate 16M' "$img" || fail "$name: shrink failed"
  check_ext "$name: shrink" "$img" "$want"
  qemu-io -c 'read -P 0x11 0 1M' -c 'read -P 0 1M 1M' -c 'read -P 0x11 3M 1M' "$img" |
    grep -q 'read 1048576/1048576 bytes at offset 3145728' || fail "$name: qemu-io reads differ"
  if [ "${4:-}" = backing ]; then
    qemu-io -c 'read -P 0x5 8M 1M' "$img" | grep -q 'read 1048576' || fail "$name: backing lost"
  fi
  echo "ok: extension area unchanged ($(wc -c <<<"$want") hex chars)"
}

# 40G: the L1 table grows from 1 to 80 entries; 2G with 512-byte clusters: from 2048 to
# 65536 entries (512 KiB, with new refcount blocks in front of it)
unknown_ext default "cluster_size=64k" 40G
unknown_ext small-clusters "cluster_size=512,refcount_bits=64" 2G
unknown_ext with-backing "cluster_size=64k" 40G backing

# ---- relative backing file names --------------------------------------------------------
step "relative backing names"
C=$T/chain
mkdir -p "$C/sub" "$T/decoy/sub" "$T/link"
(
  cd "$C"
  qemu-img create -q -f qcow2 base.qcow2 8M
  qemu-io -c 'write -P 0x11 0 1M' base.qcow2 >/dev/null
  qemu-img create -q -f qcow2 -b ../base.qcow2 -F qcow2 sub/mid.qcow2 8M
  qemu-io -c 'write -P 0x22 1M 1M' sub/mid.qcow2 >/dev/null
  qemu-img create -q -f qcow2 -b sub/mid.qcow2 -F qcow2 top.qcow2 8M
  qemu-io -c 'write -P 0x33 2M 1M' top.qcow2 >/dev/null
)
# decoys where a cwd-relative lookup would find them
for d in "$T/decoy" "$T"; do
  mkdir -p "$d/sub"
  for f in base.qcow2 sub/mid.qcow2; do
    qemu-img create -q -f qcow2 "$d/$f" 8M
    qemu-io -c 'write -P 0xee 0 8M' "$d/$f" >/dev/null
  done
done
READS=(-c 'read -P 0x11 0 1M' -c 'read -P 0x22 1M 1M' -c 'read -P 0x33 2M 1M' -c 'read -P 0 3M 5M')
# from_dir DIR PATH: the chain's data through qemu-tcmu-io run in DIR
from_dir() {
  (cd "$1" && "$QT_IO" -r -q "${READS[@]}" "$2") || fail "chain opened as '$2' from $1 reads wrong data"
  echo "ok: '$2' from $1"
}
from_dir / "$C/top.qcow2"
from_dir "$T/decoy" "$C/top.qcow2"
from_dir "$T/decoy/sub" "$C/top.qcow2"
from_dir "$T" chain/top.qcow2
from_dir "$C/sub" ../top.qcow2
from_dir "$C" top.qcow2
from_dir "$T/decoy" "../chain/top.qcow2"
# through a symlink in another directory: resolved against the link's directory, as QEMU
ln -s ../chain/top.qcow2 "$T/link/top.qcow2"
qrc=0; qemu-io -r -c 'read 0 512' "$T/link/top.qcow2" >/dev/null 2>&1 || qrc=$?
orc=0; out=$("$QT_IO" -r -q -c 'read 0 512' "$T/link/top.qcow2" 2>&1) || orc=$?
[ "$qrc" != 0 ] && [ "$orc" != 0 ] || fail "symlink: qemu-io rc=$qrc, qemu-tcmu-io rc=$orc"
grep -q "$T/link/sub/mid.qcow2" <<<"$out" || fail "symlink: not resolved against the link's directory: $out"
echo "ok: through a symlink both look for $T/link/sub/mid.qcow2"
# with the names present next to the link, the chain reads through
mkdir -p "$T/link/sub"
ln -s ../../chain/sub/mid.qcow2 "$T/link/sub/mid.qcow2"
ln -s ../chain/base.qcow2 "$T/link/base.qcow2"
(cd / && "$QT_IO" -r -q "${READS[@]}" "$T/link/top.qcow2") || fail "symlinked chain reads wrong data"
qemu-io -r "${READS[@]}" "$T/link/top.qcow2" | grep -c '^read' | grep -qx 4 || fail "qemu-io: symlinked chain"
echo "ok: and with the names next to the link, the chain reads through it"
# a copy-on-write from the backing files, from another cwd: qemu-io agrees, check clean
(cd "$T/decoy" && "$QT_IO" -q -c 'write -P 0x44 1M 4k' -c 'write -P 0x45 4k 512' "$C/top.qcow2") ||
  fail "write through the chain from another cwd failed"
(cd "$C" && qemu-io -c 'read -P 0x44 1M 4k' -c 'read -P 0x22 1052672 60k' -c 'read -P 0x11 0 4k' \
  -c 'read -P 0x45 4k 512' -c 'read -P 0x11 4608 60k' top.qcow2) | grep -c '^read' | grep -qx 5 ||
  fail "qemu-io does not read what we wrote through the chain"
qemu-img check -q "$C/top.qcow2" || fail "chain top not clean after our write"
echo ok
