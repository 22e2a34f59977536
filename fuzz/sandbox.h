/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A guard for fuzz targets that touch the file system (cfgstring, configfs, export-cli):
 * a temporary directory per process, and, while an input runs (sandbox_enter ..
 * sandbox_leave), every call the code under test makes to create, remove or write a file,
 * to run a program or to open a socket is checked first.  A write outside the directory,
 * a fork/exec or a socket aborts the process before it happens (a finding, with the path
 * on stderr).  With SANDBOX_READS, opening anything outside it for reading does too
 * (reads are checked against the whole directory, writes against the part given).
 *
 * The targets are linked with -Wl,--wrap=open,... (fuzz/meson.build: sandbox_wraps), so
 * the checks see the project's own calls, not libc's internal ones nor libFuzzer's
 * outside an input.  The process may run as root: the guard is what keeps a path bug
 * found by the fuzzer from deleting files of the host.
 */
#ifndef QT_FUZZ_SANDBOX_H
#define QT_FUZZ_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SANDBOX_READS (1u << 0) /* reads, too, only inside the directory (and /proc/self/fd) */

/* The process's directory (made on the first call, removed at exit):
 * "/dev/shm/qemu-tcmu-fuzz-NAME.XXXXXX" (/tmp without /dev/shm).  Aborts on failure. */
const char *sandbox_dir(const char *name);
/* Check the code under test's calls from now until sandbox_leave(): writes only in @dir
 * (NULL: the whole sandbox_dir()), which must be inside sandbox_dir(). */
void sandbox_enter(const char *dir, unsigned int flags);
void sandbox_leave(void);

/* Helpers for the harness itself (unchecked): "DIR/REL" made with its parents, written,
 * removed.  Abort on failure, except sandbox_rm_rf() of a missing path. */
void sandbox_mkdir_p(const char *path);
void sandbox_write(const char *path, const void *data, size_t len);
void sandbox_rm_rf(const char *path);
/* A description of the tree under @path (type, name, link target or content of every
 * entry, sorted) into a malloc'd string: two calls compare equal iff nothing changed. */
char *sandbox_snapshot(const char *path);

#endif
