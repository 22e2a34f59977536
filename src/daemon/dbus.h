/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * targetcli integration over the D-Bus system bus (sd-bus).
 *
 * targetcli lists a `/backstores/user:<subtype>` node for every object below
 * /org/kernel/TCMUService1 that the owner of the bus name org.kernel.TCMUService1 reports
 * through org.freedesktop.DBus.ObjectManager.GetManagedObjects().  Before creating a
 * backstore it calls CheckConfig("<subtype>/<cfgstring>") on that object and refuses the
 * creation with the returned message when it is false.  The service takes one of two roles:
 *
 *   DBUS_ROLE_SERVICE  nobody owns org.kernel.TCMUService1 (tcmu-runner is not running):
 *                      we own it, export the ObjectManager at /org/kernel/TCMUService1 and
 *                      /org/kernel/TCMUService1/<subtype> (interface org.kernel.TCMUService1:
 *                      property ConfigDesc "s", method CheckConfig "s" -> "bs").
 *   DBUS_ROLE_HANDLER  tcmu-runner owns it: we own
 *                      org.kernel.TCMUService1.HandlerManager1.<subtype>, export
 *                      /org/kernel/TCMUService1/HandlerManager1/<subtype> (the same interface)
 *                      and call tcmu-runner's HandlerManager1.RegisterHandler(subtype,
 *                      cfg_desc); tcmu-runner then lists us and forwards CheckConfig to us.
 *                      If tcmu-runner exits, we take the name over (-> DBUS_ROLE_SERVICE).
 *
 * A tcmu-runner started after us queues for the bus name (GDBus does): while we own the
 * name we check every 2 s for a queued owner, hand the name over and register with it.
 *
 * Threads: everything, including the check_config callback, runs in the thread that calls
 * dbus_service_start() / dbus_service_dispatch() (the daemon's main loop).
 */
#ifndef QT_DAEMON_DBUS_H
#define QT_DAEMON_DBUS_H

#include <stdbool.h>
#include <stddef.h>

struct aio_ctx;
struct dbus_service;
struct err;

#define DBUS_TCMU_NAME "org.kernel.TCMUService1"
#define DBUS_TCMU_PATH "/org/kernel/TCMUService1"
#define DBUS_TCMU_IFACE "org.kernel.TCMUService1"
#define DBUS_HM_PATH DBUS_TCMU_PATH "/HandlerManager1"
#define DBUS_HM_IFACE DBUS_TCMU_IFACE ".HandlerManager1"

/*
 * Validate @cfgstring (what follows "<subtype>/"; e.g. "@id=disk0@file=/img.qcow2")
 * without side effects.  Return true if a device with it could be created; otherwise
 * false with a one-line reason in @msg (@msglen bytes, NUL-terminated).
 */
typedef bool (*dbus_check_config_fn)(const char *cfgstring, char *msg, size_t msglen, void *opaque);

struct dbus_service_params {
	const char *subtype;		   /* "qemu"; [A-Za-z0-9_]+ */
	const char *cfg_desc;		   /* ConfigDesc: shown by `targetcli ... help create` */
	dbus_check_config_fn check_config; /* Required. */
	void *opaque;			   /* passed to check_config */
	const char *bus_address;	   /* NULL: the system bus ($DBUS_SYSTEM_BUS_ADDRESS) */
};

enum dbus_role {
	DBUS_ROLE_NONE,	   /* registered nowhere (a retry happens when the bus changes) */
	DBUS_ROLE_SERVICE, /* we own org.kernel.TCMUService1 */
	DBUS_ROLE_HANDLER, /* registered with tcmu-runner's HandlerManager1 */
};

/*
 * Connect and register (blocking, a few bus round trips; registration with tcmu-runner
 * waits up to 5 s for its reply).  On failure returns -errno and explains in @err why
 * targetcli will not see the handler (no system bus, not allowed to own the name, ...);
 * the daemon then logs that once and serves configfs-created devices without D-Bus.
 * The strings in @p are copied.
 */
int dbus_service_start(const struct dbus_service_params *p, struct dbus_service **out,
		       struct err *err);

/*
 * One fd to poll for POLLIN (an epoll fd over the bus socket, in or out as needed, and a
 * timer for the service's own time-outs); call dbus_service_dispatch() when it is ready,
 * and once after start.  -1 once the connection broke.
 */
int dbus_service_fd(const struct dbus_service *s);
/* Process everything pending (answers CheckConfig, follows tcmu-runner coming and going).
 * Returns 0, or -errno if the connection broke: the service is then inert, and the loss
 * has been logged once. */
int dbus_service_dispatch(struct dbus_service *s);

/* Convenience for the daemon: watch the fd in @ctx (level triggered) and dispatch from
 * there; dispatches once at once.  dbus_service_stop() detaches. */
int dbus_service_attach(struct dbus_service *s, struct aio_ctx *ctx);

enum dbus_role dbus_service_role(const struct dbus_service *s);
const char *dbus_role_name(enum dbus_role role);

/* Detach, release the bus names (tcmu-runner then forgets us) and close.  NULL is a no-op. */
void dbus_service_stop(struct dbus_service *s);

#endif
