/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The event loop and the thread pool: fd handlers, bottom halves from other threads,
 * flush hooks, and work items whose done() runs back in the submitting loop. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/aio.h"
#include "util/compiler.h"
#include "util/thread-pool.h"

static int reads;

static void on_read(void *opaque)
{
	int fd = *(int *)opaque;
	char c;

	assert_int_equal(read(fd, &c, 1), 1);
	reads++;
}

static void test_fd_handler(void **state)
{
	struct aio_ctx *ctx = aio_ctx_new();
	int p[2];

	(void)state;
	assert_non_null(ctx);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(aio_set_fd(ctx, p[0], on_read, NULL, &p[0]), 0);
	assert_int_equal(aio_poll(ctx, false), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(aio_poll(ctx, true), 1);
	assert_int_equal(reads, 1);
	assert_int_equal(aio_set_fd(ctx, p[0], NULL, NULL, NULL), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(aio_poll(ctx, false), 0);
	close(p[0]);
	close(p[1]);
	aio_ctx_free(ctx);
}

static int hook_calls;

static void hook(void *opaque)
{
	(void)opaque;
	hook_calls++;
}

static void test_flush_hook(void **state)
{
	struct aio_ctx *ctx = aio_ctx_new();
	int h;

	(void)state;
	h = aio_add_flush_hook(ctx, hook, NULL);
	assert_true(h >= 0);
	aio_poll(ctx, false);
	aio_poll(ctx, false);
	assert_int_equal(hook_calls, 2);
	aio_remove_flush_hook(ctx, h);
	aio_poll(ctx, false);
	assert_int_equal(hook_calls, 2);
	aio_ctx_free(ctx);
}

struct bh_arg {
	struct aio_ctx *ctx;
	struct aio_bh bh;
	pthread_t ran_in;
	int ran;
};

static void bh_fn(void *opaque)
{
	struct bh_arg *a = opaque;

	a->ran_in = pthread_self();
	a->ran++;
}

static void *bh_thread(void *opaque)
{
	struct bh_arg *a = opaque;

	a->bh.fn = bh_fn;
	a->bh.opaque = a;
	aio_bh_schedule(a->ctx, &a->bh);
	return NULL;
}

static void test_bh_from_thread(void **state)
{
	struct bh_arg a = { .ctx = aio_ctx_new() };
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, bh_thread, &a), 0);
	/* a blocking poll must wake up for the remote bottom half */
	while (!a.ran)
		aio_poll(a.ctx, true);
	pthread_join(t, NULL);
	assert_int_equal(a.ran, 1);
	assert_true(pthread_equal(a.ran_in, pthread_self()));
	aio_ctx_free(a.ctx);
}

/* Busy polling: a source that no fd reports (a flag another thread sets) is found by
 * a poll handler while a blocking aio_poll() spins; a bottom half ends the spin. */
struct poll_arg {
	struct aio_ctx *ctx;
	int flag;	 /* set by the other thread, no notification */
	int found;	 /* the poll handler's work */
	int calls;	 /* times the handler was called */
	unsigned int ms; /* the other thread's delay */
	bool bh;	 /* the other thread schedules a bottom half instead */
	struct aio_bh b;
	int bh_ran;
};

static bool poll_flag(void *opaque)
{
	struct poll_arg *a = opaque;

	a->calls++;
	if (!__atomic_exchange_n(&a->flag, 0, __ATOMIC_ACQUIRE))
		return false;
	a->found++;
	return true;
}

static void poll_bh_fn(void *opaque)
{
	((struct poll_arg *)opaque)->bh_ran++;
}

static void *poll_thread(void *opaque)
{
	struct poll_arg *a = opaque;

	usleep(a->ms * 1000);
	if (a->bh) {
		a->b.fn = poll_bh_fn;
		a->b.opaque = a;
		aio_bh_schedule(a->ctx, &a->b);
	} else {
		__atomic_store_n(&a->flag, 1, __ATOMIC_RELEASE);
	}
	/* a safety net: if polling missed it, this wakes the loop (and the test fails) */
	usleep(2000 * 1000);
	aio_notify(a->ctx);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_busy_poll(void **state)
{
	struct poll_arg a = { .ctx = aio_ctx_new(), .ms = 20 };
	pthread_t t;
	int h;

	(void)state;
	h = aio_add_poll_handler(a.ctx, poll_flag, &a);
	assert_true(h >= 0);
	aio_set_poll_ns(a.ctx, 10ull * 1000 * 1000 * 1000); /* 10 s: the flag comes first */
	assert_int_equal(pthread_create(&t, NULL, poll_thread, &a), 0);
	assert_int_equal(aio_poll(a.ctx, true), 1); /* the handler's work, no fd event */
	assert_int_equal(a.found, 1);
	assert_true(a.calls > 1);
	pthread_join(t, NULL);
	/* a non-blocking poll does not spin */
	a.calls = 0;
	aio_poll(a.ctx, false);
	assert_int_equal(a.calls, 0);
	/* removed: a blocking poll sleeps until the fd event */
	aio_remove_poll_handler(a.ctx, h);
	a.ms = 0;
	assert_int_equal(pthread_create(&t, NULL, poll_thread, &a), 0);
	while (!__atomic_load_n(&a.flag, __ATOMIC_ACQUIRE))
		usleep(1000);
	aio_poll(a.ctx, true); /* woken by the safety net's notification */
	assert_int_equal(a.found, 1);
	assert_int_equal(a.calls, 0);
	pthread_join(t, NULL);
	aio_ctx_free(a.ctx);
}

static void test_busy_poll_bh(void **state)
{
	struct poll_arg a = { .ctx = aio_ctx_new(), .ms = 20, .bh = true };
	pthread_t t;
	double t0;

	(void)state;
	assert_true(aio_add_poll_handler(a.ctx, poll_flag, &a) >= 0);
	aio_set_poll_ns(a.ctx, 60ull * 1000 * 1000 * 1000); /* a minute of spinning at most */
	assert_int_equal(pthread_create(&t, NULL, poll_thread, &a), 0);
	t0 = now_s();
	while (!a.bh_ran)
		aio_poll(a.ctx, true);
	/* ended by the bottom half, not by the poll time (nor the safety net at 2 s) */
	assert_true(now_s() - t0 < 1.5);
	assert_int_equal(a.found, 0);
	pthread_join(t, NULL);
	aio_ctx_free(a.ctx);
}

static bool poll_count(void *opaque)
{
	(*(int *)opaque)++;
	return false;
}

static void *notify_later(void *opaque)
{
	usleep(20000);
	aio_notify(opaque);
	return NULL;
}

/* Adaptive busy polling: waits longer than the longest spin (a slow backend) turn the
 * spinning off; short waits (an event right after the spin) turn it back on. */
static void test_busy_poll_adapt(void **state)
{
	struct aio_ctx *ctx = aio_ctx_new();
	int calls = 0, i;
	pthread_t t;

	(void)state;
	assert_true(aio_add_poll_handler(ctx, poll_count, &calls) >= 0);
	aio_set_poll_ns(ctx, 100000); /* 100 µs */
	assert_int_equal(aio_poll_ns(ctx), 100000);
	for (i = 0; i < 8; i++) { /* 100 -> 50 -> 25 -> 12.5 -> 6.25 -> 0 */
		assert_int_equal(pthread_create(&t, NULL, notify_later, ctx), 0);
		aio_poll(ctx, true); /* woken after 20 ms, well past 100 µs */
		pthread_join(t, NULL);
	}
	assert_int_equal(aio_poll_ns(ctx), 0);
	calls = 0;
	assert_int_equal(pthread_create(&t, NULL, notify_later, ctx), 0);
	aio_poll(ctx, true);
	pthread_join(t, NULL);
	assert_int_equal(calls, 0); /* slept at once */
	/* an event already there: the wait (a system call) is far below 100 µs, so the spin
	 * grows again (tried a few times: a preempted thread may wait longer) */
	for (i = 0; i < 100 && aio_poll_ns(ctx) == 0; i++) {
		aio_notify(ctx);
		aio_poll(ctx, true);
	}
	assert_true(aio_poll_ns(ctx) > 0);
	assert_true(aio_poll_ns(ctx) <= 100000);
	aio_ctx_free(ctx);
}

struct job {
	struct pool_work w;
	int value;
	int result;
	pthread_t done_in;
	int *completed;
};

static int job_work(struct pool_work *w)
{
	struct job *j = container_of(w, struct job, w);

	usleep(1000);
	return j->value * 2;
}

static void job_done(struct pool_work *w, int ret)
{
	struct job *j = container_of(w, struct job, w);

	j->result = ret;
	j->done_in = pthread_self();
	(*j->completed)++;
}

static void test_thread_pool(void **state)
{
	struct aio_ctx *ctx = aio_ctx_new();
	struct thread_pool *pool = thread_pool_new(4);
	struct job jobs[64];
	int completed = 0;

	(void)state;
	for (int i = 0; i < 64; i++) {
		jobs[i] = (struct job){ .value = i, .completed = &completed };
		jobs[i].w.work = job_work;
		jobs[i].w.done = job_done;
		thread_pool_submit(pool, ctx, &jobs[i].w);
	}
	while (completed < 64)
		aio_poll(ctx, true);
	for (int i = 0; i < 64; i++) {
		assert_int_equal(jobs[i].result, 2 * i);
		assert_true(pthread_equal(jobs[i].done_in, pthread_self()));
	}
	thread_pool_free(pool);
	aio_ctx_free(ctx);
}

/* A worker waiting (inside thread_pool_blocking_begin/end) for work queued behind it: the
 * pool, though full, starts another worker for it. */
struct gate {
	struct pool_work wait, open_it;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	int wait_ret;
	int completed;
};

static int gate_wait_work(struct pool_work *w)
{
	struct gate *g = container_of(w, struct gate, wait);
	struct timespec ts;
	int r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	thread_pool_blocking_begin();
	pthread_mutex_lock(&g->lock);
	while (!g->open && r == 0)
		r = pthread_cond_timedwait(&g->cond, &g->lock, &ts);
	pthread_mutex_unlock(&g->lock);
	thread_pool_blocking_end();
	return r == 0 ? 0 : -ETIMEDOUT;
}

static void gate_wait_done(struct pool_work *w, int ret)
{
	struct gate *g = container_of(w, struct gate, wait);

	g->wait_ret = ret;
	g->completed++;
}

static int gate_open_work(struct pool_work *w)
{
	struct gate *g = container_of(w, struct gate, open_it);

	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

static void gate_open_done(struct pool_work *w, int ret)
{
	(void)ret;
	container_of(w, struct gate, open_it)->completed++;
}

static void test_thread_pool_blocking(void **state)
{
	struct aio_ctx *ctx = aio_ctx_new();
	struct thread_pool *pool = thread_pool_new(1);
	struct gate g = { .wait_ret = 1 };

	(void)state;
	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	g.wait.work = gate_wait_work;
	g.wait.done = gate_wait_done;
	g.open_it.work = gate_open_work;
	g.open_it.done = gate_open_done;
	thread_pool_submit(pool, ctx, &g.wait);
	usleep(10000); /* the pool's only worker is waiting by now (or soon) */
	thread_pool_submit(pool, ctx, &g.open_it);
	while (g.completed < 2)
		aio_poll(ctx, true);
	assert_int_equal(g.wait_ret, 0); /* not -ETIMEDOUT */
	thread_pool_free(pool);
	pthread_mutex_destroy(&g.lock);
	pthread_cond_destroy(&g.cond);
	aio_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_handler),	     cmocka_unit_test(test_flush_hook),
		cmocka_unit_test(test_bh_from_thread),	     cmocka_unit_test(test_thread_pool),
		cmocka_unit_test(test_thread_pool_blocking), cmocka_unit_test(test_busy_poll),
		cmocka_unit_test(test_busy_poll_bh),	     cmocka_unit_test(test_busy_poll_adapt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
