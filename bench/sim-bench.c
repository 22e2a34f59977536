/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sim-bench: the daemon's whole data path without a kernel.  The main thread plays LIO
 * and the initiator on the ring simulator (sim.h): it keeps DEPTH SCSI READ(16)/WRITE(16)
 * commands in flight, queues each batch of new commands with one notification (the
 * kernel's plugging), and waits for the device's kick.  A production ring_dev (its own
 * thread and event loop) serves the ring with the real SCSI layer over a block node
 * opened from a config string exactly as the daemon opens it (cfgstr_open).
 *
 *   sim-bench [-c COUNT | -T SECONDS] [-W SECONDS] [-d DEPTH] [-s BUFSIZE] [-S STEP] [-r] [-w]
 *             [-M READPCT] [-b BLOCKSIZE] [-o START] [-v] [-F] [-R] [-P POLL_US] CFGSTRING
 *
 *   -c COUNT     commands to complete (default 100000); -T runs for SECONDS instead (with
 *                both, whichever ends first)
 *   -W SECONDS   first run the workload that long, unmeasured (start-up: page faults in
 *                the data area, caches, worker threads)
 *   -d DEPTH     commands in flight (default 32)
 *   -s BUFSIZE   bytes per command (default 4k)
 *   -S STEP      sequential offsets advance by STEP (default BUFSIZE), wrapping at the end
 *   -r           random offsets (aligned to BUFSIZE)
 *   -w           writes only; -M READPCT: that percentage of reads, the rest writes
 *   -b BLOCKSIZE the LUN's logical block size, 512 (default, LIO's) or 4096
 *   -o START     the first sequential offset (default 0)
 *   -v           check every byte read (else the first 16 bytes of each 512-byte sector)
 *   -F           first fill the whole image with stamped data, untimed (for the memory
 *                driver, whose unwritten chunks would otherwise be allocated in the run)
 *   -R           report the process's RSS: before opening, with the device idle, and
 *                idle again after the run
 *   -P POLL_US   the device thread's busy polling (the daemon's --poll-us; default 50)
 *
 * Data check: writes stamp every 512-byte sector with a magic and its byte offset (the
 * rest of the sector is one fill byte); a sector read must carry the stamp of its own
 * offset or be uniform (never written by us: zeroes, or a peer's fill pattern).  Mixed
 * runs never read a range that is being written.  A CHECK CONDITION, a short read or a
 * failed check counts as an error, and errors fail the run (exit status 1).
 *
 * Prints one JSON object: ops, errors, seconds, iops, mbps, p50/p99 latency (us, from
 * queueing to the completion being seen), CPU per command (daemon side: every thread but
 * the main one, i.e. the device thread, io_uring and pool workers; sim side: the main
 * thread, which does what the kernel would), kicks and wake-ups per command.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"
#include "block/block.h"
#include "block/cfgstr.h"
#include "transport/ring-dev.h"
#include "transport/sim.h"
#include "util/clock.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/opts.h"

#define SECTOR 512u
#define STAMP_MAGIC 0x68636e6562747171ull /* "qqtbench" */
#define MAX_DEPTH 1024u
#define OP_READ_16 0x88
#define OP_WRITE_16 0x8a

struct io {
	struct sim_cmd c;
	uint8_t *buf;
	uint64_t off;
	uint64_t t0;
	uint8_t fill;
	bool write, busy;
};

struct bench {
	/* options */
	uint64_t count, bufsize, step, start;
	unsigned int depth;
	uint32_t block_size;
	int read_pct;
	bool random, verify, fill, rss;
	unsigned int poll_us;
	double secs, warmup;
	/* state */
	struct sim *sim;
	struct blk_node *bs;
	struct ring_dev *dev;
	uint64_t size, next_off, rng;
	uint64_t issued, done, errors, deadline_ns;
	struct io *ios;
	uint32_t *lat_ns;
	uint64_t nlat, lat_cap;
	const char *first_error;
};

#define DIE(...)                                            \
	do {                                                \
		fprintf(stderr, "sim-bench: " __VA_ARGS__); \
		fputc('\n', stderr);                        \
		exit(1);                                    \
	} while (0)

static double cpu_seconds(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* ---- the data check ----------------------------------------------------------------- */

static void stamp(struct io *io)
{
	for (uint64_t s = 0; s < io->c.len; s += SECTOR) {
		uint64_t hdr[2] = { STAMP_MAGIC, io->off + s };

		memcpy(io->buf + s, hdr, sizeof(hdr));
	}
}

static bool uniform(const uint8_t *p, size_t len)
{
	return p[0] == p[len - 1] && !memcmp(p, p + 1, len - 1);
}

static bool sector_ok(const struct bench *b, const uint8_t *p, uint64_t off)
{
	uint64_t hdr[2];

	memcpy(hdr, p, sizeof(hdr));
	if (hdr[0] == STAMP_MAGIC && hdr[1] == off)
		return !b->verify || uniform(p + 16, SECTOR - 16);
	return uniform(p, b->verify ? SECTOR : 16);
}

static void io_error(struct bench *b, const char *what)
{
	if (!b->errors++)
		b->first_error = what;
}

static void check_read(struct bench *b, struct io *io)
{
	if (io->c.xfer_len != io->c.len) {
		io_error(b, "short read");
		return;
	}
	for (uint64_t s = 0; s < io->c.len; s += SECTOR) {
		if (!sector_ok(b, io->buf + s, io->off + s)) {
			if (!b->errors)
				fprintf(stderr,
					"sim-bench: read at %" PRIu64 ": sector %" PRIu64
					" is neither ours nor uniform\n",
					io->off, (io->off + s) / SECTOR);
			io_error(b, "data check failed");
			return;
		}
	}
}

/* ---- issuing and completing ---------------------------------------------------------- */

static bool overlaps_write(const struct bench *b, uint64_t off)
{
	for (unsigned int i = 0; i < b->depth; i++) {
		const struct io *o = &b->ios[i];

		if (o->busy && o->write && off < o->off + b->bufsize && o->off < off + b->bufsize)
			return true;
	}
	return false;
}

static uint64_t next_offset(struct bench *b)
{
	uint64_t off;

	if (b->random)
		return (bench_rand(&b->rng) % (b->size / b->bufsize)) * b->bufsize;
	off = b->next_off;
	/* modulo the size, as qemu-img bench: a step co-prime with the number of buffers
	 * visits every buffer once per lap */
	b->next_off = (b->next_off + b->step) % b->size;
	if (b->next_off + b->bufsize > b->size)
		b->next_off = 0;
	return off;
}

static void issue(struct bench *b, struct io *io)
{
	bool write = (int)(bench_rand(&b->rng) % 100) >= b->read_pct;
	bool mixed = b->read_pct > 0 && b->read_pct < 100;
	uint64_t off = next_offset(b), lba, nlb;
	int r;

	/* a read must not race with a write of the same range (the data check) */
	while (mixed && overlaps_write(b, off))
		off = next_offset(b);
	io->off = off;
	io->write = write;
	lba = off / b->block_size;
	nlb = b->bufsize / b->block_size;
	memset(io->c.cdb, 0, 16);
	io->c.cdb[0] = write ? OP_WRITE_16 : OP_READ_16;
	put_be(io->c.cdb + 2, lba, 8);
	put_be(io->c.cdb + 10, nlb, 4);
	io->c.dir = write ? SIM_DIR_WRITE : SIM_DIR_READ;
	io->c.buf = io->buf;
	io->c.len = (uint32_t)b->bufsize;
	if (write)
		stamp(io);
	io->t0 = clock_now_ns();
	r = sim_submit(b->sim, &io->c);
	if (r < 0) /* the data area and ring are sized for DEPTH commands */
		DIE("submit: %s", strerror(-r));
	io->busy = true;
	b->issued++;
}

static bool may_issue(const struct bench *b, uint64_t t)
{
	return b->issued < b->count && (!b->deadline_ns || t < b->deadline_ns);
}

/* Account every command the last poll completed and queue its successor. */
static void reap(struct bench *b, uint64_t t)
{
	sim_plug(b->sim);
	for (unsigned int i = 0; i < b->depth; i++) {
		struct io *io = &b->ios[i];

		if (!io->busy || !io->c.done)
			continue;
		io->busy = false;
		b->done++;
		if (b->nlat < b->lat_cap)
			b->lat_ns[b->nlat++] = (uint32_t)MIN(t - io->t0, (uint64_t)UINT32_MAX);
		if (io->c.status)
			io_error(b, io->c.status == 2 ? "CHECK CONDITION" : "bad SCSI status");
		else if (!io->write)
			check_read(b, io);
		if (may_issue(b, t))
			issue(b, io);
	}
	sim_unplug(b->sim);
}

static void run(struct bench *b)
{
	sim_plug(b->sim);
	for (unsigned int i = 0; i < b->depth && may_issue(b, clock_now_ns()); i++)
		issue(b, &b->ios[i]);
	sim_unplug(b->sim);
	while (b->done < b->issued) {
		int r = sim_poll(b->sim, 60000);

		if (r == -ETIMEDOUT)
			DIE("no completion for 60 s (%u commands in the ring)",
			    sim_inflight(b->sim));
		if (r < 0 && r != -EINTR)
			DIE("ring broken: %s",
			    sim_is_broken(b->sim) ? sim_error(b->sim) : strerror(-r));
		reap(b, clock_now_ns());
	}
}

/* ---- setup ---------------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: sim-bench [-c COUNT | -T SECONDS] [-d DEPTH] [-s BUFSIZE] "
			"[-W SECONDS] [-S STEP] [-r] [-w] [-M READPCT] [-b BLOCKSIZE] [-o START] "
			"[-v] [-F] [-R] [-P POLL_US] "
			"CFGSTRING\n");
	exit(2);
}

static uint64_t number(const char *s)
{
	uint64_t v;

	if (parse_size(s, &v) < 0)
		DIE("bad number '%s'", s);
	return v;
}

static void parse_args(struct bench *b, int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "c:T:W:d:s:S:rwM:b:o:vFRP:h")) != -1) {
		switch (c) {
		case 'c':
			b->count = number(optarg);
			break;
		case 'T':
			b->secs = atof(optarg);
			break;
		case 'W':
			b->warmup = atof(optarg);
			break;
		case 'd':
			b->depth = (unsigned int)number(optarg);
			break;
		case 's':
			b->bufsize = number(optarg);
			break;
		case 'S':
			b->step = number(optarg);
			break;
		case 'r':
			b->random = true;
			break;
		case 'w':
			b->read_pct = 0;
			break;
		case 'M':
			b->read_pct = atoi(optarg);
			break;
		case 'b':
			b->block_size = (uint32_t)number(optarg);
			break;
		case 'o':
			b->start = number(optarg);
			break;
		case 'v':
			b->verify = true;
			break;
		case 'F':
			b->fill = true;
			break;
		case 'R':
			b->rss = true;
			break;
		case 'P':
			b->poll_us = (unsigned int)number(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	if (!b->step)
		b->step = b->bufsize;
	if (b->block_size != 512 && b->block_size != 4096)
		DIE("block size must be 512 or 4096");
	if (!b->count)
		b->count = b->secs > 0 ? UINT64_MAX : 100000;
	if (!b->depth || b->depth > MAX_DEPTH || b->read_pct < 0 || b->read_pct > 100)
		DIE("bad depth, count or read percentage");
	if (!b->bufsize || b->bufsize % b->block_size || b->bufsize > (64u << 20) ||
	    b->step % b->block_size || b->start % b->block_size)
		DIE("sizes must be multiples of the block size (buffers up to 64 MiB)");
}

/* Stamped data everywhere, through the blocking API before the device owns the node. */
static void fill_image(struct bench *b)
{
	struct io io = { .c.len = 1u << 20 };

	io.buf = malloc(io.c.len);
	if (!io.buf)
		DIE("out of memory");
	memset(io.buf, 0x11, io.c.len);
	for (io.off = 0; io.off < b->size; io.off += io.c.len) {
		uint64_t len = MIN((uint64_t)io.c.len, b->size - io.off);

		stamp(&io);
		if (blk_pwrite(b->bs, io.off, io.buf, len, 0) < 0)
			DIE("cannot fill the image at %" PRIu64, io.off);
	}
	free(io.buf);
}

static void setup(struct bench *b, const char *cfg)
{
	struct sim_params sp = { 0 };
	struct ring_dev_params p = { .name = "bench", .poll_us = b->poll_us };
	char id[CFGSTR_ID_MAX];
	struct err err;
	uint64_t data = ALIGN_UP((uint64_t)b->depth * b->bufsize, 1u << 20);

	err_init(&err);
	if (cfgstr_open(cfg, b->read_pct < 100 || b->fill ? BLK_O_RDWR : 0, &b->bs, id, &err) < 0)
		DIE("%s", err.msg);
	b->size = (uint64_t)blk_getlength(b->bs) / b->block_size * b->block_size;
	if (b->size < b->bufsize || b->start >= b->size)
		DIE("image smaller than the buffer or the start offset");
	b->next_off = b->start;
	if (b->fill)
		fill_image(b);
	/* as LIO would size it: room for DEPTH commands of BUFSIZE (at least 8 MiB) */
	sp.data_size = (uint32_t)MAX(data, 8ull << 20);
	if (sim_new(&sp, &b->sim, &err) < 0)
		DIE("%s", err.msg);
	sim_daemon_map(b->sim, &p.map, &p.map_size);
	p.fd = sim_daemon_fd(b->sim);
	p.bs = b->bs;
	p.max_inflight = MAX(128u, b->depth); /* LIO's hw_queue_depth */
	p.lun.block_size = b->block_size;
	p.lun.size = b->size;
	p.lun.max_sectors = (uint32_t)(b->bufsize / b->block_size);
	if (ring_dev_start(&p, &b->dev, &err) < 0)
		DIE("%s", err.msg);
}

static void alloc_ios(struct bench *b)
{
	b->ios = calloc(b->depth, sizeof(*b->ios));
	b->lat_cap = MIN(b->count, 1ull << 24);
	b->lat_ns = malloc(b->lat_cap * sizeof(*b->lat_ns));
	if (!b->ios || !b->lat_ns)
		DIE("out of memory");
	for (unsigned int i = 0; i < b->depth; i++) {
		struct io *io = &b->ios[i];

		if (posix_memalign((void **)&io->buf, 4096, b->bufsize))
			DIE("out of memory");
		io->fill = (uint8_t)(0xa0 + i % 64);
		memset(io->buf, io->fill, b->bufsize);
	}
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;

	return a < c ? -1 : a > c;
}

static double pct_us(const struct bench *b, unsigned int pct)
{
	if (!b->nlat)
		return 0;
	return (double)b->lat_ns[MIN(b->nlat * pct / 100, b->nlat - 1)] / 1000.0;
}

int main(int argc, char **argv)
{
	struct bench b = { .count = 0,
			   .bufsize = 4096,
			   .depth = 32,
			   .block_size = SECTOR,
			   .read_pct = 100,
			   .poll_us = 50,
			   .rng = 88172645463325252ull };
	struct ring_dev_stats st, st0;
	double t, cpu_all, cpu_main;
	long rss0 = 0, rss_idle = 0, rss_after = 0;
	uint64_t notifies0;

	parse_args(&b, argc, argv);
	if (b.rss)
		rss0 = rss_kib();
	setup(&b, argv[optind]);
	if (b.rss)
		rss_idle = rss_kib();
	alloc_ios(&b);
	if (b.warmup > 0) {
		uint64_t count = b.count;

		b.count = UINT64_MAX;
		b.deadline_ns = clock_now_ns() + (uint64_t)(b.warmup * 1e9);
		run(&b);
		b.count = count;
		b.issued = b.done = b.nlat = 0;
		b.deadline_ns = 0;
	}
	ring_dev_get_stats(b.dev, &st0);
	if (b.secs > 0)
		b.deadline_ns = clock_now_ns() + (uint64_t)(b.secs * 1e9);
	notifies0 = sim_stats(b.sim)->notifies;
	t = (double)clock_now_ns();
	cpu_all = cpu_seconds(RUSAGE_SELF);
	cpu_main = cpu_seconds(RUSAGE_THREAD);
	run(&b);
	t = ((double)clock_now_ns() - t) / 1e9;
	cpu_main = cpu_seconds(RUSAGE_THREAD) - cpu_main;
	cpu_all = cpu_seconds(RUSAGE_SELF) - cpu_all;
	ring_dev_get_stats(b.dev, &st);
	if (b.rss)
		rss_after = rss_kib();
	qsort(b.lat_ns, b.nlat, sizeof(*b.lat_ns), cmp_u32);
	{
		double n = (double)(b.done ? b.done : 1);

		printf("{\"ops\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"seconds\": %.3f, "
		       "\"iops\": %.0f, \"mbps\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
		       "\"cpu_us_per_op\": %.2f, \"sim_cpu_us_per_op\": %.2f, "
		       "\"kicks_per_op\": %.3f, \"wakeups_per_op\": %.3f, "
		       "\"notifies_per_op\": %.3f, \"max_inflight\": %u",
		       b.done, b.errors, t, (double)b.done / t,
		       (double)b.done * (double)b.bufsize / t / 1e6, pct_us(&b, 50), pct_us(&b, 99),
		       (cpu_all - cpu_main) * 1e6 / n, cpu_main * 1e6 / n,
		       (double)(st.kicks - st0.kicks) / n, (double)(st.wakeups - st0.wakeups) / n,
		       (double)(sim_stats(b.sim)->notifies - notifies0) / n, st.max_seen);
		if (b.rss)
			printf(", \"rss_start_kib\": %ld, \"rss_idle_kib\": %ld, "
			       "\"rss_after_kib\": %ld",
			       rss0, rss_idle, rss_after);
		printf("}\n");
	}
	if (b.errors)
		fprintf(stderr, "sim-bench: %" PRIu64 " errors (first: %s)\n", b.errors,
			b.first_error);
	if (ring_dev_stop(b.dev) < 0)
		DIE("flush at the end failed");
	if (sim_is_broken(b.sim))
		DIE("ring broken: %s", sim_error(b.sim));
	for (unsigned int i = 0; i < b.depth; i++) {
		free(b.ios[i].buf);
		free(b.ios[i].c.dbi);
	}
	free(b.ios);
	free(b.lat_ns);
	blk_close(b.bs);
	sim_free(b.sim);
	return b.errors ? 1 : 0;
}
