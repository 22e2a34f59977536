#!/bin/bash
# Crafted corrupt images (tests/data/qcow2/make-images.py): refused at open with one line
# naming the problem, or the one request fails with EIO; never a crash, never a stray
# write.  A metadata inconsistency found at run time marks the image corrupt on disk as
# QEMU does (incompatible bit 1, nothing else changes): `qemu-img info` then says corrupt,
# we refuse it read-write until `qemu-img check -r all` repaired it; a read-only open
# changes nothing.  A corrupt compressed cluster only fails its reads.
#
# Overlap checks: an L2 entry pointing into metadata (header-side tables, L2 tables,
# refcount blocks, snapshot tables and their L1/L2 tables, bitmaps) makes a write or a
# discard there fail with EIO instead of overwriting or releasing the metadata; an L1 or
# refcount-table entry pointing into other metadata is refused at open.  After a refused
# write or discard, qemu-img check reports exactly what it reported before.
. "$(dirname "$0")/../lib.sh"
need python3 qemu-img
D=$T/img
python3 "$SRC_DIR/tests/data/qcow2/make-images.py" "$D" > "$T/list"

# without_corrupt_bit IMG: md5 of the image with incompatible bit 1 cleared
without_corrupt_bit() {
  python3 - "$1" <<'PY'
import hashlib, sys
b = bytearray(open(sys.argv[1], "rb").read())
b[79] &= ~2 & 0xff
print(hashlib.md5(b).hexdigest())
PY
}

# corrupt_marked NAME IMG SUM: only the corrupt bit changed; QEMU sees it; we refuse
# read-write and still read read-only; after qemu-img check -r all (if it can repair)
# read-write works again
corrupt_marked() {
  local name=$1 img=$2 sum=$3 rc=0
  [ "$(without_corrupt_bit "$img")" = "$sum" ] || fail "$name: more than the corrupt bit changed"
  qemu-img info "$img" | grep -q 'corrupt: true' || fail "$name: qemu-img info does not see the corrupt bit"
  expect_fail "is marked corrupt" "$QT_IO" -f qcow2 -c 'read 0 512' "$img"
  "$QT_IO" -f qcow2 -r -q -c 'read -P 0x5a 0 512' "$img" || fail "$name: read-only open failed"
  qemu-img check -r all "$img" >/dev/null 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    qemu-img info "$img" | grep -q 'corrupt: false' || fail "$name: repaired but still corrupt"
    # then qemu-img check finds nothing, or what it finds after the same write through
    # qemu-io on a copy (a repair can leave shared tables that QEMU's own write trips over)
    cp "$img" "$img.q"
    "$QT_IO" -f qcow2 -q -c 'write -P 0x44 0 512' "$img" || fail "$name: repaired image refused"
    qemu-io -f qcow2 -c 'write -P 0x44 0 512' "$img.q" >/dev/null
    local ours theirs
    ours=$(qemu-img check "$img" 2>&1 | grep '^ERROR\|^Leaked' || true)
    theirs=$(qemu-img check "$img.q" 2>&1 | grep '^ERROR\|^Leaked' || true)
    [ -z "$ours" ] || [ "$ours" = "$theirs" ] || fail "$name: after a write to the repaired image qemu-img check says
$ours
but after the same write by qemu-io
$theirs"
    echo "repaired by qemu-img check -r all, writable again${ours:+ (a write by qemu-io leaves the same errors)}"
  else
    echo "qemu-img check -r all cannot repair it (rc=$rc); the bit stays"
  fi
}
# same_check NAME IMG ORIG: qemu-img check says the same about IMG as about ORIG (no new
# damage); the corrupt bit itself does not show in its output
same_check() {
  local a b
  a=$(qemu-img check "$3" 2>&1 | sed "s|$3|IMG|g") || true
  b=$(qemu-img check "$2" 2>&1 | sed "s|$2|IMG|g") || true
  [ "$a" = "$b" ] || fail "$1: qemu-img check differs after the refused request:
before: $a
after: $b"
}

# eio_request NAME IMG CMD MSG: CMD fails with EIO naming MSG; so does a later write
eio_request() {
  local name=$1 img=$2 cmd=$3 msg=$4 rc=0 out
  out=$("$QT_IO" -f qcow2 -q -c 'read -P 0x5a 0 512' -c "$cmd" -c 'write -P 0x44 0 512' "$img" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "$name: $cmd: rc=$rc: $out"
  grep -q "$msg" <<<"$out" || fail "$name: $cmd: no '$msg' in: $out"
  grep -q "Input/output error" <<<"$out" || fail "$name: $cmd did not fail with EIO: $out"
  grep -q "write failed: Input/output error" <<<"$out" || fail "$name: the write after '$cmd' was not refused: $out"
  echo "$cmd: ok (rc=$rc): $(head -1 <<<"$out")"
}
n=0
while IFS=$'\t' read -r name expect msg discard; do
  img=$D/$name.qcow2
  sum=$(md5sum < "$img")
  cp "$img" "$D/$name.orig"
  step "$name: $expect"
  case $expect in
    ok)
      qemu-img check -q "$img" || fail "$name: the valid image is not valid for qemu-img"
      "$QT_IO" -q -c 'read -P 0x5a 0 512' -c 'read -P 0 512 512' -c 'read -P 0xa5 1024 512' "$img"
      "$QT_IO" -q -c 'write -P 0x11 4096 1024' -c 'write -P 0x22 1024 512' "$img"
      qemu-img check -q "$img" || fail "$name: not clean after our writes"
      qemu-io -c 'read -P 0x11 4096 1024' -c 'read -P 0x22 1024 512' "$img" | grep -q 'read 512/512' ||
        fail "$name: qemu-io does not read our data"
      continue ;;
    open)
      expect_fail "$msg" "$QT_IO" -f qcow2 -c 'read 0 512' "$img"
      expect_fail "$msg" "$QT_IO" -f qcow2 -r -c 'read 0 512' "$img" ;;
    rdonly)
      expect_fail "$msg" "$QT_IO" -f qcow2 -c 'read 0 512' "$img"
      "$QT_IO" -f qcow2 -r -q -c 'read -P 0x5a 0 512' "$img" ;;
    eio-read|eio-write|eio-compressed)
      off=512; [ "$expect" = eio-compressed ] && off=1024
      cmd="read $off 512"; [ "$expect" = eio-write ] && cmd="write -P 0x33 $off 512"
      # after metadata damage further writes are refused too (a bad compressed cluster
      # only fails its reads)
      more=(-c 'write -P 0x44 0 512'); [ "$expect" = eio-compressed ] && more=()
      if [ "$expect" = eio-read ]; then # read-only: the same error, nothing written
        rc=0; out=$("$QT_IO" -f qcow2 -r -q -c "$cmd" "$img" 2>&1) || rc=$?
        [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && grep -q "$msg" <<<"$out" || fail "$name: read-only: rc=$rc: $out"
        [ "$(md5sum < "$img")" = "$sum" ] || fail "$name: a read-only open modified the image"
      fi
      rc=0; out=$("$QT_IO" -f qcow2 -q -c 'read -P 0x5a 0 512' -c "$cmd" "${more[@]}" "$img" 2>&1) || rc=$?
      [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "$name: rc=$rc: $out"
      grep -q "$msg" <<<"$out" || fail "$name: no '$msg' in: $out"
      grep -q "Input/output error" <<<"$out" || fail "$name: the request did not fail with EIO: $out"
      echo "ok (rc=$rc): $(head -1 <<<"$out")"
      if [ "$expect" != eio-compressed ]; then
        same_check "$name" "$img" "$D/$name.orig"
        corrupt_marked "$name" "$img" "$(md5sum < "$D/$name.orig" | cut -d' ' -f1)"
        if [ -n "$discard" ]; then # the same bad entry must not release metadata either
          cp "$D/$name.orig" "$img"
          eio_request "$name" "$img" "discard $discard 512" "$msg"
          same_check "$name" "$img" "$D/$name.orig"
          [ "$(without_corrupt_bit "$img")" = "$(md5sum < "$D/$name.orig" | cut -d' ' -f1)" ] ||
            fail "$name: discard: more than the corrupt bit changed"
        fi
        n=$((n + 1))
        continue
      fi ;;
    *) fail "unknown expectation $expect" ;;
  esac
  [ "$(md5sum < "$img")" = "$sum" ] || fail "$name: the image was modified"
  n=$((n + 1))
done < "$T/list"
echo "$n corrupt images handled"
