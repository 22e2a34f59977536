#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A throw-away one-node Ceph cluster for the rbd tests: one mon, one OSD on memstore (data in
# RAM) and one mgr, plain processes on 127.0.0.1 with cephx on, pool 'rbd' initialised.
#
#   ceph-one-node.sh start DIR   writes DIR/ceph.conf and DIR/ceph.client.admin.keyring;
#                                prints "export CEPH_CONF=DIR/ceph.conf"
#   ceph-one-node.sh stop DIR    ends the daemons start left (by their pid files)
#   ceph-one-node.sh down|up|restart DIR mon|osd   stop one daemon cleanly, start it again,
#                                or both (fault tests; memstore keeps its data over a clean
#                                stop)
#
# CEPH_MGR=0: no mgr (the guest of the VM tests: it costs minutes under TCG).
# The mon port is the first free one from CEPH_MON_PORT (default 6789; msgr v1 and v2 on
# PORT and PORT+1), so a second cluster on the same host (another test, another user) does
# not collide.  Packages: ceph-mon ceph-osd ceph-mgr ceph-common (scripts/install-deps.sh).
set -euo pipefail
cmd=${1:?usage: $0 start|stop|down|up|restart DIR [mon|osd]}
D=${2:?usage: $0 start|stop|down|up|restart DIR [mon|osd]}

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pidfile_kill() {
	local f=$1 pid
	pid=$(cat "$f" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$f"
}

stop() {
	local f pid pids=()
	[ -d "$D/run" ] || return 0
	# the pids first: a daemon removes its own pid file as it exits
	for f in "$D"/run/*.pid; do
		pid=$(cat "$f" 2>/dev/null) && pids+=("$pid")
	done
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
	done
	rm -f "$D"/run/*.pid
}

# The pool takes I/O (rbd pool init waited for its placement groups): one object written,
# read back and removed, bounded in time.
wait_usable() {
	echo probe >"$D/probe.in"
	if timeout 60 rados -p rbd put qt-probe "$D/probe.in" &&
		timeout 60 rados -p rbd get qt-probe "$D/probe.out" && cmp -s "$D/probe.in" "$D/probe.out"; then
		rados -p rbd rm qt-probe
		return 0
	fi
	ceph -s >&2 || true
	echo "ceph-one-node: pool rbd takes no I/O (logs in $D/log)" >&2
	return 1
}

start_osd() {
	ceph-osd --id 0 2>/dev/null
}

start_mon() {
	ceph-mon --id a
}

start() {
	local port=${CEPH_MON_PORT:-6789}
	rm -rf "$D"
	mkdir -p "$D"/{mon,osd,mgr,log,run}
	D=$(cd "$D" && pwd)
	while port_busy "$port" || port_busy $((port + 1)); do
		port=$((port + 2))
	done
	export CEPH_CONF=$D/ceph.conf
	cat >"$CEPH_CONF" <<CONF
[global]
fsid = $(cat /proc/sys/kernel/random/uuid)
mon host = [v2:127.0.0.1:$((port + 1)),v1:127.0.0.1:$port]
public addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $D/\$cluster.\$name.keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail crit = 0
mon data avail warn = 0
run dir = $D/run
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
# the daemons' admin sockets only: clients of one name would fight over theirs
admin socket =
[mon.a]
admin socket = $D/run/\$name.asok
mon data = $D/mon
keyring = $D/mon/keyring
public addrv = [v2:127.0.0.1:$((port + 1)),v1:127.0.0.1:$port]
[osd.0]
admin socket = $D/run/\$name.asok
osd data = $D/osd
osd objectstore = memstore
# memstore saves its data only on a clean umount, which fast shutdown skips
osd fast shutdown = false
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-2147483648}
[mgr.x]
admin socket = $D/run/\$name.asok
mgr data = $D/mgr
CONF
	ceph-authtool --create-keyring "$D/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool --create-keyring "$D/ceph.client.admin.keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
	ceph-authtool "$D/mon.keyring" --import-keyring "$D/ceph.client.admin.keyring" >/dev/null
	ceph-mon --id a --mkfs --keyring "$D/mon.keyring" 2>/dev/null
	start_mon
	ceph-authtool --create-keyring "$D/ceph.osd.0.keyring" --gen-key -n osd.0 >/dev/null
	ceph auth add osd.0 osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
		-i "$D/ceph.osd.0.keyring" >/dev/null 2>&1
	ceph osd create >/dev/null
	ceph osd crush add osd.0 1 root=default >/dev/null 2>&1
	ceph-osd --id 0 --mkfs 2>/dev/null
	start_osd
	ceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
		-o "$D/ceph.mgr.x.keyring" >/dev/null 2>&1
	# the mgr serves status and perf counters, not I/O: CEPH_MGR=0 saves a Python process
	# (and minutes in an emulated VM)
	[ "${CEPH_MGR:-1}" = 0 ] || ceph-mgr --id x
	ceph osd pool create rbd 8 >/dev/null 2>&1
	timeout 120 rbd pool init rbd
	wait_usable
	echo "export CEPH_CONF=$CEPH_CONF"
}

# down|up DIR mon|osd: stop one daemon cleanly (memstore saves its data) / start it again
daemon_cmd() {
	local op=$1 which=${2:-}
	D=$(cd "$D" && pwd)
	export CEPH_CONF=$D/ceph.conf
	case $which in
	mon | osd) ;;
	*) echo "ceph-one-node: $op DIR mon|osd" >&2; exit 2 ;;
	esac
	local pidf=$D/run/osd.0.pid start=start_osd
	if [ "$which" = mon ]; then
		pidf=$D/run/mon.a.pid
		start=start_mon
	fi
	[ "$op" = up ] || pidfile_kill "$pidf"
	[ "$op" = down ] || $start
}

case $cmd in
start) start ;;
stop) stop ;;
restart | down | up) daemon_cmd "$cmd" "${3:-}" ;;
*) echo "usage: $0 start|stop DIR, or restart|down|up DIR mon|osd" >&2; exit 2 ;;
esac
