/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest reads and writes (the blocking path).  Reads map runs of subclusters with the
 * same state and contiguous host offsets and do one I/O per run.  Writes are either
 * in place (mapped, COPIED, allocated subclusters: no metadata change) or allocating:
 * under the lock the clusters are allocated and registered in flight, then without the
 * lock the copy-on-write head, the guest data and the COW tail go out in one vectored
 * write, then under the lock the L2 entries are updated.
 */
#include "qcow2-int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/iov.h"
#include "util/log.h"

static uint8_t zero_buf[QCOW2_ZERO_BUF] __attribute__((aligned(4096)));

const uint8_t *qcow2_zero_buf(void)
{
	return zero_buf;
}

#define QIOV_LOCAL 16

struct qiov {
	struct iovec local[QIOV_LOCAL];
	struct iovec *v;
	int cnt, cap;
};

static int qiov_init(struct qiov *q, int need)
{
	q->cnt = 0;
	q->cap = QIOV_LOCAL;
	q->v = q->local;
	if (need > QIOV_LOCAL) {
		q->v = malloc(sizeof(*q->v) * (size_t)need);
		if (!q->v)
			return -ENOMEM;
		q->cap = need;
	}
	return 0;
}

static void qiov_release(struct qiov *q)
{
	if (q->v != q->local)
		free(q->v);
}

static void qiov_add(struct qiov *q, const void *base, size_t len)
{
	q->v[q->cnt++] = (struct iovec){ .iov_base = (void *)base, .iov_len = len };
}

/* Append bytes [off, off+len) of the caller's vector. */
static int qiov_add_slice(struct qiov *q, const struct iovec *iov, int iovcnt, size_t off,
			  size_t len)
{
	int n = iov_slice(q->v + q->cnt, q->cap - q->cnt, iov, iovcnt, off, len);

	if (n < 0)
		return n;
	q->cnt += n;
	return 0;
}

/* ---- reads ------------------------------------------------------------------------------ */

struct extent {
	enum qcow2_sc_type type;
	uint64_t host; /* DATA: host offset of the first byte */
	uint64_t len;
	struct qcow2_map m; /* COMPRESSED */
};

#define EXTENT_MAX_CLUSTERS 1024

/* Does subcluster @sc of @m (next byte at cluster offset @in) continue extent @e? */
static bool extends(const struct qcow2_state *s, const struct qcow2_map *m, unsigned int sc,
		    uint64_t in, const struct extent *e, uint64_t n)
{
	enum qcow2_sc_type t = qcow2_sc_type(s, m, sc);

	return t == e->type && (t != QCOW2_SC_DATA || m->host + in == e->host + n);
}

/* The run of guest bytes from @guest (at most @max) with one state and contiguous host. */
static int map_extent(struct blk_node *bs, uint64_t guest, uint64_t max, struct extent *e)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t in = qcow2_offset_in_cluster(s, guest), n = 0;
	unsigned int sc = (unsigned int)(in >> s->sc_bits), clusters = 0;
	struct qcow2_map m;
	int r = qcow2_get_map(bs, guest, &m);

	if (r < 0)
		return r;
	e->type = qcow2_sc_type(s, &m, sc);
	e->host = m.host + in;
	e->m = m;
	if (e->type == QCOW2_SC_COMPRESSED) {
		e->len = MIN(max, s->cluster_size - in);
		return 0;
	}
	for (;;) {
		while (sc < s->nsc && extends(s, &m, sc, in, e, n)) {
			uint64_t sc_end = ((uint64_t)sc + 1) << s->sc_bits;

			n += sc_end - in;
			in = sc_end;
			sc++;
			if (n >= max) {
				e->len = max;
				return 0;
			}
		}
		if (sc < s->nsc || ++clusters >= EXTENT_MAX_CLUSTERS)
			break;
		r = qcow2_get_map(bs, guest + n, &m);
		if (r < 0)
			return r;
		in = 0;
		sc = 0;
		if (m.compressed)
			break;
	}
	e->len = n;
	return 0;
}

static int read_backing(struct blk_node *bs, uint64_t guest, uint64_t len, const struct iovec *iov,
			int iovcnt, size_t ioff)
{
	uint64_t bl, n = 0;
	struct qiov q;
	int r = 0;

	if (bs->backing) {
		bl = (uint64_t)blk_getlength(bs->backing);
		n = guest < bl ? MIN(len, bl - guest) : 0;
	}
	if (n) {
		r = qiov_init(&q, iovcnt);
		if (r == 0)
			r = qiov_add_slice(&q, iov, iovcnt, ioff, n);
		if (r == 0)
			r = blk_preadv(bs->backing, guest, n, q.v, q.cnt, 0);
		qiov_release(&q);
	}
	if (r == 0 && n < len)
		iov_memset(iov, iovcnt, ioff + n, 0, len - n);
	return r;
}

static int read_extent(struct blk_node *bs, const struct extent *e, uint64_t guest,
		       const struct iovec *iov, int iovcnt, size_t ioff)
{
	struct qcow2_state *s = bs->opaque;
	uint8_t *buf;
	struct qiov q;
	int r;

	switch (e->type) {
	case QCOW2_SC_DATA:
		r = qiov_init(&q, iovcnt);
		if (r == 0)
			r = qiov_add_slice(&q, iov, iovcnt, ioff, e->len);
		if (r == 0)
			r = blk_preadv(s->data, e->host, e->len, q.v, q.cnt, 0);
		qiov_release(&q);
		return r;
	case QCOW2_SC_ZERO:
		iov_memset(iov, iovcnt, ioff, 0, e->len);
		return 0;
	case QCOW2_SC_UNALLOC:
		return read_backing(bs, guest, e->len, iov, iovcnt, ioff);
	case QCOW2_SC_COMPRESSED:
		buf = malloc(s->cluster_size);
		if (!buf)
			return -ENOMEM;
		r = qcow2_read_compressed(bs, e->m.entry, buf);
		if (r == 0)
			iov_from_buf(iov, iovcnt, ioff, buf + qcow2_offset_in_cluster(s, guest),
				     e->len);
		free(buf);
		return r;
	}
	return -EIO;
}

/* Read guest bytes [guest, guest+len) of one cluster as @m maps them. */
static int read_in_cluster(struct blk_node *bs, const struct qcow2_map *m, uint64_t guest,
			   uint64_t len, const struct iovec *iov, int iovcnt, size_t ioff)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t done = 0;

	while (done < len) {
		uint64_t in = qcow2_offset_in_cluster(s, guest + done);
		unsigned int sc = (unsigned int)(in >> s->sc_bits);
		struct extent e = { .type = qcow2_sc_type(s, m, sc),
				    .host = m->host + in,
				    .m = *m };
		uint64_t end = ((uint64_t)sc + 1) << s->sc_bits;
		int r;

		if (e.type == QCOW2_SC_COMPRESSED)
			end = s->cluster_size;
		while (end < s->cluster_size && e.type != QCOW2_SC_COMPRESSED &&
		       qcow2_sc_type(s, m, (unsigned int)(end >> s->sc_bits)) == e.type)
			end += 1ull << s->sc_bits;
		e.len = MIN(end - in, len - done);
		r = read_extent(bs, &e, guest + done, iov, iovcnt, ioff + done);
		if (r < 0)
			return r;
		done += e.len;
	}
	return 0;
}

int qcow2_read_mapped(struct blk_node *bs, const struct qcow2_map *m, uint64_t off, uint64_t len,
		      uint8_t *buf)
{
	struct iovec v = { .iov_base = buf, .iov_len = len };

	return read_in_cluster(bs, m, off, len, &v, 1, 0);
}

int qcow2_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		 int iovcnt, unsigned int flags)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t done = 0;

	(void)flags;
	while (done < len) {
		struct extent e;
		unsigned int slot;
		int r;

		qcow2_lock(s);
		r = map_extent(bs, off + done, len - done, &e);
		slot = qcow2_io_begin(s);
		qcow2_unlock(s);
		if (r == 0)
			r = read_extent(bs, &e, off + done, iov, iovcnt, done);
		qcow2_io_end(s, slot);
		if (r < 0)
			return r;
		done += e.len;
	}
	return 0;
}

/* ---- writes ----------------------------------------------------------------------------- */

enum plan_kind {
	PLAN_INPLACE, /* mapped and allocated: write, no metadata change */
	PLAN_META,    /* our cluster, but subclusters/zero flag change: fill, write, update L2 */
	PLAN_NEW,     /* new clusters (unallocated, zero, shared or compressed before) */
};

struct wplan {
	enum plan_kind kind;
	uint64_t len;	/* guest bytes this step writes */
	uint64_t host;	/* INPLACE: host of the first byte; else host of the first cluster */
	uint64_t c0, k; /* guest clusters [c0, c0+k) (META/NEW) */
	bool zero;	/* NEW clusters read as zeroes: zero regions may be skipped */
	bool replace;	/* NEW over a host cluster we drop a reference to */
	struct qcow2_map first, last;
	struct qcow2_inflight fl;
};

static bool all_data(const struct qcow2_state *s, const struct qcow2_map *m, unsigned int a,
		     unsigned int b)
{
	for (unsigned int sc = a; sc <= b; sc++)
		if (qcow2_sc_type(s, m, sc) != QCOW2_SC_DATA)
			return false;
	return true;
}

static bool is_ours(const struct qcow2_map *m)
{
	return m->has_host && m->copied && !m->compressed;
}

/* Extend an in-place run over following clusters mapped contiguously. */
static int plan_inplace(struct blk_node *bs, uint64_t off, uint64_t len, struct wplan *p)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t n = p->len, prev = p->first.host;

	for (unsigned int i = 0; n < len && i < EXTENT_MAX_CLUSTERS; i++) {
		uint64_t take = MIN(s->cluster_size, len - n);
		struct qcow2_map m;
		int r = qcow2_get_map(bs, off + n, &m);

		if (r < 0)
			return r;
		if (!is_ours(&m) || m.host != prev + s->cluster_size ||
		    !all_data(s, &m, 0, (unsigned int)((take - 1) >> s->sc_bits)))
			break;
		prev = m.host;
		n += take;
	}
	p->len = n;
	return 0;
}

/* Count following clusters that also need a fresh allocation (same L2 slice). */
static int plan_new_run(struct blk_node *bs, uint64_t off, uint64_t len, struct wplan *p)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t per_slice = s->l2c.slice_size / s->l2_entry_size;
	uint64_t in = qcow2_offset_in_cluster(s, off);
	uint64_t max_k = per_slice - (p->c0 % per_slice);

	p->last = p->first;
	p->k = 1;
	if (p->replace)
		return 0;
	while (p->k < max_k && p->k * s->cluster_size < in + len) {
		struct qcow2_map m;
		int r = qcow2_get_map(bs, (p->c0 + p->k) << s->cluster_bits, &m);

		if (r < 0)
			return r;
		if (m.has_host || m.compressed)
			break;
		p->last = m;
		p->k++;
	}
	return 0;
}

static int plan_write(struct blk_node *bs, uint64_t off, uint64_t len, struct wplan *p)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t in = qcow2_offset_in_cluster(s, off), we = MIN(s->cluster_size, in + len);
	unsigned int a = (unsigned int)(in >> s->sc_bits),
		     b = (unsigned int)((we - 1) >> s->sc_bits);
	int r = qcow2_get_map(bs, off, &p->first);

	if (r < 0)
		return r;
	memset(&p->fl, 0, sizeof(p->fl));
	p->c0 = off >> s->cluster_bits;
	p->len = we - in;
	p->k = 1;
	p->zero = false;
	p->replace = false;
	p->last = p->first;
	if (is_ours(&p->first)) {
		if (all_data(s, &p->first, a, b)) {
			p->kind = PLAN_INPLACE;
			p->host = p->first.host + in;
			return plan_inplace(bs, off, len, p);
		}
		p->kind = PLAN_META;
		p->host = p->first.host;
		return 0;
	}
	p->kind = PLAN_NEW;
	p->replace = p->first.has_host || p->first.compressed;
	r = plan_new_run(bs, off, len, p);
	if (r == 0)
		p->len = MIN(len, p->k * s->cluster_size - in);
	return r;
}

/* The host clusters the plan writes must hold no metadata (overlap check, under the lock:
 * the map changes with allocations). */
static int check_data_write(struct blk_node *bs, const struct wplan *p)
{
	struct qcow2_state *s = bs->opaque;

	if (s->data != bs->file)
		return 0;
	if (p->kind == PLAN_INPLACE)
		return qcow2_check_write(bs, p->host, p->len, QCOW2_OL_DATA);
	return qcow2_check_write(bs, p->host, p->k << s->cluster_bits, QCOW2_OL_DATA);
}

/* Allocate the plan's clusters (NEW) and register it in flight; waits for conflicts. */
static int plan_claim(struct blk_node *bs, uint64_t off, uint64_t len, struct wplan *p)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t got, in = qcow2_offset_in_cluster(s, off);
	int r;

	for (;;) {
		r = plan_write(bs, off, len, p);
		if (r < 0)
			return r;
		if (p->kind == PLAN_INPLACE)
			return check_data_write(bs, p);
		if (!qcow2_inflight_overlaps(s, p->c0, p->c0 + p->k))
			break;
		qcow2_inflight_wait(s, p->c0, p->c0 + p->k); /* then plan again */
	}
	/* the cluster we replace loses a reference: it must not be metadata; the L2 entry
	 * will change: its table must be ours alone */
	if (p->replace && (r = qcow2_check_release(bs, p->first.entry)) < 0)
		return r;
	if ((r = qcow2_check_l2_for_write(bs, off)) < 0)
		return r;
	if (p->kind == PLAN_NEW && s->data_file) {
		p->host = p->c0 << s->cluster_bits;
	} else if (p->kind == PLAN_NEW) {
		r = qcow2_alloc_for_use(bs, p->k, &p->host, &got, &p->zero);
		if (r < 0)
			return r;
		if (got < p->k) {
			p->k = got;
			p->len = MIN(len, p->k * s->cluster_size - in);
			r = qcow2_get_map(bs, (p->c0 + p->k - 1) << s->cluster_bits, &p->last);
			if (r < 0)
				return r;
		}
	}
	if ((r = check_data_write(bs, p)) < 0)
		return r;
	qcow2_inflight_add(s, &p->fl, p->c0, p->c0 + p->k);
	return 0;
}

struct cow_region {
	uint64_t start, end; /* bytes within the cluster */
	uint8_t *buf;	     /* NULL: zeroes */
	bool skip;	     /* zero cluster and zeroes: leave the hole */
};

/* Do bytes [start, end) of the cluster at @guest read as zeroes under @m, cheaply? */
static bool region_zero(struct blk_node *bs, const struct qcow2_map *m, uint64_t guest,
			uint64_t start, uint64_t end)
{
	struct qcow2_state *s = bs->opaque;

	for (uint64_t o = start; o < end;
	     o = ALIGN_DOWN(o, 1ull << s->sc_bits) + (1ull << s->sc_bits)) {
		switch (qcow2_sc_type(s, m, (unsigned int)(o >> s->sc_bits))) {
		case QCOW2_SC_ZERO:
			break;
		case QCOW2_SC_UNALLOC:
			if (bs->backing && guest + o < (uint64_t)blk_getlength(bs->backing))
				return false;
			break;
		default:
			return false;
		}
	}
	return true;
}

static int fill_region(struct blk_node *bs, const struct wplan *p, const struct qcow2_map *m,
		       uint64_t guest, struct cow_region *c)
{
	uint64_t len = c->end - c->start;
	void *buf = NULL;
	int r;

	c->buf = NULL;
	c->skip = false;
	if (!len)
		return 0;
	if (region_zero(bs, m, guest, c->start, c->end)) {
		c->skip = p->zero;
		return 0;
	}
	if (posix_memalign(&buf, 4096, len))
		return -ENOMEM;
	c->buf = buf;
	r = qcow2_read_mapped(bs, m, guest + c->start, len, c->buf);
	return r;
}

static void cow_bounds(const struct qcow2_state *s, const struct wplan *p, uint64_t in,
		       struct cow_region *head, struct cow_region *tail)
{
	uint64_t sc_size = 1ull << s->sc_bits;
	uint64_t we = in + p->len - (p->k - 1) * s->cluster_size; /* end within the last */
	bool whole = p->kind == PLAN_NEW && (!s->ext_l2 || p->replace);

	*head = (struct cow_region){ .start = whole ? 0 : ALIGN_DOWN(in, sc_size), .end = in };
	*tail = (struct cow_region){ .start = we,
				     .end = whole ? s->cluster_size : ALIGN_UP(we, sc_size) };
	if (p->kind == PLAN_META) {
		if (qcow2_sc_type(s, &p->first, (unsigned int)(in >> s->sc_bits)) == QCOW2_SC_DATA)
			head->start = head->end;
		if (qcow2_sc_type(s, &p->first, (unsigned int)((we - 1) >> s->sc_bits)) ==
		    QCOW2_SC_DATA)
			tail->end = tail->start;
	}
}

static int write_inplace(struct blk_node *bs, const struct wplan *p, const struct iovec *iov,
			 int iovcnt, size_t ioff)
{
	struct qcow2_state *s = bs->opaque;
	struct qiov q;
	int r = qiov_init(&q, iovcnt);

	if (r < 0)
		return r;
	r = qiov_add_slice(&q, iov, iovcnt, ioff, p->len);
	if (r == 0)
		r = blk_pwritev(s->data, p->host, p->len, q.v, q.cnt, 0);
	qiov_release(&q);
	return r;
}

/* COW head + guest data + COW tail in one vectored write. */
static int write_cow(struct blk_node *bs, const struct wplan *p, uint64_t off,
		     const struct iovec *iov, int iovcnt, size_t ioff)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t in = qcow2_offset_in_cluster(s, off), start, total;
	uint64_t last_guest = (p->c0 + p->k - 1) << s->cluster_bits;
	struct cow_region head, tail;
	struct qiov q = { .v = NULL };
	int r;

	cow_bounds(s, p, in, &head, &tail);
	r = fill_region(bs, p, &p->first, p->c0 << s->cluster_bits, &head);
	if (r == 0)
		r = fill_region(bs, p, &p->last, last_guest, &tail);
	if (r == 0)
		r = qiov_init(&q, iovcnt + 2);
	if (r < 0)
		goto out;
	start = p->host + (head.skip ? in : head.start);
	if (!head.skip && head.end > head.start)
		qiov_add(&q, head.buf ? head.buf : zero_buf, head.end - head.start);
	r = qiov_add_slice(&q, iov, iovcnt, ioff, p->len);
	if (r == 0 && !tail.skip && tail.end > tail.start)
		qiov_add(&q, tail.buf ? tail.buf : zero_buf, tail.end - tail.start);
	total = iov_size(q.v, q.cnt);
	if (r == 0)
		r = blk_pwritev(s->data, start, total, q.v, q.cnt, 0);
out:
	if (q.v)
		qiov_release(&q);
	free(head.buf);
	free(tail.buf);
	return r;
}

/*
 * May the L2 entries of @p be written in the same flush epoch as its data?  Only if a lost
 * data write leaves what the guest read before: the clusters read as zeroes and so did
 * the whole old content.  Otherwise the next pointer write waits for a sync.
 */
static void note_dependency(struct blk_node *bs, const struct wplan *p)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t g0 = p->c0 << s->cluster_bits, cs = s->cluster_size;
	bool same_epoch =
		p->kind == PLAN_NEW && p->zero && !s->data_file &&
		region_zero(bs, &p->first, g0, 0, cs) &&
		region_zero(bs, &p->last, g0 + (p->k - 1) * cs, 0, cs) &&
		(p->k <= 2 || !bs->backing || g0 + cs >= (uint64_t)blk_getlength(bs->backing));

	if (same_epoch)
		return;
	if (s->data_file)
		s->need_data_sync = true;
	else
		s->need_sync = true;
}

int qcow2_commit_entries(struct blk_node *bs, struct qcow2_slice *sl, unsigned int idx,
			 uint64_t off, uint64_t len, uint64_t host)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t in = qcow2_offset_in_cluster(s, off), end = in + len;
	uint64_t k = qcow2_size_to_clusters(s, end);

	for (uint64_t i = 0; i < k; i++) {
		uint64_t lo = i == 0 ? in : 0, hi = MIN(s->cluster_size, end - i * s->cluster_size);
		uint64_t touched = qcow2_sc_mask((unsigned int)(lo >> s->sc_bits),
						 (unsigned int)((hi - 1) >> s->sc_bits));
		struct qcow2_map m;
		uint64_t bitmap, alloc;
		int r = qcow2_decode(bs, qcow2_l2_get(s, sl, idx + (unsigned int)i),
				     qcow2_l2_get_bitmap(s, sl, idx + (unsigned int)i), &m);

		if (r < 0)
			return r;
		alloc = m.compressed ? 0xffffffffull : (m.bitmap & 0xffffffffull) | touched;
		bitmap = alloc | (((m.bitmap >> 32) & ~alloc) << 32);
		if (m.compressed)
			bitmap = alloc;
		qcow2_l2_set(s, sl, idx + (unsigned int)i,
			     (host + i * s->cluster_size) | QCOW2_OFLAG_COPIED, bitmap);
	}
	return 0;
}

/* Point the L2 entries at the written clusters (META: the one we own, at p->host). */
static int commit(struct blk_node *bs, const struct wplan *p, uint64_t off)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_slice *sl;
	unsigned int idx;
	int r = qcow2_get_l2(bs, p->c0 << s->cluster_bits, true, &sl, &idx);

	if (r < 0)
		return r;
	assert(qcow2_size_to_clusters(s, qcow2_offset_in_cluster(s, off) + p->len) == p->k);
	r = qcow2_commit_entries(bs, sl, idx, off, p->len, p->host);
	qcow2_cache_put(sl);
	if (r == 0 && p->replace)
		r = qcow2_free_entry_later(bs, p->first.entry);
	return r;
}

static int write_step(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		      int iovcnt, size_t ioff, uint64_t *done)
{
	struct qcow2_state *s = bs->opaque;
	struct wplan p;
	unsigned int slot;
	int r;

	qcow2_lock(s);
	r = plan_claim(bs, off, len, &p);
	if (r < 0) {
		qcow2_unlock(s);
		return r;
	}
	slot = qcow2_io_begin(s);
	qcow2_unlock(s);
	if (p.kind == PLAN_INPLACE)
		r = write_inplace(bs, &p, iov, iovcnt, ioff);
	else
		r = write_cow(bs, &p, off, iov, iovcnt, ioff);
	qcow2_io_end(s, slot);
	*done = p.len;
	if (p.kind == PLAN_INPLACE)
		return r;
	qcow2_lock(s);
	if (r == 0) {
		note_dependency(bs, &p);
		r = commit(bs, &p, off);
	}
	if (r < 0 && p.kind == PLAN_NEW && !s->data_file)
		qcow2_update_refcount(bs, p.host, p.k << s->cluster_bits, -1);
	qcow2_inflight_remove(s, &p.fl);
	qcow2_unlock(s);
	return r;
}

int qcow2_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		  int iovcnt, unsigned int flags)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t done = 0;

	(void)flags;
	if (s->corrupt)
		return -EIO;
	while (done < len) {
		uint64_t n = 0;
		int r = write_step(bs, off + done, len - done, iov, iovcnt, done, &n);

		if (r < 0)
			return r;
		done += n;
	}
	return 0;
}
