/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The qcow2 header: parsing and validation (every field is checked before anything is
 * trusted), header extensions (unknown ones are left untouched on disk: we only ever
 * rewrite fixed fields in place), and the corrupt bit.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/log.h"

struct qcow2_hdr {
	uint32_t magic, version;
	uint64_t backing_offset;
	uint32_t backing_size, cluster_bits;
	uint64_t size;
	uint32_t crypt_method, l1_size;
	uint64_t l1_offset, rt_offset;
	uint32_t rt_clusters, nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompat, compat, autoclear;
	uint32_t refcount_order, header_length;
	uint8_t compression_type;
};

static void hdr_decode(const uint8_t *b, struct qcow2_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->magic = get_be32(b);
	h->version = get_be32(b + 4);
	h->backing_offset = get_be64(b + 8);
	h->backing_size = get_be32(b + 16);
	h->cluster_bits = get_be32(b + 20);
	h->size = get_be64(b + 24);
	h->crypt_method = get_be32(b + 32);
	h->l1_size = get_be32(b + 36);
	h->l1_offset = get_be64(b + 40);
	h->rt_offset = get_be64(b + 48);
	h->rt_clusters = get_be32(b + 56);
	h->nb_snapshots = get_be32(b + 60);
	h->snapshots_offset = get_be64(b + 64);
	if (h->version < 3) {
		h->refcount_order = 4;
		h->header_length = QCOW2_V2_HDR_LEN;
		return;
	}
	h->incompat = get_be64(b + 72);
	h->compat = get_be64(b + 80);
	h->autoclear = get_be64(b + 88);
	h->refcount_order = get_be32(b + 96);
	h->header_length = get_be32(b + 100);
	if (h->header_length > QCOW2_V3_HDR_LEN)
		h->compression_type = b[104];
}

static int check_features(struct blk_node *bs, const struct qcow2_hdr *h, struct err *err)
{
	uint64_t unknown = h->incompat & ~QCOW2_INCOMPAT_KNOWN;

	if (unknown)
		return err_set(err, -ENOTSUP,
			       "qcow2: '%s' uses unsupported incompatible feature bits 0x%" PRIx64,
			       bs->filename, unknown);
	if ((h->incompat & QCOW2_INCOMPAT_CORRUPT) && !bs->read_only)
		return err_set(err, -EACCES,
			       "qcow2: '%s' is marked corrupt; open it read-only or repair it with "
			       "'qemu-img check -r all'",
			       bs->filename);
	if (h->crypt_method)
		return err_set(err, -ENOTSUP,
			       "qcow2: '%s' is encrypted (%s); encrypted images are served through "
			       "the QEMU helper",
			       bs->filename, h->crypt_method == 1 ? "AES" : "LUKS");
	if (h->compression_type > QCOW2_COMPRESSION_ZSTD)
		return err_set(err, -ENOTSUP, "qcow2: unknown compression type %u",
			       h->compression_type);
	if (!!h->compression_type != !!(h->incompat & QCOW2_INCOMPAT_COMPRESSION))
		return err_set(err, -EINVAL,
			       "qcow2: compression type %u does not match incompatible feature "
			       "bit 3",
			       h->compression_type);
	if ((h->incompat & QCOW2_INCOMPAT_EXTL2) && h->cluster_bits < 14)
		return err_set(err, -EINVAL,
			       "qcow2: extended L2 entries need clusters of at least 16 KiB");
	if ((h->autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW) &&
	    !(h->incompat & QCOW2_INCOMPAT_DATA_FILE))
		return err_set(err, -EINVAL, "qcow2: data_file_raw set without a data file");
	return 0;
}

static int check_range(struct blk_node *bs, const char *what, uint64_t off, uint64_t len,
		       uint64_t file_len, struct err *err)
{
	struct qcow2_state *s = bs->opaque;

	if (off & (s->cluster_size - 1))
		return err_set(err, -EINVAL,
			       "qcow2: %s offset 0x%" PRIx64 " is not cluster aligned", what, off);
	if (off + len < off || off + len > file_len)
		return err_set(err, -EINVAL,
			       "qcow2: %s (offset 0x%" PRIx64 ", %" PRIu64
			       " bytes) lies outside the image file (%" PRIu64 " bytes)",
			       what, off, len, file_len);
	if (off < s->cluster_size && len)
		return err_set(err, -EINVAL, "qcow2: %s overlaps the header", what);
	return 0;
}

static int check_geometry(struct blk_node *bs, const struct qcow2_hdr *h, uint64_t file_len,
			  struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t need, l1_bytes = (uint64_t)h->l1_size * 8;
	uint64_t rt_bytes = (uint64_t)h->rt_clusters << h->cluster_bits;
	int r;

	if (h->size > (1ull << 62))
		return err_set(err, -EFBIG, "qcow2: virtual size %" PRIu64 " is too large",
			       h->size);
	need = qcow2_l1_entries_for(s, h->size);
	if (need > QCOW2_MAX_L1_BYTES / 8 || l1_bytes > QCOW2_MAX_L1_BYTES)
		return err_set(err, -EFBIG, "qcow2: L1 table too large (%" PRIu64 " entries)",
			       MAX(need, (uint64_t)h->l1_size));
	if (h->l1_size < need)
		return err_set(err, -EINVAL,
			       "qcow2: L1 table has %u entries, the virtual size needs %" PRIu64,
			       h->l1_size, need);
	if (h->rt_clusters == 0 || rt_bytes > QCOW2_MAX_RT_BYTES)
		return err_set(err, -EINVAL, "qcow2: refcount table of %u clusters is invalid",
			       h->rt_clusters);
	if (h->l1_size && (r = check_range(bs, "L1 table", h->l1_offset, l1_bytes, file_len, err)))
		return r;
	if ((r = check_range(bs, "refcount table", h->rt_offset, rt_bytes, file_len, err)))
		return r;
	if (h->l1_size && h->l1_offset < h->rt_offset + rt_bytes &&
	    h->rt_offset < h->l1_offset + l1_bytes)
		return err_set(err, -EINVAL, "qcow2: L1 table overlaps the refcount table");
	if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return err_set(err, -EINVAL, "qcow2: too many snapshots (%u)", h->nb_snapshots);
	if (h->nb_snapshots && (h->snapshots_offset & (s->cluster_size - 1)))
		return err_set(err, -EINVAL, "qcow2: snapshot table offset is not cluster aligned");
	if (h->backing_offset && (h->backing_size > QCOW2_MAX_BACKING_NAME ||
				  h->backing_offset + h->backing_size > s->cluster_size ||
				  h->backing_offset < h->header_length))
		return err_set(err, -EINVAL,
			       "qcow2: backing file name is invalid (%u bytes at %" PRIu64 ")",
			       h->backing_size, h->backing_offset);
	return 0;
}

static char *dup_name(const uint8_t *p, size_t len)
{
	char *n = malloc(len + 1);

	if (n) {
		memcpy(n, p, len);
		n[len] = '\0';
	}
	return n;
}

static int parse_one_ext(struct blk_node *bs, uint32_t type, const uint8_t *d, uint32_t len,
			 struct err *err)
{
	struct qcow2_state *s = bs->opaque;

	switch (type) {
	case QCOW2_EXT_BACKING_FMT:
		if (len > 63 || memchr(d, 0, len))
			return err_set(err, -EINVAL, "qcow2: invalid backing format extension");
		free(s->backing_fmt);
		s->backing_fmt = dup_name(d, len);
		return s->backing_fmt ? 0 : err_set(err, -ENOMEM, "out of memory");
	case QCOW2_EXT_DATA_FILE:
		if (len == 0 || len > 4095 || memchr(d, 0, len))
			return err_set(err, -EINVAL, "qcow2: invalid data file name extension");
		free(s->data_file_name);
		s->data_file_name = dup_name(d, len);
		return s->data_file_name ? 0 : err_set(err, -ENOMEM, "out of memory");
	case QCOW2_EXT_BITMAPS:
		if (len < 24 || get_be32(d + 4))
			return err_set(err, -EINVAL, "qcow2: invalid bitmaps extension");
		if (!(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS) || !get_be32(d))
			return 0; /* inconsistent: a non-bitmap writer touched the image */
		/* where the directory is: qcow2_read_bitmaps() checks and reads it */
		s->nb_bitmaps = get_be32(d);
		s->bm_dir_size = get_be64(d + 8);
		s->bm_dir_offset = get_be64(d + 16);
		return 0;
	default:
		return 0; /* feature names, crypto, unknown: left as they are */
	}
}

static int parse_extensions(struct blk_node *bs, const uint8_t *c0, uint64_t start, uint64_t end,
			    struct err *err)
{
	uint64_t pos = start;

	while (pos + 8 <= end) {
		uint32_t type = get_be32(c0 + pos), len = get_be32(c0 + pos + 4);
		int r;

		if (type == QCOW2_EXT_END)
			return 0;
		pos += 8;
		if (len > end - pos)
			return err_set(err, -EINVAL,
				       "qcow2: header extension 0x%08x overruns the header cluster",
				       type);
		r = parse_one_ext(bs, type, c0 + pos, len, err);
		if (r < 0)
			return r;
		pos += ALIGN_UP((uint64_t)len, 8);
	}
	return 0;
}

static void set_geometry(struct qcow2_state *s, const struct qcow2_hdr *h)
{
	s->version = h->version;
	s->cluster_bits = h->cluster_bits;
	s->cluster_size = 1ull << h->cluster_bits;
	s->ext_l2 = h->incompat & QCOW2_INCOMPAT_EXTL2;
	s->l2_entry_size = s->ext_l2 ? 16 : 8;
	s->l2_bits = h->cluster_bits - (s->ext_l2 ? 4 : 3);
	s->nsc = s->ext_l2 ? QCOW2_SC_PER_CLUSTER : 1;
	s->sc_bits = h->cluster_bits - (s->ext_l2 ? 5 : 0);
	s->refcount_order = h->refcount_order;
	s->refcount_max =
		h->refcount_order == 6 ? UINT64_MAX : (1ull << (1u << h->refcount_order)) - 1;
	s->rb_bits = h->cluster_bits + 3 - h->refcount_order;
	s->csize_shift = 62 - (h->cluster_bits - 8);
	s->csize_mask = (1ull << (h->cluster_bits - 8)) - 1;
	s->coffset_mask = (1ull << s->csize_shift) - 1;
	s->size = h->size;
	s->incompat = h->incompat;
	s->compat = h->compat;
	s->autoclear = h->autoclear;
	s->compression_type = h->compression_type;
	s->header_length = h->header_length;
	s->l1_offset = h->l1_offset;
	s->l1_size = h->l1_size;
	s->rt_offset = h->rt_offset;
	s->rt_clusters = h->rt_clusters;
	s->nb_snapshots = h->nb_snapshots;
	s->snapshots_offset = h->snapshots_offset;
}

static int check_basic(struct blk_node *bs, const struct qcow2_hdr *h, struct err *err)
{
	if (h->magic != QCOW2_MAGIC)
		return err_set(err, -EINVAL, "qcow2: '%s' has no qcow2 magic", bs->filename);
	if (h->version != 2 && h->version != 3)
		return err_set(err, -ENOTSUP, "qcow2: unsupported version %u", h->version);
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return err_set(err, -EINVAL, "qcow2: cluster_bits %u out of range (9..21)",
			       h->cluster_bits);
	if (h->version == 3 && (h->header_length < QCOW2_V3_HDR_LEN || (h->header_length & 7) ||
				h->header_length > (1u << h->cluster_bits)))
		return err_set(err, -EINVAL, "qcow2: invalid header length %u", h->header_length);
	if (h->refcount_order > 6)
		return err_set(err, -EINVAL, "qcow2: refcount order %u out of range (0..6)",
			       h->refcount_order);
	return 0;
}

int qcow2_read_header(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t file_len = (uint64_t)blk_getlength(bs->file), ext_end;
	uint8_t first[QCOW2_V3_HDR_LEN + 8] = { 0 }, *c0;
	struct qcow2_hdr h;
	int r;

	if (file_len < QCOW2_V2_HDR_LEN)
		return err_set(err, -EINVAL, "qcow2: '%s' is too short for a qcow2 header",
			       bs->filename);
	r = blk_pread(bs->file, 0, first, MIN(file_len, sizeof(first)));
	if (r < 0)
		return err_set_errno(err, r, "qcow2: could not read the header of '%s'",
				     bs->filename);
	hdr_decode(first, &h);
	if ((r = check_basic(bs, &h, err)) < 0 || (r = check_features(bs, &h, err)) < 0)
		return r;
	set_geometry(s, &h);
	if ((r = check_geometry(bs, &h, file_len, err)) < 0)
		return r;
	s->file_len_open = file_len;
	c0 = calloc(1, s->cluster_size);
	if (!c0)
		return err_set(err, -ENOMEM, "out of memory");
	r = blk_pread(bs->file, 0, c0, MIN(file_len, s->cluster_size));
	if (r < 0) {
		free(c0);
		return err_set_errno(err, r, "qcow2: could not read the header cluster");
	}
	ext_end = h.backing_offset ? h.backing_offset : s->cluster_size;
	r = parse_extensions(bs, c0, h.header_length, ext_end, err);
	if (r == 0 && h.backing_offset) {
		s->backing_name = dup_name(c0 + h.backing_offset, h.backing_size);
		if (!s->backing_name)
			r = err_set(err, -ENOMEM, "out of memory");
	}
	free(c0);
	if (r < 0)
		return r;
	if ((s->incompat & QCOW2_INCOMPAT_DATA_FILE) && !s->data_file_name)
		return err_set(err, -EINVAL,
			       "qcow2: '%s' needs an external data file but names none",
			       bs->filename);
	if (!(s->incompat & QCOW2_INCOMPAT_DATA_FILE) && s->data_file_name) {
		free(s->data_file_name);
		s->data_file_name = NULL;
	}
	s->data_file_raw = s->autoclear & QCOW2_AUTOCLEAR_DATA_FILE_RAW;
	return 0;
}

int qcow2_write_header_field(struct blk_node *bs, unsigned int off, const void *buf,
			     unsigned int len)
{
	struct qcow2_state *s = bs->opaque;

	if (off + len > s->header_length)
		return -EINVAL;
	return blk_pwrite(bs->file, off, buf, len, 0);
}

int qcow2_set_incompat(struct blk_node *bs, uint64_t incompat)
{
	struct qcow2_state *s = bs->opaque;
	uint8_t b[8];
	int r;

	if (s->version < 3)
		return -ENOTSUP;
	put_be64(b, incompat);
	r = qcow2_write_header_field(bs, QCOW2_HDR_INCOMPAT, b, 8);
	if (r == 0)
		s->incompat = incompat;
	return r;
}

/*
 * As QEMU: a writable v3 image gets the corrupt bit on disk (incompatible bit 1), so that
 * nobody opens it read-write again before `qemu-img check -r all` repaired it.  Nothing
 * else is written after a metadata inconsistency (close writes no metadata).
 */
static void mark_corrupt(struct blk_node *bs)
{
	struct qcow2_state *s = bs->opaque;
	int r;

	if (s->read_only || s->version < 3 || (s->incompat & QCOW2_INCOMPAT_CORRUPT))
		return;
	r = qcow2_set_incompat(bs, s->incompat | QCOW2_INCOMPAT_CORRUPT);
	if (r == 0)
		r = blk_flush(bs->file);
	if (r < 0)
		log_err("qcow2: %s: could not mark the image corrupt: %s", bs->filename,
			strerror(-r));
}

int qcow2_corrupt(struct blk_node *bs, const char *fmt, ...)
{
	struct qcow2_state *s = bs->opaque;
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->corrupt)
		return -EIO;
	s->corrupt = true;
	log_err("qcow2: %s: %s; further writes are refused (run 'qemu-img check')", bs->filename,
		msg);
	mark_corrupt(bs);
	return -EIO;
}
