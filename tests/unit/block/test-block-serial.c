/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Read-modify-write is serialised (serialise.h): on a node with request_alignment 4096,
 * concurrent 512-byte writes to the same 4 KiB block, and aligned writes racing them, on
 * the blocking path (threads) and the async path (the loop, the pool, a driver completing
 * later, raw forwarding), lose no update.
 *
 * The test driver keeps its bytes behind a lock, as real storage would, and widens the
 * windows that matter: a read takes its snapshot and then sleeps (the gap between an RMW's
 * read and its write), an async write is applied by a helper thread after a delay (an
 * aligned write in flight when an RMW arrives).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block-driver.h"
#include "util/aio.h"
#include "util/err.h"
#include "util/iov.h"
#include "util/opts.h"

#define ALIGN 4096
#define SECT 512
#define NBLK 16
#define SIZE (NBLK * ALIGN)

struct slow_state {
	uint8_t data[SIZE];
	pthread_mutex_t lock;
	unsigned int read_delay_us, write_delay_us; /* write: async ones only */
	int async_inflight;			    /* loop thread only */
};

static int slow_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	struct slow_state *s = bs->opaque;

	(void)opts;
	(void)flags;
	(void)err;
	pthread_mutex_init(&s->lock, NULL);
	bs->total_size = SIZE;
	return 0;
}

static void slow_close(struct blk_node *bs)
{
	pthread_mutex_destroy(&((struct slow_state *)bs->opaque)->lock);
}

static void slow_limits(struct blk_node *bs, struct blk_limits *lim)
{
	(void)bs;
	lim->request_alignment = ALIGN;
}

static int slow_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		       int iovcnt, unsigned int flags)
{
	struct slow_state *s = bs->opaque;

	(void)flags;
	assert_true(off % ALIGN == 0 && len % ALIGN == 0 && off + len <= SIZE);
	pthread_mutex_lock(&s->lock);
	iov_from_buf(iov, iovcnt, 0, s->data + off, len);
	pthread_mutex_unlock(&s->lock);
	if (s->read_delay_us)
		usleep(s->read_delay_us);
	return 0;
}

static int slow_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			int iovcnt, unsigned int flags)
{
	struct slow_state *s = bs->opaque;

	(void)flags;
	assert_true(off % ALIGN == 0 && len % ALIGN == 0 && off + len <= SIZE);
	pthread_mutex_lock(&s->lock);
	iov_to_buf(iov, iovcnt, 0, s->data + off, len);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* An async write applied by a helper thread after write_delay_us, completed in the loop. */
struct slow_aio {
	struct aio_bh bh;
	struct blk_node *bs;
	struct blk_req *req;
};

static void slow_aio_done(void *opaque)
{
	struct slow_aio *a = opaque;

	((struct slow_state *)a->bs->opaque)->async_inflight--;
	blk_req_complete(a->req, 0);
	free(a);
}

static void *slow_aio_thread(void *opaque)
{
	struct slow_aio *a = opaque;
	struct slow_state *s = a->bs->opaque;

	usleep(s->write_delay_us);
	slow_pwritev(a->bs, a->req->off, a->req->len, a->req->iov, a->req->iovcnt, 0);
	a->bh.fn = slow_aio_done;
	a->bh.opaque = a;
	aio_bh_schedule(a->bs->ctx, &a->bh);
	return NULL;
}

static int slow_submit(struct blk_node *bs, struct blk_req *req)
{
	struct slow_state *s = bs->opaque;
	struct slow_aio *a;
	pthread_t t;

	if (req->op != BLK_OP_WRITE)
		return -ENOTSUP;
	if (!s->write_delay_us) {
		blk_req_complete(req,
				 slow_pwritev(bs, req->off, req->len, req->iov, req->iovcnt, 0));
		return 0;
	}
	a = calloc(1, sizeof(*a));
	assert_non_null(a);
	a->bs = bs;
	a->req = req;
	s->async_inflight++;
	assert_int_equal(pthread_create(&t, NULL, slow_aio_thread, a), 0);
	pthread_detach(t);
	return 0;
}

static const struct blk_driver slow_driver = {
	.name = "slow",
	.kind = BLK_DRIVER_PROTOCOL,
	.state_size = sizeof(struct slow_state),
	.open = slow_open,
	.close = slow_close,
	.refresh_limits = slow_limits,
	.preadv = slow_preadv,
	.pwritev = slow_pwritev,
	.submit = slow_submit,
};

static struct blk_node *slow_new(unsigned int read_delay_us, unsigned int write_delay_us)
{
	struct blk_node *bs = NULL;
	struct slow_state *s;

	assert_int_equal(blk_open_node(&slow_driver, "slow", NULL, NULL, BLK_O_RDWR, &bs, NULL), 0);
	assert_int_equal(bs->limits.request_alignment, ALIGN);
	s = bs->opaque;
	s->read_delay_us = read_delay_us;
	s->write_delay_us = write_delay_us;
	return bs;
}

/* raw over the slow node: its async writes are forwarded to the child. */
static struct blk_node *raw_over(struct blk_node *file)
{
	struct blk_node *bs = NULL;
	struct opts o;

	opts_init(&o);
	assert_int_equal(blk_open_node(&blk_driver_raw, "raw", file, &o, BLK_O_RDWR, &bs, NULL), 0);
	opts_release(&o);
	assert_int_equal(bs->limits.request_alignment, ALIGN);
	return bs;
}

static uint8_t *slow_data(struct blk_node *bs)
{
	while (bs->file)
		bs = bs->file;
	return ((struct slow_state *)bs->opaque)->data;
}

static void assert_idle(struct blk_node *bs)
{
	for (; bs; bs = bs->file)
		if (!blk_serial_idle(&bs->serial))
			fail_msg("node %s: a request is still tracked or counted", bs->drv->name);
}

/* Sector @sect of block @blk holds @want in every byte. */
static bool sector_is(struct blk_node *bs, int blk, int sect, uint8_t want)
{
	const uint8_t *p = slow_data(bs) + blk * ALIGN + sect * SECT;

	for (int i = 0; i < SECT; i++)
		if (p[i] != want)
			return false;
	return true;
}

/* An aligned write of @a and a 512-byte write of @b at sector 3 raced on block @blk: the
 * aligned write's bytes survive outside sector 3, which holds one of the two. */
static void check_raced_block(struct blk_node *bs, int blk, uint8_t a, uint8_t b)
{
	for (int k = 0; k < ALIGN / SECT; k++) {
		if (k == 3 ? sector_is(bs, blk, k, a) || sector_is(bs, blk, k, b)
			   : sector_is(bs, blk, k, a))
			continue;
		fail_msg("block %d sector %d: byte %#x (aligned write %#x, RMW %#x): an update "
			 "was lost",
			 blk, k, slow_data(bs)[blk * ALIGN + k * SECT], a, b);
	}
}

/* ---- blocking path ------------------------------------------------------------------- */

#define NTHR 8

struct sector_writer {
	struct blk_node *bs;
	pthread_barrier_t *bar;
	int k;
};

static uint8_t sector_val(int blk, int k)
{
	return (uint8_t)(blk * NTHR + k + 1);
}

static void *sector_writer_main(void *opaque)
{
	struct sector_writer *w = opaque;
	uint8_t buf[SECT];

	for (int blk = 0; blk < NBLK; blk++) {
		memset(buf, sector_val(blk, w->k), sizeof(buf));
		pthread_barrier_wait(w->bar);
		if (blk_pwrite(w->bs, (uint64_t)blk * ALIGN + (uint64_t)w->k * SECT, buf, SECT, 0))
			return (void *)1;
	}
	return NULL;
}

/* Eight threads each write their own sector of the same block, block after block. */
static void test_rmw_threads(void **state)
{
	struct blk_node *bs = slow_new(2000, 0);
	struct sector_writer w[NTHR];
	pthread_barrier_t bar;
	pthread_t t[NTHR];
	int lost = 0;

	(void)state;
	pthread_barrier_init(&bar, NULL, NTHR);
	for (int k = 0; k < NTHR; k++) {
		w[k] = (struct sector_writer){ bs, &bar, k };
		pthread_create(&t[k], NULL, sector_writer_main, &w[k]);
	}
	for (int k = 0; k < NTHR; k++) {
		void *ret;

		pthread_join(t[k], &ret);
		assert_null(ret);
	}
	pthread_barrier_destroy(&bar);
	for (int blk = 0; blk < NBLK; blk++)
		for (int k = 0; k < NTHR; k++)
			lost += !sector_is(bs, blk, k, sector_val(blk, k));
	if (lost)
		fail_msg("%d of %d sectors lost their update", lost, NBLK * NTHR);
	assert_idle(bs);
	blk_close(bs);
}

struct racer {
	struct blk_node *bs;
	pthread_barrier_t *bar;
	bool aligned;
	unsigned int delay_us;
};

static void *racer_main(void *opaque)
{
	struct racer *r = opaque;
	uint8_t buf[ALIGN];

	for (int blk = 0; blk < 4; blk++) {
		memset(buf, r->aligned ? 0xa0 + blk : 0xb0 + blk, sizeof(buf));
		pthread_barrier_wait(r->bar);
		usleep(r->delay_us);
		if (r->aligned ? blk_pwrite(r->bs, (uint64_t)blk * ALIGN, buf, ALIGN, 0)
			       : blk_pwrite(r->bs, (uint64_t)blk * ALIGN + 3 * SECT, buf, SECT, 0))
			return (void *)1;
	}
	return NULL;
}

/* An aligned write landing between an RMW's read and its write. */
static void test_rmw_vs_aligned(void **state)
{
	struct blk_node *bs = slow_new(20000, 0);
	pthread_barrier_t bar;
	struct racer r[2] = { { bs, &bar, false, 0 }, { bs, &bar, true, 5000 } };
	pthread_t t[2];

	(void)state;
	pthread_barrier_init(&bar, NULL, 2);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, racer_main, &r[i]);
	for (int i = 0; i < 2; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		assert_null(ret);
	}
	pthread_barrier_destroy(&bar);
	for (int blk = 0; blk < 4; blk++)
		check_raced_block(bs, blk, (uint8_t)(0xa0 + blk), (uint8_t)(0xb0 + blk));
	assert_idle(bs);
	blk_close(bs);
}

/* ---- async path ---------------------------------------------------------------------- */

struct aio_wr {
	struct blk_req req;
	struct iovec iov;
	uint8_t buf[ALIGN];
	int *pending;
	int ret;
};

static void aio_wr_done(struct blk_req *req, int ret)
{
	struct aio_wr *w = container_of(req, struct aio_wr, req);

	w->ret = ret;
	(*w->pending)--;
}

static void aio_wr_submit(struct blk_node *bs, struct aio_wr *w, uint64_t off, uint64_t len,
			  uint8_t val, int *pending)
{
	memset(w->buf, val, sizeof(w->buf));
	w->iov = (struct iovec){ w->buf, len };
	w->pending = pending;
	w->ret = 1;
	w->req = (struct blk_req){ .op = BLK_OP_WRITE,
				   .off = off,
				   .len = len,
				   .iov = &w->iov,
				   .iovcnt = 1,
				   .cb = aio_wr_done };
	(*pending)++;
	blk_req_submit(bs, &w->req);
}

static void poll_until_zero(struct aio_ctx *ctx, int *pending)
{
	while (*pending > 0)
		aio_poll(ctx, true);
}

/* Eight async 512-byte writes to the sectors of one block at once (they run on the pool). */
static void run_async_sectors(struct blk_node *bs, struct aio_ctx *ctx)
{
	static struct aio_wr w[NBLK][NTHR];
	int pending = 0, lost = 0;

	for (int blk = 0; blk < NBLK; blk++)
		for (int k = 0; k < NTHR; k++)
			aio_wr_submit(bs, &w[blk][k], (uint64_t)blk * ALIGN + (uint64_t)k * SECT,
				      SECT, sector_val(blk, k), &pending);
	poll_until_zero(ctx, &pending);
	for (int blk = 0; blk < NBLK; blk++)
		for (int k = 0; k < NTHR; k++) {
			assert_int_equal(w[blk][k].ret, 0);
			lost += !sector_is(bs, blk, k, sector_val(blk, k));
		}
	if (lost)
		fail_msg("async: %d of %d sectors lost their update", lost, NBLK * NTHR);
}

/* An async aligned write submitted while an async RMW (on the pool) is between its read and
 * its write: the fast path would land it in that gap. */
static void run_async_aligned_during_rmw(struct blk_node *bs, struct aio_ctx *ctx)
{
	static struct aio_wr rmw, al;

	for (int blk = 0; blk < 4; blk++) {
		int pending = 0;

		aio_wr_submit(bs, &rmw, (uint64_t)blk * ALIGN + 3 * SECT, SECT,
			      (uint8_t)(0xb0 + blk), &pending);
		usleep(5000);
		aio_wr_submit(bs, &al, (uint64_t)blk * ALIGN, ALIGN, (uint8_t)(0xa0 + blk),
			      &pending);
		poll_until_zero(ctx, &pending);
		assert_int_equal(rmw.ret, 0);
		assert_int_equal(al.ret, 0);
		check_raced_block(bs, blk, (uint8_t)(0xa0 + blk), (uint8_t)(0xb0 + blk));
	}
}

/* A 512-byte write of sector 3 of @blk on a thread of its own, after @delay_us. */
struct late_rmw {
	struct blk_node *bs;
	int blk;
	unsigned int delay_us;
};

static void *late_rmw_main(void *opaque)
{
	struct late_rmw *r = opaque;
	uint8_t buf[SECT];

	memset(buf, 0xb0 + r->blk, sizeof(buf));
	usleep(r->delay_us);
	return (void *)(intptr_t)blk_pwrite(r->bs, (uint64_t)r->blk * ALIGN + 3 * SECT, buf, SECT,
					    0);
}

/* An RMW (a blocking write on another thread) arriving while an async aligned write is in
 * flight in the driver: it must not read the block before that write has landed. */
static void run_rmw_during_async_aligned(struct blk_node *bs, struct aio_ctx *ctx)
{
	static struct aio_wr al;

	for (int blk = 0; blk < 4; blk++) {
		struct late_rmw r = { bs, blk, 2000 };
		int pending = 0;
		pthread_t t;
		void *ret;

		aio_wr_submit(bs, &al, (uint64_t)blk * ALIGN, ALIGN, (uint8_t)(0xa0 + blk),
			      &pending);
		pthread_create(&t, NULL, late_rmw_main, &r);
		poll_until_zero(ctx, &pending);
		assert_int_equal(al.ret, 0);
		pthread_join(t, &ret);
		assert_null(ret);
		check_raced_block(bs, blk, (uint8_t)(0xa0 + blk), (uint8_t)(0xb0 + blk));
	}
}

enum async_case {
	SECTORS,
	ALIGNED_DURING_RMW,
	RMW_DURING_ALIGNED
};

static void run_async(enum async_case c, bool through_raw)
{
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *slow = slow_new(2000, 0), *bs = through_raw ? raw_over(slow) : slow;
	struct slow_state *s = slow->opaque;

	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	switch (c) {
	case SECTORS:
		run_async_sectors(bs, ctx);
		break;
	case ALIGNED_DURING_RMW:
		s->read_delay_us = 20000;
		run_async_aligned_during_rmw(bs, ctx);
		break;
	case RMW_DURING_ALIGNED:
		s->read_delay_us = 40000;
		s->write_delay_us = 20000;
		run_rmw_during_async_aligned(bs, ctx);
		assert_int_equal(s->async_inflight, 0);
		break;
	}
	assert_idle(bs);
	blk_close(bs);
	aio_ctx_free(ctx);
}

static void test_async_sectors(void **state)
{
	run_async(SECTORS, *state != NULL);
}

static void test_async_aligned_during_rmw(void **state)
{
	run_async(ALIGNED_DURING_RMW, *state != NULL);
}

static void test_async_rmw_during_aligned(void **state)
{
	run_async(RMW_DURING_ALIGNED, *state != NULL);
}

/* Aligned writes with no RMW around take the fast path: nothing is tracked, and the
 * node is idle afterwards (async writes gated at every node they pass are released). */
static void test_aligned_untracked(void **state)
{
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs = raw_over(slow_new(0, 1000));
	static struct aio_wr w[NBLK];
	uint8_t buf[ALIGN];
	int pending = 0;

	(void)state;
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	for (int blk = 0; blk < NBLK; blk++)
		aio_wr_submit(bs, &w[blk], (uint64_t)blk * ALIGN, ALIGN, (uint8_t)blk, &pending);
	/* in flight in the driver: counted on raw and on its child, tracked nowhere */
	assert_int_equal(__atomic_load_n(&bs->serial.untracked, __ATOMIC_SEQ_CST), NBLK);
	assert_int_equal(__atomic_load_n(&bs->file->serial.untracked, __ATOMIC_SEQ_CST), NBLK);
	assert_null(bs->serial.head);
	poll_until_zero(ctx, &pending);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(blk_pwrite(bs, 0, buf, ALIGN, 0), 0);
	assert_int_equal(blk_write_zeroes(bs, ALIGN, ALIGN, 0), 0);
	assert_idle(bs);
	assert_true(sector_is(bs, 0, 0, 0x77) && sector_is(bs, 1, 7, 0) && sector_is(bs, 2, 0, 2));
	blk_close(bs);
	aio_ctx_free(ctx);
}

/* The async cases on the slow node itself, then through raw (which forwards requests). */
#define ASYNC_TESTS(f)                              \
	{ #f, f, NULL, NULL, NULL },                \
	{                                           \
#f "_raw", f, NULL, NULL, (void *)1 \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rmw_threads),
		cmocka_unit_test(test_rmw_vs_aligned),
		ASYNC_TESTS(test_async_sectors),
		ASYNC_TESTS(test_async_aligned_during_rmw),
		ASYNC_TESTS(test_async_rmw_during_aligned),
		cmocka_unit_test(test_aligned_untracked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
