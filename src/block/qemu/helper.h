/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QEMU helper: images in formats (vmdk, vhdx, vdi, vpc, qed, luks, dmg, ...) or on
 * protocols (http(s), ssh, nfs, iscsi, gluster, rbd) that we do not implement natively are
 * served by a qemu-nbd child process and reached through the nbd driver.
 *
 * Why qemu-nbd: it parses its image with exactly qemu-img's --image-opts code, so every
 * option that works as `qemu-img info --image-opts driver=...,...` works in our config
 * string unchanged (keys we do not know pass through); it takes its listening socket by
 * systemd socket activation (LISTEN_FDS), so we hand it a socket and never race for a
 * port or a path; and without --persistent it exits when our connection closes, so it
 * cannot outlive us even if we crash.
 *
 * Lifecycle: the qemu driver's node owns the helper and reaches it through an nbd child
 * node that dials it (nbd.h).  It starts when the node opens, its death fails in-flight
 * I/O with a clear error and it is restarted once (a second death is final), and it is
 * stopped (after our disconnect lets it flush and exit) when the node closes.  Its
 * stdout/stderr go to a memfd; the last line explains failures.
 *
 * Thread safety: one helper is used by one node: opening, the nbd engine's reconnect
 * thread and closing, which the engine serializes; qemu_helper_describe*() may run
 * concurrently.
 */
#ifndef QT_BLOCK_QEMU_HELPER_H
#define QT_BLOCK_QEMU_HELPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qemu_helper;
struct opts;
struct err;

/*
 * Prepare (not start) a helper for the image @file (a path or URL; NULL or "" when @opts
 * give file.filename= or file.driver=) in format @fmt (NULL: asked from `qemu-img info`).
 * From @opts: object= / object.N= (QEMU --object arguments, e.g. secrets for luks), aio=;
 * every other unused key passes through as an --image-opts option (QEMU's names:
 * file.locking=off, key-secret=sec0, ...).  Keys are marked used.  @flags: BLK_O_RDWR
 * (http/https/ftp/ftps are always read-only); the cache and discard modes are read (not
 * taken) from @opts.
 */
int qemu_helper_new(struct opts *opts, const char *file, const char *fmt, unsigned int flags,
		    struct qemu_helper **out, struct err *err);
/* Stops a running helper; NULL is a no-op.  A network image's helper that does not exit
 * within 100 ms of our disconnect is left to finish in the background (reaped by a
 * detached thread; terminated only if it still runs 60 s later): a client library's
 * teardown (libgfapi: ~10 s) holds up nobody and is no cause for alarm. */
void qemu_helper_free(struct qemu_helper *h);

/* Start it (again): *sock is a socket connected to its NBD server (the caller owns it).
 * The third start fails with -ENOLINK: a helper is restarted once. */
int qemu_helper_start(struct qemu_helper *h, int *sock, struct err *err);
/* Wait up to @ms for it to exit; true when it has (then @why says how, with its last
 * line of output). */
bool qemu_helper_wait_exit(struct qemu_helper *h, int ms, char *why, size_t len);
/* Stop it: wait for it to exit on its own, then SIGTERM, then SIGKILL. */
void qemu_helper_stop(struct qemu_helper *h);
/* A connection attempt was abandoned (it timed out): stop it.  A network helper (perhaps
 * stuck in its client library's connect) is terminated at once and reaped in the
 * background; a local one is stopped as by qemu_helper_stop(). */
void qemu_helper_abandon(struct qemu_helper *h);
/* Kill it now (SIGKILL; not counted as a crash): the nbd engine sees the connection drop
 * and restarts it.  Any thread. */
void qemu_helper_kill(struct qemu_helper *h);
bool qemu_helper_is_read_only(const struct qemu_helper *h);
/* The image is on a server (a URL, or a protocol driver other than a local file's): the
 * helper may be restarted any number of times (only crashes count), and a closed one is
 * left to exit in the background (see qemu_helper_free). */
bool qemu_helper_is_network(const struct qemu_helper *h);
/* "vmdk" */
const char *qemu_helper_format(const struct qemu_helper *h);
/* "vmdk image '/path/x.vmdk'" */
const char *qemu_helper_describe(const struct qemu_helper *h);
/* Lines for blk_describe(): the command, pid and restarts. */
void qemu_helper_describe_long(struct qemu_helper *h, char *buf, size_t len);

#endif
