/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * dbus-serve: daemon/dbus.c on its own, for func tests with real D-Bus clients (gdbus,
 * busctl, targetcli's own Python code).  Runs until SIGTERM/SIGINT in an event loop as
 * the daemon does.  Prints "ready <role>" once registered, "role <role>" on changes.
 *
 *   dbus-serve [-a BUS_ADDRESS] [-x SUBTYPE]
 *
 * Its CheckConfig accepts "@key=value..." strings whose file= names a readable file and
 * that have no keys besides id and file: enough to tell the answers apart.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "daemon/dbus.h"
#include "util/aio.h"
#include "util/err.h"
#include "util/opts.h"

static bool check(const char *cfgstring, char *msg, size_t msglen, void *opaque)
{
	struct opts o;
	struct err err;
	const char *file = NULL;
	bool ok = false;

	(void)opaque;
	opts_init(&o);
	err_init(&err);
	if (opts_parse_cfgstring(&o, cfgstring, &err) < 0)
		goto out;
	opts_get(&o, "id");
	if (opts_get_str(&o, "file", NULL, &file, &err) < 0 ||
	    opts_check_unused(&o, "qemu", &err) < 0)
		goto out;
	if (!file)
		err_set(&err, -EINVAL, "no file= given");
	else if (access(file, R_OK) != 0)
		err_set_errno(&err, -errno, "cannot open '%s'", file);
	else
		ok = true;
out:
	if (!ok)
		snprintf(msg, msglen, "%s", err.msg);
	opts_release(&o);
	return ok;
}

static bool stop;
static int sfd = -1;

static void on_signal(void *opaque)
{
	struct signalfd_siginfo si;

	(void)opaque;
	if (read(sfd, &si, sizeof(si)) == sizeof(si))
		stop = true;
}

int main(int argc, char **argv)
{
	struct dbus_service_params p = { .subtype = "qemu", .check_config = check };
	struct dbus_service *s = NULL;
	struct aio_ctx *ctx;
	enum dbus_role role = DBUS_ROLE_NONE;
	struct err err;
	sigset_t set;
	int c, rc = 0;

	while ((c = getopt(argc, argv, "a:x:")) != -1) {
		if (c == 'a')
			p.bus_address = optarg;
		else if (c == 'x')
			p.subtype = optarg;
		else
			return 2;
	}
	p.cfg_desc = "@key=value@...: file=PATH (required), id=NAME";
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	ctx = aio_ctx_new();
	if (sfd < 0 || !ctx || aio_set_fd(ctx, sfd, on_signal, NULL, NULL) < 0)
		return 1;
	err_init(&err);
	if (dbus_service_start(&p, &s, &err) < 0 || dbus_service_attach(s, ctx) < 0) {
		fprintf(stderr, "dbus-serve: %s\n", err.msg[0] ? err.msg : "attach failed");
		stop = true;
		rc = 1;
	} else {
		role = dbus_service_role(s);
		printf("ready %s\n", dbus_role_name(role));
		fflush(stdout);
	}
	while (!stop) {
		aio_poll(ctx, true);
		if (dbus_service_role(s) != role) {
			role = dbus_service_role(s);
			printf("role %s\n", dbus_role_name(role));
			fflush(stdout);
		}
	}
	dbus_service_stop(s);
	aio_set_fd(ctx, sfd, NULL, NULL, NULL);
	aio_ctx_free(ctx);
	close(sfd);
	return rc;
}
