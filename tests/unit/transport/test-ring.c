/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The ring protocol (ring.c) against the ring simulator (sim.c), both in this thread:
 * placement, PAD and wrap, out-of-order completion, READ_LEN, sense, TMR, the checks
 * the kernel makes (unknown cmd ids break the ring), reset. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "transport/ring.h"
#include "transport/sim.h"
#include "util/err.h"

#define T_READ10 0x28
#define T_WRITE10 0x2a

struct fixture {
	struct sim *sim;
	struct ring ring;
};

static void setup_sim(struct fixture *f, const struct sim_params *p)
{
	struct err err;
	void *map;
	size_t size;

	err_init(&err);
	if (sim_new(p, &f->sim, &err) < 0)
		fail_msg("sim_new: %s", err.msg);
	sim_daemon_map(f->sim, &map, &size);
	if (ring_init(&f->ring, map, size, sim_daemon_fd(f->sim), &err) < 0)
		fail_msg("ring_init: %s", err.msg);
}

static void rw10(struct sim_cmd *c, uint8_t op, uint32_t lba, uint16_t nlb)
{
	memset(c->cdb, 0, sizeof(c->cdb));
	c->cdb[0] = op;
	c->cdb[2] = (uint8_t)(lba >> 24);
	c->cdb[3] = (uint8_t)(lba >> 16);
	c->cdb[4] = (uint8_t)(lba >> 8);
	c->cdb[5] = (uint8_t)lba;
	c->cdb[7] = (uint8_t)(nlb >> 8);
	c->cdb[8] = (uint8_t)nlb;
}

/* Fetch one command entry (skipping nothing else) and map its iovecs. */
static struct ring_entry fetch_cmd(struct ring *r, struct iovec *iov, int max, uint64_t *total)
{
	struct ring_entry e;

	assert_int_equal(ring_fetch(r, &e), 1);
	assert_int_equal(e.kind, RING_ENTRY_CMD);
	assert_true(e.iov_cnt + e.bidi_cnt <= (uint32_t)max);
	assert_int_equal(ring_map_iov(r, e.iov_raw, e.iov_cnt + e.bidi_cnt, iov, total), 0);
	return e;
}

static void complete_good(struct ring *r, uint16_t id)
{
	struct ring_rsp rsp = { .cmd_id = id, .status = 0 };

	assert_int_equal(ring_complete(r, &rsp), 0);
}

/* A write and a read, completed in reverse order with one kick. */
static void test_basic_ooo(void **state)
{
	struct fixture f;
	struct sim_cmd w = { 0 }, rd = { 0 };
	static uint8_t wbuf[10000], rbuf[8192];
	struct iovec iov[8];
	struct ring_entry ew, er;
	uint64_t total;
	size_t off = 0;

	(void)state;
	setup_sim(&f, NULL);
	for (size_t i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (uint8_t)(i * 7 + 3);
	rw10(&w, T_WRITE10, 100, 20);
	w.dir = SIM_DIR_WRITE;
	w.buf = wbuf;
	w.len = sizeof(wbuf);
	rw10(&rd, T_READ10, 7, 16);
	rd.dir = SIM_DIR_READ;
	rd.buf = rbuf;
	rd.len = sizeof(rbuf);
	assert_int_equal(sim_submit(f.sim, &w), 0);
	assert_int_equal(sim_submit(f.sim, &rd), 0);
	assert_int_equal(w.cmd_id, 1);
	assert_int_equal(rd.cmd_id, 2);

	ew = fetch_cmd(&f.ring, iov, 8, &total);
	assert_int_equal(ew.cmd_id, 1);
	assert_int_equal(total, sizeof(wbuf));
	assert_true(ew.cdb_avail >= 10);
	assert_memory_equal(ew.cdb, w.cdb, 10);
	for (uint32_t i = 0; i < ew.iov_cnt; i++) {
		assert_memory_equal(iov[i].iov_base, wbuf + off, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	er = fetch_cmd(&f.ring, iov, 8, &total);
	assert_int_equal(er.cmd_id, 2);
	assert_int_equal(total, sizeof(rbuf));
	for (uint32_t i = 0; i < er.iov_cnt; i++)
		memset(iov[i].iov_base, 0x5a + (int)i, iov[i].iov_len);
	assert_int_equal(ring_fetch(&f.ring, &er), 0);

	/* the read finishes first: it steals the write's entry */
	complete_good(&f.ring, 2);
	complete_good(&f.ring, 1);
	assert_int_equal(ring_pending_bytes(&f.ring), 0);
	assert_int_equal(ring_kick(&f.ring), 1);
	assert_int_equal(ring_kick(&f.ring), 0);
	assert_int_equal(sim_poll(f.sim, 1000), 2);
	assert_true(w.done && rd.done);
	assert_int_equal(w.status, 0);
	assert_int_equal(rd.status, 0);
	assert_int_equal(rd.xfer_len, sizeof(rbuf));
	assert_int_equal(rbuf[0], 0x5a);
	assert_int_equal(sim_stats(f.sim)->kicks, 1);
	assert_int_equal(sim_inflight(f.sim), 0);
	/* ids are the lowest free again */
	assert_int_equal(sim_submit(f.sim, &rd), 0);
	assert_int_equal(rd.cmd_id, 1);
	sim_free(f.sim);
	free(w.dbi);
	free(rd.dbi);
}

/* A small ring wraps with PAD entries; random completion order, scattered data blocks. */
static void test_wrap_pad_random(void **state)
{
	struct sim_params p = {
		.ring_size = 4096, .data_size = 256 << 10, .scatter = true, .strict = true
	};
	struct fixture f;
	enum {
		N = 12
	};
	static struct sim_cmd cmds[N];
	static uint8_t bufs[N][20000];
	uint16_t fetched[N];
	int nfetched = 0, done = 0;
	uint64_t x = 1;

	(void)state;
	setup_sim(&f, &p);
	while (done < 400) {
		struct ring_entry e;
		struct iovec iov[16];
		uint64_t total;

		/* submit into free command structs until the ring refuses */
		for (int i = 0; i < N; i++) {
			struct sim_cmd *c = &cmds[i];
			uint32_t len;

			if (c->cmd_id)
				continue;
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			len = 512u * (1 + (uint32_t)((x >> 40) % 39));
			rw10(c, (x >> 20) & 1 ? T_READ10 : T_WRITE10, (uint32_t)i,
			     (uint16_t)(len / 512));
			c->dir = c->cdb[0] == T_READ10 ? SIM_DIR_READ : SIM_DIR_WRITE;
			c->buf = bufs[i];
			c->len = len;
			memset(bufs[i], i + 1, len);
			if (sim_submit(f.sim, c) == -EAGAIN)
				break;
		}
		while (ring_fetch(&f.ring, &e) == 1) {
			assert_int_equal(e.kind, RING_ENTRY_CMD);
			assert_true(e.iov_cnt <= 16);
			assert_int_equal(ring_map_iov(&f.ring, e.iov_raw, e.iov_cnt, iov, &total),
					 0);
			for (uint32_t k = 0; k < e.iov_cnt;
			     k++) /* strict: touches only owned blocks */
				((volatile uint8_t *)iov[k].iov_base)[0] ^= 0;
			fetched[nfetched++] = e.cmd_id;
		}
		/* complete a random half of what was fetched */
		for (int k = 0; k < nfetched;) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			if ((x >> 33) & 1) {
				complete_good(&f.ring, fetched[k]);
				fetched[k] = fetched[--nfetched];
			} else {
				k++;
			}
		}
		ring_kick(&f.ring);
		while (sim_poll(f.sim, 0) > 0)
			;
		done = (int)sim_stats(f.sim)->completions;
		assert_false(sim_is_broken(f.sim));
	}
	assert_true(sim_stats(f.sim)->pads > 10);
	print_message("# %d completions, %llu pads, %llu kicks\n", done,
		      (unsigned long long)sim_stats(f.sim)->pads,
		      (unsigned long long)sim_stats(f.sim)->kicks);
	sim_free(f.sim);
	for (int i = 0; i < N; i++)
		free(cmds[i].dbi);
}

/* READ_LEN residuals and CHECK CONDITION sense reach the initiator as the kernel
 * delivers them. */
static void test_read_len_and_sense(void **state)
{
	struct fixture f;
	struct sim_cmd a = { 0 }, b = { 0 }, c = { 0 };
	static uint8_t buf[3][4096];
	static const uint8_t sense[18] = { 0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x24 };
	struct iovec iov[4];
	uint64_t total;
	struct ring_rsp rsp;

	(void)state;
	setup_sim(&f, NULL);
	a.cdb[0] = 0x12; /* INQUIRY */
	a.dir = SIM_DIR_READ;
	a.buf = buf[0];
	a.len = 4096;
	b = a;
	b.buf = buf[1];
	c = a;
	c.buf = buf[2];
	assert_int_equal(sim_submit(f.sim, &a), 0);
	assert_int_equal(sim_submit(f.sim, &b), 0);
	assert_int_equal(sim_submit(f.sim, &c), 0);
	for (int i = 0; i < 3; i++) {
		fetch_cmd(&f.ring, iov, 4, &total);
		memset(iov[0].iov_base, 0x11 * (i + 1), iov[0].iov_len);
	}
	rsp = (struct ring_rsp){ .cmd_id = a.cmd_id,
				 .uflags = RING_UFLAG_READ_LEN,
				 .read_len = 36 };
	assert_int_equal(ring_complete(&f.ring, &rsp), 0);
	rsp = (struct ring_rsp){ .cmd_id = b.cmd_id, .status = 2, .sense = sense, .sense_len = 18 };
	assert_int_equal(ring_complete(&f.ring, &rsp), 0);
	rsp = (struct ring_rsp){ .cmd_id = c.cmd_id,
				 .status = 2,
				 .uflags = RING_UFLAG_READ_LEN,
				 .read_len = 100,
				 .sense = sense,
				 .sense_len = 18 };
	assert_int_equal(ring_complete(&f.ring, &rsp), 0);
	ring_kick(&f.ring);
	assert_int_equal(sim_poll(f.sim, 1000), 3);
	assert_true(a.read_len_valid);
	assert_int_equal(a.xfer_len, 36);
	assert_int_equal(buf[0][35], 0x11);
	assert_int_equal(buf[0][36], 0);
	assert_int_equal(b.status, 2);
	assert_int_equal(b.xfer_len, 0);
	assert_memory_equal(b.sense, sense, sizeof(sense));
	assert_int_equal(b.sense[18], 0);
	/* CHECK CONDITION with READ_LEN: data up to read_len is still delivered */
	assert_int_equal(c.xfer_len, 100);
	assert_int_equal(buf[2][99], 0x33);
	sim_free(f.sim);
	free(a.dbi);
	free(b.dbi);
	free(c.dbi);
}

/* A completion naming a cmd id the kernel does not know breaks the ring; every later
 * command fails until reset_ring, which also fails what was in flight with BUSY. */
static void test_unknown_id_breaks(void **state)
{
	struct fixture f;
	struct sim_cmd a = { 0 }, b = { 0 };
	struct ring_entry e;
	struct ring_rsp rsp = { .cmd_id = 777 };
	struct err err;
	void *map;
	size_t size;

	(void)state;
	setup_sim(&f, NULL);
	a.cdb[0] = b.cdb[0] = 0x00; /* TEST UNIT READY */
	assert_int_equal(sim_submit(f.sim, &a), 0);
	assert_int_equal(ring_fetch(&f.ring, &e), 1);
	assert_int_equal(ring_complete(&f.ring, &rsp), 0);
	ring_kick(&f.ring);
	assert_int_equal(sim_poll(f.sim, 1000), -EIO);
	assert_true(sim_is_broken(f.sim));
	assert_non_null(strstr(sim_error(f.sim), "cmd_id 777 not found"));
	assert_false(a.done);
	assert_int_equal(sim_submit(f.sim, &b), 0);
	assert_true(b.done && b.by_kernel);
	assert_int_equal(b.status, 2);
	assert_int_equal(b.sense[12], 0x08); /* LOGICAL UNIT COMMUNICATION FAILURE */

	sim_reset_ring(f.sim, 1);
	assert_true(a.done && a.by_kernel);
	assert_int_equal(a.status, 0x08); /* BUSY: the initiator retries */
	assert_false(sim_is_broken(f.sim));
	/* a restarted daemon: a new mapping, ring state from the mailbox */
	err_init(&err);
	assert_int_equal(sim_reopen(f.sim, &err), 0);
	sim_daemon_map(f.sim, &map, &size);
	assert_int_equal(ring_init(&f.ring, map, size, sim_daemon_fd(f.sim), &err), 0);
	assert_int_equal(sim_submit(f.sim, &b), 0);
	assert_int_equal(ring_fetch(&f.ring, &e), 1);
	assert_int_equal(e.cmd_id, b.cmd_id);
	complete_good(&f.ring, e.cmd_id);
	ring_kick(&f.ring);
	assert_int_equal(sim_wait(f.sim, &b, 1000), 0);
	assert_false(b.by_kernel);
	assert_int_equal(b.status, 0);
	sim_free(f.sim);
}

/* TMR entries carry the ids of aborted commands, need no response, and the tail moves
 * over them. */
static void test_tmr(void **state)
{
	struct sim_params p = { .tmr_notify = true };
	struct fixture f;
	struct sim_cmd c[3] = { 0 };
	struct sim_cmd *abort[2] = { &c[0], &c[2] };
	struct ring_entry e;

	(void)state;
	setup_sim(&f, &p);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sim_submit(f.sim, &c[i]), 0);
	assert_int_equal(sim_tmr(f.sim, 1 /* ABORT_TASK */, abort, 2), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ring_fetch(&f.ring, &e), 1);
		assert_int_equal(e.kind, RING_ENTRY_CMD);
	}
	assert_int_equal(ring_fetch(&f.ring, &e), 1);
	assert_int_equal(e.kind, RING_ENTRY_TMR);
	assert_int_equal(e.tmr_type, 1);
	assert_int_equal(e.tmr_cnt, 2);
	assert_int_equal(ring_tmr_id(&e, 0), c[0].cmd_id);
	assert_int_equal(ring_tmr_id(&e, 1), c[2].cmd_id);
	for (int i = 2; i >= 0; i--)
		complete_good(&f.ring, c[i].cmd_id);
	assert_int_equal(ring_pending_bytes(&f.ring), 0); /* the TMR entry was passed too */
	ring_kick(&f.ring);
	assert_int_equal(sim_poll(f.sim, 1000), 3);
	assert_int_equal(sim_stats(f.sim)->tmrs, 1);
	assert_false(sim_is_broken(f.sim));
	/* without a fetched command left, a completion is a caller bug */
	{
		struct ring_rsp rsp = { .cmd_id = 1 };

		assert_int_equal(ring_complete(&f.ring, &rsp), -EPROTO);
		assert_true(ring_is_broken(&f.ring));
	}
	sim_free(f.sim);
}

/* The daemon's misbehaviour with cmd_tail is caught. */
static void test_bad_tail(void **state)
{
	struct fixture f;
	struct sim_cmd a = { 0 };
	uint8_t *mb;
	uint32_t tail = 16;

	(void)state;
	setup_sim(&f, NULL);
	assert_int_equal(sim_submit(f.sim, &a), 0);
	mb = sim_kernel_map(f.sim);
	memcpy(mb + 64, &tail, 4); /* inside the first entry */
	assert_int_equal(sim_reap(f.sim), -EIO);
	assert_non_null(strstr(sim_error(f.sim), "inside the entry"));
	sim_reset_ring(f.sim, 1);
	tail = 4096;
	assert_int_equal(sim_submit(f.sim, &a), 0);
	memcpy(mb + 64, &tail, 4); /* beyond head */
	assert_int_equal(sim_reap(f.sim), -EIO);
	assert_non_null(strstr(sim_error(f.sim), "beyond cmd_head"));
	sim_free(f.sim);
}

/* Ring and data space run out: -EAGAIN until completions free them. */
static void test_full(void **state)
{
	struct sim_params p = { .ring_size = 4096, .data_size = 64 << 10 };
	struct fixture f;
	static struct sim_cmd c[64];
	static uint8_t buf[64][8192];
	int n = 0;
	struct ring_entry e;

	(void)state;
	setup_sim(&f, &p);
	for (; n < 64; n++) {
		c[n].dir = SIM_DIR_WRITE;
		c[n].buf = buf[n];
		c[n].len = 8192;
		if (sim_submit(f.sim, &c[n]) == -EAGAIN)
			break;
	}
	assert_int_equal(n, 8); /* 64 KiB of data area */
	c[n].len = 0;
	c[n].dir = SIM_DIR_NONE;
	for (; n < 64; n++)
		if (sim_submit(f.sim, &c[n]) == -EAGAIN)
			break;
	assert_true(n < 64); /* then the ring itself fills */
	while (ring_fetch(&f.ring, &e) == 1)
		complete_good(&f.ring, e.cmd_id);
	ring_kick(&f.ring);
	assert_int_equal(sim_poll(f.sim, 1000), n);
	assert_int_equal(sim_submit(f.sim, &c[0]), 0);
	sim_free(f.sim);
	for (int i = 0; i < 64; i++)
		free(c[i].dbi);
}

/* A command too big for half the ring or the data area is failed by the kernel. */
static void test_oversized(void **state)
{
	struct sim_params p = { .ring_size = 4096, .data_size = 64 << 10, .scatter = true };
	struct fixture f;
	struct sim_cmd c = { 0 };
	static uint8_t buf[128 << 10];

	(void)state;
	setup_sim(&f, &p);
	c.dir = SIM_DIR_WRITE;
	c.buf = buf;
	c.len = sizeof(buf);
	assert_int_equal(sim_submit(f.sim, &c), 0);
	assert_true(c.done && c.by_kernel);
	assert_int_equal(c.sense[12], 0x24);
	/* 16 scattered blocks: 16 iovecs = 48 + 256 + 16 bytes > 3968 / 2? no: fits */
	c.len = 64 << 10;
	assert_int_equal(sim_submit(f.sim, &c), 0);
	assert_false(c.done);
	sim_free(f.sim);
	free(c.dbi);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic_ooo),
		cmocka_unit_test(test_wrap_pad_random),
		cmocka_unit_test(test_read_len_and_sense),
		cmocka_unit_test(test_unknown_id_breaks),
		cmocka_unit_test(test_tmr),
		cmocka_unit_test(test_bad_tail),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_oversized),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
