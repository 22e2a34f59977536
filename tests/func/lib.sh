# shellcheck shell=bash
# Helpers for func tests (sourced).  Each test is a bash script run by meson with
# BUILD_DIR and SRC_DIR set; it exits 0 on success, non-zero on failure.
set -euo pipefail
: "${BUILD_DIR:?run through meson test}"
: "${SRC_DIR:?run through meson test}"
QT_IO=$BUILD_DIR/src/tools/qemu-tcmu-io
QT_DAEMON=$BUILD_DIR/src/daemon/qemu-tcmu
T=$(mktemp -d "${TMPDIR:-/tmp}/qt-func.XXXXXX")
_cleanups=()
cleanup_fn() { _cleanups+=("$*"); }
_run_cleanups() {
  local i
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[i]}" || true; done
  rm -rf "$T"
}
trap _run_cleanups EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

# expect_fail "substring of the error" cmd...: the command must fail, print exactly one
# line on stderr, and that line must contain the substring.
expect_fail() {
  local want=$1 out rc=0 lines; shift
  out=$("$@" 2>&1 >/dev/null) || rc=$?
  [ "$rc" -ne 0 ] || fail "expected failure: $*"
  [ "$rc" -lt 128 ] || fail "crashed (rc=$rc): $*: $out"
  lines=$(printf '%s\n' "$out" | grep -c .)
  [ "$lines" = 1 ] || fail "expected one error line from '$*', got $lines: $out"
  case "$out" in *"$want"*) ;; *) fail "error for '$*' was '$out', expected '$want'" ;; esac
  echo "ok (rc=$rc): $out"
}

# need CMD...: the test depends on these programs (installed by scripts/install-deps.sh)
need() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null || fail "missing program $c (run scripts/install-deps.sh)"; done
}

# luks_convert SRC DST [OPTS]: qemu-img convert of raw SRC to a LUKS image DST, keyed by
# the secret object sec0 in the caller's SECRET array (iter-time=10, then OPTS).  QEMU's
# short PBKDF benchmark can fail on a busy machine ("Unable to get accurate CPU usage"):
# that error alone is tried again, up to 5 times.
luks_convert() {
  local i err=$T/luks-convert.err
  for ((i = 0; i < 5; i++)); do
    qemu-img convert "${SECRET[@]}" -f raw -O luks -o key-secret=sec0,iter-time=10${3:+,$3} \
      "$1" "$2" 2>"$err" && return 0
    grep -q 'accurate CPU usage' "$err" || break
  done
  cat "$err" >&2
  return 1
}
