/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Opening, probing and closing node graphs; properties. */
#include "block-driver.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"
#if HAVE_NBD
#include "qemu-helper.h"
#endif

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

int blk_open_node(const struct blk_driver *drv, const char *filename, struct blk_node *file,
		  struct opts *opts, unsigned int flags, struct blk_node **out, struct err *err)
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
	r = drv->open(bs, opts, flags, err);
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
#if HAVE_NBD
	/* nothing native: a magic only QEMU knows (served by the QEMU helper) */
	if (best == &blk_driver_raw) {
		const char *q = qemu_helper_probe_magic(buf, len);

		if (q)
			return q;
	}
#endif
	return best->name;
}

/* A native protocol that declares @file's prefix (struct blk_driver.prefixes), or NULL. */
static const struct blk_driver *protocol_by_prefix(const char *file)
{
	for (int i = 0; file && blk_drivers[i]; i++)
		for (const char *const *p = blk_drivers[i]->prefixes; p && *p; p++)
			if (!strncmp(file, *p, strlen(*p)))
				return blk_drivers[i];
	return NULL;
}

static const struct blk_driver *protocol_for(const char *file)
{
	const struct blk_driver *nbd = blk_find_driver("nbd");

	if (protocol_by_prefix(file))
		return protocol_by_prefix(file);

	if (nbd && (!strncmp(file, "nbd://", 6) || !strncmp(file, "nbd+unix://", 11) ||
		    !strncmp(file, "nbd+tcp://", 10) || !strncmp(file, "nbds://", 7)))
		return nbd;
	return &blk_driver_file;
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

static int parse_generic(struct opts *opts, unsigned int *flags, bool *write_cache,
			 bool *discard_ignore, struct err *err)
{
	static const char *const discard_names[] = { "ignore", "unmap", "off", "on", NULL };
	bool ro;
	int mode, d, r;

	r = opts_get_bool(opts, "read-only", !(*flags & BLK_O_RDWR), &ro, err);
	if (r < 0)
		return r;
	if (ro)
		*flags &= ~BLK_O_RDWR;
	else
		*flags |= BLK_O_RDWR;
	r = opts_get_enum(opts, "cache", blk_cache_mode_names, BLK_CACHE_WRITEBACK, &mode, err);
	if (r < 0)
		return r;
	*flags |= blk_cache_mode_flags((enum blk_cache_mode)mode, write_cache);
	/* discard: QEMU's names; "off"/"on" are QEMU's aliases.  Default: unmap, since a SCSI
	 * target that ignores UNMAP wastes the thin image's space (docs/USAGE.md). */
	r = opts_get_enum(opts, "discard", discard_names, 1, &d, err);
	if (r < 0)
		return r;
	*discard_ignore = d == 0 || d == 2;
	return 0;
}

/*
 * The QEMU helper (qemu-helper.h) serves what we do not implement natively: formats QEMU
 * knows, URLs only QEMU opens, or anything with helper=qemu.  The node is an nbd node.
 */
static bool helper_knows(const char *fmt)
{
#if HAVE_NBD
	return qemu_helper_knows_format(fmt);
#else
	(void)fmt;
	return false;
#endif
}

static bool helper_url(const char *file)
{
#if HAVE_NBD
	return file && qemu_helper_is_url(file);
#else
	(void)file;
	return false;
#endif
}

/* After the native probe said raw: the format qemu-img sees in a local file, or NULL. */
static const char *helper_probe(const char *file, char *fmt, size_t len)
{
#if HAVE_NBD
	struct err e;

	err_init(&e);
	if (qemu_helper_probe(file, fmt, len, &e) == 0 && strcmp(fmt, "raw"))
		return fmt;
	if (e.code)
		log_debug("block", "%s: qemu-img probe: %s", file, e.msg);
#else
	(void)file;
	(void)fmt;
	(void)len;
#endif
	return NULL;
}

static int open_helper(struct opts *opts, const char *file, const char *fmt, unsigned int flags,
		       struct blk_node **out, struct err *err)
{
	const struct blk_driver *nbd = blk_find_driver("nbd");

	if (!nbd)
		return err_set(err, -ENOTSUP,
			       "'%s' needs the QEMU helper, which needs the nbd "
			       "driver (built without libnbd)",
			       file ? file : fmt);
	if (opts_set(opts, "helper", "qemu") < 0 || (fmt && opts_set(opts, "driver", fmt) < 0))
		return err_set(err, -ENOMEM, "out of memory");
	log_debug("block", "%s: %s through the QEMU helper", file, fmt ? fmt : "(probed)");
	return blk_open_node(nbd, file, NULL, opts, flags, out, err);
}

static int parse_helper(struct opts *opts, int *mode, struct err *err)
{
	static const char *const names[] = { "auto", "qemu", "off", NULL };

	return opts_get_enum(opts, "helper", names, 0, mode, err);
}

enum {
	HELPER_AUTO,
	HELPER_QEMU,
	HELPER_OFF
};

int blk_open(struct opts *opts, unsigned int flags, struct blk_node **out, struct err *err)
{
	const struct blk_driver *drv = NULL, *proto_drv;
	struct blk_node *proto = NULL, *bs = NULL;
	const char *dname = NULL, *file = NULL;
	bool write_cache = true, discard_ignore = false;
	char qfmt[64];
	int helper, r;

	r = parse_generic(opts, &flags, &write_cache, &discard_ignore, err);
	if (r == 0)
		r = parse_helper(opts, &helper, err);
	if (r == 0)
		r = opts_get_str(opts, "driver", NULL, &dname, err);
	if (r < 0)
		return r;
	if (helper == HELPER_QEMU ||
	    (helper_url(opts_peek(opts, "file")) && !protocol_by_prefix(opts_peek(opts, "file"))) ||
	    (dname && !blk_find_driver(dname) && helper != HELPER_OFF && helper_knows(dname))) {
		r = open_helper(opts, opts_peek(opts, "file"), dname, flags, &bs, err);
		if (r < 0)
			return r;
		goto done;
	}
	if (dname) {
		drv = blk_find_driver(dname);
		if (!drv) {
			char list[256];

			blk_list_drivers(list, sizeof(list));
			return err_set(err, -EINVAL, "unknown format '%s' (known: %s)", dname,
				       list);
		}
	}
	if (drv && drv->kind == BLK_DRIVER_PROTOCOL) {
		r = blk_open_node(drv, opts_peek(opts, "file"), NULL, opts, flags, &bs, err);
		if (r < 0)
			return r;
		goto done;
	}
	r = opts_get_str(opts, "file", NULL, &file, err);
	if (r < 0)
		return r;
	if (!file)
		return err_set(err, -EINVAL, "no image given (option 'file')");
	proto_drv = protocol_for(file); /* it takes "file" again: opts_get() may repeat */
	r = blk_open_node(proto_drv, file, NULL, opts, flags, &proto, err);
	if (r < 0)
		return r;
	if (!drv) {
		const char *fmt = NULL;

		r = probe_node(proto, &fmt, err);
		if (r < 0)
			goto fail;
		/* nothing native matched: ask qemu-img (it also knows dmg by name...) */
		if (!strcmp(fmt, "raw") && proto_drv == &blk_driver_file && helper != HELPER_OFF &&
		    helper_probe(file, qfmt, sizeof(qfmt)))
			fmt = qfmt;
		drv = blk_find_driver(fmt);
		log_debug("block", "%s: probed format %s", file, fmt);
		if (!drv) { /* a format QEMU knows goes through the helper */
			close_node(proto);
			if (helper == HELPER_OFF)
				return err_set(err, -ENOTSUP,
					       "'%s' is a %s image, which needs the QEMU helper "
					       "(helper=off)",
					       file, fmt);
			r = open_helper(opts, file, fmt, flags, &bs, err);
			if (r < 0)
				return r;
			goto done;
		}
	}
	r = blk_open_node(drv, file, proto, opts, flags, &bs, err);
	if (r < 0)
		goto fail;
	if (!dname && drv == &blk_driver_raw && !(flags & BLK_O_NO_PROBE_PROT))
		bs->probed_raw = true;
done:
	bs->write_cache = write_cache;
	bs->discard_ignore = discard_ignore;
	refresh_limits(bs);
	*out = bs;
	return 0;
fail:
	close_node(proto);
	return r;
}

int blk_open_str(const char *cfg, unsigned int flags, struct blk_node **out, struct err *err)
{
	struct opts o;
	int r;

	opts_init(&o);
	r = opts_parse_cfgstring(&o, cfg, err);
	if (r == 0)
		r = blk_open(&o, flags, out, err);
	if (r == 0) {
		r = opts_check_unused(&o, NULL, err);
		if (r < 0) {
			blk_close(*out);
			*out = NULL;
		}
	}
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

int blk_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx)
{
	int r = 0;

	if (!bs)
		return 0;
	if (bs->file && (r = blk_attach_ctx(bs->file, ctx)) < 0)
		return r;
	if (bs->backing && (r = blk_attach_ctx(bs->backing, ctx)) < 0)
		return r;
	if (bs->drv->attach_ctx)
		r = bs->drv->attach_ctx(bs, ctx);
	bs->ctx = r < 0 ? NULL : ctx;
	return r;
}

int64_t blk_getlength(struct blk_node *bs)
{
	return (int64_t)__atomic_load_n(&bs->total_size, __ATOMIC_RELAXED);
}

const struct blk_limits *blk_get_limits(const struct blk_node *bs)
{
	return &bs->limits;
}

bool blk_is_read_only(const struct blk_node *bs)
{
	return bs->read_only;
}

bool blk_write_cache(const struct blk_node *bs)
{
	return bs->write_cache;
}

void blk_set_write_cache(struct blk_node *bs, bool on)
{
	bs->write_cache = on;
}

const char *blk_driver_name(const struct blk_node *bs)
{
	return bs->drv->name;
}

const char *blk_filename(const struct blk_node *bs)
{
	return bs->filename;
}

struct blk_node *blk_child_file(const struct blk_node *bs)
{
	return bs->file;
}

struct blk_node *blk_backing(const struct blk_node *bs)
{
	return bs->backing;
}

void blk_describe(struct blk_node *bs, char *buf, size_t len)
{
	const struct blk_limits *l = &bs->limits;
	size_t n;

	n = (size_t)snprintf(buf, len,
			     "image: %s\nformat: %s\nvirtual size: %llu bytes\nread-only: %s\n"
			     "request alignment: %u\nmax transfer: %llu\ndiscard: %s\n",
			     bs->filename, bs->drv->name, (unsigned long long)blk_getlength(bs),
			     bs->read_only ? "yes" : "no", l->request_alignment,
			     (unsigned long long)l->max_transfer,
			     (l->caps & BLK_CAP_DISCARD) ? "unmap" : "ignore");
	if (n < len && bs->drv->describe)
		bs->drv->describe(bs, buf + n, len - n);
	n = strlen(buf);
	if (n < len && bs->backing)
		snprintf(buf + n, len - n, "backing file: %s (%s)\n", bs->backing->filename,
			 bs->backing->drv->name);
}
