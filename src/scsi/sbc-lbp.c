/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logical block provisioning and bulk writes (SBC-4 4.7, 5.8, 5.31, 5.48, 5.49): WRITE
 * SAME(10/16) with UNMAP and NDOB, UNMAP, GET LBA STATUS, FORMAT UNIT.  What is offered
 * follows the block node: LBPME when it can deallocate (BLK_CAP_DISCARD), LBPRZ when
 * deallocated blocks read back as zeroes; unmapping then never leaves stale data, since
 * the parts of a range smaller than the node's discard granule are zeroed.  Blocking code
 * on the thread pool.
 */
#include "scsi-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "util/compiler.h"
#include "util/iov.h"

#define WS_CHUNK (1u << 20)
#define UNMAP_HDR 8
#define UNMAP_DESC 16
#define LBA_STATUS_MAX_DESC 64

enum {
	LBA_MAPPED = 0,
	LBA_DEALLOCATED = 1
};

/* ---- unmapping ------------------------------------------------------------------------- */

int sbc_unmap_range(struct scsi_lun *lun, uint64_t lba, uint64_t nlb)
{
	const struct blk_limits *l = blk_get_limits(lun->bs);
	uint64_t off = scsi_lba_to_off(lun, lba), len = scsi_lba_to_off(lun, nlb);
	uint64_t gran = MAX(MAX(l->discard_granularity, l->request_alignment), 1u);
	uint64_t start = ALIGN_UP(off, gran), end = ALIGN_DOWN(off + len, gran);
	int r = 0;

	if (!len)
		return 0;
	if (l->caps & BLK_CAP_ZERO_UNMAP) /* deallocates, and what it cannot reads as zero */
		return blk_write_zeroes(lun->bs, off, len, BLK_REQ_MAY_UNMAP);
	if (!(l->caps & BLK_CAP_DISCARD_ZEROES) || start >= end)
		return (l->caps & BLK_CAP_DISCARD_ZEROES) ? blk_write_zeroes(lun->bs, off, len, 0)
							  : blk_discard(lun->bs, off, len);
	/* LBPRZ: zero the partial granules, discard the whole ones */
	if (start > off)
		r = blk_write_zeroes(lun->bs, off, start - off, 0);
	if (r == 0)
		r = blk_discard(lun->bs, start, end - start);
	if (r == 0 && end < off + len)
		r = blk_write_zeroes(lun->bs, end, off + len - end, 0);
	return r;
}

/* ---- WRITE SAME ------------------------------------------------------------------------ */

enum scsi_sense sbc_parse_write_same(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	const uint8_t *c = cmd->cdb;
	bool ws16 = c[0] == SCSI_OP_WRITE_SAME_16;
	unsigned int len_byte = ws16 ? 10 : 7;

	p->lba = ws16 ? get_be64(c + 2) : get_be32(c + 2);
	p->nlb = ws16 ? get_be32(c + 10) : get_be16(c + 7);
	if (c[1] & 0x08) {
		if (!scsi_lun_lbpme(p->lun))
			return scsi_bad_cdb_field(cmd, 1, 3); /* UNMAP without LBPWS */
		p->cmd_flags |= SCSI_CF_UNMAP;
	}
	if (ws16 && (c[1] & 0x01))
		p->cmd_flags |= SCSI_CF_NDOB;
	/* WSNZ=1 and MAXIMUM WRITE SAME LENGTH in the block limits */
	if (p->nlb == 0 || p->nlb > SCSI_MAX_WS_BLOCKS)
		return scsi_bad_cdb_field(cmd, len_byte, 7);
	if (!p->lun->wce)
		p->cmd_flags |= SCSI_CF_FUA;
	p->xfer_len = (p->cmd_flags & SCSI_CF_NDOB) ? 0 : p->lun->block_size;
	return SCSI_SENSE_OK;
}

/* Write @pattern (one block) to every block of the range, through a replicated buffer. */
static int write_pattern(struct scsi_lun *lun, uint64_t off, uint64_t len, const uint8_t *pattern,
			 unsigned int flags)
{
	uint64_t chunk = MIN(len, (uint64_t)WS_CHUNK), done = 0;
	uint8_t *buf = NULL;
	int r = 0;

	if (posix_memalign((void **)&buf, 4096, chunk))
		return -ENOMEM;
	for (uint64_t i = 0; i < chunk; i += lun->block_size)
		memcpy(buf + i, pattern, lun->block_size);
	while (done < len && r == 0) {
		uint64_t n = MIN(len - done, chunk);

		r = blk_pwrite(lun->bs, off + done, buf, n, flags);
		done += n;
	}
	free(buf);
	return r;
}

enum scsi_sense sbc_write_same(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	struct scsi_lun *lun = p->lun;
	uint64_t off = scsi_lba_to_off(lun, p->lba), len = scsi_lba_to_off(lun, p->nlb);
	unsigned int fua = (p->cmd_flags & SCSI_CF_FUA) ? BLK_REQ_FUA : 0;
	uint8_t *pattern = calloc(1, lun->block_size);
	int r;

	if (!pattern)
		return SCSI_SENSE_BUSY;
	if (!(p->cmd_flags & SCSI_CF_NDOB))
		iov_to_buf(cmd->iov, cmd->iovcnt, 0, pattern, lun->block_size);
	if (buf_is_zero(pattern, lun->block_size))
		/* zeroes: deallocate when asked and the node can, else write zeroes */
		r = blk_write_zeroes(
			lun->bs, off, len,
			fua | ((p->cmd_flags & SCSI_CF_UNMAP) ? BLK_REQ_MAY_UNMAP : 0));
	else if ((r = blk_write_same(lun->bs, off, len, pattern, lun->block_size, fua)) == -ENOTSUP)
		r = write_pattern(lun, off, len, pattern, fua);
	free(pattern);
	return scsi_sense_from_errno(r, true);
}

/* ---- UNMAP ----------------------------------------------------------------------------- */

enum scsi_sense sbc_parse_unmap(struct scsi_cmd *cmd)
{
	cmd->priv.xfer_len = get_be16(cmd->cdb + 7);
	return SCSI_SENSE_OK;
}

/* Check every descriptor before unmapping anything; returns the count in *count. */
static enum scsi_sense unmap_check(struct scsi_cmd *cmd, const uint8_t *b, size_t len,
				   size_t *count)
{
	const struct scsi_lun *lun = cmd->priv.lun;
	size_t bd_len = MIN((size_t)get_be16(b + 2), len - UNMAP_HDR);
	size_t n = bd_len / UNMAP_DESC;

	if (n > SCSI_MAX_UNMAP_DESC)
		return scsi_bad_param_field(cmd, 2, 7);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *d = b + UNMAP_HDR + i * UNMAP_DESC;
		uint64_t lba = get_be64(d);
		uint32_t nlb = get_be32(d + 8);

		if (lba > lun->nb_blocks || nlb > lun->nb_blocks - lba)
			return SCSI_SENSE_LBA_OUT_OF_RANGE;
		if (nlb > scsi_lun_max_unmap_lbas(lun))
			return scsi_bad_param_field(cmd, (unsigned int)(UNMAP_HDR + i * 16 + 8), 7);
	}
	*count = n;
	return SCSI_SENSE_OK;
}

enum scsi_sense sbc_unmap(struct scsi_cmd *cmd)
{
	struct scsi_lun *lun = cmd->priv.lun;
	size_t len = MIN(scsi_cmd_buf_len(cmd), (size_t)cmd->priv.xfer_len), n = 0;
	enum scsi_sense s;
	uint8_t *b;
	int r = 0;

	if (len == 0)
		return SCSI_SENSE_OK; /* SBC-4 5.31.1: not an error */
	if (len < UNMAP_HDR)
		return SCSI_SENSE_PARAM_LIST_LENGTH;
	b = malloc(len);
	if (!b)
		return SCSI_SENSE_BUSY;
	iov_to_buf(cmd->iov, cmd->iovcnt, 0, b, len);
	s = unmap_check(cmd, b, len, &n);
	for (size_t i = 0; s == SCSI_SENSE_OK && r == 0 && i < n; i++) {
		const uint8_t *d = b + UNMAP_HDR + i * UNMAP_DESC;

		r = sbc_unmap_range(lun, get_be64(d), get_be32(d + 8));
	}
	free(b);
	return s != SCSI_SENSE_OK ? s : scsi_sense_from_errno(r, true);
}

/* ---- GET LBA STATUS -------------------------------------------------------------------- */

enum scsi_sense sbc_parse_get_lba_status(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;

	p->lba = get_be64(cmd->cdb + 2);
	p->xfer_len = get_be32(cmd->cdb + 10);
	if (p->lba >= p->lun->nb_blocks)
		return SCSI_SENSE_LBA_OUT_OF_RANGE;
	return SCSI_SENSE_OK;
}

/* Provisioning status of the run starting at @lba: *nlb blocks share it. */
static int lba_status(struct scsi_lun *lun, uint64_t lba, uint64_t *nlb)
{
	uint64_t off = scsi_lba_to_off(lun, lba), pnum = 0;
	uint64_t len = scsi_lba_to_off(lun, lun->nb_blocks - lba);
	int st;

	if (!scsi_lun_lbpme(lun)) {
		*nlb = lun->nb_blocks - lba; /* fully provisioned: all mapped */
		return LBA_MAPPED;
	}
	st = blk_block_status(lun->bs, off, len, &pnum, NULL, NULL);
	if (st < 0)
		return st;
	*nlb = MAX(pnum >> lun->block_shift, (uint64_t)1);
	return (st & BLK_STATUS_ZERO) && !(st & BLK_STATUS_DATA) ? LBA_DEALLOCATED : LBA_MAPPED;
}

enum scsi_sense sbc_get_lba_status(struct scsi_cmd *cmd)
{
	struct scsi_lun *lun = cmd->priv.lun;
	uint8_t b[UNMAP_HDR + LBA_STATUS_MAX_DESC * UNMAP_DESC] = { 0 };
	size_t max = MAX((cmd->priv.xfer_len - MIN(cmd->priv.xfer_len, 8u)) / UNMAP_DESC, 1u);
	uint64_t lba = cmd->priv.lba;
	size_t n = 0;

	max = MIN(max, (size_t)LBA_STATUS_MAX_DESC);
	while (lba < lun->nb_blocks && n < max) {
		uint8_t *d = b + UNMAP_HDR + n * UNMAP_DESC;
		uint64_t nlb = 0;
		int st = lba_status(lun, lba, &nlb);

		if (st < 0)
			return scsi_sense_from_errno(st, false);
		nlb = MIN(nlb, lun->nb_blocks - lba);
		if (n && (d[-4] & 0x0f) == st && get_be32(d - 8) + nlb <= UINT32_MAX) {
			put_be32(d - 8, (uint32_t)(get_be32(d - 8) + nlb)); /* extend the run */
		} else {
			nlb = MIN(nlb, (uint64_t)UINT32_MAX);
			put_be64(d, lba);
			put_be32(d + 8, (uint32_t)nlb);
			d[12] = (uint8_t)st;
			n++;
		}
		lba += nlb;
	}
	put_be32(b, (uint32_t)(4 + n * UNMAP_DESC));
	scsi_data_in(cmd, b, UNMAP_HDR + n * UNMAP_DESC);
	return SCSI_SENSE_OK;
}

/* ---- FORMAT UNIT ----------------------------------------------------------------------- */

enum scsi_sense sbc_parse_format_unit(struct scsi_cmd *cmd)
{
	(void)cmd; /* FMTDATA=0 (outside the usage mask): no parameter list */
	return SCSI_SENSE_OK;
}

enum scsi_sense sbc_format_unit(struct scsi_cmd *cmd)
{
	struct scsi_lun *lun = cmd->priv.lun;
	int r;

	if (scsi_lun_lbprz(lun))
		r = sbc_unmap_range(lun, 0, lun->nb_blocks);
	else
		r = blk_write_zeroes(lun->bs, 0, scsi_lba_to_off(lun, lun->nb_blocks),
				     BLK_REQ_MAY_UNMAP);
	if (r == 0)
		r = blk_flush(lun->bs);
	return scsi_sense_from_errno(r, true);
}
