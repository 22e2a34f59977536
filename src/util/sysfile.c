/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small kernel-interface files: see sysfile.h. */
#include "sysfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[256]; /* sysfile_set_root(); "" = the real trees */

int sysfile_read(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	buf[n] = '\0';
	return (int)n;
}

int sysfile_read_line(const char *path, char *buf, size_t len)
{
	int n = sysfile_read(path, buf, len);

	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return n;
}

int sysfile_write(const char *path, const char *val, int oflags)
{
	size_t len = strlen(val);
	int fd = open(path, O_WRONLY | O_CLOEXEC | oflags, 0644);
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	if (close(fd) < 0 && !r)
		r = -errno;
	return r;
}

void sysfile_set_root(const char *dir)
{
	snprintf(root, sizeof(root), "%s", dir ? dir : "");
}

/* @path under configfs: the part after SYSFILE_CONFIGFS ("" or "/..."), else NULL. */
static const char *configfs_rest(const char *path)
{
	size_t n = strlen(SYSFILE_CONFIGFS);

	if (strncmp(path, SYSFILE_CONFIGFS, n) || (path[n] && path[n] != '/'))
		return NULL;
	return path + n;
}

int sysfile_path(char *buf, size_t len, const char *fmt, ...)
{
	const char *cfs = getenv("QEMU_TCMU_CONFIGFS"), *rest;
	char path[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		if (len)
			buf[0] = '\0';
		return -ENAMETOOLONG;
	}
	if (cfs && cfs[0] && (rest = configfs_rest(path)))
		n = snprintf(buf, len, "%s%s", cfs, rest);
	else
		n = snprintf(buf, len, "%s%s", root, path);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
