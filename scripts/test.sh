#!/bin/bash
# Everything a fresh Debian 12 machine needs to run every test: install packages, build
# (with ASan/UBSan), run all suites (unit, func, vm), print the summary.
#   scripts/test.sh [meson test args...]     e.g. scripts/test.sh --suite unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh build
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
rc=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || rc=$?
python3 scripts/test-summary.py build/meson-logs/testlog.json
exit $rc
