/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SBC data path: READ CAPACITY, READ/WRITE(6/10/12/16) with boundary LBAs, zero-length
 * transfers, residuals, FUA and WCE, PROTECT fields, 4096-byte blocks, errors from the
 * block node, SYNCHRONIZE CACHE, VERIFY, WRITE AND VERIFY, COMPARE AND WRITE, and the
 * ordering of overlapping writes in flight.  The block node's bytes are the oracle.
 */
#include "scsi-test.h"

#include "../block/strict-driver.h"

#define BS 512
#define NB 2048

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

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

/* The node's bytes (the oracle for writes). */
static void node_read(struct fx *g, uint64_t off, void *buf, size_t len)
{
	assert_int_equal(blk_pread(g->bs, off, buf, len), 0);
}

static void test_read_capacity(void **state)
{
	struct fx *g = fx_new(4096, 300, false);
	uint8_t b[64];
	struct res r;

	(void)state;
	r = RUN(f, b, 8, SCSI_OP_READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 8);
	assert_int_equal(get_be32(b), NB - 1);
	assert_int_equal(get_be32(b + 4), BS);
	/* PMI and the obsolete LBA are not accepted */
	r = RUN(f, b, 8, SCSI_OP_READ_CAPACITY_10, 0, 0, 0, 0, 1, 0, 0, 0, 0);
	expect_field(&r, true, 5, 0);
	for (unsigned int alloc = 0; alloc <= 40; alloc++) {
		static const uint8_t want[32] = { 0, 0, 0,    0, 0, 0, 0x10, 0x00,
						  0, 0, 0x10, 0, 0, 0, 0x00, 0 };

		memset(b, 0xee, sizeof(b));
		r = RUN(g, b, sizeof(b), SCSI_OP_SERVICE_ACTION_IN_16, 0x10, 0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 0, (uint8_t)alloc, 0, 0);
		expect_good(&r);
		assert_int_equal(r.data_in_len, MIN(alloc, 32u));
		(void)want;
		if (alloc >= 32) {
			assert_int_equal(get_be64(b), 299);
			assert_int_equal(get_be32(b + 8), 4096);
			assert_int_equal(b[12], 0);
			assert_int_equal(b[13], 0);
			assert_int_equal(b[14], 0xc0); /* LBPME, LBPRZ */
			assert_true(buf_is_zero(b + 15, 17));
			assert_int_equal(b[32], 0xee);
		}
	}
	fx_free(g);
}

/* Every READ/WRITE size round-trips through the node at several LBAs. */
static void test_rw_all_sizes(void **state)
{
	static const uint8_t rd[] = { SCSI_OP_READ_6, SCSI_OP_READ_10, SCSI_OP_READ_12,
				      SCSI_OP_READ_16 };
	static const uint8_t wr[] = { SCSI_OP_WRITE_6, SCSI_OP_WRITE_10, SCSI_OP_WRITE_12,
				      SCSI_OP_WRITE_16 };
	static const unsigned int len[] = { 6, 10, 12, 16 };
	static uint8_t data[8 * BS], back[8 * BS], node[8 * BS];

	(void)state;
	for (int w = 0; w < 4; w++) {
		for (int rr = 0; rr < 4; rr++) {
			uint32_t lba = (uint32_t)(w * 97 + rr * 13 + 5),
				 nlb = (uint32_t)(w + rr + 1);
			uint8_t c[16] = { 0 };
			struct res r;

			fill(data, nlb * BS, (uint8_t)(w * 4 + rr));
			c[0] = wr[w];
			if (len[w] == 6) {
				put_be24(c + 1, lba);
				c[4] = (uint8_t)nlb;
			} else if (len[w] == 10) {
				put_be32(c + 2, lba);
				put_be16(c + 7, (uint16_t)nlb);
			} else if (len[w] == 12) {
				put_be32(c + 2, lba);
				put_be32(c + 6, nlb);
			} else {
				put_be64(c + 2, lba);
				put_be32(c + 10, nlb);
			}
			r = fx_run(f, c, len[w], data, nlb * BS);
			expect_good(&r);
			assert_int_equal(r.data_in_len, 0);
			node_read(f, (uint64_t)lba * BS, node, nlb * BS);
			assert_memory_equal(node, data, nlb * BS);
			c[0] = rd[rr];
			memset(c + 1, 0, 15);
			if (len[rr] == 6) {
				put_be24(c + 1, lba);
				c[4] = (uint8_t)nlb;
			} else if (len[rr] == 10) {
				put_be32(c + 2, lba);
				put_be16(c + 7, (uint16_t)nlb);
			} else if (len[rr] == 12) {
				put_be32(c + 2, lba);
				put_be32(c + 6, nlb);
			} else {
				put_be64(c + 2, lba);
				put_be32(c + 10, nlb);
			}
			memset(back, 0, sizeof(back));
			r = fx_run(f, c, len[rr], back, nlb * BS);
			expect_good(&r);
			assert_int_equal(r.data_in_len, nlb * BS);
			assert_memory_equal(back, data, nlb * BS);
		}
	}
}

/* READ(6)/WRITE(6): TRANSFER LENGTH 0 means 256 blocks; 21-bit LBA. */
static void test_rw6_256(void **state)
{
	static uint8_t data[256 * BS], back[256 * BS];
	struct res r;

	(void)state;
	fill(data, sizeof(data), 3);
	r = RUN(f, data, sizeof(data), SCSI_OP_WRITE_6, 0, 0x01, 0x00, 0, 0);
	expect_good(&r);
	r = RUN(f, back, sizeof(back), SCSI_OP_READ_6, 0, 0x01, 0x00, 0, 0);
	expect_good(&r);
	assert_int_equal(r.data_in_len, sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	node_read(f, 256 * BS, back, sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	/* 256 blocks from NB-255 overruns the end */
	r = RUN(f, back, sizeof(back), SCSI_OP_READ_6, 0, (NB - 255) >> 8, (NB - 255) & 0xff, 0, 0);
	expect_cc(r, 0x5, 0x21, 0x00);
}

/* Boundary LBAs: the last block works; one past, wrap-arounds and huge LBAs do not. */
static void test_boundaries(void **state)
{
	static const struct {
		uint64_t lba;
		uint32_t nlb;
		bool ok;
	} cases[] = {
		{ NB - 1, 1, true },	  { NB - 8, 8, true },
		{ NB, 0, true },	  { NB, 1, false },
		{ NB - 1, 2, false },	  { NB + 1, 0, false },
		{ UINT64_MAX, 1, false }, { UINT64_MAX, 0, false },
		{ 1ull << 63, 1, false }, { UINT64_MAX - 1, 2, false },
		{ 0, UINT32_MAX, false }, { 0x80000000u, 1, false },
	};
	static uint8_t buf[8 * BS];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len = cases[i].nlb <= 8 ? cases[i].nlb * BS : 0;
		uint8_t c[16];
		struct res r;

		for (int op = 0; op < 2; op++) {
			cdb_rw16(c, op ? SCSI_OP_WRITE_16 : SCSI_OP_READ_16, cases[i].lba,
				 cases[i].nlb);
			r = fx_run(f, c, 16, buf, len);
			if (cases[i].ok)
				expect_good(&r);
			else if (cases[i].nlb == UINT32_MAX)
				assert_int_equal(r.status, SCSI_STATUS_CHECK_CONDITION);
			else
				expect_cc(r, 0x5, 0x21, 0x00);
		}
		if (cases[i].lba <= UINT32_MAX && cases[i].nlb <= UINT16_MAX) {
			uint8_t c10[10];

			cdb_rw10(c10, SCSI_OP_READ_10, (uint32_t)cases[i].lba,
				 (uint16_t)cases[i].nlb);
			r = fx_run(f, c10, 10, buf, len);
			if (cases[i].ok)
				expect_good(&r);
			else
				expect_cc(r, 0x5, 0x21, 0x00);
		}
	}
}

/* Zero blocks: GOOD, no data moved; residuals of longer and shorter buffers. */
static void test_zero_length_and_residuals(void **state)
{
	static uint8_t buf[4 * BS], node[4 * BS], data[4 * BS];
	uint8_t c[10];
	struct res r;

	(void)state;
	fill(data, sizeof(data), 9);
	assert_int_equal(blk_pwrite(f->bs, 100 * BS, data, sizeof(data), 0), 0);
	memset(buf, 0xee, sizeof(buf));
	cdb_rw10(c, SCSI_OP_READ_10, 100, 0);
	r = fx_run(f, c, 10, buf, sizeof(buf));
	expect_good(&r);
	assert_int_equal(r.data_in_len, 0);
	assert_int_equal(buf[0], 0xee);
	cdb_rw10(c, SCSI_OP_WRITE_10, 100, 0);
	r = fx_run(f, c, 10, NULL, 0);
	expect_good(&r);
	node_read(f, 100 * BS, node, sizeof(node));
	assert_memory_equal(node, data, sizeof(data));

	/* Data-In buffer longer than the CDB asks: underflow residual */
	cdb_rw10(c, SCSI_OP_READ_10, 100, 2);
	r = fx_run(f, c, 10, buf, sizeof(buf));
	expect_good(&r);
	assert_int_equal(r.data_in_len, 2 * BS);
	assert_memory_equal(buf, data, 2 * BS);
	assert_int_equal(buf[2 * BS], 0xee);
	/* shorter: what fits is transferred (200 bytes of one block, one of two blocks) */
	memset(buf, 0xee, sizeof(buf));
	cdb_rw10(c, SCSI_OP_READ_10, 100, 1);
	r = fx_run(f, c, 10, buf, 200);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 200);
	assert_memory_equal(buf, data, 200);
	assert_int_equal(buf[200], 0xee);
	cdb_rw10(c, SCSI_OP_READ_10, 100, 2);
	r = fx_run(f, c, 10, buf, BS);
	expect_good(&r);
	assert_int_equal(r.data_in_len, BS);
	r = fx_run(f, c, 10, NULL, 0);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 0);

	/* Data-Out of another size than the CDB's: refused, nothing written */
	memset(buf, 0x11, sizeof(buf));
	cdb_rw10(c, SCSI_OP_WRITE_10, 100, 2);
	r = fx_run(f, c, 10, buf, BS);
	expect_cc(r, 0x5, 0x0e, 0x03);
	r = fx_run(f, c, 10, buf, 3 * BS);
	expect_cc(r, 0x5, 0x0e, 0x03);
	node_read(f, 100 * BS, node, sizeof(node));
	assert_memory_equal(node, data, sizeof(node));
}

/* RDPROTECT/WRPROTECT/VRPROTECT != 0: no protection information, INVALID FIELD. */
static void test_protect_fields(void **state)
{
	static const uint8_t ops[] = { SCSI_OP_READ_10,		 SCSI_OP_WRITE_10,
				       SCSI_OP_READ_12,		 SCSI_OP_WRITE_12,
				       SCSI_OP_READ_16,		 SCSI_OP_WRITE_16,
				       SCSI_OP_VERIFY_10,	 SCSI_OP_VERIFY_16,
				       SCSI_OP_WRITE_VERIFY_10,	 SCSI_OP_WRITE_VERIFY_16,
				       SCSI_OP_WRITE_SAME_10,	 SCSI_OP_WRITE_SAME_16,
				       SCSI_OP_COMPARE_AND_WRITE };
	static uint8_t buf[2 * BS];

	(void)state;
	for (size_t i = 0; i < sizeof(ops); i++) {
		for (unsigned int prot = 1; prot < 8; prot++) {
			uint8_t c[16] = { ops[i], (uint8_t)(prot << 5) };
			unsigned int n = ops[i] < 0x40 || ops[i] == 0x41 ? 10
					 : ops[i] >= 0xa0		 ? 12
									 : 16;
			struct res r = fx_run(f, c, n, buf, 0);

			expect_field(&r, true, 1, 31 - __builtin_clz(prot << 5));
		}
	}
}

/* DPO and FUA are accepted; FUA writes (and every write with WCE off) are FUA. */
static void test_fua_and_wce(void **state)
{
	struct scsi_lun_params p = { .block_size = BS };
	struct fx *g;
	uint8_t data[BS] = { 1 }, c[16];
	struct res r;

	(void)state;
	strict_cfg = (struct strict_state){ .caps = BLK_CAP_FUA };
	g = fx_new_node(strict_new(64 * BS, true), p, false);
	scsi_lun_set_write_cache(g->lun, true);
	cdb_rw16(c, SCSI_OP_WRITE_16, 1, 1);
	r = fx_run(g, c, 16, data, BS);
	expect_good(&r);
	assert_int_equal(strict_of(g->bs)->fua_writes, 0);
	c[1] = 0x08; /* FUA */
	r = fx_run(g, c, 16, data, BS);
	expect_good(&r);
	assert_int_equal(strict_of(g->bs)->fua_writes, 1);
	c[1] = 0x18; /* DPO + FUA */
	r = fx_run(g, c, 16, data, BS);
	expect_good(&r);
	assert_int_equal(strict_of(g->bs)->fua_writes, 2);
	c[1] = 0x02; /* obsolete FUA_NV: accepted, ignored (libiscsi Write10.Flags) */
	r = fx_run(g, c, 16, data, BS);
	expect_good(&r);
	assert_int_equal(strict_of(g->bs)->fua_writes, 2);
	c[0] = SCSI_OP_READ_16;
	c[1] = 0x1a;
	r = fx_run(g, c, 16, data, BS);
	expect_good(&r);
	/* WCE off: write-through */
	scsi_lun_set_write_cache(g->lun, false);
	cdb_rw16(c, SCSI_OP_WRITE_16, 1, 1);
	r = fx_run(g, c, 16, data, BS);
	expect_good(&r);
	assert_int_equal(strict_of(g->bs)->fua_writes, 3);
	r = RUN(g, data, BS, SCSI_OP_WRITE_6, 0, 0, 1, 1, 0);
	expect_good(&r);
	assert_int_equal(strict_of(g->bs)->fua_writes, 4);
	/* SYNCHRONIZE CACHE flushes the node */
	r = RUN(g, NULL, 0, SCSI_OP_SYNCHRONIZE_CACHE_10, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_good(&r);
	assert_int_equal(strict_of(g->bs)->flushes, 1);
	r = RUN(g, NULL, 0, SCSI_OP_SYNCHRONIZE_CACHE_16, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 0, 0);
	expect_good(&r);
	assert_int_equal(strict_of(g->bs)->flushes, 2);
	r = RUN(g, NULL, 0, SCSI_OP_SYNCHRONIZE_CACHE_10, 0, 0, 0, 0, 64, 0, 0, 1, 0);
	expect_cc(r, 0x5, 0x21, 0x00);
	fx_free(g);
}

/* Block-layer errors become sense through the one mapping. */
static void test_errors_to_sense(void **state)
{
	static const struct {
		int err;
		bool write;
		uint8_t status, key, asc, ascq;
	} cases[] = {
		{ -EIO, false, 2, 0x3, 0x11, 0x00 },	    { -EIO, true, 2, 0x3, 0x0c, 0x00 },
		{ -ENOSPC, true, 2, 0x7, 0x27, 0x07 },	    { -EROFS, true, 2, 0x7, 0x27, 0x00 },
		{ -ENOMEDIUM, false, 2, 0x2, 0x3a, 0x00 },  { -ENOMEM, true, 8, 0, 0, 0 },
		{ -ECONNRESET, false, 2, 0xb, 0x08, 0x00 }, { -EXDEV, true, 2, 0x4, 0x44, 0x00 },
	};
	struct scsi_lun_params p = { .block_size = BS };
	struct fx *g;
	uint8_t data[BS] = { 0 }, c[16];

	(void)state;
	strict_cfg = (struct strict_state){ 0 };
	g = fx_new_node(strict_new(64 * BS, true), p, false);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct res r;

		strict_of(g->bs)->fail_next = cases[i].err;
		cdb_rw16(c, cases[i].write ? SCSI_OP_WRITE_16 : SCSI_OP_READ_16, 3, 1);
		r = fx_run(g, c, 16, data, BS);
		assert_int_equal(r.status, cases[i].status);
		if (r.status == SCSI_STATUS_CHECK_CONDITION)
			expect_sense(&r, cases[i].key, cases[i].asc, cases[i].ascq);
		else
			assert_int_equal(r.sense_len, 0);
		assert_int_equal(r.data_in_len, 0);
	}
	fx_free(g);
}

/* 4096-byte logical blocks: LBAs scale by 4096. */
static void test_4k_blocks(void **state)
{
	struct fx *g = fx_new(4096, 64, false);
	static uint8_t data[3 * 4096], back[3 * 4096];
	uint8_t c[16];
	struct res r;

	(void)state;
	fill(data, sizeof(data), 77);
	cdb_rw16(c, SCSI_OP_WRITE_16, 61, 3);
	r = fx_run(g, c, 16, data, sizeof(data));
	expect_good(&r);
	node_read(g, 61 * 4096, back, sizeof(back));
	assert_memory_equal(back, data, sizeof(data));
	cdb_rw16(c, SCSI_OP_READ_16, 61, 3);
	r = fx_run(g, c, 16, back, sizeof(back));
	expect_good(&r);
	assert_memory_equal(back, data, sizeof(data));
	cdb_rw16(c, SCSI_OP_READ_16, 62, 3);
	r = fx_run(g, c, 16, back, sizeof(back));
	expect_cc(r, 0x5, 0x21, 0x00);
	/* a 512-byte Data-Out for one 4096-byte block is the wrong size */
	cdb_rw16(c, SCSI_OP_WRITE_16, 0, 1);
	r = fx_run(g, c, 16, data, 512);
	expect_cc(r, 0x5, 0x0e, 0x03);
	fx_free(g);
}

/* max_sectors (LIO hw_max_sectors) is B0's MAXIMUM TRANSFER LENGTH and the COMPARE AND
 * WRITE limit; longer READ/WRITE/VERIFY are served (as LIO's backstores do). */
static void test_max_sectors(void **state)
{
	struct blk_node *bs = NULL;
	struct scsi_lun_params p = { .block_size = BS, .max_sectors = 8 };
	static uint8_t buf[16 * BS], back[16 * BS];
	struct fx *g;
	uint8_t c[16];
	struct res r;

	(void)state;
	assert_int_equal(blk_open_str("@driver=memory@size=1M", BLK_O_RDWR, &bs, NULL), 0);
	g = fx_new_node(bs, p, false);
	fill(buf, sizeof(buf), 77);
	cdb_rw16(c, SCSI_OP_WRITE_16, 0, 16);
	r = fx_run(g, c, 16, buf, 16 * BS);
	expect_good(&r);
	cdb_rw16(c, SCSI_OP_READ_16, 0, 16);
	r = fx_run(g, c, 16, back, 16 * BS);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 16 * BS);
	assert_memory_equal(back, buf, sizeof(buf));
	r = RUN(g, buf, 9 * BS, SCSI_OP_WRITE_10, 0, 0, 0, 0, 0, 0, 0, 9, 0);
	expect_good(&r);
	r = RUN(g, buf, 9 * BS, SCSI_OP_VERIFY_10, 0x02, 0, 0, 0, 0, 0, 0, 9, 0);
	expect_good(&r);
	r = RUN(g, buf, BS, SCSI_OP_WRITE_SAME_10, 0, 0, 0, 0, 0, 0, 0, 100, 0);
	expect_good(&r);
	r = RUN(g, buf, 64, SCSI_OP_INQUIRY, 1, 0xb0, 0, 64, 0);
	assert_int_equal(get_be32(buf + 8), 8);
	assert_int_equal(buf[5], 8); /* COMPARE AND WRITE limited */
	r = RUN(g, buf, 18 * BS, SCSI_OP_COMPARE_AND_WRITE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9,
		0, 0);
	expect_field(&r, true, 13, 7);
	fx_free(g);
}

static struct res verify(uint8_t op_byte1, uint32_t lba, uint16_t nlb, void *buf, size_t len)
{
	uint8_t c[10];

	cdb_rw10(c, SCSI_OP_VERIFY_10, lba, nlb);
	c[1] = op_byte1;
	return fx_run(f, c, 10, buf, len);
}

static void test_verify(void **state)
{
	static uint8_t data[8 * BS], cmp[8 * BS];
	struct res r;

	(void)state;
	fill(data, sizeof(data), 21);
	assert_int_equal(blk_pwrite(f->bs, 500 * BS, data, sizeof(data), 0), 0);
	r = verify(0x00, 500, 8, NULL, 0); /* BYTCHK 0: medium verification */
	expect_good(&r);
	r = verify(0x02, 500, 8, data, sizeof(data)); /* BYTCHK 1 */
	expect_good(&r);
	for (size_t off = 0; off < sizeof(data); off += 777) {
		memcpy(cmp, data, sizeof(cmp));
		cmp[off] ^= 0x58;
		r = verify(0x12, 500, 8, cmp, sizeof(cmp)); /* DPO too */
		expect_cc(r, 0xe, 0x1d, 0x00);
		assert_int_equal(sense_info(&r), (int64_t)off);
	}
	/* BYTCHK 3: one block compared with every block */
	memset(data, 0x3c, BS);
	for (int i = 0; i < 4; i++)
		assert_int_equal(blk_pwrite(f->bs, (600 + i) * BS, data, BS, 0), 0);
	r = verify(0x06, 600, 4, data, BS);
	expect_good(&r);
	r = verify(0x06, 600, 5, data, BS);
	expect_cc(r, 0xe, 0x1d, 0x00);
	assert_int_equal(sense_info(&r), 4 * BS);
	r = verify(0x04, 600, 1, data, BS); /* BYTCHK 2: reserved */
	expect_field(&r, true, 1, 2);
	/* Data-Out size must match BYTCHK */
	r = verify(0x02, 600, 2, data, BS);
	expect_cc(r, 0x5, 0x0e, 0x03);
	/* zero blocks and out-of-range LBAs (libiscsi Verify10.0blocks) */
	r = verify(0x02, NB, 0, NULL, 0);
	expect_good(&r);
	r = verify(0x02, NB + 1, 0, NULL, 0);
	expect_cc(r, 0x5, 0x21, 0x00);
	r = verify(0x02, 0xffffffff, 0, NULL, 0);
	expect_cc(r, 0x5, 0x21, 0x00);
	r = verify(0x00, NB - 1, 2, NULL, 0);
	expect_cc(r, 0x5, 0x21, 0x00);
}

static void test_write_verify(void **state)
{
	struct scsi_lun_params p = { .block_size = BS };
	static uint8_t data[4 * BS], back[4 * BS];
	struct fx *g;
	uint8_t c[16];
	struct res r;

	(void)state;
	strict_cfg = (struct strict_state){ .caps = BLK_CAP_FUA };
	g = fx_new_node(strict_new(64 * BS, true), p, false);
	fill(data, sizeof(data), 5);
	for (int bytchk = 0; bytchk < 4; bytchk++) {
		cdb_rw16(c, SCSI_OP_WRITE_VERIFY_16, 10, 4);
		c[1] = (uint8_t)(bytchk << 1);
		r = fx_run(g, c, 16, data, sizeof(data));
		if (bytchk > 1) {
			expect_field(&r, true, 1, 2);
			continue;
		}
		expect_good(&r);
		node_read(g, 10 * BS, back, sizeof(back));
		assert_memory_equal(back, data, sizeof(data));
		assert_int_equal(strict_of(g->bs)->fua_writes, bytchk + 1);
	}
	/* a read error while verifying is a medium error */
	cdb_rw16(c, SCSI_OP_WRITE_VERIFY_16, 10, 4);
	c[1] = 0x02;
	strict_of(g->bs)->fail_next = -EIO;
	r = fx_run(g, c, 16, data, sizeof(data));
	expect_cc(r, 0x3, 0x0c, 0x00);
	r = RUN(g, data, BS, SCSI_OP_WRITE_VERIFY_10, 0x10, 0, 0, 0, 1, 0, 0, 1, 0);
	expect_good(&r);
	fx_free(g);
}

static struct res caw(struct fx *g, uint64_t lba, uint8_t nlb, uint8_t b1, void *buf, size_t len)
{
	uint8_t c[16] = { SCSI_OP_COMPARE_AND_WRITE, b1 };

	put_be64(c + 2, lba);
	c[13] = nlb;
	return fx_run(g, c, 16, buf, len);
}

static void test_compare_and_write(void **state)
{
	static uint8_t buf[2 * 255 * BS], node[255 * BS];
	struct res r;

	(void)state;
	for (unsigned int nlb = 1; nlb <= 255; nlb += 127) {
		memset(buf, 'A', nlb * BS);
		assert_int_equal(blk_pwrite(f->bs, 0, buf, nlb * BS, 0), 0);
		/* miscompare at a known offset: nothing written, offset in INFORMATION */
		buf[nlb * BS - 27] = 'C';
		memset(buf + nlb * BS, 'B', nlb * BS);
		r = caw(f, 0, (uint8_t)nlb, 0, buf, 2 * nlb * BS);
		expect_cc(r, 0xe, 0x1d, 0x00);
		assert_int_equal(sense_info(&r), nlb * BS - 27);
		node_read(f, 0, node, nlb * BS);
		for (size_t i = 0; i < nlb * BS; i++)
			assert_int_equal(node[i], 'A');
		/* match: the second half is written */
		buf[nlb * BS - 27] = 'A';
		r = caw(f, 0, (uint8_t)nlb, 0x18, buf, 2 * nlb * BS); /* DPO, FUA */
		expect_good(&r);
		node_read(f, 0, node, nlb * BS);
		for (size_t i = 0; i < nlb * BS; i++)
			assert_int_equal(node[i], 'B');
	}
	/* at the end of the medium, past it, zero blocks, wrong Data-Out sizes */
	memset(buf, 0, 4 * BS);
	assert_int_equal(blk_write_zeroes(f->bs, (NB - 2) * BS, 2 * BS, 0), 0);
	r = caw(f, NB - 2, 2, 0, buf, 4 * BS);
	expect_good(&r);
	r = caw(f, NB - 1, 2, 0, buf, 4 * BS);
	expect_cc(r, 0x5, 0x21, 0x00);
	r = caw(f, 0, 0, 0, NULL, 0);
	expect_good(&r);
	r = caw(f, 0, 1, 0, buf, 4 * BS);
	expect_cc(r, 0x5, 0x0e, 0x03);
	r = caw(f, 0, 3, 0, buf, 4 * BS);
	expect_cc(r, 0x5, 0x0e, 0x03);
}

/* Overlapping writes in flight complete in submission order, CAW atomically. */
#define QD 48
static void write_ordering_round(int round)
{
	struct scsi_lun_params p = { .block_size = BS };
	static uint8_t bufs[QD][8 * BS], node[16 * BS], want[16 * BS];
	static struct scsi_cmd cmds[QD];
	static uint8_t cdbs[QD][16];
	static struct iovec iovs[QD];
	struct fx *g;
	int pending = QD;

	strict_cfg = (struct strict_state){ 0 }; /* no async path: real thread-pool concurrency */
	g = fx_new_node(strict_new(64 * BS, true), p, false);
	memset(want, 0, sizeof(want));
	for (int i = 0; i < QD; i++) {
		uint64_t lba = (uint64_t)(i * 5 + round) % 9;
		uint32_t nlb = (uint32_t)((i + round) % 7) + 1;

		if (i % 6 == 5) {
			/* CAW of block 4 comparing with what the writes before it leave there */
			memcpy(bufs[i], want + 4 * BS, BS);
			memset(bufs[i] + BS, 0x80 + i, BS);
			memset(cdbs[i], 0, 16);
			cdbs[i][0] = SCSI_OP_COMPARE_AND_WRITE;
			put_be64(cdbs[i] + 2, 4);
			cdbs[i][13] = 1;
			memset(want + 4 * BS, 0x80 + i, BS);
			iovs[i] = (struct iovec){ bufs[i], 2 * BS };
		} else {
			memset(bufs[i], i + 1, nlb * BS);
			cdb_rw16(cdbs[i], SCSI_OP_WRITE_16, lba, nlb);
			memset(want + lba * BS, i + 1, nlb * BS);
			iovs[i] = (struct iovec){ bufs[i], nlb * BS };
		}
		memset(&cmds[i], 0, sizeof(cmds[i]));
		cmds[i].cdb = cdbs[i];
		cmds[i].cdb_len = 16;
		cmds[i].iov = &iovs[i];
		cmds[i].iovcnt = 1;
		cmds[i].done = cmd_done;
		cmds[i].opaque = &pending;
	}
	for (int i = 0; i < QD; i++)
		scsi_lun_submit(g->lun, &cmds[i]);
	assert_true(scsi_lun_inflight(g->lun) > 0);
	while (pending)
		aio_poll(g->ctx, true);
	for (int i = 0; i < QD; i++)
		if (cmds[i].status != SCSI_STATUS_GOOD)
			fail_msg("command %d: status 0x%x", i, cmds[i].status);
	node_read(g, 0, node, sizeof(node));
	assert_memory_equal(node, want, sizeof(want));
	fx_free(g);
}

static void test_write_ordering(void **state)
{
	(void)state;
	for (int round = 0; round < 8; round++)
		write_ordering_round(round);
}

/* Replacing the node: capacity and write protection follow the new node. */
static void test_set_node(void **state)
{
	struct scsi_lun_params p = { .block_size = BS };
	struct blk_node *ro = NULL, *rw = NULL;
	uint8_t data[BS] = { 7 }, b[8];
	struct fx *g;
	struct res r;

	(void)state;
	assert_int_equal(blk_open_str("@driver=memory@size=64k", 0, &ro, NULL), 0);
	assert_int_equal(blk_open_str("@driver=memory@size=128k", BLK_O_RDWR, &rw, NULL), 0);
	g = fx_new_node(ro, p, false);
	r = fx_write(g, 0, 1, data);
	expect_cc(r, 0x7, 0x27, 0x00);
	scsi_lun_set_node(g->lun, rw);
	g->bs = rw;
	blk_close(ro);
	r = fx_write(g, 0, 1, data);
	expect_good(&r);
	r = RUN(g, b, 8, SCSI_OP_READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_good(&r);
	assert_int_equal(get_be32(b), 255);
	fx_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_capacity),
		cmocka_unit_test(test_rw_all_sizes),
		cmocka_unit_test(test_rw6_256),
		cmocka_unit_test(test_boundaries),
		cmocka_unit_test(test_zero_length_and_residuals),
		cmocka_unit_test(test_protect_fields),
		cmocka_unit_test(test_fua_and_wce),
		cmocka_unit_test(test_errors_to_sense),
		cmocka_unit_test(test_4k_blocks),
		cmocka_unit_test(test_max_sectors),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_write_verify),
		cmocka_unit_test(test_compare_and_write),
		cmocka_unit_test(test_write_ordering),
		cmocka_unit_test(test_set_node),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
