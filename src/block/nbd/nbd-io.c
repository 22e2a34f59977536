/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The nbd engine's two ways of waiting: async requests in the attached loop, and blocking
 * waiters.  See nbd-int.h for the design. */
#include "nbd-int.h"

#include <errno.h>
#include <libnbd.h>
#include <string.h>

#include "util/clock.h"
#include "util/log.h"

/* ---- the attached loop --------------------------------------------------------------- */

static void loop_io(struct nbdc_state *s, bool write);

static void loop_read(void *opaque)
{
	loop_io(opaque, false);
}

static void loop_write(void *opaque)
{
	loop_io(opaque, true);
}

/* Watch the current connection's socket in the direction libnbd wants. */
static void loop_update(struct nbdc_state *s)
{
	struct nbdc_conn *c, *drop = NULL;
	unsigned int dir;
	bool changed = false;

	if (!s->ctx)
		return; /* detaching */
	pthread_mutex_lock(&s->lock);
	c = s->link == NBDC_LINK_UP ? s->conn : NULL;
	if (c != s->loop_conn) {
		drop = s->loop_conn;
		s->loop_conn = c ? nbdc_conn_ref_locked(c) : NULL;
		changed = true;
	}
	pthread_mutex_unlock(&s->lock);
	if (changed) {
		if (drop && s->loop_dir)
			aio_set_fd(s->ctx, s->loop_fd, NULL, NULL, NULL);
		nbdc_conn_unref(s, drop);
		s->loop_fd = c ? nbd_aio_get_fd(c->h) : -1;
		s->loop_dir = 0;
	}
	if (!s->loop_conn || s->loop_fd < 0)
		return;
	dir = nbd_aio_get_direction(s->loop_conn->h) &
	      (LIBNBD_AIO_DIRECTION_READ | LIBNBD_AIO_DIRECTION_WRITE);
	if (dir == s->loop_dir)
		return;
	if (aio_set_fd(s->ctx, s->loop_fd, (dir & LIBNBD_AIO_DIRECTION_READ) ? loop_read : NULL,
		       (dir & LIBNBD_AIO_DIRECTION_WRITE) ? loop_write : NULL, s) == 0)
		s->loop_dir = dir;
}

static void loop_io(struct nbdc_state *s, bool write)
{
	struct nbdc_conn *c = s->loop_conn;
	unsigned int dir;
	int r = 0;

	if (!c)
		return;
	/* another thread may have moved the state machine since we polled: notify only
	 * what it waits for now (else libnbd refuses the event) */
	dir = nbd_aio_get_direction(c->h);
	if (!write && (dir & LIBNBD_AIO_DIRECTION_READ))
		r = nbd_aio_notify_read(c->h);
	else if (write && (dir & LIBNBD_AIO_DIRECTION_WRITE))
		r = nbd_aio_notify_write(c->h);
	if (nbdc_conn_is_gone(c))
		nbdc_link_down(s, c, r < 0 ? nbd_get_error() : "the server closed the connection");
	else if (r < 0)
		log_err_ratelimited("nbd: %s: %s", s->desc, nbd_get_error());
	loop_update(s);
}

/* The loop this thread runs (set by our flush hook), to know when a blocking caller is
 * the loop itself without reading another thread's state. */
static __thread struct aio_ctx *this_loop;

static void loop_hook(void *opaque)
{
	struct nbdc_state *s = opaque;

	this_loop = s->ctx;
	__atomic_add_fetch(&s->loop_turns, 1, __ATOMIC_RELAXED);
	loop_update(s);
}

static void submit_one(struct nbdc_state *s, struct blk_req *r);

/* Completions and re-issues, in the loop thread. */
static void loop_bh(void *opaque)
{
	struct nbdc_state *s = opaque;
	struct blk_req *done, *again = NULL, *next;

	pthread_mutex_lock(&s->lock);
	s->bh_scheduled = false;
	done = nbdc_rq_take_all(&s->done);
	if (s->link == NBDC_LINK_UP)
		again = nbdc_rq_take_all(&s->pending);
	pthread_mutex_unlock(&s->lock);
	loop_update(s);
	for (; again; again = next) {
		next = nbdc_rq_next(again);
		submit_one(s, again);
	}
	for (; done; done = next) {
		next = nbdc_rq_next(done);
		nbdc_rq_free_bounce(done);
		blk_req_complete(done, (int)(intptr_t)done->drv[RQ_RET]);
	}
}

static void submit_one(struct nbdc_state *s, struct blk_req *r)
{
	struct nbdc_conn *c = NULL;
	int go;

	pthread_mutex_lock(&s->lock);
	go = nbdc_link_acquire_locked(s, r, &c);
	if (go == 0)
		nbdc_rq_push(&s->pending, r);
	else if (go < 0)
		nbdc_rq_finish_locked(s, r, go);
	pthread_mutex_unlock(&s->lock);
	if (go <= 0)
		return;
	go = nbdc_conn_issue(s, c, r, NULL);
	if (go == -ENOTCONN || nbdc_conn_is_gone(c))
		nbdc_link_down(s, c, "the server closed the connection");
	if (go < 0) {
		pthread_mutex_lock(&s->lock);
		if (go == -ENOTCONN && s->link == NBDC_LINK_RECONNECTING)
			nbdc_rq_push(&s->pending, r); /* never sent: safe to send later */
		else
			nbdc_rq_finish_locked(s, r, go == -ENOTCONN ? s->lost_errno : go);
		pthread_mutex_unlock(&s->lock);
	}
	nbdc_conn_unref(s, c);
}

void nbdc_engine_submit(struct nbdc_state *s, struct blk_req *r)
{
	memset(r->drv, 0, sizeof(r->drv));
	submit_one(s, r);
}

static void engine_detach(struct nbdc_state *s)
{
	struct aio_ctx *ctx = s->ctx;
	bool scheduled;

	pthread_mutex_lock(&s->lock);
	s->ctx = NULL; /* nobody schedules our bottom half any more */
	scheduled = s->bh_scheduled;
	pthread_mutex_unlock(&s->lock);
	/* one the reconnect thread scheduled must run before we go */
	while (scheduled) {
		aio_poll(ctx, false);
		pthread_mutex_lock(&s->lock);
		scheduled = s->bh_scheduled;
		pthread_mutex_unlock(&s->lock);
	}
	aio_remove_flush_hook(ctx, s->hook);
	if (s->loop_conn && s->loop_dir)
		aio_set_fd(ctx, s->loop_fd, NULL, NULL, NULL);
	nbdc_conn_unref(s, s->loop_conn);
	s->loop_conn = NULL;
	s->loop_dir = 0;
	s->loop_fd = -1;
}

int nbdc_engine_attach(struct nbdc_state *s, struct aio_ctx *ctx)
{
	int hook;

	if (s->ctx)
		engine_detach(s);
	if (!ctx)
		return 0;
	hook = aio_add_flush_hook(ctx, loop_hook, s);
	if (hook < 0)
		return hook;
	s->hook = hook;
	s->bh.fn = loop_bh;
	s->bh.opaque = s;
	pthread_mutex_lock(&s->lock);
	s->ctx = ctx;
	pthread_mutex_unlock(&s->lock);
	loop_update(s);
	return 0;
}

/* ---- blocking ops ---------------------------------------------------------------------- */

static bool waiter_done(struct nbdc_waiter *w)
{
	return w->req.drv[RQ_FLAGS] & RQ_DONE;
}

/* Drive @c's socket for up to @ms; false when the connection is gone. */
static bool drive_once(struct nbdc_state *s, struct nbdc_conn *c, int ms)
{
	if (nbd_poll(c->h, ms) < 0 && nbd_get_errno() != EINTR && !nbdc_conn_is_gone(c))
		log_err_ratelimited("nbd: %s: %s", s->desc, nbd_get_error());
	if (!nbdc_conn_is_gone(c))
		return true;
	nbdc_link_down(s, c, "the server closed the connection");
	return false;
}

/*
 * Wait for @w (s->lock held).  The attached loop drives the socket; we drive it ourselves
 * when there is no loop, when we are the loop, or when the loop stopped turning (it
 * did not answer two notifications).  One thread drives at a time: a thread polling for
 * a reply another thread already consumed would sleep for nothing.
 */
static void waiter_wait_locked(struct nbdc_state *s, struct nbdc_conn *c, struct nbdc_waiter *w)
{
	struct aio_ctx *ctx = s->ctx;
	bool loop = ctx && this_loop != ctx;
	uint64_t seen = 0, t;
	int idle = 0;

	if (loop) {
		seen = __atomic_load_n(&s->loop_turns, __ATOMIC_RELAXED);
		aio_notify(ctx); /* the loop re-reads libnbd's direction for our command */
	}
	while (!waiter_done(w)) {
		bool alive;

		if (s->conn != c)
			loop = false; /* the loop no longer watches @c */
		if ((loop && idle < 2) || s->driving) {
			nbdc_cond_wait_until(s, clock_now_ns() + SLICE_MS * 1000000u);
			if (!loop)
				continue;
			t = __atomic_load_n(&s->loop_turns, __ATOMIC_RELAXED);
			if (t != seen) {
				seen = t;
				idle = 0;
			} else if (++idle < 2) {
				aio_notify(ctx);
			}
			continue;
		}
		s->driving = true;
		pthread_mutex_unlock(&s->lock);
		alive = drive_once(s, c, DRIVE_MS);
		pthread_mutex_lock(&s->lock);
		s->driving = false;
		pthread_cond_broadcast(&s->cond); /* completions, and the driver's seat */
		if (!alive && !waiter_done(w))	  /* libnbd completes in-flight commands on close */
			nbdc_rq_finish_locked(s, &w->req, s->lost_errno);
		if (loop && (t = __atomic_load_n(&s->loop_turns, __ATOMIC_RELAXED)) != seen) {
			seen = t;
			idle = 0;
		}
	}
}

int nbdc_engine_run(struct nbdc_state *s, struct blk_req *req, struct nbdc_extent *ext)
{
	struct nbdc_waiter w = { .req = *req, .s = s };
	int r;

	memset(w.req.drv, 0, sizeof(w.req.drv));
	for (;;) {
		struct nbdc_conn *c = NULL;
		bool lost = false;

		w.req.drv[RQ_FLAGS] = RQ_WAITER | (w.req.drv[RQ_FLAGS] & RQ_BOUNCE);
		w.req.drv[RQ_RET] = 0;
		if (ext)
			memset(ext, 0, sizeof(*ext));
		pthread_mutex_lock(&s->lock);
		while ((r = nbdc_link_acquire_locked(s, &w.req, &c)) == 0) {
			if (clock_now_ns() >= s->deadline_ns) {
				r = s->lost_errno; /* the reconnect thread fails the rest */
				break;
			}
			nbdc_cond_wait_until(
				s, MIN(s->deadline_ns, clock_now_ns() + SLICE_MS * 1000000u));
		}
		pthread_mutex_unlock(&s->lock);
		if (r < 0)
			break;
		r = nbdc_conn_issue(s, c, &w.req, ext);
		if (r == 0 && nbdc_conn_is_gone(c)) /* the send found the connection dead */
			nbdc_link_down(s, c, "the server closed the connection");
		if (r == -ENOTCONN) {
			nbdc_link_down(s, c, "the server closed the connection");
			nbdc_conn_unref(s, c);
			continue; /* never sent: wait for the link */
		}
		if (r == 0) {
			pthread_mutex_lock(&s->lock);
			waiter_wait_locked(s, c, &w);
			r = (int)(intptr_t)w.req.drv[RQ_RET];
			lost = w.req.drv[RQ_FLAGS] & RQ_LOST; /* issue it again once back */
			pthread_mutex_unlock(&s->lock);
		}
		nbdc_conn_unref(s, c);
		if (!lost)
			break;
	}
	nbdc_rq_free_bounce(&w.req);
	return r;
}
