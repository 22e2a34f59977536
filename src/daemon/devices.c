/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The devices a daemon serves (see devices.h). */
#include "devices.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "block/cfgstr.h"
#include "transport/alua.h"
#include "transport/configfs.h"
#include "transport/netlink.h"
#include "transport/ring-dev.h"
#include "transport/uio.h"
#include "util/aio.h"
#include "util/err.h"
#include "util/log.h"

struct qdev {
	struct qdev *next;
	struct devices *ds;
	struct uio_dev u;
	char name[CFGSTR_ID_MAX + 32]; /* for logs: the config's id, else the LIO name */
	int fd;
	void *map;
	struct blk_node *bs;
	struct ring_dev *rdev;
	uint64_t size;
};

struct devices {
	struct aio_ctx *ctx; /* the main loop */
	char subtype[64];
	unsigned int poll_us;
	struct qdev *list;
	unsigned int count;
};

int devices_new(const char *subtype, unsigned int poll_us, struct devices **out)
{
	struct devices *ds = calloc(1, sizeof(*ds));

	if (!ds)
		return -ENOMEM;
	snprintf(ds->subtype, sizeof(ds->subtype), "%s", subtype);
	ds->poll_us = poll_us;
	*out = ds;
	return 0;
}

void devices_set_loop(struct devices *ds, struct aio_ctx *ctx)
{
	ds->ctx = ctx;
}

void devices_free(struct devices *ds)
{
	if (!ds)
		return;
	devices_close_all(ds);
	free(ds);
}

static struct qdev **find(struct devices *ds, unsigned int minor)
{
	struct qdev **pp = &ds->list;

	while (*pp && (*pp)->u.minor != minor)
		pp = &(*pp)->next;
	return pp;
}

bool devices_has(const struct devices *ds, unsigned int minor)
{
	return *find((struct devices *)ds, minor) != NULL;
}

unsigned int devices_count(const struct devices *ds)
{
	return ds->count;
}

/* ALUA groups as configfs has them now (an admin or ceph-iscsi may set them up after
 * enable): read when an initiator asks. */
static int get_alua(void *opaque, struct scsi_alua *out)
{
	const struct qdev *q = opaque;

	return alua_read(q->u.hba, q->u.dev, out);
}

/* LIO writes wwn/vpd_unit_serial after enable: read it when an initiator asks. */
static int get_serial(void *opaque, char *buf, size_t len)
{
	const struct qdev *q = opaque;

	return cfs_read_serial(q->u.hba, q->u.dev, buf, len);
}

/* ---- images resized by others (rbd resize) ------------------------------------------- */

struct resize_ev {
	struct aio_bh bh;
	struct devices *ds;
	unsigned int minor;
};

struct dev_size_write {
	unsigned int hba;
	char dev[sizeof(((struct uio_dev *)0)->dev)];
	uint64_t size;
};

/* LIO's dev_size follows: the kernel sends RECONFIG and waits for the main thread's
 * reply, so the write cannot come from the main thread itself. */
static void *write_dev_size(void *opaque)
{
	struct dev_size_write *w = opaque;
	int r = cfs_write_u64(w->hba, w->dev, "attrib/dev_size", w->size);

	if (r < 0)
		log_warn("%s: could not set LIO's dev_size to %llu: %s", w->dev,
			 (unsigned long long)w->size, strerror(-r));
	free(w);
	return NULL;
}

static void resize_bh(void *opaque)
{
	struct resize_ev *ev = opaque;
	struct qdev *q = *find(ev->ds, ev->minor);
	struct dev_size_write *w;
	pthread_t t;
	int64_t len;

	free(ev);
	if (!q || (len = blk_getlength(q->bs)) < 0 || (uint64_t)len == q->size)
		return;
	log_info("%s: the image is now %lld bytes: capacity changed", q->name, (long long)len);
	q->size = (uint64_t)len;
	ring_dev_set_size(q->rdev, q->size); /* unit attention CAPACITY DATA HAS CHANGED */
	w = malloc(sizeof(*w));
	if (!w)
		return;
	w->hba = q->u.hba;
	snprintf(w->dev, sizeof(w->dev), "%s", q->u.dev);
	w->size = q->size;
	if (pthread_create(&t, NULL, write_dev_size, w) == 0)
		pthread_detach(t);
	else
		free(w);
}

/* A driver's thread (librbd's): hand over to the main loop, which finds the device by
 * minor (it may be gone by then). */
static void on_resize(void *opaque)
{
	struct qdev *q = opaque;
	struct resize_ev *ev = malloc(sizeof(*ev));

	if (!ev || !q->ds->ctx) {
		free(ev);
		return;
	}
	ev->ds = q->ds;
	ev->minor = q->u.minor;
	ev->bh.fn = resize_bh;
	ev->bh.opaque = ev;
	aio_bh_schedule(q->ds->ctx, &ev->bh);
}

static uint64_t attr_or(const struct uio_dev *u, const char *rel, uint64_t def)
{
	uint64_t v;

	return cfs_read_u64(u->hba, u->dev, rel, &v) == 0 && v ? v : def;
}

/* dev_size, as LIO was told; an export never extends past the image. */
static int check_size(struct qdev *q, struct err *err)
{
	int64_t len = blk_getlength(q->bs);
	int r = cfs_read_u64(q->u.hba, q->u.dev, "attrib/dev_size", &q->size);

	if (r < 0 && cfs_read_size(q->u.hba, q->u.dev, &q->size) < 0) /* before 4.19 */
		return err_set_errno(err, r, "cannot read dev_size of %s from configfs", q->u.dev);
	if (len < 0)
		return err_set_errno(err, (int)len, "cannot get the image's size");
	if (!q->size)
		q->size = (uint64_t)len;
	if (q->size > (uint64_t)len)
		return err_set(
			err, -EINVAL,
			"configfs dev_size %llu exceeds the image's %lld bytes (grow the image "
			"first, or set a smaller dev_size)",
			(unsigned long long)q->size, (long long)len);
	return 0;
}

static int start_ring(struct devices *ds, struct qdev *q, struct err *err)
{
	struct ring_dev_params p = {
		.name = q->name,
		.map = q->map,
		.map_size = q->u.map_size,
		.fd = q->fd,
		.bs = q->bs,
		.max_inflight = (unsigned int)attr_or(&q->u, "attrib/hw_queue_depth", 128),
		.poll_us = ds->poll_us,
	};

	p.lun.block_size = (uint32_t)attr_or(&q->u, "attrib/hw_block_size", 512);
	p.lun.size = q->size;
	p.lun.max_sectors = (uint32_t)attr_or(&q->u, "attrib/hw_max_sectors", 128);
	p.lun.cfgstring = q->u.cfg;
	p.lun.get_serial = get_serial;
	p.lun.get_alua = get_alua;
	p.lun.serial_opaque = q;
	/* a gateway of a shared image publishes its group with the lock: known before the
	 * first write (RTPG and INQUIRY keep it current, scsi/alua.c) */
	if (blk_get_access(q->bs, NULL) == 0) {
		struct scsi_alua a;

		if (alua_read(q->u.hba, q->u.dev, &a) == 0 && a.has_local)
			blk_set_access_tag(q->bs, a.local_group);
	}
	return ring_dev_start(&p, &q->rdev, err);
}

/* LIO keeps SCSI-3 reservations in each gateway's kernel, where the others never see them
 * (TCMU passes no initiator identity up, so we cannot share them): a gateway LUN should
 * refuse PR (docs/HA.md). */
static void warn_pr(const struct qdev *q)
{
	uint64_t pr;

	if (blk_get_access(q->bs, NULL) == 0 &&
	    cfs_read_u64(q->u.hba, q->u.dev, "attrib/emulate_pr", &pr) == 0 && pr)
		log_warn("%s: one of several gateways, but LIO emulates persistent reservations "
			 "per gateway (they would silently disagree): set attrib/emulate_pr=0 "
			 "before the LUN is mapped (docs/HA.md)",
			 q->name);
}

static void qdev_free(struct qdev *q)
{
	uio_close(q->fd, q->map, q->u.map_size);
	blk_close(q->bs);
	free(q);
}

int devices_open(struct devices *ds, const struct uio_dev *u, bool takeover, struct err *err)
{
	struct qdev *q;
	char id[CFGSTR_ID_MAX];
	bool blocked = false;
	int r;

	if (devices_has(ds, u->minor))
		return 0;
	q = calloc(1, sizeof(*q));
	if (!q)
		return err_set(err, -ENOMEM, "out of memory");
	q->u = *u;
	q->ds = ds;
	q->fd = -1;
	r = cfgstr_open(uio_handler_cfg(u), BLK_O_RDWR, &q->bs, id, err);
	if (r < 0)
		goto fail;
	snprintf(q->name, sizeof(q->name), "%s", id[0] ? id : u->dev);
	r = check_size(q, err);
	if (r < 0)
		goto fail;
	/* first the exclusive open: never reset a ring another daemon serves */
	r = uio_open(u, &q->fd, err);
	if (r < 0)
		goto fail;
	if (takeover) {
		/* commands of a dead daemon: fail them with BUSY (retried), start clean */
		blocked = cfs_action(u->hba, u->dev, "block_dev", 1) == 0;
		if (blocked && cfs_action(u->hba, u->dev, "reset_ring", 1) < 0)
			log_warn("%s: reset_ring failed; serving the ring as it is", q->name);
	}
	r = uio_map(u, q->fd, &q->map, err);
	if (!r)
		r = start_ring(ds, q, err);
	if (blocked)
		cfs_action(u->hba, u->dev, "block_dev", 0);
	if (r < 0)
		goto fail;
	blk_set_resize_hook(q->bs, on_resize, q);
	warn_pr(q);
	q->next = ds->list;
	ds->list = q;
	ds->count++;
	log_info("%s: serving %s on uio%u (%llu bytes, %s)%s", q->name, blk_filename(q->bs),
		 u->minor, (unsigned long long)q->size, blk_driver_name(q->bs),
		 takeover ? ", taken over" : "");
	return 0;
fail:
	qdev_free(q);
	return r;
}

static void close_one(struct devices *ds, struct qdev **pp)
{
	struct qdev *q = *pp;
	struct ring_dev_stats st;
	int r;

	*pp = q->next;
	ds->count--;
	/* the device is idle by now (LIO removes it only without commands in flight) */
	ring_dev_get_stats(q->rdev, &st);
	r = ring_dev_stop(q->rdev);
	if (r < 0)
		log_err("%s: flush at close failed: %s", q->name, strerror(-r));
	log_info("%s: closed (uio%u) after %llu commands, %llu wake-ups, %llu polled, %llu kicks, "
		 "at most %u in flight",
		 q->name, q->u.minor, (unsigned long long)st.cmds, (unsigned long long)st.wakeups,
		 (unsigned long long)st.polled, (unsigned long long)st.kicks, st.max_seen);
	qdev_free(q);
}

void devices_close(struct devices *ds, unsigned int minor)
{
	struct qdev **pp = find(ds, minor);

	if (*pp)
		close_one(ds, pp);
}

void devices_close_all(struct devices *ds)
{
	while (ds->list)
		close_one(ds, &ds->list);
}

static int reconfig_cfg(struct devices *ds, struct qdev *q, const char *dev_config)
{
	const char *cfg = cfgstr_strip_subtype(dev_config, ds->subtype);
	struct blk_node *bs = NULL, *old;
	char id[CFGSTR_ID_MAX];
	struct err err;
	int64_t len;
	int r;

	err_init(&err);
	if (!cfg) {
		log_err("%s: new dev_config '%s' is not '%s/...'", q->name, dev_config,
			ds->subtype);
		return -EINVAL;
	}
	r = cfgstr_open(cfg, BLK_O_RDWR, &bs, id, &err);
	len = r < 0 ? 0 : blk_getlength(bs);
	if (!r && (len < 0 || (uint64_t)len < q->size))
		r = err_set(&err, -EINVAL,
			    "the new image (%lld bytes) is smaller than dev_size %llu",
			    (long long)len, (unsigned long long)q->size);
	if (r < 0) {
		log_err("%s: refusing dev_config '%s': %s", q->name, dev_config, err.msg);
		blk_close(bs);
		return r;
	}
	old = ring_dev_swap_node(q->rdev, bs);
	if (old == bs) {
		blk_close(bs);
		return -EIO;
	}
	blk_close(old);
	q->bs = bs;
	blk_set_resize_hook(bs, on_resize, q);
	snprintf(q->u.cfg, sizeof(q->u.cfg), "%s", dev_config);
	q->u.handler_off = strlen(ds->subtype) + 1;
	log_info("%s: now serving %s", q->name, blk_filename(bs));
	return 0;
}

int devices_reconfig(struct devices *ds, unsigned int minor, const struct netlink_event *ev)
{
	struct qdev *q = *find(ds, minor);
	int64_t len;

	if (!q)
		return -ENODEV;
	if (ev->has_cfg)
		return reconfig_cfg(ds, q, ev->cfg);
	if (ev->has_size) {
		len = blk_getlength(q->bs);
		if (len < 0 || ev->size > (uint64_t)len) {
			log_err("%s: refusing dev_size %llu: the image has %lld bytes", q->name,
				(unsigned long long)ev->size, (long long)len);
			return -EINVAL;
		}
		q->size = ev->size;
		ring_dev_set_size(q->rdev, ev->size);
		log_info("%s: size now %llu bytes", q->name, (unsigned long long)ev->size);
		return 0;
	}
	if (ev->has_wce) {
		ring_dev_set_write_cache(q->rdev, ev->wce != 0);
		log_info("%s: write cache %s", q->name, ev->wce ? "on" : "off");
		return 0;
	}
	return -EOPNOTSUPP;
}
