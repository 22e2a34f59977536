/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Image driver "qemu": what we do not implement natively, QEMU serves (helper.h).
 *
 * The core routes here file names only QEMU opens (probe.h: ssh://, nfs://, gluster://,
 * http(s)://, ...), formats no native driver implements (named with format=, recognised
 * by their magic, or by `qemu-img info` on a local file), and anything with helper=qemu.
 * The node owns a qemu-nbd child (helper.c) and reads and writes through an nbd child
 * node (bs->file) that dials it: the nbd driver's async path, limits and block status
 * serve the image, and a helper that dies is restarted by the nbd engine's reconnect.
 *
 * A network image's requests run on the thread pool through netio.c, which restarts a
 * helper whose server went away (stuck or failing requests) and makes such failures
 * ENOTCONN (retryable); a local image's go down the nbd node's async path unwatched.
 *
 * Files: broker.c (opening local images for unprivileged helpers) <- proc.c (processes,
 * run unprivileged) <- probe.c (names, magics, qemu-img) <- helper.c (qemu-nbd) <- netio.c
 * (network requests) <- qemu.c (this driver); no arrow the other way.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "block/block-driver.h"
#include "block/nbd/nbd.h"
#include "helper.h"
#include "netio.h"
#include "probe.h"
#include "util/err.h"
#include "util/opts.h"

#define IO_TIMEOUT_DEFAULT_S 30

struct qemu_state {
	struct qemu_helper *helper;
	struct qemu_netio *net; /* network images only */
};

static int dial(void *opaque, int *fd, struct err *err)
{
	return qemu_helper_start(opaque, fd, err);
}

static bool explain(void *opaque, int ms, char *why, size_t len)
{
	return qemu_helper_wait_exit(opaque, ms, why, len);
}

static void hang_up(void *opaque)
{
	qemu_helper_abandon(opaque);
}

static int qemu_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	struct qemu_state *s = bs->opaque;
	struct nbd_dialer d = {
		.dial = dial,
		.explain = explain,
		.hang_up = hang_up,
		/* a dead helper lost its caches: in-flight requests fail, later ones wait
		 * (reconnect-timeout) for its restart */
		.retry_inflight = false,
	};
	const char *fmt = bs->open_arg;
	uint64_t io_timeout;
	int r;

	r = nbd_parse_timeouts(opts, &d.reconnect_ms, &d.connect_ms, err);
	if (r == 0)
		r = opts_get_u64(opts, "io-timeout", IO_TIMEOUT_DEFAULT_S, &io_timeout, err);
	if (r == 0 && io_timeout > 3600)
		r = err_set(err, -EINVAL, "qemu helper: io-timeout must be 0..3600 s");
	if (r == 0)
		r = qemu_helper_new(opts, bs->filename, fmt, flags, &s->helper, err);
	if (r < 0)
		return r;
	d.opaque = s->helper;
	d.desc = qemu_helper_describe(s->helper);
	if (qemu_helper_is_network(s->helper)) {
		/* a network image's state is on its server, not in the helper: requests in
		 * flight go to the restarted helper, and while the server is away they fail
		 * with ENOTCONN (the SCSI layer: ABORTED COMMAND, which initiators retry) */
		d.retry_inflight = true;
		d.lost_errno = -ENOTCONN;
		r = netio_new(s->helper, d.desc, io_timeout * 1000, &s->net);
		if (r < 0) {
			qemu_helper_free(s->helper);
			return err_set_errno(err, r, "qemu helper: cannot watch its requests");
		}
	}
	r = nbd_open_dialer(&d, qemu_helper_is_read_only(s->helper) ? 0 : (flags & BLK_O_RDWR),
			    &bs->file, err);
	if (r < 0) {
		netio_free(s->net);
		qemu_helper_free(s->helper);
		return r;
	}
	bs->total_size = bs->file->total_size;
	bs->read_only = bs->file->read_only;
	return 0;
}

static void qemu_close(struct blk_node *bs)
{
	struct qemu_state *s = bs->opaque;

	netio_free(s->net);
	blk_close_file(bs); /* our disconnect lets the helper flush and exit */
	qemu_helper_free(s->helper);
}

static void qemu_refresh_limits(struct blk_node *bs, struct blk_limits *lim)
{
	const struct blk_limits *c = &bs->file->limits;

	lim->caps = c->caps;
	lim->discard_granularity = c->discard_granularity;
	lim->max_discard = c->max_discard;
	lim->max_write_zeroes = c->max_write_zeroes;
}

/* A network image's request goes through netio (see there); a local one's straight down. */
#define NET_IO(bs, is_flush, call)                                   \
	({                                                           \
		struct qemu_state *s_ = (bs)->opaque;                \
		struct netio_req nr_;                                \
		int r_;                                              \
		if (s_->net)                                         \
			netio_begin(s_->net, &nr_);                  \
		r_ = (call);                                         \
		if (s_->net)                                         \
			r_ = netio_end(s_->net, &nr_, is_flush, r_); \
		r_;                                                  \
	})

static int qemu_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		       int iovcnt, unsigned int flags)
{
	return NET_IO(bs, false, blk_preadv(bs->file, off, len, iov, iovcnt, flags));
}

static int qemu_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			int iovcnt, unsigned int flags)
{
	return NET_IO(bs, false, blk_pwritev(bs->file, off, len, iov, iovcnt, flags));
}

static int qemu_flush(struct blk_node *bs)
{
	return NET_IO(bs, true, blk_flush(bs->file));
}

static int qemu_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	return NET_IO(bs, false, blk_discard(bs->file, off, len));
}

static int qemu_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	return NET_IO(bs, false, blk_write_zeroes(bs->file, off, len, flags | BLK_REQ_NO_FALLBACK));
}

/* the image's status is the nbd export's: QEMU answers it */
static int qemu_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			     uint64_t *map, struct blk_node **file)
{
	*pnum = len;
	*map = off;
	*file = bs->file;
	return BLK_STATUS_RAW | BLK_STATUS_OFFSET_VALID;
}

static int qemu_submit(struct blk_node *bs, struct blk_req *req)
{
	struct qemu_state *s = bs->opaque;

	if (s->net || !bs->file->drv->submit)
		return -ENOTSUP; /* network: the blocking path, where netio sees each request */
	blk_req_forward(bs->file, req);
	return 0;
}

static void qemu_describe(struct blk_node *bs, char *buf, size_t len)
{
	struct qemu_state *s = bs->opaque;
	size_t n = (size_t)snprintf(buf, len, "qemu format: %s\n", qemu_helper_format(s->helper));

	if (n < len && bs->file->drv->describe)
		bs->file->drv->describe(bs->file, buf + n, len - n);
	n = strlen(buf);
	if (n < len)
		qemu_helper_describe_long(s->helper, buf + n, len - n);
}

static int detect_format(const char *path, char *fmt, size_t len)
{
	struct err e;

	err_init(&e);
	return qemu_probe_path(path, fmt, len, &e);
}

static const struct blk_opt_desc qemu_options[] = {
	{ "object", "a QEMU object, as qemu-img's object option (secret,id=sec0,data=...); "
		    "object.N for more" },
	{ "aio", "the helper's aio mode (threads, native, io_uring)" },
	{ "io-timeout", "network images: seconds a request may go unanswered before the "
			"helper is restarted (default 30; 0: never)" },
	{ "*", "any other key passes to QEMU unchanged (the names qemu-img's image-opts take: "
	       "key-secret=, file.locking=, ...)" },
	NBD_TIMEOUT_OPTIONS,
	{ NULL, NULL },
};

const struct blk_driver blk_driver_qemu = {
	.name = "qemu",
	.kind = BLK_DRIVER_IMAGE,
	.summary = "every other format and protocol QEMU opens, served by a qemu-nbd child",
	.state_size = sizeof(struct qemu_state),
	.prefixes = qemu_url_prefixes,
	.options = qemu_options,
	.open = qemu_open,
	.close = qemu_close,
	.refresh_limits = qemu_refresh_limits,
	.preadv = qemu_preadv,
	.pwritev = qemu_pwritev,
	.flush = qemu_flush,
	.flush_syncs_file = true,
	.discard = qemu_discard,
	.write_zeroes = qemu_write_zeroes,
	.block_status = qemu_block_status,
	.submit = qemu_submit,
	.describe = qemu_describe,
	.knows_format = qemu_knows_format,
	.probe_magic = qemu_probe_magic,
	.detect_format = detect_format,
};
