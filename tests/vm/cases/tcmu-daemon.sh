#!/bin/bash
# Guest test: our daemon (qemu-tcmu) serving raw images through LIO user backstores
# created with raw configfs writes (dev_config=qemu/@file=...), exported on tcm_loop.
#  - identity and capacity (sg3_utils), 64 MiB of random data written with O_DIRECT
#    reads back identical and lands in the image file;
#  - mkfs.ext4 then fsck -f clean;
#  - SIGKILL of the daemon in the middle of a write, and of mkfs.ext4: a new daemon takes
#    the device over (block_dev, reset_ring), the initiator's I/O completes after
#    retries, the data is intact, fsck -f is clean;
#  - SIGTERM drains and exits 0; devices created while no daemon runs are taken over;
#  - refused devices: a bad config string, a missing image, a dev_size beyond the image:
#    enable fails and our log says why;
#  - reconfiguration of dev_size (smaller accepted, larger refused) and of the image;
#  - coexistence with tcmu-runner: user:qemu and user:qcow devices created in turn,
#    whichever daemon started first, every enable succeeds.
# Run: tests/vm/run.sh tests/vm/cases/tcmu-daemon.sh
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

SIZE_MB=128
D=/mnt/img # ext4 on a RAM disk: /run (tmpfs) is small
IMG=$D/q0.img

setup() {
	lio_scratch_fs $D 768 || return 1
	truncate -s ${SIZE_MB}M "$IMG" || return 1
	ls -l "$QT_DAEMON" || return 1
	qt_daemon_start --no-dbus -v || return 1
	SO=$(qt_user_create disk0 "@id=d0@file=$IMG" $((SIZE_MB << 20))) || return 1
	DEV=$(lio_loop_export "$SO") || return 1
	qt_log "qemu-tcmu serves $IMG as $DEV"
}

# the image file holds FILE at OFFSET_MB
img_has() { # FILE OFFSET_MB
	local n
	n=$(stat -c %s "$1")
	cmp -n "$n" "$1" <(dd if="$IMG" bs=1M skip="$2" count=$((n >> 20)) status=none)
}

check_identity() {
	sg_inq "$DEV" | tee /run/inq.txt
	grep -q 'Vendor identification: LIO-ORG' /run/inq.txt
	sg_readcap -l "$DEV" | tee /run/cap.txt
	grep -q "Last LBA=$(((SIZE_MB << 11) - 1))" /run/cap.txt
	[ "$(blockdev --getsize64 "$DEV")" = $((SIZE_MB << 20)) ]
}

check_dd_64m() {
	qt_pattern /run/p64 64
	dd if=/run/p64 of="$DEV" bs=1M seek=16 oflag=direct conv=fsync status=none
	cmp /run/p64 <(dd if="$DEV" bs=1M skip=16 count=64 iflag=direct status=none)
	img_has /run/p64 16
	rm -f /run/p64
}

check_fio_verify() {
	fio --name=verify --filename="$DEV" --ioengine=libaio --direct=1 --iodepth=32 \
		--rw=randwrite --bs=4k --offset=96M --size=16M --verify=crc32c --do_verify=1 \
		--verify_fatal=1 --output=/run/fio.txt
	grep -E 'err= *0' /run/fio.txt >/dev/null
	grep -E '^ +(write|read):' /run/fio.txt
}

check_mkfs_fsck() {
	mkfs.ext4 -q -F "$DEV"
	fsck.ext4 -f -n "$DEV"
}

# The daemon is started and stopped in the test's own shell (checks run in subshells).
# SIGKILL while a 32 MiB O_DIRECT write runs, then a new daemon takes over.
kill_mid_write() {
	qt_pattern /run/p32 32
	rm -f /run/dd.rc
	(
		dd if=/run/p32 of="$DEV" bs=64k seek=$((40 << 4)) oflag=direct status=none
		echo $? >/run/dd.rc
	) &
	sleep 0.5
	qt_stop qemu-tcmu KILL
	qt_log "daemon killed; dd done: $([ -e /run/dd.rc ] && echo yes || echo no)"
	sleep 1
	qt_daemon_start --no-dbus -v
}

check_sigkill_restart() {
	local i
	for i in $(seq 600); do
		[ -e /run/dd.rc ] && break
		sleep 0.1
	done
	[ "$(cat /run/dd.rc)" = 0 ] || qt_fail "dd failed ($(cat /run/dd.rc)) after the restart"
	grep -q 'd0: serving.*taken over' "$QT_LOG"
	cmp /run/p32 <(dd if="$DEV" bs=1M skip=40 count=32 iflag=direct status=none)
	img_has /run/p32 40
	rm -f /run/p32
}

# SIGKILL while mkfs.ext4 writes (and discards) the whole disk; after the takeover mkfs
# finishes and fsck -f finds the file system clean.
kill_mid_mkfs() {
	local stat=/sys/block/$(basename "$DEV")/stat base i pid
	base=$(awk '{ print $7 }' "$stat")
	rm -f /run/mkfs.rc /run/mkfs.mid
	(
		mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DEV"
		echo $? >/run/mkfs.rc
	) &
	# let mkfs write 1 MiB, then freeze the daemon (SIGSTOP) so that mkfs cannot finish
	# between our look and the kill, however slow or loaded the VM is
	for i in $(seq 3000); do
		[ -e /run/mkfs.rc ] && break
		[ "$(awk '{ print $7 }' "$stat")" -gt $((base + 2048)) ] && break
		sleep 0.01
	done
	pid=$(qt_pid qemu-tcmu)
	kill -STOP "$pid"
	if [ -e /run/mkfs.rc ]; then
		# it was faster than our polling: run it again against the frozen daemon, and
		# wait until its commands sit in the ring (the disk's in-flight counter)
		rm -f /run/mkfs.rc
		(
			mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DEV"
			echo $? >/run/mkfs.rc
		) &
		for i in $(seq 1000); do
			[ "$(awk '{ print $1 + $2 }' "/sys/block/$(basename "$DEV")/inflight")" -gt 0 ] && break
			sleep 0.01
		done
	fi
	[ -e /run/mkfs.rc ] && echo no >/run/mkfs.mid || echo yes >/run/mkfs.mid
	qt_stop qemu-tcmu KILL
	qt_log "daemon killed; in the middle of mkfs: $(cat /run/mkfs.mid)"
	sleep 1
	qt_daemon_start --no-dbus -v
}

check_mkfs_after_kill() {
	local i
	for i in $(seq 900); do
		[ -e /run/mkfs.rc ] && break
		sleep 0.1
	done
	[ "$(cat /run/mkfs.rc)" = 0 ] || qt_fail "mkfs failed ($(cat /run/mkfs.rc))"
	fsck.ext4 -f -n "$DEV"
	[ "$(cat /run/mkfs.mid)" = yes ] || qt_fail "mkfs had finished before the kill"
}

# SIGTERM (checked: exit 0), a device created while no daemon runs, a new daemon.
stop_create_start() {
	qt_daemon_stop
	STOP_RC=$?
	# enable does not wait for a reply: the daemon turned replies off on its way out
	truncate -s 16M $D/q1.img
	SO1=$(qt_user_create disk1 "@file=$D/q1.img" $((16 << 20))) || return 1
	qt_daemon_start --no-dbus -v || return 1
	DEV1=$(lio_loop_export "$SO1")
}

check_sigterm_and_takeover() {
	[ "$STOP_RC" = 0 ]
	grep -q 'draining and closing 1 device' "$QT_LOG"
	[ "$(grep -c 'd0: serving.*taken over' "$QT_LOG")" = 3 ]
	grep -q 'disk1: serving.*taken over' "$QT_LOG"
	qt_pattern /run/p8 8
	dd if=/run/p8 of="$DEV1" bs=1M oflag=direct status=none
	cmp /run/p8 <(dd if=$D/q1.img bs=1M count=8 status=none)
}

# enable must fail, and the log must say why
refused() { # NAME CFG SIZE WHY
	local d=$CFS/core/user_$LIO_HBA/$1
	mkdir -p "$d"
	echo -n "dev_config=qemu/$2" >"$d/control"
	echo -n "dev_size=$3" >"$d/control"
	if echo 1 >"$d/enable" 2>/run/enable.err; then
		qt_fail "enable of $1 ($2) succeeded"
		return 1
	fi
	qt_log "enable refused: $(cat /run/enable.err)"
	rmdir "$d"
	grep "refusing" "$QT_LOG" | tail -n1 | grep -q "$4"
}

check_refused() {
	truncate -s 16M $D/small.img
	refused bad1 "@file=$D/small.img@bogus=1" $((16 << 20)) "unknown option 'bogus'"
	refused bad2 "@file=$D/missing.img" $((16 << 20)) "No such file or directory"
	refused bad3 "@file=$D/small.img" $((32 << 20)) "exceeds the image"
}

check_reconfig() {
	local a
	# a device enabled while replies are on (one made while no daemon ran never waits
	# for our verdict, so its reconfiguration cannot be refused)
	truncate -s 16M $D/q3.img
	a=$(qt_user_create disk3 "@file=$D/q3.img" $((16 << 20)))/attrib
	echo $((8 << 20)) >"$a/dev_size"
	grep -q 'disk3: size now 8388608' "$QT_LOG"
	if echo $((64 << 20)) >"$a/dev_size" 2>/dev/null; then
		qt_fail "a dev_size beyond the image was accepted"
		return 1
	fi
	grep -q 'refusing dev_size 67108864' "$QT_LOG"
	[ "$(cat "$a/dev_size")" = $((8 << 20)) ]
	truncate -s 16M $D/q2.img
	echo -n "qemu/@file=$D/q2.img" >"$a/dev_config"
	grep -q "now serving $D/q2.img" "$QT_LOG"
	cat /sys/class/uio/uio*/name | grep -q "qemu/@file=$D/q2.img"
	if echo -n "qemu/@file=$D/missing.img" >"$a/dev_config" 2>/dev/null; then
		qt_fail "a dev_config naming a missing image was accepted"
		return 1
	fi
}

# tcmu-runner replies -ENOENT for subtypes it lacks; with replies on, the first reply
# wins and user:qemu creation would fail at random.
# wait until our log has N lines matching PATTERN
log_count() { # PATTERN N
	local i
	for i in $(seq 100); do
		[ "$(grep -c "$1" "$QT_LOG")" -ge "$2" ] && return 0
		sleep 0.1
	done
	qt_fail "$(grep -c "$1" "$QT_LOG") of $2 log lines '$1'"
}

create_many() { # PREFIX N
	local i d
	for i in $(seq "$2"); do
		truncate -s 8M "$D/$1$i.img"
		qt_user_create "$1$i" "@file=$D/$1$i.img" $((8 << 20)) >/dev/null
		d=$(lio_user_create "${1}qcow$i" qcow "$D/$1$i.img" $((8 << 20)))
	done
	[ -n "$d" ]
}

runner_first() {
	qt_daemon_stop
	lio_teardown
	lio_start_tcmu_runner || return 1
	qt_daemon_start --no-dbus -v
}

check_coexist_runner_first() {
	grep -q 'replies off.*tcmu-runner' "$QT_LOG"
	create_many ra 5
	log_count "serving $D/ra" 5
}

runner_second() {
	qt_daemon_stop
	lio_teardown
	lio_stop_tcmu_runner
	qt_daemon_start --no-dbus -v || return 1
	grep 'replies on' "$QT_LOG" | tail -n1
	lio_start_tcmu_runner || return 1
	sleep 6 # our daemon notices tcmu-runner within 5 s
}

check_coexist_runner_second() {
	[ "$(grep -c 'replies off.*tcmu-runner' "$QT_LOG")" = 2 ]
	create_many rb 5
	log_count "serving $D/rb" 5
}

setup || exit 1
qt_check "INQUIRY and capacity through tcm_loop" check_identity
qt_check "64 MiB O_DIRECT write reads back identical" check_dd_64m
qt_check "fio randwrite verify at iodepth 32" check_fio_verify
qt_check "mkfs.ext4 and fsck -f clean" check_mkfs_fsck
kill_mid_write
qt_check "SIGKILL mid-write, restart, dd completes" check_sigkill_restart
kill_mid_mkfs
qt_check "SIGKILL mid-mkfs, restart: mkfs completes, fsck -f clean" check_mkfs_after_kill
stop_create_start
qt_check "SIGTERM exits 0; devices made meanwhile are taken over" check_sigterm_and_takeover
qt_check "bad config, missing image, oversized dev_size refused" check_refused
qt_check "reconfig: dev_size, dev_config" check_reconfig
runner_first
qt_check "tcmu-runner first, then us: all creations succeed" check_coexist_runner_first
runner_second
qt_check "us first, then tcmu-runner: all creations succeed" check_coexist_runner_second
qt_summary
