#!/bin/bash
# Format the C sources in place with clang-format (.clang-format).  C only: clang-format
# treats any other file (meson.build...) as C and mangles it.
#   scripts/format.sh [FILE.c|FILE.h ...]     default: every tracked .c/.h file
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  mapfile -t files < <(git ls-files '*.c' '*.h')
else
  files=()
  for f in "$@"; do
    case "$f" in
      *.c | *.h) files+=("$f") ;;
      *) echo "format.sh: not a C file, skipped: $f" >&2 ;;
    esac
  done
fi
[ ${#files[@]} -eq 0 ] || clang-format -i "${files[@]}"
