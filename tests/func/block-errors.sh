#!/bin/bash
# Bad input gives one clear line and a non-zero exit, never a crash.
. "$(dirname "$0")/lib.sh"
need qemu-img
img=$T/test.raw
qemu-img create -q -f raw "$img" 1M

expect_fail "unknown option 'bogus'" "$QT_IO" -c info "@file=$img@bogus=1"
expect_fail "could not open '$T/missing.img': No such file or directory" "$QT_IO" -c info "$T/missing.img"
expect_fail "option 'cache': 'fast' is not one of writeback|writethrough|none|directsync|unsafe" \
  "$QT_IO" -c info "@file=$img@cache=fast"
expect_fail "option 'read-only': 'perhaps' is not on/off" "$QT_IO" -c info "@file=$img@read-only=perhaps"
expect_fail "option 'file' is empty" "$QT_IO" -c info "@file="
expect_fail "no image given (option 'file')" "$QT_IO" -c info "@format=raw"
expect_fail "unknown format 'vhdz'" "$QT_IO" -c info "@file=$img@format=vhdz"
expect_fail "config string: 'file' has no '=value'" "$QT_IO" -c info "@file"
expect_fail "option 'file' given twice" "$QT_IO" -c info "@file=$img@file=$img"
expect_fail "Is a directory" "$QT_IO" -c info "$T"
expect_fail "raw: offset 2097152 is beyond the end" "$QT_IO" -c info "@file=$img@format=raw@offset=2M"
expect_fail "option 'size' is required" "$QT_IO" -c info "@driver=memory"
expect_fail "option 'aio': 'posix' is not one of threads|io_uring|native" "$QT_IO" -c info "@file=$img@aio=posix"

step "a read-only file opened writable (as an unprivileged user)"
chmod 0444 "$img"
chmod 0755 "$T"
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
  expect_fail "could not open '$img' read-write (use read-only=on): Permission denied" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$QT_IO" -c info "$img"
  # read-only works for the same user
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$QT_IO" -r -c 'read 0 4k' "$img" >/dev/null
else
  expect_fail "could not open '$img' read-write (use read-only=on): Permission denied" \
    "$QT_IO" -c info "$img"
fi

step "an unreadable file (mode 000) opened read-only"
# root reads it anyway (CAP_DAC_OVERRIDE), so as root the open is tried as nobody: the
# same permission check an unprivileged daemon or user meets.
unreadable=$T/unreadable.raw
qemu-img create -q -f raw "$unreadable" 1M
chmod 000 "$unreadable"
if [ "$(id -u)" = 0 ]; then
  need setpriv
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
else
  as_user=()
fi
for cfg in "$unreadable" "@file=$unreadable@format=raw"; do
  expect_fail "could not open '$unreadable': Permission denied" \
    "${as_user[@]}" "$QT_IO" -r -c info "$cfg"
done

step "writes to a read-only image fail with EROFS, out of range with EINVAL"
out=$("$QT_IO" -r -c 'write 0 4k' "$img" 2>&1) && fail "write on read-only succeeded"
echo "$out" | grep -q 'write failed: Read-only file system' || fail "got: $out"
out=$("$QT_IO" -r -c 'read 1M 512' -c 'read 1020k 8k' "$img" 2>&1) && fail "out-of-range read succeeded"
echo "$out" | grep -q 'read failed: Invalid argument' || fail "got: $out"

step "unknown command and bad numbers"
out=$("$QT_IO" -c 'frobnicate' -c 'read x 1' "$img" 2>&1) && fail "bad commands succeeded"
echo "$out" | grep -q "command 'frobnicate' not found" || fail "got: $out"
echo "$out" | grep -q "invalid number 'x'" || fail "got: $out"

step "cache=none on a file system without O_DIRECT (tmpfs) or with it"
if out=$("$QT_IO" -t none -c 'read 0 512' "$img" 2>&1); then
  echo "O_DIRECT supported here"
else
  echo "$out" | grep -q "does not support O_DIRECT" || fail "got: $out"
fi
echo ok
