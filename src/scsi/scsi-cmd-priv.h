/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Private per-command state of the SCSI layer, embedded in struct scsi_cmd so that
 * transports can preallocate commands.  Only src/scsi touches these fields. */
#ifndef QT_SCSI_SCSI_CMD_PRIV_H
#define QT_SCSI_SCSI_CMD_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/block.h"

struct scsi_cmd;
struct scsi_cmd_desc;
struct scsi_lun;

#define SCSI_PRIV_IOV 4 /* inline iovecs for trimming a buffer to the CDB's length */

struct scsi_cmd_priv {
	struct scsi_lun *lun;
	const struct scsi_cmd_desc *desc;
	uint64_t lba;
	uint32_t nlb;
	uint32_t xfer_len;  /* bytes the CDB asks to transfer (allocation/parameter length) */
	uint32_t cmd_flags; /* SCSI_CF_*: decoded by parse (FUA, BYTCHK, UNMAP ...) */
	uint8_t result;	    /* enum scsi_sense of blocking work */
	uint64_t nb_blocks; /* the capacity when parsed, for work on the pool (EXTENDED COPY) */

	/* sense extras (information, field pointer) */
	uint64_t sense_info;
	uint16_t sense_field;
	uint8_t sense_bit;
	uint8_t sense_flags;

	/* async block request (READ/WRITE/SYNC CACHE) or blocking work on the pool */
	struct blk_req req;
	struct pool_work work;
	struct iovec *trim_iov; /* the data buffer cut to xfer_len, when it is longer */
	int trim_iovcnt;
	struct iovec trim_inline[SCSI_PRIV_IOV];

	/* ordering of writes: the LUN's list of commands holding or waiting for a range */
	uint64_t lock_start, lock_end; /* blocks [start, end) */
	struct scsi_cmd *next, *prev;
	bool locked;  /* in the list */
	bool waiting; /* queued behind an overlapping earlier command */
};

#endif
