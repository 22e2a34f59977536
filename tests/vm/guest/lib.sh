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
# Daemons:
#   lio_start_dbus                        a system dbus-daemon (targetcli needs it for user:*)
#   lio_start_tcmu_runner [ARGS]          tcmu-runner, waits until its handlers registered
#   qt_daemon_start [ARGS]                our qemu-tcmu ($QT_DAEMON, default
#                                         $BUILD_DIR/src/daemon/qemu-tcmu), log in $QT_LOG;
#                                         waits for its sd_notify READY=1
#   qt_daemon_stop                        SIGTERM, wait; fails unless it exits 0
#   qt_user_create NAME CFG SIZE [BS]     lio_user_create with subtype qemu
#   qt_targetcli [CMD...]                 targetcli, one command from the arguments or
#                                         several from stdin (one Python start-up)
#   lio_cleanup                           lio_teardown, stop every daemon started here
#
# Storage:
#   lio_scratch_fs DIR [MB] [FSTYPE]      ext4 on a brd RAM disk at DIR: image files that need
#                                         O_DIRECT or fallocate (tmpfs, 9p and overlay lack them)
#   qt_pattern FILE MB                    a file of MB MiB random data
CFS=/sys/kernel/config/target
LIO_HBA=${LIO_HBA:-1}
LIO_LOGDIR=${LIO_LOGDIR:-/run/qt-vm}
BUILD_DIR=${BUILD_DIR:-$PWD/build}
QT_DAEMON=${QT_DAEMON:-$BUILD_DIR/src/daemon/qemu-tcmu}
QT_IO=${QT_IO:-$BUILD_DIR/src/tools/qemu-tcmu-io}
QT_LOG=$LIO_LOGDIR/qemu-tcmu.log
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
lio_start_dbus() {
	[ -S /run/dbus/system_bus_socket ] && return 0
	mkdir -p /run/dbus
	LIO_DBUS_PID=$(dbus-daemon --system --fork --print-pid) || return 1
	local i
	for i in $(seq 50); do
		[ -S /run/dbus/system_bus_socket ] && return 0
		sleep 0.1
	done
	qt_fail "dbus-daemon did not create its socket"
}

lio_start_tcmu_runner() {
	local i n
	tcmu-runner -l "$LIO_LOGDIR" "$@" >"$LIO_LOGDIR/tcmu-runner.out" 2>&1 &
	LIO_TCMU_PID=$!
	# handlers are dlopen()ed at start; rbd (librados) is the last and the slowest
	for i in $(seq 300); do
		if ! kill -0 "$LIO_TCMU_PID" 2>/dev/null; then
			cat "$LIO_LOGDIR/tcmu-runner.out" "$LIO_LOGDIR/tcmu-runner.log" >&2
			LIO_TCMU_PID=
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
# listen on a datagram socket and wait for it, or for the daemon to die.
qt_daemon_start() { # [ARGS...]
	local sock=$LIO_LOGDIR/notify.sock
	[ -x "$QT_DAEMON" ] || {
		qt_fail "no daemon at $QT_DAEMON (build it: scripts/build.sh)"
		return 1
	}
	rm -f "$sock"
	python3 "$VM_HARNESS/guest/notify-wait.py" "$sock" "${QT_READY_TIMEOUT:-30}" \
		>"$LIO_LOGDIR/notify.out" 2>&1 &
	local waiter=$!
	local i
	for i in $(seq 50); do
		[ -S "$sock" ] && break
		sleep 0.05
	done
	NOTIFY_SOCKET=$sock "$QT_DAEMON" "$@" >>"$QT_LOG" 2>&1 &
	QT_DAEMON_PID=$!
	qt_log "started $QT_DAEMON $* (pid $QT_DAEMON_PID)"
	while kill -0 "$waiter" 2>/dev/null; do
		if ! kill -0 "$QT_DAEMON_PID" 2>/dev/null; then
			kill "$waiter" 2>/dev/null
			wait "$QT_DAEMON_PID"
			local rc=$?
			QT_DAEMON_PID=
			cat "$QT_LOG" >&2
			qt_fail "qemu-tcmu exited with status $rc before it was ready"
			return 1
		fi
		sleep 0.05
	done
	if ! wait "$waiter"; then
		cat "$LIO_LOGDIR/notify.out" "$QT_LOG" >&2
		qt_fail "qemu-tcmu did not report READY=1"
		return 1
	fi
	qt_log "qemu-tcmu ready: $(cat "$LIO_LOGDIR/notify.out")"
	lio_wait_netlink_unblocked
}

qt_daemon_stop() {
	local pid=${QT_DAEMON_PID:-} rc i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid"
		wait "$pid" 2>/dev/null
		QT_DAEMON_PID=
		qt_fail "qemu-tcmu did not exit within 15 s of SIGTERM"
		return 1
	fi
	wait "$pid"
	rc=$?
	QT_DAEMON_PID=
	[ "$rc" = 0 ] || {
		tail -n 30 "$QT_LOG" >&2
		qt_fail "qemu-tcmu exited with status $rc on SIGTERM"
	}
}

qt_targetcli() { # [CMD...]; without arguments the commands come from stdin
	local t rc=0
	t=$(qt_ms)
	if [ $# -gt 0 ]; then
		echo "+ targetcli $*" >&2
		targetcli "$@" || rc=$?
	else
		# targetcli reads a script on stdin; it ends at the first failing command only
		# when told to: `exit` after each line is not needed, errors are printed
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

lio_teardown() {
	local f t l x
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
	lio_teardown
	qt_daemon_stop || true
	if [ -n "${LIO_TCMU_PID:-}" ]; then
		kill "$LIO_TCMU_PID" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$LIO_TCMU_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$LIO_TCMU_PID" 2>/dev/null
		wait "$LIO_TCMU_PID" 2>/dev/null
		LIO_TCMU_PID=
	fi
	if [ -n "${LIO_DBUS_PID:-}" ]; then
		kill "$LIO_DBUS_PID" 2>/dev/null
		rm -f /run/dbus/system_bus_socket /run/dbus/pid
		LIO_DBUS_PID=
	fi
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
		iscsi-test-cu -d -n -t "$p" "$target" >"$log" 2>&1
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
