/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `qemu-tcmu export`: a user:qemu backstore and its tcm_loop / iSCSI exports, all or
 * nothing (see export.h). */
#include "export.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "daemon/cfgstr.h"
#include "export/export-int.h"
#include "export/export-tree.h"
#include "util/err.h"

#define DEFAULT_TIMEOUT_MS 30000
#define POLL_MS 50
#define TCMU_CONFIG_MAX 255 /* the kernel's dev_config buffer, NUL included: 256 */

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- checks before anything is made ------------------------------------------------ */

static int check_name(const char *name, struct err *err)
{
	size_t i, n = strlen(name);

	if (!n || n > EXPORT_NAME_MAX)
		return err_set(err, -EINVAL, "bad name '%s': 1 to %d characters", name,
			       EXPORT_NAME_MAX);
	if (name[0] == '.' || name[0] == '-')
		return err_set(err, -EINVAL, "bad name '%s': may not start with '.' or '-'", name);
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_-.", name[i]))
			return err_set(err, -EINVAL,
				       "bad name '%s': only letters, digits, '_', '-' and '.'",
				       name);
	return 0;
}

/* "IP[:PORT]" or "[IPv6][:PORT]" -> LIO's network portal name "IP:PORT" / "[IPv6]:PORT" */
static int parse_portal(const char *s, char *out, size_t len, struct err *err)
{
	char ip[INET6_ADDRSTRLEN + 2], buf[16];
	const char *port = NULL, *end;
	bool v6 = s[0] == '[';
	unsigned long p = 3260;
	char *e;

	if (v6) {
		end = strchr(s, ']');
		if (!end || (end[1] && end[1] != ':'))
			goto bad;
		port = end[1] ? end + 2 : NULL;
		s++;
	} else {
		end = strrchr(s, ':');
		if (end)
			port = end + 1;
		else
			end = s + strlen(s);
	}
	if ((size_t)(end - s) >= sizeof(ip))
		goto bad;
	memcpy(ip, s, (size_t)(end - s));
	ip[end - s] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, buf) != 1)
		goto bad;
	if (port) {
		errno = 0;
		p = strtoul(port, &e, 10);
		if (!*port || *e || errno || p == 0 || p > 65535)
			goto bad;
	}
	if ((size_t)snprintf(out, len, v6 ? "[%s]:%lu" : "%s:%lu", ip, p) >= len)
		goto bad;
	return 0;
bad:
	return err_set(err, -EINVAL, "bad portal '%s': expected IP[:PORT] or [IPv6][:PORT]",
		       v6 ? s - 1 : s);
}

/* A relative local path: not absolute and no "scheme:" before the first '/'. */
static bool is_relative_path(const char *v)
{
	const char *colon = strchr(v, ':'), *slash = strchr(v, '/');

	if (v[0] == '/')
		return false;
	return !colon || (slash && slash < colon);
}

/* The daemon runs elsewhere: a relative image path becomes absolute. */
static int absolute_path(const char *v, size_t vlen, char *out, size_t len, struct err *err)
{
	char cwd[PATH_MAX], val[PATH_MAX];

	if ((size_t)snprintf(val, sizeof(val), "%.*s", (int)vlen, v) >= sizeof(val))
		return err_set(err, -ENAMETOOLONG, "image path too long");
	if (!is_relative_path(val))
		return (size_t)snprintf(out, len, "%s", val) >= len ? -ENAMETOOLONG : 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return err_set_errno(err, -errno, "getcwd");
	v = val;
	while (!strncmp(v, "./", 2))
		v += 2;
	if ((size_t)snprintf(out, len, "%s/%s", cwd, v) >= len)
		return err_set(err, -ENAMETOOLONG, "image path too long: %s/%s", cwd, v);
	return 0;
}

/* @cfg with its image path made absolute: a plain path, or the value of "@file=". */
static int resolve_cfg(const char *cfg, char *out, size_t len, struct err *err)
{
	char abs[PATH_MAX];
	const char *p = cfg;
	size_t n = 0;
	int r;

	if (cfg[0] != '@') {
		r = absolute_path(cfg, strlen(cfg), out, len, err);
		return r == -ENAMETOOLONG ? err_set(err, r, "image path too long") : r;
	}
	out[0] = '\0';
	while (*p == '@') {
		const char *seg = p + 1, *end = strchr(seg, '@');
		size_t sl = end ? (size_t)(end - seg) : strlen(seg);
		int w;

		if (sl > 5 && !strncmp(seg, "file=", 5)) {
			r = absolute_path(seg + 5, sl - 5, abs, sizeof(abs), err);
			if (r < 0)
				return r;
			w = snprintf(out + n, len - n, "@file=%s", abs);
		} else {
			w = snprintf(out + n, len - n, "@%.*s", (int)sl, seg);
		}
		if (w < 0 || (size_t)w >= len - n)
			return err_set(err, -ENAMETOOLONG, "config string too long");
		n += (size_t)w;
		p = seg + sl;
	}
	return 0;
}

/* The default name: the image file's base name without its extension. */
static void default_name(const char *cfg, char *name, size_t len)
{
	const char *v = cfg, *end, *base;
	size_t n, i;
	char *dot;

	if (cfg[0] == '@') {
		v = strstr(cfg, "@file=");
		v = v ? v + 6 : "";
	}
	end = strchr(v, '@');
	n = end ? (size_t)(end - v) : strlen(v);
	while (n && v[n - 1] == '/')
		n--;
	base = v + n;
	while (base > v && base[-1] != '/')
		base--;
	n = (size_t)(v + n - base);
	if (n >= len)
		n = len - 1;
	memcpy(name, base, n);
	name[n] = '\0';
	dot = strrchr(name, '.');
	if (dot && dot != name)
		*dot = '\0';
	for (i = 0; name[i]; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_-.", name[i]))
			name[i] = '_';
	if (name[0] == '.' || name[0] == '-')
		name[0] = '_';
	if (!name[0])
		snprintf(name, len, "disk");
}

/* ---- lookups shared with export-remove.c ------------------------------------------- */

int export_check_root(const struct etree *t, struct err *err)
{
	if (etree_is_dir(t, "."))
		return 0;
	return err_set(err, -ENOENT,
		       "%s does not exist: is configfs mounted and LIO loaded? (modprobe "
		       "target_core_user)",
		       t->root);
}

int export_find_so(const struct etree *t, const char *name, unsigned int *hba)
{
	char core[PATH_MAX], rel[PATH_MAX];
	struct dirent *de;
	int r = -ENOENT;
	unsigned int n;
	char tail;
	DIR *d;

	if (etree_path(t, core, sizeof(core), "core") < 0 || !(d = opendir(core)))
		return -ENOENT;
	while (r == -ENOENT && (de = readdir(d))) {
		if (sscanf(de->d_name, "user_%u%c", &n, &tail) != 1)
			continue;
		snprintf(rel, sizeof(rel), "core/%s/%s", de->d_name, name);
		if (etree_is_dir(t, rel)) {
			*hba = n;
			r = 0;
		}
	}
	closedir(d);
	return r;
}

int export_so_attr(const struct etree *t, const char *so_rel, const char *key, char *buf,
		   size_t len)
{
	char rel[PATH_MAX], text[2048], tag[64], *p;
	int r;

	snprintf(rel, sizeof(rel), "%s/attrib/%s", so_rel, key);
	r = etree_read(t, rel, buf, len);
	if (r > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		return 0;
	}
	/* the info file: "... Config: qemu/... Size: 1073741824 MaxDataAreaMB: ..." */
	snprintf(rel, sizeof(rel), "%s/info", so_rel);
	snprintf(tag, sizeof(tag), " %s: ", !strcmp(key, "dev_config") ? "Config" : "Size");
	if (etree_read(t, rel, text, sizeof(text)) > 0 && (p = strstr(text, tag))) {
		p += strlen(tag);
		p[strcspn(p, " \n")] = '\0';
		snprintf(buf, len, "%s", p);
		return 0;
	}
	/* a plain tree: what export wrote to control */
	snprintf(rel, sizeof(rel), "%s/control", so_rel);
	snprintf(tag, sizeof(tag), "%s=", key);
	if (t->plain && etree_read(t, rel, text, sizeof(text)) > 0 && (p = strstr(text, tag))) {
		p += strlen(tag);
		p[strcspn(p, ",\n")] = '\0';
		snprintf(buf, len, "%s", p);
		return 0;
	}
	return r < 0 ? r : -ENOENT;
}

/* ---- the backstore ----------------------------------------------------------------- */

/* Is N the index of any HBA (core/<plugin>_N)?  rtslib keeps them unique across plugins. */
static bool hba_used(const struct etree *t, unsigned int n)
{
	char core[PATH_MAX];
	struct dirent *de;
	bool used = false;
	DIR *d;

	if (etree_path(t, core, sizeof(core), "core") < 0 || !(d = opendir(core)))
		return false;
	while (!used && (de = readdir(d))) {
		const char *us = strrchr(de->d_name, '_');
		char *end;

		used = us && us[1] && strtoul(us + 1, &end, 10) == n && !*end;
	}
	closedir(d);
	return used;
}

/* A random (version 4) UUID, the unit serial targetcli gives a backstore. */
static int make_serial(char *uuid, size_t len)
{
	char h[33];
	int r = etree_random_hex(h, 32);

	if (r < 0)
		return r;
	h[12] = '4';		   /* version 4 */
	h[16] = "89ab"[h[16] % 4]; /* the RFC 4122 variant */
	snprintf(uuid, len, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
	return 0;
}

static int enable_so(struct etree *t, const struct export_params *p, const char *so_rel,
		     struct err *err)
{
	int waited = 0, r;
	char rel[PATH_MAX];

	snprintf(rel, sizeof(rel), "%s/enable", so_rel);
	for (;;) {
		/* a daemon starting up blocks netlink while it takes devices over: EAGAIN */
		r = etree_write(t, rel, "1", NULL, err);
		if (r != -EAGAIN || waited >= p->timeout_ms)
			break;
		sleep_ms(POLL_MS);
		waited += POLL_MS;
	}
	if (r < 0)
		err_prefix(err, "the daemon refused the device (its log says why)");
	return r;
}

/* The daemon has the device's /dev/uioN open once it serves it: at once when the kernel
 * waits for its verdict, a moment later when it does not (tcmu-runner running). */
static int wait_served(const struct export_params *p, unsigned int hba, const char *so,
		       struct err *err)
{
	char uio[64] = "";
	int waited = 0, r;

	for (;;) {
		r = export_uio_holder(hba, p->name, uio, sizeof(uio));
		if (r > 0)
			return 0;
		if (waited >= p->timeout_ms)
			break;
		sleep_ms(POLL_MS);
		waited += POLL_MS;
	}
	if (r == -ENOENT)
		return err_set(err, -ENODEV, "%s: the kernel made no UIO device for it", so);
	return err_set(err, -ETIMEDOUT,
		       "%s: no %s daemon took %s within %d s (the daemon's log says why)", so,
		       p->subtype, uio, p->timeout_ms / 1000);
}

static int make_backstore(struct etree *t, const struct export_params *p, struct export_result *res,
			  struct err *err)
{
	char rel[PATH_MAX], val[512], serial[40];
	unsigned int hba;
	int r;

	r = etree_mkdir_p(t, "core", err); /* always there in configfs */
	for (hba = 0; !r; hba++) {
		if (hba_used(t, hba))
			continue;
		snprintf(rel, sizeof(rel), "core/user_%u", hba);
		r = etree_mkdir(t, rel, err);
		if (r != -EEXIST)
			break;
		r = 0;
	}
	if (r < 0)
		return r;
	snprintf(res->so_rel, sizeof(res->so_rel), "core/user_%u/%s", hba, p->name);
	r = etree_mkdir(t, res->so_rel, err);
	if (r < 0)
		return r;
	snprintf(rel, sizeof(rel), "%s/control", res->so_rel);
	snprintf(val, sizeof(val), "dev_config=%s,dev_size=%" PRIu64 ",hw_block_size=%u",
		 res->dev_config, res->size, res->block_size);
	r = etree_write(t, rel, val, NULL, err);
	if (!r)
		r = enable_so(t, p, res->so_rel, err);
	if (!r && !t->plain)
		r = wait_served(p, hba, res->so_rel, err);
	if (r < 0)
		return r;
	/* written after enable, as rtslib does: the daemon reads it when asked */
	r = make_serial(serial, sizeof(serial));
	if (r < 0)
		return err_set_errno(err, r, "getrandom");
	snprintf(rel, sizeof(rel), "%s/wwn/vpd_unit_serial", res->so_rel);
	return etree_write(t, rel, serial, NULL, err);
}

/* ---- fabrics ----------------------------------------------------------------------- */

static int random_naa(char *buf, size_t len)
{
	char h[10];
	int r = etree_random_hex(h, 9);

	snprintf(buf, len, "naa.5001405%s", h); /* rtslib's: IEEE registered, OUI 001405 */
	return r;
}

/* tpg/lun/lun_0 -> the backstore, under an alias of 10 hex digits (rtslib's choice). */
static int link_lun(struct etree *t, const char *tpg, const char *so_rel, struct err *err)
{
	char rel[PATH_MAX], alias[11];
	int r;

	r = etree_random_hex(alias, 10);
	if (r < 0)
		return err_set_errno(err, r, "getrandom");
	r = etree_rel(rel, sizeof(rel), err, "%s/lun/lun_0", tpg);
	r = r ? r : etree_mkdir_p(t, rel, err);
	r = r ? r : etree_rel(rel, sizeof(rel), err, "%s/lun/lun_0/%s", tpg, alias);
	return r ? r : etree_symlink(t, so_rel, rel, err);
}

static int wait_disk(const struct etree *t, const struct export_params *p, const char *tpg,
		     struct export_result *res, struct err *err)
{
	char rel[PATH_MAX];
	int waited = 0, r;

	snprintf(rel, sizeof(rel), "%s/address", tpg);
	r = etree_read(t, rel, res->loop_addr, sizeof(res->loop_addr));
	if (r <= 0)
		return err_set_errno(err, r < 0 ? r : -EIO, "reading %s/%s", t->root, rel);
	res->loop_addr[strcspn(res->loop_addr, "\n")] = '\0';
	while ((r = export_scsi_disk(res->loop_addr, 0, res->loop_dev, sizeof(res->loop_dev))) &&
	       waited < p->timeout_ms) {
		sleep_ms(POLL_MS);
		waited += POLL_MS;
	}
	if (r < 0) {
		res->loop_dev[0] = '\0';
		return err_set(err, -ETIMEDOUT, "no disk appeared for tcm_loop %s:0 within %d s",
			       res->loop_addr, p->timeout_ms / 1000);
	}
	return 0;
}

static int make_loop(struct etree *t, const struct export_params *p, struct export_result *res,
		     struct err *err)
{
	char tpg[PATH_MAX], rel[PATH_MAX], nexus[32];
	int r;

	if (random_naa(res->loop_wwn, sizeof(res->loop_wwn)) < 0 ||
	    random_naa(nexus, sizeof(nexus)) < 0)
		return err_set(err, -EIO, "getrandom failed");
	snprintf(tpg, sizeof(tpg), "loopback/%s/tpgt_1", res->loop_wwn);
	r = etree_mkdir_p(t, tpg, err);
	if (r < 0)
		return r;
	snprintf(rel, sizeof(rel), "%s/nexus", tpg);
	r = etree_write(t, rel, nexus, NULL, err);
	r = r ? r : link_lun(t, tpg, res->so_rel, err);
	if (!r && !t->plain)
		r = wait_disk(t, p, tpg, res, err);
	return r;
}

/* The target, its LUN and portals, who may log in (export-access.c), and only then the
 * portal group enabled. */
static int make_iscsi(struct etree *t, const struct export_params *p, struct export_result *res,
		      struct err *err)
{
	char tpg[PATH_MAX], rel[PATH_MAX];
	size_t i;
	int r;

	r = etree_rel(tpg, sizeof(tpg), err, "iscsi/%s/tpgt_1", p->iqn);
	r = r ? r : etree_mkdir_p(t, tpg, err);
	r = r ? r : link_lun(t, tpg, res->so_rel, err);
	for (i = 0; !r && i < res->nportals; i++) {
		r = etree_rel(rel, sizeof(rel), err, "%s/np/%s", tpg, res->portals[i]);
		r = r ? r : etree_mkdir_p(t, rel, err);
	}
	r = r ? r : export_access_make(t, p, tpg, err);
	r = r ? r : etree_rel(rel, sizeof(rel), err, "%s/enable", tpg);
	return r ? r : etree_write(t, rel, "1", "0", err);
}

/* ---- export_create ------------------------------------------------------------------ */

/* The options: block size, target name, portals (into @res, with the default). */
static int check_options(const struct export_params *p, struct export_result *res, struct err *err)
{
	size_t i;
	int r;

	if (p->block_size != 512 && p->block_size != 1024 && p->block_size != 2048 &&
	    p->block_size != 4096)
		return err_set(err, -EINVAL, "bad block size %u: 512, 1024, 2048 or 4096",
			       p->block_size);
	if (p->iqn && (r = export_check_iscsi_name("iSCSI target name", p->iqn, err)) < 0)
		return r;
	r = export_access_check(p, /*secrets*/ true, err);
	if (r < 0)
		return r;
	if (p->nportals > EXPORT_PORTALS_MAX)
		return err_set(err, -EINVAL, "at most %d portals", EXPORT_PORTALS_MAX);
	for (i = 0; i < p->nportals; i++) {
		r = parse_portal(p->portals[i], res->portals[i], EXPORT_PORTAL_MAX, err);
		if (r < 0)
			return r;
	}
	res->nportals = p->nportals;
	if (p->iqn && !res->nportals)
		snprintf(res->portals[res->nportals++], EXPORT_PORTAL_MAX, "0.0.0.0:3260");
	return 0;
}

/* The config string (LIO's limits, then targetcli's CheckConfig: keys, values, the image
 * opens), the size, the name. */
static int check_image(struct export_params *p, struct export_result *res, struct err *err)
{
	char cfg[TCMU_CONFIG_MAX + 64], msg[ERR_MSG_MAX];
	uint64_t isize;
	int r;

	r = resolve_cfg(p->cfg, cfg, sizeof(cfg), err);
	if (r < 0)
		return r;
	if (strpbrk(cfg, ",\n"))
		return err_set(err, -EINVAL,
			       "the config string may not contain ',' or newlines (LIO's control "
			       "file splits on them): %s",
			       cfg);
	if (strlen(p->subtype) + 1 + strlen(cfg) > TCMU_CONFIG_MAX)
		return err_set(err, -ENAMETOOLONG,
			       "config string too long for LIO (%d bytes with '%s/'): %s",
			       TCMU_CONFIG_MAX, p->subtype, cfg);
	snprintf(res->dev_config, sizeof(res->dev_config), "%s/%s", p->subtype, cfg);
	if (!cfgstr_check_size(cfg, &isize, msg, sizeof(msg)))
		return err_set(err, -EINVAL, "%s", msg);
	res->block_size = p->block_size;
	res->size = p->size ? p->size : isize / p->block_size * p->block_size;
	if (!res->size)
		return err_set(err, -EINVAL, "the image is smaller than one %u-byte block",
			       p->block_size);
	if (res->size > isize)
		return err_set(err, -EINVAL,
			       "size %" PRIu64 " exceeds the image's %" PRIu64 " bytes (grow it "
			       "first: qemu-img resize)",
			       res->size, isize);
	if (res->size % p->block_size)
		return err_set(err, -EINVAL, "size %" PRIu64 " is not a multiple of %u-byte blocks",
			       res->size, p->block_size);
	if (p->name)
		snprintf(res->name, sizeof(res->name), "%s", p->name);
	else
		default_name(cfg, res->name, sizeof(res->name));
	p->name = res->name;
	return check_name(res->name, err);
}

/* configfs: the name and the target are free; a daemon will serve the device. */
static int check_tree(const struct etree *t, const struct export_params *p, struct err *err)
{
	char rel[PATH_MAX];
	unsigned int hba;
	int r;

	r = export_check_root(t, err);
	if (r < 0)
		return r;
	if (!export_find_so(t, p->name, &hba))
		return err_set(err, -EEXIST,
			       "a user backstore named '%s' exists already (core/user_%u/%s: "
			       "unexport it, or choose another --name)",
			       p->name, hba, p->name);
	if (p->iqn) {
		r = etree_rel(rel, sizeof(rel), err, "iscsi/%s", p->iqn);
		if (r < 0)
			return r;
		if (etree_exists(t, rel))
			return err_set(err, -EEXIST, "iSCSI target %s exists already", p->iqn);
		r = export_access_check_tree(t, p, err);
		if (r < 0)
			return r;
	}
	/* without a daemon, an enable the kernel waits a verdict for would hang for good */
	if (!t->plain && !export_find_daemon(p->subtype))
		return err_set(err, -ESRCH,
			       "no qemu-tcmu daemon serving user:%s is running: start it first "
			       "(qemu-tcmu%s%s &, or systemctl start qemu-tcmu)",
			       p->subtype, strcmp(p->subtype, "qemu") ? " -x " : "",
			       strcmp(p->subtype, "qemu") ? p->subtype : "");
	return 0;
}

int export_lock(const struct etree *t)
{
	int fd;

	if (t->plain || !etree_is_dir(t, "."))
		return -1;
	fd = open(EXPORT_LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void export_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

int export_create(const struct export_params *params, struct export_result *res, struct err *err)
{
	struct export_params p = *params;
	struct etree t;
	int r, lock;

	memset(res, 0, sizeof(*res));
	if (!p.subtype)
		p.subtype = "qemu";
	if (!p.block_size)
		p.block_size = 512;
	if (p.timeout_ms <= 0)
		p.timeout_ms = DEFAULT_TIMEOUT_MS;
	etree_init(&t, NULL);
	res->plain = t.plain;
	lock = export_lock(&t);
	/* everything that can be checked before the first mkdir */
	r = check_options(&p, res, err);
	if (!r)
		r = check_image(&p, res, err);
	if (!r)
		r = check_tree(&t, &p, err);
	if (!r)
		r = make_backstore(&t, &p, res, err);
	if (!r && p.loop)
		r = make_loop(&t, &p, res, err);
	if (!r && p.iqn)
		r = make_iscsi(&t, &p, res, err);
	if (r < 0)
		etree_rollback(&t);
	export_unlock(lock);
	etree_release(&t);
	return r;
}
