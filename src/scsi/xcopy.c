/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Third-party copy: EXTENDED COPY (LID1) and RECEIVE COPY RESULTS with the OPERATING
 * PARAMETERS service action (SPC-4 6.4, 6.18.4).
 *
 * The copy manager copies within the LUN that receives the command: every copy target must
 * be an identification descriptor (E4h) naming this LUN by its NAA designator (VPD 0x83),
 * segments are block device to block device (02h).  A designator of another LUN, even one
 * this daemon serves, is COPY TARGET DEVICE NOT REACHABLE (each LUN has its own event loop
 * and write ordering; a copy across them would bypass the other LUN's ordering).  The
 * whole parameter list is checked before any block moves; the copy then runs on the
 * thread pool holding the whole medium in the LUN's write ordering (SCSI_DF_LOCK_ALL), so
 * it is atomic with respect to the LUN's other writes.  No copy status is held (LIST ID
 * USAGE is accepted but RECEIVE COPY RESULTS offers OPERATING PARAMETERS only, as LIO):
 * the command completes when the copy has.
 */
#include "scsi-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "util/compiler.h"
#include "util/iov.h"

#define XC_HDR 16		 /* parameter list header */
#define XC_TARGET_LEN 32	 /* identification target descriptor */
#define XC_B2B_LEN 28		 /* block to block segment descriptor */
#define XC_MAX_TARGETS 4	 /* operating parameters: MAXIMUM TARGET DESCRIPTOR COUNT */
#define XC_MAX_SEGMENTS 4	 /* MAXIMUM SEGMENT DESCRIPTOR COUNT */
#define XC_MAX_DESC_LIST 1024	 /* MAXIMUM DESCRIPTOR LIST LENGTH */
#define XC_MAX_SEG_BLOCKS 0xffff /* a B2B descriptor's NUMBER OF BLOCKS is 16 bits */
#define XC_CHUNK (1u << 20)
#define XC_OP_PARAMS_LEN 46

enum {
	TD_IDENTIFICATION = 0xe4,
	SD_BLOCK_TO_BLOCK = 0x02,
	LIST_ID_USAGE_NONE = 3, /* 11b: no list identifier (SNLID) */
	DESIG_CODESET_BINARY = 1,
	DESIG_TYPE_NAA = 3,
};

struct xc_segment {
	uint16_t src, dst; /* target descriptor indexes */
	uint32_t nlb;
	uint64_t src_lba, dst_lba;
};

struct xc_list {
	unsigned int ntargets, nsegments;
	bool is_self[XC_MAX_TARGETS]; /* the target descriptor names this LUN */
	struct xc_segment seg[XC_MAX_SEGMENTS];
};

/* ---- EXTENDED COPY: the parameter list ---------------------------------------------------- */

/* In the loop thread: what the work on the pool must not read from the LUN itself. */
enum scsi_sense spc_parse_xcopy(struct scsi_cmd *cmd)
{
	struct scsi_cmd_priv *p = &cmd->priv;

	p->xfer_len = get_be32(cmd->cdb + 10);
	p->nb_blocks = p->lun->nb_blocks;
	if (!p->lun->wce)
		p->cmd_flags |= SCSI_CF_FUA;
	return SCSI_SENSE_OK;
}

/* INVALID FIELD IN PARAMETER LIST at byte @off of the parameter list. */
static enum scsi_sense bad_param(struct scsi_cmd *cmd, size_t off, int bit)
{
	return scsi_bad_param_field(cmd, (unsigned int)off, bit);
}

/* One identification target descriptor at parameter list offset @off. */
static enum scsi_sense parse_target(struct scsi_cmd *cmd, const uint8_t *d, size_t off,
				    const uint8_t *naa, bool *is_self)
{
	const struct scsi_lun *lun = cmd->priv.lun;
	uint32_t blen;

	if (d[0] != TD_IDENTIFICATION)
		return SCSI_SENSE_UNSUPP_TARGET_DESC;
	/* LU ID TYPE and NUL are obsolete in SPC-4: ignored.  Block devices only. */
	if (d[1] & 0x1f)
		return bad_param(cmd, off + 1, 4);
	blen = get_be32(d + 28) & 0xffffff; /* DISK BLOCK LENGTH; 0: not given */
	if (blen && blen != lun->block_size)
		return bad_param(cmd, off + 29, 7);
	*is_self = naa && (d[4] & 0x0f) == DESIG_CODESET_BINARY && (d[5] & 0x30) == 0 &&
		   (d[5] & 0x0f) == DESIG_TYPE_NAA && d[7] == 16 && !memcmp(d + 8, naa, 16);
	return SCSI_SENSE_OK;
}

static enum scsi_sense parse_targets(struct scsi_cmd *cmd, const uint8_t *pl, size_t tdl,
				     struct xc_list *l)
{
	uint8_t naa[16];
	bool have_naa = scsi_lun_naa(cmd->priv.lun, naa);

	if (tdl % XC_TARGET_LEN)
		return SCSI_SENSE_PARAM_LIST_LENGTH;
	if (tdl / XC_TARGET_LEN > XC_MAX_TARGETS)
		return SCSI_SENSE_TOO_MANY_TARGET_DESC;
	l->ntargets = (unsigned int)(tdl / XC_TARGET_LEN);
	for (unsigned int i = 0; i < l->ntargets; i++) {
		size_t off = XC_HDR + (size_t)i * XC_TARGET_LEN;
		enum scsi_sense r =
			parse_target(cmd, pl + off, off, have_naa ? naa : NULL, &l->is_self[i]);

		if (r != SCSI_SENSE_OK)
			return r;
	}
	return SCSI_SENSE_OK;
}

static enum scsi_sense parse_segments(struct scsi_cmd *cmd, const uint8_t *pl, size_t start,
				      size_t sdl, struct xc_list *l)
{
	for (size_t off = 0; off < sdl;) {
		const uint8_t *d = pl + start + off;
		struct xc_segment *s;
		size_t dlen;

		if (sdl - off < 4)
			return SCSI_SENSE_PARAM_LIST_LENGTH;
		if (l->nsegments == XC_MAX_SEGMENTS)
			return SCSI_SENSE_TOO_MANY_SEGMENT_DESC;
		if (d[0] != SD_BLOCK_TO_BLOCK)
			return SCSI_SENSE_UNSUPP_SEGMENT_DESC;
		dlen = 4 + (size_t)get_be16(d + 2);
		if (dlen != XC_B2B_LEN)
			return bad_param(cmd, start + off + 2, 7);
		if (dlen > sdl - off)
			return SCSI_SENSE_PARAM_LIST_LENGTH;
		/* DC and CAT only matter when source and destination block sizes differ */
		s = &l->seg[l->nsegments++];
		s->src = get_be16(d + 4);
		s->dst = get_be16(d + 6);
		s->nlb = get_be16(d + 10);
		s->src_lba = get_be64(d + 12);
		s->dst_lba = get_be64(d + 20);
		off += dlen;
	}
	return SCSI_SENSE_OK;
}

static enum scsi_sense parse_list(struct scsi_cmd *cmd, const uint8_t *pl, size_t len,
				  struct xc_list *l)
{
	uint64_t tdl = get_be16(pl + 2), sdl = get_be32(pl + 8), inl = get_be32(pl + 12);
	enum scsi_sense r;

	if ((pl[1] >> 3 & 3) == LIST_ID_USAGE_NONE && pl[0])
		return bad_param(cmd, 0, 7);
	if (tdl + sdl > XC_MAX_DESC_LIST)
		return SCSI_SENSE_PARAM_LIST_LENGTH;
	if (inl) /* MAXIMUM INLINE DATA LENGTH is 0 */
		return bad_param(cmd, 12, 7);
	if (XC_HDR + tdl + sdl > len)
		return SCSI_SENSE_PARAM_LIST_LENGTH;
	r = parse_targets(cmd, pl, (size_t)tdl, l);
	if (r == SCSI_SENSE_OK)
		r = parse_segments(cmd, pl, XC_HDR + (size_t)tdl, (size_t)sdl, l);
	return r;
}

/* Every segment names this LUN for both ends and stays inside it. */
static enum scsi_sense check_segments(struct scsi_cmd *cmd, const struct xc_list *l)
{
	uint64_t end = cmd->priv.nb_blocks;

	for (unsigned int i = 0; i < l->nsegments; i++) {
		const struct xc_segment *s = &l->seg[i];

		if (s->src >= l->ntargets || s->dst >= l->ntargets || !l->is_self[s->src] ||
		    !l->is_self[s->dst]) {
			scsi_set_info(cmd, i);
			return SCSI_SENSE_COPY_TARGET_UNREACHABLE;
		}
		if (s->src_lba > end || s->nlb > end - s->src_lba || s->dst_lba > end ||
		    s->nlb > end - s->dst_lba) {
			scsi_set_info(cmd, i);
			return SCSI_SENSE_COPY_ABORTED;
		}
	}
	return SCSI_SENSE_OK;
}

/* ---- EXTENDED COPY: moving blocks -------------------------------------------------------- */

/* Copy @len bytes from @src to @dst of the LUN's node, as memmove (overlap-safe). */
static int copy_bytes(struct scsi_lun *lun, uint64_t src, uint64_t dst, uint64_t len,
		      unsigned int flags, bool *is_write)
{
	bool backwards = dst > src && dst < src + len;
	uint64_t chunk = MIN(len, (uint64_t)XC_CHUNK), done = 0;
	uint8_t *buf = NULL;
	int r = 0;

	if (!len || src == dst)
		return 0;
	if (posix_memalign((void **)&buf, 4096, chunk))
		return -ENOMEM;
	while (done < len && r == 0) {
		uint64_t n = MIN(chunk, len - done);
		uint64_t pos = backwards ? len - done - n : done;

		*is_write = false;
		r = blk_pread(lun->bs, src + pos, buf, n);
		if (r == 0) {
			*is_write = true;
			r = blk_pwrite(lun->bs, dst + pos, buf, n, flags);
		}
		done += n;
	}
	free(buf);
	return r;
}

enum scsi_sense spc_xcopy(struct scsi_cmd *cmd)
{
	struct scsi_lun *lun = cmd->priv.lun;
	unsigned int flags = (cmd->priv.cmd_flags & SCSI_CF_FUA) ? BLK_REQ_FUA : 0;
	uint8_t pl[XC_HDR + XC_MAX_DESC_LIST];
	size_t len = MIN((size_t)cmd->priv.xfer_len, scsi_cmd_buf_len(cmd));
	struct xc_list l = { 0 };
	enum scsi_sense s;

	if (len == 0)
		return SCSI_SENSE_OK; /* SPC-4 6.4.1: no parameter data is not an error */
	if (len < XC_HDR)
		return SCSI_SENSE_PARAM_LIST_LENGTH;
	len = iov_to_buf(cmd->iov, cmd->iovcnt, 0, pl, MIN(len, sizeof(pl)));
	s = parse_list(cmd, pl, len, &l);
	if (s == SCSI_SENSE_OK)
		s = check_segments(cmd, &l);
	for (unsigned int i = 0; s == SCSI_SENSE_OK && i < l.nsegments; i++) {
		const struct xc_segment *g = &l.seg[i];
		bool is_write = false;
		int r = copy_bytes(lun, scsi_lba_to_off(lun, g->src_lba),
				   scsi_lba_to_off(lun, g->dst_lba), scsi_lba_to_off(lun, g->nlb),
				   flags, &is_write);

		if (r < 0)
			s = scsi_sense_from_errno(r, is_write);
	}
	return s;
}

/* ---- RECEIVE COPY RESULTS: OPERATING PARAMETERS (SPC-4 6.18.4) -------------------------- */

enum scsi_sense spc_parse_rcr(struct scsi_cmd *cmd)
{
	cmd->priv.xfer_len = get_be32(cmd->cdb + 10);
	return SCSI_SENSE_OK;
}

enum scsi_sense spc_rcr_op_params(struct scsi_cmd *cmd)
{
	const struct scsi_lun *lun = cmd->priv.lun;
	uint8_t b[XC_OP_PARAMS_LEN] = { 0 };

	put_be32(b, XC_OP_PARAMS_LEN - 4);
	b[4] = 0x01; /* SNLID: LIST ID USAGE 11b is supported */
	put_be16(b + 8, XC_MAX_TARGETS);
	put_be16(b + 10, XC_MAX_SEGMENTS);
	put_be32(b + 12, XC_MAX_DESC_LIST);
	put_be32(b + 16, XC_MAX_SEG_BLOCKS * lun->block_size); /* MAXIMUM SEGMENT LENGTH */
	/* no inline data, no held data, no stream devices */
	put_be16(b + 34, 1);		   /* TOTAL CONCURRENT COPIES */
	b[36] = 1;			   /* MAXIMUM CONCURRENT COPIES */
	b[37] = (uint8_t)lun->block_shift; /* DATA SEGMENT GRANULARITY (log2 bytes) */
	b[43] = 2;			   /* IMPLEMENTED DESCRIPTOR LIST LENGTH */
	b[44] = SD_BLOCK_TO_BLOCK;
	b[45] = TD_IDENTIFICATION;
	scsi_data_in(cmd, b, sizeof(b));
	return SCSI_SENSE_OK;
}
