#!/bin/bash
# Two gateways of one RBD image (docs/HA.md): two qemu-tcmu-gwtest processes, each the
# ring simulator -> ring-dev -> SCSI -> rbd with gateway=on, in ALUA groups 1 and 2, on a
# one-node Ceph started here:
#  - a write via A, then via B: B holds the lock, both report B's group optimized (RTPG
#    through the SCSI layer), the Ceph service map names B the owner;
#  - A stopped (SIGSTOP) in the middle of writes, B takes over, A continued: none of A's
#    writes lands (rbd export read back);
#  - two writers alternating paths: lock transitions stay under the bound of the grace;
#  - the OSD gone longer than osd-op-timeout: commands end retryably, the gateway reports
#    unavailable, and serves again by itself when the OSD is back.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/rbd-lib.sh"
GW=$BUILD_DIR/tests/func/rbd/qemu-tcmu-gwtest
GRACE=3
ceph_start

declare -A IN OUT PID
# gw_start NAME GROUP CFG: a gateway process, spoken to through two FIFOs
gw_start() {
  local n=$1 fd
  mkfifo "$T/$n.in" "$T/$n.out"
  "$GW" --debug rbd --group "$2" "${@:4}" "$3" <"$T/$n.in" >"$T/$n.out" 2>"$T/$n.err" &
  PID[$n]=$!
  cleanup_fn "kill -CONT ${PID[$n]} 2>/dev/null; kill ${PID[$n]} 2>/dev/null"
  exec {fd}>"$T/$n.in"
  IN[$n]=$fd
  exec {fd}<"$T/$n.out"
  OUT[$n]=$fd
}
# gw NAME CMD...: one command, its reply in $R
gw() {
  local n=$1
  shift
  echo "$*" >&"${IN[$n]}"
  R=
  read -r -t 120 R <&"${OUT[$n]}" || { tail -5 "$T/$n.err"; fail "$n: no reply to '$*'"; }
  echo "  $n: $* -> $R"
}
gw_quit() {
  echo quit >&"${IN[$1]}"
  wait "${PID[$1]}" || { cat "$T/$1.err"; fail "gateway $1 exited with an error"; }
}
expect() {
  [[ $R == $1 ]] && return
  for f in "$T"/*.err; do echo "== $f" && tail -15 "$f"; done
  fail "expected '$1', got '$R'"
}
# until_reply SECONDS NAME CMD PATTERN: repeat CMD until its reply matches; ms in $WAITED
until_reply() {
  local t0 secs=$1 n=$2 cmd=$3 want=$4
  t0=$(now_ms)
  while :; do
    gw "$n" "$cmd"
    [[ $R == $want ]] && break
    (($(now_ms) - t0 < secs * 1000)) || fail "$n never answered '$want' to '$cmd'"
    sleep 0.2
  done
  WAITED=$(($(now_ms) - t0))
}
# service_owner NAME: lock_owner of NAME's entry in the Ceph service map's status (what
# ceph-iscsi's DeviceStatusWatcher reads: service "tcmu-runner", daemon "NAME:pool/image")
service_owner() {
  ceph service status -f json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin).get("tcmu-runner", {}).get(sys.argv[1] + ":rbd/" + sys.argv[2], {})
print(d.get("status", {}).get("lock_owner", "none"))' "$1" "${2:-ha}"
}

rbd create --size 64M rbd/ha
CFG="@driver=rbd@pool=rbd@image=ha@gateway=on@gateway-grace=$GRACE"
gw_start A 1 "$CFG@gateway-name=gwA"
gw_start B 2 "$CFG@gateway-name=gwB"
gw A state
gw B state

step "a write via A, then via B: B holds the lock, both report it"
gw A write 0 64 A1
expect "ok *"
tA=$(now_ms)
gw A rtpg
expect "groups 1=ao 2=ano"
until_reply 5 B rtpg "groups 1=ao 2=standby" # A took it less than the grace ago
echo "B reported A's group optimized $WAITED ms later"
gw B write 0 64 B0
expect "standby *"
# the grace: B stays standby (no steal) until A has held the lock for GRACE seconds
until_reply 10 B rtpg "groups 1=ao 2=ano"
held=$(($(now_ms) - tA))
echo "B left standby when A had held the lock $held ms (grace $GRACE s)"
((held >= GRACE * 1000 - 500)) || fail "B's standby ended after $held ms, before the grace"
gw B write 0 64 B1
expect "ok *"
read -r _ retries ms <<<"$R"
echo "B took the lock from A: its write done in $ms ms ($retries retries)"
gw B rtpg
expect "groups 1=ano 2=ao"
until_reply 10 A rtpg "groups 1=@(standby|ano) 2=ao" # standby while B's grace lasts
echo "A reported B's group optimized $WAITED ms later"
gw A read 0 64
expect "data B1"
t0=$(now_ms)
until [ "$(service_owner gwB)" = true ] && [ "$(service_owner gwA)" = false ]; do
  (($(now_ms) - t0 < 30000)) || fail "service map: gwA $(service_owner gwA), gwB $(service_owner gwB)"
  sleep 1
done
echo "service map: gwB lock_owner true, gwA false"
# the metadata ceph-iscsi and the dashboard read, and the counters in the status
ceph service dump -f json | python3 -c '
import json, sys
d = json.load(sys.stdin)["services"]["tcmu-runner"]["daemons"]["gwA:rbd/ha"]
m, st = d["metadata"], d.get("task_status", {})
assert m["pool_name"] == "rbd" and m["image_name"] == "ha", m
assert m["image_id"] and m["daemon_type"] == "portal", m
print("service map metadata:", {k: m[k] for k in ("pool_name", "image_name", "image_id", "daemon_type")})
' || fail "service map metadata of gwA"
t0=$(now_ms)
until ceph service status -f json | python3 -c '
import json, sys
st = json.load(sys.stdin)["tcmu-runner"]["gwA:rbd/ha"]["status"]
sys.exit(0 if st.get("lock_lost_cnt") == "1" and "cmd_timed_out_cnt" in st and "conn_lost_cnt" in st else 1)'; do
  (($(now_ms) - t0 < 30000)) || fail "service status of gwA: $(ceph service status -f json)"
  sleep 1
done
echo "service status: gwA lock_lost_cnt 1"

# the fence: B's break blocklisted A's first client; A removes that entry once it holds
# the lock again (the client is closed, nothing of it can be sent)
addrA=$(grep -m1 -o "took the write lock from [^ ]*" "$T/B.err" | awk '{print $NF}')
[ -n "$addrA" ] || fail "B's log names no broken lock holder"
ceph osd blocklist ls 2>/dev/null | grep -qF "$addrA" || fail "A's client $addrA is not blocklisted"
echo "A's old client $addrA is blocklisted"

step "A stopped in the middle of writes, B takes over, A continued: nothing of A's lands"
until_reply 15 A rtpg "groups 1=ano 2=ao" # B's grace over
gw A write 0 64 A2
expect "ok *"
t0=$(now_ms)
while ceph osd blocklist ls 2>/dev/null | grep -qF "$addrA"; do
  (($(now_ms) - t0 < 10000)) || fail "A holds the lock again, but its old client is still blocklisted"
  sleep 0.5
done
echo "A holds the lock again: its old client's blocklist entry is gone"
# A's initiator stops using A's path at the first refused write (as multipath fails a
# path), so A's flood cannot take the lock back once B's grace is over
gw A flood 0 64 F 8 failover
# B must know A as the holder (its tag read) and A's grace over: B's own group no
# longer standby
until_reply 15 B rtpg "groups 1=ao 2=ano"
kill -STOP "${PID[A]}"
t0=$(now_ms)
gw B write 0 64 B2
expect "ok *"
echo "B took over from a stopped A in $(($(now_ms) - t0)) ms"
kill -CONT "${PID[A]}"
tc=$(now_ms)
sleep 2
gw A stop
flood=$R
[[ $flood =~ transition=([0-9]+)\ standby=([0-9]+) ]] || fail "flood: $flood"
((BASH_REMATCH[1] + BASH_REMATCH[2] > 0)) || fail "A's writes after the takeover were not refused"
[[ $flood == *other=0* ]] || fail "A's writes ended with other errors than retryable ones: $flood"
grep -q "sense 03/" "$T/A.err" && fail "a MEDIUM ERROR at A after losing the lock"
# A finds its client blocklisted (at the latest at its 2 s check) and reopens with a new
# one: then it reports B's lock (standby while B's grace lasts, non-optimized after)
t0=$(now_ms)
until gw A state && [[ $R == "state standby "* || $R == "state nonoptimized "* ]]; do
  (($(now_ms) - t0 < 10000)) || fail "A did not come back after losing the lock: $R"
  sleep 0.2
done
[[ $R == *owner_tag=2* ]] || fail "A does not report B's group as the holder: $R"
echo "A serving again through a new client $(($(now_ms) - tc)) ms after SIGCONT"
gw B read 0 64
expect "data B2"
rbd export --no-progress rbd/ha "$T/ha.img"
R=$("$GW" --check "$T/ha.img" 0 64)
echo "  rbd export, blocks 0-63: $R"
expect "B2"

step "two writers alternating paths: lock transitions bounded by the grace ($GRACE s)"
# writer 1 prefers A, writer 2 prefers B; a write refused (standby) goes to the other
alternate() {
  local secs=$1 t0 n=0 tr0 tr1 a b i
  gw A state; a=${R#*acquired=}; gw B state; b=${R#*acquired=}
  tr0=$((${a%% *} + ${b%% *}))
  t0=$(now_ms)
  while (($(now_ms) - t0 < secs * 1000)); do
    for i in 1 2; do
      local first=A other=B
      [ $i = 2 ] && first=B other=A
      gw $first write $((100 + i)) 1 W$i >/dev/null
      [[ $R == standby* ]] && gw $other write $((100 + i)) 1 W$i >/dev/null
      [[ $R == ok* ]] || fail "writer $i: $R"
      n=$((n + 1))
    done
  done
  gw A state; a=${R#*acquired=}; gw B state; b=${R#*acquired=}
  tr1=$((${a%% *} + ${b%% *}))
  TRANSITIONS=$((tr1 - tr0))
  echo "$n writes in $secs s, $TRANSITIONS lock transitions"
}
alternate 9 >"$T/alt.log"
tail -1 "$T/alt.log"
bound=$((9 / GRACE + 1))
((TRANSITIONS <= bound)) || fail "$TRANSITIONS transitions in 9 s, more than $bound"
echo "at most one transition per $GRACE s: $TRANSITIONS <= $bound"

step "the holder crashes (SIGKILL): the other gateway takes over"
until_reply 15 B "write 200 1 K1" "ok *"
until_reply 15 A rtpg "groups 1=ano 2=ao" # B's grace over
kill -KILL "${PID[B]}"
wait "${PID[B]}" 2>/dev/null || true
t0=$(now_ms)
gw A write 200 1 K2
expect "ok *"
echo "A took over from a crashed B in $(($(now_ms) - t0)) ms"
gw A read 200 1
expect "data K2"

step "the OSD gone longer than osd-op-timeout: unavailable, then back by itself"
gw_quit A
rbd create --size 16M rbd/hb
# C as under ceph-iscsi: tcmu-runner's config string served as subtype rbd is in gateway
# mode without asking, in the service map under the host's name
gw_start C 1 "rbd/hb;osd_op_timeout=5" --subtype rbd
gw C write 0 8 C1
expect "ok *"
gw C state
expect "state optimized *"
t0=$(now_ms)
until [ "$(service_owner "$(uname -n)" hb)" = true ]; do
  (($(now_ms) - t0 < 30000)) || fail "service map: no $(uname -n):rbd/hb owning the lock"
  sleep 1
done
echo "tcmu-runner's string under -x rbd: gateway mode, $(uname -n):rbd/hb in the service map"
gw C flood 0 8 G 4
sleep 1
"$ONE_NODE" down "$CEPH_DIR" osd
t0=$(now_ms)
until_reply 30 C state "state unavailable *"
echo "unavailable $(($(now_ms) - t0)) ms after the OSD went down (osd-op-timeout=5)"
gw C write 0 8 C2
expect "unavailable *"
gw C stop
[[ $R == *other=0* ]] || grep -q "sense 0b/08/00" "$T/C.err" || fail "timeouts ended with: $(grep flood: "$T/C.err")"
grep -q "sense 03/" "$T/C.err" && fail "a MEDIUM ERROR for a timeout"
"$ONE_NODE" up "$CEPH_DIR" osd
t0=$(now_ms)
until_reply 60 C state "state nonoptimized *"
echo "serving again $(($(now_ms) - t0)) ms after the OSD came back"
gw C write 0 8 C3
expect "ok *"
gw C read 0 8
expect "data C3"
gw_quit C
echo "all good"
