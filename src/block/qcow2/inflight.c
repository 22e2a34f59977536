/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Allocations in flight: the guest clusters whose L2 entries an allocating write (the
 * blocking path's or the async path's) will change once its data is written, a time
 * during which s->lock is not held.  A write, discard or zero-write touching one of them
 * waits on s->cond until that allocation is done (QEMU's handle_dependencies); unrelated
 * allocations proceed.  Everything here runs under s->lock; nothing here calls another
 * file of the driver.
 */
#include "qcow2-int.h"

void qcow2_inflight_add(struct qcow2_state *s, struct qcow2_inflight *fl, uint64_t c0, uint64_t c1)
{
	*fl = (struct qcow2_inflight){ .start = c0, .end = c1, .next = s->inflight };
	s->inflight = fl;
}

bool qcow2_inflight_overlaps(const struct qcow2_state *s, uint64_t c0, uint64_t c1)
{
	for (const struct qcow2_inflight *f = s->inflight; f; f = f->next)
		if (c0 < f->end && f->start < c1)
			return true;
	return false;
}

void qcow2_inflight_remove(struct qcow2_state *s, struct qcow2_inflight *fl)
{
	struct qcow2_inflight **pp = &s->inflight;

	while (*pp && *pp != fl)
		pp = &(*pp)->next;
	if (*pp)
		*pp = fl->next;
	pthread_cond_broadcast(&s->cond);
}

void qcow2_inflight_wait(struct qcow2_state *s, uint64_t c0, uint64_t c1)
{
	while (qcow2_inflight_overlaps(s, c0, c1))
		pthread_cond_wait(&s->cond, &s->lock);
}
