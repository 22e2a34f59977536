#!/bin/bash
# The formats QEMU reads but cannot create, from images made by their own tools (Debian
# packages): bochs (bximage, growing image converted from a patterned raw image) and
# cloop (create_compressed_fs, V2.0); probed by their magic, read back region by region
# through the helper, served read-only (the LUN write-protected; a write is refused with
# EROFS).  dmg: no Debian 12 package writes one (docs/FORMATS.md).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/nbd-lib.sh"
need bximage create_compressed_fs

make_patterned "$T/base.raw"
bximage -q -func=convert -imgmode=growing "$T/base.raw" "$T/d.bochs" >/dev/null 2>&1 ||
  fail "bximage could not convert"
create_compressed_fs "$T/base.raw" "$T/d.cloop" >/dev/null 2>&1 || fail "create_compressed_fs failed"
for fmt in bochs cloop; do
  step "$fmt: $(qemu-img info --output=json "$T/d.$fmt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["format"])') by qemu-img"
  verify_regions "$T/d.$fmt"
  verify_regions "@file=$T/d.$fmt@format=$fmt"
  "$QT_IO" -c info "$T/d.$fmt" > "$T/info"
  grep -q "nbd server: $fmt image '$T/d.$fmt'" "$T/info" || fail "$fmt: not through the helper"
  grep -q '^read-only: yes' "$T/info" || fail "$fmt: not read-only"
  out=$("$QT_IO" -c 'write -P 1 0 4k' "$T/d.$fmt" 2>&1) && fail "$fmt: a write succeeded"
  echo "$out" | grep -q 'Read-only file system' || fail "$fmt: got $out"
done
no_helpers_left
echo ok
