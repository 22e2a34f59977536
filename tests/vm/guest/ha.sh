# shellcheck shell=bash
# ha.sh - the test bed for highly available RBD gateways (tests/vm/cases/ha-*.sh), on top
# of lib.sh:  . "$VM_HARNESS/guest/lib.sh"; . "$VM_HARNESS/guest/ha.sh"
#
# One guest plays a whole deployment: a one-node Ceph (tests/ceph/ceph-one-node.sh, no mgr
# unless HA_MGR=1), two gateways and one initiator.  Each gateway is a qemu-tcmu daemon
# serving subtype rbd (tcmu-runner's config string, as ceph-iscsi writes it) with --claim
# for its own backstore and its own host name (a UTS namespace: the service map names
# daemons "<host>:<pool>/<image>").  Both backstores are the same RBD image with the same
# unit serial, so an initiator sees one LU through two gateways, and each is exported the
# way ceph-iscsi exports a disk on a gateway host:
#
#   gateway  backstore  target        tpgt_1 (tag 1)            tpgt_2 (tag 2)
#   A        gw-a-lun   $HA_IQN_PFX-a  127.0.0.1:3260, enabled  disabled (B's port)
#   B        gw-b-lun   $HA_IQN_PFX-b  disabled (A's port)      127.0.0.2:3260, enabled
#
# and on each backstore the implicit ALUA groups of ceph-iscsi's alua.py: "ao" (id 1, the
# owner gateway A's portal group, Active/Optimized) and "ano2" (id 2, Active/Non-optimized),
# tg_pt_gp_id = the TPG tag, LUNs created in tag order so that the relative port ids agree
# across gateways (1 = A's port, 2 = B's), as on two real gateway hosts.  A gateway host
# holds one IQN in real life; here the two gateways share a kernel, so each has its own.
#
# The initiator: open-iscsi logged in to both portals, systemd-udevd (device-mapper and
# multipath-tools need it: without it libdevmapper waits for udev cookies and multipathd
# sees no path's WWID) and multipathd with Ceph's settings for LIO-ORG/TCMU device
# (doc/rbd/iscsi-initiator-linux.rst: failover grouping, prio alua, "1 alua",
# no_path_retry queue), except failback: manual instead of 60 s, so that the gateway
# carrying the I/O is the one the last failover chose (with the ALUA states static in
# configfs, failback would move the I/O back to A 60 s after its restart, in the middle of
# a phase at TCG speed).
#
#   ha_ceph_start                 Ceph up, $CEPH_CONF exported, image $HA_IMAGE created
#   ha_gw_start G                 gateway G (a|b): qemu-tcmu -x rbd --claim 'gw-G-*', host
#                                 name $HA_HOST_PFX-G; waits until it serves
#   ha_gw_signal G SIG            signal it (KILL, STOP, CONT) without waiting
#   ha_gw_down G                  SIGKILL, wait for its end
#   ha_cut G / ha_uncut G         cut gateway G from the cluster (every packet its sockets
#                                 send is dropped: mon and OSDs), and back
#   ha_backstores                 gw-a-lun and gw-b-lun: rbd config, serial, cmd_time_out
#   ha_export                     the targets, TPGs, portals and ALUA groups above
#   ha_initiator                  udevd, multipathd, logins; sets HA_SD_A, HA_SD_B, HA_MPATH
#                                 (also in $LIO_LOGDIR/ha.env: checks run in subshells)
#   ha_writes SDX / ha_ios SDX    writes / reads+writes completed on a path (/sys/block stat)
#   ha_active_path                a or b: the path the multipath device writes through now
#   ha_wait_failover G MS IOS     wait until an I/O completes on G's path (ha_ios grows past
#                                 IOS); prints the milliseconds since MS (qt_ms)
#   ha_path_state SDX             multipathd's view of a path: "active ready running", ...
#   ha_wait_path_ready SDX [S]    wait until multipathd has the path back (active, ready)
#   ha_cleanup                    everything down, logs saved (the EXIT trap)

HA_IMAGE=${HA_IMAGE:-ha}
HA_SIZE_MB=${HA_SIZE_MB:-128}
HA_IQN_PFX=${HA_IQN_PFX:-iqn.2003-01.org.linux-iscsi.qt:ha-gw}
HA_HOST_PFX=${HA_HOST_PFX:-ha-gw}
# The gateways' RADOS op timeout (tcmu-runner's config string option; ceph-iscsi's default
# is 30) and the kernel's TCMU command timeout (ceph-iscsi writes 0: no timeout).  A dead
# gateway answers nothing, so the kernel's timeout is what fails its commands and makes the
# initiator move to another path; it must be longer than the op timeout, so that a live
# gateway answers first.
HA_OSD_OP_TIMEOUT=${HA_OSD_OP_TIMEOUT:-10}
HA_CMD_TIME_OUT=${HA_CMD_TIME_OUT:-15}
HA_CEPH_DIR=/run/ceph
HA_TAG_a=1 HA_TAG_b=2
# each gateway runs with its own group id (still uid 0 with its capabilities), so that the
# guest's firewall can cut one gateway from the cluster while the other keeps its traffic
HA_GID_a=4201 HA_GID_b=4202
HA_IP_a=127.0.0.1 HA_IP_b=127.0.0.2

ha_ceph_start() {
	local t
	t=$(qt_ms)
	CEPH_MEMSTORE_BYTES=${CEPH_MEMSTORE_BYTES:-$((768 << 20))} CEPH_MGR=${HA_MGR:-0} \
		"$SRC_DIR/tests/ceph/ceph-one-node.sh" start "$HA_CEPH_DIR" >&2 || return 1
	export CEPH_CONF=$HA_CEPH_DIR/ceph.conf
	qt_log "ceph up in $(($(qt_ms) - t)) ms"
	# default features: layering, exclusive-lock, object-map, fast-diff, deep-flatten
	rbd create --size "${HA_SIZE_MB}M" "rbd/$HA_IMAGE"
}

ha_gw_start() { # a|b
	local g=$1 log=$LIO_LOGDIR/gw-$1.log
	[ -e "$log" ] && mv "$log" "$log.$(date +%s%N)"
	qt_spawn "gw-$g" setpriv --regid "$(eval echo "\$HA_GID_$g")" --clear-groups \
		unshare --uts sh -c 'hostname "$0" && exec "$@"' "$HA_HOST_PFX-$g" \
		"$QT_DAEMON" -x rbd --no-dbus --claim "gw-$g-*" || return 1
	qt_wait_log "serving 'rbd/' devices" "$log" 60 || return 1
	lio_wait_netlink_unblocked
	qt_log "gateway $g up (pid $(qt_pid "gw-$g"))"
}
# A gateway cut from the cluster: nftables drops, on the output hook, every packet sent by a
# socket of G's group id.  The cluster is on loopback, so that is all of G's RADOS traffic
# (mon and OSD, both directions stall: not even TCP acknowledgements leave G), while the
# other gateway and the initiator (iSCSI is the kernel's, not the gateway's) are untouched.
ha_cut() { # a|b
	modprobe nf_tables 2>/dev/null
	nft add table inet qt_ha_cut &&
		nft add chain inet qt_ha_cut out '{ type filter hook output priority 0; policy accept; }' &&
		nft add rule inet qt_ha_cut out meta skgid "$(eval echo "\$HA_GID_$1")" counter drop
}
ha_uncut() { # a|b: the drop counter is reported
	qt_log "cut of gateway $1: $(nft list chain inet qt_ha_cut out | grep -o 'packets [0-9]*') dropped"
	nft delete table inet qt_ha_cut
}
ha_gw_signal() { kill "-$2" "$(qt_pid "gw-$1")"; } # a|b SIGNAL
ha_gw_down() { qt_stop "gw-$1" KILL 10 || true; }

ha_so() { echo "$CFS/core/user_$LIO_HBA/gw-$1-lun"; }

# the image's unit serial: ceph-iscsi gives both gateways' backstores the disk's wwn
ha_backstores() {
	local g so serial
	serial=${HA_SERIAL:-$(cat /proc/sys/kernel/random/uuid)}
	for g in a b; do
		so=$(lio_user_create "gw-$g-lun" rbd \
			"rbd/$HA_IMAGE;osd_op_timeout=$HA_OSD_OP_TIMEOUT" $((HA_SIZE_MB << 20))) ||
			return 1
		echo -n "$serial" >"$so/wwn/vpd_unit_serial" || return 1
		echo "$HA_CMD_TIME_OUT" >"$so/attrib/cmd_time_out" || return 1
		grep -q "gw-$g-lun: serving" "$LIO_LOGDIR/gw-$g.log" ||
			{ qt_fail "gw-$g-lun not served by gateway $g"; return 1; }
	done
	echo "$serial" >"$LIO_LOGDIR/ha.serial"
}

# ALUA group NAME (id ID, STATE) on backstore SO, as ceph-iscsi's alua.py makes it
ha_alua_group() { # SO NAME ID STATE
	local d=$1/alua/$2
	mkdir "$d" || return 1
	echo "$3" >"$d/tg_pt_gp_id"
	echo 1 >"$d/alua_access_type" # implicit
	echo "$4" >"$d/alua_access_state"
	echo 1 >"$d/alua_support_active_optimized"
	echo 1 >"$d/alua_support_active_nonoptimized"
	echo 0 >"$d/alua_support_offline"
	echo 0 >"$d/alua_support_unavailable"
	echo 1 >"$d/alua_support_transitioning"
	echo 0 >"$d/nonop_delay_msecs"
	echo $((HA_OSD_OP_TIMEOUT + 15)) >"$d/implicit_trans_secs"
}

ha_export() {
	local g so iqn tag t own
	for g in a b; do
		so=$(ha_so $g)
		iqn=$HA_IQN_PFX-$g
		own=$(eval echo "\$HA_TAG_$g")
		ha_alua_group "$so" ao 1 0 || return 1
		ha_alua_group "$so" ano2 2 1 || return 1
		for tag in 1 2; do # in tag order: relative port id = tag on both gateways
			t=$CFS/iscsi/$iqn/tpgt_$tag
			mkdir -p "$t/lun/lun_0" || return 1
			ln -s "$so" "$t/lun/lun_0/gw-$g-lun" || return 1
			if [ $tag = 1 ]; then
				echo ao >"$t/lun/lun_0/alua_tg_pt_gp"
			else
				echo ano2 >"$t/lun/lun_0/alua_tg_pt_gp"
			fi
			[ $tag = "$own" ] || continue
			mkdir "$t/np/$(eval echo "\$HA_IP_$g"):3260" || return 1
			echo 0 >"$t/attrib/authentication"
			echo 1 >"$t/attrib/generate_node_acls"
			echo 1 >"$t/attrib/cache_dynamic_acls"
			echo 0 >"$t/attrib/demo_mode_write_protect"
			echo 1 >"$t/enable"
		done
	done
}

ha_multipath_conf() {
	mkdir -p /etc/multipath
	: >/etc/multipath/wwids
	cat >/etc/multipath.conf <<'EOF'
# the guest's initiator: Ceph's settings for its iSCSI gateways
# (doc/rbd/iscsi-initiator-linux.rst), and nothing but LIO's TCMU disks
defaults {
	user_friendly_names no
	find_multipaths no
	polling_interval 2
}
blacklist {
	device {
		vendor ".*"
	}
}
blacklist_exceptions {
	device {
		vendor "LIO-ORG"
		product "TCMU device"
	}
}
devices {
	device {
		vendor "LIO-ORG"
		product "TCMU device"
		hardware_handler "1 alua"
		path_grouping_policy "failover"
		path_selector "queue-length 0"
		failback manual
		path_checker tur
		prio alua
		prio_args exclusive_pref_bit
		fast_io_fail_tmo 25
		no_path_retry queue
	}
}
EOF
}

ha_initiator() {
	local i name sda sdb
	modprobe -a dm_multipath dm_queue_length scsi_dh_alua iscsi_tcp || return 1
	ha_multipath_conf
	qt_spawn udevd /lib/systemd/systemd-udevd || return 1
	for i in $(seq 100); do
		[ -S /run/udev/control ] && break
		sleep 0.1
	done
	qt_spawn multipathd multipathd -d -s || return 1
	# "show daemon" answers "pid N idle" or "... running" once the socket is up
	for i in $(seq 100); do
		multipathd show daemon 2>/dev/null | grep -q '^pid ' && break
		sleep 0.2
	done
	qt_log "udevd and multipathd up"
	sda=$(lio_iscsi_login "$HA_IQN_PFX-a" "$HA_IP_a:3260") || return 1
	sdb=$(lio_iscsi_login "$HA_IQN_PFX-b" "$HA_IP_b:3260") || return 1
	udevadm settle -t 60 || true
	for i in $(seq 150); do
		name=$(dmsetup ls --target multipath 2>/dev/null | awk 'NR == 1 { print $1 }')
		[ -n "$name" ] && [ -b "/dev/mapper/$name" ] &&
			[ "$(ls "/sys/block/$(basename "$(readlink -f "/dev/mapper/$name")")/slaves" | wc -l)" = 2 ] &&
			break
		name=
		sleep 0.2
	done
	multipath -ll >&2 || true
	[ -n "$name" ] || { qt_fail "multipath built no map of $sda and $sdb"; return 1; }
	cat >"$LIO_LOGDIR/ha.env" <<EOF
HA_SD_A=$sda
HA_SD_B=$sdb
HA_MPATH=/dev/mapper/$name
EOF
	qt_log "multipath: /dev/mapper/$name over $sda (gateway a) and $sdb (gateway b)"
}
ha_env() { . "$LIO_LOGDIR/ha.env"; }

# (builtins only: these run in polling loops, and a fork costs milliseconds under TCG)
ha_writes() {
	local r w
	read -r r _ _ _ w _ <"/sys/block/${1##*/}/stat" && echo "$w"
}
ha_ios() { # reads + writes
	local r w
	read -r r _ _ _ w _ <"/sys/block/${1##*/}/stat" && echo $((r + w))
}
ha_sd() {
	[ -n "${HA_SD_A:-}" ] || ha_env
	if [ "$1" = a ]; then echo "$HA_SD_A"; else echo "$HA_SD_B"; fi
}

# which gateway's path the multipath device writes through: the one whose write count
# grows (waits up to 20 s for writes to happen)
ha_active_path() {
	local a b i sda sdb
	sda=$(ha_sd a) sdb=$(ha_sd b)
	a=$(ha_writes "$sda") b=$(ha_writes "$sdb")
	for i in $(seq 200); do
		sleep 0.1
		[ "$(ha_writes "$sda")" -gt "$a" ] && { echo a; return 0; }
		[ "$(ha_writes "$sdb")" -gt "$b" ] && { echo b; return 0; }
	done
	echo none
	return 1
}

# wait until an I/O completes on gateway G's path after SINCE (ms since boot; IOS_THEN:
# ha_ios of the path then); prints the time it took from SINCE
ha_wait_failover() { # G SINCE_MS IOS_THEN [SECS]
	local sd i
	sd=$(ha_sd "$1")
	for i in $(seq $((${4:-240} * 10))); do
		if [ "$(ha_ios "$sd")" -gt "$3" ]; then
			echo $(($(qt_ms) - $2))
			return 0
		fi
		sleep 0.1
	done
	qt_fail "no write completed on gateway $1's path ($sd) within ${4:-240} s"
}

# make the initiator send its I/O through gateway G: with failback manual it stays on the
# path group the last failover chose, and that is racy on a gateway without retryable
# statuses (the survivor's writes wait for the lock longer than the kernel's cmd_time_out,
# its path fails too, and the initiator may end up back on the restarted one)
ha_use_gateway() { # a|b
	local grp name
	ha_env
	name=${HA_MPATH##*/}
	multipathd show map "$name" topology >/run/topo.txt 2>&1 || true
	# the number of the path group holding G's path, in the order the map lists them
	grp=$(awk -v d="$(basename "$(ha_sd "$1")")" '/policy=/ { n++ } $0 ~ " " d " " { print n; exit }' \
		/run/topo.txt)
	[ -n "$grp" ] || { cat /run/topo.txt >&2; qt_fail "no path group of gateway $1"; return 1; }
	qt_log "I/O through gateway $1: multipathd switchgroup map $name group $grp"
	multipathd switchgroup map "$name" group "$grp" >&2
}

ha_path_state() { # SDX: "dm-state checker-state online-state" as multipathd shows it
	multipathd show paths format "%d %t %T %o" 2>/dev/null |
		awk -v d="$(basename "$1")" '$1 == d { print $2, $3, $4 }'
}
ha_wait_path_ready() { # SDX [SECS]
	local i
	for i in $(seq $((${2:-90} * 5))); do
		[ "$(ha_path_state "$1")" = "active ready running" ] && return 0
		sleep 0.2
	done
	multipathd show paths >&2 || true
	qt_fail "path $1 not back within ${2:-90} s: $(ha_path_state "$1")"
}

# remove the ALUA groups (a backstore with groups cannot be removed)
ha_alua_off() {
	local so g
	for so in "$CFS"/core/user_*/gw-*; do
		for g in "$so"/alua/*; do
			[ -d "$g" ] && [ "${g##*/}" != default_tg_pt_gp ] && rmdir "$g"
		done
	done
	return 0
}

ha_cleanup() {
	local g
	for g in a b; do
		qt_alive "gw-$g" && kill -CONT "$(qt_pid "gw-$g")" 2>/dev/null
		# a dead gateway answers no REMOVED: its backstore's rmdir would wait for ever
		[ -d "$(ha_so $g)" ] && ! qt_alive "gw-$g" && ha_gw_start $g
	done
	nft delete table inet qt_ha_cut 2>/dev/null
	mountpoint -q /mnt/ha && umount -l /mnt/ha
	if qt_alive multipathd; then
		multipathd disablequeueing maps >/dev/null 2>&1
		multipath -F >/dev/null 2>&1
	fi
	qt_alive iscsid && lio_iscsi_logout
	lio_teardown 2>/dev/null # the backstores stay: their ALUA groups first
	ha_alua_off
	lio_teardown
	[ -z "$(lio_leftovers)" ] || echo "ha_cleanup: left in configfs: $(lio_leftovers)" >&2
	for g in a b; do qt_stop "gw-$g" TERM 15; done
	qt_stop multipathd TERM 10
	qt_stop udevd TERM 10
	dmesg >"$LIO_LOGDIR/dmesg-full.log" 2>/dev/null
	lio_cleanup
	"$SRC_DIR/tests/ceph/ceph-one-node.sh" stop "$HA_CEPH_DIR"
	qt_save "$HA_CEPH_DIR/log"
}
