/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The cluster map: L1 table in memory, L2 slices in the cache, decoding entries into
 * per-subcluster states, allocating and copying L2 tables.  Callers hold s->lock.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

uint64_t qcow2_l2_get(const struct qcow2_state *s, const struct qcow2_slice *sl, unsigned int i)
{
	return get_be64(sl->data + (size_t)i * s->l2_entry_size);
}

uint64_t qcow2_l2_get_bitmap(const struct qcow2_state *s, const struct qcow2_slice *sl,
			     unsigned int i)
{
	return s->ext_l2 ? get_be64(sl->data + (size_t)i * 16 + 8) : 0;
}

void qcow2_l2_set(struct qcow2_state *s, struct qcow2_slice *sl, unsigned int i, uint64_t entry,
		  uint64_t bitmap)
{
	put_be64(sl->data + (size_t)i * s->l2_entry_size, entry);
	if (s->ext_l2)
		put_be64(sl->data + (size_t)i * 16 + 8, bitmap);
	qcow2_cache_mark_dirty(&s->l2c, sl);
}

int qcow2_decode(struct blk_node *bs, uint64_t entry, uint64_t bitmap, struct qcow2_map *m)
{
	struct qcow2_state *s = bs->opaque;

	memset(m, 0, sizeof(*m));
	m->entry = entry;
	if (entry & QCOW2_OFLAG_COMPRESSED) {
		if (s->data_file)
			return qcow2_corrupt(bs, "compressed cluster with an external data file");
		m->compressed = true;
		m->host = entry & s->coffset_mask;
		return 0;
	}
	m->host = entry & QCOW2_L2E_OFFSET_MASK;
	m->copied = entry & QCOW2_OFLAG_COPIED;
	m->has_host = m->host || (s->data_file && m->copied);
	if (m->host & (s->cluster_size - 1))
		return qcow2_corrupt(bs, "L2 entry 0x%" PRIx64 " points to an unaligned offset",
				     entry);
	if (m->has_host && !s->data_file && m->host >= s->host_limit)
		return qcow2_corrupt(bs, "L2 entry 0x%" PRIx64 " points beyond the image file",
				     entry);
	if (!s->ext_l2) {
		if (entry & QCOW2_OFLAG_ZERO)
			m->bitmap = 1ull << 32;
		else if (m->has_host)
			m->bitmap = 1;
		return 0;
	}
	if ((bitmap & (bitmap >> 32) & 0xffffffffull) || (!m->has_host && (bitmap & 0xffffffffull)))
		return qcow2_corrupt(bs, "invalid subcluster bitmap 0x%" PRIx64, bitmap);
	m->bitmap = bitmap;
	return 0;
}

enum qcow2_sc_type qcow2_sc_type(const struct qcow2_state *s, const struct qcow2_map *m,
				 unsigned int sc)
{
	(void)s;
	if (m->compressed)
		return QCOW2_SC_COMPRESSED;
	if (m->bitmap & (1ull << sc))
		return QCOW2_SC_DATA;
	if (m->bitmap & (1ull << (32 + sc)))
		return QCOW2_SC_ZERO;
	return QCOW2_SC_UNALLOC;
}

int qcow2_free_entry_later(struct blk_node *bs, uint64_t entry)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_map m;
	uint64_t off, len;
	int r;

	if (qcow2_decode(bs, entry, 0, &m) < 0 || s->data_file)
		return 0;
	if ((r = qcow2_check_release(bs, entry)) < 0)
		return r;
	if (m.compressed) {
		qcow2_compressed_range(s, entry, &off, &len);
		return qcow2_free_later(bs, off, len);
	}
	if (!m.has_host)
		return 0;
	return qcow2_free_later(bs, m.host, s->cluster_size);
}

int qcow2_l1_set(struct qcow2_state *s, uint32_t i, uint64_t entry)
{
	uint64_t old = s->l1[i] & QCOW2_L1E_OFFSET_MASK, new = entry &QCOW2_L1E_OFFSET_MASK;

	if (new != old) {
		int r = new ? qcow2_meta_add(s, new, s->cluster_size, QCOW2_OL_L2) : 0;

		if (r < 0)
			return r;
		if (old)
			qcow2_meta_remove(s, old, s->cluster_size, QCOW2_OL_L2);
	}
	s->l1[i] = entry;
	s->l1_dirty[i / 64] = 1;
	s->l1_any_dirty = true;
	return 0;
}

int qcow2_write_l1(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	uint8_t buf[512];

	if (!s->l1_any_dirty)
		return 0;
	for (uint32_t sec = 0; sec < DIV_ROUND_UP(s->l1_size, 64); sec++) {
		uint32_t n = MIN(64, s->l1_size - sec * 64);
		int r;

		if (!s->l1_dirty[sec])
			continue;
		for (uint32_t i = 0; i < n; i++)
			put_be64(buf + i * 8, s->l1[sec * 64 + i]);
		r = qcow2_check_write(bs, s->l1_offset + sec * 512, n * 8, QCOW2_OL_L1);
		if (r == 0)
			r = blk_pwrite(bs->file, s->l1_offset + sec * 512, buf, n * 8, 0);
		if (r < 0)
			return r;
		s->l1_dirty[sec] = 0;
	}
	s->l1_any_dirty = false;
	return 0;
}

/* The L2 table of L1 entry @l1i holds nothing else; @modify: nobody else uses it (an
 * entry with COPIED whose table a snapshot or another L1 entry uses is inconsistent). */
static int check_l2_offset(struct blk_node *bs, uint64_t l1i, uint64_t l2off, bool modify)
{
	struct qcow2_state *s = bs->opaque;
	unsigned int hit;

	if ((l2off & (s->cluster_size - 1)) || l2off + s->cluster_size > s->host_limit)
		return qcow2_corrupt(
			bs, "L1 entry %" PRIu64 " points to an invalid L2 table 0x%" PRIx64, l1i,
			l2off);
	hit = qcow2_check_overlap(s, l2off, s->cluster_size, QCOW2_OL_L2);
	if (!modify)
		hit &= ~(QCOW2_OL_L2 | QCOW2_OL_INACTIVE_L2);
	if (hit)
		return qcow2_corrupt(
			bs, "L1 entry %" PRIu64 ": the L2 table at 0x%" PRIx64 " overlaps the %s%s",
			l1i, l2off, qcow2_ol_name(hit),
			hit & (QCOW2_OL_L2 | QCOW2_OL_INACTIVE_L2)
				? " (it is shared but marked COPIED)"
				: "");
	return 0;
}

/* A new L2 table for L1 entry @l1i: zeroes, or a copy of the shared table @old. */
static int new_l2_table(struct blk_node *bs, uint64_t l1i, uint64_t old)
{
	struct qcow2_state *s = bs->opaque;
	uint8_t *buf = old ? malloc(s->cluster_size) : calloc(1, s->cluster_size);
	uint64_t off, got;
	bool zero;
	int r;

	if (!buf)
		return -ENOMEM;
	/* a shared table (snapshot) is never modified in place: no dirty slices */
	if (old && (r = blk_pread(bs->file, old, buf, s->cluster_size)) < 0)
		goto out;
	r = qcow2_alloc_for_use(bs, 1, &off, &got, &zero);
	if (r < 0)
		goto out;
	qcow2_cache_discard(&s->l2c, off, s->cluster_size);
	r = qcow2_check_write(bs, off, s->cluster_size, QCOW2_OL_L2);
	if (r == 0)
		r = blk_pwrite(bs->file, off, buf, s->cluster_size, 0);
	if (r < 0)
		goto out;
	/* a lost write of an empty table in a cluster reading as zeroes is harmless */
	if (old || !zero)
		s->t_dirty = true;
	r = qcow2_l1_set(s, (uint32_t)l1i, off | QCOW2_OFLAG_COPIED);
	if (r == 0 && old)
		r = qcow2_free_later(bs, old, s->cluster_size);
out:
	free(buf);
	return r;
}

int qcow2_check_l2_for_write(struct blk_node *bs, uint64_t guest)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t l1i = guest >> (s->cluster_bits + s->l2_bits), e;

	if (l1i >= s->l1_size)
		return 0;
	e = s->l1[l1i];
	if (!(e & QCOW2_OFLAG_COPIED) || !(e & QCOW2_L1E_OFFSET_MASK))
		return 0; /* a new table or a copy will be made */
	return check_l2_offset(bs, l1i, e & QCOW2_L1E_OFFSET_MASK, true);
}

/* Where the L2 entry of the guest cluster at @guest is. */
struct l2_pos {
	uint64_t l1i;	  /* the L1 entry */
	uint64_t slice;	  /* the slice's byte offset in the L2 table */
	unsigned int idx; /* the entry's index in the slice */
};

static struct l2_pos l2_pos(const struct qcow2_state *s, uint64_t guest)
{
	uint64_t l2i = (guest >> s->cluster_bits) & ((1ull << s->l2_bits) - 1);
	uint64_t per_slice = s->l2c.slice_size / s->l2_entry_size;

	return (struct l2_pos){ .l1i = guest >> (s->cluster_bits + s->l2_bits),
				.slice = (l2i / per_slice) * s->l2c.slice_size,
				.idx = (unsigned int)(l2i % per_slice) };
}

int qcow2_get_l2(struct blk_node *bs, uint64_t guest, bool alloc, struct qcow2_slice **out,
		 unsigned int *idx)
{
	struct qcow2_state *s = bs->opaque;
	struct l2_pos p = l2_pos(s, guest);
	uint64_t l2off;
	int r;

	*out = NULL;
	if (p.l1i >= s->l1_size)
		return alloc ? -EINVAL : 0;
	l2off = s->l1[p.l1i] & QCOW2_L1E_OFFSET_MASK;
	if (alloc && (!l2off || !(s->l1[p.l1i] & QCOW2_OFLAG_COPIED))) {
		if (l2off && (r = check_l2_offset(bs, p.l1i, l2off, false)) < 0)
			return r;
		r = new_l2_table(bs, p.l1i, l2off);
		if (r < 0)
			return r;
		l2off = s->l1[p.l1i] & QCOW2_L1E_OFFSET_MASK;
	}
	if (!l2off)
		return 0;
	if ((r = check_l2_offset(bs, p.l1i, l2off, alloc)) < 0)
		return r;
	*idx = p.idx;
	return qcow2_cache_get(bs, &s->l2c, l2off + p.slice, out);
}

/* qcow2_get_l2 without I/O: the slice only if cached (not pinned), no table checks (it
 * passed them when it was read); -EAGAIN when it is not cached or @guest is beyond L1. */
static int get_l2_cached(struct qcow2_state *s, uint64_t guest, struct qcow2_slice **out,
			 unsigned int *idx)
{
	struct l2_pos p = l2_pos(s, guest);
	uint64_t l2off;

	*out = NULL;
	if (p.l1i >= s->l1_size)
		return -EAGAIN;
	l2off = s->l1[p.l1i] & QCOW2_L1E_OFFSET_MASK;
	if (!l2off)
		return 0;
	*out = qcow2_cache_lookup(&s->l2c, l2off + p.slice);
	*idx = p.idx;
	return *out ? 0 : -EAGAIN;
}

struct qcow2_slice *qcow2_l2_cached_for_write(struct qcow2_state *s, uint64_t c, uint64_t n,
					      unsigned int *idx)
{
	struct l2_pos p = l2_pos(s, c << s->cluster_bits);
	uint64_t per_slice = s->l2c.slice_size / s->l2_entry_size, e;
	struct qcow2_slice *sl;

	if (p.l1i >= s->l1_size)
		return NULL;
	e = s->l1[p.l1i];
	if (!(e & QCOW2_OFLAG_COPIED) || !(e & QCOW2_L1E_OFFSET_MASK) || p.idx + n > per_slice)
		return NULL;
	sl = qcow2_cache_lookup(&s->l2c, (e & QCOW2_L1E_OFFSET_MASK) + p.slice);
	/* the table is ours alone (else the blocking path reports the inconsistency) */
	if (!sl || qcow2_check_overlap(s, sl->off, s->l2c.slice_size, QCOW2_OL_L2))
		return NULL;
	*idx = p.idx;
	return sl;
}

int qcow2_l1_drop(struct blk_node *bs, uint32_t i)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t l2off = s->l1[i] & QCOW2_L1E_OFFSET_MASK,
		 per = s->l2c.slice_size / s->l2_entry_size;
	int r;

	if (!l2off)
		return 0;
	if ((r = check_l2_offset(bs, i, l2off, false)) < 0)
		return r;
	for (uint64_t o = 0; o < s->cluster_size; o += s->l2c.slice_size) {
		struct qcow2_slice *sl = NULL;

		r = qcow2_cache_get(bs, &s->l2c, l2off + o, &sl);
		for (unsigned int k = 0; r == 0 && k < per; k++)
			r = qcow2_free_entry_later(bs, qcow2_l2_get(s, sl, k));
		qcow2_cache_put(sl);
		if (r < 0)
			return r;
	}
	r = qcow2_l1_set(s, i, 0);
	return r < 0 ? r : qcow2_free_later(bs, l2off, s->cluster_size);
}

int qcow2_get_map(struct blk_node *bs, uint64_t guest, struct qcow2_map *m)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_slice *sl;
	unsigned int idx;
	int r = qcow2_get_l2(bs, guest, false, &sl, &idx);

	if (r < 0)
		return r;
	if (!sl)
		return qcow2_decode(bs, 0, 0, m);
	r = qcow2_decode(bs, qcow2_l2_get(s, sl, idx), qcow2_l2_get_bitmap(s, sl, idx), m);
	qcow2_cache_put(sl);
	return r;
}

int qcow2_get_map_cached(struct blk_node *bs, uint64_t guest, struct qcow2_map *m)
{
	struct qcow2_state *s = bs->opaque;
	struct qcow2_slice *sl;
	unsigned int idx;
	int r = get_l2_cached(s, guest, &sl, &idx);

	if (r < 0)
		return r;
	if (!sl)
		return qcow2_decode(bs, 0, 0, m);
	return qcow2_decode(bs, qcow2_l2_get(s, sl, idx), qcow2_l2_get_bitmap(s, sl, idx), m);
}
