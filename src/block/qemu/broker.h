/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening a local image for a QEMU helper that may not open it (proc.h runs helpers as an
 * unprivileged user; the image is typically root's, mode 0600).
 *
 * With QEMU 7.2 nothing else works: /proc/self/fd/N is a reopen that checks the inode's
 * permissions against the helper, qemu-nbd has no --add-fd and qemu-storage-daemon no
 * add-fd command (its fd sets are stubs: "Could not dup FD for /dev/fdset/1: Function not
 * implemented"), and QEMU's nbd client, the one driver that takes an inherited
 * descriptor, cannot read past the size it was told at connection, so formats that grow
 * their file (vmdk, qed, qcow, vhdx, ...) cannot be served through it.
 *
 * So the helper opens the image by a name of ours, BROKER_IMAGE_PATH, and the daemon opens
 * it in its place: before exec the child installs a seccomp filter that reports its
 * open/openat/openat2 calls to the daemon (seccomp_unotify(2)); a thread of the daemon
 * answers each:
 *  - BROKER_IMAGE_PATH: the daemon opens the image's real path with the access mode asked
 *    for (never writable for a read-only image; no O_CREAT/O_TRUNC) and installs the
 *    descriptor as the call's result (SECCOMP_ADDFD_FLAG_SEND);
 *  - any other name: the kernel goes on with the call as the helper's own
 *    (SECCOMP_USER_NOTIF_FLAG_CONTINUE), checked against the helper's credentials.
 * The filter grants nothing the kernel would deny, so a helper that rewrites the name
 * between our reading it and the kernel's (the known race of CONTINUE) gains nothing.
 * QEMU then holds a real descriptor of the file: growth, truncation, locks, O_DIRECT and
 * its aio modes work as when it opened the file itself, at no cost to I/O (only opens are
 * reported).  Images that name other files (backing files, vmdk extents, external data
 * files) resolve those names next to BROKER_IMAGE_PATH, where nothing exists: they are
 * refused with QEMU's own message (see helper.c for the hint we add).
 */
#ifndef QT_BLOCK_QEMU_BROKER_H
#define QT_BLOCK_QEMU_BROKER_H

#include <stdbool.h>
#include <sys/types.h>

#define BROKER_IMAGE_PATH "/qemu-tcmu/image"

struct broker;

/* Whether this kernel and build can broker opens (seccomp user notification with
 * SECCOMP_ADDFD_FLAG_SEND, Linux 5.14). */
bool broker_supported(void);
/* In the child, between fork and exec (async-signal-safe; no_new_privs already set):
 * install the filter and send its listener on @sock.  0 or -errno. */
int broker_child_install(int sock);
/* In the parent: receive the child's listener from @sock (closed) and answer the child
 * @pid's opens in a thread of its own: BROKER_IMAGE_PATH is @path, writable only if
 * !@read_only.  0 or -errno (the child then blocks in its first open: kill it). */
int broker_start(int sock, pid_t pid, const char *path, bool read_only, struct broker **out);
/* Stop answering (the child should have exited: its opens would fail from now on) and free.
 * NULL is a no-op. */
void broker_free(struct broker *b);

#endif
