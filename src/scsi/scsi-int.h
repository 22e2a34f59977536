/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside the SCSI layer: the LUN, the command table's row type, and what handlers share.
 *
 * A command goes through scsi_lun_submit() (lun.c): look up its row in the table
 * (cmd-table.c), reject CDB bits outside the row's usage mask, apply the row's flags
 * (medium state, read-only), call parse (decode LBA / length / options), check the LBA
 * range and the Data-Out size; then scsi_cmd_start() (exec.c) takes the write-ordering
 * lock if the row writes and runs exactly one of the row's three execution hooks:
 *   emulate  in the loop, no I/O; returns the result (INQUIRY, MODE SENSE ...)
 *   submit   in the loop, asynchronous block I/O; calls scsi_cmd_finish() itself
 *   work     blocking code on the thread pool; returns the result (UNMAP, CAW ...)
 *
 * Files, each calling only files below it:
 *   lun.c        the LUN, scsi_lun_submit(): cmd-table.c, exec.c, helpers.c, sense.c
 *   cmd-table.c  the rows: the handlers (their hooks), helpers.c
 *   handlers     spc.c, vpd.c, mode.c, xcopy.c, sbc.c, sbc-verify.c, sbc-lbp.c: exec.c
 *                (scsi_cmd_finish), helpers.c, sense.c, and shared decoders among them
 *   exec.c       ordering, dispatch, completion: sense.c; hooks only through the row
 *   helpers.c    what handlers share (below): the block layer only
 *   sense.c      enum scsi_sense to status and sense bytes
 * One circle is in the nature of the thing: REPORT SUPPORTED OPERATION CODES (spc.c)
 * walks the table, and the table lists it.
 */
#ifndef QT_SCSI_SCSI_INT_H
#define QT_SCSI_SCSI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi/cdb.h"
#include "scsi/scsi.h"
#include "scsi/sense.h"

struct thread_pool;

#define SCSI_NO_SA 0xffff
#define SCSI_MAX_CDB 16

/* Row flags (struct scsi_cmd_desc.flags). */
#define SCSI_DF_DATA_IN (1u << 0)      /* Data-In of up to xfer_len bytes */
#define SCSI_DF_DATA_OUT (1u << 1)     /* Data-Out of exactly xfer_len bytes */
#define SCSI_DF_PARAM_OUT (1u << 2)    /* Data-Out parameter list of up to xfer_len bytes */
#define SCSI_DF_WRITES (1u << 3)       /* modifies the medium: write-protect, ordering */
#define SCSI_DF_LBA_RANGE (1u << 4)    /* parse sets lba/nlb: range-checked by the core */
#define SCSI_DF_NO_MEDIUM_OK (1u << 5) /* allowed while stopped (START STOP UNIT) */
#define SCSI_DF_NO_UA (1u << 6)	       /* does not report or clear unit attentions */
#define SCSI_DF_LBP (1u << 8)	       /* needs logical block provisioning (LBPME) */
#define SCSI_DF_LOCK_ALL (1u << 9)     /* orders against every write (whole medium) */
#define SCSI_DF_ALUA (1u << 10)	       /* needs ALUA target port groups (get_alua) */

/* Per-command options decoded by parse (priv.cmd_flags). */
#define SCSI_CF_FUA (1u << 0)	   /* write through (FUA bit, or WCE off) */
#define SCSI_CF_UNMAP (1u << 1)	   /* WRITE SAME: may deallocate */
#define SCSI_CF_NDOB (1u << 2)	   /* WRITE SAME(16): no Data-Out, zeroes */
#define SCSI_CF_BYTCHK (1u << 3)   /* VERIFY / WRITE AND VERIFY: compare Data-Out */
#define SCSI_CF_BYTCHK_1 (1u << 4) /* VERIFY BYTCHK=11b: one block compared to each */
#define SCSI_CF_NO_FLUSH (1u << 5) /* START STOP UNIT */
#define SCSI_CF_START (1u << 6)	   /* START STOP UNIT */

struct scsi_cmd_desc {
	const char *name; /* "READ(16)": logs and tests */
	uint8_t opcode;
	uint8_t cdb_len;
	uint16_t sa;		     /* service action, or SCSI_NO_SA */
	uint8_t usage[SCSI_MAX_CDB]; /* bits allowed in each CDB byte (RSOC usage data) */
	uint32_t flags;		     /* SCSI_DF_* */
	/* Optional: decode the CDB into priv (lba, nlb, xfer_len, cmd_flags); check fields. */
	enum scsi_sense (*parse)(struct scsi_cmd *cmd);
	/* Exactly one of: */
	enum scsi_sense (*emulate)(struct scsi_cmd *cmd);
	void (*submit)(struct scsi_cmd *cmd);
	enum scsi_sense (*work)(struct scsi_cmd *cmd);
};

struct scsi_lun {
	struct blk_node *bs;
	struct aio_ctx *ctx;
	struct thread_pool *pool;
	char vendor[9], product[17], revision[5];
	char *cfgstring;
	int (*get_serial)(void *opaque, char *buf, size_t len);
	int (*get_alua)(void *opaque, struct scsi_alua *out);
	void *serial_opaque;
	uint32_t block_size;
	uint32_t block_shift;
	uint32_t max_sectors;
	uint64_t fixed_size;  /* params.size (0 = the node's length) */
	uint64_t nb_blocks;   /* capacity in logical blocks */
	bool read_only;	      /* write-protected: the parameter or a read-only node */
	bool param_read_only; /* scsi_lun_params.read_only */
	bool wce;	      /* caching page WCE */
	bool wce_default;     /* WCE at creation (the cache mode) */
	bool d_sense;	      /* control page D_SENSE: descriptor-format sense */
	bool stopped;	      /* START STOP UNIT with START=0 (atomic: the pool reads it) */
	bool ua_capacity;     /* pending UNIT ATTENTION: CAPACITY DATA HAS CHANGED */
	unsigned int inflight;
	bool waking;				/* lock_wake() is running */
	struct scsi_cmd *lock_head, *lock_tail; /* write ordering, in submission order */
};

/* ---- the table (cmd-table.c) --------------------------------------------------------- */

/* The row for @cdb, or NULL with *reason set (INVALID OPCODE, or INVALID FIELD for an
 * unknown service action, with the field pointer in @cmd). */
const struct scsi_cmd_desc *scsi_cmd_lookup(struct scsi_cmd *cmd, enum scsi_sense *reason);
/* Iterate the rows in RSOC order (opcode, then service action); NULL at the end. */
const struct scsi_cmd_desc *scsi_cmd_table_next(const struct scsi_cmd_desc *prev);
/* The row of @opcode (and @sa when the opcode has service actions: *has_sa). */
const struct scsi_cmd_desc *scsi_cmd_find(uint8_t opcode, uint16_t sa, bool *has_sa);
/* True if the LUN offers the row (LBP rows only with provisioning). */
bool scsi_cmd_offered(const struct scsi_lun *lun, const struct scsi_cmd_desc *d);

/* ---- running a command (exec.c) ------------------------------------------------------ */

/* Run a prepared command (priv.desc set, checks passed): a writing row first waits for
 * overlapping earlier writes (write-ordering lock), then its hook runs. */
void scsi_cmd_start(struct scsi_cmd *cmd);
/* Complete @cmd with @s (sense built from priv's extras); releases its write lock. */
void scsi_cmd_finish(struct scsi_cmd *cmd, enum scsi_sense s);

/* ---- helpers for handlers (helpers.c) ------------------------------------------------ */

/* priv.sense_flags: which sense extras a handler set. */
#define SCSI_SX_INFO 0x01  /* sense_info: INFORMATION */
#define SCSI_SX_FIELD 0x02 /* sense_field: field pointer */
#define SCSI_SX_BIT 0x04   /* sense_bit: bit pointer */
#define SCSI_SX_PARAM 0x08 /* the field is in the parameter list, not the CDB */

/* INVALID FIELD IN CDB / PARAMETER LIST pointing at byte @byte, bit @bit (-1: none). */
enum scsi_sense scsi_bad_cdb_field(struct scsi_cmd *cmd, unsigned int byte, int bit);
enum scsi_sense scsi_bad_param_field(struct scsi_cmd *cmd, unsigned int byte, int bit);
/* Set the INFORMATION field (MISCOMPARE offset). */
void scsi_set_info(struct scsi_cmd *cmd, uint64_t info);
/* Copy @len bytes of response data to Data-In, at most xfer_len and the buffer. */
void scsi_data_in(struct scsi_cmd *cmd, const void *buf, size_t len);
/* The data buffer cut to xfer_len bytes (or the whole buffer when shorter). */
const struct iovec *scsi_cmd_iov(struct scsi_cmd *cmd, int *iovcnt);
/* Bytes of Data-Out/Data-In buffer. */
size_t scsi_cmd_buf_len(const struct scsi_cmd *cmd);
/* Whether unmapping is offered, and whether unmapped blocks read as zeroes. */
bool scsi_lun_lbpme(const struct scsi_lun *lun);
bool scsi_lun_lbprz(const struct scsi_lun *lun);
bool scsi_lun_is_stopped(const struct scsi_lun *lun);
/* Logical blocks per physical block exponent (READ CAPACITY(16), B0 granularity). */
unsigned int scsi_lun_lbppbe(const struct scsi_lun *lun);

static inline uint64_t scsi_lba_to_off(const struct scsi_lun *lun, uint64_t lba)
{
	return lba << lun->block_shift;
}

/* ---- handlers ------------------------------------------------------------------------ */

/* spc.c */
enum scsi_sense spc_test_unit_ready(struct scsi_cmd *cmd);
enum scsi_sense spc_parse_request_sense(struct scsi_cmd *cmd);
enum scsi_sense spc_request_sense(struct scsi_cmd *cmd);
enum scsi_sense spc_parse_inquiry(struct scsi_cmd *cmd);
enum scsi_sense spc_inquiry(struct scsi_cmd *cmd);
enum scsi_sense spc_parse_rsoc(struct scsi_cmd *cmd);
enum scsi_sense spc_rsoc(struct scsi_cmd *cmd);
enum scsi_sense spc_parse_report_timestamp(struct scsi_cmd *cmd);
enum scsi_sense spc_report_timestamp(struct scsi_cmd *cmd);
/* alua.c */
enum scsi_sense spc_parse_rtpg(struct scsi_cmd *cmd);
enum scsi_sense spc_rtpg(struct scsi_cmd *cmd);
/* The device's ALUA groups into @a (false: it has none).  Calls get_alua. */
bool scsi_lun_alua(const struct scsi_lun *lun, struct scsi_alua *a);
/* INQUIRY byte 5's TPGS field, in place (0 without ALUA groups). */
uint8_t scsi_lun_tpgs(const struct scsi_lun *lun);
/* VPD 0x83's relative target port and target port group designators of the device's
 * port into @b (at most @room bytes); 0 bytes when it has no ALUA groups or no port. */
size_t scsi_alua_port_designators(const struct scsi_lun *lun, uint8_t *b, size_t room);
/* vpd.c */
enum scsi_sense spc_vpd(struct scsi_cmd *cmd, uint8_t page);
/* The LUN's NAA designator (VPD 0x83); false while it has no unit serial.  Calls
 * get_serial, so it may run on a pool thread. */
bool scsi_lun_naa(const struct scsi_lun *lun, uint8_t naa[16]);
/* xcopy.c */
enum scsi_sense spc_parse_xcopy(struct scsi_cmd *cmd);
enum scsi_sense spc_xcopy(struct scsi_cmd *cmd);
enum scsi_sense spc_parse_rcr(struct scsi_cmd *cmd);
enum scsi_sense spc_rcr_op_params(struct scsi_cmd *cmd);
/* mode.c */
enum scsi_sense spc_parse_mode_sense(struct scsi_cmd *cmd);
enum scsi_sense spc_mode_sense(struct scsi_cmd *cmd);
enum scsi_sense spc_parse_mode_select(struct scsi_cmd *cmd);
enum scsi_sense spc_mode_select(struct scsi_cmd *cmd);
/* sbc.c */
enum scsi_sense sbc_parse_read_capacity_10(struct scsi_cmd *cmd);
enum scsi_sense sbc_read_capacity_10(struct scsi_cmd *cmd);
enum scsi_sense sbc_parse_read_capacity_16(struct scsi_cmd *cmd);
enum scsi_sense sbc_read_capacity_16(struct scsi_cmd *cmd);
enum scsi_sense sbc_parse_rw(struct scsi_cmd *cmd);
void sbc_submit_rw(struct scsi_cmd *cmd);
enum scsi_sense sbc_parse_sync_cache(struct scsi_cmd *cmd);
void sbc_submit_sync_cache(struct scsi_cmd *cmd);
enum scsi_sense sbc_parse_start_stop(struct scsi_cmd *cmd);
enum scsi_sense sbc_start_stop(struct scsi_cmd *cmd);
/* Shared decoding of the READ/WRITE/VERIFY layouts: lba, nlb; xfer_len from blocks. */
void sbc_decode_lba_nlb(struct scsi_cmd *cmd);
enum scsi_sense sbc_set_xfer_blocks(struct scsi_cmd *cmd, uint64_t nlb, unsigned int len_byte);
unsigned int sbc_len_byte(unsigned int cdb_len);
/* sbc-verify.c */
enum scsi_sense sbc_parse_verify(struct scsi_cmd *cmd);
enum scsi_sense sbc_verify(struct scsi_cmd *cmd);
enum scsi_sense sbc_parse_write_verify(struct scsi_cmd *cmd);
enum scsi_sense sbc_write_verify(struct scsi_cmd *cmd);
enum scsi_sense sbc_parse_caw(struct scsi_cmd *cmd);
enum scsi_sense sbc_caw(struct scsi_cmd *cmd);
/* sbc-lbp.c */
enum scsi_sense sbc_parse_write_same(struct scsi_cmd *cmd);
enum scsi_sense sbc_write_same(struct scsi_cmd *cmd);
enum scsi_sense sbc_parse_unmap(struct scsi_cmd *cmd);
enum scsi_sense sbc_unmap(struct scsi_cmd *cmd);
enum scsi_sense sbc_parse_get_lba_status(struct scsi_cmd *cmd);
enum scsi_sense sbc_get_lba_status(struct scsi_cmd *cmd);
enum scsi_sense sbc_parse_format_unit(struct scsi_cmd *cmd);
enum scsi_sense sbc_format_unit(struct scsi_cmd *cmd);
/* Deallocate (or zero) blocks [lba, lba+nlb) as UNMAP does; blocking, -errno. */
int sbc_unmap_range(struct scsi_lun *lun, uint64_t lba, uint64_t nlb);

/* Limits shared by VPD B0 and the handlers. */
#define SCSI_MAX_UNMAP_DESC 256
#define SCSI_MAX_CAW_BLOCKS 255
/* WRITE SAME blocks per command (B0 MAXIMUM WRITE SAME LENGTH): LIO's own limit, which
 * bounds the work of one command (a 0xffff-block WRITE SAME(10) is always allowed). */
#define SCSI_MAX_WS_BLOCKS 0xffff

/* helpers.c */
uint32_t scsi_lun_max_caw(const struct scsi_lun *lun);
uint32_t scsi_lun_max_unmap_lbas(const struct scsi_lun *lun);

#endif
