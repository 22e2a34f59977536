/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command table: the single source of truth for what the SCSI layer accepts.  Each row
 * gives the usage mask of every CDB byte, which is also the CDB's length (a set bit
 * outside it is INVALID FIELD IN CDB with a field pointer, checked generically in lun.c),
 * the flags the core enforces, and the handlers (an optional parse, and exactly one of
 * emulate, submit, work).  REPORT SUPPORTED OPERATION CODES walks this table.  The rows'
 * invariants are checked by tests/unit/scsi/test-scsi-table.c.
 *
 * Usage masks follow SBC-4/SPC-5: reserved bits, RDPROTECT/WRPROTECT/VRPROTECT (no
 * protection information), NACA/LINK in the control byte, and features we do not offer
 * (ANCHOR, SP, RARC, duration limits) are outside the masks.  Group numbers and the
 * obsolete FUA_NV bit of READ/WRITE (libiscsi's Write*.Flags sends it) are accepted and
 * ignored.
 */
#include "scsi-int.h"

#include "util/compiler.h"

/*
 * A row's CDB: the usage mask, one byte per CDB byte (the bits allowed in it), which is
 * also what gives the row its CDB length: a mask of the wrong length is a wrong length,
 * which the table's test catches (it must be the length the opcode's group implies).
 */
#define CDB(...) .cdb_len = sizeof((const uint8_t[]){ __VA_ARGS__ }), .usage = { __VA_ARGS__ }

/* Flags of the READ and WRITE families. */
#define RD_FLAGS (SCSI_DF_DATA_IN | SCSI_DF_LBA_RANGE)
#define WR_FLAGS (SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE | SCSI_DF_WRITES)

/* ---- SPC ------------------------------------------------------------------------------ */

static const struct scsi_cmd_desc test_unit_ready = {
	.name = "TEST UNIT READY",
	.opcode = SCSI_OP_TEST_UNIT_READY,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0, 0, 0, 0, 0),
	.emulate = spc_test_unit_ready,
};
static const struct scsi_cmd_desc request_sense = {
	.name = "REQUEST SENSE",
	.opcode = SCSI_OP_REQUEST_SENSE,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x01, 0, 0, 0xff, 0),
	.flags = SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK | SCSI_DF_NO_UA,
	.parse = spc_parse_request_sense,
	.emulate = spc_request_sense,
};
static const struct scsi_cmd_desc inquiry = {
	.name = "INQUIRY",
	.opcode = SCSI_OP_INQUIRY,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x01, 0xff, 0xff, 0xff, 0),
	.flags = SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK | SCSI_DF_NO_UA,
	.parse = spc_parse_inquiry,
	.emulate = spc_inquiry,
};
static const struct scsi_cmd_desc mode_select_6 = {
	.name = "MODE SELECT(6)",
	.opcode = SCSI_OP_MODE_SELECT_6,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x10, 0, 0, 0xff, 0),
	.flags = SCSI_DF_PARAM_OUT | SCSI_DF_NO_MEDIUM_OK,
	.parse = spc_parse_mode_select,
	.emulate = spc_mode_select,
};
static const struct scsi_cmd_desc mode_sense_6 = {
	.name = "MODE SENSE(6)",
	.opcode = SCSI_OP_MODE_SENSE_6,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x08, 0xff, 0xff, 0xff, 0),
	.flags = SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	.parse = spc_parse_mode_sense,
	.emulate = spc_mode_sense,
};
static const struct scsi_cmd_desc mode_select_10 = {
	.name = "MODE SELECT(10)",
	.opcode = SCSI_OP_MODE_SELECT_10,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x10, 0, 0, 0, 0, 0, 0xff, 0xff, 0),
	.flags = SCSI_DF_PARAM_OUT | SCSI_DF_NO_MEDIUM_OK,
	.parse = spc_parse_mode_select,
	.emulate = spc_mode_select,
};
static const struct scsi_cmd_desc mode_sense_10 = {
	.name = "MODE SENSE(10)",
	.opcode = SCSI_OP_MODE_SENSE_10,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0),
	.flags = SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	.parse = spc_parse_mode_sense,
	.emulate = spc_mode_sense,
};
static const struct scsi_cmd_desc rsoc = {
	.name = "REPORT SUPPORTED OPERATION CODES",
	.opcode = SCSI_OP_MAINTENANCE_IN,
	.sa = SCSI_MI_REPORT_SUPPORTED_OPCODES,
	CDB(0xff, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0),
	.flags = SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	.parse = spc_parse_rsoc,
	.emulate = spc_rsoc,
};

static const struct scsi_cmd_desc rtpg = {
	.name = "REPORT TARGET PORT GROUPS",
	.opcode = SCSI_OP_MAINTENANCE_IN,
	.sa = SCSI_MI_REPORT_TARGET_PORT_GROUPS,
	CDB(0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	.flags = SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK | SCSI_DF_ALUA,
	.parse = spc_parse_rtpg,
	.emulate = spc_rtpg,
};

static const struct scsi_cmd_desc report_timestamp = {
	.name = "REPORT TIMESTAMP",
	.opcode = SCSI_OP_MAINTENANCE_IN,
	.sa = SCSI_MI_REPORT_TIMESTAMP,
	CDB(0xff, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	.flags = SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	.parse = spc_parse_report_timestamp,
	.emulate = spc_report_timestamp,
};

static const struct scsi_cmd_desc extended_copy = {
	.name = "EXTENDED COPY(LID1)",
	.opcode = SCSI_OP_EXTENDED_COPY,
	.sa = SCSI_XCOPY_LID1,
	CDB(0xff, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	.flags = SCSI_DF_PARAM_OUT | SCSI_DF_WRITES | SCSI_DF_LOCK_ALL,
	.parse = spc_parse_xcopy,
	.work = spc_xcopy,
};
static const struct scsi_cmd_desc rcr_op_params = {
	.name = "RECEIVE COPY OPERATING PARAMETERS",
	.opcode = SCSI_OP_RECEIVE_COPY_RESULTS,
	.sa = SCSI_RCR_OPERATING_PARAMS,
	CDB(0xff, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	.flags = SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	.parse = spc_parse_rcr,
	.emulate = spc_rcr_op_params,
};

/* ---- SBC: capacity, medium ------------------------------------------------------------ */

static const struct scsi_cmd_desc read_capacity_10 = {
	.name = "READ CAPACITY(10)",
	.opcode = SCSI_OP_READ_CAPACITY_10,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	.flags = SCSI_DF_DATA_IN,
	.parse = sbc_parse_read_capacity_10,
	.emulate = sbc_read_capacity_10,
};
static const struct scsi_cmd_desc read_capacity_16 = {
	.name = "READ CAPACITY(16)",
	.opcode = SCSI_OP_SERVICE_ACTION_IN_16,
	.sa = SCSI_SAI_READ_CAPACITY_16,
	CDB(0xff, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	.flags = SCSI_DF_DATA_IN,
	.parse = sbc_parse_read_capacity_16,
	.emulate = sbc_read_capacity_16,
};
static const struct scsi_cmd_desc start_stop_unit = {
	.name = "START STOP UNIT",
	.opcode = SCSI_OP_START_STOP_UNIT,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x01, 0, 0, 0x05, 0),
	.flags = SCSI_DF_NO_MEDIUM_OK,
	.parse = sbc_parse_start_stop,
	.work = sbc_start_stop,
};
static const struct scsi_cmd_desc format_unit = {
	.name = "FORMAT UNIT",
	.opcode = SCSI_OP_FORMAT_UNIT,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x0f, 0, 0, 0, 0),
	.flags = SCSI_DF_WRITES | SCSI_DF_LOCK_ALL,
	.parse = sbc_parse_format_unit,
	.work = sbc_format_unit,
};

/* ---- SBC: READ / WRITE ---------------------------------------------------------------- */

#define RW6_CDB CDB(0xff, 0x1f, 0xff, 0xff, 0xff, 0)
#define RW10_CDB CDB(0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0)
#define RW12_CDB CDB(0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0)
#define RW16_CDB                                                                                \
	CDB(0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, \
	    0x3f, 0)

static const struct scsi_cmd_desc read_6 = {
	.name = "READ(6)",
	.opcode = SCSI_OP_READ_6,
	.sa = SCSI_NO_SA,
	RW6_CDB,
	.flags = RD_FLAGS,
	.parse = sbc_parse_rw,
	.submit = sbc_submit_rw,
};
static const struct scsi_cmd_desc read_10 = {
	.name = "READ(10)",
	.opcode = SCSI_OP_READ_10,
	.sa = SCSI_NO_SA,
	RW10_CDB,
	.flags = RD_FLAGS,
	.parse = sbc_parse_rw,
	.submit = sbc_submit_rw,
};
static const struct scsi_cmd_desc read_12 = {
	.name = "READ(12)",
	.opcode = SCSI_OP_READ_12,
	.sa = SCSI_NO_SA,
	RW12_CDB,
	.flags = RD_FLAGS,
	.parse = sbc_parse_rw,
	.submit = sbc_submit_rw,
};
static const struct scsi_cmd_desc read_16 = {
	.name = "READ(16)",
	.opcode = SCSI_OP_READ_16,
	.sa = SCSI_NO_SA,
	RW16_CDB,
	.flags = RD_FLAGS,
	.parse = sbc_parse_rw,
	.submit = sbc_submit_rw,
};
static const struct scsi_cmd_desc write_6 = {
	.name = "WRITE(6)",
	.opcode = SCSI_OP_WRITE_6,
	.sa = SCSI_NO_SA,
	RW6_CDB,
	.flags = WR_FLAGS,
	.parse = sbc_parse_rw,
	.submit = sbc_submit_rw,
};
static const struct scsi_cmd_desc write_10 = {
	.name = "WRITE(10)",
	.opcode = SCSI_OP_WRITE_10,
	.sa = SCSI_NO_SA,
	RW10_CDB,
	.flags = WR_FLAGS,
	.parse = sbc_parse_rw,
	.submit = sbc_submit_rw,
};
static const struct scsi_cmd_desc write_12 = {
	.name = "WRITE(12)",
	.opcode = SCSI_OP_WRITE_12,
	.sa = SCSI_NO_SA,
	RW12_CDB,
	.flags = WR_FLAGS,
	.parse = sbc_parse_rw,
	.submit = sbc_submit_rw,
};
static const struct scsi_cmd_desc write_16 = {
	.name = "WRITE(16)",
	.opcode = SCSI_OP_WRITE_16,
	.sa = SCSI_NO_SA,
	RW16_CDB,
	.flags = WR_FLAGS,
	.parse = sbc_parse_rw,
	.submit = sbc_submit_rw,
};

/* ---- SBC: VERIFY, WRITE AND VERIFY, COMPARE AND WRITE --------------------------------- */

#define VFY10_CDB CDB(0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0)
#define VFY12_CDB CDB(0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0)
#define VFY16_CDB                                                                               \
	CDB(0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, \
	    0x3f, 0)
#define VFY_FLAGS (SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE)

static const struct scsi_cmd_desc verify_10 = {
	.name = "VERIFY(10)",
	.opcode = SCSI_OP_VERIFY_10,
	.sa = SCSI_NO_SA,
	VFY10_CDB,
	.flags = VFY_FLAGS,
	.parse = sbc_parse_verify,
	.work = sbc_verify,
};
static const struct scsi_cmd_desc verify_12 = {
	.name = "VERIFY(12)",
	.opcode = SCSI_OP_VERIFY_12,
	.sa = SCSI_NO_SA,
	VFY12_CDB,
	.flags = VFY_FLAGS,
	.parse = sbc_parse_verify,
	.work = sbc_verify,
};
static const struct scsi_cmd_desc verify_16 = {
	.name = "VERIFY(16)",
	.opcode = SCSI_OP_VERIFY_16,
	.sa = SCSI_NO_SA,
	VFY16_CDB,
	.flags = VFY_FLAGS,
	.parse = sbc_parse_verify,
	.work = sbc_verify,
};
static const struct scsi_cmd_desc write_verify_10 = {
	.name = "WRITE AND VERIFY(10)",
	.opcode = SCSI_OP_WRITE_VERIFY_10,
	.sa = SCSI_NO_SA,
	VFY10_CDB,
	.flags = WR_FLAGS,
	.parse = sbc_parse_write_verify,
	.work = sbc_write_verify,
};
static const struct scsi_cmd_desc write_verify_12 = {
	.name = "WRITE AND VERIFY(12)",
	.opcode = SCSI_OP_WRITE_VERIFY_12,
	.sa = SCSI_NO_SA,
	VFY12_CDB,
	.flags = WR_FLAGS,
	.parse = sbc_parse_write_verify,
	.work = sbc_write_verify,
};
static const struct scsi_cmd_desc write_verify_16 = {
	.name = "WRITE AND VERIFY(16)",
	.opcode = SCSI_OP_WRITE_VERIFY_16,
	.sa = SCSI_NO_SA,
	VFY16_CDB,
	.flags = WR_FLAGS,
	.parse = sbc_parse_write_verify,
	.work = sbc_write_verify,
};
static const struct scsi_cmd_desc compare_and_write = {
	.name = "COMPARE AND WRITE",
	.opcode = SCSI_OP_COMPARE_AND_WRITE,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0x3f, 0),
	.flags = SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE | SCSI_DF_WRITES,
	.parse = sbc_parse_caw,
	.work = sbc_caw,
};

/* ---- SBC: cache, provisioning --------------------------------------------------------- */

static const struct scsi_cmd_desc sync_cache_10 = {
	.name = "SYNCHRONIZE CACHE(10)",
	.opcode = SCSI_OP_SYNCHRONIZE_CACHE_10,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x02, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0),
	.flags = SCSI_DF_LBA_RANGE,
	.parse = sbc_parse_sync_cache,
	.submit = sbc_submit_sync_cache,
};
static const struct scsi_cmd_desc sync_cache_16 = {
	.name = "SYNCHRONIZE CACHE(16)",
	.opcode = SCSI_OP_SYNCHRONIZE_CACHE_16,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0x3f, 0),
	.flags = SCSI_DF_LBA_RANGE,
	.parse = sbc_parse_sync_cache,
	.submit = sbc_submit_sync_cache,
};
static const struct scsi_cmd_desc write_same_10 = {
	.name = "WRITE SAME(10)",
	.opcode = SCSI_OP_WRITE_SAME_10,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x08, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0),
	.flags = SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE | SCSI_DF_WRITES,
	.parse = sbc_parse_write_same,
	.work = sbc_write_same,
};
static const struct scsi_cmd_desc write_same_16 = {
	.name = "WRITE SAME(16)",
	.opcode = SCSI_OP_WRITE_SAME_16,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0x3f, 0),
	.flags = SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE | SCSI_DF_WRITES,
	.parse = sbc_parse_write_same,
	.work = sbc_write_same,
};
static const struct scsi_cmd_desc unmap = {
	.name = "UNMAP",
	.opcode = SCSI_OP_UNMAP,
	.sa = SCSI_NO_SA,
	CDB(0xff, 0, 0, 0, 0, 0, 0x3f, 0xff, 0xff, 0),
	.flags = SCSI_DF_PARAM_OUT | SCSI_DF_WRITES | SCSI_DF_LBP | SCSI_DF_LOCK_ALL,
	.parse = sbc_parse_unmap,
	.work = sbc_unmap,
};
static const struct scsi_cmd_desc get_lba_status = {
	.name = "GET LBA STATUS",
	.opcode = SCSI_OP_SERVICE_ACTION_IN_16,
	.sa = SCSI_SAI_GET_LBA_STATUS,
	CDB(0xff, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
	    0),
	.flags = SCSI_DF_DATA_IN,
	.parse = sbc_parse_get_lba_status,
	.work = sbc_get_lba_status,
};

/* ---- the index ------------------------------------------------------------------------ */

#define SA_MAX 32

static const struct scsi_cmd_desc *const sai_16_table[SA_MAX] = {
	[SCSI_SAI_READ_CAPACITY_16] = &read_capacity_16,
	[SCSI_SAI_GET_LBA_STATUS] = &get_lba_status,
};
static const struct scsi_cmd_desc *const xcopy_table[SA_MAX] = {
	[SCSI_XCOPY_LID1] = &extended_copy,
};
static const struct scsi_cmd_desc *const rcr_table[SA_MAX] = {
	[SCSI_RCR_OPERATING_PARAMS] = &rcr_op_params,
};
static const struct scsi_cmd_desc *const maint_in_table[SA_MAX] = {
	[SCSI_MI_REPORT_TARGET_PORT_GROUPS] = &rtpg,
	[SCSI_MI_REPORT_SUPPORTED_OPCODES] = &rsoc,
	[SCSI_MI_REPORT_TIMESTAMP] = &report_timestamp,
};

struct scsi_opcode_entry {
	const struct scsi_cmd_desc *desc;	   /* no service actions */
	const struct scsi_cmd_desc *const *sa_tab; /* or: rows by service action */
};

static const struct scsi_opcode_entry opcode_table[256] = {
	[SCSI_OP_TEST_UNIT_READY] = { &test_unit_ready, NULL },
	[SCSI_OP_REQUEST_SENSE] = { &request_sense, NULL },
	[SCSI_OP_FORMAT_UNIT] = { &format_unit, NULL },
	[SCSI_OP_READ_6] = { &read_6, NULL },
	[SCSI_OP_WRITE_6] = { &write_6, NULL },
	[SCSI_OP_INQUIRY] = { &inquiry, NULL },
	[SCSI_OP_MODE_SELECT_6] = { &mode_select_6, NULL },
	[SCSI_OP_MODE_SENSE_6] = { &mode_sense_6, NULL },
	[SCSI_OP_START_STOP_UNIT] = { &start_stop_unit, NULL },
	[SCSI_OP_READ_CAPACITY_10] = { &read_capacity_10, NULL },
	[SCSI_OP_READ_10] = { &read_10, NULL },
	[SCSI_OP_WRITE_10] = { &write_10, NULL },
	[SCSI_OP_WRITE_VERIFY_10] = { &write_verify_10, NULL },
	[SCSI_OP_VERIFY_10] = { &verify_10, NULL },
	[SCSI_OP_SYNCHRONIZE_CACHE_10] = { &sync_cache_10, NULL },
	[SCSI_OP_WRITE_SAME_10] = { &write_same_10, NULL },
	[SCSI_OP_UNMAP] = { &unmap, NULL },
	[SCSI_OP_MODE_SELECT_10] = { &mode_select_10, NULL },
	[SCSI_OP_MODE_SENSE_10] = { &mode_sense_10, NULL },
	[SCSI_OP_EXTENDED_COPY] = { NULL, xcopy_table },
	[SCSI_OP_RECEIVE_COPY_RESULTS] = { NULL, rcr_table },
	[SCSI_OP_READ_16] = { &read_16, NULL },
	[SCSI_OP_COMPARE_AND_WRITE] = { &compare_and_write, NULL },
	[SCSI_OP_WRITE_16] = { &write_16, NULL },
	[SCSI_OP_WRITE_VERIFY_16] = { &write_verify_16, NULL },
	[SCSI_OP_VERIFY_16] = { &verify_16, NULL },
	[SCSI_OP_SYNCHRONIZE_CACHE_16] = { &sync_cache_16, NULL },
	[SCSI_OP_WRITE_SAME_16] = { &write_same_16, NULL },
	[SCSI_OP_SERVICE_ACTION_IN_16] = { NULL, sai_16_table },
	[SCSI_OP_MAINTENANCE_IN] = { NULL, maint_in_table },
	[SCSI_OP_READ_12] = { &read_12, NULL },
	[SCSI_OP_WRITE_12] = { &write_12, NULL },
	[SCSI_OP_WRITE_VERIFY_12] = { &write_verify_12, NULL },
	[SCSI_OP_VERIFY_12] = { &verify_12, NULL },
};

bool scsi_cmd_offered(const struct scsi_lun *lun, const struct scsi_cmd_desc *d)
{
	struct scsi_alua a;

	if ((d->flags & SCSI_DF_ALUA) && !scsi_lun_alua(lun, &a))
		return false;
	return !(d->flags & SCSI_DF_LBP) || scsi_lun_lbpme(lun);
}

const struct scsi_cmd_desc *scsi_cmd_lookup(struct scsi_cmd *cmd, enum scsi_sense *reason)
{
	const struct scsi_opcode_entry *e = &opcode_table[cmd->cdb[0]];
	const struct scsi_cmd_desc *d = e->desc;

	if (e->sa_tab) {
		d = cmd->cdb_len >= 2 ? e->sa_tab[cmd->cdb[1] & (SA_MAX - 1)] : NULL;
		if (!d) {
			/* SPC-5 4.2.1: an unsupported service action is an invalid field */
			*reason = scsi_bad_cdb_field(cmd, 1, 4);
			return NULL;
		}
	}
	if (!d || !scsi_cmd_offered(cmd->priv.lun, d)) {
		*reason = SCSI_SENSE_INVALID_OPCODE;
		return NULL;
	}
	return d;
}

/* Position of a row in RSOC order: opcode * SA_MAX + service action. */
static unsigned int row_index(const struct scsi_cmd_desc *d)
{
	return d->opcode * SA_MAX + (d->sa == SCSI_NO_SA ? 0 : d->sa);
}

const struct scsi_cmd_desc *scsi_cmd_table_next(const struct scsi_cmd_desc *prev)
{
	unsigned int i = prev ? row_index(prev) + 1 : 0;

	for (; i < 256 * SA_MAX; i++) {
		const struct scsi_opcode_entry *e = &opcode_table[i / SA_MAX];

		if (e->sa_tab && e->sa_tab[i % SA_MAX])
			return e->sa_tab[i % SA_MAX];
		if (e->desc && i % SA_MAX == 0)
			return e->desc;
	}
	return NULL;
}

const struct scsi_cmd_desc *scsi_cmd_find(uint8_t opcode, uint16_t sa, bool *has_sa)
{
	const struct scsi_opcode_entry *e = &opcode_table[opcode];

	*has_sa = e->sa_tab != NULL;
	if (e->sa_tab)
		return sa < SA_MAX ? e->sa_tab[sa] : NULL;
	return e->desc;
}
