/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Running a prepared command: the write-ordering lock, dispatch to the row's one hook
 * (emulate in the loop, submit for async block I/O, work on the thread pool), and
 * completion with status and sense.  Hooks are reached through the row (no call into
 * cmd-table.c or the handlers' files), so handlers can complete here without a circle.
 */
#include "scsi-int.h"

#include <stdlib.h>

#include "util/compiler.h"
#include "util/log.h"
#include "util/thread-pool.h"

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
		.has_info = p->sense_flags & SCSI_SX_INFO,
		.has_field = p->sense_flags & SCSI_SX_FIELD,
		.has_bit = p->sense_flags & SCSI_SX_BIT,
		.field_in_data = p->sense_flags & SCSI_SX_PARAM,
	};

	cmd->sense_len =
		(uint8_t)sense_build(cmd->sense, sizeof(cmd->sense), s, &x, p->lun->d_sense);
}

/* An implicit ALUA transition (a gateway taking the write lock, docs/HA.md) on a LUN that
 * reports no port groups: an initiator without an ALUA handler (Linux sd alone) fails
 * NOT READY 04/0A, but retries BUSY.  Rare: a configfs read only then. */
static enum scsi_sense transition_status(const struct scsi_lun *lun)
{
	struct scsi_alua a;

	return scsi_lun_alua(lun, &a) ? SCSI_SENSE_ALUA_TRANSITION : SCSI_SENSE_BUSY;
}

void scsi_cmd_finish(struct scsi_cmd *cmd, enum scsi_sense s)
{
	struct scsi_lun *lun = cmd->priv.lun;

	if (s == SCSI_SENSE_ALUA_TRANSITION)
		s = transition_status(lun);
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

void scsi_cmd_start(struct scsi_cmd *cmd)
{
	if ((cmd->priv.desc->flags & SCSI_DF_WRITES) && !lock_acquire(cmd->priv.lun, cmd))
		return; /* started by lock_wake() when the overlapping writes are done */
	dispatch(cmd);
}
