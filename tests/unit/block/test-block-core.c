/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The request core: range/permission checks, alignment with read-modify-write, splitting,
 * FUA and write_zeroes emulation, discard granularity, block status, probing. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "strict-driver.h"
#include "util/err.h"

static uint8_t pattern_at(uint64_t i)
{
	return (uint8_t)(i * 7 + 3);
}

static void test_unaligned_rmw(void **state)
{
	struct blk_node *bs;
	uint8_t buf[10000], chk[16384];

	(void)state;
	strict_cfg = (struct strict_state){ .req_align = 4096, .mem_align = 512 };
	bs = strict_new(64 << 10, true);
	assert_int_equal(bs->limits.request_alignment, 4096);
	memset(strict_of(bs)->data, 0xee, 64 << 10);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern_at(i);
	/* unaligned at both ends, buffer not aligned either */
	assert_int_equal(blk_pwrite(bs, 1000, buf + 1, 9000, 0), 0);
	assert_int_equal(blk_pread(bs, 0, chk, sizeof(chk)), 0);
	for (size_t i = 0; i < sizeof(chk); i++) {
		uint8_t want = (i >= 1000 && i < 10000) ? pattern_at(i - 1000 + 1) : 0xee;

		if (chk[i] != want)
			fail_msg("byte %zu: got %#x want %#x", i, chk[i], want);
	}
	/* unaligned read back */
	memset(chk, 0, sizeof(chk));
	assert_int_equal(blk_pread(bs, 1001, chk + 3, 17), 0);
	for (size_t i = 0; i < 17; i++)
		assert_int_equal(chk[3 + i], pattern_at(i + 2));
	blk_close(bs);
}

static void test_split_max_transfer(void **state)
{
	struct blk_node *bs;
	static uint8_t buf[100 << 10];

	(void)state;
	strict_cfg = (struct strict_state){ .req_align = 512, .max_transfer = 16 << 10 };
	bs = strict_new(1 << 20, true);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(blk_pwrite(bs, 512, buf, sizeof(buf), 0), 0);
	assert_int_equal(strict_of(bs)->writes, 7); /* 100K in 16K pieces */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(blk_pread(bs, 512, buf, sizeof(buf)), 0);
	assert_int_equal(strict_of(bs)->reads, 7);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0x5a);
	blk_close(bs);
}

static void test_range_and_readonly(void **state)
{
	struct blk_node *bs, *ro;
	uint8_t buf[512];

	(void)state;
	strict_cfg = (struct strict_state){ 0 };
	bs = strict_new(1 << 20, true);
	assert_int_equal(blk_pread(bs, 1 << 20, buf, 512), -EINVAL);
	assert_int_equal(blk_pread(bs, (1 << 20) - 256, buf, 512), -EINVAL);
	assert_int_equal(blk_pread(bs, UINT64_MAX - 10, buf, 512), -EINVAL);
	assert_int_equal(blk_pwrite(bs, (1 << 20) - 512, buf, 512, 0), 0);
	assert_int_equal(blk_pread(bs, 1 << 20, buf, 0), 0); /* empty is fine */
	assert_int_equal(blk_discard(bs, 1 << 20, 512), -EINVAL);
	assert_int_equal(blk_write_zeroes(bs, (1 << 20) - 511, 512, 0), -EINVAL);
	blk_close(bs);

	ro = strict_new(1 << 20, false);
	assert_int_equal(blk_pwrite(ro, 0, buf, 512, 0), -EROFS);
	assert_int_equal(blk_write_zeroes(ro, 0, 512, 0), -EROFS);
	assert_int_equal(blk_discard(ro, 0, 512), -EROFS);
	assert_int_equal(blk_pread(ro, 0, buf, 512), 0);
	assert_int_equal(strict_of(ro)->writes, 0);
	blk_close(ro);
}

static void test_fua_emulation(void **state)
{
	struct blk_node *bs;
	uint8_t buf[4096] = { 1 };

	(void)state;
	strict_cfg = (struct strict_state){ 0 };
	bs = strict_new(1 << 20, true);
	assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf), BLK_REQ_FUA), 0);
	assert_int_equal(strict_of(bs)->fua_writes, 0);
	assert_int_equal(strict_of(bs)->flushes, 1);
	blk_close(bs);

	strict_cfg = (struct strict_state){ .caps = BLK_CAP_FUA };
	bs = strict_new(1 << 20, true);
	assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf), BLK_REQ_FUA), 0);
	assert_int_equal(strict_of(bs)->fua_writes, 1);
	assert_int_equal(strict_of(bs)->flushes, 0);
	blk_close(bs);
}

static void test_zeroes_and_discard(void **state)
{
	struct blk_node *bs;
	uint8_t buf[64 << 10];

	(void)state;
	strict_cfg = (struct strict_state){ .req_align = 4096,
					    .max_zeroes = 8192,
					    .discard_gran = 16384 };
	bs = strict_new(1 << 20, true);
	memset(strict_of(bs)->data, 0xff, 1 << 20);
	/* head and tail unaligned: written with buffers, the middle with write_zeroes */
	assert_int_equal(blk_write_zeroes(bs, 1000, 40000, 0), 0);
	assert_int_equal(strict_of(bs)->zeroes, 5); /* 4096..40960: 36K in 8K pieces */
	assert_int_equal(blk_pread(bs, 0, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], (i >= 1000 && i < 41000) ? 0 : 0xff);
	/* discard: only whole granules inside the range */
	memset(strict_of(bs)->data, 0xff, 1 << 20);
	assert_int_equal(blk_discard(bs, 100, 50000), 0);
	assert_int_equal(strict_of(bs)->discards, 1); /* 16384..49152 */
	assert_int_equal(strict_of(bs)->data[16383], 0xff);
	assert_int_equal(strict_of(bs)->data[16384], 0);
	assert_int_equal(strict_of(bs)->data[49151], 0);
	assert_int_equal(strict_of(bs)->data[49152], 0xff);
	blk_close(bs);
}

static void test_io_errors_propagate(void **state)
{
	struct blk_node *bs;
	uint8_t buf[512];

	(void)state;
	strict_cfg = (struct strict_state){ .fail_next = -EIO };
	bs = strict_new(1 << 20, true);
	assert_int_equal(blk_pread(bs, 0, buf, 512), -EIO);
	strict_of(bs)->fail_next = -ENOSPC;
	assert_int_equal(blk_pwrite(bs, 0, buf, 512, 0), -ENOSPC);
	blk_close(bs);
}

static void test_memory_and_status(void **state)
{
	struct blk_node *bs = NULL;
	struct err err;
	uint64_t n, map;
	int depth, r;
	uint8_t buf[4096];

	(void)state;
	err_init(&err);
	assert_int_equal(blk_open_str("@driver=memory@size=1M", BLK_O_RDWR, &bs, &err), 0);
	r = blk_block_status_chain(bs, 0, 1 << 20, &n, &map, NULL, &depth);
	assert_true(r & BLK_STATUS_ZERO);
	assert_int_equal(n, 1 << 20);
	memset(buf, 0x42, sizeof(buf));
	assert_int_equal(blk_pwrite(bs, 65536, buf, sizeof(buf), 0), 0);
	r = blk_block_status(bs, 0, 1 << 20, &n, &map, NULL);
	assert_true(r & BLK_STATUS_ZERO);
	assert_int_equal(n, 65536);
	r = blk_block_status(bs, 65536, 1 << 20, &n, &map, NULL);
	assert_true(r & BLK_STATUS_DATA);
	assert_true(r & BLK_STATUS_ALLOCATED);
	assert_int_equal(n, 65536);
	assert_int_equal(map, 65536);
	assert_int_equal(blk_discard(bs, 65536, 65536), 0);
	assert_int_equal(blk_pread(bs, 65536, buf, sizeof(buf)), 0);
	assert_true(buf_is_zero(buf, sizeof(buf)));
	blk_close(bs);
}

static void test_probe(void **state)
{
	uint8_t buf[512] = { 0 };

	(void)state;
	assert_string_equal(blk_probe_format(buf, sizeof(buf), "x"), "raw");
	memcpy(buf, "QFI\xfb\0\0\0\3", 8);
#if HAVE_QCOW2
	assert_string_equal(blk_probe_format(buf, sizeof(buf), "x"), "qcow2");
#endif
}

/* ---- block-0 protection of a probed raw image (no libnbd needed) ------------------------ */

#if HAVE_QCOW2 || HAVE_NBD
#define QCOW2_REFUSED (-EPERM) /* a format this build would probe: qcow2 natively or by magic */
#else
#define QCOW2_REFUSED 0 /* nothing to protect: this build would probe qcow2 as raw */
#endif

static struct blk_node *open_img(const char *path, const char *extra)
{
	struct blk_node *bs = NULL;
	char cfg[128];
	struct err err;

	err_init(&err);
	snprintf(cfg, sizeof(cfg), "@file=%s%s", path, extra);
	if (blk_open_str(cfg, BLK_O_RDWR, &bs, &err) < 0)
		fail_msg("open %s: %s", cfg, err.msg);
	assert_string_equal(blk_driver_name(bs), "raw");
	return bs;
}

static void make_file(char *path, size_t size, const void *data, size_t len)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(pwrite(fd, data, len, 0), (ssize_t)len);
	close(fd);
}

static void test_raw_block0(void **state)
{
	static const uint8_t qfi[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	char path[] = "/tmp/qt-block0.XXXXXX";
	struct blk_node *bs;
	uint8_t buf[512] = { 0 };

	(void)state;
	make_file(path, 1 << 20, buf, 0);
	bs = open_img(path, "");
	memcpy(buf, qfi, sizeof(qfi));
	assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf), 0), QCOW2_REFUSED);
	assert_int_equal(blk_pwrite(bs, 512, buf, sizeof(buf), 0), 0); /* not block 0 */
	blk_close(bs);
	/* the bytes already there count: the version is in the image, the write adds the magic */
	bs = open_img(path, "@format=raw");
	assert_int_equal(blk_pwrite(bs, 4, qfi + 4, 4, 0), 0); /* explicit raw: anything goes */
	blk_close(bs);
	bs = open_img(path, "");
	assert_int_equal(blk_pwrite(bs, 0, qfi, 4, 0), QCOW2_REFUSED);
	assert_int_equal(blk_pwrite(bs, 0, "QFI", 3, 0), 0);
	blk_close(bs);
	unlink(path);
}

/*
 * Fill the stack below the caller with bytes that probe as a vmdk text descriptor when
 * they follow a comment line: "#...#\nversion=1\n".  A block-0 check that looked at
 * uninitialised bytes past a small image's end would see this.
 */
static __attribute__((noinline)) void poison_stack(void)
{
	volatile char junk[64 << 10];

	for (size_t i = 0; i < sizeof(junk); i++) {
		size_t k = i % 311;

		junk[i] = k < 300 ? '#' : "\nversion=1\n"[k - 300];
	}
}

/* An image smaller than the 512 bytes the check looks at: past its end are zeroes. */
static void test_raw_block0_tiny(void **state)
{
	char path[] = "/tmp/qt-block0.XXXXXX", img[100];
	struct blk_node *bs;
	uint8_t back[100];

	(void)state;
	memset(img, '#', sizeof(img)); /* one comment line: vmdk text if "version=1" followed */
	img[99] = '\n';
	make_file(path, sizeof(img), img, sizeof(img));
	bs = open_img(path, "");
	assert_int_equal(blk_getlength(bs), 100);
	for (int i = 0; i < 8; i++) {
		poison_stack();
		assert_int_equal(blk_pwrite(bs, (uint64_t)i, "#", 1, 0), 0);
	}
	assert_int_equal(blk_pread(bs, 0, back, sizeof(back)), 0);
	assert_memory_equal(back, img, sizeof(img));
	poison_stack();
	assert_int_equal(blk_pwrite(bs, 0, "QFI\xfb\0\0\0\3", 8, 0), QCOW2_REFUSED);
	blk_close(bs);
	unlink(path);
}

/*
 * Two writers of one part each of a qcow2 header in block 0 of a probed raw image: each
 * half alone keeps the image raw, both together would not.  Reads of the child are slow,
 * so both checks look at block 0 at the same time: the check and the write must be one
 * step, or both pass against the old bytes and together write the header.
 */
struct half_writer {
	struct blk_node *bs;
	uint64_t off;
	const uint8_t *bytes;
	size_t len;
	int ret;
};

static void *write_half(void *opaque)
{
	struct half_writer *w = opaque;

	w->ret = blk_pwrite(w->bs, w->off, w->bytes, w->len, 0);
	return NULL;
}

static void test_raw_block0_race(void **state)
{
	static const uint8_t qfi[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	struct blk_node *file, *bs = NULL;
	struct half_writer w[2];
	pthread_t th[2];
	uint8_t head[8];
	struct opts o;

	(void)state;
	if (!QCOW2_REFUSED)
		skip(); /* this build probes nothing but raw: there is nothing to protect */
	strict_cfg = (struct strict_state){ .req_align = 1 };
	file = strict_new(1 << 20, true);
	opts_init(&o);
	assert_int_equal(blk_open_node(&blk_driver_raw, "raw", file, &o, BLK_O_RDWR, &bs, NULL), 0);
	opts_release(&o);
	bs->probed_raw = true; /* as blk_open() marks a raw image it probed */
	strict_of(file)->read_delay_us = 50000;
	/* "QF" and "I\xfb" + version: the magic is split between the two */
	w[0] = (struct half_writer){ .bs = bs, .off = 0, .bytes = qfi, .len = 2 };
	w[1] = (struct half_writer){ .bs = bs, .off = 2, .bytes = qfi + 2, .len = 6 };
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, write_half, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	/* whichever came second saw the other's half and was refused */
	assert_true((w[0].ret == 0 && w[1].ret == -EPERM) || (w[0].ret == -EPERM && w[1].ret == 0));
	strict_of(file)->read_delay_us = 0;
	assert_int_equal(blk_pread(bs, 0, head, sizeof(head)), 0);
	assert_memory_not_equal(head, qfi, sizeof(qfi));
	blk_close(bs);
}

/* Zeroes can complete a header too: a write_zeroes in block 0 is checked like a write. */
static void test_raw_block0_zeroes(void **state)
{
#if HAVE_NBD
	static const uint8_t before[8] = "QED\x01", after[8] = "QED"; /* QEMU's qed magic */
	const uint64_t at = 3;
#elif HAVE_QCOW2
	static const uint8_t before[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 1, 3 }; /* version 259 */
	static const uint8_t after[8] = { 'Q', 'F', 'I', 0xfb, 0, 0, 0, 3 };
	const uint64_t at = 6;
#endif
	char path[] = "/tmp/qt-block0.XXXXXX";
	struct blk_node *bs;
	uint8_t head[8];

	(void)state;
#if !HAVE_NBD && !HAVE_QCOW2
	skip(); /* this build probes nothing but raw: there is nothing to protect */
#else
	make_file(path, 1 << 20, before, sizeof(before));
	bs = open_img(path, "");
	assert_int_equal(blk_write_zeroes(bs, at, 1, 0), -EPERM);
	assert_int_equal(blk_pread(bs, 0, head, sizeof(head)), 0);
	assert_memory_equal(head, before, sizeof(head));
	assert_int_equal(blk_write_zeroes(bs, 0, 512, 0), 0); /* all zeroes: still raw */
	assert_int_equal(blk_pread(bs, 0, head, sizeof(head)), 0);
	assert_memory_not_equal(head, after, sizeof(head));
	blk_close(bs);
	unlink(path);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unaligned_rmw),
		cmocka_unit_test(test_split_max_transfer),
		cmocka_unit_test(test_range_and_readonly),
		cmocka_unit_test(test_fua_emulation),
		cmocka_unit_test(test_zeroes_and_discard),
		cmocka_unit_test(test_io_errors_propagate),
		cmocka_unit_test(test_memory_and_status),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_raw_block0),
		cmocka_unit_test(test_raw_block0_tiny),
		cmocka_unit_test(test_raw_block0_race),
		cmocka_unit_test(test_raw_block0_zeroes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
