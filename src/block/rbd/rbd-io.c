/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The rbd driver's I/O.
 *
 * Async path (reads, writes, flushes in the node's loop): one librbd completion per
 * request with the request itself as the argument; librbd's callback (on its own thread,
 * serialised per image) records the result in the request, pushes it on a lock-free list
 * and writes the node's eventfd only when the list was empty; the loop takes the whole
 * list at once and completes it in submission order.  No allocation of ours, no lock, one
 * eventfd write per batch.
 *
 * Blocking ops (thread pool) start the same librbd calls and wait for their completion.
 */
#include "rbd-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/aio.h"
#include "util/iov.h"
#include "util/log.h"

#define RBD_SECTOR 512u		   /* librbd's compare-and-write works within one */
#define CAW_STACK_BUF (2u * 4096u) /* compare + write data of one 4 KiB block */
#define STATUS_MAX_OBJECTS 1024u   /* one block_status looks this far at most */
#define STATUS_STOP (-ECANCELED)   /* ends rbd_diff_iterate2 early */

/* ---- async path ------------------------------------------------------------------------ */
/* A gateway without the lock has nothing to flush (no rbd_cache in gateway mode: every
 * write it served completed on the OSDs), and librbd refuses a flush there (-EROFS). */
static bool flush_is_noop(struct rbd_state *s)
{
	struct blk_access a;

	return s->gw && rbd_gw_access(s, &a) == 0 && a.state != BLK_ACCESS_OPTIMIZED;
}

static void aio_done(rbd_completion_t c, void *arg)
{
	struct blk_req *req = arg;
	struct rbd_state *s = req->bs->opaque;
	struct rbd_handle *h = (struct rbd_handle *)req->drv[2];
	ssize_t ret = RBD(rbd_aio_get_return_value)(c);
	struct blk_req *head;
	int r;

	RBD(rbd_aio_release)(c);
	r = rbd_gw_result(s, h, ret < 0 ? (int)ret : 0, req->op == BLK_OP_WRITE);
	rbd_gw_end(s, h);
	req->drv[1] = (uintptr_t)(intptr_t)r;
	head = __atomic_load_n(&s->done, __ATOMIC_RELAXED);
	do
		req->drv[0] = (uintptr_t)head;
	while (!__atomic_compare_exchange_n(&s->done, &head, req, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
	if (!head) {
		uint64_t one = 1;

		if (write(s->efd, &one, sizeof(one)) < 0)
			log_err("rbd: eventfd write failed: %s", strerror(errno));
	}
}

static void efd_ready(void *opaque)
{
	struct rbd_state *s = opaque;
	struct blk_req *list, *fifo = NULL;
	uint64_t v;

	/* read first: whatever is pushed after the exchange writes the fd again */
	if (read(s->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_err("rbd: eventfd read failed: %s", strerror(errno));
	list = __atomic_exchange_n(&s->done, NULL, __ATOMIC_ACQUIRE);
	while (list) { /* LIFO -> submission order */
		struct blk_req *next = (struct blk_req *)list->drv[0];

		list->drv[0] = (uintptr_t)fifo;
		fifo = list;
		list = next;
	}
	while (fifo) {
		struct blk_req *next = (struct blk_req *)fifo->drv[0];

		blk_req_complete(fifo, (int)(intptr_t)fifo->drv[1]); /* may reuse fifo */
		fifo = next;
	}
}

int rbd_io_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx)
{
	struct rbd_state *s = bs->opaque;
	int r;

	if (s->ctx)
		aio_set_fd(s->ctx, s->efd, NULL, NULL, NULL);
	s->ctx = NULL;
	if (!ctx)
		return 0;
	r = aio_set_fd(ctx, s->efd, efd_ready, NULL, s);
	if (r == 0)
		s->ctx = ctx;
	return r;
}

int rbd_io_submit(struct blk_node *bs, struct blk_req *req)
{
	struct rbd_state *s = bs->opaque;
	struct rbd_handle *h;
	rbd_completion_t c;
	int r;

	if (!s->ctx ||
	    (req->op != BLK_OP_READ && req->op != BLK_OP_WRITE && req->op != BLK_OP_FLUSH))
		return -ENOTSUP;
	if (req->op == BLK_OP_FLUSH && flush_is_noop(s)) {
		blk_req_complete(req, 0);
		return 0;
	}
	r = rbd_gw_begin(s, req->op == BLK_OP_WRITE, &h);
	if (r < 0) {
		blk_req_complete(req, r);
		return 0;
	}
	r = RBD(rbd_aio_create_completion)(req, aio_done, &c);
	if (r < 0) {
		rbd_gw_end(s, h);
		return -ENOTSUP; /* the pool path will report it */
	}
	req->drv[2] = (uintptr_t)h;
	switch (req->op) {
	case BLK_OP_READ:
		r = RBD(rbd_aio_readv)(h->img, req->iov, req->iovcnt, req->off, c);
		break;
	case BLK_OP_WRITE: /* stable on completion without rbd_cache: FUA is native */
		r = RBD(rbd_aio_writev)(h->img, req->iov, req->iovcnt, req->off, c);
		break;
	default:
		r = RBD(rbd_aio_flush)(h->img, c);
		break;
	}
	if (r < 0) {
		RBD(rbd_aio_release)(c);
		r = rbd_gw_result(s, h, r, req->op == BLK_OP_WRITE);
		rbd_gw_end(s, h);
		blk_req_complete(req, r);
	}
	return 0;
}

/* ---- blocking ops ---------------------------------------------------------------------- */

static int new_completion(rbd_completion_t *c)
{
	return RBD(rbd_aio_create_completion)(NULL, NULL, c);
}

/* Wait for @c started with result @r of the start call; release it. */
static int wait_done(rbd_completion_t c, int r)
{
	ssize_t ret;

	if (r < 0) {
		RBD(rbd_aio_release)(c);
		return r;
	}
	RBD(rbd_aio_wait_for_complete)(c);
	ret = RBD(rbd_aio_get_return_value)(c);
	RBD(rbd_aio_release)(c);
	return ret < 0 ? (int)ret : 0;
}

/* One blocking librbd request: the gateway's say before and after (rbd_gw_begin). */
struct blocking {
	enum {
		B_READV,
		B_WRITEV,
		B_FLUSH,
		B_DISCARD,
		B_ZEROES,
		B_SAME
	} op;
	uint64_t off, len;
	const struct iovec *iov;
	int iovcnt;
	const void *pattern;
	size_t plen;
	int zflags;
};

static int blocking_start(rbd_image_t img, const struct blocking *b, rbd_completion_t c)
{
	switch (b->op) {
	case B_READV:
		return RBD(rbd_aio_readv)(img, b->iov, b->iovcnt, b->off, c);
	case B_WRITEV:
		return RBD(rbd_aio_writev)(img, b->iov, b->iovcnt, b->off, c);
	case B_FLUSH:
		return RBD(rbd_aio_flush)(img, c);
	case B_DISCARD:
		return RBD(rbd_aio_discard)(img, b->off, b->len, c);
	case B_ZEROES:
		return RBD(rbd_aio_write_zeroes)(img, b->off, b->len, c, b->zflags, 0);
	default:
		return (int)RBD(rbd_aio_writesame)(img, b->off, b->len, b->pattern, b->plen, c, 0);
	}
}

static int blocking_run(struct blk_node *bs, const struct blocking *b)
{
	struct rbd_state *s = bs->opaque;
	bool write = b->op != B_READV && b->op != B_FLUSH;
	struct rbd_handle *h;
	rbd_completion_t c;
	int r = rbd_gw_begin(s, write, &h);

	if (r < 0)
		return r;
	r = new_completion(&c);
	if (r == 0)
		r = wait_done(c, blocking_start(h->img, b, c));
	r = rbd_gw_result(s, h, r, write);
	rbd_gw_end(s, h);
	return r;
}

int rbd_io_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		  int iovcnt, unsigned int flags)
{
	const struct blocking b = { .op = B_READV, .off = off, .iov = iov, .iovcnt = iovcnt };

	(void)len;
	(void)flags;
	return blocking_run(bs, &b);
}

int rbd_io_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		   int iovcnt, unsigned int flags)
{
	const struct blocking b = { .op = B_WRITEV, .off = off, .iov = iov, .iovcnt = iovcnt };

	(void)len;
	(void)flags; /* FUA is only passed without rbd_cache, where every write is stable */
	return blocking_run(bs, &b);
}

int rbd_io_flush(struct blk_node *bs)
{
	const struct blocking b = { .op = B_FLUSH };

	if (flush_is_noop(bs->opaque))
		return 0;
	return blocking_run(bs, &b);
}

int rbd_io_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	const struct blocking b = { .op = B_DISCARD, .off = off, .len = len };

	return blocking_run(bs, &b);
}

int rbd_io_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	/* without MAY_UNMAP the blocks must stay allocated: librbd writes zeroes then */
	const struct blocking b = {
		.op = B_ZEROES,
		.off = off,
		.len = len,
		.zflags = (flags & BLK_REQ_MAY_UNMAP) ? 0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION,
	};

	return blocking_run(bs, &b);
}

int rbd_io_write_same(struct blk_node *bs, uint64_t off, uint64_t len, const void *pattern,
		      size_t plen, unsigned int flags)
{
	const struct blocking b = {
		.op = B_SAME, .off = off, .len = len, .pattern = pattern, .plen = plen
	};

	(void)flags;
	return blocking_run(bs, &b);
}

/* ---- COMPARE AND WRITE ----------------------------------------------------------------- */

/*
 * librbd 16 compares and writes atomically on the OSD, but only within one 512-byte
 * sector (and one stripe unit).  Anything larger (a 4 KiB-block LUN) is a read, a compare
 * and a write here, made atomic two ways:
 *  - in this process: caw_lock serialises such CAWs, and the SCSI layer already holds the
 *    range against every other write of the LUN (its write ordering);
 *  - in the cluster: the first one takes RBD's exclusive lock in manual mode and keeps it
 *    (rbd_lock_acquire).  No other client can then write the image without breaking the
 *    lock, and breaking it blocklists this client, so our write after a lost race fails
 *    (-EBLOCKLISTED/-EROFS: retryable sense) instead of landing over data we never
 *    compared.  Without the exclusive-lock feature only the first holds: then the image
 *    must not be written by other clients (documented in docs/FORMATS.md).
 * In gateway mode the lock is the gateway's: the command runs only while it holds it
 * (rbd_gw_begin), like every write.
 */
static int caw_emulated(struct rbd_state *s, rbd_image_t img, uint64_t off, uint64_t len,
			const uint8_t *cmp, const uint8_t *wr, uint64_t *mismatch)
{
	uint8_t *cur = malloc(len);
	rbd_completion_t c;
	int owner = 0, r;

	if (!cur)
		return -ENOMEM;
	pthread_mutex_lock(&s->caw_lock);
	r = 0;
	if (!s->gw && (s->features & RBD_FEATURE_EXCLUSIVE_LOCK)) {
		r = RBD(rbd_is_exclusive_lock_owner)(img, &owner);
		if (r == 0 && !owner)
			r = RBD(rbd_lock_acquire)(img, RBD_LOCK_MODE_EXCLUSIVE);
	}
	if (r == 0 && (r = new_completion(&c)) == 0)
		r = wait_done(c, RBD(rbd_aio_read)(img, off, len, (char *)cur, c));
	if (r == 0) {
		for (uint64_t i = 0; i < len; i++) {
			if (cur[i] != cmp[i]) {
				*mismatch = i;
				r = -EILSEQ;
				break;
			}
		}
	}
	if (r == 0 && (r = new_completion(&c)) == 0)
		r = wait_done(c, RBD(rbd_aio_write)(img, off, len, (const char *)wr, c));
	pthread_mutex_unlock(&s->caw_lock);
	free(cur);
	return r;
}

int rbd_io_compare_and_write(struct blk_node *bs, uint64_t off, uint64_t len,
			     const struct iovec *iov, int iovcnt, uint64_t *mismatch,
			     unsigned int flags)
{
	struct rbd_state *s = bs->opaque;
	uint8_t stack[CAW_STACK_BUF], *buf = stack;
	struct rbd_handle *h;
	uint64_t mm = 0;
	rbd_completion_t c;
	int r;

	(void)flags; /* stable on completion (no rbd_cache), else the core flushes */
	r = rbd_gw_begin(s, true, &h);
	if (r < 0)
		return r;
	if (2 * len > sizeof(stack) && !(buf = malloc(2 * len))) {
		rbd_gw_end(s, h);
		return -ENOMEM;
	}
	iov_to_buf(iov, iovcnt, 0, buf, 2 * len);
	if (len <= RBD_SECTOR && off % RBD_SECTOR + len <= RBD_SECTOR) {
		r = new_completion(&c);
		if (r == 0)
			r = wait_done(c, (int)RBD(rbd_aio_compare_and_write)(
						 h->img, off, len, (const char *)buf,
						 (const char *)buf + len, c, &mm, 0));
		/* librbd reports the image offset of the first differing byte */
		if (r == -EILSEQ)
			*mismatch = mm >= off ? mm - off : mm;
	} else {
		r = caw_emulated(s, h->img, off, len, buf, buf + len, mismatch);
	}
	if (buf != stack)
		free(buf);
	r = rbd_gw_result(s, h, r, true);
	rbd_gw_end(s, h);
	return r;
}

/* ---- block status ---------------------------------------------------------------------- */

struct status_walk {
	uint64_t off, end; /* the range asked about */
	uint64_t data_off; /* first allocated byte found at or after off (end: none) */
	uint64_t data_end; /* ... and where that extent ends */
};

/* Extents come in offset order: note the first allocated one at or after w->off and
 * grow it while the next ones touch it. */
static int status_cb(uint64_t off, size_t len, int exists, void *arg)
{
	struct status_walk *w = arg;
	uint64_t end = off + len;

	if (!exists || end <= w->off)
		return 0;
	if (w->data_off == w->end) { /* the first */
		w->data_off = MAX(off, w->off);
		w->data_end = end;
		return w->data_off > w->off ? STATUS_STOP : 0; /* a hole first: enough */
	}
	if (off > w->data_end)
		return STATUS_STOP;
	w->data_end = MAX(w->data_end, end);
	return 0;
}

int rbd_io_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			uint64_t *map, struct blk_node **file)
{
	struct rbd_state *s = bs->opaque;
	bool fast = (s->features & RBD_FEATURE_FAST_DIFF) != 0;
	struct status_walk w;
	struct rbd_handle *h;
	int r;

	/* whole objects with fast-diff (the object map answers); bounded either way */
	len = MIN(len, (uint64_t)STATUS_MAX_OBJECTS * s->obj_size);
	w.off = off;
	w.end = w.data_off = off + len;
	w.data_end = 0;
	r = rbd_gw_begin(s, false, &h);
	if (r == 0) {
		r = RBD(rbd_diff_iterate2)(h->img, NULL, off, len, 1 /*include_parent*/, fast,
					   status_cb, &w);
		rbd_gw_end(s, h);
	}
	if (r < 0 && r != STATUS_STOP) {
		/* no status: all data, as if the driver had no block_status */
		*pnum = len;
		*map = off;
		*file = bs;
		return BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID;
	}
	*map = off;
	*file = bs;
	if (w.data_off > off) {
		*pnum = w.data_off - off;
		return BLK_STATUS_ZERO | BLK_STATUS_OFFSET_VALID;
	}
	*pnum = MIN(w.data_end, off + len) - off;
	return BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID;
}
