/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Protocol drivers "memory" (a sparse RAM disk: @driver=memory@size=1G) and "null"
 * (reads zeroes, writes vanish: @driver=null@size=1G), for tests and benchmarks.
 * Both complete async requests inline, in the submitting loop.
 */
#include "block-driver.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/iov.h"
#include "util/opts.h"

#define MEM_CHUNK_SHIFT 16
#define MEM_CHUNK (1ull << MEM_CHUNK_SHIFT)

struct mem_state {
	uint8_t **chunks; /* NULL = zeroes */
	uint64_t nchunks;
	pthread_rwlock_t lock; /* write-locked only to free chunks (discard) */
	bool is_null;
	bool read_zeroes;
};

static int mem_parse_size(struct blk_node *bs, struct opts *opts, struct err *err)
{
	uint64_t size;
	int r = opts_get_size(opts, "size", 0, &size, err);

	if (r < 0)
		return r;
	if (!opts_has(opts, "size"))
		return err_set(err, -EINVAL, "%s: option 'size' is required", bs->drv->name);
	if (size % 512)
		return err_set(err, -EINVAL, "%s: size %llu is not a multiple of 512",
			       bs->drv->name, (unsigned long long)size);
	bs->total_size = size;
	return 0;
}

static int mem_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	struct mem_state *s = bs->opaque;
	int r;

	(void)flags;
	r = mem_parse_size(bs, opts, err);
	if (r < 0)
		return r;
	s->nchunks = DIV_ROUND_UP(bs->total_size, MEM_CHUNK);
	s->chunks = calloc(s->nchunks ? s->nchunks : 1, sizeof(*s->chunks));
	if (!s->chunks)
		return err_set(err, -ENOMEM, "memory: cannot allocate the chunk table");
	pthread_rwlock_init(&s->lock, NULL);
	return 0;
}

static int null_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	struct mem_state *s = bs->opaque;
	int r;

	(void)flags;
	s->is_null = true;
	r = mem_parse_size(bs, opts, err);
	if (r == 0)
		r = opts_get_bool(opts, "read-zeroes", true, &s->read_zeroes, err);
	return r;
}

static void mem_close(struct blk_node *bs)
{
	struct mem_state *s = bs->opaque;

	if (s->is_null)
		return;
	for (uint64_t i = 0; i < s->nchunks; i++)
		free(s->chunks[i]);
	free(s->chunks);
	pthread_rwlock_destroy(&s->lock);
}

static void mem_refresh_limits(struct blk_node *bs, struct blk_limits *lim)
{
	struct mem_state *s = bs->opaque;

	lim->caps = BLK_CAP_FUA;
	if (!s->is_null)
		lim->caps |= BLK_CAP_DISCARD | BLK_CAP_DISCARD_ZEROES | BLK_CAP_ZERO_UNMAP |
			     BLK_CAP_FAST_ZERO;
}

static uint8_t *chunk_get(struct mem_state *s, uint64_t idx, bool alloc)
{
	uint8_t *c = __atomic_load_n(&s->chunks[idx], __ATOMIC_ACQUIRE);
	uint8_t *expected = NULL;

	if (c || !alloc)
		return c;
	c = calloc(1, MEM_CHUNK);
	if (!c)
		return NULL;
	if (!__atomic_compare_exchange_n(&s->chunks[idx], &expected, c, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(c);
		c = expected;
	}
	return c;
}

static int mem_rw(struct blk_node *bs, bool write, uint64_t off, uint64_t len,
		  const struct iovec *iov, int iovcnt)
{
	struct mem_state *s = bs->opaque;
	uint64_t done = 0;
	int r = 0;

	if (s->is_null) {
		if (!write && s->read_zeroes)
			iov_memset(iov, iovcnt, 0, 0, len);
		return 0;
	}
	pthread_rwlock_rdlock(&s->lock);
	while (done < len) {
		uint64_t pos = off + done;
		uint64_t in = pos & (MEM_CHUNK - 1);
		uint64_t n = MIN(len - done, MEM_CHUNK - in);
		uint8_t *c = chunk_get(s, pos >> MEM_CHUNK_SHIFT, write);

		if (write) {
			if (!c) {
				r = -ENOMEM;
				break;
			}
			iov_to_buf(iov, iovcnt, done, c + in, n);
		} else if (c) {
			iov_from_buf(iov, iovcnt, done, c + in, n);
		} else {
			iov_memset(iov, iovcnt, done, 0, n);
		}
		done += n;
	}
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static int mem_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		      int iovcnt, unsigned int flags)
{
	(void)flags;
	return mem_rw(bs, false, off, len, iov, iovcnt);
}

static int mem_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		       int iovcnt, unsigned int flags)
{
	(void)flags;
	return mem_rw(bs, true, off, len, iov, iovcnt);
}

/* Zero [off, off+len): whole chunks are freed, partial ones cleared. */
static int mem_zero(struct blk_node *bs, uint64_t off, uint64_t len)
{
	struct mem_state *s = bs->opaque;
	uint64_t end = off + len;

	if (s->is_null)
		return 0;
	pthread_rwlock_wrlock(&s->lock);
	while (off < end) {
		uint64_t idx = off >> MEM_CHUNK_SHIFT, in = off & (MEM_CHUNK - 1);
		uint64_t n = MIN(end - off, MEM_CHUNK - in);
		uint8_t *c = s->chunks[idx];

		if (c && n == MEM_CHUNK) {
			free(c);
			s->chunks[idx] = NULL;
		} else if (c) {
			memset(c + in, 0, n);
		}
		off += n;
	}
	pthread_rwlock_unlock(&s->lock);
	return 0;
}

static int mem_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	return mem_zero(bs, off, len);
}

static int mem_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	(void)flags;
	return mem_zero(bs, off, len);
}

static int mem_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			    uint64_t *map, struct blk_node **file)
{
	struct mem_state *s = bs->opaque;
	uint64_t pos = off, end = off + len;
	bool first;

	*map = off;
	*file = bs;
	if (s->is_null) {
		*pnum = len;
		return (s->read_zeroes ? BLK_STATUS_ZERO : 0) | BLK_STATUS_DATA |
		       BLK_STATUS_OFFSET_VALID;
	}
	first = __atomic_load_n(&s->chunks[pos >> MEM_CHUNK_SHIFT], __ATOMIC_ACQUIRE) != NULL;
	while (pos < end) {
		bool have = __atomic_load_n(&s->chunks[pos >> MEM_CHUNK_SHIFT], __ATOMIC_ACQUIRE) !=
			    NULL;

		if (have != first)
			break;
		pos = ALIGN_DOWN(pos, MEM_CHUNK) + MEM_CHUNK;
	}
	*pnum = MIN(pos, end) - off;
	return (first ? BLK_STATUS_DATA : BLK_STATUS_ZERO) | BLK_STATUS_OFFSET_VALID;
}

static int mem_submit(struct blk_node *bs, struct blk_req *req)
{
	int r = 0;

	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		r = mem_rw(bs, req->op == BLK_OP_WRITE, req->off, req->len, req->iov, req->iovcnt);
		break;
	case BLK_OP_FLUSH:
		break;
	default:
		return -ENOTSUP;
	}
	blk_req_complete(req, r);
	return 0;
}

static int mem_truncate(struct blk_node *bs, uint64_t size, struct err *err)
{
	(void)bs;
	(void)size;
	return err_set(err, -ENOTSUP, "memory: cannot resize");
}

static const struct blk_opt_desc mem_options[] = {
	{ "size", "bytes: the device's size (required)" },
	{ NULL, NULL },
};

const struct blk_driver blk_driver_memory = {
	.name = "memory",
	.kind = BLK_DRIVER_PROTOCOL,
	.summary = "a RAM disk, gone at close (for tests and benchmarks)",
	.options = mem_options,
	.state_size = sizeof(struct mem_state),
	.open = mem_open,
	.close = mem_close,
	.refresh_limits = mem_refresh_limits,
	.truncate = mem_truncate,
	.preadv = mem_preadv,
	.pwritev = mem_pwritev,
	.discard = mem_discard,
	.write_zeroes = mem_write_zeroes,
	.block_status = mem_block_status,
	.submit = mem_submit,
};

static const struct blk_opt_desc null_options[] = {
	{ "size", "bytes: the device's size (required)" },
	{ "read-zeroes", "on (default): reads return zeroes; off: reads leave the buffer as is" },
	{ NULL, NULL },
};

const struct blk_driver blk_driver_null = {
	.name = "null",
	.kind = BLK_DRIVER_PROTOCOL,
	.summary = "reads zeroes, discards writes (for tests and benchmarks)",
	.options = null_options,
	.state_size = sizeof(struct mem_state),
	.open = null_open,
	.close = mem_close,
	.refresh_limits = mem_refresh_limits,
	.preadv = mem_preadv,
	.pwritev = mem_pwritev,
	.block_status = mem_block_status,
	.submit = mem_submit,
};
