#!/bin/bash
# Resize through blk_truncate (qemu-tcmu-io 'truncate SIZE'): the same resize done by
# `qemu-img resize` on a copy gives an image that `qemu-img compare` finds identical, that
# `qemu-img check` finds clean, whose `map` equals qemu-img's, and data written after the
# resize reads back through qemu-io.  Refused as QEMU refuses (or where we cannot do it
# right): sizes not a multiple of 512, v2 images with snapshots, persistent bitmaps.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib-qcow2.sh"
need qemu-img qemu-io

# resize NAME CREATE_OPTS SIZE NEW [backing]: seed, resize both ways, compare
resize() {
  local name=$1 o=$2 size=$3 new=$4 a=$T/$1-ours.qcow2 b=$T/$1-qemu.qcow2 shrink=
  step "$name ($o): $size -> $new"
  if [ "${5:-}" = backing ]; then
    qemu-img create -q -f qcow2 "$T/$name-base.qcow2" 64M
    qemu-io -c 'write -P 0x5 0 64M' "$T/$name-base.qcow2" >/dev/null
    qemu-img create -q -f qcow2 -b "$T/$name-base.qcow2" -F qcow2 ${o:+-o "$o"} "$a" "$size"
    qemu-io -c 'write -P 0x6 1M 64k' "$a" >/dev/null
  else
    qemu-img create -q -f qcow2 ${o:+-o "$o"} "$a" "$size"
    qemu-io -c 'write -P 0x1 0 1M' -c "write -P 0x2 $(($(qemu-img info --output=json "$a" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])') - 1048576)) 1M" \
      "$a" >/dev/null
  fi
  [ "${5:-}" = snapshot ] && qemu-img snapshot -c s1 "$a"
  cp "$a" "$b"
  "$QT_IO" -q -c "truncate $new" "$a" || fail "$name: truncate failed"
  [ "$(numfmt --from=iec "${new%B}")" -lt "$(numfmt --from=iec "$size")" ] && shrink=--shrink
  qemu-img resize -q $shrink "$b" "$new"
  # data written after the resize, at the new end
  "$QT_IO" -q -c "write -P 0x7 $(($(numfmt --from=iec "$new") - 65536)) 64k" "$a" || fail "$name: write at the new end"
  qemu-io -c "write -P 0x7 $(($(numfmt --from=iec "$new") - 65536)) 64k" "$b" >/dev/null
  check_clean "$a"
  qemu-img compare -q "$a" "$b" || fail "$name: qemu-img compare finds differences"
  [ "$(qemu-img info "$a" | grep 'virtual size')" = "$(qemu-img info "$b" | grep 'virtual size')" ] ||
    fail "$name: virtual sizes differ"
  check_map "$a"
  qemu-io -c "read -P 0x7 $(($(numfmt --from=iec "$new") - 65536)) 64k" "$a" | grep -q 'read 65536/' ||
    fail "$name: qemu-io does not read the data written after the resize"
  if [ "${5:-}" = snapshot ]; then
    qemu-img snapshot -a s1 "$a"
    qemu-io -c 'read -P 0x1 0 1M' "$a" | grep -q 'read 1048576/' || fail "$name: snapshot damaged"
  fi
}

resize grow "" 64M 1G
resize grow-l1 cluster_size=4k 64M 4G
resize grow-l1-extl2 extended_l2=on,cluster_size=16k 64M 8G
resize grow-v2 compat=0.10 64M 3G
# new L1 tables longer than a refcount block's range (1024 clusters vs 256; 4096 vs 64,
# and the refcount table grows): their refcount blocks go in front of them
resize grow-l1-small cluster_size=512 64M 2G
resize grow-l1-small-rc64 cluster_size=512,refcount_bits=64 64M 8G
resize grow-odd "" 33M 104858112
resize shrink "" 64M 20M
resize shrink-odd cluster_size=4k 64M 20972032
resize shrink-l1 cluster_size=4k 4G 64M
resize grow-backing "" 32M 48M backing
resize shrink-backing "" 48M 16M backing
resize grow-snapshot "" 64M 128M snapshot

# An image whose size is not a multiple of the cluster size: a discard reaching the end
# takes the partial last cluster too, as qemu-io's does.
for o in "" "compat=0.10" "extended_l2=on,cluster_size=16k"; do
  step "discard of the partial last cluster ($o)"
  S=$((33 * 1048576 + 512)) a=$T/tail-ours.qcow2 b=$T/tail-qemu.qcow2
  qemu-img create -q -f qcow2 ${o:+-o "$o"} "$a" $S
  qemu-io -c "write -P 0x1 0 $S" "$a" >/dev/null
  cp "$a" "$b"
  "$QT_IO" -q -c "discard $((33 * 1048576)) 512" -c "discard 0 65536" "$a" || fail "discard failed"
  qemu-io -c "discard $((33 * 1048576)) 512" -c "discard 0 65536" "$b" >/dev/null
  check_clean "$a"
  qemu-img compare -q "$a" "$b" || fail "tail ($o): qemu-img compare finds differences"
  check_map "$a"
  [ "$(qemu-img check --output=json "$a" | grep allocated-clusters)" = \
    "$(qemu-img check --output=json "$b" | grep allocated-clusters)" ] || fail "tail ($o): allocation differs"
done

step "refusals"
qemu-img create -q -f qcow2 "$T/r.qcow2" 64M
expect_fail "multiple of 512" "$QT_IO" -c 'truncate 1000000' "$T/r.qcow2"
qemu-img create -q -f qcow2 -o compat=0.10 "$T/v2s.qcow2" 64M
qemu-img snapshot -c s1 "$T/v2s.qcow2"
expect_fail "v2 image with snapshots" "$QT_IO" -c 'truncate 128M' "$T/v2s.qcow2"
qemu-img create -q -f qcow2 "$T/bm.qcow2" 64M
qemu-img bitmap --add "$T/bm.qcow2" b0
expect_fail "persistent bitmaps" "$QT_IO" -c 'truncate 128M' "$T/bm.qcow2"
expect_fail "read-only" "$QT_IO" -r -c 'truncate 128M' "$T/r.qcow2"
for f in r v2s bm; do qemu-img check -q "$T/$f.qcow2" || fail "$f: not clean after a refused resize"; done
echo ok
