#!/bin/bash
# ssh:// through the QEMU helper (QEMU's libssh client) against OpenSSH's sshd on
# 127.0.0.1 with a generated host key and a client key held by an ssh-agent of the
# test's own: reads and writes as qemu-io's (raw and qcow2), the host key checked by its
# SHA-256 (QEMU's host_key_check=sha256:...); a wrong host key is refused with QEMU's
# message; sshd killed under I/O through the daemon's path fails commands with ABORTED
# COMMAND (0b/08/00) in bounded time, another LUN goes on, and I/O resumes once sshd is
# back (QEMU's ssh driver never reconnects: the helper is restarted).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../nbd/nbd-lib.sh"
. "$(dirname "$0")/proto-lib.sh"

make_patterned "$T/base.raw"
start_sshd
echo "$(/usr/sbin/sshd -V 2>&1 | head -1) on 127.0.0.1:$SSH_PORT"
cp "$T/base.raw" "$T/d.raw"
cp "$T/base.raw" "$T/oracle.raw"
qemu-img convert -f raw -O qcow2 "$T/base.raw" "$T/d.qcow2"
cp "$T/d.qcow2" "$T/oracle.qcow2"
# (no user@ in the URL: '@' separates config-string keys; QEMU logs in as the current user)
url() { echo "ssh://127.0.0.1:$SSH_PORT$1?host_key_check=sha256:${2:-$SSH_HOSTKEY_SHA256}"; }

step "read back, raw and qcow2 (format probed over ssh)"
verify_regions "$(url "$T/d.raw")"
verify_regions "$(url "$T/d.qcow2")"
"$QT_IO" -c info "@file=$(url "$T/d.qcow2")@format=qcow2" | grep -q "nbd server: qcow2 image" ||
  fail "not through the helper"

step "our writes over ssh = qemu-io's on local copies; qemu-io reads them over ssh"
for fmt in raw qcow2; do
  "$QT_IO" "${WRITES[@]}" "@file=$(url "$T/d.$fmt")@format=$fmt" >/dev/null
  qemu-io -f "$fmt" "${WRITES[@]}" "$T/oracle.$fmt" >/dev/null
  qemu-img compare -f "$fmt" -F "$fmt" "$T/d.$fmt" "$T/oracle.$fmt"
  qemu-io -f "$fmt" -c 'read -P 0x5a 2M 128k' -c 'read -P 0x66 16320k 64k' "$(url "$T/d.$fmt")" |
    grep -c '^read' | grep -qx 2 || fail "qemu-io over ssh does not read our writes"
done

step "a wrong host key is refused"
bad=$(printf '%064d' 0)
expect_fail "remote host ssh-ed25519 key fingerprint" "$QT_IO" -c 'read 0 4k' "@file=$(url "$T/d.raw" "$bad")@format=raw"

step "sshd dies under I/O (daemon path, two LUNs), then comes back"
simfault_start 16 "@file=$(url "$T/d.raw")@format=raw@io-timeout=2@reconnect-timeout=3"
sleep 3
pkill -9 -P "$SSHD_PID" 2>/dev/null || true
kill_wait "$SSHD_PID"
echo "sshd killed at $(date +%T.%N)"
sleep 6
/usr/sbin/sshd -D -e -f "$T/ssh/sshd_config" 2>>"$T/ssh/sshd.log" &
SSHD_PID=$!
cleanup_fn "pkill -9 -P $SSHD_PID 2>/dev/null; kill_wait $SSHD_PID"
wait_port "$SSH_PORT"
echo "sshd back at $(date +%T.%N)"
simfault_wait
check_simfault "$T/sim.out" 9000
no_helpers_left
echo ok
