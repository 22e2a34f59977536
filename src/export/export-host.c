/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What `qemu-tcmu export` asks the running system: /proc and sysfs (see export.h). */
#include "export-int.h"
#include "util/sysfile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool is_pid_dir(const char *name)
{
	if (!*name)
		return false;
	for (; *name; name++)
		if (!isdigit((unsigned char)*name))
			return false;
	return true;
}

/* A value of an option: "-xNAME", "-x NAME", "--handler-name=NAME", "--handler-name NAME". */
static const char *opt_value(const char *inline_val, char **argv, int argc, int *i)
{
	if (inline_val && *inline_val)
		return inline_val;
	if (*i + 1 < argc)
		return argv[++*i];
	return "";
}

/* @a (its first @n characters) is @full or an abbreviation of it, as getopt_long takes. */
static bool is_long(const char *a, size_t n, const char *full)
{
	return n > 2 && n <= strlen(full) && !strncmp(a, full, n);
}

bool export_daemon_cmdline(char **argv, int argc, const char **subtype)
{
	int i;

	*subtype = "qemu";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		size_t n;

		if (a[0] != '-' || !a[1] || !strcmp(a, "--"))
			return false; /* a subcommand or another positional argument */
		if (a[1] == '-') {
			eq = strchr(a, '=');
			n = eq ? (size_t)(eq - a) : strlen(a);
			if (is_long(a, n, "--handler-name"))
				*subtype = opt_value(eq ? eq + 1 : NULL, argv, argc, &i);
			else if (is_long(a, n, "--debug") || is_long(a, n, "--netlink-reply"))
				(void)opt_value(eq ? eq + 1 : NULL, argv, argc, &i);
			else if (is_long(a, n, "--check-config") || is_long(a, n, "--help") ||
				 is_long(a, n, "--version"))
				return false;
			continue;
		}
		for (a++; *a; a++) {
			if (*a == 'x' || *a == 'd') {
				const char *v = opt_value(a + 1, argv, argc, &i);

				if (*a == 'x')
					*subtype = v;
				break;
			}
			if (*a == 'h' || *a == 'V')
				return false;
		}
	}
	return true;
}

static bool is_daemon_for(const char *pid, const char *subtype)
{
	char path[64], buf[4096], *argv[64];
	const char *sub;
	int n, argc = 0, i;

	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	if (sysfile_read(path, buf, sizeof(buf)) < 0 || strcmp(buf, "qemu-tcmu\n"))
		return false;
	snprintf(path, sizeof(path), "/proc/%s/cmdline", pid);
	n = sysfile_read(path, buf, sizeof(buf));
	if (n <= 0)
		return false;
	for (i = 0; i < n && argc < (int)(sizeof(argv) / sizeof(argv[0]));
	     i += (int)strlen(buf + i) + 1)
		argv[argc++] = buf + i;
	return export_daemon_cmdline(argv, argc, &sub) && !strcmp(sub, subtype);
}

int export_find_daemon(const char *subtype)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int pid = 0;

	if (!d)
		return 0;
	while (!pid && (de = readdir(d))) {
		if (!is_pid_dir(de->d_name) || atoi(de->d_name) == getpid())
			continue;
		if (is_daemon_for(de->d_name, subtype))
			pid = atoi(de->d_name);
	}
	closedir(d);
	return pid;
}

/* The UIO device of a TCMU device: /sys/class/uio/uioN/name is
 * "tcm-user/<hba>/<name>/<dev_config>". */
static int find_uio(unsigned int hba, const char *name, char *uio, size_t len)
{
	char prefix[128], path[PATH_MAX], buf[512];
	DIR *d = opendir("/sys/class/uio");
	struct dirent *de;
	int r = -ENOENT;

	if (!d)
		return -ENOENT;
	snprintf(prefix, sizeof(prefix), "tcm-user/%u/%s/", hba, name);
	while (r == -ENOENT && (de = readdir(d))) {
		if (strncmp(de->d_name, "uio", 3))
			continue;
		snprintf(path, sizeof(path), "/sys/class/uio/%s/name", de->d_name);
		if (sysfile_read(path, buf, sizeof(buf)) < 0 ||
		    strncmp(buf, prefix, strlen(prefix)))
			continue;
		snprintf(uio, len, "/dev/%s", de->d_name);
		r = 0;
	}
	closedir(d);
	return r;
}

static bool pid_holds(const char *pid, const char *file)
{
	char dir[64], path[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	d = opendir(dir);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		found = !strcmp(target, file);
	}
	closedir(d);
	return found;
}

int export_uio_holder(unsigned int hba, const char *name, char *uio, size_t len)
{
	struct dirent *de;
	int r, pid = 0;
	DIR *d;

	r = find_uio(hba, name, uio, len);
	if (r < 0)
		return r;
	d = opendir("/proc");
	if (!d)
		return -errno;
	while (!pid && (de = readdir(d))) {
		if (is_pid_dir(de->d_name) && pid_holds(de->d_name, uio))
			pid = atoi(de->d_name);
	}
	closedir(d);
	return pid;
}

int export_scsi_disk(const char *addr, unsigned int lun, char *dev, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	struct stat st;
	int r = -ENOENT;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/bus/scsi/devices/%s:%u/block", addr, lun);
	d = opendir(path);
	if (!d)
		return -ENOENT;
	while (r == -ENOENT && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(dev, len, "/dev/%s", de->d_name);
		if (stat(dev, &st) == 0 && S_ISBLK(st.st_mode))
			r = 0;
	}
	closedir(d);
	return r;
}
