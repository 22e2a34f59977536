/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small files of the kernel's interfaces (sysfs, configfs, /proc) read and written in one
 * system call each, as those files expect.  -errno on failure.
 */
#ifndef QT_UTIL_SYSFILE_H
#define QT_UTIL_SYSFILE_H

#include <stddef.h>

/* Read at most @len - 1 bytes of @path into @buf, NUL-terminated (an empty string on
 * failure).  Returns the byte count. */
int sysfile_read(const char *path, char *buf, size_t len);
/* As sysfile_read, without the trailing newlines. */
int sysfile_read_line(const char *path, char *buf, size_t len);
/* Write @val to @path in one write(); @oflags are added to O_WRONLY | O_CLOEXEC (a file
 * created gets mode 0644).  A short write is -EIO; so is an error only close() reports. */
int sysfile_write(const char *path, const char *val, int oflags);

#endif
