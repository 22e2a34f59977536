/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Protocol driver "rbd": Ceph RBD images through librbd, natively (no QEMU helper).
 *
 *   @driver=rbd@file=rbd:pool/image            QEMU's file name (rbd-opts.c)
 *   @driver=rbd@pool=rbd@image=disk@user=gw    structured keys
 *
 * Reads and writes go from the request's iovecs straight to librbd (rbd_aio_readv/
 * writev) and complete in the node's event loop (rbd-io.c); the rest runs as blocking
 * calls on the thread pool.  With librbd's cache off (the default here) a completed write
 * is stable on the OSDs, so FUA is native and a flush is cheap.  A snapshot opens
 * read-only; a clone reads through its parent (librbd does it).  Resizes made by others
 * (rbd resize) arrive through rbd_update_watch and change the node's length, which the
 * daemon turns into a capacity-changed unit attention (blk_set_resize_hook).
 */
#include "rbd-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"

static const struct blk_opt_desc rbd_options[] = {
	{ "pool", "the Ceph pool" },
	{ "namespace", "the RBD namespace in the pool (default: none)" },
	{ "image", "the image name" },
	{ "snapshot", "a snapshot of the image (the export is then read-only)" },
	{ "conf", "ceph.conf path (default: $CEPH_CONF, /etc/ceph/ceph.conf)" },
	{ "user", "cephx user without 'client.' (default: admin)" },
	{ "keyring", "keyring path (default: from ceph.conf)" },
	{ "mon-host", "monitor addresses (default: from ceph.conf)" },
	{ "osd-op-timeout", "seconds before an OSD request fails, retryably (default 30)" },
	{ "mount-timeout", "seconds to connect to the monitors at open (default 30)" },
	{ "shared-connection", "on: share one cluster connection with other such nodes" },
	{ "gateway", "on: one of several gateways to the image, writes under its exclusive lock "
		     "(default on when serving subtype rbd; docs/HA.md)" },
	{ "gateway-grace",
	  "seconds a new lock holder is not preempted by writes here (default 15)" },
	{ "gateway-name", "this gateway's name in the Ceph service map (default: the host name)" },
	{ NULL, NULL },
};

static const char *const rbd_prefixes[] = { "rbd:", NULL };

/* librbd's thread: the image's header changed (resize, snapshot, lock tag ...). */
static void rbd_header_changed(void *arg)
{
	struct blk_node *bs = arg;
	struct rbd_state *s = bs->opaque;
	struct rbd_handle *h;
	uint64_t size;
	int r;

	rbd_gw_poke(s);
	if (rbd_gw_begin(s, false, &h) < 0)
		return;
	r = RBD(rbd_get_size)(h->img, &size);
	rbd_gw_end(s, h);
	if (r < 0 || size == (uint64_t)blk_getlength(bs))
		return;
	log_info("%s: image resized to %llu bytes", bs->filename, (unsigned long long)size);
	blk_node_resized(bs, size);
}

static uint64_t conf_u64(rados_t cl, const char *opt, uint64_t def)
{
	char buf[64];

	if (RBD(rados_conf_get)(cl, opt, buf, sizeof(buf)) < 0)
		return def;
	return strtoull(buf, NULL, 10);
}

static int read_geometry(struct blk_node *bs, struct err *err)
{
	struct rbd_state *s = bs->opaque;
	rados_t cl = rbd_conn_cluster(s->h->conn);
	rbd_image_info_t info;
	char buf[16] = "";
	int r;

	r = RBD(rbd_stat)(s->h->img, &info, sizeof(info));
	if (r == 0)
		r = RBD(rbd_get_features)(s->h->img, &s->features);
	if (r < 0)
		return err_set_errno(err, r, "rbd: cannot stat %s", bs->filename);
	bs->total_size = info.size;
	s->obj_size = info.obj_size;
	s->cache =
		RBD(rados_conf_get)(cl, "rbd_cache", buf, sizeof(buf)) == 0 && !strcmp(buf, "true");
	/* librbd skips the parts of a discard not aligned to this, so only whole granules
	 * read back as zeroes; a power of two between 4 KiB and the object size */
	s->discard_gran = conf_u64(cl, "rbd_discard_granularity_bytes", s->obj_size);
	if (!s->discard_gran || s->discard_gran > s->obj_size ||
	    (s->discard_gran & (s->discard_gran - 1)))
		s->discard_gran = s->obj_size;
	return 0;
}

static int set_filename(struct blk_node *bs)
{
	struct rbd_state *s = bs->opaque;
	char name[600], *n;

	if (bs->filename && bs->filename[0])
		return 0;
	snprintf(name, sizeof(name), "rbd:");
	rbd_spec_name(&s->spec, name + 4, sizeof(name) - 4);
	n = strdup(name);
	if (!n)
		return -ENOMEM;
	free(bs->filename);
	bs->filename = n;
	return 0;
}

static void rbd_close_state(struct rbd_state *s)
{
	rbd_gw_stop(s);
	if (s->h)
		rbd_handle_close(s->h);
	if (s->h && s->h != &s->first)
		free(s->h);
	s->h = NULL;
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->caw_lock);
	rbd_spec_release(&s->spec);
}

static int rbd_open_node(struct blk_node *bs, struct opts *opts, unsigned int flags,
			 struct err *err)
{
	struct rbd_state *s = bs->opaque;
	const char *file = NULL;
	int r;

	s->efd = -1;
	pthread_mutex_init(&s->caw_lock, NULL);
	r = opts_get_str(opts, "file", NULL, &file, err);
	if (r == 0)
		r = rbd_lib_load(err);
	if (r == 0)
		r = rbd_spec_parse(opts, file, &s->spec, err);
	if (r < 0)
		goto fail;
	if (s->spec.snap)
		bs->read_only = true;
	r = set_filename(bs);
	if (r == 0)
		r = rbd_handle_open(&s->spec, !bs->read_only, rbd_header_changed, bs, &s->first,
				    err);
	if (r < 0)
		goto fail;
	s->h = &s->first;
	r = read_geometry(bs, err);
	if (r < 0)
		goto fail;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		r = err_set_errno(err, -errno, "rbd: eventfd");
		goto fail;
	}
	/* a read-only export writes nothing: it needs no lock, any gateway serves it */
	if (s->spec.gateway && !bs->read_only) {
		r = rbd_gw_start(bs, err);
		if (r < 0)
			goto fail;
	}
	(void)flags;
	log_debug("rbd", "%s: %llu bytes, objects of %llu, features 0x%llx%s", bs->filename,
		  (unsigned long long)bs->total_size, (unsigned long long)s->obj_size,
		  (unsigned long long)s->features, s->cache ? ", rbd_cache on" : "");
	return 0;
fail:
	if (r == -ENOMEM && err && !err->code)
		err_set(err, r, "rbd: out of memory");
	rbd_close_state(s);
	return r;
}

static void rbd_close_node(struct blk_node *bs)
{
	rbd_close_state(bs->opaque);
}

static void rbd_refresh_limits(struct blk_node *bs, struct blk_limits *lim)
{
	struct rbd_state *s = bs->opaque;

	lim->request_alignment = 1;
	lim->mem_alignment = 1;
	lim->max_transfer = 0;
	lim->opt_transfer = (uint32_t)MIN(s->obj_size, (uint64_t)UINT32_MAX);
	lim->discard_granularity = (uint32_t)s->discard_gran;
	lim->caps = BLK_CAP_DISCARD | BLK_CAP_DISCARD_ZEROES | BLK_CAP_ZERO_UNMAP |
		    BLK_CAP_FAST_ZERO | BLK_CAP_RESIZE;
	if (!s->cache)
		lim->caps |= BLK_CAP_FUA;
}

static int rbd_truncate_node(struct blk_node *bs, uint64_t size, struct err *err)
{
	struct rbd_state *s = bs->opaque;
	struct rbd_handle *h;
	int r = rbd_gw_begin(s, true, &h);

	if (r == 0) {
		r = rbd_gw_result(s, h, RBD(rbd_resize)(h->img, size), true);
		rbd_gw_end(s, h);
	}
	if (r < 0)
		return err_set_errno(err, r, "rbd: cannot resize %s", bs->filename);
	return 0;
}

static void rbd_describe(struct blk_node *bs, char *buf, size_t len)
{
	struct rbd_state *s = bs->opaque;
	char name[512];

	rbd_spec_name(&s->spec, name, sizeof(name));
	snprintf(buf, len,
		 "rbd image: %s\nobject size: %llu\nfeatures: 0x%llx\nrbd cache: %s\n"
		 "connection: %s\ngateway: %s\n",
		 name, (unsigned long long)s->obj_size, (unsigned long long)s->features,
		 s->cache ? "on" : "off", s->spec.shared ? "shared" : "own", s->gw ? "on" : "off");
}

static int rbd_get_access(struct blk_node *bs, struct blk_access *out)
{
	return rbd_gw_access(bs->opaque, out);
}

static void rbd_set_access_tag(struct blk_node *bs, int tag)
{
	rbd_gw_set_tag(bs->opaque, tag);
}

const struct blk_driver blk_driver_rbd = {
	.name = "rbd",
	.kind = BLK_DRIVER_PROTOCOL,
	.summary = "a Ceph RBD image, native (librbd): file=rbd:pool[/namespace]/image[@snapshot]"
		   "[:key=value...] as QEMU, or the keys below",
	.state_size = sizeof(struct rbd_state),
	.open = rbd_open_node,
	.close = rbd_close_node,
	.refresh_limits = rbd_refresh_limits,
	.truncate = rbd_truncate_node,
	.preadv = rbd_io_preadv,
	.pwritev = rbd_io_pwritev,
	.flush = rbd_io_flush,
	.discard = rbd_io_discard,
	.write_zeroes = rbd_io_write_zeroes,
	.block_status = rbd_io_block_status,
	.submit = rbd_io_submit,
	.attach_ctx = rbd_io_attach_ctx,
	.describe = rbd_describe,
	.write_same = rbd_io_write_same,
	.compare_and_write = rbd_io_compare_and_write,
	.get_access = rbd_get_access,
	.set_access_tag = rbd_set_access_tag,
	.prefixes = rbd_prefixes,
	.options = rbd_options,
};
