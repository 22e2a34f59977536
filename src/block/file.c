/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Protocol driver "file": regular files and block devices.  Blocking ops use
 * preadv2/pwritev2 (any thread); the async path uses one io_uring per attached event
 * loop, submitted once per loop iteration.  cache=none/directsync open with O_DIRECT and
 * declare the alignment the file really needs (probed like QEMU does).
 */
#include "block-driver.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "file-uring.h"
#include "util/aio.h"
#include "util/err.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/opts.h"

enum file_aio {
	FILE_AIO_THREADS,
	FILE_AIO_IO_URING,
	FILE_AIO_NATIVE, /* QEMU's name for linux-aio: we map it to io_uring */
};

struct file_state {
	int fd;
	bool is_blockdev;
	enum file_aio aio;
	bool has_fallocate; /* cleared when the file system says EOPNOTSUPP */
	bool has_punch;
	struct file_uring *ring;
};

static int file_probe_alignment(int fd, uint32_t *req_align, uint32_t *mem_align)
{
	static const uint32_t cands[] = { 512, 1024, 2048, 4096 };
	void *buf = NULL;
	int r = -EINVAL;

	if (posix_memalign(&buf, 8192, 8192))
		return -ENOMEM;
	*req_align = *mem_align = 4096;
	for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
		if (pread(fd, buf, cands[i], 0) >= 0 || errno != EINVAL) {
			*req_align = cands[i];
			r = 0;
			break;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
		if (pread(fd, (char *)buf + cands[i], *req_align, 0) >= 0 || errno != EINVAL) {
			*mem_align = cands[i];
			break;
		}
	}
	free(buf);
	return r;
}

static int file_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	static const char *const aio_names[] = { "threads", "io_uring", "native", NULL };
	struct file_state *s = bs->opaque;
	const char *path = bs->filename;
	struct stat st;
	int oflags, aio, r;

	if (!path[0])
		return err_set(err, -EINVAL, "file: no file name given (option 'file')");
	r = opts_get_enum(opts, "aio", aio_names, HAVE_LIBURING ? FILE_AIO_IO_URING : 0, &aio, err);
	if (r < 0)
		return r;
	if (aio != FILE_AIO_THREADS && !HAVE_LIBURING)
		return err_set(err, -ENOTSUP, "aio=%s: built without io_uring support",
			       aio_names[aio]);
	s->aio = aio == FILE_AIO_THREADS ? FILE_AIO_THREADS : FILE_AIO_IO_URING;

	oflags = O_CLOEXEC | ((flags & BLK_O_RDWR) ? O_RDWR : O_RDONLY);
	if (flags & BLK_O_DIRECT)
		oflags |= O_DIRECT;
	s->fd = open(path, oflags);
	if (s->fd < 0) {
		r = -errno;
		if (r == -EINVAL && (flags & BLK_O_DIRECT))
			return err_set(err, r,
				       "could not open '%s': the file system does not support "
				       "O_DIRECT (cache=none/directsync); use cache=writeback",
				       path);
		if ((r == -EACCES || r == -EROFS || r == -EPERM) && (flags & BLK_O_RDWR))
			return err_set_errno(
				err, r, "could not open '%s' read-write (use read-only=on)", path);
		return err_set_errno(err, r, "could not open '%s'", path);
	}
	if (fstat(s->fd, &st) < 0) {
		r = err_set_errno(err, -errno, "could not stat '%s'", path);
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		r = err_set(err, -EISDIR, "'%s' is a directory, not an image", path);
		goto fail;
	}
	s->is_blockdev = S_ISBLK(st.st_mode);
	if (!s->is_blockdev && !S_ISREG(st.st_mode)) {
		r = err_set(err, -EINVAL, "'%s' is neither a regular file nor a block device",
			    path);
		goto fail;
	}
	if (s->is_blockdev) {
		uint64_t size;

		if (ioctl(s->fd, BLKGETSIZE64, &size) < 0) {
			r = err_set_errno(err, -errno, "could not get the size of '%s'", path);
			goto fail;
		}
		bs->total_size = size;
	} else {
		bs->total_size = (uint64_t)st.st_size;
	}
	s->has_fallocate = s->has_punch = !s->is_blockdev;
	return 0;
fail:
	close(s->fd);
	return r;
}

static void file_close(struct blk_node *bs)
{
	struct file_state *s = bs->opaque;

	file_uring_free(s->ring);
	s->ring = NULL;
	close(s->fd);
}

static int64_t file_get_length(struct blk_node *bs)
{
	struct file_state *s = bs->opaque;
	struct stat st;
	uint64_t size;

	if (s->is_blockdev)
		return ioctl(s->fd, BLKGETSIZE64, &size) < 0 ? -errno : (int64_t)size;
	return fstat(s->fd, &st) < 0 ? -errno : st.st_size;
}

static void file_refresh_limits(struct blk_node *bs, struct blk_limits *lim)
{
	struct file_state *s = bs->opaque;

	lim->request_alignment = 1;
	lim->mem_alignment = 1;
	if (bs->open_flags & BLK_O_DIRECT) {
		uint32_t ra = 4096, ma = 4096;

		file_probe_alignment(s->fd, &ra, &ma);
		if (s->is_blockdev) {
			int ss = 0;

			if (ioctl(s->fd, BLKSSZGET, &ss) == 0 && ss > 0)
				ra = MAX(ra, (uint32_t)ss);
		}
		lim->request_alignment = ra;
		lim->mem_alignment = ma;
	}
	if (s->is_blockdev) {
		unsigned int pbs = 0;

		if (ioctl(s->fd, BLKPBSZGET, &pbs) == 0)
			lim->physical_block_size = pbs;
	}
	lim->max_transfer = 0;
	lim->caps = BLK_CAP_FUA | BLK_CAP_DISCARD | BLK_CAP_RESIZE;
	if (!s->is_blockdev)
		lim->caps |= BLK_CAP_DISCARD_ZEROES | BLK_CAP_ZERO_UNMAP | BLK_CAP_FAST_ZERO |
			     BLK_CAP_GROW;
}

#define IOV_MAX_LOCAL 1024

/* Short transfers happen at EOF (reads return zeroes there) and on signals: loop. */
static int file_rw(struct blk_node *bs, bool write, uint64_t off, uint64_t len,
		   const struct iovec *iov, int iovcnt, unsigned int flags)
{
	struct file_state *s = bs->opaque;
	struct iovec local[IOV_MAX_LOCAL];
	uint64_t done = 0;
	int rwf = (write && (flags & BLK_REQ_FUA)) ? RWF_DSYNC : 0;

	while (done < len) {
		/* at most IOV_MAX_LOCAL pieces per call: -E2BIG still filled them all */
		int cnt = iov_slice(local, IOV_MAX_LOCAL, iov, iovcnt, done, len - done);
		ssize_t n;

		if (cnt < 0)
			cnt = IOV_MAX_LOCAL;
		n = write ? pwritev2(s->fd, local, cnt, (off_t)(off + done), rwf)
			  : preadv2(s->fd, local, cnt, (off_t)(off + done), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0) {
			if (write)
				return -EIO;
			/* past EOF: zeroes */
			iov_memset(iov, iovcnt, done, 0, len - done);
			break;
		}
		done += (uint64_t)n;
	}
	return 0;
}

static int file_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		       int iovcnt, unsigned int flags)
{
	return file_rw(bs, false, off, len, iov, iovcnt, flags);
}

static int file_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			int iovcnt, unsigned int flags)
{
	return file_rw(bs, true, off, len, iov, iovcnt, flags);
}

static int file_flush(struct blk_node *bs)
{
	struct file_state *s = bs->opaque;

	return fdatasync(s->fd) < 0 ? -errno : 0;
}

static int file_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	struct file_state *s = bs->opaque;

	if (s->is_blockdev) {
		uint64_t range[2] = { off, len };

		return ioctl(s->fd, BLKDISCARD, range) < 0 ? -errno : 0;
	}
	if (!s->has_punch)
		return -ENOTSUP;
	if (fallocate(s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) <
	    0) {
		if (errno == EOPNOTSUPP) {
			s->has_punch = false;
			return -ENOTSUP;
		}
		return -errno;
	}
	return 0;
}

static int file_write_zeroes(struct blk_node *bs, uint64_t off, uint64_t len, unsigned int flags)
{
	struct file_state *s = bs->opaque;
	int r;

	if (s->is_blockdev) {
		uint64_t range[2] = { off, len };

		if (flags & BLK_REQ_MAY_UNMAP)
			return -ENOTSUP; /* BLKDISCARD may not zero */
		r = ioctl(s->fd, BLKZEROOUT, range) < 0 ? -errno : 0;
	} else {
		uint64_t size = (uint64_t)blk_getlength(bs);
		int mode = FALLOC_FL_ZERO_RANGE;

		if ((flags & BLK_REQ_MAY_UNMAP) && s->has_punch && off + len <= size)
			mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		if (!s->has_fallocate)
			return -ENOTSUP;
		r = fallocate(s->fd, mode, (off_t)off, (off_t)len) < 0 ? -errno : 0;
		if (r == -EOPNOTSUPP && mode != FALLOC_FL_ZERO_RANGE) {
			s->has_punch = false;
			r = fallocate(s->fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len) < 0
				    ? -errno
				    : 0;
		}
		if (r == -EOPNOTSUPP) {
			s->has_fallocate = false;
			return -ENOTSUP;
		}
	}
	if (r == 0 && (flags & BLK_REQ_FUA))
		r = file_flush(bs);
	return r;
}

static int file_block_status(struct blk_node *bs, uint64_t off, uint64_t len, uint64_t *pnum,
			     uint64_t *map, struct blk_node **file)
{
	struct file_state *s = bs->opaque;
	off_t data, hole;

	*map = off;
	*file = bs;
	*pnum = len;
	if (s->is_blockdev)
		return BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID;
	data = lseek(s->fd, (off_t)off, SEEK_DATA);
	if (data < 0) {
		if (errno == ENXIO) /* a hole up to EOF */
			return BLK_STATUS_ZERO | BLK_STATUS_OFFSET_VALID;
		return BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID; /* unknown: data */
	}
	if ((uint64_t)data > off) {
		*pnum = MIN(len, (uint64_t)data - off);
		return BLK_STATUS_ZERO | BLK_STATUS_OFFSET_VALID;
	}
	hole = lseek(s->fd, (off_t)off, SEEK_HOLE);
	if (hole > (off_t)off)
		*pnum = MIN(len, (uint64_t)hole - off);
	return BLK_STATUS_DATA | BLK_STATUS_OFFSET_VALID;
}

static int file_truncate(struct blk_node *bs, uint64_t size, struct err *err)
{
	struct file_state *s = bs->opaque;

	if (s->is_blockdev) {
		if ((uint64_t)file_get_length(bs) < size)
			return err_set(err, -ENOSPC, "%s: block device is smaller than %llu bytes",
				       bs->filename, (unsigned long long)size);
		return 0;
	}
	if (ftruncate(s->fd, (off_t)size) < 0)
		return err_set_errno(err, -errno, "%s: truncate failed", bs->filename);
	return 0;
}

static int file_attach_ctx(struct blk_node *bs, struct aio_ctx *ctx)
{
	struct file_state *s = bs->opaque;

	file_uring_free(s->ring);
	s->ring = NULL;
	if (!ctx || s->aio != FILE_AIO_IO_URING)
		return 0;
	s->ring = file_uring_new(ctx, s->fd);
	if (!s->ring) {
		log_warn("%s: io_uring unavailable, using threads", bs->filename);
		s->aio = FILE_AIO_THREADS;
	}
	return 0;
}

static int file_submit(struct blk_node *bs, struct blk_req *req)
{
	struct file_state *s = bs->opaque;

	if (!s->ring)
		return -ENOTSUP;
	return file_uring_submit(s->ring, bs, req);
}

static void file_describe(struct blk_node *bs, char *buf, size_t len)
{
	struct file_state *s = bs->opaque;

	snprintf(buf, len, "protocol: file (%s, aio=%s%s)\n",
		 s->is_blockdev ? "block device" : "regular file",
		 s->aio == FILE_AIO_THREADS ? "threads" : "io_uring",
		 (bs->open_flags & BLK_O_DIRECT) ? ", O_DIRECT" : "");
}

static const struct blk_opt_desc file_options[] = {
	{ "aio", "io_uring (default) or threads: how I/O is submitted" },
	{ NULL, NULL },
};

const struct blk_driver blk_driver_file = {
	.name = "file",
	.kind = BLK_DRIVER_PROTOCOL,
	.summary = "local files and block devices (file names no other driver claims)",
	.options = file_options,
	.state_size = sizeof(struct file_state),
	.open = file_open,
	.close = file_close,
	.refresh_limits = file_refresh_limits,
	.get_length = file_get_length,
	.truncate = file_truncate,
	.preadv = file_preadv,
	.pwritev = file_pwritev,
	.flush = file_flush,
	.discard = file_discard,
	.write_zeroes = file_write_zeroes,
	.block_status = file_block_status,
	.submit = file_submit,
	.attach_ctx = file_attach_ctx,
	.describe = file_describe,
};
