/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The qcow2 driver's private interface: the state of a node and the contracts between the
 * driver's files.  The block layer sees only the ops table (qcow2.h).
 *
 * Spec: QEMU docs/interop/qcow2.rst.  Everything on disk is big-endian; the L1 table and
 * the refcount table are kept in memory in host order, L2 tables and refcount blocks in
 * 4 KiB slice caches in disk order.  docs/QCOW2.md describes the write ordering.
 *
 * Locking: one mutex (s->lock, order.c) protects all metadata: caches, L1, refcount table,
 * allocator, in-flight allocation list, deferred frees.  It is held during metadata I/O
 * (cache misses, write-back) but never during guest data I/O.
 *
 * Layers: each file calls only files listed before it, and the sections below follow
 * this order.
 *   order.c     the lock, syncs and their sequence numbers, data I/O epochs
 *   inflight.c  allocations in flight (guest clusters other writers wait for)
 *   header.c    header parsing, in-place field updates, the corrupt bit
 *   compress.c  compressed clusters
 *   meta.c      the metadata map and the overlap checks
 *   snapshot.c, bitmap.c  the snapshot table, persistent bitmaps
 *   cache.c     L2 / refcount-block slice caches, cache-clean-interval
 *   refcount.c  refcounts, the allocator, refcount-table growth, deferred frees
 *   reserve.c   clusters reserved a flush ahead
 *   cluster.c   L1 / L2 access, entry decoding, L2 table allocation and copy
 *   flush.c     metadata write-back in dependency order, the flush op
 *   rw.c        guest reads and writes (the blocking path), an allocating write's commit
 *   zero.c      discard, write_zeroes, block status
 *   async.c     the async fast path
 *   repair.c    refcount rebuild for dirty images
 *   resize.c    grow and shrink
 *   qcow2.c     open / close, options, limits, info, the ops table
 * One call runs upward: a dirty L2 slice may be written back only after what its entries
 * point at is durable, so the cache runs flush.c's qcow2_write_deps first, which writes
 * back through the cache in turn.  cache.c reaches it through its before_write hook,
 * which qcow2.c sets at open (as QEMU's L2 cache names the refcount cache it depends on).
 */
#ifndef QT_BLOCK_QCOW2_QCOW2_INT_H
#define QT_BLOCK_QCOW2_QCOW2_INT_H

#include <endian.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "block/block-driver.h"
#include "util/bytes.h"
#include "util/compiler.h"

struct err;

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define QCOW2_V2_HDR_LEN 72
#define QCOW2_V3_HDR_LEN 104
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_L1_BYTES (32u << 20) /* QEMU's limit */
#define QCOW2_MAX_RT_BYTES (8u << 20)  /* QEMU's limit */
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_SLICE_MAX 4096u

/* header extension types */
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURES 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

/* feature bits */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1full
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (1ull << 1)
#define QCOW2_AUTOCLEAR_KNOWN 0x3ull

/* header field offsets */
#define QCOW2_HDR_RT_OFFSET 48
#define QCOW2_HDR_INCOMPAT 72
#define QCOW2_HDR_AUTOCLEAR 88

/* L1/L2 entries */
#define QCOW2_OFLAG_COPIED (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO (1ull << 0)
#define QCOW2_L1E_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L2E_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L1E_RESERVED 0x7f000000000001ffull
#define QCOW2_RTE_OFFSET_MASK 0xfffffffffffffe00ull
#define QCOW2_SC_PER_CLUSTER 32 /* extended L2 */

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

/* ---- slice cache (cache.c) ------------------------------------------------------------ */

struct qcow2_slice {
	uint64_t off; /* host offset; UINT64_MAX = empty */
	uint8_t *data;
	unsigned int pin;
	unsigned int used; /* the cache's clean pass when last used */
	bool dirty;
	bool ref; /* clock bit */
	struct qcow2_slice *hnext;
};

struct qcow2_cache {
	const char *name;
	unsigned int kind; /* QCOW2_OL_L2 or QCOW2_OL_RB: what its slices hold */
	/* Optional: run before a dirty slice is written back.  The L2 cache's is
	 * qcow2_write_deps (flush.c), so that what its entries point at is durable first. */
	int (*before_write)(struct blk_node *bs);
	unsigned int slice_size;
	unsigned int n;
	unsigned int hand;
	unsigned int hmask;
	unsigned int ndirty;
	unsigned int pass; /* idle-clean passes so far */
	uint8_t *mem;
	struct qcow2_slice *e;
	struct qcow2_slice **hash;
	uint64_t hits, misses, cleaned;
};

/* ---- metadata map (meta.c) ------------------------------------------------------------ */

/*
 * Every host cluster holding metadata, with its kinds and, for active L2 tables, how many
 * active L1 entries point at it: a hash set (open addressing) built at open and kept up
 * to date when tables and blocks are allocated, switched and dropped.  Under s->lock.
 */
struct qcow2_meta {
	uint64_t *slot; /* cluster + 1 (bits 0-47), kinds (48-56), L2 references (57-63) */
	unsigned int bits;
	uint64_t used;
};

/* ---- deferred frees and in-flight allocations ----------------------------------------- */

struct qcow2_free {
	uint64_t off, len; /* host byte range whose clusters lose one reference */
	uint64_t gen;	   /* UINT64_MAX until the reference removal was written; then the
			    * sync sequence number (ripe once a later sync completed) */
	uint64_t epoch;	   /* I/O epoch when queued (safe once s->epoch >= epoch + 2) */
};

/* A run of reserved clusters (reserve.c). */
struct qcow2_rsv {
	uint64_t c, n; /* clusters [c, c+n) */
	uint64_t gen;  /* sync sequence number once written (UINT64_MAX before) */
	bool zero;     /* reads as zeroes (fresh or punched) */
};

/* An allocation in flight (inflight.c). */
struct qcow2_inflight {
	uint64_t start, end; /* guest cluster indexes [start, end) being changed */
	struct qcow2_inflight *next;
};

struct qcow2_snapshot {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id, *name;
	uint64_t vm_state_size, disk_size, date_sec;
};

struct qcow2_bitmap {
	uint64_t table_offset;
	uint32_t table_size;
	uint32_t flags;
	unsigned int granularity_bits;
	char *name;
};

struct qcow2_async;
struct qcow2_cleaner;

struct qcow2_state {
	/* geometry: immutable after open */
	unsigned int version;
	unsigned int cluster_bits;
	uint64_t cluster_size;
	unsigned int l2_bits; /* log2(entries per L2 table) */
	unsigned int l2_entry_size;
	bool ext_l2;
	unsigned int sc_bits; /* log2(subcluster size) */
	unsigned int nsc;     /* subclusters per cluster: 32 or 1 */
	unsigned int refcount_order;
	uint64_t refcount_max;
	unsigned int rb_bits; /* log2(refcounts per refcount block) */
	unsigned int csize_shift;
	uint64_t csize_mask, coffset_mask;
	uint64_t size; /* virtual */
	uint64_t incompat, compat, autoclear;
	unsigned int compression_type;
	uint32_t header_length;
	char *backing_name, *backing_fmt, *data_file_name;
	bool lazy; /* lazy refcounts in effect (dirty bit set while open) */
	bool data_file_raw;
	bool read_only;

	/* the node that holds guest data: bs->file, or the external data file */
	struct blk_node *data;
	struct blk_node *data_file; /* owned, external */

	/* L1 table and refcount table, host order */
	uint64_t l1_offset;
	uint32_t l1_size;
	uint64_t *l1;
	uint8_t *l1_dirty; /* one flag per 512-byte sector of the table */
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint64_t rt_size; /* entries */
	uint64_t *rt;
	uint8_t *rt_dirty; /* one flag per 512-byte sector */
	bool l1_any_dirty, rt_any_dirty;

	struct qcow2_snapshot *snaps;
	unsigned int nb_snapshots;
	uint64_t snapshots_offset, snapshots_len;
	struct qcow2_bitmap *bitmaps;
	unsigned int nb_bitmaps;
	uint64_t bm_dir_offset, bm_dir_size;

	struct qcow2_cache l2c, rbc;
	struct qcow2_meta meta;

	/* allocation */
	uint64_t free_cursor; /* first cluster index that may be free */
	uint64_t fresh_from;  /* host clusters >= this were never written: read as zeroes */
	uint64_t host_limit;  /* metadata must point below this (grows with allocation) */
	uint64_t file_len_open;
	uint32_t *repair_counts; /* during repair: expected refcounts of [0, repair_n) */
	uint64_t repair_n;

	/* write ordering (docs/QCOW2.md) */
	bool t_dirty;	     /* new tables/blocks written since the last sync */
	bool need_sync;	     /* pointers to be written need a sync first (direct allocations,
			      * copied data) */
	bool need_data_sync; /* ... a flush of the external data file */
	uint64_t sync_seq;   /* syncs started */
	uint64_t sync_done;  /* highest sequence number of a completed sync (atomic) */
	struct qcow2_free *frees;
	size_t nfrees, frees_cap;
	struct qcow2_rsv *rsv; /* reservations, oldest first */
	size_t nrsv, rsv_cap;
	uint64_t rsv_used, rsv_missed; /* clusters taken from / allocated past the reserve */
	bool extended;		       /* the file was extended to cover reservations */
	bool closing;		       /* no more reservations */

	/* concurrency */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct qcow2_inflight *inflight;
	uint64_t epoch;		   /* data I/O epoch; see qcow2_io_begin() */
	unsigned long io_count[2]; /* data I/O in flight per epoch parity (atomic) */
	bool corrupt;		   /* metadata problem found: refuse writes */

	int meta_prealloc; /* 0 unknown, 1 no, 2 yes (QEMU's metadata-preallocation check) */
	unsigned int clean_interval; /* cache-clean-interval, seconds (0: never) */

	struct qcow2_async *async;
	struct qcow2_cleaner *cleaner;
	uint64_t stat_alloc, stat_syncs;
	uint64_t stat_fast_rw, stat_fast_flush; /* requests the async path took */
	uint64_t stat_fast_alloc;		/* allocating writes among them */
};

/* ---- helpers -------------------------------------------------------------------------- */

static inline uint64_t qcow2_offset_in_cluster(const struct qcow2_state *s, uint64_t off)
{
	return off & (s->cluster_size - 1);
}

static inline uint64_t qcow2_size_to_clusters(const struct qcow2_state *s, uint64_t len)
{
	return (len + s->cluster_size - 1) >> s->cluster_bits;
}

/* Subclusters [a, b] as bits of an extended L2 entry's allocation (or zero) half. */
static inline uint64_t qcow2_sc_mask(unsigned int a, unsigned int b)
{
	return (b >= 31 ? 0xffffffffull : ((1ull << (b + 1)) - 1)) & ~((1ull << a) - 1);
}

static inline uint64_t qcow2_l1_entries_for(const struct qcow2_state *s, uint64_t size)
{
	unsigned int shift = s->cluster_bits + s->l2_bits;

	return (size + (1ull << shift) - 1) >> shift;
}

/* ---- order.c: the lock, syncs, data I/O epochs ---------------------------------------- */

/* s->lock.  The async path only tries it (the event loop never waits for metadata I/O). */
void qcow2_lock(struct qcow2_state *s);
bool qcow2_trylock(struct qcow2_state *s);
void qcow2_unlock(struct qcow2_state *s);
/* Make everything written so far durable: one flush of bs->file, with the next sync
 * sequence number (under the lock).  Clears t_dirty and need_sync on success. */
int qcow2_sync(struct blk_node *bs);
/* Has a sync that started after sequence number @gen completed? */
static inline bool qcow2_synced_since(const struct qcow2_state *s, uint64_t gen)
{
	return __atomic_load_n(&s->sync_done, __ATOMIC_ACQUIRE) > gen;
}
/* A sync with sequence number @seq completed (any thread). */
void qcow2_sync_completed(struct qcow2_state *s, uint64_t seq);
/*
 * Data I/O accounting for deferred frees: a request that translated guest offsets to host
 * offsets counts itself in the current epoch (begin under the lock, end in any thread); a
 * free queued in epoch E is applied once the epoch reached E + 2.  qcow2_epoch_advance
 * (under the lock) moves the epoch on while the counter it would reuse is idle.
 */
unsigned int qcow2_io_begin(struct qcow2_state *s);
void qcow2_io_end(struct qcow2_state *s, unsigned int slot);
void qcow2_epoch_advance(struct qcow2_state *s);

/* ---- inflight.c: allocations in flight (guest clusters), under s->lock ---------------- */

/* Register @fl for guest clusters [c0, c1); it stays linked until qcow2_inflight_remove. */
void qcow2_inflight_add(struct qcow2_state *s, struct qcow2_inflight *fl, uint64_t c0, uint64_t c1);
bool qcow2_inflight_overlaps(const struct qcow2_state *s, uint64_t c0, uint64_t c1);
/* Unlink @fl and wake every waiter. */
void qcow2_inflight_remove(struct qcow2_state *s, struct qcow2_inflight *fl);
/* Wait (releasing s->lock) until no allocation of guest clusters [c0, c1) is in flight. */
void qcow2_inflight_wait(struct qcow2_state *s, uint64_t c0, uint64_t c1);

/* ---- header.c ------------------------------------------------------------------------- */

/* Parse and validate the header and its extensions; fills geometry fields and what the
 * extensions name (backing format, data file, where the bitmap directory is). */
int qcow2_read_header(struct blk_node *bs, struct err *err);
/* Rewrite a header field range in place (never the extensions). */
int qcow2_write_header_field(struct blk_node *bs, unsigned int off, const void *buf,
			     unsigned int len);
int qcow2_set_incompat(struct blk_node *bs, uint64_t incompat);
/* Report and remember a metadata inconsistency; returns -EIO. */
int qcow2_corrupt(struct blk_node *bs, const char *fmt, ...) PRINTF_FMT(2, 3);

/* ---- compress.c ----------------------------------------------------------------------- */

/* Read and inflate the compressed cluster of @entry into @out (cluster_size bytes). */
int qcow2_read_compressed(struct blk_node *bs, uint64_t entry, uint8_t *out);
void qcow2_compressed_range(const struct qcow2_state *s, uint64_t entry, uint64_t *off,
			    uint64_t *len);

/* ---- meta.c: the metadata map and the overlap checks ---------------------------------- */

/* Kinds of metadata a host cluster can hold (QEMU's overlap-check names). */
#define QCOW2_OL_DATA 0u	       /* guest data: no metadata at all */
#define QCOW2_OL_HEADER (1u << 0)      /* cluster 0 */
#define QCOW2_OL_L1 (1u << 1)	       /* the active L1 table */
#define QCOW2_OL_RT (1u << 2)	       /* the refcount table */
#define QCOW2_OL_SNAPSHOTS (1u << 3)   /* the snapshot table */
#define QCOW2_OL_INACTIVE_L1 (1u << 4) /* snapshots' L1 tables */
#define QCOW2_OL_BITMAPS (1u << 5)     /* bitmap directory, bitmap tables and bitmap data */
#define QCOW2_OL_L2 (1u << 6)	       /* L2 tables of the active L1 table */
#define QCOW2_OL_RB (1u << 7)	       /* refcount blocks */
#define QCOW2_OL_INACTIVE_L2 (1u << 8) /* snapshots' L2 tables */

/* Build the map at open and refuse L1 / refcount-table entries into other metadata. */
int qcow2_meta_build(struct blk_node *bs, struct err *err);
void qcow2_meta_free(struct qcow2_state *s);
/* Mark every cluster touching [off, off+len) as @kind (QCOW2_OL_L2: one more reference). */
int qcow2_meta_add(struct qcow2_state *s, uint64_t off, uint64_t len, unsigned int kind);
/* Undo one qcow2_meta_add. */
void qcow2_meta_remove(struct qcow2_state *s, uint64_t off, uint64_t len, unsigned int kind);
/*
 * May [off, off+len) be written as @kind (QCOW2_OL_DATA for guest data)?  Returns the
 * kinds of metadata the write would damage: any but @kind itself, and for an L2 table one
 * that another L1 entry or a snapshot uses too.  0: the write is fine.
 */
unsigned int qcow2_check_overlap(const struct qcow2_state *s, uint64_t off, uint64_t len,
				 unsigned int kind);
/* The name of the first kind in @kinds, for messages. */
const char *qcow2_ol_name(unsigned int kinds);
/* qcow2_check_overlap for a write of @kind; a hit is reported as corruption (-EIO). */
int qcow2_check_write(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int kind);
/* May the host storage of L2 entry @entry lose a reference?  Not when it is metadata. */
int qcow2_check_release(struct blk_node *bs, uint64_t entry);

/* ---- snapshot.c / bitmap.c ------------------------------------------------------------ */

int qcow2_read_snapshots(struct blk_node *bs, struct err *err);
void qcow2_free_snapshots(struct qcow2_state *s);
/* Check and read the bitmap directory the header named (nb_bitmaps, bm_dir_*). */
int qcow2_read_bitmaps(struct blk_node *bs, struct err *err);
/* A writer that does not maintain bitmaps marks them in use (spec, "Bitmaps"). */
int qcow2_bitmaps_mark_in_use(struct blk_node *bs, struct err *err);
void qcow2_free_bitmaps(struct qcow2_state *s);

/* ---- cache.c -------------------------------------------------------------------------- */

int qcow2_cache_init(struct qcow2_cache *c, const char *name, unsigned int kind,
		     unsigned int slice_size, unsigned int n);
void qcow2_cache_release(struct qcow2_cache *c);
/* A pinned slice holding host bytes [off, off + slice_size); read on a miss. */
int qcow2_cache_get(struct blk_node *bs, struct qcow2_cache *c, uint64_t off,
		    struct qcow2_slice **out);
/* A cached slice or NULL, no I/O, not pinned (the fast path, under the lock). */
struct qcow2_slice *qcow2_cache_lookup(struct qcow2_cache *c, uint64_t off);
void qcow2_cache_put(struct qcow2_slice *sl);
void qcow2_cache_mark_dirty(struct qcow2_cache *c, struct qcow2_slice *sl);
/* Write back every dirty slice (L2: with the dependencies written first). */
int qcow2_cache_writeback(struct blk_node *bs, struct qcow2_cache *c);
/* Drop slices in [off, off+len) (a freed table); dirty ones are discarded. */
void qcow2_cache_discard(struct qcow2_cache *c, uint64_t off, uint64_t len);
/* Drop clean slices unused since the previous call and give their memory back. */
void qcow2_cache_clean_idle(struct qcow2_cache *c);
/* cache-clean-interval: a thread that cleans both caches every @secs seconds. */
int qcow2_cleaner_start(struct blk_node *bs, unsigned int secs);
void qcow2_cleaner_stop(struct qcow2_state *s);

/* ---- refcount.c ----------------------------------------------------------------------- */

int qcow2_get_refcount(struct blk_node *bs, uint64_t cluster, uint64_t *out);
/* Set one cluster's refcount (repair). */
int qcow2_set_refcount(struct blk_node *bs, uint64_t cluster, uint64_t value);
/* Add @delta to the refcount of every cluster touching [off, off+len). */
int qcow2_update_refcount(struct blk_node *bs, uint64_t off, uint64_t len, int delta);
/* Allocate up to @n contiguous free clusters (at least 1); *got = how many; *fresh when
 * they were never written (read as zeroes). */
int qcow2_alloc_clusters(struct blk_node *bs, uint64_t n, uint64_t *off, uint64_t *got,
			 bool *fresh);
/* @n contiguous clusters beyond everything in use, counted (a new L1 table); new
 * refcount blocks for them set t_dirty. */
int qcow2_alloc_at_end(struct blk_node *bs, uint64_t n, uint64_t *off);
/* Queue the reference drop of [off, off+len) until its removal is durable. */
int qcow2_free_later(struct blk_node *bs, uint64_t off, uint64_t len);
/* Apply frees whose removal was written before a sync and whose I/O drained. */
int qcow2_apply_ripe_frees(struct blk_node *bs, bool punch);
void qcow2_frees_written(struct qcow2_state *s);
int qcow2_write_rt(struct blk_node *bs);
int qcow2_rt_init(struct blk_node *bs, struct err *err);

/* ---- reserve.c ------------------------------------------------------------------------ */

/* Clusters for new data or tables: ready reservations first, else a direct allocation
 * (which sets need_sync).  *zero: they read as zeroes. */
int qcow2_alloc_for_use(struct blk_node *bs, uint64_t n, uint64_t *off, uint64_t *got, bool *zero);
/* @n contiguous clusters that read as zeroes, from the run allocations take next, without
 * I/O; false when that run does not read as zeroes or is shorter. */
bool qcow2_rsv_take_zero(struct qcow2_state *s, uint64_t n, uint64_t *off);
/* At a flush, after the pointers were written: reserve for the next epoch. */
int qcow2_rsv_refill(struct blk_node *bs);
/* After the refcount blocks and table were written: the next sync makes them ready. */
void qcow2_rsv_stamp(struct qcow2_state *s);
/* Close: give every reservation back, then the file's unused tail. */
int qcow2_rsv_release(struct blk_node *bs);
int qcow2_rsv_shrink_file(struct blk_node *bs);

/* ---- cluster.c ------------------------------------------------------------------------ */

/* One guest cluster's mapping. */
struct qcow2_map {
	uint64_t entry;	 /* raw L2 entry */
	uint64_t bitmap; /* extended L2: alloc bits 0-31, zero bits 32-63; else synthesized */
	uint64_t host;	 /* host cluster offset when has_host */
	bool has_host;
	bool compressed;
	bool copied;
};

enum qcow2_sc_type {
	QCOW2_SC_UNALLOC, /* backing or zeroes */
	QCOW2_SC_ZERO,
	QCOW2_SC_DATA,
	QCOW2_SC_COMPRESSED,
};

/* Decode an L2 entry (+bitmap); -EIO for invalid combinations. */
int qcow2_decode(struct blk_node *bs, uint64_t entry, uint64_t bitmap, struct qcow2_map *m);
enum qcow2_sc_type qcow2_sc_type(const struct qcow2_state *s, const struct qcow2_map *m,
				 unsigned int sc);
/* The L2 slice holding guest cluster @guest (pinned) and the entry index in it.
 * !alloc: *out = NULL when no L2 table exists.  alloc: allocate or copy the table. */
int qcow2_get_l2(struct blk_node *bs, uint64_t guest, bool alloc, struct qcow2_slice **out,
		 unsigned int *idx);
/* Before anything is allocated for a write that will change the L2 entry of @guest: an
 * existing table marked COPIED must be used by nobody else (-EIO, corrupt, if it is). */
int qcow2_check_l2_for_write(struct blk_node *bs, uint64_t guest);
/* Map the cluster containing @guest. */
int qcow2_get_map(struct blk_node *bs, uint64_t guest, struct qcow2_map *m);
/* The same without I/O, for the async path: -EAGAIN when the L2 slice is not cached (or
 * @guest lies beyond the L1 table).  The slice is used as read, without the table checks
 * qcow2_get_l2 repeats. */
int qcow2_get_map_cached(struct blk_node *bs, uint64_t guest, struct qcow2_map *m);
/* For an allocating write in the event loop: the cached slice holding the entries of
 * guest clusters [c, c + n), all in that slice of a table that is ours alone (COPIED, no
 * other user), and the first entry's index; NULL otherwise.  Not pinned. */
struct qcow2_slice *qcow2_l2_cached_for_write(struct qcow2_state *s, uint64_t c, uint64_t n,
					      unsigned int *idx);
uint64_t qcow2_l2_get(const struct qcow2_state *s, const struct qcow2_slice *sl, unsigned int i);
uint64_t qcow2_l2_get_bitmap(const struct qcow2_state *s, const struct qcow2_slice *sl,
			     unsigned int i);
void qcow2_l2_set(struct qcow2_state *s, struct qcow2_slice *sl, unsigned int i, uint64_t entry,
		  uint64_t bitmap);
/* Free an L2 entry's host storage later (normal or compressed; qcow2_free_later). */
int qcow2_free_entry_later(struct blk_node *bs, uint64_t entry);
/* Set L1 entry @i, keeping the metadata map's L2 references (-ENOMEM). */
int qcow2_l1_set(struct qcow2_state *s, uint32_t i, uint64_t entry);
/* Drop L1 entry @i: its L2 table and every cluster the table maps lose a reference. */
int qcow2_l1_drop(struct blk_node *bs, uint32_t i);
int qcow2_write_l1(struct blk_node *bs);

/* ---- flush.c: metadata write-back in dependency order --------------------------------- */

/* Make every reference target durable so pointers (L2/L1 entries) may be written. */
int qcow2_write_deps(struct blk_node *bs);
/* Write every dirty piece of metadata in dependency order (under the lock). */
int qcow2_flush_meta(struct blk_node *bs);
/* The driver's flush: the metadata in order, then the one sync that ends the epoch. */
int qcow2_flush(struct blk_node *bs);

/* ---- rw.c: guest reads and writes ----------------------------------------------------- */

int qcow2_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		 int iovcnt, unsigned int flags);
int qcow2_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		  int iovcnt, unsigned int flags);
/*
 * Under the lock, once an allocating write's data is out: point the L2 entries of the
 * clusters that guest bytes [off, off+len) touch (the first at @idx of @sl, all in that
 * slice) at consecutive host clusters from @host, COPIED, with the subclusters written
 * marked allocated.  -EIO (the image is corrupt) when an old entry does not decode.
 */
int qcow2_commit_entries(struct blk_node *bs, struct qcow2_slice *sl, unsigned int idx,
			 uint64_t off, uint64_t len, uint64_t host);
/* Read guest bytes [off, off+len) of one cluster as mapped by @m into @buf. */
int qcow2_read_mapped(struct blk_node *bs, const struct qcow2_map *m, uint64_t off, uint64_t len,
		      uint8_t *buf);
const uint8_t *qcow2_zero_buf(void); /* QCOW2_ZERO_BUF bytes of zeroes */
#define QCOW2_ZERO_BUF (1u << 21)

/* ---- zero.c: discard, write_zeroes, block status -------------------------------------- */

int qcow2_discard(struct blk_node *bs, uint64_t off, uint64_t len);
int qcow2_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags);
int qcow2_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
		       uint64_t *map, struct blk_node **file);

/* ---- async.c -------------------------------------------------------------------------- */

int qcow2_submit(struct blk_node *bs, struct blk_req *req);
int qcow2_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx);
void qcow2_async_free(struct qcow2_state *s);

/* ---- repair.c ------------------------------------------------------------------------- */

/* Rebuild refcounts from the metadata (dirty lazy-refcount image). */
int qcow2_repair_refcounts(struct blk_node *bs, struct err *err);

/* ---- resize.c ------------------------------------------------------------------------- */

int qcow2_truncate(struct blk_node *bs, uint64_t size, struct err *err);

#endif
