/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SCSI layer's core: the command table (every reserved bit of every row, unknown
 * opcodes and service actions, RSOC generated from the table), sense formats, unit
 * attentions, the read-only and stopped states, transport helpers.
 */
#include "scsi-test.h"

#include <unistd.h>

#include "../block/strict-driver.h"
#include "scsi/scsi-int.h"

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

/* Every bit outside a row's usage mask is INVALID FIELD IN CDB pointing at that bit. */
static void test_reserved_bits(void **state)
{
	static uint8_t buf[1 << 16];
	unsigned int rows = 0, bits = 0;

	(void)state;
	f->alua = &fx_alua_pair; /* every row offered */
	for (const struct scsi_cmd_desc *d = scsi_cmd_table_next(NULL); d;
	     d = scsi_cmd_table_next(d), rows++) {
		for (unsigned int i = 1; i < d->cdb_len; i++) {
			for (int b = 0; b < 8; b++) {
				uint8_t cdb[SCSI_MAX_CDB] = { d->opcode };
				struct res r;

				if (d->usage[i] & (1u << b))
					continue;
				if (d->sa != SCSI_NO_SA)
					cdb[1] = (uint8_t)d->sa;
				cdb[i] |= (uint8_t)(1u << b);
				r = fx_run(f, cdb, d->cdb_len, buf, sizeof(buf));
				if (r.status != SCSI_STATUS_CHECK_CONDITION)
					fail_msg("%s: byte %u bit %d accepted", d->name, i, b);
				expect_field(&r, true, i, b);
				bits++;
			}
		}
	}
	f->alua = NULL;
	assert_true(rows >= 30);
	assert_true(bits > 300);
	/* the control byte: NACA and LINK are refused on every row */
	assert_int_equal(buf[0], 0);
}

/* Opcodes outside the table: INVALID COMMAND OPERATION CODE, never silence. */
static void test_unknown_opcodes(void **state)
{
	unsigned int unknown = 0;

	(void)state;
	for (unsigned int op = 0; op < 256; op++) {
		uint8_t cdb[16] = { (uint8_t)op };
		bool has_sa;
		const struct scsi_cmd_desc *d = scsi_cmd_find((uint8_t)op, 0, &has_sa);
		struct res r;

		if (d || has_sa)
			continue;
		r = fx_run(f, cdb, 16, NULL, 0);
		expect_cc(r, 0x5, 0x20, 0x00);
		unknown++;
	}
	assert_true(unknown > 200);
}

/* Unsupported service actions: INVALID FIELD IN CDB pointing at the SA field. */
static void test_unknown_service_actions(void **state)
{
	static const uint8_t ops[] = { SCSI_OP_SERVICE_ACTION_IN_16, SCSI_OP_MAINTENANCE_IN };

	(void)state;
	for (size_t i = 0; i < sizeof(ops); i++) {
		for (unsigned int sa = 0; sa < 32; sa++) {
			uint8_t cdb[16] = { ops[i], (uint8_t)sa };
			bool has_sa;
			struct res r;

			if (scsi_cmd_find(ops[i], (uint16_t)sa, &has_sa))
				continue;
			assert_true(has_sa);
			r = fx_run(f, cdb, 16, NULL, 0);
			expect_field(&r, true, 1, 4);
		}
	}
}

/* A CDB shorter than the row's length is refused, not read past its end. */
static void test_short_cdb(void **state)
{
	uint8_t cdb[16] = { SCSI_OP_READ_16 };
	struct res r;

	(void)state;
	r = fx_run(f, cdb, 10, NULL, 0);
	expect_cc(r, 0x5, 0x24, 0x00);
	r = fx_run(f, cdb, 0, NULL, 0);
	expect_cc(r, 0x5, 0x20, 0x00);
}

/* RSOC (all commands) lists exactly the table's rows, in order, with their lengths. */
static void test_rsoc_matches_table(void **state)
{
	static uint8_t buf[4096];
	uint8_t cdb[12] = { SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_OPCODES };
	const struct scsi_cmd_desc *d = scsi_cmd_table_next(NULL);
	struct res r;
	uint32_t len;
	size_t off = 4;

	(void)state;
	put_be32(cdb + 6, sizeof(buf));
	r = fx_run(f, cdb, 12, buf, sizeof(buf));
	expect_good(&r);
	len = get_be32(buf);
	assert_int_equal(r.data_in_len, len + 4);
	for (; d; d = scsi_cmd_table_next(d)) {
		if (!scsi_cmd_offered(f->lun, d))
			continue;
		assert_true(off + 8 <= len + 4);
		assert_int_equal(buf[off], d->opcode);
		assert_int_equal(buf[off + 5] & 0x01, d->sa != SCSI_NO_SA);
		assert_int_equal(get_be16(buf + off + 2), d->sa == SCSI_NO_SA ? 0 : d->sa);
		assert_int_equal(buf[off + 5] & 0x02, 0); /* no CTDP without RCTD */
		assert_int_equal(get_be16(buf + off + 6), d->cdb_len);
		/* the one-command form reports the row's usage mask */
		{
			uint8_t one[12] = { SCSI_OP_MAINTENANCE_IN,
					    SCSI_MI_REPORT_SUPPORTED_OPCODES,
					    d->sa == SCSI_NO_SA ? 1 : 2, d->opcode };
			uint8_t ob[64] = { 0 };
			struct res r1;

			put_be16(one + 4, d->sa == SCSI_NO_SA ? 0 : d->sa);
			put_be32(one + 6, sizeof(ob));
			r1 = fx_run(f, one, 12, ob, sizeof(ob));
			expect_good(&r1);
			assert_int_equal(ob[1], 0x03); /* supported, per standard */
			assert_int_equal(get_be16(ob + 2), d->cdb_len);
			assert_int_equal(ob[4], d->opcode);
			for (unsigned int i = 1; i < d->cdb_len; i++) {
				uint8_t want = d->usage[i];

				if (i == 1 && d->sa != SCSI_NO_SA)
					want = (uint8_t)((want & ~0x1f) | d->sa);
				assert_int_equal(ob[4 + i], want);
			}
			assert_int_equal(r1.data_in_len, 4 + d->cdb_len);
		}
		off += 8;
	}
	assert_int_equal(off, len + 4);
}

/* Fixed sense by default; descriptor sense after D_SENSE is set in the control page. */
static void test_sense_formats(void **state)
{
	uint8_t ms[] = { 0,    0,    0, 0, MODE_PAGE_CONTROL, 0x0a, 0x04, 0x10, 0, 0x40, 0, 0,
			 0xff, 0xff, 0, 0 };
	uint8_t bad[16] = { SCSI_OP_READ_16, 0x20 }; /* RDPROTECT=1 */
	struct res r;

	(void)state;
	r = fx_run(f, bad, 16, NULL, 0);
	expect_field(&r, true, 1, 5);
	assert_int_equal(r.sense[0], 0x70);
	assert_int_equal(r.sense_len, 18);
	assert_int_equal(r.sense[7], 10);
	assert_int_equal(r.sense[15], 0x80 | 0x40 | 0x08 | 5);

	r = RUN(f, ms, sizeof(ms), SCSI_OP_MODE_SELECT_6, 0x10, 0, 0, sizeof(ms), 0);
	expect_good(&r);
	r = fx_run(f, bad, 16, NULL, 0);
	expect_field(&r, true, 1, 5);
	assert_int_equal(r.sense[0], 0x72);
	assert_int_equal(r.sense[7], 8); /* one sense-key specific descriptor */
	assert_int_equal(r.sense[8], 0x02);
	assert_int_equal(r.sense[9], 0x06);
	assert_int_equal(r.sense_len, 16);

	/* and back to fixed */
	ms[6] = 0;
	r = RUN(f, ms, sizeof(ms), SCSI_OP_MODE_SELECT_6, 0x10, 0, 0, sizeof(ms), 0);
	expect_good(&r);
	r = fx_run(f, bad, 16, NULL, 0);
	assert_int_equal(r.sense[0], 0x70);
}

/* Capacity change: one UNIT ATTENTION, not on INQUIRY, then the new capacity. */
static void test_capacity_changed_ua(void **state)
{
	uint8_t buf[96];
	struct res r;

	(void)state;
	scsi_lun_set_size(f->lun, (uint64_t)BS * NB); /* same size: no UA */
	r = RUN(f, NULL, 0, SCSI_OP_TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_good(&r);

	scsi_lun_set_size(f->lun, (uint64_t)BS * (NB / 2));
	r = RUN(f, buf, sizeof(buf), SCSI_OP_INQUIRY, 0, 0, 0, 96, 0);
	expect_good(&r);
	r = RUN(f, NULL, 0, SCSI_OP_TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_cc(r, 0x6, 0x2a, 0x09);
	r = RUN(f, NULL, 0, SCSI_OP_TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_good(&r);
	r = RUN(f, buf, 8, SCSI_OP_READ_CAPACITY_10, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	expect_good(&r);
	assert_int_equal(get_be32(buf), NB / 2 - 1);

	/* unknown opcodes report the pending UA first */
	scsi_lun_set_size(f->lun, (uint64_t)BS * NB);
	r = RUN(f, NULL, 0, 0xff, 0, 0, 0, 0, 0);
	expect_cc(r, 0x6, 0x2a, 0x09);

	/* REQUEST SENSE returns and clears a pending UA */
	scsi_lun_set_size(f->lun, (uint64_t)BS * (NB - 8));
	r = RUN(f, buf, 18, SCSI_OP_REQUEST_SENSE, 0, 0, 0, 18, 0);
	expect_good(&r);
	assert_int_equal(r.data_in_len, 18);
	assert_int_equal(buf[0], 0x70);
	assert_int_equal(buf[2], 0x06);
	assert_int_equal(buf[12], 0x2a);
	assert_int_equal(buf[13], 0x09);
	r = RUN(f, NULL, 0, SCSI_OP_TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_good(&r);
	scsi_lun_set_size(f->lun, (uint64_t)BS * NB);
	RUN(f, NULL, 0, SCSI_OP_TEST_UNIT_READY, 0, 0, 0, 0, 0);
}

/* START STOP UNIT: a stopped unit is NOT READY for media access, fine for INQUIRY. */
static void test_start_stop(void **state)
{
	uint8_t buf[512];
	struct res r;

	(void)state;
	r = RUN(f, NULL, 0, SCSI_OP_START_STOP_UNIT, 0, 0, 0, 0x00, 0);
	expect_good(&r);
	r = RUN(f, NULL, 0, SCSI_OP_TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_cc(r, 0x2, 0x04, 0x02);
	r = fx_read(f, 0, 1, buf);
	expect_cc(r, 0x2, 0x04, 0x02);
	r = RUN(f, buf, 96, SCSI_OP_INQUIRY, 0, 0, 0, 96, 0);
	expect_good(&r);
	r = RUN(f, buf, 18, SCSI_OP_REQUEST_SENSE, 0, 0, 0, 18, 0);
	expect_good(&r);
	assert_int_equal(buf[2], 0x02);
	assert_int_equal(buf[12], 0x04);
	assert_int_equal(buf[13], 0x02);
	/* LOEJ and power conditions are not offered */
	r = RUN(f, NULL, 0, SCSI_OP_START_STOP_UNIT, 0, 0, 0, 0x02, 0);
	expect_field(&r, true, 4, 1);
	r = RUN(f, NULL, 0, SCSI_OP_START_STOP_UNIT, 0, 0, 0, 0x11, 0);
	expect_field(&r, true, 4, 4);
	r = RUN(f, NULL, 0, SCSI_OP_START_STOP_UNIT, 1, 0, 0, 0x01, 0); /* IMMED, START */
	expect_good(&r);
	r = RUN(f, NULL, 0, SCSI_OP_TEST_UNIT_READY, 0, 0, 0, 0, 0);
	expect_good(&r);
	r = fx_read(f, 0, 1, buf);
	expect_good(&r);
}

/* A read-only LUN: every writing command is DATA PROTECT / WRITE PROTECTED. */
static void test_read_only(void **state)
{
	struct fx *ro = fx_new(BS, 64, true);
	uint8_t buf[2 * BS] = { 0 };
	uint8_t unmap[24] = { 0, 22, 0, 16 };
	struct res r;

	(void)state;
	put_be32(unmap + 16, 1);
	r = fx_write(ro, 0, 1, buf);
	expect_cc(r, 0x7, 0x27, 0x00);
	r = RUN(ro, buf, BS, SCSI_OP_WRITE_6, 0, 0, 1, 1, 0);
	expect_cc(r, 0x7, 0x27, 0x00);
	r = RUN(ro, buf, BS, SCSI_OP_WRITE_SAME_10, 0, 0, 0, 0, 0, 0, 0, 1, 0);
	expect_cc(r, 0x7, 0x27, 0x00);
	r = RUN(ro, buf, BS, SCSI_OP_WRITE_VERIFY_10, 0x02, 0, 0, 0, 0, 0, 0, 1, 0);
	expect_cc(r, 0x7, 0x27, 0x00);
	r = RUN(ro, buf, 2 * BS, SCSI_OP_COMPARE_AND_WRITE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0, 0);
	expect_cc(r, 0x7, 0x27, 0x00);
	r = RUN(ro, unmap, sizeof(unmap), SCSI_OP_UNMAP, 0, 0, 0, 0, 0, 0, 0, 24, 0);
	expect_cc(r, 0x7, 0x27, 0x00);
	r = RUN(ro, NULL, 0, SCSI_OP_FORMAT_UNIT, 0, 0, 0, 0, 0);
	expect_cc(r, 0x7, 0x27, 0x00);
	/* reads work; MODE SENSE reports WP */
	r = fx_read(ro, 0, 1, buf);
	expect_good(&r);
	r = RUN(ro, buf, 255, SCSI_OP_MODE_SENSE_6, 0x08, 0x3f, 0, 255, 0);
	expect_good(&r);
	assert_int_equal(buf[2], 0x80 | 0x10);
	fx_free(ro);
}

static void test_transport_helpers(void **state)
{
	static const uint8_t c6[] = { 0x12 }, c10[] = { 0x28 }, c10b[] = { 0x5a };
	static const uint8_t c16[] = { 0x88 }, c12[] = { 0xa8 },
			     cv[8] = { 0x7f, 0, 0, 0, 0, 0, 0, 24 };
	static const uint8_t c60[] = { 0xc0 }, c3[] = { 0x60 };
	struct scsi_cmd cmd;

	(void)state;
	assert_int_equal(scsi_cdb_length(c6), 6);
	assert_int_equal(scsi_cdb_length(c10), 10);
	assert_int_equal(scsi_cdb_length(c10b), 10);
	assert_int_equal(scsi_cdb_length(c12), 12);
	assert_int_equal(scsi_cdb_length(c16), 16);
	assert_int_equal(scsi_cdb_length(cv), 32);
	assert_int_equal(scsi_cdb_length(c60), 0);
	assert_int_equal(scsi_cdb_length(c3), 0);

	memset(&cmd, 0, sizeof(cmd));
	scsi_cmd_set_sense(&cmd, 0x0b, 0x08, 0x00);
	assert_int_equal(cmd.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(cmd.sense_len, 18);
	assert_int_equal(cmd.sense[0], 0x70);
	assert_int_equal(cmd.sense[2], 0x0b);
	assert_int_equal(cmd.sense[7], 10);
	assert_int_equal(cmd.sense[12], 0x08);
}

/* What a transport answers for an entry it cannot hand to the LUN. */
static void test_cmd_fail(void **state)
{
	struct scsi_cmd cmd;

	(void)state;
	memset(&cmd, 0xa5, sizeof(cmd));
	scsi_cmd_fail(&cmd, SCSI_SENSE_INTERNAL_FAILURE);
	assert_int_equal(cmd.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(cmd.sense_len, 18);
	assert_int_equal(cmd.sense[0], 0x70);
	assert_int_equal(cmd.sense[2], 0x04);
	assert_int_equal(cmd.sense[12], 0x44);
	assert_int_equal(cmd.sense[13], 0x00);
	assert_int_equal(cmd.data_in_len, 0);
	scsi_cmd_fail(&cmd, SCSI_SENSE_BUSY);
	assert_int_equal(cmd.status, SCSI_STATUS_BUSY);
	assert_int_equal(cmd.sense_len, 0);
}

static void test_bad_params(void **state)
{
	struct scsi_lun_params p = { .block_size = 768 };
	struct scsi_lun *lun = NULL;
	struct err err;

	(void)state;
	err_init(&err);
	assert_int_equal(scsi_lun_new(f->bs, &p, f->ctx, &lun, &err), -EINVAL);
	assert_null(lun);
	assert_non_null(strstr(err.msg, "768"));
	scsi_lun_free(NULL);
	/* the old LUN keeps working after the failed attempt */
	{
		struct res r = RUN(f, NULL, 0, SCSI_OP_TEST_UNIT_READY, 0, 0, 0, 0, 0);

		expect_good(&r);
	}
}

/* What a LUN over a strict node aligned to 4096 logs when created (stderr captured). */
static struct fx *new_lun_capturing(uint32_t bsz, char *log, size_t len)
{
	struct scsi_lun_params p = { .block_size = bsz };
	FILE *cap = tmpfile();
	int saved = dup(2);
	struct fx *g;
	size_t n;

	assert_non_null(cap);
	assert_true(saved >= 0);
	fflush(stderr);
	assert_true(dup2(fileno(cap), 2) == 2);
	strict_cfg = (struct strict_state){ .req_align = 4096 };
	g = fx_new_node(strict_new(64 * 4096, true), p, false);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(cap);
	n = fread(log, 1, len - 1, cap);
	log[n] = 0;
	fclose(cap);
	return g;
}

/* A 512-byte LUN over a node aligned to 4096 is warned about (once), and eight one-block
 * writes to the sectors of one 4 KiB block in flight at once all land: the block core
 * serialises its read-modify-write (test-block-serial has the deterministic races). */
static void test_small_blocks(void **state)
{
	static struct scsi_cmd cmds[8];
	static uint8_t cdbs[8][10], bufs[8][512], node[4096];
	static struct iovec iovs[8];
	char log[1024];
	struct fx *g;
	int pending = 8;

	(void)state;
	g = new_lun_capturing(512, log, sizeof(log));
	if (!strstr(log, "block size 512 is smaller than the image's alignment 4096") ||
	    strchr(log, '\n') != strrchr(log, '\n'))
		fail_msg("expected one warning line, got '%s'", log);
	assert_int_equal(blk_get_limits(g->bs)->physical_block_size, 4096);
	for (int k = 0; k < 8; k++) {
		memset(bufs[k], 0x10 + k, 512);
		cdb_rw10(cdbs[k], SCSI_OP_WRITE_10, (uint32_t)k, 1);
		iovs[k] = (struct iovec){ bufs[k], 512 };
		cmds[k] = (struct scsi_cmd){ .cdb = cdbs[k],
					     .cdb_len = 10,
					     .iov = &iovs[k],
					     .iovcnt = 1,
					     .done = cmd_done,
					     .opaque = &pending };
	}
	for (int k = 0; k < 8; k++)
		scsi_lun_submit(g->lun, &cmds[k]);
	while (pending)
		aio_poll(g->ctx, true);
	assert_int_equal(blk_pread(g->bs, 0, node, sizeof(node)), 0);
	for (int k = 0; k < 8; k++) {
		assert_int_equal(cmds[k].status, SCSI_STATUS_GOOD);
		for (int i = 0; i < 512; i++)
			if (node[k * 512 + i] != 0x10 + k)
				fail_msg("sector %d lost its write", k);
	}
	fx_free(g);
	/* a 4096-byte LUN over it: nothing to say */
	g = new_lun_capturing(4096, log, sizeof(log));
	assert_string_equal(log, "");
	assert_int_equal(strict_of(g->bs)->writes, 0);
	fx_free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reserved_bits),
		cmocka_unit_test(test_unknown_opcodes),
		cmocka_unit_test(test_unknown_service_actions),
		cmocka_unit_test(test_short_cdb),
		cmocka_unit_test(test_rsoc_matches_table),
		cmocka_unit_test(test_sense_formats),
		cmocka_unit_test(test_capacity_changed_ua),
		cmocka_unit_test(test_start_stop),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_transport_helpers),
		cmocka_unit_test(test_cmd_fail),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_small_blocks),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
