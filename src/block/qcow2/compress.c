/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compressed clusters (read only: a write to one allocates a normal cluster).  The
 * descriptor holds a byte offset and a count of 512-byte sectors; the data may cross
 * host clusters.  deflate is raw (no zlib header); zstd is one or more frames.  Either
 * must produce exactly one cluster, else the request fails with EIO.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "config.h"
#include "util/log.h"

#if HAVE_ZLIB
#include <zlib.h>
#endif
#if HAVE_ZSTD
#include <zstd.h>
#endif

void qcow2_compressed_range(const struct qcow2_state *s, uint64_t entry, uint64_t *off,
			    uint64_t *len)
{
	uint64_t coff = entry & s->coffset_mask;
	uint64_t sectors = ((entry >> s->csize_shift) & s->csize_mask) + 1;

	*off = coff;
	*len = sectors * 512 - (coff & 511);
}

static int inflate_raw(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
#if HAVE_ZLIB
	z_stream z = { 0 };
	int r;

	if (inflateInit2(&z, -15) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)in_len;
	z.next_out = out;
	z.avail_out = (uInt)out_len;
	r = inflate(&z, Z_FINISH);
	/* the input is only known to the sector: trailing bytes may be left over */
	r = ((r == Z_STREAM_END || r == Z_BUF_ERROR) && z.avail_out == 0) ? 0 : -EIO;
	inflateEnd(&z);
	return r;
#else
	(void)in, (void)in_len, (void)out, (void)out_len;
	return -ENOTSUP;
#endif
}

static int unzstd(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
#if HAVE_ZSTD
	ZSTD_inBuffer ib = { .src = in, .size = in_len };
	ZSTD_outBuffer ob = { .dst = out, .size = out_len };
	ZSTD_DCtx *d = ZSTD_createDCtx();
	int r = 0;

	if (!d)
		return -ENOMEM;
	while (ob.pos < ob.size) {
		size_t prev_in = ib.pos, prev_out = ob.pos;
		size_t z = ZSTD_decompressStream(d, &ob, &ib);

		if (ZSTD_isError(z) || (ib.pos == prev_in && ob.pos == prev_out)) {
			r = -EIO;
			break;
		}
	}
	ZSTD_freeDCtx(d);
	return r;
#else
	(void)in, (void)in_len, (void)out, (void)out_len;
	return -ENOTSUP;
#endif
}

int qcow2_read_compressed(struct blk_node *bs, uint64_t entry, uint8_t *out)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t off, len;
	uint8_t *in;
	int r;

	qcow2_compressed_range(s, entry, &off, &len);
	if (off + len > s->host_limit + s->cluster_size) {
		log_err_ratelimited("qcow2: %s: compressed cluster at 0x%" PRIx64
				    " lies beyond the image file",
				    bs->filename, off);
		return -EIO;
	}
	in = malloc(len);
	if (!in)
		return -ENOMEM;
	r = blk_pread(bs->file, off, in, len);
	if (r == 0)
		r = s->compression_type == QCOW2_COMPRESSION_ZSTD
			    ? unzstd(in, len, out, s->cluster_size)
			    : inflate_raw(in, len, out, s->cluster_size);
	free(in);
	if (r == -EIO)
		log_err_ratelimited("qcow2: %s: corrupt compressed cluster at 0x%" PRIx64,
				    bs->filename, off);
	return r;
}
