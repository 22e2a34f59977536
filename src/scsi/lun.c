/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The LUN and the command pipeline: lookup, generic CDB checks, write ordering, dispatch
 * to the row's handler, completion with status and sense.  See scsi-int.h for the steps.
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
#include "util/iov.h"
#include "util/log.h"
#include "util/thread-pool.h"

#define SENSE_F_INFO 0x01
#define SENSE_F_FIELD 0x02
#define SENSE_F_BIT 0x04
#define SENSE_F_PARAM 0x08

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
	p->sense_flags |= SENSE_F_FIELD | where;
	if (bit >= 0) {
		p->sense_bit = (uint8_t)bit;
		p->sense_flags |= SENSE_F_BIT;
	}
	return s;
}

enum scsi_sense scsi_bad_cdb_field(struct scsi_cmd *cmd, unsigned int byte, int bit)
{
	return bad_field(cmd, SCSI_SENSE_INVALID_FIELD_CDB, byte, bit, 0);
}

enum scsi_sense scsi_bad_param_field(struct scsi_cmd *cmd, unsigned int byte, int bit)
{
	return bad_field(cmd, SCSI_SENSE_INVALID_FIELD_PARAM, byte, bit, SENSE_F_PARAM);
}

void scsi_set_info(struct scsi_cmd *cmd, uint64_t info)
{
	cmd->priv.sense_info = info;
	cmd->priv.sense_flags |= SENSE_F_INFO;
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

/* ---- completion ------------------------------------------------------------------------ */

static void lock_release(struct scsi_lun *lun, struct scsi_cmd *cmd);
static void lock_wake(struct scsi_lun *lun);

static void build_sense(struct scsi_cmd *cmd, enum scsi_sense s)
{
	const struct scsi_cmd_priv *p = &cmd->priv;
	struct scsi_sense_extra x = {
		.info = p->sense_info,
		.field = p->sense_field,
		.bit = p->sense_bit,
		.has_info = p->sense_flags & SENSE_F_INFO,
		.has_field = p->sense_flags & SENSE_F_FIELD,
		.has_bit = p->sense_flags & SENSE_F_BIT,
		.field_in_data = p->sense_flags & SENSE_F_PARAM,
	};

	cmd->sense_len =
		(uint8_t)sense_build(cmd->sense, sizeof(cmd->sense), s, &x, p->lun->d_sense);
}

void scsi_cmd_finish(struct scsi_cmd *cmd, enum scsi_sense s)
{
	struct scsi_lun *lun = cmd->priv.lun;

	cmd->status = sense_status(s);
	cmd->sense_len = 0;
	if (cmd->status == SCSI_STATUS_CHECK_CONDITION) {
		build_sense(cmd, s);
		cmd->data_in_len = 0;
		log_debug("scsi", "%s (opcode 0x%02x): sense %x/%02x%02x",
			  cmd->priv.desc ? cmd->priv.desc->name : "?",
			  cmd->cdb_len ? cmd->cdb[0] : 0,
			  cmd->sense[cmd->sense[0] == 0x72 ? 1 : 2] & 0xf,
			  cmd->sense[cmd->sense[0] == 0x72 ? 2 : 12],
			  cmd->sense[cmd->sense[0] == 0x72 ? 3 : 13]);
	} else if (cmd->status != SCSI_STATUS_GOOD) {
		cmd->data_in_len = 0;
	}
	if (cmd->priv.trim_iov && cmd->priv.trim_iov != cmd->priv.trim_inline)
		free(cmd->priv.trim_iov);
	cmd->priv.trim_iov = NULL;
	if (cmd->priv.locked)
		lock_release(lun, cmd);
	lun->inflight--;
	cmd->done(cmd);
	lock_wake(lun);
}

/* ---- dispatch -------------------------------------------------------------------------- */

static int work_run(struct pool_work *w)
{
	struct scsi_cmd *cmd = container_of(w, struct scsi_cmd, priv.work);

	return (int)cmd->priv.desc->work(cmd);
}

static void work_done(struct pool_work *w, int ret)
{
	struct scsi_cmd *cmd = container_of(w, struct scsi_cmd, priv.work);

	scsi_cmd_finish(cmd, (enum scsi_sense)ret);
}

static void dispatch(struct scsi_cmd *cmd)
{
	const struct scsi_cmd_desc *d = cmd->priv.desc;

	if (d->emulate) {
		scsi_cmd_finish(cmd, d->emulate(cmd));
	} else if (d->submit) {
		d->submit(cmd);
	} else {
		cmd->priv.work.work = work_run;
		cmd->priv.work.done = work_done;
		thread_pool_submit(cmd->priv.lun->pool, cmd->priv.lun->ctx, &cmd->priv.work);
	}
}

/* ---- write ordering ------------------------------------------------------------------- */

static bool overlaps(const struct scsi_cmd *a, const struct scsi_cmd *b)
{
	return a->priv.lock_start < b->priv.lock_end && b->priv.lock_start < a->priv.lock_end;
}

/* Whether an earlier command in the list overlaps @cmd. */
static bool blocked(const struct scsi_cmd *cmd)
{
	for (const struct scsi_cmd *c = cmd->priv.prev; c; c = c->priv.prev)
		if (overlaps(c, cmd))
			return true;
	return false;
}

/* Append @cmd; returns true if it may run now. */
static bool lock_acquire(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;

	if (p->desc->flags & SCSI_DF_LOCK_ALL) {
		p->lock_start = 0;
		p->lock_end = UINT64_MAX;
	} else {
		p->lock_start = p->lba;
		p->lock_end = p->lba + p->nlb;
	}
	p->prev = lun->lock_tail;
	p->next = NULL;
	if (lun->lock_tail)
		lun->lock_tail->priv.next = cmd;
	else
		lun->lock_head = cmd;
	lun->lock_tail = cmd;
	p->locked = true;
	p->waiting = blocked(cmd);
	return !p->waiting;
}

static void lock_release(struct scsi_lun *lun, struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;

	if (p->prev)
		p->prev->priv.next = p->next;
	else
		lun->lock_head = p->next;
	if (p->next)
		p->next->priv.prev = p->prev;
	else
		lun->lock_tail = p->prev;
	p->locked = false;
}

/* Start waiting commands that no earlier command blocks any more. */
static void lock_wake(struct scsi_lun *lun)
{
	struct scsi_cmd *c;

	if (lun->waking)
		return; /* the outer call rescans after each dispatch */
	lun->waking = true;
	for (;;) {
		for (c = lun->lock_head; c; c = c->priv.next)
			if (c->priv.waiting && !blocked(c))
				break;
		if (!c)
			break;
		c->priv.waiting = false;
		dispatch(c);
	}
	lun->waking = false;
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
	if ((p->desc->flags & SCSI_DF_WRITES) && !lock_acquire(lun, cmd))
		return; /* started by lock_wake() when the overlapping writes are done */
	dispatch(cmd);
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
