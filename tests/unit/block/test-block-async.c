/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Async requests: native paths (memory, file with io_uring, raw forwarding) and the
 * thread-pool fallback (aio=threads), many in flight, completions in the loop thread. */
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

#include "block/block.h"
#include "util/aio.h"
#include "util/err.h"

#define QD 64
#define BS 4096

struct io {
	struct blk_req req;
	struct iovec iov;
	int *pending;
	int ret;
	pthread_t done_in;
};

static void io_done(struct blk_req *req, int ret)
{
	struct io *io = (struct io *)req;

	io->ret = ret;
	io->done_in = pthread_self();
	(*io->pending)--;
}

static uint8_t tag(uint64_t blk, int gen)
{
	return (uint8_t)(blk * 31 + (uint64_t)gen * 7 + 1);
}

/* Write then read back QD blocks at once, checking data and the completion thread. */
static void run_rw(const char *cfg, int rounds)
{
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs = NULL;
	static struct io ios[QD];
	static uint8_t bufs[QD][BS] __attribute__((aligned(4096)));
	struct err err;
	int pending;

	err_init(&err);
	if (blk_open_str(cfg, BLK_O_RDWR, &bs, &err) < 0)
		fail_msg("open %s: %s", cfg, err.msg);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	for (int gen = 0; gen < rounds; gen++) {
		for (int op = 0; op < 2; op++) {
			pending = QD;
			for (int i = 0; i < QD; i++) {
				uint64_t blk = (uint64_t)((i * 37 + gen * 11) % 256);

				if (op == 0)
					memset(bufs[i], tag(blk, gen), BS);
				else
					memset(bufs[i], 0, BS);
				ios[i] = (struct io){ .pending = &pending, .ret = 1 };
				ios[i].iov = (struct iovec){ bufs[i], BS };
				ios[i].req.op = op == 0 ? BLK_OP_WRITE : BLK_OP_READ;
				ios[i].req.off = blk * BS;
				ios[i].req.len = BS;
				ios[i].req.iov = &ios[i].iov;
				ios[i].req.iovcnt = 1;
				ios[i].req.flags = (op == 0 && i % 5 == 0) ? BLK_REQ_FUA : 0;
				ios[i].req.cb = io_done;
				blk_req_submit(bs, &ios[i].req);
			}
			while (pending > 0)
				aio_poll(ctx, true);
			for (int i = 0; i < QD; i++) {
				uint64_t blk = (uint64_t)((i * 37 + gen * 11) % 256);

				assert_int_equal(ios[i].ret, 0);
				assert_true(pthread_equal(ios[i].done_in, pthread_self()));
				if (op == 1)
					for (int k = 0; k < BS; k++)
						if (bufs[i][k] != tag(blk, gen))
							fail_msg("%s: block %llu byte %d", cfg,
								 (unsigned long long)blk, k);
			}
		}
	}
	/* a flush and an out-of-range request */
	pending = 2;
	ios[0] = (struct io){ .pending = &pending, .ret = 1 };
	ios[0].req.op = BLK_OP_FLUSH;
	ios[0].req.cb = io_done;
	blk_req_submit(bs, &ios[0].req);
	ios[1] = (struct io){ .pending = &pending, .ret = 1 };
	ios[1].iov = (struct iovec){ bufs[1], BS };
	ios[1].req = (struct blk_req){ .op = BLK_OP_READ,
				       .off = 1ull << 40,
				       .len = BS,
				       .iov = &ios[1].iov,
				       .iovcnt = 1,
				       .cb = io_done };
	blk_req_submit(bs, &ios[1].req);
	while (pending > 0)
		aio_poll(ctx, true);
	assert_int_equal(ios[0].ret, 0);
	assert_int_equal(ios[1].ret, -EINVAL);
	blk_close(bs);
	aio_ctx_free(ctx);
}

static char tmpimg[64];

static int make_img(void **state)
{
	int fd;

	(void)state;
	snprintf(tmpimg, sizeof(tmpimg), "/tmp/qt-async-XXXXXX");
	fd = mkstemp(tmpimg);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 256 * BS), 0);
	close(fd);
	return 0;
}

static int rm_img(void **state)
{
	(void)state;
	unlink(tmpimg);
	return 0;
}

static void test_memory(void **state)
{
	(void)state;
	run_rw("@driver=memory@size=1M", 3);
}

static void test_file_uring(void **state)
{
	char cfg[128];

	(void)state;
	snprintf(cfg, sizeof(cfg), "@file=%s@format=raw@aio=io_uring", tmpimg);
	run_rw(cfg, 3);
}

static void test_file_threads(void **state)
{
	char cfg[128];

	(void)state;
	snprintf(cfg, sizeof(cfg), "@file=%s@format=raw@aio=threads", tmpimg);
	run_rw(cfg, 3);
}

static void test_raw_window(void **state)
{
	char cfg[160];

	(void)state;
	snprintf(cfg, sizeof(cfg), "@file=%s@format=raw@offset=4096@size=1044480", tmpimg);
	/* reads/writes go to the child shifted by the offset */
	run_rw(cfg, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory),
		cmocka_unit_test_setup_teardown(test_file_uring, make_img, rm_img),
		cmocka_unit_test_setup_teardown(test_file_threads, make_img, rm_img),
		cmocka_unit_test_setup_teardown(test_raw_window, make_img, rm_img),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
