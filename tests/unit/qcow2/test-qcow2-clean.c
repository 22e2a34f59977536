/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The metadata caches' memory.  cache-clean-interval: clean L2/refcount slices idle for an
 * interval are dropped and their memory is given back (RSS shrinks), as QEMU does; used slices
 * and dirty ones stay.  Large caches sit on huge-page boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "qcow2-test.h"

#define MIB (1024u * 1024u)
#define IMG_SIZE "1G" /* 4 KiB clusters: 512 L2 tables, 2 MiB of L2 */

static unsigned int cached(const struct qcow2_cache *c)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < c->n; i++)
		n += c->e[i].off != UINT64_MAX;
	return n;
}

static uint64_t rss_bytes(void)
{
	unsigned long size = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &rss), 2);
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Whether the mapping holding @p was advised for transparent huge pages (VmFlags "hg"). */
static bool huge_advised(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, hg = false;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in && !strncmp(line, "VmFlags:", 8))
			hg = strstr(line, " hg") != NULL;
	}
	fclose(f);
	return hg;
}

/* Touch every L2 table (block status of every 2 MiB) and the refcount blocks. */
static void touch_all(struct blk_node *bs)
{
	uint64_t len = (uint64_t)blk_getlength(bs), pnum;

	for (uint64_t off = 0; off < len; off += 2 * MIB)
		assert_true(blk_block_status(bs, off, 4096, &pnum, NULL, NULL) >= 0);
}

static void test_idle_slices_dropped(void **state)
{
	struct blk_node *bs;
	struct qcow2_state *s;
	uint64_t rss0, rss1;
	uint8_t buf[4096];

	(void)state;
	qt_create("cluster_size=4k,preallocation=metadata", IMG_SIZE);
	bs = qt_open("@cache-clean-interval=1@l2-cache-size=8M");
	s = qt_state(bs);
	assert_non_null(s->cleaner);
	touch_all(bs);
	rss0 = rss_bytes();
	assert_true(cached(&s->l2c) >= 512);
	/* unused for two passes: gone, memory returned */
	sleep(3);
	qcow2_lock(s);
	assert_int_equal(cached(&s->l2c), 0);
	assert_true(s->l2c.cleaned >= 512);
	qcow2_unlock(s);
	rss1 = rss_bytes();
	print_message("rss %llu KiB -> %llu KiB\n", (unsigned long long)(rss0 >> 10),
		      (unsigned long long)(rss1 >> 10));
	assert_true(rss1 + 3 * MIB / 2 < rss0);
	/* the cache refills on demand */
	memset(buf, 0x5c, sizeof(buf));
	assert_int_equal(blk_pwrite(bs, 768 * MIB, buf, sizeof(buf), 0), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(blk_pread(bs, 768 * MIB, buf, sizeof(buf)), 0);
	assert_int_equal(buf[4095], 0x5c);
	assert_true(cached(&s->l2c) >= 1);
	blk_close(bs);
	unlink(qt_img);
}

static void test_busy_and_dirty_slices_stay(void **state)
{
	struct blk_node *bs;
	struct qcow2_state *s;
	uint8_t buf[4096];

	(void)state;
	qt_create("cluster_size=4k", IMG_SIZE);
	bs = qt_open("@cache-clean-interval=1");
	s = qt_state(bs);
	memset(buf, 0x3a, sizeof(buf));
	assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf), 0), 0); /* dirty L2, no flush */
	for (int i = 0; i < 6; i++) {				     /* 3 s, in use */
		assert_int_equal(blk_pread(bs, 512 * MIB, buf, sizeof(buf)), 0);
		usleep(500 * 1000);
	}
	qcow2_lock(s);
	assert_non_null(qcow2_cache_lookup(&s->l2c, s->l1[0] & QCOW2_L1E_OFFSET_MASK));
	assert_true(s->l2c.ndirty >= 1);
	qcow2_unlock(s);
	blk_close(bs);
	assert_int_equal(qt_check(), 0);
	bs = qt_open("@cache-clean-interval=0");
	assert_null(qt_state(bs)->cleaner);
	assert_int_equal(blk_pread(bs, 0, buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], 0x3a);
	blk_close(bs);
	unlink(qt_img);
}

/* 16 GiB with 64 KiB clusters: 2 MiB of L2, a cache on huge-page boundaries; 1 GiB: 128 KiB,
 * ordinary pages.  Writes spread over every L2 slice read back, and qemu-io finds them. */
static void test_large_cache_huge_pages(void **state)
{
	enum {
		N = 64
	};
	const uint64_t step = (16ull << 30) / N;
	struct blk_node *bs;
	struct qcow2_state *s;
	uint8_t buf[4096];
	char cmd[256];

	(void)state;
	qt_create("cluster_size=64k", "1G");
	bs = qt_open(NULL);
	assert_int_equal(qt_state(bs)->l2c.n * qt_state(bs)->l2c.slice_size, 128 * 1024);
	blk_close(bs);
	unlink(qt_img);

	qt_create("cluster_size=64k", "16G");
	bs = qt_open(NULL);
	s = qt_state(bs);
	assert_int_equal((uint64_t)s->l2c.n * s->l2c.slice_size, 2 * MIB);
	assert_int_equal((uintptr_t)s->l2c.mem % (2 * MIB), 0);
	assert_true(huge_advised(s->l2c.mem));
	for (int i = 0; i < N; i++) {
		memset(buf, 0x40 + i, sizeof(buf));
		assert_int_equal(blk_pwrite(bs, i * step + 4096 * (uint64_t)i, buf, 4096, 0), 0);
	}
	for (int i = N - 1; i >= 0; i--) {
		assert_int_equal(blk_pread(bs, i * step + 4096 * (uint64_t)i, buf, 4096), 0);
		assert_int_equal(buf[0], 0x40 + i);
		assert_int_equal(buf[4095], 0x40 + i);
	}
	assert_int_equal(blk_flush(bs), 0);
	blk_close(bs);
	assert_int_equal(qt_check(), 0);
	for (int i = 0; i < N; i += 9) {
		snprintf(cmd, sizeof(cmd),
			 "qemu-io -f qcow2 -c 'read -P %d %llu 4096' %s >/dev/null", 0x40 + i,
			 (unsigned long long)(i * step + 4096 * (uint64_t)i), qt_img);
		assert_int_equal(system(cmd), 0);
	}
	unlink(qt_img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_slices_dropped),
		cmocka_unit_test(test_busy_and_dirty_slices_stay),
		cmocka_unit_test(test_large_cache_huge_pages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
