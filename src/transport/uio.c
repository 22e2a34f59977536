/* SPDX-License-Identifier: GPL-2.0-or-later */
/* TCMU UIO devices: discovery, names, mapping (see uio.h). */
#include "uio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/err.h"
#include "util/sysfile.h"

#define UIO_PREFIX "tcm-user/"

#define SYS_CLASS_UIO "/sys/class/uio"

/* Copy [s, s+n) into dst; -EINVAL if it does not fit or is empty. */
static int copy_part(char *dst, size_t cap, const char *s, size_t n)
{
	if (!n || n >= cap)
		return -EINVAL;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

int uio_parse_name(const char *name, struct uio_dev *u)
{
	const char *p, *slash;
	char num[16], *end;
	unsigned long hba;

	memset(u, 0, sizeof(*u));
	if (strncmp(name, UIO_PREFIX, strlen(UIO_PREFIX)))
		return -EINVAL;
	p = name + strlen(UIO_PREFIX);
	slash = strchr(p, '/');
	if (!slash || copy_part(num, sizeof(num), p, (size_t)(slash - p)))
		return -EINVAL;
	errno = 0;
	hba = strtoul(num, &end, 10);
	if (*end || errno || hba > 0xffffffffu)
		return -EINVAL;
	u->hba = (unsigned int)hba;
	p = slash + 1;
	slash = strchr(p, '/');
	if (copy_part(u->dev, sizeof(u->dev), p, slash ? (size_t)(slash - p) : strlen(p)))
		return -EINVAL;
	if (!slash)
		return 0;
	if (strlen(slash + 1) >= sizeof(u->cfg))
		return -EINVAL;
	strcpy(u->cfg, slash + 1);
	slash = strchr(u->cfg, '/');
	if (copy_part(u->subtype, sizeof(u->subtype), u->cfg,
		      slash ? (size_t)(slash - u->cfg) : strlen(u->cfg)))
		return -EINVAL;
	u->handler_off = slash ? (size_t)(slash + 1 - u->cfg) : strlen(u->cfg);
	return 0;
}

int uio_read(unsigned int minor, struct uio_dev *u, struct err *err)
{
	char path[512], name[1024], size[64], *end;
	int r;

	r = sysfile_path(path, sizeof(path), SYS_CLASS_UIO "/uio%u/name", minor);
	if (r == 0)
		r = sysfile_read_line(path, name, sizeof(name));
	if (r < 0)
		return err_set_errno(err, r, "cannot read %s", path);
	if (uio_parse_name(name, u) < 0)
		return err_set(err, -EINVAL, "uio%u: '%s' is not a TCMU device name", minor, name);
	u->minor = minor;
	r = sysfile_path(path, sizeof(path), SYS_CLASS_UIO "/uio%u/maps/map0/size", minor);
	if (r == 0)
		r = sysfile_read_line(path, size, sizeof(size));
	if (r < 0)
		return err_set_errno(err, r, "cannot read %s", path);
	errno = 0;
	u->map_size = strtoull(size, &end, 0);
	if (*end || errno || !u->map_size)
		return err_set(err, -EINVAL, "%s: bad size '%s'", path, size);
	return 0;
}

static int by_minor(const void *a, const void *b)
{
	unsigned int x = *(const unsigned int *)a, y = *(const unsigned int *)b;

	return (x > y) - (x < y);
}

int uio_scan(int (*fn)(const struct uio_dev *u, void *opaque), void *opaque)
{
	unsigned int minors[1024];
	char path[512];
	size_t n = 0;
	struct dirent *de;
	DIR *dir;
	int r = sysfile_path(path, sizeof(path), SYS_CLASS_UIO);

	if (r < 0)
		return r;
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir)) && n < sizeof(minors) / sizeof(minors[0])) {
		char *end;
		unsigned long m;

		if (strncmp(de->d_name, "uio", 3))
			continue;
		m = strtoul(de->d_name + 3, &end, 10);
		if (*end || end == de->d_name + 3)
			continue;
		minors[n++] = (unsigned int)m;
	}
	closedir(dir);
	qsort(minors, n, sizeof(minors[0]), by_minor);
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct uio_dev u;

		if (uio_read(minors[i], &u, NULL) == 0)
			r = fn(&u, opaque);
	}
	return r < 0 ? r : 0;
}

int uio_open(const struct uio_dev *u, int *fd, struct err *err)
{
	char path[512];
	int f = sysfile_path(path, sizeof(path), "/dev/uio%u", u->minor);

	if (f < 0)
		return err_set(err, f, "/dev/uio%u: path too long", u->minor);
	f = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (f < 0) {
		if (errno == EBUSY)
			return err_set(err, -EBUSY,
				       "%s is open in another process (a second daemon?)", path);
		return err_set_errno(err, -errno, "cannot open %s", path);
	}
	*fd = f;
	return 0;
}

int uio_map(const struct uio_dev *u, int fd, void **map, struct err *err)
{
	/* the kernel insists on the exact size */
	void *m = mmap(NULL, u->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (m == MAP_FAILED)
		return err_set_errno(err, -errno, "cannot map uio%u (%llu bytes)", u->minor,
				     (unsigned long long)u->map_size);
	*map = m;
	return 0;
}

void uio_close(int fd, void *map, size_t size)
{
	if (map)
		munmap(map, size);
	if (fd >= 0)
		close(fd);
}
