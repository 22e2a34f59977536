/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Format driver "qcow2": open/close, options, limits, info, the ops table; the top of the
 * driver's files (qcow2-int.h lists them in layer order).  See docs/QCOW2.md for the design
 * (write ordering, caches, concurrency).
 */
#include "qcow2.h"
#include "qcow2-int.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"

#define L2_CACHE_DEFAULT_MAX (32u << 20)
#define RB_CACHE_DEFAULT (256u << 10)
#define CACHE_MIN_SLICES 16u
#define CACHE_MAX_BYTES (1ull << 32)

static int qcow2_probe(const uint8_t *buf, size_t len, const char *filename)
{
	(void)filename;
	if (len >= 8 && get_be32(buf) == QCOW2_MAGIC &&
	    (get_be32(buf + 4) == 2 || get_be32(buf + 4) == 3))
		return 100;
	return 0;
}

/* ---- open / close ------------------------------------------------------------------------ */

static int read_l1(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	size_t bytes = (size_t)s->l1_size * 8;
	uint8_t *buf = malloc(bytes ? bytes : 1);
	int r = 0;

	s->l1 = calloc(s->l1_size ? s->l1_size : 1, 8);
	s->l1_dirty = calloc(DIV_ROUND_UP(s->l1_size, 64) + 1, 1);
	if (!buf || !s->l1 || !s->l1_dirty) {
		free(buf);
		return err_set(err, -ENOMEM, "out of memory");
	}
	if (bytes && (r = blk_pread(bs->file, s->l1_offset, buf, bytes)) < 0) {
		free(buf);
		return err_set_errno(err, r, "qcow2: could not read the L1 table");
	}
	for (uint32_t i = 0; i < s->l1_size; i++) {
		uint64_t e = get_be64(buf + (size_t)i * 8), off = e & QCOW2_L1E_OFFSET_MASK;

		s->l1[i] = e;
		/* what else the table may overlap is checked by qcow2_meta_build() */
		if (off && ((e & QCOW2_L1E_RESERVED) || off + s->cluster_size > s->host_limit)) {
			r = err_set(err, -EINVAL, "qcow2: L1 entry %u (0x%" PRIx64 ") is invalid",
				    i, e);
			break;
		}
	}
	free(buf);
	return r;
}

static unsigned int cache_slices(uint64_t bytes, unsigned int slice)
{
	uint64_t n = MAX(bytes / slice, (uint64_t)CACHE_MIN_SLICES);

	return (unsigned int)MIN(n, CACHE_MAX_BYTES / slice);
}

static int setup_caches(struct blk_node *bs, struct opts *opts, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	unsigned int slice = (unsigned int)MIN(s->cluster_size, (uint64_t)QCOW2_SLICE_MAX);
	uint64_t need = qcow2_size_to_clusters(s, s->size) * s->l2_entry_size;
	uint64_t l2 = 0, rb = 0, clean = 0;
	int r;

	need = ALIGN_UP(MAX(need, (uint64_t)slice), (uint64_t)slice);
	r = opts_get_size(opts, "l2-cache-size", MIN(need, (uint64_t)L2_CACHE_DEFAULT_MAX), &l2,
			  err);
	if (r == 0)
		r = opts_get_size(opts, "refcount-cache-size", RB_CACHE_DEFAULT, &rb, err);
	if (r == 0)
		r = opts_get_u64(opts, "cache-clean-interval", 600, &clean, err);
	if (r < 0)
		return r;
	if (clean > UINT32_MAX)
		return err_set(err, -EINVAL, "qcow2: cache-clean-interval %" PRIu64 " is too large",
			       clean);
	if (qcow2_cache_init(&s->l2c, "L2", QCOW2_OL_L2, slice,
			     cache_slices(MIN(l2, need), slice)) < 0 ||
	    qcow2_cache_init(&s->rbc, "refcount", QCOW2_OL_RB, slice, cache_slices(rb, slice)) < 0)
		return err_set(err, -ENOMEM, "qcow2: out of memory for the metadata caches");
	s->l2c.before_write = qcow2_write_deps;
	s->clean_interval = (unsigned int)clean;
	return 0;
}

static int open_children(struct blk_node *bs, unsigned int flags, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	int r;

	s->data = bs->file;
	if (s->data_file_name) {
		r = blk_open_child(bs, s->data_file_name, "file", flags & BLK_O_RDWR, &s->data_file,
				   err);
		if (r < 0) {
			err_prefix(err, "qcow2: could not open the data file");
			return r;
		}
		s->data = s->data_file;
	}
	if (s->backing_name && !(flags & BLK_O_NO_BACKING)) {
		r = blk_open_child(bs, s->backing_name, s->backing_fmt, 0, &bs->backing, err);
		if (r < 0) {
			err_prefix(err, "qcow2: could not open the backing file '%s'",
				   s->backing_name);
			return r;
		}
	}
	return 0;
}

/* Read-write opens: repair after a crash with lazy refcounts, drop unknown autoclear bits,
 * mark bitmaps in use, set the dirty bit for lazy refcounts. */
static int open_rw(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint8_t b[8];
	int r;

	if (s->incompat & QCOW2_INCOMPAT_DIRTY) {
		r = qcow2_repair_refcounts(bs, err);
		if (r < 0)
			return r;
	}
	if (s->autoclear & ~QCOW2_AUTOCLEAR_KNOWN) {
		s->autoclear &= QCOW2_AUTOCLEAR_KNOWN;
		put_be64(b, s->autoclear);
		r = qcow2_write_header_field(bs, QCOW2_HDR_AUTOCLEAR, b, 8);
		if (r < 0)
			return err_set_errno(err, r, "qcow2: could not update the header");
	}
	r = qcow2_bitmaps_mark_in_use(bs, err);
	if (r < 0)
		return r;
	if (s->lazy) {
		r = qcow2_set_incompat(bs, s->incompat | QCOW2_INCOMPAT_DIRTY);
		if (r < 0)
			return err_set_errno(err, r, "qcow2: could not set the dirty bit");
	} else if (s->incompat & QCOW2_INCOMPAT_DIRTY) {
		r = qcow2_set_incompat(bs, s->incompat & ~QCOW2_INCOMPAT_DIRTY);
		if (r < 0)
			return err_set_errno(err, r, "qcow2: could not clear the dirty bit");
	}
	r = qcow2_sync(bs);
	return r < 0 ? err_set_errno(err, r, "qcow2: flush failed") : 0;
}

static void free_state(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;

	qcow2_cleaner_stop(s);
	qcow2_async_free(s);
	blk_close(s->data_file);
	s->data_file = NULL;
	qcow2_cache_release(&s->l2c);
	qcow2_cache_release(&s->rbc);
	qcow2_free_snapshots(s);
	qcow2_free_bitmaps(s);
	qcow2_meta_free(s);
	free(s->l1);
	free(s->l1_dirty);
	free(s->rt);
	free(s->rt_dirty);
	free(s->frees);
	free(s->rsv);
	free(s->backing_name);
	free(s->backing_fmt);
	free(s->data_file_name);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
}

static int open_options(struct blk_node *bs, struct opts *opts, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	bool lazy;
	int r = opts_get_bool(opts, "lazy-refcounts", s->compat & QCOW2_COMPAT_LAZY_REFCOUNTS,
			      &lazy, err);

	if (r < 0)
		return r;
	if (lazy && s->version < 3)
		return err_set(err, -EINVAL,
			       "qcow2: lazy-refcounts=on needs a version 3 (compat=1.1) image");
	s->lazy = lazy && !bs->read_only;
	return setup_caches(bs, opts, err);
}

static int qcow2_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	int r;

	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->read_only = bs->read_only;
	r = qcow2_read_header(bs, err);
	if (r == 0)
		r = qcow2_read_bitmaps(bs, err);
	if (r == 0) {
		s->host_limit = ALIGN_UP(s->file_len_open, s->cluster_size);
		s->fresh_from = s->host_limit >> s->cluster_bits;
		r = open_options(bs, opts, err);
	}
	if (r == 0)
		r = qcow2_read_snapshots(bs, err);
	if (r == 0)
		r = read_l1(bs, err);
	if (r == 0)
		r = qcow2_rt_init(bs, err);
	if (r == 0)
		r = qcow2_meta_build(bs, err);
	if (r == 0)
		r = open_children(bs, flags, err);
	if (r == 0 && !bs->read_only)
		r = open_rw(bs, err);
	if (r == 0 && (r = qcow2_cleaner_start(bs, s->clean_interval)) < 0)
		err_set_errno(err, r, "qcow2: cannot start the cache cleaner");
	if (r < 0) {
		blk_close(bs->backing);
		bs->backing = NULL;
		free_state(bs);
		return r;
	}
	bs->total_size = s->size;
	return 0;
}

static int close_rw(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	int r;

	/* no I/O is in flight: every queued free becomes applicable after one sync; unused
	 * reservations go back */
	s->closing = true;
	r = qcow2_flush_meta(bs);
	if (r == 0 && (s->nfrees || s->nrsv) && (r = qcow2_sync(bs)) == 0) {
		r = qcow2_rsv_release(bs);
		if (r == 0)
			r = qcow2_flush_meta(bs);
	}
	if (r == 0)
		r = qcow2_rsv_shrink_file(bs);
	if (r == 0)
		r = qcow2_sync(bs);
	if (r == 0 && s->lazy) {
		r = qcow2_set_incompat(bs, s->incompat & ~QCOW2_INCOMPAT_DIRTY);
		if (r == 0)
			r = qcow2_sync(bs);
	}
	return r;
}

static void qcow2_close(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;

	if (!bs->read_only && !s->corrupt) {
		int r;

		qcow2_lock(s);
		r = close_rw(bs);
		qcow2_unlock(s);
		if (r < 0)
			log_err("qcow2: %s: writing metadata on close failed: %s", bs->filename,
				strerror(-r));
	}
	free_state(bs);
}

static int64_t qcow2_get_length(struct blk_node *bs)
{
	return (int64_t)((struct qcow2_state *)bs->opaque)->size;
}

static void qcow2_refresh_limits(struct blk_node *bs, struct blk_limits *lim)
{
	struct qcow2_state *s = bs->opaque;

	lim->opt_transfer = (uint32_t)s->cluster_size;
	lim->discard_granularity = (uint32_t)s->cluster_size;
	lim->caps = BLK_CAP_DISCARD | BLK_CAP_ZERO_UNMAP | BLK_CAP_RESIZE;
	if (s->version >= 3 || !bs->backing)
		lim->caps |= BLK_CAP_DISCARD_ZEROES | BLK_CAP_FAST_ZERO;
	if (s->version < 3 && bs->backing)
		lim->caps &= ~BLK_CAP_DISCARD;
}

static void describe_features(struct qcow2_state *s, char *buf, size_t len)
{
	snprintf(buf, len,
		 "qcow2 version: %u (compat %s)\ncluster size: %" PRIu64
		 "\nrefcount bits: %u\nextended l2: %s\ncompression type: %s\n"
		 "lazy refcounts: %s\ncorrupt: %s\ndata file: %s%s\n",
		 s->version, s->version >= 3 ? "1.1" : "0.10", s->cluster_size,
		 1u << s->refcount_order, s->ext_l2 ? "true" : "false",
		 s->compression_type ? "zstd" : "zlib", s->lazy ? "true" : "false",
		 (s->incompat & QCOW2_INCOMPAT_CORRUPT) || s->corrupt ? "true" : "false",
		 s->data_file_name ? s->data_file_name : "none", s->data_file_raw ? " (raw)" : "");
}

static void qcow2_describe(struct blk_node *bs, char *buf, size_t len)
{
	struct qcow2_state *s = bs->opaque;
	size_t n;

	qcow2_lock(s);
	describe_features(s, buf, len);
	n = strlen(buf);
	if (s->backing_name && n < len)
		n += (size_t)snprintf(buf + n, len - n, "backing name: %s%s%s%s\n", s->backing_name,
				      s->backing_fmt ? " (format " : "",
				      s->backing_fmt ? s->backing_fmt : "",
				      s->backing_fmt ? ")" : "");
	for (unsigned int i = 0; i < s->nb_snapshots && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n,
				      "snapshot: id %s name '%s' vm state %" PRIu64 "\n",
				      s->snaps[i].id, s->snaps[i].name, s->snaps[i].vm_state_size);
	for (unsigned int i = 0; i < s->nb_bitmaps && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "bitmap: '%s' granularity %u%s\n",
				      s->bitmaps[i].name, 1u << s->bitmaps[i].granularity_bits,
				      (s->bitmaps[i].flags & 1) ? " (in use)" : "");
	if (n < len)
		snprintf(buf + n, len - n,
			 "l2 cache: %u slices of %u bytes (%" PRIu64 " hits, %" PRIu64
			 " misses, %" PRIu64 " idle ones dropped)\nrefcount cache: %u slices\n"
			 "async path: %" PRIu64 " reads and writes (%" PRIu64
			 " allocating), %" PRIu64 " flushes\n",
			 s->l2c.n, s->l2c.slice_size, s->l2c.hits, s->l2c.misses, s->l2c.cleaned,
			 s->rbc.n, s->stat_fast_rw, s->stat_fast_alloc, s->stat_fast_flush);
	qcow2_unlock(s);
}

static const struct blk_opt_desc qcow2_options[] = {
	{ "l2-cache-size", "bytes of L2 table cache (default: enough for the whole image, at "
			   "most 32M)" },
	{ "refcount-cache-size", "bytes of refcount block cache (default 256K)" },
	{ "cache-clean-interval", "seconds after which unused cache entries are dropped "
				  "(default 600; 0: never)" },
	{ "lazy-refcounts", "on or off: defer refcount updates (QEMU's meaning; repaired at "
			    "open after a crash)" },
	{ NULL, NULL },
};

const struct blk_driver blk_driver_qcow2 = {
	.name = "qcow2",
	.kind = BLK_DRIVER_FORMAT,
	.summary = "QEMU's copy-on-write format, native (v2/v3, backing chains, snapshots "
		   "kept, compressed clusters, external data files)",
	.options = qcow2_options,
	.state_size = sizeof(struct qcow2_state),
	.probe = qcow2_probe,
	.open = qcow2_open,
	.close = qcow2_close,
	.refresh_limits = qcow2_refresh_limits,
	.get_length = qcow2_get_length,
	.truncate = qcow2_truncate,
	.preadv = qcow2_preadv,
	.pwritev = qcow2_pwritev,
	.flush = qcow2_flush,
	.flush_syncs_file = true,
	.discard = qcow2_discard,
	.write_zeroes = qcow2_write_zeroes,
	.block_status = qcow2_block_status,
	.submit = qcow2_submit,
	.attach_ctx = qcow2_attach_ctx,
	.describe = qcow2_describe,
};
