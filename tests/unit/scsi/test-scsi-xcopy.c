/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Third-party copy: EXTENDED COPY (LID1) parameter lists built byte by byte (the target
 * descriptor names the LUN by the NAA designator read back from VPD 0x83, as libiscsi's
 * tests do), data moved and checked through READ(16), every refusal checked for its sense
 * and for leaving the medium untouched; RECEIVE COPY RESULTS operating parameters.
 */
#include "scsi-test.h"

#define BS 512
#define NB 4096

static struct fx *f;
static uint8_t naa[16]; /* this LUN's NAA designator */

static void read_naa(struct fx *g, uint8_t *out)
{
	uint8_t b[255];
	struct res r = RUN(g, b, sizeof(b), SCSI_OP_INQUIRY, 1, 0x83, 0, 255, 0);

	expect_good(&r);
	/* the first designator: binary, LU association, NAA, 16 bytes */
	assert_int_equal(b[4] & 0x0f, 1);
	assert_int_equal(b[5], 0x03);
	assert_int_equal(b[7], 16);
	memcpy(out, b + 8, 16);
}

static int setup(void **state)
{
	(void)state;
	f = fx_new(BS, NB, false);
	read_naa(f, naa);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fx_free(f);
	return 0;
}

/* ---- parameter list builders ---------------------------------------------------------- */

#define HDR 16
#define TGT 32
#define SEG 28

/* Identification target descriptor naming @id (16-byte NAA). */
static void target(uint8_t *d, const uint8_t *id)
{
	memset(d, 0, TGT);
	d[0] = 0xe4;
	d[4] = 0x01; /* binary */
	d[5] = 0x03; /* LU association, NAA */
	d[7] = 16;
	memcpy(d + 8, id, 16);
	d[29] = (BS >> 16) & 0xff;
	d[30] = (BS >> 8) & 0xff;
	d[31] = BS & 0xff;
}

static void segment(uint8_t *d, uint16_t src, uint16_t dst, uint16_t nlb, uint64_t src_lba,
		    uint64_t dst_lba)
{
	memset(d, 0, SEG);
	d[0] = 0x02;
	put_be16(d + 2, SEG - 4);
	put_be16(d + 4, src);
	put_be16(d + 6, dst);
	put_be16(d + 10, nlb);
	put_be64(d + 12, src_lba);
	put_be64(d + 20, dst_lba);
}

static void header(uint8_t *pl, uint8_t list_id, uint8_t usage, uint16_t tdl, uint32_t sdl)
{
	memset(pl, 0, HDR);
	pl[0] = list_id;
	pl[1] = (uint8_t)(usage << 3);
	put_be16(pl + 2, tdl);
	put_be32(pl + 8, sdl);
}

/* A list with one target (this LUN) and one segment; returns its length. */
static size_t one_copy(uint8_t *pl, uint16_t nlb, uint64_t src, uint64_t dst)
{
	header(pl, 1, 0, TGT, SEG);
	target(pl + HDR, naa);
	segment(pl + HDR + TGT, 0, 0, nlb, src, dst);
	return HDR + TGT + SEG;
}

static struct res xcopy(struct fx *g, void *pl, uint32_t len)
{
	uint8_t c[16] = { SCSI_OP_EXTENDED_COPY };

	put_be32(c + 10, len);
	return fx_run(g, c, 16, pl, len);
}

/* ---- helpers on the medium ------------------------------------------------------------ */

/* Block i of a pattern holds bytes (seed + i) in its first byte and the LBA elsewhere. */
static void pattern(uint8_t *buf, uint32_t nlb, uint8_t seed)
{
	for (uint32_t i = 0; i < nlb; i++) {
		memset(buf + (size_t)i * BS, (uint8_t)(seed + i), BS);
		put_be32(buf + (size_t)i * BS, i);
	}
}

static void put_blocks(uint64_t lba, uint32_t nlb, uint8_t seed)
{
	uint8_t *b = malloc((size_t)nlb * BS);
	struct res r;

	pattern(b, nlb, seed);
	r = fx_write(f, lba, nlb, b);
	expect_good(&r);
	free(b);
}

static bool has_blocks(uint64_t lba, uint32_t nlb, uint8_t seed)
{
	uint8_t *b = malloc((size_t)nlb * BS), *want = malloc((size_t)nlb * BS);
	struct res r = fx_read(f, lba, nlb, b);
	bool same;

	expect_good(&r);
	pattern(want, nlb, seed);
	same = !memcmp(b, want, (size_t)nlb * BS);
	free(b);
	free(want);
	return same;
}

static bool same_blocks(uint64_t a, uint64_t b, uint32_t nlb)
{
	uint8_t *x = malloc((size_t)nlb * BS), *y = malloc((size_t)nlb * BS);
	struct res r = fx_read(f, a, nlb, x);
	bool same;

	expect_good(&r);
	r = fx_read(f, b, nlb, y);
	expect_good(&r);
	same = !memcmp(x, y, (size_t)nlb * BS);
	free(x);
	free(y);
	return same;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_op_params(void **state)
{
	uint8_t b[64];
	struct res r;

	(void)state;
	memset(b, 0xee, sizeof(b));
	r = RUN(f, b, sizeof(b), SCSI_OP_RECEIVE_COPY_RESULTS, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 64, 0, 0);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 46);
	assert_int_equal(get_be32(b), 42);
	assert_int_equal(b[4] & 1, 1);		  /* SNLID */
	assert_int_equal(get_be16(b + 8), 4);	  /* targets */
	assert_int_equal(get_be16(b + 10), 4);	  /* segments */
	assert_int_equal(get_be32(b + 12), 1024); /* descriptor list */
	assert_int_equal(get_be32(b + 16), 0xffff * BS);
	assert_int_equal(get_be32(b + 20), 0); /* no inline data */
	assert_int_equal(get_be32(b + 24), 0); /* no held data */
	assert_int_equal(b[43], 2);
	assert_int_equal(b[44], 0x02);
	assert_int_equal(b[45], 0xe4);
	assert_int_equal(b[46], 0xee);
	/* allocation length 10: a prefix */
	r = RUN(f, b, sizeof(b), SCSI_OP_RECEIVE_COPY_RESULTS, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 10, 0, 0);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 10);
	/* COPY STATUS (no held data) is not offered: INVALID FIELD IN CDB, byte 1 */
	r = RUN(f, b, sizeof(b), SCSI_OP_RECEIVE_COPY_RESULTS, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 64, 0, 0);
	expect_field(&r, true, 1, 4);
	/* and the standard INQUIRY says 3PC */
	r = RUN(f, b, 36, SCSI_OP_INQUIRY, 0, 0, 0, 36, 0);
	expect_good(&r);
	assert_int_equal(b[5] & 0x08, 0x08);
}

static void test_copy(void **state)
{
	uint8_t pl[256];
	struct res r;
	size_t n;

	(void)state;
	put_blocks(0, 300, 1);
	put_blocks(1000, 300, 0x80);
	n = one_copy(pl, 300, 0, 1000);
	r = xcopy(f, pl, (uint32_t)n);
	expect_good(&r);
	assert_true(has_blocks(1000, 300, 1));
	assert_true(has_blocks(0, 300, 1));
	/* LU ID TYPE (reserved value) and NUL are ignored (SPC-4), so are LIST ID USAGE 10b */
	pl[HDR + 1] = 0xe0;
	pl[1] = 2 << 3;
	segment(pl + HDR + TGT, 0, 0, 10, 0, 2000);
	r = xcopy(f, pl, (uint32_t)n);
	expect_good(&r);
	assert_true(has_blocks(2000, 10, 1));
	/* the last block, and zero blocks (nothing) */
	put_blocks(NB - 1, 1, 0x33);
	segment(pl + HDR + TGT, 0, 0, 1, NB - 1, 3000);
	r = xcopy(f, pl, (uint32_t)n);
	expect_good(&r);
	assert_true(has_blocks(3000, 1, 0x33));
	segment(pl + HDR + TGT, 0, 0, 0, NB, NB);
	r = xcopy(f, pl, (uint32_t)n);
	expect_good(&r);
	/* parameter list length 0: nothing, not an error */
	r = xcopy(f, NULL, 0);
	expect_good(&r);
}

/* Overlapping ranges copy as memmove; several segments run in order. */
static void test_overlap_and_segments(void **state)
{
	uint8_t pl[512];
	struct res r;
	size_t n;

	(void)state;
	/* 3000 blocks (1.5 MiB: more than one 1 MiB chunk) moved up by 7 blocks */
	put_blocks(100, 3000, 5);
	n = one_copy(pl, 3000, 100, 107);
	r = xcopy(f, pl, (uint32_t)n);
	expect_good(&r);
	assert_true(has_blocks(107, 3000, 5));
	/* and down by 50 */
	n = one_copy(pl, 3000, 107, 57);
	r = xcopy(f, pl, (uint32_t)n);
	expect_good(&r);
	assert_true(has_blocks(57, 3000, 5));
	/* two targets naming this LUN, three segments: the second reads what the first wrote */
	put_blocks(0, 8, 9);
	header(pl, 0, 3, 2 * TGT, 3 * SEG);
	target(pl + HDR, naa);
	target(pl + HDR + TGT, naa);
	segment(pl + HDR + 2 * TGT, 0, 1, 8, 0, 3500);
	segment(pl + HDR + 2 * TGT + SEG, 1, 0, 8, 3500, 3600);
	segment(pl + HDR + 2 * TGT + 2 * SEG, 1, 1, 4, 3604, 3700);
	r = xcopy(f, pl, HDR + 2 * TGT + 3 * SEG);
	expect_good(&r);
	assert_true(has_blocks(3500, 8, 9));
	assert_true(has_blocks(3600, 8, 9));
	assert_true(same_blocks(3604, 3700, 4));
	assert_false(same_blocks(3604, 3704, 4));
}

/* Header, length and count errors (ILLEGAL REQUEST), nothing written. */
static void test_list_errors(void **state)
{
	static uint8_t pl[2048];
	struct res r;
	size_t n;

	(void)state;
	put_blocks(1000, 4, 0x40);
	put_blocks(0, 4, 0x10);
	n = one_copy(pl, 4, 0, 1000);
	/* shorter than the header, and lists cut short */
	r = xcopy(f, pl, 15);
	expect_cc(r, 0x5, 0x1a, 0x00);
	r = xcopy(f, pl, HDR + TGT - 1);
	expect_cc(r, 0x5, 0x1a, 0x00);
	r = xcopy(f, pl, (uint32_t)n - 1);
	expect_cc(r, 0x5, 0x1a, 0x00);
	/* target descriptor list length not a multiple of 32 */
	put_be16(pl + 2, TGT + 4);
	r = xcopy(f, pl, (uint32_t)n + 4);
	expect_cc(r, 0x5, 0x1a, 0x00);
	put_be16(pl + 2, TGT);
	/* inline data is not supported */
	put_be32(pl + 12, 4);
	r = xcopy(f, pl, (uint32_t)n + 4);
	expect_field(&r, false, 12, 7);
	put_be32(pl + 12, 0);
	/* LIST ID USAGE 11b (no list identifier) with a list identifier */
	pl[1] = 3 << 3;
	r = xcopy(f, pl, (uint32_t)n);
	expect_field(&r, false, 0, 7);
	pl[1] = 0;
	/* 5 targets, 5 segments, and more than 1024 bytes of descriptors */
	header(pl, 1, 0, 5 * TGT, SEG);
	for (int i = 0; i < 5; i++)
		target(pl + HDR + i * TGT, naa);
	segment(pl + HDR + 5 * TGT, 0, 0, 4, 0, 1000);
	r = xcopy(f, pl, HDR + 5 * TGT + SEG);
	expect_cc(r, 0x5, 0x26, 0x06);
	header(pl, 1, 0, TGT, 5 * SEG);
	target(pl + HDR, naa);
	for (int i = 0; i < 5; i++)
		segment(pl + HDR + TGT + i * SEG, 0, 0, 4, 0, 1000);
	r = xcopy(f, pl, HDR + TGT + 5 * SEG);
	expect_cc(r, 0x5, 0x26, 0x08);
	header(pl, 1, 0, TGT, 36 * SEG);
	r = xcopy(f, pl, HDR + TGT + 36 * SEG);
	expect_cc(r, 0x5, 0x1a, 0x00);
	/* unsupported descriptor type codes */
	n = one_copy(pl, 4, 0, 1000);
	pl[HDR] = 0xe0;
	r = xcopy(f, pl, (uint32_t)n);
	expect_cc(r, 0x5, 0x26, 0x07);
	n = one_copy(pl, 4, 0, 1000);
	pl[HDR + TGT] = 0x03;
	r = xcopy(f, pl, (uint32_t)n);
	expect_cc(r, 0x5, 0x26, 0x09);
	/* a B2B descriptor of the wrong length; a tape peripheral type; another block size */
	n = one_copy(pl, 4, 0, 1000);
	put_be16(pl + HDR + TGT + 2, 0x14);
	r = xcopy(f, pl, (uint32_t)n);
	expect_field(&r, false, HDR + TGT + 2, 7);
	n = one_copy(pl, 4, 0, 1000);
	pl[HDR + 1] = 0x01;
	r = xcopy(f, pl, (uint32_t)n);
	expect_field(&r, false, HDR + 1, 4);
	n = one_copy(pl, 4, 0, 1000);
	pl[HDR + 30] = 0x10; /* 4096 */
	r = xcopy(f, pl, (uint32_t)n);
	expect_field(&r, false, HDR + 29, 7);
	assert_true(has_blocks(1000, 4, 0x40));
}

/* Copy targets that are not this LUN, and ranges past the end: COPY ABORTED before any
 * block moves (the first, valid, segment is not applied either). */
static void test_copy_aborted(void **state)
{
	uint8_t pl[256], other[16];
	struct res r;

	(void)state;
	put_blocks(0, 4, 0x10);
	put_blocks(1000, 4, 0x40);
	memcpy(other, naa, 16);
	other[15] ^= 0x01;
	header(pl, 1, 0, 2 * TGT, 2 * SEG);
	target(pl + HDR, naa);
	target(pl + HDR + TGT, other);
	segment(pl + HDR + 2 * TGT, 0, 0, 4, 0, 1000);
	segment(pl + HDR + 2 * TGT + SEG, 0, 1, 4, 0, 0);
	r = xcopy(f, pl, HDR + 2 * TGT + 2 * SEG);
	expect_cc(r, 0xa, 0x0d, 0x02);
	assert_int_equal(sense_info(&r), 1); /* the segment */
	/* an index past the target list */
	segment(pl + HDR + 2 * TGT + SEG, 0, 2, 4, 0, 0);
	r = xcopy(f, pl, HDR + 2 * TGT + 2 * SEG);
	expect_cc(r, 0xa, 0x0d, 0x02);
	/* past the end: source, destination, and LBA wrap-around */
	segment(pl + HDR + 2 * TGT + SEG, 0, 0, 2, 0, NB - 1);
	r = xcopy(f, pl, HDR + 2 * TGT + 2 * SEG);
	expect_cc(r, 0xa, 0x00, 0x00);
	assert_int_equal(sense_info(&r), 1);
	segment(pl + HDR + 2 * TGT + SEG, 0, 0, 2, NB - 1, 0);
	r = xcopy(f, pl, HDR + 2 * TGT + 2 * SEG);
	expect_cc(r, 0xa, 0x00, 0x00);
	segment(pl + HDR + 2 * TGT + SEG, 0, 0, 2, UINT64_MAX, 0);
	r = xcopy(f, pl, HDR + 2 * TGT + 2 * SEG);
	expect_cc(r, 0xa, 0x00, 0x00);
	assert_true(has_blocks(1000, 4, 0x40));
}

/* A LUN without a unit serial has no NAA: no target descriptor can name it. */
static void test_no_serial(void **state)
{
	uint8_t pl[256];
	struct fx *g = fx_new(BS, 64, false);
	struct res r;
	size_t n;

	(void)state;
	g->serial = NULL;
	n = one_copy(pl, 1, 0, 1);
	r = xcopy(g, pl, (uint32_t)n);
	expect_cc(r, 0xa, 0x0d, 0x02);
	fx_free(g);
}

/* Writes the medium: refused on a write-protected LUN. */
static void test_read_only(void **state)
{
	uint8_t pl[256];
	struct fx *g = fx_new(BS, 64, true);
	struct res r;
	size_t n;

	(void)state;
	n = one_copy(pl, 1, 0, 1);
	r = xcopy(g, pl, (uint32_t)n);
	expect_cc(r, 0x7, 0x27, 0x00);
	fx_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_op_params),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_overlap_and_segments),
		cmocka_unit_test(test_list_errors),
		cmocka_unit_test(test_copy_aborted),
		cmocka_unit_test(test_no_serial),
		cmocka_unit_test(test_read_only),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
