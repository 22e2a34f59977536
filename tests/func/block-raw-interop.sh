#!/bin/bash
# Raw images: data written by qemu-io reads back through qemu-tcmu-io and vice versa;
# a wrong pattern fails; map agrees with qemu-img map; discard/zeroes behave.
. "$(dirname "$0")/lib.sh"
need qemu-img qemu-io
img=$T/test.raw
qemu-img create -q -f raw "$img" 16M

step "qemu-io writes, we read"
qemu-io -f raw -c 'write -P 0xa5 1M 64k' "$img" >/dev/null
"$QT_IO" -f raw -c 'read -P 0xa5 1M 64k' "$img"
"$QT_IO" -f raw -c 'read -P 0 0 1M' -c 'read -P 0 1088k 64k' "$img"
if "$QT_IO" -f raw -c 'read -P 0xa6 1M 64k' "$img" 2>/dev/null; then fail "wrong pattern accepted"; fi

step "we write, qemu-io reads"
"$QT_IO" -f raw -c 'write -P 0x5a 3M 128k' -c 'write -P 0x11 5000 3000' "$img"
qemu-io -f raw -c 'read -P 0x5a 3M 128k' -c 'read -P 0x11 5000 3000' "$img" | grep -q 'read 3000/3000'

step "config-string form and probing (raw is probed for a plain file)"
"$QT_IO" -c 'read -P 0x5a 3M 128k' "@file=$img"
"$QT_IO" -c info "@file=$img@format=raw@cache=writethrough" | grep -q '^format: raw'

step "cache=none (O_DIRECT) with unaligned I/O goes through the bounce path"
if "$QT_IO" -t none -c 'read 0 512' "$img" >/dev/null 2>&1; then
  "$QT_IO" -f raw -t none -c 'write -P 0x77 513 1000' -c 'read -P 0x77 513 1000' "$img"
  qemu-io -f raw -c 'read -P 0x77 513 1000' -c 'read -P 0x11 5000 3000' "$img" >/dev/null
else
  echo "(file system without O_DIRECT: cache=none refused, checked in block-errors)"
fi

step "aio=threads and io_uring agree"
"$QT_IO" -f raw -i threads -c 'read -P 0x5a 3M 128k' "$img"

step "write -z and discard leave zeroes; map agrees with qemu-img map"
"$QT_IO" -f raw -c 'write -z 3M 64k' -c 'discard 3136k 64k' -c 'read -P 0 3M 128k' "$img"
"$QT_IO" -f raw -c 'map -j' "$img" > "$T/ours.json"
qemu-img map -f raw --output=json "$img" > "$T/theirs.json"
python3 - "$T/ours.json" "$T/theirs.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda e: (e["start"], e["length"], e["depth"], e["present"], e["zero"], e["data"], e.get("offset"))
if [key(e) for e in a] != [key(e) for e in b]:
    print("ours:  ", a); print("theirs:", b); sys.exit(1)
print("map matches qemu-img map:", len(a), "extents")
PY

step "qemu-img compare with an image written the same way by qemu-io"
cp "$img" "$T/copy.raw"
"$QT_IO" -f raw -c 'write -P 0x42 7M 100k' -c 'write -z 8M 4k' "$img" >/dev/null
qemu-io -f raw -c 'write -P 0x42 7M 100k' -c 'write -z 8M 4k' "$T/copy.raw" >/dev/null
qemu-img compare -f raw -F raw "$img" "$T/copy.raw"

echo ok
