/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The command lines of `qemu-tcmu export`, `unexport` and `exports` (see export.h). */
#include "export.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/opts.h"

#define PROG "qemu-tcmu"

void export_synopsis(FILE *f)
{
	fprintf(f, "       " PROG " export [--name NAME] [--size SIZE] [--block-size 512|4096]\n"
		   "                 [--loop] [--iscsi IQN [--portal IP:PORT]...] [-x NAME] CFG\n"
		   "       " PROG " unexport [-x NAME] NAME...\n"
		   "       " PROG " exports [-x NAME]       (or: export --list)\n");
}

void export_usage(FILE *f)
{
	fprintf(f,
		"export: create a user:qemu backstore for CFG (an image path or a config\n"
		"string) through configfs, without targetcli, and export it; the running\n"
		"qemu-tcmu daemon serves it.  All or nothing: a failing step undoes the others.\n"
		"  -n, --name NAME           the backstore's name (default: the image's base "
		"name)\n"
		"  -s, --size SIZE           the disk's size (default: the image's; k, M, G, ...)\n"
		"  -b, --block-size BYTES    the logical block size: 512 (default) or 4096\n"
		"      --loop                a local disk through tcm_loop: prints its /dev/sdX\n"
		"      --iscsi IQN           an iSCSI target IQN, LUN 0 (demo mode: any initiator\n"
		"                            may log in, no authentication)\n"
		"      --portal IP:PORT      where it listens (repeatable; default 0.0.0.0:3260)\n"
		"      --list                list the exports (as 'exports')\n"
		"unexport: remove the backstore NAME, the LUNs that export it, and the portal\n"
		"groups and targets left without LUNs.\n"
		"exports: list our backstores (name, configfs path, size, dev_config) and their\n"
		"LUNs.  $QEMU_TCMU_CONFIGFS replaces /sys/kernel/config/target (tests).\n");
}

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s (see " PROG " --help)\n", what, arg ? " " : "",
		arg ? arg : "");
	return 2;
}

static void print_result(const struct export_params *p, const struct export_result *res)
{
	const char *n = res->name, *host;
	size_t i;

	printf("%s: backstore %s: %" PRIu64 " bytes, %u-byte blocks, %s\n", n, res->so_rel,
	       res->size, res->block_size, res->dev_config);
	if (p->loop && res->loop_dev[0])
		printf("%s: tcm_loop %s LUN 0: %s\n", n, res->loop_wwn, res->loop_dev);
	else if (p->loop)
		printf("%s: tcm_loop %s LUN 0 (a plain directory tree: no disk)\n", n,
		       res->loop_wwn);
	if (!p->iqn)
		return;
	for (i = 0; i < res->nportals; i++)
		printf("%s: iSCSI %s LUN 0 portal %s\n", n, p->iqn, res->portals[i]);
	/* a wildcard portal listens on every address: the initiator knows which it uses */
	host = res->portals[0];
	if (!strncmp(host, "0.0.0.0:", 8) || !strncmp(host, "[::]:", 5))
		host = "HOST";
	printf("%s: log in with: iscsiadm -m discovery -t sendtargets -p %s && iscsiadm -m "
	       "node -T %s --login (or iscsi://%s/%s/0)\n",
	       n, host, p->iqn, host, p->iqn);
}

static int run_list(const char *subtype)
{
	struct err err;

	err_init(&err);
	if (export_list(subtype, stdout, &err) < 0) {
		fprintf(stderr, PROG ": %s\n", err.msg);
		return 1;
	}
	return 0;
}

static bool good_subtype(const char *s)
{
	return s[0] && !strchr(s, '/') && strlen(s) <= 32;
}

int export_main(int argc, char **argv)
{
	enum {
		OPT_LOOP = 256,
		OPT_ISCSI,
		OPT_PORTAL,
		OPT_LIST
	};
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "loop", no_argument, NULL, OPT_LOOP },
		{ "iscsi", required_argument, NULL, OPT_ISCSI },
		{ "portal", required_argument, NULL, OPT_PORTAL },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "handler-name", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *portals[EXPORT_PORTALS_MAX];
	struct export_params p = { .subtype = "qemu", .block_size = 512, .portals = portals };
	struct export_result res;
	struct err err;
	bool list = false;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "n:s:b:x:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			p.name = optarg;
			break;
		case 's':
			if (parse_size(optarg, &p.size) < 0 || !p.size)
				return bad_usage("bad size", optarg);
			break;
		case 'b':
			if (parse_size(optarg, &v) < 0 || v > 65536)
				return bad_usage("bad block size", optarg);
			p.block_size = (unsigned int)v;
			break;
		case OPT_LOOP:
			p.loop = true;
			break;
		case OPT_ISCSI:
			p.iqn = optarg;
			break;
		case OPT_PORTAL:
			if (p.nportals == EXPORT_PORTALS_MAX)
				return bad_usage("more than 8 portals:", optarg);
			portals[p.nportals++] = optarg;
			break;
		case OPT_LIST:
			list = true;
			break;
		case 'x':
			if (!good_subtype(optarg))
				return bad_usage("bad handler name", optarg);
			p.subtype = optarg;
			break;
		case 'h':
			printf("Usage:\n");
			export_synopsis(stdout);
			export_usage(stdout);
			return 0;
		default:
			return bad_usage("export: bad option", NULL);
		}
	}
	if (list)
		return optind < argc ? bad_usage("unexpected argument", argv[optind])
				     : run_list(p.subtype);
	if (optind != argc - 1)
		return bad_usage("export: expected one image or config string", NULL);
	if (p.nportals && !p.iqn)
		return bad_usage("export: --portal needs --iscsi", NULL);
	p.cfg = argv[optind];
	err_init(&err);
	if (export_create(&p, &res, &err) < 0) {
		fprintf(stderr, PROG ": export: %s\n", err.msg);
		return 1;
	}
	print_result(&p, &res);
	return 0;
}

int unexport_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "handler-name", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *subtype = "qemu";
	struct err err;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "x:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'x':
			if (!good_subtype(optarg))
				return bad_usage("bad handler name", optarg);
			subtype = optarg;
			break;
		case 'h':
			printf("Usage:\n");
			export_synopsis(stdout);
			export_usage(stdout);
			return 0;
		default:
			return bad_usage("bad option for", argv[0]);
		}
	}
	if (!strcmp(argv[0], "exports"))
		return optind < argc ? bad_usage("unexpected argument", argv[optind])
				     : run_list(subtype);
	if (optind == argc)
		return bad_usage("unexport: expected the name of an export", NULL);
	for (; optind < argc; optind++) {
		err_init(&err);
		if (export_remove(argv[optind], subtype, stdout, &err) < 0) {
			fprintf(stderr, PROG ": unexport: %s\n", err.msg);
			rc = 1;
		}
	}
	return rc;
}
