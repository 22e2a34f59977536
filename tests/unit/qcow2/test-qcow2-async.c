/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The qcow2 async fast path: mapped clusters go straight to the file (one or several
 * child requests), everything else through the thread pool; data and flushes correct. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "qcow2-test.h"
#include "util/aio.h"

#define QD 64
#define BS 4096
#define MAXLEN (192 * 1024)

struct io {
	struct blk_req req;
	struct iovec iov[3];
	int *pending;
	int ret;
};

static uint8_t bufs[QD][MAXLEN] __attribute__((aligned(4096)));
static struct io ios[QD];

static void io_done(struct blk_req *req, int ret)
{
	struct io *io = (struct io *)req;

	io->ret = ret;
	(*io->pending)--;
}

static uint8_t tag(uint64_t off, int gen)
{
	return (uint8_t)((off >> 12) * 13 + (uint64_t)gen * 7 + 1);
}

/* QD requests of @len at offsets i*stride+skew, as three iovecs each; then wait. */
static void run(struct aio_ctx *ctx, struct blk_node *bs, enum blk_op op, uint64_t stride,
		uint64_t skew, uint64_t len, int gen)
{
	int pending = QD;

	for (int i = 0; i < QD; i++) {
		uint64_t off = (uint64_t)i * stride + skew;
		size_t a = len / 4, b = len / 2;

		if (op == BLK_OP_WRITE)
			memset(bufs[i], tag(off, gen), len);
		else
			memset(bufs[i], 0xee, len);
		ios[i] = (struct io){ .pending = &pending, .ret = 1 };
		ios[i].iov[0] = (struct iovec){ bufs[i], a };
		ios[i].iov[1] = (struct iovec){ bufs[i] + a, b };
		ios[i].iov[2] = (struct iovec){ bufs[i] + a + b, len - a - b };
		ios[i].req = (struct blk_req){ .op = op,
					       .off = off,
					       .len = len,
					       .iov = ios[i].iov,
					       .iovcnt = 3,
					       .cb = io_done };
		blk_req_submit(bs, &ios[i].req);
	}
	while (pending > 0)
		aio_poll(ctx, true);
	for (int i = 0; i < QD; i++) {
		uint64_t off = (uint64_t)i * stride + skew;

		assert_int_equal(ios[i].ret, 0);
		if (op == BLK_OP_READ)
			for (uint64_t k = 0; k < len; k++)
				if (bufs[i][k] != tag(off, gen))
					fail_msg("offset %llu+%llu: 0x%02x, want 0x%02x",
						 (unsigned long long)off, (unsigned long long)k,
						 bufs[i][k], tag(off, gen));
	}
}

static int flush_async(struct aio_ctx *ctx, struct blk_node *bs)
{
	int pending = 1;

	ios[0] = (struct io){ .pending = &pending, .ret = 1 };
	ios[0].req = (struct blk_req){ .op = BLK_OP_FLUSH, .cb = io_done };
	blk_req_submit(bs, &ios[0].req);
	while (pending > 0)
		aio_poll(ctx, true);
	return ios[0].ret;
}

/* Close (which flushes), qemu-img check finds the image clean, open it again in a new loop. */
static struct blk_node *reopen_checked(struct blk_node *bs, struct aio_ctx **ctx)
{
	blk_close(bs);
	aio_ctx_free(*ctx);
	assert_int_equal(qt_check(), 0);
	bs = qt_open(NULL);
	*ctx = aio_ctx_new();
	assert_int_equal(blk_attach_ctx(bs, *ctx), 0);
	return bs;
}

static void test_prealloc_fast(void **state)
{
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	struct qcow2_state *s;
	uint64_t fast;

	(void)state;
	qt_create("preallocation=metadata", "64M");
	bs = qt_open(NULL);
	s = qt_state(bs);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	run(ctx, bs, BLK_OP_WRITE, 1 << 20, 0, BS, 1); /* warms the L2 slices */
	fast = s->stat_fast_rw;
	for (int gen = 2; gen < 5; gen++) {
		run(ctx, bs, BLK_OP_WRITE, 1 << 20, 8192, 3 * BS, gen);
		run(ctx, bs, BLK_OP_READ, 1 << 20, 8192, 3 * BS, gen);
		/* spanning three clusters, starting mid-cluster */
		run(ctx, bs, BLK_OP_WRITE, 1 << 20, 32768, 160 * 1024, gen);
		run(ctx, bs, BLK_OP_READ, 1 << 20, 32768, 160 * 1024, gen);
	}
	assert_int_equal(s->stat_fast_rw - fast, 12 * QD);
	fast = s->stat_fast_flush;
	assert_int_equal(flush_async(ctx, bs), 0);
	assert_int_equal(s->stat_fast_flush, fast + 1);
	blk_close(bs);
	aio_ctx_free(ctx);
	assert_int_equal(qt_check(), 0);
	unlink(qt_img);
}

/* Empty image: allocating writes go to the pool; reads of scattered clusters take the
 * fast path with several children; unallocated reads are zero-filled. */
static void test_empty_mixed(void **state)
{
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	struct qcow2_state *s;
	int pending = 1;

	(void)state;
	qt_create("cluster_size=64k", "128M");
	bs = qt_open(NULL);
	s = qt_state(bs);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	/* reverse order, so neighbouring guest clusters are not neighbours on the host */
	for (int i = 127; i >= 0; i--) {
		uint8_t b[BS];

		memset(b, tag((uint64_t)i << 16, 9), BS);
		for (uint64_t k = 0; k < 16; k++)
			assert_int_equal(blk_pwrite(bs, ((uint64_t)i << 16) + k * BS, b, BS, 0), 0);
	}
	run(ctx, bs, BLK_OP_WRITE, 2 << 20, 65536, 2 * BS, 3); /* 64 new clusters via the pool */
	run(ctx, bs, BLK_OP_READ, 2 << 20, 65536, 2 * BS, 3);
	assert_int_equal(flush_async(ctx, bs), 0); /* dirty metadata: the pool path */
	{
		uint64_t fast = s->stat_fast_rw;

		/* 128 KiB starting in cluster 0 spans clusters 0-2, mapped non-contiguously */
		memset(bufs[0], 0xee, 3 * BS);
		ios[0] = (struct io){ .pending = &pending, .ret = 1 };
		ios[0].iov[0] = (struct iovec){ bufs[0], 3 * BS };
		ios[0].req = (struct blk_req){ .op = BLK_OP_READ,
					       .off = 65536 - BS,
					       .len = 3 * BS,
					       .iov = ios[0].iov,
					       .iovcnt = 1,
					       .cb = io_done };
		blk_req_submit(bs, &ios[0].req);
		while (pending > 0)
			aio_poll(ctx, true);
		assert_int_equal(ios[0].ret, 0);
		assert_int_equal(s->stat_fast_rw, fast + 1);
		assert_int_equal(bufs[0][0], tag(0, 9));
		assert_int_equal(bufs[0][BS], tag(1 << 16, 3)); /* the QD run rewrote it */
		assert_int_equal(bufs[0][2 * BS], tag(1 << 16, 3));
	}
	/* unallocated: zero-filled in the fast path */
	run(ctx, bs, BLK_OP_WRITE, 1 << 20, 64ull << 20, BS, 4);
	pending = 1;
	memset(bufs[1], 0xee, BS);
	ios[1] = (struct io){ .pending = &pending, .ret = 1 };
	ios[1].iov[0] = (struct iovec){ bufs[1], BS };
	ios[1].req = (struct blk_req){ .op = BLK_OP_READ,
				       .off = (64ull << 20) + BS,
				       .len = BS,
				       .iov = ios[1].iov,
				       .iovcnt = 1,
				       .cb = io_done };
	blk_req_submit(bs, &ios[1].req);
	while (pending > 0)
		aio_poll(ctx, true);
	assert_int_equal(ios[1].ret, 0);
	for (int k = 0; k < BS; k++)
		assert_int_equal(bufs[1][k], 0);
	bs = reopen_checked(bs, &ctx); /* and everything is there after reopening */
	run(ctx, bs, BLK_OP_READ, 2 << 20, 65536, 2 * BS, 3);
	run(ctx, bs, BLK_OP_READ, 1 << 20, 64ull << 20, BS, 4);
	blk_close(bs);
	aio_ctx_free(ctx);
	unlink(qt_img);
}

/* Empty image: writes into unallocated (or zeroed) clusters take reserved clusters in the
 * loop; two writes into one new cluster in the same batch (one waits for the other);
 * everything reads back after a flush and a reopen, and qemu-img check finds it clean. */
static void test_alloc_fast(void **state)
{
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	struct qcow2_state *s;
	uint8_t b[BS];

	(void)state;
	qt_create("cluster_size=64k", "256M");
	bs = qt_open(NULL);
	s = qt_state(bs);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	/* no reservation yet: the first allocations go through the pool and reserve */
	run(ctx, bs, BLK_OP_WRITE, 1 << 20, 0, BS, 1);
	assert_int_equal(flush_async(ctx, bs), 0);
	/* ready reservations and cached L2 slices: the whole batch allocates in the loop */
	for (int i = 0; i < QD; i++)
		assert_int_equal(blk_pread(bs, (128ull << 20) + ((uint64_t)i << 20), b, BS), 0);
	{
		uint64_t alloc = s->stat_fast_alloc;

		run(ctx, bs, BLK_OP_WRITE, 1 << 20, 128ull << 20, BS, 2);
		assert_int_equal(s->stat_fast_alloc - alloc, QD);
	}
	/* a zeroed cluster is allocated again; two writes into one new cluster */
	assert_int_equal(blk_write_zeroes(bs, 0, 65536, BLK_REQ_MAY_UNMAP), 0);
	run(ctx, bs, BLK_OP_WRITE, 8192, 0, BS, 3);
	run(ctx, bs, BLK_OP_READ, 8192, 0, BS, 3);
	run(ctx, bs, BLK_OP_READ, 1 << 20, 128ull << 20, BS, 2);
	assert_int_equal(blk_pread(bs, BS, b, BS), 0); /* between the writes: zeroes */
	assert_int_equal(b[0], 0);
	assert_int_equal(flush_async(ctx, bs), 0);
	bs = reopen_checked(bs, &ctx);
	run(ctx, bs, BLK_OP_READ, 1 << 20, 128ull << 20, BS, 2);
	run(ctx, bs, BLK_OP_READ, 8192, 0, BS, 3);
	blk_close(bs);
	aio_ctx_free(ctx);
	unlink(qt_img);
}

/* The backing file's byte at @off (it is 2 MiB + 12 KiB: its end is inside a cluster). */
static uint8_t bpat(uint64_t off)
{
	return (uint8_t)(off / 512 * 7 + 3);
}

#define BACKING_LEN ((2u << 20) + 12288u)

/* One async request of @len at @off over three iovecs of bufs[0] (a read fills it with 0xee
 * first); the result. */
static int one_async(struct aio_ctx *ctx, struct blk_node *bs, enum blk_op op, uint64_t off,
		     uint64_t len)
{
	int pending = 1;
	size_t a = len / 3, b = len / 3;

	if (op == BLK_OP_READ)
		memset(bufs[0], 0xee, len);
	ios[0] = (struct io){ .pending = &pending, .ret = 1 };
	ios[0].iov[0] = (struct iovec){ bufs[0], a };
	ios[0].iov[1] = (struct iovec){ bufs[0] + a, b };
	ios[0].iov[2] = (struct iovec){ bufs[0] + a + b, len - a - b };
	ios[0].req = (struct blk_req){
		.op = op, .off = off, .len = len, .iov = ios[0].iov, .iovcnt = 3, .cb = io_done
	};
	blk_req_submit(bs, &ios[0].req);
	while (pending > 0)
		aio_poll(ctx, true);
	return ios[0].ret;
}

static int read_async(struct aio_ctx *ctx, struct blk_node *bs, uint64_t off, uint64_t len)
{
	return one_async(ctx, bs, BLK_OP_READ, off, len);
}

/* Write @len bytes of @v at @off asynchronously; whether it took the fast allocating path. */
static bool write_fast_alloc(struct aio_ctx *ctx, struct blk_node *bs, uint64_t off, uint64_t len,
			     uint8_t v)
{
	uint64_t alloc = qt_state(bs)->stat_fast_alloc;

	memset(bufs[0], v, len);
	assert_int_equal(one_async(ctx, bs, BLK_OP_WRITE, off, len), 0);
	return qt_state(bs)->stat_fast_alloc == alloc + 1;
}

/* bufs[0][0..len) after a read of @off: @v inside [woff, woff + wlen), zeroes elsewhere. */
static void expect_only(uint64_t off, uint64_t len, uint64_t woff, uint64_t wlen, uint8_t v)
{
	for (uint64_t k = 0; k < len; k++) {
		uint8_t want = off + k >= woff && off + k < woff + wlen ? v : 0;

		if (bufs[0][k] != want)
			fail_msg("offset %llu: 0x%02x, want 0x%02x", (unsigned long long)(off + k),
				 bufs[0][k], want);
	}
}

/* Allocating writes over several clusters take the fast path as one run of reserved
 * clusters when their entries share an L2 slice; the rest of the first and last cluster
 * reads as zeroes; a write across a slice boundary goes through the pool; QD writes of
 * four clusters each mix both paths; all of it reads back after a reopen, qemu-img check
 * is clean and qemu-io reads the same bytes. */
static void test_alloc_fast_multi(void **state)
{
	const uint64_t slice_span = 512ull * 65536; /* 4 KiB of L2 entries: 32 MiB */
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	char cmd[256];

	(void)state;
	qt_create("cluster_size=64k", "256M");
	bs = qt_open(NULL);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	/* the first allocation reserves; a flush makes the reservation ready */
	assert_false(write_fast_alloc(ctx, bs, 0, BS, 0x11));
	assert_int_equal(flush_async(ctx, bs), 0);
	/* three clusters (1..3), starting and ending inside them */
	assert_true(write_fast_alloc(ctx, bs, 65536 + 5120, 2 * 65536 + 8192, 0x22));
	assert_int_equal(read_async(ctx, bs, 65536, 3 * 65536), 0);
	expect_only(65536, 3 * 65536, 65536 + 5120, 2 * 65536 + 8192, 0x22);
	/* across the first slice's end: the pool */
	assert_false(write_fast_alloc(ctx, bs, slice_span - 65536, 2 * 65536, 0x33));
	assert_int_equal(read_async(ctx, bs, slice_span - 65536, 2 * 65536), 0);
	expect_only(slice_span - 65536, 2 * 65536, slice_span - 65536, 2 * 65536, 0x33);
	/* 64 writes of 192 KiB at 1 MiB strides from 32 KiB: four clusters each */
	run(ctx, bs, BLK_OP_WRITE, 1 << 20, (64ull << 20) + 32768, MAXLEN, 4);
	run(ctx, bs, BLK_OP_READ, 1 << 20, (64ull << 20) + 32768, MAXLEN, 4);
	assert_int_equal(flush_async(ctx, bs), 0);
	bs = reopen_checked(bs, &ctx);
	assert_int_equal(read_async(ctx, bs, 65536, 3 * 65536), 0);
	expect_only(65536, 3 * 65536, 65536 + 5120, 2 * 65536 + 8192, 0x22);
	run(ctx, bs, BLK_OP_READ, 1 << 20, (64ull << 20) + 32768, MAXLEN, 4);
	blk_close(bs);
	aio_ctx_free(ctx);
	snprintf(cmd, sizeof(cmd),
		 "qemu-io -f qcow2 -c 'read -P 0 65536 5120' -c 'read -P 0x22 70656 139264' "
		 "-c 'read -P 0 209920 52224' %s >/dev/null",
		 qt_img);
	assert_int_equal(system(cmd), 0);
	unlink(qt_img);
}

/* Reads of unallocated clusters of an overlay go to its (shorter) backing file on the
 * fast path: wholly inside it, across its end (zeroes after), beyond it, and mixed with
 * allocated clusters of the overlay in one request. */
static void test_backing_reads(void **state)
{
	static const uint64_t cases[][2] = {
		{ 4096, 8192 },			  /* unallocated, in the backing file */
		{ 60 * 1024, 96 * 1024 },	  /* backing, overlay cluster 1, backing */
		{ (2u << 20) - 4096, 32768 },	  /* across the backing file's end */
		{ (3u << 20) + 512, 4096 },	  /* beyond it: zeroes */
		{ 0, MAXLEN },			  /* three clusters, one allocated */
		{ (2u << 20) + 8192, 64 * 1024 }, /* the last backing sector, then zeroes */
	};
	char backing[64], cmd[256];
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	struct qcow2_state *s;
	uint8_t *b = malloc(BACKING_LEN);
	FILE *f;
	int fd;

	(void)state;
	snprintf(backing, sizeof(backing), "/tmp/qt-qcow2-backing-XXXXXX");
	fd = mkstemp(backing);
	assert_true(fd >= 0);
	close(fd);
	for (uint32_t i = 0; i < BACKING_LEN; i++)
		b[i] = bpat(i);
	f = fopen(backing, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, BACKING_LEN, f), BACKING_LEN);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "cluster_size=64k,backing_file=%s,backing_fmt=raw", backing);
	qt_create(cmd, "4M");
	bs = qt_open(NULL);
	s = qt_state(bs);
	memset(b, 0x77, 65536);
	assert_int_equal(blk_pwrite(bs, 65536, b, 65536, 0), 0); /* overlay cluster 1 */
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		uint64_t off = cases[c][0], len = cases[c][1], fast = s->stat_fast_rw;

		assert_int_equal(read_async(ctx, bs, off, len), 0);
		assert_int_equal(s->stat_fast_rw, fast + 1);
		for (uint64_t k = 0; k < len; k++) {
			uint64_t o = off + k;
			uint8_t want = o >= 65536 && o < 131072 ? 0x77
				       : o < BACKING_LEN	? bpat(o)
								: 0;

			if (bufs[0][k] != want)
				fail_msg("case %zu: offset %llu: 0x%02x, want 0x%02x", c,
					 (unsigned long long)o, bufs[0][k], want);
		}
	}
	blk_close(bs);
	aio_ctx_free(ctx);
	free(b);
	unlink(qt_img);
	unlink(backing);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prealloc_fast), cmocka_unit_test(test_empty_mixed),
		cmocka_unit_test(test_alloc_fast),    cmocka_unit_test(test_alloc_fast_multi),
		cmocka_unit_test(test_backing_reads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
