/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Requests to a network image's helper, watched (see netio.h). */
#include "netio.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helper.h"
#include "util/clock.h"
#include "util/log.h"

#define TICK_MS 200 /* how often the watchdog looks */

struct qemu_netio {
	struct qemu_helper *helper;
	char *desc;
	uint64_t timeout_ns;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct netio_req *head; /* requests in flight */
	bool stopping, has_thread;
	pthread_t thread;
};

static void kill_helper(struct qemu_netio *n, const char *why)
{
	log_err("qemu helper for %s: %s; restarting it", n->desc, why);
	qemu_helper_kill(n->helper);
}

static void *watchdog(void *opaque)
{
	struct qemu_netio *n = opaque;

	pthread_mutex_lock(&n->lock);
	while (!n->stopping) {
		uint64_t now = clock_now_ns(), oldest = now;
		struct timespec ts;
		bool stuck = false;

		for (struct netio_req *r = n->head; r; r = r->next) {
			if (r->handled || now - r->start_ns < n->timeout_ns)
				continue;
			stuck = true;
			oldest = r->start_ns < oldest ? r->start_ns : oldest;
		}
		if (stuck) {
			char why[96];

			/* every request in flight is sent again to the new helper */
			for (struct netio_req *r = n->head; r; r = r->next)
				r->handled = true;
			pthread_mutex_unlock(&n->lock);
			snprintf(why, sizeof(why), "a request has had no answer for %llu ms",
				 (unsigned long long)((now - oldest) / 1000000u));
			kill_helper(n, why);
			pthread_mutex_lock(&n->lock);
		}
		now = clock_now_ns() + TICK_MS * 1000000ull;
		ts.tv_sec = (time_t)(now / 1000000000u);
		ts.tv_nsec = (long)(now % 1000000000u);
		pthread_cond_timedwait(&n->cond, &n->lock, &ts);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int netio_new(struct qemu_helper *h, const char *desc, uint64_t timeout_ms, struct qemu_netio **out)
{
	struct qemu_netio *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;

	if (!n || !(n->desc = strdup(desc))) {
		free(n);
		return -ENOMEM;
	}
	n->helper = h;
	n->timeout_ns = timeout_ms * 1000000u;
	pthread_mutex_init(&n->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (timeout_ms && pthread_create(&n->thread, NULL, watchdog, n) != 0) {
		netio_free(n);
		return -EAGAIN;
	}
	n->has_thread = timeout_ms != 0;
	*out = n;
	return 0;
}

void netio_free(struct qemu_netio *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	if (n->has_thread)
		pthread_join(n->thread, NULL);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n->desc);
	free(n);
}

void netio_begin(struct qemu_netio *n, struct netio_req *r)
{
	r->start_ns = clock_now_ns();
	r->handled = false;
	r->prev = NULL;
	pthread_mutex_lock(&n->lock);
	r->next = n->head;
	if (n->head)
		n->head->prev = r;
	n->head = r;
	pthread_mutex_unlock(&n->lock);
}

/* An answer about the request itself, not about the server's state. */
static bool is_verdict(int ret)
{
	return ret == -ENOSPC || ret == -EDQUOT || ret == -EROFS || ret == -EPERM ||
	       ret == -EACCES || ret == -ENOTSUP || ret == -EOPNOTSUPP || ret == -EFBIG;
}

int netio_end(struct qemu_netio *n, struct netio_req *r, bool flush, int ret)
{
	char why[96];

	pthread_mutex_lock(&n->lock);
	if (r->prev)
		r->prev->next = r->next;
	else
		n->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	pthread_mutex_unlock(&n->lock);
	if (ret >= 0 || is_verdict(ret) || ret == -ENOTCONN)
		return ret;
	if (flush && ret == -EIO)
		return ret; /* the nbd engine's "writes may be lost", or the server's */
	snprintf(why, sizeof(why), "a %s failed (%s): the server may be gone",
		 flush ? "flush" : "request", strerror(-ret));
	kill_helper(n, why);
	/* a failed flush may have lost writes: not to be retried as if nothing happened */
	return flush ? -EIO : -ENOTCONN;
}
