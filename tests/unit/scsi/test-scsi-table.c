/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command table's invariants (cmd-table.c), row by row: a name; exactly one of
 * emulate/submit/work; a usage mask as long as the CDB the opcode's group implies, which
 * allows the opcode byte and, for service actions, the service action field, and no
 * control byte bit; consistent flags.  The index: every (opcode, service action) the
 * lookup finds is a row with that opcode and service action, and the walk REPORT
 * SUPPORTED OPERATION CODES does visits each of those rows once, in order, and nothing
 * else; RSOC on a LUN offering every row reports them all.
 */
#include "scsi-test.h"

#include "scsi/scsi-int.h"
#include "util/bytes.h"

#define SA_COUNT 32 /* service actions are 5 bits */
#define MAX_ROWS 256

static unsigned int hooks(const struct scsi_cmd_desc *d)
{
	return (d->emulate != NULL) + (d->submit != NULL) + (d->work != NULL);
}

static unsigned int bits(uint32_t v)
{
	return (unsigned int)__builtin_popcount(v);
}

/* A failed check names the row and the condition. */
#define CHECK(d, cond)                                        \
	do {                                                  \
		if (!(cond))                                  \
			fail_msg("%s: %s", (d)->name, #cond); \
	} while (0)

static void check_row(const struct scsi_cmd_desc *d)
{
	uint8_t cdb[SCSI_MAX_CDB] = { d->opcode };
	uint32_t dir = d->flags & (SCSI_DF_DATA_IN | SCSI_DF_DATA_OUT | SCSI_DF_PARAM_OUT);

	assert_non_null(d->name);
	CHECK(d, hooks(d) == 1);
	/* the mask is the CDB: as long as the opcode's group says, opcode allowed */
	CHECK(d, d->cdb_len == scsi_cdb_length(cdb));
	CHECK(d, d->usage[0] == 0xff);
	for (unsigned int i = d->cdb_len; i < SCSI_MAX_CDB; i++)
		CHECK(d, d->usage[i] == 0);
	CHECK(d, d->usage[d->cdb_len - 1] == 0); /* CONTROL: no NACA, no LINK */
	if (d->sa != SCSI_NO_SA) {
		CHECK(d, d->sa < SA_COUNT);
		CHECK(d, (d->usage[1] & 0x1f) == 0x1f);
	}
	/* one data direction at most; the core's range check needs parse's lba/nlb */
	CHECK(d, bits(dir) <= 1);
	CHECK(d, !(d->flags & SCSI_DF_LBA_RANGE) || d->parse);
	CHECK(d, !(d->flags & SCSI_DF_LOCK_ALL) || (d->flags & SCSI_DF_WRITES));
}

/* The rows in walk order; asserts the order is strictly increasing. */
static unsigned int walk(const struct scsi_cmd_desc **rows)
{
	unsigned int n = 0, prev = 0;

	for (const struct scsi_cmd_desc *d = scsi_cmd_table_next(NULL); d;
	     d = scsi_cmd_table_next(d)) {
		unsigned int key = d->opcode * SA_COUNT + (d->sa == SCSI_NO_SA ? 0 : d->sa) + 1;

		assert_true(n < MAX_ROWS);
		assert_true(key > prev);
		prev = key;
		rows[n++] = d;
	}
	return n;
}

static bool in(const struct scsi_cmd_desc *const *rows, unsigned int n,
	       const struct scsi_cmd_desc *d)
{
	for (unsigned int i = 0; i < n; i++)
		if (rows[i] == d)
			return true;
	return false;
}

static void test_rows(void **state)
{
	const struct scsi_cmd_desc *rows[MAX_ROWS];
	unsigned int n;

	(void)state;
	n = walk(rows);
	assert_true(n >= 30);
	for (unsigned int i = 0; i < n; i++)
		check_row(rows[i]);
}

/* What the lookup finds is what the walk (and so RSOC) visits. */
static void test_index(void **state)
{
	const struct scsi_cmd_desc *rows[MAX_ROWS];
	unsigned int n, found = 0;
	bool has_sa;

	(void)state;
	n = walk(rows);
	for (unsigned int op = 0; op < 256; op++) {
		for (unsigned int sa = 0; sa < SA_COUNT; sa++) {
			const struct scsi_cmd_desc *d =
				scsi_cmd_find((uint8_t)op, (uint16_t)sa, &has_sa);

			if (!d || (!has_sa && sa))
				continue;
			assert_int_equal(d->opcode, op);
			assert_int_equal(d->sa, has_sa ? sa : SCSI_NO_SA);
			assert_true(in(rows, n, d));
			found++;
		}
	}
	assert_int_equal(found, n);
}

/* RSOC's all-commands form on a LUN that offers every row (LBP too) lists every row. */
static void test_rsoc_lists_every_row(void **state)
{
	static uint8_t buf[4096];
	const struct scsi_cmd_desc *rows[MAX_ROWS];
	uint8_t cdb[12] = { SCSI_OP_MAINTENANCE_IN, SCSI_MI_REPORT_SUPPORTED_OPCODES };
	struct fx *f = fx_new(512, 2048, false);
	unsigned int n;
	struct res r;

	(void)state;
	f->alua = &fx_alua_pair; /* RTPG is offered with ALUA groups */
	assert_true(scsi_lun_lbpme(f->lun));
	n = walk(rows);
	put_be32(cdb + 6, sizeof(buf));
	r = fx_run(f, cdb, sizeof(cdb), buf, sizeof(buf));
	expect_good(&r);
	assert_int_equal(get_be32(buf), 8 * n); /* 8-byte descriptors without timeouts */
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *desc = buf + 4 + 8 * i;

		assert_int_equal(desc[0], rows[i]->opcode);
		assert_int_equal(get_be16(desc + 6), rows[i]->cdb_len);
	}
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_rsoc_lists_every_row),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
