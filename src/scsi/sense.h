/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SCSI layer's error currency: enum scsi_sense names a status plus sense key / ASC /
 * ASCQ.  Handlers return one; scsi_cmd_finish() turns it into status and sense bytes in
 * one place (sense_build), in fixed format or, with D_SENSE set in the control mode page,
 * descriptor format.  scsi_sense_from_errno() is the only errno -> sense mapping.
 */
#ifndef QT_SCSI_SENSE_H
#define QT_SCSI_SENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sense keys (SPC-5 4.4.8). */
enum {
	SENSE_KEY_NO_SENSE = 0x0,
	SENSE_KEY_NOT_READY = 0x2,
	SENSE_KEY_MEDIUM_ERROR = 0x3,
	SENSE_KEY_HARDWARE_ERROR = 0x4,
	SENSE_KEY_ILLEGAL_REQUEST = 0x5,
	SENSE_KEY_UNIT_ATTENTION = 0x6,
	SENSE_KEY_DATA_PROTECT = 0x7,
	SENSE_KEY_COPY_ABORTED = 0xa,
	SENSE_KEY_ABORTED_COMMAND = 0xb,
	SENSE_KEY_MISCOMPARE = 0xe,
};

enum scsi_sense {
	SCSI_SENSE_OK = 0,		    /* GOOD */
	SCSI_SENSE_BUSY,		    /* BUSY status, no sense (retry: out of memory) */
	SCSI_SENSE_NO_SENSE,		    /* 00/0000 (REQUEST SENSE data only) */
	SCSI_SENSE_NOT_READY_INIT_REQ,	    /* 02/0402 stopped: START UNIT required */
	SCSI_SENSE_MEDIUM_NOT_PRESENT,	    /* 02/3A00 */
	SCSI_SENSE_ALUA_TRANSITION,	    /* 02/040A asymmetric access state transition */
	SCSI_SENSE_ALUA_STANDBY,	    /* 02/040B target port in standby state */
	SCSI_SENSE_ALUA_UNAVAILABLE,	    /* 02/040C target port in unavailable state */
	SCSI_SENSE_READ_ERROR,		    /* 03/1100 unrecovered read error */
	SCSI_SENSE_WRITE_ERROR,		    /* 03/0C00 write error */
	SCSI_SENSE_INTERNAL_FAILURE,	    /* 04/4400 internal target failure */
	SCSI_SENSE_INVALID_OPCODE,	    /* 05/2000 */
	SCSI_SENSE_LBA_OUT_OF_RANGE,	    /* 05/2100 */
	SCSI_SENSE_INVALID_FIELD_CDB,	    /* 05/2400 (+ field pointer if set) */
	SCSI_SENSE_INVALID_FIELD_PARAM,	    /* 05/2600 (+ field pointer if set) */
	SCSI_SENSE_PARAM_LIST_LENGTH,	    /* 05/1A00 */
	SCSI_SENSE_TOO_MANY_TARGET_DESC,    /* 05/2606 (EXTENDED COPY) */
	SCSI_SENSE_UNSUPP_TARGET_DESC,	    /* 05/2607 unsupported target descriptor type code */
	SCSI_SENSE_TOO_MANY_SEGMENT_DESC,   /* 05/2608 */
	SCSI_SENSE_UNSUPP_SEGMENT_DESC,	    /* 05/2609 unsupported segment descriptor type code */
	SCSI_SENSE_COPY_ABORTED,	    /* 0A/0000 (+ info: the segment) */
	SCSI_SENSE_COPY_TARGET_UNREACHABLE, /* 0A/0D02 copy target device not reachable */
	SCSI_SENSE_INVALID_FIELD_IU,	    /* 05/0E03 Data-Out size differs from the CDB's */
	SCSI_SENSE_SAVING_NOT_SUPPORTED,    /* 05/3900 */
	SCSI_SENSE_CAPACITY_CHANGED,	    /* 06/2A09 */
	SCSI_SENSE_WRITE_PROTECTED,	    /* 07/2700 */
	SCSI_SENSE_SPACE_ALLOC_FAILED,	    /* 07/2707 space allocation failed write protect */
	SCSI_SENSE_COMM_FAILURE,	    /* 0B/0800 logical unit communication failure */
	SCSI_SENSE_MISCOMPARE,		    /* 0E/1D00 miscompare during verify (+ info) */
	SCSI_SENSE__COUNT,
};

/* Extra sense fields; a zeroed struct means none. */
struct scsi_sense_extra {
	uint64_t info;	    /* INFORMATION field, when has_info */
	uint16_t field;	    /* sense-key specific field pointer (byte), when has_field */
	uint8_t bit;	    /* bit pointer (0..7), when has_bit */
	bool has_info;	    /* VALID / information descriptor */
	bool has_field;	    /* SKSV */
	bool has_bit;	    /* BPV */
	bool field_in_data; /* C/D = 0: the field is in the parameter data, not the CDB */
};

/* Status byte of a reason (GOOD, CHECK CONDITION or BUSY). */
uint8_t sense_status(enum scsi_sense s);
/* Key, ASC and ASCQ of a reason. */
void sense_codes(enum scsi_sense s, uint8_t *key, uint8_t *asc, uint8_t *ascq);
/* Build sense data for @s into @buf (at most @size bytes); returns the length.
 * Fixed format (0x70, 18 bytes) or descriptor format (0x72) when @descriptor. */
size_t sense_build(uint8_t *buf, size_t size, enum scsi_sense s,
		   const struct scsi_sense_extra *extra, bool descriptor);
/* Build sense from raw codes (for transports: scsi_cmd_set_sense). */
size_t sense_build_raw(uint8_t *buf, size_t size, uint8_t key, uint8_t asc, uint8_t ascq,
		       const struct scsi_sense_extra *extra, bool descriptor);

/* The one errno -> sense mapping (block layer errors; @is_write picks read/write error). */
enum scsi_sense scsi_sense_from_errno(int err, bool is_write);

#endif
