/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nbd driver's private interface: nbd.c (options, driver ops) over the engine's two
 * layers: nbd-io.c (async requests in the attached loop, blocking waiters) over
 * nbd-conn.c (connections, the link state, issuing and completing commands,
 * reconnecting).  Nothing in nbd-conn.c calls nbd-io.c: completions reach the loop
 * through its bottom half, which nbd-conn.c only schedules.
 *
 * One libnbd handle (one connection) per node; every command goes through libnbd's
 * asynchronous API with a completion callback, so any number of requests are in flight:
 *  - async requests (blk_req_submit) are issued from the attached loop, which watches the
 *    socket (aio_set_fd with libnbd's direction, refreshed by a flush hook) and completes
 *    them in a bottom half;
 *  - blocking ops (any thread, several at once) issue the same way and sleep on a
 *    condition variable while the attached loop drives the socket.  With no loop attached
 *    (tools, probing), or when called from the loop thread itself, or when the loop stops
 *    turning, the caller drives the socket itself with nbd_poll().
 * libnbd runs completion callbacks with its handle lock held and they may run in any
 * thread that drives the socket, so callbacks only record results (under nbdc_state.lock,
 * which is never held while calling libnbd).
 *
 * When the connection drops, a reconnect thread retries with backoff.  Requests issued
 * meanwhile wait up to reconnect-timeout, then fail with -EIO (and keep failing fast until
 * the server is back).  Requests in flight at the loss are retried on the new connection
 * (server mode) or failed with -EIO (a dialer's choice: a restarted helper lost its caches).  If
 * writes were acknowledged since the last successful flush, the next flush fails with -EIO: the
 * server may have lost them.
 */
#ifndef QT_BLOCK_NBD_INT_H
#define QT_BLOCK_NBD_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block-driver.h"
#include "nbd.h"
#include "util/aio.h"

struct nbd_handle;
struct err;
struct opts;

enum nbdc_mode {
	NBDC_MODE_URI,	  /* nbd://, nbd+unix://, nbds:// ... */
	NBDC_MODE_UNIX,	  /* server=unix:/path, server.type=unix */
	NBDC_MODE_TCP,	  /* server=host:port, server.type=inet */
	NBDC_MODE_DIALER, /* a server another driver runs (nbd.h: struct nbd_dialer) */
};

enum nbdc_link {
	NBDC_LINK_UP,
	NBDC_LINK_RECONNECTING, /* requests wait until the deadline */
	NBDC_LINK_FAILED,	/* requests fail with -EIO; reconnecting goes on */
	NBDC_LINK_GONE,		/* for good: closing, or the dialer gave up */
};

/* One connection; reference counted (under nbdc_state.lock), closed by the last unref. */
struct nbdc_conn {
	struct nbd_handle *h;
	int refs;
};

/* A FIFO of requests linked through a private slot of struct blk_req. */
struct nbdc_rq_list {
	struct blk_req *head, *tail;
};

/* What the server offered on the first connection (reconnects must offer the same size). */
struct nbdc_server_info {
	uint64_t size;
	uint32_t min_block, pref_block, max_block; /* 0 = not advertised */
	bool read_only, can_flush, can_fua, can_trim, can_zero, can_fast_zero;
	bool has_base_allocation, has_allocation_depth;
};

struct nbdc_state {
	/* configuration, fixed after open */
	enum nbdc_mode mode;
	char *uri, *unix_path, *host, *port, *export_name;
	char *desc; /* for messages: the URI, unix:PATH, host:port or the dialer's */
	uint64_t reconnect_ms, connect_ms;
	bool retry_inflight;
	int lost_errno; /* what requests fail with while the server is lost (-EIO by default) */
	struct nbd_dialer dialer; /* NBDC_MODE_DIALER (desc not used: see desc) */
	struct nbdc_server_info info;

	pthread_mutex_t lock; /* everything below; never held while calling libnbd */
	pthread_cond_t cond;  /* link changes, waiter completions, closing */
	enum nbdc_link link;
	struct nbdc_conn *conn;	     /* the current connection while UP (holds a ref) */
	uint64_t deadline_ns;	     /* RECONNECTING: when waiting requests fail */
	struct nbdc_rq_list pending; /* async requests waiting for the link (FIFO) */
	struct nbdc_rq_list done;    /* async completions for the loop's bottom half */
	bool bh_scheduled;
	bool closing;
	bool driving;		     /* a blocking waiter is polling the socket */
	bool rc_running, rc_started; /* the reconnect thread */
	pthread_t rc_thread;
	uint64_t wgen, fgen; /* writes acknowledged / covered by a successful flush */
	bool lost_writes;    /* the next flush reports that writes may have been lost */

	/* the attached loop (its thread only, except ctx and loop_turns) */
	struct aio_ctx *ctx;
	struct aio_bh bh;
	int hook;
	struct nbdc_conn *loop_conn; /* registered with aio_set_fd (holds a ref) */
	int loop_fd;
	unsigned int loop_dir;
	uint64_t loop_turns; /* atomic: the loop's heartbeat, for blocking waiters */
};

/* Block status of one range, from the server's meta contexts. */
struct nbdc_extent {
	bool have_base, have_depth;
	uint32_t base_len, base_flags;
	uint32_t depth_len, depth;
};

extern const struct blk_driver blk_driver_nbd; /* nbd.c */
/* nbd.c: the node's options (or its open_arg dialer) into bs->opaque's configuration,
 * connecting nowhere (open's first step; the fuzzer's entry point), and freeing it. */
int nbdc_parse(struct blk_node *bs, struct opts *o, struct err *err);
void nbdc_free_config(struct nbdc_state *s);

/* Engine (nbd-conn.c). */
void nbdc_engine_init(struct nbdc_state *s);
/* First connection at open: fills s->info.  Bounded by connect-timeout. */
int nbdc_engine_connect(struct nbdc_state *s, struct err *err);
/* Stop the reconnect thread and close the connection.  No request may be in flight and
 * no loop attached (nbdc_engine_attach(s, NULL) first). */
void nbdc_engine_close(struct nbdc_state *s);
int nbdc_engine_attach(struct nbdc_state *s, struct aio_ctx *ctx);
/* Async: always takes the request; completes it later in the attached loop. */
void nbdc_engine_submit(struct nbdc_state *s, struct blk_req *req);
/* Blocking, any thread: run one command (@req: op/flags/off/len/iov/iovcnt set;
 * @ext non-NULL makes it a block status query of [off, off+len)). */
int nbdc_engine_run(struct nbdc_state *s, struct blk_req *req, struct nbdc_extent *ext);

/* ---- shared by nbd-conn.c and nbd-io.c -------------------------------------------- */

/* struct blk_req private slots (drv[]) */
enum {
	RQ_AUX,
	RQ_NEXT,
	RQ_RET,
	RQ_FLAGS
};
#define RQ_WAITER (1u << 0) /* a blocking op (struct nbdc_waiter) */
#define RQ_DONE (1u << 1)   /* waiters: finished */
#define RQ_LOST (1u << 2)   /* waiters: lost with the connection, to be issued again */
#define RQ_BOUNCE (1u << 3) /* RQ_AUX is our bounce buffer (several iovecs) */

#define SLICE_MS 50  /* waiters re-check the loop and deadlines this often */
#define DRIVE_MS 100 /* a waiter driving the socket polls this long at most */

struct nbdc_waiter {
	struct blk_req req;
	struct nbdc_state *s;
};

/* s->lock held; wakes on s->cond or at @ns (CLOCK_MONOTONIC) */
void nbdc_cond_wait_until(struct nbdc_state *s, uint64_t ns);
void nbdc_rq_push(struct nbdc_rq_list *l, struct blk_req *r);
struct blk_req *nbdc_rq_take_all(struct nbdc_rq_list *l);
struct blk_req *nbdc_rq_next(const struct blk_req *r);
void nbdc_rq_free_bounce(struct blk_req *r);
/* A final result (s->lock held): waiters wake, async requests complete in the loop. */
void nbdc_rq_finish_locked(struct nbdc_state *s, struct blk_req *r, int ret);
struct nbdc_conn *nbdc_conn_ref_locked(struct nbdc_conn *c);
void nbdc_conn_unref(struct nbdc_state *s, struct nbdc_conn *c);
bool nbdc_conn_is_gone(struct nbdc_conn *c);
/* Send @r (@ext: block status).  0: in flight; -ENOTCONN: not sent, the connection is
 * gone; else failed. */
int nbdc_conn_issue(struct nbdc_state *s, struct nbdc_conn *c, struct blk_req *r,
		    struct nbdc_extent *ext);
/* @c is unusable: leave UP (once) and start reconnecting. */
void nbdc_link_down(struct nbdc_state *s, struct nbdc_conn *c, const char *why);
/* s->lock held.  1: go ahead on *c (a reference); 0: wait for the link; <0: fail now. */
int nbdc_link_acquire_locked(struct nbdc_state *s, struct blk_req *r, struct nbdc_conn **c);

#endif
