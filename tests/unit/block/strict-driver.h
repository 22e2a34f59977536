/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A test protocol driver that stores bytes in memory and asserts everything the core
 * promises drivers (range, alignment, max transfer, iov layout, writability), counting
 * calls so tests can see how the core split and emulated requests.
 */
#ifndef QT_TEST_STRICT_DRIVER_H
#define QT_TEST_STRICT_DRIVER_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block-driver.h"
#include "util/iov.h"
#include "util/opts.h"

struct strict_state {
	uint8_t *data;
	uint32_t req_align, mem_align;
	uint64_t max_transfer, max_discard, max_zeroes, discard_gran;
	unsigned int caps;
	int reads, writes, flushes, discards, zeroes, fua_writes;
	int fail_next;		    /* -errno to return from the next read or write */
	unsigned int read_delay_us; /* every read sleeps this long after copying */
};

static struct strict_state strict_cfg; /* template for the next open */

static int strict_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	struct strict_state *s = bs->opaque;
	uint64_t size;

	(void)flags;
	if (opts_get_size(opts, "size", 1 << 20, &size, err) < 0)
		return -EINVAL;
	*s = strict_cfg;
	s->data = calloc(1, size);
	bs->total_size = size;
	return s->data ? 0 : -ENOMEM;
}

static void strict_close(struct blk_node *bs)
{
	free(((struct strict_state *)bs->opaque)->data);
}

static void strict_limits(struct blk_node *bs, struct blk_limits *lim)
{
	struct strict_state *s = bs->opaque;

	lim->request_alignment = s->req_align ? s->req_align : 1;
	lim->mem_alignment = s->mem_align ? s->mem_align : 1;
	lim->max_transfer = s->max_transfer;
	lim->max_discard = s->max_discard;
	lim->max_write_zeroes = s->max_zeroes;
	lim->discard_granularity = (uint32_t)s->discard_gran;
	lim->caps = s->caps;
}

static void strict_check(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			 int iovcnt, uint64_t max)
{
	struct strict_state *s = bs->opaque;

	assert_true(len > 0);
	assert_true(off + len <= bs->total_size);
	assert_int_equal(off % bs->limits.request_alignment, 0);
	assert_int_equal(len % bs->limits.request_alignment, 0);
	if (max)
		assert_true(len <= max);
	if (iov) {
		assert_int_equal(iov_size(iov, iovcnt), len);
		assert_true(iov_is_aligned(iov, iovcnt, s->mem_align ? s->mem_align : 1));
	}
}

static int strict_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			 int iovcnt, unsigned int flags)
{
	struct strict_state *s = bs->opaque;
	int r;

	(void)flags;
	strict_check(bs, off, len, iov, iovcnt, s->max_transfer);
	s->reads++;
	if ((r = s->fail_next)) {
		s->fail_next = 0;
		return r;
	}
	iov_from_buf(iov, iovcnt, 0, s->data + off, len);
	if (s->read_delay_us)
		usleep(s->read_delay_us);
	return 0;
}

static int strict_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			  int iovcnt, unsigned int flags)
{
	struct strict_state *s = bs->opaque;
	int r;

	assert_false(bs->read_only);
	strict_check(bs, off, len, iov, iovcnt, s->max_transfer);
	if (flags & BLK_REQ_FUA) {
		assert_true(s->caps & BLK_CAP_FUA);
		s->fua_writes++;
	}
	s->writes++;
	if ((r = s->fail_next)) {
		s->fail_next = 0;
		return r;
	}
	iov_to_buf(iov, iovcnt, 0, s->data + off, len);
	return 0;
}

static int strict_flush(struct blk_node *bs)
{
	((struct strict_state *)bs->opaque)->flushes++;
	return 0;
}

static int strict_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	struct strict_state *s = bs->opaque;

	strict_check(bs, off, len, NULL, 0, s->max_discard);
	if (s->discard_gran) {
		assert_int_equal(off % s->discard_gran, 0);
		assert_int_equal(len % s->discard_gran, 0);
	}
	s->discards++;
	memset(s->data + off, 0, len);
	return 0;
}

static int strict_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	struct strict_state *s = bs->opaque;

	(void)flags;
	strict_check(bs, off, len, NULL, 0, s->max_zeroes);
	s->zeroes++;
	memset(s->data + off, 0, len);
	return 0;
}

static const struct blk_driver strict_driver = {
	.name = "strict",
	.kind = BLK_DRIVER_PROTOCOL,
	.state_size = sizeof(struct strict_state),
	.open = strict_open,
	.close = strict_close,
	.refresh_limits = strict_limits,
	.preadv = strict_preadv,
	.pwritev = strict_pwritev,
	.flush = strict_flush,
	.discard = strict_discard,
	.write_zeroes = strict_zeroes,
};

static struct blk_node *strict_new(uint64_t size, bool writable)
{
	struct blk_node *bs = NULL;
	char buf[32];
	struct opts o;

	opts_init(&o);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)size);
	opts_add(&o, "size", buf, NULL);
	assert_int_equal(blk_open_node(&strict_driver, "strict", NULL, &o,
				       writable ? BLK_O_RDWR : 0, &bs, NULL),
			 0);
	opts_release(&o);
	return bs;
}

static struct strict_state *strict_of(struct blk_node *bs)
{
	return bs->opaque;
}

#endif
