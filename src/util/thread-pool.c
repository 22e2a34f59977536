/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "thread-pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

#define POOL_IDLE_SECONDS 10

struct thread_pool {
	pthread_mutex_t lock;
	pthread_cond_t work_cond;
	pthread_cond_t exit_cond;
	struct pool_work *head, **tail;
	unsigned int max_threads;
	unsigned int nthreads;
	unsigned int idle;
	unsigned int queued;
	unsigned int blocked; /* workers inside thread_pool_blocking_begin/end */
	bool stopping;
};

static _Thread_local struct thread_pool *current_pool; /* of a worker thread */

static void work_done_bh(void *opaque)
{
	struct pool_work *w = opaque;

	w->done(w, w->ret);
}

static void *worker_main(void *opaque)
{
	struct thread_pool *pool = opaque;

	current_pool = pool;
	pthread_mutex_lock(&pool->lock);
	for (;;) {
		struct pool_work *w;

		while (!pool->head && !pool->stopping) {
			struct timespec ts;
			int r;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += POOL_IDLE_SECONDS;
			pool->idle++;
			r = pthread_cond_timedwait(&pool->work_cond, &pool->lock, &ts);
			pool->idle--;
			if (r == ETIMEDOUT && !pool->head)
				goto out;
		}
		if (!pool->head)
			break; /* stopping */
		w = pool->head;
		pool->queued--;
		pool->head = w->next;
		if (!pool->head)
			pool->tail = &pool->head;
		pthread_mutex_unlock(&pool->lock);

		w->ret = w->work(w);
		w->bh.fn = work_done_bh;
		w->bh.opaque = w;
		aio_bh_schedule(w->ctx, &w->bh);

		pthread_mutex_lock(&pool->lock);
	}
out:
	pool->nthreads--;
	pthread_cond_broadcast(&pool->exit_cond);
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

struct thread_pool *thread_pool_new(unsigned int max_threads)
{
	struct thread_pool *pool = calloc(1, sizeof(*pool));

	if (!pool)
		return NULL;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->work_cond, NULL);
	pthread_cond_init(&pool->exit_cond, NULL);
	pool->tail = &pool->head;
	pool->max_threads = max_threads ? max_threads : 1;
	return pool;
}

void thread_pool_free(struct thread_pool *pool)
{
	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	/* workers drain the queue before they see @stopping */
	pool->stopping = true;
	pthread_cond_broadcast(&pool->work_cond);
	while (pool->nthreads)
		pthread_cond_wait(&pool->exit_cond, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->work_cond);
	pthread_cond_destroy(&pool->exit_cond);
	free(pool);
}

/* With the lock held: start a worker if work waits and the pool may grow. */
static void maybe_start_worker(struct thread_pool *pool)
{
	pthread_attr_t attr;
	pthread_t t;

	if (pool->queued <= pool->idle || pool->nthreads - pool->blocked >= pool->max_threads)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1 << 20);
	if (pthread_create(&t, &attr, worker_main, pool) == 0)
		pool->nthreads++;
	else if (pool->nthreads == 0)
		log_err("thread pool: cannot start a worker thread");
	pthread_attr_destroy(&attr);
}

void thread_pool_submit(struct thread_pool *pool, struct aio_ctx *ctx, struct pool_work *w)
{
	w->ctx = ctx;
	w->next = NULL;
	pthread_mutex_lock(&pool->lock);
	*pool->tail = w;
	pool->tail = &w->next;
	pool->queued++;
	maybe_start_worker(pool);
	if (pool->idle)
		pthread_cond_signal(&pool->work_cond);
	pthread_mutex_unlock(&pool->lock);
}

void thread_pool_blocking_begin(void)
{
	struct thread_pool *pool = current_pool;

	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->blocked++;
	maybe_start_worker(pool);
	pthread_mutex_unlock(&pool->lock);
}

void thread_pool_blocking_end(void)
{
	struct thread_pool *pool = current_pool;

	if (!pool)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->blocked--;
	pthread_mutex_unlock(&pool->lock);
}

static struct thread_pool *default_pool;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
	default_pool = thread_pool_new(64);
}

struct thread_pool *thread_pool_default(void)
{
	pthread_once(&default_once, default_init);
	return default_pool;
}
