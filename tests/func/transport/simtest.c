/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-tcmu-simtest: the whole path without a kernel.  The ring simulator plays LIO and
 * an initiator; the production transport (ring-dev) serves the ring with the real SCSI
 * layer over an image opened from a config string.  A scenario runs, every read is
 * checked against a model of what was written, and the model can be written out so
 * that the image can be compared by an independent tool (qemu-img compare).
 *
 *   qemu-tcmu-simtest [OPTIONS] SCENARIO CFGSTRING
 *
 * Scenarios: random (reads/writes at --qd), ooo (slow commands do not hold back fast
 * ones), tmr (TMR notifications with commands in flight), remove (device stop with
 * commands in flight), reset (reset_ring under a live daemon), restart (a daemon crash,
 * reset_ring, a new daemon, the initiator's retries), caw (COMPARE AND WRITE matches and
 * miscompares, WRITE SAME with data).
 *
 * Slow commands: requests to the first --slow-mb MiB of the image are delayed by
 * --delay-ms in a filter node placed over the image.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block-driver.h"
#include "block/block.h"
#include "transport/ring-dev.h"
#include "transport/sim.h"
#include "util/err.h"
#include "util/log.h"

#define BLK 512u
#define MAX_QD 256
#define MAX_NLB 256

struct opt {
	unsigned int qd, count, delay_ms, slots;
	uint64_t slow_bytes, seed;
	struct sim_params sp;
	const char *model_out;
	bool describe;
};

static struct opt opt = {
	.qd = 32, .count = 2000, .delay_ms = 300, .slots = 128, .slow_bytes = 1 << 20, .seed = 1
};

/* ---- a delay filter: requests below slow_bytes wait delay_ms ----------------------- */

static int delay_open(struct blk_node *bs, struct opts *o, unsigned int flags, struct err *err)
{
	(void)o, (void)flags, (void)err;
	bs->total_size = (uint64_t)blk_getlength(bs->file);
	return 0;
}

static void delay_close(struct blk_node *bs)
{
	(void)bs;
}

static void nap(uint64_t off)
{
	if (off < opt.slow_bytes)
		usleep(opt.delay_ms * 1000u);
}

static int delay_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			int n, unsigned int flags)
{
	nap(off);
	return blk_preadv(bs->file, off, len, iov, n, flags);
}

static int delay_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
			 int n, unsigned int flags)
{
	nap(off);
	return blk_pwritev(bs->file, off, len, iov, n, flags);
}

static int delay_flush(struct blk_node *bs)
{
	return blk_flush(bs->file);
}

/* fast requests go down natively; slow ones take the blocking path on the pool */
static int delay_submit(struct blk_node *bs, struct blk_req *req)
{
	if (req->off < opt.slow_bytes && (req->op == BLK_OP_READ || req->op == BLK_OP_WRITE))
		return -ENOTSUP;
	if (!bs->file->drv->submit)
		return -ENOTSUP;
	blk_req_submit(bs->file, req);
	return 0;
}

static const struct blk_driver delay_driver = {
	.name = "delay",
	.kind = BLK_DRIVER_FORMAT,
	.open = delay_open,
	.close = delay_close,
	.preadv = delay_preadv,
	.pwritev = delay_pwritev,
	.flush = delay_flush,
	.submit = delay_submit,
};

/* ---- the environment ---------------------------------------------------------------- */

struct env {
	struct sim *sim;
	struct blk_node *bs;
	struct ring_dev *dev;
	uint64_t size;
	uint8_t *model;
	unsigned long seq; /* completion order */
};

#define DIE(...)                                          \
	do {                                              \
		fprintf(stderr, "simtest: " __VA_ARGS__); \
		fputc('\n', stderr);                      \
		exit(1);                                  \
	} while (0)

static void dev_start(struct env *e)
{
	struct ring_dev_params p = { .name = "sim0", .bs = e->bs, .max_inflight = opt.slots };
	struct err err;

	err_init(&err);
	sim_daemon_map(e->sim, &p.map, &p.map_size);
	p.fd = sim_daemon_fd(e->sim);
	p.lun.block_size = BLK;
	p.lun.size = e->size;
	p.lun.max_sectors = MAX_NLB;
	if (ring_dev_start(&p, &e->dev, &err) < 0)
		DIE("ring_dev_start: %s", err.msg);
}

static void env_init(struct env *e, const char *cfg)
{
	struct blk_node *img = NULL;
	struct err err;

	memset(e, 0, sizeof(*e));
	err_init(&err);
	if (sim_new(&opt.sp, &e->sim, &err) < 0)
		DIE("%s", err.msg);
	if (blk_open_str(cfg, BLK_O_RDWR, &img, &err) < 0)
		DIE("%s", err.msg);
	if (blk_open_node(&delay_driver, "delay", img, NULL, BLK_O_RDWR, &e->bs, &err) < 0)
		DIE("%s", err.msg);
	for (struct blk_node *n = img; opt.describe && n; n = blk_child_file(n)) {
		char desc[1024];

		blk_describe(n, desc, sizeof(desc));
		fputs(desc, stdout);
	}
	e->size = (uint64_t)blk_getlength(e->bs) / BLK * BLK;
	e->model = malloc(e->size);
	if (!e->model || blk_pread(e->bs, 0, e->model, e->size) < 0)
		DIE("cannot read the image's initial content");
	dev_start(e);
}

static void env_fini(struct env *e)
{
	if (e->dev && ring_dev_stop(e->dev) < 0)
		DIE("flush at stop failed");
	if (sim_is_broken(e->sim))
		DIE("ring broken: %s", sim_error(e->sim));
	if (opt.model_out) {
		FILE *f = fopen(opt.model_out, "wb");

		if (!f || fwrite(e->model, 1, e->size, f) != e->size || fclose(f))
			DIE("cannot write %s", opt.model_out);
	}
	blk_close(e->bs);
	sim_free(e->sim);
	free(e->model);
}

/* ---- commands --------------------------------------------------------------------- */

struct io {
	struct sim_cmd c;
	uint64_t lba;
	uint32_t nlb;
	bool write, busy;
	unsigned long done_seq;
	uint8_t buf[MAX_NLB * BLK];
};

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void io_prepare(struct io *io, bool write, uint64_t lba, uint32_t nlb, uint64_t pat)
{
	memset(io->c.cdb, 0, 16);
	io->c.cdb[0] = write ? 0x8a : 0x88; /* WRITE(16) / READ(16) */
	put_be(io->c.cdb + 2, lba, 8);
	put_be(io->c.cdb + 10, nlb, 4);
	io->c.dir = write ? SIM_DIR_WRITE : SIM_DIR_READ;
	io->c.buf = io->buf;
	io->c.len = nlb * BLK;
	io->lba = lba;
	io->nlb = nlb;
	io->write = write;
	if (write)
		for (uint32_t k = 0; k < io->c.len; k++)
			io->buf[k] = (uint8_t)((pat >> (k % 5)) + k / 7);
}

static void io_submit(struct env *e, struct io *io)
{
	int r;

	while ((r = sim_submit(e->sim, &io->c)) == -EAGAIN)
		if (sim_poll(e->sim, 10000) < 0 && sim_is_broken(e->sim))
			DIE("ring broken: %s", sim_error(e->sim));
	if (r < 0)
		DIE("submit: %s", strerror(-r));
	io->busy = true;
}

/* Account a finished command: writes update the model, reads are checked. */
static void io_finish(struct env *e, struct io *io)
{
	size_t off = io->lba * BLK, len = (size_t)io->nlb * BLK;

	io->busy = false;
	io->done_seq = ++e->seq;
	if (io->c.status)
		DIE("%s of lba %llu+%u: status 0x%02x sense %02x/%02x/%02x%s",
		    io->write ? "write" : "read", (unsigned long long)io->lba, io->nlb,
		    io->c.status, io->c.sense[2] & 0xf, io->c.sense[12], io->c.sense[13],
		    io->c.by_kernel ? " (from the kernel)" : "");
	if (io->write) {
		memcpy(e->model + off, io->buf, len);
		return;
	}
	if (io->c.xfer_len != len)
		DIE("read of lba %llu+%u returned %u bytes", (unsigned long long)io->lba, io->nlb,
		    io->c.xfer_len);
	if (memcmp(io->buf, e->model + off, len))
		DIE("read of lba %llu+%u differs from what was written",
		    (unsigned long long)io->lba, io->nlb);
}

static struct io all_ios[MAX_QD];

/* Account every command that completed (in whichever group it was submitted). */
static unsigned int account(struct env *e)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < MAX_QD; i++) {
		if (all_ios[i].busy && all_ios[i].c.done) {
			io_finish(e, &all_ios[i]);
			n++;
		}
	}
	return n;
}

/* Account what completed already; if nothing did, wait for the next kick. */
static void reap(struct env *e, struct io *ios, unsigned int n)
{
	int r;

	(void)ios, (void)n;
	if (account(e))
		return;
	r = sim_poll(e->sim, 20000);
	if (r == -ETIMEDOUT)
		DIE("no completion for 20 s (%u commands in the ring)", sim_inflight(e->sim));
	if (r < 0)
		DIE("ring broken: %s", sim_error(e->sim));
	account(e);
}

static void wait_all(struct env *e, struct io *ios, unsigned int n)
{
	for (;;) {
		bool busy = false;

		account(e);
		for (unsigned int i = 0; i < n; i++)
			busy |= ios[i].busy;
		if (!busy)
			return;
		reap(e, ios, n);
	}
}

static uint64_t rnd(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return *x >> 17;
}

static bool overlaps(const struct io *ios, unsigned int n, uint64_t lba, uint32_t nlb)
{
	for (unsigned int i = 0; i < n; i++)
		if (ios[i].busy && lba < ios[i].lba + ios[i].nlb && ios[i].lba < lba + nlb)
			return true;
	return false;
}

/* Read the whole device back and compare with the model. */
static void verify_all(struct env *e, struct io *io)
{
	for (uint64_t lba = 0; lba < e->size / BLK; lba += MAX_NLB) {
		uint32_t nlb = (uint32_t)MIN((uint64_t)MAX_NLB, e->size / BLK - lba);

		io_prepare(io, false, lba, nlb, 0);
		io_submit(e, io);
		wait_all(e, io, 1);
	}
}

/* ---- scenarios -------------------------------------------------------------------- */

static void random_io(struct env *e, struct io *ios, unsigned int qd, unsigned int count,
		      uint64_t lo_lba)
{
	uint64_t x = opt.seed, nblk = e->size / BLK - lo_lba;
	unsigned int started = 0;

	while (started < count) {
		for (unsigned int i = 0; i < qd && started < count; i++) {
			struct io *io = &ios[i];
			uint32_t nlb;
			uint64_t lba;

			if (io->busy)
				continue;
			do {
				nlb = 1 + (uint32_t)(rnd(&x) % MIN((uint64_t)MAX_NLB, nblk));
				lba = lo_lba + rnd(&x) % (nblk - nlb + 1);
			} while (overlaps(ios, qd, lba, nlb));
			io_prepare(io, rnd(&x) & 1, lba, nlb, rnd(&x));
			io_submit(e, io);
			started++;
		}
		reap(e, ios, qd);
	}
	wait_all(e, ios, qd);
}

/* ---- COMPARE AND WRITE and WRITE SAME ------------------------------------------------ */

static void report(struct env *e, const char *what);

/* Run one command outside the I/O slots; returns its status (sense in io->c.sense). */
static uint8_t run_one(struct env *e, struct io *io, const uint8_t *cdb, uint32_t len)
{
	memcpy(io->c.cdb, cdb, 16);
	io->c.dir = SIM_DIR_WRITE;
	io->c.buf = io->buf;
	io->c.len = len;
	io_submit(e, io);
	if (sim_wait(e->sim, &io->c, 60000) < 0)
		DIE("no completion for 60 s");
	io->busy = false;
	return io->c.status;
}

/* COMPARE AND WRITE of @nlb blocks at @lba: a match writes, a miscompare at a random byte
 * gives MISCOMPARE with that byte's offset in INFORMATION and writes nothing. */
static void caw_check(struct env *e, struct io *io, uint64_t lba, uint8_t nlb, uint64_t *x)
{
	uint8_t cdb[16] = { 0x89 };
	size_t off = lba * BLK, len = (size_t)nlb * BLK, bad = rnd(x) % len;
	uint32_t info;

	put_be(cdb + 2, lba, 8);
	cdb[13] = nlb;
	memcpy(io->buf, e->model + off, len);
	for (size_t k = 0; k < len; k++)
		io->buf[len + k] = (uint8_t)rnd(x);
	if (run_one(e, io, cdb, 2 * (uint32_t)len))
		DIE("COMPARE AND WRITE of %u blocks with matching data: status 0x%02x sense "
		    "%02x/%02x",
		    nlb, io->c.status, io->c.sense[2] & 0xf, io->c.sense[12]);
	memcpy(e->model + off, io->buf + len, len);
	memcpy(io->buf, e->model + off, len);
	io->buf[bad] ^= 0x5a;
	if (run_one(e, io, cdb, 2 * (uint32_t)len) != 0x02 || (io->c.sense[2] & 0xf) != 0x0e ||
	    io->c.sense[12] != 0x1d)
		DIE("COMPARE AND WRITE of %u blocks, miscompare: status 0x%02x sense %02x/%02x",
		    nlb, io->c.status, io->c.sense[2] & 0xf, io->c.sense[12]);
	info = (uint32_t)io->c.sense[3] << 24 | (uint32_t)io->c.sense[4] << 16 |
	       (uint32_t)io->c.sense[5] << 8 | io->c.sense[6];
	if (!(io->c.sense[0] & 0x80) || info != bad)
		DIE("miscompare at byte %zu reported at %u", bad, info);
	printf("caw: %u block(s) at lba %llu: match written, miscompare at byte %zu reported\n",
	       nlb, (unsigned long long)lba, bad);
}

static void scn_caw(struct env *e, struct io *ios)
{
	static struct io io; /* not a slot: its errors are expected */
	uint8_t ws[16] = { 0x93 };
	uint64_t x = opt.seed, nblk = e->size / BLK;

	caw_check(e, &io, nblk / 2, 1, &x); /* one 512-byte sector */
	caw_check(e, &io, nblk / 3, 8, &x); /* 4 KiB: several sectors */
	caw_check(e, &io, nblk - 3, 3, &x); /* at the end */
	/* WRITE SAME(16) with data: 100 blocks of one pattern */
	put_be(ws + 2, 8, 8);
	put_be(ws + 10, 100, 4);
	for (unsigned int k = 0; k < BLK; k++)
		io.buf[k] = (uint8_t)(k * 7 + 3);
	if (run_one(e, &io, ws, BLK))
		DIE("WRITE SAME: status 0x%02x", io.c.status);
	for (unsigned int b = 0; b < 100; b++)
		memcpy(e->model + (8 + b) * BLK, io.buf, BLK);
	verify_all(e, ios);
	report(e, "caw");
}

static void report(struct env *e, const char *what)
{
	struct ring_dev_stats st;
	const struct sim_stats *ss = sim_stats(e->sim);

	ring_dev_get_stats(e->dev, &st);
	printf("%s: %llu commands, max %u in flight, %llu kicks, %llu pads, %llu tmrs\n", what,
	       (unsigned long long)ss->cmds, st.max_seen, (unsigned long long)ss->kicks,
	       (unsigned long long)ss->pads, (unsigned long long)ss->tmrs);
}

static void scn_random(struct env *e, struct io *ios)
{
	random_io(e, ios, opt.qd, opt.count, opt.slow_bytes / BLK);
	verify_all(e, ios);
	report(e, "random");
}

/* Slow writes first (at the ring's tail), fast I/O after them: the fast commands
 * complete while the slow ones are still running.  With in-order completion none could
 * be reported before the first slow one. */
static void scn_ooo(struct env *e, struct io *ios)
{
	unsigned int nslow = 4, nfast = MIN(opt.qd, (unsigned int)MAX_QD) - nslow;
	unsigned long first_slow = ~0ul;

	for (unsigned int i = 0; i < nslow; i++) {
		io_prepare(&ios[i], true, i * 8, 8, i);
		io_submit(e, &ios[i]);
	}
	random_io(e, ios + nslow, nfast, opt.count, opt.slow_bytes / BLK);
	wait_all(e, ios, nslow + nfast);
	for (unsigned int i = 0; i < nslow; i++)
		first_slow = MIN(first_slow, ios[i].done_seq);
	printf("ooo: %lu fast commands completed before the first slow one\n", first_slow - 1);
	/* in order, none could; a few dozen show it without assuming a speed (ASan, load) */
	if (first_slow - 1 < MIN(20u, opt.count))
		DIE("only %lu fast commands completed before the first slow one", first_slow - 1);
	verify_all(e, ios);
	report(e, "ooo");
}

/* TMR notifications name commands in the ring; they still complete, the ring goes on. */
static void scn_tmr(struct env *e, struct io *ios)
{
	struct sim_cmd *all[8];

	for (unsigned int i = 0; i < 8; i++) {
		io_prepare(&ios[i], i % 2, i * 16, 16, i + 100);
		io_submit(e, &ios[i]);
		all[i] = &ios[i].c;
	}
	if (sim_tmr(e->sim, 1 /* ABORT TASK */, all, 1) < 0 ||
	    sim_tmr(e->sim, 5 /* LUN RESET */, all, 8) < 0)
		DIE("cannot queue TMRs");
	wait_all(e, ios, 8);
	random_io(e, ios, opt.qd, opt.count / 4, opt.slow_bytes / BLK);
	verify_all(e, ios);
	report(e, "tmr");
}

/* Removing the device (daemon stop) with commands in flight: they complete first. */
static void scn_remove(struct env *e, struct io *ios)
{
	for (unsigned int i = 0; i < 8; i++) {
		io_prepare(&ios[i], true, i * 16, 16, i + 7);
		io_submit(e, &ios[i]);
	}
	for (unsigned int i = 8; i < 16; i++) {
		io_prepare(&ios[i], true, e->size / BLK - 16 * (i - 7), 16, i + 7);
		io_submit(e, &ios[i]);
	}
	usleep(100 * 1000); /* fetched and running */
	report(e, "remove");
	if (ring_dev_stop(e->dev) < 0)
		DIE("flush at stop failed");
	e->dev = NULL;
	for (unsigned int i = 0; i < 16; i++)
		if (ios[i].busy && !ios[i].c.done && sim_inflight(e->sim) &&
		    sim_poll(e->sim, 0) < 0)
			DIE("ring broken after stop");
	if (sim_reap(e->sim) < 0)
		DIE("ring broken after stop: %s", sim_error(e->sim));
	for (unsigned int i = 0; i < 16; i++) {
		if (!ios[i].c.done || ios[i].c.by_kernel)
			DIE("command %u was not completed by the stopping daemon", i);
		io_finish(e, &ios[i]);
	}
	/* the image holds everything: a new daemon reads it back */
	dev_start(e);
	verify_all(e, ios);
}

/* The initiator: commands the kernel failed with BUSY are sent again. */
static void retry_busy(struct env *e, struct io *ios, unsigned int n, unsigned int *busy)
{
	for (unsigned int i = 0; i < n; i++) {
		if (!ios[i].busy || !ios[i].c.done)
			continue;
		if (ios[i].c.by_kernel && ios[i].c.status == 0x08) {
			(*busy)++;
			io_submit(e, &ios[i]);
		}
	}
	wait_all(e, ios, n);
}

/* reset_ring while a daemon serves: in-ring commands fail with BUSY and are retried. */
static void scn_reset(struct env *e, struct io *ios)
{
	unsigned int busy = 0;

	/* a completed command first: the daemon's tail is not 0 when the reset comes */
	io_prepare(&ios[8], false, e->size / BLK - 8, 8, 0);
	io_submit(e, &ios[8]);
	wait_all(e, &ios[8], 1);
	for (unsigned int i = 0; i < 8; i++) {
		io_prepare(&ios[i], true, i * 16, 16, i + 3);
		io_submit(e, &ios[i]);
	}
	usleep(100 * 1000);
	sim_reset_ring(e->sim, 1);
	retry_busy(e, ios, 8, &busy);
	if (busy != 8)
		DIE("%u of 8 commands failed with BUSY at reset_ring", busy);
	random_io(e, ios, opt.qd, opt.count / 4, 0);
	verify_all(e, ios);
	report(e, "reset");
}

/* A daemon crash with commands in flight and queued; the next daemon takes over. */
static void scn_restart(struct env *e, struct io *ios)
{
	unsigned int busy = 0, n = 24;
	struct err err;

	for (unsigned int i = 0; i < 8; i++) {
		io_prepare(&ios[i], true, i * 16, 16, i + 11);
		io_submit(e, &ios[i]);
	}
	usleep(100 * 1000);
	ring_dev_abandon(e->dev); /* the in-flight writes may or may not reach the image */
	e->dev = NULL;
	for (unsigned int i = 8; i < n; i++) {
		io_prepare(&ios[i], true, e->size / BLK - 16 * (i - 7), 16, i + 11);
		io_submit(e, &ios[i]);
	}
	err_init(&err);
	sim_block(e->sim, true);
	sim_reset_ring(e->sim, 1);
	if (sim_reopen(e->sim, &err) < 0)
		DIE("%s", err.msg);
	dev_start(e);
	sim_block(e->sim, false);
	retry_busy(e, ios, n, &busy);
	if (busy != n)
		DIE("%u of %u commands were retried after the restart", busy, n);
	random_io(e, ios, opt.qd, opt.count / 4, 0);
	verify_all(e, ios);
	report(e, "restart");
}

static const struct {
	const char *name;
	void (*fn)(struct env *e, struct io *ios);
} scenarios[] = {
	{ "random", scn_random }, { "ooo", scn_ooo },	  { "tmr", scn_tmr },
	{ "remove", scn_remove }, { "reset", scn_reset }, { "restart", scn_restart },
	{ "caw", scn_caw },
};

static void usage(void)
{
	fprintf(stderr, "usage: qemu-tcmu-simtest [--qd N] [--count N] [--seed N] [--slots N]\n"
			"  [--ring-kb N] [--data-kb N] [--scatter] [--strict] [--tmr-notify]\n"
			"  [--slow-mb N] [--delay-ms N] [--model-out FILE] [--describe]\n"
			"  random|ooo|tmr|remove|reset|restart|caw CFGSTRING\n");
	exit(2);
}

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "qd", 1, NULL, 'q' },		{ "count", 1, NULL, 'c' },
		{ "seed", 1, NULL, 's' },	{ "slots", 1, NULL, 'S' },
		{ "ring-kb", 1, NULL, 'r' },	{ "data-kb", 1, NULL, 'd' },
		{ "scatter", 0, NULL, 'x' },	{ "strict", 0, NULL, 't' },
		{ "tmr-notify", 0, NULL, 'T' }, { "slow-mb", 1, NULL, 'm' },
		{ "delay-ms", 1, NULL, 'D' },	{ "model-out", 1, NULL, 'o' },
		{ "describe", 0, NULL, 'i' },	{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		unsigned long v = optarg ? strtoul(optarg, NULL, 0) : 0;

		switch (c) {
		case 'q':
			opt.qd = (unsigned int)MIN(v, (unsigned long)MAX_QD);
			break;
		case 'c':
			opt.count = (unsigned int)v;
			break;
		case 's':
			opt.seed = v;
			break;
		case 'S':
			opt.slots = (unsigned int)v;
			break;
		case 'r':
			opt.sp.ring_size = (uint32_t)v << 10;
			break;
		case 'd':
			opt.sp.data_size = (uint32_t)v << 10;
			break;
		case 'x':
			opt.sp.scatter = true;
			break;
		case 't':
			opt.sp.strict = true;
			break;
		case 'T':
			opt.sp.tmr_notify = true;
			break;
		case 'm':
			opt.slow_bytes = (uint64_t)v << 20;
			break;
		case 'D':
			opt.delay_ms = (unsigned int)v;
			break;
		case 'o':
			opt.model_out = optarg;
			break;
		case 'i':
			opt.describe = true; /* print the image's nodes (blk_describe) first */
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || !opt.qd)
		usage();
}

int main(int argc, char **argv)
{
	struct io *ios = all_ios;
	struct env e;

	parse(argc, argv);
	log_set_prefix("simtest");
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(argv[optind], scenarios[i].name))
			continue;
		env_init(&e, argv[optind + 1]);
		scenarios[i].fn(&e, ios);
		env_fini(&e);
		for (int k = 0; k < MAX_QD; k++)
			free(ios[k].c.dbi);
		return 0;
	}
	usage();
}
