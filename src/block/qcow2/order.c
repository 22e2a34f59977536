/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ordering primitives the rest of the driver stands on: the metadata lock, syncs with
 * their sequence numbers, and the data I/O epochs that hold deferred frees back
 * (docs/QCOW2.md, "Concurrency" and "Metadata write ordering").  Nothing here calls
 * another file of the driver.
 */
#include "qcow2-int.h"

void qcow2_lock(struct qcow2_state *s)
{
	pthread_mutex_lock(&s->lock);
}

bool qcow2_trylock(struct qcow2_state *s)
{
	return pthread_mutex_trylock(&s->lock) == 0;
}

void qcow2_unlock(struct qcow2_state *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* ---- syncs ------------------------------------------------------------------------------ */

void qcow2_sync_completed(struct qcow2_state *s, uint64_t seq)
{
	uint64_t cur = __atomic_load_n(&s->sync_done, __ATOMIC_RELAXED);

	while (cur < seq && !__atomic_compare_exchange_n(&s->sync_done, &cur, seq, true,
							 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
}

int qcow2_sync(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t seq = ++s->sync_seq;
	bool t = s->t_dirty, need = s->need_sync;
	int r;

	s->t_dirty = false;
	s->need_sync = false;
	r = blk_flush(bs->file);
	if (r < 0) {
		s->t_dirty |= t;
		s->need_sync |= need;
		return r;
	}
	s->stat_syncs++;
	qcow2_sync_completed(s, seq);
	return 0;
}

/* ---- data I/O epochs ---------------------------------------------------------------------- */

unsigned int qcow2_io_begin(struct qcow2_state *s)
{
	unsigned int slot = (unsigned int)(s->epoch & 1);

	__atomic_add_fetch(&s->io_count[slot], 1, __ATOMIC_ACQ_REL);
	return slot;
}

void qcow2_io_end(struct qcow2_state *s, unsigned int slot)
{
	__atomic_sub_fetch(&s->io_count[slot], 1, __ATOMIC_ACQ_REL);
}

void qcow2_epoch_advance(struct qcow2_state *s)
{
	/* at most twice: each advance needs the counter of the parity it reuses to be idle */
	for (int i = 0; i < 2; i++)
		if (__atomic_load_n(&s->io_count[(s->epoch + 1) & 1], __ATOMIC_ACQUIRE) == 0)
			s->epoch++;
}
