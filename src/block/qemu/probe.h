/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What QEMU opens that we do not: the names it takes for protocols only it implements,
 * the magics of formats only it implements, and `qemu-img` as the last word on a local
 * file's format.  Above proc.h and broker.h, below helper.h and the driver (qemu.c).
 */
#ifndef QT_BLOCK_QEMU_PROBE_H
#define QT_BLOCK_QEMU_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

/* File-name prefixes of the protocols only QEMU opens (NULL-terminated): http(s)://,
 * ftp(s)://, ssh://, nfs://, iscsi://, iser://, gluster[+tcp|unix|rdma]://, json:.
 * qemu_is_url() also knows rbd:, which the native rbd driver claims and which reaches
 * QEMU with helper=qemu. */
extern const char *const qemu_url_prefixes[];
bool qemu_is_url(const char *file);
/*
 * Protocols whose identity on the server is the client process's own, so that their
 * helpers keep the daemon's uid and gid (proc.h: keep_ids): gluster (libgfapi sends the
 * process's uid/gid, which the bricks check file permissions with), nfs (libnfs's
 * AUTH_SYS credentials), ssh (QEMU logs in as the process's user, with its ssh-agent
 * and known_hosts) and rbd (cephx: librados reads the user's keyring, root's and mode 0600
 * by default, named in a ceph.conf that may be root's too).  By file name or by QEMU's
 * file.driver (either may be NULL).
 */
bool qemu_needs_identity(const char *file, const char *file_driver);
/* Read-only by nature: http(s)://, ftp(s)://. */
bool qemu_is_read_only_url(const char *file);

/* What `qemu-img info` says of an image. */
struct qemu_image_info {
	char format[64];
	char backing[1024]; /* the backing file it names, "" when none */
};
/*
 * Ask `qemu-img info` (run unprivileged, proc.h) about an image: a @local file, which it
 * opens through the broker (broker.h: it could not open it itself), or a URL or QEMU name.
 * 0 or -errno with qemu-img's own message in @err.
 */
int qemu_probe(const char *filename, bool local, struct qemu_image_info *out, struct err *err);
/* For a local file the native probes took for raw: its format as qemu_probe() sees it. */
int qemu_probe_path(const char *path, char *fmt, size_t len, struct err *err);

/*
 * The QEMU format whose magic starts @buf (the image's first bytes), as QEMU's own
 * probes see it, or NULL: bochs, cloop, luks, parallels, qcow, qcow2, qed, vdi, vhdx,
 * vmdk (binary and text descriptors), vpc.
 */
const char *qemu_probe_magic(const uint8_t *buf, size_t len);
/* Whether this QEMU has a block driver named @name (`qemu-img --help`). */
bool qemu_knows_format(const char *name);

#endif
