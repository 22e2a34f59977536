/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The async fast path.  Reads and writes whose clusters are mapped (L2 slice cached,
 * allocated subclusters, COPIED for writes: no metadata change) are translated under a
 * try-lock into contiguous host runs, each forwarded to the data node as a child request;
 * reads of unallocated clusters go to the backing node the same way (zeroes past its
 * end), zero and unallocated-without-backing reads are filled in place.  Flushes with no dirty
 * metadata go straight to the file.  Anything else returns -ENOTSUP and the core runs the
 * blocking code on the thread pool.
 *
 * Allocating writes take the fast path too when nothing needs I/O: a write whose clusters
 * all read as zeroes (unallocated or zero flag, no backing file, no extended L2), their
 * entries in one cached L2 slice, gets as many contiguous reserved clusters that read as
 * zeroes (so no copy-on-write, and no dependency sync once the run is ready: reserve.c);
 * the clusters are registered in flight, the data goes to the file as one request, and on
 * completion the L2 entries are set in the loop (or, when the lock is busy, by a worker).
 *
 * Runs in the attached loop only (submissions and completions), so the free list of
 * child requests needs no lock.  A request taken here keeps its state in its private
 * slots, typed as struct qcow2_rq.
 */
#include "qcow2-int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/iov.h"

#define SEG_MAX 64
#define CHILD_IOV_INLINE 8

struct qcow2_child {
	struct blk_req req;
	struct blk_req *parent;
	struct qcow2_state *s;
	struct iovec *iov;
	int iov_cap;
	struct qcow2_child *next;
	/* allocating writes: the pinned L2 slice, the first entry, the new host clusters */
	struct qcow2_slice *sl;
	unsigned int idx, n;
	uint64_t host;
	struct qcow2_inflight fl;
	struct iovec inline_iov[CHILD_IOV_INLINE];
};

struct qcow2_async {
	struct qcow2_child *free;
};

/* The state of a request the async path took, laid over its private slots (blk_req.drv). */
struct qcow2_rq {
	unsigned int pending; /* children not completed, plus one until all are submitted */
	int ret;	      /* the first error */
	union {
		unsigned int slot; /* reads and writes: the I/O epoch slot (qcow2_io_begin) */
		uint64_t seq;	   /* flushes: the sync sequence number */
	};
	struct qcow2_child *alloc; /* an allocating write's child */
};

static_assert(sizeof(struct qcow2_rq) <= sizeof(((struct blk_req *)0)->drv),
	      "struct qcow2_rq must fit in blk_req.drv");
static_assert(_Alignof(struct qcow2_rq) <= _Alignof(uintptr_t),
	      "blk_req.drv must be aligned for struct qcow2_rq");

static struct qcow2_rq *rq(struct blk_req *req)
{
	return (struct qcow2_rq *)(void *)req->drv;
}

/* A request taken: no error yet, one reference for the submitter (dropped by parent_put
 * once every child is out), so it completes only after the last child. */
static struct qcow2_rq *rq_start(struct blk_req *req)
{
	struct qcow2_rq *q = rq(req);

	q->pending = 1;
	q->ret = 0;
	return q;
}

enum seg_kind {
	SEG_DATA,    /* host = offset in the data node */
	SEG_ZERO,    /* filled in place */
	SEG_BACKING, /* host = guest offset, read from the backing node */
};

struct seg {
	uint64_t rel, len, host;
	enum seg_kind kind;
};

static struct qcow2_async *get_async(struct qcow2_state *s)
{
	if (!s->async)
		s->async = calloc(1, sizeof(*s->async));
	return s->async;
}

static struct qcow2_child *child_get(struct qcow2_state *s)
{
	struct qcow2_async *a = get_async(s);
	struct qcow2_child *c;

	if (!a)
		return NULL;
	c = a->free;
	if (c) {
		a->free = c->next;
		return c;
	}
	c = calloc(1, sizeof(*c));
	if (c) {
		c->iov = c->inline_iov;
		c->iov_cap = CHILD_IOV_INLINE;
		c->s = s;
	}
	return c;
}

static void child_put(struct qcow2_state *s, struct qcow2_child *c)
{
	c->next = s->async->free;
	s->async->free = c;
}

void qcow2_async_free(struct qcow2_state *s)
{
	struct qcow2_child *c, *n;

	if (!s->async)
		return;
	for (c = s->async->free; c; c = n) {
		n = c->next;
		if (c->iov != c->inline_iov)
			free(c->iov);
		free(c);
	}
	free(s->async);
	s->async = NULL;
}

static void parent_put(struct qcow2_state *s, struct blk_req *parent)
{
	struct qcow2_rq *q = rq(parent);

	if (--q->pending)
		return;
	if (parent->op != BLK_OP_FLUSH)
		qcow2_io_end(s, q->slot);
	else if (!q->ret)
		qcow2_sync_completed(s, q->seq);
	blk_req_complete(parent, q->ret);
}

static void child_done(struct blk_req *req, int ret)
{
	struct qcow2_child *c = container_of(req, struct qcow2_child, req);
	struct blk_req *parent = c->parent;
	struct qcow2_state *s = c->s;

	if (ret < 0 && !rq(parent)->ret)
		rq(parent)->ret = ret;
	child_put(s, c);
	parent_put(s, parent);
}

static int add_seg(struct seg *segs, int *n, uint64_t rel, uint64_t len, enum seg_kind kind,
		   uint64_t host)
{
	struct seg *last = *n ? &segs[*n - 1] : NULL;

	if (!len)
		return 0;
	if (last && last->kind == kind && last->rel + last->len == rel &&
	    (kind == SEG_ZERO || last->host + last->len == host)) {
		last->len += len;
		return 0;
	}
	if (*n == SEG_MAX)
		return -EAGAIN;
	segs[(*n)++] = (struct seg){ .rel = rel, .len = len, .host = host, .kind = kind };
	return 0;
}

/* An unallocated range read through the backing node: what lies past its end reads as
 * zeroes (as read_backing() in rw.c). */
static int add_backing(struct blk_node *bs, struct seg *segs, int *n, uint64_t rel, uint64_t len,
		       uint64_t guest)
{
	uint64_t bl = (uint64_t)blk_getlength(bs->backing);
	uint64_t in = guest < bl ? MIN(len, bl - guest) : 0;
	int r = add_seg(segs, n, rel, in, SEG_BACKING, guest);

	return r ? r : add_seg(segs, n, rel + in, len - in, SEG_ZERO, 0);
}

/* Translate the request into segments; -EAGAIN when the fast path cannot take it. */
static int translate(struct blk_node *bs, const struct blk_req *req, struct seg *segs, int *n)
{
	struct qcow2_state *s = bs->opaque;
	bool write = req->op == BLK_OP_WRITE, check = write && s->data == bs->file;
	uint64_t rel = 0, sc_size = 1ull << s->sc_bits, checked = UINT64_MAX;

	*n = 0;
	while (rel < req->len) {
		uint64_t guest = req->off + rel, in = qcow2_offset_in_cluster(s, guest);
		uint64_t len = MIN(req->len - rel, sc_size - (in & (sc_size - 1)));
		enum qcow2_sc_type t;
		struct qcow2_map m;
		int r = qcow2_get_map_cached(bs, guest, &m);

		if (r < 0)
			return -EAGAIN;
		t = qcow2_sc_type(s, &m, (unsigned int)(in >> s->sc_bits));
		if (t == QCOW2_SC_DATA && (!write || (m.copied && m.has_host)))
			r = add_seg(segs, n, rel, len, SEG_DATA, m.host + in);
		else if (!write && (t == QCOW2_SC_ZERO || (t == QCOW2_SC_UNALLOC && !bs->backing)))
			r = add_seg(segs, n, rel, len, SEG_ZERO, 0);
		else if (!write && t == QCOW2_SC_UNALLOC)
			r = add_backing(bs, segs, n, rel, len, guest);
		else
			return -EAGAIN;
		if (r < 0)
			return r;
		/* overlap check, once per host cluster; the blocking path reports a hit */
		if (check && m.host != checked) {
			if (qcow2_check_overlap(s, m.host, s->cluster_size, QCOW2_OL_DATA))
				return -EAGAIN;
			checked = m.host;
		}
		rel += len;
	}
	return 0;
}

static int child_iov(struct qcow2_child *c, const struct blk_req *parent, const struct seg *sg)
{
	int n = iov_slice(c->iov, c->iov_cap, parent->iov, parent->iovcnt, sg->rel, sg->len);

	if (n == -E2BIG) {
		struct iovec *v = malloc(sizeof(*v) * (size_t)parent->iovcnt);

		if (!v)
			return -ENOMEM;
		if (c->iov != c->inline_iov)
			free(c->iov);
		c->iov = v;
		c->iov_cap = parent->iovcnt;
		n = iov_slice(c->iov, c->iov_cap, parent->iov, parent->iovcnt, sg->rel, sg->len);
	}
	return n;
}

static void submit_rw(struct blk_node *bs, struct blk_req *req, const struct seg *segs, int n)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_rq *q = rq_start(req);

	for (int i = 0; i < n; i++) {
		struct qcow2_child *c;
		int cnt;

		if (segs[i].kind == SEG_ZERO) {
			iov_memset(req->iov, req->iovcnt, segs[i].rel, 0, segs[i].len);
			continue;
		}
		c = child_get(s);
		cnt = c ? child_iov(c, req, &segs[i]) : -ENOMEM;
		if (cnt < 0) {
			if (c)
				child_put(s, c);
			q->ret = cnt;
			break;
		}
		c->parent = req;
		c->req = (struct blk_req){ .op = req->op,
					   .off = segs[i].host,
					   .len = segs[i].len,
					   .iov = c->iov,
					   .iovcnt = cnt,
					   .cb = child_done };
		q->pending++;
		blk_req_submit(segs[i].kind == SEG_BACKING ? bs->backing : s->data, &c->req);
	}
	parent_put(s, req);
}

static bool meta_clean(const struct qcow2_state *s)
{
	return !s->l2c.ndirty && !s->rbc.ndirty && !s->l1_any_dirty && !s->rt_any_dirty &&
	       !s->t_dirty && !s->data_file;
}

/* ---- allocating writes ---------------------------------------------------------------- */

/* Under the lock: set the entries as the blocking path does (or give the clusters back
 * after a failed write); the request's result. */
static int alloc_commit(struct blk_node *bs, struct qcow2_child *c, int ret)
{
	struct qcow2_state *s = bs->opaque;
	struct blk_req *parent = c->parent;

	if (ret < 0)
		qcow2_update_refcount(bs, c->host, (uint64_t)c->n << s->cluster_bits, -1);
	else
		ret = qcow2_commit_entries(bs, c->sl, c->idx, parent->off, parent->len, c->host);
	qcow2_cache_put(c->sl);
	qcow2_inflight_remove(s, &c->fl);
	return ret;
}

static void alloc_finish(struct qcow2_state *s, struct blk_req *parent)
{
	child_put(s, rq(parent)->alloc);
	parent_put(s, parent);
}

static int alloc_commit_work(struct pool_work *w)
{
	struct blk_req *parent = container_of(w, struct blk_req, work);
	struct qcow2_state *s = parent->bs->opaque;
	struct qcow2_rq *q = rq(parent);

	qcow2_lock(s);
	q->ret = alloc_commit(parent->bs, q->alloc, q->ret);
	qcow2_unlock(s);
	return 0;
}

static void alloc_commit_done(struct pool_work *w, int ret)
{
	struct blk_req *parent = container_of(w, struct blk_req, work);

	(void)ret;
	alloc_finish(parent->bs->opaque, parent);
}

static void alloc_done(struct blk_req *req, int ret)
{
	struct qcow2_child *c = container_of(req, struct qcow2_child, req);
	struct blk_req *parent = c->parent;
	struct blk_node *bs = parent->bs;
	struct qcow2_state *s = c->s;

	if (ret < 0)
		rq(parent)->ret = ret;
	if (ret < 0 || !qcow2_trylock(s)) {
		/* a worker holds the lock (metadata I/O, a flush): commit there */
		parent->work.work = alloc_commit_work;
		parent->work.done = alloc_commit_done;
		thread_pool_submit(bs->pool, bs->ctx, &parent->work);
		return;
	}
	rq(parent)->ret = alloc_commit(bs, c, 0);
	qcow2_unlock(s);
	alloc_finish(s, parent);
}

/* A write into clusters that read as zeroes and have no host cluster, their entries in one
 * cached L2 slice, with nobody else changing them: *sl, *idx and *n locate the entries. */
static bool alloc_candidate(struct blk_node *bs, const struct blk_req *req, struct qcow2_slice **sl,
			    unsigned int *idx, unsigned int *n)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t c = req->off >> s->cluster_bits;
	uint64_t last = (req->off + req->len - 1) >> s->cluster_bits;

	if (req->op != BLK_OP_WRITE || s->ext_l2 || s->data_file || bs->backing)
		return false;
	*sl = qcow2_l2_cached_for_write(s, c, last - c + 1, idx);
	if (!*sl)
		return false;
	*n = (unsigned int)(last - c + 1);
	for (unsigned int i = 0; i < *n; i++) {
		uint64_t e = qcow2_l2_get(s, *sl, *idx + i);

		if (e != 0 && e != QCOW2_OFLAG_ZERO)
			return false;
	}
	return !qcow2_inflight_overlaps(s, c, last + 1);
}

/* With the lock held (released here on success): take @req as an allocating write. */
static int submit_alloc(struct blk_node *bs, struct blk_req *req)
{
	struct qcow2_state *s = bs->opaque;
	struct seg sg = { .rel = 0, .len = req->len };
	uint64_t cl = req->off >> s->cluster_bits;
	struct qcow2_slice *sl;
	struct qcow2_child *c;
	struct qcow2_rq *q;
	unsigned int idx, n;
	int cnt;

	if (!alloc_candidate(bs, req, &sl, &idx, &n) || !(c = child_get(s)))
		return -EAGAIN;
	cnt = child_iov(c, req, &sg);
	if (cnt < 0 || !qcow2_rsv_take_zero(s, n, &c->host)) {
		child_put(s, c);
		return -EAGAIN;
	}
	/* reserved clusters were free of metadata when reserved; a hit means corruption */
	if (qcow2_check_write(bs, c->host, (uint64_t)n << s->cluster_bits, QCOW2_OL_DATA) < 0) {
		child_put(s, c);
		return -EAGAIN;
	}
	sl->pin++;
	c->sl = sl;
	c->idx = idx;
	c->n = n;
	qcow2_inflight_add(s, &c->fl, cl, cl + n);
	q = rq_start(req);
	q->slot = qcow2_io_begin(s);
	q->alloc = c;
	s->stat_fast_rw++;
	s->stat_fast_alloc++;
	qcow2_unlock(s);
	c->parent = req;
	c->req = (struct blk_req){ .op = BLK_OP_WRITE,
				   .off = c->host + qcow2_offset_in_cluster(s, req->off),
				   .len = req->len,
				   .iov = c->iov,
				   .iovcnt = cnt,
				   .cb = alloc_done };
	blk_req_submit(s->data, &c->req);
	return 0;
}

static int submit_flush(struct blk_node *bs, struct blk_req *req)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_child *c = meta_clean(s) && !s->corrupt ? child_get(s) : NULL;

	s->stat_fast_flush += c != NULL;
	if (c)
		rq_start(req)->seq = ++s->sync_seq;
	qcow2_unlock(s);
	if (!c)
		return -ENOTSUP;
	c->parent = req;
	c->req = (struct blk_req){ .op = BLK_OP_FLUSH, .cb = child_done };
	blk_req_submit(bs->file, &c->req);
	return 0;
}

int qcow2_submit(struct blk_node *bs, struct blk_req *req)
{
	struct qcow2_state *s = bs->opaque;
	struct seg segs[SEG_MAX];
	int n = 0, r;

	if (req->op != BLK_OP_READ && req->op != BLK_OP_WRITE && req->op != BLK_OP_FLUSH)
		return -ENOTSUP;
	if (!qcow2_trylock(s))
		return -ENOTSUP;
	if (req->op == BLK_OP_FLUSH)
		return submit_flush(bs, req);
	r = s->corrupt ? -EAGAIN : translate(bs, req, segs, &n);
	if (r == -EAGAIN && !s->corrupt && submit_alloc(bs, req) == 0)
		return 0;
	if (r == 0) {
		rq(req)->slot = qcow2_io_begin(s);
		s->stat_fast_rw++;
	}
	qcow2_unlock(s);
	if (r < 0)
		return -ENOTSUP;
	submit_rw(bs, req, segs, n);
	return 0;
}

int qcow2_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx)
{
	struct qcow2_state *s = bs->opaque;

	return s->data_file ? blk_attach_ctx(s->data_file, ctx) : 0;
}
