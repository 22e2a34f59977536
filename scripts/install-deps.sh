#!/bin/bash
# Install the Debian 12 packages qemu-tcmu needs to build and test (idempotent,
# non-interactive).  Only missing packages are installed.
#   scripts/install-deps.sh [--build-only]
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

BUILD_PKGS="build-essential meson ninja-build pkg-config clang-14 libclang-rt-14-dev clang-format
  libcmocka-dev liburing-dev libmnl-dev libsystemd-dev libnbd-dev zlib1g-dev libzstd-dev
  libkmod-dev linux-libc-dev librbd-dev librados-dev"
# oracles and peers used by the tests: qemu-img/qemu-io, qemu-nbd, qemu-storage-daemon, nbdkit
TEST_PKGS="qemu-utils qemu-system-common qemu-block-extra nbdkit fio python3 util-linux e2fsprogs"
# a one-node Ceph for the rbd tests (tests/ceph/ceph-one-node.sh)
TEST_PKGS="$TEST_PKGS ceph-mon ceph-osd ceph-mgr ceph-common"
# the VM harness (tests/vm) and what the guest tests run (the guest sees the host's root)
VM_PKGS="qemu-system-x86 busybox-static kmod xz-utils tcmu-runner targetcli-fb libiscsi-bin
  sg3-utils dbus open-iscsi"

want="$BUILD_PKGS"
[ "${1:-}" = --build-only ] || want="$want $TEST_PKGS $VM_PKGS"

missing=()
for p in $want; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq </dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
echo "install-deps: done"
