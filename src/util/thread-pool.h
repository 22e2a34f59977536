/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Worker threads for blocking work (driver ops without an async path, metadata-heavy
 * qcow2 requests, fdatasync).  A work item runs work() in a worker and then done() in
 * the event loop it was submitted from.  Threads are started on demand up to a maximum
 * and exit after being idle for a while.  No allocation per work item: embed it.
 */
#ifndef QT_UTIL_THREAD_POOL_H
#define QT_UTIL_THREAD_POOL_H

#include "aio.h"

struct thread_pool;

struct pool_work {
	int (*work)(struct pool_work *w);	    /* in a worker; returns a status */
	void (*done)(struct pool_work *w, int ret); /* in the submitting loop */
	/* private */
	struct aio_ctx *ctx;
	struct aio_bh bh;
	int ret;
	struct pool_work *next;
};

struct thread_pool *thread_pool_new(unsigned int max_threads);
/* Waits for queued and running work to finish (their done() callbacks are not run). */
void thread_pool_free(struct thread_pool *pool);
void thread_pool_submit(struct thread_pool *pool, struct aio_ctx *ctx, struct pool_work *w);
/* The process-wide pool (64 threads at most), created on first use. */
struct thread_pool *thread_pool_default(void);

/*
 * Around a wait inside work() for something that may itself need a worker (a request
 * waiting for an overlapping one, io.c): the waiting worker does not count against the
 * pool's maximum, so the pool may start another one.  No-ops outside a pool worker.
 */
void thread_pool_blocking_begin(void);
void thread_pool_blocking_end(void);

#endif
