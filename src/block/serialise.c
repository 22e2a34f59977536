/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Serialising requests: see serialise.h. */
#include "serialise.h"

#include <stddef.h>

#include "util/thread-pool.h"

void blk_serial_init(struct blk_serial *s)
{
	*s = (struct blk_serial){ 0 };
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
}

void blk_serial_destroy(struct blk_serial *s)
{
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
}

/*
 * The untracked count and the serialising count are a Dekker pair: a write increments
 * untracked and then reads serialising, an RMW increments serialising and then reads
 * untracked (both sequentially consistent), so at least one of them sees the other.
 */
bool blk_serial_untracked_begin(struct blk_serial *s)
{
	__atomic_add_fetch(&s->untracked, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->serialising, __ATOMIC_SEQ_CST) == 0)
		return true;
	blk_serial_untracked_end(s);
	return false;
}

void blk_serial_untracked_end(struct blk_serial *s)
{
	/* an RMW waiting for the untracked writes to drain sleeps on cond under the lock: it
	 * either saw this decrement or is asleep by the time the lock is ours */
	if (__atomic_sub_fetch(&s->untracked, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&s->serialising, __ATOMIC_SEQ_CST) != 0) {
		pthread_mutex_lock(&s->lock);
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
}

/* An earlier tracked request that @t must wait for. */
static bool must_wait(const struct blk_serial *s, const struct blk_tracked *t)
{
	if (t->serialising && __atomic_load_n(&s->untracked, __ATOMIC_SEQ_CST))
		return true;
	for (const struct blk_tracked *e = s->head; e != t; e = e->next)
		if ((e->serialising || t->serialising) && e->start < t->end && t->start < e->end)
			return true;
	return false;
}

void blk_serial_begin(struct blk_serial *s, struct blk_tracked *t, uint64_t start, uint64_t end,
		      bool serialising)
{
	*t = (struct blk_tracked){ .start = start, .end = end, .serialising = serialising };
	pthread_mutex_lock(&s->lock);
	if (serialising)
		__atomic_add_fetch(&s->serialising, 1, __ATOMIC_SEQ_CST);
	t->seq = s->next_seq++;
	t->prev = s->tail;
	if (s->tail)
		s->tail->next = t;
	else
		s->head = t;
	s->tail = t;
	if (must_wait(s, t)) {
		/* a pool worker asleep here must not keep the pool from running what it waits
		 * for (an untracked write finishing on the pool, say) */
		thread_pool_blocking_begin();
		do
			pthread_cond_wait(&s->cond, &s->lock);
		while (must_wait(s, t));
		thread_pool_blocking_end();
	}
	pthread_mutex_unlock(&s->lock);
}

void blk_serial_end(struct blk_serial *s, struct blk_tracked *t)
{
	pthread_mutex_lock(&s->lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		s->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		s->tail = t->prev;
	if (t->serialising)
		__atomic_sub_fetch(&s->serialising, 1, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

bool blk_serial_idle(struct blk_serial *s)
{
	bool idle;

	pthread_mutex_lock(&s->lock);
	idle = !s->head && !__atomic_load_n(&s->serialising, __ATOMIC_SEQ_CST) &&
	       !__atomic_load_n(&s->untracked, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&s->lock);
	return idle;
}
