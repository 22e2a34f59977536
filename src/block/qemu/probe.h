/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What QEMU opens that we do not: the names it takes for protocols only it implements,
 * the magics of formats only it implements, and `qemu-img` as the last word on a local
 * file's format.  Above proc.h and nbdsrv.h, below helper.h and the driver (qemu.c).
 */
#ifndef QT_BLOCK_QEMU_PROBE_H
#define QT_BLOCK_QEMU_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk_node;
struct err;

/* File-name prefixes of the protocols only QEMU opens (NULL-terminated): http(s)://,
 * ftp(s)://, ssh://, nfs://, iscsi://, iser://, gluster[+tcp|unix|rdma]://, json:, rbd:. */
extern const char *const qemu_url_prefixes[];
bool qemu_is_url(const char *file);
/* Read-only by nature: http(s)://, ftp(s)://. */
bool qemu_is_read_only_url(const char *file);

/* What `qemu-img info` says of an image. */
struct qemu_image_info {
	char format[64];
	char backing[1024]; /* the backing file it names, "" when none */
};
/*
 * Ask `qemu-img info` (run unprivileged, proc.h) about an image: a local one's file node
 * @img (served to it over NBD: it never opens the file; @filename, its path, only for
 * messages and for dmg, which QEMU knows by the name's .dmg only), or with @img NULL the
 * URL or QEMU name @filename.  0 or -errno with qemu-img's own message in @err.
 */
int qemu_probe(struct blk_node *img, const char *filename, struct qemu_image_info *out,
	       struct err *err);
/* A local image's file node (the daemon's side of what the helper reads): @flags BLK_O_*
 * (RDWR, DIRECT, NO_FLUSH).  0 or -errno with a message. */
int qemu_open_image_file(const char *path, unsigned int flags, struct blk_node **out,
			 struct err *err);
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
