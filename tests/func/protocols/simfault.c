/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-tcmu-simfault: two LUNs through the daemon's whole path (the ring simulator ->
 * ring-dev -> SCSI -> block layer), one on the image under test (a network server the
 * calling script stops and starts again), one on another image (a memory image, say).
 * Every --interval-ms, each LUN gets a command (WRITE(16) and READ(16) of the same 4 KiB
 * in turn, the read checked against the write): one line per completion,
 *
 *   A 1234 write lat 12 status 0x00 sense 00/00/00
 *   B 1240 read lat 1 status 0x00 sense 00/00/00
 *
 * (time since start and latency in ms, SCSI status, sense key/ASC/ASCQ).  A LUN whose
 * command has not completed gets no new one; a read that returns other data than the
 * last good write says "MISMATCH" (writes carry FUA: a good status means stable).  After
 * --seconds both LUNs are drained (up to 60 s, else "A stuck"), stopped and closed ("A
 * closed in N ms").  The script judges the lines.
 *
 *   qemu-tcmu-simfault [--seconds N] [--interval-ms N] CFG_A CFG_B
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/block.h"
#include "transport/ring-dev.h"
#include "transport/sim.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#define BLK 512u
#define NLB 8u
#define LBA 64u /* 32 KiB in: away from block 0 (format probes) */

#define DIE(...)                                           \
	do {                                               \
		fprintf(stderr, "simfault: " __VA_ARGS__); \
		fputc('\n', stderr);                       \
		exit(1);                                   \
	} while (0)

struct lun {
	char name;
	struct sim *sim;
	struct blk_node *bs;
	struct ring_dev *dev;
	struct sim_cmd c;
	bool busy, write_next, have_good;
	uint8_t pat, good_pat; /* the pattern being written, the last one written for sure */
	uint64_t t0;	       /* submission time, ns */
	uint8_t buf[NLB * BLK];
};

static uint64_t start_ns;

static unsigned long ms_since(uint64_t ns)
{
	return (unsigned long)((clock_now_ns() - ns) / 1000000u);
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void lun_open(struct lun *l, char name, const char *cfg)
{
	struct ring_dev_params p = { .name = name == 'A' ? "simA" : "simB", .max_inflight = 16 };
	struct sim_params sp = { 0 };
	struct err err;

	memset(l, 0, sizeof(*l));
	err_init(&err);
	l->name = name;
	l->write_next = true;
	if (sim_new(&sp, &l->sim, &err) < 0 || blk_open_str(cfg, BLK_O_RDWR, &l->bs, &err) < 0)
		DIE("%c: %s", name, err.msg);
	sim_daemon_map(l->sim, &p.map, &p.map_size);
	p.fd = sim_daemon_fd(l->sim);
	p.bs = l->bs;
	p.lun.block_size = BLK;
	p.lun.size = (uint64_t)blk_getlength(l->bs) / BLK * BLK;
	p.lun.max_sectors = 256;
	if (ring_dev_start(&p, &l->dev, &err) < 0)
		DIE("%c: ring_dev_start: %s", name, err.msg);
}

static void lun_submit(struct lun *l)
{
	bool w = l->write_next;
	int r;

	memset(l->c.cdb, 0, sizeof(l->c.cdb));
	l->c.cdb[0] = w ? 0x8a : 0x88; /* WRITE(16) with FUA (SBC-4 5.42) / READ(16) */
	l->c.cdb[1] = w ? 0x08 : 0;    /* a good status means stable: a read must see it */
	put_be(l->c.cdb + 2, LBA, 8);
	put_be(l->c.cdb + 10, NLB, 4);
	l->c.dir = w ? SIM_DIR_WRITE : SIM_DIR_READ;
	l->c.buf = l->buf;
	l->c.len = sizeof(l->buf);
	l->c.done = false;
	if (w)
		memset(l->buf, ++l->pat, sizeof(l->buf));
	else
		memset(l->buf, 0, sizeof(l->buf));
	r = sim_submit(l->sim, &l->c);
	if (r < 0)
		DIE("%c: submit: %s", l->name, strerror(-r));
	l->busy = true;
	l->t0 = clock_now_ns();
}

/* Report @l's command if it completed; the next one alternates write and read. */
static void lun_check(struct lun *l)
{
	bool w = l->c.cdb[0] == 0x8a, bad = false;

	if (!l->busy)
		return;
	sim_reap(l->sim);
	if (!l->c.done)
		return;
	l->busy = false;
	if (!w && l->c.status == 0 && l->have_good)
		for (size_t i = 0; i < sizeof(l->buf); i++)
			bad |= l->buf[i] != l->good_pat;
	printf("%c %lu %s lat %lu status 0x%02x sense %02x/%02x/%02x%s\n", l->name,
	       ms_since(start_ns), w ? "write" : "read", ms_since(l->t0), l->c.status,
	       l->c.status ? l->c.sense[2] & 0xf : 0, l->c.status ? l->c.sense[12] : 0,
	       l->c.status ? l->c.sense[13] : 0, bad ? " MISMATCH" : "");
	fflush(stdout);
	if (w && l->c.status == 0) {
		l->good_pat = l->pat;
		l->have_good = true;
		l->write_next = false;
	} else {
		/* a read, or a failed write (the blocks' content is unknown): write next */
		l->have_good &= !w;
		l->write_next = true;
	}
}

static void lun_close(struct lun *l)
{
	uint64_t t = clock_now_ns();

	while (l->busy && clock_now_ns() - t < 60000000000ull) {
		sim_poll(l->sim, 100);
		lun_check(l);
	}
	if (l->busy) {
		printf("%c stuck\n", l->name);
		fflush(stdout);
		exit(1);
	}
	if (ring_dev_stop(l->dev) < 0)
		printf("%c flush at stop failed\n", l->name);
	if (sim_is_broken(l->sim))
		DIE("%c: ring broken: %s", l->name, sim_error(l->sim));
	t = clock_now_ns();
	blk_close(l->bs);
	printf("%c closed in %lu ms\n", l->name, ms_since(t));
	fflush(stdout);
	sim_free(l->sim);
	free(l->c.dbi);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", 1, NULL, 's' },
		{ "interval-ms", 1, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long seconds = 10, interval = 200;
	struct lun a, b;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 's')
			seconds = strtoul(optarg, NULL, 0);
		else if (c == 'i')
			interval = strtoul(optarg, NULL, 0);
		else
			return 2;
	}
	if (argc - optind != 2 || !interval) {
		fprintf(stderr, "usage: qemu-tcmu-simfault [--seconds N] [--interval-ms N] "
				"CFG_A CFG_B\n");
		return 2;
	}
	log_set_prefix("simfault");
	lun_open(&a, 'A', argv[optind]);
	lun_open(&b, 'B', argv[optind + 1]);
	printf("ready\n");
	fflush(stdout);
	start_ns = clock_now_ns();
	while (ms_since(start_ns) < seconds * 1000) {
		uint64_t tick = clock_now_ns();

		if (!a.busy)
			lun_submit(&a);
		if (!b.busy)
			lun_submit(&b);
		while (ms_since(tick) < interval) {
			sim_poll(b.sim, 10);
			lun_check(&a);
			lun_check(&b);
		}
	}
	lun_close(&a);
	lun_close(&b);
	printf("done\n");
	return 0;
}
