#!/bin/bash
# Out-of-order completion over the simulator: slow writes (delayed in a filter node)
# are submitted first, then many fast commands; every fast one completes before any
# slow one, and everything reads back as written.
. "$(dirname "$0")/../lib.sh"
need qemu-img
SIM=$BUILD_DIR/tests/func/transport/qemu-tcmu-simtest

step "memory image"
"$SIM" --qd 64 --count 800 --delay-ms 1000 ooo "@driver=memory@size=16M" || fail "ooo on memory"
step "raw file (io_uring)"
img=$T/ooo.raw
qemu-img create -q -f raw "$img" 16M
"$SIM" --qd 64 --count 800 --delay-ms 1000 --model-out "$T/model" ooo "@file=$img@format=raw" ||
  fail "ooo on a file"
qemu-img compare -q -f raw -F raw "$T/model" "$img" || fail "image differs from the model"
echo "all good"
