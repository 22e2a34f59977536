/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "file-uring.h"

#include <errno.h>
#include <stdlib.h>

#include "block-driver.h"
#include "config.h"
#include "util/aio.h"
#include "util/iov.h"

#if HAVE_LIBURING
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#define URING_ENTRIES 256

/*
 * A buffered read of at least this many bytes goes straight to io_uring's workers
 * (IOSQE_ASYNC) instead of being copied inside io_uring_enter() on the event loop's
 * thread: the copy of a large read then runs on another core while the loop goes on with
 * the ring.  Smaller ones stay inline, where a page-cache hit costs less than a hand-off.
 * Not for writes (io_uring runs buffered writes to one file in one worker at a time) nor
 * O_DIRECT (asynchronous anyway).  Measurements: docs/PERFORMANCE.md.
 */
#define URING_ASYNC_MIN (256u * 1024)

struct file_uring {
	struct io_uring ring;
	struct aio_ctx *ctx;
	int fd;
	int hook;
	int poller;
	bool buffered;	       /* not O_DIRECT: large reads are punted (URING_ASYNC_MIN) */
	unsigned int queued;   /* prepared, not yet submitted */
	unsigned int inflight; /* submitted or queued, not completed */
};

static int reap(struct file_uring *r);

/*
 * Submit what the loop iteration queued.  Page-cache hits complete inside
 * io_uring_enter(): reap them now, so that their callbacks (and the transport's
 * completion kick, a later flush hook) run in this iteration instead of after another
 * epoll_wait() reporting the ring's fd.
 */
static void uring_flush(void *opaque)
{
	struct file_uring *r = opaque;

	if (r->queued) {
		int n = io_uring_submit(&r->ring);

		if (n >= 0)
			r->queued = 0;
		if (io_uring_cq_ready(&r->ring))
			aio_progress(r->ctx, reap(r));
	}
}

/* Finish a short transfer synchronously (rare: EOF or a signal). */
static int finish_short(struct file_uring *r, struct blk_req *req, uint64_t done)
{
	bool write = req->op == BLK_OP_WRITE;

	while (done < req->len) {
		struct iovec piece[64];
		int cnt = iov_slice(piece, 64, req->iov, req->iovcnt, done, req->len - done);
		ssize_t n;

		if (cnt < 0)
			cnt = 64;
		n = write ? pwritev2(r->fd, piece, cnt, (off_t)(req->off + done),
				     (req->flags & BLK_REQ_FUA) ? RWF_DSYNC : 0)
			  : preadv(r->fd, piece, cnt, (off_t)(req->off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) {
			if (write)
				return -EIO;
			iov_memset(req->iov, req->iovcnt, done, 0, req->len - done);
			return 0;
		}
		done += (uint64_t)n;
	}
	return 0;
}

static int reap(struct file_uring *r)
{
	struct io_uring_cqe *cqes[64];
	unsigned int n;
	int count = 0;

	while ((n = io_uring_peek_batch_cqe(&r->ring, cqes, 64)) > 0) {
		for (unsigned int i = 0; i < n; i++) {
			struct blk_req *req = io_uring_cqe_get_data(cqes[i]);
			int res = cqes[i]->res, ret = 0;

			if (res < 0)
				ret = res;
			else if ((req->op == BLK_OP_READ || req->op == BLK_OP_WRITE) &&
				 (uint64_t)res < req->len)
				ret = finish_short(r, req, (uint64_t)res);
			if (ret == 0 && req->op == BLK_OP_WRITE &&
			    (req->bs->limits.caps & BLK_CAP_GROW))
				blk_node_grow(req->bs, req->off + req->len);
			r->inflight--;
			/* the callback may submit more: advance first */
			io_uring_cqe_seen(&r->ring, cqes[i]);
			blk_req_complete(req, ret);
			count++;
		}
	}
	return count;
}

static void uring_reap(void *opaque)
{
	reap(opaque);
}

/* Busy polling (aio_set_poll_ns): completions are in the shared CQ before the fd says so */
static bool uring_poll(void *opaque)
{
	struct file_uring *r = opaque;

	return r->inflight && io_uring_cq_ready(&r->ring) && reap(r) > 0;
}

struct file_uring *file_uring_new(struct aio_ctx *ctx, int fd)
{
	struct file_uring *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (io_uring_queue_init(URING_ENTRIES, &r->ring, 0) < 0) {
		free(r);
		return NULL;
	}
	r->ctx = ctx;
	r->fd = fd;
	r->buffered = !(fcntl(fd, F_GETFL) & O_DIRECT);
	r->hook = aio_add_flush_hook(ctx, uring_flush, r);
	r->poller = aio_add_poll_handler(ctx, uring_poll, r); /* none left: the fd only */
	if (r->hook < 0 || aio_set_fd(ctx, r->ring.ring_fd, uring_reap, NULL, r) < 0) {
		if (r->hook >= 0)
			aio_remove_flush_hook(ctx, r->hook);
		if (r->poller >= 0)
			aio_remove_poll_handler(ctx, r->poller);
		io_uring_queue_exit(&r->ring);
		free(r);
		return NULL;
	}
	return r;
}

void file_uring_free(struct file_uring *r)
{
	if (!r)
		return;
	while (r->inflight) {
		uring_flush(r); /* may complete everything */
		if (!r->inflight)
			break;
		if (io_uring_wait_cqe(&r->ring, &(struct io_uring_cqe *){ NULL }) < 0)
			break;
		uring_reap(r);
	}
	aio_set_fd(r->ctx, r->ring.ring_fd, NULL, NULL, NULL);
	aio_remove_flush_hook(r->ctx, r->hook);
	aio_remove_poll_handler(r->ctx, r->poller);
	io_uring_queue_exit(&r->ring);
	free(r);
}

int file_uring_submit(struct file_uring *r, struct blk_node *bs, struct blk_req *req)
{
	struct io_uring_sqe *sqe;

	(void)bs;
	if (r->inflight >= 2 * URING_ENTRIES ||
	    (req->op != BLK_OP_READ && req->op != BLK_OP_WRITE && req->op != BLK_OP_FLUSH))
		return -ENOTSUP;
	sqe = io_uring_get_sqe(&r->ring);
	if (!sqe) {
		uring_flush(r);
		sqe = io_uring_get_sqe(&r->ring);
		if (!sqe)
			return -ENOTSUP;
	}
	switch (req->op) {
	case BLK_OP_READ:
		io_uring_prep_readv(sqe, r->fd, req->iov, (unsigned int)req->iovcnt, req->off);
		break;
	case BLK_OP_WRITE:
		io_uring_prep_writev2(sqe, r->fd, req->iov, (unsigned int)req->iovcnt, req->off,
				      (req->flags & BLK_REQ_FUA) ? RWF_DSYNC : 0);
		break;
	case BLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
		break;
	default:
		break; /* excluded above */
	}
	if (r->buffered && req->op == BLK_OP_READ && req->len >= URING_ASYNC_MIN)
		io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	io_uring_sqe_set_data(sqe, req);
	r->queued++;
	r->inflight++;
	return 0;
}

#else

struct file_uring *file_uring_new(struct aio_ctx *ctx, int fd)
{
	(void)ctx;
	(void)fd;
	return NULL;
}

void file_uring_free(struct file_uring *ring)
{
	(void)ring;
}

int file_uring_submit(struct file_uring *ring, struct blk_node *bs, struct blk_req *req)
{
	(void)ring;
	(void)bs;
	(void)req;
	return -ENOTSUP;
}

#endif
