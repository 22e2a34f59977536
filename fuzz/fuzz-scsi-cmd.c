/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the SCSI layer: random CDBs and data buffers, several commands in
 * flight at once, against LUNs over `memory` nodes (512- and 4096-byte blocks, one
 * read-only, one whose capacity changes).  Every response must be GOOD without sense, BUSY,
 * or CHECK CONDITION with well-formed fixed or descriptor sense; Data-In never exceeds the
 * buffer; nothing stays in flight.  The LUNs live across inputs, so mode changes (D_SENSE,
 * WCE, STOP) carry over as they would on a real device.
 *
 * Input: records of [lun][cdb_len][buf_len:2][cdb bytes][data bytes up to buf_len] ...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "scsi/scsi.h"
#include "util/aio.h"
#include "util/err.h"

#define NLUNS 4
#define MAX_CMDS 8
#define MAX_BUF (256u << 10)
#define NODE_SIZE (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_lun {
	struct blk_node *bs;
	struct scsi_lun *lun;
};

static struct aio_ctx *ctx;
static struct fuzz_lun luns[NLUNS];

static int fuzz_serial(void *opaque, char *buf, size_t len)
{
	(void)opaque;
	snprintf(buf, len, "%s", "0123456789abcdef-fuzz");
	return 0;
}

static void setup(void)
{
	static const uint32_t bsz[NLUNS] = { 512, 4096, 512, 512 };
	struct err err;

	ctx = aio_ctx_new();
	for (int i = 0; i < NLUNS; i++) {
		struct scsi_lun_params p = { .block_size = bsz[i],
					     .max_sectors = i == 3 ? 64 : 0,
					     .read_only = i == 2,
					     .get_serial = fuzz_serial,
					     .cfgstring = "qemu/@driver=memory" };

		err_init(&err);
		if (blk_open_str("@driver=memory@size=4M", BLK_O_RDWR, &luns[i].bs, &err) < 0 ||
		    scsi_lun_new(luns[i].bs, &p, ctx, &luns[i].lun, &err) < 0) {
			fprintf(stderr, "fuzz setup: %s\n", err.msg);
			abort();
		}
	}
}

static void done(struct scsi_cmd *cmd)
{
	(*(int *)cmd->opaque)--;
}

/* Descriptor-format sense: descriptors exactly fill the additional length. */
static void check_desc_sense(const struct scsi_cmd *c)
{
	unsigned int i = 8;

	if (c->sense_len != 8u + c->sense[7])
		abort();
	while (i < c->sense_len) {
		if (i + 2 > c->sense_len || i + 2u + c->sense[i + 1] > c->sense_len)
			abort();
		i += 2u + c->sense[i + 1];
	}
}

static void check(const struct scsi_cmd *c, size_t buf_len)
{
	if (c->data_in_len > buf_len)
		abort();
	switch (c->status) {
	case SCSI_STATUS_GOOD:
	case SCSI_STATUS_BUSY:
		if (c->sense_len)
			abort();
		return;
	case SCSI_STATUS_CHECK_CONDITION:
		break;
	default:
		abort();
	}
	if (c->data_in_len)
		abort();
	if ((c->sense[0] & 0x7f) == 0x70) {
		if (c->sense_len != 18 || c->sense[7] != 10 || (c->sense[2] & 0x0f) == 0)
			abort();
	} else if (c->sense[0] == 0x72) {
		if ((c->sense[1] & 0x0f) == 0)
			abort();
		check_desc_sense(c);
	} else {
		abort();
	}
}

struct fuzz_cmd {
	struct scsi_cmd cmd;
	struct iovec iov;
	uint8_t cdb[16];
	size_t buf_len;
	uint8_t *buf;
};

/* Parse one record; returns bytes consumed or 0 at the end. */
static size_t parse_one(const uint8_t *d, size_t size, struct fuzz_cmd *fc, int *lun)
{
	size_t pos = 4, n;
	unsigned int cdb_len;

	if (size < 5)
		return 0;
	*lun = d[0] % NLUNS;
	if (d[0] & 0x80) /* change the capacity first: a UNIT ATTENTION follows */
		scsi_lun_set_size(luns[*lun].lun, ((uint64_t)(d[0] & 0x70) + 16) << 15);
	cdb_len = d[1] % 17;
	fc->buf_len = ((size_t)d[2] << 8 | d[3]) * ((d[1] & 0x80) ? 64 : 1);
	fc->buf_len = fc->buf_len > MAX_BUF ? MAX_BUF : fc->buf_len;
	memset(fc->cdb, 0, sizeof(fc->cdb));
	n = cdb_len < size - pos ? cdb_len : size - pos;
	memcpy(fc->cdb, d + pos, n);
	pos += n;
	fc->buf = calloc(1, fc->buf_len ? fc->buf_len : 1);
	if (!fc->buf)
		abort();
	n = fc->buf_len < size - pos ? fc->buf_len : size - pos;
	memcpy(fc->buf, d + pos, n);
	pos += n;
	fc->iov = (struct iovec){ fc->buf, fc->buf_len };
	memset(&fc->cmd, 0, sizeof(fc->cmd));
	fc->cmd.cdb = fc->cdb;
	fc->cmd.cdb_len = (uint16_t)cdb_len;
	fc->cmd.iov = fc->buf_len ? &fc->iov : NULL;
	fc->cmd.iovcnt = fc->buf_len ? 1 : 0;
	fc->cmd.done = done;
	return pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cmd *fc = calloc(MAX_CMDS, sizeof(*fc));
	int lun[MAX_CMDS], n = 0, pending;
	size_t pos = 0, used;

	if (!fc)
		abort();
	if (!ctx)
		setup();
	while (n < MAX_CMDS && (used = parse_one(data + pos, size - pos, &fc[n], &lun[n]))) {
		pos += used;
		n++;
	}
	pending = n;
	for (int i = 0; i < n; i++) {
		fc[i].cmd.opaque = &pending;
		scsi_lun_submit(luns[lun[i]].lun, &fc[i].cmd);
	}
	while (pending > 0)
		aio_poll(ctx, true);
	for (int i = 0; i < n; i++) {
		check(&fc[i].cmd, fc[i].buf_len);
		free(fc[i].buf);
	}
	for (int i = 0; i < NLUNS; i++)
		if (scsi_lun_inflight(luns[i].lun))
			abort();
	free(fc);
	return 0;
}
