/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent dirty bitmaps: the directory is parsed and validated, and preserved.  We do
 * not track writes in them, so when the image is opened read-write every bitmap is
 * marked in use (flag bit 0) before the first guest write, as the spec requires of a
 * writer that does not maintain them; QEMU then treats them as inconsistent and
 * `qemu-img check` stays clean (clearing the autoclear bit instead would leak their
 * clusters).
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define BM_ENTRY_HDR 24
#define BM_FLAG_IN_USE 1u
#define BM_MAX_DIR (64u << 20)
#define BM_MAX_NB 65535u

static int parse_dir(struct blk_node *bs, const uint8_t *d, uint64_t size, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t pos = 0;

	for (unsigned int i = 0; i < s->nb_bitmaps; i++) {
		struct qcow2_bitmap *b = &s->bitmaps[i];
		uint32_t extra, name_len;

		if (pos + BM_ENTRY_HDR > size)
			return err_set(err, -EINVAL, "qcow2: bitmap directory is truncated");
		b->table_offset = get_be64(d + pos);
		b->table_size = get_be32(d + pos + 8);
		b->flags = get_be32(d + pos + 12);
		b->granularity_bits = d[pos + 17];
		name_len = get_be16(d + pos + 18);
		extra = get_be32(d + pos + 20);
		if (pos + BM_ENTRY_HDR + extra + name_len > size)
			return err_set(err, -EINVAL, "qcow2: bitmap directory is truncated");
		b->name = malloc(name_len + 1);
		if (!b->name)
			return err_set(err, -ENOMEM, "out of memory");
		memcpy(b->name, d + pos + BM_ENTRY_HDR + extra, name_len);
		b->name[name_len] = '\0';
		if (b->table_offset & (s->cluster_size - 1))
			return err_set(err, -EINVAL, "qcow2: bitmap '%s' table is not aligned",
				       b->name);
		pos = ALIGN_UP(pos + BM_ENTRY_HDR + extra + name_len, 8);
	}
	return 0;
}

int qcow2_read_bitmaps(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t nb = s->nb_bitmaps, dir_size = s->bm_dir_size, dir_off = s->bm_dir_offset;
	uint8_t *d;
	int r;

	if (!nb)
		return 0;
	if (nb > BM_MAX_NB || dir_size > BM_MAX_DIR || dir_size < BM_ENTRY_HDR ||
	    (dir_off & (s->cluster_size - 1)) || dir_off < s->cluster_size ||
	    dir_off + dir_size > s->file_len_open)
		return err_set(err, -EINVAL, "qcow2: invalid bitmaps extension");
	s->bitmaps = calloc(nb, sizeof(*s->bitmaps));
	d = malloc(dir_size);
	if (!s->bitmaps || !d) {
		free(d);
		return err_set(err, -ENOMEM, "out of memory");
	}
	r = blk_pread(bs->file, dir_off, d, dir_size);
	if (r < 0)
		r = err_set_errno(err, r, "qcow2: could not read the bitmap directory");
	else
		r = parse_dir(bs, d, dir_size, err);
	free(d);
	return r;
}

int qcow2_bitmaps_mark_in_use(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t pos = 0;
	uint8_t *d;
	bool changed = false;
	unsigned int hit;
	int r;

	if (!s->nb_bitmaps)
		return 0;
	d = malloc(s->bm_dir_size);
	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	r = blk_pread(bs->file, s->bm_dir_offset, d, s->bm_dir_size);
	for (unsigned int i = 0; r == 0 && i < s->nb_bitmaps; i++) {
		uint32_t flags = get_be32(d + pos + 12);

		if (!(flags & BM_FLAG_IN_USE)) {
			put_be32(d + pos + 12, flags | BM_FLAG_IN_USE);
			changed = true;
		}
		s->bitmaps[i].flags |= BM_FLAG_IN_USE;
		pos = ALIGN_UP(pos + BM_ENTRY_HDR + get_be32(d + pos + 20) + get_be16(d + pos + 18),
			       8);
	}
	/* the directory must not share a cluster with other metadata */
	hit = qcow2_check_overlap(s, s->bm_dir_offset, s->bm_dir_size, QCOW2_OL_BITMAPS);
	if (r == 0 && changed && hit) {
		free(d);
		return err_set(err, -EINVAL, "qcow2: the bitmap directory overlaps the %s",
			       qcow2_ol_name(hit));
	}
	if (r == 0 && changed)
		r = blk_pwrite(bs->file, s->bm_dir_offset, d, s->bm_dir_size, 0);
	free(d);
	if (r < 0)
		return err_set_errno(err, r, "qcow2: could not mark the bitmaps in use");
	return changed ? 1 : 0;
}

void qcow2_free_bitmaps(struct qcow2_state *s)
{
	for (unsigned int i = 0; s->bitmaps && i < s->nb_bitmaps; i++)
		free(s->bitmaps[i].name);
	free(s->bitmaps);
	s->bitmaps = NULL;
}
