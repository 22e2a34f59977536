/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny SCSI LUN implementing scsi/scsi.h for transport unit tests, independent of the
 * real SCSI layer: TEST UNIT READY, READ(10)/WRITE(10) (512-byte blocks, async block
 * requests), SYNCHRONIZE CACHE(10), and two vendor opcodes:
 *   0xc0 SLEEP: cdb[1..2] = milliseconds, run on the thread pool (a slow command);
 *   0xc1 FILL:  Data-In of cdb[2..3] bytes of the value cdb[1] (a short transfer).
 * Everything else gets CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND OPERATION CODE.
 * As the real LUN, it owns the node: attaches it to the loop, flushes, detaches.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "scsi/scsi.h"
#include "util/aio.h"
#include "util/compiler.h"
#include "util/iov.h"
#include "util/thread-pool.h"

struct scsi_lun {
	struct blk_node *bs;
	struct aio_ctx *ctx;
	unsigned int inflight;
	uint64_t size;
	bool wce;
};

int scsi_lun_new(struct blk_node *bs, const struct scsi_lun_params *p, struct aio_ctx *ctx,
		 struct scsi_lun **out, struct err *err)
{
	struct scsi_lun *lun = calloc(1, sizeof(*lun));
	int r;

	(void)err;
	if (!lun)
		return -ENOMEM;
	r = blk_attach_ctx(bs, ctx);
	if (r < 0) {
		free(lun);
		return r;
	}
	lun->bs = bs;
	lun->ctx = ctx;
	lun->size = p->size ? p->size : (uint64_t)blk_getlength(bs);
	*out = lun;
	return 0;
}

void scsi_lun_free(struct scsi_lun *lun)
{
	if (!lun)
		return;
	if (lun->inflight)
		abort();
	blk_attach_ctx(lun->bs, NULL);
	free(lun);
}

unsigned int scsi_lun_inflight(const struct scsi_lun *lun)
{
	return lun->inflight;
}

void scsi_lun_set_size(struct scsi_lun *lun, uint64_t bytes)
{
	lun->size = bytes;
}

void scsi_lun_set_write_cache(struct scsi_lun *lun, bool wce)
{
	lun->wce = wce;
	blk_set_write_cache(lun->bs, wce);
}

bool scsi_lun_write_cache(const struct scsi_lun *lun)
{
	return lun->wce;
}

int scsi_lun_flush(struct scsi_lun *lun)
{
	return blk_flush(lun->bs);
}

struct blk_node *scsi_lun_node(const struct scsi_lun *lun)
{
	return lun->bs;
}

int scsi_lun_set_node(struct scsi_lun *lun, struct blk_node *bs)
{
	int r = blk_attach_ctx(bs, lun->ctx);

	if (r < 0)
		return r;
	blk_attach_ctx(lun->bs, NULL);
	lun->bs = bs;
	return 0;
}

unsigned int scsi_cdb_length(const uint8_t *cdb)
{
	static const uint8_t len[8] = { 6, 10, 10, 12, 16, 12, 0, 0 };

	if (cdb[0] == 0x7f)
		return 8u + cdb[7];
	return len[cdb[0] >> 5];
}

void scsi_cmd_set_sense(struct scsi_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq)
{
	cmd->status = SCSI_STATUS_CHECK_CONDITION;
	memset(cmd->sense, 0, 18);
	cmd->sense[0] = 0x70;
	cmd->sense[2] = key;
	cmd->sense[7] = 10;
	cmd->sense[12] = asc;
	cmd->sense[13] = ascq;
	cmd->sense_len = 18;
}

/* The transport fails entries with BUSY or HARDWARE ERROR / INTERNAL TARGET FAILURE. */
void scsi_cmd_fail(struct scsi_cmd *cmd, enum scsi_sense reason)
{
	if (reason == SCSI_SENSE_BUSY) {
		cmd->status = SCSI_STATUS_BUSY;
		cmd->sense_len = 0;
	} else {
		scsi_cmd_set_sense(cmd, 0x04, 0x44, 0);
	}
	cmd->data_in_len = 0;
}

static void finish(struct scsi_cmd *cmd)
{
	cmd->priv.lun->inflight--;
	cmd->done(cmd);
}

static void req_done(struct blk_req *req, int ret)
{
	struct scsi_cmd *cmd = req->opaque;

	if (ret < 0)
		scsi_cmd_set_sense(cmd, 0x03, 0x11, 0); /* MEDIUM ERROR */
	else if (req->op == BLK_OP_READ)
		cmd->data_in_len = (uint32_t)iov_size(cmd->iov, cmd->iovcnt);
	finish(cmd);
}

static int sleep_work(struct pool_work *w)
{
	struct scsi_cmd *cmd = container_of(w, struct scsi_cmd, priv.work);

	usleep(1000u * (unsigned int)((cmd->cdb[1] << 8) | cmd->cdb[2]));
	return 0;
}

static void sleep_done(struct pool_work *w, int ret)
{
	(void)ret;
	finish(container_of(w, struct scsi_cmd, priv.work));
}

static void rw10(struct scsi_lun *lun, struct scsi_cmd *cmd, bool write)
{
	const uint8_t *c = cmd->cdb;
	uint64_t lba =
		((uint64_t)c[2] << 24) | ((uint64_t)c[3] << 16) | ((uint64_t)c[4] << 8) | c[5];
	uint64_t len = (uint64_t)((c[7] << 8) | c[8]) * 512;
	struct blk_req *req = &cmd->priv.req;

	if (len != iov_size(cmd->iov, cmd->iovcnt) || lba * 512 + len > lun->size) {
		scsi_cmd_set_sense(cmd, 0x05, 0x24, 0);
		finish(cmd);
		return;
	}
	memset(req, 0, sizeof(*req));
	req->op = write ? BLK_OP_WRITE : BLK_OP_READ;
	req->off = lba * 512;
	req->len = len;
	req->iov = cmd->iov;
	req->iovcnt = cmd->iovcnt;
	req->cb = req_done;
	req->opaque = cmd;
	blk_req_submit(lun->bs, req);
}

void scsi_lun_submit(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	struct blk_req *req = &cmd->priv.req;
	uint32_t n;

	cmd->priv.lun = lun;
	cmd->status = SCSI_STATUS_GOOD;
	lun->inflight++;
	switch (cmd->cdb[0]) {
	case 0x00:
		finish(cmd);
		return;
	case 0x28:
	case 0x2a:
		rw10(lun, cmd, cmd->cdb[0] == 0x2a);
		return;
	case 0x35:
		memset(req, 0, sizeof(*req));
		req->op = BLK_OP_FLUSH;
		req->cb = req_done;
		req->opaque = cmd;
		blk_req_submit(lun->bs, req);
		return;
	case 0xc0:
		cmd->priv.work.work = sleep_work;
		cmd->priv.work.done = sleep_done;
		thread_pool_submit(thread_pool_default(), lun->ctx, &cmd->priv.work);
		return;
	case 0xc1:
		n = (uint32_t)((cmd->cdb[2] << 8) | cmd->cdb[3]);
		cmd->data_in_len = (uint32_t)iov_memset(cmd->iov, cmd->iovcnt, 0, cmd->cdb[1], n);
		finish(cmd);
		return;
	default:
		scsi_cmd_set_sense(cmd, 0x05, 0x20, 0);
		finish(cmd);
	}
}
