#!/bin/bash
# The installed man pages render without warnings and document every option the
# programs' --help lists (and no option they lack); the systemd unit passes
# systemd-analyze verify.
. "$(dirname "$0")/lib.sh"
need man groff
bad=0
# long options of a program's --help / of a man page
help_opts() { "$1" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u; }
man_opts() { MANWIDTH=200 man -l "$1" 2>/dev/null | grep -oE -- '--[a-z][a-z-]+' | sort -u; }
for pair in "$QT_DAEMON:$BUILD_DIR/docs/qemu-tcmu.8" "$QT_IO:$SRC_DIR/docs/qemu-tcmu-io.1"; do
	prog=${pair%%:*} page=${pair#*:}
	step "$(basename "$page")"
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
	[ -z "$w" ] || { echo "$w"; bad=1; }
	missing=$(comm -23 <(help_opts "$prog") <(man_opts "$page"))
	extra=$(comm -13 <(help_opts "$prog") <(man_opts "$page") | grep -vx -- '--output' || true)
	[ -z "$missing" ] || { echo "not in $(basename "$page"): $missing"; bad=1; }
	[ -z "$extra" ] || { echo "in $(basename "$page") but not in --help: $extra"; bad=1; }
done
if command -v systemd-analyze >/dev/null; then
	step "qemu-tcmu.service"
	sed "s|@BINDIR@|$BUILD_DIR/src/daemon|" "$SRC_DIR/data/qemu-tcmu.service.in" >"$T/qemu-tcmu.service"
	out=$(systemd-analyze verify --man=no "$T/qemu-tcmu.service" 2>&1 | grep -v 'sys-kernel-config.mount' || true)
	[ -z "$out" ] || { echo "$out"; bad=1; }
fi
[ "$bad" = 0 ] || fail "docs out of date"
echo PASS
