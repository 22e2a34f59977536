/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ring simulator: the kernel's side of target_core_user in userspace (see sim.h). */
#include "sim.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcmu-uapi.h"
#include "util/bytes.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/log.h"

#define SIM_PAGE 4096u
#define SIM_MAX_IDS 65536u
#define CMDR_OFF ((uint32_t)sizeof(struct tcmu_mailbox))
#define ENT_BASE_MIN ((uint32_t)sizeof(struct tcmu_cmd_entry))
#define ENT_IOV_OFF ((uint32_t)offsetof(struct tcmu_cmd_entry, req.iov))
#define TMR_IDS_OFF ((uint32_t)offsetof(struct tcmu_tmr_entry, cmd_ids))
#define IOV_SIZE 16u

#define SAM_GOOD 0x00
#define SAM_CHECK_CONDITION 0x02
#define SAM_BUSY 0x08

struct sim {
	struct sim_params p;
	int memfd;
	uint8_t *kmap; /* the kernel's view */
	uint8_t *dmap; /* the daemon's view */
	size_t map_size;
	int kfd, dfd; /* socketpair: kernel end, daemon end */
	uint8_t *cmdr;
	uint32_t cmdr_size;
	uint32_t data_off;
	uint32_t nblocks, blocks_used;
	uint8_t *block_used;
	uint32_t *order;      /* allocation order of data blocks (identity or scrambled) */
	uint32_t *shadow;     /* len_op of the entry at each 8-byte ring slot, as written */
	struct sim_cmd **ids; /* cmd id -> command in the ring */
	unsigned int inflight;
	uint32_t last_cleaned;
	bool broken, blocked, notify_pending;
	int plugged;
	char error[160];
	struct sim_stats st;
};

static uint32_t *mb_word(const struct sim *s, size_t off)
{
	return (uint32_t *)(void *)(s->kmap + off);
}

static uint32_t mb_head(const struct sim *s)
{
	return *mb_word(s, offsetof(struct tcmu_mailbox, cmd_head));
}

static void set_head(struct sim *s, uint32_t head)
{
	__atomic_store_n(mb_word(s, offsetof(struct tcmu_mailbox, cmd_head)), head,
			 __ATOMIC_RELEASE);
}

PRINTF_FMT(2, 3) static int sim_break(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->broken) {
		va_start(ap, fmt);
		vsnprintf(s->error, sizeof(s->error), fmt, ap);
		va_end(ap);
		s->broken = true;
		log_debug("sim", "ring broken: %s", s->error);
	}
	return -EIO;
}

unsigned int sim_cdb_len(const uint8_t *cdb)
{
	static const uint8_t group_len[8] = { 6, 10, 10, 12, 16, 12, 10, 10 };

	if (cdb[0] == 0x7f)
		return 8u + cdb[7];
	return group_len[(cdb[0] >> 5) & 7];
}

/* ---- setup ------------------------------------------------------------------------ */

static int check_params(struct sim_params *p, struct err *err)
{
	if (!p->ring_size)
		p->ring_size = 8u << 20;
	if (!p->data_size)
		p->data_size = 8u << 20;
	if (!p->block_size)
		p->block_size = SIM_PAGE;
	if (!p->mb_flags)
		p->mb_flags = TCMU_MAILBOX_FLAG_CAP_OOOC | TCMU_MAILBOX_FLAG_CAP_READ_LEN |
			      TCMU_MAILBOX_FLAG_CAP_TMR | TCMU_MAILBOX_FLAG_CAP_KEEP_BUF;
	if (p->ring_size % SIM_PAGE || p->ring_size > (8u << 20))
		return err_set(err, -EINVAL,
			       "sim: ring size %u is not a multiple of 4 KiB up to 8 MiB",
			       p->ring_size);
	if (p->block_size % SIM_PAGE || p->data_size % p->block_size || !p->data_size)
		return err_set(err, -EINVAL, "sim: data area %u is not whole blocks of %u",
			       p->data_size, p->block_size);
	return 0;
}

static void scramble_order(struct sim *s)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (uint32_t i = 0; i < s->nblocks; i++)
		s->order[i] = i;
	if (!s->p.scatter)
		return;
	for (uint32_t i = s->nblocks; i > 1; i--) {
		uint32_t j, t;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		j = (uint32_t)((x >> 33) % i);
		t = s->order[i - 1];
		s->order[i - 1] = s->order[j];
		s->order[j] = t;
	}
}

static void protect_block(struct sim *s, uint32_t dbi, bool owned)
{
	if (s->p.strict && s->dmap)
		mprotect(s->dmap + s->data_off + (size_t)dbi * s->p.block_size, s->p.block_size,
			 owned ? PROT_READ | PROT_WRITE : PROT_NONE);
}

static int open_daemon_side(struct sim *s, struct err *err)
{
	int sv[2];

	s->dmap = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->dmap == MAP_FAILED) {
		s->dmap = NULL;
		return err_set_errno(err, -errno, "sim: mmap");
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set_errno(err, -errno, "sim: socketpair");
	s->kfd = sv[0];
	s->dfd = sv[1];
	if (s->p.strict) {
		mprotect(s->dmap + s->data_off, s->p.data_size, PROT_NONE);
		for (uint16_t id = 1; id != 0; id++)
			if (s->ids[id])
				for (uint32_t i = 0; i < s->ids[id]->ndbi; i++)
					protect_block(s, s->ids[id]->dbi[i], true);
	}
	return 0;
}

static void close_daemon_side(struct sim *s)
{
	if (s->dmap)
		munmap(s->dmap, s->map_size);
	s->dmap = NULL;
	if (s->kfd >= 0)
		close(s->kfd);
	if (s->dfd >= 0)
		close(s->dfd);
	s->kfd = s->dfd = -1;
}

static void init_mailbox(struct sim *s)
{
	struct tcmu_mailbox mb = { 0 };

	mb.version = TCMU_MAILBOX_VERSION;
	mb.flags = s->p.mb_flags;
	mb.cmdr_off = CMDR_OFF;
	mb.cmdr_size = s->cmdr_size;
	memcpy(s->kmap, &mb, sizeof(mb));
}

int sim_new(const struct sim_params *params, struct sim **out, struct err *err)
{
	struct sim *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return err_set(err, -ENOMEM, "sim: out of memory");
	s->p = params ? *params : (struct sim_params){ 0 };
	s->memfd = s->kfd = s->dfd = -1;
	r = check_params(&s->p, err);
	if (r < 0)
		goto fail;
	s->cmdr_size = s->p.ring_size - CMDR_OFF;
	s->data_off = s->p.ring_size;
	s->map_size = (size_t)s->p.ring_size + s->p.data_size;
	s->nblocks = s->p.data_size / s->p.block_size;
	s->block_used = calloc(s->nblocks, 1);
	s->order = calloc(s->nblocks, sizeof(*s->order));
	s->shadow = calloc(s->cmdr_size / 8, sizeof(*s->shadow));
	s->ids = calloc(SIM_MAX_IDS, sizeof(*s->ids));
	if (!s->block_used || !s->order || !s->shadow || !s->ids) {
		r = err_set(err, -ENOMEM, "sim: out of memory");
		goto fail;
	}
	scramble_order(s);
	s->memfd = memfd_create("qemu-tcmu-sim", MFD_CLOEXEC);
	if (s->memfd < 0 || ftruncate(s->memfd, (off_t)s->map_size) < 0) {
		r = err_set_errno(err, -errno, "sim: memfd");
		goto fail;
	}
	s->kmap = mmap(NULL, s->map_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->kmap == MAP_FAILED) {
		s->kmap = NULL;
		r = err_set_errno(err, -errno, "sim: mmap");
		goto fail;
	}
	s->cmdr = s->kmap + CMDR_OFF;
	init_mailbox(s);
	r = open_daemon_side(s, err);
	if (r < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	sim_free(s);
	return r;
}

void sim_free(struct sim *s)
{
	if (!s)
		return;
	close_daemon_side(s);
	if (s->kmap)
		munmap(s->kmap, s->map_size);
	if (s->memfd >= 0)
		close(s->memfd);
	free(s->block_used);
	free(s->order);
	free(s->shadow);
	free(s->ids);
	free(s);
}

void sim_daemon_map(const struct sim *s, void **map, size_t *size)
{
	*map = s->dmap;
	*size = s->map_size;
}

int sim_daemon_fd(const struct sim *s)
{
	return s->dfd;
}

int sim_reopen(struct sim *s, struct err *err)
{
	close_daemon_side(s);
	return open_daemon_side(s, err);
}

/* ---- queueing commands (queue_cmd_ring) ------------------------------------------- */

static void kernel_complete(struct sim_cmd *c, uint8_t status, uint8_t key, uint8_t asc)
{
	c->status = status;
	memset(c->sense, 0, sizeof(c->sense));
	if (status == SAM_CHECK_CONDITION) {
		c->sense[0] = 0x70;
		c->sense[2] = key;
		c->sense[7] = 0x0a;
		c->sense[12] = asc;
	}
	c->xfer_len = 0;
	c->read_len_valid = false;
	c->by_kernel = true;
	c->done = true;
}

static void notify(struct sim *s)
{
	uint32_t v = 1;

	if (s->p.no_notify)
		return;
	if (s->plugged) {
		s->notify_pending = true;
		return;
	}
	/* a full socket already holds a wake-up, as UIO's event count would */
	if (write(s->kfd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		s->st.notifies++;
}

void sim_plug(struct sim *s)
{
	s->plugged++;
}

void sim_unplug(struct sim *s)
{
	if (s->plugged && !--s->plugged && s->notify_pending) {
		s->notify_pending = false;
		notify(s);
	}
}

static void free_blocks(struct sim *s, struct sim_cmd *c)
{
	uint32_t n = c->ndbi + c->ndbi_bidi;

	for (uint32_t i = 0; i < n; i++) {
		s->block_used[c->dbi[i]] = 0;
		protect_block(s, c->dbi[i], false);
	}
	s->blocks_used -= n;
	c->ndbi = c->ndbi_bidi = 0;
}

/* Take @nblk lowest free blocks (in allocation order). */
static int alloc_blocks(struct sim *s, struct sim_cmd *c, uint32_t nblk)
{
	uint32_t got = 0;

	if (s->nblocks - s->blocks_used < nblk)
		return -EAGAIN;
	if (c->dbi_cap < nblk) {
		uint32_t *p = realloc(c->dbi, nblk * sizeof(*p));

		if (!p)
			return -ENOMEM;
		c->dbi = p;
		c->dbi_cap = nblk;
	}
	for (uint32_t i = 0; got < nblk; i++) {
		uint32_t dbi = s->order[i];

		if (s->block_used[dbi])
			continue;
		s->block_used[dbi] = 1;
		protect_block(s, dbi, true);
		c->dbi[got++] = dbi;
	}
	s->blocks_used += nblk;
	return 0;
}

/* Contiguous blocks share one iovec (new_block_to_iov). */
static uint32_t count_iovs(const uint32_t *dbi, uint32_t n)
{
	uint32_t cnt = 0;

	for (uint32_t i = 0; i < n; i++)
		if (i == 0 || dbi[i] != dbi[i - 1] + 1)
			cnt++;
	return cnt;
}

static uint8_t *write_iovs(struct sim *s, uint8_t *iov, const uint32_t *dbi, uint32_t n,
			   uint32_t len)
{
	uint8_t *cur = NULL;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t chunk = MIN(len, s->p.block_size);

		if (!cur || dbi[i] != dbi[i - 1] + 1) {
			cur = cur ? cur + IOV_SIZE : iov;
			put_ne64(cur, (uint64_t)s->data_off + (uint64_t)dbi[i] * s->p.block_size);
			put_ne64(cur + 8, 0);
		}
		put_ne64(cur + 8, get_ne64(cur + 8) + chunk);
		len -= chunk;
	}
	return cur ? cur + IOV_SIZE : iov;
}

static void copy_blocks(struct sim *s, const uint32_t *dbi, void *buf, uint32_t len, bool to_ring)
{
	uint8_t *b = buf;

	for (uint32_t i = 0; len; i++) {
		uint32_t chunk = MIN(len, s->p.block_size);
		uint8_t *blk = s->kmap + s->data_off + (size_t)dbi[i] * s->p.block_size;

		if (to_ring)
			memcpy(blk, b, chunk);
		else
			memcpy(b, blk, chunk);
		b += chunk;
		len -= chunk;
	}
}

static uint32_t spc_free(const struct sim *s, uint32_t head)
{
	uint32_t used = head >= s->last_cleaned ? head - s->last_cleaned
						: s->cmdr_size - s->last_cleaned + head;

	return s->cmdr_size - used - 1; /* one byte kept free: full != empty */
}

static bool ring_space(const struct sim *s, uint32_t size)
{
	uint32_t head = mb_head(s), to_end = s->cmdr_size - head;

	return spc_free(s, head) >= (to_end >= size ? size : size + to_end);
}

static void set_shadow(struct sim *s, uint32_t pos, uint32_t len_op)
{
	s->shadow[pos / 8] = len_op;
}

/* ring_insert_padding: returns the head where the entry goes. */
static uint32_t insert_padding(struct sim *s, uint32_t size)
{
	uint32_t head = mb_head(s), pad = s->cmdr_size - head;

	if (pad < size) {
		uint8_t *ent = s->cmdr + head;
		uint32_t len_op = pad | TCMU_OP_PAD;

		memset(ent, 0, sizeof(struct tcmu_cmd_entry_hdr));
		put_ne32(ent, len_op);
		set_shadow(s, head, len_op);
		set_head(s, 0);
		s->st.pads++;
		head = 0;
	}
	return head;
}

static uint16_t alloc_id(struct sim *s)
{
	for (uint32_t id = 1; id < SIM_MAX_IDS; id++)
		if (!s->ids[id])
			return (uint16_t)id;
	return 0;
}

static void place_cmd(struct sim *s, struct sim_cmd *c, uint32_t cdb_len, uint32_t niov,
		      uint32_t niov_bidi, uint32_t base, uint32_t size)
{
	uint32_t head = insert_padding(s, size);
	uint8_t *ent = s->cmdr + head, *iov;
	uint32_t len_op = size | TCMU_OP_CMD;
	uint64_t cdb_off = (uint64_t)CMDR_OFF + head + base;

	memset(ent, 0, size);
	put_ne32(ent, len_op);
	memcpy(ent + offsetof(struct tcmu_cmd_entry_hdr, cmd_id), &c->cmd_id, sizeof(c->cmd_id));
	put_ne32(ent + offsetof(struct tcmu_cmd_entry, req.iov_cnt), niov);
	put_ne32(ent + offsetof(struct tcmu_cmd_entry, req.iov_bidi_cnt), niov_bidi);
	iov = write_iovs(s, ent + ENT_IOV_OFF, c->dbi, c->ndbi, c->len);
	write_iovs(s, iov, c->dbi + c->ndbi, c->ndbi_bidi, c->bidi_len);
	put_ne64(ent + offsetof(struct tcmu_cmd_entry, req.cdb_off), cdb_off);
	memcpy(s->kmap + cdb_off, c->cdb, cdb_len);
	set_shadow(s, head, len_op);
	set_head(s, (head + size) % s->cmdr_size);
}

int sim_submit(struct sim *s, struct sim_cmd *c)
{
	uint32_t cdb_len = sim_cdb_len(c->cdb), bs = s->p.block_size;
	uint32_t len = c->dir == SIM_DIR_NONE ? 0 : c->len;
	uint32_t bidi = c->dir == SIM_DIR_BIDI ? c->bidi_len : 0;
	uint32_t nblk = DIV_ROUND_UP(len, bs), nblk_bidi = DIV_ROUND_UP(bidi, bs);
	uint32_t niov, niov_bidi, base, size;
	uint16_t id;
	int r;

	c->done = c->by_kernel = false;
	if (s->blocked) {
		kernel_complete(c, SAM_BUSY, 0, 0);
		return 0;
	}
	if (s->broken) { /* LOGICAL UNIT COMMUNICATION FAILURE */
		kernel_complete(c, SAM_CHECK_CONDITION, 0x02, 0x08);
		return 0;
	}
	if ((uint64_t)nblk + nblk_bidi > s->nblocks) { /* INVALID FIELD IN CDB */
		kernel_complete(c, SAM_CHECK_CONDITION, 0x05, 0x24);
		return 0;
	}
	r = alloc_blocks(s, c, nblk + nblk_bidi);
	if (r < 0)
		return r;
	c->ndbi = nblk;
	c->ndbi_bidi = nblk_bidi;
	niov = count_iovs(c->dbi, nblk);
	niov_bidi = count_iovs(c->dbi + nblk, nblk_bidi);
	base = MAX(ENT_IOV_OFF + (niov + niov_bidi) * IOV_SIZE, ENT_BASE_MIN);
	size = base + ALIGN_UP(cdb_len, 8u);
	if (size > s->cmdr_size / 2) {
		free_blocks(s, c);
		kernel_complete(c, SAM_CHECK_CONDITION, 0x05, 0x24);
		return 0;
	}
	id = ring_space(s, size) ? alloc_id(s) : 0;
	if (!id) {
		free_blocks(s, c);
		return -EAGAIN;
	}
	c->cmd_id = id;
	s->ids[id] = c;
	s->inflight++;
	if (c->dir == SIM_DIR_WRITE || c->dir == SIM_DIR_BIDI)
		copy_blocks(s, c->dbi, c->buf, len, true);
	place_cmd(s, c, cdb_len, niov, niov_bidi, base, size);
	s->st.cmds++;
	notify(s);
	return 0;
}

/* ---- completions (tcmu_handle_completions) ---------------------------------------- */

static int complete_one(struct sim *s, struct sim_cmd *c, const uint8_t *ent)
{
	const struct tcmu_cmd_entry *e = (const void *)ent;
	uint8_t uflags = e->hdr.uflags;
	uint32_t read_len = c->dir == SIM_DIR_READ ? c->len : 0;

	if (uflags & TCMU_UFLAG_KEEP_BUF)
		return sim_break(s, "cmd_id %u completed with KEEP_BUF, which nobody asked for",
				 c->cmd_id);
	c->status = e->rsp.scsi_status;
	c->read_len_valid = false;
	memset(c->sense, 0, sizeof(c->sense));
	if (uflags & TCMU_UFLAG_UNKNOWN_OP) {
		c->status = SAM_CHECK_CONDITION;
		read_len = 0;
	} else {
		if (c->dir == SIM_DIR_READ && (uflags & TCMU_UFLAG_READ_LEN) && e->rsp.read_len) {
			c->read_len_valid = true;
			read_len = MIN(read_len, e->rsp.read_len);
		}
		if (c->status == SAM_CHECK_CONDITION) {
			memcpy(c->sense, e->rsp.sense_buffer, sizeof(c->sense));
			if (!c->read_len_valid)
				read_len = 0;
		}
		if (c->dir == SIM_DIR_READ)
			copy_blocks(s, c->dbi, c->buf, read_len, false);
		else if (c->dir == SIM_DIR_BIDI && c->status != SAM_CHECK_CONDITION)
			copy_blocks(s, c->dbi + c->ndbi, c->bidi_buf, c->bidi_len, false);
	}
	c->xfer_len = read_len;
	free_blocks(s, c);
	s->ids[c->cmd_id] = NULL;
	s->inflight--;
	c->cmd_id = 0;
	c->done = true;
	s->st.completions++;
	return 0;
}

static uint32_t ring_dist(const struct sim *s, uint32_t from, uint32_t to)
{
	return to >= from ? to - from : s->cmdr_size - from + to;
}

static int handle_completions(struct sim *s)
{
	uint32_t tail, head = mb_head(s);
	int n = 0;

	if (s->broken)
		return -EIO;
	tail = __atomic_load_n(mb_word(s, offsetof(struct tcmu_mailbox, cmd_tail)),
			       __ATOMIC_ACQUIRE);
	if (tail >= s->cmdr_size || tail % 8)
		return sim_break(s, "cmd_tail %u is not an offset in the ring", tail);
	if (ring_dist(s, s->last_cleaned, tail) > ring_dist(s, s->last_cleaned, head))
		return sim_break(s, "cmd_tail %u is beyond cmd_head %u", tail, head);
	while (s->last_cleaned != tail) {
		uint32_t pos = s->last_cleaned;
		const uint8_t *ent = s->cmdr + pos;
		uint32_t len_op = get_ne32(ent), len = tcmu_hdr_get_len(len_op);
		struct sim_cmd *c;
		uint16_t id;

		if (len_op != s->shadow[pos / 8])
			return sim_break(s, "entry header at %u was changed by userspace", pos);
		if (len > ring_dist(s, pos, tail))
			return sim_break(s, "cmd_tail %u is inside the entry at %u", tail, pos);
		s->last_cleaned = (pos + len) % s->cmdr_size;
		if (tcmu_hdr_get_op(len_op) == TCMU_OP_PAD ||
		    tcmu_hdr_get_op(len_op) == TCMU_OP_TMR)
			continue;
		memcpy(&id, ent + offsetof(struct tcmu_cmd_entry_hdr, cmd_id), sizeof(id));
		c = s->ids[id];
		if (!c)
			return sim_break(s, "cmd_id %u not found, ring is broken", id);
		if (complete_one(s, c, ent) < 0)
			return -EIO;
		n++;
	}
	return n;
}

int sim_reap(struct sim *s)
{
	return handle_completions(s);
}

int sim_poll(struct sim *s, int timeout_ms)
{
	struct pollfd pfd = { .fd = s->kfd, .events = POLLIN };
	uint32_t buf[4];
	ssize_t n;
	int r;

	if (s->broken)
		return -EIO;
	r = poll(&pfd, 1, timeout_ms);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	while ((n = read(s->kfd, buf, sizeof(buf))) > 0) {
		if (n != 4)
			return sim_break(s, "a kick of %zd bytes (UIO takes exactly 4)", n);
		s->st.kicks++;
	}
	if (n == 0) /* the daemon side is gone */
		return -EPIPE;
	return handle_completions(s);
}

int sim_wait(struct sim *s, struct sim_cmd *c, int timeout_ms)
{
	while (!c->done) {
		int r = sim_poll(s, timeout_ms);

		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- TMR, block, reset -------------------------------------------------------------- */

int sim_tmr(struct sim *s, uint8_t type, struct sim_cmd *const *cmds, unsigned int n)
{
	uint32_t cnt = 0, size, head, len_op;
	uint8_t *ent;

	if (!s->p.tmr_notify || s->broken)
		return 0;
	for (unsigned int i = 0; i < n; i++)
		cnt += cmds[i]->cmd_id && s->ids[cmds[i]->cmd_id] == cmds[i];
	size = ALIGN_UP(TMR_IDS_OFF + 2 * cnt, 8u);
	if (!ring_space(s, size))
		return -EAGAIN;
	head = insert_padding(s, size);
	ent = s->cmdr + head;
	memset(ent, 0, size);
	len_op = size | TCMU_OP_TMR;
	put_ne32(ent, len_op);
	ent[offsetof(struct tcmu_tmr_entry, tmr_type)] = type;
	put_ne32(ent + offsetof(struct tcmu_tmr_entry, cmd_cnt), cnt);
	cnt = 0;
	for (unsigned int i = 0; i < n; i++) {
		if (cmds[i]->cmd_id && s->ids[cmds[i]->cmd_id] == cmds[i]) {
			memcpy(ent + TMR_IDS_OFF + 2 * cnt, &cmds[i]->cmd_id, 2);
			cnt++;
		}
	}
	set_shadow(s, head, len_op);
	set_head(s, (head + size) % s->cmdr_size);
	s->st.tmrs++;
	notify(s);
	return 0;
}

void sim_block(struct sim *s, bool on)
{
	if (on && !s->blocked)
		handle_completions(s);
	s->blocked = on;
}

void sim_reset_ring(struct sim *s, int level)
{
	for (uint32_t id = 1; id < SIM_MAX_IDS; id++) {
		struct sim_cmd *c = s->ids[id];

		if (!c)
			continue;
		free_blocks(s, c);
		s->ids[id] = NULL;
		s->inflight--;
		c->cmd_id = 0;
		if (level == 1)
			kernel_complete(c, SAM_BUSY, 0, 0);
		else /* no sense: target_complete_cmd(CHECK CONDITION) */
			kernel_complete(c, SAM_CHECK_CONDITION, 0, 0);
	}
	s->last_cleaned = 0;
	*mb_word(s, offsetof(struct tcmu_mailbox, cmd_tail)) = 0;
	set_head(s, 0);
	s->broken = false;
	s->error[0] = '\0';
}

bool sim_is_broken(const struct sim *s)
{
	return s->broken;
}

const char *sim_error(const struct sim *s)
{
	return s->error;
}

unsigned int sim_inflight(const struct sim *s)
{
	return s->inflight;
}

const struct sim_stats *sim_stats(const struct sim *s)
{
	return &s->st;
}

void *sim_kernel_map(const struct sim *s)
{
	return s->kmap;
}

uint32_t sim_cmdr_size(const struct sim *s)
{
	return s->cmdr_size;
}
