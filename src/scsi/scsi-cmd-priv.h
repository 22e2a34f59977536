/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private per-command state of the SCSI layer, embedded in struct scsi_cmd so that
 * transports can preallocate commands.  Only src/scsi touches these fields. */
#ifndef QT_SCSI_SCSI_CMD_PRIV_H
#define QT_SCSI_SCSI_CMD_PRIV_H

#include <stdint.h>

#include "block/block.h"

struct scsi_cmd_desc;
struct scsi_lun;

struct scsi_cmd_priv {
	struct scsi_lun *lun;
	const struct scsi_cmd_desc *desc;
	uint64_t lba;
	uint32_t nlb;
	uint32_t xfer_len; /* bytes the CDB asks to transfer */
	struct blk_req req;
	struct pool_work work;
	struct scsi_cmd *next; /* wait lists (overlapping writes, CAW) */
};

#endif
