/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Discard, write_zeroes and block_status, following QEMU's qcow2 semantics so images and
 * maps match what qemu-io/qemu-img produce:
 *  - discard of whole clusters: the entry becomes "zero" (v3, or all-zero subclusters with
 *    extended L2) when a backing file must be hidden or the cluster was allocated, plain
 *    unallocated on v2; the host cluster is released;
 *  - write_zeroes sets the zero flag / zero subcluster bits without writing data (unmapping
 *    the host cluster with MAY_UNMAP); partial subclusters are widened when the rest
 *    already reads as zeroes, else written as zero buffers;
 *  - block_status reports DATA/ZERO/OFFSET_VALID per subcluster run.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#define ALL_ZERO_BITMAP 0xffffffff00000000ull

static bool cluster_allocated(const struct qcow2_map *m)
{
	return m->has_host || m->compressed;
}

/* Replace the entry of cluster @guest; the old host storage is released later. */
static int set_entry(struct blk_node *bs, uint64_t guest, const struct qcow2_map *old,
		     uint64_t entry, uint64_t bitmap, bool release)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_slice *sl;
	unsigned int idx;
	int r = release ? qcow2_check_release(bs, old->entry) : 0;

	if (r == 0)
		r = qcow2_get_l2(bs, guest, true, &sl, &idx);
	if (r < 0)
		return r;
	qcow2_l2_set(s, sl, idx, entry, bitmap);
	qcow2_cache_put(sl);
	if (!release)
		return 0;
	if (s->data_file) {
		if (old->has_host)
			return blk_discard(s->data_file, old->host, s->cluster_size) == -EROFS
				       ? -EROFS
				       : 0;
		return 0;
	}
	return qcow2_free_entry_later(bs, old->entry);
}

static int discard_cluster(struct blk_node *bs, uint64_t guest)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t entry, bitmap;
	struct qcow2_map m;
	int r = qcow2_get_map(bs, guest, &m);

	if (r < 0)
		return r;
	entry = m.entry;
	bitmap = m.bitmap;
	if (bs->backing || cluster_allocated(&m)) {
		entry = s->ext_l2 || s->version < 3 ? 0 : QCOW2_OFLAG_ZERO;
		bitmap = s->ext_l2 ? ALL_ZERO_BITMAP : 0;
	}
	if (entry == m.entry && (!s->ext_l2 || bitmap == m.bitmap))
		return 0;
	return set_entry(bs, guest, &m, entry, bitmap, cluster_allocated(&m));
}

int qcow2_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t c0 = off >> s->cluster_bits, c1 = (off + len) >> s->cluster_bits;
	int r = 0;

	if (off + len == s->size) /* the partial last cluster goes too */
		c1 = DIV_ROUND_UP(s->size, s->cluster_size);
	/* v2 cannot hide the backing file: QEMU ignores such discards too */
	if (s->version < 3 && bs->backing)
		return 0;
	if (s->corrupt)
		return -EIO;
	qcow2_lock(s);
	qcow2_inflight_wait(s, c0, c1);
	for (uint64_t c = c0; c < c1 && r == 0; c++)
		r = discard_cluster(bs, c << s->cluster_bits);
	qcow2_unlock(s);
	return r;
}

/* ---- write_zeroes -------------------------------------------------------------------------- */

/* QEMU's is_zero (want_zero=false): the first layer that decides says zero. */
static bool reads_zero(struct blk_node *bs, uint64_t off, uint64_t len)
{
	for (struct blk_node *p = bs; len; p = p->backing) {
		struct qcow2_state *s;
		enum qcow2_sc_type t;
		struct qcow2_map m;
		int r;

		if (!p || off >= (uint64_t)blk_getlength(p))
			return true;
		if (p->drv != bs->drv)
			return false;
		s = p->opaque;
		if ((off >> s->sc_bits) != ((off + len - 1) >> s->sc_bits))
			return false;
		qcow2_lock(s);
		r = qcow2_get_map(p, off, &m);
		qcow2_unlock(s);
		if (r < 0)
			return false;
		t = qcow2_sc_type(s, &m,
				  (unsigned int)(qcow2_offset_in_cluster(s, off) >> s->sc_bits));
		if (t == QCOW2_SC_ZERO)
			return true;
		if (t != QCOW2_SC_UNALLOC)
			return false;
	}
	return true;
}

static int write_zero_buf(struct blk_node *bs, uint64_t off, uint64_t len)
{
	struct iovec v = { .iov_base = (void *)qcow2_zero_buf(), .iov_len = len };

	return qcow2_pwritev(bs, off, len, &v, 1, 0);
}

static int zero_cluster(struct blk_node *bs, uint64_t guest, unsigned int flags)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_map m;
	bool unmap;
	uint64_t entry, bitmap;
	int r = qcow2_get_map(bs, guest, &m);

	if (r < 0)
		return r;
	unmap = m.compressed || ((flags & BLK_REQ_MAY_UNMAP) && cluster_allocated(&m));
	entry = unmap ? 0 : m.entry;
	bitmap = s->ext_l2 ? ALL_ZERO_BITMAP : 0;
	if (!s->ext_l2)
		entry |= QCOW2_OFLAG_ZERO;
	if (entry == m.entry && (!s->ext_l2 || bitmap == m.bitmap))
		return 0;
	return set_entry(bs, guest, &m, entry, bitmap, unmap);
}

/* Subclusters [a, b] of one cluster read as zeroes; -ENOTSUP for compressed clusters. */
static int zero_subclusters(struct blk_node *bs, uint64_t guest, unsigned int a, unsigned int b)
{
	uint64_t range = qcow2_sc_mask(a, b);
	struct qcow2_map m;
	int r = qcow2_get_map(bs, guest, &m);

	if (r < 0)
		return r;
	if (m.compressed)
		return -ENOTSUP;
	return set_entry(bs, guest, &m, m.entry, (m.bitmap | (range << 32)) & ~range, false);
}

/* [off, off+len) is subcluster aligned (or ends at the image end). */
static int zeroize(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t end = off + len;
	int r = 0;

	if (s->data_file_raw && (r = blk_write_zeroes(s->data_file, off, len, 0)) < 0)
		return r;
	qcow2_lock(s);
	qcow2_inflight_wait(s, off >> s->cluster_bits, DIV_ROUND_UP(end, s->cluster_size));
	for (uint64_t pos = off; pos < end && r == 0;) {
		uint64_t in = qcow2_offset_in_cluster(s, pos);
		uint64_t n = MIN(end - pos, s->cluster_size - in);

		if (in == 0 && (n == s->cluster_size || pos + n >= s->size)) {
			r = s->version < 3 ? discard_cluster(bs, pos)
					   : zero_cluster(bs, pos, flags);
		} else {
			r = zero_subclusters(bs, pos, (unsigned int)(in >> s->sc_bits),
					     (unsigned int)((in + n - 1) >> s->sc_bits));
			if (r == -ENOTSUP) {
				qcow2_unlock(s);
				r = write_zero_buf(bs, pos, n);
				qcow2_lock(s);
			}
		}
		pos += n;
	}
	qcow2_unlock(s);
	return r;
}

/* A partial subcluster piece: widen it to the subcluster when the rest reads as zeroes. */
static int zero_piece(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t sc = 1ull << s->sc_bits, start = ALIGN_DOWN(off, sc);
	uint64_t end = MIN(start + sc, s->size);

	if (reads_zero(bs, start, off - start) && reads_zero(bs, off + len, end - off - len))
		return zeroize(bs, start, end - start, flags);
	return write_zero_buf(bs, off, len);
}

int qcow2_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t sc = 1ull << s->sc_bits, end = off + len;
	uint64_t a = ALIGN_UP(off, sc), b = end == s->size ? end : ALIGN_DOWN(end, sc);
	int r = 0;

	if (s->corrupt)
		return -EIO;
	if (s->version < 3 && bs->backing)
		return -ENOTSUP;
	if (a >= b) /* within one subcluster */
		return end == s->size && off == ALIGN_DOWN(off, sc)
			       ? zeroize(bs, off, len, flags)
			       : zero_piece(bs, off, len, flags);
	if (off < a)
		r = zero_piece(bs, off, a - off, flags);
	if (r == 0)
		r = zeroize(bs, a, b - a, flags);
	if (r == 0 && b < end)
		r = zero_piece(bs, b, end - b, flags);
	return r;
}

/* ---- block status --------------------------------------------------------------------------- */

/*
 * As QEMU: an image with clearly more allocated clusters than the file has blocks had its
 * metadata preallocated, and then holes in the file are reported as zeroes (RECURSE).
 */
static bool detect_meta_prealloc(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t real, threshold, count = 0, end, rc;
	struct stat st;

	if (strcmp(bs->file->drv->name, "file") || stat(bs->file->filename, &st) < 0)
		return false;
	real = (uint64_t)st.st_blocks * 512 / s->cluster_size;
	threshold = MAX(real * 10 / 9, real + 2);
	end = qcow2_size_to_clusters(s, (uint64_t)blk_getlength(bs->file));
	for (uint64_t i = 0; i < end && count < threshold; i++) {
		if (qcow2_get_refcount(bs, i, &rc) < 0)
			return false;
		count += rc != 0;
	}
	return count >= threshold;
}

int qcow2_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
		       uint64_t *map, struct blk_node **file)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t in = qcow2_offset_in_cluster(s, off);
	unsigned int sc = (unsigned int)(in >> s->sc_bits);
	uint64_t n = 0, host = 0;
	enum qcow2_sc_type t = QCOW2_SC_UNALLOC;
	struct qcow2_map m;
	bool has_host = false;
	int r;

	qcow2_lock(s);
	if (!s->meta_prealloc)
		s->meta_prealloc = detect_meta_prealloc(bs) ? 2 : 1;
	r = qcow2_get_map(bs, off, &m);
	if (r == 0) {
		t = qcow2_sc_type(s, &m, sc);
		has_host = m.has_host && !m.compressed;
		host = m.host + in;
		/* extend over following subclusters/clusters with the same status */
		for (uint64_t pos = off; pos < off + len;) {
			uint64_t pin = qcow2_offset_in_cluster(s, pos);
			unsigned int psc = (unsigned int)(pin >> s->sc_bits);
			uint64_t step =
				MIN(((uint64_t)psc + 1) << s->sc_bits, s->cluster_size) - pin;

			if (pos != off) {
				if (pin == 0 && (r = qcow2_get_map(bs, pos, &m)) < 0)
					break;
				if (qcow2_sc_type(s, &m, psc) != t ||
				    (m.has_host && !m.compressed) != has_host ||
				    (has_host && m.host + pin != host + n) ||
				    t == QCOW2_SC_COMPRESSED)
					break;
			}
			n += step;
			pos += step;
			if (n >= (64ull << 20))
				break;
		}
	}
	qcow2_unlock(s);
	if (r < 0)
		return r;
	*pnum = MIN(n, len);
	*map = host;
	*file = s->data;
	switch (t) {
	case QCOW2_SC_DATA:
		return BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID |
		       (s->meta_prealloc == 2 ? BLK_STATUS_RECURSE : 0);
	case QCOW2_SC_ZERO:
		return BLK_STATUS_ZERO | (has_host ? BLK_STATUS_OFFSET_VALID : 0);
	case QCOW2_SC_COMPRESSED:
		*pnum = MIN(len, s->cluster_size - in);
		return BLK_STATUS_DATA | BLK_STATUS_COMPRESSED;
	default:
		return has_host ? BLK_STATUS_OFFSET_VALID : 0;
	}
}
