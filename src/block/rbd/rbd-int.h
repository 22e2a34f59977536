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
	/* gateway mode (rbd-gw.c, docs/HA.md) */
	bool gateway;
	unsigned int grace_s; /* gateway-grace */
	char *gw_name;	      /* gateway-name: in the service map; NULL = the host name */
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

/* A cluster connection with the image open on it.  A node has one; in gateway mode a new
 * one replaces it (a new client, not blocklisted) after the lock was lost, and requests
 * hold references to the one they run on (rbd_gw_begin/end). */
struct rbd_handle {
	struct rbd_conn *conn;
	rados_ioctx_t io;
	rbd_image_t img;
	uint64_t watch_handle;
	bool watching;	   /* rbd_update_watch is registered */
	unsigned int refs; /* requests on it, +1 while it is the node's (rbd_gw's lock) */
};

/* Connect (or share a connection), open the image, watch its header (@watch_cb with @arg,
 * for resizes and the gateway); @h is filled in.  -errno with a message. */
int rbd_handle_open(const struct rbd_spec *sp, bool write, void (*watch_cb)(void *), void *arg,
		    struct rbd_handle *h, struct err *err);
/* Unwatch, close, disconnect; @h is zeroed.  No request may use it. */
void rbd_handle_close(struct rbd_handle *h);

/* The exclusive lock's holder (its client address) into @buf, "" when nobody holds it. */
int rbd_lock_owner(rbd_image_t im, char *buf, size_t len);
/* Whether the client at @addr watches the image (a live librbd client does; true when the
 * watchers cannot be listed). */
bool rbd_is_watching(rbd_image_t im, const char *addr);

/* Remove @addr's entry from the OSD blocklist (a mon command); -errno. */
int rbd_blocklist_rm(rados_t cluster, const char *addr);

struct rbd_gw;

struct rbd_state {
	struct rbd_spec spec;
	struct rbd_handle *h; /* in gateway mode: swapped under the gateway's lock */
	struct rbd_handle first;
	struct rbd_gw *gw; /* gateway mode, else NULL */
	uint64_t obj_size;
	uint64_t discard_gran;
	uint64_t features;
	bool cache; /* librbd's write-back cache is on (then FUA needs a flush) */
	/* async completions, handed from librbd's threads to the node's loop */
	struct aio_ctx *ctx;
	int efd;
	struct blk_req *done; /* LIFO of completed requests (drv[0] links them) */
	/* COMPARE AND WRITE emulation for geometries librbd refuses (rbd-io.c) */
	pthread_mutex_t caw_lock;
};

/*
 * rbd-gw.c: gateway mode.  One of several gateways to the image: RBD's exclusive lock in
 * manual mode decides which one writes (docs/HA.md has the state machine and policy).
 */
/* Start gateway mode on an open node (spec.gateway): a thread that takes and watches the
 * lock, reopens after losing it, reconnects when the cluster is unreachable, and reports
 * to the Ceph manager's service map.  -errno with a message. */
int rbd_gw_start(struct blk_node *bs, struct err *err);
/* Stop the thread, free the gateway (the lock goes with the image's close). */
void rbd_gw_stop(struct rbd_state *s);
/* Before a request: 0 and a referenced handle to run it on in *h, or BLK_E_* (a write
 * without the lock asks for it).  Without gateway mode: s->h, always 0. */
int rbd_gw_begin(struct rbd_state *s, bool write, struct rbd_handle **h);
/* After it: librbd's result @r on @h, as the block layer reports it (the lock lost under a
 * write: BLK_E_TRANSITION, and the gateway reopens; a timeout wakes the gateway). */
int rbd_gw_result(struct rbd_state *s, struct rbd_handle *h, int r, bool write);
/* Drop the reference of rbd_gw_begin. */
void rbd_gw_end(struct rbd_state *s, struct rbd_handle *h);
/* The image's header changed (another client wrote the lock tag, ...): look again. */
void rbd_gw_poke(struct rbd_state *s);
int rbd_gw_access(struct rbd_state *s, struct blk_access *out);
void rbd_gw_set_tag(struct rbd_state *s, int tag);

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
