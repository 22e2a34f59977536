#!/bin/bash
# gluster:// through the QEMU helper against glusterd + a one-brick volume on 127.0.0.2:
# a raw and a qcow2 image made by qemu-img read back region by region; our writes, FUA,
# zeroes, discards and flushes land as qemu-io's do on a local copy (qemu-img compare
# against the brick's file, and qemu-io reads them over gluster); a discard punches a
# hole in the brick's file; closing does not wait for libgfapi's ~10 s teardown nor
# warn about it; the brick killed under I/O through the daemon's path: the command fails
# with ABORTED COMMAND / LOGICAL UNIT COMMUNICATION FAILURE within reconnect-timeout,
# another LUN is not held up, and I/O resumes when the brick is back.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../nbd/nbd-lib.sh"
. "$(dirname "$0")/proto-lib.sh"

start_glusterd
G=gluster://$GLUSTER_HOST/gv0
B=$T/gl/b1
make_patterned "$T/base.raw"
qemu-img convert -f raw -O qcow2 "$T/base.raw" "$T/oracle.qcow2"
cp "$T/base.raw" "$T/oracle.raw"

step "qemu-img makes a raw and a qcow2 image on the volume (each client: ~10 s of glfs_fini)"
qemu-img convert -f raw -O raw "$T/base.raw" "$G/d.raw" 2>"$T/c1.err" &
c1=$!
qemu-img convert -f raw -O qcow2 "$T/base.raw" "$G/d.qcow2" 2>"$T/c2.err" &
c2=$!
wait $c1 || fail "convert raw: $(cat "$T/c1.err")"
wait $c2 || fail "convert qcow2: $(cat "$T/c2.err")"

step "read back (format given: probing would cost a qemu-img info, ~10 s with gluster)"
verify_regions "@file=$G/d.qcow2@format=qcow2"
"$QT_IO" -c info "@file=$G/d.qcow2@format=qcow2" | grep -q "nbd server: qcow2 image '$G/d.qcow2'" ||
  fail "not served by the helper"
t0=$(date +%s%N)
verify_regions "@file=$G/d.raw@format=raw" 2>"$T/close.err"
t1=$(date +%s%N)
echo "open, read 16 MiB, close: $(((t1 - t0) / 1000000)) ms"
[ $(((t1 - t0) / 1000000)) -lt 8000 ] || fail "the tool took $(((t1 - t0) / 1000000)) ms (waited for glfs_fini?)"
! grep -q 'did not exit\|terminating' "$T/close.err" || fail "false alarm at close: $(cat "$T/close.err")"
pgrep -f "qemu-nbd .*$G/d.raw" >/dev/null ||
  echo "(the helper had finished its teardown already)"

step "our writes (+ discard) through gluster = qemu-io's on local copies"
W=("${WRITES[@]}" -c 'discard 8M 1M' -c flush)
"$QT_IO" "${W[@]}" "@file=$G/d.raw@format=raw" >/dev/null
"$QT_IO" "${W[@]}" "@file=$G/d.qcow2@format=qcow2" >/dev/null
qemu-io -f raw "${W[@]}" "$T/oracle.raw" >/dev/null
qemu-io -f qcow2 "${W[@]}" "$T/oracle.qcow2" >/dev/null
qemu-img compare -f raw -F raw "$B/d.raw" "$T/oracle.raw"
qemu-img compare -f qcow2 -F qcow2 "$B/d.qcow2" "$T/oracle.qcow2"
qemu-img check -q -f qcow2 "$B/d.qcow2"
# the discard reached the brick: a hole in its file where data was
python3 - "$B/d.raw" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
off = os.lseek(fd, 8 << 20, os.SEEK_HOLE)
assert off < (9 << 20), "no hole at 8M in the brick's file (hole at %d)" % off
print("brick file: hole at", off)
PY
# and QEMU's own gluster client reads what we wrote
R=(-c 'read -P 0x5a 2M 128k' -c 'read -P 0x77 5000 3000' -c 'read -P 0 4M 64k' -c 'read -P 0 8M 1M'
  -c 'read -P 0x66 16320k 64k')
qemu-io -f raw "${R[@]}" "$G/d.raw" >"$T/q1.out" 2>&1 &
q1=$!
qemu-io -f qcow2 "${R[@]}" "$G/d.qcow2" >"$T/q2.out" 2>&1 &
q2=$!
for ((i = 0; i < 100; i++)); do [ "$(grep -c '^read' "$T/q1.out" "$T/q2.out" | awk -F: '{s+=$2} END {print s}')" = 10 ] && break; sleep 0.1; done
echo "(qemu-io read back over gluster; its glfs_fini goes on while the next step runs)"

step "the brick dies under I/O (daemon path: ring simulator, two LUNs), then comes back"
simfault_start 14 "@file=$G/d.raw@format=raw@reconnect-timeout=3"
sleep 3
kill -9 "$(brick_pid)"
echo "brick killed at $(date +%T.%N)"
sleep 5
gluster --mode=script volume start gv0 force >/dev/null
echo "brick started at $(date +%T.%N)"
simfault_wait
check_simfault "$T/sim.out" 8000
wait $q1 || fail "qemu-io raw: $(cat "$T/q1.out")"
wait $q2 || fail "qemu-io qcow2: $(cat "$T/q2.out")"
[ "$(grep -c '^read' "$T/q1.out")" = 5 ] && [ "$(grep -c '^read' "$T/q2.out")" = 5 ] ||
  fail "qemu-io did not read our writes back: $(cat "$T/q1.out" "$T/q2.out")"
echo ok
