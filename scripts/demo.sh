#!/bin/bash
# The main job: set up everything on a fresh Debian 12 machine and show qemu-tcmu working.
# Until the end-to-end path lands this exercises the block layer through qemu-tcmu-io.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
say "Installing dependencies (Debian packages)"
scripts/install-deps.sh
say "Building"
scripts/build.sh build >/dev/null
IO=build/src/tools/qemu-tcmu-io
D=$(mktemp -d); trap 'rm -rf "$D"' EXIT
say "Creating a 64 MiB raw image and writing a pattern with qemu-io (QEMU's own tool)"
qemu-img create -q -f raw "$D/disk.raw" 64M
qemu-io -f raw -c 'write -P 0xa5 1M 64k' "$D/disk.raw"
say "Reading it back through qemu-tcmu's block layer"
$IO -c 'read -P 0xa5 1M 64k' "@file=$D/disk.raw@format=raw@cache=writeback"
say "Writing through qemu-tcmu, verifying with qemu-io"
$IO -c 'write -P 0x5a 8M 1M' "$D/disk.raw"
qemu-io -f raw -c 'read -P 0x5a 8M 1M' "$D/disk.raw"
say "Allocation map"
$IO -c map "$D/disk.raw"
say "Done"
