/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small files of the kernel's interfaces (sysfs, configfs, /proc) read and written in one
 * system call each, as those files expect.  -errno on failure.
 */
#ifndef QT_UTIL_SYSFILE_H
#define QT_UTIL_SYSFILE_H

#include <stddef.h>

#include "util/compiler.h"

/* Read at most @len - 1 bytes of @path into @buf, NUL-terminated (an empty string on
 * failure).  Returns the byte count. */
int sysfile_read(const char *path, char *buf, size_t len);
/* As sysfile_read, without the trailing newlines. */
int sysfile_read_line(const char *path, char *buf, size_t len);
/* Write @val to @path in one write(); @oflags are added to O_WRONLY | O_CLOEXEC (a file
 * created gets mode 0644).  A short write is -EIO; so is an error only close() reports. */
int sysfile_write(const char *path, const char *val, int oflags);

/*
 * Where the kernel's trees are: the transport (configfs, UIO devices, the module's
 * parameters) and the export commands (their configfs root) build kernel paths with
 * sysfile_path(), the one place that points them elsewhere for tests:
 *  - $QEMU_TCMU_CONFIGFS=DIR, the user-facing knob (tests of the export commands, see
 *    docs/USAGE.md): LIO's configfs tree, SYSFILE_CONFIGFS, is DIR;
 *  - sysfile_set_root(DIR), for unit tests: every other path P is DIR/P (configfs too,
 *    when $QEMU_TCMU_CONFIGFS is not set).
 * Otherwise a path is what it says.
 */
#define SYSFILE_CONFIGFS "/sys/kernel/config/target"

/* printf an absolute kernel path into @buf, mapped as above; -ENAMETOOLONG. */
int sysfile_path(char *buf, size_t len, const char *fmt, ...) PRINTF_FMT(3, 4);
/* Tests: look up kernel paths under @dir (NULL: the real trees again).  Not thread-safe:
 * call it while no other thread builds paths. */
void sysfile_set_root(const char *dir);

#endif
