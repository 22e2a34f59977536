#!/bin/bash
# The native rbd driver on a real (one-node) cluster: data round trips with qemu-io and
# the rbd CLI both ways, QEMU's rbd: names and the structured keys, a restricted cephx
# user, namespaces, snapshots (read-only), clones (read through the parent), qcow2
# inside an RBD image, discard and zeroes as `rbd diff` sees them, block status as
# qemu-img map prints it, the QEMU helper over rbd (keeping our uid for the keyring), bad
# input (one line each), the ring simulator over rbd
# (data compared with `rbd export`, COMPARE AND WRITE), and tcmu-runner's config form.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rbd-lib.sh"
ceph_start
M=1048576

step "round trips: qemu-io writes, we read; we write, qemu-io and rbd export read"
rbd create --size 64M rbd/a
qemu-io -f raw -c 'write -P 0xa1 0 3M' -c 'write -P 0xa2 5M 512k' rbd:rbd/a >/dev/null
"$QT_IO" -c 'read -P 0xa1 0 3M' -c 'read -P 0xa2 5M 512k' -c 'read -P 0 3M 2M' rbd:rbd/a \
  >/dev/null || fail "qemu-io's data read back wrong through rbd:"
"$QT_IO" -c 'write -P 0xb1 8M 1M' -c 'write -P 0xb2 9M 4k' -c flush rbd:rbd/a >/dev/null
qemu-io -f raw -c 'read -P 0xb1 8M 1M' -c 'read -P 0xb2 9M 4k' rbd:rbd/a >/dev/null ||
  fail "qemu-io does not see what we wrote"
# the structured keys, an explicit conf and user, a shared connection
"$QT_IO" -c 'read -P 0xa1 0 3M' -c 'write -P 0xc1 10M 64k' \
  "@driver=rbd@pool=rbd@image=a@conf=$CEPH_CONF@user=admin@shared-connection=on" >/dev/null ||
  fail "structured keys"
rbd export --no-progress rbd/a "$T/a.img"
qemu-io -f raw -c 'read -P 0xc1 10M 64k' -c 'read -P 0xa1 0 3M' "$T/a.img" >/dev/null ||
  fail "rbd export differs"
info=$("$QT_IO" -c info rbd:rbd/a)
echo "$info" | grep -q '^format: raw' || fail "rbd: did not open raw over rbd: $info"
echo "$info" | grep -q 'qemu helper' && fail "rbd: went to the QEMU helper: $info"
info=$("$QT_IO" -c info @driver=rbd@pool=rbd@image=a)
echo "$info" | grep -q 'object size: 4194304' || fail "no native rbd node: $info"

step "the QEMU helper over rbd (@helper=qemu): it keeps our uid to read the cephx keyring"
# the cluster's conf and keyring are in this test's private directory (root's, 0700), as
# /etc/ceph/ceph.client.admin.keyring is root's and 0600 on a gateway
"$QT_IO" -c 'read -P 0xa1 0 3M' -c 'write -P 0xe1 12M 1M' -c flush -c info \
  "@file=rbd:rbd/a@helper=qemu" >"$T/helper.out" 2>&1 || { cat "$T/helper.out"; fail "helper over rbd"; }
grep -q 'qemu helper' "$T/helper.out" || fail "@helper=qemu did not use the helper: $(cat "$T/helper.out")"
qemu-io -f raw -c 'read -P 0xe1 12M 1M' rbd:rbd/a >/dev/null || fail "the helper's write is not in rbd/a"

step "block status: our map -j is qemu-img's"
rbd create --size 64M rbd/m
qemu-io -f raw -c 'write -P 1 0 64k' -c 'write -P 2 20M 4M' -c 'write -P 3 40M 1M' rbd:rbd/m \
  >/dev/null
ours=$("$QT_IO" -c 'map -j' rbd:rbd/m)
theirs=$(qemu-img map -f raw --output=json rbd:rbd/m)
[ "$ours" = "$theirs" ] || fail "map differs:
ours:   $ours
qemu:   $theirs"
echo "$ours"

step "discard and write-zeroes as rbd diff sees them"
rbd create --size 32M rbd/d
"$QT_IO" -c 'write -P 7 0 16M' rbd:rbd/d >/dev/null
objects() { rbd diff --whole-object --format json rbd/d | python3 -c '
import json, sys
print(" ".join(str(e["offset"] // 4194304) for e in json.load(sys.stdin) if e["exists"] == "true" or e["exists"] is True))'; }
[ "$(objects)" = "0 1 2 3" ] || fail "objects after the write: $(objects)"
"$QT_IO" -c 'discard 4M 4M' -c 'write -z -u 8M 4M' -c 'write -z 12M 4M' rbd:rbd/d >/dev/null
[ "$(objects)" = "0 3" ] || fail "discard/unmapping zeroes left objects: $(objects)"
qemu-io -f raw -c 'read -P 0 4M 12M' -c 'read -P 7 0 4M' rbd:rbd/d >/dev/null ||
  fail "discarded/zeroed ranges do not read as zeroes"
# a partial discard: whole granules only, and they read as zeroes
"$QT_IO" -c 'discard 64k 128k' -c 'read -P 0 64k 128k' -c 'read -P 7 0 64k' rbd:rbd/d >/dev/null ||
  fail "partial discard"

step "a restricted cephx user (profile rbd on pool rbd only)"
ceph osd pool create other 8 >/dev/null 2>&1
rbd pool init other
rbd create --size 8M other/x
ceph auth get-or-create client.gw mon 'profile rbd' osd 'profile rbd pool=rbd' \
  -o "$CEPH_DIR/ceph.client.gw.keyring" >/dev/null
"$QT_IO" -c 'read -P 0xa1 0 1M' -c 'write -P 0xd1 11M 64k' rbd:rbd/a:id=gw >/dev/null ||
  fail "client.gw cannot use rbd/a"
qemu-io -f raw -c 'read -P 0xd1 11M 64k' rbd:rbd/a >/dev/null || fail "gw's write lost"
expect_fail "client.gw may not open other/x" "$QT_IO" -c info rbd:other/x:id=gw
expect_fail "no key for client.nobody" "$QT_IO" -c info rbd:rbd/a:id=nobody

step "namespaces"
rbd namespace create rbd/ns1
rbd create --size 8M rbd/ns1/img
"$QT_IO" -c 'write -P 0x4e 1M 1M' "@driver=rbd@pool=rbd@namespace=ns1@image=img" >/dev/null
rbd export --no-progress rbd/ns1/img "$T/ns.img"
qemu-io -f raw -c 'read -P 0x4e 1M 1M' -c 'read -P 0 0 1M' "$T/ns.img" >/dev/null ||
  fail "namespace image content"
"$QT_IO" -c 'read -P 0x4e 1M 1M' rbd:rbd/ns1/img >/dev/null || fail "rbd:pool/ns/image"
expect_fail "no namespace 'nsX' in pool 'rbd'" "$QT_IO" -c info rbd:rbd/nsX/img

step "snapshots are read-only; clones read through the parent"
rbd create --size 16M rbd/p
"$QT_IO" -c 'write -P 0x51 0 2M' rbd:rbd/p >/dev/null
rbd snap create rbd/p@s1 >/dev/null 2>&1
"$QT_IO" -c 'write -P 0x52 0 1M' rbd:rbd/p >/dev/null
"$QT_IO" -c 'read -P 0x51 0 2M' rbd:rbd/p@s1 >/dev/null || fail "snapshot content"
"$QT_IO" -c info rbd:rbd/p@s1 | grep -q '^read-only: yes' || fail "snapshot not read-only"
"$QT_IO" -c 'write -P 1 0 4k' rbd:rbd/p@s1 >/dev/null 2>&1 && fail "wrote to a snapshot"
rbd snap protect rbd/p@s1
rbd clone rbd/p@s1 rbd/c
"$QT_IO" -c 'read -P 0x51 0 2M' -c 'write -P 0x53 1M 4k' -c 'read -P 0x53 1M 4k' \
  -c 'read -P 0x51 0 1M' rbd:rbd/c >/dev/null || fail "clone does not read through"
qemu-io -r -f raw -c 'read -P 0x51 1M 4k' rbd:rbd/p@s1 >/dev/null || fail "clone wrote the parent"
expect_fail "has no snapshot 'nosuch'" "$QT_IO" -c info rbd:rbd/p@nosuch

step "qcow2 inside an RBD image: format over the rbd protocol"
qemu-img create -q -f qcow2 rbd:rbd/q 32M
qemu-io -f qcow2 -c 'write -P 0x71 3M 1M' rbd:rbd/q >/dev/null
info=$("$QT_IO" -c info -c 'read -P 0x71 3M 1M' -c 'write -P 0x72 8M 64k' rbd:rbd/q) ||
  fail "qcow2 in rbd"
echo "$info" | grep -q '^format: qcow2' || fail "not probed as qcow2: $info"
qemu-io -f qcow2 -c 'read -P 0x72 8M 64k' rbd:rbd/q >/dev/null || fail "qcow2 write lost"
qemu-img check -q -f qcow2 rbd:rbd/q || fail "qemu-img check of our qcow2-in-rbd"

step "bad input: one line each, quickly"
expect_fail "no pool 'nopool'" "$QT_IO" -c info rbd:nopool/a
expect_fail "no image 'nope' in pool 'rbd'" "$QT_IO" -c info rbd:rbd/nope
expect_fail "unknown Ceph option 'no_such_option'" "$QT_IO" -c info rbd:rbd/a:no_such_option=1
expect_fail "is not pool[/namespace]/image" "$QT_IO" -c info rbd:justone
expect_fail "no image given" "$QT_IO" -c info @driver=rbd@pool=rbd
t0=$(now_ms)
expect_fail "no answer from the Ceph monitors" "$QT_IO" -c info \
  "@driver=rbd@pool=rbd@image=a@mon-host=127.0.0.1:9@mount-timeout=3@conf=$CEPH_CONF"
ms=$(($(now_ms) - t0))
echo "cluster down at open: failed after $ms ms (mount-timeout=3)"
[ "$ms" -lt 15000 ] || fail "took $ms ms with a 3 s mount timeout"

step "the whole path over the ring simulator: random I/O, the image compared with rbd export"
rbd create --size 32M rbd/sim
"$SIM" --qd 32 --count 1500 --scatter --seed 3 --model-out "$T/sim.model" random rbd:rbd/sim
rbd export --no-progress rbd/sim "$T/sim.img"
cmp "$T/sim.model" "$T/sim.img" || fail "rbd export differs from the simulator's model"
"$SIM" --seed 5 caw "@driver=rbd@pool=rbd@image=sim" || fail "COMPARE AND WRITE over rbd"

step "tcmu-runner's config form (-x rbd): --check-config with and without the subtype"
for c in "rbd/a" "rbd/rbd/a;osd_op_timeout=30" "rbd/a;conf=$CEPH_CONF;id=gw" "rbd/p@s1"; do
  out=$("$QT_DAEMON" -x rbd --check-config "$c") || fail "check-config '$c': $out"
  [ "$out" = ok ] || fail "check-config '$c': $out"
done
for c in "rbd/nope|no image 'nope'" "rbd/a;bogus=1|unknown rbd option 'bogus=1'" \
  "nopool/a|no pool 'nopool'" "rbd/a@zz|no snapshot 'zz'" "justone|is not pool/image"; do
  out=$("$QT_DAEMON" -x rbd --check-config "${c%%|*}") && fail "check-config '${c%%|*}' passed"
  case "$out" in *"${c#*|}"*) echo "ok: $out" ;; *) fail "check-config '${c%%|*}': $out" ;; esac
done
echo "all good"
