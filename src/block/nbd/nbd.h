/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The nbd driver (src/block/nbd) as other drivers use it.
 *
 * A driver that reaches its image through an NBD server it runs itself (the QEMU helper,
 * src/block/qemu) opens an nbd node with a dialer: the nbd engine calls it for the first
 * connection and for every reconnection, so the server can be (re)started on demand.
 * Everything else (async I/O, limits, block status, requests waiting for a lost server
 * up to reconnect_ms) is the nbd driver's.
 */
#ifndef QT_BLOCK_NBD_NBD_H
#define QT_BLOCK_NBD_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk_node;
struct opts;
struct err;

struct nbd_dialer {
	/*
	 * Required: a socket connected to the server in *fd (the caller owns it), or -errno
	 * with a message.  -ENOLINK and -ESTALE are final: the engine stops reconnecting and
	 * I/O fails with EIO.  Called by the opener and then by the engine's reconnect
	 * thread, never concurrently.
	 */
	int (*dial)(void *opaque, int *fd, struct err *err);
	/* Optional: after a failed attempt, wait up to @ms for the server to be gone; true
	 * and a one-line reason in @why if it is (a helper process that died, say). */
	bool (*explain)(void *opaque, int ms, char *why, size_t len);
	/* Optional: an attempt was abandoned (timed out, or closing): stop what dial started. */
	void (*hang_up)(void *opaque);
	void *opaque;	       /* must outlive the node */
	const char *desc;      /* for messages, e.g. "vmdk image '/img/x.vmdk'" (copied) */
	uint64_t reconnect_ms; /* how long new requests wait for a lost server */
	uint64_t connect_ms;   /* how long one connection attempt may take */
	bool retry_inflight;   /* requests in flight at a loss are sent again (false: they
				* fail, e.g. when a restarted server lost its caches) */
	int lost_errno;	       /* what requests fail with while the server is lost (0: -EIO;
				* e.g. -ENOTCONN, which the SCSI layer reports as retryable) */
};

/* The nbd driver's timeout keys in @opts (reconnect-timeout, connect-timeout and their
 * QEMU aliases), validated, in milliseconds: for dialers that take the same keys. */
int nbd_parse_timeouts(struct opts *opts, uint64_t *reconnect_ms, uint64_t *connect_ms,
		       struct err *err);
/* Their descriptions, for the option tables (struct blk_opt_desc) of nbd and dialers. */
#define NBD_TIMEOUT_OPTIONS                                                                   \
	{ "reconnect-timeout", "seconds requests wait for a lost server (default 10; "        \
			       "alias reconnect-delay)" },                                    \
		{ "reconnect-delay", NULL },                                                  \
		{ "connect-timeout", "seconds each connection attempt may take (default 30; " \
				     "alias open-timeout)" },                                 \
	{                                                                                     \
		"open-timeout", NULL                                                          \
	}

/* Open a node on the server @d reaches; BLK_O_RDWR in @flags for a writable one. */
int nbd_open_dialer(const struct nbd_dialer *d, unsigned int flags, struct blk_node **out,
		    struct err *err);

#endif
