/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Slice caches for L2 tables and refcount blocks: fixed-size entries of one slice
 * (min(cluster, 4 KiB)) each, a hash on the host offset, clock eviction.  Callers hold
 * s->lock.  Entries in use are pinned (get/put).  Writing back a dirty slice first runs the
 * cache's before_write hook: for the L2 cache qcow2_write_deps, which makes what the
 * entries point at durable, so eviction keeps the crash ordering.  That hook is the one
 * call from here up into flush.c (which writes back through this cache), hence a pointer
 * that qcow2.c sets at open, as QEMU's L2 cache names the refcount cache it depends on.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define HUGE_PAGE (2u << 20)

static unsigned int hash_off(const struct qcow2_cache *c, uint64_t off)
{
	uint64_t k = off / c->slice_size;

	k ^= k >> 29;
	k *= 0xbf58476d1ce4e5b9ull;
	k ^= k >> 32;
	return (unsigned int)k & c->hmask;
}

/*
 * Each guest request reads one L2 entry at a random place in the cache, and with 4 KiB
 * pages that is a TLB miss on top of the cache miss.  A cache of 512 KiB or more (an 8 GiB
 * image with 64 KiB clusters needs 1 MiB) is rounded up to whole huge pages, aligned to
 * them and offered to transparent huge pages: the idle tail costs at most 1.5 MiB.
 */
static int cache_alloc(void **mem, size_t len)
{
	if (len < HUGE_PAGE / 4)
		return posix_memalign(mem, 4096, len);
	len = (len + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
	if (posix_memalign(mem, HUGE_PAGE, len))
		return -1;
	(void)madvise(*mem, len, MADV_HUGEPAGE);
	return 0;
}

int qcow2_cache_init(struct qcow2_cache *c, const char *name, unsigned int kind,
		     unsigned int slice_size, unsigned int n)
{
	unsigned int hn = 1;
	void *mem = NULL;

	memset(c, 0, sizeof(*c));
	c->name = name;
	c->kind = kind;
	c->slice_size = slice_size;
	c->n = n;
	while (hn < 2 * n)
		hn <<= 1;
	c->hmask = hn - 1;
	if (cache_alloc(&mem, (size_t)slice_size * n))
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
	if (e) {
		e->ref = true;
		e->used = c->pass;
	}
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

static int write_slice(struct blk_node *bs, struct qcow2_cache *c, struct qcow2_slice *sl)
{
	struct qcow2_state *s = bs->opaque;
	int r;

	if (!sl->dirty)
		return 0;
	if (s->corrupt)
		return -EIO; /* no metadata is written after an inconsistency */
	if (c->before_write && (r = c->before_write(bs)) < 0)
		return r;
	r = qcow2_check_write(bs, sl->off, c->slice_size, c->kind);
	if (r < 0)
		return r;
	r = blk_pwrite(bs->file, sl->off, sl->data, c->slice_size, 0);
	if (r < 0)
		return r;
	sl->dirty = false;
	c->ndirty--;
	return 0;
}

/* Find a victim slot with the clock; write it back if dirty. */
static int evict(struct blk_node *bs, struct qcow2_cache *c, struct qcow2_slice **out)
{
	struct qcow2_state *s = bs->opaque;

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
		if (e->dirty && s->corrupt)
			continue; /* never written now: keep it */
		if (e->dirty && (r = write_slice(bs, c, e)) < 0)
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

int qcow2_cache_get(struct blk_node *bs, struct qcow2_cache *c, uint64_t off,
		    struct qcow2_slice **out)
{
	struct qcow2_slice *e = qcow2_cache_lookup(c, off);
	int r;

	if (e) {
		c->hits++;
		e->pin++;
		*out = e;
		return 0;
	}
	c->misses++;
	r = evict(bs, c, &e);
	if (r < 0)
		return r;
	r = blk_pread(bs->file, off, e->data, c->slice_size);
	if (r < 0)
		return r;
	hash_insert(c, e, off);
	e->pin = 1;
	e->ref = true;
	e->used = c->pass;
	*out = e;
	return 0;
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
		int r = write_slice(bs, c, &c->e[i]);

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

/* ---- cache-clean-interval ------------------------------------------------------------------ */

static bool slice_idle(const struct qcow2_cache *c, const struct qcow2_slice *e)
{
	return e->off == UINT64_MAX || (!e->pin && !e->dirty && e->used != c->pass);
}

void qcow2_cache_clean_idle(struct qcow2_cache *c)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned int per_page = (unsigned int)MAX(page / c->slice_size, (size_t)1);

	/* whole pages only: every slice sharing the page must be idle */
	for (unsigned int i = 0; i + per_page <= c->n; i += per_page) {
		bool idle = true, any = false;

		for (unsigned int j = i; j < i + per_page; j++) {
			idle &= slice_idle(c, &c->e[j]);
			any |= c->e[j].off != UINT64_MAX;
		}
		if (!idle || !any)
			continue;
		for (unsigned int j = i; j < i + per_page; j++) {
			if (c->e[j].off == UINT64_MAX)
				continue;
			hash_remove(c, &c->e[j]);
			c->e[j].ref = false;
			c->cleaned++;
		}
		madvise(c->e[i].data, (size_t)per_page * c->slice_size, MADV_DONTNEED);
	}
	c->pass++;
}

struct qcow2_cleaner {
	pthread_t thread;
	pthread_mutex_t m;
	pthread_cond_t cv;
	bool stop;
	unsigned int secs;
	struct blk_node *bs;
};

static void *cleaner_main(void *arg)
{
	struct qcow2_cleaner *cl = arg;
	struct qcow2_state *s = cl->bs->opaque;
	struct timespec t;

	pthread_mutex_lock(&cl->m);
	clock_gettime(CLOCK_MONOTONIC, &t);
	while (!cl->stop) {
		t.tv_sec += cl->secs;
		if (pthread_cond_timedwait(&cl->cv, &cl->m, &t) == 0 || cl->stop)
			continue;
		pthread_mutex_unlock(&cl->m);
		qcow2_lock(s);
		qcow2_cache_clean_idle(&s->l2c);
		qcow2_cache_clean_idle(&s->rbc);
		qcow2_unlock(s);
		pthread_mutex_lock(&cl->m);
		clock_gettime(CLOCK_MONOTONIC, &t);
	}
	pthread_mutex_unlock(&cl->m);
	return NULL;
}

int qcow2_cleaner_start(struct blk_node *bs, unsigned int secs)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_cleaner *cl;
	pthread_condattr_t a;
	int r;

	if (!secs)
		return 0;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	cl->secs = secs;
	cl->bs = bs;
	pthread_mutex_init(&cl->m, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&cl->cv, &a);
	pthread_condattr_destroy(&a);
	r = pthread_create(&cl->thread, NULL, cleaner_main, cl);
	if (r) {
		pthread_cond_destroy(&cl->cv);
		pthread_mutex_destroy(&cl->m);
		free(cl);
		return -r;
	}
	s->cleaner = cl;
	return 0;
}

void qcow2_cleaner_stop(struct qcow2_state *s)
{
	struct qcow2_cleaner *cl = s->cleaner;

	if (!cl)
		return;
	pthread_mutex_lock(&cl->m);
	cl->stop = true;
	pthread_cond_signal(&cl->cv);
	pthread_mutex_unlock(&cl->m);
	pthread_join(cl->thread, NULL);
	pthread_cond_destroy(&cl->cv);
	pthread_mutex_destroy(&cl->m);
	free(cl);
	s->cleaner = NULL;
}
