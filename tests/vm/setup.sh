#!/bin/bash
# setup.sh - prepare this host for tests/vm/run.sh (idempotent, non-interactive).
#
#   * checks the Debian packages the harness needs (scripts/install-deps.sh installs them)
#   * downloads the Debian kernel package that linux-image-amd64 depends on (or
#     $VM_KERNEL_PKG) with `apt-get download` and unpacks it with `dpkg -x` into the
#     cache - nothing is installed into /boot or /lib/modules of the host - then runs
#     depmod on the unpacked tree and extracts an uncompressed vmlinux from the bzImage
#     (QEMU boots it through its PVH entry point, seconds faster under TCG)
#   * builds the stage-1 initramfs (static busybox + the virtio/9p/overlay modules)
#
# Usage: setup.sh [--refresh] [--print-env]
#   --refresh     re-resolve linux-image-amd64 (default: reuse the cached kernel)
#   --print-env   print VM_KVER=, VM_KERNEL=, VM_INITRD=, VM_MODDIR= lines
#
# Environment:
#   VM_CACHE       cache dir (default ~/.cache/qemu-tcmu-vm, about 450 MB)
#   VM_KERNEL_PKG  kernel package to use, e.g. linux-image-6.1.0-56-amd64
#   VM_BZIMAGE=1   boot the compressed bzImage instead of the extracted vmlinux
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qemu-tcmu-vm}
export DEBIAN_FRONTEND=noninteractive

# programs the harness itself needs (packages: qemu-system-x86 busybox-static kmod
# xz-utils dpkg apt); the guest tests need more, see scripts/install-deps.sh
NEED_PROGS="qemu-system-x86_64 kmod depmod modprobe xz dpkg-deb apt-get apt-cache flock"

PRINT_ENV=0
REFRESH=0
for a in "$@"; do
	case "$a" in
	--refresh) REFRESH=1 ;;
	--print-env) PRINT_ENV=1 ;;
	-h | --help)
		sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "setup.sh: unknown argument: $a" >&2
		exit 2
		;;
	esac
done

log() { echo "vm-setup: $*" >&2; }
die() {
	log "$*"
	exit 1
}

PATH=$PATH:/usr/sbin:/sbin
for p in $NEED_PROGS; do
	command -v "$p" >/dev/null || die "missing program $p (run scripts/install-deps.sh)"
done
[ -x /bin/busybox ] || die "missing /bin/busybox (run scripts/install-deps.sh: busybox-static)"
if ldd /bin/busybox >/dev/null 2>&1; then
	die "/bin/busybox is not statically linked (install busybox-static)"
fi

apt_updated=0
apt_update_once() {
	[ "$apt_updated" = 0 ] || return 0
	apt_updated=1
	if [ "$(id -u)" = 0 ]; then
		log "apt-get update"
		apt-get update -qq >&2 </dev/null
	fi
}

mkdir -p "$CACHE"
# several runs may share the cache: serialize the preparation
exec 9>"$CACHE/.lock"
flock 9

# --- the kernel package -------------------------------------------------------
pick_kernel() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
KPKG=${VM_KERNEL_PKG:-}
if [ -z "$KPKG" ] && [ "$REFRESH" = 0 ] && [ -r "$CACHE/kernel-pkg" ]; then
	KPKG=$(cat "$CACHE/kernel-pkg")
	[ -e "$CACHE/kernel-${KPKG#linux-image-}/.done" ] || KPKG=
fi
if [ -z "$KPKG" ]; then
	KPKG=$(pick_kernel)
	if [ -z "$KPKG" ]; then
		apt_update_once
		KPKG=$(pick_kernel)
	fi
	[ -n "$KPKG" ] || die "cannot find the kernel package (apt-cache depends linux-image-amd64)"
	[ -n "${VM_KERNEL_PKG:-}" ] || echo "$KPKG" >"$CACHE/kernel-pkg"
fi
KVER=${KPKG#linux-image-}
KDIR=$CACHE/kernel-$KVER

unpack_kernel() {
	local deb
	rm -rf "$KDIR" "$CACHE/deb"
	mkdir -p "$CACHE/deb"
	log "apt-get download $KPKG"
	if ! (cd "$CACHE/deb" && apt-get download "$KPKG" </dev/null >/dev/null 2>&1); then
		apt_update_once
		(cd "$CACHE/deb" && apt-get download "$KPKG" </dev/null >&2) ||
			die "apt-get download $KPKG failed"
	fi
	deb=$(ls "$CACHE"/deb/"${KPKG}"_*.deb | head -n1)
	log "unpacking $(basename "$deb") into $KDIR (dpkg -x, nothing is installed)"
	mkdir -p "$KDIR"
	dpkg -x "$deb" "$KDIR"
	depmod -b "$KDIR" "$KVER"
	dpkg-deb -f "$deb" Version >"$KDIR/.pkgversion"
	rm -rf "$CACHE/deb"
	touch "$KDIR/.done"
}
[ -e "$KDIR/.done" ] || unpack_kernel
BZIMAGE=$KDIR/boot/vmlinuz-$KVER
MODDIR=$KDIR/lib/modules/$KVER
[ -r "$BZIMAGE" ] || die "no kernel image at $BZIMAGE (try setup.sh --refresh)"

# An uncompressed ELF vmlinux for QEMU's PVH boot: the in-guest xz decompression of the
# bzImage costs seconds under TCG.  The xz stream starts at the first xz magic.
extract_vmlinux() {
	local off tmp=$KDIR/vmlinux.tmp
	touch "$KDIR/.vmlinux-tried"
	off=$(LC_ALL=C grep -abo $'\xfd7zXZ' "$BZIMAGE" 2>/dev/null | head -n1 | cut -d: -f1 || true)
	[ -n "$off" ] || return 0
	tail -c +$((off + 1)) "$BZIMAGE" | xz -dc --single-stream >"$tmp" 2>/dev/null || true
	# QEMU needs the PVH entry point (ELF note XEN_ELFNOTE_PHYS32_ENTRY, CONFIG_PVH=y)
	if [ "$(head -c 4 "$tmp" | od -An -c | tr -d ' ')" = '177ELF' ] &&
		grep -q '^CONFIG_PVH=y' "$KDIR/boot/config-$KVER"; then
		mv "$tmp" "$KDIR/vmlinux"
	else
		log "note: no PVH vmlinux could be extracted, booting the bzImage"
	fi
	rm -f "$tmp"
}
[ -e "$KDIR/.vmlinux-tried" ] || extract_vmlinux
KERNEL=$BZIMAGE
[ -r "$KDIR/vmlinux" ] && [ "${VM_BZIMAGE:-0}" != 1 ] && KERNEL=$KDIR/vmlinux

# --- stage-1 initramfs --------------------------------------------------------------
# Everything is =m in Debian's kernel: load virtio-pci and 9p before mounting the root.
BOOT_MODS="virtio_pci 9pnet_virtio 9p overlay"
INIT_SRC=$HERE/guest/init
stamp=$( (
	cat "$INIT_SRC"
	echo "$BOOT_MODS"
	cat "$KDIR/.pkgversion"
) | md5sum | cut -c1-12)
INITRD=$CACHE/initramfs-$KVER-$stamp.cpio

build_initramfs() {
	local tmp m ko
	log "building $(basename "$INITRD")"
	rm -f "$CACHE"/initramfs-"$KVER"-*.cpio
	tmp=$(mktemp -d)
	mkdir -p "$tmp"/{bin,dev,proc,sys,mnt,newroot,mods}
	cp /bin/busybox "$tmp/bin/busybox"
	cp "$INIT_SRC" "$tmp/init"
	chmod 755 "$tmp/init"
	: >"$tmp/mods/order"
	for m in $BOOT_MODS; do
		modprobe -d "$KDIR" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
	done | awk '!seen[$0]++' | while read -r ko; do
		cp "$ko" "$tmp/mods/"
		basename "$ko" >>"$tmp/mods/order"
	done
	(cd "$tmp" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$INITRD.tmp"
	mv "$INITRD.tmp" "$INITRD"
	rm -rf "$tmp"
}
[ -e "$INITRD" ] || build_initramfs

if [ "$PRINT_ENV" = 1 ]; then
	printf 'VM_KVER=%q\n' "$KVER"
	printf 'VM_KERNEL=%q\n' "$KERNEL"
	printf 'VM_INITRD=%q\n' "$INITRD"
	printf 'VM_MODDIR=%q\n' "$MODDIR"
fi
