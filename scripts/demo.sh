#!/bin/bash
# The main job on a fresh Debian 12 machine: install what is needed, build, then export a
# sample qcow2 image as a SCSI disk with qemu-tcmu and targetcli - on tcm_loop (a local
# /dev/sdX) and on iSCSI (127.0.0.1) - and prove it works: lsblk, sg_inq, iSCSI
# discovery and login, a file system written and checked, random data written through
# one initiator and read back identical through the other.
#
#   scripts/demo.sh            natively when this kernel has target_core_user and we are
#                              root, otherwise inside a VM running Debian's kernel
#   scripts/demo.sh --vm       always in the VM (tests/vm/run.sh; no KVM needed)
#   scripts/demo.sh --native   never in the VM (fails if the kernel cannot)
#   scripts/demo.sh --rbd      the image is a Ceph RBD image on a one-node Ceph started
#                              for the demo (tests/ceph/ceph-one-node.sh), served natively
#   scripts/demo.sh --gluster  the image is a qcow2 on a Gluster volume (a one-brick glusterd
#                              started for the demo on 127.0.0.2), served through the QEMU
#                              helper (gluster://: a network protocol only QEMU speaks)
#
# Native runs touch only what they create (names qtdemo*), and remove it at the end.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
SRC=$PWD
MODE=auto
IN_VM=0
RBD=0
GLUSTER=0
for a in "$@"; do
	case "$a" in
	--vm) MODE=vm ;;
	--native) MODE=native ;;
	--rbd) RBD=1 ;;
	--gluster) GLUSTER=1 ;;
	--in-vm) IN_VM=1 ;; # internal: the part that runs inside the VM
	-h | --help)
		sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "demo.sh: unknown argument $a (see --help)" >&2
		exit 2
		;;
	esac
done

if [ -t 1 ]; then
	B=$'\033[1m' G=$'\033[32m' R=$'\033[31m' D=$'\033[2m' N=$'\033[0m'
else
	B= G= R= D= N=
fi
T0=$SECONDS
STEP=0
STEP_NAME=
NSTEPS=0
step() {
	STEP=$((STEP + 1))
	STEP_NAME=$*
	printf '\n%s[%d/%d] %s%s %s(%ds)%s\n' "$B" "$STEP" "$NSTEPS" "$*" "$N" "$D" \
		$((SECONDS - T0)) "$N"
}
show() { # print a command (on stderr, so that pipes filter only its output), run it
	printf '%s$ %s%s\n' "$D" "$*" "$N" >&2
	"$@"
}
die() {
	printf '\n%sFAILED%s at step %d (%s): %s\n' "$R" "$N" "$STEP" "$STEP_NAME" "$*" >&2
	exit 1
}

# ---- the export, natively or inside the VM ---------------------------------------------
BUILD=${BUILD_DIR:-$SRC/build}
DAEMON=$BUILD/src/daemon/qemu-tcmu
IO=$BUILD/src/tools/qemu-tcmu-io
IQN=iqn.2003-01.org.qemu-tcmu:qtdemo
WWN=naa.5001405000de0001
CFS=/sys/kernel/config/target
W= # work dir
DAEMON_PID=
DBUS_STARTED=0
ISCSID_PID=

cleanup_export() {
	set +e
	if [ -n "$ISCSID_PID" ]; then
		iscsiadm -m node -T $IQN --logout >/dev/null 2>&1
		kill "$ISCSID_PID" 2>/dev/null
	fi
	mountpoint -q "$W/mnt" 2>/dev/null && umount "$W/mnt"
	if [ -d $CFS/iscsi/$IQN ] || [ -d $CFS/loopback/$WWN ] || [ -d $CFS/core ]; then
		targetcli /iscsi delete $IQN >/dev/null 2>&1
		targetcli /loopback delete $WWN >/dev/null 2>&1
		targetcli /backstores/user:qemu delete qtdemo >/dev/null 2>&1
	fi
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	[ "$DBUS_STARTED" = 1 ] && kill "$(cat /run/dbus/pid 2>/dev/null)" 2>/dev/null
	[ "$RBD" = 1 ] && [ -n "$W" ] && tests/ceph/ceph-one-node.sh stop "$W/ceph"
	[ "$GLUSTER" = 1 ] && [ -n "$W" ] && stop_gluster
	if [ -n "$W" ]; then
		mountpoint -q "$W" && umount "$W"
		rm -rf "$W"
	fi
}

# Gluster: glusterd with its state in $W/gl and one brick volume qtdemo on 127.0.0.2 (the
# CLI refuses 127.0.0.1 as a brick host; glusterd takes any 127.x as local).  Its python
# geo-replication helper, run ~25 times at each start (~8 s), is a stub in a private mount
# namespace, as in tests/func/protocols/proto-lib.sh.
GSYNCD=/usr/lib/x86_64-linux-gnu/glusterfs/gsyncd
start_gluster() {
	local i
	mkdir -p "$W/gl/wd" "$W/gl/log" "$W/gl/brick"
	sed "s|/var/lib/glusterd|$W/gl/wd|" /etc/glusterfs/glusterd.vol >"$W/gl/glusterd.vol"
	printf '#!/bin/sh\n[ "$1" = --version ] && echo "gsyncd.py 4.0.0"\nexit 0\n' >"$W/gl/gsyncd"
	chmod 755 "$W/gl/gsyncd"
	unshare -m --propagation private sh -c "mount --bind '$W/gl/gsyncd' '$GSYNCD' &&
		exec glusterd -f '$W/gl/glusterd.vol' -p '$W/gl/glusterd.pid' -l '$W/gl/log/glusterd.log'" ||
		return 1
	for i in $(seq 100); do gluster --mode=script pool list >/dev/null 2>&1 && break; sleep 0.1; done
	show gluster --mode=script volume create qtdemo "127.0.0.2:$W/gl/brick" force &&
		show gluster --mode=script volume start qtdemo
}
stop_gluster() {
	[ -e "$W/gl/glusterd.pid" ] || return 0
	gluster --mode=script volume stop qtdemo force >/dev/null 2>&1
	gluster --mode=script volume delete qtdemo >/dev/null 2>&1
	pkill -f "glusterfsd.*qtdemo" 2>/dev/null
	kill "$(cat "$W/gl/glusterd.pid")" 2>/dev/null
	sleep 1
	rm -rf /var/run/gluster/vols/qtdemo
}

wait_ready() { # the daemon's sd_notify READY=1, via a datagram socket
	python3 - "$1" "$2" <<-'EOF'
		import socket, sys
		s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
		s.bind(sys.argv[1]); s.settimeout(float(sys.argv[2]))
		open(sys.argv[1] + ".bound", "w").close()
		try:
		    while b"READY=1" not in s.recv(4096).split(b"\n"):
		        pass
		except socket.timeout:
		    sys.exit(1)
	EOF
}

start_daemon() {
	local sock=$W/notify.sock waiter i
	wait_ready "$sock" 30 &
	waiter=$!
	for i in $(seq 100); do
		[ -e "$sock.bound" ] && break
		sleep 0.05
	done
	NOTIFY_SOCKET=$sock "$DAEMON" >"$W/qemu-tcmu.log" 2>&1 &
	DAEMON_PID=$!
	wait "$waiter" || {
		cat "$W/qemu-tcmu.log" >&2
		die "qemu-tcmu did not get ready"
	}
	sed 's/^/  /' "$W/qemu-tcmu.log"
}

disk_of() { # tcm_loop address H:0:T -> /dev/sdX
	local i b
	for i in $(seq 100); do
		b=$(ls "/sys/bus/scsi/devices/$1:0/block/" 2>/dev/null | head -n1)
		[ -n "$b" ] && [ -b "/dev/$b" ] && { echo "/dev/$b"; return 0; }
		sleep 0.1
	done
	return 1
}

run_export() {
	local fmt=qcow2 img dev idev i
	[ "$NSTEPS" -gt 0 ] || NSTEPS=8
	trap cleanup_export EXIT
	W=$(mktemp -d /var/tmp/qtdemo.XXXXXX) || die "mktemp"
	if [ "$IN_VM" = 1 ]; then
		# the VM's root is an overlay on tmpfs: give the image a real file system
		modprobe brd rd_nr=1 rd_size=$((512 << 10)) && mkfs.ext4 -q /dev/ram0 &&
			mount /dev/ram0 "$W" || die "scratch file system"
	fi

	if [ "$RBD" = 1 ]; then
		step "A one-node Ceph (mon, memstore OSD, mgr on 127.0.0.1) and an RBD image of 256 MiB"
		[ "$IN_VM" = 1 ] && export CEPH_MGR=0 # a Python process that takes minutes under TCG
		show tests/ceph/ceph-one-node.sh start "$W/ceph" || die "Ceph did not start"
		export CEPH_CONF=$W/ceph/ceph.conf
		fmt=raw
		img=rbd:rbd/qtdemo
		# targetcli (rtslib) refuses ':' in a config string: the rbd driver's keys instead
		cfg=@id=qtdemo@driver=rbd@pool=rbd@image=qtdemo
		show rbd create --size 256M rbd/qtdemo || die "rbd create"
		show qemu-io -f raw -c 'write -P 0x5a 0 1M' "$img" | head -n1 || die "qemu-io write"
		show rbd info rbd/qtdemo | sed -n '1,3p'
	elif [ "$GLUSTER" = 1 ]; then
		step "A one-brick Gluster volume on 127.0.0.2 and a qcow2 image of 256 MiB on it"
		start_gluster || die "glusterd did not start"
		img=gluster://127.0.0.2/qtdemo/qtdemo.qcow2
		show qemu-img create -q -f qcow2 "$img" 256M || die "qemu-img create"
		show qemu-io -f qcow2 -c 'write -P 0x5a 0 1M' "$img" | head -n1 || die "qemu-io write"
		# targetcli (rtslib) refuses ':' in a config string: QEMU's structured names, given
		# to the helper as they are (helper=qemu: QEMU reads the qcow2 over gluster)
		cfg=@id=qtdemo@helper=qemu@driver=qcow2@file.driver=gluster@file.volume=qtdemo
		cfg=$cfg@file.path=qtdemo.qcow2@file.server.0.type=inet@file.server.0.host=127.0.0.2
		cfg=$cfg@file.server.0.port=24007
	else
		step "A sample image: qcow2, 256 MiB, with a pattern written by QEMU's own qemu-io"
		img=$W/sample.qcow2
		qemu-img create -q -f qcow2 "$W/probe.qcow2" 1M
		if ! "$IO" -r -c info "@file=$W/probe.qcow2@format=qcow2" >/dev/null 2>&1; then
			fmt=raw
			img=$W/sample.raw
			echo "  (this build has no qcow2 driver yet: the demo uses a raw image)"
		fi
		cfg=@id=qtdemo@file=$img
		show qemu-img create -q -f $fmt "$img" 256M || die "qemu-img create"
		show qemu-io -f $fmt -c 'write -P 0x5a 0 1M' "$img" | head -n1 || die "qemu-io write"
		show qemu-img info "$img" | sed -n '1,4p'
	fi

	step "Kernel side: LIO's TCM-User backstore and the fabrics"
	show modprobe -a target_core_user tcm_loop iscsi_target_mod || die "modprobe"
	mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
	[ -d $CFS ] || die "no $CFS (LIO not available)"
	echo "  $(cat $CFS/version)"

	step "Starting qemu-tcmu (the daemon LIO hands the SCSI commands to)"
	if [ ! -S /run/dbus/system_bus_socket ]; then
		mkdir -p /run/dbus && dbus-daemon --system --fork && DBUS_STARTED=1
		echo "  (started a D-Bus system bus: targetcli finds qemu-tcmu through it)"
	fi
	if pgrep -x qemu-tcmu >/dev/null; then
		echo "  qemu-tcmu is already running (pid $(pgrep -x qemu-tcmu | head -n1)): using it"
	else
		start_daemon
	fi

	step "targetcli: the backstore, a local disk (tcm_loop) and an iSCSI target"
	targetcli <<-EOF >"$W/targetcli.out" 2>&1 || { cat "$W/targetcli.out"; die "targetcli"; }
		set global auto_save_on_exit=false
		/backstores/user:qemu create name=qtdemo size=256M cfgstring=$cfg
		/loopback create $WWN
		/loopback/$WWN/luns create /backstores/user:qemu/qtdemo
		/iscsi create $IQN
		/iscsi/$IQN/tpg1 set attribute authentication=0 generate_node_acls=1 demo_mode_write_protect=0 prod_mode_write_protect=0
		/iscsi/$IQN/tpg1/luns create /backstores/user:qemu/qtdemo
	EOF
	grep -E 'Created|create' "$W/targetcli.out" | sed 's/^/  /'
	grep -qi 'error\|failed' "$W/targetcli.out" && { cat "$W/targetcli.out"; die "targetcli"; }
	show targetcli ls /backstores/user:qemu
	dev=$(disk_of "$(cat $CFS/loopback/$WWN/tpgt_1/address)") || die "no /dev/sdX appeared"

	step "The local disk: $dev"
	show lsblk -o NAME,SIZE,TYPE,VENDOR,MODEL,TRAN "$dev"
	show sg_inq "$dev" | grep -E 'identification|revision' | sed 's/^ *//'
	cmp <(head -c 1M /dev/zero | tr '\0' '\132') <(dd if="$dev" bs=1M count=1 status=none) ||
		die "the pattern written by qemu-io is not on $dev"
	echo "  read through $dev: the first MiB holds the 0x5a pattern qemu-io wrote into the image"

	step "A file system on it: mkfs.ext4, files written, fsck -f clean, files read back"
	mkdir -p "$W/mnt"
	show mkfs.ext4 -q -F "$dev" || die "mkfs.ext4"
	mount "$dev" "$W/mnt" || die "mount"
	for i in 1 2 3 4 5; do head -c $((i << 20)) /dev/urandom >"$W/mnt/file$i"; done
	(cd "$W/mnt" && md5sum file*) >"$W/md5"
	umount "$W/mnt"
	show fsck.ext4 -f -n "$dev" | tail -n1 || die "fsck found errors"
	mount "$dev" "$W/mnt" && (cd "$W/mnt" && md5sum -c --quiet "$W/md5") || die "files differ"
	umount "$W/mnt"
	echo "  5 files (15 MiB) read back identical"

	step "iSCSI on 127.0.0.1: discovery, login with the kernel's initiator"
	modprobe iscsi_tcp
	setsid iscsid -f >/dev/null 2>&1 & # own session: iscsid signals its group on exit
	ISCSID_PID=$!
	sleep 1
	show iscsiadm -m discovery -t sendtargets -p 127.0.0.1 || die "discovery"
	show iscsiadm -m node -T $IQN -p 127.0.0.1 --login || die "login"
	for i in $(seq 100); do
		idev=$(iscsiadm -m session -P 3 2>/dev/null | awk '/Attached scsi disk/ { print $4; exit }')
		[ -n "$idev" ] && [ -b "/dev/$idev" ] && break
		sleep 0.1
	done
	[ -n "$idev" ] || die "no iSCSI disk appeared"
	idev=/dev/$idev
	show lsblk -o NAME,SIZE,TYPE,VENDOR,MODEL,TRAN "$idev"

	step "Random data through iSCSI, read back through tcm_loop and from the image"
	head -c 32M /dev/urandom >"$W/random"
	show dd if="$W/random" of="$idev" bs=1M seek=128 oflag=direct conv=fsync status=none ||
		die "write over iSCSI"
	cmp "$W/random" <(dd if="$dev" bs=1M skip=128 count=32 iflag=direct status=none) ||
		die "tcm_loop reads other data"
	echo "  32 MiB written over iSCSI ($idev) read back identical through tcm_loop ($dev)"
	iscsiadm -m node -T $IQN --logout >/dev/null
	targetcli /loopback delete $WWN >/dev/null
	targetcli /iscsi delete $IQN >/dev/null
	targetcli /backstores/user:qemu delete qtdemo >/dev/null
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" && wait "$DAEMON_PID" || die "qemu-tcmu did not exit cleanly"
		DAEMON_PID=
	fi
	if [ $fmt = qcow2 ]; then
		show qemu-img check "$img" || die "qemu-img check found errors"
	fi
	show qemu-img convert -f $fmt -O raw "$img" "$W/flat.raw" || die "qemu-img convert"
	cmp "$W/random" <(dd if="$W/flat.raw" bs=1M skip=128 count=32 status=none) ||
		die "the image does not hold the data"
	echo "  and QEMU's qemu-img finds the same 32 MiB in $(basename "$img")"

	printf '\n%sDone%s in %ds: %s exported by qemu-tcmu as user:qemu/qtdemo on tcm_loop (%s) and iSCSI (%s on 127.0.0.1); every check passed.\n' \
		"$G" "$N" $((SECONDS - T0)) "$(basename "$img")" "$dev" "$IQN"
}

if [ "$IN_VM" = 1 ]; then
	run_export
	exit 0
fi

# ---- on the host ------------------------------------------------------------------------
can_native() {
	[ "$(id -u)" = 0 ] || return 1
	modprobe -n target_core_user 2>/dev/null || [ -d /sys/module/target_core_user ] || return 1
	modprobe target_core_user 2>/dev/null || [ -d /sys/module/target_core_user ]
}
if [ "$MODE" = auto ]; then
	if can_native; then MODE=native; else MODE=vm; fi
fi
NSTEPS=3
[ "$MODE" = native ] && NSTEPS=$((NSTEPS + 8))

step "Installing the Debian packages (scripts/install-deps.sh)"
scripts/install-deps.sh || die "package installation failed"
step "Building (scripts/build.sh)"
scripts/build.sh build >"${TMPDIR:-/tmp}/qtdemo-build.log" 2>&1 ||
	{ tail -n 30 "${TMPDIR:-/tmp}/qtdemo-build.log"; die "build failed (log: ${TMPDIR:-/tmp}/qtdemo-build.log)"; }
echo "  build/src/daemon/qemu-tcmu, build/src/tools/qemu-tcmu-io"

if [ "$MODE" = native ]; then
	can_native || die "this kernel has no target_core_user, or we are not root (try --vm)"
	step "This kernel has target_core_user: running the demo natively"
	run_export
	exit 0
fi
step "This kernel has no usable target_core_user$([ "$(id -u)" = 0 ] || echo ' (or we are not root)'): running the demo in a VM"
echo "  Debian 12's kernel under qemu-system-x86_64 (tests/vm/run.sh; KVM if it works, TCG otherwise),"
echo "  this machine's root file system read-only with a throw-away overlay."
echo "  The first run downloads and unpacks the kernel package (~70 MB) into ~/.cache/qemu-tcmu-vm."
VMARGS=()
[ "$RBD" = 1 ] && VMARGS=(-m 4096) # mon + OSD + mgr in the guest
tests/vm/run.sh -t 900 "${VMARGS[@]}" -e BUILD_DIR="$BUILD" -e TERM="${TERM:-dumb}" \
	scripts/demo.sh --in-vm $([ "$RBD" = 1 ] && echo --rbd) $([ "$GLUSTER" = 1 ] && echo --gluster) ||
	die "the demo in the VM failed (its output is above)"
