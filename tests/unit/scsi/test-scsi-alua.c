/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ALUA: REPORT TARGET PORT GROUPS (both parameter data formats, byte for byte, truncated
 * by the allocation length), INQUIRY's TPGS, VPD 0x83's relative target port and target
 * port group designators; nothing of it on a LUN without groups.  A LUN over a shared
 * node (a gateway, docs/HA.md): group states from the node's access state, the local
 * group published as its tag, writes refused with the ALUA sense codes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "block/block-driver.h"
#include "scsi-test.h"
#include "util/bytes.h"

static struct fx *f;

static int setup(void **state)
{
	(void)state;
	f = fx_new(512, 2048, false);
	f->alua = &fx_alua_pair;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fx_free(f);
	return 0;
}

static struct res rtpg(uint8_t fmt, uint8_t *buf, uint32_t alloc)
{
	return RUN(f, buf, alloc, SCSI_OP_MAINTENANCE_IN,
		   (uint8_t)(fmt << 5 | SCSI_MI_REPORT_TARGET_PORT_GROUPS), 0, 0, 0, 0,
		   (uint8_t)(alloc >> 24), (uint8_t)(alloc >> 16), (uint8_t)(alloc >> 8),
		   (uint8_t)alloc, 0, 0);
}

static void test_rtpg_length_only(void **state)
{
	static const uint8_t want[] = {
		0,    0,    0, 24,	       /* RETURN DATA LENGTH */
		0x80, 0x83, 0, 1,  0, 0, 0, 1, /* PREF, AO; T/AN/AO; group 1; 1 port */
		0,    0,    0, 1,	       /* relative port 1 */
		0x01, 0x83, 0, 2,  0, 2, 0, 1, /* AN; group 2; implicitly altered */
		0,    0,    0, 2,	       /* relative port 2 */
	};
	uint8_t buf[256];
	struct res r;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	r = rtpg(0, buf, sizeof(buf));
	expect_good(&r);
	assert_int_equal(r.data_in_len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	/* allocation lengths cut the same bytes */
	for (uint32_t a = 0; a < sizeof(want); a += 5) {
		uint8_t b2[64];

		r = rtpg(0, b2, a);
		expect_good(&r);
		assert_int_equal(r.data_in_len, a);
		assert_memory_equal(b2, want, a);
	}
}

static void test_rtpg_extended(void **state)
{
	uint8_t buf[256];
	struct res r;

	(void)state;
	r = rtpg(1, buf, sizeof(buf));
	expect_good(&r);
	assert_int_equal(r.data_in_len, 8 + 24);
	assert_int_equal(get_be32(buf), 28);
	assert_int_equal(buf[4], 0x10); /* FORMAT TYPE 001b */
	assert_int_equal(buf[5], 45);	/* IMPLICIT TRANSITION TIME */
	assert_int_equal(get_be16(buf + 8 + 2), 1);
	assert_int_equal(get_be16(buf + 8 + 12 + 2), 2);
	/* other formats: an invalid field, pointing at PARAMETER DATA FORMAT */
	r = rtpg(2, buf, sizeof(buf));
	expect_field(&r, true, 1, 7);
}

static void test_inquiry_and_vpd(void **state)
{
	uint8_t b[255];
	struct res r;
	size_t n;
	bool rel = false, tpg = false;

	(void)state;
	r = RUN(f, b, 96, SCSI_OP_INQUIRY, 0, 0, 0, 96, 0);
	expect_good(&r);
	assert_int_equal(b[5] & 0x30, 0x10); /* TPGS: implicit */
	r = RUN(f, b, sizeof(b), SCSI_OP_INQUIRY, 1, 0x83, 0, 255, 0);
	expect_good(&r);
	n = 4 + get_be16(b + 2);
	for (size_t i = 4; i + 4 <= n; i += 4 + b[i + 3]) {
		if (b[i + 1] == (0x80 | 0x10 | 0x4)) { /* PIV, target port, relative port */
			assert_int_equal(b[i], 0x51);  /* iSCSI, binary */
			assert_int_equal(b[i + 3], 4);
			assert_int_equal(get_be16(b + i + 6), 1);
			rel = true;
		}
		if (b[i + 1] == (0x80 | 0x10 | 0x5)) { /* target port group */
			assert_int_equal(get_be16(b + i + 6), 1);
			tpg = true;
		}
	}
	assert_true(rel && tpg);
}

/* Without groups: TPGS 0, no port designators, RTPG not offered (and not in RSOC). */
static void test_no_alua(void **state)
{
	uint8_t b[255];
	struct res r;

	(void)state;
	f->alua = NULL;
	r = RUN(f, b, 96, SCSI_OP_INQUIRY, 0, 0, 0, 96, 0);
	expect_good(&r);
	assert_int_equal(b[5] & 0x30, 0);
	r = RUN(f, b, sizeof(b), SCSI_OP_INQUIRY, 1, 0x83, 0, 255, 0);
	expect_good(&r);
	for (size_t i = 4; i + 4 <= 4u + get_be16(b + 2); i += 4 + b[i + 3])
		assert_int_equal(b[i + 1] & 0x30, 0); /* only logical-unit designators */
	r = rtpg(0, b, sizeof(b));
	assert_int_equal(r.status, SCSI_STATUS_CHECK_CONDITION);
	r = RUN(f, b, sizeof(b), SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_OPCODES, 0x02,
		SCSI_OP_MAINTENANCE_IN, 0, SCSI_MI_REPORT_TARGET_PORT_GROUPS, 0, 0, 0, 255, 0, 0);
	expect_good(&r);
	assert_int_equal(b[1] & 0x07, 1); /* SUPPORT: not supported */
	f->alua = &fx_alua_pair;
	r = RUN(f, b, sizeof(b), SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_OPCODES, 0x02,
		SCSI_OP_MAINTENANCE_IN, 0, SCSI_MI_REPORT_TARGET_PORT_GROUPS, 0, 0, 0, 255, 0, 0);
	expect_good(&r);
	assert_int_equal(b[1] & 0x07, 3); /* supported, as the standard says */
}

/* ---- a gateway: a memory node that says it is shared ---------------------------------- */

static struct blk_access gw_acc;
static int gw_tag = -2;
static int gw_write_ret;

static int gw_get_access(struct blk_node *bs, struct blk_access *out)
{
	(void)bs;
	*out = gw_acc;
	return 0;
}

static void gw_set_tag(struct blk_node *bs, int tag)
{
	(void)bs;
	gw_tag = tag;
}

static int gw_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		      int iovcnt, unsigned int flags)
{
	(void)bs, (void)off, (void)len, (void)iov, (void)iovcnt, (void)flags;
	return gw_write_ret;
}

/* RTPG's state of groups 1 (ours) and 2 with the node in @st, holder tag @owner. */
static void expect_states(enum blk_access_state st, int owner, uint8_t want1, uint8_t want2)
{
	uint8_t buf[256];
	struct res r;

	gw_acc.state = st;
	gw_acc.owner_tag = owner;
	r = rtpg(0, buf, sizeof(buf));
	expect_good(&r);
	assert_int_equal(buf[4] & 0x0f, want1);
	assert_int_equal(buf[4 + 12] & 0x0f, want2);
	/* every state a gateway takes is offered: T, U, S, AN, AO */
	assert_int_equal(buf[5] & 0x8f, 0x8f);
}

static void test_gateway(void **state)
{
	struct blk_driver drv = blk_driver_memory;
	const struct blk_driver *orig = f->bs->drv;
	uint8_t data[512] = { 0 }, c[10] = { SCSI_OP_WRITE_10, 0, 0, 0, 0, 8, 0, 0, 1, 0 };
	struct res r;

	(void)state;
	drv.get_access = gw_get_access;
	drv.set_access_tag = gw_set_tag;
	drv.pwritev = gw_pwritev;
	drv.submit = NULL;
	f->bs->drv = &drv;

	expect_states(BLK_ACCESS_OPTIMIZED, 1, SCSI_ALUA_OPTIMIZED, SCSI_ALUA_NONOPTIMIZED);
	assert_int_equal(gw_tag, 1); /* the local group, published with the lock */
	expect_states(BLK_ACCESS_NONOPTIMIZED, 2, SCSI_ALUA_NONOPTIMIZED, SCSI_ALUA_OPTIMIZED);
	expect_states(BLK_ACCESS_NONOPTIMIZED, -1, SCSI_ALUA_NONOPTIMIZED, SCSI_ALUA_NONOPTIMIZED);
	expect_states(BLK_ACCESS_STANDBY, 2, SCSI_ALUA_STANDBY, SCSI_ALUA_OPTIMIZED);
	expect_states(BLK_ACCESS_TRANSITIONING, 2, SCSI_ALUA_TRANSITIONING, SCSI_ALUA_OPTIMIZED);
	expect_states(BLK_ACCESS_UNAVAILABLE, -1, SCSI_ALUA_UNAVAILABLE, SCSI_ALUA_NONOPTIMIZED);

	/* writes the gateway refuses: NOT READY with the ALUA codes, never MEDIUM ERROR */
	gw_write_ret = BLK_E_TRANSITION;
	r = fx_run(f, c, sizeof(c), data, sizeof(data));
	expect_sense(&r, 0x2, 0x04, 0x0a);
	gw_write_ret = BLK_E_STANDBY;
	r = fx_run(f, c, sizeof(c), data, sizeof(data));
	expect_sense(&r, 0x2, 0x04, 0x0b);
	gw_write_ret = BLK_E_UNAVAILABLE;
	r = fx_run(f, c, sizeof(c), data, sizeof(data));
	expect_sense(&r, 0x2, 0x04, 0x0c);
	/* without port groups (one gateway, no ALUA set up) a transition is BUSY: Linux's sd
	 * without an ALUA handler fails 04/0A but retries BUSY */
	f->alua = NULL;
	gw_write_ret = BLK_E_TRANSITION;
	r = fx_run(f, c, sizeof(c), data, sizeof(data));
	assert_int_equal(r.status, SCSI_STATUS_BUSY);
	assert_int_equal(r.sense_len, 0);
	f->alua = &fx_alua_pair;
	gw_write_ret = 0;
	r = fx_run(f, c, sizeof(c), data, sizeof(data));
	expect_good(&r);
	f->bs->drv = orig;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rtpg_length_only), cmocka_unit_test(test_rtpg_extended),
		cmocka_unit_test(test_inquiry_and_vpd),	 cmocka_unit_test(test_no_alua),
		cmocka_unit_test(test_gateway),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
