/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Format driver "raw": the image is the child's bytes, optionally a window of them
 * (offset=, size=).  Probing scores 1, so raw wins only when nothing else matches, and a
 * probed raw image refuses writes that would make block 0 look like another format
 * (QEMU's rule: otherwise a guest could turn its disk into, say, a qcow2 image with a
 * backing file pointing at a host file at the next open).
 */
#include "block-driver.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "util/err.h"
#include "util/iov.h"
#include "util/opts.h"

#define RAW_PROBE_PROT 512

struct raw_state {
	uint64_t offset;
	uint64_t size;
	bool has_size;
	/* probed raw: a write to block 0 checks and writes as one step, or two writers of
	 * parts of a format header could each pass against the old bytes */
	pthread_mutex_t block0_lock;
};

static int raw_probe(const uint8_t *buf, size_t len, const char *filename)
{
	(void)buf;
	(void)len;
	(void)filename;
	return 1;
}

static int raw_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	struct raw_state *s = bs->opaque;
	uint64_t child = bs->file->total_size;
	int r;

	(void)flags;
	pthread_mutex_init(&s->block0_lock, NULL);
	r = opts_get_size(opts, "offset", 0, &s->offset, err);
	if (r == 0)
		r = opts_get_size(opts, "size", UINT64_MAX, &s->size, err);
	if (r < 0)
		return r;
	s->has_size = s->size != UINT64_MAX;
	if (s->offset > child)
		return err_set(err, -EINVAL, "raw: offset %llu is beyond the end of '%s' (%llu)",
			       (unsigned long long)s->offset, bs->filename,
			       (unsigned long long)child);
	if (s->has_size && (s->size > child - s->offset))
		return err_set(err, -EINVAL,
			       "raw: offset %llu + size %llu is beyond the end of '%s' (%llu)",
			       (unsigned long long)s->offset, (unsigned long long)s->size,
			       bs->filename, (unsigned long long)child);
	if (s->has_size && s->size % 512)
		return err_set(err, -EINVAL, "raw: size %llu is not a multiple of 512",
			       (unsigned long long)s->size);
	return 0;
}

static void raw_close(struct blk_node *bs)
{
	pthread_mutex_destroy(&((struct raw_state *)bs->opaque)->block0_lock);
}

static int64_t raw_get_length(struct blk_node *bs)
{
	struct raw_state *s = bs->opaque;

	if (s->has_size)
		return (int64_t)s->size;
	return blk_getlength(bs->file) - (int64_t)s->offset;
}

static void raw_refresh_limits(struct blk_node *bs, struct blk_limits *lim)
{
	/* everything from the child; raw adds no restriction but cannot grow */
	lim->caps = bs->file->limits.caps & ~BLK_CAP_GROW;
	lim->discard_granularity = bs->file->limits.discard_granularity;
	lim->max_discard = bs->file->limits.max_discard;
	lim->max_write_zeroes = bs->file->limits.max_write_zeroes;
	if (((struct raw_state *)bs->opaque)->has_size)
		lim->caps &= ~BLK_CAP_RESIZE;
}

static int raw_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		      int iovcnt, unsigned int flags)
{
	struct raw_state *s = bs->opaque;

	return blk_preadv(bs->file, off + s->offset, len, iov, iovcnt, flags);
}

/* Would these first bytes (@iov, or zeroes when NULL) make the image probe as something
 * other than raw?  Called with block0_lock held. */
static int raw_check_block0(struct blk_node *bs, uint64_t off, uint64_t len,
			    const struct iovec *iov, int iovcnt)
{
	uint8_t head[RAW_PROBE_PROT] = { 0 }; /* past a small image's end: zeroes, as probing */
	uint64_t size = (uint64_t)raw_get_length(bs), n = MIN(len, RAW_PROBE_PROT - off);
	int r;

	/* the block-0 image after this write: old bytes where the write does not reach */
	r = blk_pread(bs->file, ((struct raw_state *)bs->opaque)->offset, head,
		      MIN((uint64_t)RAW_PROBE_PROT, size));
	if (r < 0)
		return r;
	if (iov)
		iov_to_buf(iov, iovcnt, 0, head + off, n);
	else
		memset(head + off, 0, n);
	if (strcmp(blk_probe_format(head, sizeof(head), bs->filename), "raw"))
		return -EPERM;
	return 0;
}

static bool touches_block0(struct blk_node *bs, uint64_t off)
{
	return bs->probed_raw && off < RAW_PROBE_PROT;
}

static int raw_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		       int iovcnt, unsigned int flags)
{
	struct raw_state *s = bs->opaque;
	int r;

	if (!touches_block0(bs, off))
		return blk_pwritev(bs->file, off + s->offset, len, iov, iovcnt, flags);
	pthread_mutex_lock(&s->block0_lock);
	r = raw_check_block0(bs, off, len, iov, iovcnt);
	if (r == 0)
		r = blk_pwritev(bs->file, off + s->offset, len, iov, iovcnt, flags);
	pthread_mutex_unlock(&s->block0_lock);
	return r;
}

/* Zeroes in block 0 can complete a header too (a version field, say): checked as a write
 * of zeroes.  A discard that would is skipped (it is only a hint); write_zeroes fails. */
static int raw_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	struct raw_state *s = bs->opaque;
	int r;

	if (!touches_block0(bs, off))
		return blk_discard(bs->file, off + s->offset, len);
	pthread_mutex_lock(&s->block0_lock);
	r = raw_check_block0(bs, off, len, NULL, 0);
	if (r == 0)
		r = blk_discard(bs->file, off + s->offset, len);
	else if (r == -EPERM)
		r = 0;
	pthread_mutex_unlock(&s->block0_lock);
	return r;
}

static int raw_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	struct raw_state *s = bs->opaque;
	int r;

	flags |= BLK_REQ_NO_FALLBACK;
	if (!touches_block0(bs, off))
		return blk_write_zeroes(bs->file, off + s->offset, len, flags);
	pthread_mutex_lock(&s->block0_lock);
	r = raw_check_block0(bs, off, len, NULL, 0);
	if (r == 0)
		r = blk_write_zeroes(bs->file, off + s->offset, len, flags);
	pthread_mutex_unlock(&s->block0_lock);
	return r;
}

static int raw_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			    uint64_t *map, struct blk_node **file)
{
	*pnum = len;
	*map = off + ((struct raw_state *)bs->opaque)->offset;
	*file = bs->file;
	return BLK_STATUS_RAW | BLK_STATUS_OFFSET_VALID;
}

static int raw_truncate(struct blk_node *bs, uint64_t size, struct err *err)
{
	struct raw_state *s = bs->opaque;

	if (s->has_size)
		return err_set(err, -ENOTSUP, "raw: cannot resize a window (size= given)");
	return blk_truncate(bs->file, size + s->offset, err);
}

/* Block 0 of a probed image never gets here (the core sends those through the write
 * path, which checks it). */
static int raw_write_same(struct blk_node *bs, uint64_t off, uint64_t len, const void *pattern,
			  size_t plen, unsigned int flags)
{
	return blk_write_same(bs->file, off + ((struct raw_state *)bs->opaque)->offset, len,
			      pattern, plen, flags);
}

static int raw_compare_and_write(struct blk_node *bs, uint64_t off, uint64_t len,
				 const struct iovec *iov, int iovcnt, uint64_t *mismatch,
				 unsigned int flags)
{
	return blk_compare_and_write(bs->file, off + ((struct raw_state *)bs->opaque)->offset, len,
				     iov, iovcnt, mismatch, flags);
}

/* The async path hands the request itself to the child, shifted by the window offset. */
static int raw_submit(struct blk_node *bs, struct blk_req *req)
{
	struct raw_state *s = bs->opaque;

	if (req->op != BLK_OP_READ && touches_block0(bs, req->off))
		return -ENOTSUP; /* block-0 check runs in the blocking path */
	if (!bs->file->drv->submit)
		return -ENOTSUP;
	req->off += s->offset;
	blk_req_forward(bs->file, req);
	return 0;
}

static const struct blk_opt_desc raw_options[] = {
	{ "offset", "bytes (suffixes k, M, G, ...): the image starts there in its file" },
	{ "size", "bytes: the image is that long (a window of the file)" },
	{ NULL, NULL },
};

const struct blk_driver blk_driver_raw = {
	.name = "raw",
	.kind = BLK_DRIVER_FORMAT,
	.summary = "the bytes of the file as they are",
	.options = raw_options,
	.state_size = sizeof(struct raw_state),
	.probe = raw_probe,
	.open = raw_open,
	.close = raw_close,
	.get_length = raw_get_length,
	.refresh_limits = raw_refresh_limits,
	.truncate = raw_truncate,
	.preadv = raw_preadv,
	.pwritev = raw_pwritev,
	.discard = raw_discard,
	.write_zeroes = raw_write_zeroes,
	.block_status = raw_block_status,
	.submit = raw_submit,
	.write_same = raw_write_same,
	.compare_and_write = raw_compare_and_write,
};
