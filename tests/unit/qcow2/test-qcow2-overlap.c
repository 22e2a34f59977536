/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 overlap checks: the metadata map (meta.c) as a set against a model, kept exact
 * while tables and blocks are allocated, copied, grown and dropped (compared with the
 * map a fresh open builds), and the async fast path refusing writes into metadata.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "qcow2-test.h"
#include "util/aio.h"

#define KINDS 9
#define NKEYS 3000

/* Random adds and removes on a small key space (long probe chains, many backward shifts)
 * and on far apart keys; every key's kinds and L2 sharing match the model. */
static void test_map_model(void **state)
{
	static unsigned int kinds[NKEYS], refs[NKEYS];
	struct qcow2_state s = { .cluster_bits = 9 };
	unsigned int seed = 12345;

	(void)state;
	memset(kinds, 0, sizeof(kinds));
	memset(refs, 0, sizeof(refs));
	for (int op = 0; op < 200000; op++) {
		unsigned int i = (unsigned int)rand_r(&seed) % NKEYS;
		unsigned int kind = 1u << (rand_r(&seed) % KINDS);
		/* spread half of the keys over a 2^44-byte file */
		uint64_t c = i % 2 ? i : (uint64_t)i << 32;
		bool add = rand_r(&seed) % 5 < 3;

		if (add) {
			assert_int_equal(qcow2_meta_add(&s, c << 9, 512, kind), 0);
			kinds[i] |= kind;
			if (kind == QCOW2_OL_L2 && refs[i] < 127)
				refs[i]++;
		} else {
			qcow2_meta_remove(&s, c << 9, 512, kind);
			if (kind != QCOW2_OL_L2)
				kinds[i] &= ~kind;
			else if (refs[i] && refs[i] < 127 && !--refs[i])
				kinds[i] &= ~QCOW2_OL_L2;
		}
		if (op % 997 && op != 199999)
			continue;
		for (unsigned int k = 0; k < NKEYS; k++) {
			uint64_t ck = k % 2 ? k : (uint64_t)k << 32;
			unsigned int l2 =
				(kinds[k] & ~QCOW2_OL_L2) | (refs[k] > 1 ? QCOW2_OL_L2 : 0);

			assert_int_equal(qcow2_check_overlap(&s, ck << 9, 512, QCOW2_OL_DATA),
					 kinds[k]);
			assert_int_equal(qcow2_check_overlap(&s, ck << 9, 512, QCOW2_OL_L2), l2);
		}
	}
	/* a range touching two clusters sees both */
	qcow2_meta_remove(&s, 0, 1024, QCOW2_OL_RB);
	assert_int_equal(qcow2_meta_add(&s, 0, 1, QCOW2_OL_RB), 0);
	assert_int_equal(qcow2_meta_add(&s, 1023, 1, QCOW2_OL_RB), 0);
	assert_true(qcow2_check_overlap(&s, 511, 2, QCOW2_OL_DATA) & QCOW2_OL_RB);
	assert_int_equal(qcow2_check_overlap(&s, 511, 2, QCOW2_OL_DATA) & ~QCOW2_OL_RB,
			 (kinds[0] | kinds[1]) & ~QCOW2_OL_RB);
	qcow2_meta_free(&s);
}

/* The live map's kinds for every cluster of the file. */
static unsigned int *live_kinds(struct blk_node *bs, uint64_t *n)
{
	struct qcow2_state *s = qt_state(bs);
	unsigned int *k;

	*n = qt_file_size() >> s->cluster_bits;
	k = calloc(*n + 1, sizeof(*k));
	assert_non_null(k);
	qcow2_lock(s);
	for (uint64_t c = 0; c < *n; c++)
		k[c] = qcow2_check_overlap(s, c << s->cluster_bits, 1, QCOW2_OL_DATA);
	qcow2_unlock(s);
	return k;
}

/* Flush, remember the live map, close, reopen: the map built at open is the same. */
static struct blk_node *compare_reopened(struct blk_node *bs, const char *phase)
{
	unsigned int *a, *b;
	uint64_t na, nb;

	assert_int_equal(blk_flush(bs), 0);
	a = live_kinds(bs, &na);
	blk_close(bs);
	assert_int_equal(qt_check(), 0);
	bs = qt_open(NULL);
	b = live_kinds(bs, &nb);
	for (uint64_t c = 0; c < MAX(na, nb); c++) {
		unsigned int ka = c < na ? a[c] : 0, kb = c < nb ? b[c] : 0;

		if (ka != kb)
			fail_msg("%s: cluster %llu: live map 0x%x, after reopening 0x%x", phase,
				 (unsigned long long)c, ka, kb);
	}
	free(a);
	free(b);
	return bs;
}

static void write_at(struct blk_node *bs, uint64_t off, uint8_t v)
{
	uint8_t buf[4096];

	memset(buf, v, sizeof(buf));
	assert_int_equal(blk_pwrite(bs, off, buf, sizeof(buf), 0), 0);
}

/* 512-byte clusters, 64-bit refcounts (a refcount block covers 32 KiB, an L2 table
 * 32 KiB, the first refcount table 2 MiB), a snapshot sharing L2 tables: writes copy
 * tables and add refcount blocks, the refcount table grows, the L1 table grows, a discard
 * and a shrink drop entries and tables. */
static void test_map_exact(void **state)
{
	char cmd[256];
	struct blk_node *bs;
	struct err err;
	uint32_t rt0, l1_0;

	(void)state;
	qt_create("cluster_size=512,refcount_bits=64", "16M");
	snprintf(cmd, sizeof(cmd),
		 "qemu-io -c 'write -P 0x11 0 1M' -c 'write -P 0x12 8M 1M' %s >/dev/null && "
		 "qemu-img snapshot -c s1 %s",
		 qt_img, qt_img);
	assert_int_equal(system(cmd), 0);
	bs = qt_open(NULL);
	rt0 = qt_state(bs)->rt_clusters;
	l1_0 = qt_state(bs)->l1_size;
	for (uint64_t off = 0; off < (16ull << 20); off += 256 << 10)
		write_at(bs, off + 4096, (uint8_t)(off >> 18));
	bs = compare_reopened(bs, "snapshot tables copied");
	for (uint64_t off = 0; off < (16ull << 20); off += 32 << 10)
		write_at(bs, off + 8192, 0x33);
	assert_true(qt_state(bs)->rt_clusters > rt0);
	bs = compare_reopened(bs, "refcount table grown");
	err_init(&err);
	assert_int_equal(blk_truncate(bs, 64ull << 20, &err), 0);
	assert_true(qt_state(bs)->l1_size > l1_0);
	for (uint64_t off = 16ull << 20; off < (64ull << 20); off += 2 << 20)
		write_at(bs, off, 0x44);
	bs = compare_reopened(bs, "L1 table grown");
	assert_int_equal(blk_discard(bs, 0, 4 << 20), 0);
	assert_int_equal(blk_truncate(bs, 8ull << 20, &err), 0);
	bs = compare_reopened(bs, "discarded and shrunk");
	blk_close(bs);
	unlink(qt_img);
}

/* ---- the async fast path ------------------------------------------------------------ */

static void async_done(struct blk_req *req, int ret)
{
	*(int *)req->opaque = ret;
}

static int async_write(struct aio_ctx *ctx, struct blk_node *bs, uint64_t off, uint8_t v)
{
	static uint8_t buf[4096] __attribute__((aligned(4096)));
	struct iovec iov = { buf, sizeof(buf) };
	int ret = 1;
	struct blk_req req = { .op = BLK_OP_WRITE,
			       .off = off,
			       .len = sizeof(buf),
			       .iov = &iov,
			       .iovcnt = 1,
			       .cb = async_done,
			       .opaque = &ret };

	memset(buf, v, sizeof(buf));
	blk_req_submit(bs, &req);
	while (ret == 1)
		aio_poll(ctx, true);
	return ret;
}

static void patch_be64(uint64_t off, uint64_t v)
{
	int fd = open(qt_img, O_RDWR);
	uint64_t be = htobe64(v);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &be, 8, (off_t)off), 8);
	close(fd);
}

static void read_file(uint64_t off, void *buf, size_t len)
{
	int fd = open(qt_img, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static bool corrupt_bit_on_disk(void)
{
	uint8_t b;

	read_file(79, &b, 1);
	return b & 2;
}

/* An L2 entry pointing at the refcount block: the in-place write the fast path would
 * forward is refused with EIO, the block is not touched, the image is marked corrupt. */
static void test_async_into_refcount_block(void **state)
{
	static uint8_t before[65536], after[65536];
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	struct qcow2_state *s;
	uint64_t l2, rb, fast;
	uint8_t buf[4096];

	(void)state;
	qt_create("cluster_size=64k,preallocation=metadata", "64M");
	bs = qt_open(NULL);
	s = qt_state(bs);
	l2 = s->l1[0] & QCOW2_L1E_OFFSET_MASK;
	rb = s->rt[0];
	blk_close(bs);
	patch_be64(l2 + 8, rb | QCOW2_OFLAG_COPIED); /* guest cluster 1 */
	read_file(rb, before, sizeof(before));

	bs = qt_open(NULL);
	s = qt_state(bs);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	assert_int_equal(blk_pread(bs, 0, buf, sizeof(buf)), 0); /* caches the L2 slice */
	fast = s->stat_fast_rw;
	assert_int_equal(async_write(ctx, bs, 2 << 16, 0x22), 0); /* a good cluster: fast */
	assert_int_equal(s->stat_fast_rw, fast + 1);
	assert_int_equal(async_write(ctx, bs, (1 << 16) + 4096, 0x77), -EIO);
	assert_int_equal(s->stat_fast_rw, fast + 1);
	assert_true(s->corrupt);
	assert_int_equal(async_write(ctx, bs, 2 << 16, 0x23), -EIO); /* everything refused */
	blk_close(bs);
	aio_ctx_free(ctx);
	read_file(rb, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_true(corrupt_bit_on_disk());
	unlink(qt_img);
}

/* Two L1 entries share one L2 table, both marked COPIED: an allocating write the fast path
 * would do in the loop (ready reservation, cached slice) is refused before anything is
 * allocated; the table is not touched. */
static void test_async_shared_l2(void **state)
{
	static uint8_t before[65536], after[65536];
	struct aio_ctx *ctx = aio_ctx_new();
	struct blk_node *bs;
	struct qcow2_state *s;
	uint64_t l1, e0, alloc;
	uint8_t buf[4096];

	(void)state;
	qt_create("cluster_size=64k", "2G");
	bs = qt_open(NULL);
	write_at(bs, 0, 0x10);
	write_at(bs, 512ull << 20, 0x11);
	write_at(bs, 1ull << 30, 0x12);
	s = qt_state(bs);
	l1 = s->l1_offset;
	e0 = s->l1[0];
	blk_close(bs);
	patch_be64(l1 + 8, e0); /* L1 entry 1 = L1 entry 0 */
	read_file(e0 & QCOW2_L1E_OFFSET_MASK, before, sizeof(before));

	bs = qt_open(NULL);
	s = qt_state(bs);
	assert_int_equal(blk_attach_ctx(bs, ctx), 0);
	write_at(bs, (1ull << 30) + (1 << 16), 0x13); /* fills the reserve */
	assert_int_equal(blk_flush(bs), 0);
	assert_int_equal(blk_pread(bs, (1ull << 30) + (2 << 16), buf, sizeof(buf)), 0);
	assert_int_equal(blk_pread(bs, (512ull << 20) + (2 << 16), buf, sizeof(buf)), 0);
	alloc = s->stat_fast_alloc;
	/* an unshared table: allocated in the loop */
	assert_int_equal(async_write(ctx, bs, (1ull << 30) + (2 << 16), 0x14), 0);
	assert_int_equal(s->stat_fast_alloc, alloc + 1);
	assert_int_equal(async_write(ctx, bs, (512ull << 20) + (2 << 16), 0x15), -EIO);
	assert_int_equal(s->stat_fast_alloc, alloc + 1);
	assert_true(s->corrupt);
	blk_close(bs);
	aio_ctx_free(ctx);
	read_file(e0 & QCOW2_L1E_OFFSET_MASK, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_true(corrupt_bit_on_disk());
	unlink(qt_img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map_model),
		cmocka_unit_test(test_map_exact),
		cmocka_unit_test(test_async_into_refcount_block),
		cmocka_unit_test(test_async_shared_l2),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
