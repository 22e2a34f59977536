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
# the HA gateway test bed (tests/vm/cases/ha-failover.sh): dm-multipath over two iSCSI paths,
# which needs udevd in the guest (libdevmapper's udev cookies, multipathd's path WWIDs)
VM_PKGS="$VM_PKGS multipath-tools udev dmsetup"
# and its firewall, which cuts one gateway from the cluster (ha.sh: ha_cut)
VM_PKGS="$VM_PKGS nftables"
# ceph-iscsi's rbd-target-api and gwcli in front of our daemon (tests/vm/cases/ha-ceph-iscsi.sh)
VM_PKGS="$VM_PKGS ceph-iscsi"

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
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
# The QEMU helpers (qemu-nbd, qemu-img) parse untrusted images: the daemon runs them as
# this unprivileged system user (no home, no shell, no other groups; src/block/qemu/proc.h)
helper_user() {
  getent passwd qemu-tcmu-helper >/dev/null && return 0
  $SUDO adduser --system --group --no-create-home --home /nonexistent \
    --shell /usr/sbin/nologin --gecos "qemu-tcmu QEMU helpers" qemu-tcmu-helper >/dev/null
  echo "install-deps: created the system user qemu-tcmu-helper"
}
if [ ${#missing[@]} -eq 0 ]; then
  helper_user
  echo "install-deps: all packages present"
  exit 0
fi
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
helper_user
echo "install-deps: done"
