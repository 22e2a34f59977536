/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Refcounts: the in-memory refcount table, refcount blocks through the slice cache, the
 * cluster allocator, refcount-table growth and deferred frees.  Callers hold s->lock.
 *
 * Crash ordering (docs/QCOW2.md): a new refcount block is written in full (with its own
 * refcount) before the table entry pointing at it; the table entry and increments are
 * written before any L2/L1 entry using the clusters (qcow2_write_deps); a reference drop
 * is applied only after the entry removal was written and synced and after the data I/O
 * that might still use the clusters drained (qcow2_apply_ripe_frees).
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"

static unsigned int rc_bits(const struct qcow2_state *s)
{
	return 1u << s->refcount_order;
}

static uint64_t rb_read(const struct qcow2_state *s, const uint8_t *d, uint64_t i)
{
	unsigned int bits = rc_bits(s);

	switch (bits) {
	case 64:
		return get_be64(d + i * 8);
	case 32:
		return get_be32(d + i * 4);
	case 16:
		return get_be16(d + i * 2);
	case 8:
		return d[i];
	default:
		return (d[i * bits / 8] >> ((i * bits) % 8)) & ((1u << bits) - 1);
	}
}

static void rb_write(const struct qcow2_state *s, uint8_t *d, uint64_t i, uint64_t v)
{
	unsigned int bits = rc_bits(s);

	switch (bits) {
	case 64:
		put_be64(d + i * 8, v);
		break;
	case 32:
		put_be32(d + i * 4, (uint32_t)v);
		break;
	case 16:
		d[i * 2] = (uint8_t)(v >> 8);
		d[i * 2 + 1] = (uint8_t)v;
		break;
	case 8:
		d[i] = (uint8_t)v;
		break;
	default: {
		unsigned int sh = (unsigned int)((i * bits) % 8);
		uint8_t mask = (uint8_t)(((1u << bits) - 1) << sh);

		d[i * bits / 8] = (uint8_t)((d[i * bits / 8] & ~mask) | ((v << sh) & mask));
	}
	}
}

/* Slice offset and index within it for @cluster, whose block is at @block. */
static void rb_locate(const struct qcow2_state *s, uint64_t block, uint64_t cluster,
		      uint64_t *slice_off, uint64_t *idx)
{
	uint64_t j = cluster & ((1ull << s->rb_bits) - 1);
	uint64_t per_slice = (uint64_t)s->rbc.slice_size * 8 / rc_bits(s);

	*slice_off = block + (j / per_slice) * s->rbc.slice_size;
	*idx = j % per_slice;
}

static int check_block_offset(struct blk_node *bs, uint64_t bi, uint64_t block)
{
	struct qcow2_state *s = bs->opaque;

	if ((block & (s->cluster_size - 1)) || block + s->cluster_size > s->host_limit ||
	    qcow2_check_overlap(s, block, s->cluster_size, QCOW2_OL_RB))
		return qcow2_corrupt(bs, "refcount block %" PRIu64 " at 0x%" PRIx64 " is invalid",
				     bi, block);
	return 0;
}

int qcow2_get_refcount(struct blk_node *bs, uint64_t cluster, uint64_t *out)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t bi = cluster >> s->rb_bits, soff, idx;
	struct qcow2_slice *sl;
	int r;

	*out = 0;
	if (bi >= s->rt_size || !s->rt[bi])
		return 0;
	if ((r = check_block_offset(bs, bi, s->rt[bi])) < 0)
		return r;
	rb_locate(s, s->rt[bi], cluster, &soff, &idx);
	r = qcow2_cache_get(bs, &s->rbc, soff, &sl);
	if (r < 0)
		return r;
	*out = rb_read(s, sl->data, idx);
	qcow2_cache_put(sl);
	return 0;
}

static void rt_mark_dirty(struct qcow2_state *s, uint64_t bi)
{
	s->rt_dirty[bi / 64] = 1;
	s->rt_any_dirty = true;
}

/*
 * Create refcount block @bi (within the table) in the first cluster of its own range that
 * is not in [avoid, avoid_end): every cluster of a range without a block is free.  The
 * block is written whole, counting itself, before the table entry can be written.
 */
static int create_block(struct blk_node *bs, uint64_t bi, uint64_t avoid, uint64_t avoid_end)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t first = bi << s->rb_bits, p = first, soff, idx;
	uint8_t *buf;
	int r;

	/* during a repair, clusters the metadata references are not free yet */
	while ((p >= avoid && p < avoid_end) ||
	       (s->repair_counts && p < s->repair_n && s->repair_counts[p]))
		p++;
	if (p >= first + (1ull << s->rb_bits))
		return -ENOSPC;
	if ((r = qcow2_check_write(bs, p << s->cluster_bits, s->cluster_size, QCOW2_OL_DATA)) < 0)
		return r; /* a free cluster holding metadata */
	buf = calloc(1, s->cluster_size);
	if (!buf || (r = qcow2_meta_add(s, p << s->cluster_bits, s->cluster_size, QCOW2_OL_RB))) {
		free(buf);
		return -ENOMEM;
	}
	rb_locate(s, 0, p, &soff, &idx);
	rb_write(s, buf + soff, idx, 1);
	qcow2_cache_discard(&s->rbc, p << s->cluster_bits, s->cluster_size);
	qcow2_cache_discard(&s->l2c, p << s->cluster_bits, s->cluster_size);
	r = blk_pwrite(bs->file, p << s->cluster_bits, buf, s->cluster_size, 0);
	free(buf);
	if (r < 0) {
		qcow2_meta_remove(s, p << s->cluster_bits, s->cluster_size, QCOW2_OL_RB);
		return r;
	}
	s->t_dirty = true;
	if (s->repair_counts && p < s->repair_n)
		s->repair_counts[p] = 1;
	s->rt[bi] = p << s->cluster_bits;
	rt_mark_dirty(s, bi);
	s->host_limit = MAX(s->host_limit, (p + 1) << s->cluster_bits);
	if (p + 1 > s->fresh_from && p >= s->fresh_from)
		s->fresh_from = p + 1;
	return 0;
}

static int grow_table(struct blk_node *bs, uint64_t need_bi);

/* Add @delta to cluster @c's refcount, or set it to @value when @delta is 0. */
static int rc_modify(struct blk_node *bs, uint64_t c, int delta, uint64_t value, uint64_t avoid,
		     uint64_t avoid_end)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t bi = c >> s->rb_bits, soff, idx, v;
	struct qcow2_slice *sl;
	int r;

	if (bi >= s->rt_size || !s->rt[bi]) {
		if (delta < 0)
			return qcow2_corrupt(bs, "freeing cluster %" PRIu64 " with refcount 0", c);
		if (!delta && !value)
			return 0;
		if (bi >= s->rt_size && (r = grow_table(bs, bi)) < 0)
			return r;
		if (!s->rt[bi] && (r = create_block(bs, bi, avoid, avoid_end)) < 0)
			return r;
	}
	if ((r = check_block_offset(bs, bi, s->rt[bi])) < 0)
		return r;
	rb_locate(s, s->rt[bi], c, &soff, &idx);
	r = qcow2_cache_get(bs, &s->rbc, soff, &sl);
	if (r < 0)
		return r;
	v = rb_read(s, sl->data, idx);
	if ((delta < 0 && v == 0) || (delta > 0 && v == s->refcount_max) ||
	    (!delta && value > s->refcount_max)) {
		qcow2_cache_put(sl);
		return qcow2_corrupt(bs, "refcount of cluster %" PRIu64 " would %s", c,
				     delta < 0 ? "drop below 0" : "overflow");
	}
	v = delta < 0 ? v - 1 : delta > 0 ? v + 1 : value;
	rb_write(s, sl->data, idx, v);
	qcow2_cache_mark_dirty(&s->rbc, sl);
	qcow2_cache_put(sl);
	if (v == 0 && c < s->free_cursor)
		s->free_cursor = c;
	return 0;
}

static int set_refcount_delta(struct blk_node *bs, uint64_t c, int delta, uint64_t avoid,
			      uint64_t avoid_end)
{
	return rc_modify(bs, c, delta, 0, avoid, avoid_end);
}

int qcow2_set_refcount(struct blk_node *bs, uint64_t cluster, uint64_t value)
{
	return rc_modify(bs, cluster, 0, value, cluster, cluster + 1);
}

int qcow2_update_refcount(struct blk_node *bs, uint64_t off, uint64_t len, int delta)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t first = off >> s->cluster_bits, last = (off + len - 1) >> s->cluster_bits;

	for (uint64_t c = first; len && c <= last; c++) {
		int r = set_refcount_delta(bs, c, delta, first, last + 1);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Length of the free run starting at cluster @c (at most @n), within one block's range. */
static int free_run(struct blk_node *bs, uint64_t c, uint64_t n, uint64_t *run)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t end = ((c >> s->rb_bits) + 1) << s->rb_bits, k = 0, v;

	while (k < n && c + k < end) {
		int r = qcow2_get_refcount(bs, c + k, &v);

		if (r < 0)
			return r;
		if (v)
			break;
		k++;
	}
	*run = k;
	return 0;
}

int qcow2_alloc_clusters(struct blk_node *bs, uint64_t n, uint64_t *off, uint64_t *got, bool *fresh)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t c = s->free_cursor, run = 0;
	int r;

	for (;;) {
		uint64_t bi = c >> s->rb_bits;

		if (bi >= s->rt_size && (r = grow_table(bs, bi)) < 0)
			return r;
		if (!s->rt[bi] && (r = create_block(bs, bi, 0, 0)) < 0)
			return r;
		if ((r = free_run(bs, c, n, &run)) < 0)
			return r;
		if (run)
			break;
		c++;
	}
	/* free clusters holding metadata: refcounts are wrong */
	r = qcow2_check_write(bs, c << s->cluster_bits, run << s->cluster_bits, QCOW2_OL_DATA);
	if (r < 0)
		return r;
	r = qcow2_update_refcount(bs, c << s->cluster_bits, run << s->cluster_bits, 1);
	if (r < 0)
		return r;
	/* every cluster in [free_cursor, c) was found in use */
	s->free_cursor = c + run;
	*off = c << s->cluster_bits;
	*got = run;
	*fresh = c >= s->fresh_from;
	s->fresh_from = MAX(s->fresh_from, c + run);
	s->host_limit = MAX(s->host_limit, (c + run) << s->cluster_bits);
	s->stat_alloc += run;
	return 0;
}

/* ---- contiguous runs at the end (new L1 tables) ------------------------------------------ */

/* Refcount blocks missing for clusters [a, a+len), counted by range. */
static uint64_t missing_blocks(const struct qcow2_state *s, uint64_t a, uint64_t len)
{
	uint64_t k = 0;

	for (uint64_t bi = a >> s->rb_bits; bi <= (a + len - 1) >> s->rb_bits; bi++)
		k += bi >= s->rt_size || !s->rt[bi];
	return k;
}

/* Blocks for the ranges of [a, a+m+n) that have none, at clusters [a, a+m), each counting
 * its part of the run (themselves included); the rest of the run is counted in the
 * existing blocks. */
static int count_run(struct blk_node *bs, uint64_t a, uint64_t m, uint64_t n)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t end = a + m + n, k = 0, first_new = a << s->cluster_bits;
	uint8_t *buf = malloc(s->cluster_size);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t bi = a >> s->rb_bits; r == 0 && bi <= (end - 1) >> s->rb_bits; bi++) {
		uint64_t lo = MAX(a, bi << s->rb_bits), hi = MIN(end, (bi + 1) << s->rb_bits);
		uint64_t blk = (a + k) << s->cluster_bits, soff, idx;

		if (s->rt[bi])
			continue;
		memset(buf, 0, s->cluster_size);
		for (uint64_t c = lo; c < hi; c++) {
			rb_locate(s, 0, c, &soff, &idx);
			rb_write(s, buf + soff, idx, 1);
		}
		r = qcow2_meta_add(s, blk, s->cluster_size, QCOW2_OL_RB);
		if (r == 0 && (r = blk_pwrite(bs->file, blk, buf, s->cluster_size, 0)) < 0)
			qcow2_meta_remove(s, blk, s->cluster_size, QCOW2_OL_RB);
		if (r < 0)
			break;
		s->rt[bi] = blk;
		rt_mark_dirty(s, bi);
		s->t_dirty = true; /* the table entries wait for a sync (qcow2_write_deps) */
		k++;
	}
	free(buf);
	for (uint64_t c = a; r == 0 && c < end; c++) {
		uint64_t b = s->rt[c >> s->rb_bits];

		if (b < first_new || b >= first_new + (m << s->cluster_bits))
			r = set_refcount_delta(bs, c, 1, a, end);
	}
	return r;
}

/*
 * @n contiguous clusters beyond everything in use, counted.  A run longer than a
 * refcount block's range cannot hold the blocks it needs inside itself (create_block()),
 * so the missing blocks go in front of it, as in grow_table().
 */
int qcow2_alloc_at_end(struct blk_node *bs, uint64_t n, uint64_t *off)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t a, m = 0, need, rc;
	int r;

	for (;;) {
		a = ALIGN_UP(s->host_limit, s->cluster_size) >> s->cluster_bits;
		if (((a + m + n - 1) >> s->rb_bits) >= s->rt_size) {
			if ((r = grow_table(bs, (a + m + n - 1) >> s->rb_bits)) < 0)
				return r;
			continue; /* the new table went to the end */
		}
		need = missing_blocks(s, a, m + n);
		if (need == m)
			break;
		m = need;
	}
	if ((r = qcow2_check_write(bs, a << s->cluster_bits, (m + n) << s->cluster_bits,
				   QCOW2_OL_DATA)) < 0)
		return r;
	for (uint64_t c = a; c < a + m + n; c++) {
		if ((r = qcow2_get_refcount(bs, c, &rc)) < 0)
			return r;
		if (rc)
			return qcow2_corrupt(bs, "cluster %" PRIu64 " beyond the end is in use", c);
	}
	if ((r = count_run(bs, a, m, n)) < 0)
		return r;
	*off = (a + m) << s->cluster_bits;
	s->host_limit = MAX(s->host_limit, (a + m + n) << s->cluster_bits);
	s->fresh_from = MAX(s->fresh_from, a + m + n);
	return 0;
}

/* ---- refcount table growth -------------------------------------------------------------- */

static int write_new_table(struct blk_node *bs, uint64_t *rt, uint64_t entries, uint64_t toff)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t bytes = ALIGN_UP(entries * 8, s->cluster_size);
	uint8_t *buf = calloc(1, bytes);
	int r;

	if (!buf)
		return -ENOMEM;
	for (uint64_t i = 0; i < entries; i++)
		put_be64(buf + i * 8, rt[i]);
	r = blk_pwrite(bs->file, toff, buf, bytes, 0);
	free(buf);
	return r;
}

/* Blocks for [a, end) clusters, placed at clusters [a, a+m), each counting its range. */
static int write_new_blocks(struct blk_node *bs, uint64_t *rt, uint64_t a, uint64_t m, uint64_t end)
{
	struct qcow2_state *s = bs->opaque;
	uint8_t *buf = malloc(s->cluster_size);
	uint64_t first_bi = a >> s->rb_bits;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t k = 0; k < m && r == 0; k++) {
		uint64_t bi = first_bi + k, lo = MAX(a, bi << s->rb_bits);
		uint64_t hi = MIN(end, (bi + 1) << s->rb_bits);

		memset(buf, 0, s->cluster_size);
		for (uint64_t c = lo; c < hi; c++) {
			uint64_t soff, idx;

			rb_locate(s, 0, c, &soff, &idx);
			rb_write(s, buf + soff, idx, 1);
		}
		rt[bi] = (a + k) << s->cluster_bits;
		r = blk_pwrite(bs->file, rt[bi], buf, s->cluster_size, 0);
	}
	free(buf);
	return r;
}

/* New blocks at clusters [a, a+m) and a new table at [a+m, a+m+k), beyond everything in
 * use: they must hold no metadata; the map knows them from now on. */
static int claim_new(struct blk_node *bs, uint64_t a, uint64_t m, uint64_t k)
{
	struct qcow2_state *s = bs->opaque;
	int r = qcow2_check_write(bs, a << s->cluster_bits, (m + k) << s->cluster_bits,
				  QCOW2_OL_DATA);

	if (r < 0 ||
	    (r = qcow2_meta_add(s, a << s->cluster_bits, m << s->cluster_bits, QCOW2_OL_RB)) < 0)
		return r;
	r = qcow2_meta_add(s, (a + m) << s->cluster_bits, k << s->cluster_bits, QCOW2_OL_RT);
	if (r < 0)
		qcow2_meta_remove(s, a << s->cluster_bits, m << s->cluster_bits, QCOW2_OL_RB);
	return r;
}

static void unclaim_new(struct qcow2_state *s, uint64_t a, uint64_t m, uint64_t k)
{
	qcow2_meta_remove(s, a << s->cluster_bits, m << s->cluster_bits, QCOW2_OL_RB);
	qcow2_meta_remove(s, (a + m) << s->cluster_bits, k << s->cluster_bits, QCOW2_OL_RT);
}

/*
 * Grow the refcount table to cover block @need_bi: new blocks and the new table go to the
 * first uncovered clusters (all free), are written and synced, then the header switches
 * to the new table (synced), then the old table's clusters are released.
 */
static int grow_table(struct blk_node *bs, uint64_t need_bi)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t a = s->rt_size << s->rb_bits, m = 1, k, entries, old_off = s->rt_offset;
	uint64_t old_bytes = (uint64_t)s->rt_clusters << s->cluster_bits, *rt;
	uint8_t hdr[12], *dirty;
	int r;

	a = MAX(a, ALIGN_UP(s->host_limit, s->cluster_size) >> s->cluster_bits);
	entries = MAX(need_bi + 1, s->rt_size + s->rt_size / 2);
	for (;;) {
		uint64_t last;

		k = DIV_ROUND_UP(entries * 8, s->cluster_size);
		last = (a + m + k - 1) >> s->rb_bits;
		if (last - (a >> s->rb_bits) + 1 > m) {
			m = last - (a >> s->rb_bits) + 1;
			continue;
		}
		if (last >= entries) {
			entries = last + 1;
			continue;
		}
		break;
	}
	entries = k * s->cluster_size / 8;
	if (entries * 8 > QCOW2_MAX_RT_BYTES)
		return -EFBIG;
	rt = calloc(entries, 8);
	dirty = calloc(DIV_ROUND_UP(entries, 64), 1);
	if (!rt || !dirty) {
		free(rt);
		free(dirty);
		return -ENOMEM;
	}
	memcpy(rt, s->rt, s->rt_size * 8);
	r = claim_new(bs, a, m, k);
	if (r < 0) {
		free(rt);
		free(dirty);
		return r;
	}
	r = write_new_blocks(bs, rt, a, m, a + m + k);
	if (r == 0)
		r = write_new_table(bs, rt, entries, (a + m) << s->cluster_bits);
	/* everything the new table points at must be durable before the header switches */
	if (r == 0)
		r = qcow2_cache_writeback(bs, &s->rbc);
	if (r == 0)
		r = qcow2_sync(bs);
	if (r == 0) {
		put_be64(hdr, (a + m) << s->cluster_bits);
		put_be32(hdr + 8, (uint32_t)k);
		r = qcow2_write_header_field(bs, QCOW2_HDR_RT_OFFSET, hdr, sizeof(hdr));
	}
	if (r == 0)
		r = qcow2_sync(bs);
	if (r < 0) {
		unclaim_new(s, a, m, k);
		free(rt);
		free(dirty);
		return r;
	}
	qcow2_meta_remove(s, old_off, old_bytes, QCOW2_OL_RT);
	log_debug("qcow2", "refcount table grown to %" PRIu64 " entries at cluster %" PRIu64,
		  entries, a + m);
	free(s->rt);
	free(s->rt_dirty);
	s->rt = rt;
	s->rt_dirty = dirty;
	s->rt_any_dirty = false;
	s->rt_size = entries;
	s->rt_offset = (a + m) << s->cluster_bits;
	s->rt_clusters = (uint32_t)k;
	s->host_limit = MAX(s->host_limit, (a + m + k) << s->cluster_bits);
	s->fresh_from = MAX(s->fresh_from, a + m + k);
	s->t_dirty = false;
	/* the header is durable: the old table is garbage now */
	return qcow2_update_refcount(bs, old_off, old_bytes, -1);
}

int qcow2_write_rt(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	uint8_t buf[512];

	if (!s->rt_any_dirty)
		return 0;
	for (uint64_t sec = 0; sec < DIV_ROUND_UP(s->rt_size, 64); sec++) {
		uint64_t n = MIN(64, s->rt_size - sec * 64);
		int r;

		if (!s->rt_dirty[sec])
			continue;
		memset(buf, 0, sizeof(buf));
		for (uint64_t i = 0; i < n; i++)
			put_be64(buf + i * 8, s->rt[sec * 64 + i]);
		r = qcow2_check_write(bs, s->rt_offset + sec * 512, n * 8, QCOW2_OL_RT);
		if (r == 0)
			r = blk_pwrite(bs->file, s->rt_offset + sec * 512, buf, n * 8, 0);
		if (r < 0)
			return r;
		s->rt_dirty[sec] = 0;
	}
	s->rt_any_dirty = false;
	return 0;
}

int qcow2_rt_init(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t bytes = (uint64_t)s->rt_clusters << s->cluster_bits;
	uint8_t *buf = malloc(bytes);
	int r;

	s->rt_size = bytes / 8;
	s->rt = calloc(s->rt_size, 8);
	s->rt_dirty = calloc(DIV_ROUND_UP(s->rt_size, 64), 1);
	if (!buf || !s->rt || !s->rt_dirty) {
		free(buf);
		return err_set(err, -ENOMEM, "out of memory");
	}
	r = blk_pread(bs->file, s->rt_offset, buf, bytes);
	if (r < 0) {
		free(buf);
		return err_set_errno(err, r, "qcow2: could not read the refcount table");
	}
	for (uint64_t i = 0; i < s->rt_size && r == 0; i++) {
		uint64_t e = get_be64(buf + i * 8);

		s->rt[i] = e & QCOW2_RTE_OFFSET_MASK;
		/* what else a block may overlap is checked by qcow2_meta_build() */
		if ((e & ~QCOW2_RTE_OFFSET_MASK) ||
		    (s->rt[i] && s->rt[i] + s->cluster_size > s->host_limit))
			r = err_set(err, -EINVAL,
				    "qcow2: refcount table entry %" PRIu64 " (0x%" PRIx64
				    ") is invalid",
				    i, e);
	}
	free(buf);
	return r;
}

/* ---- deferred frees --------------------------------------------------------------------- */

int qcow2_free_later(struct blk_node *bs, uint64_t off, uint64_t len)
{
	struct qcow2_state *s = bs->opaque;

	if (s->nfrees == s->frees_cap) {
		size_t cap = s->frees_cap ? 2 * s->frees_cap : 64;
		struct qcow2_free *f = realloc(s->frees, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		s->frees = f;
		s->frees_cap = cap;
	}
	s->frees[s->nfrees++] =
		(struct qcow2_free){ .off = off, .len = len, .gen = UINT64_MAX, .epoch = s->epoch };
	return 0;
}

void qcow2_frees_written(struct qcow2_state *s)
{
	for (size_t i = 0; i < s->nfrees; i++)
		if (s->frees[i].gen == UINT64_MAX)
			s->frees[i].gen = s->sync_seq;
}

/* Drop one reference of [off, off+len); clusters reaching 0 leave the caches and are
 * punched out of the file when @punch. */
static int release_range(struct blk_node *bs, uint64_t off, uint64_t len, bool punch)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t first = off >> s->cluster_bits, last = (off + len - 1) >> s->cluster_bits;
	uint64_t run_start = 0, run_len = 0, v;
	int r;

	for (uint64_t c = first; c <= last + 1; c++) {
		unsigned int hit;
		bool zero = false;

		if (c <= last) {
			r = qcow2_get_refcount(bs, c, &v);
			if (r < 0)
				return r;
			/* only clusters that hold no metadata may become free */
			hit = v == 1 ? qcow2_check_overlap(s, c << s->cluster_bits, s->cluster_size,
							   QCOW2_OL_DATA)
				     : 0;
			if (hit)
				return qcow2_corrupt(bs,
						     "cluster %" PRIu64 " holds the %s: its last "
						     "reference cannot go",
						     c, qcow2_ol_name(hit));
			r = set_refcount_delta(bs, c, -1, 0, 0);
			if (r < 0)
				return r;
			zero = v == 1;
			if (zero) {
				qcow2_cache_discard(&s->l2c, c << s->cluster_bits, s->cluster_size);
				qcow2_cache_discard(&s->rbc, c << s->cluster_bits, s->cluster_size);
			}
		}
		if (zero && run_len && run_start + run_len == c) {
			run_len++;
			continue;
		}
		if (run_len && punch)
			blk_discard(bs->file, run_start << s->cluster_bits,
				    run_len << s->cluster_bits);
		run_len = zero ? 1 : 0;
		run_start = c;
	}
	return 0;
}

int qcow2_apply_ripe_frees(struct blk_node *bs, bool punch)
{
	struct qcow2_state *s = bs->opaque;
	size_t keep = 0;
	int r = 0;

	if (!s->nfrees)
		return 0;
	qcow2_epoch_advance(s);
	for (size_t i = 0; i < s->nfrees; i++) {
		struct qcow2_free *f = &s->frees[i];

		if (r == 0 && f->gen != UINT64_MAX && qcow2_synced_since(s, f->gen) &&
		    s->epoch >= f->epoch + 2) {
			r = release_range(bs, f->off, f->len, punch);
			if (r == 0)
				continue;
		}
		s->frees[keep++] = *f;
	}
	s->nfrees = keep;
	return r;
}
