/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Requests to a network image's helper (helper.h), watched.  The server behind QEMU's
 * client library may go away in ways qemu-nbd does not report as a lost connection:
 * requests that never complete (libiscsi reconnecting forever, libnfs retrying), or
 * errors that outlive the outage (QEMU's gluster driver makes its node unusable after a
 * failed flush; NBD carries the errno as EINVAL).  For network images the qemu driver
 * runs every request through here (on the thread pool):
 *  - a request the helper has not answered within io-timeout gets the helper killed;
 *  - a request that fails with anything but a verdict on the request itself (ENOSPC,
 *    EROFS/EPERM, ENOTSUP) gets the helper killed too, and fails with ENOTCONN (a
 *    flush with EIO: it may have lost writes);
 * the nbd engine then restarts the helper (requests in flight are sent again) and
 * requests wait for it up to reconnect-timeout, then fail with ENOTCONN, which the SCSI
 * layer reports as ABORTED COMMAND / LOGICAL UNIT COMMUNICATION FAILURE (retried by
 * initiators).  Above helper.h, below qemu.c.
 */
#ifndef QT_BLOCK_QEMU_NETIO_H
#define QT_BLOCK_QEMU_NETIO_H

#include <stdbool.h>
#include <stdint.h>

struct qemu_helper;
struct qemu_netio;

/* One request in flight (on the caller's stack). */
struct netio_req {
	struct netio_req *prev, *next;
	uint64_t start_ns;
	bool handled; /* the watchdog killed the helper for it already */
};

/* Watch requests to @h's helper; @timeout_ms 0: no watchdog thread (errors only). */
int netio_new(struct qemu_helper *h, const char *desc, uint64_t timeout_ms,
	      struct qemu_netio **out);
/* Stops the watchdog; no request may be in flight.  NULL is a no-op. */
void netio_free(struct qemu_netio *n);
void netio_begin(struct qemu_netio *n, struct netio_req *r);
/* The request ended with @ret: the result to return (see above; a failed @flush stays a
 * failure, EIO: writes may have been lost). */
int netio_end(struct qemu_netio *n, struct netio_req *r, bool flush, int ret);

#endif
