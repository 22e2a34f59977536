# shellcheck shell=bash
# Helpers for the nbd and QEMU helper tests (sourced after ../lib.sh).
need qemu-img qemu-io qemu-nbd nbdkit python3

# A 16M raw image with three patterned regions; verify_regions checks all of it.
make_patterned() {
  qemu-img create -q -f raw "$1" 16M
  qemu-io -f raw -c 'write -P 0x11 0 1M' -c 'write -P 0x22 4M 1M' -c 'write -P 0x33 12M 64k' \
    "$1" >/dev/null
}
REGIONS=(-c 'read -P 0x11 0 1M' -c 'read -P 0 1M 3M' -c 'read -P 0x22 4M 1M'
  -c 'read -P 0 5M 7M' -c 'read -P 0x33 12M 64k' -c 'read -P 0 12352k 4032k')
verify_regions() { "$QT_IO" "${REGIONS[@]}" "$@" >/dev/null; }
# The same writes, for qemu-tcmu-io and qemu-io; then qemu-img compare the results.
WRITES=(-c 'write -P 0x5a 2M 128k' -c 'write -f -P 0x77 5000 3000' -c 'write -z 4M 64k'
  -c 'write -P 0x66 16320k 64k' -c 'flush')
# streamOptimized vmdk takes writes only where nothing is allocated yet (QEMU's rule)
# (and whole 64k grains)
WRITES_NEW=(-c 'write -P 0x5a 2M 128k' -c 'write -f -P 0x77 6M 64k' -c 'write -z 8M 64k'
  -c 'write -P 0x66 16320k 64k' -c 'flush')

# wait_for FILE: until it exists (a socket or a pid file), 10 s at most
wait_for() {
  local i
  for ((i = 0; i < 200; i++)); do [ -e "$1" ] && return 0; sleep 0.05; done
  fail "$1 did not appear"
}

# start_nbdkit SOCK ARGS...: nbdkit in the background; its pid in $T/<sock>.pid
start_nbdkit() {
  local sock=$1; shift
  rm -f "$sock" "$sock.pid"
  nbdkit -f --exit-with-parent -U "$sock" -P "$sock.pid" "$@" 3>&- &
  wait_for "$sock.pid"
  cleanup_fn "kill \$(cat '$sock.pid' 2>/dev/null) 2>/dev/null"
}

# same_map A.json B.json: qemu-img map --output=json outputs agree
same_map() {
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda e: (e["start"], e["length"], e["depth"], e["present"], e["zero"], e["data"], e.get("offset"))
if [key(e) for e in a] != [key(e) for e in b]:
    print("ours:  ", a); print("theirs:", b); sys.exit(1)
print("map matches qemu-img map:", len(a), "extents")
PY
}

# no_helpers_left: no qemu-nbd child of ours survives
no_helpers_left() {
  local left
  left=$(pgrep -f "qemu-nbd --image-opts .*$T" || true)
  [ -z "$left" ] || fail "helper processes left: $left"
}

# results OUT ERR: how many commands qemu-tcmu-io has answered (its log lines aside)
results() {
  grep -c -E '^(read|wrote|discard) [0-9]|^[a-z]+ failed:' "$1" "$2" | awk -F: '{s+=$2} END {print s}'
}
