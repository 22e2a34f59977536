/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SPC commands byte for byte: INQUIRY (standard and VPD 00/80/83/86/B0/B1/B2), MODE SENSE
 * and MODE SELECT (6 and 10), REQUEST SENSE, REPORT SUPPORTED OPERATION CODES, REPORT
 * TIMESTAMP, with allocation lengths smaller and larger than the responses.
 */
#include "scsi-test.h"

#include <time.h>

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

static const uint8_t std_inquiry[96] = {
	0x00,	     0x00, 0x06, 0x12, 91,   0x08, 0x00, 0x02, 'L',  'I',  'O', '-',
	'O',	     'R',  'G',	 ' ',  'T',  'C',  'M',	 'U',  ' ',  'd',  'e', 'v',
	'i',	     'c',  'e',	 ' ',  ' ',  ' ',  ' ',	 ' ',  '0',  '0',  '0', '2',
	[58] = 0x00, 0xa0, 0x04, 0x60, 0x05, 0xc0, 0x04, 0xc0, 0x06, 0x00,
};

/* INQUIRY with every allocation length 0..300: a prefix of the same 96 bytes. */
static void test_inquiry_standard(void **state)
{
	uint8_t buf[300];

	(void)state;
	for (unsigned int alloc = 0; alloc <= sizeof(buf); alloc++) {
		struct res r;

		memset(buf, 0xee, sizeof(buf));
		r = RUN(f, buf, sizeof(buf), SCSI_OP_INQUIRY, 0, 0, (uint8_t)(alloc >> 8),
			(uint8_t)alloc, 0);
		expect_good(&r);
		assert_int_equal(r.data_in_len, MIN(alloc, 96u));
		assert_memory_equal(buf, std_inquiry, r.data_in_len);
		assert_int_equal(buf[r.data_in_len], 0xee); /* nothing past the transfer */
	}
	/* a buffer shorter than the allocation length: truncated to the buffer */
	{
		struct res r = RUN(f, buf, 10, SCSI_OP_INQUIRY, 0, 0, 0, 255, 0);

		expect_good(&r);
		assert_int_equal(r.data_in_len, 10);
	}
}

static void test_inquiry_errors(void **state)
{
	uint8_t buf[255];
	struct res r;

	(void)state;
	r = RUN(f, buf, sizeof(buf), SCSI_OP_INQUIRY, 0, 0x80, 0, 255, 0); /* page w/o EVPD */
	expect_field(&r, true, 2, 7);
	r = RUN(f, buf, sizeof(buf), SCSI_OP_INQUIRY, 1, 0x81, 0, 255, 0); /* no such page */
	expect_field(&r, true, 2, 7);
	r = RUN(f, buf, sizeof(buf), SCSI_OP_INQUIRY, 2, 0, 0, 255, 0); /* CMDDT */
	expect_field(&r, true, 1, 1);
}

static struct res vpd(uint8_t page, uint8_t *buf, uint16_t alloc)
{
	return RUN(f, buf, alloc, SCSI_OP_INQUIRY, 1, page, (uint8_t)(alloc >> 8), (uint8_t)alloc,
		   0);
}

static void test_vpd_supported_serial(void **state)
{
	static const uint8_t sup[] = { 0, 0, 0, 7, 0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1, 0xb2 };
	uint8_t buf[255];
	struct res r;

	(void)state;
	r = vpd(0x00, buf, 255);
	expect_good(&r);
	assert_int_equal(r.data_in_len, sizeof(sup));
	assert_memory_equal(buf, sup, sizeof(sup));
	/* every listed page answers; codes ascending */
	for (unsigned int i = 4; i < sizeof(sup); i++) {
		uint8_t pb[255];
		struct res rp = vpd(sup[i], pb, 255);

		expect_good(&rp);
		assert_int_equal(pb[1], sup[i]);
		if (i > 4)
			assert_true(sup[i] > sup[i - 1]);
	}
	r = vpd(0x80, buf, 255);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 4 + 37);
	assert_int_equal(buf[3], 37);
	assert_string_equal((char *)buf + 4, "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809");

	/* no serial yet (LIO writes it after enable): no page 80, no NAA designator */
	f->serial = NULL;
	r = vpd(0x00, buf, 255);
	assert_int_equal(buf[3], 6);
	assert_int_equal(buf[5], 0x83);
	r = vpd(0x80, buf, 255);
	expect_field(&r, true, 2, 7);
	r = vpd(0x83, buf, 255);
	expect_good(&r);
	assert_int_equal(buf[4], 0x02); /* first designator: T10 vendor id */
	assert_int_equal(buf[5], 0x01);
	assert_int_equal(buf[7], 9);
	assert_memory_equal(buf + 8, "LIO-ORG \0", 9);
	f->serial = "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809";
}

/* VPD 83: NAA 6 with LIO's 6001405 + serial nibbles, T10 vendor id, the config string. */
static void test_vpd_device_id(void **state)
{
	static const uint8_t naa[] = { 0x01, 0x03, 0x00, 0x10, 0x60, 0x01, 0x40, 0x51, 0xa2, 0xb3,
				       0xc4, 0xd5, 0xe6, 0xf7, 0x08, 0x19, 0x2a, 0x3b, 0x4c, 0x5d };
	const char *t10 = "LIO-ORG TCMU device:1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809";
	uint8_t buf[255];
	struct res r;

	(void)state;
	r = vpd(0x83, buf, 255);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 108);
	assert_int_equal(get_be16(buf + 2), 104);
	assert_memory_equal(buf + 4, naa, sizeof(naa));
	assert_int_equal(buf[24], 0x02);
	assert_int_equal(buf[25], 0x01);
	assert_int_equal(buf[27], strlen(t10) + 1);
	assert_memory_equal(buf + 28, t10, strlen(t10) + 1);
	assert_int_equal(buf[85], 0x02); /* ASCII */
	assert_int_equal(buf[86], 0x00); /* vendor specific designator */
	assert_int_equal(buf[88], 19);
	assert_memory_equal(buf + 89, "qemu/@driver=memory", 19);
	/* short allocation lengths truncate */
	for (uint16_t a = 0; a < 108; a += 7) {
		uint8_t b2[255];

		r = vpd(0x83, b2, a);
		expect_good(&r);
		assert_int_equal(r.data_in_len, a);
		assert_memory_equal(b2, buf, a);
	}
}

static void test_vpd_limits(void **state)
{
	uint8_t b[255], want[64] = { 0, 0xb0, 0, 0x3c, 0x01, 255, 0, 1 };
	struct res r;

	(void)state;
	put_be32(want + 20, 0xffffffff); /* MAXIMUM UNMAP LBA COUNT */
	put_be32(want + 24, 256);	 /* MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT */
	put_be32(want + 28, 1);		 /* OPTIMAL UNMAP GRANULARITY */
	put_be64(want + 36, 0xffff);	 /* MAXIMUM WRITE SAME LENGTH (LIO's) */
	r = vpd(0xb0, b, 255);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 64);
	assert_memory_equal(b, want, 64);

	r = vpd(0xb1, b, 255);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 64);
	assert_int_equal(get_be16(b + 2), 0x3c);
	assert_int_equal(get_be16(b + 4), 1);

	/* the memory node deallocates and reads back zeroes: LBPU, LBPWS, LBPWS10, LBPRZ */
	r = vpd(0xb2, b, 255);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 8);
	assert_int_equal(get_be16(b + 2), 4);
	assert_int_equal(b[5], 0xe4);
	assert_int_equal(b[6], 0x02);

	r = vpd(0x86, b, 255);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 64);
	assert_int_equal(b[5], 0x01); /* SIMPSUP */
	assert_int_equal(b[6], 0x01);
}

/* Provisioning follows the node: discard=ignore and null nodes offer none of it. */
static void test_vpd_no_provisioning(void **state)
{
	static const char *const extra[] = { "@discard=ignore", NULL };
	uint8_t b[255];

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct fx *g = i == 0 ? fx_new_opts(BS, 64, false, extra[0]) : NULL;
		struct res r;

		if (!g) {
			struct scsi_lun_params p = { .block_size = BS };
			struct err err;

			err_init(&err);
			g = calloc(1, sizeof(*g));
			g->ctx = aio_ctx_new();
			g->bsz = BS;
			assert_int_equal(
				blk_open_str("@driver=null@size=32768", BLK_O_RDWR, &g->bs, &err),
				0);
			assert_int_equal(scsi_lun_new(g->bs, &p, g->ctx, &g->lun, &err), 0);
		}
		r = RUN(g, b, 255, SCSI_OP_INQUIRY, 1, 0xb2, 0, 255, 0);
		expect_good(&r);
		assert_int_equal(b[5], 0);
		assert_int_equal(b[6], 0);
		r = RUN(g, b, 255, SCSI_OP_INQUIRY, 1, 0xb0, 0, 255, 0);
		assert_int_equal(get_be32(b + 20), 0);
		assert_int_equal(get_be32(b + 24), 0);
		r = RUN(g, b, 32, SCSI_OP_SERVICE_ACTION_IN_16, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0, 32, 0, 0);
		expect_good(&r);
		assert_int_equal(b[14], 0);
		r = RUN(g, b, 24, SCSI_OP_UNMAP, 0, 0, 0, 0, 0, 0, 0, 24, 0);
		expect_cc(r, 0x5, 0x20, 0x00);
		r = RUN(g, b, BS, SCSI_OP_WRITE_SAME_10, 0x08, 0, 0, 0, 0, 0, 0, 1, 0);
		expect_field(&r, true, 1, 3);
		fx_free(g);
	}
}

static const uint8_t ms_pages[] = {
	/* 01 read-write error recovery */
	0x01,
	0x0a,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	/* 08 caching, WCE */
	0x08,
	0x12,
	0x04,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	/* 0a control: QAM 1, TAS, busy timeout unlimited */
	0x0a,
	0x0a,
	0x00,
	0x10,
	0x00,
	0x40,
	0,
	0,
	0xff,
	0xff,
	0,
	0,
	/* 1c informational exceptions: DEXCPT */
	0x1c,
	0x0a,
	0x08,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
	0,
};

static void test_mode_sense_6(void **state)
{
	uint8_t want[4 + 8 + sizeof(ms_pages)] = {
		sizeof(want) - 1, 0, 0x10, 8, 0, 0, 0x08, 0, 0, 0, 0x02, 0
	};
	uint8_t buf[300];

	(void)state;
	memcpy(want + 12, ms_pages, sizeof(ms_pages));
	for (unsigned int alloc = 0; alloc < 256; alloc++) {
		struct res r = RUN(f, buf, sizeof(buf), SCSI_OP_MODE_SENSE_6, 0, 0x3f, 0,
				   (uint8_t)alloc, 0);

		expect_good(&r);
		assert_int_equal(r.data_in_len, MIN(alloc, (unsigned int)sizeof(want)));
		assert_memory_equal(buf, want, r.data_in_len);
	}
	/* one page, DBD */
	{
		struct res r = RUN(f, buf, 255, SCSI_OP_MODE_SENSE_6, 0x08, 0x0a, 0, 255, 0);

		expect_good(&r);
		assert_int_equal(r.data_in_len, 16);
		assert_int_equal(buf[0], 15);
		assert_int_equal(buf[3], 0);
		assert_memory_equal(buf + 4, ms_pages + 32, 12);
	}
	/* all pages and subpages is the same (no subpages) */
	{
		struct res r = RUN(f, buf, 255, SCSI_OP_MODE_SENSE_6, 0, 0x3f, 0xff, 255, 0);

		expect_good(&r);
		assert_memory_equal(buf, want, sizeof(want));
	}
}

static void test_mode_sense_10(void **state)
{
	uint8_t buf[300];
	struct res r;

	(void)state;
	/* LLBAA: 16-byte block descriptor */
	r = RUN(f, buf, sizeof(buf), SCSI_OP_MODE_SENSE_10, 0x10, 0x08, 0, 0, 0, 0, 1, 0, 0);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 8 + 16 + 20);
	assert_int_equal(get_be16(buf), 8 + 16 + 20 - 2);
	assert_int_equal(buf[3], 0x10);
	assert_int_equal(buf[4], 0x01); /* LONGLBA */
	assert_int_equal(get_be16(buf + 6), 16);
	assert_int_equal(get_be64(buf + 8), NB);
	assert_int_equal(get_be32(buf + 20), BS);
	assert_memory_equal(buf + 24, ms_pages + 12, 20);
	/* short descriptor without LLBAA */
	r = RUN(f, buf, sizeof(buf), SCSI_OP_MODE_SENSE_10, 0, 0x01, 0, 0, 0, 0, 1, 0, 0);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 8 + 8 + 12);
	assert_int_equal(get_be16(buf + 6), 8);
	assert_int_equal(get_be32(buf + 8), NB);
	assert_int_equal(get_be24(buf + 13), BS);
	/* changeable values: WCE and D_SENSE only, zero block descriptor */
	r = RUN(f, buf, sizeof(buf), SCSI_OP_MODE_SENSE_10, 0, 0x7f, 0, 0, 0, 0, 1, 0, 0);
	expect_good(&r);
	assert_int_equal(get_be32(buf + 8), 0);
	assert_int_equal(buf[16 + 12 + 2], 0x04); /* caching: WCE */
	assert_int_equal(buf[16 + 32 + 2], 0x04); /* control: D_SENSE */
	assert_int_equal(buf[16 + 32 + 3], 0x00);
	assert_int_equal(buf[16 + 44 + 2], 0x00);
	/* default values: as current at creation */
	r = RUN(f, buf, sizeof(buf), SCSI_OP_MODE_SENSE_10, 0x08, 0xbf, 0, 0, 0, 0, 1, 0, 0);
	expect_good(&r);
	assert_memory_equal(buf + 8, ms_pages, sizeof(ms_pages));
	/* saved values: not supported; unknown page; subpage */
	r = RUN(f, buf, sizeof(buf), SCSI_OP_MODE_SENSE_10, 0, 0xff, 0, 0, 0, 0, 1, 0, 0);
	expect_cc(r, 0x5, 0x39, 0x00);
	r = RUN(f, buf, sizeof(buf), SCSI_OP_MODE_SENSE_10, 0, 0x02, 0, 0, 0, 0, 1, 0, 0);
	expect_field(&r, true, 2, 5);
	r = RUN(f, buf, sizeof(buf), SCSI_OP_MODE_SENSE_10, 0, 0x08, 0x01, 0, 0, 0, 1, 0, 0);
	expect_field(&r, true, 3, 7);
}

static struct res select6(uint8_t *pl, uint8_t len)
{
	return RUN(f, pl, len, SCSI_OP_MODE_SELECT_6, 0x10, 0, 0, len, 0);
}

static void test_mode_select(void **state)
{
	uint8_t pl[64], buf[64];
	struct res r;

	(void)state;
	/* turn WCE off: visible in MODE SENSE, the block node and the LUN */
	memset(pl, 0, sizeof(pl));
	memcpy(pl + 4, ms_pages + 12, 20);
	pl[4 + 2] = 0;
	r = select6(pl, 24);
	expect_good(&r);
	assert_false(scsi_lun_write_cache(f->lun));
	assert_false(blk_write_cache(f->bs));
	r = RUN(f, buf, 64, SCSI_OP_MODE_SENSE_6, 0x08, 0x08, 0, 64, 0);
	assert_int_equal(buf[4 + 2], 0x00);
	pl[4 + 2] = 0x84 & 0x04; /* back on; PS bit in the page code is tolerated */
	pl[4] |= 0x80;
	r = select6(pl, 24);
	expect_good(&r);
	assert_true(scsi_lun_write_cache(f->lun));
	pl[4] &= 0x7f;

	/* a non-changeable bit: INVALID FIELD IN PARAMETER LIST at that byte and bit */
	pl[4 + 2] = 0x04 | 0x01; /* RCD */
	r = select6(pl, 24);
	expect_field(&r, false, 6, 0);
	assert_true(scsi_lun_write_cache(f->lun)); /* nothing applied */
	pl[4 + 2] = 0x04;
	/* wrong page length, unknown page, subpage format */
	pl[5] = 0x11;
	r = select6(pl, 24);
	expect_field(&r, false, 5, 7);
	pl[5] = 0x12;
	pl[4] = 0x02;
	r = select6(pl, 24);
	expect_field(&r, false, 4, 5);
	pl[4] = 0x48;
	r = select6(pl, 24);
	expect_field(&r, false, 4, 6);
	pl[4] = 0x08;
	/* truncated page, short header */
	r = select6(pl, 20);
	expect_cc(r, 0x5, 0x1a, 0x00);
	r = select6(pl, 3);
	expect_cc(r, 0x5, 0x1a, 0x00);
	/* empty list: nothing to do */
	r = select6(pl, 0);
	expect_good(&r);
	/* PF=0 and SP=1 */
	r = RUN(f, pl, 24, SCSI_OP_MODE_SELECT_6, 0x00, 0, 0, 24, 0);
	expect_field(&r, true, 1, 4);
	r = RUN(f, pl, 24, SCSI_OP_MODE_SELECT_6, 0x11, 0, 0, 24, 0);
	expect_field(&r, true, 1, 0);

	/* a block descriptor with our block length is accepted, another one refused */
	memset(pl, 0, sizeof(pl));
	pl[3] = 8;
	put_be24(pl + 4 + 5, BS);
	memcpy(pl + 12, ms_pages, 12);
	r = select6(pl, 24);
	expect_good(&r);
	put_be24(pl + 4 + 5, 4096);
	r = select6(pl, 24);
	expect_field(&r, false, 9, 7);

	/* MODE SELECT(10) with two pages */
	memset(pl, 0, sizeof(pl));
	memcpy(pl + 8, ms_pages + 12, 32);
	r = RUN(f, pl, 40, SCSI_OP_MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0, 40, 0);
	expect_good(&r);
}

static void test_request_sense(void **state)
{
	uint8_t buf[64];
	struct res r;

	(void)state;
	for (unsigned int alloc = 0; alloc < 32; alloc++) {
		memset(buf, 0xee, sizeof(buf));
		r = RUN(f, buf, sizeof(buf), SCSI_OP_REQUEST_SENSE, 0, 0, 0, (uint8_t)alloc, 0);
		expect_good(&r);
		assert_int_equal(r.data_in_len, MIN(alloc, 18u));
		if (alloc >= 18) {
			assert_int_equal(buf[0], 0x70);
			assert_int_equal(buf[2], 0);
			assert_int_equal(buf[7], 10);
			assert_int_equal(buf[12], 0);
		}
	}
	r = RUN(f, buf, sizeof(buf), SCSI_OP_REQUEST_SENSE, 1, 0, 0, 64, 0); /* DESC */
	expect_good(&r);
	assert_int_equal(r.data_in_len, 8);
	assert_int_equal(buf[0], 0x72);
	assert_int_equal(buf[7], 0);
}

static struct res rsoc(uint8_t opts, uint8_t op, uint16_t sa, uint8_t *buf, uint32_t alloc)
{
	uint8_t c[12] = { SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_OPCODES, opts, op };

	put_be16(c + 4, sa);
	put_be32(c + 6, alloc);
	return fx_run(f, c, 12, buf, alloc);
}

static void test_rsoc(void **state)
{
	static uint8_t all[2048], rctd[4096];
	uint8_t b[64];
	uint32_t n;
	struct res r;

	(void)state;
	r = rsoc(0, 0, 0, all, sizeof(all));
	expect_good(&r);
	n = get_be32(all);
	assert_int_equal(n % 8, 0);
	/* with timeouts: every descriptor has CTDP and a 0x0a-long timeouts descriptor */
	r = rsoc(0x80, 0, 0, rctd, sizeof(rctd));
	expect_good(&r);
	assert_int_equal(get_be32(rctd), n / 8 * 20);
	for (uint32_t off = 4; off < 4 + get_be32(rctd); off += 20) {
		assert_int_equal(rctd[off + 5] & 0x02, 0x02);
		assert_int_equal(get_be16(rctd + off + 8), 0x0a);
	}
	/* allocation lengths below the size: prefixes */
	for (uint32_t a = 0; a < 40; a++) {
		r = rsoc(0, 0, 0, b, a);
		expect_good(&r);
		assert_int_equal(r.data_in_len, a);
		assert_memory_equal(b, all, a);
	}
	/* READ(10): DPO and FUA in the usage data (libiscsi DpoFua) */
	r = rsoc(1, SCSI_OP_READ_10, 0, b, sizeof(b));
	expect_good(&r);
	assert_int_equal(r.data_in_len, 14);
	assert_int_equal(b[1], 0x03);
	assert_int_equal(b[4], 0x28);
	assert_int_equal(b[5], 0x1a); /* DPO, FUA, FUA_NV (obsolete, ignored) */
	/* an unsupported opcode: SUPPORT 001b, GOOD */
	r = rsoc(1, 0x01, 0, b, sizeof(b));
	expect_good(&r);
	assert_int_equal(r.data_in_len, 4);
	assert_int_equal(b[1], 0x01);
	/* options 1 on an opcode with service actions, 2 on one without: invalid */
	r = rsoc(1, SCSI_OP_SERVICE_ACTION_IN_16, 0x10, b, sizeof(b));
	expect_field(&r, true, 2, 2);
	r = rsoc(2, SCSI_OP_READ_10, 0, b, sizeof(b));
	expect_field(&r, true, 2, 2);
	/* options 2 with a service action, options 3 both ways, RCTD */
	r = rsoc(2, SCSI_OP_SERVICE_ACTION_IN_16, 0x10, b, sizeof(b));
	expect_good(&r);
	assert_int_equal(b[1], 0x03);
	assert_int_equal(b[5], 0x10);
	r = rsoc(3, SCSI_OP_READ_16, 0, b, sizeof(b));
	expect_good(&r);
	assert_int_equal(b[1], 0x03);
	r = rsoc(3, SCSI_OP_READ_16, 5, b, sizeof(b));
	expect_good(&r);
	assert_int_equal(b[1], 0x01);
	r = rsoc(0x81, SCSI_OP_WRITE_16, 0, b, sizeof(b));
	expect_good(&r);
	assert_int_equal(b[1], 0x83);
	assert_int_equal(r.data_in_len, 4 + 16 + 12);
	assert_int_equal(get_be16(b + 20), 0x0a);
	/* reserved reporting options */
	r = rsoc(4, 0, 0, b, sizeof(b));
	expect_field(&r, true, 2, 2);
}

/* REPORT TIMESTAMP: 12 bytes, origin "outside the standard" (the host clock), the time in
 * ms since 1970 within a second of ours; prefixes for short allocation lengths; listed by
 * RSOC; SET TIMESTAMP (MAINTENANCE OUT) is not offered. */
static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_report_timestamp(void **state)
{
	static const uint8_t head[4] = { 0x00, 0x0a, 0x03, 0x00 };
	uint8_t b[32], full[12];
	uint64_t before, after, ts;
	struct res r;

	(void)state;
	memset(b, 0xee, sizeof(b));
	before = now_ms();
	r = RUN(f, b, sizeof(b), SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_TIMESTAMP, 0, 0, 0, 0, 0, 0,
		0, sizeof(b), 0, 0);
	after = now_ms();
	expect_good(&r);
	assert_int_equal(r.data_in_len, 12);
	assert_memory_equal(b, head, sizeof(head));
	assert_int_equal(b[10], 0);
	assert_int_equal(b[11], 0);
	ts = (uint64_t)get_be16(b + 4) << 32 | get_be32(b + 6);
	if (ts + 1000 < before || ts > after + 1000)
		fail_msg("timestamp %llu ms, now %llu ms", (unsigned long long)ts,
			 (unsigned long long)after);
	memcpy(full, b, sizeof(full));
	/* allocation length 0..12: that many bytes (the time may have moved on) */
	for (uint8_t a = 0; a <= 12; a++) {
		r = RUN(f, b, a, SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_TIMESTAMP, 0, 0, 0, 0, 0, 0,
			0, a, 0, 0);
		expect_good(&r);
		assert_int_equal(r.data_in_len, a);
		assert_memory_equal(b, full, MIN(a, (uint8_t)5)); /* through the clock's top byte */
	}
	/* RSOC knows it: supported, with its usage data */
	r = rsoc(2, SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_TIMESTAMP, b, sizeof(b));
	expect_good(&r);
	assert_int_equal(r.data_in_len, 4 + 12);
	assert_int_equal(b[1], 0x03);
	assert_int_equal(get_be16(b + 2), 12);
	assert_int_equal(b[4], SCSI_OP_MAINTENANCE_IN);
	assert_int_equal(b[5], SCSI_MI_REPORT_TIMESTAMP);
	assert_int_equal(get_be32(b + 10), 0xffffffff);
	/* SET TIMESTAMP, MAINTENANCE OUT (A4h) service action 0Fh: not offered */
	r = RUN(f, b, 0, 0xa4, 0x0f, 0, 0, 0, 0, 0, 0, 0, 12, 0, 0);
	expect_sense(&r, 0x05, 0x20, 0x00);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inquiry_standard),
		cmocka_unit_test(test_inquiry_errors),
		cmocka_unit_test(test_vpd_supported_serial),
		cmocka_unit_test(test_vpd_device_id),
		cmocka_unit_test(test_vpd_limits),
		cmocka_unit_test(test_vpd_no_provisioning),
		cmocka_unit_test(test_mode_sense_6),
		cmocka_unit_test(test_mode_sense_10),
		cmocka_unit_test(test_mode_select),
		cmocka_unit_test(test_request_sense),
		cmocka_unit_test(test_rsoc),
		cmocka_unit_test(test_report_timestamp),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
