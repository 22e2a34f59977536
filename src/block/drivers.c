/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The driver registry: an explicit list, no constructors (see docs/ARCHITECTURE.md). */
#include "block-driver.h"

#include <stdio.h>
#include <string.h>

#include "config.h"

#if HAVE_QCOW2
extern const struct blk_driver blk_driver_qcow2;
#endif
#if HAVE_NBD
extern const struct blk_driver blk_driver_nbd;
extern const struct blk_driver blk_driver_qemu;
#endif
#if HAVE_RBD
extern const struct blk_driver blk_driver_rbd;
#endif

const struct blk_driver *const blk_drivers[] = {
	&blk_driver_raw,
#if HAVE_QCOW2
	&blk_driver_qcow2,
#endif
	&blk_driver_file,
	&blk_driver_null,
	&blk_driver_memory,
#if HAVE_NBD
	&blk_driver_nbd,
	&blk_driver_qemu,
#endif
#if HAVE_RBD
	&blk_driver_rbd,
#endif
	NULL,
};

const struct blk_driver *blk_find_driver(const char *name)
{
	for (int i = 0; blk_drivers[i]; i++)
		if (!strcmp(blk_drivers[i]->name, name))
			return blk_drivers[i];
	return NULL;
}

static size_t prefix_match(const struct blk_driver *d, const char *file)
{
	size_t best = 0;

	for (int i = 0; d->prefixes && d->prefixes[i]; i++) {
		size_t n = strlen(d->prefixes[i]);

		if (n > best && !strncmp(file, d->prefixes[i], n))
			best = n;
	}
	return best;
}

const struct blk_driver *blk_find_driver_for(const char *file)
{
	const struct blk_driver *found = NULL;
	size_t best = 0;

	for (int i = 0; file && blk_drivers[i]; i++) {
		size_t n = prefix_match(blk_drivers[i], file);

		if (n > best) {
			best = n;
			found = blk_drivers[i];
		}
	}
	return found;
}

const struct blk_driver *blk_find_image_driver(const char *fmt)
{
	for (int i = 0; blk_drivers[i]; i++) {
		const struct blk_driver *d = blk_drivers[i];

		if (d->kind == BLK_DRIVER_IMAGE &&
		    (!fmt || (d->knows_format && d->knows_format(fmt))))
			return d;
	}
	return NULL;
}

void blk_list_drivers(char *buf, size_t len)
{
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	for (int i = 0; blk_drivers[i] && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
				      blk_drivers[i]->name);
}
