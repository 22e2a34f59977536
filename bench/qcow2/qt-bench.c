/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qt-bench: drive a node graph through the async API at a fixed queue depth, like
 * `qemu-img bench`, to compare the two on the same files.
 *
 *   qt-bench [-c COUNT] [-d DEPTH] [-s SIZE] [-S STEP] [-r] [-w] [-f FMT] [-t CACHE] IMAGE
 *
 * Offsets advance by STEP (default SIZE) from 0 and wrap at the image end, as qemu-img
 * bench does; -r picks random SIZE-aligned offsets instead.  Prints one line:
 * "<ops> ops, <seconds> s, <IOPS> IOPS, <MiB/s> MiB/s".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/block.h"
#include "util/aio.h"
#include "util/err.h"
#include "util/opts.h"

struct bench {
	struct blk_node *bs;
	uint64_t size, bs_len, step, next, count, submitted, done;
	bool write, random;
	int errors;
	uint64_t rng;
};

struct slot {
	struct blk_req req;
	struct iovec iov;
	struct bench *b;
};

static uint64_t next_off(struct bench *b)
{
	uint64_t off;

	if (b->random) {
		b->rng ^= b->rng << 13;
		b->rng ^= b->rng >> 7;
		b->rng ^= b->rng << 17;
		return (b->rng % (b->size / b->bs_len)) * b->bs_len;
	}
	off = b->next;
	b->next += b->step;
	if (b->next + b->bs_len > b->size)
		b->next = 0;
	return off;
}

static void submit(struct slot *s);

static void done(struct blk_req *req, int ret)
{
	struct slot *s = (struct slot *)req;

	s->b->done++;
	if (ret < 0)
		s->b->errors++;
	if (s->b->submitted < s->b->count)
		submit(s);
}

static void submit(struct slot *s)
{
	struct bench *b = s->b;

	b->submitted++;
	s->req = (struct blk_req){ .op = b->write ? BLK_OP_WRITE : BLK_OP_READ,
				   .off = next_off(b),
				   .len = b->bs_len,
				   .iov = &s->iov,
				   .iovcnt = 1,
				   .cb = done };
	blk_req_submit(b->bs, &s->req);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct bench b = { .count = 75000, .bs_len = 4096, .rng = 88172645463325252ull };
	const char *fmt = NULL, *cache = "writeback";
	unsigned int depth = 64;
	struct aio_ctx *ctx;
	struct slot *slots;
	char cfg[4200];
	struct err err;
	double t;
	int c;

	while ((c = getopt(argc, argv, "c:d:s:S:rwf:t:")) != -1) {
		uint64_t v = 0;

		if (strchr("cdsS", c) && parse_size(optarg, &v) < 0) {
			fprintf(stderr, "qt-bench: bad number '%s'\n", optarg);
			return 2;
		}
		switch (c) {
		case 'c':
			b.count = v;
			break;
		case 'd':
			depth = (unsigned int)v;
			break;
		case 's':
			b.bs_len = v;
			break;
		case 'S':
			b.step = v;
			break;
		case 'r':
			b.random = true;
			break;
		case 'w':
			b.write = true;
			break;
		case 'f':
			fmt = optarg;
			break;
		case 't':
			cache = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1 || !depth || !b.bs_len) {
		fprintf(stderr, "usage: qt-bench [-c N] [-d DEPTH] [-s SIZE] [-S STEP] [-r] [-w] "
				"[-f FMT] [-t CACHE] IMAGE\n");
		return 2;
	}
	if (!b.step)
		b.step = b.bs_len;
	snprintf(cfg, sizeof(cfg), "@file=%s@cache=%s%s%s", argv[optind], cache,
		 fmt ? "@format=" : "", fmt ? fmt : "");
	err_init(&err);
	if (blk_open_str(cfg, BLK_O_RDWR, &b.bs, &err) < 0) {
		fprintf(stderr, "qt-bench: %s\n", err.msg);
		return 1;
	}
	b.size = (uint64_t)blk_getlength(b.bs);
	ctx = aio_ctx_new();
	slots = calloc(depth, sizeof(*slots));
	if (!ctx || !slots || blk_attach_ctx(b.bs, ctx) < 0)
		return 1;
	t = now();
	for (unsigned int i = 0; i < depth && b.submitted < b.count; i++) {
		void *p = NULL;

		if (posix_memalign(&p, 4096, b.bs_len))
			return 1;
		memset(p, 0xa5, b.bs_len);
		slots[i] = (struct slot){ .iov = { p, b.bs_len }, .b = &b };
		submit(&slots[i]);
	}
	while (b.done < b.count)
		aio_poll(ctx, true);
	t = now() - t;
	printf("%" PRIu64 " ops, %.3f s, %.0f IOPS, %.1f MiB/s%s\n", b.count, t,
	       (double)b.count / t, (double)b.count * (double)b.bs_len / t / 1048576.0,
	       b.errors ? " (ERRORS)" : "");
	blk_attach_ctx(b.bs, NULL);
	blk_close(b.bs);
	for (unsigned int i = 0; i < depth; i++)
		free(slots[i].iov.iov_base);
	free(slots);
	aio_ctx_free(ctx);
	return b.errors ? 1 : 0;
}
