/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block layer, as seen by driver authors.  One ops table for formats and protocols.
 *
 * What the core guarantees before calling a driver's I/O op:
 *  - off + len <= the node's length (reads/writes/discard/zeroes), len > 0; except on
 *    BLK_CAP_GROW protocol nodes, where writes may extend the node and reads may pass
 *    its end (the driver returns zeroes there);
 *  - off and len are multiples of limits.request_alignment, every iovec base and length a
 *    multiple of limits.mem_alignment (else the core bounces through an aligned buffer);
 *  - len <= limits.max_transfer (reads/writes), max_discard, max_write_zeroes;
 *  - writes, discards and zeroes only on a writable node;
 *  - iov covers exactly len bytes;
 *  - no write to the node overlaps the aligned range of a read-modify-write the core is
 *    doing on it (serialise.h).
 * Drivers rely on these without checking them again (the unit tests run the core against
 * a strict driver, tests/unit/block/strict-driver.h, that fails on any violation).
 *
 * Blocking ops may run in several threads at once; a driver locks its own metadata.
 * The optional async op `submit` runs in the event loop the node is attached to.
 */
#ifndef QT_BLOCK_BLOCK_DRIVER_H
#define QT_BLOCK_BLOCK_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block.h"
#include "serialise.h"

struct opts;
struct err;

enum blk_driver_kind {
	BLK_DRIVER_PROTOCOL, /* talks to storage: file, nbd, memory, null */
	BLK_DRIVER_FORMAT,   /* interprets a child node: raw, qcow2 */
	BLK_DRIVER_IMAGE,    /* serves a whole image, format and protocol: the QEMU helper */
};

/* One option key a driver takes, for help texts (--help, targetcli, the man page). */
struct blk_opt_desc {
	const char *name;
	const char *help; /* one line; NULL: an alias, accepted but not listed */
};

struct blk_driver {
	const char *name;
	enum blk_driver_kind kind;
	size_t state_size;   /* the core allocates bs->opaque (zeroed) */
	const char *summary; /* one line for help texts */

	/*
	 * How the driver is reached.  Protocol and image drivers: the file-name prefixes
	 * they serve ("nbd://", "rbd:"), NULL-terminated; the core routes file=NAME to the
	 * driver whose prefix starts NAME (a unit test checks no two drivers claim one).
	 * Every driver: the option keys it takes, {NULL, NULL}-terminated.
	 */
	const char *const *prefixes;
	const struct blk_opt_desc *options;

	/* Formats, optional: score 0 (no) .. 100 (certain) for the image's first bytes. */
	int (*probe)(const uint8_t *buf, size_t len, const char *filename);

	/*
	 * Required.  Protocols get the options (file= among them); formats get theirs with
	 * bs->file already open.  Take keys with opts_get*(); leave others alone.
	 * Set bs->total_size (or implement get_length).
	 */
	int (*open)(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err);
	/* Required.  Flush nothing here (the core flushed); free what open allocated. */
	void (*close)(struct blk_node *bs);
	/* Optional: fill in limits (the core pre-fills defaults and the child's values). */
	void (*refresh_limits)(struct blk_node *bs, struct blk_limits *lim);
	/* Optional: current length (else bs->total_size). */
	int64_t (*get_length)(struct blk_node *bs);
	/* Optional: resize. */
	int (*truncate)(struct blk_node *bs, uint64_t size, struct err *err);

	/* Required for readable nodes. */
	int (*preadv)(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		      int iovcnt, unsigned int flags);
	/* Required for writable nodes.  BLK_REQ_FUA only when caps has BLK_CAP_FUA. */
	int (*pwritev)(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		       int iovcnt, unsigned int flags);
	/* Optional.  Formats: write out dirty metadata (the core then flushes bs->file,
	 * unless flush_syncs_file).  Protocols: make written data stable (fdatasync). */
	int (*flush)(struct blk_node *bs);
	/* Formats: flush itself ends with a flush of bs->file (so it can order its own
	 * writes around that one sync); the core does not flush bs->file after it. */
	bool flush_syncs_file;
	/* Optional (-ENOTSUP when absent). */
	int (*discard)(struct blk_node *bs, uint64_t off, uint64_t len);
	/* Optional: -ENOTSUP makes the core write zero buffers unless NO_FALLBACK. */
	int (*write_zeroes)(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags);
	/*
	 * Optional.  BLK_STATUS_DATA/ZERO/OFFSET_VALID/RAW for the first *pnum bytes of
	 * [off, off+len); 0 = unallocated here (the core consults the backing).  The core
	 * adds ALLOCATED and EOF.  Absent: all DATA (protocols: at offset off in itself).
	 * Formats pass *file = the node holding the data and *map = its offset there.
	 */
	int (*block_status)(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			    uint64_t *map, struct blk_node **file);

	/*
	 * Optional async path, in the attached loop.  Return 0 when the request is taken
	 * (then call blk_req_complete() exactly once, possibly before returning) or
	 * -ENOTSUP to let the core run it on the thread pool through the blocking ops.
	 * Called only with requests that already satisfy the guarantees above.
	 */
	int (*submit)(struct blk_node *bs, struct blk_req *req);
	/* Optional: (re)bind per-loop resources; ctx NULL = detach. */
	int (*attach_ctx)(struct blk_node *bs, struct aio_ctx *ctx);
	/* Optional: extra lines for blk_describe(). */
	void (*describe)(struct blk_node *bs, char *buf, size_t len);

	/*
	 * Optional, blocking: write @plen bytes of @pattern repeatedly over [off, off+len)
	 * (len a multiple of plen, off/len aligned).  -ENOTSUP: the caller writes buffers.
	 */
	int (*write_same)(struct blk_node *bs, uint64_t off, uint64_t len, const void *pattern,
			  size_t plen, unsigned int flags);
	/*
	 * Optional, blocking: atomically compare [off, off+len) with the first @len bytes
	 * of @iov and, if equal, write the next @len bytes of @iov there.  A difference is
	 * -EILSEQ with *mismatch = offset of its first byte in the range; nothing written.
	 */
	int (*compare_and_write)(struct blk_node *bs, uint64_t off, uint64_t len,
				 const struct iovec *iov, int iovcnt, uint64_t *mismatch,
				 unsigned int flags);

	/*
	 * Optional: a node shared with other gateways (block.h, blk_get_access).  Fill
	 * *out from cached state: no I/O, any thread (INQUIRY/RTPG ask per command).
	 * Return -ENOTSUP when this node is not shared after all (gateway=off).
	 */
	int (*get_access)(struct blk_node *bs, struct blk_access *out);
	/* Optional with get_access: the tag to publish with the lock (blk_set_access_tag). */
	void (*set_access_tag)(struct blk_node *bs, int tag);

	/*
	 * Image drivers (BLK_DRIVER_IMAGE) also serve formats no native driver implements.
	 * The core opens them with the format name as open_arg (a const char *, NULL when
	 * the driver is to find it).  All optional.
	 */
	/* Whether @name is a format it serves. */
	bool (*knows_format)(const char *name);
	/* The format whose magic starts @buf, or NULL (run after the native probes). */
	const char *(*probe_magic)(const uint8_t *buf, size_t len);
	/* A local file the native probes took for raw: the format it really has into @fmt
	 * (0), or -errno (the message is the driver's to log).  May run a program. */
	int (*detect_format)(const char *path, char *fmt, size_t len);
};

struct blk_node {
	const struct blk_driver *drv;
	void *opaque;		  /* driver state, drv->state_size bytes */
	struct blk_node *file;	  /* child a format reads through (owned) */
	struct blk_node *backing; /* backing image (owned), or NULL */
	char *filename;		  /* what the user named (file=), for drivers and messages */
	const void *open_arg;	  /* during open only: blk_open_node_arg()'s @arg */
	unsigned int open_flags;  /* BLK_O_* */
	bool read_only;
	bool probed_raw;     /* raw chosen by probing: protect block 0 (QEMU's rule) */
	bool write_cache;    /* front end keeps a volatile cache (top node only) */
	bool discard_ignore; /* discard=ignore: discards succeed and do nothing */
	uint64_t total_size;
	struct blk_limits limits;
	struct aio_ctx *ctx;
	struct thread_pool *pool;
	struct blk_serial serial; /* the core's serialising of read-modify-write */
	/* blk_set_resize_hook(): the image changed size outside our control */
	blk_resize_cb resize_cb;
	void *resize_opaque;
	struct blk_node *resize_top; /* the node the hook was set on */
	/* blk_set_access_hook(): a shared node's access state changed */
	blk_access_cb access_cb;
	void *access_opaque;
};

/* Registry (drivers.c): explicit, no constructors. */
const struct blk_driver *blk_find_driver(const char *name);
/* The protocol or image driver whose prefix starts @file (the longest), or NULL. */
const struct blk_driver *blk_find_driver_for(const char *file);
/* The image driver that serves format @name (knows_format), or NULL. */
const struct blk_driver *blk_find_image_driver(const char *fmt);
extern const struct blk_driver *const blk_drivers[];

/* Driver callbacks. */
void blk_req_complete(struct blk_req *req, int ret);
/* For a format's submit: hand @req itself on to bs->file (after adjusting req->off); the
 * request completes through the child.  Requests of its own go through blk_req_submit. */
void blk_req_forward(struct blk_node *file, struct blk_req *req);
/* For a driver's close: close its child bs->file now rather than after close returns
 * (a driver whose child talks to a process the driver then stops). */
void blk_close_file(struct blk_node *bs);
/* A protocol whose image was resized by someone else (an rbd resize): the node is now
 * @size bytes; the lengths of the nodes above follow and the resize hook runs.  Any
 * thread. */
void blk_node_resized(struct blk_node *bs, uint64_t size);
/* A shared node's access state changed (get_access): run the access hook.  Any thread. */
void blk_node_access_changed(struct blk_node *bs);
/* BLK_CAP_GROW nodes: the node now extends to at least @end (thread-safe). */
void blk_node_grow(struct blk_node *bs, uint64_t end);

/*
 * For formats: open an extra child read-only or read-write (backing file, external data
 * file).  @name is resolved like QEMU resolves backing names: an absolute path as is, a
 * relative one against the directory of @parent's file name; a protocol URI as is.
 * @fmt NULL probes.
 */
int blk_open_child(struct blk_node *parent, const char *name, const char *fmt, unsigned int flags,
		   struct blk_node **out, struct err *err);
/* Open one node with @drv (formats: over @file, whose ownership moves in on success).
 * Limits are computed; no probing, no generic options.  For drivers and tests. */
int blk_open_node(const struct blk_driver *drv, const char *filename, struct blk_node *file,
		  struct opts *opts, unsigned int flags, struct blk_node **out, struct err *err);
/* The same, with @arg for the driver's open (bs->open_arg): what only C can carry from a
 * driver opening a node programmatically (an nbd dialer: callbacks and their data) or
 * from the core (an image driver's format).  @opts may be NULL. */
int blk_open_node_arg(const struct blk_driver *drv, const char *filename, struct blk_node *file,
		      struct opts *opts, const void *arg, unsigned int flags, struct blk_node **out,
		      struct err *err);
/* Resolve @name relative to @parent's file name into @buf. */
int blk_resolve_relative(const struct blk_node *parent, const char *name, char *buf, size_t len);

/* Drivers (declared here, defined in their files, listed in drivers.c). */
extern const struct blk_driver blk_driver_file;
extern const struct blk_driver blk_driver_raw;
extern const struct blk_driver blk_driver_null;
extern const struct blk_driver blk_driver_memory;

#endif
