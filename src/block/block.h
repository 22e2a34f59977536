/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block layer, as seen by its users (the SCSI layer, the daemon, qemu-tcmu-io).
 *
 * An image is a graph of nodes: a format node (raw, qcow2, ...) reads and writes through
 * the protocol node below it (file, nbd, memory, ...), and possibly a backing node.  Users
 * hold the top node.  Offsets and lengths are bytes.
 *
 * Two ways to do I/O:
 *  - blocking calls (blk_preadv() ...): safe from any thread, several at once;
 *  - asynchronous requests (blk_req_submit()): from the event loop the node graph is
 *    attached to (blk_attach_ctx()); the callback runs in that loop, possibly before
 *    blk_req_submit() returns.  Drivers with a native async path (file with io_uring,
 *    qcow2's mapped fast path) complete without thread hand-offs; everything else runs the
 *    blocking code on the thread pool.  No allocation per request: embed struct blk_req.
 *
 * Errors are negative errno values: -EINVAL (bad range), -EROFS (read-only node),
 * -EIO (medium error), -ENOSPC (host out of space), -ENOTSUP (operation not supported),
 * -EPERM (write refused by probe protection), -ENOMEDIUM (device gone).
 */
#ifndef QT_BLOCK_BLOCK_H
#define QT_BLOCK_BLOCK_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include "util/thread-pool.h"

struct aio_ctx;
struct blk_node;
struct err;
struct opts;

/* Open flags (blk_open). */
#define BLK_O_RDWR (1u << 0)	      /* writable; else read-only */
#define BLK_O_DIRECT (1u << 1)	      /* bypass the host page cache (cache=none|directsync) */
#define BLK_O_NO_FLUSH (1u << 2)      /* flushes are no-ops (cache=unsafe) */
#define BLK_O_NO_BACKING (1u << 3)    /* do not open backing files */
#define BLK_O_NO_PROBE_PROT (1u << 4) /* a probed raw image may start with a format magic */

/* Request flags. */
#define BLK_REQ_FUA (1u << 0)	      /* write: stable on completion */
#define BLK_REQ_MAY_UNMAP (1u << 1)   /* write_zeroes: may deallocate the range */
#define BLK_REQ_NO_FALLBACK (1u << 2) /* write_zeroes: -ENOTSUP rather than writing buffers */

/* Capabilities (struct blk_limits.caps). */
#define BLK_CAP_DISCARD (1u << 0)	 /* discard deallocates something */
#define BLK_CAP_DISCARD_ZEROES (1u << 1) /* discarded ranges read back as zeroes (LBPRZ) */
#define BLK_CAP_FUA (1u << 2)		 /* native FUA (else the core adds a flush) */
#define BLK_CAP_ZERO_UNMAP (1u << 3)	 /* write_zeroes with MAY_UNMAP deallocates */
#define BLK_CAP_FAST_ZERO (1u << 4)	 /* write_zeroes is cheaper than writing buffers */
#define BLK_CAP_RESIZE (1u << 5)	 /* truncate supported */
#define BLK_CAP_GROW                                                     \
	(1u << 6) /* protocol: writes past the end extend it, reads past \
		   * the end return zeroes (what formats need) */

struct blk_limits {
	uint32_t request_alignment;   /* offsets and lengths of reads/writes (power of 2) */
	uint32_t mem_alignment;	      /* buffer addresses and lengths (power of 2) */
	uint64_t max_transfer;	      /* bytes per read/write, 0 = unlimited */
	uint32_t opt_transfer;	      /* preferred size (e.g. cluster size), 0 = unknown */
	uint32_t discard_granularity; /* 0 = any */
	uint64_t max_discard;	      /* 0 = unlimited */
	uint64_t max_write_zeroes;    /* 0 = unlimited */
	uint32_t physical_block_size; /* what initiators should align to */
	unsigned int caps;	      /* BLK_CAP_* */
};

/* block_status results (blk_block_status*). */
#define BLK_STATUS_DATA (1u << 0)	  /* bytes come from a mapping in *file */
#define BLK_STATUS_ZERO (1u << 1)	  /* reads as zeroes */
#define BLK_STATUS_OFFSET_VALID (1u << 2) /* *map is the offset in *file */
#define BLK_STATUS_ALLOCATED (1u << 3)	  /* this node decides the content (not its backing) */
#define BLK_STATUS_EOF (1u << 4)	  /* the range reaches the end of the node */
#define BLK_STATUS_COMPRESSED (1u << 5)	  /* stored compressed (qcow2) */
#define BLK_STATUS_RAW (1u << 6)	  /* driver only: the status is *file's at *map */
#define BLK_STATUS_RECURSE (1u << 7)	  /* driver only: DATA, but holes in *file read as zero */

enum blk_op {
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
	BLK_OP_DISCARD,
	BLK_OP_WRITE_ZEROES,
};

struct blk_req;
typedef void (*blk_req_cb)(struct blk_req *req, int ret);
typedef void (*blk_resize_cb)(void *opaque);

struct blk_req {
	/* set by the submitter */
	enum blk_op op;
	unsigned int flags; /* BLK_REQ_* */
	uint64_t off, len;
	const struct iovec *iov; /* READ/WRITE; the memory stays valid until the callback */
	int iovcnt;
	blk_req_cb cb;
	void *opaque;
	/* private: the core and the driver handling the request */
	struct blk_node *bs;
	struct pool_work work;
	uintptr_t drv[4];
	struct blk_node *gate;	 /* first node this write counts as untracked on (serialise.h) */
	unsigned int gate_depth; /* ... and on that many nodes down its ->file chain */
};

/* ---- opening and closing --------------------------------------------------------- */

/*
 * Open an image from options.  The core takes file (a path, or a name a driver claims by
 * its prefix: nbd://..., ssh://...), driver/format (probed when absent), read-only, cache,
 * discard and helper; the drivers it routes to take theirs (`qemu-tcmu --config-help`
 * lists them all, from the registry).  Keys nobody takes are left unused in @opts.
 * @flags are BLK_O_*; "read-only" and "cache" in @opts override them.
 */
int blk_open(struct opts *opts, unsigned int flags, struct blk_node **out, struct err *err);
/* blk_open(), then -EINVAL naming the first key nobody took ("unknown option 'k'", with
 * " in @what" when @what is not NULL); on any failure nothing stays open. */
int blk_open_checked(struct opts *opts, unsigned int flags, const char *what, struct blk_node **out,
		     struct err *err);
/* blk_open_checked() of a config string or plain path. */
int blk_open_str(const char *cfg, unsigned int flags, struct blk_node **out, struct err *err);
/* Closes the node and its children.  NULL is a no-op.  No request may be in flight. */
void blk_close(struct blk_node *bs);

/* Cache mode names as in QEMU: writeback, writethrough, none, directsync, unsafe. */
enum blk_cache_mode {
	BLK_CACHE_WRITEBACK,
	BLK_CACHE_WRITETHROUGH,
	BLK_CACHE_NONE,
	BLK_CACHE_DIRECTSYNC,
	BLK_CACHE_UNSAFE,
};
extern const char *const blk_cache_mode_names[];
/* BLK_O_DIRECT / BLK_O_NO_FLUSH for a mode, and whether the front end keeps a volatile
 * write cache (writeback, none, unsafe) or writes through (writethrough, directsync). */
unsigned int blk_cache_mode_flags(enum blk_cache_mode mode, bool *write_cache);

/* Bind the node graph to the event loop that will submit async requests (and set up any
 * per-loop resources such as io_uring rings).  NULL detaches.  Not while requests fly. */
int blk_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx);

/* ---- properties -------------------------------------------------------------------- */

int64_t blk_getlength(struct blk_node *bs);
const struct blk_limits *blk_get_limits(const struct blk_node *bs);
bool blk_is_read_only(const struct blk_node *bs);
/* The front end's volatile write cache, from the cache mode (SCSI WCE). */
bool blk_write_cache(const struct blk_node *bs);
void blk_set_write_cache(struct blk_node *bs, bool on);
const char *blk_driver_name(const struct blk_node *bs);
const char *blk_filename(const struct blk_node *bs);
struct blk_node *blk_child_file(const struct blk_node *bs);
struct blk_node *blk_backing(const struct blk_node *bs);
/* Human-readable multi-line description (qemu-img info style) into @buf. */
void blk_describe(struct blk_node *bs, char *buf, size_t len);

/* ---- blocking I/O (any thread) ---------------------------------------------------- */

int blk_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov, int iovcnt,
	       unsigned int flags);
int blk_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		int iovcnt, unsigned int flags);
int blk_pread(struct blk_node *bs, uint64_t off, void *buf, uint64_t len);
int blk_pwrite(struct blk_node *bs, uint64_t off, const void *buf, uint64_t len,
	       unsigned int flags);
int blk_flush(struct blk_node *bs);
int blk_discard(struct blk_node *bs, uint64_t off, uint64_t len);
int blk_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags);
int blk_truncate(struct blk_node *bs, uint64_t size, struct err *err);
/* WRITE SAME: @plen bytes of @pattern repeated over [off, off+len); -ENOTSUP when the
 * driver has no native way (the caller writes buffers). */
int blk_write_same(struct blk_node *bs, uint64_t off, uint64_t len, const void *pattern,
		   size_t plen, unsigned int flags);
/* COMPARE AND WRITE done atomically by the driver: @iov holds @len bytes to compare, then
 * @len bytes to write.  -EILSEQ with *mismatch on a difference; -ENOTSUP when the driver
 * cannot (the caller emulates it). */
int blk_compare_and_write(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			  int iovcnt, uint64_t *mismatch, unsigned int flags);
/*
 * Call @cb (in a driver's thread: keep it short and non-blocking) when the image below
 * @bs changes size outside our control (rbd resize by another client), after
 * blk_getlength(@bs) follows.  NULL removes it.  Before serving requests.
 */
void blk_set_resize_hook(struct blk_node *bs, blk_resize_cb cb, void *opaque);

/* ---- shared images: gateways (docs/HA.md) ----------------------------------------- */

/*
 * A node can be one of several gateways to one image (an rbd image with gateway=on): the
 * gateway that holds the image's write lock serves writes; the others serve reads, and a
 * write reaching one of them makes it take the lock (an implicit ALUA transition).  Its
 * state, cached by the driver and kept current in the background (no I/O to ask):
 */
enum blk_access_state {
	BLK_ACCESS_OPTIMIZED,	  /* this node holds the write lock */
	BLK_ACCESS_NONOPTIMIZED,  /* another node (or none) holds it; a write here takes it */
	BLK_ACCESS_STANDBY,	  /* another node took it recently: writes here are refused */
	BLK_ACCESS_TRANSITIONING, /* taking the lock, or reopening after losing it */
	BLK_ACCESS_UNAVAILABLE,	  /* the storage cannot be reached from here */
};

struct blk_access {
	enum blk_access_state state;
	int owner_tag; /* the holder's tag (blk_set_access_tag), -1: unknown or no holder */
	/* counters since open */
	uint64_t acquired;  /* write lock taken by this node */
	uint64_t lost;	    /* ... and lost to another */
	uint64_t timeouts;  /* requests that timed out */
	uint64_t conn_lost; /* the storage became unreachable */
};

/*
 * What writes to a shared node get instead of being served (besides the usual errors):
 *  BLK_E_TRANSITION   the lock is being taken or was lost under the request: retry
 *                     (SCSI: NOT READY, ASYMMETRIC ACCESS STATE TRANSITION 04/0A);
 *  BLK_E_STANDBY      another gateway took the lock recently: write there instead
 *                     (SCSI: NOT READY, TARGET PORT IN STANDBY STATE 04/0B);
 *  BLK_E_UNAVAILABLE  the storage is unreachable from this gateway: use another
 *                     (SCSI: NOT READY, TARGET PORT IN UNAVAILABLE STATE 04/0C).
 * Reads get BLK_E_TRANSITION and BLK_E_UNAVAILABLE too (while the node reopens, or the
 * storage is unreachable).
 */
#define BLK_E_TRANSITION (-EINPROGRESS)
#define BLK_E_STANDBY (-ENOLCK)
#define BLK_E_UNAVAILABLE (-ENETDOWN)

typedef void (*blk_access_cb)(void *opaque);

/* The access state of the shared node at or below @bs (through pass-through formats);
 * -ENOTSUP when there is none (an image that is not shared).  Cheap, any thread.
 * @out may be NULL (is it shared?). */
int blk_get_access(struct blk_node *bs, struct blk_access *out);
/* The tag the node publishes with the lock when it takes it (the daemon: the ALUA target
 * port group of the port it serves), so that other gateways can report which group
 * holds it.  -1: none.  Any thread; a no-op on nodes that are not shared. */
void blk_set_access_tag(struct blk_node *bs, int tag);
/* Call @cb (in a driver's thread: keep it short) after the access state changed.  NULL
 * removes it.  Before serving requests. */
void blk_set_access_hook(struct blk_node *bs, blk_access_cb cb, void *opaque);

/*
 * Allocation status of [off, off+len) at @bs alone: returns BLK_STATUS_* flags for the
 * first *pnum bytes (≥ 1 when off < length), or -errno.  @map/@file may be NULL.
 * ALLOCATED is set when @bs itself holds data or zeroes (QEMU's rule); an unallocated
 * range of a format without backing, or past the backing's end, reads as ZERO.
 */
int blk_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum, uint64_t *map,
		     struct blk_node **file);
/*
 * Status through the backing chain, as qemu-img map reports it: the layers are descended
 * while a range is unallocated; @depth is the number of layers skipped.  ALLOCATED means
 * the layer at @depth holds the content ("present" in qemu-img map).
 */
int blk_block_status_chain(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			   uint64_t *map, struct blk_node **file, int *depth);

/* ---- asynchronous I/O (the attached loop's thread) -------------------------------- */

/* Fill in op/flags/off/len/iov/iovcnt/cb/opaque first.  The callback gets 0 or -errno.
 * Formats may forward the request itself down the graph, so off and the private fields
 * are not preserved: set them again before reusing the request. */
void blk_req_submit(struct blk_node *bs, struct blk_req *req);

/* ---- probing ---------------------------------------------------------------------- */

/* The format that would be probed for these first bytes of an image ("raw" if none). */
const char *blk_probe_format(const uint8_t *buf, size_t len, const char *filename);
/* Names of the registered drivers, comma separated. */
void blk_list_drivers(char *buf, size_t len);

/* The config keys of the core and of every driver, from the registry (help.c). */
enum blk_help_style {
	BLK_HELP_TEXT,	/* --config-help: a line per key, a section per driver */
	BLK_HELP_MAN,	/* roff for the man page: .TP per key, .SS per driver */
	BLK_HELP_BRIEF, /* one line of key names (targetcli's ConfigDesc) */
};
void blk_print_config_help(FILE *f, enum blk_help_style style);
/* One key in that style (for keys of the block layer's users, e.g. the daemon's id). */
void blk_print_option(FILE *f, enum blk_help_style style, const char *name, const char *help);

#endif
