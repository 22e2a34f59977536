#!/bin/bash
# Guest test (vm-ha-ceph-iscsi): ceph-iscsi 3.5 (Debian's package) in
# front of our daemon instead of tcmu-runner.  A one-node Ceph with a mgr (gwcli reads
# pool statistics through it), rbd-target-api with api_secure off and minimum_gateways 1,
# then gwcli creates the target, the gateway (this host, 10.99.0.1, skipchecks: the
# package checks look for tcmu-runner's RPM) and a disk; rtslib writes a user:rbd backstore
# with tcmu-runner's config string, which qemu-tcmu -x rbd serves; then a gwcli host ACL:
# its initiator logs in and writes the disk, another initiator is refused.
# Run: tests/vm/run.sh -t 1500 -m 4096 tests/vm/cases/ha-ceph-iscsi.sh
set -uo pipefail
. "$VM_HARNESS/guest/lib.sh"
. "$VM_HARNESS/guest/ha.sh"
trap 'qt_stop rbd-target-api TERM 30; lio_teardown; qt_stop gw TERM 15; lio_cleanup; "$SRC_DIR/tests/ceph/ceph-one-node.sh" stop "$HA_CEPH_DIR"' EXIT

IQN=iqn.2003-01.com.redhat.iscsi-gw:iscsi-igw
GW= # this host as ceph-iscsi names it: socket.getfqdn()
# ceph-iscsi names a gateway by socket.getfqdn() and reaches its API by that name: with the
# host's /etc/hosts (127.0.0.1 localhost ... vm) that is "localhost", which gwcli refuses
# as the first gateway; and rbd-target-api refuses a gateway IP that no interface of the
# host has.  The guest gets a gateway host's own name and address (on a dummy interface),
# the name bound over /etc/hosts (the root is read-only).
GW_HOST=qt-gw1 GW_DOMAIN=qt.test GW_IP=10.99.0.1

no_health_pool() {
	local i
	for i in $(seq 30); do # the mgr may create it a little after it started
		ceph osd pool ls | grep -qx device_health_metrics && break
		sleep 1
	done
	ceph osd pool rm device_health_metrics device_health_metrics \
		--yes-i-really-really-mean-it >&2 || true
}

setup() {
	printf '127.0.0.1 localhost\n%s %s.%s %s\n' "$GW_IP" "$GW_HOST" "$GW_DOMAIN" "$GW_HOST" \
		>/run/hosts
	mount --bind /run/hosts /etc/hosts || return 1
	modprobe dummy 2>/dev/null
	ip link add qtgw0 type dummy && ip addr add "$GW_IP/24" dev qtgw0 && ip link set qtgw0 up ||
		return 1
	hostname "$GW_HOST"
	HA_MGR=1 ha_ceph_start || return 1
	# the mgr's devicehealth module creates the pool device_health_metrics, on which gwcli's
	# disk creation fails (a KeyError in its pool statistics: 'device_health_metrics')
	no_health_pool
	mkdir -p /etc/ceph /var/log/rbd-target-api
	cp "$HA_CEPH_DIR/ceph.conf" /etc/ceph/ceph.conf
	cp "$HA_CEPH_DIR"/ceph.client.admin.keyring /etc/ceph/ 2>/dev/null ||
		cp "$HA_CEPH_DIR"/*.keyring /etc/ceph/ceph.client.admin.keyring
	cat >/etc/ceph/iscsi-gateway.cfg <<EOF
[config]
cluster_name = ceph
gateway_keyring = ceph.client.admin.keyring
api_secure = false
api_user = admin
api_password = admin
api_port = 5000
trusted_ip_list = 127.0.0.1,$GW_IP
minimum_gateways = 1
log_to_stderr = true
EOF
	qt_spawn gw "$QT_DAEMON" -x rbd --no-dbus || return 1
	qt_wait_log "serving 'rbd/' devices" "$LIO_LOGDIR/gw.log" 60 || return 1
	qt_spawn rbd-target-api rbd-target-api || return 1
	qt_wait_log "Running on" "$LIO_LOGDIR/rbd-target-api.log" 300
}

gw() { # gwcli command, logged with its time
	local t rc=0
	t=$(qt_ms)
	timeout 300 gwcli "$@" >&2 || rc=$?
	qt_log "gwcli $* -> $rc ($(($(qt_ms) - t)) ms)"
	return $rc
}

create() {
	GW=$(python3 -c 'import socket; print(socket.getfqdn())')
	qt_log "this host for ceph-iscsi: $GW"
	gw /iscsi-targets create "$IQN"
	gw "/iscsi-targets/$IQN/gateways" create "$GW" "$GW_IP" skipchecks=true
	no_health_pool
	gw ls / >&2 || true
	gw /disks create pool=rbd image=disk1 size=64M
	gw "/iscsi-targets/$IQN/disks" add rbd/disk1
	gw ls / >&2 || true
	find "$CFS/core" "$CFS/iscsi" -maxdepth 4 >&2 || true
	# gwcli exits 0 on refused requests: the outcome is checked in LIO and our daemon
	grep -q 'serving rbd:rbd/disk1' "$LIO_LOGDIR/gw.log"
	[ -d "$CFS/iscsi/$IQN/tpgt_1/lun/lun_0" ] || { qt_fail "no LUN in ceph-iscsi's target"; return 1; }
}

# gwcli's host ACL: the client it names logs in (open-iscsi) and gets the disk, data
# checked through the LUN and with rbd export; an initiator it does not name is refused
# (LIO's ACL: login error 24, authorization failure)
CLIENT=iqn.2003-01.org.linux-iscsi.qt:client OTHER=iqn.2003-01.org.linux-iscsi.qt:other
client() {
	local dev P=$GW_IP:3260 out
	gw "/iscsi-targets/$IQN/hosts" create "$CLIENT"
	gw "/iscsi-targets/$IQN/hosts/$CLIENT" disk add rbd/disk1
	gw ls / >&2 || true
	[ -d "$CFS/iscsi/$IQN/tpgt_1/acls/$CLIENT/lun_0" ] ||
		{ qt_fail "gwcli made no ACL with LUN 0 for $CLIENT"; return 1; }
	echo "InitiatorName=$CLIENT" >/etc/iscsi/initiatorname.iscsi
	dev=$(lio_iscsi_login "$IQN" "$P") || return 1
	qt_log "$CLIENT logged in: $dev"
	head -c 1048576 /dev/urandom >/run/c1
	dd if=/run/c1 of="$dev" bs=1M seek=4 oflag=direct conv=fsync status=none || return 1
	dd if="$dev" bs=1M skip=4 count=1 iflag=direct status=none | cmp - /run/c1 ||
		{ qt_fail "the LUN reads back other data"; return 1; }
	lio_iscsi_logout "$IQN"
	rbd export --no-progress rbd/disk1 /run/disk1.img >&2 || return 1
	dd if=/run/disk1.img bs=1M skip=4 count=1 status=none | cmp - /run/c1 ||
		{ qt_fail "rbd export of rbd/disk1 lacks the initiator's write"; return 1; }
	# an initiator name gwcli did not add: the login fails
	lio_iscsi_iface other $OTHER || return 1
	iscsiadm -m discovery -t sendtargets -p "$P" -I other >/dev/null 2>&1 || true
	if out=$(iscsiadm -m node -T "$IQN" -p "$P" -I other --login 2>&1); then
		iscsiadm -m node -T "$IQN" -p "$P" -I other --logout >&2
		qt_fail "$OTHER, not in gwcli's hosts, logged in"
		return 1
	fi
	case "$out" in
	*"authorization failure"*) ;;
	*) qt_fail "$OTHER's login failed, but not on authorization: $out"; return 1 ;;
	esac
	qt_log "$OTHER refused: $(echo "$out" | grep -m1 'authorization failure')"
}

qt_check "one-node Ceph with mgr, qemu-tcmu -x rbd, rbd-target-api up" setup
qt_check "gwcli: target, gateway, disk; our daemon serves the user:rbd backstore" create
qt_check "gwcli host ACL: the named initiator logs in and writes rbd/disk1, another is refused" client
qt_summary
