/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The request core: validates ranges and permissions, aligns (bounce buffers with
 * read-modify-write) and splits by the driver's limits, so drivers trust their inputs;
 * emulates FUA, write_zeroes and block_status where a driver lacks them; runs async
 * requests natively or on the thread pool.
 */
#include "block-driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/iov.h"
#include "util/log.h"

#define BOUNCE_MAX (1u << 20) /* bytes per bounce-buffer chunk */
#define SPLIT_IOV_MAX 1024

static bool can_grow(const struct blk_node *bs)
{
	return bs->limits.caps & BLK_CAP_GROW;
}

static int check_range(struct blk_node *bs, uint64_t off, uint64_t len, bool write)
{
	uint64_t size = (uint64_t)blk_getlength(bs);

	if (off + len < off)
		return -EINVAL;
	if (can_grow(bs))
		return 0;
	if (off > size || len > size - off)
		return -EINVAL;
	(void)write;
	return 0;
}

void blk_node_grow(struct blk_node *bs, uint64_t end)
{
	uint64_t cur = __atomic_load_n(&bs->total_size, __ATOMIC_RELAXED);

	while (end > cur && !__atomic_compare_exchange_n(&bs->total_size, &cur, end, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static bool is_aligned_req(const struct blk_node *bs, uint64_t off, uint64_t len,
			   const struct iovec *iov, int iovcnt)
{
	const struct blk_limits *l = &bs->limits;

	return IS_ALIGNED(off | len, (uint64_t)l->request_alignment) &&
	       (l->mem_alignment <= 1 || iov_is_aligned(iov, iovcnt, l->mem_alignment)) &&
	       iovcnt <= SPLIT_IOV_MAX;
}

/* Aligned, in range: split by max_transfer and call the driver. */
static int rw_split(struct blk_node *bs, bool write, uint64_t off, uint64_t len,
		    const struct iovec *iov, int iovcnt, unsigned int flags)
{
	uint64_t max = bs->limits.max_transfer;
	struct iovec sub[SPLIT_IOV_MAX];
	uint64_t done = 0;

	if (!max || len <= max)
		return write ? bs->drv->pwritev(bs, off, len, iov, iovcnt, flags)
			     : bs->drv->preadv(bs, off, len, iov, iovcnt, flags);
	max = ALIGN_DOWN(max, (uint64_t)bs->limits.request_alignment);
	while (done < len) {
		uint64_t n = MIN(max, len - done);
		int cnt = iov_slice(sub, SPLIT_IOV_MAX, iov, iovcnt, done, n);
		int r;

		if (cnt < 0)
			return cnt;
		r = write ? bs->drv->pwritev(bs, off + done, n, sub, cnt, flags)
			  : bs->drv->preadv(bs, off + done, n, sub, cnt, flags);
		if (r < 0)
			return r;
		done += n;
	}
	return 0;
}

static void *bounce_alloc(const struct blk_node *bs, size_t len)
{
	size_t a = MAX(bs->limits.mem_alignment, bs->limits.request_alignment);
	void *p = NULL;

	if (posix_memalign(&p, MAX(a, sizeof(void *)), len))
		return NULL;
	return p;
}

/* Unaligned or badly placed buffers: go through an aligned bounce buffer, chunk by chunk. */
static int rw_bounce(struct blk_node *bs, bool write, uint64_t off, uint64_t len,
		     const struct iovec *iov, int iovcnt, unsigned int flags)
{
	uint64_t align = bs->limits.request_alignment;
	uint64_t chunk = MAX((uint64_t)BOUNCE_MAX, 2 * align);
	uint8_t *buf = bounce_alloc(bs, chunk);
	uint64_t pos = off, end = off + len;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	while (pos < end && r == 0) {
		uint64_t a_start = ALIGN_DOWN(pos, align);
		uint64_t a_end = MIN(ALIGN_UP(end, align), a_start + chunk);
		uint64_t n = MIN(end, a_end) - pos; /* caller bytes in this chunk */
		struct iovec biov = { .iov_base = buf, .iov_len = a_end - a_start };

		if (!write) {
			r = rw_split(bs, false, a_start, a_end - a_start, &biov, 1, 0);
			if (r == 0)
				iov_from_buf(iov, iovcnt, pos - off, buf + (pos - a_start), n);
		} else {
			/* read-modify-write of the partial head and tail blocks */
			if (pos != a_start) {
				struct iovec h = { .iov_base = buf, .iov_len = align };

				r = rw_split(bs, false, a_start, align, &h, 1, 0);
			}
			/* (one block holding both ends was read above) */
			if (r == 0 && pos + n != a_end &&
			    (pos == a_start || a_end - a_start > align)) {
				struct iovec t = { .iov_base = buf + (a_end - a_start - align),
						   .iov_len = align };

				r = rw_split(bs, false, a_end - align, align, &t, 1, 0);
			}
			if (r == 0) {
				iov_to_buf(iov, iovcnt, pos - off, buf + (pos - a_start), n);
				r = rw_split(bs, true, a_start, a_end - a_start, &biov, 1, flags);
			}
		}
		pos += n;
	}
	free(buf);
	return r;
}

/*
 * A write of [off, off+len) on the blocking path: untracked while no read-modify-write is
 * in flight on the node, else tracked over its aligned range, waiting for the overlapping
 * requests it conflicts with (@rmw: it is one itself).  serialise.h explains.
 */
struct write_gate {
	struct blk_tracked t;
	bool tracked;
};

static void gate_enter(struct blk_node *bs, struct write_gate *g, uint64_t off, uint64_t len,
		       bool rmw)
{
	uint64_t a = bs->limits.request_alignment, end = ALIGN_UP(off + len, a);

	g->tracked = rmw || !blk_serial_untracked_begin(&bs->serial);
	if (g->tracked)
		blk_serial_begin(&bs->serial, &g->t, ALIGN_DOWN(off, a),
				 end < off + len ? UINT64_MAX : end, rmw);
}

static void gate_leave(struct blk_node *bs, struct write_gate *g)
{
	if (g->tracked)
		blk_serial_end(&bs->serial, &g->t);
	else
		blk_serial_untracked_end(&bs->serial);
}

int blk_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov, int iovcnt,
	       unsigned int flags)
{
	int r;

	if (len == 0)
		return 0;
	r = check_range(bs, off, len, false);
	if (r < 0)
		return r;
	if (!bs->drv->preadv)
		return -ENOTSUP;
	if (is_aligned_req(bs, off, len, iov, iovcnt))
		return rw_split(bs, false, off, len, iov, iovcnt, flags);
	return rw_bounce(bs, false, off, len, iov, iovcnt, flags);
}

int blk_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		int iovcnt, unsigned int flags)
{
	unsigned int dflags = flags;
	struct write_gate g;
	int r;

	if (len == 0)
		return 0;
	if (bs->read_only)
		return -EROFS;
	r = check_range(bs, off, len, true);
	if (r < 0)
		return r;
	if (!bs->drv->pwritev)
		return -ENOTSUP;
	if (!(bs->limits.caps & BLK_CAP_FUA))
		dflags &= ~BLK_REQ_FUA;
	/* only a partial head or tail block makes the bounce path read-modify-write */
	gate_enter(bs, &g, off, len,
		   !IS_ALIGNED(off | len, (uint64_t)bs->limits.request_alignment));
	if (is_aligned_req(bs, off, len, iov, iovcnt))
		r = rw_split(bs, true, off, len, iov, iovcnt, dflags);
	else
		r = rw_bounce(bs, true, off, len, iov, iovcnt, dflags);
	gate_leave(bs, &g);
	if (r == 0 && can_grow(bs))
		blk_node_grow(bs, off + len);
	if (r == 0 && (flags & BLK_REQ_FUA) && !(dflags & BLK_REQ_FUA))
		r = blk_flush(bs);
	return r;
}

int blk_pread(struct blk_node *bs, uint64_t off, void *buf, uint64_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return blk_preadv(bs, off, len, &iov, 1, 0);
}

int blk_pwrite(struct blk_node *bs, uint64_t off, const void *buf, uint64_t len, unsigned int flags)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return blk_pwritev(bs, off, len, &iov, 1, flags);
}

int blk_flush(struct blk_node *bs)
{
	int r = 0;

	if (!bs || bs->read_only)
		return 0;
	if (bs->drv->flush && !((bs->open_flags & BLK_O_NO_FLUSH) && !bs->file))
		r = bs->drv->flush(bs);
	if (r == 0 && bs->file && !(bs->drv->flush && bs->drv->flush_syncs_file))
		r = blk_flush(bs->file);
	return r;
}

int blk_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	uint64_t gran, start, end, max;
	struct write_gate g = { .tracked = false };
	int r;

	if (bs->read_only)
		return -EROFS;
	r = check_range(bs, off, len, true);
	if (r < 0)
		return r;
	if (bs->discard_ignore)
		return 0;
	if (!bs->drv->discard)
		return -ENOTSUP;
	/* only whole granules (and aligned blocks) are discarded; the rest is a no-op, except
	 * the node's last, partial granule when the request reaches the end (as QEMU) */
	gran = MAX((uint64_t)bs->limits.discard_granularity,
		   (uint64_t)bs->limits.request_alignment);
	start = ALIGN_UP(off, gran);
	end = ALIGN_DOWN(off + len, gran);
	if (off + len == (uint64_t)blk_getlength(bs) && start <= end &&
	    (off + len) % bs->limits.request_alignment == 0)
		end = off + len;
	max = bs->limits.max_discard ? ALIGN_DOWN(bs->limits.max_discard, gran) : 0;
	if (start < end)
		gate_enter(bs, &g, start, end - start, false);
	for (uint64_t pos = start; pos < end && r == 0;) {
		uint64_t n = max ? MIN(max, end - pos) : end - pos;

		r = bs->drv->discard(bs, pos, n);
		pos += n;
	}
	if (start < end)
		gate_leave(bs, &g);
	return r;
}

static int zeroes_by_writing(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	static uint8_t *zero_buf;
	static uint64_t zero_len;
	uint64_t done = 0;
	uint8_t *z = __atomic_load_n(&zero_buf, __ATOMIC_ACQUIRE);

	if (!z) {
		/* one shared, never-written zero buffer, aligned for O_DIRECT */
		uint8_t *p = NULL;

		if (posix_memalign((void **)&p, 4096, BOUNCE_MAX))
			return -ENOMEM;
		memset(p, 0, BOUNCE_MAX);
		if (!__atomic_compare_exchange_n(&zero_buf, &z, p, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			free(p);
		else
			z = p;
		zero_len = BOUNCE_MAX;
	}
	while (done < len) {
		uint64_t n = MIN(len - done, (uint64_t)BOUNCE_MAX);
		int r = blk_pwrite(bs, off + done, z, n, flags & BLK_REQ_FUA);

		if (r < 0)
			return r;
		done += n;
	}
	(void)zero_len;
	return 0;
}

int blk_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	uint64_t align, start, end, max;
	int r = -ENOTSUP;

	if (len == 0)
		return 0;
	if (bs->read_only)
		return -EROFS;
	r = check_range(bs, off, len, true);
	if (r < 0)
		return r;
	if (bs->discard_ignore)
		flags &= ~BLK_REQ_MAY_UNMAP;
	if (!bs->drv->write_zeroes)
		return (flags & BLK_REQ_NO_FALLBACK) ? -ENOTSUP
						     : zeroes_by_writing(bs, off, len, flags);
	/* unaligned head and tail go through the write path */
	align = bs->limits.request_alignment;
	start = ALIGN_UP(off, align);
	end = ALIGN_DOWN(off + len, align);
	if (start >= end)
		return zeroes_by_writing(bs, off, len, flags);
	if (start > off && (r = zeroes_by_writing(bs, off, start - off, flags)) < 0)
		return r;
	max = bs->limits.max_write_zeroes ? ALIGN_DOWN(bs->limits.max_write_zeroes, align) : 0;
	for (uint64_t pos = start; pos < end;) {
		uint64_t n = max ? MIN(max, end - pos) : end - pos;
		struct write_gate g;

		/* not across the fallback: it takes the gate itself */
		gate_enter(bs, &g, pos, n, false);
		r = bs->drv->write_zeroes(bs, pos, n, flags & ~BLK_REQ_NO_FALLBACK);
		gate_leave(bs, &g);
		if (r == -ENOTSUP && !(flags & BLK_REQ_NO_FALLBACK))
			r = zeroes_by_writing(bs, pos, n, flags);
		if (r < 0)
			return r;
		pos += n;
	}
	if (end < off + len && (r = zeroes_by_writing(bs, end, off + len - end, flags)) < 0)
		return r;
	if (can_grow(bs))
		blk_node_grow(bs, off + len);
	if ((flags & BLK_REQ_FUA) && !(bs->limits.caps & BLK_CAP_FUA))
		return blk_flush(bs);
	return 0;
}

/* The checks shared by write_same and compare_and_write: -ENOTSUP lets the caller emulate. */
static int special_write_ok(struct blk_node *bs, uint64_t off, uint64_t len, bool has_op)
{
	int r;

	if (bs->read_only)
		return -EROFS;
	r = check_range(bs, off, len, true);
	if (r < 0)
		return r;
	if (!has_op || len == 0 || !IS_ALIGNED(off | len, (uint64_t)bs->limits.request_alignment))
		return -ENOTSUP;
	if (bs->probed_raw && off < 512)
		return -ENOTSUP; /* the write path checks block 0 */
	return 0;
}

int blk_write_same(struct blk_node *bs, uint64_t off, uint64_t len, const void *pattern,
		   size_t plen, unsigned int flags)
{
	struct write_gate g;
	int r = special_write_ok(bs, off, len, bs->drv->write_same != NULL);

	if (r == 0 && (plen == 0 || len % plen))
		r = -EINVAL;
	if (r < 0)
		return r;
	gate_enter(bs, &g, off, len, false);
	r = bs->drv->write_same(bs, off, len, pattern, plen, flags & BLK_REQ_FUA);
	gate_leave(bs, &g);
	if (r == 0 && (flags & BLK_REQ_FUA) && !(bs->limits.caps & BLK_CAP_FUA))
		r = blk_flush(bs);
	return r;
}

int blk_compare_and_write(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			  int iovcnt, uint64_t *mismatch, unsigned int flags)
{
	struct write_gate g;
	int r = special_write_ok(bs, off, len, bs->drv->compare_and_write != NULL);

	if (r < 0)
		return r;
	gate_enter(bs, &g, off, len, false);
	r = bs->drv->compare_and_write(bs, off, len, iov, iovcnt, mismatch, flags & BLK_REQ_FUA);
	gate_leave(bs, &g);
	if (r == 0 && (flags & BLK_REQ_FUA) && !(bs->limits.caps & BLK_CAP_FUA))
		r = blk_flush(bs);
	return r;
}

int blk_truncate(struct blk_node *bs, uint64_t size, struct err *err)
{
	int r;

	if (bs->read_only)
		return err_set(err, -EROFS, "%s: read-only", bs->filename);
	if (!bs->drv->truncate)
		return err_set(err, -ENOTSUP, "%s: format %s cannot be resized", bs->filename,
			       bs->drv->name);
	r = bs->drv->truncate(bs, size, err);
	if (r == 0)
		__atomic_store_n(&bs->total_size, size, __ATOMIC_RELAXED);
	return r;
}

int blk_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum, uint64_t *map,
		     struct blk_node **file)
{
	uint64_t size = (uint64_t)blk_getlength(bs), m = off, n = 0;
	struct blk_node *f = bs;
	int r;

	if (off >= size || len == 0) {
		*pnum = 0;
		return BLK_STATUS_EOF;
	}
	len = MIN(len, size - off);
	if (bs->drv->block_status) {
		n = len;
		r = bs->drv->block_status(bs, off, len, &n, &m, &f);
		if (r < 0)
			return r;
		if (n == 0 || n > len)
			return -EIO; /* driver bug */
	} else {
		n = len;
		r = BLK_STATUS_DATA;
		if (bs->drv->kind == BLK_DRIVER_PROTOCOL)
			r |= BLK_STATUS_OFFSET_VALID;
	}
	if (r & BLK_STATUS_RAW) {
		/* a pass-through format: the status is the child's */
		uint64_t cn;

		r = blk_block_status(f, m, n, &cn, &m, &f);
		if (r < 0)
			return r;
		n = MIN(n, cn ? cn : n);
		r &= ~BLK_STATUS_EOF;
	} else if (r & (BLK_STATUS_DATA | BLK_STATUS_ZERO)) {
		r |= BLK_STATUS_ALLOCATED;
	} else if (bs->drv->kind == BLK_DRIVER_FORMAT) {
		/* unallocated: the backing decides, zeroes without one or past its end */
		if (!bs->backing || off >= (uint64_t)blk_getlength(bs->backing))
			r |= BLK_STATUS_ZERO;
	}
	/* a mapped range that is a hole below reads as zeroes: QEMU asks the file only when the
	 * format says so (BDRV_BLOCK_RECURSE: qcow2 with preallocated metadata) */
	if ((r & BLK_STATUS_DATA) && !(r & BLK_STATUS_ZERO) && (r & BLK_STATUS_OFFSET_VALID) && f &&
	    f != bs && ((r & BLK_STATUS_RECURSE) || bs->drv->kind != BLK_DRIVER_FORMAT)) {
		uint64_t fn;
		int r2 = blk_block_status(f, m, n, &fn, NULL, NULL);

		if (r2 >= 0) {
			if ((r2 & BLK_STATUS_EOF) && (!fn || (r2 & BLK_STATUS_ZERO))) {
				r |= BLK_STATUS_ZERO;
			} else if (fn) {
				n = fn;
				r |= r2 & BLK_STATUS_ZERO;
			}
		}
	}
	r &= ~BLK_STATUS_RECURSE;
	if (off + n >= size)
		r |= BLK_STATUS_EOF;
	*pnum = n;
	if (map)
		*map = m;
	if (file)
		*file = f;
	return r;
}

int blk_block_status_chain(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			   uint64_t *map, struct blk_node **file, int *depth)
{
	struct blk_node *p = bs;
	uint64_t n = len;
	int d = 0, r;

	/* as qemu-img map: descend while a layer neither has data nor reads as zeroes */
	for (;;) {
		uint64_t pn;

		r = blk_block_status(p, off, n, &pn, map, file);
		if (r < 0)
			return r;
		if (pn)
			n = pn;
		if ((r & (BLK_STATUS_DATA | BLK_STATUS_ZERO)) || !p->backing)
			break;
		p = p->backing;
		d++;
	}
	*pnum = n;
	*depth = d;
	return r;
}

/* ---- async ---------------------------------------------------------------------------- */

/* The write counted as untracked on req->gate and gate_depth - 1 nodes below it. */
static struct blk_node *gate_node(const struct blk_req *req, unsigned int depth)
{
	struct blk_node *n = req->gate;

	while (depth--)
		n = n->file;
	return n;
}

static void req_ungate(struct blk_req *req)
{
	struct blk_node *n = req->gate;

	for (unsigned int i = 0; i < req->gate_depth; i++, n = n->file)
		blk_serial_untracked_end(&n->serial);
	req->gate = NULL;
	req->gate_depth = 0;
}

void blk_req_complete(struct blk_req *req, int ret)
{
	req_ungate(req);
	req->cb(req, ret);
}

static int req_work(struct pool_work *w)
{
	struct blk_req *req = container_of(w, struct blk_req, work);
	struct blk_node *bs = req->bs;

	switch (req->op) {
	case BLK_OP_READ:
		return blk_preadv(bs, req->off, req->len, req->iov, req->iovcnt, req->flags);
	case BLK_OP_WRITE:
		return blk_pwritev(bs, req->off, req->len, req->iov, req->iovcnt, req->flags);
	case BLK_OP_FLUSH:
		return blk_flush(bs);
	case BLK_OP_DISCARD:
		return blk_discard(bs, req->off, req->len);
	case BLK_OP_WRITE_ZEROES:
		return blk_write_zeroes(bs, req->off, req->len, req->flags);
	}
	return -EINVAL;
}

static void req_work_done(struct pool_work *w, int ret)
{
	blk_req_complete(container_of(w, struct blk_req, work), ret);
}

static bool fast_path_ok(struct blk_node *bs, struct blk_req *req)
{
	const struct blk_limits *l = &bs->limits;

	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		if (req->len == 0 || (l->max_transfer && req->len > l->max_transfer))
			return false;
		if ((req->flags & BLK_REQ_FUA) && !(l->caps & BLK_CAP_FUA))
			return false;
		if (req->op == BLK_OP_WRITE && bs->probed_raw && req->off < 512)
			return false;
		return is_aligned_req(bs, req->off, req->len, req->iov, req->iovcnt);
	case BLK_OP_FLUSH:
		return !(bs->open_flags & BLK_O_NO_FLUSH);
	default:
		return false;
	}
}

/*
 * A write on the fast path counts as untracked on the node (serialise.h); if a
 * read-modify-write is in flight there, it takes the pool path instead, where the blocking
 * code may wait for it.  A forwarded request counts on each node it passes.
 */
static bool gate_push(struct blk_node *bs, struct blk_req *req)
{
	if (req->gate_depth && gate_node(req, req->gate_depth - 1)->file != bs)
		return false; /* forwarded elsewhere than ->file: let the pool path track it */
	if (!blk_serial_untracked_begin(&bs->serial))
		return false;
	if (!req->gate_depth++)
		req->gate = bs;
	return true;
}

static void gate_pop(struct blk_node *bs, struct blk_req *req)
{
	if (!--req->gate_depth)
		req->gate = NULL;
	blk_serial_untracked_end(&bs->serial);
}

static void req_start(struct blk_node *bs, struct blk_req *req)
{
	int r;

	req->bs = bs;
	if (req->op != BLK_OP_READ && req->op != BLK_OP_FLUSH && bs->read_only) {
		blk_req_complete(req, -EROFS);
		return;
	}
	if (req->op != BLK_OP_FLUSH) {
		r = check_range(bs, req->off, req->len, req->op != BLK_OP_READ);
		if (r < 0) {
			blk_req_complete(req, r);
			return;
		}
	}
	if (bs->drv->submit && bs->ctx && fast_path_ok(bs, req)) {
		bool write = req->op == BLK_OP_WRITE;

		if (!write || gate_push(bs, req)) {
			/* the driver may complete (and the callback reuse) req before returning */
			r = bs->drv->submit(bs, req);
			if (r != -ENOTSUP)
				return;
			if (write)
				gate_pop(bs, req);
		}
	}
	req->work.work = req_work;
	req->work.done = req_work_done;
	thread_pool_submit(bs->pool, bs->ctx ? bs->ctx : aio_ctx_default(), &req->work);
}

void blk_req_submit(struct blk_node *bs, struct blk_req *req)
{
	req->gate = NULL;
	req->gate_depth = 0;
	req_start(bs, req);
}

void blk_req_forward(struct blk_node *file, struct blk_req *req)
{
	req_start(file, req);
}
