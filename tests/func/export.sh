#!/bin/bash
# `qemu-tcmu export / unexport / exports` against a plain directory standing in for
# /sys/kernel/config/target ($QEMU_TCMU_CONFIGFS): the objects it creates (paths,
# control string, links, attributes), its refusals (one line each, nothing created),
# its rollback when a step fails half-way (the tree is exactly as before), and what
# unexport removes and leaves.  A plain tree is not the kernel: it auto-creates no
# default groups and accepts any value; tests/vm/cases/export.sh runs the same commands
# against the real configfs.
. "$(dirname "$0")/lib.sh"
need qemu-img
R=$T/target
mkdir -p "$R"
export QEMU_TCMU_CONFIGFS=$R
cd "$T"
qemu-img create -q -f qcow2 disk0.qcow2 64M
qemu-img create -q -f raw small.raw 1M
IQN=iqn.2003-01.org.example:disk0

# the tree: every path, symlinks with their targets, files with their contents
snapshot() {
	(cd "$R" && find . | sort | while read -r f; do
		if [ -L "$f" ]; then
			echo "$f -> $(readlink "$f")"
		elif [ -f "$f" ]; then
			echo "$f = $(cat "$f")"
		else
			echo "$f"
		fi
	done)
}
same_tree() { # WHAT: the tree is the one saved in $T/before
	snapshot >"$T/after"
	diff -u "$T/before" "$T/after" || fail "$1: the tree changed"
}

step "export --loop --iscsi --demo: the objects"
out=$("$QT_DAEMON" export disk0.qcow2 --loop --iscsi $IQN --demo)
echo "$out"
so=$R/core/user_0/disk0
[ -d "$so" ] || fail "no backstore $so"
grep -qx "dev_config=qemu/$T/disk0.qcow2,dev_size=67108864,hw_block_size=512" "$so/control" ||
	fail "control: $(cat "$so/control")"
[ "$(cat "$so/enable")" = 1 ] || fail "not enabled"
grep -qE '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' \
	"$so/wwn/vpd_unit_serial" || fail "serial: $(cat "$so/wwn/vpd_unit_serial")"
loop=$(echo "$R"/loopback/naa.*)
[[ $(basename "$loop") =~ ^naa\.5001405[0-9a-f]{9}$ ]] || fail "loop wwn $loop"
grep -qE '^naa\.5001405[0-9a-f]{9}$' "$loop/tpgt_1/nexus" || fail "nexus"
for t in "$loop/tpgt_1" "$R/iscsi/$IQN/tpgt_1"; do
	links=("$t"/lun/lun_0/*)
	[ ${#links[@]} = 1 ] && [ -L "${links[0]}" ] || fail "$t/lun/lun_0: ${links[*]}"
	[ "$(readlink -f "${links[0]}")" = "$so" ] || fail "${links[0]} -> $(readlink "${links[0]}")"
	[[ $(basename "${links[0]}") =~ ^[0-9a-f]{10}$ ]] || fail "alias ${links[0]}"
done
t=$R/iscsi/$IQN/tpgt_1
[ -d "$t/np/0.0.0.0:3260" ] || fail "no default portal"
for a in authentication=0 generate_node_acls=1 cache_dynamic_acls=1 demo_mode_write_protect=0; do
	[ "$(cat "$t/attrib/${a%=*}")" = "${a#*=}" ] || fail "attrib $a"
done
[ "$(cat "$t/enable")" = 1 ] || fail "tpg not enabled"
grep -q "^disk0: backstore core/user_0/disk0: 67108864 bytes, 512-byte blocks" <<<"$out" || fail "output"
grep -q "^disk0: iSCSI $IQN LUN 0 portal 0.0.0.0:3260" <<<"$out" || fail "output"

step "exports lists it, with both LUNs"
"$QT_DAEMON" exports | tee "$T/ls"
grep -qx "disk0 core/user_0/disk0 67108864 qemu/$T/disk0.qcow2" "$T/ls" || fail "exports"
grep -q "^  loopback $(basename "$loop") lun_0" "$T/ls" || fail "exports: loop"
grep -q "^  iscsi $IQN lun_0 portal 0.0.0.0:3260" "$T/ls" || fail "exports: iscsi"
cmp "$T/ls" <("$QT_DAEMON" export --list) || fail "export --list differs"

step "refusals: one line, nothing created"
snapshot >"$T/before"
expect_fail "unknown option 'colour'" "$QT_DAEMON" export @file=disk0.qcow2@colour=red --loop
expect_fail "No such file or directory" "$QT_DAEMON" export missing.qcow2 --loop
expect_fail "exceeds the image's 1048576 bytes" "$QT_DAEMON" export small.raw --size 2M
expect_fail "not a multiple of 4096-byte blocks" "$QT_DAEMON" export small.raw --size 6k -b 4096
expect_fail "bad block size 1000" "$QT_DAEMON" export small.raw -b 1000
expect_fail "bad name 'a/b'" "$QT_DAEMON" export small.raw --name a/b
expect_fail "bad name '.x'" "$QT_DAEMON" export small.raw --name .x
expect_fail "named 'disk0' exists already" "$QT_DAEMON" export small.raw --name disk0
expect_fail "iSCSI target $IQN exists already" "$QT_DAEMON" export small.raw --iscsi $IQN --demo
expect_fail "bad iSCSI target name 'foo'" "$QT_DAEMON" export small.raw --iscsi foo --demo
expect_fail "bad portal '1.2.3:80'" "$QT_DAEMON" export small.raw --iscsi iqn.2003-01.x:y --demo --portal 1.2.3:80
expect_fail "bad portal '[::1]:0'" "$QT_DAEMON" export small.raw --iscsi iqn.2003-01.x:y --demo --portal '[::1]:0'
expect_fail "may not contain ','" "$QT_DAEMON" export "@file=$T/a,b.raw"
expect_fail "--portal needs --iscsi" "$QT_DAEMON" export small.raw --portal 1.2.3.4
expect_fail "expected one image" "$QT_DAEMON" export
same_tree "refusals"

step "rollback: a step failing half-way leaves the tree as it was"
# the iSCSI fabric cannot be made (a file where its directory goes): the backstore and
# the tcm_loop target made before are removed again
mv "$R/iscsi" "$R/iscsi.saved"
touch "$R/iscsi"
snapshot >"$T/before"
expect_fail "mkdir $R/iscsi: File exists" \
	"$QT_DAEMON" export small.raw --loop --iscsi iqn.2003-01.x:y --demo
same_tree "rollback after the iSCSI step"
rm "$R/iscsi"
mv "$R/iscsi.saved" "$R/iscsi"
# tcm_loop cannot be made: the backstore (and its new HBA user_1) are removed again
mv "$R/loopback" "$R/loopback.saved"
touch "$R/loopback"
snapshot >"$T/before"
expect_fail "mkdir $R/loopback: File exists" "$QT_DAEMON" export small.raw --name s1 --loop
same_tree "rollback after the tcm_loop step"
rm "$R/loopback"
mv "$R/loopback.saved" "$R/loopback"

step "a second export: next HBA, config string with a relative file=, 4096-byte blocks"
out=$("$QT_DAEMON" export "@id=s@file=./small.raw@cache=writeback" -b 4096 --iscsi iqn.2003-01.x:s \
	--demo --portal 127.0.0.1 --portal '[::1]:3261')
echo "$out"
grep -qx "dev_config=qemu/@id=s@file=$T/small.raw@cache=writeback,dev_size=1048576,hw_block_size=4096" \
	"$R/core/user_1/small/control" || fail "control: $(cat "$R/core/user_1/small/control")"
[ -d "$R/iscsi/iqn.2003-01.x:s/tpgt_1/np/127.0.0.1:3260" ] || fail "portal 127.0.0.1:3260"
[ -d "$R/iscsi/iqn.2003-01.x:s/tpgt_1/np/[::1]:3261" ] || fail "portal [::1]:3261"
[ ! -e "$R/iscsi/iqn.2003-01.x:s/tpgt_1/np/0.0.0.0:3260" ] || fail "default portal too"

step "unexport: only what points to the backstore, and what is left empty"
# someone else's objects: a fileio backstore with its own LUN in our iSCSI target, a
# user:qcow backstore (tcmu-runner's), an ACL mapping our LUN
mkdir -p "$R/core/fileio_5/f0" "$R/core/user_6/q0"
echo "dev_config=qcow//x.qcow2" >"$R/core/user_6/q0/control"
mkdir -p "$R/iscsi/iqn.2003-01.x:s/tpgt_1/lun/lun_1"
ln -s "$R/core/fileio_5/f0" "$R/iscsi/iqn.2003-01.x:s/tpgt_1/lun/lun_1/f0"
acl=$R/iscsi/iqn.2003-01.x:s/tpgt_1/acls/iqn.1994-05.com.example:init
mkdir -p "$acl/lun_0" "$acl/lun_1"
ln -s "$R/iscsi/iqn.2003-01.x:s/tpgt_1/lun/lun_0" "$acl/lun_0/m0"
ln -s "$R/iscsi/iqn.2003-01.x:s/tpgt_1/lun/lun_1" "$acl/lun_1/m1"
expect_fail "'q0' is a user:qcow backstore, not user:qemu" "$QT_DAEMON" unexport q0
expect_fail "no user backstore named 'nope'" "$QT_DAEMON" unexport nope
"$QT_DAEMON" unexport small | tee "$T/un"
[ ! -e "$R/core/user_1" ] || fail "HBA user_1 left"
[ ! -e "$R/iscsi/iqn.2003-01.x:s/tpgt_1/lun/lun_0" ] || fail "lun_0 left"
[ ! -e "$acl/lun_0" ] || fail "the ACL mapping of lun_0 left"
[ -L "$acl/lun_1/m1" ] || fail "the ACL mapping of lun_1 removed"
[ -L "$R/iscsi/iqn.2003-01.x:s/tpgt_1/lun/lun_1/f0" ] || fail "the other LUN removed"
[ -d "$R/iscsi/iqn.2003-01.x:s/tpgt_1/np/127.0.0.1:3260" ] || fail "the portal of a used tpg removed"
[ -d "$R/core/fileio_5/f0" ] && [ -d "$R/core/user_6/q0" ] || fail "other backstores removed"
grep -q "small: removed backstore core/user_1/small" "$T/un" || fail "unexport output"
# disk0: both targets go, and so does its HBA; the other objects stay
"$QT_DAEMON" unexport disk0
[ ! -e "$R/core/user_0" ] && [ ! -e "$loop" ] && [ ! -e "$R/iscsi/$IQN" ] || fail "disk0 left"
[ -d "$R/iscsi/iqn.2003-01.x:s" ] || fail "iqn.2003-01.x:s removed"
"$QT_DAEMON" exports >"$T/ls"
[ ! -s "$T/ls" ] || fail "exports after unexport: $(cat "$T/ls")"
# the last LUN of iqn.2003-01.x:s is not ours: nothing of it is ours to remove
rm "$R/iscsi/iqn.2003-01.x:s/tpgt_1/lun/lun_1/f0"

step "outside a test tree: configfs missing is named"
if [ ! -d /sys/kernel/config/target ]; then
	expect_fail "/sys/kernel/config/target does not exist" \
		env -u QEMU_TCMU_CONFIGFS "$QT_DAEMON" export small.raw --loop
fi
echo PASS
