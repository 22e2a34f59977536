/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Size changes made outside our control (see blk_set_resize_hook). */
#include "block-driver.h"

void blk_set_resize_hook(struct blk_node *bs, blk_resize_cb cb, void *opaque)
{
	for (struct blk_node *n = bs; n; n = n->file) {
		__atomic_store_n(&n->resize_opaque, opaque, __ATOMIC_RELAXED);
		__atomic_store_n(&n->resize_top, bs, __ATOMIC_RELAXED);
		__atomic_store_n(&n->resize_cb, cb, __ATOMIC_RELEASE);
	}
}

/* Nodes that compute their length from their child's (raw) follow it. */
static void refresh_length(struct blk_node *bs)
{
	if (bs->file)
		refresh_length(bs->file);
	if (bs->drv->get_length) {
		int64_t len = bs->drv->get_length(bs);

		if (len >= 0)
			__atomic_store_n(&bs->total_size, (uint64_t)len, __ATOMIC_RELAXED);
	}
}

void blk_node_resized(struct blk_node *bs, uint64_t size)
{
	blk_resize_cb cb = __atomic_load_n(&bs->resize_cb, __ATOMIC_ACQUIRE);

	__atomic_store_n(&bs->total_size, size, __ATOMIC_RELAXED);
	if (!cb)
		return;
	refresh_length(bs->resize_top);
	cb(bs->resize_opaque);
}
