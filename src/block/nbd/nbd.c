/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Protocol driver "nbd": an export of an NBD server, through libnbd.
 *
 *   @file=nbd://host[:port]/export   @file=nbd+unix:///export?socket=/path   (libnbd URIs)
 *   @driver=nbd@server=unix:/path|host[:port]@export=NAME
 *   @driver=nbd@server.type=unix@server.path=/path   (QEMU's names; server.type=inet with
 *                                                     server.host, server.port)
 * Options: reconnect-timeout=SECONDS (default 10; QEMU's reconnect-delay is an alias): how
 * long requests wait for a lost server before failing with EIO; connect-timeout=SECONDS
 * (default 30; alias open-timeout) bounds each connection attempt.
 *
 * Other drivers reach servers they run themselves through nbd_open_dialer() (nbd.h).
 *
 * The server's block sizes become the node's limits, its flags the capabilities; block
 * status comes from base:allocation (and qemu:allocation-depth when offered).
 */
#include "nbd-int.h"

#include <errno.h>
#include <libnbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"

#define NBD_DEFAULT_PORT "10809"
#define NBD_DEFAULT_MAX_TRANSFER (32u << 20) /* the NBD spec's interoperable maximum */
#define NBD_MAX_RANGE (1u << 31)	     /* trim/zero/block status: 32-bit lengths */
#define RECONNECT_DEFAULT_S 10
#define CONNECT_DEFAULT_S 30

/* libnbd's URI schemes (nbd_connect_uri), and QEMU's nbd+tcp:// for nbd:// */
static const char *const nbd_prefixes[] = {
	"nbd://",	"nbds://",	 "nbd+unix://", "nbds+unix://",
	"nbd+vsock://", "nbds+vsock://", "nbd+tcp://",	NULL,
};

static bool is_nbd_uri(const char *s)
{
	for (int i = 0; nbd_prefixes[i]; i++)
		if (!strncmp(s, nbd_prefixes[i], strlen(nbd_prefixes[i])))
			return true;
	return false;
}

static int set_str(char **dst, const char *src, struct err *err)
{
	*dst = strdup(src);
	return *dst ? 0 : err_set(err, -ENOMEM, "out of memory");
}

/* server=unix:/path | host:port | [v6addr]:port | host */
static int parse_server_shorthand(struct nbdc_state *s, const char *v, struct err *err)
{
	const char *colon;

	if (!strncmp(v, "unix:", 5)) {
		s->mode = NBDC_MODE_UNIX;
		if (!v[5])
			return err_set(err, -EINVAL, "nbd: option 'server': empty socket path");
		return set_str(&s->unix_path, v + 5, err);
	}
	s->mode = NBDC_MODE_TCP;
	if (v[0] == '[') {
		const char *end = strchr(v, ']');

		if (!end || (end[1] && end[1] != ':'))
			return err_set(err, -EINVAL, "nbd: option 'server': bad address '%s'", v);
		s->host = strndup(v + 1, (size_t)(end - v - 1));
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strrchr(v, ':');
		s->host = colon ? strndup(v, (size_t)(colon - v)) : strdup(v);
	}
	if (!s->host)
		return err_set(err, -ENOMEM, "out of memory");
	if (!s->host[0] || (colon && !colon[1]))
		return err_set(err, -EINVAL, "nbd: option 'server': bad address '%s'", v);
	return set_str(&s->port, colon ? colon + 1 : NBD_DEFAULT_PORT, err);
}

/* QEMU's server.type=unix,server.path=... or server.type=inet,server.host=,server.port= */
static int parse_server_qemu(struct nbdc_state *s, struct opts *o, struct err *err)
{
	static const char *const types[] = { "unix", "inet", NULL };
	const char *path = NULL, *host = NULL, *port = NULL;
	int type, r;

	r = opts_get_enum(o, "server.type", types, 1, &type, err);
	if (r == 0)
		r = opts_get_str(o, "server.path", NULL, &path, err);
	if (r == 0)
		r = opts_get_str(o, "server.host", NULL, &host, err);
	if (r == 0)
		r = opts_get_str(o, "server.port", NBD_DEFAULT_PORT, &port, err);
	if (r < 0)
		return r;
	if (type == 0) {
		if (!path)
			return err_set(err, -EINVAL, "nbd: server.type=unix needs server.path");
		s->mode = NBDC_MODE_UNIX;
		return set_str(&s->unix_path, path, err);
	}
	if (!host)
		return err_set(err, -EINVAL, "nbd: server.type=inet needs server.host");
	s->mode = NBDC_MODE_TCP;
	r = set_str(&s->host, host, err);
	return r < 0 ? r : set_str(&s->port, port, err);
}

int nbd_parse_timeouts(struct opts *o, uint64_t *reconnect_ms, uint64_t *connect_ms,
		       struct err *err)
{
	uint64_t rc, ct;
	int r;

	r = opts_get_u64(o, "reconnect-delay", RECONNECT_DEFAULT_S, &rc, err);
	if (r == 0)
		r = opts_get_u64(o, "reconnect-timeout", rc, &rc, err);
	if (r == 0)
		r = opts_get_u64(o, "open-timeout", CONNECT_DEFAULT_S, &ct, err);
	if (r == 0)
		r = opts_get_u64(o, "connect-timeout", ct, &ct, err);
	if (r < 0)
		return r;
	if (rc > 3600 || ct == 0 || ct > 3600)
		return err_set(
			err, -EINVAL,
			"nbd: reconnect-timeout must be 0..3600 s, connect-timeout 1..3600 s");
	*reconnect_ms = rc * 1000;
	*connect_ms = ct * 1000;
	return 0;
}

static int parse_export(struct nbdc_state *s, struct opts *o, const char *file, struct err *err)
{
	const char *server = NULL, *exp = NULL;
	int r;

	r = opts_get_str(o, "server", NULL, &server, err);
	if (r == 0)
		r = opts_get_str(o, "export", NULL, &exp, err);
	if (r < 0)
		return r;
	if (file && (server || opts_has(o, "server.type") || opts_has(o, "server.path") ||
		     opts_has(o, "server.host")))
		return err_set(err, -EINVAL,
			       "nbd: give either an nbd:// URI or 'server', not both");
	if (file) {
		if (!is_nbd_uri(file))
			return err_set(err, -EINVAL, "nbd: '%s' is not an nbd:// URI", file);
		if (exp)
			return err_set(err, -EINVAL, "nbd: the export name goes into the URI");
		s->mode = NBDC_MODE_URI;
		if (!strncmp(file, "nbd+tcp://", 10)) {
			if (asprintf(&s->uri, "nbd://%s", file + 10) < 0)
				return err_set(err, -ENOMEM, "out of memory");
		} else if (set_str(&s->uri, file, err) < 0) {
			return -ENOMEM;
		}
		return set_str(&s->desc, file, err);
	}
	if (server)
		r = parse_server_shorthand(s, server, err);
	else if (opts_has(o, "server.type") || opts_has(o, "server.path") ||
		 opts_has(o, "server.host"))
		r = parse_server_qemu(s, o, err);
	else
		return err_set(err, -EINVAL,
			       "nbd: no server given (option 'server' or an nbd:// "
			       "URI in 'file')");
	if (r == 0 && exp)
		r = set_str(&s->export_name, exp, err);
	if (r < 0)
		return r;
	if (asprintf(&s->desc, "%s%s%s%s%s", s->unix_path ? "unix:" : "",
		     s->unix_path ? s->unix_path : s->host, s->port ? ":" : "",
		     s->port ? s->port : "", exp ? "/" : "") < 0)
		return err_set(err, -ENOMEM, "out of memory");
	if (exp) {
		char *d = NULL;

		if (asprintf(&d, "%s%s", s->desc, exp) < 0)
			return err_set(err, -ENOMEM, "out of memory");
		free(s->desc);
		s->desc = d;
	}
	return 0;
}

int nbdc_parse(struct blk_node *bs, struct opts *o, struct err *err)
{
	struct nbdc_state *s = bs->opaque;
	const struct nbd_dialer *d = bs->open_arg;
	const char *file = bs->filename[0] ? bs->filename : NULL;
	int r;

	if (d) { /* nbd_open_dialer() */
		s->mode = NBDC_MODE_DIALER;
		s->dialer = *d;
		s->retry_inflight = d->retry_inflight;
		s->lost_errno = d->lost_errno ? d->lost_errno : -EIO;
		s->reconnect_ms = d->reconnect_ms;
		s->connect_ms = d->connect_ms;
		return set_str(&s->desc, d->desc, err);
	}
	s->retry_inflight = true;
	s->lost_errno = -EIO;
	r = nbd_parse_timeouts(o, &s->reconnect_ms, &s->connect_ms, err);
	if (r == 0)
		r = parse_export(s, o, file, err);
	return r;
}

void nbdc_free_config(struct nbdc_state *s)
{
	free(s->uri);
	free(s->unix_path);
	free(s->host);
	free(s->port);
	free(s->export_name);
	free(s->desc);
}

static int nbdc_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	struct nbdc_state *s = bs->opaque;
	int r;

	nbdc_engine_init(s);
	(void)flags;
	r = nbdc_parse(bs, opts, err);
	if (r == 0) {
		r = nbdc_engine_connect(s, err);
		if (r < 0)
			err_prefix(err, "nbd: cannot connect to %s", s->desc);
	}
	if (r < 0) {
		nbdc_engine_close(s);
		nbdc_free_config(s);
		return r;
	}
	bs->total_size = s->info.size;
	if (!bs->filename[0]) { /* server=...: name the node for messages */
		char *name = strdup(s->desc);

		if (name) {
			free(bs->filename);
			bs->filename = name;
		}
	}
	if (s->info.read_only && !bs->read_only) {
		/* the SCSI layer write-protects the LUN; a read-only URL needs no word */
		if (s->mode != NBDC_MODE_DIALER)
			log_info("nbd: %s: the export is read-only; opened read-only", s->desc);
		bs->read_only = true;
	}
	return 0;
}

static void nbdc_close_node(struct blk_node *bs)
{
	struct nbdc_state *s = bs->opaque;

	if (s->ctx) /* the core detaches first; this is for a failed attach */
		nbdc_engine_attach(s, NULL);
	nbdc_engine_close(s);
	nbdc_free_config(s);
}

static uint32_t nbdc_min_block(const struct nbdc_state *s)
{
	if (s->info.min_block)
		return s->info.min_block;
	/* not advertised: the spec's interoperable 512 when the size allows it */
	return s->info.size % 512 ? 1 : 512;
}

static void nbdc_refresh_limits(struct blk_node *bs, struct blk_limits *lim)
{
	struct nbdc_state *s = bs->opaque;
	uint32_t min = nbdc_min_block(s);

	lim->request_alignment = min;
	lim->mem_alignment = 1;
	lim->max_transfer = s->info.max_block ? s->info.max_block : NBD_DEFAULT_MAX_TRANSFER;
	lim->opt_transfer = s->info.pref_block;
	lim->discard_granularity = min;
	lim->max_discard = NBD_MAX_RANGE;
	lim->max_write_zeroes = NBD_MAX_RANGE;
	lim->physical_block_size = MAX(s->info.pref_block, 512u);
	lim->caps = 0;
	if (s->info.can_fua)
		lim->caps |= BLK_CAP_FUA;
	if (s->info.can_trim)
		lim->caps |= BLK_CAP_DISCARD;
	if (s->info.can_zero && s->info.can_trim)
		lim->caps |= BLK_CAP_ZERO_UNMAP;
	if (s->info.can_fast_zero)
		lim->caps |= BLK_CAP_FAST_ZERO;
}

static int nbdc_run(struct blk_node *bs, enum blk_op op, uint64_t off, uint64_t len,
		    const struct iovec *iov, int iovcnt, unsigned int flags)
{
	struct blk_req req = {
		.op = op,
		.flags = flags,
		.off = off,
		.len = len,
		.iov = iov,
		.iovcnt = iovcnt,
	};

	return nbdc_engine_run(bs->opaque, &req, NULL);
}

static int nbdc_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		       int iovcnt, unsigned int flags)
{
	(void)flags;
	return nbdc_run(bs, BLK_OP_READ, off, len, iov, iovcnt, 0);
}

static int nbdc_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			int iovcnt, unsigned int flags)
{
	return nbdc_run(bs, BLK_OP_WRITE, off, len, iov, iovcnt, flags & BLK_REQ_FUA);
}

static int nbdc_flush(struct blk_node *bs)
{
	struct nbdc_state *s = bs->opaque;

	if (!s->info.can_flush)
		return 0;
	return nbdc_run(bs, BLK_OP_FLUSH, 0, 0, NULL, 0, 0);
}

static int nbdc_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	struct nbdc_state *s = bs->opaque;

	if (!s->info.can_trim)
		return -ENOTSUP;
	return nbdc_run(bs, BLK_OP_DISCARD, off, len, NULL, 0, 0);
}

static int nbdc_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	struct nbdc_state *s = bs->opaque;

	if (!s->info.can_zero || ((flags & BLK_REQ_NO_FALLBACK) && !s->info.can_fast_zero))
		return -ENOTSUP;
	if (!s->info.can_fua)
		flags &= ~BLK_REQ_FUA;
	return nbdc_run(bs, BLK_OP_WRITE_ZEROES, off, len, NULL, 0, flags);
}

/* base:allocation: HOLE = not allocated, ZERO = reads as zeroes; allocation depth 0 = no
 * layer of the image holds the range, so it reads as zeroes. */
static int nbdc_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			     uint64_t *map, struct blk_node **file)
{
	struct nbdc_state *s = bs->opaque;
	uint64_t start = ALIGN_DOWN(off, (uint64_t)nbdc_min_block(s)), n;
	struct blk_req req = { .op = BLK_OP_READ, .off = start };
	struct nbdc_extent x;
	int r, st;

	*map = off;
	*file = bs;
	if (!s->info.has_base_allocation) {
		*pnum = len;
		return BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID;
	}
	req.len = MIN(len + (off - start), (uint64_t)NBD_MAX_RANGE);
	r = nbdc_engine_run(s, &req, &x);
	if (r < 0)
		return r;
	n = x.have_base ? x.base_len : 0;
	if (x.have_depth && x.depth_len)
		n = MIN(n, (uint64_t)x.depth_len);
	if (n <= off - start)
		return -EIO; /* the server answered nothing useful */
	*pnum = MIN(n - (off - start), len);
	st = BLK_STATUS_OFFSET_VALID;
	if (!(x.base_flags & LIBNBD_STATE_HOLE))
		st |= BLK_STATUS_DATA;
	if (x.base_flags & LIBNBD_STATE_ZERO)
		st |= BLK_STATUS_ZERO;
	if (x.have_depth && x.depth == 0)
		st = (st & ~BLK_STATUS_DATA) | BLK_STATUS_ZERO;
	return st;
}

static int nbdc_submit(struct blk_node *bs, struct blk_req *req)
{
	struct nbdc_state *s = bs->opaque;

	if (req->op == BLK_OP_FLUSH && !s->info.can_flush)
		return -ENOTSUP; /* the core's path returns 0 for it */
	if (req->op != BLK_OP_READ && req->op != BLK_OP_WRITE && req->op != BLK_OP_FLUSH)
		return -ENOTSUP;
	nbdc_engine_submit(s, req);
	return 0;
}

static int nbdc_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx)
{
	return nbdc_engine_attach(bs->opaque, ctx);
}

static void nbdc_describe(struct blk_node *bs, char *buf, size_t len)
{
	struct nbdc_state *s = bs->opaque;
	const struct nbdc_server_info *i = &s->info;
	snprintf(buf, len,
		 "nbd server: %s\nnbd block sizes: min %u, preferred %u, max %u\n"
		 "nbd can: %s%s%s%s%s\nnbd contexts: %s%s\n",
		 s->desc, i->min_block, i->pref_block, i->max_block, i->can_flush ? "flush " : "",
		 i->can_fua ? "fua " : "", i->can_trim ? "trim " : "", i->can_zero ? "zero " : "",
		 i->can_fast_zero ? "fast-zero" : "",
		 i->has_base_allocation ? "base:allocation " : "",
		 i->has_allocation_depth ? "qemu:allocation-depth" : "");
}

int nbd_open_dialer(const struct nbd_dialer *d, unsigned int flags, struct blk_node **out,
		    struct err *err)
{
	return blk_open_node_arg(&blk_driver_nbd, d->desc, NULL, NULL, d, flags, out, err);
}

static const struct blk_opt_desc nbd_options[] = {
	{ "server", "unix:PATH or HOST[:PORT] of the NBD server (instead of an nbd:// URI)" },
	{ "export", "the export name (with 'server')" },
	{ "server.type", "QEMU's form: unix or inet (with server.path or server.host/port)" },
	{ "server.path", "QEMU's form: the server's unix socket" },
	{ "server.host", "QEMU's form: the server's host" },
	{ "server.port", "QEMU's form: the server's port (default 10809)" },
	NBD_TIMEOUT_OPTIONS,
	{ NULL, NULL },
};

const struct blk_driver blk_driver_nbd = {
	.name = "nbd",
	.kind = BLK_DRIVER_PROTOCOL,
	.summary = "an export of an NBD server (libnbd)",
	.prefixes = nbd_prefixes,
	.options = nbd_options,
	.state_size = sizeof(struct nbdc_state),
	.open = nbdc_open,
	.close = nbdc_close_node,
	.refresh_limits = nbdc_refresh_limits,
	.preadv = nbdc_preadv,
	.pwritev = nbdc_pwritev,
	.flush = nbdc_flush,
	.discard = nbdc_discard,
	.write_zeroes = nbdc_write_zeroes,
	.block_status = nbdc_block_status,
	.submit = nbdc_submit,
	.attach_ctx = nbdc_attach_ctx,
	.describe = nbdc_describe,
};
