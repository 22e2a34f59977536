/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Refcount repair for images left dirty (lazy refcounts, or a crash of a writer that set
 * the dirty bit): count every reference the metadata makes (header, L1/L2 of the active
 * state and of every snapshot, data and compressed clusters, refcount table and blocks,
 * snapshot table, bitmap directory and tables), then make the stored refcounts equal;
 * refcounts of clusters beyond the end of the file become 0.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"

struct counts {
	uint32_t *v;
	uint64_t n;
	uint64_t *l2s; /* L2 table offsets referenced by any L1 table, with repeats */
	size_t nl2, l2cap;
	int err;
};

static void inc_by(struct counts *c, const struct qcow2_state *s, uint64_t off, uint64_t len,
		   uint64_t k)
{
	uint64_t first = off >> s->cluster_bits, last;

	if (!len || !k)
		return;
	last = (off + len - 1) >> s->cluster_bits;
	if (last >= c->n || last < first) {
		c->err = -EINVAL;
		return;
	}
	for (uint64_t i = first; i <= last; i++)
		c->v[i] = (uint32_t)MIN((uint64_t)c->v[i] + k, (uint64_t)UINT32_MAX);
}

static void inc(struct counts *c, const struct qcow2_state *s, uint64_t off, uint64_t len)
{
	inc_by(c, s, off, len, 1);
}

/* Every data cluster an L2 table references counts once per L1 entry pointing at it. */
static int count_l2(struct blk_node *bs, struct counts *c, uint64_t l2off, uint64_t k, uint8_t *buf)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t entries = 1ull << s->l2_bits;
	int r = blk_pread(bs->file, l2off, buf, s->cluster_size);

	if (r < 0)
		return r;
	inc_by(c, s, l2off, s->cluster_size, k);
	for (uint64_t i = 0; i < entries; i++) {
		uint64_t e = get_be64(buf + i * s->l2_entry_size), off, len;

		if (e & QCOW2_OFLAG_COMPRESSED) {
			qcow2_compressed_range(s, e, &off, &len);
			inc_by(c, s, off, len, k);
		} else if ((e & QCOW2_L2E_OFFSET_MASK) && !s->data_file) {
			inc_by(c, s, e & QCOW2_L2E_OFFSET_MASK, s->cluster_size, k);
		}
	}
	return c->err;
}

static int add_l2(struct counts *c, const struct qcow2_state *s, uint64_t l2)
{
	if ((l2 & (s->cluster_size - 1)) || (l2 >> s->cluster_bits) >= c->n)
		return -EINVAL;
	if (c->nl2 == c->l2cap) {
		size_t cap = c->l2cap ? 2 * c->l2cap : 256;
		uint64_t *p = realloc(c->l2s, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->l2s = p;
		c->l2cap = cap;
	}
	c->l2s[c->nl2++] = l2;
	return 0;
}

static int count_l1(struct blk_node *bs, struct counts *c, uint64_t l1off, uint32_t l1_size,
		    const uint64_t *l1_mem)
{
	struct qcow2_state *s = bs->opaque;
	uint8_t *raw = NULL;
	int r = 0;

	inc(c, s, l1off, (uint64_t)l1_size * 8);
	if (!l1_mem && l1_size) {
		raw = malloc((size_t)l1_size * 8);
		if (!raw)
			return -ENOMEM;
		r = blk_pread(bs->file, l1off, raw, (uint64_t)l1_size * 8);
	}
	for (uint32_t i = 0; i < l1_size && r == 0; i++) {
		uint64_t e = l1_mem ? l1_mem[i] : get_be64(raw + (size_t)i * 8);

		if (e & QCOW2_L1E_OFFSET_MASK)
			r = add_l2(c, s, e & QCOW2_L1E_OFFSET_MASK);
	}
	free(raw);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Each distinct L2 table is read once, its references weighted by how often it is used. */
static int count_l2_tables(struct blk_node *bs, struct counts *c)
{
	struct qcow2_state *s = bs->opaque;
	uint8_t *buf = malloc(s->cluster_size);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	if (c->nl2)
		qsort(c->l2s, c->nl2, sizeof(*c->l2s), cmp_u64);
	for (size_t i = 0; i < c->nl2 && r == 0;) {
		size_t j = i;

		while (j < c->nl2 && c->l2s[j] == c->l2s[i])
			j++;
		r = count_l2(bs, c, c->l2s[i], j - i, buf);
		i = j;
	}
	free(buf);
	return r;
}

static int count_bitmaps(struct blk_node *bs, struct counts *c)
{
	struct qcow2_state *s = bs->opaque;
	int r = 0;

	inc(c, s, s->bm_dir_offset, s->bm_dir_size);
	for (unsigned int i = 0; i < s->nb_bitmaps && r == 0; i++) {
		const struct qcow2_bitmap *b = &s->bitmaps[i];
		uint64_t bytes = (uint64_t)b->table_size * 8;
		uint8_t *t = malloc(bytes + 1);

		if (!t)
			return -ENOMEM;
		inc(c, s, b->table_offset, bytes);
		r = bytes ? blk_pread(bs->file, b->table_offset, t, bytes) : 0;
		for (uint64_t j = 0; r == 0 && j < b->table_size; j++) {
			uint64_t off = get_be64(t + j * 8) & QCOW2_L1E_OFFSET_MASK;

			inc(c, s, off, off ? s->cluster_size : 0);
		}
		free(t);
	}
	return r;
}

static int count_all(struct blk_node *bs, struct counts *c)
{
	struct qcow2_state *s = bs->opaque;
	int r;

	inc(c, s, 0, s->cluster_size);
	inc(c, s, s->rt_offset, (uint64_t)s->rt_clusters << s->cluster_bits);
	for (uint64_t i = 0; i < s->rt_size; i++)
		inc(c, s, s->rt[i], s->rt[i] ? s->cluster_size : 0);
	inc(c, s, s->snapshots_offset, s->snapshots_len);
	r = count_l1(bs, c, s->l1_offset, s->l1_size, s->l1);
	for (unsigned int i = 0; r == 0 && i < s->nb_snapshots; i++)
		r = count_l1(bs, c, s->snaps[i].l1_offset, s->snaps[i].l1_size, NULL);
	if (r == 0)
		r = count_l2_tables(bs, c);
	if (r == 0)
		r = count_bitmaps(bs, c);
	return r < 0 ? r : c->err;
}

static int fix_one(struct blk_node *bs, uint64_t i, uint64_t want, uint64_t *fixed)
{
	uint64_t have;
	int r = qcow2_get_refcount(bs, i, &have);

	if (r < 0 || have == want)
		return r;
	(*fixed)++;
	return qcow2_set_refcount(bs, i, want);
}

int qcow2_repair_refcounts(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	struct counts c = { .n = s->host_limit >> s->cluster_bits };
	uint64_t fixed = 0, covered = s->rt_size << s->rb_bits;
	int r;

	c.v = calloc(c.n ? c.n : 1, sizeof(*c.v));
	if (!c.v)
		return err_set(err, -ENOMEM, "out of memory");
	r = count_all(bs, &c);
	if (r < 0) {
		free(c.v);
		free(c.l2s);
		return err_set_errno(
			err, r, "qcow2: '%s' needs a refcount repair but its metadata is invalid",
			bs->filename);
	}
	/* raise first (new refcount blocks then land in clusters counted free) */
	qcow2_lock(s);
	s->free_cursor = c.n;
	s->repair_counts = c.v;
	s->repair_n = c.n;
	for (uint64_t i = 0; r == 0 && i < c.n; i++) {
		uint64_t have;

		r = qcow2_get_refcount(bs, i, &have);
		if (r == 0 && have < c.v[i])
			r = fix_one(bs, i, c.v[i], &fixed);
	}
	for (uint64_t i = 0; r == 0 && i < MIN(covered, c.n); i++)
		r = fix_one(bs, i, c.v[i], &fixed);
	/* nothing beyond the end of the file is in use (a crash can leave refcounts there:
	 * reservations whose file extension was lost); only existing blocks are visited */
	for (uint64_t bi = c.n >> s->rb_bits; r == 0 && bi < s->rt_size; bi++) {
		uint64_t first = MAX(c.n, bi << s->rb_bits), end = (bi + 1) << s->rb_bits;

		for (uint64_t i = first; s->rt[bi] && r == 0 && i < end; i++)
			r = fix_one(bs, i, 0, &fixed);
	}
	s->free_cursor = 0;
	s->repair_counts = NULL;
	if (r == 0)
		r = qcow2_flush_meta(bs);
	qcow2_unlock(s);
	free(c.v);
	free(c.l2s);
	if (r < 0)
		return err_set_errno(err, r, "qcow2: refcount repair of '%s' failed", bs->filename);
	log_info("qcow2: %s: repaired %" PRIu64 " refcounts after an unclean shutdown",
		 bs->filename, fixed);
	return 0;
}
