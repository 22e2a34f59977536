/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Naming an RBD image, in QEMU's terms so that users' strings carry over:
 *   file name   rbd:pool[/namespace]/image[@snapshot][:key=value...]
 *               (conf=PATH, id=USER, any librados option such as keyring, mon_host,
 *               rados_osd_op_timeout; "\:" is a literal colon, "\\" a backslash)
 *   structured  pool, namespace, image, snapshot, conf, user, keyring, mon-host,
 *               osd-op-timeout, mount-timeout, shared-connection
 * A key given in both forms is an error.  Names may not contain '/' or '@'.
 */
#include "rbd-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/opts.h"

#define RBD_PREFIX "rbd:"

void rbd_spec_release(struct rbd_spec *sp)
{
	free(sp->pool);
	free(sp->ns);
	free(sp->image);
	free(sp->snap);
	free(sp->conf);
	free(sp->user);
	free(sp->gw_name);
	for (size_t i = 0; i < sp->nkv; i++) {
		free(sp->kv[i].key);
		free(sp->kv[i].value);
	}
	free(sp->kv);
	memset(sp, 0, sizeof(*sp));
}

void rbd_spec_name(const struct rbd_spec *sp, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s%s%s%s", sp->pool ? sp->pool : "?", sp->ns ? sp->ns : "",
		 sp->ns ? "/" : "", sp->image ? sp->image : "?", sp->snap ? "@" : "",
		 sp->snap ? sp->snap : "");
}

/* Copy the next field of @s up to an unescaped @stop (or the end) into a new string;
 * *s moves past the stop character. */
static char *next_field(const char **s, const char *stops)
{
	const char *p = *s;
	char *out = malloc(strlen(p) + 1), *o = out;

	if (!out)
		return NULL;
	while (*p && !strchr(stops, *p)) {
		if (*p == '\\' && p[1])
			p++;
		*o++ = *p++;
	}
	*o = '\0';
	*s = *p ? p + 1 : p;
	return out;
}

static int kv_add(struct rbd_spec *sp, const char *key, const char *value)
{
	struct rbd_kv *v = realloc(sp->kv, (sp->nkv + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	sp->kv = v;
	v[sp->nkv].key = strdup(key);
	v[sp->nkv].value = strdup(value);
	if (!v[sp->nkv].key || !v[sp->nkv].value) {
		free(v[sp->nkv].key);
		free(v[sp->nkv].value);
		return -ENOMEM;
	}
	sp->nkv++;
	return 0;
}

/* "pool[/ns]/image[@snap]" (the part before the first unescaped ':'). */
static int parse_path(const char *path, struct rbd_spec *sp, struct err *err)
{
	char *parts[3] = { NULL }, *at;
	const char *p = path;
	int n = 0, r = 0;

	while (n < 3 && *p) {
		parts[n] = next_field(&p, "/");
		if (!parts[n++])
			return -ENOMEM;
	}
	if (*p || n < 2) {
		r = err_set(err, -EINVAL, "rbd: '%s' is not pool[/namespace]/image[@snapshot]",
			    path);
		goto out;
	}
	sp->pool = parts[0];
	sp->ns = n == 3 ? parts[1] : NULL;
	sp->image = parts[n - 1];
	parts[0] = parts[n - 1] = NULL;
	if (n == 3)
		parts[1] = NULL;
	at = strchr(sp->image, '@');
	if (at) {
		*at = '\0';
		sp->snap = strdup(at + 1);
		if (!sp->snap)
			return -ENOMEM;
	}
	if (!sp->pool[0] || !sp->image[0] || (sp->ns && !sp->ns[0]) || (sp->snap && !sp->snap[0]))
		r = err_set(err, -EINVAL,
			    "rbd: '%s' has an empty pool, namespace, image or snapshot", path);
out:
	for (int i = 0; i < 3; i++)
		free(parts[i]);
	return r;
}

/* The "key=value" options after the path. */
static int parse_colon_opts(const char *s, struct rbd_spec *sp, struct err *err)
{
	while (*s) {
		char *key = next_field(&s, "=:"), *value;
		int r = 0;

		if (!key)
			return -ENOMEM;
		if (s[-1] != '=') {
			r = err_set(err, -EINVAL, "rbd: option '%s' has no value (key=value)", key);
			free(key);
			return r;
		}
		value = next_field(&s, ":");
		if (!value) {
			free(key);
			return -ENOMEM;
		}
		if (!strcmp(key, "conf") || !strcmp(key, "id")) {
			char **dst = key[0] == 'c' ? &sp->conf : &sp->user;

			free(*dst);
			*dst = value;
			value = NULL;
		} else if (!key[0] || !value[0]) {
			r = err_set(err, -EINVAL, "rbd: empty key or value in option '%s'", key);
		} else {
			r = kv_add(sp, key, value);
		}
		free(key);
		free(value);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_filename(const char *name, struct rbd_spec *sp, struct err *err)
{
	const char *start = name + strlen(RBD_PREFIX), *p = start;
	char *path;
	int r;

	/* the path ends at the first unescaped ':'; parse_path unescapes its fields */
	while (*p && *p != ':')
		p += (*p == '\\' && p[1]) ? 2 : 1;
	path = strndup(start, (size_t)(p - start));
	if (!path)
		return -ENOMEM;
	r = parse_path(path, sp, err);
	free(path);
	if (r == 0 && *p)
		r = parse_colon_opts(p + 1, sp, err);
	return r;
}

/* A structured key: fills *dst unless the file name already did (then an error). */
static int take_key(struct opts *o, const char *key, char **dst, struct err *err)
{
	const char *v;
	int r = opts_get_str(o, key, NULL, &v, err);

	if (r < 0 || !v)
		return r;
	if (*dst)
		return err_set(err, -EINVAL, "rbd: '%s' given both in the file name and as a key",
			       key);
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

/* Structured keys that are librados options. */
static const struct {
	const char *key, *rados;
} rados_keys[] = {
	{ "keyring", "keyring" },
	{ "mon-host", "mon_host" },
	{ "osd-op-timeout", "rados_osd_op_timeout" },
	{ "mount-timeout", "client_mount_timeout" },
};

static int take_rados_keys(struct opts *o, struct rbd_spec *sp, struct err *err)
{
	for (size_t i = 0; i < sizeof(rados_keys) / sizeof(rados_keys[0]); i++) {
		const char *v;
		int r = opts_get_str(o, rados_keys[i].key, NULL, &v, err);

		if (r == 0 && v)
			r = kv_add(sp, rados_keys[i].rados, v);
		if (r < 0)
			return r;
	}
	return opts_get_bool(o, "shared-connection", false, &sp->shared, err);
}

#define RBD_GW_GRACE_DEFAULT 15 /* seconds: docs/HA.md, "No ping-pong" */
#define RBD_GW_GRACE_MAX 3600

/* gateway=on, gateway-grace=SECONDS, gateway-name=NAME (rbd-gw.c). */
static int take_gateway_keys(struct opts *o, struct rbd_spec *sp, struct err *err)
{
	uint64_t grace;
	int r = opts_get_bool(o, "gateway", false, &sp->gateway, err);

	if (r == 0)
		r = opts_get_u64(o, "gateway-grace", RBD_GW_GRACE_DEFAULT, &grace, err);
	if (r == 0 && grace > RBD_GW_GRACE_MAX)
		r = err_set(err, -EINVAL, "rbd: gateway-grace %llu is above %u seconds",
			    (unsigned long long)grace, RBD_GW_GRACE_MAX);
	if (r == 0)
		r = take_key(o, "gateway-name", &sp->gw_name, err);
	if (r < 0)
		return r;
	sp->grace_s = (unsigned int)grace;
	if (sp->gw_name && (!sp->gw_name[0] || strchr(sp->gw_name, ':')))
		return err_set(err, -EINVAL, "rbd: gateway-name '%s' is empty or has a ':'",
			       sp->gw_name);
	if (sp->gateway && sp->shared)
		return err_set(err, -EINVAL,
			       "rbd: gateway=on needs a connection of its own (the lock and the "
			       "service map are per client): drop shared-connection=on");
	return 0;
}

static int check_names(const struct rbd_spec *sp, struct err *err)
{
	const char *const names[] = { sp->pool, sp->ns, sp->image, sp->snap };

	if (!sp->pool || !sp->image)
		return err_set(err, -EINVAL,
			       "rbd: no image given (file=rbd:pool/image, or pool= and image=)");
	for (size_t i = 0; i < 4; i++)
		if (names[i] && (strchr(names[i], '/') || strchr(names[i], '@')))
			return err_set(err, -EINVAL, "rbd: name '%s' contains '/' or '@'",
				       names[i]);
	return 0;
}

int rbd_spec_parse(struct opts *opts, const char *filename, struct rbd_spec *sp, struct err *err)
{
	int r = 0;

	memset(sp, 0, sizeof(*sp));
	if (filename && filename[0]) {
		if (strncmp(filename, RBD_PREFIX, strlen(RBD_PREFIX)))
			return err_set(err, -EINVAL,
				       "rbd: file name '%s' does not start with rbd:", filename);
		r = parse_filename(filename, sp, err);
	}
	if (r == 0)
		r = take_key(opts, "pool", &sp->pool, err);
	if (r == 0)
		r = take_key(opts, "namespace", &sp->ns, err);
	if (r == 0)
		r = take_key(opts, "image", &sp->image, err);
	if (r == 0)
		r = take_key(opts, "snapshot", &sp->snap, err);
	if (r == 0)
		r = take_key(opts, "conf", &sp->conf, err);
	if (r == 0)
		r = take_key(opts, "user", &sp->user, err);
	if (r == 0)
		r = take_rados_keys(opts, sp, err);
	if (r == 0)
		r = take_gateway_keys(opts, sp, err);
	if (r == 0)
		r = check_names(sp, err);
	if (r == -ENOMEM)
		err_set(err, r, "rbd: out of memory");
	if (r < 0)
		rbd_spec_release(sp);
	return r;
}
