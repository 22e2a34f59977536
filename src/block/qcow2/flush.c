/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Metadata write-back in dependency order (docs/QCOW2.md, "Metadata write ordering"): what
 * a pointer write needs first (qcow2_write_deps), every dirty piece of metadata in order
 * at a flush (qcow2_flush_meta), and the driver's flush.  Above the metadata files
 * (cache, refcount, reserve, cluster), which it drives; the L2 cache reaches
 * qcow2_write_deps only through its before_write hook, set at open.
 */
#include "qcow2-int.h"

#include <errno.h>

/*
 * Before an L2/L1 entry may be written: new tables and refcount blocks (t_dirty) are
 * durable before the refcount-table entries pointing at them, and whatever the entries
 * need (need_sync: refcounts and file length of directly allocated clusters, data copied
 * from an old cluster) is durable before them.  Clusters taken from the reserve need
 * nothing: their refcounts and the file length went out a flush earlier (reserve.c).
 */
int qcow2_write_deps(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	int r = 0;

	if (s->t_dirty && s->rt_any_dirty && (r = qcow2_sync(bs)) < 0)
		return r;
	if ((r = qcow2_write_rt(bs)) < 0 || (r = qcow2_cache_writeback(bs, &s->rbc)) < 0)
		return r;
	if (s->need_data_sync) {
		if ((r = blk_flush(s->data_file)) < 0)
			return r;
		s->need_data_sync = false;
	}
	if (s->t_dirty || s->need_sync)
		r = qcow2_sync(bs);
	return r;
}

/* Write every dirty piece of metadata in dependency order (the caller holds the lock). */
int qcow2_flush_meta(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	int r = 0;

	if (s->corrupt)
		return -EIO; /* nothing but the corrupt bit is written after an inconsistency */
	if (s->data_file) {
		if ((r = blk_flush(s->data_file)) < 0)
			return r;
		s->need_data_sync = false;
	}
	if (s->l2c.ndirty || s->l1_any_dirty)
		r = qcow2_write_deps(bs);
	if (r == 0)
		r = qcow2_cache_writeback(bs, &s->l2c);
	if (r == 0)
		r = qcow2_write_l1(bs);
	if (r < 0)
		return r;
	qcow2_frees_written(s);
	r = qcow2_apply_ripe_frees(bs, !(bs->open_flags & BLK_O_NO_FLUSH));
	if (r == 0 && !s->closing)
		r = qcow2_rsv_refill(bs);
	/* a refcount block made now gets its table entry in the next epoch */
	if (r == 0 && !(s->t_dirty && s->rt_any_dirty))
		r = qcow2_write_rt(bs);
	if (r == 0)
		r = qcow2_cache_writeback(bs, &s->rbc);
	if (r == 0)
		qcow2_rsv_stamp(s);
	return r;
}

/* Metadata in order, then the one sync that ends the epoch (the core does not flush
 * bs->file again: flush_syncs_file). */
int qcow2_flush(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	int r;

	qcow2_lock(s);
	r = qcow2_flush_meta(bs);
	if (r == 0)
		r = qcow2_sync(bs);
	qcow2_unlock(s);
	return r;
}
