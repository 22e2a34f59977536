/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The commands of qemu-tcmu-io (qemu-io's names, options and output style). */
#ifndef QT_TOOLS_IO_CMDS_H
#define QT_TOOLS_IO_CMDS_H

#include <stdbool.h>

struct aio_ctx;
struct blk_node;

/* Run one command line ("read -P 0xa5 1M 64k").  Returns 0, or non-zero when the
 * command failed (bad arguments, I/O error, pattern mismatch); errors go to stderr. */
int io_cmd_run(struct blk_node *bs, const char *line, bool quiet);
void io_cmd_help(void);
/* From now on, reads, writes (not -z) and flushes go through the asynchronous request path
 * the daemon uses (blk_req_submit, the node attached to @ctx), one at a time, each waited
 * for in @ctx; NULL: the blocking calls again. */
void io_cmds_use_ctx(struct aio_ctx *ctx);

#endif
