/* SPDX-License-Identifier: GPL-2.0-or-later */
/* `qemu-tcmu unexport` and `qemu-tcmu exports` (see export.h). */
#include "export.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/export-int.h"
#include "export/export-tree.h"
#include "util/err.h"

/* A fabric LUN whose storage object is the backstore. */
struct lun_ref {
	char fabric[32];     /* "loopback", "iscsi", ... */
	char wwn[256];	     /* the target's name */
	char tpg[PATH_MAX];  /* "<fabric>/<wwn>/tpgt_N" */
	char lun[PATH_MAX];  /* "<tpg>/lun/lun_M" */
	char link[PATH_MAX]; /* "<lun>/<alias>" */
};

struct lun_refs {
	struct lun_ref *v;
	size_t n, cap;
};

/* The names in directory @rel (relative to the tree) starting with @prefix ("" for
 * all), one at a time: *@d is opened on the first call; NULL at the end. */
static const char *next_entry(const struct etree *t, const char *rel, const char *prefix, DIR **d)
{
	struct dirent *de;
	char p[PATH_MAX];

	if (!*d && (etree_path(t, p, sizeof(p), rel) < 0 || !(*d = opendir(p))))
		return NULL;
	while ((de = readdir(*d))) {
		if (de->d_name[0] != '.' && !strncmp(de->d_name, prefix, strlen(prefix)))
			return de->d_name;
	}
	closedir(*d);
	*d = NULL;
	return NULL;
}

static void close_dir(DIR **d)
{
	if (*d)
		closedir(*d);
	*d = NULL;
}

static int add_ref(struct lun_refs *refs, const struct lun_ref *ref)
{
	if (refs->n == refs->cap) {
		size_t cap = refs->cap ? refs->cap * 2 : 4;
		struct lun_ref *v = realloc(refs->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		refs->v = v;
		refs->cap = cap;
	}
	refs->v[refs->n++] = *ref;
	return 0;
}

/* The LUNs of one portal group linked to @so_real. */
static int tpg_luns(const struct etree *t, struct lun_ref *ref, const char *so_real,
		    struct lun_refs *refs)
{
	char luns[PATH_MAX], real[PATH_MAX];
	DIR *dl = NULL, *da = NULL;
	const char *l, *a;
	int r = 0;

	snprintf(luns, sizeof(luns), "%s/lun", ref->tpg);
	while (!r && (l = next_entry(t, luns, "lun_", &dl))) {
		snprintf(ref->lun, sizeof(ref->lun), "%s/%s", luns, l);
		while (!r && (a = next_entry(t, ref->lun, "", &da))) {
			snprintf(ref->link, sizeof(ref->link), "%s/%s", ref->lun, a);
			if (!etree_is_link(t, ref->link) ||
			    etree_realpath(t, ref->link, real, sizeof(real)) ||
			    strcmp(real, so_real))
				continue;
			r = add_ref(refs, ref);
		}
		close_dir(&da);
	}
	close_dir(&dl);
	return r;
}

/* Every fabric LUN linked to the directory @so_real (resolved path), collected first:
 * the caller may then remove them without walking directories that change. */
static int find_luns(const struct etree *t, const char *so_real, struct lun_refs *refs)
{
	DIR *df = NULL, *dw = NULL, *dt = NULL;
	const char *f, *w, *tp;
	struct lun_ref ref;
	char target[PATH_MAX];
	int r = 0;

	while (!r && (f = next_entry(t, ".", "", &df))) {
		if (!strcmp(f, "core") || strlen(f) >= sizeof(ref.fabric))
			continue;
		snprintf(ref.fabric, sizeof(ref.fabric), "%s", f);
		while (!r && (w = next_entry(t, ref.fabric, "", &dw))) {
			snprintf(ref.wwn, sizeof(ref.wwn), "%s", w);
			snprintf(target, sizeof(target), "%s/%s", ref.fabric, ref.wwn);
			while (!r && (tp = next_entry(t, target, "tpgt_", &dt))) {
				snprintf(ref.tpg, sizeof(ref.tpg), "%s/%s", target, tp);
				r = tpg_luns(t, &ref, so_real, refs);
			}
			close_dir(&dt);
		}
		close_dir(&dw);
	}
	close_dir(&df);
	return r;
}

/* Has directory @rel an entry starting with @prefix? */
static bool has_entry(const struct etree *t, const char *rel, const char *prefix)
{
	DIR *d = NULL;
	bool any = next_entry(t, rel, prefix, &d) != NULL;

	close_dir(&d);
	return any;
}

/* Has directory @rel a subdirectory? */
static bool has_subdir(const struct etree *t, const char *rel)
{
	char sub[PATH_MAX];
	const char *n;
	DIR *d = NULL;
	bool any = false;

	while (!any && (n = next_entry(t, rel, "", &d))) {
		snprintf(sub, sizeof(sub), "%s/%s", rel, n);
		any = etree_is_dir(t, sub);
	}
	close_dir(&d);
	return any;
}

/* ---- unexport ---------------------------------------------------------------------- */

/* Is there a symlink in directory @rel that resolves to @real? */
static bool links_to(const struct etree *t, const char *rel, const char *real)
{
	char link[PATH_MAX], to[PATH_MAX];
	const char *n;
	DIR *d = NULL;
	bool found = false;

	while (!found && (n = next_entry(t, rel, "", &d))) {
		snprintf(link, sizeof(link), "%s/%s", rel, n);
		found = etree_is_link(t, link) && !etree_realpath(t, link, to, sizeof(to)) &&
			!strcmp(to, real);
	}
	close_dir(&d);
	return found;
}

static int unlink_links(struct etree *t, const char *rel, struct err *err)
{
	char link[PATH_MAX];
	const char *n;
	DIR *d = NULL;
	int r = 0;

	while (!r && (n = next_entry(t, rel, "", &d))) {
		snprintf(link, sizeof(link), "%s/%s", rel, n);
		if (etree_is_link(t, link))
			r = etree_unlink(t, link, err);
	}
	close_dir(&d);
	return r;
}

/* The ACL mappings of a portal group (acls/<initiator>/lun_N -> lun/lun_M) that point
 * to @lun_rel (NULL: all of them) go before the LUN. */
static int remove_mapped_luns(struct etree *t, const char *tpg, const char *lun_rel,
			      struct err *err)
{
	char acls[PATH_MAX], acl[PATH_MAX], mlun[PATH_MAX], real[PATH_MAX];
	DIR *da = NULL, *dm = NULL;
	const char *a, *m;
	int r = 0;

	if (lun_rel && etree_realpath(t, lun_rel, real, sizeof(real)) < 0)
		return 0;
	snprintf(acls, sizeof(acls), "%s/acls", tpg);
	while (!r && (a = next_entry(t, acls, "", &da))) {
		snprintf(acl, sizeof(acl), "%s/%s", acls, a);
		while (!r && (m = next_entry(t, acl, "lun_", &dm))) {
			snprintf(mlun, sizeof(mlun), "%s/%s", acl, m);
			if (lun_rel && !links_to(t, mlun, real))
				continue;
			r = unlink_links(t, mlun, err);
			r = r ? r : etree_rmdir(t, mlun, err);
		}
		close_dir(&dm);
	}
	close_dir(&da);
	return r;
}

/* A portal group left without LUNs goes (disabled, ACLs and portals first), and then a
 * target left without portal groups. */
static int remove_empty_tpg(struct etree *t, const char *name, const char *tpg, FILE *out,
			    struct err *err)
{
	char rel[PATH_MAX], sub[PATH_MAX], buf[16], target[PATH_MAX];
	const char *n;
	DIR *d = NULL;
	int r = 0;

	snprintf(rel, sizeof(rel), "%s/lun", tpg);
	if (has_subdir(t, rel))
		return 0;
	snprintf(rel, sizeof(rel), "%s/enable", tpg);
	if (etree_read(t, rel, buf, sizeof(buf)) > 0 && buf[0] == '1')
		r = etree_write(t, rel, "0", NULL, err);
	r = r ? r : remove_mapped_luns(t, tpg, NULL, err);
	snprintf(rel, sizeof(rel), "%s/acls", tpg);
	while (!r && (n = next_entry(t, rel, "", &d))) {
		snprintf(sub, sizeof(sub), "%s/%s", rel, n);
		r = etree_rmdir(t, sub, err); /* its CHAP credentials go with it */
		if (!r)
			fprintf(out, "%s: removed ACL %s\n", name, sub);
	}
	close_dir(&d);
	snprintf(rel, sizeof(rel), "%s/np", tpg);
	while (!r && (n = next_entry(t, rel, "", &d))) {
		snprintf(sub, sizeof(sub), "%s/%s", rel, n);
		r = etree_rmdir(t, sub, err);
	}
	close_dir(&d);
	r = r ? r : etree_rmdir(t, tpg, err);
	if (r < 0)
		return r;
	snprintf(target, sizeof(target), "%s", tpg);
	*strrchr(target, '/') = '\0';
	if (has_entry(t, target, "tpgt_")) {
		fprintf(out, "%s: removed %s\n", name, tpg);
		return 0;
	}
	r = etree_rmdir(t, target, err);
	if (!r)
		fprintf(out, "%s: removed target %s\n", name, target);
	return r;
}

/* Is @so_rel a backstore of @subtype?  Else a one-line refusal. */
static int check_ours(const struct etree *t, const char *so_rel, const char *name,
		      const char *subtype, struct err *err)
{
	char cfg[512];
	size_t n = strlen(subtype);

	if (export_so_attr(t, so_rel, "dev_config", cfg, sizeof(cfg)) < 0)
		return err_set(err, -EPERM, "%s: cannot read its dev_config: not touching it",
			       so_rel);
	if (strncmp(cfg, subtype, n) || cfg[n] != '/')
		return err_set(err, -EPERM,
			       "'%s' is a user:%.*s backstore, not user:%s: not touching it", name,
			       (int)strcspn(cfg, "/"), cfg, subtype);
	return 0;
}

static int remove_luns(struct etree *t, const char *name, const struct lun_refs *refs, FILE *out,
		       struct err *err)
{
	size_t i, j;
	int r = 0;

	for (i = 0; !r && i < refs->n; i++) {
		const struct lun_ref *ref = &refs->v[i];

		r = remove_mapped_luns(t, ref->tpg, ref->lun, err);
		r = r ? r : etree_unlink(t, ref->link, err);
		r = r ? r : etree_rmdir(t, ref->lun, err);
		if (!r)
			fprintf(out, "%s: removed %s LUN %s\n", name, ref->fabric, ref->lun);
	}
	/* each portal group once, after all its LUNs of ours went */
	for (i = 0; !r && i < refs->n; i++) {
		for (j = 0; j < i && strcmp(refs->v[j].tpg, refs->v[i].tpg); j++)
			;
		if (j == i)
			r = remove_empty_tpg(t, name, refs->v[i].tpg, out, err);
	}
	return r;
}

/* Did one of the iSCSI portal groups in @refs use discovery CHAP's user @user? */
static bool uses_discovery_user(const struct etree *t, const struct lun_refs *refs,
				const char *user)
{
	size_t i;

	for (i = 0; user[0] && i < refs->n; i++)
		if (!strcmp(refs->v[i].fabric, "iscsi") &&
		    export_tpg_has_chap_user(t, refs->v[i].tpg, user))
			return true;
	return false;
}

/* Discovery CHAP (one setting for the host) goes with the last portal group that used its
 * user: `export --discovery-chap` set it, and nothing else uses it any more. */
static int forget_discovery(struct etree *t, const char *name, const char *user, FILE *out,
			    struct err *err)
{
	int r;

	if (export_tpg_has_chap_user(t, NULL, user))
		return 0;
	r = export_discovery_off(t, err);
	if (!r)
		fprintf(out,
			"%s: iSCSI discovery CHAP off (no target uses CHAP user %s any more)\n",
			name, user);
	return r;
}

static int remove_so(struct etree *t, const char *name, const char *subtype, FILE *out,
		     struct err *err)
{
	char so[PATH_MAX], hba_rel[64], real[PATH_MAX], duser[EXPORT_CHAP_MAX + 2];
	struct lun_refs refs = { 0 };
	unsigned int hba;
	bool disc;
	int r;

	r = export_check_root(t, err);
	if (r < 0)
		return r;
	if (export_find_so(t, name, &hba) < 0)
		return err_set(err, -ENOENT,
			       "no user backstore named '%s' (qemu-tcmu exports lists them)", name);
	snprintf(hba_rel, sizeof(hba_rel), "core/user_%u", hba);
	snprintf(so, sizeof(so), "%s/%s", hba_rel, name);
	r = check_ours(t, so, name, subtype, err);
	if (r < 0)
		return r;
	r = etree_realpath(t, so, real, sizeof(real));
	if (r < 0)
		return err_set_errno(err, r, "%s/%s", t->root, so);
	r = find_luns(t, real, &refs);
	if (r < 0)
		err_set_errno(err, r, "listing the LUNs of %s", so);
	export_discovery_user(t, duser, sizeof(duser));
	disc = !r && uses_discovery_user(t, &refs, duser);
	r = r ? r : remove_luns(t, name, &refs, out, err);
	free(refs.v);
	r = r || !disc ? r : forget_discovery(t, name, duser, out, err);
	/* rmdir of the backstore: the kernel tells the daemon (REMOVED_DEVICE) */
	r = r ? r : etree_rmdir(t, so, err);
	if (r < 0)
		return r;
	fprintf(out, "%s: removed backstore %s\n", name, so);
	/* its HBA too, unless another backstore lives there (export makes one per backstore,
	 * as rtslib does) */
	if (!has_subdir(t, hba_rel))
		return etree_rmdir(t, hba_rel, err);
	return 0;
}

int export_remove(const char *name, const char *subtype, FILE *out, struct err *err)
{
	struct etree t;
	int r, lock;

	etree_init(&t, NULL);
	lock = export_lock(&t);
	r = remove_so(&t, name, subtype, out, err);
	export_unlock(lock);
	etree_release(&t);
	return r;
}

/* ---- exports ----------------------------------------------------------------------- */

static void list_lun(const struct etree *t, const struct lun_ref *ref, FILE *out)
{
	char rel[PATH_MAX], addr[64], dev[64], buf[16];
	const char *np, *lun = strrchr(ref->lun, '/') + 1;
	DIR *d = NULL;

	fprintf(out, "  %s %s %s", ref->fabric, ref->wwn, lun);
	snprintf(rel, sizeof(rel), "%s/address", ref->tpg);
	if (etree_read(t, rel, addr, sizeof(addr)) > 0) {
		addr[strcspn(addr, "\n")] = '\0';
		if (!export_scsi_disk(addr, (unsigned int)atoi(lun + 4), dev, sizeof(dev)))
			fprintf(out, " %s", dev);
	}
	snprintf(rel, sizeof(rel), "%s/np", ref->tpg);
	while ((np = next_entry(t, rel, "", &d)))
		fprintf(out, " portal %s", np);
	snprintf(rel, sizeof(rel), "%s/enable", ref->tpg);
	if (etree_read(t, rel, buf, sizeof(buf)) > 0 && buf[0] == '0')
		fprintf(out, " (disabled)");
	fputc('\n', out);
	if (!strcmp(ref->fabric, "iscsi"))
		export_access_list(t, ref->tpg, out);
}

static int list_so(const struct etree *t, const char *name, const char *so, FILE *out)
{
	char cfg[512], size[32], real[PATH_MAX];
	struct lun_refs refs = { 0 };
	size_t i;
	int r;

	if (export_so_attr(t, so, "dev_config", cfg, sizeof(cfg)) < 0)
		snprintf(cfg, sizeof(cfg), "?");
	if (export_so_attr(t, so, "dev_size", size, sizeof(size)) < 0)
		snprintf(size, sizeof(size), "?");
	fprintf(out, "%s %s %s %s\n", name, so, size, cfg);
	r = etree_realpath(t, so, real, sizeof(real));
	r = r ? r : find_luns(t, real, &refs);
	for (i = 0; !r && i < refs.n; i++)
		list_lun(t, &refs.v[i], out);
	free(refs.v);
	return r;
}

int export_list(const char *subtype, FILE *out, struct err *err)
{
	char hba[64], so[PATH_MAX], cfg[512];
	DIR *dh = NULL, *ds = NULL;
	size_t n = strlen(subtype);
	const char *h, *s;
	struct etree t;
	int r;

	etree_init(&t, NULL);
	r = export_check_root(&t, err);
	while (!r && (h = next_entry(&t, "core", "user_", &dh))) {
		snprintf(hba, sizeof(hba), "core/%s", h);
		while (!r && (s = next_entry(&t, hba, "", &ds))) {
			snprintf(so, sizeof(so), "%s/%s", hba, s);
			if (!etree_is_dir(&t, so) ||
			    export_so_attr(&t, so, "dev_config", cfg, sizeof(cfg)) < 0 ||
			    strncmp(cfg, subtype, n) || cfg[n] != '/')
				continue;
			r = list_so(&t, s, so, out);
			if (r < 0)
				err_set_errno(err, r, "%s/%s", t.root, so);
		}
		close_dir(&ds);
	}
	close_dir(&dh);
	etree_release(&t);
	return r;
}
