/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The SCSI target layer as seen by transports (the TCMU ring, the ring simulator) and the
 * daemon: a LUN over a block node executes commands (CDB + data iovecs) and reports a
 * status with sense.  SPC-5 / SBC-4 emulation lives behind this interface.
 *
 * Threading: a LUN belongs to one event loop (the @ctx given at creation).  All calls
 * except scsi_lun_new/free happen in that loop's thread; done() is called there too,
 * possibly before scsi_lun_submit() returns.  Commands may be in flight concurrently
 * (as many as the transport's queue depth); the layer orders overlapping writes and
 * COMPARE AND WRITE itself.  No allocation per READ/WRITE: struct scsi_cmd embeds what
 * the layer needs, and transports preallocate one per ring slot.
 */
#ifndef QT_SCSI_SCSI_H
#define QT_SCSI_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "scsi/scsi-cmd-priv.h"
#include "scsi/sense.h"

struct aio_ctx;
struct blk_node;
struct err;
struct scsi_lun;

#define SCSI_SENSE_BUFFERSIZE 96 /* TCMU_SENSE_BUFFERSIZE */

/* SAM-5 status codes. */
enum scsi_status {
	SCSI_STATUS_GOOD = 0x00,
	SCSI_STATUS_CHECK_CONDITION = 0x02,
	SCSI_STATUS_CONDITION_MET = 0x04,
	SCSI_STATUS_BUSY = 0x08,
	SCSI_STATUS_RESERVATION_CONFLICT = 0x18,
	SCSI_STATUS_TASK_SET_FULL = 0x28,
	SCSI_STATUS_TASK_ABORTED = 0x40,
};

struct scsi_cmd {
	/* in: set by the transport before scsi_lun_submit() */
	const uint8_t *cdb; /* the CDB; cdb_len bytes readable */
	uint16_t cdb_len;
	/* The data buffer: Data-Out for writes, Data-In for reads (the CDB says which).  A
	 * Data-Out buffer must be exactly as long as the CDB implies (else 05/0E03 and
	 * nothing is written; parameter lists may be longer); a Data-In buffer may be
	 * shorter (what fits is transferred) or longer (data_in_len < size = residual). */
	const struct iovec *iov;
	int iovcnt;
	const struct iovec *bidi_iov; /* Data-In of bidirectional commands, else NULL */
	int bidi_iovcnt;
	void (*done)(struct scsi_cmd *cmd);
	void *opaque; /* the transport's */

	/* out: valid in done() */
	uint8_t status;	   /* enum scsi_status: GOOD, CHECK CONDITION, or BUSY (retry later) */
	uint8_t sense_len; /* bytes of sense (CHECK CONDITION only) */
	uint8_t sense[SCSI_SENSE_BUFFERSIZE];
	uint32_t data_in_len; /* bytes of Data-In produced; less than the buffer = residual;
			       * 0 unless GOOD */

	/* private to the SCSI layer */
	struct scsi_cmd_priv priv;
};

/* Asymmetric access states (SPC-5 6.37, REPORT TARGET PORT GROUPS). */
enum scsi_alua_state {
	SCSI_ALUA_OPTIMIZED = 0x0,
	SCSI_ALUA_NONOPTIMIZED = 0x1,
	SCSI_ALUA_STANDBY = 0x2,
	SCSI_ALUA_UNAVAILABLE = 0x3,
	SCSI_ALUA_LBA_DEPENDENT = 0x4,
	SCSI_ALUA_OFFLINE = 0xe,
	SCSI_ALUA_TRANSITIONING = 0xf,
};

/* RTPG's supported-states bits (byte 1 of a descriptor). */
#define SCSI_ALUA_SUP_T (1u << 7)
#define SCSI_ALUA_SUP_O (1u << 6)
#define SCSI_ALUA_SUP_LBD (1u << 4)
#define SCSI_ALUA_SUP_U (1u << 3)
#define SCSI_ALUA_SUP_S (1u << 2)
#define SCSI_ALUA_SUP_AN (1u << 1)
#define SCSI_ALUA_SUP_AO (1u << 0)

#define SCSI_ALUA_MAX_GROUPS 16
#define SCSI_ALUA_MAX_PORTS 16

/* One target port group as LIO has it configured (configfs alua/<group>/). */
struct scsi_alua_group {
	uint16_t id;
	uint8_t state;	   /* enum scsi_alua_state */
	uint8_t supported; /* SCSI_ALUA_SUP_* */
	uint8_t status;	   /* 0: none, 1: altered by SET TARGET PORT GROUPS, 2: implicitly */
	bool pref;
	uint8_t nports;
	uint16_t ports[SCSI_ALUA_MAX_PORTS]; /* relative target port identifiers */
};

/* The device's ALUA configuration.  TCMU does not say which port a command came through,
 * so the device's one enabled port (LIO's layout for gateways: one local target port
 * group enabled, the other gateways' disabled) is "the" port of VPD 0x83. */
struct scsi_alua {
	uint8_t tpgs;		     /* INQUIRY TPGS: 1 = implicit (explicit is not offered) */
	uint8_t implicit_trans_secs; /* RTPG extended header: how long a transition takes */
	unsigned int ngroups;
	struct scsi_alua_group groups[SCSI_ALUA_MAX_GROUPS];
	bool has_local;	      /* local_port and local_group are known */
	uint16_t local_port;  /* relative target port identifier */
	uint16_t local_group; /* its target port group */
	uint8_t local_proto;  /* SPC-5 protocol identifier: 5 iSCSI, 6 SAS (tcm_loop) */
};

struct scsi_lun_params {
	uint32_t block_size; /* logical block size: 512 or 4096 (LIO hw_block_size) */
	uint64_t size;	     /* bytes exported (LIO dev_size); 0 = the node's length */
	/* LIO hw_max_sectors, 0 = none: reported as VPD B0's MAXIMUM TRANSFER LENGTH and
	 * limits COMPARE AND WRITE.  Longer READ/WRITE/VERIFY are served all the same, as
	 * LIO's own backstores do (initiators such as libiscsi's tests ignore B0 over
	 * iSCSI, and the kernel has already placed the data in the ring). */
	uint32_t max_sectors;
	const char *vendor;    /* T10 vendor id (8 chars), NULL = "LIO-ORG" */
	const char *product;   /* product id (16 chars), NULL = a default */
	const char *revision;  /* 4 chars, NULL = a default */
	const char *cfgstring; /* for VPD 0x83's vendor-specific designator (may be NULL) */
	/* The unit serial (VPD 0x80, NAA in 0x83).  LIO writes wwn/vpd_unit_serial after
	 * the device is enabled, so it is fetched when asked; NULL = none.  Called in the
	 * loop thread and, for EXTENDED COPY, on a pool thread: it must be thread-safe. */
	int (*get_serial)(void *opaque, char *buf, size_t len);
	void *serial_opaque;
	/* The ALUA target port groups (INQUIRY TPGS, REPORT TARGET PORT GROUPS, VPD 0x83's
	 * port designators), fetched when asked, like the serial: 0, or -errno when the
	 * device has none (then TPGS is 0 and RTPG is not offered).  NULL: never.  Called
	 * with @serial_opaque; thread-safe. */
	int (*get_alua)(void *opaque, struct scsi_alua *out);
	bool read_only; /* write-protect even when the node is writable */
};

/* Create a LUN over @bs (borrowed; it must outlive the LUN).  The LUN owns the node's
 * attachment to @ctx: it attaches @bs (blk_attach_ctx) here, once, and scsi_lun_free()
 * detaches it; transports do not touch the node.  -EINVAL for a block size other than
 * 512, 1024, 2048 or 4096. */
int scsi_lun_new(struct blk_node *bs, const struct scsi_lun_params *p, struct aio_ctx *ctx,
		 struct scsi_lun **out, struct err *err);
/* No command may be in flight. NULL is a no-op. */
void scsi_lun_free(struct scsi_lun *lun);

/* Execute @cmd; done() reports the result. */
void scsi_lun_submit(struct scsi_lun *lun, struct scsi_cmd *cmd);

/* Commands submitted and not yet done. */
unsigned int scsi_lun_inflight(const struct scsi_lun *lun);

/* The capacity changed (LIO dev_size reconfig): raise UNIT ATTENTION CAPACITY DATA HAS
 * CHANGED (06/2A09) on the next command other than INQUIRY/REQUEST SENSE/REPORT LUNS. */
void scsi_lun_set_size(struct scsi_lun *lun, uint64_t bytes);
/* The write cache changed (LIO emulate_write_cache reconfig, or MODE SELECT); also sets
 * the node's (blk_set_write_cache).  With the cache off every write is FUA. */
void scsi_lun_set_write_cache(struct scsi_lun *lun, bool wce);
bool scsi_lun_write_cache(const struct scsi_lun *lun);
/* Make the node's written data stable (blk_flush; blocking): before the device goes
 * away or its node is replaced.  0 or -errno. */
int scsi_lun_flush(struct scsi_lun *lun);
/* The node the LUN serves (borrowed). */
struct blk_node *scsi_lun_node(const struct scsi_lun *lun);
/* Replace the block node (config-string reconfig).  No command may be in flight.  @bs is
 * attached to the LUN's loop first: if that fails, the old node stays and -errno is
 * returned.  Then the old node is detached (the caller flushed it before and closes it
 * after); capacity (if params.size was 0) and write protection follow. */
int scsi_lun_set_node(struct scsi_lun *lun, struct blk_node *bs);

/* Helpers for transports: the CDB length the opcode's group implies (6, 10, 12, 16, or
 * 8 + additional length for 0x7f), 0 when it cannot be known from @cdb. */
unsigned int scsi_cdb_length(const uint8_t *cdb);
/* Build a CHECK CONDITION with fixed-format sense into @cmd (for transport errors). */
void scsi_cmd_set_sense(struct scsi_cmd *cmd, uint8_t key, uint8_t asc, uint8_t ascq);
/* Fail @cmd, which the transport answers itself instead of submitting it (a malformed
 * ring entry, no memory for it): the status of @reason (BUSY, CHECK CONDITION) with its
 * fixed-format sense, no Data-In.  done() is not called; the LUN is not involved. */
void scsi_cmd_fail(struct scsi_cmd *cmd, enum scsi_sense reason);

#endif
