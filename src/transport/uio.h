/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * TCMU devices as UIO devices: discovery through /sys/class/uio, names, exact-size
 * mapping.  The kernel names each device "tcm-user/<hba>/<dev>/<dev_config>" (no last
 * part while dev_config is empty), where dev_config is "<subtype>/<handler config>"
 * verbatim: so the name is split only at its first three slashes.
 * Paths go through sysfile_path() (tests point them at a fake tree, util/sysfile.h).
 */
#ifndef QT_TRANSPORT_UIO_H
#define QT_TRANSPORT_UIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

struct uio_dev {
	unsigned int minor; /* /dev/uio<minor> */
	unsigned int hba;   /* configfs core/user_<hba> */
	char dev[256];	    /* the LIO device name (configfs directory) */
	char cfg[512];	    /* dev_config: "<subtype>/<handler config>", "" if unset */
	char subtype[64];   /* cfg up to its first '/' */
	size_t handler_off; /* the handler config: cfg + handler_off (after "<subtype>/") */
	uint64_t map_size;  /* maps/map0/size */
};

static inline const char *uio_handler_cfg(const struct uio_dev *u)
{
	return u->cfg + u->handler_off;
}

/* Parse a UIO name; -EINVAL if it is not a TCMU one. */
int uio_parse_name(const char *name, struct uio_dev *u);
/* Read /sys/class/uio/uio<minor>/{name,maps/map0/size}. */
int uio_read(unsigned int minor, struct uio_dev *u, struct err *err);
/* Call @fn for every TCMU UIO device (in minor order); stops at the first fn < 0. */
int uio_scan(int (*fn)(const struct uio_dev *u, void *opaque), void *opaque);

/* open(/dev/uio<minor>, O_RDWR|O_NONBLOCK|O_CLOEXEC): -EBUSY while another process has
 * it open (the kernel allows one opener: a device another daemon serves). */
int uio_open(const struct uio_dev *u, int *fd, struct err *err);
/* mmap exactly map_size of the opened device. */
int uio_map(const struct uio_dev *u, int fd, void **map, struct err *err);
void uio_close(int fd, void *map, size_t size);

#endif
