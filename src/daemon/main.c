/* SPDX-License-Identifier: GPL-2.0-or-later */
/* qemu-tcmu: serve disk images as LIO user backstores (TCMU).  See daemon.h. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "config.h"
#include "block/cfgstr.h"
#include "daemon/daemon.h"
#include "daemon/dbus.h"
#include "export/export.h"
#include "util/err.h"
#include "util/log.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#else
static int sd_notify(int unset, const char *state)
{
	(void)unset, (void)state;
	return 0;
}
#endif

#define PROG "qemu-tcmu"

/* Busy polling of a ring before its thread sleeps: a command that arrives within this
 * time costs no wake-up (QEMU's iothreads poll up to 32 µs by default; what it gains:
 * docs/PERFORMANCE.md). */
#define DEFAULT_POLL_US 50u
#define MAX_POLL_US 10000u

static void usage(FILE *f)
{
	fprintf(f, "Usage: " PROG " [OPTIONS]\n");
	export_synopsis(f);
	fprintf(f,
		"\n"
		"Serve disk images as LIO user backstores: every TCMU device whose config\n"
		"string starts with '<handler>/' (default 'qemu/').\n"
		"\n"
		"  -x, --handler-name NAME   the handler subtype (default qemu)\n"
		"      --claim PATTERN       serve only backstores whose name matches "
		"(repeatable;\n"
		"                            '!PATTERN' excludes, the last match decides): for\n"
		"                            several daemons on one subtype\n"
		"  -v, --verbose             debug output of the daemon and the transport\n"
		"  -d, --debug CATEGORY      debug output of CATEGORY (comma separated; 'all')\n"
		"  -q, --quiet               warnings and errors only\n"
		"      --syslog              log to syslog instead of stderr\n"
		"      --netlink-reply MODE  auto (default), on or off: whether enable waits for\n"
		"                            our verdict (auto: off while tcmu-runner runs)\n"
		"      --no-dbus             do not register with D-Bus (targetcli)\n"
		"      --check-config CFG    check a config string as D-Bus CheckConfig does, and "
		"exit\n"
		"      --config-help[=man]   list every key config strings take, and exit\n"
		"      --poll-us N           busy-poll each device's ring for N microseconds\n"
		"                            before sleeping, adaptive (default %u; 0: never)\n"
		"      --no-kernel           no netlink, configfs or devices: logging, signals\n"
		"                            and D-Bus only (for tests)\n"
		"  -V, --version             print the version and exit\n"
		"  -h, --help                print this help and exit\n"
		"\n"
		"Config strings: @key=value@key=value... or a plain image path; keys:\n",
		DEFAULT_POLL_US);
	cfgstr_print_keys(f, BLK_HELP_BRIEF);
	fputs("\n\n", f);
	export_usage(f);
}

static bool check_config_cb(const char *cfgstring, char *msg, size_t len, void *opaque)
{
	(void)opaque;
	return cfgstr_check(cfgstring, msg, len);
}

static bool use_syslog;

static void reopen_log(void)
{
	if (use_syslog) {
		log_use_syslog(NULL);
		log_use_syslog(PROG);
	}
}

static struct dbus_service *start_dbus(struct daemon *dm, const char *subtype, const char *cfg_desc)
{
	struct dbus_service_params p = {
		.subtype = subtype,
		.cfg_desc = cfg_desc,
		.check_config = check_config_cb,
	};
	struct dbus_service *s = NULL;
	struct err err;

	err_init(&err);
	if (dbus_service_start(&p, &s, &err) < 0 || dbus_service_attach(s, daemon_ctx(dm)) < 0) {
		log_warn("D-Bus: %s; targetcli will not list user:%s (configfs works)",
			 err.msg[0] ? err.msg : "cannot attach", subtype);
		dbus_service_stop(s);
		return NULL;
	}
	log_info("D-Bus: %s", dbus_role_name(dbus_service_role(s)));
	return s;
}

static int parse_reply(const char *s, enum daemon_reply_mode *m)
{
	if (!strcmp(s, "auto"))
		*m = DAEMON_REPLY_AUTO;
	else if (!strcmp(s, "on"))
		*m = DAEMON_REPLY_ON;
	else if (!strcmp(s, "off"))
		*m = DAEMON_REPLY_OFF;
	else
		return -EINVAL;
	return 0;
}

static int parse_poll(const char *s, unsigned int *us)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > MAX_POLL_US)
		return -EINVAL;
	*us = (unsigned int)v;
	return 0;
}

enum {
	OPT_SYSLOG = 256,
	OPT_REPLY,
	OPT_NO_DBUS,
	OPT_CHECK,
	OPT_NO_KERNEL,
	OPT_POLL,
	OPT_CONFIG_HELP,
	OPT_CLAIM
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "handler-name", required_argument, NULL, 'x' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "debug", required_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "syslog", no_argument, NULL, OPT_SYSLOG },
		{ "netlink-reply", required_argument, NULL, OPT_REPLY },
		{ "no-dbus", no_argument, NULL, OPT_NO_DBUS },
		{ "check-config", required_argument, NULL, OPT_CHECK },
		{ "no-kernel", no_argument, NULL, OPT_NO_KERNEL },
		{ "poll-us", required_argument, NULL, OPT_POLL },
		{ "config-help", optional_argument, NULL, OPT_CONFIG_HELP },
		{ "claim", required_argument, NULL, OPT_CLAIM },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_params p = { .subtype = "qemu",
				   .reply = DAEMON_REPLY_AUTO,
				   .poll_us = DEFAULT_POLL_US,
				   .reopen_log = reopen_log };
	struct dbus_service *dbus = NULL;
	struct daemon *dm = NULL;
	const char *check = NULL;
	char *cfg_desc = NULL;
	bool no_dbus = false;
	struct err err;
	char msg[512];
	int c, r;

	log_set_prefix(PROG);
	if (argc > 1 && !strcmp(argv[1], "export"))
		return export_main(argc - 1, argv + 1);
	if (argc > 1 && (!strcmp(argv[1], "unexport") || !strcmp(argv[1], "exports")))
		return unexport_main(argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "x:vd:qVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'x':
			if (!optarg[0] || strchr(optarg, '/') || strlen(optarg) > 32) {
				fprintf(stderr, PROG ": bad handler name '%s'\n", optarg);
				return 2;
			}
			p.subtype = optarg;
			break;
		case 'v':
			log_enable_debug("daemon,transport,netlink", NULL);
			break;
		case 'd':
			err_init(&err);
			if (log_enable_debug(optarg, &err) < 0) {
				fprintf(stderr, PROG ": %s\n", err.msg);
				return 2;
			}
			break;
		case 'q':
			log_set_level(LOG_LVL_WARN);
			break;
		case OPT_SYSLOG:
			use_syslog = true;
			break;
		case OPT_REPLY:
			if (parse_reply(optarg, &p.reply) < 0) {
				fprintf(stderr, PROG ": --netlink-reply takes auto, on or off\n");
				return 2;
			}
			break;
		case OPT_NO_DBUS:
			no_dbus = true;
			break;
		case OPT_CHECK:
			check = optarg;
			break;
		case OPT_NO_KERNEL:
			p.no_kernel = true;
			break;
		case OPT_POLL:
			if (parse_poll(optarg, &p.poll_us) < 0) {
				fprintf(stderr,
					PROG
					": --poll-us takes microseconds from 0 to %u, not '%s'\n",
					MAX_POLL_US, optarg);
				return 2;
			}
			break;
		case OPT_CLAIM:
			err_init(&err);
			if (claims_add(&p.claims, optarg, &err) < 0) {
				fprintf(stderr, PROG ": %s\n", err.msg);
				return 2;
			}
			break;
		case OPT_CONFIG_HELP:
			if (optarg && strcmp(optarg, "man")) {
				fprintf(stderr, PROG ": --config-help takes nothing or 'man'\n");
				return 2;
			}
			cfgstr_print_keys(stdout, optarg ? BLK_HELP_MAN : BLK_HELP_TEXT);
			return 0;
		case 'V':
			printf(PROG " " QT_VERSION "\n");
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	cfgstr_set_subtype(p.subtype);
	if (check) {
		bool ok = cfgstr_check(check, msg, sizeof(msg));

		printf("%s\n", msg);
		return ok ? 0 : 1;
	}
	if (use_syslog)
		log_use_syslog(PROG);
	err_init(&err);
	r = daemon_new(&p, &dm, &err);
	if (r < 0) {
		log_err("%s", err.msg);
		return 1;
	}
	if (!no_dbus) {
		cfg_desc = cfgstr_describe();
		dbus = start_dbus(dm, p.subtype, cfg_desc ? cfg_desc : "@key=value@...");
	}
	/* systemd Type=notify (and the test harness): devices taken over, events flow */
	sd_notify(0, "READY=1");
	r = daemon_run(dm);
	dbus_service_stop(dbus);
	free(cfg_desc);
	daemon_free(dm);
	return r < 0 ? 1 : 0;
}
