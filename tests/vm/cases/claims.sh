#!/bin/bash
# Guest test: two qemu-tcmu daemons share the handler subtype qemu on one kernel, each
# claiming a disjoint set of backstores (--claim): the HA gateway layout on one host, and
# hosts that split LUNs between daemons.
#  - backstores of both sets created in turn: every enable succeeds at once, each device
#    is served by its claimant only (daemon logs), data written through tcm_loop lands in
#    the right image;
#  - a bad config string in either set: enable fails with the claimant's verdict (the
#    other daemon stays silent; a "not mine" from it would have failed it at random);
#  - SIGKILL of one daemon and a restart: it takes over its own devices only, the other
#    daemon's devices keep serving meanwhile, I/O on the taken-over ones completes;
#  - ALUA groups set up in configfs on one device (ceph-iscsi's "ao" + "ano2" layout):
#    INQUIRY reports implicit TPGS, sg_rtpg lists both groups with their states and the
#    LUN's relative port, VPD 0x83 names the port and its group, and a state written to
#    configfs shows in the next RTPG;
#  - removal of every backstore: each REMOVED answered by its claimant, no rmdir hangs;
#    both daemons exit 0 on SIGTERM.
# Run: tests/vm/run.sh tests/vm/cases/claims.sh
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
trap cleanup EXIT

D=/mnt/claims
SIZE_MB=32
CLAIM_A=(--claim 'gw-a-*')
CLAIM_B=(--claim '*' --claim '!gw-a-*')

cleanup() {
	alua_off
	lio_teardown
	qt_stop gw-a TERM 15
	qt_stop gw-b TERM 15
	lio_cleanup
}

# start_gw NAME CLAIMS...: a daemon logging to $LIO_LOGDIR/NAME.log, ready when it says so
start_gw() {
	local name=$1
	shift
	qt_spawn "$name" "$QT_DAEMON" --no-dbus -v "$@" || return 1
	qt_wait_log "serving 'qemu/' devices" "$LIO_LOGDIR/$name.log" 30 || return 1
	lio_wait_netlink_unblocked
}

serves() { grep -q -- "$2: serving" "$LIO_LOGDIR/$1.log"; } # GW ID

setup() {
	lio_scratch_fs $D 512 || return 1
	for n in a0 a1 b0 b1; do truncate -s ${SIZE_MB}M "$D/$n.img" || return 1; done
	start_gw gw-a "${CLAIM_A[@]}" || return 1
	start_gw gw-b "${CLAIM_B[@]}"
}

create_all() {
	local n t0
	for n in a0 b0 a1 b1; do
		t0=$(qt_ms)
		qt_user_create "gw-${n:0:1}-${n:1}" "@id=$n@file=$D/$n.img" $((SIZE_MB << 20)) >/dev/null
		qt_log "gw-${n:0:1}-${n:1}: enabled in $(($(qt_ms) - t0)) ms"
	done
	for n in a0 a1; do serves gw-a $n && ! serves gw-b $n; done
	for n in b0 b1; do serves gw-b $n && ! serves gw-a $n; done
}

# write a random MiB at 1 MiB through tcm_loop, read it back, find it in the image
write_check() { # NAME
	local so=$CFS/core/user_$LIO_HBA/gw-${1:0:1}-${1:1} dev
	dev=$(lio_loop_export "$so")
	qt_pattern /run/p-$1 1
	dd if=/run/p-$1 of="$dev" bs=1M seek=1 oflag=direct conv=fsync status=none
	cmp /run/p-$1 <(dd if="$dev" bs=1M skip=1 count=1 iflag=direct status=none)
	cmp /run/p-$1 <(dd if="$D/$1.img" bs=1M skip=1 count=1 status=none)
	echo "$dev" >/run/dev-$1
}

io_all() { for n in a0 a1 b0 b1; do write_check $n; done; }

# enable of a missing image fails at once, with the claimant's reason in its log
refused() {
	local gw name d t0
	for gw in a b; do
		name=gw-$gw-bad
		d=$CFS/core/user_$LIO_HBA/$name
		mkdir -p "$d"
		echo -n "dev_config=qemu/@id=bad$gw@file=$D/missing.img" >"$d/control"
		echo -n "dev_size=$((1 << 20))" >"$d/control"
		t0=$(qt_ms)
		if echo 1 2>/dev/null >"$d/enable"; then
			qt_fail "$name: enable succeeded"
			return 1
		fi
		qt_log "$name: enable refused in $(($(qt_ms) - t0)) ms"
		grep -q "refusing.*$name" "$LIO_LOGDIR/gw-$gw.log"
		! grep -q "refusing.*$name" "$LIO_LOGDIR/gw-$([ $gw = a ] && echo b || echo a).log"
		rmdir "$CFS/core/user_$LIO_HBA/$name"
	done
}

# SIGKILL gw-a mid-I/O; gw-b's devices serve meanwhile; a new gw-a takes over a0 and a1
kill_restart() {
	local deva
	deva=$(cat /run/dev-a0)
	qt_stop gw-a KILL 5 || true
	write_check_again b0
	mv "$LIO_LOGDIR/gw-a.log" "$LIO_LOGDIR/gw-a.1.log"
	start_gw gw-a "${CLAIM_A[@]}"
	grep -q "a0: serving.*taken over" "$LIO_LOGDIR/gw-a.log"
	grep -q "a1: serving.*taken over" "$LIO_LOGDIR/gw-a.log"
	qt_pattern /run/p-again 1
	dd if=/run/p-again of="$deva" bs=1M seek=3 oflag=direct conv=fsync status=none
	cmp /run/p-again <(dd if="$D/a0.img" bs=1M skip=3 count=1 status=none)
	# the survivor never let go of its own devices
	! grep -q "b0: closed" "$LIO_LOGDIR/gw-b.log"
}

write_check_again() { # NAME: another MiB at 2 MiB on its existing tcm_loop disk
	local dev
	dev=$(cat /run/dev-$1)
	qt_pattern /run/q-$1 1
	dd if=/run/q-$1 of="$dev" bs=1M seek=2 oflag=direct conv=fsync status=none
	cmp /run/q-$1 <(dd if="$D/$1.img" bs=1M skip=2 count=1 status=none)
}

# ALUA on gw-a-0's tcm_loop LUN: our group "ao" (id 1, the LUN's port) and "ano2" (id 2)
alua() {
	local so=$CFS/core/user_$LIO_HBA/gw-a-0 dev sg lun g
	dev=$(cat /run/dev-a0)
	sg=$(lio_loop_sg "$dev")
	sg_inq "$dev" | tee /run/inq-a0.txt
	grep -q 'TPGS=0' /run/inq-a0.txt # no groups yet: no ALUA
	for g in ao:1:0 ano2:2:1; do
		mkdir "$so/alua/${g%%:*}"
		echo "$(echo "$g" | cut -d: -f2)" >"$so/alua/${g%%:*}/tg_pt_gp_id"
		echo "${g##*:}" >"$so/alua/${g%%:*}/alua_access_state"
		echo 1 >"$so/alua/${g%%:*}/alua_support_active_nonoptimized"
	done
	echo 45 >"$so/alua/ao/implicit_trans_secs"
	lun=$(find $CFS/loopback -maxdepth 5 -lname "*gw-a-0" | head -n1)
	echo ao >"$(dirname "$lun")/alua_tg_pt_gp"
	cat "$so/alua/ao/members"
	sg_inq "$dev" | tee /run/inq-a0.txt
	grep -q 'TPGS=1' /run/inq-a0.txt
	# LIO raised INQUIRY DATA HAS CHANGED when the LUN changed groups: take it
	sg_turs "$sg" >/dev/null 2>&1 || sg_turs "$sg"
	sg_rtpg -d "$sg" | tee /run/rtpg.txt
	grep -A3 'target port group id : 0x1' /run/rtpg.txt | grep -q 'active/optimized'
	grep -A3 'target port group id : 0x2' /run/rtpg.txt | grep -q 'active/non optimized'
	grep -A6 'target port group id : 0x1' /run/rtpg.txt | grep -q 'Relative target port ids:'
	sg_rtpg -e -d "$sg" | grep -qi 'implicit transition time: 45'
	sg_vpd -p di "$dev" | tee /run/vpd83.txt
	grep -q 'Relative target port' /run/vpd83.txt
	grep -A1 'Target port group' /run/vpd83.txt | grep -q '0x1'
	# the kernel enforces what configfs says; RTPG follows at once
	echo 1 >"$so/alua/ao/alua_access_state"
	sg_turs "$sg" >/dev/null 2>&1 || true # ASYMMETRIC ACCESS STATE CHANGED
	sg_rtpg -d "$sg" | grep -A3 'target port group id : 0x1' | grep -q 'active/non optimized'
	alua_off
}

alua_off() { # put gw-a-0's LUN back in the default group, remove ours
	local so=$CFS/core/user_$LIO_HBA/gw-a-0 lun g
	lun=$(find $CFS/loopback -maxdepth 5 -lname "*gw-a-0" | head -n1)
	[ -n "$lun" ] && echo default_tg_pt_gp >"$(dirname "$lun")/alua_tg_pt_gp"
	for g in ao ano2; do [ -d "$so/alua/$g" ] && rmdir "$so/alua/$g"; done
	return 0
}

remove_all() {
	local t0
	alua_off
	t0=$(qt_ms)
	lio_teardown
	[ -z "$(lio_leftovers)" ]
	qt_log "removed everything in $(($(qt_ms) - t0)) ms"
	for n in a0 a1; do grep -q "$n: closed" "$LIO_LOGDIR/gw-a.log"; done
	! grep -q "b[01]: closed" "$LIO_LOGDIR/gw-a.log"
	for n in b0 b1; do grep -q "$n: closed" "$LIO_LOGDIR/gw-b.log"; done
	qt_stop gw-a TERM 15
	qt_stop gw-b TERM 15
}

qt_check "two daemons, one subtype, disjoint claims" setup
qt_check "backstores of both sets enable; each served by its claimant" create_all
qt_check "data through tcm_loop lands in the right image" io_all
qt_check "a bad config is refused by its claimant alone" refused
qt_check "SIGKILL and restart: takeover of its own devices only" kill_restart
qt_check "ALUA groups from configfs: TPGS, RTPG, VPD 0x83" alua
qt_check "removal answered by each claimant; both exit 0" remove_all
qt_summary
