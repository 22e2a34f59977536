#!/bin/bash
# The QEMU helper runs unprivileged (issue 17): as root we run qemu-nbd as the system user
# qemu-tcmu-helper with no supplementary groups, no capabilities (bounding set too),
# no_new_privs and the seccomp filter that brokers its opens (/proc/PID/status); a
# root-only (0600) image is served all the same (the daemon opens it for the helper), but
# a root-only file that an image names by path (a backing file) is refused with QEMU's
# "Permission denied", while the same file made world-readable is opened; the probe
# (qemu-img) runs as that user too.  Not root: our own uid, still no capabilities and
# no_new_privs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nbd-lib.sh"

make_patterned "$T/base.raw"
qemu-img convert -f raw -O vdi "$T/base.raw" "$T/d.vdi"
chmod 600 "$T/d.vdi"

step "the helper's credentials"
mkfifo "$T/cmds"
timeout 60 "$QT_IO" "$T/d.vdi" <"$T/cmds" >"$T/out" 2>"$T/err" &
io=$!
exec 3>"$T/cmds"
cleanup_fn "exec 3>&-"
echo 'read -P 0x11 0 64k' >&3
for ((i = 0; i < 200; i++)); do grep -q '^read 65536' "$T/out" && break; sleep 0.05; done
grep -q '^read 65536' "$T/out" || fail "no read: $(cat "$T/out" "$T/err")"
pid=$(pgrep -f "qemu-nbd .*$T/d.vdi" || true)
[ -n "$pid" ] || fail "no helper"
status=$(cat "/proc/$pid/status")
field() { echo "$status" | awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ +/, ""); sub(/ +$/, ""); print }'; }
echo "$status" | grep -E '^(Uid|Gid|Groups|Cap...|NoNewPrivs|Seccomp):'
if [ "$(id -u)" = 0 ]; then
  uid=$(id -u qemu-tcmu-helper) && gid=$(id -g qemu-tcmu-helper) ||
    fail "no user qemu-tcmu-helper (scripts/install-deps.sh creates it)"
  [ "$uid" != 0 ] && [ "$gid" != 0 ] || fail "qemu-tcmu-helper is root"
  [ "$(field Uid)" = "$uid $uid $uid $uid" ] || fail "Uid: $(field Uid)"
  [ "$(field Gid)" = "$gid $gid $gid $gid" ] || fail "Gid: $(field Gid)"
  [ -z "$(field Groups)" ] || fail "Groups: $(field Groups)"
  [ "$(field CapBnd)" = 0000000000000000 ] || fail "CapBnd: $(field CapBnd)"
else
  [ "$(field Uid)" = "$(id -u) $(id -u) $(id -u) $(id -u)" ] || fail "Uid: $(field Uid)"
fi
for c in CapInh CapPrm CapEff CapAmb; do
  [ "$(field $c)" = 0000000000000000 ] || fail "$c: $(field $c)"
done
[ "$(field NoNewPrivs)" = 1 ] || fail "NoNewPrivs: $(field NoNewPrivs)"
[ "$(field Seccomp)" = 2 ] || fail "Seccomp: $(field Seccomp) (no filter)"
# the image is root's, mode 0600, and the helper still serves it, writes included
echo 'write -P 0x5a 15M 64k' >&3
echo 'read -P 0x5a 15M 64k' >&3
exec 3>&-
wait "$io" || fail "qemu-tcmu-io failed: $(cat "$T/err")"
[ "$(grep -c '^read 65536' "$T/out")" = 2 ] || fail "$(cat "$T/out" "$T/err")"
qemu-io -f vdi -c 'read -P 0x5a 15M 64k' "$T/d.vdi" | grep -q '^read 65536' || fail "write lost"

if [ "$(id -u)" = 0 ]; then
  step "a root-only file an image names by path is refused; world-readable, it opens"
  # outside $T (0700): only the file's own mode keeps the helper out
  P=$(mktemp -d /tmp/qt-priv.XXXXXX)
  cleanup_fn "rm -rf '$P'"
  chmod 755 "$P"
  cp "$T/base.raw" "$P/secret.raw"
  chmod 600 "$P/secret.raw"
  qemu-img create -q -f qed -b "$P/secret.raw" -F raw "$T/over.qed"
  # qemu-io as root reads through the backing file: the image is fine
  qemu-io -f qed -c 'read -P 0x22 4M 64k' "$T/over.qed" | grep -q '^read 65536'
  expect_fail "Could not open '$P/secret.raw': Permission denied" \
    "$QT_IO" -c 'read -P 0x22 4M 64k' "$T/over.qed"
  chmod 644 "$P/secret.raw"
  "$QT_IO" -c 'read -P 0x22 4M 64k' "$T/over.qed" >/dev/null

  step "probing (qemu-img) runs as the helper user too: no such user, no probe"
  expect_fail "QEMU_TCMU_HELPER_USER=nosuch: no such user" \
    env QEMU_TCMU_HELPER_USER=nosuch "$QT_IO" -c info "@file=$T/base.raw@helper=qemu"
fi
no_helpers_left
echo ok
