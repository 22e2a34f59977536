/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Opening (routed by the registry), probing and closing node graphs. */
#include "block-driver.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"

#define BLK_PROBE_BUF 2048

const char *const blk_cache_mode_names[] = {
	"writeback", "writethrough", "none", "directsync", "unsafe", NULL,
};

unsigned int blk_cache_mode_flags(enum blk_cache_mode mode, bool *write_cache)
{
	switch (mode) {
	case BLK_CACHE_WRITETHROUGH:
		*write_cache = false;
		return 0;
	case BLK_CACHE_NONE:
		*write_cache = true;
		return BLK_O_DIRECT;
	case BLK_CACHE_DIRECTSYNC:
		*write_cache = false;
		return BLK_O_DIRECT;
	case BLK_CACHE_UNSAFE:
		*write_cache = true;
		return BLK_O_NO_FLUSH;
	case BLK_CACHE_WRITEBACK:
	default:
		*write_cache = true;
		return 0;
	}
}

static struct blk_node *node_new(const struct blk_driver *drv, const char *filename,
				 unsigned int flags)
{
	struct blk_node *bs = calloc(1, sizeof(*bs));

	if (!bs)
		return NULL;
	bs->drv = drv;
	bs->open_flags = flags;
	bs->read_only = !(flags & BLK_O_RDWR);
	bs->pool = thread_pool_default();
	bs->filename = strdup(filename ? filename : "");
	if (drv->state_size)
		bs->opaque = calloc(1, drv->state_size);
	if (!bs->filename || (drv->state_size && !bs->opaque)) {
		free(bs->filename);
		free(bs->opaque);
		free(bs);
		return NULL;
	}
	blk_serial_init(&bs->serial);
	return bs;
}

static void node_free(struct blk_node *bs)
{
	blk_serial_destroy(&bs->serial);
	free(bs->filename);
	free(bs->opaque);
	free(bs);
}

static void refresh_limits(struct blk_node *bs)
{
	struct blk_limits *lim = &bs->limits;

	memset(lim, 0, sizeof(*lim));
	lim->request_alignment = 1;
	lim->mem_alignment = 1;
	if (bs->file) {
		const struct blk_limits *c = &bs->file->limits;

		lim->request_alignment = c->request_alignment;
		lim->mem_alignment = c->mem_alignment;
		lim->max_transfer = c->max_transfer;
		lim->opt_transfer = c->opt_transfer;
		lim->physical_block_size = c->physical_block_size;
	}
	if (bs->drv->refresh_limits)
		bs->drv->refresh_limits(bs, lim);
	if (!lim->physical_block_size)
		lim->physical_block_size = MAX(lim->request_alignment, 512u);
	if (bs->discard_ignore)
		lim->caps &= ~(BLK_CAP_DISCARD | BLK_CAP_DISCARD_ZEROES);
}

static void close_node(struct blk_node *bs)
{
	if (!bs)
		return;
	if (bs->drv->close)
		bs->drv->close(bs);
	close_node(bs->backing);
	close_node(bs->file);
	node_free(bs);
}

void blk_close_file(struct blk_node *bs)
{
	close_node(bs->file);
	bs->file = NULL;
}

void blk_close(struct blk_node *bs)
{
	if (!bs)
		return;
	if (!bs->read_only) {
		int r = blk_flush(bs);

		if (r < 0)
			log_err("%s: flush on close failed: %s", bs->filename, strerror(-r));
	}
	if (bs->ctx)
		blk_attach_ctx(bs, NULL);
	close_node(bs);
}

int blk_open_node_arg(const struct blk_driver *drv, const char *filename, struct blk_node *file,
		      struct opts *opts, const void *arg, unsigned int flags, struct blk_node **out,
		      struct err *err)
{
	struct blk_node *bs = node_new(drv, filename, flags);
	int r;

	if (!bs)
		return err_set(err, -ENOMEM, "out of memory");
	bs->file = file;
	if (file) {
		bs->total_size = file->total_size;
		bs->read_only |= file->read_only; /* a protocol may open read-only (rbd snapshot) */
	}
	bs->open_arg = arg;
	r = drv->open(bs, opts, flags, err);
	bs->open_arg = NULL;
	if (r < 0) {
		bs->file = NULL; /* the caller still owns it */
		node_free(bs);
		return r;
	}
	if (drv->get_length) {
		int64_t len = drv->get_length(bs);

		if (len >= 0)
			bs->total_size = (uint64_t)len;
	}
	refresh_limits(bs);
	*out = bs;
	return 0;
}

int blk_open_node(const struct blk_driver *drv, const char *filename, struct blk_node *file,
		  struct opts *opts, unsigned int flags, struct blk_node **out, struct err *err)
{
	return blk_open_node_arg(drv, filename, file, opts, NULL, flags, out, err);
}

static int probe_score(const struct blk_driver *drv, const uint8_t *buf, size_t len,
		       const char *filename)
{
	if (drv->kind != BLK_DRIVER_FORMAT || !drv->probe)
		return 0;
	return drv->probe(buf, len, filename);
}

const char *blk_probe_format(const uint8_t *buf, size_t len, const char *filename)
{
	const struct blk_driver *best = &blk_driver_raw;
	int best_score = 0;

	for (int i = 0; blk_drivers[i]; i++) {
		int s = probe_score(blk_drivers[i], buf, len, filename);

		if (s > best_score) {
			best_score = s;
			best = blk_drivers[i];
		}
	}
	if (best != &blk_driver_raw)
		return best->name;
	/* nothing native: a magic only an image driver (the QEMU helper) knows */
	for (int i = 0; blk_drivers[i]; i++) {
		const char *f =
			blk_drivers[i]->probe_magic ? blk_drivers[i]->probe_magic(buf, len) : NULL;

		if (f)
			return f;
	}
	return best->name;
}

static int probe_node(struct blk_node *proto, const char **fmt, struct err *err)
{
	uint8_t *buf = calloc(1, BLK_PROBE_BUF);
	uint64_t len = MIN((uint64_t)BLK_PROBE_BUF, proto->total_size);
	int r = 0;

	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	/* round down to the node's alignment; a tiny image probes as raw */
	len = ALIGN_DOWN(len, (uint64_t)proto->limits.request_alignment);
	if (len) {
		r = blk_pread(proto, 0, buf, len);
		if (r < 0)
			err_set_errno(err, r, "could not read '%s' to probe its format",
				      proto->filename);
	}
	if (r == 0)
		*fmt = blk_probe_format(buf, len, proto->filename);
	free(buf);
	return r;
}

/* ---- opening: one request, routed by the registry ------------------------------------ */

enum blk_helper_mode {
	HELPER_AUTO, /* image drivers serve what nothing native does */
	HELPER_QEMU, /* the image driver serves it even if a native driver could */
	HELPER_OFF,  /* never an image driver */
};

/* What blk_open() read from the user's options, once. */
struct open_req {
	struct opts *opts;
	unsigned int flags;
	bool write_cache, discard_ignore;
	enum blk_helper_mode helper;
	const char *dname; /* driver=/format=, or NULL */
	const char *file;  /* file=, or NULL */
};

static int parse_generic(struct open_req *q, struct err *err)
{
	static const char *const discard_names[] = { "ignore", "unmap", "off", "on", NULL };
	static const char *const helper_names[] = { "auto", "qemu", "off", NULL };
	bool ro;
	int mode, d = 1, h = HELPER_AUTO, r;

	r = opts_get_bool(q->opts, "read-only", !(q->flags & BLK_O_RDWR), &ro, err);
	if (r < 0)
		return r;
	if (ro)
		q->flags &= ~BLK_O_RDWR;
	else
		q->flags |= BLK_O_RDWR;
	r = opts_get_enum(q->opts, "cache", blk_cache_mode_names, BLK_CACHE_WRITEBACK, &mode, err);
	if (r < 0)
		return r;
	q->flags |= blk_cache_mode_flags((enum blk_cache_mode)mode, &q->write_cache);
	/* discard: QEMU's names; "off"/"on" are QEMU's aliases.  Default: unmap, since a SCSI
	 * target that ignores UNMAP wastes the thin image's space (docs/USAGE.md). */
	r = opts_get_enum(q->opts, "discard", discard_names, 1, &d, err);
	if (r == 0)
		r = opts_get_enum(q->opts, "helper", helper_names, HELPER_AUTO, &h, err);
	if (r == 0)
		r = opts_get_str(q->opts, "driver", NULL, &q->dname, err);
	if (r == 0)
		r = opts_get_str(q->opts, "file", NULL, &q->file, err);
	q->discard_ignore = d == 0 || d == 2;
	q->helper = (enum blk_helper_mode)h;
	return r;
}

static const char *req_name(const struct open_req *q)
{
	return q->file ? q->file : q->dname;
}

/* An image driver serves @fmt (NULL: the driver finds it) of the request's image. */
static int open_image(const struct open_req *q, const struct blk_driver *img, const char *fmt,
		      struct blk_node **out, struct err *err)
{
	/* the helper= option is named after the one image driver there is */
	if (q->helper == HELPER_OFF && fmt)
		return err_set(err, -ENOTSUP,
			       "'%s' is a %s image, which needs the QEMU helper (helper=off)",
			       req_name(q), fmt);
	if (q->helper == HELPER_OFF)
		return err_set(err, -ENOTSUP, "'%s' needs the QEMU helper (helper=off)",
			       req_name(q));
	log_debug("block", "%s: %s through the %s driver", req_name(q), fmt ? fmt : "(probed)",
		  img->name);
	return blk_open_node_arg(img, q->file, NULL, q->opts, fmt, q->flags, out, err);
}

/* A name that looks like a URL (scheme://) no driver claims, and no file has. */
static int check_unclaimed_url(const char *file, struct err *err)
{
	size_t n = strspn(file, "abcdefghijklmnopqrstuvwxyz0123456789+-.");

	if (n == 0 || strncmp(file + n, "://", 3) || access(file, F_OK) == 0)
		return 0;
	return err_set(err, -EPROTONOSUPPORT, "'%s': no driver serves '%.*s://' URLs", file, (int)n,
		       file);
}

/* The format of an image on @proto, probed: native, else what an image driver knows. */
static int probe_format(const struct open_req *q, struct blk_node *proto, char *buf, size_t len,
			const char **fmt, struct err *err)
{
	int r = probe_node(proto, fmt, err);

	if (r < 0 || strcmp(*fmt, "raw") || q->helper == HELPER_OFF ||
	    proto->drv != &blk_driver_file)
		return r;
	/* nothing native matched a local file: an image driver may know better (dmg...) */
	for (int i = 0; blk_drivers[i]; i++) {
		const struct blk_driver *d = blk_drivers[i];

		if (d->detect_format && d->detect_format(q->file, buf, len) == 0 &&
		    strcmp(buf, "raw")) {
			*fmt = buf;
			break;
		}
	}
	return 0;
}

/* file=NAME: the protocol it names (or an image driver), then the format over it. */
static int open_file(const struct open_req *q, const struct blk_driver *drv, struct blk_node **out,
		     struct err *err)
{
	const struct blk_driver *proto_drv = blk_find_driver_for(q->file), *img;
	struct blk_node *proto = NULL;
	char qfmt[64];
	int r;

	if (!proto_drv) {
		r = check_unclaimed_url(q->file, err);
		if (r < 0)
			return r;
		proto_drv = &blk_driver_file;
	}
	if (proto_drv->kind == BLK_DRIVER_IMAGE)
		return open_image(q, proto_drv, q->dname, out, err);
	r = blk_open_node(proto_drv, q->file, NULL, q->opts, q->flags, &proto, err);
	if (r < 0)
		return r;
	if (!drv) {
		const char *fmt = NULL;

		r = probe_format(q, proto, qfmt, sizeof(qfmt), &fmt, err);
		if (r < 0)
			goto fail;
		log_debug("block", "%s: probed format %s", q->file, fmt);
		drv = blk_find_driver(fmt);
		if (!drv && (img = blk_find_image_driver(fmt))) {
			close_node(proto);
			return open_image(q, img, fmt, out, err);
		}
		if (!drv) {
			r = err_set(err, -ENOTSUP, "'%s' is a %s image, which no driver serves",
				    q->file, fmt);
			goto fail;
		}
	}
	r = blk_open_node(drv, q->file, proto, q->opts, q->flags, out, err);
	if (r < 0)
		goto fail;
	if (!q->dname && drv == &blk_driver_raw && !(q->flags & BLK_O_NO_PROBE_PROT))
		(*out)->probed_raw = true;
	return 0;
fail:
	close_node(proto);
	return r;
}

static int unknown_format(const char *dname, struct err *err)
{
	char list[256];

	blk_list_drivers(list, sizeof(list));
	return err_set(err, -EINVAL, "unknown format '%s' (known: %s)", dname, list);
}

static int open_req(const struct open_req *q, struct blk_node **out, struct err *err)
{
	const struct blk_driver *drv = q->dname ? blk_find_driver(q->dname) : NULL, *img;

	if (q->helper == HELPER_QEMU || (q->dname && !drv)) {
		img = blk_find_image_driver(q->helper == HELPER_QEMU ? NULL : q->dname);
		if (!img)
			return q->helper == HELPER_QEMU
				       ? err_set(err, -ENOTSUP,
						 "helper=qemu: no image driver (built without "
						 "libnbd)")
				       : unknown_format(q->dname, err);
		if (q->helper == HELPER_OFF)
			return unknown_format(q->dname, err);
		return open_image(q, img, q->dname, out, err);
	}
	if (drv && drv->kind != BLK_DRIVER_FORMAT) /* @driver=nbd@server=..., ... */
		return blk_open_node(drv, q->file, NULL, q->opts, q->flags, out, err);
	if (!q->file)
		return err_set(err, -EINVAL, "no image given (option 'file')");
	return open_file(q, drv, out, err);
}

int blk_open(struct opts *opts, unsigned int flags, struct blk_node **out, struct err *err)
{
	struct open_req q = { .opts = opts, .flags = flags, .write_cache = true };
	struct blk_node *bs = NULL;
	int r;

	r = parse_generic(&q, err);
	if (r == 0)
		r = open_req(&q, &bs, err);
	if (r < 0)
		return r;
	bs->write_cache = q.write_cache;
	bs->discard_ignore = q.discard_ignore;
	refresh_limits(bs);
	*out = bs;
	return 0;
}

int blk_open_checked(struct opts *opts, unsigned int flags, const char *what, struct blk_node **out,
		     struct err *err)
{
	int r = blk_open(opts, flags, out, err);

	if (r == 0) {
		r = opts_check_unused(opts, what, err);
		if (r < 0) {
			blk_close(*out);
			*out = NULL;
		}
	}
	return r;
}

int blk_open_str(const char *cfg, unsigned int flags, struct blk_node **out, struct err *err)
{
	struct opts o;
	int r;

	opts_init(&o);
	r = opts_parse_cfgstring(&o, cfg, err);
	if (r == 0)
		r = blk_open_checked(&o, flags, NULL, out, err);
	opts_release(&o);
	return r;
}

int blk_resolve_relative(const struct blk_node *parent, const char *name, char *buf, size_t len)
{
	const char *slash;
	int n;

	if (name[0] == '/' || strstr(name, "://") || !parent->filename ||
	    !(slash = strrchr(parent->filename, '/')) || strstr(parent->filename, "://"))
		n = snprintf(buf, len, "%s", name);
	else
		n = snprintf(buf, len, "%.*s/%s", (int)(slash - parent->filename), parent->filename,
			     name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int blk_open_child(struct blk_node *parent, const char *name, const char *fmt, unsigned int flags,
		   struct blk_node **out, struct err *err)
{
	char path[PATH_MAX];
	struct opts o;
	int r;

	r = blk_resolve_relative(parent, name, path, sizeof(path));
	if (r < 0)
		return err_set(err, r, "file name '%s' too long", name);
	opts_init(&o);
	r = opts_add(&o, "file", path, err);
	if (r == 0 && fmt)
		r = opts_add(&o, "driver", fmt, err);
	/* children share the parent's cache flags; a probed child is protected too */
	flags |= parent->open_flags & (BLK_O_DIRECT | BLK_O_NO_FLUSH);
	if (r == 0)
		r = blk_open(&o, flags, out, err);
	opts_release(&o);
	return r;
}
