/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A device served by ring-dev over the simulator with the real SCSI layer, on a counting
 * filter node: who attaches the node to the device's loop, flushes it and sets its write
 * cache.  The LUN owns the node: it is attached once at start (the transport used to
 * attach it a second time beside the LUN), detached once at stop, flushed at stop, and a
 * swap attaches the new node once and detaches the old one once (or, when the new node
 * cannot be attached, keeps the old one).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "block/block-driver.h"
#include "block/block.h"
#include "transport/ring-dev.h"
#include "transport/sim.h"
#include "util/err.h"

#define BLK 512u

/* ---- a filter node counting what the upper layers ask of it ---------------------- */

struct count_state {
	int attaches; /* attach_ctx with a loop */
	int detaches; /* attach_ctx with NULL */
	int flushes;
	int fail_attach; /* -errno for the next attach_ctx with a loop */
};

static int count_open(struct blk_node *bs, struct opts *o, unsigned int flags, struct err *err)
{
	(void)o, (void)flags, (void)err;
	bs->total_size = (uint64_t)blk_getlength(bs->file);
	return 0;
}

static void count_close(struct blk_node *bs)
{
	(void)bs;
}

static int count_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			int n, unsigned int flags)
{
	return blk_preadv(bs->file, off, len, iov, n, flags);
}

static int count_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			 int n, unsigned int flags)
{
	return blk_pwritev(bs->file, off, len, iov, n, flags);
}

static int count_flush(struct blk_node *bs)
{
	((struct count_state *)bs->opaque)->flushes++;
	return blk_flush(bs->file);
}

static int count_attach(struct blk_node *bs, struct aio_ctx *ctx)
{
	struct count_state *s = bs->opaque;

	int r = 0;

	if (ctx && s->fail_attach) {
		r = s->fail_attach;
		s->fail_attach = 0;
	} else if (ctx) {
		s->attaches++;
	} else {
		s->detaches++;
	}
	return r;
}

static const struct blk_driver count_driver = {
	.name = "count",
	.kind = BLK_DRIVER_FORMAT,
	.state_size = sizeof(struct count_state),
	.open = count_open,
	.close = count_close,
	.preadv = count_preadv,
	.pwritev = count_pwritev,
	.flush = count_flush,
	.attach_ctx = count_attach,
};

static struct blk_node *count_node_new(void)
{
	struct blk_node *img = NULL, *bs = NULL;

	assert_int_equal(blk_open_str("@driver=memory@size=1M", BLK_O_RDWR, &img, NULL), 0);
	assert_int_equal(blk_open_node(&count_driver, "count", img, NULL, BLK_O_RDWR, &bs, NULL),
			 0);
	return bs;
}

static struct count_state *counts(struct blk_node *bs)
{
	return bs->opaque;
}

/* ---- the device -------------------------------------------------------------------- */

struct env {
	struct sim *sim;
	struct blk_node *bs;
	struct ring_dev *dev;
};

static void env_init(struct env *e)
{
	struct ring_dev_params p = { .name = "lun0", .max_inflight = 8 };
	struct err err;

	memset(e, 0, sizeof(*e));
	err_init(&err);
	assert_int_equal(sim_new(NULL, &e->sim, &err), 0);
	e->bs = count_node_new();
	sim_daemon_map(e->sim, &p.map, &p.map_size);
	p.fd = sim_daemon_fd(e->sim);
	p.bs = e->bs;
	p.lun.block_size = BLK;
	if (ring_dev_start(&p, &e->dev, &err) < 0)
		fail_msg("ring_dev_start: %s", err.msg);
}

static void env_fini(struct env *e)
{
	assert_false(sim_is_broken(e->sim));
	blk_close(e->bs);
	sim_free(e->sim);
}

/* One READ(10)/WRITE(10) of @nlb blocks at @lba; returns the status. */
static uint8_t rw10(struct env *e, bool write, uint32_t lba, uint8_t nlb, void *buf)
{
	struct sim_cmd c = { 0 };

	c.cdb[0] = write ? 0x2a : 0x28;
	c.cdb[5] = (uint8_t)lba;
	c.cdb[8] = nlb;
	c.dir = write ? SIM_DIR_WRITE : SIM_DIR_READ;
	c.buf = buf;
	c.len = nlb * BLK;
	assert_int_equal(sim_submit(e->sim, &c), 0);
	assert_int_equal(sim_wait(e->sim, &c, 10000), 0);
	free(c.dbi);
	return c.status;
}

/* Start, serve, stop: one attach, one detach, a flush at stop. */
static void test_attach_once(void **state)
{
	uint8_t w[4 * BLK], r[4 * BLK];
	struct env e;
	int flushes;

	(void)state;
	env_init(&e);
	assert_int_equal(counts(e.bs)->attaches, 1);
	assert_int_equal(counts(e.bs)->detaches, 0);
	memset(w, 0x5a, sizeof(w));
	assert_int_equal(rw10(&e, true, 8, 4, w), 0);
	assert_int_equal(rw10(&e, false, 8, 4, r), 0);
	assert_memory_equal(r, w, sizeof(w));
	flushes = counts(e.bs)->flushes; /* the node has no write cache: writes are FUA */
	assert_int_equal(ring_dev_stop(e.dev), 0);
	assert_int_equal(counts(e.bs)->attaches, 1);
	assert_int_equal(counts(e.bs)->detaches, 1);
	assert_int_equal(counts(e.bs)->flushes, flushes + 1);
	env_fini(&e);
}

/* A swap (dev_config reconfig) flushes the old node, attaches the new one once and
 * detaches the old one once; the write cache setting reaches the node through the LUN. */
static void test_swap_and_write_cache(void **state)
{
	uint8_t w[BLK], r[BLK];
	struct blk_node *nbs, *old;
	struct env e;

	(void)state;
	env_init(&e);
	ring_dev_set_write_cache(e.dev, false);
	assert_false(blk_write_cache(e.bs));
	ring_dev_set_write_cache(e.dev, true);
	assert_true(blk_write_cache(e.bs));

	nbs = count_node_new();
	old = ring_dev_swap_node(e.dev, nbs);
	assert_ptr_equal(old, e.bs);
	assert_int_equal(counts(old)->flushes, 1); /* no command ran: the swap's flush */
	assert_int_equal(counts(old)->attaches, 1);
	assert_int_equal(counts(old)->detaches, 1);
	assert_int_equal(counts(nbs)->attaches, 1);
	assert_int_equal(counts(nbs)->detaches, 0);
	blk_close(old);
	e.bs = nbs;
	memset(w, 0xc3, sizeof(w));
	assert_int_equal(rw10(&e, true, 0, 1, w), 0);
	assert_int_equal(blk_pread(nbs, 0, r, BLK), 0);
	assert_memory_equal(r, w, BLK);
	assert_int_equal(ring_dev_stop(e.dev), 0);
	assert_int_equal(counts(nbs)->attaches, 1);
	assert_int_equal(counts(nbs)->detaches, 1);
	env_fini(&e);
}

/* A new node that cannot be attached is refused: the old one stays attached and served. */
static void test_swap_attach_fails(void **state)
{
	uint8_t w[BLK], r[BLK];
	struct blk_node *nbs, *back;
	struct env e;

	(void)state;
	env_init(&e);
	nbs = count_node_new();
	counts(nbs)->fail_attach = -ENOMEM;
	back = ring_dev_swap_node(e.dev, nbs);
	assert_ptr_equal(back, nbs); /* refused: the caller closes it */
	assert_int_equal(counts(nbs)->attaches, 0);
	assert_int_equal(counts(e.bs)->detaches, 0);
	blk_close(nbs);
	memset(w, 0x3c, sizeof(w));
	assert_int_equal(rw10(&e, true, 1, 1, w), 0);
	assert_int_equal(blk_pread(e.bs, BLK, r, BLK), 0);
	assert_memory_equal(r, w, BLK);
	assert_int_equal(ring_dev_stop(e.dev), 0);
	assert_int_equal(counts(e.bs)->attaches, 1);
	assert_int_equal(counts(e.bs)->detaches, 1);
	env_fini(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_once),
		cmocka_unit_test(test_swap_and_write_cache),
		cmocka_unit_test(test_swap_attach_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
