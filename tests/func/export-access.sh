#!/bin/bash
# `qemu-tcmu export --iscsi`: who may log in, against a plain directory standing in for
# /sys/kernel/config/target ($QEMU_TCMU_CONFIGFS, as tests/func/export.sh):
#   - no rule is refused (exit 2) and names the flags; so are contradictory or incomplete
#     rules, bad initiator names, and bad secrets (short, spaces, "NULL...", two lines,
#     missing file, the same secret both ways) - one line each, nothing created, and no
#     secret in any message;
#   - --allow + --chap + --mutual-chap + --discovery-chap (secrets on standard input):
#     node ACLs with LUN 0 mapped and their CHAP values written verbatim (no newline),
#     authentication=1, generate_node_acls=0, discovery_auth on, the portal group enabled
#     last; `exports` says who may log in and that CHAP is on, never a secret;
#   - --chap alone (any initiator name, CHAP in the portal group's auth), --allow alone
#     (ACLs, CHAP off), --demo (a warning for a portal that is not loopback, none for
#     127.0.0.1);
#   - --discovery-chap where discovery CHAP is on with other credentials is refused;
#   - a failure after the ACLs and discovery CHAP were written rolls all of it back,
#     the old discovery credentials included;
#   - unexport removes ACLs and CHAP with the rest, and turns discovery CHAP off with the
#     last target that uses its user.
# tests/vm/cases/export-access.sh logs in with real initiators.
. "$(dirname "$0")/lib.sh"
need qemu-img
R=$T/target
mkdir -p "$R"
export QEMU_TCMU_CONFIGFS=$R
cd "$T"
qemu-img create -q -f raw d.raw 1M
IQN=iqn.2003-01.org.example:acl
I1=iqn.1993-08.org.debian:01:client1
I2=iqn.1993-08.org.debian:01:client2
S1=Chap-Secret-0001
S2=Target-Secret-02
printf '%s\n' $S1 >s1
printf '%s\n' $S2 >s2
chmod 600 s1 s2
D=$R/iscsi/discovery_auth

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
# no_secret FILE...: neither secret appears in the files (outputs, error messages)
no_secret() {
	! grep -qe "$S1" -e "$S2" "$@" || fail "a secret was printed: $(grep -e "$S1" -e "$S2" "$@")"
}
# refused RC WANT CMD...: expect_fail with exit status RC, no secret in the message
refused() {
	local rc=$1
	shift
	expect_fail "$@" | tee "$T/msg"
	grep -q "^ok (rc=$rc): " "$T/msg" || fail "exit status: $(cat "$T/msg")"
	no_secret "$T/msg"
}
# exact FILE VALUE: FILE holds VALUE and no newline (LIO keeps what is written verbatim)
exact() {
	[ "$(cat "$1")" = "$2" ] && [ "$(wc -c <"$1")" = "${#2}" ] ||
		fail "$1: '$(cat -A "$1")', expected '$2' without newline"
}

step "refusals: no rule, wrong combinations, bad names and secrets; nothing created"
snapshot >"$T/before"
X=(export d.raw --iscsi $IQN)
refused 2 "who may log in to $IQN? add --allow INITIATOR_IQN (repeatable) and/or --chap USER --chap-secret FILE, or --demo" \
	"$QT_DAEMON" "${X[@]}"
refused 2 "--demo lets any initiator in without authentication: not with --allow or --chap" \
	"$QT_DAEMON" "${X[@]}" --demo --allow $I1
refused 2 "--demo lets any initiator in" "$QT_DAEMON" "${X[@]}" --demo --chap alice --chap-secret s1
refused 2 "--allow, --chap, --mutual-chap, --discovery-chap and --demo need --iscsi" \
	"$QT_DAEMON" export d.raw --loop --allow $I1
refused 2 "--chap needs --chap-secret FILE" "$QT_DAEMON" "${X[@]}" --chap alice
refused 2 "need --chap USER" "$QT_DAEMON" "${X[@]}" --allow $I1 --chap-secret s1
refused 2 "need --chap USER" "$QT_DAEMON" "${X[@]}" --allow $I1 --discovery-chap
refused 2 "need --chap USER" "$QT_DAEMON" "${X[@]}" --allow $I1 --mutual-chap t --mutual-secret s2
refused 2 "--mutual-chap needs --mutual-secret" \
	"$QT_DAEMON" "${X[@]}" --chap alice --chap-secret s1 --mutual-chap tgt
refused 2 "bad initiator name 'client1': expected iqn." "$QT_DAEMON" "${X[@]}" --allow client1
refused 2 "--allow $I1 given twice" "$QT_DAEMON" "${X[@]}" --allow $I1 --allow $I1
refused 2 "bad CHAP user 'NULLuser': LIO takes a value beginning with NULL as unset" \
	"$QT_DAEMON" "${X[@]}" --chap NULLuser --chap-secret s1
refused 2 "bad CHAP user 'a b': printable characters only" \
	"$QT_DAEMON" "${X[@]}" --chap 'a b' --chap-secret s1
printf 'short\n' >short
printf 'has a space 0001\n' >space
printf 'NULL-but-long-1\n' >null
printf '%s\nmore\n' $S1 >two
: >empty
chmod 600 short space null two empty
refused 1 "the CHAP secret has 5 characters: 12 to 255 (RFC 3720 8.2.1" \
	"$QT_DAEMON" "${X[@]}" --chap alice --chap-secret short
refused 1 "the CHAP secret has a space or a non-printable character" \
	"$QT_DAEMON" "${X[@]}" --chap alice --chap-secret space
refused 1 "the CHAP secret begins with NULL" "$QT_DAEMON" "${X[@]}" --chap alice --chap-secret null
refused 1 "two holds more than one line" "$QT_DAEMON" "${X[@]}" --chap alice --chap-secret two
refused 1 "no CHAP secret in empty" "$QT_DAEMON" "${X[@]}" --chap alice --chap-secret empty
refused 1 "the CHAP secret: $T/nosuch: No such file or directory" \
	"$QT_DAEMON" "${X[@]}" --chap alice --chap-secret "$T/nosuch"
refused 1 "no CHAP secret in standard input" \
	"$QT_DAEMON" "${X[@]}" --chap alice --chap-secret - </dev/null
refused 1 "the mutual CHAP secret is the CHAP secret: RFC 3720 8.2.1 forbids" \
	"$QT_DAEMON" "${X[@]}" --chap alice --chap-secret s1 --mutual-chap tgt --mutual-secret s1
refused 1 "the mutual CHAP secret is the CHAP secret" \
	"$QT_DAEMON" "${X[@]}" --chap alice --chap-secret - --mutual-chap tgt --mutual-secret - \
	< <(printf '%s\n%s\n' $S1 $S1)
same_tree "refusals"

step "--allow x2, --chap, --mutual-chap, --discovery-chap: ACLs, CHAP, discovery CHAP"
# both secrets on standard input, one line each, in this order
printf '%s\n%s\n' $S1 $S2 |
	"$QT_DAEMON" export d.raw --name a --iscsi $IQN --portal 127.0.0.1 --allow $I1 --allow $I2 \
		--chap alice --chap-secret - --mutual-chap tgt --mutual-secret - --discovery-chap \
		>"$T/out" 2>"$T/err"
cat "$T/out" "$T/err"
[ ! -s "$T/err" ] || fail "stderr: $(cat "$T/err")"
no_secret "$T/out"
grep -qx "a: iSCSI $IQN allows $I1 with CHAP" "$T/out" || fail "output: ACL"
grep -qx "a: iSCSI $IQN: CHAP user alice, mutual CHAP: target user tgt; discovery CHAP on" \
	"$T/out" || fail "output: CHAP"
grep -qF "(or iscsi://alice%SECRET@127.0.0.1:3260/$IQN/0)" "$T/out" || fail "output: URL"
t=$R/iscsi/$IQN/tpgt_1
exact "$t/attrib/authentication" 1
exact "$t/attrib/generate_node_acls" 0
[ ! -e "$t/attrib/cache_dynamic_acls" ] && [ ! -e "$t/auth" ] || fail "demo-mode settings made"
for i in $I1 $I2; do
	exact "$t/acls/$i/auth/userid" alice
	exact "$t/acls/$i/auth/password" $S1
	exact "$t/acls/$i/auth/userid_mutual" tgt
	exact "$t/acls/$i/auth/password_mutual" $S2
	m=("$t/acls/$i/lun_0"/*)
	[ ${#m[@]} = 1 ] && [[ $(basename "${m[0]}") =~ ^[0-9a-f]{10}$ ]] || fail "mapped LUN ${m[*]}"
	[ "$(readlink "${m[0]}")" = "$t/lun/lun_0" ] || fail "${m[0]} -> $(readlink "${m[0]}")"
done
exact "$D/enforce_discovery_auth" 1
exact "$D/userid" alice
exact "$D/password" $S1
exact "$D/userid_mutual" tgt
exact "$D/password_mutual" $S2
exact "$t/enable" 1
"$QT_DAEMON" exports | tee "$T/ls"
no_secret "$T/ls"
grep -qx "  iscsi $IQN lun_0 portal 127.0.0.1:3260" "$T/ls" || fail "exports: LUN"
grep -qx "    access: initiator $I1, CHAP on (user alice, mutual: target user tgt)" "$T/ls" ||
	fail "exports: $I1"
grep -qx "    access: initiator $I2, CHAP on (user alice, mutual: target user tgt)" "$T/ls" ||
	fail "exports: $I2"
grep -qx "    discovery (all targets): CHAP on (user alice, mutual: target user tgt)" "$T/ls" ||
	fail "exports: discovery"
! grep -q "any initiator" "$T/ls" || fail "exports: any initiator?"

step "--chap alone: any initiator name, with the secret (the portal group's auth)"
"$QT_DAEMON" export d.raw --name b --iscsi $IQN:b --portal 127.0.0.1 --chap carol \
	--chap-secret s2 | tee "$T/out"
no_secret "$T/out"
t=$R/iscsi/$IQN:b/tpgt_1
exact "$t/attrib/authentication" 1
exact "$t/attrib/generate_node_acls" 1
exact "$t/attrib/demo_mode_write_protect" 0
exact "$t/auth/userid" carol
exact "$t/auth/password" $S2
[ ! -e "$t/auth/userid_mutual" ] && [ ! -e "$t/acls" ] || fail "mutual or ACLs made"
"$QT_DAEMON" exports | tee "$T/ls"
grep -qx "    access: any initiator, CHAP on (user carol)" "$T/ls" || fail "exports: carol"

step "--allow alone: ACLs, no CHAP; a secret file others may read is warned about"
chmod 644 s1
"$QT_DAEMON" export d.raw --name c --iscsi $IQN:c --portal 127.0.0.1 --allow $I1 2>"$T/err"
[ ! -s "$T/err" ] || fail "stderr: $(cat "$T/err")"
t=$R/iscsi/$IQN:c/tpgt_1
exact "$t/attrib/authentication" 0
exact "$t/attrib/generate_node_acls" 0
[ -d "$t/acls/$I1/lun_0" ] && [ ! -e "$t/acls/$I1/auth" ] || fail "ACL $I1"
"$QT_DAEMON" exports | grep -qx "    access: initiator $I1, CHAP off" || fail "exports: c"
"$QT_DAEMON" unexport c
"$QT_DAEMON" export d.raw --name c --iscsi $IQN:c --portal 127.0.0.1 --allow $I1 --chap dave \
	--chap-secret s1 2>"$T/err" >/dev/null
grep -qx "qemu-tcmu: warning: s1 (the CHAP secret) may be read by other users: chmod 600 it" \
	"$T/err" || fail "no warning: $(cat "$T/err")"
chmod 600 s1
"$QT_DAEMON" unexport c >/dev/null

step "--demo: a warning for a portal other hosts reach, none on loopback"
"$QT_DAEMON" export d.raw --name e --iscsi $IQN:e --demo 2>"$T/err" >/dev/null
grep -qx "qemu-tcmu: warning: demo mode on portal 0.0.0.0:3260: any initiator that reaches it may read and write e without authentication" \
	"$T/err" || fail "no warning: $(cat "$T/err")"
"$QT_DAEMON" unexport e >/dev/null
"$QT_DAEMON" export d.raw --name e --iscsi $IQN:e --demo --portal 127.0.0.1 \
	--portal '[::1]:3260' --portal 127.1.2.3:3261 --portal '[0:0::1]:3262' \
	--portal '[::ffff:127.0.0.1]:3263' 2>"$T/err" >/dev/null
[ ! -s "$T/err" ] || fail "warning on loopback: $(cat "$T/err")"
"$QT_DAEMON" unexport e >/dev/null
"$QT_DAEMON" export d.raw --name e --iscsi $IQN:e --demo --portal 127.0.0.1 \
	--portal '[fe80::1]:3260' 2>"$T/err" >/dev/null
[ "$(grep -c warning "$T/err")" = 1 ] && grep -q "portal \[fe80::1\]:3260" "$T/err" ||
	fail "warnings: $(cat "$T/err")"
"$QT_DAEMON" unexport e >/dev/null

step "--discovery-chap: the same credentials are fine, other ones are refused"
snapshot >"$T/before"
refused 1 "iSCSI discovery CHAP is on already, for user 'alice' or with other secrets" \
	"$QT_DAEMON" export d.raw --name f --iscsi $IQN:f --allow $I1 --chap bob --chap-secret s1 \
	--discovery-chap
refused 1 "discovery CHAP is on already" "$QT_DAEMON" export d.raw --name f --iscsi $IQN:f \
	--allow $I1 --chap alice --chap-secret s1 --discovery-chap # no mutual CHAP this time
same_tree "discovery refusals"
printf '%s\n' $S2 | "$QT_DAEMON" export d.raw --name f --iscsi $IQN:f --portal 127.0.0.1 \
	--allow $I2 --chap alice --chap-secret s1 --mutual-chap tgt --mutual-secret - \
	--discovery-chap >/dev/null

step "rollback: ACLs, CHAP and discovery CHAP written, the last step fails: all undone"
"$QT_DAEMON" unexport f a >/dev/null
exact "$D/enforce_discovery_auth" 0
# discovery_auth as someone else left it (not enforced), and its last attribute unwritable
printf olduser >"$D/userid"
printf Old-Secret-000 >"$D/password"
rm -f "$D/enforce_discovery_auth"
mkdir "$D/enforce_discovery_auth"
snapshot >"$T/before"
printf '%s\n%s\n' $S1 $S2 >"$T/in"
refused 1 "$D/enforce_discovery_auth: Is a directory" \
	"$QT_DAEMON" export d.raw --name g --iscsi $IQN:g --allow $I1 --chap alice --chap-secret - \
	--mutual-chap tgt --mutual-secret - --discovery-chap <"$T/in"
same_tree "rollback after the discovery step"
rmdir "$D/enforce_discovery_auth"
printf 0 >"$D/enforce_discovery_auth"

step "unexport: ACLs and CHAP go with the target; discovery CHAP with its last user"
printf '%s\n' $S2 | "$QT_DAEMON" export d.raw --name a --iscsi $IQN --portal 127.0.0.1 \
	--allow $I1 --chap alice --chap-secret s1 --mutual-chap tgt --mutual-secret - \
	--discovery-chap >/dev/null
printf '%s\n' $S2 | "$QT_DAEMON" export d.raw --name f --iscsi $IQN:f --portal 127.0.0.1 \
	--chap alice --chap-secret s1 --mutual-chap tgt --mutual-secret - --discovery-chap >/dev/null
exact "$D/enforce_discovery_auth" 1
"$QT_DAEMON" unexport a | tee "$T/un"
grep -qx "a: removed ACL iscsi/$IQN/tpgt_1/acls/$I1" "$T/un" || fail "unexport: ACL"
[ ! -e "$R/iscsi/$IQN" ] || fail "target a left"
exact "$D/enforce_discovery_auth" 1 # f still uses alice
"$QT_DAEMON" unexport f | tee "$T/un"
grep -qx "f: iSCSI discovery CHAP off (no target uses CHAP user alice any more)" "$T/un" ||
	fail "unexport: discovery"
exact "$D/enforce_discovery_auth" 0
for a in userid password userid_mutual password_mutual; do exact "$D/$a" NULL; done
# b (carol) never used discovery CHAP
"$QT_DAEMON" unexport b | tee "$T/un"
! grep -q discovery "$T/un" || fail "unexport b touched discovery CHAP"
[ -z "$(ls "$R/iscsi" | grep -v discovery_auth)" ] && [ -z "$(ls "$R/core")" ] ||
	fail "left: $(ls "$R/iscsi" "$R/core")"
echo PASS
