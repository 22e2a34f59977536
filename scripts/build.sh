#!/bin/bash
# Configure and build (the test build: ASan + UBSan).  Idempotent.
#   scripts/build.sh [BUILD_DIR]          default: build
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}
if [ ! -f "$B/build.ninja" ]; then
  meson setup "$B" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C "$B"
