/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A node's properties and its event loop: the bottom of the core, below the request core
 * (io.c) and opening (block.c). */
#include "block-driver.h"

#include <stdio.h>
#include <string.h>

int blk_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx)
{
	int r = 0;

	if (!bs)
		return 0;
	if (bs->file && (r = blk_attach_ctx(bs->file, ctx)) < 0)
		return r;
	if (bs->backing && (r = blk_attach_ctx(bs->backing, ctx)) < 0)
		return r;
	if (bs->drv->attach_ctx)
		r = bs->drv->attach_ctx(bs, ctx);
	bs->ctx = r < 0 ? NULL : ctx;
	return r;
}

int64_t blk_getlength(struct blk_node *bs)
{
	return (int64_t)__atomic_load_n(&bs->total_size, __ATOMIC_RELAXED);
}

const struct blk_limits *blk_get_limits(const struct blk_node *bs)
{
	return &bs->limits;
}

bool blk_is_read_only(const struct blk_node *bs)
{
	return bs->read_only;
}

bool blk_write_cache(const struct blk_node *bs)
{
	return bs->write_cache;
}

void blk_set_write_cache(struct blk_node *bs, bool on)
{
	bs->write_cache = on;
}

const char *blk_driver_name(const struct blk_node *bs)
{
	return bs->drv->name;
}

const char *blk_filename(const struct blk_node *bs)
{
	return bs->filename;
}

struct blk_node *blk_child_file(const struct blk_node *bs)
{
	return bs->file;
}

struct blk_node *blk_backing(const struct blk_node *bs)
{
	return bs->backing;
}

void blk_describe(struct blk_node *bs, char *buf, size_t len)
{
	const struct blk_limits *l = &bs->limits;
	size_t n;

	n = (size_t)snprintf(buf, len,
			     "image: %s\nformat: %s\nvirtual size: %llu bytes\nread-only: %s\n"
			     "request alignment: %u\nmax transfer: %llu\ndiscard: %s\n",
			     bs->filename, bs->drv->name, (unsigned long long)blk_getlength(bs),
			     bs->read_only ? "yes" : "no", l->request_alignment,
			     (unsigned long long)l->max_transfer,
			     (l->caps & BLK_CAP_DISCARD) ? "unmap" : "ignore");
	if (n < len && bs->drv->describe)
		bs->drv->describe(bs, buf + n, len - n);
	n = strlen(buf);
	if (n < len && bs->backing)
		snprintf(buf + n, len - n, "backing file: %s (%s)\n", bs->backing->filename,
			 bs->backing->drv->name);
}
