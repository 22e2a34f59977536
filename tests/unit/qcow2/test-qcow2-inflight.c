/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qcow2 in-flight allocations (inflight.c): overlap of guest cluster ranges, removal in any
 * order, and a waiter that sleeps until the allocation in its way is done. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "block/qcow2/qcow2-int.h"

static void state_init(struct qcow2_state *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
}

static void state_release(struct qcow2_state *s)
{
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
}

static void test_overlaps(void **unused)
{
	struct qcow2_inflight a, b, c;
	struct qcow2_state s;

	(void)unused;
	state_init(&s);
	qcow2_lock(&s);
	assert_false(qcow2_inflight_overlaps(&s, 0, UINT64_MAX));
	qcow2_inflight_add(&s, &a, 2, 5);
	qcow2_inflight_add(&s, &b, 8, 9);
	qcow2_inflight_add(&s, &c, 20, 40);
	assert_false(qcow2_inflight_overlaps(&s, 0, 2)); /* ranges are half open */
	assert_true(qcow2_inflight_overlaps(&s, 4, 6));
	assert_false(qcow2_inflight_overlaps(&s, 5, 8));
	assert_true(qcow2_inflight_overlaps(&s, 0, 100));
	qcow2_inflight_remove(&s, &b); /* the middle one */
	assert_false(qcow2_inflight_overlaps(&s, 5, 20));
	assert_true(qcow2_inflight_overlaps(&s, 39, 41));
	qcow2_inflight_remove(&s, &c);
	assert_true(qcow2_inflight_overlaps(&s, 4, 5));
	qcow2_inflight_remove(&s, &a);
	assert_false(qcow2_inflight_overlaps(&s, 0, UINT64_MAX));
	qcow2_unlock(&s);
	state_release(&s);
}

struct waiter {
	struct qcow2_state *s;
	uint64_t c0, c1;
	bool done;
};

static void *waiter_fn(void *opaque)
{
	struct waiter *w = opaque;

	qcow2_lock(w->s);
	qcow2_inflight_wait(w->s, w->c0, w->c1);
	w->done = true;
	qcow2_unlock(w->s);
	return NULL;
}

static void test_wait(void **unused)
{
	struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
	struct qcow2_inflight a, b;
	struct waiter w;
	struct qcow2_state s;
	pthread_t t;

	(void)unused;
	state_init(&s);
	w = (struct waiter){ .s = &s, .c0 = 3, .c1 = 4 };
	qcow2_lock(&s);
	qcow2_inflight_add(&s, &a, 0, 10);
	qcow2_inflight_add(&s, &b, 3, 4);
	qcow2_unlock(&s);
	assert_int_equal(pthread_create(&t, NULL, waiter_fn, &w), 0);
	nanosleep(&pause, NULL);
	qcow2_lock(&s);
	assert_false(w.done);
	qcow2_inflight_remove(&s, &a); /* wakes it; b is still in the way */
	qcow2_unlock(&s);
	nanosleep(&pause, NULL);
	qcow2_lock(&s);
	assert_false(w.done);
	qcow2_inflight_remove(&s, &b);
	qcow2_unlock(&s);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(w.done);
	state_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overlaps),
		cmocka_unit_test(test_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
