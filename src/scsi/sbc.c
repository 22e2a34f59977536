/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SBC-4 data path and capacity: READ/WRITE(6/10/12/16) and SYNCHRONIZE CACHE(10/16) on the
 * block layer's async path (the struct blk_req embedded in the command: no thread hand-off,
 * no allocation), READ CAPACITY(10/16), START STOP UNIT.
 */
#include "scsi-int.h"

#include <string.h>

#include "block/block.h"
#include "util/compiler.h"
#include "util/iov.h"

/* ---- READ CAPACITY (SBC-4 5.20, 5.21) -------------------------------------------------- */

enum scsi_sense sbc_parse_read_capacity_10(struct scsi_cmd *cmd)
{
	cmd->priv.xfer_len = 8;
	return SCSI_SENSE_OK;
}

static uint64_t last_lba(const struct scsi_lun *lun)
{
	return lun->nb_blocks ? lun->nb_blocks - 1 : 0;
}

enum scsi_sense sbc_read_capacity_10(struct scsi_cmd *cmd)
{
	const struct scsi_lun *lun = cmd->priv.lun;
	uint64_t last = last_lba(lun);
	uint8_t b[8];

	put_be32(b, last > 0xfffffffeu ? 0xffffffffu : (uint32_t)last);
	put_be32(b + 4, lun->block_size);
	scsi_data_in(cmd, b, sizeof(b));
	return SCSI_SENSE_OK;
}

enum scsi_sense sbc_parse_read_capacity_16(struct scsi_cmd *cmd)
{
	cmd->priv.xfer_len = get_be32(cmd->cdb + 10);
	return SCSI_SENSE_OK;
}

enum scsi_sense sbc_read_capacity_16(struct scsi_cmd *cmd)
{
	const struct scsi_lun *lun = cmd->priv.lun;
	uint8_t b[32] = { 0 };

	put_be64(b, last_lba(lun));
	put_be32(b + 8, lun->block_size);
	b[13] = (uint8_t)scsi_lun_lbppbe(lun);
	if (scsi_lun_lbpme(lun))
		b[14] |= 0x80; /* LBPME */
	if (scsi_lun_lbprz(lun))
		b[14] |= 0x40; /* LBPRZ */
	scsi_data_in(cmd, b, sizeof(b));
	return SCSI_SENSE_OK;
}

/* ---- READ / WRITE (SBC-4 5.14-5.17, 5.40-5.43) ----------------------------------------- */

/* Decode LBA and NUMBER OF LOGICAL BLOCKS of the READ/WRITE/VERIFY CDB layouts. */
void sbc_decode_lba_nlb(struct scsi_cmd *cmd)
{
	const uint8_t *c = cmd->cdb;
	struct scsi_cmd_priv *p = &cmd->priv;

	switch (p->desc->cdb_len) {
	case 6:
		p->lba = get_be24(c + 1) & 0x1fffff;
		p->nlb = c[4] ? c[4] : 256; /* SBC-4 5.15: 0 means 256 */
		break;
	case 10:
		p->lba = get_be32(c + 2);
		p->nlb = get_be16(c + 7);
		break;
	case 12:
		p->lba = get_be32(c + 2);
		p->nlb = get_be32(c + 6);
		break;
	default:
		p->lba = get_be64(c + 2);
		p->nlb = get_be32(c + 10);
		break;
	}
}

/* xfer_len = nlb blocks, or INVALID FIELD IN CDB at @len_byte when that overflows. */
enum scsi_sense sbc_set_xfer_blocks(struct scsi_cmd *cmd, uint64_t nlb, unsigned int len_byte)
{
	uint64_t bytes = nlb << cmd->priv.lun->block_shift;

	if (bytes > UINT32_MAX)
		return scsi_bad_cdb_field(cmd, len_byte, 7);
	cmd->priv.xfer_len = (uint32_t)bytes;
	return SCSI_SENSE_OK;
}

unsigned int sbc_len_byte(unsigned int cdb_len)
{
	return cdb_len == 6 ? 4 : cdb_len == 10 ? 7 : cdb_len == 12 ? 6 : 10;
}

enum scsi_sense sbc_parse_rw(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	bool write = p->desc->flags & SCSI_DF_WRITES;

	sbc_decode_lba_nlb(cmd);
	if (p->desc->cdb_len != 6 && (cmd->cdb[1] & 0x08))
		p->cmd_flags |= SCSI_CF_FUA;
	if (write && !p->lun->wce)
		p->cmd_flags |= SCSI_CF_FUA; /* no volatile cache: write through */
	return sbc_set_xfer_blocks(cmd, p->nlb, sbc_len_byte(p->desc->cdb_len));
}

static void rw_done(struct blk_req *req, int ret)
{
	struct scsi_cmd *cmd = req->opaque;

	scsi_cmd_finish(cmd, scsi_sense_from_errno(ret, cmd->priv.desc->flags & SCSI_DF_WRITES));
}

void sbc_submit_rw(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	struct blk_req *req = &p->req;
	bool write = p->desc->flags & SCSI_DF_WRITES;
	const struct iovec *iov;
	uint64_t len;
	int cnt;

	/* a read into a shorter buffer transfers what fits (FCP-4 / iSCSI overflow) */
	len = write ? p->xfer_len : MIN((uint64_t)p->xfer_len, (uint64_t)scsi_cmd_buf_len(cmd));
	if (len == 0) {
		scsi_cmd_finish(cmd, SCSI_SENSE_OK);
		return;
	}
	iov = scsi_cmd_iov(cmd, &cnt);
	if (!iov) {
		scsi_cmd_finish(cmd, SCSI_SENSE_BUSY);
		return;
	}
	if (!write)
		cmd->data_in_len = (uint32_t)len;
	req->op = write ? BLK_OP_WRITE : BLK_OP_READ;
	req->flags = (p->cmd_flags & SCSI_CF_FUA) && write ? BLK_REQ_FUA : 0;
	req->off = scsi_lba_to_off(p->lun, p->lba);
	req->len = len;
	req->iov = iov;
	req->iovcnt = cnt;
	req->cb = rw_done;
	req->opaque = cmd;
	blk_req_submit(p->lun->bs, req);
}

/* ---- SYNCHRONIZE CACHE (SBC-4 5.26, 5.27) ---------------------------------------------- */

enum scsi_sense sbc_parse_sync_cache(struct scsi_cmd *cmd)
{
	sbc_decode_lba_nlb(cmd);
	return SCSI_SENSE_OK; /* IMMED is honoured by answering after the flush */
}

static void flush_done(struct blk_req *req, int ret)
{
	scsi_cmd_finish(req->opaque, scsi_sense_from_errno(ret, true));
}

void sbc_submit_sync_cache(struct scsi_cmd *cmd)
{
	struct blk_req *req = &cmd->priv.req;

	memset(req, 0, sizeof(*req));
	req->op = BLK_OP_FLUSH;
	req->cb = flush_done;
	req->opaque = cmd;
	blk_req_submit(cmd->priv.lun->bs, req);
}

/* ---- START STOP UNIT (SBC-4 5.25) ------------------------------------------------------ */

enum scsi_sense sbc_parse_start_stop(struct scsi_cmd *cmd)
{
	if (cmd->cdb[4] & 0x01)
		cmd->priv.cmd_flags |= SCSI_CF_START;
	if (cmd->cdb[4] & 0x04)
		cmd->priv.cmd_flags |= SCSI_CF_NO_FLUSH;
	return SCSI_SENSE_OK;
}

enum scsi_sense sbc_start_stop(struct scsi_cmd *cmd)
{
	struct scsi_lun *lun = cmd->priv.lun;
	bool start = cmd->priv.cmd_flags & SCSI_CF_START;

	if (!start && !(cmd->priv.cmd_flags & SCSI_CF_NO_FLUSH)) {
		int r = blk_flush(lun->bs);

		if (r < 0)
			return scsi_sense_from_errno(r, true);
	}
	__atomic_store_n(&lun->stopped, !start, __ATOMIC_RELEASE);
	return SCSI_SENSE_OK;
}
