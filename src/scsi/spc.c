/* SPDX-License-Identifier: GPL-2.0-or-later */
/* SPC-5 commands: TEST UNIT READY, REQUEST SENSE, INQUIRY, REPORT SUPPORTED OPERATION
 * CODES, REPORT TIMESTAMP.  VPD pages are in vpd.c, mode pages in mode.c. */
#include "scsi-int.h"

#include <string.h>
#include <time.h>

#include "util/compiler.h"

#define INQ_STD_LEN 96
#define INQ_VERSION_SPC4 0x06 /* libiscsi accepts 4..6; SPC-5 conformance is claimed below */
#define INQ_RDF_SPC 0x02
#define INQ_HISUP 0x10
#define INQ_CMDQUE 0x02
#define INQ_3PC 0x08 /* third-party copy: EXTENDED COPY (xcopy.c) */

/* Version descriptors (SPC-5 Table 148): SAM-5, SPC-4, SPC-5, SBC-3, SBC-4. */
static const uint16_t version_descriptors[] = { 0x00a0, 0x0460, 0x05c0, 0x04c0, 0x0600 };

enum scsi_sense spc_test_unit_ready(struct scsi_cmd *cmd)
{
	(void)cmd;
	return SCSI_SENSE_OK; /* the core answers NOT READY while stopped */
}

/* ---- REQUEST SENSE (SPC-5 6.39) ------------------------------------------------------- */

enum scsi_sense spc_parse_request_sense(struct scsi_cmd *cmd)
{
	cmd->priv.xfer_len = cmd->cdb[4];
	return SCSI_SENSE_OK;
}

enum scsi_sense spc_request_sense(struct scsi_cmd *cmd)
{
	struct scsi_lun *lun = cmd->priv.lun;
	enum scsi_sense s = SCSI_SENSE_NO_SENSE;
	uint8_t buf[SCSI_SENSE_BUFFERSIZE];
	size_t n;

	if (lun->ua_capacity) {
		lun->ua_capacity = false;
		s = SCSI_SENSE_CAPACITY_CHANGED;
	} else if (scsi_lun_is_stopped(lun)) {
		s = SCSI_SENSE_NOT_READY_INIT_REQ;
	}
	n = sense_build(buf, sizeof(buf), s, NULL, cmd->cdb[1] & 0x01);
	scsi_data_in(cmd, buf, n);
	return SCSI_SENSE_OK;
}

/* ---- INQUIRY (SPC-5 6.7) --------------------------------------------------------------- */

enum scsi_sense spc_parse_inquiry(struct scsi_cmd *cmd)
{
	if (!(cmd->cdb[1] & 0x01) && cmd->cdb[2])
		return scsi_bad_cdb_field(cmd, 2, 7); /* PAGE CODE without EVPD */
	cmd->priv.xfer_len = get_be16(cmd->cdb + 3);
	return SCSI_SENSE_OK;
}

/* Space-padded ASCII, as SPC-5 4.3.1 wants for identification fields. */
static void put_ascii(uint8_t *dst, size_t len, const char *s)
{
	size_t n = strnlen(s, len);

	memset(dst, ' ', len);
	for (size_t i = 0; i < n; i++)
		dst[i] = (s[i] >= 0x20 && s[i] <= 0x7e) ? (uint8_t)s[i] : ' ';
}

static enum scsi_sense inquiry_standard(struct scsi_cmd *cmd)
{
	const struct scsi_lun *lun = cmd->priv.lun;
	uint8_t b[INQ_STD_LEN] = { 0 };

	b[0] = 0x00; /* peripheral qualifier 0, direct access block device */
	b[2] = INQ_VERSION_SPC4;
	b[3] = INQ_HISUP | INQ_RDF_SPC;
	b[4] = INQ_STD_LEN - 5;
	b[5] = INQ_3PC | scsi_lun_tpgs(lun);
	b[7] = INQ_CMDQUE;
	put_ascii(b + 8, 8, lun->vendor);
	put_ascii(b + 16, 16, lun->product);
	put_ascii(b + 32, 4, lun->revision);
	for (size_t i = 0; i < ARRAY_SIZE(version_descriptors); i++)
		put_be16(b + 58 + 2 * i, version_descriptors[i]);
	scsi_data_in(cmd, b, sizeof(b));
	return SCSI_SENSE_OK;
}

enum scsi_sense spc_inquiry(struct scsi_cmd *cmd)
{
	if (cmd->cdb[1] & 0x01)
		return spc_vpd(cmd, cmd->cdb[2]);
	return inquiry_standard(cmd);
}

/* ---- REPORT SUPPORTED OPERATION CODES (SPC-5 6.35) ------------------------------------- */

#define RSOC_ALL 0
#define RSOC_OPCODE 1
#define RSOC_OPCODE_SA 2
#define RSOC_OPCODE_ANY 3
#define RSOC_TIMEOUT_LEN 12
#define RSOC_MAX (4 + 64 * (8 + RSOC_TIMEOUT_LEN))

enum scsi_sense spc_parse_rsoc(struct scsi_cmd *cmd)
{
	if ((cmd->cdb[2] & 0x07) > RSOC_OPCODE_ANY)
		return scsi_bad_cdb_field(cmd, 2, 2);
	cmd->priv.xfer_len = get_be32(cmd->cdb + 6);
	return SCSI_SENSE_OK;
}

/* Command timeouts descriptor (SPC-5 6.35.4): length 0x0a, timeouts not specified. */
static size_t put_timeouts(uint8_t *p)
{
	memset(p, 0, RSOC_TIMEOUT_LEN);
	put_be16(p, RSOC_TIMEOUT_LEN - 2);
	return RSOC_TIMEOUT_LEN;
}

static enum scsi_sense rsoc_all(struct scsi_cmd *cmd, bool rctd)
{
	uint8_t b[RSOC_MAX] = { 0 };
	size_t n = 4;

	for (const struct scsi_cmd_desc *d = scsi_cmd_table_next(NULL); d;
	     d = scsi_cmd_table_next(d)) {
		if (!scsi_cmd_offered(cmd->priv.lun, d) || n + 8 + RSOC_TIMEOUT_LEN > sizeof(b))
			continue;
		b[n] = d->opcode;
		if (d->sa != SCSI_NO_SA) {
			put_be16(b + n + 2, d->sa);
			b[n + 5] |= 0x01; /* SERVACTV */
		}
		if (rctd)
			b[n + 5] |= 0x02; /* CTDP */
		put_be16(b + n + 6, d->cdb_len);
		n += 8;
		if (rctd)
			n += put_timeouts(b + n);
	}
	put_be32(b, (uint32_t)(n - 4));
	scsi_data_in(cmd, b, n);
	return SCSI_SENSE_OK;
}

static enum scsi_sense rsoc_one(struct scsi_cmd *cmd, bool rctd, unsigned int opts)
{
	uint8_t b[4 + SCSI_MAX_CDB + RSOC_TIMEOUT_LEN] = { 0 };
	uint16_t sa = get_be16(cmd->cdb + 4);
	const struct scsi_cmd_desc *d;
	bool has_sa;
	size_t n = 4;

	d = scsi_cmd_find(cmd->cdb[3], sa, &has_sa);
	if ((opts == RSOC_OPCODE && has_sa) || (opts == RSOC_OPCODE_SA && !has_sa))
		return scsi_bad_cdb_field(cmd, 2, 2);
	if (opts == RSOC_OPCODE_ANY && !has_sa && sa)
		d = NULL;
	if (d && !scsi_cmd_offered(cmd->priv.lun, d))
		d = NULL;
	b[1] = d ? 0x03 : 0x01; /* SUPPORT: supported per standard / not supported */
	if (d) {
		put_be16(b + 2, d->cdb_len);
		memcpy(b + 4, d->usage, d->cdb_len);
		b[4] = d->opcode;	 /* SPC-5 6.35.3: usage data starts with the opcode ... */
		if (d->sa != SCSI_NO_SA) /* ... and carries the service action */
			b[5] = (uint8_t)((d->usage[1] & ~0x1f) | d->sa);
		n += d->cdb_len;
		if (rctd) {
			b[1] |= 0x80; /* CTDP */
			n += put_timeouts(b + n);
		}
	}
	scsi_data_in(cmd, b, n);
	return SCSI_SENSE_OK;
}

enum scsi_sense spc_rsoc(struct scsi_cmd *cmd)
{
	bool rctd = cmd->cdb[2] & 0x80;
	unsigned int opts = cmd->cdb[2] & 0x07;

	return opts == RSOC_ALL ? rsoc_all(cmd, rctd) : rsoc_one(cmd, rctd, opts);
}

/* ---- REPORT TIMESTAMP (SPC-5) ---------------------------------------------------------- */

/*
 * The device clock is the host's real-time clock, in milliseconds since 1970-01-01 UTC.
 * TIMESTAMP ORIGIN 011b: "initialized by a method outside the scope of this standard" (the
 * host's own time keeping).  Not 000b, which means a count from zero since power on or
 * hard reset.  SET TIMESTAMP is not offered: the host clock is not ours to set.
 */
#define TIMESTAMP_LEN 12
#define TIMESTAMP_ORIGIN_OUTSIDE 0x03

enum scsi_sense spc_parse_report_timestamp(struct scsi_cmd *cmd)
{
	cmd->priv.xfer_len = get_be32(cmd->cdb + 6);
	return SCSI_SENSE_OK;
}

enum scsi_sense spc_report_timestamp(struct scsi_cmd *cmd)
{
	uint8_t b[TIMESTAMP_LEN] = { 0 };
	struct timespec ts;
	uint64_t ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	put_be16(b, TIMESTAMP_LEN - 2); /* TIMESTAMP PARAMETER DATA LENGTH */
	b[2] = TIMESTAMP_ORIGIN_OUTSIDE;
	put_be16(b + 4, (uint16_t)(ms >> 32)); /* TIMESTAMP: 48 bits */
	put_be32(b + 6, (uint32_t)ms);
	scsi_data_in(cmd, b, sizeof(b));
	return SCSI_SENSE_OK;
}
