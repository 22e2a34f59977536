/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The nbd engine's connections: the link state, issuing and completing commands,
 * reconnecting.  See nbd-int.h for the design. */
#include "nbd-int.h"

#include <errno.h>
#include <libnbd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/err.h"
#include "util/iov.h"
#include "util/log.h"

#define BACKOFF_MIN_MS 50 /* first reconnect delay, doubled up to ... */
#define BACKOFF_MAX_MS 2000
#define DISCONNECT_MS 1000 /* a clean disconnect at close waits this long at most */

static struct timespec ts_at(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / 1000000000u),
				  .tv_nsec = (long)(ns % 1000000000u) };
}

void nbdc_cond_wait_until(struct nbdc_state *s, uint64_t ns)
{
	struct timespec ts = ts_at(ns);

	pthread_cond_timedwait(&s->cond, &s->lock, &ts);
}

/* ---- request lists and results ----------------------------------------------------- */

void nbdc_rq_push(struct nbdc_rq_list *l, struct blk_req *r)
{
	r->drv[RQ_NEXT] = 0;
	if (l->tail)
		l->tail->drv[RQ_NEXT] = (uintptr_t)r;
	else
		l->head = r;
	l->tail = r;
}

struct blk_req *nbdc_rq_take_all(struct nbdc_rq_list *l)
{
	struct blk_req *h = l->head;

	l->head = l->tail = NULL;
	return h;
}

struct blk_req *nbdc_rq_next(const struct blk_req *r)
{
	return (struct blk_req *)r->drv[RQ_NEXT];
}

static bool rq_is_waiter(const struct blk_req *r)
{
	return r->drv[RQ_FLAGS] & RQ_WAITER;
}

static struct nbdc_state *rq_state(struct blk_req *r)
{
	if (rq_is_waiter(r))
		return container_of(r, struct nbdc_waiter, req)->s;
	return r->bs->opaque;
}

void nbdc_rq_free_bounce(struct blk_req *r)
{
	if (r->drv[RQ_FLAGS] & RQ_BOUNCE) {
		free((void *)r->drv[RQ_AUX]);
		r->drv[RQ_FLAGS] &= ~(uintptr_t)RQ_BOUNCE;
		r->drv[RQ_AUX] = 0;
	}
}

static void schedule_bh_locked(struct nbdc_state *s)
{
	if (!s->bh_scheduled && s->ctx) {
		s->bh_scheduled = true;
		aio_bh_schedule(s->ctx, &s->bh);
	}
}

/* A final result: waiters are woken, async requests complete in the loop's bottom half. */
void nbdc_rq_finish_locked(struct nbdc_state *s, struct blk_req *r, int ret)
{
	r->drv[RQ_RET] = (uintptr_t)(intptr_t)ret;
	if (rq_is_waiter(r)) {
		r->drv[RQ_FLAGS] |= RQ_DONE;
		pthread_cond_broadcast(&s->cond);
		return;
	}
	nbdc_rq_push(&s->done, r);
	schedule_bh_locked(s);
}

static void fail_pending_locked(struct nbdc_state *s)
{
	struct blk_req *r = nbdc_rq_take_all(&s->pending), *next;

	for (; r; r = next) {
		next = nbdc_rq_next(r);
		nbdc_rq_finish_locked(s, r, s->lost_errno);
	}
	pthread_cond_broadcast(&s->cond); /* waiters see the new link state */
}

/* ---- connections ------------------------------------------------------------------- */

struct nbdc_conn *nbdc_conn_ref_locked(struct nbdc_conn *c)
{
	c->refs++;
	return c;
}

void nbdc_conn_unref(struct nbdc_state *s, struct nbdc_conn *c)
{
	bool last;

	if (!c)
		return;
	pthread_mutex_lock(&s->lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last) {
		nbd_close(c->h);
		free(c);
	}
}

bool nbdc_conn_is_gone(struct nbdc_conn *c)
{
	return nbd_aio_is_closed(c->h) || nbd_aio_is_dead(c->h);
}

/* "EIO", "ENOTCONN": for messages about s->lost_errno */
static const char *errno_name(int neg)
{
	const char *n = strerrorname_np(-neg);

	return n ? n : "EIO";
}

static bool is_link_errno(int e)
{
	return e == ENOTCONN || e == ECONNRESET || e == EPIPE || e == ESHUTDOWN ||
	       e == ECONNABORTED;
}

static int read_info(struct nbd_handle *h, struct nbdc_server_info *i, struct err *err)
{
	int64_t size = nbd_get_size(h);

	if (size < 0)
		return err_set(err, -EIO, "%s", nbd_get_error());
	memset(i, 0, sizeof(*i));
	i->size = (uint64_t)size;
	i->min_block = (uint32_t)MAX(nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM), 0);
	i->pref_block = (uint32_t)MAX(nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED), 0);
	i->max_block = (uint32_t)MAX(nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM), 0);
	i->read_only = nbd_is_read_only(h) == 1;
	i->can_flush = nbd_can_flush(h) == 1;
	i->can_fua = nbd_can_fua(h) == 1;
	i->can_trim = nbd_can_trim(h) == 1;
	i->can_zero = nbd_can_zero(h) == 1;
	i->can_fast_zero = nbd_can_fast_zero(h) == 1;
	i->has_base_allocation = nbd_can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
	i->has_allocation_depth = nbd_can_meta_context(h, "qemu:allocation-depth") == 1;
	return 0;
}

static bool is_closing(struct nbdc_state *s)
{
	bool r;

	pthread_mutex_lock(&s->lock);
	r = s->closing;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* 0: connecting; 1: libnbd refused (nbd_get_error()); <0: our own error in @err. */
static int start_connect(struct nbdc_state *s, struct nbd_handle *h, struct err *err)
{
	int fd, r = -1;

	switch (s->mode) {
	case NBDC_MODE_URI:
		r = nbd_aio_connect_uri(h, s->uri);
		break;
	case NBDC_MODE_UNIX:
		r = nbd_aio_connect_unix(h, s->unix_path);
		break;
	case NBDC_MODE_TCP:
		r = nbd_aio_connect_tcp(h, s->host, s->port);
		break;
	case NBDC_MODE_DIALER:
		r = s->dialer.dial(s->dialer.opaque, &fd, err);
		if (r < 0)
			return r;
		r = nbd_aio_connect_socket(h, fd); /* on success the handle owns fd */
		if (r < 0)
			close(fd);
		break;
	}
	return r < 0 ? 1 : 0;
}

/* The message for a failed connection attempt; a dialed server that died explains itself. */
static int connect_error(struct nbdc_state *s, struct err *err)
{
	int e = nbd_get_errno();
	const char *msg = nbd_get_error();
	char why[ERR_MSG_MAX - 64];

	if (s->mode == NBDC_MODE_DIALER && s->dialer.explain &&
	    s->dialer.explain(s->dialer.opaque, 1000, why, sizeof(why)))
		return err_set(err, -EIO, "%s", why);
	return err_set(err, e > 0 ? -e : -EIO, "%s", msg ? msg : "connection failed");
}

/* Connect and negotiate a new handle within @limit_ms. */
static int conn_open(struct nbdc_state *s, uint64_t limit_ms, struct nbdc_server_info *info,
		     struct nbdc_conn **out, struct err *err)
{
	uint64_t deadline = clock_now_ns() + limit_ms * 1000000u;
	struct nbd_handle *h = nbd_create();
	struct nbdc_conn *c;
	int r;

	if (!h)
		return err_set(err, -ENOMEM, "%s", nbd_get_error());
	if (nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
	    nbd_add_meta_context(h, "qemu:allocation-depth") < 0 ||
	    (s->export_name && nbd_set_export_name(h, s->export_name) < 0))
		goto fail_nbd;
	r = start_connect(s, h, err);
	if (r < 0) {
		nbd_close(h);
		return r;
	}
	if (r > 0)
		goto fail_nbd;
	while (nbd_aio_is_connecting(h)) {
		uint64_t t = clock_now_ns();

		if (t >= deadline || is_closing(s)) {
			nbd_close(h);
			if (s->mode == NBDC_MODE_DIALER && s->dialer.hang_up)
				s->dialer.hang_up(s->dialer.opaque);
			return err_set(err, -ETIMEDOUT, "no answer within %llu ms",
				       (unsigned long long)limit_ms);
		}
		if (nbd_poll(h, (int)MIN((deadline - t) / 1000000u + 1, 100u)) < 0 &&
		    nbd_get_errno() != EINTR)
			break;
	}
	if (!nbd_aio_is_ready(h))
		goto fail_nbd;
	r = read_info(h, info, err);
	if (r < 0) {
		nbd_close(h);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		nbd_close(h);
		return err_set(err, -ENOMEM, "out of memory");
	}
	c->h = h;
	c->refs = 1;
	*out = c;
	return 0;
fail_nbd:
	r = connect_error(s, err);
	nbd_close(h);
	return r;
}

/* ---- issuing ------------------------------------------------------------------------ */

static int cmd_done(void *opaque, int *error);

static int extent_cb(void *opaque, const char *ctx, uint64_t off, uint32_t *e, size_t n, int *error)
{
	struct nbdc_extent *x = opaque;

	(void)off;
	(void)error;
	if (n < 2)
		return 0;
	if (!strcmp(ctx, LIBNBD_CONTEXT_BASE_ALLOCATION)) {
		x->have_base = true;
		x->base_len = e[0];
		x->base_flags = e[1];
	} else if (!strcmp(ctx, "qemu:allocation-depth")) {
		x->have_depth = true;
		x->depth_len = e[0];
		x->depth = e[1];
	}
	return 0;
}

/* The contiguous buffer libnbd needs: the single iovec, or a bounce buffer. */
static void *rq_buffer(struct blk_req *r)
{
	void *p;

	if (r->iovcnt == 1)
		return r->iov[0].iov_base;
	if (r->drv[RQ_FLAGS] & RQ_BOUNCE)
		return (void *)r->drv[RQ_AUX];
	p = malloc(r->len);
	if (!p)
		return NULL;
	if (r->op == BLK_OP_WRITE)
		iov_to_buf(r->iov, r->iovcnt, 0, p, r->len);
	r->drv[RQ_AUX] = (uintptr_t)p;
	r->drv[RQ_FLAGS] |= RQ_BOUNCE;
	return p;
}

static int64_t issue_op(struct nbd_handle *h, struct blk_req *r, nbd_completion_callback cb)
{
	uint32_t fua = (r->flags & BLK_REQ_FUA) ? LIBNBD_CMD_FLAG_FUA : 0;
	uint32_t zfl = fua;
	void *buf = NULL;

	if (r->op == BLK_OP_READ || r->op == BLK_OP_WRITE) {
		buf = rq_buffer(r);
		if (!buf) {
			errno = ENOMEM;
			return -2;
		}
	}
	switch (r->op) {
	case BLK_OP_READ:
		return nbd_aio_pread(h, buf, r->len, r->off, cb, 0);
	case BLK_OP_WRITE:
		return nbd_aio_pwrite(h, buf, r->len, r->off, cb, fua);
	case BLK_OP_FLUSH:
		return nbd_aio_flush(h, cb, 0);
	case BLK_OP_DISCARD:
		return nbd_aio_trim(h, r->len, r->off, cb, 0);
	case BLK_OP_WRITE_ZEROES:
		if (!(r->flags & BLK_REQ_MAY_UNMAP))
			zfl |= LIBNBD_CMD_FLAG_NO_HOLE;
		if (r->flags & BLK_REQ_NO_FALLBACK)
			zfl |= LIBNBD_CMD_FLAG_FAST_ZERO;
		return nbd_aio_zero(h, r->len, r->off, cb, zfl);
	}
	errno = EINVAL;
	return -2;
}

/*
 * Send @r on @c.  0: in flight, cmd_done() will run (maybe already has, in another
 * thread); -ENOTCONN: the connection is gone and @r was not sent; else the request failed.
 */
int nbdc_conn_issue(struct nbdc_state *s, struct nbdc_conn *c, struct blk_req *r,
		    struct nbdc_extent *ext)
{
	nbd_completion_callback cb = { .callback = cmd_done, .user_data = r };
	int64_t cookie;
	int e;

	if (ext) {
		nbd_extent_callback ecb = { .callback = extent_cb, .user_data = ext };

		cookie = nbd_aio_block_status(c->h, r->len, r->off, ecb, cb,
					      LIBNBD_CMD_FLAG_REQ_ONE);
	} else {
		cookie = issue_op(c->h, r, cb);
	}
	if (cookie >= 0)
		return 0;
	if (cookie == -2)
		return -errno;
	if (nbdc_conn_is_gone(c))
		return -ENOTCONN;
	e = nbd_get_errno();
	log_err_ratelimited("nbd: %s: %s", s->desc, nbd_get_error());
	return e > 0 ? -e : -EIO;
}

static void account_locked(struct nbdc_state *s, struct blk_req *r)
{
	switch (r->op) {
	case BLK_OP_WRITE:
	case BLK_OP_WRITE_ZEROES:
	case BLK_OP_DISCARD:
		if (!(r->flags & BLK_REQ_FUA))
			s->wgen++;
		break;
	case BLK_OP_FLUSH:
		if (r->drv[RQ_AUX] > s->fgen)
			s->fgen = r->drv[RQ_AUX];
		break;
	default:
		break;
	}
}

/* libnbd's completion callback: any thread that drives the socket, handle lock held.
 * Records the result only (no libnbd calls). */
static int cmd_done(void *opaque, int *error)
{
	struct blk_req *r = opaque;
	struct nbdc_state *s = rq_state(r);
	int e = *error;

	if (e == 0 && r->op == BLK_OP_READ && (r->drv[RQ_FLAGS] & RQ_BOUNCE))
		iov_from_buf(r->iov, r->iovcnt, 0, (void *)r->drv[RQ_AUX], r->len);
	pthread_mutex_lock(&s->lock);
	if (e == 0) {
		account_locked(s, r);
		nbdc_rq_finish_locked(s, r, 0);
	} else if (is_link_errno(e) && s->retry_inflight &&
		   (s->link == NBDC_LINK_UP || s->link == NBDC_LINK_RECONNECTING)) {
		/* lost with the connection: issued again once it is back */
		if (rq_is_waiter(r)) {
			r->drv[RQ_FLAGS] |= RQ_LOST | RQ_DONE;
			pthread_cond_broadcast(&s->cond);
		} else {
			nbdc_rq_push(&s->pending, r);
			if (s->link == NBDC_LINK_UP)
				schedule_bh_locked(s);
		}
	} else {
		nbdc_rq_finish_locked(s, r, is_link_errno(e) ? s->lost_errno : -e);
	}
	pthread_mutex_unlock(&s->lock);
	return 1;
}

/* ---- link state ------------------------------------------------------------------------ */

static void *rc_main(void *opaque);

static void rc_start_locked(struct nbdc_state *s)
{
	if (s->rc_running)
		return;
	if (s->rc_started)
		pthread_join(s->rc_thread, NULL); /* it has left its loop */
	s->rc_started = false;
	if (pthread_create(&s->rc_thread, NULL, rc_main, s) != 0) {
		log_err("nbd: %s: cannot start the reconnect thread; the device is gone", s->desc);
		s->link = NBDC_LINK_GONE;
		fail_pending_locked(s);
		return;
	}
	s->rc_started = s->rc_running = true;
}

/* @c is unusable: leave UP (once), start reconnecting. */
void nbdc_link_down(struct nbdc_state *s, struct nbdc_conn *c, const char *why)
{
	bool wait;

	pthread_mutex_lock(&s->lock);
	if (s->conn != c || s->link != NBDC_LINK_UP) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	s->conn = NULL;
	wait = s->reconnect_ms > 0;
	s->deadline_ns = clock_now_ns() + s->reconnect_ms * 1000000u;
	s->link = wait ? NBDC_LINK_RECONNECTING : NBDC_LINK_FAILED;
	if (s->info.can_flush && s->wgen != s->fgen)
		s->lost_writes = true;
	if (!wait)
		fail_pending_locked(s);
	rc_start_locked(s);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (wait)
		log_err("nbd: %s: connection lost (%s); reconnecting, I/O waits up to %llu ms",
			s->desc, why, (unsigned long long)s->reconnect_ms);
	else
		log_err("nbd: %s: connection lost (%s); I/O fails with %s until reconnected",
			s->desc, why, errno_name(s->lost_errno));
	nbdc_conn_unref(s, c); /* s->conn's reference */
}

static void link_up_locked(struct nbdc_state *s, struct nbdc_conn *c)
{
	s->conn = c;
	s->link = NBDC_LINK_UP;
	pthread_cond_broadcast(&s->cond);
	schedule_bh_locked(s); /* the loop watches the new socket and re-issues pending */
}

/*
 * 1: go ahead on *c (a reference); 0: wait for the link; <0: fail now.
 * A flush after a lost connection reports (once) that acknowledged writes may be gone.
 */
int nbdc_link_acquire_locked(struct nbdc_state *s, struct blk_req *r, struct nbdc_conn **c)
{
	switch (s->link) {
	case NBDC_LINK_UP:
		if (r->op == BLK_OP_FLUSH && s->lost_writes) {
			s->lost_writes = false;
			s->fgen = s->wgen;
			log_err("nbd: %s: flush failed: writes acknowledged before the connection "
				"was lost may not have reached stable storage",
				s->desc);
			return -EIO;
		}
		if (r->op == BLK_OP_FLUSH)
			r->drv[RQ_AUX] = s->wgen;
		*c = nbdc_conn_ref_locked(s->conn);
		return 1;
	case NBDC_LINK_RECONNECTING:
		return 0;
	default:
		return s->lost_errno;
	}
}

static bool is_permanent(int r)
{
	return r == -ENOLINK || r == -ESTALE;
}

/* One reconnect attempt, bounded by connect-timeout and, while requests wait, by their
 * deadline.  Called and returns with s->lock held. */
static int rc_attempt_locked(struct nbdc_state *s, struct nbdc_conn **c, struct err *err)
{
	struct nbdc_server_info info;
	uint64_t limit = s->connect_ms, t = clock_now_ns();
	int r;

	if (s->link == NBDC_LINK_RECONNECTING && s->deadline_ns > t)
		limit = MIN(limit, MAX((s->deadline_ns - t) / 1000000u, 200u));
	pthread_mutex_unlock(&s->lock);
	r = conn_open(s, limit, &info, c, err);
	if (r == 0 && info.size != s->info.size) {
		nbdc_conn_unref(s, *c);
		r = err_set(err, -ESTALE, "the export's size changed from %llu to %llu",
			    (unsigned long long)s->info.size, (unsigned long long)info.size);
	}
	pthread_mutex_lock(&s->lock);
	return r;
}

static void *rc_main(void *opaque)
{
	struct nbdc_state *s = opaque;
	uint64_t backoff = BACKOFF_MIN_MS;
	unsigned int attempts = 0;

	pthread_mutex_lock(&s->lock);
	while (s->link == NBDC_LINK_RECONNECTING || s->link == NBDC_LINK_FAILED) {
		struct nbdc_conn *c = NULL;
		struct err err;
		uint64_t wake;
		int r;

		err_init(&err);
		r = rc_attempt_locked(s, &c, &err);
		if (r == 0 && !s->closing) {
			link_up_locked(s, c);
			log_info("nbd: %s: reconnected", s->desc);
			break;
		}
		if (r == 0) {
			pthread_mutex_unlock(&s->lock);
			nbdc_conn_unref(s, c);
			pthread_mutex_lock(&s->lock);
			break;
		}
		if (s->closing)
			break;
		if (is_permanent(r)) {
			log_err("nbd: %s: %s; giving up, I/O fails with %s", s->desc, err.msg,
				errno_name(s->lost_errno));
			s->link = NBDC_LINK_GONE;
			fail_pending_locked(s);
			break;
		}
		attempts++;
		if (!(attempts & (attempts - 1)) || attempts % 32 == 0) /* 1, 2, 4, ... */
			log_warn("nbd: %s: reconnect attempt %u failed: %s", s->desc, attempts,
				 err.msg);
		if (s->link == NBDC_LINK_RECONNECTING && clock_now_ns() >= s->deadline_ns) {
			log_err("nbd: %s: server not back within %llu ms; I/O fails with %s "
				"until it is",
				s->desc, (unsigned long long)s->reconnect_ms,
				errno_name(s->lost_errno));
			s->link = NBDC_LINK_FAILED;
			fail_pending_locked(s);
		}
		wake = clock_now_ns() + backoff * 1000000u;
		if (s->link == NBDC_LINK_RECONNECTING)
			wake = MIN(wake, s->deadline_ns);
		nbdc_cond_wait_until(s, wake);
		backoff = MIN(backoff * 2, (uint64_t)BACKOFF_MAX_MS);
	}
	s->rc_running = false;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- open and close ------------------------------------------------------------------- */

void nbdc_engine_init(struct nbdc_state *s)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->link = NBDC_LINK_GONE;
	s->loop_fd = -1;
	s->hook = -1;
}

int nbdc_engine_connect(struct nbdc_state *s, struct err *err)
{
	struct nbdc_conn *c = NULL;
	int r = conn_open(s, s->connect_ms, &s->info, &c, err);

	if (r < 0)
		return r;
	pthread_mutex_lock(&s->lock);
	s->conn = c;
	s->link = NBDC_LINK_UP;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Tell the server goodbye (NBD_CMD_DISC), waiting a little for it to close. */
static void conn_disconnect(struct nbdc_conn *c)
{
	uint64_t deadline = clock_now_ns() + DISCONNECT_MS * 1000000u;

	if (!nbd_aio_is_ready(c->h) || nbd_aio_disconnect(c->h, 0) < 0)
		return;
	while (!nbdc_conn_is_gone(c) && clock_now_ns() < deadline)
		if (nbd_poll(c->h, 100) < 0 && nbd_get_errno() != EINTR)
			break;
}

void nbdc_engine_close(struct nbdc_state *s)
{
	struct nbdc_conn *c;
	bool join;

	pthread_mutex_lock(&s->lock);
	s->closing = true;
	s->link = NBDC_LINK_GONE;
	c = s->conn;
	s->conn = NULL;
	join = s->rc_started;
	s->rc_started = false;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (join)
		pthread_join(s->rc_thread, NULL);
	if (c) {
		conn_disconnect(c);
		nbdc_conn_unref(s, c);
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
}
