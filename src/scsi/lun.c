/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LUN and the front of the command pipeline: creation, the node it owns, capacity;
 * lookup of a command's row, the generic CDB checks, then exec.c runs it.  See
 * scsi-int.h for the steps.
 */
#include "scsi/scsi.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "scsi-int.h"
#include "util/aio.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/log.h"
#include "util/thread-pool.h"

/* ---- creation ------------------------------------------------------------------------- */

static void copy_id(char *dst, size_t size, const char *src, const char *def)
{
	snprintf(dst, size, "%s", src ? src : def);
}

static void lun_update_capacity(struct scsi_lun *lun)
{
	int64_t len = lun->fixed_size ? (int64_t)lun->fixed_size : blk_getlength(lun->bs);

	lun->nb_blocks = len > 0 ? (uint64_t)len >> lun->block_shift : 0;
}

/*
 * A logical block smaller than the image's request alignment (a 512-byte LUN over an NBD
 * export with a 4 KiB minimum block size, or cache=none on 4Kn storage) is served
 * correctly: the block core does read-modify-write and serialises it against overlapping
 * writes.  But it costs a read per unaligned write and a wait on every overlapping one,
 * so say so once per node (not refused: 512e is what some initiators need, and the
 * physical block size reported makes aligned initiators avoid the cost).
 */
static void warn_small_blocks(const struct scsi_lun *lun)
{
	uint32_t a = blk_get_limits(lun->bs)->request_alignment;

	if (lun->block_size < a)
		log_warn("scsi: %s: block size %u is smaller than the image's alignment %u: "
			 "writes not aligned to %u bytes are read-modify-write and serialised "
			 "(slower); hw_block_size=%u avoids it",
			 blk_filename(lun->bs), lun->block_size, a, a, a);
}

int scsi_lun_new(struct blk_node *bs, const struct scsi_lun_params *p, struct aio_ctx *ctx,
		 struct scsi_lun **out, struct err *err)
{
	struct scsi_lun *lun;
	uint32_t bsz = p->block_size ? p->block_size : 512;
	int r;

	if (!is_power_of_2(bsz) || bsz < 512 || bsz > 4096)
		return err_set(err, -EINVAL, "scsi: block size %u is not 512, 1024, 2048 or 4096",
			       bsz);
	lun = calloc(1, sizeof(*lun));
	if (!lun)
		return err_set(err, -ENOMEM, "scsi: out of memory");
	if (p->cfgstring && !(lun->cfgstring = strdup(p->cfgstring))) {
		free(lun);
		return err_set(err, -ENOMEM, "scsi: out of memory");
	}
	r = blk_attach_ctx(bs, ctx);
	if (r < 0) {
		free(lun->cfgstring);
		free(lun);
		return err_set_errno(err, r, "scsi: cannot attach the block node to the loop");
	}
	lun->bs = bs;
	lun->ctx = ctx;
	lun->pool = thread_pool_default();
	copy_id(lun->vendor, sizeof(lun->vendor), p->vendor, "LIO-ORG");
	copy_id(lun->product, sizeof(lun->product), p->product, "TCMU device");
	copy_id(lun->revision, sizeof(lun->revision), p->revision, "0002");
	lun->get_serial = p->get_serial;
	lun->get_alua = p->get_alua;
	lun->serial_opaque = p->serial_opaque;
	lun->block_size = bsz;
	lun->block_shift = (uint32_t)__builtin_ctz(bsz);
	lun->max_sectors = p->max_sectors;
	lun->fixed_size = p->size;
	lun->param_read_only = p->read_only;
	lun->read_only = p->read_only || blk_is_read_only(bs);
	lun->wce = lun->wce_default = blk_write_cache(bs);
	lun_update_capacity(lun);
	warn_small_blocks(lun);
	*out = lun;
	return 0;
}

void scsi_lun_free(struct scsi_lun *lun)
{
	if (!lun)
		return;
	if (lun->inflight)
		log_err("scsi: LUN freed with %u commands in flight", lun->inflight);
	blk_attach_ctx(lun->bs, NULL);
	free(lun->cfgstring);
	free(lun);
}

unsigned int scsi_lun_inflight(const struct scsi_lun *lun)
{
	return lun->inflight;
}

void scsi_lun_set_size(struct scsi_lun *lun, uint64_t bytes)
{
	uint64_t old = lun->nb_blocks;

	lun->fixed_size = bytes;
	lun_update_capacity(lun);
	if (lun->nb_blocks != old)
		lun->ua_capacity = true;
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
	if (bs != lun->bs) {
		int r = blk_attach_ctx(bs, lun->ctx);

		if (r < 0)
			return r;
		blk_attach_ctx(lun->bs, NULL);
		lun->bs = bs;
	}
	lun->read_only = lun->param_read_only || blk_is_read_only(bs);
	lun_update_capacity(lun);
	warn_small_blocks(lun);
	return 0;
}

/* ---- submission ------------------------------------------------------------------------ */

static enum scsi_sense check_usage(struct scsi_cmd *cmd, const struct scsi_cmd_desc *d)
{
	for (unsigned int i = 1; i < d->cdb_len; i++) {
		uint8_t diff = cmd->cdb[i] & (uint8_t)~d->usage[i];

		if (diff)
			return scsi_bad_cdb_field(cmd, i, 31 - __builtin_clz(diff));
	}
	return SCSI_SENSE_OK;
}

static enum scsi_sense check_ranges(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const struct scsi_cmd_desc *d = cmd->priv.desc;
	const struct scsi_cmd_priv *p = &cmd->priv;

	if ((d->flags & SCSI_DF_LBA_RANGE) &&
	    (p->lba > lun->nb_blocks || p->nlb > lun->nb_blocks - p->lba))
		return SCSI_SENSE_LBA_OUT_OF_RANGE;
	if ((d->flags & SCSI_DF_DATA_OUT) && scsi_cmd_buf_len(cmd) != p->xfer_len)
		return SCSI_SENSE_INVALID_FIELD_IU;
	return SCSI_SENSE_OK;
}

static enum scsi_sense prepare(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	const struct scsi_cmd_desc *d;
	enum scsi_sense r = SCSI_SENSE_OK;

	if (!cmd->cdb || cmd->cdb_len == 0)
		return SCSI_SENSE_INVALID_OPCODE;
	d = scsi_cmd_lookup(cmd, &r);
	/* SAM-5 5.14: a pending unit attention wins, except for INQUIRY and REQUEST SENSE */
	if (lun->ua_capacity && !(d && (d->flags & SCSI_DF_NO_UA))) {
		lun->ua_capacity = false;
		cmd->priv.sense_flags = 0;
		return SCSI_SENSE_CAPACITY_CHANGED;
	}
	if (!d)
		return r;
	cmd->priv.desc = d;
	if (cmd->cdb_len < d->cdb_len)
		return SCSI_SENSE_INVALID_FIELD_CDB;
	r = check_usage(cmd, d);
	if (r == SCSI_SENSE_OK && !(d->flags & SCSI_DF_NO_MEDIUM_OK) && scsi_lun_is_stopped(lun))
		r = SCSI_SENSE_NOT_READY_INIT_REQ;
	if (r == SCSI_SENSE_OK && d->parse)
		r = d->parse(cmd);
	if (r == SCSI_SENSE_OK && (d->flags & SCSI_DF_WRITES) && lun->read_only)
		r = SCSI_SENSE_WRITE_PROTECTED;
	if (r == SCSI_SENSE_OK)
		r = check_ranges(lun, cmd);
	return r;
}

void scsi_lun_submit(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;
	enum scsi_sense r;

	memset(p, 0, offsetof(struct scsi_cmd_priv, req));
	p->trim_iov = NULL;
	p->locked = false;
	p->waiting = false;
	p->lun = lun;
	cmd->status = SCSI_STATUS_GOOD;
	cmd->sense_len = 0;
	cmd->data_in_len = 0;
	lun->inflight++;
	r = prepare(lun, cmd);
	if (r != SCSI_SENSE_OK) {
		scsi_cmd_finish(cmd, r);
		return;
	}
	scsi_cmd_start(cmd);
}

/* ---- transport helpers ----------------------------------------------------------------- */

unsigned int scsi_cdb_length(const uint8_t *cdb)
{
	switch (cdb[0] >> 5) {
	case 0:
		return 6;
	case 1:
	case 2:
		return 10;
	case 3:
		return cdb[0] == SCSI_OP_VARIABLE_LENGTH ? 8u + cdb[7] : 0;
	case 4:
		return 16;
	case 5:
		return 12;
	default:
		return 0;
	}
}

void scsi_cmd_set_sense(struct scsi_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq)
{
	cmd->status = SCSI_STATUS_CHECK_CONDITION;
	cmd->sense_len = (uint8_t)sense_build_raw(cmd->sense, sizeof(cmd->sense), key, asc, ascq,
						  NULL, false);
}

void scsi_cmd_fail(struct scsi_cmd *cmd, enum scsi_sense reason)
{
	cmd->status = sense_status(reason);
	cmd->sense_len = 0;
	if (cmd->status == SCSI_STATUS_CHECK_CONDITION)
		cmd->sense_len =
			(uint8_t)sense_build(cmd->sense, sizeof(cmd->sense), reason, NULL, false);
	cmd->data_in_len = 0;
}
