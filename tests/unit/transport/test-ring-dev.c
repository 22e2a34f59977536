/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A device served by its thread (ring-dev.c) over the simulator, with a fake SCSI LUN
 * (fake-scsi.c) on a memory image: data integrity at queue depths 1..128, out-of-order
 * completion, residuals, TMR, slot starvation, stop with commands in flight, a crash
 * followed by reset_ring and a restart, malformed entries.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "transport/ring-dev.h"
#include "transport/sim.h"
#include "util/err.h"

#define IMG_SIZE (8u << 20)
#define BLK 512u
#define MAX_QD 128

struct env {
	struct sim *sim;
	struct blk_node *bs;
	struct ring_dev *dev;
	uint8_t *model; /* what the image must contain */
};

static unsigned int g_poll_us; /* busy polling of the device thread (0: none) */

static void env_start_dev(struct env *e, unsigned int slots)
{
	struct ring_dev_params p = {
		.name = "t0", .bs = e->bs, .max_inflight = slots, .poll_us = g_poll_us
	};
	struct err err;

	err_init(&err);
	sim_daemon_map(e->sim, &p.map, &p.map_size);
	p.fd = sim_daemon_fd(e->sim);
	p.lun.block_size = BLK;
	if (ring_dev_start(&p, &e->dev, &err) < 0)
		fail_msg("ring_dev_start: %s", err.msg);
}

static char tmpimg[64];

static void env_init_cfg(struct env *e, const struct sim_params *sp, unsigned int slots,
			 const char *cfg)
{
	struct err err;

	memset(e, 0, sizeof(*e));
	err_init(&err);
	if (sim_new(sp, &e->sim, &err) < 0)
		fail_msg("sim_new: %s", err.msg);
	if (blk_open_str(cfg, BLK_O_RDWR, &e->bs, &err) < 0)
		fail_msg("open: %s", err.msg);
	e->model = calloc(1, IMG_SIZE);
	assert_int_equal(blk_pread(e->bs, 0, e->model, IMG_SIZE), 0);
	env_start_dev(e, slots);
}

static void env_init(struct env *e, const struct sim_params *sp, unsigned int slots)
{
	char cfg[64];

	snprintf(cfg, sizeof(cfg), "@driver=memory@size=%u", IMG_SIZE);
	env_init_cfg(e, sp, slots, cfg);
}

static void env_fini(struct env *e)
{
	if (e->dev)
		assert_int_equal(ring_dev_stop(e->dev), 0);
	assert_false(sim_is_broken(e->sim));
	blk_close(e->bs);
	sim_free(e->sim);
	free(e->model);
}

static void cdb_rw10(struct sim_cmd *c, bool write, uint32_t lba, uint16_t nlb)
{
	memset(c->cdb, 0, 16);
	c->cdb[0] = write ? 0x2a : 0x28;
	c->cdb[2] = (uint8_t)(lba >> 24);
	c->cdb[3] = (uint8_t)(lba >> 16);
	c->cdb[4] = (uint8_t)(lba >> 8);
	c->cdb[5] = (uint8_t)lba;
	c->cdb[7] = (uint8_t)(nlb >> 8);
	c->cdb[8] = (uint8_t)nlb;
}

static void cdb_sleep(struct sim_cmd *c, unsigned int ms)
{
	memset(c->cdb, 0, 16);
	c->cdb[0] = 0xc0;
	c->cdb[1] = (uint8_t)(ms >> 8);
	c->cdb[2] = (uint8_t)ms;
	c->dir = SIM_DIR_NONE;
}

/* Submit, retrying while the ring is full. */
static void submit(struct env *e, struct sim_cmd *c)
{
	int r;

	while ((r = sim_submit(e->sim, c)) == -EAGAIN)
		assert_true(sim_poll(e->sim, 5000) >= 0);
	assert_int_equal(r, 0);
}

static void wait_done(struct env *e, struct sim_cmd *c)
{
	int r = sim_wait(e->sim, c, 10000);

	if (r < 0)
		fail_msg("wait: %d (%s)", r, sim_error(e->sim));
}

struct io {
	struct sim_cmd c;
	uint32_t lba, nlb;
	bool write, busy;
	uint8_t *buf;
};

static bool overlaps(const struct io *ios, int n, uint32_t lba, uint32_t nlb)
{
	for (int i = 0; i < n; i++)
		if (ios[i].busy && lba < ios[i].lba + ios[i].nlb && ios[i].lba < lba + nlb)
			return true;
	return false;
}

static void check_io(struct env *e, struct io *io)
{
	assert_int_equal(io->c.status, 0);
	if (io->write) {
		memcpy(e->model + (size_t)io->lba * BLK, io->buf, (size_t)io->nlb * BLK);
	} else {
		assert_int_equal(io->c.xfer_len, io->nlb * BLK);
		if (memcmp(io->buf, e->model + (size_t)io->lba * BLK, (size_t)io->nlb * BLK)) {
			static uint8_t chk[64 * BLK];
			size_t k = 0, n = (size_t)io->nlb * BLK;

			while (io->buf[k] == e->model[(size_t)io->lba * BLK + k])
				k++;
			blk_pread(e->bs, (uint64_t)io->lba * BLK, chk, n);
			fail_msg("read of lba %u+%u differs from what was written at byte %zu; "
				 "the image %s the model there",
				 io->lba, io->nlb, k,
				 chk[k] == e->model[(size_t)io->lba * BLK + k] ? "matches"
									       : "differs from");
		}
	}
	io->busy = false;
}

/* Random non-overlapping reads and writes with @qd in flight, verified against a model. */
static void run_random(struct env *e, int qd, int total, uint64_t seed)
{
	static struct io ios[MAX_QD];
	int started = 0, finished = 0;
	uint64_t x = seed;

	for (int i = 0; i < qd; i++) {
		memset(&ios[i], 0, sizeof(ios[i]));
		ios[i].buf = malloc(64 * BLK);
	}
	while (finished < total) {
		for (int i = 0; i < qd && started < total; i++) {
			struct io *io = &ios[i];

			if (io->busy)
				continue;
			do {
				x = x * 6364136223846793005ull + 1442695040888963407ull;
				io->nlb = 1 + (uint32_t)((x >> 50) % 64);
				io->lba = (uint32_t)((x >> 20) % (IMG_SIZE / BLK - io->nlb));
			} while (overlaps(ios, qd, io->lba, io->nlb));
			io->write = (x >> 10) & 1;
			cdb_rw10(&io->c, io->write, io->lba, (uint16_t)io->nlb);
			io->c.dir = io->write ? SIM_DIR_WRITE : SIM_DIR_READ;
			io->c.buf = io->buf;
			io->c.len = io->nlb * BLK;
			if (io->write)
				for (uint32_t k = 0; k < io->c.len; k++)
					io->buf[k] = (uint8_t)(x >> (k % 7) ^ k);
			io->busy = true;
			submit(e, &io->c);
			started++;
		}
		assert_true(sim_poll(e->sim, 10000) >= 0);
		for (int i = 0; i < qd; i++) {
			if (ios[i].busy && ios[i].c.done) {
				check_io(e, &ios[i]);
				finished++;
			}
		}
	}
	for (int i = 0; i < qd; i++) {
		free(ios[i].buf);
		free(ios[i].c.dbi);
	}
}

static void run_random_qds(const char *cfg, unsigned int want_concurrency)
{
	static const int qds[] = { 1, 2, 8, 32, 128 };
	struct sim_params sp = {
		.ring_size = 64 << 10, .data_size = 16 << 20, .scatter = true, .strict = true
	};
	struct env e;
	struct ring_dev_stats st;

	env_init_cfg(&e, &sp, 128, cfg);
	for (size_t i = 0; i < sizeof(qds) / sizeof(qds[0]); i++) {
		run_random(&e, qds[i], 600, 42 + i);
		ring_dev_get_stats(e.dev, &st);
		print_message("# qd %d: max in flight %u, %llu kicks for %llu cmds, %llu pads\n",
			      qds[i], st.max_seen, (unsigned long long)st.kicks,
			      (unsigned long long)st.cmds,
			      (unsigned long long)sim_stats(e.sim)->pads);
	}
	assert_true(sim_stats(e.sim)->pads > 0);
	assert_true(st.max_seen >= want_concurrency);
	env_fini(&e);
}

static void test_random_memory(void **state)
{
	char cfg[64];

	(void)state;
	snprintf(cfg, sizeof(cfg), "@driver=memory@size=%u", IMG_SIZE);
	run_random_qds(cfg, 1); /* completes inline: one at a time */
}

static int make_img(void **state)
{
	int fd;

	(void)state;
	snprintf(tmpimg, sizeof(tmpimg), "/tmp/qt-ringdev-XXXXXX");
	fd = mkstemp(tmpimg);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, IMG_SIZE), 0);
	close(fd);
	return 0;
}

static int rm_img(void **state)
{
	(void)state;
	unlink(tmpimg);
	return 0;
}

static void test_random_file(void **state)
{
	char cfg[128];
	static const char *const aio[] = { "io_uring", "threads" };

	(void)state;
	for (int i = 0; i < 2; i++) {
		snprintf(cfg, sizeof(cfg), "@file=%s@format=raw@aio=%s", tmpimg, aio[i]);
		run_random_qds(cfg, 2); /* several in flight at once */
	}
}

/* A slow command does not hold back fast ones behind it (out-of-order completion). */
static void test_ooo_slow_fast(void **state)
{
	struct env e;
	struct sim_cmd slow = { 0 };
	static struct sim_cmd fast[50];
	static uint8_t buf[50][4096];

	(void)state;
	env_init(&e, NULL, 128);
	cdb_sleep(&slow, 400);
	submit(&e, &slow);
	for (int i = 0; i < 50; i++) {
		cdb_rw10(&fast[i], false, (uint32_t)i * 8, 8);
		fast[i].dir = SIM_DIR_READ;
		fast[i].buf = buf[i];
		fast[i].len = 4096;
		submit(&e, &fast[i]);
	}
	for (int i = 0; i < 50; i++)
		wait_done(&e, &fast[i]);
	assert_false(slow.done);
	wait_done(&e, &slow);
	assert_int_equal(slow.status, 0);
	env_fini(&e);
}

/* Short Data-In is reported as READ_LEN; errors carry sense. */
static void test_residual_and_errors(void **state)
{
	struct env e;
	struct sim_cmd c = { 0 };
	static uint8_t buf[8192];

	(void)state;
	env_init(&e, NULL, 4);
	c.cdb[0] = 0xc1;
	c.cdb[1] = 0xab;
	c.cdb[3] = 100; /* 100 bytes */
	c.dir = SIM_DIR_READ;
	c.buf = buf;
	c.len = sizeof(buf);
	submit(&e, &c);
	wait_done(&e, &c);
	assert_int_equal(c.status, 0);
	assert_true(c.read_len_valid);
	assert_int_equal(c.xfer_len, 100);
	assert_int_equal(buf[99], 0xab);
	assert_int_equal(buf[100], 0);

	memset(c.cdb, 0, 16);
	c.cdb[0] = 0x5e; /* unknown to the fake */
	c.dir = SIM_DIR_NONE;
	submit(&e, &c);
	wait_done(&e, &c);
	assert_int_equal(c.status, 2);
	assert_int_equal(c.sense[2], 5);
	assert_int_equal(c.sense[12], 0x20);

	cdb_rw10(&c, false, IMG_SIZE / BLK - 1, 2); /* past the end */
	c.dir = SIM_DIR_READ;
	c.len = 1024;
	submit(&e, &c);
	wait_done(&e, &c);
	assert_int_equal(c.status, 2);
	assert_int_equal(c.sense[12], 0x24);
	free(c.dbi);
	env_fini(&e);
}

/* More commands than slots: the rest wait in the ring and are served as slots free. */
static void test_slot_starvation(void **state)
{
	struct env e;
	static struct sim_cmd c[20];
	struct ring_dev_stats st;

	(void)state;
	env_init(&e, NULL, 2);
	for (int i = 0; i < 20; i++) {
		cdb_sleep(&c[i], 20);
		submit(&e, &c[i]);
	}
	for (int i = 0; i < 20; i++) {
		wait_done(&e, &c[i]);
		assert_int_equal(c[i].status, 0);
	}
	ring_dev_get_stats(e.dev, &st);
	assert_int_equal(st.max_seen, 2);
	assert_int_equal(st.cmds, 20);
	env_fini(&e);
}

/* TMR notifications are seen and the aborted commands still complete. */
static void test_tmr_abort(void **state)
{
	struct sim_params sp = { .tmr_notify = true };
	struct env e;
	struct sim_cmd c[4] = { 0 };
	struct sim_cmd *ab[2] = { &c[1], &c[3] };
	struct ring_dev_stats st;

	(void)state;
	env_init(&e, &sp, 8);
	for (int i = 0; i < 4; i++) {
		cdb_sleep(&c[i], 100);
		submit(&e, &c[i]);
	}
	assert_int_equal(sim_tmr(e.sim, 1, ab, 2), 0);
	assert_int_equal(sim_tmr(e.sim, 5 /* LUN RESET */, ab, 2), 0);
	for (int i = 0; i < 4; i++)
		wait_done(&e, &c[i]);
	ring_dev_get_stats(e.dev, &st);
	assert_int_equal(st.tmrs, 2);
	/* the ring keeps working after the TMR entries */
	cdb_sleep(&c[0], 1);
	submit(&e, &c[0]);
	wait_done(&e, &c[0]);
	env_fini(&e);
}

/* Stopping (device removal, SIGTERM) lets the commands in flight complete first. */
static void test_stop_with_inflight(void **state)
{
	struct env e;
	static struct sim_cmd c[8];
	static uint8_t buf[8][4096];

	(void)state;
	env_init(&e, NULL, 16);
	for (int i = 0; i < 8; i++) {
		if (i % 2) {
			cdb_sleep(&c[i], 150);
		} else {
			cdb_rw10(&c[i], true, (uint32_t)i * 8, 8);
			c[i].dir = SIM_DIR_WRITE;
			c[i].buf = buf[i];
			c[i].len = 4096;
			memset(buf[i], i + 1, 4096);
		}
		submit(&e, &c[i]);
	}
	/* let the device fetch them, then stop while the slow ones run */
	while (sim_stats(e.sim)->completions < 4)
		assert_true(sim_poll(e.sim, 5000) >= 0);
	assert_int_equal(ring_dev_stop(e.dev), 0);
	e.dev = NULL;
	while (sim_inflight(e.sim))
		assert_true(sim_poll(e.sim, 5000) >= 0);
	for (int i = 0; i < 8; i++) {
		assert_true(c[i].done && !c[i].by_kernel);
		assert_int_equal(c[i].status, 0);
		free(c[i].dbi);
	}
	env_fini(&e);
}

/* A daemon dies with commands in the ring; the next one does reset_ring (in-ring
 * commands get BUSY, the initiator retries them) and serves from a clean ring. */
static void test_crash_reset_restart(void **state)
{
	struct env e;
	static struct sim_cmd c[20];
	static uint8_t wbuf[20][4096], rbuf[4096];
	struct sim_cmd rd = { 0 };
	struct err err;
	int busy = 0;

	(void)state;
	env_init(&e, NULL, 16);
	for (int i = 0; i < 20; i++) {
		cdb_rw10(&c[i], true, (uint32_t)i * 8, 8);
		c[i].dir = SIM_DIR_WRITE;
		c[i].buf = wbuf[i];
		c[i].len = 4096;
		memset(wbuf[i], 0x40 + i, 4096);
	}
	cdb_sleep(&c[3], 300);
	for (int i = 0; i < 16; i++)
		submit(&e, &c[i]);
	while (sim_stats(e.sim)->completions < 15)
		assert_true(sim_poll(e.sim, 5000) >= 0);
	ring_dev_abandon(e.dev); /* c[3] is in flight: its completion never reaches the ring */
	e.dev = NULL;
	for (int i = 16; i < 20; i++) /* queued while no daemon runs */
		submit(&e, &c[i]);
	assert_int_equal(sim_poll(e.sim, 100), -ETIMEDOUT);
	assert_int_equal(sim_inflight(e.sim), 5);
	/* the restarted daemon: block_dev, reset_ring, open, unblock */
	sim_block(e.sim, true);
	sim_reset_ring(e.sim, 1);
	err_init(&err);
	assert_int_equal(sim_reopen(e.sim, &err), 0);
	env_start_dev(&e, 16);
	sim_block(e.sim, false);
	for (int i = 0; i < 20; i++) {
		assert_true(c[i].done);
		if (!c[i].by_kernel) {
			assert_int_equal(c[i].status, 0);
			continue;
		}
		assert_int_equal(c[i].status, 0x08); /* BUSY */
		busy++;
		submit(&e, &c[i]); /* the initiator's retry */
		wait_done(&e, &c[i]);
		assert_false(c[i].by_kernel);
		assert_int_equal(c[i].status, 0);
	}
	assert_int_equal(busy, 5);
	cdb_rw10(&rd, false, 8 * 17, 8);
	rd.dir = SIM_DIR_READ;
	rd.buf = rbuf;
	rd.len = 4096;
	submit(&e, &rd);
	wait_done(&e, &rd);
	assert_int_equal(rbuf[0], 0x40 + 17);
	for (int i = 0; i < 20; i++)
		free(c[i].dbi);
	free(rd.dbi);
	env_fini(&e);
}

/* reset_ring while the daemon serves (an administrator's action): the kernel fails what
 * was in the ring; the late completions of those commands must not reach the new ring
 * (their ids may even be reused already). */
static void test_reset_under_daemon(void **state)
{
	struct env e;
	struct sim_cmd slow = { 0 }, c = { 0 };

	(void)state;
	env_init(&e, NULL, 8);
	cdb_sleep(&slow, 300);
	submit(&e, &slow);
	cdb_sleep(&c, 1); /* let the device fetch the slow one first */
	submit(&e, &c);
	wait_done(&e, &c);
	sim_reset_ring(e.sim, 1);
	assert_true(slow.done && slow.by_kernel);
	assert_int_equal(slow.status, 0x08);
	for (int i = 0; i < 5; i++) { /* reuses cmd id 1 while the old one still runs */
		cdb_sleep(&c, 100);
		submit(&e, &c);
		assert_int_equal(c.cmd_id, 1);
		wait_done(&e, &c);
		assert_false(c.by_kernel);
		assert_int_equal(c.status, 0);
	}
	assert_false(sim_is_broken(e.sim));
	env_fini(&e);
}

/* A CMD entry whose CDB offset or iovec points outside where it may gets an error
 * status, and the ring goes on. */
static void test_malformed_entries(void **state)
{
	struct sim_params sp = { .no_notify = false };
	struct env e;
	struct sim_cmd a = { 0 }, b = { 0 }, ok = { 0 };
	static uint8_t buf[4096];
	uint8_t *k;
	uint64_t bad = 1ull << 40;

	(void)state;
	env_init(&e, &sp, 8);
	/* stop the device from fetching while entries are corrupted: plug the notify and
	 * corrupt before it runs; the device only reads entries after a wake-up */
	sim_plug(e.sim);
	cdb_rw10(&a, false, 0, 8);
	a.dir = SIM_DIR_READ;
	a.buf = buf;
	a.len = 4096;
	assert_int_equal(sim_submit(e.sim, &a), 0);
	b = a;
	b.dbi = NULL;
	b.dbi_cap = 0;
	assert_int_equal(sim_submit(e.sim, &b), 0);
	k = sim_kernel_map(e.sim);
	/* a: cdb_off (entry offset 24) far away; b: first iovec base (offset 48) */
	memcpy(k + 128 + 24, &bad, 8);
	{
		uint32_t len_op;

		memcpy(&len_op, k + 128, 4);
		memcpy(k + 128 + (len_op & ~7u) + 48, &bad, 8);
	}
	cdb_sleep(&ok, 1);
	assert_int_equal(sim_submit(e.sim, &ok), 0);
	sim_unplug(e.sim);
	wait_done(&e, &a);
	wait_done(&e, &b);
	wait_done(&e, &ok);
	assert_int_equal(a.status, 2);
	assert_int_equal(a.sense[2], 4);
	assert_int_equal(b.status, 2);
	assert_int_equal(ok.status, 0);
	free(a.dbi);
	free(b.dbi);
	env_fini(&e);
}

/* Completions of one batch go back with few kicks. */
static void test_kick_batching(void **state)
{
	struct env e;
	static struct sim_cmd c[64];
	static uint8_t buf[64][4096];
	uint64_t kicks0;

	(void)state;
	env_init(&e, NULL, 128);
	kicks0 = sim_stats(e.sim)->kicks;
	sim_plug(e.sim);
	for (int i = 0; i < 64; i++) {
		cdb_rw10(&c[i], true, (uint32_t)i * 8, 8);
		c[i].dir = SIM_DIR_WRITE;
		c[i].buf = buf[i];
		c[i].len = 4096;
		submit(&e, &c[i]);
	}
	sim_unplug(e.sim);
	for (int i = 0; i < 64; i++)
		wait_done(&e, &c[i]);
	print_message("# 64 writes, %llu kicks\n",
		      (unsigned long long)(sim_stats(e.sim)->kicks - kicks0));
	assert_true(sim_stats(e.sim)->kicks - kicks0 <= 4);
	for (int i = 0; i < 64; i++)
		free(c[i].dbi);
	env_fini(&e);
}

/*
 * Busy polling: after a command, the device thread spins on the ring's head; a command
 * the simulator adds without a notification (plugged) is found and served all the same,
 * which without polling waits for the unplug.
 */
static void test_busy_poll(void **state)
{
	struct env e;
	static struct sim_cmd c[2];
	static uint8_t buf[2][4096];
	struct ring_dev_stats st;

	(void)state;
	g_poll_us = 5u * 1000 * 1000; /* the test thread is never that late */
	env_init(&e, NULL, 8);
	g_poll_us = 0;
	memset(buf[0], 0xa5, sizeof(buf[0]));
	cdb_rw10(&c[0], true, 16, 8);
	c[0].dir = SIM_DIR_WRITE;
	c[0].buf = buf[0];
	c[0].len = 4096;
	submit(&e, &c[0]);
	wait_done(&e, &c[0]);
	assert_int_equal(c[0].status, 0);
	sim_plug(e.sim);
	cdb_rw10(&c[1], false, 16, 8);
	c[1].dir = SIM_DIR_READ;
	c[1].buf = buf[1];
	c[1].len = 4096;
	submit(&e, &c[1]);
	wait_done(&e, &c[1]); /* still plugged */
	assert_int_equal(c[1].status, 0);
	assert_memory_equal(buf[1], buf[0], 4096);
	ring_dev_get_stats(e.dev, &st);
	assert_true(st.polled >= 1);
	sim_unplug(e.sim);
	for (int i = 0; i < 2; i++)
		free(c[i].dbi);
	env_fini(&e); /* the stop (a bottom half) ends the spin */
}

/* The randomised I/O of test_random_memory with polling on (the thread spins between
 * bursts and is woken by the fd as well: both paths fetch from the same cursor). */
static void test_random_polled(void **state)
{
	char cfg[64];

	(void)state;
	g_poll_us = 50;
	snprintf(cfg, sizeof(cfg), "@driver=memory@size=%u", IMG_SIZE);
	run_random_qds(cfg, 1);
	g_poll_us = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_memory),
		cmocka_unit_test_setup_teardown(test_random_file, make_img, rm_img),
		cmocka_unit_test(test_ooo_slow_fast),
		cmocka_unit_test(test_residual_and_errors),
		cmocka_unit_test(test_slot_starvation),
		cmocka_unit_test(test_tmr_abort),
		cmocka_unit_test(test_stop_with_inflight),
		cmocka_unit_test(test_crash_reset_restart),
		cmocka_unit_test(test_reset_under_daemon),
		cmocka_unit_test(test_malformed_entries),
		cmocka_unit_test(test_kick_batching),
		cmocka_unit_test(test_busy_poll),
		cmocka_unit_test(test_random_polled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
