/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the rbd protocol driver (librbd): what an image is called (rbd-opts.c), the
 * cluster connection and image handle (rbd-conn.c), the driver ops (rbd.c, rbd-io.c).
 */
#ifndef QT_BLOCK_RBD_RBD_INT_H
#define QT_BLOCK_RBD_RBD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "rbd-lib.h"

#include "block/block-driver.h"

struct opts;
struct err;

/* A librados option from the rbd: string ("rbd:pool/img:key=value"), in order. */
struct rbd_kv {
	char *key, *value;
};

/* Where the image is and how to reach the cluster.  All strings owned (rbd_spec_release). */
struct rbd_spec {
	char *pool, *ns, *image, *snap; /* ns and snap NULL when absent */
	char *conf;			/* ceph.conf path; NULL = librados's default search */
	char *user;			/* cephx id without "client."; NULL = admin */
	struct rbd_kv *kv;		/* further librados options, applied after conf */
	size_t nkv;
	bool shared; /* share one cluster connection with other nodes of the same cluster */
};

void rbd_spec_release(struct rbd_spec *sp);
/* Parse the rbd: file name and the structured keys of @opts into @sp (zeroed first). */
int rbd_spec_parse(struct opts *opts, const char *filename, struct rbd_spec *sp, struct err *err);
/* "pool[/ns]/image[@snap]" for messages. */
void rbd_spec_name(const struct rbd_spec *sp, char *buf, size_t len);

/* A cluster connection (rados_t), shared between nodes only with rbd_spec.shared. */
struct rbd_conn;

/* Connect (bounded by client_mount_timeout) and open the pool's io context. */
int rbd_conn_get(const struct rbd_spec *sp, struct rbd_conn **out, struct err *err);
void rbd_conn_put(struct rbd_conn *c);
rados_t rbd_conn_cluster(const struct rbd_conn *c);

/* Open the image of @sp (read-only for snapshots or without @write) with one clear line
 * naming what is missing. */
int rbd_image_open(const struct rbd_spec *sp, rados_t cluster, bool write, rados_ioctx_t *io,
		   rbd_image_t *img, struct err *err);

struct rbd_state {
	struct rbd_spec spec;
	struct rbd_conn *conn;
	rados_ioctx_t io;
	rbd_image_t img;
	uint64_t obj_size;
	uint64_t discard_gran;
	uint64_t features;
	bool cache;    /* librbd's write-back cache is on (then FUA needs a flush) */
	bool watching; /* rbd_update_watch is registered */
	uint64_t watch_handle;
	/* async completions, handed from librbd's threads to the node's loop */
	struct aio_ctx *ctx;
	int efd;
	struct blk_req *done; /* LIFO of completed requests (drv[0] links them) */
	/* COMPARE AND WRITE emulation for geometries librbd refuses (rbd-io.c) */
	pthread_mutex_t caw_lock;
};

/* rbd-io.c: blocking ops and the async path. */
int rbd_io_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		  int iovcnt, unsigned int flags);
int rbd_io_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		   int iovcnt, unsigned int flags);
int rbd_io_flush(struct blk_node *bs);
int rbd_io_discard(struct blk_node *bs, uint64_t off, uint64_t len);
int rbd_io_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags);
int rbd_io_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			uint64_t *map, struct blk_node **file);
int rbd_io_submit(struct blk_node *bs, struct blk_req *req);
int rbd_io_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx);
int rbd_io_write_same(struct blk_node *bs, uint64_t off, uint64_t len, const void *pattern,
		      size_t plen, unsigned int flags);
int rbd_io_compare_and_write(struct blk_node *bs, uint64_t off, uint64_t len,
			     const struct iovec *iov, int iovcnt, uint64_t *mismatch,
			     unsigned int flags);

#endif
