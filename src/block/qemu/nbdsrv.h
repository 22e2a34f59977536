/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A small NBD server inside the daemon, so that the QEMU helper never opens a local image
 * itself.  The daemon opens the image file (a `file` node) and serves its bytes on one end
 * of a socketpair; the helper, running unprivileged, gets the other end and parses the
 * format over QEMU's nbd client (`driver=vmdk,file.driver=nbd,file.server.type=fd,...`).
 * Opening the file by a path the helper cannot reach would fail (/proc/self/fd/N is a
 * reopen that checks the inode's permissions), qemu-nbd 7.2 takes no --add-fd, and nbd
 * is the one QEMU 7.2 block driver that uses an inherited descriptor as it is.
 *
 * The protocol (the NBD spec's fixed newstyle): options NBD_OPT_GO, INFO, EXPORT_NAME,
 * LIST, ABORT, STRUCTURED_REPLY, SET_META_CONTEXT and LIST_META_CONTEXT (base:allocation);
 * commands READ, WRITE (FUA), FLUSH, TRIM, WRITE_ZEROES (NO_HOLE, FAST_ZERO),
 * BLOCK_STATUS (from the file's holes) and DISC; one export, whatever its name.  Writes
 * past the end grow the file, as formats that allocate by appending need.
 *
 * Threads: NBDSRV_THREADS threads per session take turns reading a request (one lock) and
 * sending its reply (another), and run requests in between with the node's blocking calls,
 * so requests overlap.  Above the block layer only; below probe.c and helper.c.
 */
#ifndef QT_BLOCK_QEMU_NBDSRV_H
#define QT_BLOCK_QEMU_NBDSRV_H

#include <stdbool.h>

struct blk_node;
struct nbdsrv;

#define NBDSRV_THREADS 4

/*
 * Serve @bs (borrowed: it must outlive the session) on the connected socket @fd (owned),
 * read-only when @read_only, until the client disconnects or nbdsrv_free().  @desc names
 * the image in messages (copied).  0 or -errno.
 */
int nbdsrv_start(struct blk_node *bs, bool read_only, int fd, const char *desc,
		 struct nbdsrv **out);
/* End the session (the socket is shut down) and wait for its threads.  NULL is a no-op. */
void nbdsrv_free(struct nbdsrv *s);

#endif
