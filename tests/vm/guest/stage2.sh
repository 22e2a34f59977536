#!/bin/bash
# Stage-2 init: runs as PID 1 inside the guest, in the host's root file system
# (9p, read-only, with a tmpfs overlay on top).  Started by guest/init.
#
# Reads its settings from <out>/.vm/config (written by run.sh), where <out>
# is the read-write 9p share (tag "vmout") mounted at the same path as on the
# host.  Runs <out>/.vm/job.sh, stores its exit status in <out>/exit-status,
# its output in <out>/output.log, the kernel log in <out>/dmesg.log, and
# powers the VM off.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umask 022

say() { echo "vm: $*" > /dev/console; }
now_ms() { local a; read -r a _ < /proc/uptime; echo "${a/./}0"; }

poweroff_now() {
  sync
  # unmount the read-write shares so everything reaches the host
  for m in $(awk '$3=="9p" && $1!="hostroot" {print $2}' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done
  sync
  /bin/busybox poweroff -f 2>/dev/null
  echo o > /proc/sysrq-trigger 2>/dev/null
  sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/lock /run/user
# /tmp is left as part of the overlay: host files there stay visible, writes stay in RAM
[ -d /sys/kernel/debug ] && mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo 1 > /proc/sys/kernel/sysrq

OUT=
MSIZE=262144
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    vm.out=*) OUT=${arg#vm.out=} ;;
    vm.msize=*) MSIZE=${arg#vm.msize=} ;;
  esac
done
if [ -z "$OUT" ]; then say "FATAL: no vm.out= on kernel command line"; say "exit-status 125"; poweroff_now; fi

mount9p() { # tag path
  mkdir -p "$2" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=$MSIZE,cache=none "$1" "$2"
}
if ! mount9p vmout "$OUT"; then say "FATAL: cannot mount vmout share at $OUT"; say "exit-status 125"; poweroff_now; fi
if [ ! -r "$OUT/.vm/config" ]; then say "FATAL: $OUT/.vm/config missing"; say "exit-status 125"; poweroff_now; fi
# shellcheck disable=SC1091
. "$OUT/.vm/config"   # VM_KVER VM_MODDIR VM_MODULES VM_TIMEOUT VM_SHARES[] VM_HOSTNAME

# extra read-write shares: VM_SHARES=( "tag:/abs/path" ... )
for s in "${VM_SHARES[@]}"; do
  mount9p "${s%%:*}" "${s#*:}" || say "WARNING: cannot mount share $s"
done

# kernel modules of the guest kernel (unpacked on the host by setup.sh)
mkdir -p "/lib/modules/$VM_KVER"
mount --bind "$VM_MODDIR" "/lib/modules/$VM_KVER"

hostname "${VM_HOSTNAME:-vm}"
ip link set lo up 2>/dev/null || /bin/busybox ip link set lo up

# LIO's db_root (persistent-reservation / ALUA metadata); in the overlay, so not persistent
mkdir -p /etc/target/pr /etc/target/alua

t0=$(now_ms)
if [ -n "$VM_MODULES" ]; then
  # shellcheck disable=SC2086
  modprobe -a $VM_MODULES || say "WARNING: modprobe -a $VM_MODULES failed"
fi
if grep -qw configfs /proc/filesystems; then
  mount -t configfs configfs /sys/kernel/config
fi
t1=$(now_ms)
echo "boot_ms=$t0 modules_ms=$((t1 - t0))" > "$OUT/vm-timing"

say "guest ready after ${t0} ms (modules: $((t1 - t0)) ms), running job"
set -o pipefail
timeout -k 5 "${VM_TIMEOUT:-600}" /bin/bash "$OUT/.vm/job.sh" < /dev/null 2>&1 | tee "$OUT/output.log" > /dev/console
rc=${PIPESTATUS[0]}
t2=$(now_ms)
echo "job_ms=$((t2 - t1))" >> "$OUT/vm-timing"
# timeout(1) exits 124, or 137 when the job ignored SIGTERM and got SIGKILL
if [ "$rc" = 124 ] || { [ "$rc" = 137 ] && [ $((t2 - t1)) -ge $(( ${VM_TIMEOUT:-600} * 1000 )) ]; }; then
  rc=124
  say "job timed out after ${VM_TIMEOUT:-600} s"
fi
dmesg > "$OUT/dmesg.log" 2>/dev/null
echo "$rc" > "$OUT/exit-status"
say "exit-status $rc"
poweroff_now
