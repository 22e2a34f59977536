/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cluster reservations a flush ahead: what lets a guest flush after allocations cost one
 * fdatasync (docs/QCOW2.md, "One sync per flush").
 *
 * A flush after allocations reserves clusters for the next flush epoch: their refcounts are raised
 * (and written with this flush's refcount blocks), the file is extended to cover them, and reused
 * clusters are punched so that they read as zeroes.  After this flush's sync they are *ready*: an
 * L2 or L1 entry pointing at one may be written in the same epoch as the data, because its refcount
 * and the file length are already durable, and a lost data write leaves zeroes, not stale bytes.
 * Allocations take ready clusters first; without any (the reserve ran dry) they allocate directly
 * and set need_sync, and the pointers wait for a dependency sync as before.  After a crash, unused
 * reservations are leaks. Callers hold s->lock.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define RSV_MIN 16u		    /* clusters */
#define RSV_TOPUP 64u		    /* clusters reserved after a direct allocation */
#define RSV_MAX_BYTES (64ull << 20) /* at most this much is reserved (leaked on a crash) */
#define RSV_STAMP_NONE UINT64_MAX

static uint64_t rsv_cap(const struct qcow2_state *s)
{
	return MAX((uint64_t)RSV_MIN, RSV_MAX_BYTES >> s->cluster_bits);
}

static uint64_t rsv_count(const struct qcow2_state *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->nrsv; i++)
		n += s->rsv[i].n;
	return n;
}

static bool rsv_ready(const struct qcow2_state *s, const struct qcow2_rsv *v)
{
	return v->gen != RSV_STAMP_NONE && qcow2_synced_since(s, v->gen);
}

static int rsv_push(struct qcow2_state *s, uint64_t c, uint64_t n, bool zero)
{
	struct qcow2_rsv *last = s->nrsv ? &s->rsv[s->nrsv - 1] : NULL;

	if (last && last->gen == RSV_STAMP_NONE && last->zero == zero && last->c + last->n == c) {
		last->n += n;
		return 0;
	}
	if (s->nrsv == s->rsv_cap) {
		size_t cap = s->rsv_cap ? 2 * s->rsv_cap : 16;
		struct qcow2_rsv *v = realloc(s->rsv, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->rsv = v;
		s->rsv_cap = cap;
	}
	s->rsv[s->nrsv++] =
		(struct qcow2_rsv){ .c = c, .n = n, .gen = RSV_STAMP_NONE, .zero = zero };
	return 0;
}

/* The run to take from: the first ready one, else the first one. */
static struct qcow2_rsv *pick(struct qcow2_state *s)
{
	for (size_t i = 0; i < s->nrsv; i++)
		if (rsv_ready(s, &s->rsv[i]))
			return &s->rsv[i];
	return s->nrsv ? &s->rsv[0] : NULL;
}

/* Up to @want clusters from run @v; a run not ready yet makes the pointers wait for a
 * dependency sync, as a direct allocation does. */
static void take(struct qcow2_state *s, struct qcow2_rsv *v, uint64_t want, uint64_t *off,
		 uint64_t *got, bool *zero)
{
	*off = v->c << s->cluster_bits;
	*got = MIN(want, v->n);
	*zero = v->zero;
	if (!rsv_ready(s, v))
		s->need_sync = true;
	v->c += *got;
	v->n -= *got;
	if (!v->n) {
		memmove(v, v + 1, (size_t)(s->rsv + s->nrsv - v - 1) * sizeof(*v));
		s->nrsv--;
	}
	s->rsv_used += *got;
}

static int rsv_take(struct qcow2_state *s, uint64_t want, uint64_t *off, uint64_t *got, bool *zero)
{
	struct qcow2_rsv *v = pick(s);

	*got = 0;
	if (v)
		take(s, v, want, off, got, zero);
	return 0;
}

bool qcow2_rsv_take_zero(struct qcow2_state *s, uint64_t n, uint64_t *off)
{
	struct qcow2_rsv *v = pick(s);
	uint64_t got;
	bool zero;

	if (!v || !v->zero || v->n < n)
		return false;
	take(s, v, n, off, &got, &zero);
	return true;
}

/* A reused (not fresh) run reads as zeroes only once punched. */
static bool punch(struct blk_node *bs, uint64_t off, uint64_t len)
{
	if (!(bs->file->limits.caps & BLK_CAP_DISCARD_ZEROES) || bs->file->discard_ignore)
		return false;
	return blk_discard(bs->file, off, len) == 0;
}

/* The file must cover every reservation before its sync (an entry pointing past the end
 * of the file is an error for `qemu-img check`). */
static void extend_file(struct blk_node *bs, uint64_t end)
{
	struct qcow2_state *s = bs->opaque;
	int64_t len = blk_getlength(bs->file);

	if (len >= 0 && (uint64_t)len >= end)
		return;
	if (blk_truncate(bs->file, end, NULL) == 0)
		s->extended = true;
}

/* Reserve @n more clusters (refcounts raised in the cache, file extended). */
static int reserve(struct blk_node *bs, uint64_t n)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t have = 0, end = 0;
	int r = 0;

	while (have < n) {
		uint64_t off, got;
		bool fresh;

		r = qcow2_alloc_clusters(bs, n - have, &off, &got, &fresh);
		if (r < 0)
			break;
		if (!fresh)
			fresh = punch(bs, off, got << s->cluster_bits);
		r = rsv_push(s, off >> s->cluster_bits, got, fresh);
		if (r < 0) {
			qcow2_update_refcount(bs, off, got << s->cluster_bits, -1);
			break;
		}
		have += got;
		end = MAX(end, off + (got << s->cluster_bits));
	}
	if (end)
		extend_file(bs, end);
	return r == -ENOSPC || r == -EFBIG ? 0 : r;
}

int qcow2_alloc_for_use(struct blk_node *bs, uint64_t n, uint64_t *off, uint64_t *got, bool *zero)
{
	struct qcow2_state *s = bs->opaque;
	int r = rsv_take(s, n, off, got, zero);

	if (r < 0 || *got)
		return r;
	r = qcow2_alloc_clusters(bs, n, off, got, zero);
	if (r < 0)
		return r;
	/* neither the refcount nor the file length is durable yet */
	s->need_sync = true;
	s->rsv_missed += *got;
	/* between flushes too, keep some clusters for the async path (reserved without I/O
	 * in the loop; they need the same dependency sync until a flush made them ready) */
	if (!s->closing && !s->read_only)
		r = reserve(bs, RSV_TOPUP);
	return r;
}

int qcow2_rsv_refill(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t have = rsv_count(s), want;

	/* nothing was allocated in this epoch (a reading session never writes) */
	if (s->read_only || bs->open_flags & BLK_O_NO_FLUSH || !(s->rsv_used + s->rsv_missed))
		return 0;
	/* aim at twice what the last epoch used, within bounds */
	want = MIN(MAX((uint64_t)RSV_MIN, 2 * (s->rsv_used + s->rsv_missed)), rsv_cap(s));
	s->rsv_used = s->rsv_missed = 0;
	return have < want ? reserve(bs, want - have) : 0;
}

void qcow2_rsv_stamp(struct qcow2_state *s)
{
	if (s->rt_any_dirty) /* a new refcount block's table entry is not written yet */
		return;
	for (size_t i = 0; i < s->nrsv; i++)
		if (s->rsv[i].gen == RSV_STAMP_NONE)
			s->rsv[i].gen = s->sync_seq;
}

int qcow2_rsv_release(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	int r = 0;

	while (s->nrsv && r == 0) {
		struct qcow2_rsv *v = &s->rsv[s->nrsv - 1];

		r = qcow2_update_refcount(bs, v->c << s->cluster_bits, v->n << s->cluster_bits, -1);
		if (r == 0)
			s->nrsv--;
	}
	return r;
}

/* After the reservations went back: give the file's unused tail back too (never below
 * its length at open, never below a cluster in use). */
int qcow2_rsv_shrink_file(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	int64_t len = blk_getlength(bs->file);
	uint64_t keep, c, rc = 0;
	int r = 0;

	if (!s->extended || len < 0)
		return 0;
	keep = ALIGN_UP(s->file_len_open, s->cluster_size);
	for (c = (uint64_t)len >> s->cluster_bits; c > keep >> s->cluster_bits; c--) {
		r = qcow2_get_refcount(bs, c - 1, &rc);
		if (r < 0 || rc)
			break;
	}
	keep = MAX(s->file_len_open, c << s->cluster_bits);
	if (r < 0 || (uint64_t)len <= keep)
		return r;
	log_debug("qcow2", "file shrunk back from %" PRId64 " to %" PRIu64 " bytes", len, keep);
	return blk_truncate(bs->file, keep, NULL);
}
