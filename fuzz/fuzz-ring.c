/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the TCMU ring as the daemon reads it (transport/ring.c).  The input
 * is the shared mapping the kernel would have filled: a mailbox (cmd_head, cmd_tail,
 * flags) and the bytes of a small command ring; the data area is a heap buffer of exact
 * size so that any access outside the mapping is caught by ASan.  Every entry is fetched
 * as ring-dev does it (CDB copied with a bounded length, iovecs mapped and touched end
 * to end), and completed in an order the input picks, with kicks in between.
 *
 * Input: u32 head, u32 tail, u16 mailbox flags, u8 completion-order seed, u8 spare,
 * then up to RING bytes of ring content.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scsi/scsi.h"
#include "transport/ring.h"
#include "transport/tcmu-uapi.h"
#include "util/err.h"
#include "util/log.h"

#define MB 128u
#define RING 1024u
#define DATA 4096u
#define MAP (MB + RING + DATA)
#define MAX_IOV 64
#define MAX_PENDING 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int null_fd = -1;

static void touch(struct iovec *iov, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		volatile uint8_t *p = iov[i].iov_base;

		if (!iov[i].iov_len)
			continue;
		p[0] = p[0];
		p[iov[i].iov_len - 1] = p[iov[i].iov_len - 1];
	}
}

static void handle_cmd(struct ring *r, const struct ring_entry *e)
{
	uint8_t cdb[RING_MAX_CDB] = { 0 };
	struct iovec iov[MAX_IOV];
	uint32_t avail = e->cdb_avail < RING_MAX_CDB ? e->cdb_avail : RING_MAX_CDB;
	uint64_t total;
	unsigned int len;

	memcpy(cdb, e->cdb, avail);
	len = scsi_cdb_length(cdb);
	(void)len;
	if (e->iov_cnt + (uint64_t)e->bidi_cnt > MAX_IOV)
		return;
	if (ring_map_iov(r, e->iov_raw, e->iov_cnt + e->bidi_cnt, iov, &total) == 0)
		touch(iov, e->iov_cnt + e->bidi_cnt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *map;
	struct ring r;
	struct ring_entry e;
	struct tcmu_mailbox mb = { 0 };
	uint16_t pending[MAX_PENDING];
	unsigned int npending = 0;
	uint32_t head, tail;
	uint16_t flags;
	uint8_t seed;

	if (size < 12)
		return 0;
	if (null_fd < 0) {
		null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		log_set_level(LOG_LVL_ERR - 1); /* quiet: broken rings are expected here */
	}
	memcpy(&head, data, 4);
	memcpy(&tail, data + 4, 4);
	memcpy(&flags, data + 8, 2);
	seed = data[10];
	map = calloc(1, MAP);
	if (!map)
		return 0;
	memcpy(map + MB, data + 12, size - 12 < RING ? size - 12 : RING);
	mb.version = TCMU_MAILBOX_VERSION;
	mb.flags = flags;
	mb.cmdr_off = MB;
	mb.cmdr_size = RING;
	mb.cmd_head = head % RING;
	mb.cmd_tail = tail % RING & ~7u;
	memcpy(map, &mb, sizeof(mb));
	if (ring_init(&r, map, MAP, null_fd, NULL) < 0)
		goto out;
	for (int rounds = 0; rounds < 64; rounds++) {
		int n = ring_fetch(&r, &e);

		if (n <= 0)
			break;
		if (e.kind == RING_ENTRY_CMD)
			handle_cmd(&r, &e);
		if (e.kind != RING_ENTRY_TMR && npending < MAX_PENDING)
			pending[npending++] = e.cmd_id;
		/* complete some, in an order of the input's choosing */
		while (npending && (seed & 1)) {
			unsigned int k = seed % npending;
			struct ring_rsp rsp = { .cmd_id = pending[k],
						.status = seed & 2 ? 2 : 0,
						.uflags = seed & 4 ? RING_UFLAG_READ_LEN : 0,
						.read_len = seed,
						.sense = data,
						.sense_len = 12 };

			ring_complete(&r, &rsp);
			pending[k] = pending[--npending];
			seed = (uint8_t)(seed * 37 + 11);
		}
		seed = (uint8_t)(seed * 37 + 11);
		ring_kick(&r);
	}
	while (npending) {
		struct ring_rsp rsp = { .cmd_id = pending[--npending] };

		ring_complete(&r, &rsp);
	}
	ring_kick(&r);
out:
	free(map);
	return 0;
}
