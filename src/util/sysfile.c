/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Small kernel-interface files: see sysfile.h. */
#include "sysfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

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
