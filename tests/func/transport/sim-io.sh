#!/bin/bash
# The whole path over the ring simulator (no kernel): random READ(16)/WRITE(16) with
# verification at queue depths 1..128, on a memory image and on raw files (io_uring and
# threads), with a small ring (wrap with PAD entries) and scattered data-area blocks.
# The file images are then compared with the model by qemu-img, an independent oracle.
. "$(dirname "$0")/../lib.sh"
need qemu-img
SIM=$BUILD_DIR/tests/func/transport/qemu-tcmu-simtest

run() { # ARGS...: run the tool, show its report
  echo "+ simtest $*"
  "$SIM" "$@" || fail "simtest $*"
}

step "memory image, queue depths 1..128, 16 KiB ring (wraps), scattered blocks"
for qd in 1 4 32 128; do
  out=$(run --qd $qd --count 1500 --ring-kb 16 --data-kb 8192 --scatter --strict --seed $qd \
    random "@driver=memory@size=32M")
  echo "$out"
  pads=$(echo "$out" | sed -n 's/.* \([0-9]*\) pads.*/\1/p')
  [ "$pads" -gt 0 ] || fail "no PAD entry at qd $qd: the ring did not wrap"
done

for aio in io_uring threads; do
  step "raw file, aio=$aio, queue depth 64, model compared by qemu-img"
  img=$T/disk-$aio.raw
  qemu-img create -q -f raw "$img" 32M
  run --qd 64 --count 3000 --ring-kb 64 --scatter --seed 7 --model-out "$T/model-$aio" \
    random "@file=$img@format=raw@aio=$aio"
  qemu-img compare -q -f raw -F raw "$T/model-$aio" "$img" || fail "image differs from the model"
done

step "raw file with cache=none (O_DIRECT) and a window (offset/size)"
# O_DIRECT needs a file system that supports it (tmpfs did not before Linux 6.6): the
# temporary directory, else the build directory.
direct_dir() {
  local d
  for d in "$T" "$BUILD_DIR"; do
    if dd if=/dev/zero of="$d/.qt-direct-probe" bs=4096 count=1 oflag=direct status=none 2>/dev/null; then
      rm -f "$d/.qt-direct-probe"
      echo "$d"
      return 0
    fi
    rm -f "$d/.qt-direct-probe"
  done
  return 1
}
dir=$(direct_dir) || fail "neither $T nor $BUILD_DIR supports O_DIRECT (needed for cache=none)"
img=$(mktemp "$dir/qt-sim-win.XXXXXX")
cleanup_fn rm -f "$img"
qemu-img create -q -f raw "$img" 40M
out=$(run --qd 16 --count 1000 --model-out "$T/model-win" --describe \
  random "@file=$img@format=raw@offset=4M@size=32M@cache=none")
echo "$out"
echo "$out" | grep -q "O_DIRECT" || fail "the image was not opened with O_DIRECT"
cmp "$T/model-win" <(dd if="$img" bs=1M skip=4 count=32 status=none) || fail "window differs"
echo "all good"
