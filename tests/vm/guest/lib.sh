# shellcheck shell=bash
# lib.sh - helpers for guest test scripts: . "$VM_HARNESS/guest/lib.sh"
#
# Checks (several per VM boot; each runs in a subshell with `set -e`, a failure is
# reported and the next check runs; cleanup between checks is the test's job):
#   qt_check NAME FUNC [ARGS]   run FUNC, record "ok"/"FAIL" with its duration
#   qt_summary                  print "N checks passed, N failed"; status 0 iff none failed
#   qt_log MSG / qt_fail MSG    a time-stamped note / a note plus `return 1`
#   qt_save FILE...             copy files into the results dir ($VM_OUT)
#   qt_ms                       milliseconds since boot
#
# LIO through raw configfs writes (no targetcli needed):
#   lio_user_create NAME SUBTYPE CFG SIZE [BS]  TCMU backstore core/user_$LIO_HBA/NAME with
#                                         dev_config=SUBTYPE/CFG; prints its configfs dir
#   lio_fileio_create NAME FILE SIZE      in-kernel fileio backstore; prints its configfs dir
#   lio_loop_export SODIR [WWN]           tcm_loop export; prints /dev/sdX
#   lio_loop_sg /dev/sdX                  prints its /dev/sgN
#   lio_iscsi_export SODIR IQN [IP:PORT]  iSCSI target, demo mode, no authentication
#   lio_teardown                          remove every fabric target and backstore
#   lio_leftovers                         list what configfs still holds (empty = clean)
#
# Daemons (tracked through $LIO_LOGDIR/NAME.{pid,status,log}, so checks may start and
# stop them although each check runs in its own subshell):
#   qt_spawn NAME CMD...                  run CMD in the background (output in NAME.log)
#   qt_alive NAME / qt_pid NAME           is it running / its pid
#   qt_stop NAME [SIG] [SECS]             signal, wait; returns its exit status (124: killed)
#   qt_wait_log PATTERN FILE [SECS]       wait for a matching line
#   lio_start_dbus / lio_stop_dbus        a system dbus-daemon (targetcli needs it for user:*)
#   lio_start_tcmu_runner [ARGS] / lio_stop_tcmu_runner
#                                         tcmu-runner; start waits for its handlers
#   qt_daemon_start [ARGS]                our qemu-tcmu ($QT_DAEMON, default
#                                         $BUILD_DIR/src/daemon/qemu-tcmu), output in $QT_LOG;
#                                         waits for its sd_notify READY=1
#   qt_daemon_stop                        SIGTERM, wait; fails unless it exits 0
#   qt_user_create NAME CFG SIZE [BS]     lio_user_create with subtype qemu
#   qt_targetcli [CMD...]                 targetcli, one command from the arguments or
#                                         several from stdin (one Python start-up)
#   qt_cu LABEL TARGET PATTERN...         iscsi-test-cu on an iscsi:// URL or /dev/sgN
#   lio_cleanup                           lio_teardown, stop every daemon started here,
#                                         save the logs into the results dir
#
# Storage:
#   lio_scratch_fs DIR [MB] [FSTYPE]      ext4 on a brd RAM disk at DIR: image files that need
#                                         O_DIRECT or fallocate (tmpfs, 9p and overlay lack them)
#   qt_pattern FILE MB                    a file of MB MiB random data
CFS=/sys/kernel/config/target
LIO_HBA=${LIO_HBA:-1}
LIO_LOGDIR=${LIO_LOGDIR:-/run/qt-vm}
SRC_DIR=${SRC_DIR:-$(cd "$VM_HARNESS/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SRC_DIR/build}
QT_DAEMON=${QT_DAEMON:-$BUILD_DIR/src/daemon/qemu-tcmu}
QT_IO=${QT_IO:-$BUILD_DIR/src/tools/qemu-tcmu-io}
QT_LOG=$LIO_LOGDIR/qemu-tcmu.log # the daemon's output
mkdir -p "$LIO_LOGDIR"
# sanitizer reports of our binaries go to the results dir, not only to their logs
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

qt_ms() {
	local a
	read -r a _ </proc/uptime
	echo "${a/./}0"
}
qt_log() { echo "[$(qt_ms) ms] $*" >&2; }
qt_fail() {
	echo "FAIL: $*" >&2
	return 1
}
qt_save() {
	[ -n "${VM_OUT:-}" ] || return 0
	local f
	for f in "$@"; do [ -e "$f" ] && cp -r "$f" "$VM_OUT/" 2>/dev/null; done
	return 0
}

QT_PASSED=0
QT_FAILED=0
QT_FAILED_NAMES=()
qt_check() { # NAME FUNC [ARGS...]
	local name=$1 t rc
	shift
	echo "=== check: $name"
	t=$(qt_ms)
	(
		set -eEuo pipefail
		trap 'echo "FAIL: line $LINENO: $BASH_COMMAND (status $?)" >&2' ERR
		"$@"
	)
	rc=$?
	if [ "$rc" = 0 ]; then
		QT_PASSED=$((QT_PASSED + 1))
		echo "=== ok: $name ($(($(qt_ms) - t)) ms)"
	else
		QT_FAILED=$((QT_FAILED + 1))
		QT_FAILED_NAMES+=("$name")
		echo "=== FAIL: $name (status $rc, $(($(qt_ms) - t)) ms)"
	fi
	return 0
}
qt_summary() {
	local n
	for n in "${QT_FAILED_NAMES[@]}"; do echo "failed: $n"; done
	echo "$QT_PASSED checks passed, $QT_FAILED failed"
	[ "$QT_FAILED" = 0 ]
}

# --- daemons -----------------------------------------------------------------------------
# Checks run in subshells, so daemons are tracked through files, not shell variables:
# $LIO_LOGDIR/NAME.pid while it runs, NAME.status (its exit status) once it ended,
# NAME.log its output.
qt_spawn() { # NAME CMD...: start CMD in the background
	local name=$1 i
	shift
	rm -f "$LIO_LOGDIR/$name.pid" "$LIO_LOGDIR/$name.status"
	(
		# own session: a daemon signalling its process group (iscsid does on SIGTERM)
		# must not hit the test script
		bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec setsid "$@"' \
			"$LIO_LOGDIR/$name.pid" "$@" >>"$LIO_LOGDIR/$name.log" 2>&1 </dev/null
		echo $? >"$LIO_LOGDIR/$name.status"
	) </dev/null >/dev/null 2>&1 & # not holding the caller's $(...) pipe open
	for i in $(seq 100); do
		[ -s "$LIO_LOGDIR/$name.pid" ] && return 0
		sleep 0.02
	done
	qt_fail "$name did not start"
}
qt_alive() { [ -s "$LIO_LOGDIR/$1.pid" ] && [ ! -e "$LIO_LOGDIR/$1.status" ]; }
qt_pid() { cat "$LIO_LOGDIR/$1.pid"; }
# qt_stop NAME [SIGNAL] [SECONDS]: signal it, wait for it to end; returns its exit status
# (128+N for a signal), or 124 if it had to be SIGKILLed after SECONDS (default 15).
qt_stop() {
	local name=$1 sig=${2:-TERM} secs=${3:-15} i
	[ -s "$LIO_LOGDIR/$name.pid" ] || return 0
	qt_alive "$name" && kill "-$sig" "$(qt_pid "$name")" 2>/dev/null
	for i in $(seq $((secs * 10))); do
		[ -e "$LIO_LOGDIR/$name.status" ] && break
		sleep 0.1
	done
	if [ ! -e "$LIO_LOGDIR/$name.status" ]; then
		kill -KILL "$(qt_pid "$name")" 2>/dev/null
		for i in $(seq 50); do
			[ -e "$LIO_LOGDIR/$name.status" ] && break
			sleep 0.1
		done
		rm -f "$LIO_LOGDIR/$name.pid"
		qt_log "$name did not end within $secs s of SIG$sig: killed"
		return 124
	fi
	rm -f "$LIO_LOGDIR/$name.pid"
	return "$(cat "$LIO_LOGDIR/$name.status")"
}
qt_wait_log() { # PATTERN FILE [SECONDS]: wait until FILE has a line matching PATTERN
	local i
	for i in $(seq $((${3:-15} * 10))); do
		grep -q -- "$1" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	tail -n 20 "$2" >&2
	qt_fail "no '$1' in $2 within ${3:-15} s"
}

lio_start_dbus() {
	[ -S /run/dbus/system_bus_socket ] && return 0
	mkdir -p /run/dbus
	rm -f /run/dbus/pid
	dbus-daemon --system --fork || return 1
	local i
	for i in $(seq 50); do
		[ -S /run/dbus/system_bus_socket ] && return 0
		sleep 0.1
	done
	qt_fail "dbus-daemon did not create its socket"
}
lio_stop_dbus() {
	[ -s /run/dbus/pid ] && kill "$(cat /run/dbus/pid)" 2>/dev/null
	rm -f /run/dbus/system_bus_socket /run/dbus/pid
	return 0
}

# tcmu-runner (log: $LIO_LOGDIR/tcmu-runner.log); waits until its handlers registered
lio_start_tcmu_runner() {
	local i n
	: >"$LIO_LOGDIR/tcmu-runner.log"
	qt_spawn tcmu-runner-out tcmu-runner -l "$LIO_LOGDIR" "$@" || return 1
	# handlers are dlopen()ed at start; rbd (librados) is the last and the slowest
	for i in $(seq 300); do
		if ! qt_alive tcmu-runner-out; then
			cat "$LIO_LOGDIR/tcmu-runner-out.log" "$LIO_LOGDIR/tcmu-runner.log" >&2
			qt_fail "tcmu-runner died"
			return 1
		fi
		n=$(grep -c 'is registered' "$LIO_LOGDIR/tcmu-runner.log" 2>/dev/null) || n=0
		if [ "$n" -ge "${LIO_TCMU_NHANDLERS:-4}" ]; then
			lio_wait_netlink_unblocked
			return 0
		fi
		sleep 0.1
	done
	qt_fail "tcmu-runner did not register its handlers in 30 s"
}
lio_stop_tcmu_runner() { qt_stop tcmu-runner-out TERM 15 || [ $? = 143 ]; }

# TCMU daemons block netlink (module parameter block_netlink) while they take over
# existing devices; `enable` fails with EAGAIN meanwhile.
lio_wait_netlink_unblocked() {
	local i
	for i in $(seq 100); do
		[ "$(cat /sys/module/target_core_user/parameters/block_netlink 2>/dev/null)" != blocked ] &&
			return 0
		sleep 0.1
	done
	return 1
}

# Our daemon reports readiness the systemd way (sd_notify READY=1 on $NOTIFY_SOCKET):
# listen on a datagram socket and wait for it, or for the daemon to end.
qt_daemon_start() { # [ARGS...]
	local sock=$LIO_LOGDIR/notify.sock i
	[ -x "$QT_DAEMON" ] || {
		qt_fail "no daemon at $QT_DAEMON (build it: scripts/build.sh)"
		return 1
	}
	rm -f "$sock" "$LIO_LOGDIR/notify.log"
	qt_spawn notify python3 "$VM_HARNESS/guest/notify-wait.py" "$sock" "${QT_READY_TIMEOUT:-30}"
	for i in $(seq 100); do
		[ -S "$sock" ] && break
		sleep 0.02
	done
	NOTIFY_SOCKET=$sock qt_spawn qemu-tcmu "$QT_DAEMON" "$@" || return 1
	qt_log "started $QT_DAEMON $* (pid $(qt_pid qemu-tcmu))"
	while qt_alive notify; do
		if ! qt_alive qemu-tcmu; then
			qt_stop notify
			cat "$QT_LOG" >&2
			qt_fail "qemu-tcmu exited with status $(cat "$LIO_LOGDIR/qemu-tcmu.status") before it was ready"
			return 1
		fi
		sleep 0.05
	done
	if ! qt_stop notify; then
		cat "$LIO_LOGDIR/notify.log" "$QT_LOG" >&2
		qt_fail "qemu-tcmu did not report READY=1"
		return 1
	fi
	qt_log "qemu-tcmu ready: $(cat "$LIO_LOGDIR/notify.log")"
	lio_wait_netlink_unblocked
}

# SIGTERM; fails unless the daemon exits 0 within 15 s
qt_daemon_stop() {
	local rc=0
	qt_alive qemu-tcmu || [ -e "$LIO_LOGDIR/qemu-tcmu.pid" ] || return 0
	qt_stop qemu-tcmu TERM 15 || rc=$?
	[ "$rc" = 0 ] && return 0
	tail -n 30 "$QT_LOG" >&2
	qt_fail "qemu-tcmu exited with status $rc on SIGTERM"
}

qt_targetcli() { # [CMD...]; without arguments the commands come from stdin
	local t rc=0
	t=$(qt_ms)
	if [ $# -gt 0 ]; then
		echo "+ targetcli $*" >&2
		targetcli "$@" || rc=$?
	else
		targetcli || rc=$?
	fi
	qt_log "targetcli: status $rc, $(($(qt_ms) - t)) ms"
	return $rc
}

# --- backstores and fabrics through configfs --------------------------------------------
lio_user_create() { # NAME SUBTYPE CFGSTRING SIZE_BYTES [BLOCK_SIZE]
	local name=$1 sub=$2 cfg=$3 size=$4 bs=${5:-512}
	local d=$CFS/core/user_$LIO_HBA/$name
	mkdir -p "$d" || return 1
	echo -n "dev_config=$sub/$cfg" >"$d/control" || return 1
	echo -n "dev_size=$size" >"$d/control" || return 1
	echo -n "hw_block_size=$bs" >"$d/control" || return 1
	lio_enable "$d" || return 1
	echo "$d"
}
qt_user_create() { lio_user_create "$1" qemu "$2" "$3" "${4:-512}"; }

lio_enable() { # SODIR
	local i
	for i in $(seq 100); do
		if [ "$(cat /sys/module/target_core_user/parameters/block_netlink 2>/dev/null)" = blocked ]; then
			sleep 0.1
			continue
		fi
		echo 1 2>/dev/null >"$1/enable" && return 0
		sleep 0.1
	done
	echo 1 >"$1/enable"
}

lio_fileio_create() { # NAME FILE SIZE_BYTES
	local name=$1 file=$2 size=$3
	local d=$CFS/core/fileio_$LIO_HBA/$name
	mkdir -p "$d" || return 1
	echo -n "fd_dev_name=$file,fd_dev_size=$size" >"$d/control" || return 1
	echo 1 >"$d/enable" || return 1
	echo "$d"
}

lio_wwn() { printf 'naa.50014059%08x' $(((RANDOM << 15 | RANDOM) & 0xffffffff)); }

lio_loop_export() { # SODIR [WWN] -> prints /dev/sdX
	local so=$1 wwn=${2:-$(lio_wwn)} i addr blk
	local t=$CFS/loopback/$wwn/tpgt_1
	mkdir -p "$t/lun/lun_0" || return 1
	echo -n "$(lio_wwn)" >"$t/nexus" || return 1
	ln -s "$so" "$t/lun/lun_0/$(basename "$so")" || return 1
	addr=$(cat "$t/address") # "H:0:T"
	lio_loop_dev "$addr"
}
lio_loop_dev() { # H:0:T -> prints /dev/sdX once it exists
	local addr=$1 i blk
	for i in $(seq 100); do
		blk=$(ls "/sys/bus/scsi/devices/$addr:0/block/" 2>/dev/null | head -n1)
		if [ -n "$blk" ] && [ -b "/dev/$blk" ]; then
			echo "/dev/$blk"
			return 0
		fi
		sleep 0.1
	done
	qt_fail "no block device appeared for scsi $addr:0"
}

lio_loop_sg() { # /dev/sdX -> /dev/sgN
	local b
	b=$(basename "$1")
	echo "/dev/$(ls "/sys/block/$b/device/scsi_generic/")"
}

lio_iscsi_export() { # SODIR IQN [IP:PORT]
	local so=$1 iqn=$2 portal=${3:-127.0.0.1:3260}
	local t=$CFS/iscsi/$iqn/tpgt_1
	mkdir -p "$t/lun/lun_0" || return 1
	ln -s "$so" "$t/lun/lun_0/$(basename "$so")" || return 1
	mkdir "$t/np/$portal" || return 1
	echo 0 >"$t/attrib/authentication"
	echo 1 >"$t/attrib/generate_node_acls"
	echo 1 >"$t/attrib/cache_dynamic_acls"
	echo 0 >"$t/attrib/demo_mode_write_protect"
	echo 1 >"$t/enable"
}

# The kernel's iSCSI initiator (open-iscsi: iscsid + iscsiadm): log in to IQN at PORTAL,
# print the /dev/sdX of LUN 0.
lio_iscsi_login() { # IQN [IP:PORT]
	local iqn=$1 portal=${2:-127.0.0.1:3260} i dev
	if ! qt_alive iscsid; then
		modprobe iscsi_tcp || return 1
		qt_spawn iscsid iscsid -f || return 1
	fi
	for i in $(seq 50); do
		iscsiadm -m discovery -t sendtargets -p "$portal" >"$LIO_LOGDIR/discovery.txt" 2>&1 &&
			break
		sleep 0.2
	done
	grep -q " $iqn\$" "$LIO_LOGDIR/discovery.txt" ||
		{ cat "$LIO_LOGDIR/discovery.txt" >&2; qt_fail "$iqn not discovered at $portal"; return 1; }
	iscsiadm -m node -T "$iqn" -p "$portal" --login >&2 || return 1
	for i in $(seq 100); do
		dev=$(iscsiadm -m session -P 3 2>/dev/null |
			awk -v t="$iqn" '$1 == "Target:" { on = ($2 == t) }
				on && /Attached scsi disk/ { print $4; exit }')
		if [ -n "$dev" ] && [ -b "/dev/$dev" ]; then
			echo "/dev/$dev"
			return 0
		fi
		sleep 0.1
	done
	qt_fail "no disk attached for $iqn"
}
# An open-iscsi iface that logs in under another initiator name than initiatorname.iscsi
# (iscsiadm -I NAME): a second initiator on the same host
lio_iscsi_iface() { # NAME INITIATOR_IQN
	iscsiadm -m iface -I "$1" -o new >/dev/null &&
		iscsiadm -m iface -I "$1" -o update -n iface.initiatorname -v "$2" >/dev/null
}
lio_iscsi_logout() { # [IQN]: log out of IQN, or of every session
	if [ -n "${1:-}" ]; then
		iscsiadm -m node -T "$1" --logout >&2
	else
		iscsiadm -m node --logoutall=all >&2 2>/dev/null || true
	fi
}

lio_teardown() {
	local f t l x
	qt_alive iscsid && lio_iscsi_logout
	for f in loopback iscsi; do
		for t in "$CFS/$f"/*/tpgt_*; do
			[ -d "$t" ] || continue
			[ -e "$t/enable" ] && { echo 0 >"$t/enable"; } 2>/dev/null
			for l in "$t"/lun/lun_*; do
				[ -d "$l" ] || continue
				for x in "$l"/*; do [ -L "$x" ] && rm -f "$x"; done
				rmdir "$l" 2>/dev/null
			done
			for x in "$t"/np/* "$t"/acls/*; do [ -d "$x" ] && rmdir "$x" 2>/dev/null; done
			rmdir "$t" 2>/dev/null
			rmdir "$(dirname "$t")" 2>/dev/null
		done
	done
	for x in "$CFS"/core/*_*/*; do
		[ -d "$x" ] && [ -e "$x/enable" ] && rmdir "$x"
	done
	for x in "$CFS"/core/*_*; do
		[ -d "$x" ] && rmdir "$x" 2>/dev/null
	done
	return 0
}

lio_leftovers() {
	local x
	for x in "$CFS"/core/*_* "$CFS"/loopback/naa.* "$CFS"/iscsi/iqn.*; do
		[ -d "$x" ] && echo "$x"
	done
	return 0
}

lio_cleanup() {
	local f
	lio_teardown
	qt_daemon_stop || true
	for f in "$LIO_LOGDIR"/*.pid; do
		[ -e "$f" ] && qt_stop "$(basename "$f" .pid)" TERM 5
	done
	lio_stop_dbus
	qt_save "$LIO_LOGDIR"
	return 0
}

# --- storage -------------------------------------------------------------------------------
lio_scratch_fs() { # DIR [SIZE_MB] [FSTYPE]
	local dir=$1 mb=${2:-512} fs=${3:-ext4} n
	if [ ! -e /sys/module/brd ]; then
		modprobe brd rd_nr=4 rd_size=$((mb * 1024)) || return 1
	fi
	n=${LIO_BRD_NEXT:-0}
	LIO_BRD_NEXT=$((n + 1))
	mkfs."$fs" -q -F "/dev/ram$n" >/dev/null || return 1
	mkdir -p "$dir" && mount "/dev/ram$n" "$dir"
}

qt_pattern() { head -c $(($2 << 20)) /dev/urandom >"$1"; }

# qt_cu LABEL TARGET PATTERN...: libiscsi's conformance suite (iscsi-test-cu -d) against an
# iscsi:// URL or a /dev/sgN.  Saves the log as cu-LABEL.log, prints one line of counts and
# the failed tests, and sets CU_TESTS, CU_PASSED, CU_FAILED (summed over the patterns).
qt_cu() {
	local label=$1 target=$2 p log line t a b c
	shift 2
	CU_TESTS=0 CU_PASSED=0 CU_FAILED=0
	for p in "$@"; do
		log=$LIO_LOGDIR/cu-$label-$p.log
		t=$(qt_ms)
		# its exit status says whether any test failed: the counts below tell more
		iscsi-test-cu -d -n -t "$p" "$target" >"$log" 2>&1 || true
		# CUnit's run summary: "tests TOTAL RAN PASSED FAILED INACTIVE"
		line=$(awk '$1 == "tests" && NF >= 6 { print $2, $4, $5 }' "$log" | tail -n1)
		[ -n "$line" ] || line="0 0 1"
		read -r a b c <<<"$line"
		CU_TESTS=$((CU_TESTS + a)) CU_PASSED=$((CU_PASSED + b)) CU_FAILED=$((CU_FAILED + c))
		echo "cu[$label $p]: $a tests, $b passed, $c failed ($(($(qt_ms) - t)) ms)"
		grep -oE 'Suite [^,]+, Test [^ ]+ had failures' "$log" |
			awk -v tag="cu[$label $p] failed:" '{ sub(",", "", $2); print tag, $2 "." $4 }' || true
		qt_save "$log"
	done
	return 0
}
