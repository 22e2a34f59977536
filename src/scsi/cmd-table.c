/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command table: the single source of truth for what the SCSI layer accepts.  Each row
 * gives the CDB length, the usage mask of every CDB byte (a set bit outside it is INVALID
 * FIELD IN CDB with a field pointer, checked generically in lun.c), the flags the core
 * enforces, and the handlers.  REPORT SUPPORTED OPERATION CODES walks this table.
 *
 * Usage masks follow SBC-4/SPC-5: reserved bits, RDPROTECT/WRPROTECT/VRPROTECT (no
 * protection information), NACA/LINK in the control byte, and features we do not offer
 * (ANCHOR, SP, RARC, duration limits) are outside the masks.  Group numbers and the
 * obsolete FUA_NV bit of READ/WRITE (libiscsi's Write*.Flags sends it) are accepted and
 * ignored.
 */
#include "scsi-int.h"

#include "util/compiler.h"

#define U(...)              \
	{                   \
		__VA_ARGS__ \
	}

/* Flags of the READ and WRITE families. */
#define RD_FLAGS (SCSI_DF_DATA_IN | SCSI_DF_LBA_RANGE)
#define WR_FLAGS (SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE | SCSI_DF_WRITES)

/* ---- SPC ------------------------------------------------------------------------------ */

static const struct scsi_cmd_desc test_unit_ready = {
	"TEST UNIT READY",
	SCSI_OP_TEST_UNIT_READY,
	6,
	SCSI_NO_SA,
	U(0xff, 0, 0, 0, 0, 0),
	0,
	NULL,
	spc_test_unit_ready,
	NULL,
	NULL,
};
static const struct scsi_cmd_desc request_sense = {
	"REQUEST SENSE",
	SCSI_OP_REQUEST_SENSE,
	6,
	SCSI_NO_SA,
	U(0xff, 0x01, 0, 0, 0xff, 0),
	SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK | SCSI_DF_NO_UA,
	spc_parse_request_sense,
	spc_request_sense,
	NULL,
	NULL,
};
static const struct scsi_cmd_desc inquiry = {
	"INQUIRY",
	SCSI_OP_INQUIRY,
	6,
	SCSI_NO_SA,
	U(0xff, 0x01, 0xff, 0xff, 0xff, 0),
	SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK | SCSI_DF_NO_UA,
	spc_parse_inquiry,
	spc_inquiry,
	NULL,
	NULL,
};
static const struct scsi_cmd_desc mode_select_6 = {
	"MODE SELECT(6)",
	SCSI_OP_MODE_SELECT_6,
	6,
	SCSI_NO_SA,
	U(0xff, 0x10, 0, 0, 0xff, 0),
	SCSI_DF_PARAM_OUT | SCSI_DF_NO_MEDIUM_OK,
	spc_parse_mode_select,
	spc_mode_select,
	NULL,
	NULL,
};
static const struct scsi_cmd_desc mode_sense_6 = {
	"MODE SENSE(6)",
	SCSI_OP_MODE_SENSE_6,
	6,
	SCSI_NO_SA,
	U(0xff, 0x08, 0xff, 0xff, 0xff, 0),
	SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	spc_parse_mode_sense,
	spc_mode_sense,
	NULL,
	NULL,
};
static const struct scsi_cmd_desc mode_select_10 = {
	"MODE SELECT(10)",
	SCSI_OP_MODE_SELECT_10,
	10,
	SCSI_NO_SA,
	U(0xff, 0x10, 0, 0, 0, 0, 0, 0xff, 0xff, 0),
	SCSI_DF_PARAM_OUT | SCSI_DF_NO_MEDIUM_OK,
	spc_parse_mode_select,
	spc_mode_select,
	NULL,
	NULL,
};
static const struct scsi_cmd_desc mode_sense_10 = {
	"MODE SENSE(10)",
	SCSI_OP_MODE_SENSE_10,
	10,
	SCSI_NO_SA,
	U(0xff, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0),
	SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	spc_parse_mode_sense,
	spc_mode_sense,
	NULL,
	NULL,
};
static const struct scsi_cmd_desc rsoc = {
	"REPORT SUPPORTED OPERATION CODES",
	SCSI_OP_MAINTENANCE_IN,
	12,
	SCSI_MI_REPORT_SUPPORTED_OPCODES,
	U(0xff, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0),
	SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	spc_parse_rsoc,
	spc_rsoc,
	NULL,
	NULL,
};

static const struct scsi_cmd_desc report_timestamp = {
	"REPORT TIMESTAMP",
	SCSI_OP_MAINTENANCE_IN,
	12,
	SCSI_MI_REPORT_TIMESTAMP,
	U(0xff, 0x1f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	spc_parse_report_timestamp,
	spc_report_timestamp,
	NULL,
	NULL,
};

static const struct scsi_cmd_desc extended_copy = {
	"EXTENDED COPY(LID1)",
	SCSI_OP_EXTENDED_COPY,
	16,
	SCSI_XCOPY_LID1,
	U(0xff, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	SCSI_DF_PARAM_OUT | SCSI_DF_WRITES | SCSI_DF_LOCK_ALL,
	spc_parse_xcopy,
	NULL,
	NULL,
	spc_xcopy,
};
static const struct scsi_cmd_desc rcr_op_params = {
	"RECEIVE COPY OPERATING PARAMETERS",
	SCSI_OP_RECEIVE_COPY_RESULTS,
	16,
	SCSI_RCR_OPERATING_PARAMS,
	U(0xff, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	SCSI_DF_DATA_IN | SCSI_DF_NO_MEDIUM_OK,
	spc_parse_rcr,
	spc_rcr_op_params,
	NULL,
	NULL,
};

/* ---- SBC: capacity, medium ------------------------------------------------------------ */

static const struct scsi_cmd_desc read_capacity_10 = {
	"READ CAPACITY(10)",
	SCSI_OP_READ_CAPACITY_10,
	10,
	SCSI_NO_SA,
	U(0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	SCSI_DF_DATA_IN,
	sbc_parse_read_capacity_10,
	sbc_read_capacity_10,
	NULL,
	NULL,
};
static const struct scsi_cmd_desc read_capacity_16 = {
	"READ CAPACITY(16)",
	SCSI_OP_SERVICE_ACTION_IN_16,
	16,
	SCSI_SAI_READ_CAPACITY_16,
	U(0xff, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0),
	SCSI_DF_DATA_IN,
	sbc_parse_read_capacity_16,
	sbc_read_capacity_16,
	NULL,
	NULL,
};
static const struct scsi_cmd_desc start_stop_unit = {
	"START STOP UNIT",
	SCSI_OP_START_STOP_UNIT,
	6,
	SCSI_NO_SA,
	U(0xff, 0x01, 0, 0, 0x05, 0),
	SCSI_DF_NO_MEDIUM_OK,
	sbc_parse_start_stop,
	NULL,
	NULL,
	sbc_start_stop,
};
static const struct scsi_cmd_desc format_unit = {
	"FORMAT UNIT",
	SCSI_OP_FORMAT_UNIT,
	6,
	SCSI_NO_SA,
	U(0xff, 0x0f, 0, 0, 0, 0),
	SCSI_DF_WRITES | SCSI_DF_LOCK_ALL,
	sbc_parse_format_unit,
	NULL,
	NULL,
	sbc_format_unit,
};

/* ---- SBC: READ / WRITE ---------------------------------------------------------------- */

#define RW6_USAGE U(0xff, 0x1f, 0xff, 0xff, 0xff, 0)
#define RW10_USAGE U(0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0)
#define RW12_USAGE U(0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0)
#define RW16_USAGE                                                                            \
	U(0xff, 0x1a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, \
	  0x3f, 0)

static const struct scsi_cmd_desc read_6 = {
	"READ(6)", SCSI_OP_READ_6, 6,	 SCSI_NO_SA,	RW6_USAGE,
	RD_FLAGS,  sbc_parse_rw,   NULL, sbc_submit_rw, NULL,
};
static const struct scsi_cmd_desc read_10 = {
	"READ(10)", SCSI_OP_READ_10, 10,   SCSI_NO_SA,	  RW10_USAGE,
	RD_FLAGS,   sbc_parse_rw,    NULL, sbc_submit_rw, NULL,
};
static const struct scsi_cmd_desc read_12 = {
	"READ(12)", SCSI_OP_READ_12, 12,   SCSI_NO_SA,	  RW12_USAGE,
	RD_FLAGS,   sbc_parse_rw,    NULL, sbc_submit_rw, NULL,
};
static const struct scsi_cmd_desc read_16 = {
	"READ(16)", SCSI_OP_READ_16, 16,   SCSI_NO_SA,	  RW16_USAGE,
	RD_FLAGS,   sbc_parse_rw,    NULL, sbc_submit_rw, NULL,
};
static const struct scsi_cmd_desc write_6 = {
	"WRITE(6)", SCSI_OP_WRITE_6, 6,	   SCSI_NO_SA,	  RW6_USAGE,
	WR_FLAGS,   sbc_parse_rw,    NULL, sbc_submit_rw, NULL,
};
static const struct scsi_cmd_desc write_10 = {
	"WRITE(10)", SCSI_OP_WRITE_10, 10,   SCSI_NO_SA,    RW10_USAGE,
	WR_FLAGS,    sbc_parse_rw,     NULL, sbc_submit_rw, NULL,
};
static const struct scsi_cmd_desc write_12 = {
	"WRITE(12)", SCSI_OP_WRITE_12, 12,   SCSI_NO_SA,    RW12_USAGE,
	WR_FLAGS,    sbc_parse_rw,     NULL, sbc_submit_rw, NULL,
};
static const struct scsi_cmd_desc write_16 = {
	"WRITE(16)", SCSI_OP_WRITE_16, 16,   SCSI_NO_SA,    RW16_USAGE,
	WR_FLAGS,    sbc_parse_rw,     NULL, sbc_submit_rw, NULL,
};

/* ---- SBC: VERIFY, WRITE AND VERIFY, COMPARE AND WRITE --------------------------------- */

#define VFY10_USAGE U(0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0)
#define VFY12_USAGE U(0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0)
#define VFY16_USAGE                                                                           \
	U(0xff, 0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, \
	  0x3f, 0)
#define VFY_FLAGS (SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE)

static const struct scsi_cmd_desc verify_10 = {
	"VERIFY(10)", SCSI_OP_VERIFY_10, 10,   SCSI_NO_SA, VFY10_USAGE,
	VFY_FLAGS,    sbc_parse_verify,	 NULL, NULL,	   sbc_verify,
};
static const struct scsi_cmd_desc verify_12 = {
	"VERIFY(12)", SCSI_OP_VERIFY_12, 12,   SCSI_NO_SA, VFY12_USAGE,
	VFY_FLAGS,    sbc_parse_verify,	 NULL, NULL,	   sbc_verify,
};
static const struct scsi_cmd_desc verify_16 = {
	"VERIFY(16)", SCSI_OP_VERIFY_16, 16,   SCSI_NO_SA, VFY16_USAGE,
	VFY_FLAGS,    sbc_parse_verify,	 NULL, NULL,	   sbc_verify,
};
static const struct scsi_cmd_desc write_verify_10 = {
	"WRITE AND VERIFY(10)",
	SCSI_OP_WRITE_VERIFY_10,
	10,
	SCSI_NO_SA,
	VFY10_USAGE,
	WR_FLAGS,
	sbc_parse_write_verify,
	NULL,
	NULL,
	sbc_write_verify,
};
static const struct scsi_cmd_desc write_verify_12 = {
	"WRITE AND VERIFY(12)",
	SCSI_OP_WRITE_VERIFY_12,
	12,
	SCSI_NO_SA,
	VFY12_USAGE,
	WR_FLAGS,
	sbc_parse_write_verify,
	NULL,
	NULL,
	sbc_write_verify,
};
static const struct scsi_cmd_desc write_verify_16 = {
	"WRITE AND VERIFY(16)",
	SCSI_OP_WRITE_VERIFY_16,
	16,
	SCSI_NO_SA,
	VFY16_USAGE,
	WR_FLAGS,
	sbc_parse_write_verify,
	NULL,
	NULL,
	sbc_write_verify,
};
static const struct scsi_cmd_desc compare_and_write = {
	"COMPARE AND WRITE",
	SCSI_OP_COMPARE_AND_WRITE,
	16,
	SCSI_NO_SA,
	U(0xff, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0xff, 0x3f, 0),
	SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE | SCSI_DF_WRITES,
	sbc_parse_caw,
	NULL,
	NULL,
	sbc_caw,
};

/* ---- SBC: cache, provisioning --------------------------------------------------------- */

static const struct scsi_cmd_desc sync_cache_10 = {
	"SYNCHRONIZE CACHE(10)",
	SCSI_OP_SYNCHRONIZE_CACHE_10,
	10,
	SCSI_NO_SA,
	U(0xff, 0x02, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0),
	SCSI_DF_LBA_RANGE,
	sbc_parse_sync_cache,
	NULL,
	sbc_submit_sync_cache,
	NULL,
};
static const struct scsi_cmd_desc sync_cache_16 = {
	"SYNCHRONIZE CACHE(16)",
	SCSI_OP_SYNCHRONIZE_CACHE_16,
	16,
	SCSI_NO_SA,
	U(0xff, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f,
	  0),
	SCSI_DF_LBA_RANGE,
	sbc_parse_sync_cache,
	NULL,
	sbc_submit_sync_cache,
	NULL,
};
static const struct scsi_cmd_desc write_same_10 = {
	"WRITE SAME(10)",
	SCSI_OP_WRITE_SAME_10,
	10,
	SCSI_NO_SA,
	U(0xff, 0x08, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0),
	SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE | SCSI_DF_WRITES,
	sbc_parse_write_same,
	NULL,
	NULL,
	sbc_write_same,
};
static const struct scsi_cmd_desc write_same_16 = {
	"WRITE SAME(16)",
	SCSI_OP_WRITE_SAME_16,
	16,
	SCSI_NO_SA,
	U(0xff, 0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f,
	  0),
	SCSI_DF_DATA_OUT | SCSI_DF_LBA_RANGE | SCSI_DF_WRITES,
	sbc_parse_write_same,
	NULL,
	NULL,
	sbc_write_same,
};
static const struct scsi_cmd_desc unmap = {
	"UNMAP",
	SCSI_OP_UNMAP,
	10,
	SCSI_NO_SA,
	U(0xff, 0, 0, 0, 0, 0, 0x3f, 0xff, 0xff, 0),
	SCSI_DF_PARAM_OUT | SCSI_DF_WRITES | SCSI_DF_LBP | SCSI_DF_LOCK_ALL,
	sbc_parse_unmap,
	NULL,
	NULL,
	sbc_unmap,
};
static const struct scsi_cmd_desc get_lba_status = {
	"GET LBA STATUS",
	SCSI_OP_SERVICE_ACTION_IN_16,
	16,
	SCSI_SAI_GET_LBA_STATUS,
	U(0xff, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0),
	SCSI_DF_DATA_IN,
	sbc_parse_get_lba_status,
	NULL,
	NULL,
	sbc_get_lba_status,
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
