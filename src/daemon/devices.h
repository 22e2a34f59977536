/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The devices a daemon serves, by UIO minor: open (image, LIO attributes, ring), close
 * (drain, flush), reconfigure (size, write cache, image).  Main thread only.
 */
#ifndef QT_DAEMON_DEVICES_H
#define QT_DAEMON_DEVICES_H

#include <stdbool.h>

struct aio_ctx;
struct devices;
struct err;
struct netlink_event;
struct uio_dev;

/* @poll_us: each device's thread busy-polls its ring this long before sleeping (0: no). */
int devices_new(const char *subtype, unsigned int poll_us, struct devices **out);
/* The main loop: images resized by others (rbd) are handled there. */
void devices_set_loop(struct devices *ds, struct aio_ctx *ctx);
/* Closes every device first.  NULL is a no-op. */
void devices_free(struct devices *ds);

/*
 * Serve @u: open its image from the config string, read dev_size, hw_block_size,
 * hw_max_sectors and hw_queue_depth from configfs, refuse a dev_size beyond the image,
 * map the ring and start the device thread.  @takeover: the device existed before us
 * (commands of a dead daemon may be in its ring): block it and reset its ring first.
 * Opening a device already served is a no-op.
 */
int devices_open(struct devices *ds, const struct uio_dev *u, bool takeover, struct err *err);
bool devices_has(const struct devices *ds, unsigned int minor);
/* Drain, flush, close.  Unknown minors are ignored. */
void devices_close(struct devices *ds, unsigned int minor);
void devices_close_all(struct devices *ds);
/* RECONFIG_DEVICE: 0 or -errno (logged). */
int devices_reconfig(struct devices *ds, unsigned int minor, const struct netlink_event *ev);
unsigned int devices_count(const struct devices *ds);

#endif
