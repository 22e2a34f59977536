/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VERIFY(10/12/16), WRITE AND VERIFY(10/12/16) and COMPARE AND WRITE (SBC-4 5.3, 5.33-5.35,
 * 5.44-5.46).  Blocking code on the thread pool.  A miscompare is MISCOMPARE / MISCOMPARE
 * DURING VERIFY OPERATION with the byte offset of the first difference in the INFORMATION
 * field.  COMPARE AND WRITE holds its range in the LUN's write ordering across the read,
 * the compare and the write, so no other write to those blocks interleaves.
 */
#include "scsi-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "util/compiler.h"
#include "util/iov.h"

#define VERIFY_CHUNK (1u << 20)

enum {
	BYTCHK_NONE = 0,
	BYTCHK_ALL = 1,
	BYTCHK_RESERVED = 2,
	BYTCHK_ONE_BLOCK = 3
};

/* ---- parsing --------------------------------------------------------------------------- */

enum scsi_sense sbc_parse_verify(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	unsigned int bytchk = (cmd->cdb[1] >> 1) & 3;

	sbc_decode_lba_nlb(cmd);
	switch (bytchk) {
	case BYTCHK_NONE:
		return SCSI_SENSE_OK; /* medium verification: no Data-Out */
	case BYTCHK_ALL:
		p->cmd_flags |= SCSI_CF_BYTCHK;
		return sbc_set_xfer_blocks(cmd, p->nlb, sbc_len_byte(p->desc->cdb_len));
	case BYTCHK_ONE_BLOCK:
		p->cmd_flags |= SCSI_CF_BYTCHK | SCSI_CF_BYTCHK_1;
		return sbc_set_xfer_blocks(cmd, p->nlb ? 1 : 0, sbc_len_byte(p->desc->cdb_len));
	default:
		return scsi_bad_cdb_field(cmd, 1, 2);
	}
}

enum scsi_sense sbc_parse_write_verify(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	unsigned int bytchk = (cmd->cdb[1] >> 1) & 3;

	sbc_decode_lba_nlb(cmd);
	if (bytchk > BYTCHK_ALL)
		return scsi_bad_cdb_field(cmd, 1, 2);
	p->cmd_flags |= SCSI_CF_FUA | (bytchk ? SCSI_CF_BYTCHK : 0);
	return sbc_set_xfer_blocks(cmd, p->nlb, sbc_len_byte(p->desc->cdb_len));
}

enum scsi_sense sbc_parse_caw(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;

	p->lba = get_be64(cmd->cdb + 2);
	p->nlb = cmd->cdb[13];
	if (p->nlb > scsi_lun_max_caw(p->lun))
		return scsi_bad_cdb_field(cmd, 13, 7);
	if ((cmd->cdb[1] & 0x08) || !p->lun->wce)
		p->cmd_flags |= SCSI_CF_FUA;
	return sbc_set_xfer_blocks(cmd, 2ull * p->nlb, 13);
}

/* ---- read and compare ------------------------------------------------------------------ */

static void *chunk_alloc(uint64_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, MIN(len, (uint64_t)VERIFY_CHUNK)))
		return NULL;
	return p;
}

/*
 * Read blocks [lba, lba+nlb) and, with @iov, compare them with the Data-Out bytes (one
 * block repeated when @one_block).  Returns 0, 1 with *mismatch set to the byte offset
 * of the first difference, or -errno.
 */
static int read_compare(struct scsi_lun *lun, uint64_t lba, uint64_t nlb, const struct iovec *iov,
			int iovcnt, bool one_block, uint64_t *mismatch)
{
	uint64_t off = scsi_lba_to_off(lun, lba), len = scsi_lba_to_off(lun, nlb), done = 0;
	uint64_t chunk = one_block ? lun->block_size : VERIFY_CHUNK;
	uint8_t *buf = len ? chunk_alloc(len) : NULL;
	int r = 0;

	if (len && !buf)
		return -ENOMEM;
	while (done < len && r == 0) {
		uint64_t n = MIN(len - done, chunk);
		int64_t diff;

		r = blk_pread(lun->bs, off + done, buf, n);
		if (r < 0 || !iov)
			goto next;
		diff = iov_compare_buf(iov, iovcnt, one_block ? 0 : done, buf, n);
		if (diff >= 0) {
			*mismatch = done + (uint64_t)diff;
			r = 1;
		}
	next:
		done += n;
	}
	free(buf);
	return r;
}

static enum scsi_sense compare_result(struct scsi_cmd *cmd, int r, uint64_t mismatch)
{
	if (r == 1) {
		scsi_set_info(cmd, mismatch);
		return SCSI_SENSE_MISCOMPARE;
	}
	return scsi_sense_from_errno(r, false);
}

/* ---- execution ------------------------------------------------------------------------- */

enum scsi_sense sbc_verify(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	bool bytchk = p->cmd_flags & SCSI_CF_BYTCHK;
	uint64_t mismatch = 0;
	int r = read_compare(p->lun, p->lba, p->nlb, bytchk ? cmd->iov : NULL, cmd->iovcnt,
			     p->cmd_flags & SCSI_CF_BYTCHK_1, &mismatch);

	return compare_result(cmd, r, mismatch);
}

enum scsi_sense sbc_write_verify(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	uint64_t mismatch = 0;
	int r;

	if (!p->nlb)
		return SCSI_SENSE_OK;
	r = blk_pwritev(p->lun->bs, scsi_lba_to_off(p->lun, p->lba), p->xfer_len, cmd->iov,
			cmd->iovcnt, BLK_REQ_FUA);
	if (r < 0)
		return scsi_sense_from_errno(r, true);
	if (!(p->cmd_flags & SCSI_CF_BYTCHK))
		return SCSI_SENSE_OK;
	r = read_compare(p->lun, p->lba, p->nlb, cmd->iov, cmd->iovcnt, false, &mismatch);
	return compare_result(cmd, r, mismatch);
}

enum scsi_sense sbc_caw(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	uint64_t half = scsi_lba_to_off(p->lun, p->nlb), mismatch = 0;
	struct iovec *wr;
	int r, n;

	if (!p->nlb)
		return SCSI_SENSE_OK; /* SBC-4 5.3: nothing compared, nothing written */
	/* the driver's own atomic compare-and-write (rbd) when it has one */
	r = blk_compare_and_write(p->lun->bs, scsi_lba_to_off(p->lun, p->lba), half, cmd->iov,
				  cmd->iovcnt, &mismatch,
				  (p->cmd_flags & SCSI_CF_FUA) ? BLK_REQ_FUA : 0);
	if (r == -EILSEQ)
		return compare_result(cmd, 1, mismatch);
	if (r != -ENOTSUP)
		return scsi_sense_from_errno(r, true);
	r = read_compare(p->lun, p->lba, p->nlb, cmd->iov, cmd->iovcnt, false, &mismatch);
	if (r != 0)
		return compare_result(cmd, r, mismatch);
	wr = malloc(sizeof(*wr) * (size_t)cmd->iovcnt);
	if (!wr)
		return SCSI_SENSE_BUSY;
	n = iov_slice(wr, cmd->iovcnt, cmd->iov, cmd->iovcnt, half, half);
	r = n < 0 ? n
		  : blk_pwritev(p->lun->bs, scsi_lba_to_off(p->lun, p->lba), half, wr, n,
				(p->cmd_flags & SCSI_CF_FUA) ? BLK_REQ_FUA : 0);
	free(wr);
	return scsi_sense_from_errno(r, true);
}
