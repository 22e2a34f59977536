/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The configfs tree `qemu-tcmu export` changes, with an undo log (see export-tree.h). */
#include "export-tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util/err.h"
#include "util/sysfile.h"

#define CONFIGFS_MAGIC 0x62656570

void etree_init(struct etree *t, const char *root)
{
	struct statfs sfs;

	memset(t, 0, sizeof(*t));
	if (root && root[0])
		snprintf(t->root, sizeof(t->root), "%s", root);
	else /* $QEMU_TCMU_CONFIGFS or the real tree */
		sysfile_path(t->root, sizeof(t->root), SYSFILE_CONFIGFS);
	t->plain = statfs(t->root, &sfs) == 0 && sfs.f_type != CONFIGFS_MAGIC;
}

void etree_commit(struct etree *t)
{
	size_t i;

	for (i = 0; i < t->nundo; i++) {
		free(t->undo[i].rel);
		if (t->undo[i].secret && t->undo[i].value)
			explicit_bzero(t->undo[i].value, strlen(t->undo[i].value));
		free(t->undo[i].value);
	}
	t->nundo = 0;
}

void etree_release(struct etree *t)
{
	etree_commit(t);
	free(t->undo);
	t->undo = NULL;
	t->capundo = 0;
}

int etree_path(const struct etree *t, char *buf, size_t len, const char *rel)
{
	int n = snprintf(buf, len, "%s/%s", t->root, rel);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int etree_rel(char *buf, size_t len, struct err *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return err_set(err, -ENAMETOOLONG, "configfs path too long: %.100s...", buf);
	return 0;
}

static int log_undo(struct etree *t, enum etree_undo_kind kind, const char *rel, const char *value,
		    bool secret)
{
	struct etree_undo *u;

	if (t->nundo == t->capundo) {
		size_t cap = t->capundo ? t->capundo * 2 : 16;

		u = realloc(t->undo, cap * sizeof(*u));
		if (!u)
			return -ENOMEM;
		t->undo = u;
		t->capundo = cap;
	}
	u = &t->undo[t->nundo];
	u->kind = kind;
	u->rel = strdup(rel);
	u->value = value ? strdup(value) : NULL;
	u->secret = secret;
	if (!u->rel || (value && !u->value)) {
		free(u->rel);
		free(u->value);
		return -ENOMEM;
	}
	t->nundo++;
	return 0;
}

bool etree_exists(const struct etree *t, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	return !etree_path(t, p, sizeof(p), rel) && lstat(p, &st) == 0;
}

bool etree_is_dir(const struct etree *t, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	return !etree_path(t, p, sizeof(p), rel) && lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

bool etree_is_link(const struct etree *t, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	return !etree_path(t, p, sizeof(p), rel) && lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

int etree_read(const struct etree *t, const char *rel, char *buf, size_t len)
{
	char p[PATH_MAX];
	int r = etree_path(t, p, sizeof(p), rel);

	if (r < 0) {
		buf[0] = '\0';
		return r;
	}
	return sysfile_read(p, buf, len);
}

int etree_realpath(const struct etree *t, const char *rel, char *buf, size_t len)
{
	char p[PATH_MAX], rp[PATH_MAX];
	int r = etree_path(t, p, sizeof(p), rel);

	if (r < 0)
		return r;
	if (!realpath(p, rp))
		return -errno;
	if (strlen(rp) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, rp);
	return 0;
}

int etree_mkdir(struct etree *t, const char *rel, struct err *err)
{
	char p[PATH_MAX];
	int r = etree_path(t, p, sizeof(p), rel);

	if (r < 0)
		return err_set(err, r, "configfs path too long: %s", rel);
	if (mkdir(p, 0755) < 0)
		return err_set_errno(err, -errno, "mkdir %s", p);
	r = log_undo(t, ETREE_RMDIR, rel, NULL, false);
	if (r < 0) {
		rmdir(p);
		return err_set_errno(err, r, "mkdir %s", p);
	}
	return 0;
}

int etree_mkdir_p(struct etree *t, const char *rel, struct err *err)
{
	char part[PATH_MAX];
	size_t i, n = strlen(rel);
	int r;

	if (n >= sizeof(part))
		return err_set(err, -ENAMETOOLONG, "configfs path too long: %s", rel);
	for (i = 1; i <= n; i++) {
		if (i < n && rel[i] != '/')
			continue;
		memcpy(part, rel, i);
		part[i] = '\0';
		if (etree_is_dir(t, part))
			continue;
		r = etree_mkdir(t, part, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int etree_symlink(struct etree *t, const char *target_rel, const char *link_rel, struct err *err)
{
	char target[PATH_MAX], link[PATH_MAX];
	int r;

	if (etree_path(t, target, sizeof(target), target_rel) < 0 ||
	    etree_path(t, link, sizeof(link), link_rel) < 0)
		return err_set(err, -ENAMETOOLONG, "configfs path too long: %s", link_rel);
	if (symlink(target, link) < 0)
		return err_set_errno(err, -errno, "symlink %s -> %s", link, target);
	r = log_undo(t, ETREE_UNLINK, link_rel, NULL, false);
	if (r < 0) {
		unlink(link);
		return err_set_errno(err, r, "symlink %s", link);
	}
	return 0;
}

static int write_attr(struct etree *t, const char *rel, const char *value, const char *undo_value,
		      bool secret, struct err *err)
{
	bool created = false;
	char p[PATH_MAX];
	int r;

	r = etree_path(t, p, sizeof(p), rel);
	if (r < 0)
		return err_set(err, r, "configfs path too long: %s", rel);
	if (t->plain && !etree_exists(t, rel)) {
		/* the kernel would have made the attribute and its group */
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", rel);
		slash = strrchr(dir, '/');
		if (slash) {
			*slash = '\0';
			r = etree_mkdir_p(t, dir, err);
			if (r < 0)
				return r;
		}
		created = true;
	}
	r = sysfile_write(p, value, O_TRUNC | (created ? O_CREAT | O_EXCL : 0));
	if (r < 0 && secret)
		return err_set_errno(err, r, "writing the secret to %s", p);
	if (r < 0)
		return err_set_errno(err, r, "writing '%s' to %s", value, p);
	if (created)
		r = log_undo(t, ETREE_UNLINK, rel, NULL, false);
	else if (undo_value)
		r = log_undo(t, ETREE_WRITE, rel, undo_value, secret);
	if (r < 0)
		return err_set_errno(err, r, "writing %s", p);
	return 0;
}

int etree_write(struct etree *t, const char *rel, const char *value, const char *undo_value,
		struct err *err)
{
	return write_attr(t, rel, value, undo_value, false, err);
}

int etree_write_secret(struct etree *t, const char *rel, const char *value, const char *undo_value,
		       struct err *err)
{
	return write_attr(t, rel, value, undo_value, true, err);
}

int etree_read_line(const struct etree *t, const char *rel, char *buf, size_t len)
{
	int r;

	if (!etree_exists(t, rel)) {
		buf[0] = '\0';
		return 0;
	}
	r = etree_read(t, rel, buf, len);
	buf[strcspn(buf, "\n")] = '\0';
	return r < 0 ? r : 0;
}

/* A plain tree: remove the regular files in @p and, with @descend, its subdirectories
 * that hold only regular files (what configfs removes with a group: its attributes and
 * default groups); anything else is -ENOTEMPTY. */
static int rm_files(const char *p, bool descend)
{
	char sub[PATH_MAX];
	struct dirent *de;
	struct stat st;
	DIR *d = opendir(p);
	int r = 0;

	if (!d)
		return -errno;
	while (!r && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", p, de->d_name) >= sizeof(sub)) {
			r = -ENAMETOOLONG;
			break;
		}
		if (lstat(sub, &st) < 0)
			r = -errno;
		else if (S_ISREG(st.st_mode))
			r = unlink(sub) < 0 ? -errno : 0;
		else if (S_ISDIR(st.st_mode) && descend) {
			r = rm_files(sub, false);
			if (!r && rmdir(sub) < 0)
				r = -errno;
		} else
			r = -ENOTEMPTY;
	}
	closedir(d);
	return r;
}

int etree_rmdir(struct etree *t, const char *rel, struct err *err)
{
	char p[PATH_MAX];
	int r = etree_path(t, p, sizeof(p), rel);

	if (r < 0)
		return err_set(err, r, "configfs path too long: %s", rel);
	if (t->plain) {
		r = rm_files(p, true);
		if (r < 0)
			return err_set_errno(err, r, "rmdir %s", p);
	}
	if (rmdir(p) < 0)
		return err_set_errno(err, -errno, "rmdir %s", p);
	return 0;
}

int etree_unlink(struct etree *t, const char *rel, struct err *err)
{
	char p[PATH_MAX];
	int r = etree_path(t, p, sizeof(p), rel);

	if (r < 0)
		return err_set(err, r, "configfs path too long: %s", rel);
	if (unlink(p) < 0)
		return err_set_errno(err, -errno, "rm %s", p);
	return 0;
}

void etree_rollback(struct etree *t)
{
	struct err err;
	char p[PATH_MAX];
	size_t i;
	int r;

	for (i = t->nundo; i-- > 0;) {
		struct etree_undo *u = &t->undo[i];

		err_init(&err);
		switch (u->kind) {
		case ETREE_RMDIR:
			r = etree_rmdir(t, u->rel, &err);
			break;
		case ETREE_UNLINK:
			r = etree_unlink(t, u->rel, &err);
			break;
		case ETREE_WRITE:
		default:
			r = etree_path(t, p, sizeof(p), u->rel);
			if (!r)
				r = sysfile_write(p, u->value, O_TRUNC);
			if (r < 0)
				err_set_errno(&err, r, "writing '%s' to %s",
					      u->secret ? "(the secret)" : u->value, p);
			break;
		}
		if (r < 0)
			fprintf(stderr, "qemu-tcmu: rollback: %s\n", err.msg);
	}
	etree_commit(t);
}

int etree_random_hex(char *buf, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];
	size_t i;

	if (n > sizeof(b))
		return -EINVAL;
	if (getrandom(b, n, 0) != (ssize_t)n)
		return -EIO;
	for (i = 0; i < n; i++)
		buf[i] = hex[b[i] & 15];
	buf[n] = '\0';
	return 0;
}
