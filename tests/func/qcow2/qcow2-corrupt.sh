#!/bin/bash
# Crafted corrupt images (tests/data/qcow2/make-images.py): refused at open with one line
# naming the problem, or the one request fails with EIO; never a crash, never a stray
# write.  A metadata inconsistency found at run time marks the image corrupt on disk as
# QEMU does (incompatible bit 1, nothing else changes): `qemu-img info` then says corrupt,
# we refuse it read-write until `qemu-img check -r all` repaired it; a read-only open
# changes nothing.  A corrupt compressed cluster only fails its reads.
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
    "$QT_IO" -f qcow2 -q -c 'write -P 0x44 0 512' "$img" || fail "$name: repaired image refused"
    qemu-img check -q "$img" || fail "$name: not clean after a write to the repaired image"
    echo "repaired by qemu-img check -r all, writable again"
  else
    echo "qemu-img check -r all cannot repair it (rc=$rc); the bit stays"
  fi
}
n=0
while IFS=$'\t' read -r name expect msg; do
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
        corrupt_marked "$name" "$img" "$(md5sum < "$D/$name.orig" | cut -d' ' -f1)"
        n=$((n + 1))
        continue
      fi ;;
    *) fail "unknown expectation $expect" ;;
  esac
  [ "$(md5sum < "$img")" = "$sum" ] || fail "$name: the image was modified"
  n=$((n + 1))
done < "$T/list"
echo "$n corrupt images handled"
