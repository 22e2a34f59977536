/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Options: an ordered list of key=value pairs, parsed from
 *   - the TCMU config string targetcli hands us: "@key=value@key=value..." (LIO's control
 *     file splits on commas, so '@' separates); a string not starting with '@' is a plain
 *     image path (tcmu-runner's convention) and becomes file=<path>;
 *   - command-line style "key=value,key=value" (",," is a literal comma, as in QEMU).
 * Consumers fetch keys with opts_get*(), which marks them used; opts_check_unused() then
 * names the first key that nobody understood.  Every error is one line naming the key.
 */
#ifndef QT_UTIL_OPTS_H
#define QT_UTIL_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct err;

struct opt {
	char *key;
	char *value;
	bool used;
};

struct opts {
	struct opt *v;
	size_t n, cap;
};

void opts_init(struct opts *o);
void opts_release(struct opts *o);
/* Deep copy of @src into the empty @dst; used marks are copied too. */
int opts_copy(struct opts *dst, const struct opts *src);

/* Add a pair; a key given twice is an error ("option 'file' given twice"). */
int opts_add(struct opts *o, const char *key, const char *value, struct err *err);
/* Add or replace. */
int opts_set(struct opts *o, const char *key, const char *value);
/* Remove a key (used to drop keys a layer handled itself). */
void opts_del(struct opts *o, const char *key);

/* "@k=v@k=v" or a plain path (file=<path>).  Aliases: format -> driver. */
int opts_parse_cfgstring(struct opts *o, const char *str, struct err *err);
/* "k=v,k=v"; ",," escapes a comma.  A bare word without '=' is @implied_key=word
 * when @implied_key is not NULL (as qemu's "-drive file" shortcut), else an error. */
int opts_parse_kv(struct opts *o, const char *str, const char *implied_key, struct err *err);

/* Lookups mark the key used.  The typed getters leave *out = def when the key is absent. */
bool opts_has(const struct opts *o, const char *key);
const char *opts_get(struct opts *o, const char *key);
const char *opts_peek(const struct opts *o, const char *key); /* does not mark used */
int opts_get_str(struct opts *o, const char *key, const char *def, const char **out,
		 struct err *err); /* rejects empty values */
int opts_get_bool(struct opts *o, const char *key, bool def, bool *out, struct err *err);
int opts_get_size(struct opts *o, const char *key, uint64_t def, uint64_t *out, struct err *err);
int opts_get_u64(struct opts *o, const char *key, uint64_t def, uint64_t *out, struct err *err);
/* @names is NULL-terminated; *out is the index. */
int opts_get_enum(struct opts *o, const char *key, const char *const *names, int def, int *out,
		  struct err *err);

/* Move every "prefix.rest" into @dst as "rest" (marking them used in @o). */
int opts_extract_prefix(struct opts *o, const char *prefix, struct opts *dst);
/* -EINVAL with "unknown option 'k'" for the first unused key. */
int opts_check_unused(const struct opts *o, const char *what, struct err *err);
/* "k=v,k=v" into @buf (for logs). */
void opts_format(const struct opts *o, char *buf, size_t len);

/* Parse a size with an optional binary suffix (k/K, M, G, T, P, E; b = bytes), as qemu-io. */
int parse_size(const char *s, uint64_t *out);
int parse_bool(const char *s, bool *out);

#endif
