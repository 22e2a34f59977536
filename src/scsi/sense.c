/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Sense data, built in one place (SPC-5 4.4.2 descriptor, 4.4.3 fixed format). */
#include "sense.h"

#include <errno.h>
#include <string.h>

#include "block/block.h"
#include "scsi/cdb.h"
#include "scsi/scsi.h"
#include "util/compiler.h"

#define SENSE_FIXED_LEN 18
#define SENSE_RESP_FIXED 0x70
#define SENSE_RESP_DESC 0x72
#define SENSE_DESC_INFO 0x00
#define SENSE_DESC_SKS 0x02

struct sense_code {
	uint8_t status, key, asc, ascq;
};

#define CC SCSI_STATUS_CHECK_CONDITION
static const struct sense_code sense_table[SCSI_SENSE__COUNT] = {
	[SCSI_SENSE_OK] = { SCSI_STATUS_GOOD, 0, 0, 0 },
	[SCSI_SENSE_BUSY] = { SCSI_STATUS_BUSY, 0, 0, 0 },
	[SCSI_SENSE_NO_SENSE] = { SCSI_STATUS_GOOD, SENSE_KEY_NO_SENSE, 0, 0 },
	[SCSI_SENSE_NOT_READY_INIT_REQ] = { CC, SENSE_KEY_NOT_READY, 0x04, 0x02 },
	[SCSI_SENSE_MEDIUM_NOT_PRESENT] = { CC, SENSE_KEY_NOT_READY, 0x3a, 0x00 },
	[SCSI_SENSE_ALUA_TRANSITION] = { CC, SENSE_KEY_NOT_READY, 0x04, 0x0a },
	[SCSI_SENSE_ALUA_STANDBY] = { CC, SENSE_KEY_NOT_READY, 0x04, 0x0b },
	[SCSI_SENSE_ALUA_UNAVAILABLE] = { CC, SENSE_KEY_NOT_READY, 0x04, 0x0c },
	[SCSI_SENSE_READ_ERROR] = { CC, SENSE_KEY_MEDIUM_ERROR, 0x11, 0x00 },
	[SCSI_SENSE_WRITE_ERROR] = { CC, SENSE_KEY_MEDIUM_ERROR, 0x0c, 0x00 },
	[SCSI_SENSE_INTERNAL_FAILURE] = { CC, SENSE_KEY_HARDWARE_ERROR, 0x44, 0x00 },
	[SCSI_SENSE_INVALID_OPCODE] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x20, 0x00 },
	[SCSI_SENSE_LBA_OUT_OF_RANGE] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x21, 0x00 },
	[SCSI_SENSE_INVALID_FIELD_CDB] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x24, 0x00 },
	[SCSI_SENSE_INVALID_FIELD_PARAM] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x26, 0x00 },
	[SCSI_SENSE_PARAM_LIST_LENGTH] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x1a, 0x00 },
	[SCSI_SENSE_TOO_MANY_TARGET_DESC] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x26, 0x06 },
	[SCSI_SENSE_UNSUPP_TARGET_DESC] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x26, 0x07 },
	[SCSI_SENSE_TOO_MANY_SEGMENT_DESC] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x26, 0x08 },
	[SCSI_SENSE_UNSUPP_SEGMENT_DESC] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x26, 0x09 },
	[SCSI_SENSE_COPY_ABORTED] = { CC, SENSE_KEY_COPY_ABORTED, 0x00, 0x00 },
	[SCSI_SENSE_COPY_TARGET_UNREACHABLE] = { CC, SENSE_KEY_COPY_ABORTED, 0x0d, 0x02 },
	[SCSI_SENSE_INVALID_FIELD_IU] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x0e, 0x03 },
	[SCSI_SENSE_SAVING_NOT_SUPPORTED] = { CC, SENSE_KEY_ILLEGAL_REQUEST, 0x39, 0x00 },
	[SCSI_SENSE_CAPACITY_CHANGED] = { CC, SENSE_KEY_UNIT_ATTENTION, 0x2a, 0x09 },
	[SCSI_SENSE_WRITE_PROTECTED] = { CC, SENSE_KEY_DATA_PROTECT, 0x27, 0x00 },
	[SCSI_SENSE_SPACE_ALLOC_FAILED] = { CC, SENSE_KEY_DATA_PROTECT, 0x27, 0x07 },
	[SCSI_SENSE_COMM_FAILURE] = { CC, SENSE_KEY_ABORTED_COMMAND, 0x08, 0x00 },
	[SCSI_SENSE_MISCOMPARE] = { CC, SENSE_KEY_MISCOMPARE, 0x1d, 0x00 },
};
#undef CC

uint8_t sense_status(enum scsi_sense s)
{
	return s < SCSI_SENSE__COUNT ? sense_table[s].status : SCSI_STATUS_CHECK_CONDITION;
}

void sense_codes(enum scsi_sense s, uint8_t *key, uint8_t *asc, uint8_t *ascq)
{
	const struct sense_code *c =
		&sense_table[s < SCSI_SENSE__COUNT ? s : SCSI_SENSE_INTERNAL_FAILURE];

	*key = c->key;
	*asc = c->asc;
	*ascq = c->ascq;
}

/* The 3-byte sense-key specific field (SPC-5 4.4.2.4.2). */
static void sks_field(uint8_t *p, const struct scsi_sense_extra *x)
{
	p[0] = 0x80 | (x->field_in_data ? 0 : 0x40);
	if (x->has_bit)
		p[0] |= 0x08 | (x->bit & 7);
	put_be16(p + 1, x->field);
}

static size_t build_fixed(uint8_t *b, uint8_t key, uint8_t asc, uint8_t ascq,
			  const struct scsi_sense_extra *x)
{
	b[0] = SENSE_RESP_FIXED;
	b[2] = key;
	if (x && x->has_info && x->info <= UINT32_MAX) {
		b[0] |= 0x80; /* VALID: the information fits in 4 bytes */
		put_be32(b + 3, (uint32_t)x->info);
	}
	b[7] = SENSE_FIXED_LEN - 8;
	b[12] = asc;
	b[13] = ascq;
	if (x && x->has_field)
		sks_field(b + 15, x);
	return SENSE_FIXED_LEN;
}

static size_t build_desc(uint8_t *b, uint8_t key, uint8_t asc, uint8_t ascq,
			 const struct scsi_sense_extra *x)
{
	size_t n = 8;

	b[0] = SENSE_RESP_DESC;
	b[1] = key;
	b[2] = asc;
	b[3] = ascq;
	if (x && x->has_info) {
		b[n] = SENSE_DESC_INFO;
		b[n + 1] = 0x0a;
		b[n + 2] = 0x80; /* VALID */
		put_be64(b + n + 4, x->info);
		n += 12;
	}
	if (x && x->has_field) {
		b[n] = SENSE_DESC_SKS;
		b[n + 1] = 0x06;
		sks_field(b + n + 4, x);
		n += 8;
	}
	b[7] = (uint8_t)(n - 8);
	return n;
}

size_t sense_build_raw(uint8_t *buf, size_t size, uint8_t key, uint8_t asc, uint8_t ascq,
		       const struct scsi_sense_extra *extra, bool descriptor)
{
	uint8_t b[SCSI_SENSE_BUFFERSIZE] = { 0 };
	size_t n = descriptor ? build_desc(b, key, asc, ascq, extra)
			      : build_fixed(b, key, asc, ascq, extra);

	n = MIN(n, size);
	memcpy(buf, b, n);
	return n;
}

size_t sense_build(uint8_t *buf, size_t size, enum scsi_sense s,
		   const struct scsi_sense_extra *extra, bool descriptor)
{
	uint8_t key, asc, ascq;

	sense_codes(s, &key, &asc, &ascq);
	return sense_build_raw(buf, size, key, asc, ascq, extra, descriptor);
}

enum scsi_sense scsi_sense_from_errno(int err, bool is_write)
{
	switch (err) {
	case 0:
		return SCSI_SENSE_OK;
	case -EIO:
	case -EILSEQ:
		return is_write ? SCSI_SENSE_WRITE_ERROR : SCSI_SENSE_READ_ERROR;
	case -ENOSPC:
	case -EDQUOT:
		return SCSI_SENSE_SPACE_ALLOC_FAILED;
	case -EROFS:
	case -EPERM:
	case -EACCES:
		return SCSI_SENSE_WRITE_PROTECTED;
	case -EINVAL:
	case -EFBIG:
		return SCSI_SENSE_LBA_OUT_OF_RANGE;
	case -ENOMEDIUM:
	case -ENODEV:
	case -ENXIO:
		return SCSI_SENSE_MEDIUM_NOT_PRESENT;
	case -ENOMEM:
	case -EAGAIN:
	case -EBUSY:
		return SCSI_SENSE_BUSY;
	case -ETIMEDOUT:
	case -ECONNRESET:
	case -ECONNREFUSED:
	case -EPIPE:
	case -ENOTCONN:
	case -ESHUTDOWN:
	case -EHOSTUNREACH:
		return SCSI_SENSE_COMM_FAILURE;
	case -ENOTSUP:
		return SCSI_SENSE_INVALID_FIELD_CDB;
	/* a shared image's gateways (block.h BLK_E_*, docs/HA.md): initiators retry 04/0A
	 * on the same path and re-read the port groups; 04/0B and 04/0C fail the path over */
	case BLK_E_TRANSITION:
		return SCSI_SENSE_ALUA_TRANSITION;
	case BLK_E_STANDBY:
		return SCSI_SENSE_ALUA_STANDBY;
	case BLK_E_UNAVAILABLE:
		return SCSI_SENSE_ALUA_UNAVAILABLE;
	default:
		return SCSI_SENSE_INTERNAL_FAILURE;
	}
}
