/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-tcmu-io: a qemu-io-style tool over our block layer, for debugging and tests.
 *
 *   qemu-tcmu-io [-f FMT] [-r] [-t CACHE] [-n] [-i AIO] [-o OPTS] [-c CMD]... IMAGE
 *
 * IMAGE is a path, or a config string "@file=...@format=qcow2@...", or with --image-opts
 * a "key=value,..." list.  Without -c, commands are read from standard input.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "config.h"
#include "io-cmds.h"
#include "util/aio.h"
#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"

#define MAX_CMDS 256

static void usage(FILE *f)
{
	fprintf(f, "Usage: qemu-tcmu-io [OPTIONS] [-c CMD]... IMAGE\n"
		   "\n"
		   "IMAGE: a file name, a config string (@file=PATH@format=qcow2@...) or, with\n"
		   "--image-opts, key=value,... options\n"
		   "\n"
		   "  -c, --cmd CMD         run CMD (repeatable); without -c read commands from "
		   "stdin\n"
		   "  -f, --format FMT      image format (default: probe)\n"
		   "  -r, --read-only       open read-only\n"
		   "  -t, --cache MODE      writeback|writethrough|none|directsync|unsafe\n"
		   "  -n, --nocache         same as -t none\n"
		   "  -i, --aio MODE        threads|io_uring\n"
		   "  -a, --async           reads, writes and flushes through the daemon's\n"
		   "                        asynchronous request path (an event loop)\n"
		   "  -o, --options OPTS    extra key=value,... options\n"
		   "      --image-opts      IMAGE is key=value,... options\n"
		   "  -q, --quiet           no per-command output\n"
		   "  -d, --debug CATS      debug output (block, qcow2, ..., all)\n"
		   "  -V, --version         print the version\n"
		   "  -h, --help            this help\n"
		   "\nCommands:\n");
	io_cmd_help();
}

static int run_stdin(struct blk_node *bs, bool quiet)
{
	char line[1024];
	int fails = 0;

	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "quit", 4) || !strncmp(line, "exit", 4))
			break;
		fails += io_cmd_run(bs, line, quiet) != 0;
		fflush(stdout);
	}
	return fails;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "cmd", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "cache", required_argument, NULL, 't' },
		{ "nocache", no_argument, NULL, 'n' },
		{ "aio", required_argument, NULL, 'i' },
		{ "async", no_argument, NULL, 'a' },
		{ "options", required_argument, NULL, 'o' },
		{ "image-opts", no_argument, NULL, 'I' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "debug", required_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmds[MAX_CMDS], *fmt = NULL, *cache = NULL, *aio = NULL, *extra = NULL;
	bool read_only = false, image_opts = false, quiet = false, async = false;
	struct aio_ctx *ctx = NULL;
	struct blk_node *bs = NULL;
	struct opts opts;
	struct err err;
	int ncmds = 0, c, r, fails = 0;

	log_set_prefix("qemu-tcmu-io");
	while ((c = getopt_long(argc, argv, "c:f:rt:ni:ao:qd:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (ncmds == MAX_CMDS) {
				fprintf(stderr, "qemu-tcmu-io: too many -c\n");
				return 2;
			}
			cmds[ncmds++] = optarg;
			break;
		case 'f':
			fmt = optarg;
			break;
		case 'r':
			read_only = true;
			break;
		case 't':
			cache = optarg;
			break;
		case 'n':
			cache = "none";
			break;
		case 'i':
			aio = optarg;
			break;
		case 'a':
			async = true;
			break;
		case 'o':
			extra = optarg;
			break;
		case 'I':
			image_opts = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'd':
			err_init(&err);
			if (log_enable_debug(optarg, &err) < 0) {
				fprintf(stderr, "qemu-tcmu-io: %s\n", err.msg);
				return 2;
			}
			break;
		case 'V':
			printf("qemu-tcmu-io %s\n", QT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "qemu-tcmu-io: expected exactly one IMAGE (see --help)\n");
		return 2;
	}

	opts_init(&opts);
	err_init(&err);
	r = image_opts ? opts_parse_kv(&opts, argv[optind], "file", &err)
		       : opts_parse_cfgstring(&opts, argv[optind], &err);
	if (r == 0 && extra)
		r = opts_parse_kv(&opts, extra, NULL, &err);
	if (r == 0 && fmt)
		r = opts_add(&opts, "driver", fmt, &err);
	if (r == 0 && cache)
		r = opts_add(&opts, "cache", cache, &err);
	if (r == 0 && aio)
		r = opts_add(&opts, "aio", aio, &err);
	if (r == 0 && read_only)
		r = opts_set(&opts, "read-only", "on");
	if (r == 0)
		r = blk_open_checked(&opts, BLK_O_RDWR, NULL, &bs, &err);
	opts_release(&opts);
	if (r < 0) {
		fprintf(stderr, "qemu-tcmu-io: %s\n", err.msg);
		return 1;
	}

	if (async) {
		ctx = aio_ctx_new();
		if (!ctx || blk_attach_ctx(bs, ctx) < 0) {
			fprintf(stderr, "qemu-tcmu-io: could not attach an event loop\n");
			blk_close(bs);
			aio_ctx_free(ctx);
			return 1;
		}
		io_cmds_use_ctx(ctx);
	}
	if (ncmds == 0)
		fails = run_stdin(bs, quiet);
	for (int i = 0; i < ncmds; i++)
		fails += io_cmd_run(bs, cmds[i], quiet) != 0;
	fflush(stdout);
	blk_close(bs);
	aio_ctx_free(ctx);
	return fails ? 1 : 0;
}
