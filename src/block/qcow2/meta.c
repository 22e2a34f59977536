/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metadata map and the overlap checks (docs/QCOW2.md, "Overlap checks").
 *
 * Every host cluster that holds metadata is in a hash set with the kinds of metadata it
 * holds: the header, the active L1 table, the refcount table, the snapshot table, the
 * snapshots' L1 and L2 tables, the bitmap directory, tables and data, the active L2
 * tables (with the number of active L1 entries pointing at each) and the refcount blocks.
 * It is built at open (where an L1 or refcount-table entry pointing into other metadata
 * refuses the image) and kept exact as tables and blocks are allocated, switched and
 * dropped.  Every write then asks it one question per host cluster: a guest data write
 * must find no metadata at all, a metadata write nothing but its own kind (an L2 table
 * also no second user); a cluster whose last reference goes must hold no metadata.
 *
 * The set: open addressing with linear probing, one 64-bit slot per cluster (index + 1 in
 * bits 0-47, kinds in 48-56, active L2 references in 57-63, saturating), at most 3/4
 * full, deletion by backward shift.  A lookup is a multiply and usually one cache line.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define M_KEY_BITS 48
#define M_KEY_MASK ((1ull << M_KEY_BITS) - 1)
#define M_KIND_SHIFT 48
#define M_KIND_MASK 0x1ffull
#define M_REF_SHIFT 57
#define M_REF_MAX 127ull
#define M_MIN_BITS 6
#define OL_ANY_L2 (QCOW2_OL_L2 | QCOW2_OL_INACTIVE_L2)

static const char *const ol_names[] = {
	"qcow2 header",	   "active L1 table",	"refcount table",
	"snapshot table",  "inactive L1 table", "bitmaps",
	"active L2 table", "refcount block",	"inactive L2 table",
};

const char *qcow2_ol_name(unsigned int kinds)
{
	for (unsigned int i = 0; i < sizeof(ol_names) / sizeof(ol_names[0]); i++)
		if (kinds & (1u << i))
			return ol_names[i];
	return "metadata";
}

static unsigned int slot_kinds(uint64_t v)
{
	return (unsigned int)((v >> M_KIND_SHIFT) & M_KIND_MASK);
}

static uint64_t slot_refs(uint64_t v)
{
	return v >> M_REF_SHIFT;
}

static uint64_t slot_make(uint64_t key, unsigned int kinds, uint64_t refs)
{
	return key | ((uint64_t)kinds << M_KIND_SHIFT) | (refs << M_REF_SHIFT);
}

static uint64_t home(const struct qcow2_meta *m, uint64_t key)
{
	return (key * 0x9e3779b97f4a7c15ull) >> (64 - m->bits);
}

/* The slot of host cluster @c, or NULL. */
static uint64_t *lookup(const struct qcow2_meta *m, uint64_t c)
{
	uint64_t key = c + 1, mask, i;

	if (!m->slot || key > M_KEY_MASK)
		return NULL;
	mask = (1ull << m->bits) - 1;
	for (i = home(m, key); m->slot[i]; i = (i + 1) & mask)
		if ((m->slot[i] & M_KEY_MASK) == key)
			return &m->slot[i];
	return NULL;
}

static void insert_slot(struct qcow2_meta *m, uint64_t v)
{
	uint64_t mask = (1ull << m->bits) - 1, i = home(m, v & M_KEY_MASK);

	while (m->slot[i])
		i = (i + 1) & mask;
	m->slot[i] = v;
}

static int grow(struct qcow2_meta *m)
{
	unsigned int bits = m->slot ? m->bits + 1 : M_MIN_BITS;
	uint64_t *old = m->slot, n = m->slot ? 1ull << m->bits : 0;

	m->slot = calloc(1ull << bits, sizeof(*m->slot));
	if (!m->slot) {
		m->slot = old;
		return -ENOMEM;
	}
	m->bits = bits;
	for (uint64_t i = 0; i < n; i++)
		if (old[i])
			insert_slot(m, old[i]);
	free(old);
	return 0;
}

/* Backward-shift deletion: no tombstones, lookups stay short. */
static void delete_slot(struct qcow2_meta *m, uint64_t *p)
{
	uint64_t mask = (1ull << m->bits) - 1, i = (uint64_t)(p - m->slot), j = i;

	for (;;) {
		uint64_t k;

		j = (j + 1) & mask;
		if (!m->slot[j])
			break;
		k = home(m, m->slot[j] & M_KEY_MASK);
		/* the entry at j may move to i unless its home lies cyclically in (i, j] */
		if (i <= j ? (k <= i || k > j) : (k <= i && k > j)) {
			m->slot[i] = m->slot[j];
			i = j;
		}
	}
	m->slot[i] = 0;
	m->used--;
}

static int add_cluster(struct qcow2_meta *m, uint64_t c, unsigned int kind)
{
	uint64_t *p = lookup(m, c), refs;
	int r;

	if (c + 1 > M_KEY_MASK)
		return -EFBIG;
	if (!p) {
		if ((!m->slot || (m->used + 1) * 4 > (3ull << m->bits)) && (r = grow(m)) < 0)
			return r;
		insert_slot(m, slot_make(c + 1, kind, kind == QCOW2_OL_L2));
		m->used++;
		return 0;
	}
	refs = slot_refs(*p);
	if (kind == QCOW2_OL_L2 && refs < M_REF_MAX)
		refs++;
	*p = slot_make(c + 1, slot_kinds(*p) | kind, refs);
	return 0;
}

static void remove_cluster(struct qcow2_meta *m, uint64_t c, unsigned int kind)
{
	uint64_t *p = lookup(m, c), refs;
	unsigned int kinds;

	if (!p)
		return;
	kinds = slot_kinds(*p);
	refs = slot_refs(*p);
	if (kind == QCOW2_OL_L2) {
		/* a saturated count stays: the cluster is kept as an L2 table for good */
		if (refs && refs < M_REF_MAX)
			refs--;
		if (!refs)
			kinds &= ~QCOW2_OL_L2;
	} else {
		kinds &= ~kind;
	}
	if (kinds)
		*p = slot_make(c + 1, kinds, refs);
	else
		delete_slot(m, p);
}

int qcow2_meta_add(struct qcow2_state *s, uint64_t off, uint64_t len, unsigned int kind)
{
	uint64_t first = off >> s->cluster_bits;

	for (uint64_t c = first; len && c <= (off + len - 1) >> s->cluster_bits; c++) {
		int r = add_cluster(&s->meta, c, kind);

		if (r < 0) {
			while (c-- > first)
				remove_cluster(&s->meta, c, kind);
			return r;
		}
	}
	return 0;
}

void qcow2_meta_remove(struct qcow2_state *s, uint64_t off, uint64_t len, unsigned int kind)
{
	for (uint64_t c = off >> s->cluster_bits; len && c <= (off + len - 1) >> s->cluster_bits;
	     c++)
		remove_cluster(&s->meta, c, kind);
}

void qcow2_meta_free(struct qcow2_state *s)
{
	free(s->meta.slot);
	memset(&s->meta, 0, sizeof(s->meta));
}

unsigned int qcow2_check_overlap(const struct qcow2_state *s, uint64_t off, uint64_t len,
				 unsigned int kind)
{
	unsigned int hit = 0;

	for (uint64_t c = off >> s->cluster_bits; len && c <= (off + len - 1) >> s->cluster_bits;
	     c++) {
		const uint64_t *p = lookup(&s->meta, c);

		if (!p)
			continue;
		hit |= slot_kinds(*p) & ~kind;
		if (kind == QCOW2_OL_L2 && slot_refs(*p) > 1)
			hit |= QCOW2_OL_L2; /* another L1 entry's table too */
	}
	return hit;
}

int qcow2_check_write(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int kind)
{
	struct qcow2_state *s = bs->opaque;
	unsigned int hit = qcow2_check_overlap(s, off, len, kind);

	if (!hit)
		return 0;
	if (kind == QCOW2_OL_DATA)
		return qcow2_corrupt(
			bs, "preventing a data write at 0x%" PRIx64 ": it would overlap the %s",
			off, qcow2_ol_name(hit));
	return qcow2_corrupt(
		bs, "preventing a write of the %s at 0x%" PRIx64 ": it would overlap the %s",
		qcow2_ol_name(kind), off, qcow2_ol_name(hit));
}

int qcow2_check_release(struct blk_node *bs, uint64_t entry)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t off, len = s->cluster_size;
	unsigned int hit;

	if (s->data_file)
		return 0; /* data clusters are in the other file */
	if (entry & QCOW2_OFLAG_COMPRESSED)
		qcow2_compressed_range(s, entry, &off, &len);
	else
		off = entry & QCOW2_L2E_OFFSET_MASK;
	hit = off ? qcow2_check_overlap(s, off, len, QCOW2_OL_DATA) : 0;
	if (!hit)
		return 0;
	return qcow2_corrupt(bs,
			     "L2 entry 0x%" PRIx64 " overlaps the %s: its cluster is not released",
			     entry, qcow2_ol_name(hit));
}

/* ---- building the map at open ---------------------------------------------------------- */

static int build_err(struct err *err, int r)
{
	return r == -ENOMEM ? err_set(err, r, "out of memory")
			    : err_set(err, r, "qcow2: metadata beyond 2^56 bytes");
}

/* A structure that shares no cluster with metadata of another kind. */
static int add_exclusive(struct qcow2_state *s, uint64_t off, uint64_t len, unsigned int kind,
			 const char *what, struct err *err)
{
	unsigned int hit = qcow2_check_overlap(s, off, len, kind);
	int r;

	if (hit)
		return err_set(err, -EINVAL, "qcow2: %s overlaps the %s", what, qcow2_ol_name(hit));
	r = qcow2_meta_add(s, off, len, kind);
	return r < 0 ? build_err(err, r) : 0;
}

/* Bitmap tables and the clusters they point at (QEMU reads them only on demand). */
static int add_bitmaps(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	int r = add_exclusive(s, s->bm_dir_offset, s->bm_dir_size, QCOW2_OL_BITMAPS,
			      "the bitmap directory", err);
	char what[96];

	for (unsigned int i = 0; r == 0 && i < s->nb_bitmaps; i++) {
		const struct qcow2_bitmap *b = &s->bitmaps[i];
		uint64_t bytes = (uint64_t)b->table_size * 8;
		uint8_t *t;

		if (bytes > s->file_len_open || b->table_offset > s->file_len_open - bytes ||
		    (bytes && !b->table_offset))
			return err_set(err, -EINVAL, "qcow2: bitmap '%s' has an invalid table",
				       b->name);
		snprintf(what, sizeof(what), "bitmap '%.64s'", b->name);
		if ((r = add_exclusive(s, b->table_offset, bytes, QCOW2_OL_BITMAPS, what, err)) < 0)
			return r;
		if (!(t = malloc(bytes + 1)))
			return build_err(err, -ENOMEM);
		if (bytes && (r = blk_pread(bs->file, b->table_offset, t, bytes)) < 0) {
			free(t);
			return err_set_errno(err, r, "qcow2: could not read bitmap '%s'", b->name);
		}
		for (uint64_t j = 0; r == 0 && j < b->table_size; j++) {
			uint64_t off = get_be64(t + j * 8) & QCOW2_L2E_OFFSET_MASK;

			if (off && ((off & (s->cluster_size - 1)) || off >= s->host_limit)) {
				free(t);
				return err_set(err, -EINVAL,
					       "qcow2: bitmap '%s' table entry %" PRIu64
					       " is invalid",
					       b->name, j);
			}
			r = off ? add_exclusive(s, off, s->cluster_size, QCOW2_OL_BITMAPS, what,
						err)
				: 0;
		}
		free(t);
	}
	return r;
}

/* Refcount blocks: a cluster already holding metadata (another block too) is refused. */
static int add_blocks(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;

	for (uint64_t i = 0; i < s->rt_size; i++) {
		unsigned int hit;
		int r;

		if (!s->rt[i])
			continue;
		hit = qcow2_check_overlap(s, s->rt[i], s->cluster_size, QCOW2_OL_DATA);
		if (hit)
			return err_set(err, -EINVAL,
				       "qcow2: refcount table entry %" PRIu64 " (0x%" PRIx64
				       ") is invalid: it points into the %s",
				       i, s->rt[i], qcow2_ol_name(hit));
		if ((r = qcow2_meta_add(s, s->rt[i], s->cluster_size, QCOW2_OL_RB)) < 0)
			return build_err(err, r);
	}
	return 0;
}

static int l1_entry_err(struct err *err, const struct qcow2_snapshot *snap, uint32_t i, uint64_t e,
			unsigned int hit)
{
	char what[64] = "";

	if (snap)
		snprintf(what, sizeof(what), "snapshot '%.40s' ", snap->id);
	return err_set(err, -EINVAL, "qcow2: %sL1 entry %u (0x%" PRIx64 ") is invalid%s%s", what, i,
		       e, hit ? ": it points into the " : "", hit ? qcow2_ol_name(hit) : "");
}

/*
 * The L2 tables of one L1 table (@l1 in host order; the active one's entries were range
 * checked when it was read): @snap NULL for the active table, else a snapshot's.  Tables
 * may be shared (by snapshots, or by L1 entries without COPIED), nothing else.
 */
static int add_l2_tables(struct blk_node *bs, const uint64_t *l1, uint32_t n,
			 const struct qcow2_snapshot *snap, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	unsigned int kind = snap ? QCOW2_OL_INACTIVE_L2 : QCOW2_OL_L2;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t off = l1[i] & QCOW2_L1E_OFFSET_MASK;
		unsigned int hit;
		int r;

		if (!off)
			continue;
		hit = qcow2_check_overlap(s, off, s->cluster_size, OL_ANY_L2);
		if (hit || (snap && ((off & (s->cluster_size - 1)) ||
				     off + s->cluster_size > s->host_limit)))
			return l1_entry_err(err, snap, i, l1[i], hit);
		if ((r = qcow2_meta_add(s, off, s->cluster_size, kind)) < 0)
			return build_err(err, r);
	}
	return 0;
}

static int add_snapshot_l2_tables(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	int r = 0;

	for (unsigned int i = 0; r == 0 && i < s->nb_snapshots; i++) {
		const struct qcow2_snapshot *sn = &s->snaps[i];
		uint64_t bytes = (uint64_t)sn->l1_size * 8;
		uint8_t *raw = malloc(bytes + 1);
		uint64_t *l1 = calloc(sn->l1_size + 1, 8);

		if (!raw || !l1)
			r = err_set(err, -ENOMEM, "out of memory");
		else if (bytes && (r = blk_pread(bs->file, sn->l1_offset, raw, bytes)) < 0)
			r = err_set_errno(err, r, "qcow2: could not read snapshot '%s'", sn->id);
		for (uint32_t j = 0; r == 0 && j < sn->l1_size; j++)
			l1[j] = get_be64(raw + (size_t)j * 8);
		if (r == 0)
			r = add_l2_tables(bs, l1, sn->l1_size, sn, err);
		free(raw);
		free(l1);
	}
	return r;
}

int qcow2_meta_build(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	char what[80];
	int r = add_exclusive(s, 0, s->cluster_size, QCOW2_OL_HEADER, "the header", err);

	/* the tables the header points at share no cluster (snapshots' L1 tables only
	 * with each other) */
	if (r == 0)
		r = add_exclusive(s, s->l1_offset, (uint64_t)s->l1_size * 8, QCOW2_OL_L1,
				  "the L1 table", err);
	if (r == 0)
		r = add_exclusive(s, s->rt_offset, (uint64_t)s->rt_clusters << s->cluster_bits,
				  QCOW2_OL_RT, "the refcount table", err);
	if (r == 0)
		r = add_exclusive(s, s->snapshots_offset, s->snapshots_len, QCOW2_OL_SNAPSHOTS,
				  "the snapshot table", err);
	for (unsigned int i = 0; r == 0 && i < s->nb_snapshots; i++) {
		snprintf(what, sizeof(what), "the L1 table of snapshot '%.40s'", s->snaps[i].id);
		r = add_exclusive(s, s->snaps[i].l1_offset, (uint64_t)s->snaps[i].l1_size * 8,
				  QCOW2_OL_INACTIVE_L1, what, err);
	}
	if (r < 0 || (r = add_bitmaps(bs, err)) < 0 || (r = add_blocks(bs, err)) < 0 ||
	    (r = add_l2_tables(bs, s->l1, s->l1_size, NULL, err)) < 0)
		return r;
	/* only writers need the snapshots' L2 tables (and only they refuse bad ones) */
	return s->read_only ? 0 : add_snapshot_l2_tables(bs, err);
}
