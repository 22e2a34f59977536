#!/bin/bash
# Guest test: `qemu-tcmu export / unexport / exports` on the real configfs, no targetcli:
#   - without a running daemon, export refuses with a clear message and creates nothing;
#   - a bad config string, a missing image, an oversized --size: one line, nothing made;
#   - export IMG.qcow2 --loop prints its /dev/sdX; O_DIRECT writes read back, INQUIRY
#     shows LIO-ORG and the unit serial export wrote; a second export of the same name is
#     refused; `exports` lists it with its disk; unexport removes every object, the disk
#     goes, and the qcow2 image holds the data (qemu-img compare);
#   - export --iscsi IQN --demo --portal 127.0.0.1:3260: QEMU's libiscsi initiator writes the
#     whole disk and compares it, open-iscsi logs in and reads it; unexport, clean;
#   - a step failing after the backstore, tcm_loop disk and iSCSI LUN exist (a portal on
#     an address the host lacks): everything is rolled back in the kernel;
#   - issue 8: a vmdk (monolithicSparse, served through the QEMU helper) exported with
#     targetcli as /backstores/user:qemu on iSCSI reads back identical to its source
#     from an iSCSI initiator (qemu-img over libiscsi), and a write over iSCSI lands as
#     the same write by qemu-io on a copy of the vmdk does; the copy then exported with
#     `qemu-tcmu export --iscsi --demo` reads back as QEMU reads it.
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap lio_cleanup EXIT

S=/mnt/scratch
IMG=$S/d0.qcow2
IQN=iqn.2003-01.org.linux-iscsi.qt:export
IQN_VMDK=iqn.2003-01.org.linux-iscsi.qt:vmdk
IQN_VMDK2=iqn.2003-01.org.linux-iscsi.qt:vmdk2
QT=$QT_DAEMON

setup() {
	lio_start_dbus || return 1
	lio_scratch_fs $S 512 || return 1
	qemu-img create -q -f qcow2 "$IMG" 64M
}

clean() { # nothing left in configfs
	[ -z "$(lio_leftovers)" ] || qt_fail "left behind: $(lio_leftovers)"
}
# a check starts from an empty configfs: what a failed check left goes first (its
# failure is reported already)
fresh() {
	[ -z "$(lio_leftovers)" ] && return 0
	qt_log "removing what an earlier check left: $(lio_leftovers)"
	lio_teardown
}

# refused WANT CMD...: CMD fails with one line on stderr containing WANT
refused() {
	local want=$1 rc=0
	shift
	"$@" >/run/out 2>/run/err || rc=$?
	cat /run/out /run/err
	[ "$rc" != 0 ] || qt_fail "succeeded: $*"
	[ "$(grep -c . /run/err)" = 1 ] || qt_fail "expected one line on stderr"
	grep -qF -- "$want" /run/err || qt_fail "no '$want' in the error"
}
# fails WANT CMD...: refused, and configfs is clean
fails() {
	refused "$@"
	clean
}

check_no_daemon() {
	clean
	fails "no qemu-tcmu daemon serving user:qemu is running" "$QT" export "$IMG" --loop
	fails "no qemu-tcmu daemon serving user:qemu is running" "$QT" export "$IMG" --iscsi $IQN --demo
}

check_bad_input() {
	fails "unknown option 'colour'" "$QT" export "@file=$IMG@colour=red" --loop
	fails "could not open '$S/missing.qcow2': No such file or directory" \
		"$QT" export $S/missing.qcow2 --loop
	fails "exceeds the image's 67108864 bytes" "$QT" export "$IMG" --size 1G --loop
	fails "bad iSCSI target name" "$QT" export "$IMG" --iscsi foo --demo
}

check_loop() {
	local out dev serial
	out=$("$QT" export "$IMG" --loop)
	echo "$out"
	dev=$(awk '$2 == "tcm_loop" { print $NF }' <<<"$out")
	[ -b "$dev" ] || qt_fail "no disk in the output"
	echo "$dev" >/run/loopdev
	grep -q 'd0: serving' "$QT_LOG"
	[ "$(blockdev --getsize64 "$dev")" = $((64 << 20)) ]
	sg_inq "$dev" | grep -q 'Vendor identification: LIO-ORG'
	serial=$(cat $CFS/core/user_*/d0/wwn/vpd_unit_serial | sed 's/.*: //')
	[[ $serial =~ ^[0-9a-f-]{36}$ ]] || qt_fail "serial '$serial'"
	sg_inq -p 0x80 "$dev" | grep -q "$serial"
	qt_pattern /run/p16 16
	dd if=/run/p16 of="$dev" bs=1M seek=8 oflag=direct conv=fsync status=none
	cmp /run/p16 <(dd if="$dev" bs=1M skip=8 count=16 iflag=direct status=none)
	# the same name again: refused, nothing added
	refused "a user backstore named 'd0' exists already" "$QT" export "$IMG" --loop
	[ "$(ls -d $CFS/loopback/naa.* | wc -l)" = 1 ]
	[ "$(ls -d $CFS/core/user_* | wc -l)" = 1 ]
	"$QT" exports | tee /run/ls
	grep -q "^d0 core/user_[0-9]*/d0 67108864 qemu/$IMG\$" /run/ls
	grep -q "^  loopback naa.5001405[0-9a-f]* lun_0 $dev\$" /run/ls
}

check_unexport_loop() {
	local dev i
	dev=$(cat /run/loopdev)
	"$QT" unexport d0
	clean
	for i in $(seq 50); do
		[ -b "$dev" ] || break
		sleep 0.1
	done
	[ ! -b "$dev" ] || qt_fail "$dev still there"
	grep -q 'd0: closed' "$QT_LOG"
	fails "no user backstore named 'd0'" "$QT" unexport d0
	# the image holds what was written, as QEMU reads it
	truncate -s 64M /run/expect.raw
	dd if=/run/p16 of=/run/expect.raw bs=1M seek=8 conv=notrunc status=none
	qemu-img compare -f qcow2 -F raw "$IMG" /run/expect.raw
}

check_iscsi() {
	local out dev url=iscsi://127.0.0.1/$IQN/0
	out=$("$QT" export "$IMG" --name d1 --iscsi $IQN --demo --portal 127.0.0.1:3260)
	echo "$out"
	grep -q "^d1: iSCSI $IQN LUN 0 portal 127.0.0.1:3260" <<<"$out"
	# what it tells the initiator to log in to is what works
	[ "$(grep -o 'iscsi://[^)]*' <<<"$out")" = "iscsi://127.0.0.1:3260/$IQN/0" ]
	url=$(grep -o 'iscsi://[^)]*' <<<"$out")
	"$QT" exports | grep -q "^  iscsi $IQN lun_0 portal 127.0.0.1:3260\$"
	iscsi-inq "$url" | grep -q 'Vendor:LIO-ORG'
	qt_pattern /run/p64 64
	qemu-img convert -n -f raw -O raw /run/p64 "$url"
	qemu-img compare -f raw -F raw /run/p64 "$url"
	dev=$(lio_iscsi_login $IQN 127.0.0.1:3260)
	qt_log "open-iscsi: $IQN is $dev"
	cmp /run/p64 <(dd if="$dev" bs=1M count=64 iflag=direct status=none)
	lio_iscsi_logout $IQN
	"$QT" unexport d1
	clean
	qemu-img compare -f qcow2 -F raw "$IMG" /run/p64
}

check_rollback() {
	local before after i lpid
	before=$(ls /sys/block)
	# a port some other program listens on: the iSCSI portal, the last step, fails
	python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 3262)); s.listen(); time.sleep(600)' \
		</dev/null >/dev/null 2>&1 &
	lpid=$!
	for i in $(seq 100); do
		ss -Hltn 'sport = :3262' | grep -q . && break
		sleep 0.1
	done
	fails "/tpgt_1/np/127.0.0.1:3262: " \
		"$QT" export "$IMG" --name d2 --loop --iscsi $IQN --demo --portal 127.0.0.1:3262
	kill "$lpid"
	wait "$lpid" || true
	# the daemon served d2 until the rollback removed it, and the disk came and went
	grep -q 'd2: serving' "$QT_LOG"
	grep -q 'd2: closed' "$QT_LOG"
	for i in $(seq 50); do
		after=$(ls /sys/block)
		[ "$before" = "$after" ] && break
		sleep 0.1
	done
	[ "$before" = "$after" ] || qt_fail "disks before: $before, after: $after"
}

check_vmdk_targetcli() {
	local url=iscsi://127.0.0.1/$IQN_VMDK/0
	qt_pattern $S/v.raw 32
	qemu-img convert -f raw -O vmdk -o subformat=monolithicSparse $S/v.raw $S/v.vmdk
	qemu-img info $S/v.vmdk | grep -q 'create type: monolithicSparse'
	cp $S/v.vmdk $S/v-copy.vmdk
	qt_targetcli <<-EOF
		set global auto_save_on_exit=false
		/backstores/user:qemu create name=vmdk0 size=32M cfgstring=@id=vmdk0@file=$S/v.vmdk
		/iscsi create $IQN_VMDK
		/iscsi/$IQN_VMDK/tpg1 set attribute authentication=0 generate_node_acls=1 demo_mode_write_protect=0 prod_mode_write_protect=0
		/iscsi/$IQN_VMDK/tpg1/luns create /backstores/user:qemu/vmdk0
	EOF
	# probed as vmdk and served through the QEMU helper (qemu-nbd)
	grep -q "vmdk0: serving" "$QT_LOG"
	pgrep -af 'qemu-nbd.*/v\.vmdk' >&2
	qemu-img convert -f raw -O raw "$url" /run/v-read.raw
	qemu-img compare -f raw -F raw $S/v.raw /run/v-read.raw
	# one write over iSCSI, the same by qemu-io on the copy
	qemu-io -f raw -c 'write -P 0x5a 1M 64k' -c 'write -P 0xa5 20M 12k' "$url"
	qemu-io -f raw -c 'read -P 0x5a 1M 64k' -c 'read -P 0xa5 20M 12k' "$url"
	qemu-io -f vmdk -c 'write -P 0x5a 1M 64k' -c 'write -P 0xa5 20M 12k' $S/v-copy.vmdk
	qt_targetcli <<-EOF
		/iscsi delete $IQN_VMDK
		/backstores/user:qemu delete vmdk0
	EOF
	clean
	qemu-img check $S/v.vmdk
	qemu-img compare -f vmdk -F vmdk $S/v.vmdk $S/v-copy.vmdk
	# and no longer equal to the source: the writes landed
	if qemu-img compare -q -f vmdk -F raw $S/v.vmdk $S/v.raw; then
		qt_fail "the writes over iSCSI did not reach $S/v.vmdk"
	fi
}

check_vmdk_export() {
	local url=iscsi://127.0.0.1/$IQN_VMDK2/0
	qemu-img convert -f vmdk -O raw $S/v-copy.vmdk /run/vc.raw
	"$QT" export $S/v-copy.vmdk --iscsi $IQN_VMDK2 --demo --portal 127.0.0.1
	qemu-img convert -f raw -O raw "$url" /run/vc-read.raw
	qemu-img compare -f raw -F raw /run/vc.raw /run/vc-read.raw
	"$QT" unexport v-copy
	clean
}

check_sigterm() {
	qt_daemon_stop
}

# every check after the first starts from a clean configfs
check() { # NAME FUNC
	fresh
	qt_check "$@"
}

setup || exit 1
qt_check "no daemon running: export refused, nothing created" check_no_daemon
qt_daemon_start || exit 1
check "bad config, missing image, size, IQN: one line, nothing created" check_bad_input
check "export --loop: /dev/sdX, O_DIRECT data, serial, duplicate refused, exports" check_loop
qt_check "unexport: configfs clean, disk gone, the qcow2 holds the data" check_unexport_loop
check "export --iscsi: libiscsi writes and compares, open-iscsi reads; unexport" check_iscsi
check "a failing last step rolls everything back in the kernel" check_rollback
check "issue 8: vmdk via targetcli user:qemu on iSCSI reads and writes like qemu-io" \
	check_vmdk_targetcli
check "vmdk via qemu-tcmu export --iscsi reads as QEMU reads it" check_vmdk_export
qt_check "SIGTERM: exit 0" check_sigterm
qt_summary
