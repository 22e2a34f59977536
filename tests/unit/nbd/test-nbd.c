/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nbd driver against nbdkit: blocking and async I/O with many requests in flight,
 * several threads at once (with and without an attached loop), multi-iovec requests,
 * the server's block-size limits, block status, server errors, and a killed server
 * (clear failure, no hang; reconnect with retried in-flight requests; the lost-writes
 * flush error).
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "nbd-server.h"
#include "util/aio.h"
#include "util/compiler.h"
#include "util/err.h"

#define MiB (1024 * 1024)
#define BS 4096
#define QD 64

static struct test_server srv;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct blk_node *open_cfg(const char *fmt, ...) PRINTF_FMT(1, 2);
static struct blk_node *open_cfg(const char *fmt, ...)
{
	struct blk_node *bs = NULL;
	struct err err;
	char cfg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cfg, sizeof(cfg), fmt, ap);
	va_end(ap);
	err_init(&err);
	if (blk_open_str(cfg, BLK_O_RDWR, &bs, &err) < 0)
		fail_msg("open %s: %s", cfg, err.msg);
	return bs;
}

static void start(const char *const *args)
{
	int r = test_server_start(&srv, args);

	if (r < 0)
		fail_msg("cannot start nbdkit: %s", strerror(-r));
}

static int setup(void **state)
{
	(void)state;
	test_server_init(&srv);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_server_release(&srv);
	return 0;
}

static void fill(uint8_t *p, size_t n, uint64_t off, int gen)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((off + i) / 512 * 7 + (uint64_t)gen * 13 + 1);
}

static void check(const uint8_t *p, size_t n, uint64_t off, int gen)
{
	uint8_t want[BS];

	for (size_t done = 0; done < n; done += BS) {
		size_t k = n - done < BS ? n - done : BS;

		fill(want, k, off + done, gen);
		if (memcmp(p + done, want, k))
			fail_msg("data mismatch at %llu (gen %d)", (unsigned long long)(off + done),
				 gen);
	}
}

/* ---- configuration errors -------------------------------------------------------- */

static void expect_open_error(const char *cfg, const char *want)
{
	struct blk_node *bs = NULL;
	struct err err;
	double t0 = now_s();
	int r;

	err_init(&err);
	r = blk_open_str(cfg, BLK_O_RDWR, &bs, &err);
	if (r >= 0)
		fail_msg("%s: opened", cfg);
	if (!strstr(err.msg, want))
		fail_msg("%s: error '%s', expected '%s'", cfg, err.msg, want);
	assert_true(now_s() - t0 < 5);
	assert_null(bs);
}

static void test_open_errors(void **state)
{
	(void)state;
	expect_open_error("@driver=nbd", "nbd: no server given");
	expect_open_error("@driver=nbd@server=unix:", "empty socket path");
	expect_open_error("@driver=nbd@server=[::1", "bad address");
	expect_open_error("@driver=nbd@server=host:", "bad address");
	expect_open_error("@driver=nbd@server=unix:/nonexistent/x.sock",
			  "nbd: cannot connect to unix:/nonexistent/x.sock: ");
	expect_open_error("@driver=nbd@server=unix:/x@reconnect-timeout=9999",
			  "reconnect-timeout must be");
	expect_open_error("@driver=nbd@file=nbd://localhost/x@server=localhost",
			  "either an nbd:// URI or 'server'");
	expect_open_error("@driver=nbd@file=/tmp/x", "is not an nbd:// URI");
	expect_open_error("@driver=nbd@server.type=unix", "server.type=unix needs server.path");
	expect_open_error("@driver=nbd@server=unix:/x@bogus=1", "");
}

/* ---- blocking I/O ------------------------------------------------------------------ */

static void test_blocking_rw(void **state)
{
	const char *args[] = { "memory", "16M", NULL };
	static uint8_t a[3][BS], big[1 * MiB];
	struct iovec iov[3] = { { a[0], BS }, { a[1], 100 }, { a[2], BS - 100 } };
	struct blk_node *bs;
	uint64_t pnum, map;
	struct blk_node *file;
	int r;

	(void)state;
	start(args);
	bs = open_cfg("@driver=nbd@server=unix:%s", srv.sock);
	assert_int_equal(blk_getlength(bs), 16 * MiB);
	fill(big, sizeof(big), 1 * MiB, 1);
	assert_int_equal(blk_pwrite(bs, 1 * MiB, big, sizeof(big), 0), 0);
	memset(big, 0, sizeof(big));
	assert_int_equal(blk_pread(bs, 1 * MiB, big, sizeof(big)), 0);
	check(big, sizeof(big), 1 * MiB, 1);

	/* several iovecs go through one bounce buffer each way */
	fill(a[0], BS, 0, 2);
	fill(a[1], 100, BS, 2);
	fill(a[2], BS - 100, BS + 100, 2);
	assert_int_equal(blk_pwritev(bs, 0, 2 * BS, iov, 3, BLK_REQ_FUA), 0);
	memset(a, 0, sizeof(a));
	assert_int_equal(blk_preadv(bs, 0, 2 * BS, iov, 3, 0), 0);
	check(a[0], BS, 0, 2);
	check(a[1], 100, BS, 2);
	check(a[2], BS - 100, BS + 100, 2);
	assert_int_equal(blk_flush(bs), 0);

	/* zeroes and discard; block status follows base:allocation */
	assert_int_equal(blk_write_zeroes(bs, 1 * MiB, 64 * 1024, 0), 0);
	assert_int_equal(blk_pread(bs, 1 * MiB, big, 64 * 1024), 0);
	for (int i = 0; i < 64 * 1024; i++)
		assert_int_equal(big[i], 0);
	assert_int_equal(blk_discard(bs, 8 * MiB, 1 * MiB), 0);
	r = blk_block_status(bs, 1 * MiB + 64 * 1024, 64 * 1024, &pnum, &map, &file);
	assert_true(r >= 0);
	assert_true(r & BLK_STATUS_DATA);
	assert_false(r & BLK_STATUS_ZERO);
	r = blk_block_status(bs, 12 * MiB, 4 * MiB, &pnum, &map, &file);
	assert_true(r >= 0);
	assert_true(r & BLK_STATUS_ZERO);
	assert_int_equal(pnum, 4 * MiB);
	assert_ptr_equal(file, bs);

	/* out of range and read-only are the core's; the node reports its limits */
	assert_int_equal(blk_pread(bs, 16 * MiB, big, 512), -EINVAL);
	assert_int_equal(blk_get_limits(bs)->max_transfer, 32 * MiB);
	blk_close(bs);
}

/* ---- the server's limits -------------------------------------------------------------- */

static void test_limits(void **state)
{
	const char *args[] = { "--filter=blocksize-policy",
			       "memory",
			       "4M",
			       "blocksize-minimum=4096",
			       "blocksize-preferred=65536",
			       "blocksize-maximum=1M",
			       "blocksize-error-policy=error",
			       NULL };
	static uint8_t buf[3 * MiB];
	struct blk_node *bs;
	const struct blk_limits *l;

	(void)state;
	start(args);
	bs = open_cfg("@driver=nbd@server=unix:%s", srv.sock);
	l = blk_get_limits(bs);
	assert_int_equal(l->request_alignment, 4096);
	assert_int_equal(l->max_transfer, 1 * MiB);
	assert_int_equal(l->opt_transfer, 65536);
	/* the server refuses unaligned or oversized requests: the core aligns and splits */
	fill(buf, sizeof(buf), 0, 3);
	assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf), 0), 0);
	fill(buf, 1000, 100, 4);
	assert_int_equal(blk_pwrite(bs, 100, buf, 1000, 0), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(blk_pread(bs, 0, buf, sizeof(buf)), 0);
	check(buf, 100, 0, 3);
	check(buf + 100, 1000, 100, 4);
	check(buf + 1100, sizeof(buf) - 1100, 1100, 3);
	blk_close(bs);
}

/* A 512-byte write is a read-modify-write of the server's 4 KiB block: eight threads each
 * writing their own sector of the same block lose no update (the core serialises them). */
#define RMW_THREADS 8
#define RMW_ROUNDS 128

struct rmw_writer {
	struct blk_node *bs;
	pthread_barrier_t *bar;
	int k;
};

static uint8_t rmw_val(int round, int k)
{
	return (uint8_t)(round * RMW_THREADS + k);
}

static void *rmw_writer_main(void *opaque)
{
	struct rmw_writer *w = opaque;
	uint8_t buf[512];

	for (int r = 0; r < RMW_ROUNDS; r++) {
		memset(buf, rmw_val(r, w->k), sizeof(buf));
		pthread_barrier_wait(w->bar);
		if (blk_pwrite(w->bs, (uint64_t)r * BS + (uint64_t)w->k * 512, buf, 512, 0) < 0)
			return (void *)1;
	}
	return NULL;
}

static void test_rmw_min_block(void **state)
{
	const char *args[] = {
		"--filter=blocksize-policy",	"memory", "1M", "blocksize-minimum=4096",
		"blocksize-error-policy=error", NULL
	};
	struct rmw_writer w[RMW_THREADS];
	pthread_t t[RMW_THREADS];
	pthread_barrier_t bar;
	struct blk_node *bs;
	uint8_t buf[BS];
	int lost = 0;

	(void)state;
	start(args);
	bs = open_cfg("@driver=nbd@server=unix:%s", srv.sock);
	assert_int_equal(blk_get_limits(bs)->request_alignment, 4096);
	pthread_barrier_init(&bar, NULL, RMW_THREADS);
	for (int k = 0; k < RMW_THREADS; k++) {
		w[k] = (struct rmw_writer){ bs, &bar, k };
		pthread_create(&t[k], NULL, rmw_writer_main, &w[k]);
	}
	for (int k = 0; k < RMW_THREADS; k++) {
		void *ret;

		pthread_join(t[k], &ret);
		assert_null(ret);
	}
	pthread_barrier_destroy(&bar);
	for (int r = 0; r < RMW_ROUNDS; r++) {
		assert_int_equal(blk_pread(bs, (uint64_t)r * BS, buf, BS), 0);
		for (int k = 0; k < RMW_THREADS; k++)
			for (int i = 0; i < 512; i++)
				if (buf[k * 512 + i] != rmw_val(r, k)) {
					lost++;
					break;
				}
	}
	if (lost)
		fail_msg("%d of %d sectors lost their update", lost, RMW_ROUNDS * RMW_THREADS);
	blk_close(bs);
}

/* ---- async ------------------------------------------------------------------------------ */

struct io {
	struct blk_req req;
	struct iovec iov[2];
	int *pending;
	int ret;
	pthread_t done_in;
};

static void io_done(struct blk_req *req, int ret)
{
	struct io *io = container_of(req, struct io, req);

	io->ret = ret;
	io->done_in = pthread_self();
	(*io->pending)--;
}

static void io_prep(struct io *io, int *pending, enum blk_op op, uint64_t off, uint8_t *buf,
		    bool split)
{
	*io = (struct io){ .pending = pending, .ret = 1 };
	io->iov[0] = (struct iovec){ buf, split ? 512 : BS };
	io->iov[1] = (struct iovec){ buf + 512, BS - 512 };
	io->req.op = op;
	io->req.off = off;
	io->req.len = op == BLK_OP_FLUSH ? 0 : BS;
	io->req.iov = io->iov;
	io->req.iovcnt = split ? 2 : 1;
	io->req.cb = io_done;
}

static void run_until(struct aio_ctx *ctx, int *pending, double limit_s)
{
	double t0 = now_s();

	while (*pending > 0) {
		aio_poll(ctx, false);
		if (now_s() - t0 > limit_s)
			fail_msg("%d requests still pending after %.0f s", *pending, limit_s);
		usleep(200);
	}
}

static void test_async_queue(void **state)
{
	const char *args[] = { "memory", "16M", NULL };
	static struct io ios[QD];
	static uint8_t bufs[QD][BS];
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	int pending;

	(void)state;
	start(args);
	bs = open_cfg("@driver=nbd@server=unix:%s", srv.sock);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	for (int gen = 0; gen < 3; gen++) {
		for (int op = 0; op < 2; op++) {
			pending = QD;
			for (int i = 0; i < QD; i++) {
				uint64_t off = (uint64_t)((i * 37 + gen * 11) % 1024) * BS;

				if (op == 0)
					fill(bufs[i], BS, off, gen);
				else
					memset(bufs[i], 0, BS);
				io_prep(&ios[i], &pending, op ? BLK_OP_READ : BLK_OP_WRITE, off,
					bufs[i], i % 3 == 0);
				ios[i].req.flags = (op == 0 && i % 5 == 0) ? BLK_REQ_FUA : 0;
				blk_req_submit(bs, &ios[i].req);
			}
			run_until(ctx, &pending, 10);
			for (int i = 0; i < QD; i++) {
				uint64_t off = (uint64_t)((i * 37 + gen * 11) % 1024) * BS;

				assert_int_equal(ios[i].ret, 0);
				assert_true(pthread_equal(ios[i].done_in, pthread_self()));
				if (op == 1)
					check(bufs[i], BS, off, gen);
			}
		}
	}
	pending = 1;
	io_prep(&ios[0], &pending, BLK_OP_FLUSH, 0, bufs[0], false);
	blk_req_submit(bs, &ios[0].req);
	run_until(ctx, &pending, 10);
	assert_int_equal(ios[0].ret, 0);
	blk_close(bs);
	aio_ctx_free(ctx);
}

/* ---- blocking ops from several threads ------------------------------------------------ */

struct worker {
	struct blk_node *bs;
	struct aio_ctx *ctx; /* to wake when done, or NULL */
	int id, fails;
	int *running;
};

static void *worker_main(void *opaque)
{
	struct worker *w = opaque;
	uint8_t *buf = malloc(64 * 1024);

	for (int round = 0; round < 20; round++) {
		uint64_t off = (uint64_t)(w->id * 20 + round) * 64 * 1024;

		fill(buf, 64 * 1024, off, w->id);
		if (blk_pwrite(w->bs, off, buf, 64 * 1024, 0) < 0)
			w->fails++;
		memset(buf, 0, 64 * 1024);
		if (blk_pread(w->bs, off, buf, 64 * 1024) < 0)
			w->fails++;
		for (int i = 0; i < 64 * 1024; i += 512)
			if (buf[i] !=
			    (uint8_t)((off + (uint64_t)i) / 512 * 7 + (uint64_t)w->id * 13 + 1))
				w->fails++;
	}
	if (blk_flush(w->bs) < 0)
		w->fails++;
	free(buf);
	__atomic_sub_fetch(w->running, 1, __ATOMIC_SEQ_CST);
	if (w->ctx)
		aio_notify(w->ctx);
	return NULL;
}

static void run_workers(struct blk_node *bs, struct aio_ctx *ctx)
{
	struct worker w[4];
	pthread_t th[4];
	int running = 4;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .bs = bs, .ctx = ctx, .id = i, .running = &running };
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	while (ctx && __atomic_load_n(&running, __ATOMIC_SEQ_CST) > 0)
		aio_poll(ctx, true); /* the loop drives the socket for the workers */
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].fails, 0);
	}
}

static void test_blocking_threads(void **state)
{
	const char *args[] = { "memory", "16M", NULL };
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;

	(void)state;
	start(args);
	bs = open_cfg("@driver=nbd@server=unix:%s", srv.sock);
	run_workers(bs, NULL); /* no loop: each waiter drives the socket */
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	run_workers(bs, ctx); /* the attached loop drives it */
	run_workers(bs, ctx);
	blk_close(bs); /* flush from the loop thread itself */
	aio_ctx_free(ctx);
}

/* A blocking call from another thread while the attached loop does not run (say, a
 * daemon closing a device after stopping its loop thread) must not hang. */
struct stalled {
	struct blk_node *bs;
	int ret;
	double took;
};

static void *stalled_main(void *opaque)
{
	struct stalled *st = opaque;
	uint8_t buf[BS];
	double t0 = now_s();

	fill(buf, BS, 0, 6);
	st->ret = blk_pwrite(st->bs, 0, buf, BS, 0);
	if (st->ret == 0)
		st->ret = blk_pread(st->bs, 0, buf, BS);
	if (st->ret == 0)
		st->ret = blk_flush(st->bs);
	st->took = now_s() - t0;
	return NULL;
}

static void test_stalled_loop(void **state)
{
	const char *args[] = { "memory", "4M", NULL };
	struct aio_ctx *ctx = aio_ctx_new();
	struct stalled st = { 0 };
	pthread_t th;

	(void)state;
	start(args);
	st.bs = open_cfg("@driver=nbd@server=unix:%s", srv.sock);
	assert_int_equal(blk_attach_ctx(st.bs, ctx), 0);
	aio_poll(ctx, false); /* the loop ran once, then stops */
	pthread_create(&th, NULL, stalled_main, &st);
	pthread_join(th, NULL);
	assert_int_equal(st.ret, 0);
	assert_true(st.took < 3);
	blk_close(st.bs);
	aio_ctx_free(ctx);
}

/* ---- server errors and a killed server ------------------------------------------------- */

static void test_server_error(void **state)
{
	char flag[128], arg[160];
	const char *args[] = { "--filter=error",	"memory", "4M", "error-pread=EIO",
			       "error-pread-rate=100%", arg,	  NULL };
	uint8_t buf[BS] = { 0 };
	struct blk_node *bs;
	FILE *f;

	(void)state;
	snprintf(flag, sizeof(flag), "%s/fail-reads", srv.dir);
	snprintf(arg, sizeof(arg), "error-pread-file=%s", flag);
	start(args);
	bs = open_cfg("@driver=nbd@server=unix:%s", srv.sock);
	f = fopen(flag, "w");
	fclose(f);
	assert_int_equal(blk_pread(bs, 0, buf, BS), -EIO);
	unlink(flag);
	/* an error reply is not a lost connection */
	assert_int_equal(blk_pwrite(bs, 0, buf, BS, 0), 0);
	assert_int_equal(blk_pread(bs, 0, buf, BS), 0);
	blk_close(bs);
}

static void test_killed_server(void **state)
{
	const char *args[] = { "--filter=delay", "memory", "4M", "delay-read=3", NULL };
	const char *plain[] = { "memory", "4M", NULL };
	static struct io ios[16];
	static uint8_t bufs[16][BS];
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	double t0;
	int pending = 16, r = -1;

	(void)state;
	start(args);
	bs = open_cfg("@driver=nbd@server=unix:%s@reconnect-timeout=1", srv.sock);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	for (int i = 0; i < 16; i++) {
		io_prep(&ios[i], &pending, BLK_OP_READ, (uint64_t)i * BS, bufs[i], i & 1);
		blk_req_submit(bs, &ios[i].req);
	}
	aio_poll(ctx, false);
	t0 = now_s();
	test_server_kill(&srv, SIGKILL);
	/* in-flight requests wait for the server (1 s), then fail: no hang */
	run_until(ctx, &pending, 10);
	for (int i = 0; i < 16; i++)
		assert_int_equal(ios[i].ret, -EIO);
	assert_true(now_s() - t0 < 5);
	assert_true(now_s() - t0 >= 0.9);
	/* new requests fail fast while it is away (the loop keeps turning for blocking
	 * callers: they drive nothing themselves) */
	t0 = now_s();
	assert_int_equal(blk_pread(bs, 0, bufs[0], BS), -EIO);
	assert_true(now_s() - t0 < 1);
	/* the server comes back: the reconnect thread finds it */
	start(plain);
	t0 = now_s();
	while (now_s() - t0 < 10 && (r = blk_pread(bs, 0, bufs[0], BS)) < 0)
		aio_poll(ctx, false);
	assert_int_equal(r, 0);
	blk_close(bs);
	aio_ctx_free(ctx);
}

/* In-flight writes are retried on the new connection when the server is back in time;
 * writes acknowledged before the loss make the next flush fail (once). */
static void test_reconnect_retry(void **state)
{
	char path[128], farg[160];
	const char *args[] = { "--filter=delay", "file", farg, "delay-write=1", NULL };
	const char *plain[] = { "file", farg, NULL };
	static struct io ios[8];
	static uint8_t bufs[8][BS];
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	uint8_t buf[BS];
	int pending = 8;
	double t0;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/disk", srv.dir);
	snprintf(farg, sizeof(farg), "file=%s", path);
	f = fopen(path, "w");
	assert_int_equal(ftruncate(fileno(f), 4 * MiB), 0);
	fclose(f);
	start(plain);
	bs = open_cfg("@driver=nbd@server=unix:%s@reconnect-timeout=20", srv.sock);
	fill(buf, BS, 1 * MiB, 9);
	assert_int_equal(blk_pwrite(bs, 1 * MiB, buf, BS, 0), 0); /* acknowledged, not flushed */
	test_server_kill(&srv, SIGKILL);
	start(args); /* slow writes now */
	/* the read finds the connection gone, waits for the reconnect and succeeds */
	assert_int_equal(blk_pread(bs, 1 * MiB, buf, BS), 0);
	check(buf, BS, 1 * MiB, 9);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	for (int i = 0; i < 8; i++) {
		fill(bufs[i], BS, (uint64_t)i * BS, 5);
		io_prep(&ios[i], &pending, BLK_OP_WRITE, (uint64_t)i * BS, bufs[i], i & 1);
		blk_req_submit(bs, &ios[i].req);
	}
	t0 = now_s();
	while (now_s() - t0 < 0.3) /* sent, the server sits on them for 1 s */
		aio_poll(ctx, false);
	assert_int_equal(pending, 8);
	test_server_kill(&srv, SIGKILL);
	start(plain);
	run_until(ctx, &pending, 20);
	for (int i = 0; i < 8; i++)
		assert_int_equal(ios[i].ret, 0);
	blk_attach_ctx(bs, NULL);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(blk_pread(bs, (uint64_t)i * BS, buf, BS), 0);
		check(buf, BS, (uint64_t)i * BS, 5);
	}
	assert_int_equal(blk_flush(bs), -EIO);
	assert_int_equal(blk_flush(bs), 0);
	blk_close(bs);
	aio_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test_setup_teardown(test_blocking_rw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rmw_min_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_server, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_retry, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
