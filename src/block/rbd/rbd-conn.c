/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cluster connections and image handles.
 *
 * One rados_t per node by default: librados's messenger threads bound one client's IOPS
 * (SPDK #2580 measured 62.5K shared vs 115.5K per image), and the Ceph service map takes
 * one registration per client.  shared-connection=on shares one between the nodes whose
 * connection settings are identical (many small LUNs, fewer threads and sessions).
 *
 * Every wait is bounded by default: client_mount_timeout (connect), rados_mon_op_timeout
 * and rados_osd_op_timeout are 30 s unless the configuration or the options say
 * otherwise, so an open against a cluster that is down fails with one line in 30 s, and a
 * request stuck on an OSD that does not come back ends with -ETIMEDOUT (retryable sense).
 */
#include "rbd-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"

#define RBD_DEFAULT_TIMEOUT "30"

struct rbd_conn {
	struct rbd_conn *next;
	rados_t cluster;
	char *key; /* connection settings, for sharing; NULL = not shared */
	unsigned int refs;
};

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rbd_conn *conns; /* shared connections */

/* The settings that decide which cluster and identity a connection has. */
static char *conn_key(const struct rbd_spec *sp)
{
	size_t len = 64 + (sp->conf ? strlen(sp->conf) : 0) + (sp->user ? strlen(sp->user) : 0);
	char *k;
	size_t n;

	for (size_t i = 0; i < sp->nkv; i++)
		len += strlen(sp->kv[i].key) + strlen(sp->kv[i].value) + 2;
	k = malloc(len);
	if (!k)
		return NULL;
	n = (size_t)snprintf(k, len, "%s\n%s", sp->conf ? sp->conf : "", sp->user ? sp->user : "");
	for (size_t i = 0; i < sp->nkv; i++)
		n += (size_t)snprintf(k + n, len - n, "\n%s=%s", sp->kv[i].key, sp->kv[i].value);
	return k;
}

/* A timeout the configuration left at its unbounded default gets ours. */
static int bound_timeout(rados_t cl, const char *opt, const char *infinite)
{
	char cur[32];

	if (RBD(rados_conf_get)(cl, opt, cur, sizeof(cur)) == 0 && strcmp(cur, infinite))
		return 0;
	return RBD(rados_conf_set)(cl, opt, RBD_DEFAULT_TIMEOUT);
}

static int configure(rados_t cl, const struct rbd_spec *sp, struct err *err)
{
	int r;

	/* no file given: librados's search ($CEPH_CONF, /etc/ceph/ceph.conf ...), optional
	 * when mon_host is among the options */
	r = RBD(rados_conf_read_file)(cl, sp->conf);
	if (r < 0 && sp->conf)
		return err_set_errno(err, r, "rbd: cannot read the Ceph configuration '%s'",
				     sp->conf);
	/* ceph's defaults: 300 s to mount, no limit on mon and OSD operations */
	if (bound_timeout(cl, "client_mount_timeout", "300.000000") < 0 ||
	    bound_timeout(cl, "rados_mon_op_timeout", "0.000000") < 0 ||
	    bound_timeout(cl, "rados_osd_op_timeout", "0.000000") < 0)
		return err_set(err, -EINVAL, "rbd: cannot set the default timeouts");
	/* a gateway: no client-side write-back cache unless asked (every write is stable) */
	RBD(rados_conf_set)(cl, "rbd_cache", "false");
	for (size_t i = 0; i < sp->nkv; i++) {
		r = RBD(rados_conf_set)(cl, sp->kv[i].key, sp->kv[i].value);
		if (r == -ENOENT)
			return err_set(err, -EINVAL, "rbd: unknown Ceph option '%s'",
				       sp->kv[i].key);
		if (r < 0)
			return err_set(err, -EINVAL, "rbd: bad value '%s' for Ceph option '%s'",
				       sp->kv[i].value, sp->kv[i].key);
	}
	return 0;
}

static int explain_connect(int r, const struct rbd_spec *sp, rados_t cl, struct err *err)
{
	const char *who = sp->user ? sp->user : "admin";
	char keyring[256] = "";

	RBD(rados_conf_get)(cl, "keyring", keyring, sizeof(keyring));
	switch (r) {
	case -ENOENT:
		return err_set(err, -ENOENT,
			       "rbd: no key for client.%s (keyring '%s' missing or without it)",
			       who, keyring);
	case -ETIMEDOUT:
		return err_set(err, -ETIMEDOUT,
			       "rbd: no answer from the Ceph monitors within client_mount_timeout "
			       "(cluster down or mon_host wrong?)");
	case -EACCES:
	case -EPERM:
		return err_set(err, r, "rbd: client.%s was refused by the monitors (wrong key?)",
			       who);
	default:
		return err_set_errno(err, r, "rbd: cannot connect to the Ceph cluster as client.%s",
				     who);
	}
}

static int conn_new(const struct rbd_spec *sp, struct rbd_conn **out, struct err *err)
{
	struct rbd_conn *c = calloc(1, sizeof(*c));
	char name[256];
	int r;

	if (!c)
		return err_set(err, -ENOMEM, "rbd: out of memory");
	snprintf(name, sizeof(name), "client.%s", sp->user ? sp->user : "admin");
	r = RBD(rados_create2)(&c->cluster, "ceph", name, 0);
	if (r < 0) {
		free(c);
		return err_set_errno(err, r, "rbd: cannot create a cluster handle for %s", name);
	}
	r = configure(c->cluster, sp, err);
	if (r == 0) {
		r = RBD(rados_connect)(c->cluster);
		if (r < 0)
			r = explain_connect(r, sp, c->cluster, err);
	}
	if (r < 0) {
		RBD(rados_shutdown)(c->cluster);
		free(c);
		return r;
	}
	c->refs = 1;
	*out = c;
	return 0;
}

int rbd_conn_get(const struct rbd_spec *sp, struct rbd_conn **out, struct err *err)
{
	struct rbd_conn *c;
	char *key;
	int r;

	if (!sp->shared)
		return conn_new(sp, out, err);
	key = conn_key(sp);
	if (!key)
		return err_set(err, -ENOMEM, "rbd: out of memory");
	/* held across the connect: two nodes opening at once get one connection */
	pthread_mutex_lock(&conns_lock);
	for (c = conns; c; c = c->next)
		if (!strcmp(c->key, key))
			break;
	if (c) {
		c->refs++;
		free(key);
		r = 0;
	} else {
		r = conn_new(sp, &c, err);
		if (r == 0) {
			c->key = key;
			c->next = conns;
			conns = c;
		} else {
			free(key);
		}
	}
	pthread_mutex_unlock(&conns_lock);
	if (r == 0)
		*out = c;
	return r;
}

void rbd_conn_put(struct rbd_conn *c)
{
	struct rbd_conn **pp;

	if (!c)
		return;
	if (c->key) {
		pthread_mutex_lock(&conns_lock);
		if (--c->refs) {
			pthread_mutex_unlock(&conns_lock);
			return;
		}
		for (pp = &conns; *pp != c; pp = &(*pp)->next)
			;
		*pp = c->next;
		pthread_mutex_unlock(&conns_lock);
	}
	RBD(rados_shutdown)(c->cluster);
	free(c->key);
	free(c);
}

rados_t rbd_conn_cluster(const struct rbd_conn *c)
{
	return c->cluster;
}

static int explain_open(int r, const struct rbd_spec *sp, rados_ioctx_t io, struct err *err)
{
	char name[512];
	rbd_image_t img;

	rbd_spec_name(sp, name, sizeof(name));
	if (r == -EPERM || r == -EACCES)
		return err_set(err, r, "rbd: client.%s may not open %s (caps?)",
			       sp->user ? sp->user : "admin", name);
	if (r != -ENOENT)
		return err_set_errno(err, r, "rbd: cannot open %s", name);
	/* which part is missing: the snapshot, or the image itself */
	if (sp->snap && RBD(rbd_open_read_only)(io, sp->image, &img, NULL) == 0) {
		RBD(rbd_close)(img);
		return err_set(err, -ENOENT, "rbd: image %s/%s has no snapshot '%s'", sp->pool,
			       sp->image, sp->snap);
	}
	return err_set(err, -ENOENT, "rbd: no image '%s' in pool '%s'%s%s", sp->image, sp->pool,
		       sp->ns ? " namespace " : "", sp->ns ? sp->ns : "");
}

int rbd_image_open(const struct rbd_spec *sp, rados_t cluster, bool write, rados_ioctx_t *io,
		   rbd_image_t *img, struct err *err)
{
	bool exists = true;
	int r;

	*io = NULL;
	*img = NULL;
	r = RBD(rados_ioctx_create)(cluster, sp->pool, io);
	if (r < 0)
		*io = NULL;
	if (r == -ENOENT)
		return err_set(err, r, "rbd: no pool '%s'", sp->pool);
	if (r < 0)
		return err_set_errno(err, r, "rbd: cannot open pool '%s'", sp->pool);
	if (sp->ns) {
		RBD(rados_ioctx_set_namespace)(*io, sp->ns);
		r = RBD(rbd_namespace_exists)(*io, sp->ns, &exists);
		if (r == 0 && !exists)
			r = err_set(err, -ENOENT, "rbd: no namespace '%s' in pool '%s'", sp->ns,
				    sp->pool);
		else if (r < 0 && r != -EPERM && r != -EACCES)
			r = err_set_errno(err, r, "rbd: cannot look up namespace '%s'", sp->ns);
		else
			r = 0;
	}
	if (r == 0) {
		/* a snapshot is read-only; a read-only head still watches for resizes
		 * unless the user may not (a watch is a write) */
		if (sp->snap)
			r = RBD(rbd_open_read_only)(*io, sp->image, img, sp->snap);
		else
			r = RBD(rbd_open)(*io, sp->image, img, NULL);
		if (!sp->snap && !write && (r == -EPERM || r == -EACCES))
			r = RBD(rbd_open_read_only)(*io, sp->image, img, NULL);
		if (r < 0)
			r = explain_open(r, sp, *io, err);
	}
	if (r < 0) {
		RBD(rados_ioctx_destroy)(*io);
		*io = NULL;
		*img = NULL;
	}
	return r;
}

int rbd_handle_open(const struct rbd_spec *sp, bool write, void (*watch_cb)(void *), void *arg,
		    struct rbd_handle *h, struct err *err)
{
	int r;

	memset(h, 0, sizeof(*h));
	r = rbd_conn_get(sp, &h->conn, err);
	if (r == 0)
		r = rbd_image_open(sp, rbd_conn_cluster(h->conn), write, &h->io, &h->img, err);
	if (r < 0) {
		rbd_conn_put(h->conn);
		memset(h, 0, sizeof(*h));
		return r;
	}
	/* a snapshot never changes; a read-only head may still be resized by others */
	if (!sp->snap && watch_cb) {
		r = RBD(rbd_update_watch)(h->img, &h->watch_handle, watch_cb, arg);
		if (r < 0)
			log_warn("rbd: no header notifications (resize, lock tag): %s",
				 strerror(-r));
		h->watching = r == 0;
	}
	h->refs = 1;
	return 0;
}

void rbd_handle_close(struct rbd_handle *h)
{
	if (h->watching)
		RBD(rbd_update_unwatch)(h->img, h->watch_handle);
	if (h->img)
		RBD(rbd_close)(h->img);
	if (h->io)
		RBD(rados_ioctx_destroy)(h->io);
	rbd_conn_put(h->conn);
	memset(h, 0, sizeof(*h));
}

/* The holder's client address into @buf ("" when nobody holds it). */
int rbd_lock_owner(rbd_image_t im, char *buf, size_t len)
{
	rbd_lock_mode_t mode;
	char *owners[4];
	size_t n = 4;
	int r = RBD(rbd_lock_get_owners)(im, &mode, owners, &n);

	buf[0] = '\0';
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (n)
		snprintf(buf, len, "%s", owners[0]);
	RBD(rbd_lock_get_owners_cleanup)(owners, n);
	return 0;
}

/* Whether @addr's client watches the image (a live librbd client does). */
bool rbd_is_watching(rbd_image_t im, const char *addr)
{
	rbd_image_watcher_t w[32];
	size_t n = 32;
	bool found = false;

	if (RBD(rbd_watchers_list)(im, w, &n) < 0)
		return true; /* unknown: assume alive */
	for (size_t i = 0; i < n; i++)
		found = found || !strcmp(w[i].addr, addr);
	RBD(rbd_watchers_list_cleanup)(w, n);
	return found;
}

int rbd_blocklist_rm(rados_t cluster, const char *addr)
{
	char cmd[256], *out = NULL, *st = NULL;
	const char *argv[] = { cmd };
	size_t ol = 0, sl = 0;
	int r;

	snprintf(cmd, sizeof(cmd),
		 "{\"prefix\":\"osd blocklist\",\"blocklistop\":\"rm\",\"addr\":\"%s\"}", addr);
	r = RBD(rados_mon_command)(cluster, argv, 1, "", 0, &out, &ol, &st, &sl);
	RBD(rados_buffer_free)(out);
	RBD(rados_buffer_free)(st);
	return r;
}
