/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who may log in to an iSCSI export (struct export_access in export.h), written as LIO's
 * configfs takes it (drivers/target/iscsi/iscsi_target_configfs.c):
 *
 *   tpgt_1/attrib/authentication       1 with CHAP: an initiator offering AuthMethod=None
 *                                      is refused
 *   tpgt_1/attrib/generate_node_acls   0 with --allow: initiators without an ACL are refused
 *   tpgt_1/acls/INITIATOR/lun_0/ALIAS  -> tpgt_1/lun/lun_0: the ACL sees LUN 0
 *   tpgt_1/acls/INITIATOR/auth/        userid, password, userid_mutual, password_mutual
 *   tpgt_1/auth/                       the same, for any initiator name (CHAP, no --allow)
 *   discovery_auth/                    the same and enforce_discovery_auth: SendTargets
 *                                      sessions, one setting for the host
 *
 * LIO keeps a CHAP value verbatim (a trailing newline would become part of it) and takes a
 * value that begins with "NULL" as unset: values are written without a newline, names and
 * secrets beginning with NULL are refused, and "NULL" clears one.  Reading a secret back
 * needs CAP_SYS_ADMIN; it is compared, never printed.
 */
#include "export.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "export/export-int.h"
#include "export/export-tree.h"
#include "util/err.h"

#define DISCOVERY "iscsi/discovery_auth"
#define CHAP_BUF (EXPORT_CHAP_MAX + 2)

/* ---- the rules ------------------------------------------------------------------------ */

/* "naa.5001405..." style names LIO takes as iSCSI names: iqn., eui., naa. */
int export_check_iscsi_name(const char *what, const char *iqn, struct err *err)
{
	size_t i, n = strlen(iqn);

	if (strncmp(iqn, "iqn.", 4) && strncmp(iqn, "eui.", 4) && strncmp(iqn, "naa.", 4))
		return err_set(err, -EINVAL,
			       "bad %s '%s': expected iqn.YYYY-MM.domain:name, eui.HEX or naa.HEX",
			       what, iqn);
	if (n < 5 || n >= EXPORT_WWN_MAX)
		return err_set(err, -EINVAL, "bad %s '%s': 5 to %d characters", what, iqn,
			       EXPORT_WWN_MAX - 1);
	for (i = 0; i < n; i++)
		if (iqn[i] == '/' || isspace((unsigned char)iqn[i]) ||
		    !isprint((unsigned char)iqn[i]))
			return err_set(err, -EINVAL,
				       "bad %s '%s': no '/', spaces or control characters", what,
				       iqn);
	return 0;
}

/* Printable ASCII without spaces: what survives configfs, iscsiadm and iscsi:// URLs. */
static bool is_chap_text(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			return false;
	return true;
}

static int check_chap_name(const char *what, const char *v, struct err *err)
{
	size_t n = strlen(v);

	if (!n || n > EXPORT_CHAP_MAX)
		return err_set(err, -EINVAL, "bad %s '%.40s': 1 to %d characters", what, v,
			       EXPORT_CHAP_MAX);
	if (!is_chap_text(v))
		return err_set(err, -EINVAL, "bad %s '%s': printable characters only, no spaces",
			       what, v);
	if (!strncmp(v, "NULL", 4))
		return err_set(err, -EINVAL,
			       "bad %s '%s': LIO takes a value beginning with NULL as "
			       "unset",
			       what, v);
	return 0;
}

/* As check_chap_name, never showing the value. */
static int check_secret(const char *what, const char *v, struct err *err)
{
	size_t n = strlen(v);

	if (n < EXPORT_SECRET_MIN || n > EXPORT_CHAP_MAX)
		return err_set(err, -EINVAL,
			       "the %s has %zu characters: %d to %d (RFC 3720 8.2.1: at least 96 "
			       "bits)",
			       what, n, EXPORT_SECRET_MIN, EXPORT_CHAP_MAX);
	if (!is_chap_text(v))
		return err_set(err, -EINVAL,
			       "the %s has a space or a non-printable character: printable ASCII "
			       "only",
			       what);
	if (!strncmp(v, "NULL", 4))
		return err_set(err, -EINVAL,
			       "the %s begins with NULL, which LIO takes as unset: choose another",
			       what);
	return 0;
}

static int check_allow(const struct export_access *a, struct err *err)
{
	size_t i, j;
	int r;

	if (a->nallow > EXPORT_ALLOW_MAX)
		return err_set(err, -EINVAL, "at most %d --allow", EXPORT_ALLOW_MAX);
	for (i = 0; i < a->nallow; i++) {
		r = export_check_iscsi_name("initiator name", a->allow[i], err);
		if (r < 0)
			return r;
		for (j = 0; j < i; j++)
			if (!strcmp(a->allow[i], a->allow[j]))
				return err_set(err, -EINVAL, "--allow %s given twice", a->allow[i]);
	}
	return 0;
}

/* CHAP and mutual CHAP: users, and with @secrets the secrets' contents too. */
static int check_chap(const struct export_access *a, bool secrets, struct err *err)
{
	int r;

	if (!a->chap_user) {
		if (a->chap_secret || a->mutual_user || a->mutual_secret || a->discovery_chap)
			return err_set(err, -EINVAL,
				       "--chap-secret, --mutual-chap and --discovery-chap need "
				       "--chap USER");
		return 0;
	}
	r = check_chap_name("CHAP user", a->chap_user, err);
	if (!r && !a->chap_secret)
		r = err_set(err, -EINVAL,
			    "--chap needs --chap-secret FILE (or - for standard input)");
	if (!r && secrets)
		r = check_secret("CHAP secret", a->chap_secret, err);
	if (r < 0 || (!a->mutual_user && !a->mutual_secret))
		return r;
	if (!a->mutual_user)
		return err_set(err, -EINVAL, "--mutual-secret needs --mutual-chap USER");
	r = check_chap_name("mutual CHAP user", a->mutual_user, err);
	if (!r && !a->mutual_secret)
		r = err_set(err, -EINVAL,
			    "--mutual-chap needs --mutual-secret FILE (or - for standard input)");
	if (!r && secrets)
		r = check_secret("mutual CHAP secret", a->mutual_secret, err);
	if (!r && secrets && !strcmp(a->chap_secret, a->mutual_secret))
		r = err_set(err, -EINVAL,
			    "the mutual CHAP secret is the CHAP secret: RFC 3720 8.2.1 forbids one "
			    "secret for both directions");
	return r;
}

int export_access_check(const struct export_params *p, bool secrets, struct err *err)
{
	const struct export_access *a = &p->access;
	int r;

	if (!p->iqn) {
		if (a->nallow || a->chap_user || a->chap_secret || a->mutual_user ||
		    a->mutual_secret || a->discovery_chap || a->demo)
			return err_set(
				err, -EINVAL,
				"--allow, --chap, --mutual-chap, --discovery-chap and --demo "
				"need --iscsi");
		return 0;
	}
	if (a->demo && (a->nallow || a->chap_user || a->chap_secret || a->mutual_user))
		return err_set(err, -EINVAL,
			       "--demo lets any initiator in without authentication: not with "
			       "--allow or --chap");
	if (!a->demo && !a->nallow && !a->chap_user)
		return err_set(
			err, -EINVAL,
			"who may log in to %s? add --allow INITIATOR_IQN (repeatable) and/or "
			"--chap USER --chap-secret FILE, or --demo for any initiator without "
			"authentication",
			p->iqn);
	r = check_allow(a, err);
	return r ? r : check_chap(a, secrets, err);
}

/* ---- configfs -------------------------------------------------------------------------- */

/* A CHAP attribute's value; "" when unset (missing, empty or LIO's "NULL"). */
static void read_chap(const struct etree *t, const char *dir, const char *name, char *buf,
		      size_t len)
{
	char rel[PATH_MAX];

	buf[0] = '\0';
	if ((size_t)snprintf(rel, sizeof(rel), "%s/%s", dir, name) >= sizeof(rel) ||
	    etree_read_line(t, rel, buf, len) < 0 || !strncmp(buf, "NULL", 4))
		buf[0] = '\0';
}

static bool is_on(const struct etree *t, const char *dir, const char *name)
{
	char v[16];

	read_chap(t, dir, name, v, sizeof(v));
	return !strcmp(v, "1");
}

static bool same_chap(const struct etree *t, const char *dir, const char *name, const char *want)
{
	char v[CHAP_BUF];
	bool same;

	read_chap(t, dir, name, v, sizeof(v));
	same = !strcmp(v, want ? want : "");
	explicit_bzero(v, sizeof(v));
	return same;
}

int export_access_check_tree(const struct etree *t, const struct export_params *p, struct err *err)
{
	const struct export_access *a = &p->access;
	char user[CHAP_BUF];

	if (!p->iqn || !a->discovery_chap || !is_on(t, DISCOVERY, "enforce_discovery_auth"))
		return 0;
	if (same_chap(t, DISCOVERY, "userid", a->chap_user) &&
	    same_chap(t, DISCOVERY, "password", a->chap_secret) &&
	    same_chap(t, DISCOVERY, "userid_mutual", a->mutual_user) &&
	    same_chap(t, DISCOVERY, "password_mutual", a->mutual_secret))
		return 0;
	read_chap(t, DISCOVERY, "userid", user, sizeof(user));
	return err_set(err, -EEXIST,
		       "iSCSI discovery CHAP is on already, for user '%s' or with other secrets "
		       "(%s/%s is one for the host): give the same credentials, or leave out "
		       "--discovery-chap",
		       user, t->root, DISCOVERY);
}

/* One CHAP attribute: @value (NULL: "NULL", i.e. unset).  With @undo, the value before is
 * written back on rollback (a group we made goes as a whole: no @undo needed). */
static int write_chap(struct etree *t, const char *dir, const char *name, const char *value,
		      bool secret, bool undo, struct err *err)
{
	char rel[PATH_MAX], old[CHAP_BUF];
	int r;

	r = etree_rel(rel, sizeof(rel), err, "%s/%s", dir, name);
	if (r < 0)
		return r;
	old[0] = '\0';
	if (undo)
		read_chap(t, dir, name, old, sizeof(old));
	if (!value)
		value = "NULL";
	if (secret)
		r = etree_write_secret(t, rel, value, undo ? (old[0] ? old : "NULL") : NULL, err);
	else
		r = etree_write(t, rel, value, undo ? (old[0] ? old : "NULL") : NULL, err);
	explicit_bzero(old, sizeof(old));
	return r;
}

/* userid and password, then the mutual pair; with @all that pair even when there is none
 * (cleared: a group that existed before may hold one). */
static int write_auth(struct etree *t, const char *dir, const struct export_access *a, bool all,
		      bool undo, struct err *err)
{
	int r;

	r = write_chap(t, dir, "userid", a->chap_user, false, undo, err);
	r = r ? r : write_chap(t, dir, "password", a->chap_secret, true, undo, err);
	if (r || (!a->mutual_user && !all))
		return r;
	r = write_chap(t, dir, "userid_mutual", a->mutual_user, false, undo, err);
	return r ? r : write_chap(t, dir, "password_mutual", a->mutual_secret, true, undo, err);
}

static int write_attrib(struct etree *t, const char *tpg, const char *name, const char *value,
			struct err *err)
{
	char rel[PATH_MAX];
	int r;

	r = etree_rel(rel, sizeof(rel), err, "%s/attrib/%s", tpg, name);
	return r ? r : etree_write(t, rel, value, NULL, err);
}

/* acls/@initiator with LUN 0 mapped (and its CHAP). */
static int make_acl(struct etree *t, const struct export_access *a, const char *tpg,
		    const char *initiator, struct err *err)
{
	char acl[PATH_MAX], rel[PATH_MAX], lun[PATH_MAX], alias[11];
	int r;

	r = etree_rel(acl, sizeof(acl), err, "%s/acls/%s", tpg, initiator);
	r = r ? r : etree_mkdir_p(t, acl, err);
	if (!r && a->chap_user) {
		r = etree_rel(rel, sizeof(rel), err, "%s/auth", acl);
		r = r ? r : write_auth(t, rel, a, false, false, err);
	}
	if (r < 0)
		return r;
	r = etree_random_hex(alias, 10);
	if (r < 0)
		return err_set_errno(err, r, "getrandom");
	r = etree_rel(rel, sizeof(rel), err, "%s/lun_0", acl);
	r = r ? r : etree_mkdir(t, rel, err);
	r = r ? r : etree_rel(lun, sizeof(lun), err, "%s/lun/lun_0", tpg);
	r = r ? r : etree_rel(rel, sizeof(rel), err, "%s/lun_0/%s", acl, alias);
	return r ? r : etree_symlink(t, lun, rel, err);
}

static int make_discovery(struct etree *t, const struct export_access *a, struct err *err)
{
	char rel[PATH_MAX];
	int r;

	/* on already: export_access_check_tree() found the same credentials */
	if (!a->discovery_chap || is_on(t, DISCOVERY, "enforce_discovery_auth"))
		return 0;
	r = write_auth(t, DISCOVERY, a, true, true, err);
	r = r ? r : etree_rel(rel, sizeof(rel), err, "%s/enforce_discovery_auth", DISCOVERY);
	return r ? r : etree_write(t, rel, "1", "0", err);
}

int export_access_make(struct etree *t, const struct export_params *p, const char *tpg,
		       struct err *err)
{
	const struct export_access *a = &p->access;
	bool dynamic = !a->nallow; /* demo mode, or CHAP for any initiator name */
	char rel[PATH_MAX];
	size_t i;
	int r;

	r = write_attrib(t, tpg, "authentication", a->chap_user ? "1" : "0", err);
	r = r ? r : write_attrib(t, tpg, "generate_node_acls", dynamic ? "1" : "0", err);
	if (!r && dynamic) {
		r = write_attrib(t, tpg, "cache_dynamic_acls", "1", err);
		r = r ? r : write_attrib(t, tpg, "demo_mode_write_protect", "0", err);
	}
	if (!r && dynamic && a->chap_user) {
		r = etree_rel(rel, sizeof(rel), err, "%s/auth", tpg);
		r = r ? r : write_auth(t, rel, a, false, false, err);
	}
	for (i = 0; !r && i < a->nallow; i++)
		r = make_acl(t, a, tpg, a->allow[i], err);
	return r ? r : make_discovery(t, a, err);
}

int export_discovery_off(struct etree *t, struct err *err)
{
	static const struct export_access none = { 0 };
	char rel[PATH_MAX];
	int r;

	r = etree_rel(rel, sizeof(rel), err, "%s/enforce_discovery_auth", DISCOVERY);
	r = r ? r : etree_write(t, rel, "0", NULL, err);
	return r ? r : write_auth(t, DISCOVERY, &none, true, false, err);
}

/* ---- what is there ----------------------------------------------------------------------- */

void export_discovery_user(const struct etree *t, char *user, size_t len)
{
	user[0] = '\0';
	if (is_on(t, DISCOVERY, "enforce_discovery_auth"))
		read_chap(t, DISCOVERY, "userid", user, len);
}

/* The subdirectories of @rel, one per call into @name; false at the end. */
static bool next_dir(const struct etree *t, const char *rel, DIR **d, char *name, size_t len)
{
	char p[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;

	if (!*d && (etree_path(t, p, sizeof(p), rel) < 0 || !(*d = opendir(p))))
		return false;
	while ((de = readdir(*d))) {
		if (de->d_name[0] == '.' ||
		    (size_t)snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name) >= sizeof(sub) ||
		    !etree_is_dir(t, sub))
			continue;
		snprintf(name, len, "%s", de->d_name);
		return true;
	}
	closedir(*d);
	*d = NULL;
	return false;
}

static void stop_dir(DIR **d)
{
	if (*d)
		closedir(*d);
	*d = NULL;
}

/* Is @user the CHAP user of portal group @tpg's auth or of one of its ACLs? */
static bool tpg_has_user(const struct etree *t, const char *tpg, const char *user)
{
	char rel[PATH_MAX], sub[PATH_MAX], name[NAME_MAX + 1];
	bool found;
	DIR *d = NULL;

	snprintf(rel, sizeof(rel), "%s/auth", tpg);
	found = same_chap(t, rel, "userid", user);
	snprintf(rel, sizeof(rel), "%s/acls", tpg);
	while (!found && next_dir(t, rel, &d, name, sizeof(name))) {
		snprintf(sub, sizeof(sub), "%s/%s/auth", rel, name);
		found = same_chap(t, sub, "userid", user);
	}
	stop_dir(&d);
	return found;
}

bool export_tpg_has_chap_user(const struct etree *t, const char *tpg, const char *user)
{
	char rel[PATH_MAX], tp[PATH_MAX], name[NAME_MAX + 1], sub[NAME_MAX + 1];
	bool found = false;
	DIR *d = NULL, *dt = NULL;

	if (tpg)
		return tpg_has_user(t, tpg, user);
	while (!found && next_dir(t, "iscsi", &d, name, sizeof(name))) {
		snprintf(rel, sizeof(rel), "iscsi/%s", name);
		while (!found && next_dir(t, rel, &dt, sub, sizeof(sub))) {
			snprintf(tp, sizeof(tp), "%s/%s", rel, sub);
			found = !strncmp(sub, "tpgt_", 5) && tpg_has_user(t, tp, user);
		}
		stop_dir(&dt);
	}
	stop_dir(&d);
	return found;
}

/* "CHAP on (user U, mutual: target user M)" or "CHAP off" for the auth group @dir. */
static void describe_chap(const struct etree *t, const char *dir, bool on, char *buf, size_t len)
{
	char user[CHAP_BUF], mutual[CHAP_BUF];

	if (!on) {
		snprintf(buf, len, "CHAP off");
		return;
	}
	read_chap(t, dir, "userid", user, sizeof(user));
	read_chap(t, dir, "userid_mutual", mutual, sizeof(mutual));
	if (!user[0])
		snprintf(buf, len, "CHAP on, but no user set: no one can log in");
	else if (mutual[0])
		snprintf(buf, len, "CHAP on (user %s, mutual: target user %s)", user, mutual);
	else
		snprintf(buf, len, "CHAP on (user %s)", user);
}

void export_access_list(const struct etree *t, const char *tpg, FILE *out)
{
	char rel[PATH_MAX], sub[PATH_MAX], name[NAME_MAX + 1], chap[2 * CHAP_BUF + 64], val[16];
	bool acls = false, dynamic, chap_on;
	DIR *d = NULL;

	snprintf(rel, sizeof(rel), "%s/attrib", tpg);
	dynamic = is_on(t, rel, "generate_node_acls");
	chap_on = is_on(t, rel, "authentication");
	if (dynamic) {
		snprintf(rel, sizeof(rel), "%s/auth", tpg);
		describe_chap(t, rel, chap_on, chap, sizeof(chap));
		fprintf(out, "    access: any initiator%s, %s\n", chap_on ? "" : " (demo mode)",
			chap);
	}
	snprintf(rel, sizeof(rel), "%s/acls", tpg);
	while (next_dir(t, rel, &d, name, sizeof(name))) {
		snprintf(sub, sizeof(sub), "%s/%s/attrib/authentication", rel, name);
		/* since Linux 5.19 an ACL may override the group's authentication (-1: not) */
		etree_read_line(t, sub, val, sizeof(val));
		snprintf(sub, sizeof(sub), "%s/%s/auth", rel, name);
		describe_chap(t, sub,
			      strcmp(val, "0") && strcmp(val, "1") ? chap_on : val[0] == '1', chap,
			      sizeof(chap));
		fprintf(out, "    access: initiator %s, %s\n", name, chap);
		acls = true;
	}
	stop_dir(&d);
	if (!dynamic && !acls)
		fprintf(out, "    access: no initiator (no ACL, no demo mode)\n");
	describe_chap(t, DISCOVERY, is_on(t, DISCOVERY, "enforce_discovery_auth"), chap,
		      sizeof(chap));
	fprintf(out, "    discovery (all targets): %s\n", chap);
}

bool export_portal_is_loopback(const char *portal)
{
	char ip[INET6_ADDRSTRLEN + 1];
	const char *end = portal[0] == '[' ? strchr(portal, ']') : strrchr(portal, ':');
	const char *start = portal[0] == '[' ? portal + 1 : portal;
	struct in6_addr a6;
	struct in_addr a4;

	if (!end || (size_t)(end - start) >= sizeof(ip))
		return false;
	memcpy(ip, start, (size_t)(end - start));
	ip[end - start] = '\0';
	if (inet_pton(AF_INET, ip, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127; /* 127.0.0.0/8 */
	return inet_pton(AF_INET6, ip, &a6) == 1 &&
	       (IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127));
}
