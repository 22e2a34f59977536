/* SPDX-License-Identifier: GPL-2.0-or-later */
/* io_uring engine of the file driver: one ring per (file node, event loop). */
#ifndef QT_BLOCK_FILE_URING_H
#define QT_BLOCK_FILE_URING_H

struct aio_ctx;
struct blk_node;
struct blk_req;
struct file_uring;

/* NULL if io_uring is not available (old kernel, seccomp, built without liburing). */
struct file_uring *file_uring_new(struct aio_ctx *ctx, int fd);
/* Waits for requests still in flight (their callbacks run). */
void file_uring_free(struct file_uring *ring);
/* 0 = queued (submitted at the end of the loop iteration), -ENOTSUP = ring full. */
int file_uring_submit(struct file_uring *ring, struct blk_node *bs, struct blk_req *req);

#endif
