/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SCSI operation codes, service actions, VPD and mode page codes, and big-endian field
 * accessors.  CDBs and parameter data are byte arrays read with these helpers (no packed
 * structs).  Never include <scsi/scsi.h>: its READ_10-style macros clash.
 */
#ifndef QT_SCSI_CDB_H
#define QT_SCSI_CDB_H

#include <stdint.h>

/* SPC-5 / SBC-4 operation codes (those we emulate, plus a few we name in tests). */
enum {
	SCSI_OP_TEST_UNIT_READY = 0x00,
	SCSI_OP_REQUEST_SENSE = 0x03,
	SCSI_OP_FORMAT_UNIT = 0x04,
	SCSI_OP_READ_6 = 0x08,
	SCSI_OP_WRITE_6 = 0x0a,
	SCSI_OP_INQUIRY = 0x12,
	SCSI_OP_MODE_SELECT_6 = 0x15,
	SCSI_OP_MODE_SENSE_6 = 0x1a,
	SCSI_OP_START_STOP_UNIT = 0x1b,
	SCSI_OP_READ_CAPACITY_10 = 0x25,
	SCSI_OP_READ_10 = 0x28,
	SCSI_OP_WRITE_10 = 0x2a,
	SCSI_OP_WRITE_VERIFY_10 = 0x2e,
	SCSI_OP_VERIFY_10 = 0x2f,
	SCSI_OP_SYNCHRONIZE_CACHE_10 = 0x35,
	SCSI_OP_WRITE_SAME_10 = 0x41,
	SCSI_OP_UNMAP = 0x42,
	SCSI_OP_MODE_SELECT_10 = 0x55,
	SCSI_OP_MODE_SENSE_10 = 0x5a,
	SCSI_OP_VARIABLE_LENGTH = 0x7f,
	SCSI_OP_EXTENDED_COPY = 0x83,
	SCSI_OP_RECEIVE_COPY_RESULTS = 0x84,
	SCSI_OP_READ_16 = 0x88,
	SCSI_OP_COMPARE_AND_WRITE = 0x89,
	SCSI_OP_WRITE_16 = 0x8a,
	SCSI_OP_WRITE_VERIFY_16 = 0x8e,
	SCSI_OP_VERIFY_16 = 0x8f,
	SCSI_OP_SYNCHRONIZE_CACHE_16 = 0x91,
	SCSI_OP_WRITE_SAME_16 = 0x93,
	SCSI_OP_SERVICE_ACTION_IN_16 = 0x9e,
	SCSI_OP_REPORT_LUNS = 0xa0,
	SCSI_OP_MAINTENANCE_IN = 0xa3,
	SCSI_OP_READ_12 = 0xa8,
	SCSI_OP_WRITE_12 = 0xaa,
	SCSI_OP_WRITE_VERIFY_12 = 0xae,
	SCSI_OP_VERIFY_12 = 0xaf,
};

/* Service actions. */
enum {
	SCSI_SAI_READ_CAPACITY_16 = 0x10, /* SERVICE ACTION IN(16) */
	SCSI_SAI_GET_LBA_STATUS = 0x12,
	SCSI_MI_REPORT_SUPPORTED_OPCODES = 0x0c, /* MAINTENANCE IN */
	SCSI_MI_REPORT_TIMESTAMP = 0x0f,
	SCSI_XCOPY_LID1 = 0x00,		  /* EXTENDED COPY */
	SCSI_RCR_OPERATING_PARAMS = 0x03, /* RECEIVE COPY RESULTS */
};

/* VPD pages (SPC-5 7.7, SBC-4 6.6). */
enum {
	VPD_SUPPORTED_PAGES = 0x00,
	VPD_UNIT_SERIAL = 0x80,
	VPD_DEVICE_ID = 0x83,
	VPD_EXTENDED_INQUIRY = 0x86,
	VPD_BLOCK_LIMITS = 0xb0,
	VPD_BLOCK_DEV_CHARS = 0xb1,
	VPD_LB_PROVISIONING = 0xb2,
};

/* Mode pages (SPC-5 7.5, SBC-4 6.5). */
enum {
	MODE_PAGE_RW_RECOVERY = 0x01,
	MODE_PAGE_CACHING = 0x08,
	MODE_PAGE_CONTROL = 0x0a,
	MODE_PAGE_INFO_EXCEPTIONS = 0x1c,
	MODE_PAGE_ALL = 0x3f,
};

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

#endif
