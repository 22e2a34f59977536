/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The qemu-tcmu daemon: serves every TCMU device (LIO user backstore) whose dev_config
 * starts with "<subtype>/".  The main thread runs an event loop with the netlink socket,
 * a signalfd and whatever else is attached (D-Bus); each device runs in its own thread
 * (transport/ring-dev.h).
 *
 * Lifecycle: at start, devices that already exist (LIO recreated them, or a previous
 * daemon died) are taken over: block_dev, reset_ring (commands left in the ring fail with
 * BUSY and are retried), open, unblock.  ADDED_DEVICE opens a device and replies with the
 * result (an invalid config string or an unopenable image fails the kernel's enable with
 * that -errno); REMOVED_DEVICE drains and closes; RECONFIG_DEVICE changes the size (with a
 * CAPACITY DATA HAS CHANGED unit attention), the write cache, or the image.  SIGTERM and
 * SIGINT drain every device, flush and exit 0; SIGHUP reconnects to syslog (logging to
 * stderr there is nothing to reopen: the service manager owns that file).
 *
 * Several daemons on one subtype (claims): a daemon with --claim patterns serves, takes
 * over and answers netlink events only for the devices it claims and is silent about the
 * rest (the kernel takes the first reply, so a "not mine" would fail another daemon's
 * device), and it does not reset the kernel's netlink queue at start (another daemon's
 * enable may be waiting in it).  Every device of the subtype must be claimed by exactly
 * one daemon: in the kernel's reply mode an enable nobody answers waits.
 */
#ifndef QT_DAEMON_DAEMON_H
#define QT_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/claim.h"

struct aio_ctx;
struct daemon;
struct err;

/* Whether the kernel waits for our netlink replies (module-wide; see docs/TRANSPORT.md). */
enum daemon_reply_mode {
	DAEMON_REPLY_AUTO, /* on, unless another TCMU daemon (tcmu-runner) is running */
	DAEMON_REPLY_ON,
	DAEMON_REPLY_OFF,
};

struct daemon_params {
	const char *subtype; /* "qemu" */
	enum daemon_reply_mode reply;
	void (*reopen_log)(void); /* on SIGHUP; NULL = nothing to reopen */
	bool no_kernel;		  /* no netlink, configfs or devices (tests: signals, logs) */
	unsigned int poll_us;	  /* busy polling of each ring before sleeping (--poll-us) */
	struct claims claims;	  /* --claim: only these devices of the subtype (claim.h) */
};

/* Block the signals, connect to netlink (loading target_core_user if needed), take over
 * existing devices.  Errors: one line in @err. */
int daemon_new(const struct daemon_params *p, struct daemon **out, struct err *err);
/* Run until SIGTERM/SIGINT; then drain and close every device.  Returns 0 or -errno. */
int daemon_run(struct daemon *dm);
void daemon_free(struct daemon *dm);

/* The main loop, for other services (D-Bus) to attach fds to. */
struct aio_ctx *daemon_ctx(struct daemon *dm);

/* Number of devices served. */
unsigned int daemon_device_count(const struct daemon *dm);

#endif
