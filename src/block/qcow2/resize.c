/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Resize (blk_truncate), as QEMU 7.2 allows it: to a multiple of 512 bytes; not with
 * persistent bitmaps (we do not maintain them, so we cannot resize them either), not a v2
 * image with snapshots (their size is not recorded).
 *
 * Growing: dirty metadata is written first; if the L1 table must grow, a new one is
 * written at the end of the file with the current entries, synced, and then one header
 * write switches size, L1 size and L1 offset together (sync), and the old table is freed
 * like any other cluster.  A crash leaves the old or the new image, with at most the new
 * table leaked.  When the backing file is longer than the old size, the new area is made
 * to read as zeroes (zero clusters), as QEMU does.
 *
 * Shrinking: the header's size goes first (sync), then the clusters beyond the new end
 * are unmapped through the usual deferred frees, and L2 tables wholly beyond it are
 * dropped from the L1 table; a crash in between leaves unreachable entries or leaks.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"

#define HDR_SIZE 24 /* size, crypt_method, l1_size, l1_table_offset: bytes 24..47 */

static int write_size_fields(struct blk_node *bs, uint64_t size, uint32_t l1_size, uint64_t l1_off)
{
	uint8_t h[24] = { 0 };
	int r;

	put_be64(h, size);
	put_be32(h + 12, l1_size);
	put_be64(h + 16, l1_off);
	r = qcow2_write_header_field(bs, HDR_SIZE, h, sizeof(h));
	return r < 0 ? r : qcow2_sync(bs);
}

static int grow_l1(struct blk_node *bs, uint64_t size, uint32_t entries)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t bytes = ALIGN_UP((uint64_t)entries * 8, s->cluster_size), off = 0;
	uint64_t old_off = s->l1_offset, old_bytes = (uint64_t)s->l1_size * 8;
	uint64_t *l1 = calloc(entries, 8);
	uint8_t *dirty = calloc(DIV_ROUND_UP(entries, 64) + 1, 1), *buf = calloc(1, bytes);
	bool claimed = false;
	int r = -ENOMEM;

	if (!l1 || !dirty || !buf)
		goto out;
	memcpy(l1, s->l1, old_bytes);
	for (uint32_t i = 0; i < s->l1_size; i++)
		put_be64(buf + (size_t)i * 8, s->l1[i]);
	r = qcow2_alloc_at_end(bs, bytes >> s->cluster_bits, &off);
	if (r == 0 && (r = qcow2_check_write(bs, off, bytes, QCOW2_OL_DATA)) == 0 &&
	    (r = qcow2_meta_add(s, off, bytes, QCOW2_OL_L1)) == 0)
		claimed = true;
	if (r == 0)
		r = blk_pwrite(bs->file, off, buf, bytes, 0);
	/* the table and its refcounts are durable before the header points at it (new
	 * refcount blocks before their table entries) */
	if (r == 0 && s->t_dirty && s->rt_any_dirty)
		r = qcow2_sync(bs);
	if (r == 0 && (r = qcow2_write_rt(bs)) == 0 &&
	    (r = qcow2_cache_writeback(bs, &s->rbc)) == 0)
		r = qcow2_sync(bs);
	if (r == 0)
		r = write_size_fields(bs, size, entries, off);
	if (r < 0) {
		if (claimed)
			qcow2_meta_remove(s, off, bytes, QCOW2_OL_L1);
		goto out;
	}
	qcow2_meta_remove(s, old_off, old_bytes, QCOW2_OL_L1);
	free(s->l1);
	free(s->l1_dirty);
	s->l1 = l1;
	s->l1_dirty = dirty;
	l1 = NULL;
	dirty = NULL;
	s->l1_offset = off;
	s->l1_size = entries;
	s->size = size;
	if (old_bytes)
		r = qcow2_free_later(bs, old_off, old_bytes);
	log_debug("qcow2", "L1 table grown to %u entries at 0x%" PRIx64, entries, off);
out:
	free(l1);
	free(dirty);
	free(buf);
	return r;
}

/* Unmap every cluster from @from (cluster aligned) to the old end; drop whole L2 tables. */
static int unmap_tail(struct blk_node *bs, uint64_t from, uint64_t old_size)
{
	struct qcow2_state *s = bs->opaque;
	unsigned int l2_shift = s->cluster_bits + s->l2_bits;
	uint64_t first_l1 = (from + (1ull << l2_shift) - 1) >> l2_shift;
	int r = 0;

	for (uint64_t g = from; g < old_size && r == 0; g += s->cluster_size) {
		uint64_t l1i = g >> l2_shift;
		struct qcow2_slice *sl;
		unsigned int idx;
		struct qcow2_map m;

		if (!(s->l1[l1i] & QCOW2_L1E_OFFSET_MASK) || l1i >= first_l1) {
			g = ((l1i + 1) << l2_shift) - s->cluster_size; /* the table goes whole */
			continue;
		}
		r = qcow2_get_map(bs, g, &m);
		if (r < 0 || (!m.entry && !m.bitmap))
			continue;
		r = qcow2_get_l2(bs, g, true, &sl, &idx);
		if (r < 0)
			break;
		qcow2_l2_set(s, sl, idx, 0, 0);
		qcow2_cache_put(sl);
		r = qcow2_free_entry_later(bs, m.entry);
	}
	for (uint64_t i = first_l1; i < s->l1_size && r == 0; i++)
		r = qcow2_l1_drop(bs, (uint32_t)i);
	return r;
}

static int check_resize(struct blk_node *bs, uint64_t size, struct err *err)
{
	struct qcow2_state *s = bs->opaque;

	if (size % 512)
		return err_set(err, -EINVAL, "qcow2: the new size must be a multiple of 512");
	if (s->corrupt)
		return err_set(err, -EIO, "qcow2: the image is corrupt");
	if (s->nb_bitmaps)
		return err_set(err, -ENOTSUP,
			       "qcow2: cannot resize an image with persistent bitmaps");
	if (s->nb_snapshots && s->version < 3)
		return err_set(err, -ENOTSUP, "qcow2: cannot resize a v2 image with snapshots");
	if (qcow2_l1_entries_for(s, size) > QCOW2_MAX_L1_BYTES / 8)
		return err_set(err, -EFBIG, "qcow2: %" PRIu64 " bytes need too large an L1 table",
			       size);
	if (size > s->size && bs->backing && s->version < 3 &&
	    (uint64_t)blk_getlength(bs->backing) > s->size)
		return err_set(
			err, -ENOTSUP,
			"qcow2: a v2 image cannot hide its longer backing file when growing");
	return 0;
}

static int grow(struct blk_node *bs, uint64_t size)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t need = qcow2_l1_entries_for(s, size), old = s->size;
	int r = qcow2_flush_meta(bs);

	if (r < 0)
		return r;
	if (need > s->l1_size)
		r = grow_l1(bs, size, (uint32_t)need);
	else if ((r = write_size_fields(bs, size, s->l1_size, s->l1_offset)) == 0)
		s->size = size;
	if (r == 0 && bs->backing && (uint64_t)blk_getlength(bs->backing) > old) {
		uint64_t end = MIN(size, (uint64_t)blk_getlength(bs->backing));

		qcow2_unlock(s);
		r = qcow2_write_zeroes(bs, old, end - old, 0);
		qcow2_lock(s);
	}
	return r;
}

static int shrink(struct blk_node *bs, uint64_t size)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t old = s->size;
	int r = qcow2_flush_meta(bs);

	if (r == 0)
		r = write_size_fields(bs, size, s->l1_size, s->l1_offset);
	if (r < 0)
		return r;
	s->size = size;
	qcow2_inflight_wait(s, size >> s->cluster_bits, DIV_ROUND_UP(old, s->cluster_size));
	return unmap_tail(bs, ALIGN_UP(size, s->cluster_size), old);
}

int qcow2_truncate(struct blk_node *bs, uint64_t size, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t old = s->size;
	int r = check_resize(bs, size, err);

	if (r < 0 || size == old)
		return r;
	qcow2_lock(s);
	r = size > old ? grow(bs, size) : shrink(bs, size);
	if (r == 0)
		r = qcow2_flush_meta(bs);
	if (r == 0)
		r = qcow2_sync(bs);
	qcow2_unlock(s);
	if (r < 0)
		return err_set_errno(err, r, "qcow2: resizing to %" PRIu64 " bytes failed", size);
	return s->data_file ? blk_truncate(s->data_file, size, err) : 0;
}
