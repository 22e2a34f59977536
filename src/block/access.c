/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared nodes: a gateway's access state (see block.h, blk_get_access). */
#include "block-driver.h"

/* The shared node at or below @bs: only raw passes its child's data through unchanged;
 * any other format keeps state of its own (caches, allocation) that another gateway's
 * writes would make stale, so a shared node is never below one (blk_open refuses it). */
static struct blk_node *shared_node(struct blk_node *bs)
{
	while (bs && !bs->drv->get_access && bs->drv == &blk_driver_raw)
		bs = bs->file;
	return bs && bs->drv->get_access ? bs : NULL;
}

int blk_get_access(struct blk_node *bs, struct blk_access *out)
{
	struct blk_access tmp;

	bs = shared_node(bs);
	if (!bs)
		return -ENOTSUP;
	return bs->drv->get_access(bs, out ? out : &tmp);
}

void blk_set_access_tag(struct blk_node *bs, int tag)
{
	bs = shared_node(bs);
	if (bs && bs->drv->set_access_tag)
		bs->drv->set_access_tag(bs, tag);
}

void blk_set_access_hook(struct blk_node *bs, blk_access_cb cb, void *opaque)
{
	bs = shared_node(bs);
	if (!bs)
		return;
	__atomic_store_n(&bs->access_opaque, opaque, __ATOMIC_RELAXED);
	__atomic_store_n(&bs->access_cb, cb, __ATOMIC_RELEASE);
}

void blk_node_access_changed(struct blk_node *bs)
{
	blk_access_cb cb = __atomic_load_n(&bs->access_cb, __ATOMIC_ACQUIRE);

	if (cb)
		cb(__atomic_load_n(&bs->access_opaque, __ATOMIC_RELAXED));
}
