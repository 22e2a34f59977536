#!/bin/bash
# A killed NBD server is a clear error, never a hang: requests wait reconnect-timeout,
# then fail with EIO and a logged reason; when the server is back, I/O works again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nbd-lib.sh"

sock=$T/kit.sock
start_nbdkit "$sock" memory 16M
mkfifo "$T/cmds"
timeout 60 "$QT_IO" "@driver=nbd@server=unix:$sock@reconnect-timeout=2" \
  <"$T/cmds" >"$T/out" 2>"$T/err" &
io=$!
exec 3>"$T/cmds"
cleanup_fn "exec 3>&-"

# until_out N: wait (10 s at most) for the tool's N-th result line
until_out() {
  local i
  for ((i = 0; i < 200; i++)); do
    [ "$(results "$T/out" "$T/err")" -ge "$1" ] && return 0
    sleep 0.05
  done
  cat "$T/out" "$T/err" >&2
  fail "no result $1 from qemu-tcmu-io"
}

step "I/O while the server is up"
echo 'write -P 0x11 0 64k' >&3
until_out 1

step "kill the server: the next read fails within reconnect-timeout (2 s), clearly"
kill -9 "$(cat "$sock.pid")"
t0=$(date +%s.%N)
echo 'read -P 0x11 0 64k' >&3
until_out 2
t1=$(date +%s.%N)
grep -q 'read failed: Input/output error' "$T/out" "$T/err" || fail "read did not fail with EIO"
grep -q "nbd: unix:$sock: connection lost" "$T/err" || fail "no 'connection lost' in: $(cat "$T/err")"
grep -q "server not back within 2000 ms" "$T/err" || fail "no timeout message in: $(cat "$T/err")"
python3 -c "import sys; d = $t1 - $t0; print('failed after %.2f s' % d); sys.exit(0 if 1.5 < d < 8 else 1)" ||
  fail "the failure did not come after the 2 s reconnect timeout"

step "the server comes back (empty): reads work again"
start_nbdkit "$sock" memory 16M
n=2
for ((i = 0; i < 40; i++)); do
  echo 'read -P 0 0 64k' >&3
  n=$((n + 1))
  until_out "$n"
  tail -n 2 "$T/out" | grep -q '^read 65536/65536' && break
  sleep 0.25
done
tail -n 2 "$T/out" | grep -q '^read 65536/65536' || fail "no successful read after the restart"
grep -q "reconnected" "$T/err" || fail "no 'reconnected' message"

step "the tool exits (with an error for the failed read), no hang"
exec 3>&-
rc=0
wait "$io" || rc=$?
[ "$rc" = 1 ] || fail "qemu-tcmu-io exited with $rc (124 = hung)"
echo ok
