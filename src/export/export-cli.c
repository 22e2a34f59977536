/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The command lines of `qemu-tcmu export`, `unexport` and `exports` (see export.h). */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "util/err.h"
#include "util/opts.h"

#define PROG "qemu-tcmu"

void export_synopsis(FILE *f)
{
	fprintf(f,
		"       " PROG " export [--name NAME] [--size SIZE] [--block-size 512|4096]\n"
		"                 [--loop] [--iscsi IQN [--portal IP:PORT]... ACCESS] [-x NAME] "
		"CFG\n"
		"         ACCESS: [--allow INITIATOR_IQN]... [--chap USER --chap-secret FILE|-\n"
		"                 [--mutual-chap USER --mutual-secret FILE|-] [--discovery-chap]]\n"
		"                 | --demo\n"
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
		"      --iscsi IQN           an iSCSI target IQN, LUN 0; who may log in: at least\n"
		"                            one of --allow and --chap, or --demo\n"
		"      --portal IP:PORT      where it listens (repeatable; default 0.0.0.0:3260)\n"
		"      --allow INITIATOR_IQN an initiator that may log in (an ACL; repeatable)\n"
		"      --chap USER           CHAP: initiators log in as USER (with --allow: in\n"
		"                            each ACL; without: any initiator name)\n"
		"      --chap-secret FILE    the CHAP secret: the first line of FILE ('-':\n"
		"                            standard input); 12 to 255 characters\n"
		"      --mutual-chap USER    mutual CHAP: the target answers as USER\n"
		"      --mutual-secret FILE  its secret (another one), as --chap-secret\n"
		"      --discovery-chap      SendTargets discovery needs the same CHAP (one\n"
		"                            setting for all targets of the host)\n"
		"      --demo                any initiator may log in, without authentication\n"
		"      --list                list the exports (as 'exports')\n"
		"unexport: remove the backstore NAME, the LUNs that export it, and the portal\n"
		"groups and targets left without LUNs.\n"
		"exports: list our backstores (name, configfs path, size, dev_config) and their\n"
		"LUNs.  $QEMU_TCMU_CONFIGFS replaces /sys/kernel/config/target (tests).\n");
}

enum {
	OPT_LOOP = 256,
	OPT_ISCSI,
	OPT_PORTAL,
	OPT_LIST,
	OPT_ALLOW,
	OPT_CHAP,
	OPT_CHAP_SECRET,
	OPT_MUTUAL,
	OPT_MUTUAL_SECRET,
	OPT_DISCOVERY,
	OPT_DEMO
};

static int bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s (see " PROG " --help)\n", what, arg ? " " : "",
		arg ? arg : "");
	return 2;
}

/* Where the iSCSI target may be reached from, and how to log in. */
static void print_iscsi(const struct export_params *p, const struct export_result *res)
{
	const struct export_access *a = &p->access;
	const char *n = res->name, *host;
	size_t i;

	for (i = 0; i < res->nportals; i++)
		printf("%s: iSCSI %s LUN 0 portal %s\n", n, p->iqn, res->portals[i]);
	for (i = 0; i < a->nallow; i++)
		printf("%s: iSCSI %s allows %s%s\n", n, p->iqn, a->allow[i],
		       a->chap_user ? " with CHAP" : "");
	if (a->chap_user)
		printf("%s: iSCSI %s: CHAP user %s%s%s%s%s\n", n, p->iqn, a->chap_user,
		       a->nallow ? "" : " (any initiator name)",
		       a->mutual_user ? ", mutual CHAP: target user " : "",
		       a->mutual_user ? a->mutual_user : "",
		       a->discovery_chap ? "; discovery CHAP on" : "");
	if (a->demo)
		printf("%s: iSCSI %s: demo mode: any initiator may log in, no authentication\n", n,
		       p->iqn);
	/* a wildcard portal listens on every address: the initiator knows which it uses */
	host = res->portals[0];
	if (!strncmp(host, "0.0.0.0:", 8) || !strncmp(host, "[::]:", 5))
		host = "HOST";
	printf("%s: log in with: iscsiadm -m discovery -t sendtargets -p %s && iscsiadm -m "
	       "node -T %s --login (or iscsi://%s%s%s/%s/0)\n",
	       n, host, p->iqn, a->chap_user ? a->chap_user : "", a->chap_user ? "%SECRET@" : "",
	       host, p->iqn);
	if (a->chap_user)
		printf("%s: open-iscsi: node.session.auth.authmethod = CHAP, .username = %s, "
		       ".password = the secret%s%s%s%s\n",
		       n, a->chap_user, a->mutual_user ? ", .username_in = " : "",
		       a->mutual_user ? a->mutual_user : "",
		       a->mutual_user ? ", .password_in = the mutual secret" : "",
		       a->discovery_chap ? "; discovery.sendtargets.auth.* the same" : "");
}

/* Demo mode reachable from other hosts: say so (the export stands). */
static void warn_demo(const struct export_params *p, const struct export_result *res)
{
	size_t i;

	if (!p->iqn || !p->access.demo)
		return;
	for (i = 0; i < res->nportals; i++)
		if (!export_portal_is_loopback(res->portals[i]))
			fprintf(stderr,
				PROG
				": warning: demo mode on portal %s: any initiator that reaches "
				"it may read and write %s without authentication\n",
				res->portals[i], res->name);
}

static void print_result(const struct export_params *p, const struct export_result *res)
{
	const char *n = res->name;

	printf("%s: backstore %s: %" PRIu64 " bytes, %u-byte blocks, %s\n", n, res->so_rel,
	       res->size, res->block_size, res->dev_config);
	if (p->loop && res->loop_dev[0])
		printf("%s: tcm_loop %s LUN 0: %s\n", n, res->loop_wwn, res->loop_dev);
	else if (p->loop)
		printf("%s: tcm_loop %s LUN 0 (a plain directory tree: no disk)\n", n,
		       res->loop_wwn);
	if (p->iqn)
		print_iscsi(p, res);
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

/* A secret's line from @fd into @buf (no newline); with @one_line nothing may follow it. */
static int read_line(int fd, char *buf, size_t len, bool one_line)
{
	size_t n = 0;
	char c;
	ssize_t k;

	/* byte by byte: a second secret on standard input stays there for the next call */
	while ((k = read(fd, &c, 1)) == 1 && c != '\n') {
		if (n + 1 >= len)
			return -EMSGSIZE;
		buf[n++] = c;
	}
	if (k < 0)
		return -errno;
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (one_line && k == 1 && read(fd, &c, 1) == 1)
		return -ENOTUNIQ;
	return n ? 0 : -ENODATA;
}

/* The secret for @what from @path (its only line; "-": the next line of standard input,
 * asked for without echo on a terminal) into @buf. */
static int read_secret(const char *what, const char *path, char *buf, size_t len, struct err *err)
{
	bool in = !strcmp(path, "-"), tty = in && isatty(STDIN_FILENO);
	struct termios saved, quiet;
	struct stat st;
	int fd, r;

	fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set_errno(err, -errno, "the %s: %s", what, path);
	if (!in && fstat(fd, &st) == 0 && (st.st_mode & 077))
		fprintf(stderr,
			PROG ": warning: %s (the %s) may be read by other users: chmod 600 "
			     "it\n",
			path, what);
	if (tty && tcgetattr(fd, &saved) == 0) {
		quiet = saved;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
		fprintf(stderr, "%s: ", what);
	}
	r = read_line(fd, buf, len, !in);
	if (tty) {
		tcsetattr(fd, TCSAFLUSH, &saved);
		fputc('\n', stderr);
	}
	if (!in)
		close(fd);
	if (r == -EMSGSIZE)
		return err_set(err, -EINVAL, "the %s in %s is longer than %d characters", what,
			       in ? "standard input" : path, EXPORT_CHAP_MAX);
	if (r == -ENOTUNIQ)
		return err_set(err, -EINVAL, "%s holds more than one line: the %s only, please",
			       path, what);
	if (r == -ENODATA)
		return err_set(err, -EINVAL, "no %s in %s", what, in ? "standard input" : path);
	return r < 0 ? err_set_errno(err, r, "reading the %s from %s", what, path) : 0;
}

static bool good_subtype(const char *s)
{
	return s[0] && !strchr(s, '/') && strlen(s) <= 32;
}

/* Where the secrets are, then the secrets. */
struct cli_secrets {
	const char *chap_file, *mutual_file;
	char chap[EXPORT_CHAP_MAX + 1], mutual[EXPORT_CHAP_MAX + 1];
};

/* The access options that take no value from the rest of the command line. */
static int access_option(int c, const char *arg, struct export_access *a, const char **allow,
			 struct cli_secrets *sec)
{
	switch (c) {
	case OPT_ALLOW:
		if (a->nallow == EXPORT_ALLOW_MAX)
			return bad_usage("too many --allow:", arg);
		allow[a->nallow++] = arg;
		break;
	case OPT_CHAP:
		a->chap_user = arg;
		break;
	case OPT_CHAP_SECRET:
		sec->chap_file = arg;
		break;
	case OPT_MUTUAL:
		a->mutual_user = arg;
		break;
	case OPT_MUTUAL_SECRET:
		sec->mutual_file = arg;
		break;
	case OPT_DISCOVERY:
		a->discovery_chap = true;
		break;
	default: /* OPT_DEMO */
		a->demo = true;
		break;
	}
	return 0;
}

/* Check the access rules as given (exit status 2), then read the secrets (1). */
static int access_secrets(struct export_params *p, struct cli_secrets *sec)
{
	struct export_access *a = &p->access;
	struct err err;

	err_init(&err);
	a->chap_secret = sec->chap_file ? "" : NULL;
	a->mutual_secret = sec->mutual_file ? "" : NULL;
	if (export_access_check(p, /*secrets*/ false, &err) < 0) {
		fprintf(stderr, PROG ": export: %s\n", err.msg);
		return 2;
	}
	if ((sec->chap_file &&
	     read_secret("CHAP secret", sec->chap_file, sec->chap, sizeof(sec->chap), &err) < 0) ||
	    (sec->mutual_file && read_secret("mutual CHAP secret", sec->mutual_file, sec->mutual,
					     sizeof(sec->mutual), &err) < 0)) {
		fprintf(stderr, PROG ": export: %s\n", err.msg);
		return 1;
	}
	a->chap_secret = sec->chap_file ? sec->chap : NULL;
	a->mutual_secret = sec->mutual_file ? sec->mutual : NULL;
	return 0;
}

int export_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 's' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "loop", no_argument, NULL, OPT_LOOP },
		{ "iscsi", required_argument, NULL, OPT_ISCSI },
		{ "portal", required_argument, NULL, OPT_PORTAL },
		{ "allow", required_argument, NULL, OPT_ALLOW },
		{ "chap", required_argument, NULL, OPT_CHAP },
		{ "chap-secret", required_argument, NULL, OPT_CHAP_SECRET },
		{ "mutual-chap", required_argument, NULL, OPT_MUTUAL },
		{ "mutual-secret", required_argument, NULL, OPT_MUTUAL_SECRET },
		{ "discovery-chap", no_argument, NULL, OPT_DISCOVERY },
		{ "demo", no_argument, NULL, OPT_DEMO },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "handler-name", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *portals[EXPORT_PORTALS_MAX], *allow[EXPORT_ALLOW_MAX];
	struct export_params p = { .subtype = "qemu", .block_size = 512, .portals = portals };
	struct cli_secrets sec = { 0 };
	struct export_result res;
	struct err err;
	bool list = false;
	uint64_t v;
	int c, r;

	p.access.allow = allow;

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
		case OPT_ALLOW:
		case OPT_CHAP:
		case OPT_CHAP_SECRET:
		case OPT_MUTUAL:
		case OPT_MUTUAL_SECRET:
		case OPT_DISCOVERY:
		case OPT_DEMO:
			r = access_option(c, optarg, &p.access, allow, &sec);
			if (r)
				return r;
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
	r = access_secrets(&p, &sec);
	if (!r) {
		err_init(&err);
		r = export_create(&p, &res, &err) < 0 ? 1 : 0;
		if (r)
			fprintf(stderr, PROG ": export: %s\n", err.msg);
	}
	explicit_bzero(&sec, sizeof(sec));
	if (r)
		return r;
	print_result(&p, &res);
	warn_demo(&p, &res);
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
