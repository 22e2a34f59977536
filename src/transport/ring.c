/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The TCMU command ring protocol (see ring.h and the kernel's tcmu-design.rst). */
#include "ring.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcmu-uapi.h"
#include "util/bytes.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/log.h"

#define MB_HEAD_OFF offsetof(struct tcmu_mailbox, cmd_head)
#define MB_TAIL_OFF offsetof(struct tcmu_mailbox, cmd_tail)
#define ENT_HDR_SIZE sizeof(struct tcmu_cmd_entry_hdr)
#define ENT_ID_OFF offsetof(struct tcmu_cmd_entry_hdr, cmd_id)
#define ENT_UFLAGS_OFF offsetof(struct tcmu_cmd_entry_hdr, uflags)
#define ENT_IOV_OFF offsetof(struct tcmu_cmd_entry, req.iov)
#define ENT_STATUS_OFF offsetof(struct tcmu_cmd_entry, rsp.scsi_status)
#define ENT_READ_LEN_OFF offsetof(struct tcmu_cmd_entry, rsp.read_len)
#define ENT_SENSE_OFF offsetof(struct tcmu_cmd_entry, rsp.sense_buffer)
#define TMR_IDS_OFF offsetof(struct tcmu_tmr_entry, cmd_ids)
#define IOV_SIZE 16u /* struct iovec in the ring: u64 offset + u64 length */
#define SAM_CHECK_CONDITION 0x02

_Static_assert(RING_MB_CAP_OOOC == TCMU_MAILBOX_FLAG_CAP_OOOC, "mailbox flags");
_Static_assert(RING_MB_CAP_READ_LEN == TCMU_MAILBOX_FLAG_CAP_READ_LEN, "mailbox flags");
_Static_assert(RING_MB_CAP_TMR == TCMU_MAILBOX_FLAG_CAP_TMR, "mailbox flags");
_Static_assert(RING_UFLAG_UNKNOWN_OP == TCMU_UFLAG_UNKNOWN_OP, "uflags");
_Static_assert(RING_UFLAG_READ_LEN == TCMU_UFLAG_READ_LEN, "uflags");
_Static_assert(RING_SENSE_SIZE == TCMU_SENSE_BUFFERSIZE, "sense size");

static uint32_t *mb_word(const struct ring *r, size_t off)
{
	return (uint32_t *)(void *)(r->map + off);
}

PRINTF_FMT(2, 3) static int ring_break(struct ring *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->broken) {
		va_start(ap, fmt);
		vsnprintf(r->error, sizeof(r->error), fmt, ap);
		va_end(ap);
		r->broken = true;
		log_err("ring: %s; no further commands are read", r->error);
	}
	return -EIO;
}

int ring_init(struct ring *r, void *map, size_t map_size, int fd, struct err *err)
{
	const uint8_t *mb = map;
	uint32_t off, size, tail;
	uint16_t version;

	memset(r, 0, sizeof(*r));
	if (map_size < sizeof(struct tcmu_mailbox))
		return err_set(err, -EINVAL, "ring: mapping of %zu bytes has no room for a mailbox",
			       map_size);
	version = get_ne16(mb + offsetof(struct tcmu_mailbox, version));
	if (version != TCMU_MAILBOX_VERSION)
		return err_set(err, -EPROTONOSUPPORT, "ring: mailbox version %u, expected %u",
			       version, TCMU_MAILBOX_VERSION);
	off = get_ne32(mb + offsetof(struct tcmu_mailbox, cmdr_off));
	size = get_ne32(mb + offsetof(struct tcmu_mailbox, cmdr_size));
	if (off < sizeof(struct tcmu_mailbox) || off % TCMU_OP_ALIGN_SIZE ||
	    size < 2 * sizeof(struct tcmu_cmd_entry) || size % TCMU_OP_ALIGN_SIZE ||
	    (uint64_t)off + size > map_size)
		return err_set(err, -EINVAL,
			       "ring: command ring at %u size %u does not fit the %zu-byte mapping",
			       off, size, map_size);
	r->map = map;
	r->map_size = map_size;
	r->fd = fd;
	r->cmdr = r->map + off;
	r->cmdr_size = size;
	r->data_off = (uint64_t)off + size;
	r->mb_flags = get_ne16(mb + offsetof(struct tcmu_mailbox, flags));
	tail = __atomic_load_n(mb_word(r, MB_TAIL_OFF), __ATOMIC_ACQUIRE);
	if (tail >= size || tail % TCMU_OP_ALIGN_SIZE)
		return err_set(err, -EINVAL, "ring: cmd_tail %u is not an entry offset", tail);
	r->cursor = r->tail = r->published = tail;
	if (!(r->mb_flags & TCMU_MAILBOX_FLAG_CAP_OOOC))
		log_warn("ring: kernel does not announce out-of-order completion");
	return 0;
}

static uint32_t ring_next(const struct ring *r, uint32_t pos, uint32_t len)
{
	pos += len;
	return pos == r->cmdr_size ? 0 : pos;
}

static int bad_cmd(struct ring_entry *e, const char *why)
{
	e->kind = RING_ENTRY_BAD;
	e->why = why;
	return 1;
}

static int parse_cmd(const struct ring *r, const uint8_t *ent, uint32_t len, struct ring_entry *e)
{
	uint64_t ent_off = (uint64_t)(ent - r->map), ent_end = ent_off + len;
	uint64_t n, cdb_off;

	e->kind = RING_ENTRY_CMD;
	e->iov_cnt = get_ne32(ent + offsetof(struct tcmu_cmd_entry, req.iov_cnt));
	e->bidi_cnt = get_ne32(ent + offsetof(struct tcmu_cmd_entry, req.iov_bidi_cnt));
	if (get_ne32(ent + offsetof(struct tcmu_cmd_entry, req.iov_dif_cnt)))
		return bad_cmd(e, "DIF iovecs are not supported");
	n = (uint64_t)e->iov_cnt + e->bidi_cnt;
	if (ENT_IOV_OFF + n * IOV_SIZE > len)
		return bad_cmd(e, "iovecs overrun the entry");
	e->iov_raw = ent + ENT_IOV_OFF;
	cdb_off = get_ne64(ent + offsetof(struct tcmu_cmd_entry, req.cdb_off));
	if (cdb_off < ent_off + ENT_IOV_OFF + n * IOV_SIZE || cdb_off >= ent_end)
		return bad_cmd(e, "CDB outside the entry");
	e->cdb = r->map + cdb_off;
	e->cdb_avail = (uint32_t)(ent_end - cdb_off);
	return 1;
}

/* 1: a TMR to report; 0: a malformed one, skipped (TMRs need no response). */
static int parse_tmr(const uint8_t *ent, uint32_t len, struct ring_entry *e)
{
	if (len < TMR_IDS_OFF) {
		log_warn("ring: TMR entry of %u bytes skipped", len);
		return 0;
	}
	e->kind = RING_ENTRY_TMR;
	e->tmr_type = ent[offsetof(struct tcmu_tmr_entry, tmr_type)];
	e->tmr_cnt = get_ne32(ent + offsetof(struct tcmu_tmr_entry, cmd_cnt));
	if (e->tmr_cnt > (len - TMR_IDS_OFF) / sizeof(uint16_t)) {
		log_warn("ring: TMR entry lists %u ids in %u bytes; skipped", e->tmr_cnt, len);
		return 0;
	}
	e->tmr_ids = ent + TMR_IDS_OFF;
	return 1;
}

static uint32_t ring_dist(const struct ring *r, uint32_t from, uint32_t to)
{
	return to >= from ? to - from : r->cmdr_size - from + to;
}

/*
 * action/reset_ring zeroes head and tail (and fails what was in the ring): the only way
 * cmd_tail changes behind our back, and the only way cmd_head can fall behind our cursor.
 * Start over at the new tail.  (A reset is meant for a daemon that starts; one done
 * under a live daemon whose tail was 0 is seen only once head is behind the cursor.)
 */
static void check_reset(struct ring *r)
{
	uint32_t tail = __atomic_load_n(mb_word(r, MB_TAIL_OFF), __ATOMIC_ACQUIRE);
	uint32_t head = __atomic_load_n(mb_word(r, MB_HEAD_OFF), __ATOMIC_ACQUIRE);

	if (tail == r->published &&
	    (head >= r->cmdr_size || ring_dist(r, tail, head) >= ring_dist(r, tail, r->cursor)))
		return;
	log_warn("ring: reset by the kernel (cmd_tail %u, ours %u); commands in flight are "
		 "forgotten",
		 tail, r->published);
	if (tail >= r->cmdr_size || tail % TCMU_OP_ALIGN_SIZE) {
		ring_break(r, "cmd_tail %u is not an entry offset", tail);
		return;
	}
	r->cursor = r->tail = r->published = tail;
	r->broken = false;
	r->gen++;
}

bool ring_has_entries(const struct ring *r)
{
	return !r->broken &&
	       __atomic_load_n(mb_word(r, MB_HEAD_OFF), __ATOMIC_ACQUIRE) != r->cursor;
}

int ring_fetch(struct ring *r, struct ring_entry *e)
{
	check_reset(r);
	for (;;) {
		uint32_t head, avail, len_op, len, op, pos = r->cursor;
		const uint8_t *ent;
		int ret = 1;

		if (r->broken)
			return -EIO;
		head = __atomic_load_n(mb_word(r, MB_HEAD_OFF), __ATOMIC_ACQUIRE);
		if (head >= r->cmdr_size || head % TCMU_OP_ALIGN_SIZE)
			return ring_break(r, "cmd_head %u is not an offset in the %u-byte ring",
					  head, r->cmdr_size);
		if (head == pos)
			return 0;
		/* entries never wrap: the kernel pads to the end of the ring first */
		avail = head > pos ? head - pos : r->cmdr_size - pos;
		if (avail < ENT_HDR_SIZE)
			return ring_break(r, "entry at %u crosses cmd_head %u", pos, head);
		ent = r->cmdr + pos;
		len_op = get_ne32(ent);
		len = tcmu_hdr_get_len(len_op);
		if (len < ENT_HDR_SIZE || len > avail)
			return ring_break(r, "entry at %u has length %u, %u bytes available", pos,
					  len, avail);
		op = tcmu_hdr_get_op(len_op);
		/* every entry but PAD and TMR is completed into: the response must fit */
		if (op != TCMU_OP_PAD && op != TCMU_OP_TMR && len < sizeof(struct tcmu_cmd_entry))
			return ring_break(r, "entry at %u (op %u) has length %u, below %zu", pos,
					  op, len, sizeof(struct tcmu_cmd_entry));
		memset(e, 0, sizeof(*e));
		e->cmd_id = get_ne16(ent + ENT_ID_OFF);
		switch (op) {
		case TCMU_OP_PAD:
			ret = 0;
			break;
		case TCMU_OP_CMD:
			parse_cmd(r, ent, len, e);
			break;
		case TCMU_OP_TMR:
			ret = parse_tmr(ent, len, e);
			break;
		default:
			e->kind = RING_ENTRY_UNKNOWN;
			break;
		}
		r->cursor = ring_next(r, pos, len);
		if (ret)
			return 1;
	}
}

int ring_map_iov(const struct ring *r, const void *iov_raw, uint32_t n, struct iovec *dst,
		 uint64_t *total)
{
	const uint8_t *p = iov_raw;
	uint64_t sum = 0;

	for (uint32_t i = 0; i < n; i++, p += IOV_SIZE) {
		uint64_t base = get_ne64(p), len = get_ne64(p + 8);

		if (base < r->data_off || base > r->map_size || len > r->map_size - base)
			return -EINVAL;
		dst[i].iov_base = r->map + base;
		dst[i].iov_len = (size_t)len;
		sum += len;
	}
	*total = sum;
	return 0;
}

uint16_t ring_tmr_id(const struct ring_entry *e, uint32_t i)
{
	return get_ne16((const uint8_t *)e->tmr_ids + (size_t)i * sizeof(uint16_t));
}

/* Move the tail over fetched PAD and TMR entries (the kernel skips them too). */
static void skip_noncmd(struct ring *r)
{
	while (r->tail != r->cursor) {
		uint32_t len_op = get_ne32(r->cmdr + r->tail);
		enum tcmu_opcode op = tcmu_hdr_get_op(len_op);

		if (op != TCMU_OP_PAD && op != TCMU_OP_TMR)
			break;
		r->tail = ring_next(r, r->tail, tcmu_hdr_get_len(len_op));
	}
}

int ring_complete(struct ring *r, const struct ring_rsp *rsp)
{
	uint8_t *ent;
	uint32_t len;

	skip_noncmd(r);
	if (r->tail == r->cursor) {
		ring_break(r, "completion of cmd_id %u with no fetched command left", rsp->cmd_id);
		return -EPROTO;
	}
	ent = r->cmdr + r->tail;
	len = tcmu_hdr_get_len(get_ne32(ent));
	/* the response overlays the request, which the caller copied out at fetch */
	memcpy(ent + ENT_ID_OFF, &rsp->cmd_id, sizeof(rsp->cmd_id));
	ent[ENT_UFLAGS_OFF] = rsp->uflags;
	memset(ent + ENT_STATUS_OFF, 0, ENT_SENSE_OFF - ENT_STATUS_OFF);
	ent[ENT_STATUS_OFF] = rsp->status;
	if (rsp->uflags & RING_UFLAG_READ_LEN)
		memcpy(ent + ENT_READ_LEN_OFF, &rsp->read_len, sizeof(rsp->read_len));
	if (rsp->status == SAM_CHECK_CONDITION) {
		uint32_t n = MIN(rsp->sense_len, (uint32_t)RING_SENSE_SIZE);

		if (n)
			memcpy(ent + ENT_SENSE_OFF, rsp->sense, n);
		memset(ent + ENT_SENSE_OFF + n, 0, RING_SENSE_SIZE - n);
	}
	r->tail = ring_next(r, r->tail, len);
	skip_noncmd(r);
	return 0;
}

int ring_kick(struct ring *r)
{
	uint32_t v = 0;

	skip_noncmd(r);
	if (r->tail == r->published)
		return 0;
	__atomic_store_n(mb_word(r, MB_TAIL_OFF), r->tail, __ATOMIC_RELEASE);
	r->published = r->tail;
	/* UIO: any 4-byte write runs the kernel's completion handler */
	if (write(r->fd, &v, sizeof(v)) != (ssize_t)sizeof(v) && errno != EAGAIN)
		return -errno;
	return 1;
}

uint32_t ring_pending_bytes(const struct ring *r)
{
	return ring_dist(r, r->tail, r->cursor);
}
