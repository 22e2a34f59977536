#!/bin/bash
# Crafted corrupt images (tests/data/qcow2/make-images.py): refused at open with one line
# naming the problem, or the one request fails with EIO; never a crash, never a write to
# the image (its checksum is unchanged unless the case is valid).
. "$(dirname "$0")/../lib.sh"
need python3 qemu-img
D=$T/img
python3 "$SRC_DIR/tests/data/qcow2/make-images.py" "$D" > "$T/list"
n=0
while IFS=$'\t' read -r name expect msg; do
  img=$D/$name.qcow2
  sum=$(md5sum < "$img")
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
      rc=0; out=$("$QT_IO" -f qcow2 -q -c 'read -P 0x5a 0 512' -c "$cmd" "${more[@]}" "$img" 2>&1) || rc=$?
      [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "$name: rc=$rc: $out"
      grep -q "$msg" <<<"$out" || fail "$name: no '$msg' in: $out"
      grep -q "Input/output error" <<<"$out" || fail "$name: the request did not fail with EIO: $out"
      echo "ok (rc=$rc): $(head -1 <<<"$out")" ;;
    *) fail "unknown expectation $expect" ;;
  esac
  [ "$(md5sum < "$img")" = "$sum" ] || fail "$name: the image was modified"
  n=$((n + 1))
done < "$T/list"
echo "$n corrupt images handled"
