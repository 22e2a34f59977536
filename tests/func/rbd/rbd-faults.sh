#!/bin/bash
# The cluster misbehaving while the whole path (ring simulator -> SCSI -> rbd) serves I/O:
#  - an OSD restarted, then the mon restarted, in the middle of random I/O: every command
#    completes once the daemon is back, the data is verified and equals `rbd export`;
#  - the OSD gone for longer than osd-op-timeout: commands end, within the timeout, with
#    ABORTED COMMAND / LOGICAL UNIT COMMUNICATION FAILURE (0b/08/00, retried by
#    initiators), never a MEDIUM ERROR; and once the OSD is back the image opens again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rbd-lib.sh"
ceph_start

# random I/O in the background while @what is restarted; all of it must verify
io_over_restart() {
  local what=$1 img=$2 pid rc=0 t0
  rbd create --size 16M "rbd/$img"
  t0=$(now_ms)
  "$SIM" --qd 16 --count 4000 --seed 11 --slow-mb 0 --model-out "$T/$img.model" \
    random "rbd:rbd/$img" >"$T/$img.out" 2>&1 &
  pid=$!
  sleep 2
  kill -0 "$pid" 2>/dev/null || { cat "$T/$img.out"; fail "I/O ended before the $what restart"; }
  "$ONE_NODE" restart "$CEPH_DIR" "$what"
  echo "$what restarted at $(($(now_ms) - t0)) ms"
  wait "$pid" || rc=$?
  cat "$T/$img.out"
  [ "$rc" = 0 ] || fail "I/O over an $what restart failed (rc=$rc)"
  echo "I/O over the $what restart done after $(($(now_ms) - t0)) ms"
  rbd export --no-progress "rbd/$img" "$T/$img.img"
  cmp "$T/$img.model" "$T/$img.img" || fail "rbd export differs after the $what restart"
}

step "an OSD restarted under I/O"
io_over_restart osd r1
step "the mon restarted under I/O"
io_over_restart mon r2

step "the OSD gone longer than osd-op-timeout=5: retryable sense, within bounds"
rbd create --size 16M rbd/g
t0=$(now_ms)
"$SIM" --qd 8 --count 100000 --seed 12 --slow-mb 0 \
  random "@driver=rbd@pool=rbd@image=g@osd-op-timeout=5" >"$T/g.out" 2>&1 &
pid=$!
sleep 2
"$ONE_NODE" down "$CEPH_DIR" osd
t1=$(now_ms)
rc=0
wait "$pid" || rc=$?
ms=$(($(now_ms) - t1))
cat "$T/g.out"
[ "$rc" != 0 ] || fail "I/O went on without the OSD"
grep -q "status 0x02 sense 0b/08/00" "$T/g.out" ||
  fail "the timeout did not end with ABORTED COMMAND / COMMUNICATION FAILURE"
grep -q "sense 03/" "$T/g.out" && fail "a MEDIUM ERROR for a timeout"
echo "commands failed retryably $ms ms after the OSD went down (osd-op-timeout=5)"
[ "$ms" -lt 25000 ] || fail "took $ms ms"
"$ONE_NODE" up "$CEPH_DIR" osd
"$QT_IO" -c 'read 0 1M' rbd:rbd/g >/dev/null || fail "the image does not open with the OSD back"
echo "all good"
