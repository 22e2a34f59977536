#!/bin/bash
# iscsi:// through the QEMU helper (QEMU's libiscsi client) against tgtd (Debian tgt, a
# userspace iSCSI target) on 127.0.0.1: reads and writes as qemu-io's, without and with
# CHAP (the secret from a file through a QEMU secret object, never on a command line); a
# wrong or missing CHAP secret is refused with QEMU's message; tgtd killed under I/O
# through the daemon's path (libiscsi then waits forever: our io-timeout restarts the
# helper) fails commands with ABORTED COMMAND (0b/08/00) within a bounded time, another
# LUN goes on, and I/O resumes once tgtd is back.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../nbd/nbd-lib.sh"
. "$(dirname "$0")/proto-lib.sh"

IQN1=iqn.2024-01.org.qemu-tcmu:open
IQN2=iqn.2024-01.org.qemu-tcmu:chap
make_patterned "$T/base.raw"
cp "$T/base.raw" "$T/lun1.raw"
cp "$T/base.raw" "$T/lun2.raw"
cp "$T/base.raw" "$T/oracle.raw"
start_tgtd
echo "tgtd $(tgtd -V 2>&1 | head -1) on 127.0.0.1:$TGT_PORT"
setup_targets() {
  tgt_lun 1 "$IQN1" "$T/lun1.raw"
  tgt_lun 2 "$IQN2" "$T/lun2.raw"
  tgtadm -C "$TGT_CTL" --lld iscsi --mode account --op new --user qtuser --password s3cret-chap
  tgtadm -C "$TGT_CTL" --lld iscsi --mode account --op bind --tid 2 --user qtuser
}
setup_targets
U1="iscsi://127.0.0.1:$TGT_PORT/$IQN1/1"
printf 's3cret-chap' > "$T/chap.key"
printf 'wrong-chap' > "$T/bad.key"
chmod 600 "$T/chap.key" "$T/bad.key"
chap() { # KEYFILE: the config string of the CHAP target
  echo "@driver=raw@helper=qemu@file.driver=iscsi@file.transport=tcp@file.portal=127.0.0.1:$TGT_PORT@file.target=$IQN2@file.lun=1@file.user=qtuser@file.password-secret=sec0@object=secret,id=sec0,file=$1"
}

step "no authentication: read back, format probed and given; tgt's LUN 0 is its controller"
verify_regions "$U1"
verify_regions "@file=$U1@format=raw"
"$QT_IO" -c info "$U1" | grep -q "nbd server: raw image '$U1'" || fail "not through the helper"

step "our writes over iSCSI = qemu-io's on a copy"
# (no discard: tgt's LUNs are not thin-provisioned, and QEMU's iscsi driver then ignores it)
"$QT_IO" "${WRITES[@]}" "@file=$U1@format=raw" >/dev/null
qemu-io -f raw "${WRITES[@]}" "$T/oracle.raw" >/dev/null
qemu-io -f raw -c 'read -P 0x5a 2M 128k' -c 'read -P 0x66 16320k 64k' "$U1" | grep -c '^read' |
  grep -qx 2 || fail "qemu-io does not read our writes over iSCSI"
qemu-img compare -f raw -F raw "$T/lun1.raw" "$T/oracle.raw"

step "CHAP: the right secret (from a file) works, a wrong or missing one is refused"
verify_regions "$(chap "$T/chap.key")"
"$QT_IO" -c 'write -P 0x42 1M 64k' "$(chap "$T/chap.key")" >/dev/null
qemu-io -f raw -c 'read -P 0x42 1M 64k' "$T/lun2.raw" >/dev/null
expect_fail "Authentication failure" "$QT_IO" -c 'read 0 4k' "$(chap "$T/bad.key")"
expect_fail "Authentication failure" "$QT_IO" -c 'read 0 4k' "@file=iscsi://127.0.0.1:$TGT_PORT/$IQN2/1@format=raw"
! pgrep -af "qemu-nbd.*s3cret" || fail "the CHAP secret is on a command line"

step "tgtd dies under I/O (daemon path, two LUNs), then comes back"
simfault_start 18 "@file=$U1@format=raw@io-timeout=2@reconnect-timeout=3"
sleep 3
kill_wait "$TGT_PID"
echo "tgtd killed at $(date +%T.%N)"
sleep 7
tgtd -f -C "$TGT_CTL" --iscsi "portal=127.0.0.1:$TGT_PORT" >>"$T/tgtd.log" 2>&1 &
TGT_PID=$!
cleanup_fn "kill_wait $TGT_PID"
wait_port "$TGT_PORT"
for ((i = 0; i < 50; i++)); do tgtadm -C "$TGT_CTL" --mode sys --op show >/dev/null 2>&1 && break; sleep 0.1; done
setup_targets
echo "tgtd back at $(date +%T.%N)"
simfault_wait
check_simfault "$T/sim.out" 9000
no_helpers_left
echo ok
