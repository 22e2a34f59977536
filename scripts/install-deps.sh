#!/bin/bash
# Install the Debian 12 packages qemu-tcmu needs to build and test (idempotent,
# non-interactive).  Only missing packages are installed.
#   scripts/install-deps.sh [--build-only]
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

BUILD_PKGS="build-essential meson ninja-build pkg-config clang-14 libclang-rt-14-dev clang-format
  libcmocka-dev liburing-dev libmnl-dev libsystemd-dev libnbd-dev zlib1g-dev libzstd-dev
  libkmod-dev linux-libc-dev"
# oracles and peers used by the tests: qemu-img/qemu-io, qemu-nbd, qemu-storage-daemon, nbdkit
TEST_PKGS="qemu-utils qemu-system-common qemu-block-extra nbdkit fio python3 util-linux e2fsprogs"
# the VM harness (tests/vm) and what the guest tests run (the guest sees the host's root)
VM_PKGS="qemu-system-x86 busybox-static kmod xz-utils tcmu-runner targetcli-fb libiscsi-bin
  sg3-utils dbus open-iscsi"

# servers the protocol tests (tests/func/protocols) start on loopback: Gluster, iSCSI (tgt),
# NFS (nfs-ganesha + its VFS backend, rpcbind), SSH; and the tools that make the formats
# QEMU only reads (bochs: bximage, cloop: cloop-utils)
PROTO_PKGS="glusterfs-server tgt nfs-ganesha nfs-ganesha-vfs rpcbind openssh-server bximage
  cloop-utils"

want="$BUILD_PKGS"
[ "${1:-}" = --build-only ] || want="$want $TEST_PKGS $VM_PKGS $PROTO_PKGS"

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
# no service may start from a package's postinst (glusterd, tgt, ganesha, ssh, rpcbind):
# the tests start their own; a policy-rc.d of ours (101: "action forbidden") while
# installing, unless one exists already
guard=
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  guard=1
fi
rc=0
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null || rc=$?
[ -z "$guard" ] || $SUDO rm -f /usr/sbin/policy-rc.d
[ $rc = 0 ] || exit $rc
echo "install-deps: done"
