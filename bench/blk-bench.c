/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blk-bench: drive the block layer's async path at a fixed queue depth, like
 * `qemu-img bench` (same options where they exist), plus random offsets and mixes.
 *
 *   blk-bench [-c COUNT] [-d DEPTH] [-s BUFSIZE] [-S STEP] [-w] [-M READPCT] [-r]
 *             [-t CACHE] [-i AIO] [-f FMT] [-T SECONDS] IMAGE
 *
 * Prints one JSON object: ops, seconds, iops, mbps, p50/p99 latency (us), cpu us/op.
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
#include "util/aio.h"
#include "util/clock.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/opts.h"

struct bench;

struct slot {
	struct blk_req req;
	struct iovec iov;
	struct bench *b;
	uint64_t t0;
};

struct bench {
	struct blk_node *bs;
	uint64_t size, bufsize, step, next_off;
	uint64_t count, issued, done, errors;
	uint64_t deadline_ns;
	int read_pct; /* 100 = all reads */
	bool random;
	uint64_t rng;
	uint32_t *lat_us;
	uint64_t nlat, lat_cap;
};

static void issue(struct slot *s);

static void slot_done(struct blk_req *req, int ret)
{
	struct slot *s = (struct slot *)req;
	struct bench *b = s->b;
	uint64_t t = clock_now_ns();

	if (ret < 0)
		b->errors++;
	if (b->nlat < b->lat_cap)
		b->lat_us[b->nlat++] = (uint32_t)MIN((t - s->t0) / 1000, UINT32_MAX);
	b->done++;
	if (b->issued < b->count && (!b->deadline_ns || t < b->deadline_ns))
		issue(s);
}

static void issue(struct slot *s)
{
	struct bench *b = s->b;
	uint64_t blocks = b->size / b->bufsize;
	uint64_t off;

	if (b->random) {
		off = (bench_rand(&b->rng) % blocks) * b->bufsize;
	} else {
		off = b->next_off;
		b->next_off += b->step;
		if (b->next_off + b->bufsize > b->size)
			b->next_off = 0;
	}
	s->req.op = (int)(bench_rand(&b->rng) % 100) < b->read_pct ? BLK_OP_READ : BLK_OP_WRITE;
	s->req.flags = 0;
	s->req.off = off;
	s->req.len = b->bufsize;
	s->req.iov = &s->iov;
	s->req.iovcnt = 1;
	s->req.cb = slot_done;
	s->t0 = clock_now_ns();
	b->issued++;
	blk_req_submit(b->bs, &s->req);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void usage(void)
{
	fprintf(stderr, "usage: blk-bench [-c COUNT] [-d DEPTH] [-s BUFSIZE] [-S STEP] [-w] "
			"[-M READPCT] [-r] [-t CACHE] [-i AIO] [-f FMT] [-T SECONDS] IMAGE\n");
}

int main(int argc, char **argv)
{
	struct bench b = {
		.count = 75000, .bufsize = 4096, .read_pct = 100, .rng = 88172645463325252ull
	};
	const char *cache = NULL, *aio = NULL, *fmt = NULL;
	unsigned int depth = 64;
	double secs = 0, t, cpu;
	struct aio_ctx *ctx;
	struct slot *slots;
	struct opts o;
	struct err err;
	int c;

	while ((c = getopt(argc, argv, "c:d:s:S:wM:rt:i:f:T:h")) != -1) {
		uint64_t v = 0;

		switch (c) {
		case 'c':
		case 'd':
		case 's':
		case 'S':
			if (parse_size(optarg, &v) < 0 || !v) {
				fprintf(stderr, "blk-bench: bad number '%s'\n", optarg);
				return 2;
			}
			if (c == 'c')
				b.count = v;
			else if (c == 'd')
				depth = (unsigned int)v;
			else if (c == 's')
				b.bufsize = v;
			else
				b.step = v;
			break;
		case 'w':
			b.read_pct = 0;
			break;
		case 'M':
			b.read_pct = atoi(optarg);
			break;
		case 'r':
			b.random = true;
			break;
		case 't':
			cache = optarg;
			break;
		case 'i':
			aio = optarg;
			break;
		case 'f':
			fmt = optarg;
			break;
		case 'T':
			secs = atof(optarg);
			break;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind != 1) {
		usage();
		return 2;
	}
	if (!b.step)
		b.step = b.bufsize;
	opts_init(&o);
	err_init(&err);
	if (opts_parse_cfgstring(&o, argv[optind], &err) < 0 ||
	    (fmt && opts_add(&o, "driver", fmt, &err) < 0) ||
	    (cache && opts_add(&o, "cache", cache, &err) < 0) ||
	    (aio && opts_add(&o, "aio", aio, &err) < 0) ||
	    blk_open(&o, b.read_pct == 100 ? 0 : BLK_O_RDWR, &b.bs, &err) < 0 ||
	    opts_check_unused(&o, NULL, &err) < 0) {
		fprintf(stderr, "blk-bench: %s\n", err.msg);
		return 1;
	}
	opts_release(&o);
	ctx = aio_ctx_new();
	blk_attach_ctx(b.bs, ctx);
	b.size = (uint64_t)blk_getlength(b.bs);
	if (b.size < b.bufsize) {
		fprintf(stderr, "blk-bench: image smaller than the buffer\n");
		return 1;
	}
	b.lat_cap = MIN(b.count, 1u << 24);
	b.lat_us = malloc(b.lat_cap * sizeof(*b.lat_us));
	slots = calloc(depth, sizeof(*slots));
	for (unsigned int i = 0; i < depth; i++) {
		slots[i].b = &b;
		slots[i].iov.iov_len = b.bufsize;
		if (posix_memalign(&slots[i].iov.iov_base, 4096, b.bufsize))
			return 1;
		memset(slots[i].iov.iov_base, (int)i + 1, b.bufsize);
	}
	t = (double)clock_now_ns();
	cpu = cpu_seconds();
	if (secs > 0) {
		b.deadline_ns = clock_now_ns() + (uint64_t)(secs * 1e9);
		b.count = UINT64_MAX;
	}
	for (unsigned int i = 0; i < depth && b.issued < b.count; i++)
		issue(&slots[i]);
	while (b.done < b.issued)
		aio_poll(ctx, true);
	t = ((double)clock_now_ns() - t) / 1e9;
	cpu = cpu_seconds() - cpu;
	qsort(b.lat_us, b.nlat, sizeof(*b.lat_us), cmp_u32);
	printf("{\"ops\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"seconds\": %.3f, \"iops\": %.0f, "
	       "\"mbps\": %.1f, \"p50_us\": %u, \"p99_us\": %u, \"cpu_us_per_op\": %.2f}\n",
	       b.done, b.errors, t, (double)b.done / t,
	       (double)b.done * (double)b.bufsize / t / 1e6, b.nlat ? b.lat_us[b.nlat / 2] : 0,
	       b.nlat ? b.lat_us[b.nlat * 99 / 100] : 0, cpu * 1e6 / (double)(b.done ? b.done : 1));
	for (unsigned int i = 0; i < depth; i++)
		free(slots[i].iov.iov_base);
	free(slots);
	free(b.lat_us);
	blk_close(b.bs);
	aio_ctx_free(ctx);
	return b.errors ? 1 : 0;
}
