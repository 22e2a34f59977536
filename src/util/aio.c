/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "aio.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "clock.h"
#include "compiler.h"

#define AIO_MAX_HOOKS 8
#define AIO_MAX_POLLERS 16
#define AIO_MAX_EVENTS 32
#define AIO_MAX_SKIPS 16 /* iterations in a row that may skip epoll after hook progress */

struct aio_handler {
	int fd;
	aio_fd_cb on_read, on_write;
	void *opaque;
	bool deleted;
	struct aio_handler *next;
};

struct aio_hook {
	aio_fn fn;
	void *opaque;
};

struct aio_poller {
	aio_poll_fn fn;
	void *opaque;
};

struct aio_ctx {
	int epfd;
	int evfd;
	pthread_t owner;
	bool has_owner;
	struct aio_handler *handlers;
	int in_dispatch;
	int progress; /* callbacks run by flush hooks in this iteration */
	int skips;    /* iterations in a row that returned after hook progress */
	struct aio_hook hooks[AIO_MAX_HOOKS];
	struct aio_poller pollers[AIO_MAX_POLLERS];
	uint64_t poll_max_ns; /* 0: no busy polling */
	uint64_t poll_ns;     /* the spin now, adapted within [0, poll_max_ns] */
	pthread_mutex_t bh_lock;
	struct aio_bh *bh_head, **bh_tail;
};

static void aio_evfd_read(void *opaque)
{
	struct aio_ctx *ctx = opaque;
	uint64_t v;

	(void)!read(ctx->evfd, &v, sizeof(v));
}

struct aio_ctx *aio_ctx_new(void)
{
	struct aio_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
	ctx->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&ctx->bh_lock, NULL);
	ctx->bh_tail = &ctx->bh_head;
	if (ctx->epfd < 0 || ctx->evfd < 0 ||
	    aio_set_fd(ctx, ctx->evfd, aio_evfd_read, NULL, ctx)) {
		aio_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

void aio_ctx_free(struct aio_ctx *ctx)
{
	if (!ctx)
		return;
	while (ctx->handlers) {
		struct aio_handler *h = ctx->handlers;

		ctx->handlers = h->next;
		free(h);
	}
	if (ctx->epfd >= 0)
		close(ctx->epfd);
	if (ctx->evfd >= 0)
		close(ctx->evfd);
	pthread_mutex_destroy(&ctx->bh_lock);
	free(ctx);
}

static struct aio_handler *find_handler(struct aio_ctx *ctx, int fd)
{
	for (struct aio_handler *h = ctx->handlers; h; h = h->next)
		if (h->fd == fd && !h->deleted)
			return h;
	return NULL;
}

static void reap_deleted(struct aio_ctx *ctx)
{
	struct aio_handler **pp = &ctx->handlers;

	while (*pp) {
		struct aio_handler *h = *pp;

		if (h->deleted) {
			*pp = h->next;
			free(h);
		} else {
			pp = &h->next;
		}
	}
}

int aio_set_fd(struct aio_ctx *ctx, int fd, aio_fd_cb on_read, aio_fd_cb on_write, void *opaque)
{
	struct aio_handler *h = find_handler(ctx, fd);
	struct epoll_event ev = { 0 };
	int op;

	if (!on_read && !on_write) {
		if (!h)
			return 0;
		epoll_ctl(ctx->epfd, EPOLL_CTL_DEL, fd, NULL);
		h->deleted = true; /* freed outside dispatch: a callback may remove itself */
		if (!ctx->in_dispatch)
			reap_deleted(ctx);
		return 0;
	}
	op = h ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->fd = fd;
		h->next = ctx->handlers;
		ctx->handlers = h;
	}
	h->on_read = on_read;
	h->on_write = on_write;
	h->opaque = opaque;
	ev.events = (on_read ? EPOLLIN : 0) | (on_write ? EPOLLOUT : 0);
	ev.data.ptr = h;
	if (epoll_ctl(ctx->epfd, op, fd, &ev) < 0) {
		int r = -errno;

		h->deleted = true;
		if (!ctx->in_dispatch)
			reap_deleted(ctx);
		return r;
	}
	return 0;
}

int aio_add_flush_hook(struct aio_ctx *ctx, aio_fn fn, void *opaque)
{
	for (int i = 0; i < AIO_MAX_HOOKS; i++) {
		if (!ctx->hooks[i].fn) {
			ctx->hooks[i].fn = fn;
			ctx->hooks[i].opaque = opaque;
			return i;
		}
	}
	return -ENOSPC;
}

void aio_remove_flush_hook(struct aio_ctx *ctx, int handle)
{
	if (handle >= 0 && handle < AIO_MAX_HOOKS)
		ctx->hooks[handle].fn = NULL;
}

int aio_add_poll_handler(struct aio_ctx *ctx, aio_poll_fn fn, void *opaque)
{
	for (int i = 0; i < AIO_MAX_POLLERS; i++) {
		if (!ctx->pollers[i].fn) {
			ctx->pollers[i].fn = fn;
			ctx->pollers[i].opaque = opaque;
			return i;
		}
	}
	return -ENOSPC;
}

void aio_remove_poll_handler(struct aio_ctx *ctx, int handle)
{
	if (handle >= 0 && handle < AIO_MAX_POLLERS)
		ctx->pollers[handle].fn = NULL;
}

void aio_set_poll_ns(struct aio_ctx *ctx, uint64_t ns)
{
	ctx->poll_max_ns = ns;
	ctx->poll_ns = ns;
}

uint64_t aio_poll_ns(const struct aio_ctx *ctx)
{
	return ctx->poll_ns;
}

/* After a wait of @waited ns (spin + sleep): a wait longer than the longest spin allowed
 * would have been missed by any spin, so spin half as long (and not at all below
 * AIO_POLL_MIN_NS); a wait the spin missed but the longest spin would have caught doubles
 * it.  A backend whose completions take milliseconds (a network) stops spinning after a
 * few misses; one that answers in microseconds (the ring, a local SSD) keeps it. */
#define AIO_POLL_MIN_NS 4000u
static void poll_adapt(struct aio_ctx *ctx, uint64_t waited)
{
	if (waited > ctx->poll_max_ns) {
		ctx->poll_ns /= 2;
		if (ctx->poll_ns < AIO_POLL_MIN_NS)
			ctx->poll_ns = 0;
	} else if (waited > ctx->poll_ns) {
		ctx->poll_ns =
			ctx->poll_ns < AIO_POLL_MIN_NS / 2 ? AIO_POLL_MIN_NS : ctx->poll_ns * 2;
		if (ctx->poll_ns > ctx->poll_max_ns)
			ctx->poll_ns = ctx->poll_max_ns;
	}
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

/* Spin over the poll handlers for up to poll_ns; the callbacks run, or 0.  A bottom
 * half scheduled meanwhile ends the spin (its notification is read by epoll after), and
 * so does a ready fd (every fd is level-triggered: the blocking epoll_wait() that
 * follows reports it again), checked every 64 turns: sources without a poll handler
 * (sockets, the loop's eventfd) wait a few microseconds at most, never the whole time. */
static int busy_poll(struct aio_ctx *ctx)
{
	uint64_t end = 0;

	for (unsigned int spins = 0;; spins++) {
		int n = 0;

		for (int i = 0; i < AIO_MAX_POLLERS; i++)
			if (ctx->pollers[i].fn && ctx->pollers[i].fn(ctx->pollers[i].opaque))
				n++;
		if (n)
			return n;
		if (__atomic_load_n(&ctx->bh_head, __ATOMIC_RELAXED))
			return 0;
		if (spins % 64 == 63) {
			struct epoll_event ev;

			if (epoll_wait(ctx->epfd, &ev, 1, 0) > 0)
				return 0;
		}
		if (spins % 16 == 0) {
			uint64_t t = clock_now_ns();

			if (!end)
				end = t + ctx->poll_ns;
			else if (t >= end)
				return 0;
		}
		cpu_relax();
	}
}

void aio_progress(struct aio_ctx *ctx, int n)
{
	ctx->progress += n;
}

void aio_notify(struct aio_ctx *ctx)
{
	uint64_t one = 1;

	(void)!write(ctx->evfd, &one, sizeof(one));
}

/* Owner fields are written by the loop thread and read by any thread: atomics. */
static bool aio_is_owner(const struct aio_ctx *ctx)
{
	return __atomic_load_n(&ctx->has_owner, __ATOMIC_ACQUIRE) &&
	       pthread_equal(__atomic_load_n(&ctx->owner, __ATOMIC_RELAXED), pthread_self());
}

void aio_bh_schedule(struct aio_ctx *ctx, struct aio_bh *bh)
{
	bool was_empty;

	bh->next = NULL;
	pthread_mutex_lock(&ctx->bh_lock);
	was_empty = ctx->bh_head == NULL;
	__atomic_store_n(ctx->bh_tail, bh, __ATOMIC_RELAXED); /* busy_poll() peeks at bh_head */
	ctx->bh_tail = &bh->next;
	pthread_mutex_unlock(&ctx->bh_lock);
	if (was_empty && !aio_is_owner(ctx))
		aio_notify(ctx);
}

static int run_bhs(struct aio_ctx *ctx)
{
	struct aio_bh *list;
	int n = 0;

	pthread_mutex_lock(&ctx->bh_lock);
	list = ctx->bh_head;
	__atomic_store_n(&ctx->bh_head, NULL, __ATOMIC_RELAXED);
	ctx->bh_tail = &ctx->bh_head;
	pthread_mutex_unlock(&ctx->bh_lock);
	while (list) {
		struct aio_bh *bh = list;

		list = bh->next;
		bh->fn(bh->opaque); /* may free or reschedule bh */
		n++;
	}
	return n;
}

static bool bh_pending(struct aio_ctx *ctx)
{
	bool r;

	pthread_mutex_lock(&ctx->bh_lock);
	r = ctx->bh_head != NULL;
	pthread_mutex_unlock(&ctx->bh_lock);
	return r;
}

int aio_poll(struct aio_ctx *ctx, bool blocking)
{
	struct epoll_event ev[AIO_MAX_EVENTS];
	uint64_t t0 = 0;
	int n, count = 0;

	__atomic_store_n(&ctx->owner, pthread_self(), __ATOMIC_RELAXED);
	__atomic_store_n(&ctx->has_owner, true, __ATOMIC_RELEASE);
	ctx->progress = 0;
	for (int i = 0; i < AIO_MAX_HOOKS; i++)
		if (ctx->hooks[i].fn)
			ctx->hooks[i].fn(ctx->hooks[i].opaque);
	count = ctx->progress;
	/* Hooks completed work (io_uring completions found at submission): return without a
	 * system call; the next iteration waits.  Bounded, so that fds are still polled
	 * when every iteration makes progress. */
	if (count && ctx->skips < AIO_MAX_SKIPS) {
		ctx->skips++;
		return count + run_bhs(ctx);
	}
	ctx->skips = 0;
	if (count || bh_pending(ctx))
		blocking = false;
	if (blocking && ctx->poll_max_ns) {
		t0 = clock_now_ns();
		if (ctx->poll_ns) {
			count = busy_poll(ctx);
			if (count)
				return count + run_bhs(ctx);
		}
	}
	n = epoll_wait(ctx->epfd, ev, AIO_MAX_EVENTS, blocking ? -1 : 0);
	if (n < 0 && errno != EINTR)
		return -errno;
	if (t0)
		poll_adapt(ctx, clock_now_ns() - t0);
	ctx->in_dispatch++;
	for (int i = 0; i < n; i++) {
		struct aio_handler *h = ev[i].data.ptr;

		if (h->deleted)
			continue;
		if ((ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && h->on_read) {
			h->on_read(h->opaque);
			count++;
		}
		if (!h->deleted && (ev[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) &&
		    h->on_write) {
			h->on_write(h->opaque);
			count++;
		}
	}
	ctx->in_dispatch--;
	if (!ctx->in_dispatch)
		reap_deleted(ctx);
	count += run_bhs(ctx);
	return count;
}

bool aio_in_ctx_thread(const struct aio_ctx *ctx)
{
	return !__atomic_load_n(&ctx->has_owner, __ATOMIC_ACQUIRE) || aio_is_owner(ctx);
}

static pthread_key_t default_key;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_free(void *p)
{
	aio_ctx_free(p);
}

static void default_key_init(void)
{
	pthread_key_create(&default_key, default_free);
}

struct aio_ctx *aio_ctx_default(void)
{
	struct aio_ctx *ctx;

	pthread_once(&default_once, default_key_init);
	ctx = pthread_getspecific(default_key);
	if (!ctx) {
		ctx = aio_ctx_new();
		pthread_setspecific(default_key, ctx);
	}
	return ctx;
}
