#!/bin/bash
# The tree is clang-format clean and no C file passes the hard size limit (1500 lines).
# clang-format is for C only (scripts/format.sh): run over a meson.build it "formats" it as
# C (tabs, broken lines), so meson files are checked to have no tab (.editorconfig).
. "$(dirname "$0")/lib.sh"
need clang-format
cd "$SRC_DIR"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find src tests bench fuzz -name '*.[ch]')
bad=0
for f in $files; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then echo "not clang-format clean: $f"; bad=1; fi
  n=$(wc -l < "$f")
  if [ "$n" -gt 1500 ]; then echo "$f: $n lines (limit 1500)"; bad=1; fi
done
meson_files=$(git ls-files 'meson.build' '*/meson.build' 'meson_options.txt' 2>/dev/null ||
  find . -name meson.build -not -path './build*')
for f in $meson_files; do
  [ -f "$f" ] || continue
  if grep -q "$(printf '\t')" "$f"; then echo "$f: tabs (was it run through clang-format?)"; bad=1; fi
done
[ "$bad" = 0 ] || fail "style"
echo "$(echo "$files" | wc -w) files clean"
