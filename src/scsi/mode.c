/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * MODE SENSE(6/10) and MODE SELECT(6/10) (SPC-5 6.13-6.16) with the pages 01 read-write
 * error recovery, 08 caching (WCE changeable), 0A control (D_SENSE changeable) and 1C
 * informational exceptions, as current, changeable and default values.  Saved values are
 * not supported.
 */
#include "scsi-int.h"

#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "util/compiler.h"
#include "util/iov.h"

enum {
	PC_CURRENT = 0,
	PC_CHANGEABLE = 1,
	PC_DEFAULT = 2,
	PC_SAVED = 3
};

#define MODE_BUF 512
#define DSP_WP 0x80	/* device-specific parameter: write protected */
#define DSP_DPOFUA 0x10 /* DPO and FUA are supported */
#define CACHING_WCE 0x04
#define CONTROL_D_SENSE 0x04

static const uint8_t page_codes[] = { MODE_PAGE_RW_RECOVERY, MODE_PAGE_CACHING, MODE_PAGE_CONTROL,
				      MODE_PAGE_INFO_EXCEPTIONS };

static size_t page_hdr(uint8_t *p, uint8_t code, uint8_t len)
{
	p[0] = code;
	p[1] = len;
	return (size_t)len + 2;
}

/* Build page @code for page control @pc into @p; returns its size or 0 if unknown. */
static size_t mode_page(const struct scsi_lun *lun, uint8_t code, int pc, uint8_t *p)
{
	switch (code) {
	case MODE_PAGE_RW_RECOVERY:
		memset(p, 0, 12);
		return page_hdr(p, code, 0x0a);
	case MODE_PAGE_CACHING:
		memset(p, 0, 20);
		if (pc == PC_CHANGEABLE || (pc == PC_CURRENT && lun->wce) ||
		    (pc == PC_DEFAULT && lun->wce_default))
			p[2] = CACHING_WCE;
		return page_hdr(p, code, 0x12);
	case MODE_PAGE_CONTROL:
		memset(p, 0, 12);
		if (pc == PC_CHANGEABLE) {
			p[2] = CONTROL_D_SENSE;
			return page_hdr(p, code, 0x0a);
		}
		if (pc == PC_CURRENT && lun->d_sense)
			p[2] = CONTROL_D_SENSE;
		p[3] = 0x10; /* QUEUE ALGORITHM MODIFIER 1: unrestricted reordering */
		p[5] = 0x40; /* TAS: aborted commands of other nexuses get TASK ABORTED */
		put_be16(p + 8, 0xffff); /* BUSY TIMEOUT PERIOD: unlimited */
		return page_hdr(p, code, 0x0a);
	case MODE_PAGE_INFO_EXCEPTIONS:
		memset(p, 0, 12);
		if (pc != PC_CHANGEABLE)
			p[2] = 0x08; /* DEXCPT: no informational exceptions reported */
		return page_hdr(p, code, 0x0a);
	default:
		return 0;
	}
}

/* ---- MODE SENSE ------------------------------------------------------------------------ */

enum scsi_sense spc_parse_mode_sense(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	uint8_t page = c[2] & 0x3f;

	if ((c[2] >> 6) == PC_SAVED)
		return SCSI_SENSE_SAVING_NOT_SUPPORTED;
	if (c[3] && !(page == MODE_PAGE_ALL && c[3] == 0xff))
		return scsi_bad_cdb_field(cmd, 3, 7); /* no subpages */
	if (page != MODE_PAGE_ALL && !memchr(page_codes, page, sizeof(page_codes)))
		return scsi_bad_cdb_field(cmd, 2, 5);
	cmd->priv.xfer_len = c[0] == SCSI_OP_MODE_SENSE_6 ? c[4] : get_be16(c + 7);
	return SCSI_SENSE_OK;
}

static size_t block_descriptor(const struct scsi_lun *lun, uint8_t *p, bool longlba, int pc)
{
	uint64_t blocks = pc == PC_CHANGEABLE ? 0 : lun->nb_blocks;
	uint32_t bsz = pc == PC_CHANGEABLE ? 0 : lun->block_size;

	if (longlba) {
		memset(p, 0, 16);
		put_be64(p, blocks);
		put_be32(p + 12, bsz);
		return 16;
	}
	memset(p, 0, 8);
	put_be32(p, blocks > UINT32_MAX ? UINT32_MAX : (uint32_t)blocks);
	put_be24(p + 5, bsz);
	return 8;
}

enum scsi_sense spc_mode_sense(struct scsi_cmd *cmd)
{
	const struct scsi_lun *lun = cmd->priv.lun;
	const uint8_t *c = cmd->cdb;
	bool ms6 = c[0] == SCSI_OP_MODE_SENSE_6;
	bool dbd = c[1] & 0x08, longlba = !ms6 && (c[1] & 0x10);
	int pc = c[2] >> 6;
	uint8_t page = c[2] & 0x3f, b[MODE_BUF] = { 0 };
	size_t hdr = ms6 ? 4 : 8, n = hdr, bd = 0;

	if (!dbd)
		n += bd = block_descriptor(lun, b + n, longlba, pc);
	for (size_t i = 0; i < sizeof(page_codes); i++)
		if (page == MODE_PAGE_ALL || page == page_codes[i])
			n += mode_page(lun, page_codes[i], pc, b + n);
	if (ms6) {
		b[0] = (uint8_t)(n - 1);
		b[2] = (uint8_t)((lun->read_only ? DSP_WP : 0) | DSP_DPOFUA);
		b[3] = (uint8_t)bd;
	} else {
		put_be16(b, (uint16_t)(n - 2));
		b[3] = (uint8_t)((lun->read_only ? DSP_WP : 0) | DSP_DPOFUA);
		b[4] = longlba && bd ? 0x01 : 0;
		put_be16(b + 6, (uint16_t)bd);
	}
	scsi_data_in(cmd, b, n);
	return SCSI_SENSE_OK;
}

/* ---- MODE SELECT ----------------------------------------------------------------------- */

enum scsi_sense spc_parse_mode_select(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;

	if (!(c[1] & 0x10))
		return scsi_bad_cdb_field(cmd, 1, 4); /* PF=0: vendor-specific page format */
	cmd->priv.xfer_len = c[0] == SCSI_OP_MODE_SELECT_6 ? c[4] : get_be16(c + 7);
	return SCSI_SENSE_OK;
}

/* Check the header and block descriptor; *off is set to the first page. */
static enum scsi_sense select_header(struct scsi_cmd *cmd, const uint8_t *b, size_t len,
				     size_t *off)
{
	bool ms6 = cmd->cdb[0] == SCSI_OP_MODE_SELECT_6;
	size_t hdr = ms6 ? 4 : 8, bd, bsz_off;
	bool longlba;

	if (len < hdr)
		return SCSI_SENSE_PARAM_LIST_LENGTH;
	bd = ms6 ? b[3] : get_be16(b + 6);
	longlba = !ms6 && (b[4] & 0x01);
	bsz_off = longlba ? 12 : 5;
	if (hdr + bd > len)
		return SCSI_SENSE_PARAM_LIST_LENGTH;
	if (bd && bd != (longlba ? 16u : 8u))
		return scsi_bad_param_field(cmd, ms6 ? 3 : 6, 7);
	if (bd && (longlba ? get_be32(b + hdr + bsz_off) : get_be24(b + hdr + bsz_off)) !=
			  cmd->priv.lun->block_size)
		return scsi_bad_param_field(cmd, (unsigned int)(hdr + bsz_off), 7);
	*off = hdr + bd;
	return SCSI_SENSE_OK;
}

/* Validate every page against the current and changeable values; apply when @apply. */
static enum scsi_sense select_pages(struct scsi_cmd *cmd, const uint8_t *b, size_t len, size_t off,
				    bool apply)
{
	struct scsi_lun *lun = cmd->priv.lun;
	uint8_t cur[64], chg[64];

	while (off < len) {
		const uint8_t *p = b + off;
		size_t plen;

		if (len - off < 2)
			return SCSI_SENSE_PARAM_LIST_LENGTH;
		if (p[0] & 0x40)
			return scsi_bad_param_field(cmd, (unsigned int)off, 6); /* SPF */
		plen = mode_page(lun, p[0] & 0x3f, PC_CURRENT, cur);
		if (!plen)
			return scsi_bad_param_field(cmd, (unsigned int)off, 5);
		if (p[1] + 2u != plen)
			return scsi_bad_param_field(cmd, (unsigned int)off + 1, 7);
		if (off + plen > len)
			return SCSI_SENSE_PARAM_LIST_LENGTH;
		mode_page(lun, p[0] & 0x3f, PC_CHANGEABLE, chg);
		for (size_t i = 2; i < plen; i++) {
			uint8_t diff = (uint8_t)((p[i] ^ cur[i]) & ~chg[i]);

			if (diff)
				return scsi_bad_param_field(cmd, (unsigned int)(off + i),
							    31 - __builtin_clz(diff));
		}
		if (apply && (p[0] & 0x3f) == MODE_PAGE_CACHING)
			scsi_lun_set_write_cache(lun, p[2] & CACHING_WCE);
		if (apply && (p[0] & 0x3f) == MODE_PAGE_CONTROL)
			lun->d_sense = p[2] & CONTROL_D_SENSE;
		off += plen;
	}
	return SCSI_SENSE_OK;
}

enum scsi_sense spc_mode_select(struct scsi_cmd *cmd)
{
	size_t len = MIN(scsi_cmd_buf_len(cmd), (size_t)cmd->priv.xfer_len), off = 0;
	enum scsi_sense r;
	uint8_t *b;

	if (len == 0)
		return SCSI_SENSE_OK;
	b = malloc(len);
	if (!b)
		return SCSI_SENSE_BUSY;
	iov_to_buf(cmd->iov, cmd->iovcnt, 0, b, len);
	r = select_header(cmd, b, len, &off);
	if (r == SCSI_SENSE_OK)
		r = select_pages(cmd, b, len, off, false);
	if (r == SCSI_SENSE_OK)
		select_pages(cmd, b, len, off, true);
	free(b);
	return r;
}
