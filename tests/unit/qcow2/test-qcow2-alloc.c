/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2 allocation: concurrent writers on shared clusters, refcount-table growth, reuse of
 * discarded clusters, lazy-refcount repair after a crash; qemu-img check is the oracle. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "qcow2-test.h"
#include "util/iov.h"

#define BLK 4096
#define THREADS 8
#define IMG_BLOCKS 2048 /* 8 MiB */

struct writer {
	struct blk_node *bs;
	int id;
	int ret;
};

static uint8_t val(uint64_t blk, int round)
{
	return (uint8_t)(blk * 7 + (uint64_t)round * 31 + 1);
}

/* Thread t owns blocks with blk % THREADS == t: neighbours share every 64 KiB cluster, so
 * allocations of one cluster race and must serialise without losing data. */
static void *writer_fn(void *opaque)
{
	struct writer *w = opaque;
	uint8_t buf[BLK];

	for (int round = 0; round < 2 && !w->ret; round++) {
		for (uint64_t blk = (uint64_t)w->id; blk < IMG_BLOCKS && !w->ret; blk += THREADS) {
			memset(buf, val(blk, round), BLK);
			w->ret = blk_pwrite(w->bs, blk * BLK, buf, BLK, 0);
		}
	}
	return NULL;
}

static void verify(struct blk_node *bs, int round)
{
	uint8_t buf[BLK];

	for (uint64_t blk = 0; blk < IMG_BLOCKS; blk++) {
		assert_int_equal(blk_pread(bs, blk * BLK, buf, BLK), 0);
		for (int i = 0; i < BLK; i++)
			if (buf[i] != val(blk, round))
				fail_msg("block %llu byte %d: 0x%02x", (unsigned long long)blk, i,
					 buf[i]);
	}
}

static void concurrent(const char *opts)
{
	pthread_t th[THREADS];
	struct writer w[THREADS];
	struct blk_node *bs;

	qt_create(opts, "8M");
	bs = qt_open(NULL);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct writer){ .bs = bs, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, writer_fn, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ret, 0);
	}
	verify(bs, 1);
	blk_close(bs);
	assert_int_equal(qt_check(), 0);
	bs = qt_open(NULL);
	verify(bs, 1);
	blk_close(bs);
	unlink(qt_img);
}

static void test_concurrent_64k(void **state)
{
	(void)state;
	concurrent("cluster_size=64k");
}

static void test_concurrent_extl2(void **state)
{
	(void)state;
	concurrent("cluster_size=128k,extended_l2=on");
}

/* 512-byte clusters with 64-bit refcounts: a refcount block covers 32 KiB, the initial
 * table 2 MiB; 8 MiB of data grows the table several times. */
static void test_refcount_table_growth(void **state)
{
	struct blk_node *bs;
	uint32_t clusters0;

	(void)state;
	qt_create("cluster_size=512,refcount_bits=64", "8M");
	bs = qt_open(NULL);
	clusters0 = qt_state(bs)->rt_clusters;
	for (int round = 0; round < 2; round++) {
		uint8_t buf[BLK];

		for (uint64_t blk = 0; blk < IMG_BLOCKS; blk++) {
			memset(buf, val(blk, round), BLK);
			assert_int_equal(blk_pwrite(bs, blk * BLK, buf, BLK, 0), 0);
		}
	}
	assert_true(qt_state(bs)->rt_clusters > clusters0);
	verify(bs, 1);
	blk_close(bs);
	assert_int_equal(qt_check(), 0);
	unlink(qt_img);
}

/* Discarded clusters are reused once the discard is durable: the file does not grow. */
static void test_discard_reuse(void **state)
{
	static uint8_t buf[1 << 20];
	struct blk_node *bs;
	uint64_t size1;

	(void)state;
	qt_create("cluster_size=64k", "64M");
	bs = qt_open(NULL);
	memset(buf, 0x5a, sizeof(buf));
	for (uint64_t off = 0; off < (16u << 20); off += sizeof(buf))
		assert_int_equal(blk_pwrite(bs, off, buf, sizeof(buf), 0), 0);
	assert_int_equal(blk_flush(bs), 0);
	size1 = qt_file_size();
	assert_int_equal(blk_discard(bs, 0, 16u << 20), 0);
	assert_int_equal(blk_flush(bs), 0);
	/* new data elsewhere: allocations after the discard became durable reuse the space */
	for (uint64_t off = 32u << 20; off < (48u << 20); off += sizeof(buf)) {
		assert_int_equal(blk_pwrite(bs, off, buf, sizeof(buf), 0), 0);
		assert_int_equal(blk_flush(bs), 0);
	}
	assert_true(qt_file_size() <= size1 + (2u << 20));
	assert_int_equal(blk_pread(bs, 0, buf, sizeof(buf)), 0);
	assert_true(buf_is_zero(buf, sizeof(buf)));
	blk_close(bs);
	assert_int_equal(qt_check(), 0);
	unlink(qt_img);
}

/* Set the 16-bit refcounts of clusters [first, last) in the first refcount block to @v,
 * as a power loss with lazy refcounts may leave them. */
static void set_refcounts(unsigned int first, unsigned int last, uint8_t v)
{
	uint8_t hdr[64], ent[8];
	uint64_t rt, rb;
	FILE *f = fopen(qt_img, "r+b");

	assert_non_null(f);
	assert_int_equal(fread(hdr, 1, sizeof(hdr), f), sizeof(hdr));
	rt = get_be64(hdr + QCOW2_HDR_RT_OFFSET);
	assert_int_equal(fseek(f, (long)rt, SEEK_SET), 0);
	assert_int_equal(fread(ent, 1, 8, f), 8);
	rb = get_be64(ent);
	for (unsigned int c = first; c < last; c++) {
		assert_int_equal(fseek(f, (long)(rb + 2 * c), SEEK_SET), 0);
		uint8_t be[2] = { 0, v };

		assert_int_equal(fwrite(be, 1, 2, f), 2);
	}
	fclose(f);
}

/* A writer with lazy refcounts dies (dirty bit set, refcounts stale): the next
 * read-write open rebuilds the refcounts. */
static void test_lazy_repair(void **state)
{
	static uint8_t buf[1 << 16];
	struct blk_node *bs;
	pid_t pid;
	int st;

	(void)state;
	qt_create("lazy_refcounts=on", "64M");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		bs = qt_open(NULL);
		memset(buf, 0x77, sizeof(buf));
		for (uint64_t off = 0; off < (8u << 20); off += 3 * sizeof(buf))
			if (blk_pwrite(bs, off, buf, sizeof(buf), 0) < 0)
				_exit(1);
		_exit(blk_flush(bs) < 0 ? 1 : 0); /* no close: the dirty bit stays */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	set_refcounts(4, 40, 0);
	assert_int_equal(qt_check(), 2); /* qemu-img sees the damage */
	bs = qt_open(NULL);
	for (uint64_t off = 0; off < (8u << 20); off += 3 * sizeof(buf)) {
		assert_int_equal(blk_pread(bs, off, buf, sizeof(buf)), 0);
		assert_int_equal(buf[0], 0x77);
		assert_int_equal(buf[sizeof(buf) - 1], 0x77);
	}
	blk_close(bs);
	assert_int_equal(qt_check(), 0);
	unlink(qt_img);
}

/* The crash left refcounts for clusters beyond the end of the file (reservations whose
 * file extension was lost): the repair clears them too, so later allocations do not skip
 * them and leave them leaked inside the grown file. */
static void test_lazy_repair_beyond_eof(void **state)
{
	static uint8_t buf[1 << 16];
	struct blk_node *bs;
	uint64_t end, rc = 0;
	pid_t pid;
	int st;

	(void)state;
	qt_create("lazy_refcounts=on", "64M");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		bs = qt_open(NULL);
		memset(buf, 0x66, sizeof(buf));
		_exit(blk_pwrite(bs, 0, buf, sizeof(buf), 0) < 0 || blk_flush(bs) < 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(truncate(qt_img, (off_t)(qt_file_size() & ~0xffffull)), 0);
	end = qt_file_size() >> 16;
	set_refcounts((unsigned int)end + 3, (unsigned int)end + 30, 1);
	bs = qt_open(NULL);
	qcow2_lock(qt_state(bs));
	for (uint64_t c = end; c < end + 40; c++) {
		assert_int_equal(qcow2_get_refcount(bs, c, &rc), 0);
		if (rc)
			fail_msg("cluster %llu beyond the end keeps refcount %llu",
				 (unsigned long long)c, (unsigned long long)rc);
	}
	qcow2_unlock(qt_state(bs));
	memset(buf, 0x67, sizeof(buf));
	for (uint64_t off = 1 << 20; off < (8u << 20); off += sizeof(buf))
		assert_int_equal(blk_pwrite(bs, off, buf, sizeof(buf), 0), 0);
	blk_close(bs);
	assert_int_equal(qt_check(), 0);
	unlink(qt_img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_64k),
		cmocka_unit_test(test_concurrent_extl2),
		cmocka_unit_test(test_refcount_table_growth),
		cmocka_unit_test(test_discard_reuse),
		cmocka_unit_test(test_lazy_repair),
		cmocka_unit_test(test_lazy_repair_beyond_eof),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
