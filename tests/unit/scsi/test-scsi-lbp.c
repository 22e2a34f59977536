/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logical block provisioning and bulk writes: WRITE SAME(10/16) with UNMAP and NDOB,
 * UNMAP parameter lists, GET LBA STATUS from the node's allocation map, FORMAT UNIT, and
 * LBPRZ honesty on nodes whose discard granule is larger than a block.
 */
#include "scsi-test.h"

#include "../block/strict-driver.h"

#define BS 512
#define NB 2048
#define CHUNK_BLOCKS 128 /* the memory driver allocates 64 KiB chunks */

static struct fx *f;

static int setup(void **state)
{
	(void)state;
	f = fx_new(BS, NB, false);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fx_free(f);
	return 0;
}

static bool node_is(struct fx *g, uint64_t lba, uint64_t nlb, uint8_t val)
{
	static uint8_t buf[NB * BS];

	assert_int_equal(blk_pread(g->bs, lba * g->bsz, buf, nlb * g->bsz), 0);
	for (uint64_t i = 0; i < nlb * g->bsz; i++)
		if (buf[i] != val)
			return false;
	return true;
}

static void node_set(struct fx *g, uint64_t lba, uint64_t nlb, uint8_t val)
{
	static uint8_t buf[NB * BS];

	memset(buf, val, nlb * g->bsz);
	assert_int_equal(blk_pwrite(g->bs, lba * g->bsz, buf, nlb * g->bsz, 0), 0);
}

/* Whether [lba, lba+nlb) is deallocated in the memory node. */
static bool node_deallocated(struct fx *g, uint64_t lba, uint64_t nlb)
{
	uint64_t pnum = 0;
	int st = blk_block_status(g->bs, lba * g->bsz, nlb * g->bsz, &pnum, NULL, NULL);

	return st >= 0 && !(st & BLK_STATUS_DATA) && pnum == nlb * g->bsz;
}

static struct res ws10(uint8_t b1, uint32_t lba, uint16_t nlb, void *buf, size_t len)
{
	uint8_t c[10];

	cdb_rw10(c, SCSI_OP_WRITE_SAME_10, lba, nlb);
	c[1] = b1;
	return fx_run(f, c, 10, buf, len);
}

static struct res ws16(uint8_t b1, uint64_t lba, uint32_t nlb, void *buf, size_t len)
{
	uint8_t c[16];

	cdb_rw16(c, SCSI_OP_WRITE_SAME_16, lba, nlb);
	c[1] = b1;
	return fx_run(f, c, 16, buf, len);
}

static void test_write_same(void **state)
{
	uint8_t pat[BS];
	struct res r;

	(void)state;
	for (size_t i = 0; i < BS; i++)
		pat[i] = (uint8_t)(i * 3 + 1);
	node_set(f, 0, 600, 0xee);
	r = ws10(0, 10, 300, pat, BS);
	expect_good(&r);
	for (int i = 0; i < 300; i++) {
		uint8_t blk[BS];

		assert_int_equal(blk_pread(f->bs, (10 + i) * BS, blk, BS), 0);
		assert_memory_equal(blk, pat, BS);
	}
	assert_true(node_is(f, 9, 1, 0xee));
	assert_true(node_is(f, 310, 1, 0xee));
	/* zeroes without UNMAP: zero, still allocated; with UNMAP: deallocated */
	memset(pat, 0, BS);
	r = ws16(0, 0, CHUNK_BLOCKS * 2, pat, BS);
	expect_good(&r);
	assert_true(node_is(f, 0, CHUNK_BLOCKS * 2, 0));
	node_set(f, 0, CHUNK_BLOCKS * 3, 0x55);
	r = ws16(0x08, 0, CHUNK_BLOCKS * 3, pat, BS);
	expect_good(&r);
	assert_true(node_is(f, 0, CHUNK_BLOCKS * 3, 0));
	assert_true(node_deallocated(f, 0, CHUNK_BLOCKS * 3));
	/* UNMAP with non-zero data writes the data */
	memset(pat, 0x42, BS);
	r = ws10(0x08, 0, 4, pat, BS);
	expect_good(&r);
	assert_true(node_is(f, 0, 4, 0x42));
	/* NDOB: zeroes without a Data-Out buffer */
	r = ws16(0x09, 0, 4, NULL, 0);
	expect_good(&r);
	assert_true(node_is(f, 0, 4, 0));
	r = ws16(0x01, 0, 4, pat, BS);
	expect_cc(r, 0x5, 0x0e, 0x03);
	/* the last blocks; past the end; WSNZ; the length limit; ANCHOR; Data-Out size */
	r = ws10(0, NB - 3, 3, pat, BS);
	expect_good(&r);
	assert_true(node_is(f, NB - 3, 3, 0x42));
	r = ws10(0, NB - 3, 4, pat, BS);
	expect_cc(r, 0x5, 0x21, 0x00);
	r = ws16(0, UINT64_MAX, 1, pat, BS);
	expect_cc(r, 0x5, 0x21, 0x00);
	r = ws10(0, 0, 0, pat, BS);
	expect_field(&r, true, 7, 7);
	r = ws16(0, 0, 0, pat, BS);
	expect_field(&r, true, 10, 7);
	/* MAXIMUM WRITE SAME LENGTH 0xffff: one more is an invalid field, not a range error */
	r = ws16(0x08, 0, 0x10000, pat, BS);
	expect_field(&r, true, 10, 7);
	r = ws16(0x08, 0, 0xffff, pat, BS);
	expect_cc(r, 0x5, 0x21, 0x00);
	r = ws10(0x18, 0, 1, pat, BS);
	expect_field(&r, true, 1, 4);
	r = ws10(0x08, 0, 1, pat, BS / 2);
	expect_cc(r, 0x5, 0x0e, 0x03);
	r = ws10(0x08, 0, 1, pat, 2 * BS > sizeof(pat) ? BS + 1 : 2 * BS);
	expect_cc(r, 0x5, 0x0e, 0x03);
}

static struct res unmap(struct fx *g, uint8_t *pl, uint16_t len)
{
	uint8_t c[10] = { SCSI_OP_UNMAP };

	put_be16(c + 7, len);
	return fx_run(g, c, 10, pl, len);
}

/* An UNMAP parameter list with @n descriptors (lba, nlb pairs). */
static uint16_t unmap_list(uint8_t *pl, const uint64_t (*d)[2], size_t n)
{
	uint16_t len = (uint16_t)(8 + 16 * n);

	memset(pl, 0, len);
	put_be16(pl, (uint16_t)(len - 2));
	put_be16(pl + 2, (uint16_t)(16 * n));
	for (size_t i = 0; i < n; i++) {
		put_be64(pl + 8 + 16 * i, d[i][0]);
		put_be32(pl + 16 + 16 * i, (uint32_t)d[i][1]);
	}
	return len;
}

static void test_unmap(void **state)
{
	static uint8_t pl[8 + 16 * 300];
	uint64_t d[300][2];
	uint16_t len;
	struct res r;

	(void)state;
	node_set(f, 0, NB, 0x77);
	d[0][0] = 5;
	d[0][1] = 3;
	d[1][0] = CHUNK_BLOCKS;
	d[1][1] = CHUNK_BLOCKS;
	d[2][0] = 1000;
	d[2][1] = 0;
	len = unmap_list(pl, (const uint64_t(*)[2])d, 3);
	r = unmap(f, pl, len);
	expect_good(&r);
	assert_true(node_is(f, 4, 1, 0x77));
	assert_true(node_is(f, 5, 3, 0));
	assert_true(node_is(f, 8, 1, 0x77));
	assert_true(node_is(f, CHUNK_BLOCKS, CHUNK_BLOCKS, 0));
	assert_true(node_deallocated(f, CHUNK_BLOCKS, CHUNK_BLOCKS));
	assert_true(node_is(f, 1000, 1, 0x77));

	/* one bad descriptor: nothing at all is unmapped */
	d[0][0] = 20;
	d[0][1] = 1;
	d[1][0] = NB - 1;
	d[1][1] = 2;
	len = unmap_list(pl, (const uint64_t(*)[2])d, 2);
	r = unmap(f, pl, len);
	expect_cc(r, 0x5, 0x21, 0x00);
	assert_true(node_is(f, 20, 1, 0x77));
	d[1][0] = UINT64_MAX;
	d[1][1] = 1;
	len = unmap_list(pl, (const uint64_t(*)[2])d, 2);
	r = unmap(f, pl, len);
	expect_cc(r, 0x5, 0x21, 0x00);
	/* the last block */
	d[0][0] = NB - 1;
	d[0][1] = 1;
	len = unmap_list(pl, (const uint64_t(*)[2])d, 1);
	r = unmap(f, pl, len);
	expect_good(&r);
	assert_true(node_is(f, NB - 1, 1, 0));

	/* more descriptors than the block limits allow */
	for (int i = 0; i < 257; i++) {
		d[i][0] = (uint64_t)i;
		d[i][1] = 1;
	}
	len = unmap_list(pl, (const uint64_t(*)[2])d, 257);
	r = unmap(f, pl, len);
	expect_field(&r, false, 2, 7);
	len = unmap_list(pl, (const uint64_t(*)[2])d, 256);
	r = unmap(f, pl, len);
	expect_good(&r);
	assert_true(node_is(f, 0, 256, 0));

	/* parameter list lengths: 0 is fine, 1..7 are too short */
	r = unmap(f, pl, 0);
	expect_good(&r);
	for (uint16_t l = 1; l < 8; l++) {
		r = unmap(f, pl, l);
		expect_cc(r, 0x5, 0x1a, 0x00);
	}
	/* a block descriptor length past the list: only whole descriptors present count */
	node_set(f, 300, 2, 0x77);
	d[0][0] = 300;
	d[0][1] = 1;
	d[1][0] = 301;
	d[1][1] = 1;
	unmap_list(pl, (const uint64_t(*)[2])d, 2);
	r = unmap(f, pl, 8 + 16 + 8);
	expect_good(&r);
	assert_true(node_is(f, 300, 1, 0));
	assert_true(node_is(f, 301, 1, 0x77));
	/* ANCHOR is not supported */
	r = RUN(f, pl, 24, SCSI_OP_UNMAP, 0x01, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_field(&r, true, 1, 0);
}

/* A node whose discard granule (4 KiB) is larger than the logical block (512 B): UNMAP
 * zeroes the partial granules, so LBPRZ stays true. */
static void test_unmap_granularity(void **state)
{
	struct scsi_lun_params p = { .block_size = BS };
	uint64_t d[1][2] = { { 1, 16 } };
	uint8_t pl[24], b[64];
	struct fx *g;
	struct res r;

	(void)state;
	strict_cfg = (struct strict_state){ .discard_gran = 4096,
					    .caps = BLK_CAP_DISCARD | BLK_CAP_DISCARD_ZEROES };
	g = fx_new_node(strict_new(64 * BS, true), p, false);
	node_set(g, 0, 64, 0x99);
	r = unmap(g, pl, unmap_list(pl, (const uint64_t(*)[2])d, 1));
	expect_good(&r);
	assert_true(node_is(g, 0, 1, 0x99));
	assert_true(node_is(g, 1, 16, 0));
	assert_true(node_is(g, 17, 1, 0x99));
	assert_int_equal(strict_of(g->bs)->discards, 1); /* blocks 8..15: one whole granule */
	r = RUN(g, b, 32, SCSI_OP_SERVICE_ACTION_IN_16, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32,
		0, 0);
	assert_int_equal(b[14], 0xc0);
	r = RUN(g, b, 64, SCSI_OP_INQUIRY, 1, 0xb0, 0, 64, 0);
	assert_int_equal(get_be32(b + 28), 8); /* OPTIMAL UNMAP GRANULARITY */
	fx_free(g);

	/* discards that do not read back as zeroes: LBPME without LBPRZ */
	strict_cfg = (struct strict_state){ .caps = BLK_CAP_DISCARD };
	g = fx_new_node(strict_new(64 * BS, true), p, false);
	r = RUN(g, b, 32, SCSI_OP_SERVICE_ACTION_IN_16, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32,
		0, 0);
	assert_int_equal(b[14], 0x80);
	r = RUN(g, b, 64, SCSI_OP_INQUIRY, 1, 0xb2, 0, 64, 0);
	assert_int_equal(b[5], 0xe0);
	r = unmap(g, pl, unmap_list(pl, (const uint64_t(*)[2])d, 1));
	expect_good(&r);
	assert_int_equal(strict_of(g->bs)->discards, 1);
	assert_int_equal(strict_of(g->bs)->zeroes, 0);
	fx_free(g);
}

static struct res lba_status(struct fx *g, uint64_t lba, uint32_t alloc, uint8_t *buf)
{
	uint8_t c[16] = { SCSI_OP_SERVICE_ACTION_IN_16, 0x12 };

	put_be64(c + 2, lba);
	put_be32(c + 10, alloc);
	return fx_run(g, c, 16, buf, alloc);
}

static void expect_desc(const uint8_t *b, unsigned int i, uint64_t lba, uint32_t nlb, uint8_t st)
{
	const uint8_t *d = b + 8 + 16 * i;

	assert_int_equal(get_be64(d), lba);
	assert_int_equal(get_be32(d + 8), nlb);
	assert_int_equal(d[12], st);
}

static void test_get_lba_status(void **state)
{
	uint8_t b[1024];
	uint64_t d[1][2] = { { 0, CHUNK_BLOCKS } };
	uint8_t pl[24];
	struct fx *g;
	struct res r;

	(void)state;
	g = fx_new(BS, NB, false); /* a fresh, unallocated node */
	r = lba_status(g, 0, sizeof(b), b);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 24);
	assert_int_equal(get_be32(b), 20);
	expect_desc(b, 0, 0, NB, 1); /* all deallocated */
	/* write one block: its 64 KiB chunk becomes mapped */
	node_set(g, 200, 1, 0x01);
	r = lba_status(g, 0, sizeof(b), b);
	expect_good(&r);
	assert_int_equal(get_be32(b), 4 + 3 * 16);
	expect_desc(b, 0, 0, CHUNK_BLOCKS, 1);
	expect_desc(b, 1, CHUNK_BLOCKS, CHUNK_BLOCKS, 0);
	expect_desc(b, 2, 2 * CHUNK_BLOCKS, NB - 2 * CHUNK_BLOCKS, 1);
	/* from inside a run, and with room for one descriptor only */
	r = lba_status(g, 200, 24, b);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 24);
	expect_desc(b, 0, 200, 2 * CHUNK_BLOCKS - 200, 0);
	for (uint32_t a = 0; a < 24; a++) {
		uint8_t s[24];

		r = lba_status(g, 200, a, s);
		expect_good(&r);
		assert_int_equal(r.data_in_len, a);
		assert_memory_equal(s, b, a);
	}
	/* UNMAP makes it deallocated again */
	r = unmap(g, pl, unmap_list(pl, (const uint64_t(*)[2])d, 1));
	d[0][0] = CHUNK_BLOCKS;
	r = unmap(g, pl, unmap_list(pl, (const uint64_t(*)[2])d, 1));
	expect_good(&r);
	r = lba_status(g, 1, sizeof(b), b);
	expect_desc(b, 0, 1, NB - 1, 1);
	/* the last block, and past the end */
	r = lba_status(g, NB - 1, sizeof(b), b);
	expect_good(&r);
	expect_desc(b, 0, NB - 1, 1, 1);
	r = lba_status(g, NB, sizeof(b), b);
	expect_cc(r, 0x5, 0x21, 0x00);
	r = lba_status(g, 1ull << 63, sizeof(b), b);
	expect_cc(r, 0x5, 0x21, 0x00);
	r = lba_status(g, UINT64_MAX, sizeof(b), b);
	expect_cc(r, 0x5, 0x21, 0x00);

	fx_free(g);

	/* without provisioning everything is mapped */
	g = fx_new_opts(BS, 64, false, "@discard=ignore");
	r = lba_status(g, 3, sizeof(b), b);
	expect_good(&r);
	expect_desc(b, 0, 3, 61, 0);
	fx_free(g);
}

static void test_format_unit(void **state)
{
	struct scsi_lun_params p = { .block_size = BS };
	struct fx *g;
	struct res r;

	(void)state;
	node_set(f, 0, NB, 0x31);
	r = RUN(f, NULL, 0, SCSI_OP_FORMAT_UNIT, 0, 0, 0, 0, 0);
	expect_good(&r);
	assert_true(node_is(f, 0, NB, 0));
	assert_true(node_deallocated(f, 0, NB));
	r = RUN(f, NULL, 0, SCSI_OP_FORMAT_UNIT, 0x10, 0, 0, 0, 0); /* FMTDATA */
	expect_field(&r, true, 1, 4);

	/* a node without provisioning: zeroes are written, then flushed */
	strict_cfg = (struct strict_state){ 0 };
	g = fx_new_node(strict_new(64 * BS, true), p, false);
	node_set(g, 0, 64, 0x31);
	r = RUN(g, NULL, 0, SCSI_OP_FORMAT_UNIT, 0, 0, 0, 0, 0);
	expect_good(&r);
	assert_true(node_is(g, 0, 64, 0));
	assert_true(strict_of(g->bs)->flushes >= 1);
	fx_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_same),	  cmocka_unit_test(test_unmap),
		cmocka_unit_test(test_unmap_granularity), cmocka_unit_test(test_get_lba_status),
		cmocka_unit_test(test_format_unit),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
