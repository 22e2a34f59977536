/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the handlers share (see scsi-int.h): the LUN's state they report or change (write
 * cache, stopped, provisioning, block geometry, limits), field pointers and INFORMATION
 * for sense, and the command's data buffer.  Below the table and the pipeline: nothing
 * here calls back into cmd-table.c, lun.c or exec.c.
 */
#include "scsi-int.h"

#include <errno.h>
#include <stdlib.h>

#include "block/block.h"
#include "util/compiler.h"
#include "util/iov.h"

/* ---- the LUN's state ------------------------------------------------------------------ */

void scsi_lun_set_write_cache(struct scsi_lun *lun, bool wce)
{
	lun->wce = wce;
	blk_set_write_cache(lun->bs, wce);
}

bool scsi_lun_write_cache(const struct scsi_lun *lun)
{
	return lun->wce;
}

bool scsi_lun_is_stopped(const struct scsi_lun *lun)
{
	return __atomic_load_n(&lun->stopped, __ATOMIC_ACQUIRE);
}

bool scsi_lun_lbpme(const struct scsi_lun *lun)
{
	return blk_get_limits(lun->bs)->caps & BLK_CAP_DISCARD;
}

bool scsi_lun_lbprz(const struct scsi_lun *lun)
{
	/* sbc_unmap_range() zeroes what it cannot deallocate, so LBPRZ holds whenever the
	 * node can write zeroes that deallocate or discards that read back as zeroes */
	return scsi_lun_lbpme(lun) &&
	       (blk_get_limits(lun->bs)->caps & (BLK_CAP_DISCARD_ZEROES | BLK_CAP_ZERO_UNMAP));
}

unsigned int scsi_lun_lbppbe(const struct scsi_lun *lun)
{
	const struct blk_limits *l = blk_get_limits(lun->bs);
	uint32_t phys = MAX(l->physical_block_size, l->request_alignment);
	unsigned int e = 0;

	while (e < 15 && (uint64_t)lun->block_size << (e + 1) <= phys)
		e++;
	return e;
}

uint32_t scsi_lun_max_caw(const struct scsi_lun *lun)
{
	uint32_t m = SCSI_MAX_CAW_BLOCKS;

	if (lun->max_sectors && lun->max_sectors < m)
		m = lun->max_sectors;
	return m;
}

uint32_t scsi_lun_max_unmap_lbas(const struct scsi_lun *lun)
{
	/* the block layer splits discards by the node's limits: any count is fine */
	(void)lun;
	return UINT32_MAX;
}

/* ---- helpers for handlers -------------------------------------------------------------- */

static enum scsi_sense bad_field(struct scsi_cmd *cmd, enum scsi_sense s, unsigned int byte,
				 int bit, uint8_t where)
{
	struct scsi_cmd_priv *p = &cmd->priv;

	p->sense_field = (uint16_t)byte;
	p->sense_flags |= SCSI_SX_FIELD | where;
	if (bit >= 0) {
		p->sense_bit = (uint8_t)bit;
		p->sense_flags |= SCSI_SX_BIT;
	}
	return s;
}

enum scsi_sense scsi_bad_cdb_field(struct scsi_cmd *cmd, unsigned int byte, int bit)
{
	return bad_field(cmd, SCSI_SENSE_INVALID_FIELD_CDB, byte, bit, 0);
}

enum scsi_sense scsi_bad_param_field(struct scsi_cmd *cmd, unsigned int byte, int bit)
{
	return bad_field(cmd, SCSI_SENSE_INVALID_FIELD_PARAM, byte, bit, SCSI_SX_PARAM);
}

void scsi_set_info(struct scsi_cmd *cmd, uint64_t info)
{
	cmd->priv.sense_info = info;
	cmd->priv.sense_flags |= SCSI_SX_INFO;
}

size_t scsi_cmd_buf_len(const struct scsi_cmd *cmd)
{
	return cmd->iov ? iov_size(cmd->iov, cmd->iovcnt) : 0;
}

const struct iovec *scsi_cmd_iov(struct scsi_cmd *cmd, int *iovcnt)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	int n;

	if (p->trim_iov || scsi_cmd_buf_len(cmd) <= p->xfer_len) {
		*iovcnt = p->trim_iov ? p->trim_iovcnt : cmd->iovcnt;
		return p->trim_iov ? p->trim_iov : cmd->iov;
	}
	/* a longer buffer than the CDB asks for (residual): describe only xfer_len bytes */
	n = iov_slice(p->trim_inline, SCSI_PRIV_IOV, cmd->iov, cmd->iovcnt, 0, p->xfer_len);
	p->trim_iov = p->trim_inline;
	if (n == -E2BIG) {
		p->trim_iov = malloc(sizeof(struct iovec) * (size_t)cmd->iovcnt);
		if (!p->trim_iov) {
			*iovcnt = 0;
			return NULL;
		}
		n = iov_slice(p->trim_iov, cmd->iovcnt, cmd->iov, cmd->iovcnt, 0, p->xfer_len);
	}
	p->trim_iovcnt = n;
	*iovcnt = n;
	return p->trim_iov;
}

void scsi_data_in(struct scsi_cmd *cmd, const void *buf, size_t len)
{
	size_t n = MIN(len, (size_t)cmd->priv.xfer_len);

	cmd->data_in_len = cmd->iov ? (uint32_t)iov_from_buf(cmd->iov, cmd->iovcnt, 0, buf, n) : 0;
}
