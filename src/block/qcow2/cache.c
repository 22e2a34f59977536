/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Slice caches for L2 tables and refcount blocks: fixed-size entries of one slice
 * (min(cluster, 4 KiB)) each, a hash on the host offset, clock eviction.  Callers hold
 * s->lock.  Entries in use are pinned (get/put).  Writing back an L2 slice first makes its
 * dependencies durable (qcow2_write_deps), so eviction keeps the crash ordering.
 */
#include "qcow2.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static unsigned int hash_off(const struct qcow2_cache *c, uint64_t off)
{
	uint64_t k = off / c->slice_size;

	k ^= k >> 29;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 32;
	return (unsigned int)k & c->hmask;
}

int qcow2_cache_init(struct qcow2_cache *c, const char *name, unsigned int slice_size,
		     unsigned int n)
{
	unsigned int hn = 1;
	void *mem = NULL;

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->slice_size = slice_size;
	c->n = n;
	while (hn < 2 * n)
		hn <<= 1;
	c->hmask = hn - 1;
	if (posix_memalign(&mem, 4096, (size_t)slice_size * n))
		return -ENOMEM;
	c->mem = mem;
	c->e = calloc(n, sizeof(*c->e));
	c->hash = calloc(hn, sizeof(*c->hash));
	if (!c->e || !c->hash) {
		qcow2_cache_release(c);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++) {
		c->e[i].off = UINT64_MAX;
		c->e[i].data = c->mem + (size_t)i * slice_size;
	}
	return 0;
}

void qcow2_cache_release(struct qcow2_cache *c)
{
	free(c->mem);
	free(c->e);
	free(c->hash);
	c->mem = NULL;
	c->e = NULL;
	c->hash = NULL;
}

struct qcow2_slice *qcow2_cache_lookup(struct qcow2_cache *c, uint64_t off)
{
	struct qcow2_slice *e = c->hash[hash_off(c, off)];

	while (e && e->off != off)
		e = e->hnext;
	if (e)
		e->ref = true;
	return e;
}

static void hash_remove(struct qcow2_cache *c, struct qcow2_slice *sl)
{
	struct qcow2_slice **pp = &c->hash[hash_off(c, sl->off)];

	while (*pp && *pp != sl)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = sl->hnext;
	sl->hnext = NULL;
	sl->off = UINT64_MAX;
}

static void hash_insert(struct qcow2_cache *c, struct qcow2_slice *sl, uint64_t off)
{
	unsigned int h = hash_off(c, off);

	sl->off = off;
	sl->hnext = c->hash[h];
	c->hash[h] = sl;
}

int qcow2_write_slice(struct blk_node *bs, struct qcow2_cache *c, struct qcow2_slice *sl)
{
	struct qcow2_state *s = bs->opaque;
	int r;

	if (!sl->dirty)
		return 0;
	if (c == &s->l2c && (r = qcow2_write_deps(bs)) < 0)
		return r;
	if (qcow2_check_overlap(s, sl->off, c->slice_size, 0) < 0)
		return qcow2_corrupt(bs, "%s slice at 0x%" PRIx64 " overlaps other metadata",
				     c->name, sl->off);
	r = blk_pwrite(bs->file, sl->off, sl->data, c->slice_size, 0);
	if (r < 0)
		return r;
	sl->dirty = false;
	c->ndirty--;
	if (c == &s->rbc)
		s->r_written = true;
	return 0;
}

/* Find a victim slot with the clock; write it back if dirty. */
static int evict(struct blk_node *bs, struct qcow2_cache *c, struct qcow2_slice **out)
{
	for (unsigned int step = 0; step < 2 * c->n + 1; step++) {
		struct qcow2_slice *e = &c->e[c->hand];
		int r;

		c->hand = (c->hand + 1) % c->n;
		if (e->pin)
			continue;
		if (e->ref && e->off != UINT64_MAX) {
			e->ref = false;
			continue;
		}
		if (e->dirty && (r = qcow2_write_slice(bs, c, e)) < 0)
			return r;
		if (e->pin) /* write_deps may have used it */
			continue;
		if (e->off != UINT64_MAX)
			hash_remove(c, e);
		*out = e;
		return 0;
	}
	log_err("qcow2: %s cache: every slice is in use", c->name);
	return -ENOMEM;
}

static int cache_get(struct blk_node *bs, struct qcow2_cache *c, uint64_t off, bool read,
		     struct qcow2_slice **out)
{
	struct qcow2_slice *e = qcow2_cache_lookup(c, off);
	int r;

	if (e) {
		c->hits++;
		e->pin++;
		if (!read)
			memset(e->data, 0, c->slice_size);
		*out = e;
		return 0;
	}
	c->misses++;
	r = evict(bs, c, &e);
	if (r < 0)
		return r;
	if (read) {
		r = blk_pread(bs->file, off, e->data, c->slice_size);
		if (r < 0)
			return r;
	} else {
		memset(e->data, 0, c->slice_size);
	}
	hash_insert(c, e, off);
	e->pin = 1;
	e->ref = true;
	*out = e;
	return 0;
}

int qcow2_cache_get(struct blk_node *bs, struct qcow2_cache *c, uint64_t off,
		    struct qcow2_slice **out)
{
	return cache_get(bs, c, off, true, out);
}

int qcow2_cache_get_empty(struct blk_node *bs, struct qcow2_cache *c, uint64_t off,
			  struct qcow2_slice **out)
{
	return cache_get(bs, c, off, false, out);
}

void qcow2_cache_put(struct qcow2_slice *sl)
{
	if (sl)
		sl->pin--;
}

void qcow2_cache_mark_dirty(struct qcow2_cache *c, struct qcow2_slice *sl)
{
	if (!sl->dirty) {
		sl->dirty = true;
		c->ndirty++;
	}
}

int qcow2_cache_writeback(struct blk_node *bs, struct qcow2_cache *c)
{
	for (unsigned int i = 0; i < c->n && c->ndirty; i++) {
		int r = qcow2_write_slice(bs, c, &c->e[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

void qcow2_cache_discard(struct qcow2_cache *c, uint64_t off, uint64_t len)
{
	for (uint64_t o = off; o < off + len; o += c->slice_size) {
		struct qcow2_slice *e = qcow2_cache_lookup(c, o);

		if (!e || e->pin)
			continue;
		if (e->dirty) {
			e->dirty = false;
			c->ndirty--;
		}
		hash_remove(c, e);
		e->ref = false;
	}
}
