/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internal snapshots: the table is parsed and validated (for the overlap checks and
 * `info`), never modified.  Writes to clusters a snapshot shares copy them (COPIED clear),
 * so snapshots stay intact and refcounts exact.
 */
#include "qcow2-int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

#define SNAP_HDR 40
#define SNAP_MAX_EXTRA 1024
#define SNAP_TABLE_MAX (64u << 20)

static char *read_str(struct blk_node *bs, uint64_t off, uint16_t len, int *r)
{
	char *p = malloc((size_t)len + 1);

	if (!p) {
		*r = -ENOMEM;
		return NULL;
	}
	*r = len ? blk_pread(bs->file, off, p, len) : 0;
	p[len] = '\0';
	return p;
}

static int read_one(struct blk_node *bs, uint64_t *pos, struct qcow2_snapshot *sn, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t file_len = s->file_len_open;
	uint8_t h[SNAP_HDR], extra[SNAP_MAX_EXTRA] = { 0 };
	uint32_t extra_len;
	uint16_t id_len, name_len;
	int r;

	if (*pos + SNAP_HDR > file_len)
		return err_set(err, -EINVAL, "qcow2: snapshot table runs past the end of the file");
	r = blk_pread(bs->file, *pos, h, SNAP_HDR);
	if (r < 0)
		return err_set_errno(err, r, "qcow2: could not read the snapshot table");
	sn->l1_offset = get_be64(h);
	sn->l1_size = get_be32(h + 8);
	id_len = get_be16(h + 12);
	name_len = get_be16(h + 14);
	sn->date_sec = get_be32(h + 16);
	sn->vm_state_size = get_be32(h + 32);
	extra_len = get_be32(h + 36);
	if (extra_len > SNAP_MAX_EXTRA)
		return err_set(err, -EINVAL, "qcow2: snapshot extra data too large (%u)",
			       extra_len);
	*pos += SNAP_HDR;
	if (*pos + extra_len + id_len + name_len > file_len)
		return err_set(err, -EINVAL, "qcow2: snapshot table runs past the end of the file");
	if (extra_len && (r = blk_pread(bs->file, *pos, extra, extra_len)) < 0)
		return err_set_errno(err, r, "qcow2: could not read the snapshot table");
	if (extra_len >= 8)
		sn->vm_state_size = get_be64(extra);
	sn->disk_size = extra_len >= 16 ? get_be64(extra + 8) : s->size;
	if (s->version >= 3 && extra_len < 16)
		return err_set(err, -EINVAL, "qcow2: v3 snapshot without disk size");
	*pos += extra_len;
	sn->id = read_str(bs, *pos, id_len, &r);
	*pos += id_len;
	if (r == 0)
		sn->name = read_str(bs, *pos, name_len, &r);
	*pos += name_len;
	*pos = ALIGN_UP(*pos, 8);
	if (r < 0)
		return err_set_errno(err, r, "qcow2: could not read the snapshot table");
	if ((sn->l1_offset & (s->cluster_size - 1)) ||
	    (uint64_t)sn->l1_size * 8 > QCOW2_MAX_L1_BYTES ||
	    sn->l1_offset + (uint64_t)sn->l1_size * 8 > file_len ||
	    (sn->l1_size && sn->l1_offset < s->cluster_size))
		return err_set(err, -EINVAL, "qcow2: snapshot '%s' has an invalid L1 table",
			       sn->id);
	return 0;
}

int qcow2_read_snapshots(struct blk_node *bs, struct err *err)
{
	struct qcow2_state *s = bs->opaque;
	uint64_t pos = s->snapshots_offset;
	int r;

	if (!s->nb_snapshots)
		return 0;
	if (pos < s->cluster_size)
		return err_set(err, -EINVAL, "qcow2: snapshot table overlaps the header");
	s->snaps = calloc(s->nb_snapshots, sizeof(*s->snaps));
	if (!s->snaps)
		return err_set(err, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < s->nb_snapshots; i++) {
		r = read_one(bs, &pos, &s->snaps[i], err);
		if (r < 0)
			return r;
		if (pos - s->snapshots_offset > SNAP_TABLE_MAX)
			return err_set(err, -EFBIG, "qcow2: snapshot table too large");
	}
	s->snapshots_len = pos - s->snapshots_offset;
	return 0;
}

void qcow2_free_snapshots(struct qcow2_state *s)
{
	for (unsigned int i = 0; s->snaps && i < s->nb_snapshots; i++) {
		free(s->snaps[i].id);
		free(s->snaps[i].name);
	}
	free(s->snaps);
	s->snaps = NULL;
}
