/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "io-cmds.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/block.h"
#include "util/aio.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/opts.h"

#define IO_MAX_ARGS 32

struct io_cmd {
	const char *name;
	const char *args;
	const char *help;
	int (*fn)(struct blk_node *bs, int argc, char **argv, bool quiet);
};

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int get_num(const char *what, const char *s, uint64_t *out)
{
	if (parse_size(s, out) < 0) {
		fprintf(stderr, "%s: invalid number '%s'\n", what, s);
		return -EINVAL;
	}
	return 0;
}

static int get_pattern(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 0);

	if (*end || v < 0 || v > 255) {
		fprintf(stderr, "invalid pattern '%s' (0..255)\n", s);
		return -EINVAL;
	}
	*out = (int)v;
	return 0;
}

static void *alloc_buf(uint64_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, len ? len : 1))
		return NULL;
	return p;
}

static void report(const char *op, uint64_t off, uint64_t len, double t, bool quiet)
{
	if (quiet)
		return;
	printf("%s %" PRIu64 "/%" PRIu64 " bytes at offset %" PRIu64 "\n", op, len, len, off);
	printf("%.3f MiB, 1 ops; %.4f sec (%.3f MiB/sec)\n", (double)len / 1048576.0, t,
	       t > 0 ? (double)len / 1048576.0 / t : 0.0);
}

static void dump_hex(const uint8_t *buf, uint64_t off, uint64_t len)
{
	for (uint64_t i = 0; i < len; i += 16) {
		uint64_t n = MIN(16, len - i);

		printf("%08" PRIx64 ":  ", off + i);
		for (uint64_t j = 0; j < 16; j++) {
			if (j < n)
				printf("%02x ", buf[i + j]);
			else
				printf("   ");
		}
		printf(" ");
		for (uint64_t j = 0; j < n; j++)
			putchar(buf[i + j] >= 0x20 && buf[i + j] < 0x7f ? buf[i + j] : '.');
		putchar('\n');
	}
}

static int check_errno(const char *op, int r)
{
	if (r < 0)
		fprintf(stderr, "%s failed: %s\n", op, strerror(-r));
	return r < 0;
}

static struct aio_ctx *io_ctx;

void io_cmds_use_ctx(struct aio_ctx *ctx)
{
	io_ctx = ctx;
}

struct wait_req {
	struct blk_req req;
	struct iovec iov;
	bool done;
	int ret;
};

static void wait_req_done(struct blk_req *req, int ret)
{
	struct wait_req *w = container_of(req, struct wait_req, req);

	w->ret = ret;
	w->done = true;
}

/* One request: through the asynchronous path when a loop is in use, else blocking. */
static int do_req(struct blk_node *bs, enum blk_op op, uint64_t off, void *buf, uint64_t len,
		  unsigned int flags)
{
	struct wait_req w = { .iov = { .iov_base = buf, .iov_len = len } };

	if (!io_ctx) {
		if (op == BLK_OP_READ)
			return blk_pread(bs, off, buf, len);
		return op == BLK_OP_WRITE ? blk_pwrite(bs, off, buf, len, flags) : blk_flush(bs);
	}
	w.req = (struct blk_req){ .op = op,
				  .flags = flags,
				  .off = off,
				  .len = len,
				  .iov = op == BLK_OP_FLUSH ? NULL : &w.iov,
				  .iovcnt = op == BLK_OP_FLUSH ? 0 : 1,
				  .cb = wait_req_done };
	blk_req_submit(bs, &w.req);
	while (!w.done)
		aio_poll(io_ctx, true);
	return w.ret;
}

static int cmd_read(struct blk_node *bs, int argc, char **argv, bool quiet)
{
	int pattern = -1, c, r;
	bool verbose = false;
	uint64_t off, len;
	uint8_t *buf;
	double t;

	optind = 0;
	while ((c = getopt(argc, argv, "+P:vq")) != -1) {
		switch (c) {
		case 'P':
			if (get_pattern(optarg, &pattern))
				return 1;
			break;
		case 'v':
			verbose = true;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			return 1;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "read: expected OFFSET LENGTH\n");
		return 1;
	}
	if (get_num("read", argv[optind], &off) || get_num("read", argv[optind + 1], &len))
		return 1;
	buf = alloc_buf(len);
	if (!buf)
		return check_errno("read", -ENOMEM);
	t = now_sec();
	r = do_req(bs, BLK_OP_READ, off, buf, len, 0);
	t = now_sec() - t;
	if (r == 0 && pattern >= 0) {
		for (uint64_t i = 0; i < len; i++) {
			if (buf[i] != pattern) {
				fprintf(stderr,
					"Pattern verification failed at offset %" PRIu64
					", %" PRIu64 " bytes (found 0x%02x, expected 0x%02x)\n",
					off + i, len, buf[i], pattern);
				free(buf);
				return 1;
			}
		}
	}
	if (r == 0 && verbose)
		dump_hex(buf, off, len);
	free(buf);
	if (check_errno("read", r))
		return 1;
	report("read", off, len, t, quiet);
	return 0;
}

static int cmd_write(struct blk_node *bs, int argc, char **argv, bool quiet)
{
	int pattern = 0xcd, c, r;
	unsigned int flags = 0;
	bool zero = false, unmap = false;
	uint64_t off, len;
	double t;

	optind = 0;
	while ((c = getopt(argc, argv, "+P:zufq")) != -1) {
		switch (c) {
		case 'P':
			if (get_pattern(optarg, &pattern))
				return 1;
			break;
		case 'z':
			zero = true;
			break;
		case 'u':
			unmap = true;
			break;
		case 'f':
			flags |= BLK_REQ_FUA;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			return 1;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "write: expected OFFSET LENGTH\n");
		return 1;
	}
	if (get_num("write", argv[optind], &off) || get_num("write", argv[optind + 1], &len))
		return 1;
	if (unmap && !zero) {
		fprintf(stderr, "write: -u requires -z\n");
		return 1;
	}
	t = now_sec();
	if (zero) {
		r = blk_write_zeroes(bs, off, len, flags | (unmap ? BLK_REQ_MAY_UNMAP : 0));
	} else {
		uint8_t *buf = alloc_buf(len);

		if (!buf)
			return check_errno("write", -ENOMEM);
		memset(buf, pattern, len);
		r = do_req(bs, BLK_OP_WRITE, off, buf, len, flags);
		free(buf);
	}
	t = now_sec() - t;
	if (check_errno("write", r))
		return 1;
	report("wrote", off, len, t, quiet);
	return 0;
}

static int cmd_discard(struct blk_node *bs, int argc, char **argv, bool quiet)
{
	uint64_t off, len;
	int r;

	if (argc != 3) {
		fprintf(stderr, "discard: expected OFFSET LENGTH\n");
		return 1;
	}
	if (get_num("discard", argv[1], &off) || get_num("discard", argv[2], &len))
		return 1;
	r = blk_discard(bs, off, len);
	if (check_errno("discard", r))
		return 1;
	if (!quiet)
		printf("discard %" PRIu64 "/%" PRIu64 " bytes at offset %" PRIu64 "\n", len, len,
		       off);
	return 0;
}

static int cmd_flush(struct blk_node *bs, int argc, char **argv, bool quiet)
{
	(void)argc;
	(void)argv;
	(void)quiet;
	return check_errno("flush", do_req(bs, BLK_OP_FLUSH, 0, NULL, 0, 0));
}

struct map_entry {
	uint64_t start, length, offset;
	int depth;
	bool present, zero, data, has_offset;
};

static bool map_mergeable(const struct map_entry *a, const struct map_entry *b)
{
	return a->length && a->zero == b->zero && a->data == b->data && a->depth == b->depth &&
	       a->present == b->present && a->has_offset == b->has_offset &&
	       (!a->has_offset || a->offset + a->length == b->offset);
}

static void map_print(const struct map_entry *e, bool json, bool first)
{
	if (json) {
		printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %d, "
		       "\"present\": %s, \"zero\": %s, \"data\": %s",
		       first ? "[" : ",\n", e->start, e->length, e->depth,
		       e->present ? "true" : "false", e->zero ? "true" : "false",
		       e->data ? "true" : "false");
		if (e->has_offset)
			printf(", \"offset\": %" PRIu64, e->offset);
		printf("}");
		return;
	}
	printf("%#-16" PRIx64 "%#-16" PRIx64 "%-6d%-9s%-6s%-6s", e->start, e->length, e->depth,
	       e->present ? "present" : "-", e->zero ? "zero" : "-", e->data ? "data" : "-");
	if (e->has_offset)
		printf("%#" PRIx64, e->offset);
	printf("\n");
}

/* map [-j]: allocation as qemu-img map reports it (-j: its JSON). */
static int cmd_map(struct blk_node *bs, int argc, char **argv, bool quiet)
{
	uint64_t size = (uint64_t)blk_getlength(bs), off = 0;
	struct map_entry cur = { 0 };
	bool json = argc > 1 && !strcmp(argv[1], "-j"), first = true;

	(void)quiet;
	if (!json)
		printf("%-16s%-16s%-6s%-9s%-6s%-6s%s\n", "Offset", "Length", "Depth", "Present",
		       "Zero", "Data", "Mapped at");
	while (off < size) {
		struct map_entry e = { .start = off };
		uint64_t n, map;
		int r = blk_block_status_chain(bs, off, MIN(size - off, 1ull << 30), &n, &map, NULL,
					       &e.depth);

		if (r < 0)
			return check_errno("map", r);
		e.length = n;
		e.present = r & BLK_STATUS_ALLOCATED;
		e.zero = r & BLK_STATUS_ZERO;
		e.data = r & BLK_STATUS_DATA;
		e.has_offset = r & BLK_STATUS_OFFSET_VALID;
		e.offset = e.has_offset ? map : 0;
		if (cur.length && map_mergeable(&cur, &e)) {
			cur.length += e.length;
		} else {
			if (cur.length) {
				map_print(&cur, json, first);
				first = false;
			}
			cur = e;
		}
		off += n;
	}
	if (cur.length)
		map_print(&cur, json, first);
	if (json)
		printf(first && !cur.length ? "[]\n" : "]\n");
	return 0;
}

static int cmd_info(struct blk_node *bs, int argc, char **argv, bool quiet)
{
	char buf[4096];

	(void)argc;
	(void)argv;
	(void)quiet;
	blk_describe(bs, buf, sizeof(buf));
	fputs(buf, stdout);
	return 0;
}

static int cmd_length(struct blk_node *bs, int argc, char **argv, bool quiet)
{
	(void)argc;
	(void)argv;
	(void)quiet;
	printf("%" PRId64 "\n", blk_getlength(bs));
	return 0;
}

static int cmd_truncate(struct blk_node *bs, int argc, char **argv, bool quiet)
{
	struct err err;
	uint64_t size;

	(void)quiet;
	if (argc != 2) {
		fprintf(stderr, "truncate: expected SIZE\n");
		return 1;
	}
	if (get_num("truncate", argv[1], &size))
		return 1;
	err_init(&err);
	if (blk_truncate(bs, size, &err) < 0) {
		fprintf(stderr, "truncate failed: %s\n", err.msg);
		return 1;
	}
	return 0;
}

static int cmd_help(struct blk_node *bs, int argc, char **argv, bool quiet);

static const struct io_cmd io_cmds[] = {
	{ "read", "[-P pattern] [-v] [-q] off len", "read and optionally verify a pattern",
	  cmd_read },
	{ "write", "[-P pattern | -z [-u]] [-f] [-q] off len",
	  "write a pattern (default 0xcd) or zeroes (-z, -u may unmap); -f = FUA", cmd_write },
	{ "discard", "off len", "discard (unmap) a range", cmd_discard },
	{ "flush", "", "flush caches to stable storage", cmd_flush },
	{ "map", "[-j]", "allocation map (-j: qemu-img map --output=json format)", cmd_map },
	{ "info", "", "image information", cmd_info },
	{ "length", "", "image length in bytes", cmd_length },
	{ "truncate", "size", "resize the image", cmd_truncate },
	{ "help", "", "this list", cmd_help },
};

void io_cmd_help(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(io_cmds); i++)
		printf("  %-9s %-40s %s\n", io_cmds[i].name, io_cmds[i].args, io_cmds[i].help);
}

static int cmd_help(struct blk_node *bs, int argc, char **argv, bool quiet)
{
	(void)bs;
	(void)argc;
	(void)argv;
	(void)quiet;
	io_cmd_help();
	return 0;
}

int io_cmd_run(struct blk_node *bs, const char *line, bool quiet)
{
	char *copy = strdup(line), *argv[IO_MAX_ARGS], *save = NULL, *tok;
	int argc = 0, r = 1;

	if (!copy)
		return 1;
	for (tok = strtok_r(copy, " \t\n", &save); tok && argc < IO_MAX_ARGS - 1;
	     tok = strtok_r(NULL, " \t\n", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	if (argc == 0) {
		free(copy);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(io_cmds); i++) {
		if (!strcmp(argv[0], io_cmds[i].name)) {
			r = io_cmds[i].fn(bs, argc, argv, quiet);
			free(copy);
			return r;
		}
	}
	fprintf(stderr, "command '%s' not found (try 'help')\n", argv[0]);
	free(copy);
	return r;
}
