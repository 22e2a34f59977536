#!/bin/bash
# The nbd driver against qemu-nbd (unix socket and TCP) and nbdkit: qemu-io's data reads
# back through qemu-tcmu-io in every config-string form; our writes, FUA, zeroes, trims and
# flushes land (qemu-img compare with the same writes done by qemu-io); map -j prints
# what qemu-img map prints for the same export.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nbd-lib.sh"

make_patterned "$T/base.raw"
cp "$T/base.raw" "$T/served.raw"
cp "$T/base.raw" "$T/oracle.raw"

step "qemu-nbd on a unix socket: every way of naming it"
sock=$T/q.sock
qemu-nbd -f raw -t -e 4 --discard=unmap -k "$sock" "$T/served.raw" &
qpid=$!
cleanup_fn "kill $qpid 2>/dev/null"
wait_for "$sock"
verify_regions "nbd+unix:///?socket=$sock"
verify_regions "@file=nbd+unix:///?socket=$sock@format=raw"
verify_regions "@driver=nbd@server=unix:$sock"
verify_regions "@driver=nbd@server.type=unix@server.path=$sock"
"$QT_IO" -c info "@driver=nbd@server=unix:$sock" | grep -q 'nbd contexts: base:allocation'
if "$QT_IO" -c 'read -P 0x12 0 1M' "@driver=nbd@server=unix:$sock" 2>/dev/null; then
  fail "a wrong pattern was accepted"
fi

step "our writes through nbd = qemu-io's writes on the file"
"$QT_IO" "${WRITES[@]}" -c 'discard 12M 64k' "@driver=nbd@server=unix:$sock" >/dev/null
qemu-io -f raw "${WRITES[@]}" -c 'discard 12M 64k' "$T/oracle.raw" >/dev/null

step "map -j over nbd agrees with qemu-img map over nbd"
"$QT_IO" -c 'map -j' "nbd+unix:///?socket=$sock" > "$T/ours.json"
qemu-img map --output=json "nbd+unix:///?socket=$sock" > "$T/theirs.json"
same_map "$T/ours.json" "$T/theirs.json"
kill "$qpid"
wait "$qpid" 2>/dev/null || true
qemu-img compare -f raw -F raw "$T/served.raw" "$T/oracle.raw"

step "qemu-nbd on TCP, with an export name"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
qemu-nbd -f raw -t -e 4 -x disk0 -b 127.0.0.1 -p "$port" "$T/served.raw" &
qpid=$!
cleanup_fn "kill $qpid 2>/dev/null"
for ((i = 0; i < 100; i++)); do
  "$QT_IO" -c 'length' "nbd://127.0.0.1:$port/disk0" >/dev/null 2>&1 && break
  sleep 0.05
done
"$QT_IO" -c 'read -P 0x5a 2M 128k' -c 'read -P 0x77 5000 3000' -c 'read -P 0 4M 64k' \
  "nbd://127.0.0.1:$port/disk0" >/dev/null
"$QT_IO" -c 'read -P 0x66 16320k 64k' "@driver=nbd@server=127.0.0.1:$port@export=disk0" >/dev/null
"$QT_IO" -c 'read -P 0x66 16320k 64k' \
  "@driver=nbd@server.type=inet@server.host=127.0.0.1@server.port=$port@export=disk0" >/dev/null
expect_fail "server has no export named 'nope'" "$QT_IO" -c info \
  "@driver=nbd@server=127.0.0.1:$port@export=nope"
kill "$qpid"
wait "$qpid" 2>/dev/null || true

step "nbdkit memory: read/write/flush/trim/zero, block status"
start_nbdkit "$T/kit.sock" memory 16M
kit="@driver=nbd@server=unix:$T/kit.sock"
"$QT_IO" -c 'write -P 0xab 0 1M' -c 'write -f -P 0xcd 1M 64k' -c 'write -z -u 512k 128k' \
  -c 'discard 768k 128k' -c flush "$kit" >/dev/null
"$QT_IO" -c 'read -P 0xab 0 512k' -c 'read -P 0 512k 128k' -c 'read -P 0xab 640k 128k' \
  -c 'read -P 0 768k 128k' -c 'read -P 0xab 896k 128k' -c 'read -P 0xcd 1M 64k' \
  -c 'read -P 0 1088k 15296k' "$kit" >/dev/null
"$QT_IO" -c 'map -j' "$kit" > "$T/ours.json"
qemu-img map --output=json "nbd+unix:///?socket=$T/kit.sock" > "$T/theirs.json"
same_map "$T/ours.json" "$T/theirs.json"
# the trimmed and unmapped ranges are holes in nbdkit's memory
python3 - "$T/ours.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
holes = [(e["start"], e["length"]) for e in m if not e["data"]]
assert (512 * 1024, 128 * 1024) in holes or any(s <= 512 * 1024 and s + l >= 640 * 1024 for s, l in holes), m
assert any(s <= 768 * 1024 and s + l >= 896 * 1024 for s, l in holes), m
print("holes:", holes)
PY

step "an export holding a vmdk file probes as vmdk and is served through the helper"
qemu-img convert -f raw -O vmdk "$T/base.raw" "$T/v.vmdk"
start_nbdkit "$T/v.sock" file "$T/v.vmdk"
verify_regions "nbd+unix:///?socket=$T/v.sock"
"$QT_IO" -c info "nbd+unix:///?socket=$T/v.sock" | grep -q "nbd server: vmdk image" ||
  fail "the vmdk export was not opened through the helper"
echo ok
