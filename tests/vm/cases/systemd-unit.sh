#!/bin/bash
# Guest test: data/qemu-tcmu.service as installed, its sandbox included, run by systemd
# (issue 17, least privilege).  The guest's PID 1 is the harness, not systemd: systemd
# 252 runs as PID 1 of a PID and mount namespace in container mode (nsenter talks to
# it), with a drop-in that only drops the default dependencies (no fstab, udev or
# journald here), sends the daemon's output to a file and turns off LeakSanitizer (it
# needs ptrace, which the unit's system call filter forbids):
#   - systemd-analyze verify passes; the daemon runs with the unit's bounding set,
#     no_new_privs and a seccomp filter; in its mount namespace /sys is read-only but
#     configfs and target_core_user's parameters are writable, /proc has hidepid and
#     subset=pid;
#   - the documented uses work inside the sandbox: a qcow2 in /tmp and a raw image in
#     /root exported on tcm_loop (O_DIRECT data), an image on a block device (a loop
#     device), a vmdk through the QEMU helper (qemu-nbd), an NBD server over TCP,
#     D-Bus (the service name, ConfigDesc, CheckConfig), SIGKILL then Restart= takes the
#     devices over (configfs and module parameter writes) and I/O goes on; the helper
#     runs as qemu-tcmu-helper with no capabilities (its drop works in the sandbox); tcmu-runner
#     (coexistence) is seen through the sandbox's /proc; with the rbd driver built, an
#     RBD image of a one-node Ceph in the guest (librbd in the daemon); stop exits 0;
#   - the sandbox holds: CheckConfig of /dev/loop-control (a device outside DeviceAllow=
#     that root opens without a capability) is refused with "Operation not permitted".
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"

S=/mnt/scratch
UNIT=/etc/systemd/system/qemu-tcmu.service
SD_PID=
ns() { nsenter -t "$SD_PID" -p -m "$@"; }
main_pid() { pgrep -f "^$QT_DAEMON\$" | head -1 || true; }

cleanup() {
	if [ -n "$SD_PID" ]; then
		lio_teardown
		ns systemctl stop qemu-tcmu
		ns systemctl exit 2>/dev/null
		for _ in $(seq 50); do kill -0 "$SD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SD_PID" 2>/dev/null
	fi
	losetup -D
	[ ! -d /run/ceph ] || "$SRC_DIR/tests/ceph/ceph-one-node.sh" stop /run/ceph
	qt_save /run/sd.log
	lio_cleanup
}
trap cleanup EXIT

setup() {
	lio_scratch_fs $S 256 || return 1
	cp "$SRC_DIR/data/org.kernel.TCMUService1.qemu-tcmu.conf" /etc/dbus-1/system.d/
	lio_start_dbus || return 1
	grep -q cgroup2 /proc/mounts || mount -t cgroup2 none /sys/fs/cgroup || return 1
	mkdir -p "$UNIT.d"
	sed "s|@BINDIR@|$BUILD_DIR/src/daemon|" "$SRC_DIR/data/qemu-tcmu.service.in" >"$UNIT"
	cat >"$UNIT.d/test.conf" <<-EOF
		[Unit]
		DefaultDependencies=no
		[Service]
		StandardOutput=append:$QT_LOG
		StandardError=append:$QT_LOG
		Environment=ASAN_OPTIONS=detect_leaks=0
	EOF
	printf '[Unit]\nDescription=nothing\nDefaultDependencies=no\n' \
		>/etc/systemd/system/qt-idle.target
	unshare --pid --fork --mount --mount-proc env container=qemu-tcmu-test \
		/lib/systemd/systemd --system --unit=qt-idle.target --log-target=console \
		</dev/null >/run/sd.log 2>&1 &
	local u=$! i
	for i in $(seq 150); do
		SD_PID=$(pgrep -P $u)
		[ -n "$SD_PID" ] && ns systemctl is-system-running >/dev/null 2>&1 && break
		sleep 0.2
	done
	qt_log "systemd $(ns systemctl is-system-running) as pid $SD_PID"
	[ "$(ns systemctl is-system-running)" = running ]
}

check_start() {
	local pid st
	# (sys-kernel-config.mount: this guest mounted configfs itself)
	systemd-analyze verify --man=no "$UNIT" >/run/verify.out 2>&1 || true
	! grep -v 'sys-kernel-config.mount' /run/verify.out || qt_fail "systemd-analyze verify"
	ns systemctl start qemu-tcmu
	[ "$(ns systemctl is-active qemu-tcmu)" = active ]
	pid=$(main_pid)
	st=/proc/$pid/status
	grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' "$st"
	# CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_SETGID, CAP_SETUID, CAP_SETPCAP,
	# CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_SYS_PTRACE
	grep -qx $'CapBnd:\t00000000000815c6' "$st"
	grep -qx $'NoNewPrivs:\t1' "$st"
	grep -qx $'Seccomp:\t2' "$st"
	grep -q "D-Bus: service" "$QT_LOG"
	# its mount namespace: /sys read-only, configfs and the module's parameters writable
	awk '$5 == "/sys" || $5 == "/sys/kernel/config" ||
		$5 == "/sys/module/target_core_user/parameters" { print $5, $6 }' \
		"/proc/$pid/mountinfo" | tee /run/mnt
	grep -q '^/sys ro' /run/mnt
	grep -q '^/sys/kernel/config rw' /run/mnt
	grep -q '^/sys/module/target_core_user/parameters rw' /run/mnt
	awk '$5 == "/proc" { print $5, $NF }' "/proc/$pid/mountinfo" | tee /run/mnt
	grep -q 'hidepid=invisible' /run/mnt
	grep -q 'subset=pid' /run/mnt
}

# export NAME CFG: on tcm_loop through `qemu-tcmu export`; 16 MiB written with O_DIRECT
# at 1 MiB read back; the disk's name in /run/NAME.dev
export_io() {
	local out dev
	out=$("$QT_DAEMON" export "$2" --name "$1" --loop)
	echo "$out"
	dev=$(awk '$2 == "tcm_loop" { print $NF }' <<<"$out")
	[ -b "$dev" ]
	echo "$dev" >"/run/$1.dev"
	qt_pattern "/run/$1.p" 16
	dd if="/run/$1.p" of="$dev" bs=1M seek=1 oflag=direct conv=fsync status=none
	cmp "/run/$1.p" <(dd if="$dev" bs=1M skip=1 count=16 iflag=direct status=none)
	grep -q "$1: serving" "$QT_LOG"
}

check_images() {
	local loopdev pid
	qemu-img create -q -f qcow2 /tmp/sd-q.qcow2 64M
	export_io q /tmp/sd-q.qcow2
	truncate -s 64M /root/sd-r.raw
	export_io r /root/sd-r.raw
	truncate -s 64M $S/blk.raw
	modprobe loop
	loopdev=$(losetup -f --show $S/blk.raw)
	export_io b "@file=$loopdev@format=raw"
	qemu-img create -q -f vmdk $S/v.vmdk 64M
	export_io v $S/v.vmdk
	# the helper dropped to its user inside the sandbox, the image opened by the broker
	pid=$(pgrep -f 'qemu-nbd.*v\.vmdk' | head -1 || true)
	grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' "/proc/$pid/status"
	[ "$(stat -c %U "/proc/$pid")" = qemu-tcmu-helper ]
	grep -qx $'CapBnd:\t0000000000000000' "/proc/$pid/status"
	truncate -s 64M /run/nbd.raw
	qt_spawn nbd qemu-nbd -f raw -b 127.0.0.1 -p 10811 -t /run/nbd.raw
	for _ in $(seq 50); do ss -Hltn 'sport = :10811' | grep -q . && break; sleep 0.1; done
	export_io n nbd://127.0.0.1:10811
}

check_dbus() {
	busctl --system call org.kernel.TCMUService1 /org/kernel/TCMUService1 \
		org.freedesktop.DBus.ObjectManager GetManagedObjects | grep -q qemu
	busctl --system call org.kernel.TCMUService1 /org/kernel/TCMUService1/qemu \
		org.kernel.TCMUService1 CheckConfig s "qemu/@file=/root/sd-r.raw" |
		tee /run/cc.out
	grep -qx 'bs true "success"' /run/cc.out
	# a device outside DeviceAllow= that root opens without a capability: the device
	# cgroup says no
	busctl --system call org.kernel.TCMUService1 /org/kernel/TCMUService1/qemu \
		org.kernel.TCMUService1 CheckConfig s "qemu/@file=/dev/loop-control@format=raw" |
		tee /run/cc.out
	grep -q "^bs false .*/dev/loop-control.*: Operation not permitted" /run/cc.out
}

check_restart() {
	local old new dev
	old=$(main_pid)
	ns systemctl kill -s KILL qemu-tcmu
	for _ in $(seq 200); do
		new=$(main_pid)
		[ -n "$new" ] && [ "$new" != "$old" ] &&
			[ "$(ns systemctl is-active qemu-tcmu)" = active ] && break
		sleep 0.1
	done
	[ "$new" != "$old" ] && [ "$(ns systemctl is-active qemu-tcmu)" = active ]
	grep -q "serving 'qemu/' devices; 5 taken over" "$QT_LOG"
	grep -q "q: serving .*, taken over" "$QT_LOG"
	! grep -q "reset_ring failed" "$QT_LOG"
	dev=$(cat /run/q.dev)
	dd if=/run/r.p of="$dev" bs=1M seek=20 oflag=direct conv=fsync status=none
	cmp /run/r.p <(dd if="$dev" bs=1M skip=20 count=16 iflag=direct status=none)
}

# coexistence: tcmu-runner (a transient unit here, in systemd's PID namespace) is seen
# through /proc/PID/comm despite ProtectProc= and ProcSubset=
check_runner() {
	local n
	for n in q r b v n; do "$QT_DAEMON" unexport $n >/dev/null; done
	[ -z "$(lio_leftovers)" ]
	ns systemd-run --unit=qt-tcmu-runner -p DefaultDependencies=no /usr/bin/tcmu-runner \
		-l "$LIO_LOGDIR"
	for _ in $(seq 100); do
		grep -q 'is registered' "$LIO_LOGDIR/tcmu-runner.log" 2>/dev/null && break
		sleep 0.1
	done
	: >"$QT_LOG"
	ns systemctl restart qemu-tcmu
	grep -q "netlink replies off (tcmu-runner is running)" "$QT_LOG"
	ns systemctl stop qt-tcmu-runner
	: >"$QT_LOG"
	ns systemctl restart qemu-tcmu
	grep -q "netlink replies on: enable waits for our verdict" "$QT_LOG"
}

# librbd in the sandboxed daemon (MemoryDenyWriteExecute=, the system call filter,
# ProcSubset=): a one-node Ceph in the guest, an RBD image on tcm_loop with I/O
check_rbd() {
	local t
	export CEPH_MEMSTORE_BYTES=$((768 << 20)) CEPH_MGR=0
	t=$(qt_ms)
	"$SRC_DIR/tests/ceph/ceph-one-node.sh" start /run/ceph >&2
	qt_log "ceph up in $(($(qt_ms) - t)) ms"
	CEPH_CONF=/run/ceph/ceph.conf rbd create --size 64M rbd/img
	export_io rb "@driver=rbd@pool=rbd@image=img@conf=/run/ceph/ceph.conf"
	grep -q "rb: serving rbd:rbd/img on uio[0-9]* (.*, rbd)" "$QT_LOG" # native, not the helper
	"$QT_DAEMON" unexport rb >/dev/null
	[ -z "$(lio_leftovers)" ]
}

check_stop() {
	ns systemctl stop qemu-tcmu
	[ "$(ns systemctl is-active qemu-tcmu || true)" = inactive ]
	[ "$(ns systemctl show -p ExecMainStatus --value qemu-tcmu)" = 0 ]
}

setup || exit 1
qt_check "verify; started sandboxed: bounding set, no_new_privs, seccomp, mounts" check_start
qt_check "images in /tmp, /root, on a block device, via qemu-nbd, over NBD: I/O" check_images
qt_check "D-Bus in the sandbox; a device outside DeviceAllow= refused" check_dbus
qt_check "SIGKILL: Restart= takes the devices over, I/O goes on" check_restart
qt_check "unexport all; tcmu-runner seen through the sandbox's /proc" check_runner
if [ -e "$BUILD_DIR/src/block/rbd" ] && command -v ceph-mon >/dev/null; then
	qt_check "an RBD image (librbd in the daemon) served from the sandbox" check_rbd
fi
qt_check "stop: exit 0" check_stop
qt_summary
