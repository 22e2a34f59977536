#!/bin/bash
# The QEMU helper lives and dies with the node: it is gone when the tool exits; its death
# fails I/O with a clear error and it is restarted once; a second death is final.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nbd-lib.sh"

make_patterned "$T/base.raw"
qemu-img convert -f raw -O vdi "$T/base.raw" "$T/d.vdi"

step "the helper stops with the node"
verify_regions "$T/d.vdi"
no_helpers_left

step "helper death: in-flight/next I/O fails clearly, it is restarted once, then not"
mkfifo "$T/cmds"
timeout 60 "$QT_IO" "@file=$T/d.vdi@reconnect-timeout=0" <"$T/cmds" >"$T/out" 2>"$T/err" &
io=$!
exec 3>"$T/cmds"
cleanup_fn "exec 3>&-"
until_out() {
  local i
  for ((i = 0; i < 200; i++)); do [ "$(results "$T/out" "$T/err")" -ge "$1" ] && return 0; sleep 0.05; done
  cat "$T/out" "$T/err" >&2
  fail "no result $1"
}
helper_pid() { pgrep -f "qemu-nbd .*$T/d.vdi" || true; }

echo 'read -P 0x11 0 64k' >&3
until_out 1
pid1=$(helper_pid)
[ -n "$pid1" ] || fail "no helper child"
kill -9 "$pid1"
echo 'read -P 0x11 0 64k' >&3
until_out 2
grep -q 'read failed: Input/output error' "$T/out" "$T/err" || fail "no EIO after the helper died"
grep -q "vdi image '$T/d.vdi': connection lost" "$T/err" || fail "no clear error: $(cat "$T/err")"
# it comes back once: reads work again
n=2
for ((i = 0; i < 40; i++)); do
  echo 'read -P 0x22 4M 64k' >&3
  n=$((n + 1))
  until_out "$n"
  tail -n 2 "$T/out" | grep -q '^read 65536/65536' && break
  sleep 0.1
done
tail -n 2 "$T/out" | grep -q '^read 65536/65536' || fail "no successful read after the restart"
grep -q "qemu-nbd) killed by signal 9" "$T/err" || fail "the helper's death was not explained: $(cat "$T/err")"
pid2=$(helper_pid)
[ -n "$pid2" ] && [ "$pid2" != "$pid1" ] || fail "no restarted helper"

# the second death is final
kill -9 "$pid2"
sleep 0.5
echo 'read -P 0x22 4M 64k' >&3
n=$((n + 1))
until_out "$n"
for ((i = 0; i < 20; i++)); do grep -q "giving up" "$T/err" && break; sleep 0.1; done
grep -q "the QEMU helper died after its restart; giving up" "$T/err" ||
  fail "no final error: $(cat "$T/err")"
echo 'read -P 0x22 4M 64k' >&3
n=$((n + 1))
until_out "$n"
tail -n 1 "$T/out" "$T/err" | grep -q 'Input/output error' || fail "I/O after the final death did not fail"
[ -z "$(helper_pid)" ] || fail "a third helper was started"
exec 3>&-
rc=0
wait "$io" || rc=$?
[ "$rc" = 1 ] || fail "qemu-tcmu-io exited with $rc (124 = hung)"
no_helpers_left
echo ok
