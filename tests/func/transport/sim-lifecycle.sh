#!/bin/bash
# Device lifecycle over the simulator, with memory and raw file images:
#  tmr      TMR notifications (ABORT TASK, LUN RESET) naming commands in flight
#  remove   the device stops (REMOVED_DEVICE, SIGTERM) with commands in flight: they
#           complete into the ring first, the data is in the image
#  reset    reset_ring under a live daemon: in-ring commands fail with BUSY, retried
#  restart  the daemon dies with commands in flight and queued; the next one takes over
#           (block_dev, reset_ring), the initiator retries the BUSY ones
. "$(dirname "$0")/../lib.sh"
need qemu-img
SIM=$BUILD_DIR/tests/func/transport/qemu-tcmu-simtest

for scn in tmr remove reset restart; do
  step "$scn: memory image"
  "$SIM" --tmr-notify --qd 16 --count 400 --delay-ms 200 $scn "@driver=memory@size=16M" ||
    fail "$scn on memory"
  step "$scn: raw file"
  img=$T/$scn.raw
  qemu-img create -q -f raw "$img" 16M
  "$SIM" --tmr-notify --qd 16 --count 400 --delay-ms 200 --model-out "$T/model-$scn" \
    $scn "@file=$img@format=raw@aio=threads" || fail "$scn on a file"
  qemu-img compare -q -f raw -F raw "$T/model-$scn" "$img" || fail "$scn: image differs"
done
echo "all good"
