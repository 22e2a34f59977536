/* SPDX-License-Identifier: GPL-2.0-or-later */
/* LIO configfs and target_core_user parameters (see configfs.h). */
#include "configfs.h"
#include "util/sysfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PARAMS "/sys/module/target_core_user/parameters"

static int dev_path(char *buf, size_t len, unsigned int hba, const char *dev, const char *rel)
{
	return sysfile_path(buf, len, SYSFILE_CONFIGFS "/core/user_%u/%s/%s", hba, dev, rel);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (end == s || errno)
		return -EINVAL;
	while (*end == '\n' || *end == ' ')
		end++;
	return *end ? -EINVAL : 0;
}

int cfs_read_u64(unsigned int hba, const char *dev, const char *rel, uint64_t *out)
{
	char path[512], buf[64];
	int r = dev_path(path, sizeof(path), hba, dev, rel);

	if (r < 0)
		return r;
	r = sysfile_read(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	return parse_u64(buf, out);
}

int cfs_read_size(unsigned int hba, const char *dev, uint64_t *out)
{
	char path[512], buf[1024], *p;
	int r = dev_path(path, sizeof(path), hba, dev, "info");

	if (r < 0)
		return r;
	r = sysfile_read(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	/* "... SectorSize: 512 ...\nConfig: <cfg> Size: <bytes> MaxDataAreaMB: ..." */
	p = strstr(buf, " Size: ");
	if (!p)
		return -EINVAL;
	p += strlen(" Size: ");
	p[strcspn(p, " \n")] = '\0';
	return parse_u64(p, out);
}

int cfs_read_serial(unsigned int hba, const char *dev, char *out, size_t len)
{
	static const char tag[] = "T10 VPD Unit Serial Number:";
	char path[512], buf[512], *p;
	int r = dev_path(path, sizeof(path), hba, dev, "wwn/vpd_unit_serial");

	if (r < 0)
		return r;
	r = sysfile_read(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	p = strstr(buf, tag);
	p = p ? p + strlen(tag) : buf;
	p += strspn(p, " ");
	p[strcspn(p, "\n")] = '\0';
	if (strlen(p) >= len)
		return -ENAMETOOLONG;
	strcpy(out, p);
	return 0;
}

int cfs_action(unsigned int hba, const char *dev, const char *action, int value)
{
	char path[512], val[16], rel[64];
	int r;

	snprintf(rel, sizeof(rel), "action/%s", action);
	r = dev_path(path, sizeof(path), hba, dev, rel);
	if (r < 0)
		return r;
	snprintf(val, sizeof(val), "%d", value);
	return sysfile_write(path, val, 0);
}

int cfs_write_u64(unsigned int hba, const char *dev, const char *rel, uint64_t value)
{
	char path[512], val[32];
	int r = dev_path(path, sizeof(path), hba, dev, rel);

	if (r < 0)
		return r;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)value);
	return sysfile_write(path, val, 0);
}

int cfs_module_param(const char *name, const char *value)
{
	char path[512];
	int r = sysfile_path(path, sizeof(path), PARAMS "/%s", name);

	return r < 0 ? r : sysfile_write(path, value, 0);
}
