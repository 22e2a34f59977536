/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

void opts_init(struct opts *o)
{
	o->v = NULL;
	o->n = o->cap = 0;
}

void opts_release(struct opts *o)
{
	for (size_t i = 0; i < o->n; i++) {
		free(o->v[i].key);
		free(o->v[i].value);
	}
	free(o->v);
	opts_init(o);
}

static struct opt *opts_find(const struct opts *o, const char *key)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].key, key))
			return &o->v[i];
	return NULL;
}

static int opts_append(struct opts *o, const char *key, size_t klen, const char *value, size_t vlen)
{
	struct opt *e;

	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 8;
		struct opt *v = realloc(o->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		o->v = v;
		o->cap = cap;
	}
	e = &o->v[o->n];
	e->key = strndup(key, klen);
	e->value = strndup(value, vlen);
	e->used = false;
	if (!e->key || !e->value) {
		free(e->key);
		free(e->value);
		return -ENOMEM;
	}
	o->n++;
	return 0;
}

int opts_copy(struct opts *dst, const struct opts *src)
{
	for (size_t i = 0; i < src->n; i++) {
		const struct opt *s = &src->v[i];
		int r = opts_append(dst, s->key, strlen(s->key), s->value, strlen(s->value));

		if (r < 0)
			return r;
		dst->v[dst->n - 1].used = s->used;
	}
	return 0;
}

static const char *canonical_key(const char *key, size_t *len)
{
	/* "format" is what users write (qemu-img -f, the qemu-tcmu patches); "driver" is QEMU's */
	if (*len == 6 && !strncmp(key, "format", 6)) {
		*len = 6;
		return "driver";
	}
	return key;
}

static int opts_add_n(struct opts *o, const char *key, size_t klen, const char *value, size_t vlen,
		      struct err *err)
{
	char k[128];

	key = canonical_key(key, &klen);
	if (klen == 0)
		return err_set(err, -EINVAL, "empty option name");
	if (klen >= sizeof(k))
		return err_set(err, -EINVAL, "option name '%.40s...' too long", key);
	memcpy(k, key, klen);
	k[klen] = '\0';
	for (size_t i = 0; i < klen; i++) {
		char c = k[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return err_set(err, -EINVAL, "invalid character '%c' in option name '%s'",
				       c, k);
	}
	if (opts_find(o, k))
		return err_set(err, -EINVAL, "option '%s' given twice", k);
	if (opts_append(o, k, klen, value, vlen) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

int opts_add(struct opts *o, const char *key, const char *value, struct err *err)
{
	return opts_add_n(o, key, strlen(key), value, strlen(value), err);
}

int opts_set(struct opts *o, const char *key, const char *value)
{
	struct opt *e = opts_find(o, key);
	char *v;

	if (!e)
		return opts_append(o, key, strlen(key), value, strlen(value));
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	free(e->value);
	e->value = v;
	return 0;
}

void opts_del(struct opts *o, const char *key)
{
	struct opt *e = opts_find(o, key);

	if (!e)
		return;
	free(e->key);
	free(e->value);
	memmove(e, e + 1, (size_t)(o->v + o->n - (e + 1)) * sizeof(*e));
	o->n--;
}

int opts_parse_cfgstring(struct opts *o, const char *str, struct err *err)
{
	const char *p = str;

	if (!str || !*str)
		return err_set(err, -EINVAL, "empty config string");
	if (*p != '@')
		return opts_add(o, "file", str, err);
	while (*p) {
		const char *seg, *eq;
		size_t len;
		int r;

		p++; /* skip '@' */
		seg = p;
		len = strcspn(seg, "@");
		p = seg + len;
		if (len == 0)
			continue; /* "@@" or a trailing '@' */
		eq = memchr(seg, '=', len);
		if (!eq)
			return err_set(err, -EINVAL, "config string: '%.*s' has no '=value'",
				       (int)len, seg);
		r = opts_add_n(o, seg, (size_t)(eq - seg), eq + 1, (size_t)(seg + len - eq - 1),
			       err);
		if (r < 0)
			return r;
	}
	return 0;
}

int opts_parse_kv(struct opts *o, const char *str, const char *implied_key, struct err *err)
{
	size_t len = strlen(str);
	char *buf = malloc(len + 1);
	const char *p = str;
	int r = 0;

	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	while (*p) {
		size_t n = 0;
		char *eq;

		/* copy one element, turning ",," into ',' */
		while (*p) {
			if (*p == ',') {
				if (p[1] == ',') {
					buf[n++] = ',';
					p += 2;
					continue;
				}
				break;
			}
			buf[n++] = *p++;
		}
		buf[n] = '\0';
		if (*p == ',')
			p++;
		if (n == 0)
			continue;
		eq = strchr(buf, '=');
		if (!eq && implied_key)
			r = opts_add(o, implied_key, buf, err);
		else if (!eq)
			r = err_set(err, -EINVAL, "'%s' has no '=value'", buf);
		else
			r = opts_add_n(o, buf, (size_t)(eq - buf), eq + 1, strlen(eq + 1), err);
		if (r < 0)
			break;
		implied_key = NULL; /* only the first element may omit its key */
	}
	free(buf);
	return r;
}

bool opts_has(const struct opts *o, const char *key)
{
	return opts_find(o, key) != NULL;
}

const char *opts_peek(const struct opts *o, const char *key)
{
	struct opt *e = opts_find(o, key);

	return e ? e->value : NULL;
}

const char *opts_get(struct opts *o, const char *key)
{
	struct opt *e = opts_find(o, key);

	if (!e)
		return NULL;
	e->used = true;
	return e->value;
}

int opts_get_str(struct opts *o, const char *key, const char *def, const char **out,
		 struct err *err)
{
	const char *v = opts_get(o, key);

	if (!v) {
		*out = def;
		return 0;
	}
	if (!*v)
		return err_set(err, -EINVAL, "option '%s' is empty", key);
	*out = v;
	return 0;
}

int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true", "1", NULL };
	static const char *const no[] = { "off", "no", "false", "0", NULL };

	for (int i = 0; yes[i]; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

int opts_get_bool(struct opts *o, const char *key, bool def, bool *out, struct err *err)
{
	const char *v = opts_get(o, key);

	*out = def;
	if (!v)
		return 0;
	if (parse_bool(v, out) < 0)
		return err_set(err, -EINVAL, "option '%s': '%s' is not on/off", key, v);
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	static const char suffixes[] = "bkmgtpe";
	unsigned long long v;
	const char *sfx;
	char *end;
	int shift;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return -ERANGE;
	if (*end == '\0') {
		*out = v;
		return 0;
	}
	sfx = strchr(suffixes, end[0] | 0x20);
	if (!sfx || end[1] != '\0')
		return -EINVAL;
	shift = (int)(sfx - suffixes) * 10;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int opts_get_size(struct opts *o, const char *key, uint64_t def, uint64_t *out, struct err *err)
{
	const char *v = opts_get(o, key);
	int r;

	*out = def;
	if (!v)
		return 0;
	r = parse_size(v, out);
	if (r < 0)
		return err_set(err, -EINVAL, "option '%s': '%s' is not a size", key, v);
	return 0;
}

int opts_get_u64(struct opts *o, const char *key, uint64_t def, uint64_t *out, struct err *err)
{
	const char *v = opts_get(o, key);
	unsigned long long n;
	char *end;

	*out = def;
	if (!v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 0);
	if (errno || end == v || *end || *v == '-')
		return err_set(err, -EINVAL, "option '%s': '%s' is not a number", key, v);
	*out = n;
	return 0;
}

int opts_get_enum(struct opts *o, const char *key, const char *const *names, int def, int *out,
		  struct err *err)
{
	const char *v = opts_get(o, key);
	char list[256];
	size_t n = 0;

	*out = def;
	if (!v)
		return 0;
	for (int i = 0; names[i]; i++) {
		if (!strcmp(v, names[i])) {
			*out = i;
			return 0;
		}
	}
	list[0] = '\0';
	for (int i = 0; names[i] && n < sizeof(list); i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? "|" : "", names[i]);
	return err_set(err, -EINVAL, "option '%s': '%s' is not one of %s", key, v, list);
}

int opts_extract_prefix(struct opts *o, const char *prefix, struct opts *dst)
{
	size_t plen = strlen(prefix);

	for (size_t i = 0; i < o->n; i++) {
		struct opt *e = &o->v[i];
		int r;

		if (strncmp(e->key, prefix, plen) || e->key[plen] != '.')
			continue;
		r = opts_append(dst, e->key + plen + 1, strlen(e->key + plen + 1), e->value,
				strlen(e->value));
		if (r < 0)
			return r;
		e->used = true;
	}
	return 0;
}

int opts_check_unused(const struct opts *o, const char *what, struct err *err)
{
	for (size_t i = 0; i < o->n; i++)
		if (!o->v[i].used)
			return err_set(err, -EINVAL, "unknown option '%s'%s%s", o->v[i].key,
				       what ? " for " : "", what ? what : "");
	return 0;
}

void opts_format(const struct opts *o, char *buf, size_t len)
{
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < o->n && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s=%s", i ? "," : "", o->v[i].key,
				      o->v[i].value);
}
