/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers for the SCSI layer's unit tests: a LUN over a `memory` node in an event loop,
 * commands built from hand-written CDB bytes, run to completion, and assertions on
 * status and sense (key/ASC/ASCQ, information, sense-key specific field pointer).
 */
#ifndef QT_TESTS_SCSI_TEST_H
#define QT_TESTS_SCSI_TEST_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "block/block.h"
#include "scsi/cdb.h"
#include "scsi/scsi.h"
#include "util/aio.h"
#include "util/err.h"

struct fx {
	struct aio_ctx *ctx;
	struct blk_node *bs;
	struct scsi_lun *lun;
	uint32_t bsz;
	uint64_t blocks;
	const char *serial;	      /* what get_serial returns, NULL = none */
	const struct scsi_alua *alua; /* what get_alua returns, NULL = none */
};

/* Two target port groups as a gateway pair has them: ours (1, optimized, port 1, iSCSI)
 * and the other gateway's (2, non-optimized, port 2). */
static const struct scsi_alua fx_alua_pair = {
	.implicit_trans_secs = 45,
	.ngroups = 2,
	.groups = {
		{ .id = 1, .state = SCSI_ALUA_OPTIMIZED, .pref = true, .nports = 1, .ports = { 1 },
		  .supported = SCSI_ALUA_SUP_T | SCSI_ALUA_SUP_AN | SCSI_ALUA_SUP_AO },
		{ .id = 2, .state = SCSI_ALUA_NONOPTIMIZED, .status = 2, .nports = 1, .ports = { 2 },
		  .supported = SCSI_ALUA_SUP_T | SCSI_ALUA_SUP_AN | SCSI_ALUA_SUP_AO },
	},
	.has_local = true,
	.local_port = 1,
	.local_group = 1,
	.local_proto = 5,
};

struct res {
	uint8_t status;
	uint8_t sense_len;
	uint8_t sense[SCSI_SENSE_BUFFERSIZE];
	uint32_t data_in_len;
};

static inline int fx_get_alua(void *opaque, struct scsi_alua *out)
{
	const struct fx *f = opaque;

	if (!f->alua)
		return -ENOENT;
	*out = *f->alua;
	return 0;
}

static inline int fx_serial(void *opaque, char *buf, size_t len)
{
	const struct fx *f = opaque;

	if (!f->serial)
		return -ENOENT;
	snprintf(buf, len, "%s", f->serial);
	return 0;
}

/* A LUN over @bs (owned by the fixture) with @p (block_size, max_sectors ...). */
static inline struct fx *fx_new_node(struct blk_node *bs, struct scsi_lun_params p, bool read_only)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct err err;

	err_init(&err);
	assert_non_null(f);
	f->ctx = aio_ctx_new();
	f->bs = bs;
	f->bsz = p.block_size ? p.block_size : 512;
	f->blocks = (uint64_t)blk_getlength(bs) / f->bsz;
	f->serial = "1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809";
	p.read_only = read_only;
	p.get_serial = fx_serial;
	p.get_alua = fx_get_alua;
	p.serial_opaque = f;
	p.cfgstring = "qemu/@driver=memory";
	if (scsi_lun_new(f->bs, &p, f->ctx, &f->lun, &err) < 0)
		fail_msg("scsi_lun_new: %s", err.msg);
	return f;
}

/* A LUN of @blocks blocks of @bsz bytes over "@driver=memory@size=..." (+@extra). */
static inline struct fx *fx_new_opts(uint32_t bsz, uint64_t blocks, bool read_only,
				     const char *extra)
{
	struct scsi_lun_params p = { .block_size = bsz };
	struct blk_node *bs = NULL;
	char cfg[256];
	struct err err;

	err_init(&err);
	snprintf(cfg, sizeof(cfg), "@driver=memory@size=%llu%s", (unsigned long long)(bsz * blocks),
		 extra ? extra : "");
	if (blk_open_str(cfg, BLK_O_RDWR, &bs, &err) < 0)
		fail_msg("open %s: %s", cfg, err.msg);
	return fx_new_node(bs, p, read_only);
}

static inline struct fx *fx_new(uint32_t bsz, uint64_t blocks, bool read_only)
{
	return fx_new_opts(bsz, blocks, read_only, NULL);
}

static inline void fx_free(struct fx *f)
{
	scsi_lun_free(f->lun);
	blk_close(f->bs);
	aio_ctx_free(f->ctx);
	free(f);
}

static inline void cmd_done(struct scsi_cmd *cmd)
{
	(*(int *)cmd->opaque)--;
}

/* Run one command with one data buffer (@buf may be NULL when @len is 0). */
static inline struct res fx_run(struct fx *f, const uint8_t *cdb, unsigned int cdb_len, void *buf,
				size_t len)
{
	struct scsi_cmd cmd;
	struct iovec iov = { buf, len };
	struct res r;
	int pending = 1;

	memset(&cmd, 0xa5, sizeof(cmd)); /* the layer must not depend on zeroed memory */
	cmd.cdb = cdb;
	cmd.cdb_len = (uint16_t)cdb_len;
	cmd.iov = len ? &iov : NULL;
	cmd.iovcnt = len ? 1 : 0;
	cmd.bidi_iov = NULL;
	cmd.bidi_iovcnt = 0;
	cmd.done = cmd_done;
	cmd.opaque = &pending;
	scsi_lun_submit(f->lun, &cmd);
	while (pending)
		aio_poll(f->ctx, true);
	assert_int_equal(scsi_lun_inflight(f->lun), 0);
	r.status = cmd.status;
	r.sense_len = cmd.sense_len;
	memcpy(r.sense, cmd.sense, sizeof(r.sense));
	r.data_in_len = cmd.data_in_len;
	if (r.status == SCSI_STATUS_GOOD)
		assert_int_equal(r.sense_len, 0);
	assert_true(r.data_in_len <= len);
	return r;
}

#define RUN(f, buf, len, ...)                                    \
	({                                                       \
		const uint8_t cdb__[] = { __VA_ARGS__ };         \
		fx_run((f), cdb__, sizeof(cdb__), (buf), (len)); \
	})

/* Fixed or descriptor sense: key, ASC, ASCQ. */
static inline void sense_kaa(const struct res *r, uint8_t *key, uint8_t *asc, uint8_t *ascq)
{
	if ((r->sense[0] & 0x7f) == 0x72) {
		*key = r->sense[1] & 0xf;
		*asc = r->sense[2];
		*ascq = r->sense[3];
	} else {
		*key = r->sense[2] & 0xf;
		*asc = r->sense[12];
		*ascq = r->sense[13];
	}
}

static inline void expect_good(const struct res *r)
{
	if (r->status != SCSI_STATUS_GOOD) {
		uint8_t k, a, q;

		sense_kaa(r, &k, &a, &q);
		fail_msg("expected GOOD, got status 0x%02x sense %x/%02x%02x", r->status, k, a, q);
	}
}

static inline void expect_sense(const struct res *r, uint8_t key, uint8_t asc, uint8_t ascq)
{
	uint8_t k, a, q;

	if (r->status != SCSI_STATUS_CHECK_CONDITION)
		fail_msg("expected CHECK CONDITION %x/%02x%02x, got status 0x%02x", key, asc, ascq,
			 r->status);
	sense_kaa(r, &k, &a, &q);
	if (k != key || a != asc || q != ascq)
		fail_msg("expected sense %x/%02x%02x, got %x/%02x%02x", key, asc, ascq, k, a, q);
	assert_int_equal(r->data_in_len, 0);
}

/* The 3 sense-key specific bytes, NULL when SKSV is clear. */
static inline const uint8_t *sense_sks(const struct res *r)
{
	if ((r->sense[0] & 0x7f) == 0x70)
		return (r->sense[15] & 0x80) ? r->sense + 15 : NULL;
	for (unsigned int i = 8; i + 1 < r->sense_len; i += 2u + r->sense[i + 1])
		if (r->sense[i] == 0x02)
			return r->sense + i + 4;
	return NULL;
}

/* INVALID FIELD IN CDB (cdb) or PARAMETER LIST with the field pointer @byte / @bit
 * (@bit < 0: no bit pointer). */
static inline void expect_field(const struct res *r, bool cdb, unsigned int byte, int bit)
{
	const uint8_t *s;

	expect_sense(r, 0x5, cdb ? 0x24 : 0x26, 0);
	s = sense_sks(r);
	if (!s)
		fail_msg("no sense-key specific field pointer");
	assert_int_equal(s[0] & 0x40, cdb ? 0x40 : 0); /* C/D */
	assert_int_equal((s[1] << 8) | s[2], byte);
	if (bit < 0) {
		assert_int_equal(s[0] & 0x08, 0);
	} else {
		assert_int_equal(s[0] & 0x08, 0x08); /* BPV */
		assert_int_equal(s[0] & 0x07, bit);
	}
}

/* The INFORMATION field, -1 when not valid. */
static inline int64_t sense_info(const struct res *r)
{
	if ((r->sense[0] & 0x7f) == 0x70)
		return (r->sense[0] & 0x80) ? (int64_t)get_be32(r->sense + 3) : -1;
	for (unsigned int i = 8; i + 1 < r->sense_len; i += 2u + r->sense[i + 1])
		if (r->sense[i] == 0x00 && (r->sense[i + 2] & 0x80))
			return (int64_t)get_be64(r->sense + i + 4);
	return -1;
}

#define expect_cc(r, key, asc, ascq) expect_sense(&(r), key, asc, ascq)

/* Convenience CDB builders. */
static inline void cdb_rw16(uint8_t *c, uint8_t op, uint64_t lba, uint32_t nlb)
{
	memset(c, 0, 16);
	c[0] = op;
	put_be64(c + 2, lba);
	put_be32(c + 10, nlb);
}

static inline void cdb_rw10(uint8_t *c, uint8_t op, uint32_t lba, uint16_t nlb)
{
	memset(c, 0, 10);
	c[0] = op;
	put_be32(c + 2, lba);
	put_be16(c + 7, nlb);
}

/* Write/read @nlb blocks at @lba through WRITE(16)/READ(16). */
static inline struct res fx_write(struct fx *f, uint64_t lba, uint32_t nlb, void *buf)
{
	uint8_t c[16];

	cdb_rw16(c, SCSI_OP_WRITE_16, lba, nlb);
	return fx_run(f, c, 16, buf, (size_t)nlb * f->bsz);
}

static inline struct res fx_read(struct fx *f, uint64_t lba, uint32_t nlb, void *buf)
{
	uint8_t c[16];

	cdb_rw16(c, SCSI_OP_READ_16, lba, nlb);
	return fx_run(f, c, 16, buf, (size_t)nlb * f->bsz);
}

#endif
