/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Event loop (one per device thread, like QEMU's AioContext): epoll over fds, "bottom
 * halves" that other threads schedule to run in the loop thread, and flush hooks that run
 * once per iteration before the loop sleeps (io_uring submission batching: many requests
 * queued during one pass go to the kernel in one system call).
 *
 * Only aio_bh_schedule() and aio_notify() may be called from other threads; everything
 * else belongs to the thread that runs aio_poll().
 */
#ifndef QT_UTIL_AIO_H
#define QT_UTIL_AIO_H

#include <stdbool.h>
#include <stdint.h>

struct aio_ctx;

typedef void (*aio_fd_cb)(void *opaque);
typedef void (*aio_fn)(void *opaque);

/* A callback that runs in the loop thread; embed it in the object it belongs to. */
struct aio_bh {
	aio_fn fn;
	void *opaque;
	struct aio_bh *next; /* private */
};

struct aio_ctx *aio_ctx_new(void);
/* Fd handlers must have been removed; pending bottom halves are dropped. */
void aio_ctx_free(struct aio_ctx *ctx);

/* Watch @fd for input (@on_read) and/or output (@on_write); both NULL removes it. */
int aio_set_fd(struct aio_ctx *ctx, int fd, aio_fd_cb on_read, aio_fd_cb on_write, void *opaque);

/* Runs @fn every iteration, after the events and before sleeping.  Returns a handle. */
int aio_add_flush_hook(struct aio_ctx *ctx, aio_fn fn, void *opaque);
void aio_remove_flush_hook(struct aio_ctx *ctx, int handle);

/* From a flush hook that ran callbacks (completions it found without waiting): this
 * aio_poll() returns without sleeping, as if an event had been dispatched. */
void aio_progress(struct aio_ctx *ctx, int n);

/*
 * Busy polling, off until aio_set_poll_ns(): before an aio_poll() that would sleep, the
 * loop calls its poll handlers for up to @ns nanoseconds; a handler that finds work does
 * it and returns true, and the iteration returns without sleeping.  For sources that can
 * be checked without a system call (a ring's head index in shared memory, an io_uring
 * completion queue).  Fd events and bottom halves wait at most @ns meanwhile.
 * Adaptive: @ns is the longest spin; the loop spins less (down to not at all) while its
 * waits are longer than @ns, and back up to @ns when they are shorter.
 */
typedef bool (*aio_poll_fn)(void *opaque);
int aio_add_poll_handler(struct aio_ctx *ctx, aio_poll_fn fn, void *opaque);
void aio_remove_poll_handler(struct aio_ctx *ctx, int handle);
void aio_set_poll_ns(struct aio_ctx *ctx, uint64_t ns);
/* The spin the next blocking aio_poll() does now (adapted), in nanoseconds. */
uint64_t aio_poll_ns(const struct aio_ctx *ctx);

/* Thread-safe: queue @bh (fn/opaque set by the caller) to run in the loop thread. */
void aio_bh_schedule(struct aio_ctx *ctx, struct aio_bh *bh);
/* Thread-safe: wake a sleeping aio_poll(). */
void aio_notify(struct aio_ctx *ctx);

/* One iteration: run flush hooks, wait (if @blocking) for events, dispatch them and the
 * scheduled bottom halves.  Returns the number of callbacks run, or -errno. */
int aio_poll(struct aio_ctx *ctx, bool blocking);

/* Thread that last ran aio_poll (for assertions). */
bool aio_in_ctx_thread(const struct aio_ctx *ctx);

/* The loop of the calling thread, created on first use (for blocking tools). */
struct aio_ctx *aio_ctx_default(void);

#endif
