/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The async fast path (see below). */
#include "qcow2.h"

#include <errno.h>

int qcow2_submit(struct blk_node *bs, struct blk_req *req)
{
	(void)bs;
	(void)req;
	return -ENOTSUP;
}

int qcow2_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx)
{
	(void)bs;
	(void)ctx;
	return 0;
}

void qcow2_async_free(struct qcow2_state *s)
{
	(void)s;
}
