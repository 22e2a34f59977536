/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The TCMU command ring as userspace sees it (<linux/target_core_user.h>): a mailbox at
 * the start of a shared mapping, a ring of entries the kernel appends at cmd_head, and a
 * data area the entries' iovecs point into.  This module only speaks the protocol; it
 * neither owns the mapping nor knows where it came from (the UIO device or the ring
 * simulator), and it knows nothing of SCSI.
 *
 * Reading: ring_fetch() walks a private cursor from the last fetched entry up to
 * cmd_head (loaded with acquire semantics), skips PAD entries and returns CMD, TMR and
 * unknown-op entries one at a time, each validated against the ring and the mapping.
 * The entry's CDB and iovecs stay readable only until the next ring_complete(): the
 * caller copies what it keeps (ring_map_iov() translates iovecs into pointers).
 *
 * Completing (out of order, the kernel's CAP_OOOC design): ring_complete() writes the
 * response with the command's cmd_id into the CMD entry at our completion tail, whatever
 * command that entry carried ("stealing" it; PAD and TMR entries there are skipped),
 * and advances the tail past it.  ring_kick() publishes the tail with release semantics
 * and tells the kernel with one 4-byte write(); call it once per batch.
 *
 * A malformed entry header means the ring cannot be walked any further: ring_fetch()
 * then returns -EIO and the ring stays broken (ring_error() says why).  A CMD entry
 * whose header is sound but whose body is not (CDB or iovecs outside the entry or the
 * mapping) is returned as RING_ENTRY_BAD so the caller can fail that one command.
 *
 * Not thread-safe: one ring belongs to one event loop.
 */
#ifndef QT_TRANSPORT_RING_H
#define QT_TRANSPORT_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct err;

#define RING_MAX_CDB 260 /* 0x7f variable-length CDBs: 8 + 252 */
#define RING_SENSE_SIZE 96
#define RING_MAX_TMR_IDS 65535

enum ring_entry_kind {
	RING_ENTRY_CMD,	    /* a SCSI command: complete it */
	RING_ENTRY_TMR,	    /* a task management notification: no response */
	RING_ENTRY_UNKNOWN, /* an opcode we do not know: complete with RING_UFLAG_UNKNOWN_OP */
	RING_ENTRY_BAD,	    /* a CMD entry with an invalid body: complete it with an error */
};

struct ring_entry {
	enum ring_entry_kind kind;
	uint16_t cmd_id;
	/* CMD */
	const uint8_t *cdb; /* into the ring */
	uint32_t cdb_avail; /* bytes from cdb to the end of the entry (>= 1) */
	uint32_t iov_cnt, bidi_cnt;
	const void *iov_raw; /* iov_cnt + bidi_cnt struct iovec, offsets, unaligned */
	/* TMR */
	uint8_t tmr_type;
	uint32_t tmr_cnt;
	const void *tmr_ids; /* tmr_cnt little uint16_t cmd ids, unaligned */
	/* BAD */
	const char *why;
};

/* Mailbox capability flags (the uapi's TCMU_MAILBOX_FLAG_CAP_*). */
#define RING_MB_CAP_OOOC 0x1
#define RING_MB_CAP_READ_LEN 0x2
#define RING_MB_CAP_TMR 0x4

/* Response flags (the uapi's TCMU_UFLAG_*). */
#define RING_UFLAG_UNKNOWN_OP 0x1
#define RING_UFLAG_READ_LEN 0x2

struct ring_rsp {
	uint16_t cmd_id;
	uint8_t status;	      /* SCSI status */
	uint8_t uflags;	      /* RING_UFLAG_* */
	uint32_t read_len;    /* with RING_UFLAG_READ_LEN: Data-In bytes produced */
	const uint8_t *sense; /* CHECK CONDITION: sense_len bytes (at most 96) */
	uint32_t sense_len;
};

struct ring {
	uint8_t *map;
	size_t map_size;
	int fd; /* the UIO fd (or the simulator's socket): kicks go there */
	uint8_t *cmdr;
	uint32_t cmdr_size;
	uint64_t data_off; /* where the data area starts in the mapping */
	uint16_t mb_flags;
	uint32_t cursor;    /* next entry to fetch */
	uint32_t tail;	    /* next entry to complete into */
	uint32_t published; /* the tail last stored into the mailbox */
	bool broken;
	uint32_t gen; /* bumped when the kernel reset the ring: older commands are gone */
	char error[128];
};

/* Check the mailbox of @map (version, ring bounds) and start at its cmd_tail.  The
 * mapping and fd stay the caller's. */
int ring_init(struct ring *r, void *map, size_t map_size, int fd, struct err *err);

/* The next entry to handle: 1 and *e filled, 0 when the ring is empty (up to cmd_head),
 * -EIO when it is broken.  A reset by the kernel (action/reset_ring) is noticed here:
 * the ring starts over and r->gen changes; commands fetched before must not be
 * completed (the kernel already failed them). */
int ring_fetch(struct ring *r, struct ring_entry *e);

/* Whether the kernel appended entries past our cursor (a load from the mailbox, no
 * system call: for busy polling).  ring_fetch() still validates them. */
bool ring_has_entries(const struct ring *r);

/* Translate @n raw iovecs of an entry (from e->iov_raw) into pointers into the mapping;
 * -EINVAL if one leaves the data area.  Returns the total length in *total. */
int ring_map_iov(const struct ring *r, const void *iov_raw, uint32_t n, struct iovec *dst,
		 uint64_t *total);
/* The i-th cmd id of a TMR entry. */
uint16_t ring_tmr_id(const struct ring_entry *e, uint32_t i);

/* Write the response into the entry at the tail and advance it.  -EPROTO (and the ring
 * is marked broken) when no fetched command entry is left to complete into: a caller
 * bug, never the kernel's. */
int ring_complete(struct ring *r, const struct ring_rsp *rsp);

/* Publish the tail (release) and, if it moved, write 4 bytes to the fd.  Returns 1 when
 * a kick was sent, 0 when there was nothing new, -errno when write() failed. */
int ring_kick(struct ring *r);

/* Entries fetched and not yet completed into (0 = tail caught up with the cursor). */
uint32_t ring_pending_bytes(const struct ring *r);

static inline bool ring_is_broken(const struct ring *r)
{
	return r->broken;
}

static inline const char *ring_error(const struct ring *r)
{
	return r->error;
}

#endif
