# shellcheck shell=bash
# Helpers for the qcow2 func tests (sourced after tests/func/lib.sh).
OPS="python3 $SRC_DIR/tests/func/qcow2/ops.py"
SIZE=$((16 * 1024 * 1024))

# ops_args ARGS...: run ops.py ARGS and put one "-c LINE" pair per output line in _args
ops_args() {
  local l out
  out=$($OPS "$@") || fail "ops.py $* failed"
  _args=()
  while IFS= read -r l; do _args+=(-c "$l"); done <<<"$out"
  [ ${#_args[@]} -gt 0 ] || fail "ops.py $* printed nothing"
}
# lines_args LINES: the same for given lines
lines_args() { local l; _args=(); while IFS= read -r l; do _args+=(-c "$l"); done <<<"$1"; }

# ours_do IMG FMT(file|qcow2) CMDS...: run commands through qemu-tcmu-io
OURS_FLAGS=()
ours_run() { local img=$1; shift; "$QT_IO" -q "${OURS_FLAGS[@]}" "$@" "$img"; }
qemu_run() { local img=$1; shift; qemu-io -f qcow2 "$@" "$img" >/dev/null; }

# check_content IMG CLUSTER MODE: our reader and qemu-io both see the model's bytes
check_content() {
  local img=$1 cl=$2 mode=$3 out
  ops_args checks $SIZE "$cl" "$mode"
  ours_run "$img" "${_args[@]}" || fail "$img: qemu-tcmu-io reads differ from the model ($mode)"
  out=$(qemu-io -f qcow2 "${_args[@]}" "$img" 2>&1)
  if grep -q 'Pattern verification failed\|error\|fail' <<<"$out"; then
    fail "$img: qemu-io reads differ from the model ($mode): $(grep -m1 -i 'fail\|error' <<<"$out")"
  fi
}

# check_clean IMG: qemu-img check finds nothing (exit 0), not even leaks
check_clean() {
  local rc=0 out
  out=$(qemu-img check "$1" 2>&1) || rc=$?
  [ "$rc" = 0 ] || fail "qemu-img check $1: rc=$rc: $out"
}

# check_map IMG: our map -j equals qemu-img map --output=json
check_map() {
  "$QT_IO" -r -c 'map -j' "$1" > "$T/ours.json" || fail "map failed on $1"
  qemu-img map -f qcow2 --output=json "$1" > "$T/theirs.json"
  python3 - "$T/ours.json" "$T/theirs.json" <<'PY' || fail "map of $1 differs from qemu-img map"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda e: (e["start"], e["length"], e["depth"], e["present"], e["zero"], e["data"], e.get("offset"))
if [key(e) for e in a] != [key(e) for e in b]:
    for x, y in zip(a, b):
        if key(x) != key(y):
            print("first difference:\n ours:  ", x, "\n theirs:", y); break
    print(len(a), "vs", len(b), "extents"); sys.exit(1)
PY
}
