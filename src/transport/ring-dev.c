/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A TCMU device served by a thread: ring -> SCSI LUN -> block node (see ring-dev.h). */
#include "ring-dev.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transport/ring.h"
#include "util/aio.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/log.h"

#define DEV_DEFAULT_SLOTS 128
#define SLOT_INLINE_IOV 8

struct slot {
	struct scsi_cmd cmd;
	struct ring_dev *dev;
	uint16_t cmd_id;
	uint32_t gen; /* the ring generation it was fetched in */
	bool bidi;
	uint64_t in_len; /* the Data-In buffer's size (READ_LEN is reported against it) */
	struct iovec *iov;
	uint32_t iov_cap;
	struct slot *next_free;
	uint8_t cdb[RING_MAX_CDB];
	struct iovec iov_inline[SLOT_INLINE_IOV];
};

/* A function run in the device's thread, on behalf of the control thread. */
struct dev_call {
	void (*fn)(struct ring_dev *d, void *opaque);
	void *opaque;
	bool quiesce; /* run only with no command in flight, fetching paused */
	bool done;
	struct aio_bh bh;
	struct dev_call *next;
};

struct ring_dev {
	char name[64];
	char cfgstring[256];
	struct ring ring;
	struct aio_ctx *ctx;
	struct scsi_lun *lun; /* owns the block node */
	pthread_t thread;
	int hook;
	struct slot *slots;
	unsigned int nslots;
	struct slot *free;
	unsigned int inflight;
	bool starved;		   /* entries may be waiting for a slot */
	bool need_kick;		   /* completions written since the last kick */
	bool abandoned;		   /* write no completions (simulated crash) */
	bool exit;		   /* leave the loop */
	bool fd_gone;		   /* the fd reported EOF or an error */
	int paused;		   /* quiesced calls pending: no fetching */
	struct dev_call *quiesced; /* waiting for inflight == 0 */
	struct aio_bh fetch_bh, quiesce_bh;
	bool fetch_scheduled, quiesce_scheduled;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ring_dev_stats st;
};

static void dev_fetch(struct ring_dev *d);

/* ---- completions ------------------------------------------------------------------ */

static void schedule_fetch(struct ring_dev *d)
{
	if (!d->fetch_scheduled) {
		d->fetch_scheduled = true;
		aio_bh_schedule(d->ctx, &d->fetch_bh);
	}
}

static void schedule_quiesced(struct ring_dev *d)
{
	if (d->quiesced && !d->inflight && !d->quiesce_scheduled) {
		d->quiesce_scheduled = true;
		aio_bh_schedule(d->ctx, &d->quiesce_bh);
	}
}

static void ring_answer(struct ring_dev *d, const struct ring_rsp *rsp)
{
	if (d->abandoned)
		return;
	if (ring_complete(&d->ring, rsp) < 0)
		log_err_ratelimited("%s: completion of cmd_id %u lost: %s", d->name, rsp->cmd_id,
				    ring_error(&d->ring));
	d->need_kick = true;
}

/*
 * Answer an entry that never reaches the LUN with @reason: BUSY (no memory for it; the
 * initiator retries) or CHECK CONDITION (a malformed entry, counted as bad).  The command
 * of a free slot carries the status and sense; the slot is not taken.  Fetching stops
 * while no slot is free, so there is one.
 */
static void answer_failed(struct ring_dev *d, uint16_t cmd_id, enum scsi_sense reason)
{
	struct scsi_cmd *cmd = &d->free->cmd;
	struct ring_rsp rsp = { .cmd_id = cmd_id };

	scsi_cmd_fail(cmd, reason);
	rsp.status = cmd->status;
	rsp.sense = cmd->sense;
	rsp.sense_len = cmd->sense_len;
	if (reason != SCSI_SENSE_BUSY)
		d->st.bad++;
	ring_answer(d, &rsp);
}

static void cmd_done(struct scsi_cmd *cmd)
{
	struct slot *s = container_of(cmd, struct slot, cmd);
	struct ring_dev *d = s->dev;
	struct ring_rsp rsp = { .cmd_id = s->cmd_id, .status = cmd->status };

	if (s->gen != d->ring.gen) /* the kernel reset the ring and failed it already */
		goto release;
	if (cmd->status == SCSI_STATUS_CHECK_CONDITION) {
		rsp.sense = cmd->sense;
		rsp.sense_len = cmd->sense_len;
	}
	/* a residual: the kernel copies back (and reports) only read_len bytes */
	if (!s->bidi && cmd->data_in_len && cmd->data_in_len < s->in_len &&
	    (d->ring.mb_flags & RING_MB_CAP_READ_LEN)) {
		rsp.uflags |= RING_UFLAG_READ_LEN;
		rsp.read_len = cmd->data_in_len;
	}
	ring_answer(d, &rsp);
release:
	s->next_free = d->free;
	d->free = s;
	d->inflight--;
	if (d->starved) {
		d->starved = false;
		schedule_fetch(d);
	}
	schedule_quiesced(d);
}

/* ---- fetching --------------------------------------------------------------------- */

static int slot_reserve_iov(struct slot *s, uint32_t n)
{
	struct iovec *p;
	uint32_t cap;

	if (n <= s->iov_cap)
		return 0;
	cap = MAX(n, 2 * s->iov_cap);
	p = s->iov == s->iov_inline ? malloc(cap * sizeof(*p)) : realloc(s->iov, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	s->iov = p;
	s->iov_cap = cap;
	return 0;
}

/* The CDB, copied out of the ring (the response will overwrite the entry). */
static int slot_copy_cdb(struct slot *s, const struct ring_entry *e)
{
	uint32_t avail = MIN(e->cdb_avail, (uint32_t)RING_MAX_CDB);
	unsigned int len;

	memcpy(s->cdb, e->cdb, avail);
	memset(s->cdb + avail, 0, RING_MAX_CDB - avail);
	len = scsi_cdb_length(s->cdb);
	if (!len) /* an opcode group of unknown size: the SCSI layer rejects the opcode */
		len = MIN(avail, 16u);
	if (len > avail)
		return -EINVAL;
	s->cmd.cdb = s->cdb;
	s->cmd.cdb_len = (uint16_t)len;
	return 0;
}

static int slot_map(struct ring_dev *d, struct slot *s, const struct ring_entry *e)
{
	uint64_t out_len, bidi_len = 0;
	int r;

	r = slot_reserve_iov(s, e->iov_cnt + e->bidi_cnt);
	if (r < 0)
		return r;
	r = ring_map_iov(&d->ring, e->iov_raw, e->iov_cnt, s->iov, &out_len);
	if (!r && e->bidi_cnt)
		r = ring_map_iov(&d->ring, (const uint8_t *)e->iov_raw + 16u * e->iov_cnt,
				 e->bidi_cnt, s->iov + e->iov_cnt, &bidi_len);
	if (r < 0)
		return r;
	s->bidi = e->bidi_cnt > 0;
	s->in_len = s->bidi ? bidi_len : out_len;
	s->cmd.iov = s->iov;
	s->cmd.iovcnt = (int)e->iov_cnt;
	s->cmd.bidi_iov = s->bidi ? s->iov + e->iov_cnt : NULL;
	s->cmd.bidi_iovcnt = (int)e->bidi_cnt;
	return 0;
}

static void start_cmd(struct ring_dev *d, const struct ring_entry *e)
{
	struct slot *s = d->free;
	int r;

	r = slot_copy_cdb(s, e);
	if (!r)
		r = slot_map(d, s, e);
	if (r < 0) {
		log_err_ratelimited("%s: cmd_id %u: %s", d->name, e->cmd_id,
				    r == -ENOMEM ? "no memory for its iovecs"
						 : "data or CDB outside the mapping");
		answer_failed(d, e->cmd_id,
			      r == -ENOMEM ? SCSI_SENSE_BUSY : SCSI_SENSE_INTERNAL_FAILURE);
		return;
	}
	d->free = s->next_free;
	s->cmd_id = e->cmd_id;
	s->gen = d->ring.gen;
	s->cmd.status = SCSI_STATUS_GOOD;
	s->cmd.sense_len = 0;
	s->cmd.data_in_len = 0;
	d->inflight++;
	d->st.cmds++;
	if (d->inflight > d->st.max_seen)
		d->st.max_seen = d->inflight;
	scsi_lun_submit(d->lun, &s->cmd); /* may complete before returning */
}

static void handle_tmr(struct ring_dev *d, const struct ring_entry *e)
{
	d->st.tmrs++;
	/* Informational: the listed commands still complete (the kernel waits for them). */
	log_debug("transport", "%s: TMR type %u for %u command(s)%s%u", d->name, e->tmr_type,
		  e->tmr_cnt, e->tmr_cnt ? ", first cmd_id " : "",
		  e->tmr_cnt ? ring_tmr_id(e, 0) : 0);
}

static void dev_fetch(struct ring_dev *d)
{
	struct ring_entry e;
	int r;

	while (!d->paused && !d->exit) {
		if (!d->free) {
			d->starved = true;
			return;
		}
		r = ring_fetch(&d->ring, &e);
		if (r >= 0)
			d->st.broken = false;
		if (r < 0 && !d->st.broken) {
			d->st.broken = true;
			log_err("%s: ring broken (%s); commands are no longer served", d->name,
				ring_error(&d->ring));
		}
		if (r <= 0)
			return;
		switch (e.kind) {
		case RING_ENTRY_CMD:
			start_cmd(d, &e);
			break;
		case RING_ENTRY_TMR:
			handle_tmr(d, &e);
			break;
		case RING_ENTRY_UNKNOWN: {
			struct ring_rsp rsp = { .cmd_id = e.cmd_id,
						.uflags = RING_UFLAG_UNKNOWN_OP };

			log_err_ratelimited("%s: ring entry of unknown type (cmd_id %u)", d->name,
					    e.cmd_id);
			d->st.bad++;
			ring_answer(d, &rsp);
			break;
		}
		case RING_ENTRY_BAD:
			log_err_ratelimited("%s: cmd_id %u: %s", d->name, e.cmd_id, e.why);
			answer_failed(d, e.cmd_id, SCSI_SENSE_INTERNAL_FAILURE);
			break;
		}
	}
}

static void fetch_bh(void *opaque)
{
	struct ring_dev *d = opaque;

	d->fetch_scheduled = false;
	dev_fetch(d);
}

static void on_fd_readable(void *opaque)
{
	struct ring_dev *d = opaque;
	uint32_t count;
	ssize_t n;

	/* UIO: a read returns the event count and re-arms (one read takes every event so
	 * far); read before fetching so that an entry added after the fetch signals again.
	 * The simulator's socket holds one message per signal: any left make the
	 * (level-triggered) fd readable again, which costs a loop iteration, not a command. */
	n = read(d->ring.fd, &count, sizeof(count));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		/* UIO returns EIO once the kernel unregistered the device (removal) */
		log_info("%s: the ring's fd reports %s: the device is going away", d->name,
			 n ? strerror(errno) : "EOF");
		aio_set_fd(d->ctx, d->ring.fd, NULL, NULL, NULL);
		d->fd_gone = true;
	}
	d->st.wakeups++;
	dev_fetch(d);
}

/* Busy polling: new entries in the ring, found without waiting for the fd. */
static bool poll_ring(void *opaque)
{
	struct ring_dev *d = opaque;

	if (d->paused || d->exit || !d->free || !ring_has_entries(&d->ring))
		return false;
	d->st.polled++;
	dev_fetch(d);
	return true;
}

static void flush_hook(void *opaque)
{
	struct ring_dev *d = opaque;
	int r;

	if (!d->need_kick)
		return;
	d->need_kick = false;
	r = ring_kick(&d->ring);
	if (r > 0)
		d->st.kicks++;
	else if (r < 0)
		log_err_ratelimited("%s: kick failed: %s", d->name, strerror(-r));
}

/* ---- calls from the control thread ------------------------------------------------ */

static void call_finish(struct ring_dev *d, struct dev_call *c)
{
	c->fn(d, c->opaque);
	pthread_mutex_lock(&d->lock);
	c->done = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void quiesce_bh(void *opaque)
{
	struct ring_dev *d = opaque;

	d->quiesce_scheduled = false;
	while (d->quiesced && !d->inflight) {
		struct dev_call *c = d->quiesced;

		d->quiesced = c->next;
		d->paused--;
		call_finish(d, c); /* may set exit */
	}
	if (!d->paused)
		schedule_fetch(d);
}

struct call_ctx {
	struct ring_dev *dev;
	struct dev_call *call;
};

static void dev_call_bh(void *opaque)
{
	struct call_ctx *cc = opaque;
	struct ring_dev *d = cc->dev;
	struct dev_call *c = cc->call;

	if (!c->quiesce) {
		call_finish(d, c);
		return;
	}
	d->paused++;
	c->next = d->quiesced;
	d->quiesced = c;
	schedule_quiesced(d);
}

static void dev_call(struct ring_dev *d, void (*fn)(struct ring_dev *, void *), void *opaque,
		     bool quiesce)
{
	struct dev_call c = { .fn = fn, .opaque = opaque, .quiesce = quiesce };
	struct call_ctx cc = { .dev = d, .call = &c };

	c.bh.fn = dev_call_bh;
	c.bh.opaque = &cc;
	aio_bh_schedule(d->ctx, &c.bh);
	pthread_mutex_lock(&d->lock);
	while (!c.done)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

/* ---- lifecycle -------------------------------------------------------------------- */

static void *dev_thread(void *opaque)
{
	struct ring_dev *d = opaque;

	while (!d->exit)
		aio_poll(d->ctx, true);
	return NULL;
}

static int alloc_slots(struct ring_dev *d, unsigned int n)
{
	d->slots = calloc(n, sizeof(*d->slots));
	if (!d->slots)
		return -ENOMEM;
	d->nslots = n;
	for (unsigned int i = n; i-- > 0;) {
		struct slot *s = &d->slots[i];

		s->dev = d;
		s->iov = s->iov_inline;
		s->iov_cap = SLOT_INLINE_IOV;
		s->cmd.done = cmd_done;
		s->cmd.opaque = s;
		s->next_free = d->free;
		d->free = s;
	}
	return 0;
}

static void dev_free(struct ring_dev *d)
{
	if (d->ctx) {
		if (d->hook >= 0)
			aio_remove_flush_hook(d->ctx, d->hook);
		aio_set_fd(d->ctx, d->ring.fd, NULL, NULL, NULL);
	}
	scsi_lun_free(d->lun); /* detaches the node from the loop */
	aio_ctx_free(d->ctx);
	for (unsigned int i = 0; d->slots && i < d->nslots; i++)
		if (d->slots[i].iov != d->slots[i].iov_inline)
			free(d->slots[i].iov);
	free(d->slots);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	free(d);
}

static int dev_setup(struct ring_dev *d, const struct ring_dev_params *p, struct err *err)
{
	struct scsi_lun_params lp = p->lun;
	int r;

	r = ring_init(&d->ring, p->map, p->map_size, p->fd, err);
	if (r < 0)
		return r;
	r = alloc_slots(d, p->max_inflight ? p->max_inflight : DEV_DEFAULT_SLOTS);
	if (r < 0)
		return err_set(err, r, "%s: cannot allocate command slots", d->name);
	d->ctx = aio_ctx_new();
	if (!d->ctx)
		return err_set(err, -ENOMEM, "%s: cannot create an event loop", d->name);
	if (p->lun.cfgstring) {
		snprintf(d->cfgstring, sizeof(d->cfgstring), "%s", p->lun.cfgstring);
		lp.cfgstring = d->cfgstring;
	}
	r = scsi_lun_new(p->bs, &lp, d->ctx, &d->lun, err); /* attaches p->bs to d->ctx */
	if (r < 0)
		return r;
	d->hook = aio_add_flush_hook(d->ctx, flush_hook, d);
	if (d->hook < 0)
		return err_set(err, d->hook, "%s: no flush hook left", d->name);
	r = aio_set_fd(d->ctx, p->fd, on_fd_readable, NULL, d);
	if (r < 0)
		return err_set_errno(err, r, "%s: cannot watch the ring's fd", d->name);
	if (p->poll_us) {
		r = aio_add_poll_handler(d->ctx, poll_ring, d);
		if (r < 0)
			return err_set(err, r, "%s: no poll handler left", d->name);
		aio_set_poll_ns(d->ctx, (uint64_t)p->poll_us * 1000);
	}
	return 0;
}

int ring_dev_start(const struct ring_dev_params *p, struct ring_dev **out, struct err *err)
{
	struct ring_dev *d = calloc(1, sizeof(*d));
	char tname[16];
	int r;

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	snprintf(d->name, sizeof(d->name), "%s", p->name ? p->name : "tcmu");
	d->hook = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->fetch_bh = (struct aio_bh){ .fn = fetch_bh, .opaque = d };
	d->quiesce_bh = (struct aio_bh){ .fn = quiesce_bh, .opaque = d };
	r = dev_setup(d, p, err);
	if (r < 0)
		goto fail;
	/* entries may be waiting already (a restart without reset_ring) */
	schedule_fetch(d);
	r = -pthread_create(&d->thread, NULL, dev_thread, d);
	if (r < 0) {
		err_set_errno(err, r, "%s: cannot start the device thread", d->name);
		goto fail;
	}
	snprintf(tname, sizeof(tname), "qt-%s", d->name);
	pthread_setname_np(d->thread, tname);
	*out = d;
	return 0;
fail:
	dev_free(d);
	return r;
}

struct stop_args {
	bool flush;
	int ret;
};

static void stop_fn(struct ring_dev *d, void *opaque)
{
	struct stop_args *a = opaque;

	if (!d->abandoned) {
		flush_hook(d);
		if (a->flush)
			a->ret = scsi_lun_flush(d->lun);
	}
	d->exit = true;
}

int ring_dev_stop(struct ring_dev *d)
{
	struct stop_args a = { .flush = true };

	dev_call(d, stop_fn, &a, true);
	pthread_join(d->thread, NULL);
	dev_free(d);
	return a.ret;
}

static void abandon_fn(struct ring_dev *d, void *opaque)
{
	(void)opaque;
	d->abandoned = true;
}

void ring_dev_abandon(struct ring_dev *d)
{
	struct stop_args a = { .flush = false };

	dev_call(d, abandon_fn, NULL, false);
	dev_call(d, stop_fn, &a, true);
	pthread_join(d->thread, NULL);
	dev_free(d);
}

struct size_args {
	uint64_t bytes;
	bool wce;
};

static void set_size_fn(struct ring_dev *d, void *opaque)
{
	scsi_lun_set_size(d->lun, ((struct size_args *)opaque)->bytes);
}

static void set_wce_fn(struct ring_dev *d, void *opaque)
{
	scsi_lun_set_write_cache(d->lun, ((struct size_args *)opaque)->wce); /* and the node's */
}

void ring_dev_set_size(struct ring_dev *d, uint64_t bytes)
{
	struct size_args a = { .bytes = bytes };

	dev_call(d, set_size_fn, &a, false);
}

void ring_dev_set_write_cache(struct ring_dev *d, bool wce)
{
	struct size_args a = { .wce = wce };

	dev_call(d, set_wce_fn, &a, false);
}

static void swap_fn(struct ring_dev *d, void *opaque)
{
	struct blk_node **nodes = opaque; /* [0] new in, [1] old out */
	struct blk_node *old = scsi_lun_node(d->lun);
	int r;

	r = scsi_lun_flush(d->lun);
	if (r < 0)
		log_warn("%s: flush before changing the image: %s", d->name, strerror(-r));
	r = scsi_lun_set_node(d->lun, nodes[0]);
	if (r < 0) {
		log_err("%s: cannot attach the new image: %s", d->name, strerror(-r));
		nodes[1] = nodes[0]; /* the caller closes the new one; keep serving the old */
		return;
	}
	nodes[1] = old;
}

struct blk_node *ring_dev_swap_node(struct ring_dev *d, struct blk_node *bs)
{
	struct blk_node *nodes[2] = { bs, NULL };

	dev_call(d, swap_fn, nodes, true);
	return nodes[1];
}

static void stats_fn(struct ring_dev *d, void *opaque)
{
	struct ring_dev_stats *st = opaque;

	*st = d->st;
	st->inflight = d->inflight;
}

void ring_dev_get_stats(struct ring_dev *d, struct ring_dev_stats *st)
{
	dev_call(d, stats_fn, st, false);
}

const char *ring_dev_name(const struct ring_dev *d)
{
	return d->name;
}
