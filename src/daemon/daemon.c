/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The qemu-tcmu daemon: netlink events, device lifecycle, signals (see daemon.h). */
#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "block/block.h"
#include "config.h"
#include "daemon/devices.h"
#include "transport/configfs.h"
#include "transport/netlink.h"
#include "transport/tcmu-uapi.h"
#include "transport/uio.h"
#include "util/aio.h"
#include "util/err.h"
#include "util/log.h"

#if HAVE_LIBKMOD
#include <libkmod.h>
#endif

#define OTHERS_RECHECK_SEC 5

struct daemon {
	char subtype[64];
	struct claims claims;
	enum daemon_reply_mode mode;
	struct aio_ctx *ctx;
	struct netlink *nl;
	struct devices *devs;
	int sigfd, timerfd;
	bool reply_on; /* what we last told the kernel */
	bool others;   /* another TCMU daemon (tcmu-runner) is running */
	bool quit;
	bool no_kernel;
	void (*reopen_log)(void);
};

/* ---- other TCMU daemons ----------------------------------------------------------- */

static bool tcmu_runner_running(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char path[300], comm[32];
		int fd;
		ssize_t n;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, comm, sizeof(comm) - 1);
		close(fd);
		if (n > 0) {
			comm[n] = '\0';
			found = !strcmp(comm, "tcmu-runner\n");
		}
	}
	closedir(d);
	return found;
}

static void apply_reply_mode(struct daemon *dm, bool startup)
{
	bool want;
	int r;

	dm->others = tcmu_runner_running();
	want = dm->mode == DAEMON_REPLY_ON || (dm->mode == DAEMON_REPLY_AUTO && !dm->others);
	if (!startup && want == dm->reply_on)
		return;
	r = netlink_set_reply_mode(dm->nl, want);
	if (r < 0) {
		log_warn("cannot set the kernel's netlink reply mode: %s%s", strerror(-r),
			 r == -EOPNOTSUPP ? " (old kernel: enable never waits for us)" : "");
		return;
	}
	dm->reply_on = want;
	log_info("netlink replies %s%s", want ? "on: enable waits for our verdict" : "off",
		 dm->others ? " (tcmu-runner is running)" : "");
}

static void on_timer(void *opaque)
{
	struct daemon *dm = opaque;
	uint64_t n;

	(void)!read(dm->timerfd, &n, sizeof(n));
	if (dm->mode == DAEMON_REPLY_AUTO)
		apply_reply_mode(dm, false);
}

/* ---- netlink events --------------------------------------------------------------- */

/* Of our subtype and claimed by us. */
static bool is_mine(const struct daemon *dm, const struct uio_dev *u)
{
	return !strcmp(u->subtype, dm->subtype) && claims_match(&dm->claims, u->dev);
}

static bool is_ours(const struct daemon *dm, const struct netlink_event *ev, struct uio_dev *u)
{
	return ev->device && uio_parse_name(ev->device, u) == 0 && is_mine(dm, u);
}

static int handle_added(struct daemon *dm, const struct netlink_event *ev)
{
	struct uio_dev u;
	struct err err;
	int r;

	err_init(&err);
	if (!ev->has_minor)
		return -EINVAL;
	r = uio_read(ev->minor, &u, &err);
	if (r == 0 && !is_mine(dm, &u))
		r = err_set(&err, -EINVAL, "uio%u changed its name", ev->minor);
	if (r == 0)
		r = devices_open(dm->devs, &u, false, &err);
	if (r < 0)
		log_err("refusing %s: %s", ev->device, err.msg);
	return r;
}

static void on_event(const struct netlink_event *ev, void *opaque)
{
	struct daemon *dm = opaque;
	struct uio_dev u;
	bool mine = is_ours(dm, ev, &u);
	int r = -ENODEV;

	log_debug("netlink", "event %u v%u for %s (uio%u, dev id %u)", ev->cmd, ev->version,
		  ev->device ? ev->device : "?", ev->minor, ev->dev_id);
	switch (ev->cmd) {
	case TCMU_CMD_ADDED_DEVICE:
		r = mine ? handle_added(dm, ev) : -ENOENT;
		break;
	case TCMU_CMD_REMOVED_DEVICE:
		r = 0;
		if (ev->has_minor && devices_has(dm->devs, ev->minor)) {
			mine = true;
			devices_close(dm->devs, ev->minor);
		}
		break;
	case TCMU_CMD_RECONFIG_DEVICE:
		if (ev->has_minor && devices_has(dm->devs, ev->minor)) {
			mine = true;
			r = devices_reconfig(dm->devs, ev->minor, ev);
		}
		break;
	default:
		return;
	}
	/* Replying for other daemons' devices when we are not alone would race their
	 * replies (the kernel takes the first); alone, silence would hang their enable.
	 * With claims we are not alone by definition. */
	if (mine || (!dm->others && !dm->claims.n))
		netlink_reply(dm->nl, ev, r);
}

static int rescan_one(const struct uio_dev *u, void *opaque)
{
	struct daemon *dm = opaque;
	struct err err;

	if (!is_mine(dm, u) || devices_has(dm->devs, u->minor))
		return 0;
	err_init(&err);
	if (devices_open(dm->devs, u, true, &err) < 0)
		log_err("cannot take over uio%u (%s/%s): %s", u->minor, u->dev, u->cfg, err.msg);
	return 0;
}

static void on_netlink(void *opaque)
{
	struct daemon *dm = opaque;
	int r = netlink_dispatch(dm->nl, on_event, dm);

	if (r == -ENOBUFS) {
		log_warn("netlink events were lost; rescanning the devices");
		uio_scan(rescan_one, dm);
	} else if (r < 0) {
		log_err("netlink: %s", strerror(-r));
	}
}

/* ---- signals ---------------------------------------------------------------------- */

static void on_signal(void *opaque)
{
	struct daemon *dm = opaque;
	struct signalfd_siginfo si;

	while (read(dm->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			if (dm->reopen_log)
				dm->reopen_log();
			if (log_is_syslog())
				log_info("SIGHUP: reconnected to syslog");
			else
				log_info("SIGHUP: logging to stderr, nothing to reopen");
			continue;
		}
		log_info("%s: draining and closing %u device(s)", strsignal((int)si.ssi_signo),
			 devices_count(dm->devs));
		dm->quit = true;
	}
}

static int setup_signals(struct daemon *dm, struct err *err)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* before any thread starts: they all inherit the mask, the signalfd gets them */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	dm->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (dm->sigfd < 0)
		return err_set_errno(err, -errno, "signalfd");
	return aio_set_fd(dm->ctx, dm->sigfd, on_signal, NULL, dm);
}

/* ---- setup ------------------------------------------------------------------------ */

#if HAVE_LIBKMOD
static void kmod_quiet(void *data, int priority, const char *file, int line, const char *fn,
		       const char *format, va_list args)
{
	(void)data, (void)priority, (void)file, (void)line, (void)fn, (void)format, (void)args;
}
#endif

static int load_module(void)
{
#if HAVE_LIBKMOD
	struct kmod_ctx *k = kmod_new(NULL, NULL);
	struct kmod_module *mod = NULL;
	int r;

	if (!k)
		return -ENOMEM;
	kmod_set_log_fn(k, kmod_quiet, NULL);
	r = kmod_module_new_from_name(k, "target_core_user", &mod);
	if (r == 0)
		r = kmod_module_probe_insert_module(mod, KMOD_PROBE_APPLY_BLACKLIST, NULL, NULL,
						    NULL, NULL);
	kmod_module_unref(mod);
	kmod_unref(k);
	return r > 0 ? -EPERM : r;
#else
	return -ENOTSUP;
#endif
}

static int open_netlink(struct daemon *dm, struct err *err)
{
	struct err first;
	int r;

	err_init(&first);
	r = netlink_open(&dm->nl, &first);
	if (r != -ENOENT) {
		if (r < 0)
			*err = first;
		return r;
	}
	r = load_module();
	if (r < 0)
		return err_set(err, -ENOENT,
			       "cannot serve user:%s devices: the kernel has no target_core_user "
			       "(TCM-USER netlink family) and loading the module failed: %s",
			       dm->subtype, r == -ENOENT ? "module not found" : strerror(-r));
	log_info("loaded target_core_user");
	return netlink_open(&dm->nl, err);
}

/* Take over the devices that exist already; netlink is blocked meanwhile, and any enable
 * left waiting by a daemon that died is failed (reset_netlink). */
static void take_over(struct daemon *dm)
{
	/* with claims, another daemon's enable may be waiting for its reply: leave it */
	bool blocked = !dm->claims.n && cfs_module_param("block_netlink", "1") == 0;

	if (blocked)
		cfs_module_param("reset_netlink", "1");
	uio_scan(rescan_one, dm);
	if (blocked)
		cfs_module_param("block_netlink", "0");
}

int daemon_new(const struct daemon_params *p, struct daemon **out, struct err *err)
{
	struct daemon *dm = calloc(1, sizeof(*dm));
	struct itimerspec its = { .it_interval = { OTHERS_RECHECK_SEC, 0 },
				  .it_value = { OTHERS_RECHECK_SEC, 0 } };
	int r;

	if (!dm)
		return err_set(err, -ENOMEM, "out of memory");
	snprintf(dm->subtype, sizeof(dm->subtype), "%s", p->subtype);
	dm->claims = p->claims;
	dm->mode = p->reply;
	dm->reopen_log = p->reopen_log;
	dm->no_kernel = p->no_kernel;
	dm->sigfd = dm->timerfd = -1;
	dm->ctx = aio_ctx_new();
	if (!dm->ctx) {
		r = err_set(err, -ENOMEM, "cannot create the main loop");
		goto fail;
	}
	r = setup_signals(dm, err);
	if (r < 0)
		goto fail;
	r = devices_new(dm->subtype, p->poll_us, &dm->devs);
	if (r < 0) {
		err_set(err, r, "out of memory");
		goto fail;
	}
	devices_set_loop(dm->devs, dm->ctx);
	if (dm->no_kernel) {
		*out = dm;
		return 0;
	}
	r = open_netlink(dm, err);
	if (r < 0)
		goto fail;
	/* joined before the scan: a device enabled meanwhile is an event, not lost */
	r = aio_set_fd(dm->ctx, netlink_fd(dm->nl), on_netlink, NULL, dm);
	if (r < 0) {
		err_set_errno(err, r, "cannot watch netlink");
		goto fail;
	}
	apply_reply_mode(dm, true);
	dm->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (dm->timerfd >= 0 && timerfd_settime(dm->timerfd, 0, &its, NULL) == 0)
		aio_set_fd(dm->ctx, dm->timerfd, on_timer, NULL, dm);
	take_over(dm);
	*out = dm;
	return 0;
fail:
	daemon_free(dm);
	return r;
}

int daemon_run(struct daemon *dm)
{
	int r = 0;

	log_info("serving '%s/' devices; %u taken over%s", dm->subtype, devices_count(dm->devs),
		 dm->no_kernel ? " (--no-kernel: no netlink, nothing to serve)" : "");
	while (!dm->quit) {
		r = aio_poll(dm->ctx, true);
		if (r < 0) {
			log_err("main loop: %s", strerror(-r));
			break;
		}
	}
	devices_close_all(dm->devs);
	/* without us nobody answers: enable must not wait for a reply */
	if (dm->reply_on && netlink_set_reply_mode(dm->nl, false) == 0)
		dm->reply_on = false;
	return r < 0 ? r : 0;
}

void daemon_free(struct daemon *dm)
{
	if (!dm)
		return;
	devices_free(dm->devs);
	if (dm->ctx) {
		if (dm->nl)
			aio_set_fd(dm->ctx, netlink_fd(dm->nl), NULL, NULL, NULL);
		if (dm->sigfd >= 0)
			aio_set_fd(dm->ctx, dm->sigfd, NULL, NULL, NULL);
		if (dm->timerfd >= 0)
			aio_set_fd(dm->ctx, dm->timerfd, NULL, NULL, NULL);
	}
	netlink_close(dm->nl);
	if (dm->sigfd >= 0)
		close(dm->sigfd);
	if (dm->timerfd >= 0)
		close(dm->timerfd);
	aio_ctx_free(dm->ctx);
	free(dm);
}

struct aio_ctx *daemon_ctx(struct daemon *dm)
{
	return dm->ctx;
}

unsigned int daemon_device_count(const struct daemon *dm)
{
	return devices_count(dm->devs);
}
