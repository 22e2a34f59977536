/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * targetcli integration over D-Bus with sd-bus; the protocol is described in dbus.h.
 *
 * The fd handed to the daemon is an epoll fd over the bus socket (EPOLLIN, plus EPOLLOUT
 * while sd-bus has unsent data) and a timerfd armed for the earliest of sd-bus's own
 * method-call time-outs and, in the service role, the next check for a queued owner.
 */
#include "daemon/dbus.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "util/aio.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/log.h"

#if HAVE_LIBSYSTEMD
#include <systemd/sd-bus.h>

#define REGISTER_TIMEOUT_US (5ULL * 1000 * 1000)
#define QUEUE_CHECK_US (2ULL * 1000 * 1000)
#define CHECK_MSG_MAX 512

struct dbus_service {
	sd_bus *bus;
	char *subtype;
	char *cfg_desc; /* read by sd-bus through the vtable (offsetof) */
	char *hm_name;	/* org.kernel.TCMUService1.HandlerManager1.<subtype> */
	char *obj_path; /* the handler object of the current role */
	dbus_check_config_fn check_config;
	void *opaque;

	enum dbus_role role;
	bool own_service_name; /* org.kernel.TCMUService1 */
	bool own_hm_name;      /* hm_name */
	bool broken;
	sd_bus_slot *owner_match;  /* NameOwnerChanged of org.kernel.TCMUService1 */
	sd_bus_slot *obj_slot;	   /* the handler object's vtable */
	sd_bus_slot *om_slot;	   /* the ObjectManager (service role) */
	sd_bus_slot *reg_call;	   /* RegisterHandler in flight */
	sd_bus_slot *queue_call;   /* ListQueuedOwners in flight */
	uint64_t next_queue_check; /* CLOCK_MONOTONIC µs; 0 = none */

	int epfd, tfd;
	uint32_t bus_events; /* what epfd watches on the bus fd */
	struct aio_ctx *aio;
};

static int on_check_config(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);

static const sd_bus_vtable handler_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("ConfigDesc", "s", NULL, offsetof(struct dbus_service, cfg_desc),
			SD_BUS_VTABLE_PROPERTY_CONST),
	/* privileged (the sd-bus default): the check looks at files, callers must be root */
	SD_BUS_METHOD_WITH_NAMES("CheckConfig", "s", SD_BUS_PARAM(cfgstring), "bs",
				 SD_BUS_PARAM(valid) SD_BUS_PARAM(message), on_check_config, 0),
	SD_BUS_VTABLE_END,
};

const char *dbus_role_name(enum dbus_role role)
{
	switch (role) {
	case DBUS_ROLE_SERVICE:
		return "service";
	case DBUS_ROLE_HANDLER:
		return "handler";
	case DBUS_ROLE_NONE:
		break;
	}
	return "none";
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- CheckConfig --------------------------------------------------------------------- */

/* targetcli passes "<subtype>/<cfgstring>"; the daemon's check wants the cfgstring. */
static const char *strip_subtype(const struct dbus_service *s, const char *cfg)
{
	size_t n = strlen(s->subtype);

	if (strncmp(cfg, s->subtype, n) == 0 && cfg[n] == '/')
		return cfg + n + 1;
	return cfg;
}

static int on_check_config(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct dbus_service *s = userdata;
	char msg[CHECK_MSG_MAX] = "";
	const char *cfg;
	bool ok;
	int r;

	(void)ret_error;
	r = sd_bus_message_read(m, "s", &cfg);
	if (r < 0)
		return r;
	ok = s->check_config(strip_subtype(s, cfg), msg, sizeof(msg), s->opaque);
	if (ok) {
		snprintf(msg, sizeof(msg), "success");
		log_debug("dbus", "CheckConfig '%s': valid", cfg);
	} else {
		if (!msg[0])
			snprintf(msg, sizeof(msg), "invalid config string");
		log_info("CheckConfig '%s' refused: %s", cfg, msg);
	}
	return sd_bus_reply_method_return(m, "bs", (int)ok, msg);
}

/* ---- roles --------------------------------------------------------------------------- */

static void drop_role(struct dbus_service *s)
{
	s->reg_call = sd_bus_slot_unref(s->reg_call);
	s->queue_call = sd_bus_slot_unref(s->queue_call);
	s->obj_slot = sd_bus_slot_unref(s->obj_slot);
	s->om_slot = sd_bus_slot_unref(s->om_slot);
	if (s->own_service_name)
		sd_bus_release_name(s->bus, DBUS_TCMU_NAME);
	if (s->own_hm_name)
		sd_bus_release_name(s->bus, s->hm_name);
	s->own_service_name = s->own_hm_name = false;
	free(s->obj_path);
	s->obj_path = NULL;
	s->next_queue_check = 0;
	s->role = DBUS_ROLE_NONE;
}

static int export_handler_object(struct dbus_service *s, const char *prefix)
{
	free(s->obj_path);
	if (asprintf(&s->obj_path, "%s/%s", prefix, s->subtype) < 0) {
		s->obj_path = NULL;
		return -ENOMEM;
	}
	return sd_bus_add_object_vtable(s->bus, &s->obj_slot, s->obj_path, DBUS_TCMU_IFACE,
					handler_vtable, s);
}

/*
 * Own org.kernel.TCMUService1.  The objects go up before the name, so that whoever sees
 * the name also sees them.  Returns 0, -EEXIST when somebody else owns the name (the
 * caller then registers with it), or -errno with @err set.
 */
static int become_service(struct dbus_service *s, struct err *err)
{
	int r;

	r = sd_bus_add_object_manager(s->bus, &s->om_slot, DBUS_TCMU_PATH);
	if (r >= 0)
		r = export_handler_object(s, DBUS_TCMU_PATH);
	if (r < 0) {
		drop_role(s);
		return err_set_errno(err, r, "D-Bus: cannot export %s", DBUS_TCMU_PATH);
	}
	r = sd_bus_request_name(s->bus, DBUS_TCMU_NAME, 0);
	if (r < 0) {
		drop_role(s);
		if (r == -EEXIST)
			return r;
		if (r == -EACCES || r == -EPERM)
			return err_set(
				err, r,
				"D-Bus: not allowed to own %s (not root, or the D-Bus policy "
				"file org.kernel.TCMUService1.conf is not installed)",
				DBUS_TCMU_NAME);
		return err_set_errno(err, r, "D-Bus: cannot own %s", DBUS_TCMU_NAME);
	}
	s->own_service_name = true;
	s->role = DBUS_ROLE_SERVICE;
	s->next_queue_check = now_us() + QUEUE_CHECK_US;
	/* ObjectManager clients (a targetcli shell already running) learn about the object */
	sd_bus_emit_object_added(s->bus, s->obj_path);
	log_info("D-Bus: serving %s; targetcli lists /backstores/user:%s", DBUS_TCMU_NAME,
		 s->subtype);
	return 0;
}

static int parse_register_reply(struct dbus_service *s, sd_bus_message *reply, struct err *err)
{
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	const char *why = "";
	int ok = 0;
	int r;

	if (e)
		return err_set(err, -sd_bus_error_get_errno(e),
			       "D-Bus: RegisterHandler of tcmu-runner failed: %s",
			       e->message ? e->message : e->name);
	r = sd_bus_message_read(reply, "bs", &ok, &why);
	if (r < 0)
		return err_set_errno(err, r, "D-Bus: bad RegisterHandler reply from tcmu-runner");
	if (!ok)
		return err_set(err, -EINVAL, "D-Bus: tcmu-runner refused handler %s: %s",
			       s->subtype, why);
	return 0;
}

static void registered(struct dbus_service *s)
{
	s->role = DBUS_ROLE_HANDLER;
	log_info("D-Bus: registered with tcmu-runner (%s); targetcli lists "
		 "/backstores/user:%s",
		 DBUS_HM_IFACE, s->subtype);
}

static int on_register_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct dbus_service *s = userdata;
	struct err err;

	(void)ret_error;
	err_init(&err);
	s->reg_call = sd_bus_slot_unref(s->reg_call);
	if (parse_register_reply(s, reply, &err) < 0) {
		log_warn("%s; targetcli will not list user:%s", err.msg, s->subtype);
		drop_role(s);
		return 0;
	}
	registered(s);
	return 0;
}

static int register_sync(struct dbus_service *s, struct err *err)
{
	sd_bus_message *call = NULL, *reply = NULL;
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_message_new_method_call(s->bus, &call, DBUS_TCMU_NAME, DBUS_HM_PATH,
					   DBUS_HM_IFACE, "RegisterHandler");
	if (r >= 0)
		r = sd_bus_message_append(call, "ss", s->subtype, s->cfg_desc);
	if (r >= 0)
		r = sd_bus_call(s->bus, call, REGISTER_TIMEOUT_US, &e, &reply);
	if (r < 0)
		err_set(err, r, "D-Bus: RegisterHandler of tcmu-runner failed: %s",
			e.message ? e.message : strerror(-r));
	else
		r = parse_register_reply(s, reply, err);
	sd_bus_error_free(&e);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(call);
	return r;
}

/*
 * Register through tcmu-runner's HandlerManager1: own our per-subtype name, export the
 * handler object, call RegisterHandler (tcmu-runner answers once it sees our name).
 * @wait: block for the reply (start-up) instead of taking it in dispatch.
 */
static int become_handler(struct dbus_service *s, bool wait, struct err *err)
{
	int r;

	r = export_handler_object(s, DBUS_HM_PATH);
	if (r < 0) {
		drop_role(s);
		return err_set_errno(err, r, "D-Bus: cannot export %s/%s", DBUS_HM_PATH,
				     s->subtype);
	}
	r = sd_bus_request_name(s->bus, s->hm_name, 0);
	if (r < 0) {
		drop_role(s);
		if (r == -EEXIST)
			return err_set(err, r,
				       "D-Bus: %s is taken: another daemon already serves user:%s",
				       s->hm_name, s->subtype);
		return err_set_errno(err, r, "D-Bus: cannot own %s", s->hm_name);
	}
	s->own_hm_name = true;
	if (wait)
		r = register_sync(s, err);
	else if ((r = sd_bus_call_method_async(s->bus, &s->reg_call, DBUS_TCMU_NAME, DBUS_HM_PATH,
					       DBUS_HM_IFACE, "RegisterHandler", on_register_reply,
					       s, "ss", s->subtype, s->cfg_desc)) < 0)
		err_set_errno(err, r, "D-Bus: cannot call RegisterHandler");
	if (r < 0) {
		drop_role(s);
		return r;
	}
	if (wait)
		registered(s);
	return 0;
}

/* Take whichever role the bus allows now. */
static int take_role(struct dbus_service *s, bool wait, struct err *err)
{
	int r = become_service(s, err);

	if (r == -EEXIST)
		r = become_handler(s, wait, err);
	return r;
}

static void retake_role(struct dbus_service *s)
{
	struct err err;

	drop_role(s);
	err_init(&err);
	if (take_role(s, /*wait*/ false, &err) < 0)
		log_warn("%s; targetcli will not list user:%s", err.msg, s->subtype);
}

static bool is_me(struct dbus_service *s, const char *name)
{
	const char *me = NULL;

	return sd_bus_get_unique_name(s->bus, &me) >= 0 && me && strcmp(name, me) == 0;
}

/* org.kernel.TCMUService1 changed hands: tcmu-runner started, stopped or restarted. */
static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct dbus_service *s = userdata;
	const char *name, *old_owner, *new_owner;

	(void)ret_error;
	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
	    strcmp(name, DBUS_TCMU_NAME) != 0)
		return 0;
	/* our own acquisition or hand-over were handled where we made them */
	if (is_me(s, new_owner) || is_me(s, old_owner) || s->role == DBUS_ROLE_SERVICE)
		return 0;
	log_info("D-Bus: %s changed owner ('%s' -> '%s')", DBUS_TCMU_NAME, old_owner, new_owner);
	retake_role(s);
	return 0;
}

/*
 * Service role: a tcmu-runner started after us waits in the bus name's queue.  Hand the
 * name over and register with it, so that targetcli lists both daemons' handlers.
 */
static int on_queued_owners(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct dbus_service *s = userdata;
	const char *owner;
	bool other = false;

	(void)ret_error;
	s->queue_call = sd_bus_slot_unref(s->queue_call);
	if (sd_bus_message_is_method_error(reply, NULL) ||
	    sd_bus_message_enter_container(reply, 'a', "s") < 0)
		return 0;
	while (sd_bus_message_read(reply, "s", &owner) > 0)
		if (!is_me(s, owner))
			other = true;
	if (!other || s->role != DBUS_ROLE_SERVICE)
		return 0;
	log_info("D-Bus: another TCMU service (tcmu-runner) waits for %s: handing it over",
		 DBUS_TCMU_NAME);
	retake_role(s);
	return 0;
}

static void check_queue(struct dbus_service *s)
{
	s->next_queue_check = now_us() + QUEUE_CHECK_US;
	if (s->queue_call)
		return;
	if (sd_bus_call_method_async(s->bus, &s->queue_call, "org.freedesktop.DBus",
				     "/org/freedesktop/DBus", "org.freedesktop.DBus",
				     "ListQueuedOwners", on_queued_owners, s, "s",
				     DBUS_TCMU_NAME) < 0)
		s->queue_call = NULL;
}

/* ---- the fd: epoll over the bus socket and the timer --------------------------------- */

static void update_fds(struct dbus_service *s)
{
	struct itimerspec its = { 0 };
	struct epoll_event ev = { 0 };
	uint64_t deadline = UINT64_MAX;
	int events = sd_bus_get_events(s->bus);

	ev.events = EPOLLIN | ((events > 0 && (events & POLLOUT)) ? EPOLLOUT : 0);
	if (ev.events != s->bus_events &&
	    epoll_ctl(s->epfd, EPOLL_CTL_MOD, sd_bus_get_fd(s->bus), &ev) == 0)
		s->bus_events = ev.events;
	if (sd_bus_get_timeout(s->bus, &deadline) < 0)
		deadline = UINT64_MAX;
	if (s->next_queue_check && s->next_queue_check < deadline)
		deadline = s->next_queue_check;
	if (deadline != UINT64_MAX) {
		deadline = MAX(deadline, 1); /* 0 would disarm; 1 µs is long past */
		its.it_value.tv_sec = (time_t)(deadline / 1000000);
		its.it_value.tv_nsec = (long)(deadline % 1000000) * 1000;
	}
	timerfd_settime(s->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int setup_fds(struct dbus_service *s)
{
	struct epoll_event ev = { .events = EPOLLIN };

	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->epfd < 0 || s->tfd < 0)
		return -errno;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev) < 0)
		return -errno;
	s->bus_events = EPOLLIN;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, sd_bus_get_fd(s->bus), &ev) < 0)
		return -errno;
	return 0;
}

int dbus_service_fd(const struct dbus_service *s)
{
	return s->broken ? -1 : s->epfd;
}

static void detach(struct dbus_service *s)
{
	if (s->aio)
		aio_set_fd(s->aio, s->epfd, NULL, NULL, NULL);
	s->aio = NULL;
}

int dbus_service_dispatch(struct dbus_service *s)
{
	uint64_t ticks;
	int r;

	if (s->broken)
		return -ENOTCONN;
	if (read(s->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_debug("dbus", "timerfd read: %s", strerror(errno));
	if (s->next_queue_check && now_us() >= s->next_queue_check)
		check_queue(s);
	do {
		r = sd_bus_process(s->bus, NULL);
	} while (r > 0);
	if (r < 0) {
		log_warn("D-Bus connection lost (%s): targetcli will not list user:%s backstores "
			 "until qemu-tcmu restarts; devices keep being served",
			 strerror(-r), s->subtype);
		detach(s);
		s->broken = true;
		s->role = DBUS_ROLE_NONE;
		return r;
	}
	update_fds(s);
	return 0;
}

static void on_fd_ready(void *opaque)
{
	dbus_service_dispatch(opaque);
}

int dbus_service_attach(struct dbus_service *s, struct aio_ctx *ctx)
{
	int r;

	if (s->broken)
		return -ENOTCONN;
	r = aio_set_fd(ctx, s->epfd, on_fd_ready, NULL, s);
	if (r < 0)
		return r;
	s->aio = ctx;
	return dbus_service_dispatch(s);
}

enum dbus_role dbus_service_role(const struct dbus_service *s)
{
	return s->role;
}

/* ---- life cycle ---------------------------------------------------------------------- */

static int bus_open(const char *address, sd_bus **out)
{
	sd_bus *bus = NULL;
	int r;

	if (!address)
		return sd_bus_open_system_with_description(out, "qemu-tcmu");
	r = sd_bus_new(&bus);
	if (r >= 0)
		r = sd_bus_set_address(bus, address);
	if (r >= 0)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r < 0) {
		sd_bus_unref(bus);
		return r;
	}
	*out = bus;
	return 0;
}

static bool is_valid_subtype(const char *sub)
{
	if (!sub || !*sub || strlen(sub) > 64)
		return false;
	for (const char *p = sub; *p; p++)
		if (!(*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			return false;
	return true;
}

static struct dbus_service *service_new(const struct dbus_service_params *p)
{
	struct dbus_service *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->epfd = s->tfd = -1;
	s->subtype = strdup(p->subtype);
	s->cfg_desc = strdup(p->cfg_desc ? p->cfg_desc : "");
	if (!s->subtype || !s->cfg_desc ||
	    asprintf(&s->hm_name, "%s.%s", DBUS_HM_IFACE, p->subtype) < 0) {
		s->hm_name = NULL;
		dbus_service_stop(s);
		return NULL;
	}
	s->check_config = p->check_config;
	s->opaque = p->opaque;
	return s;
}

static int connect_bus(struct dbus_service *s, const char *address, struct err *err)
{
	char match[256];
	int r;

	r = bus_open(address, &s->bus);
	if (r < 0)
		return err_set(err, r,
			       "no D-Bus system bus (%s): targetcli will not list user:%s "
			       "backstores; devices created through configfs are still served",
			       strerror(-r), s->subtype);
	snprintf(match, sizeof(match),
		 "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
		 "member='NameOwnerChanged',arg0='%s'",
		 DBUS_TCMU_NAME);
	/* the first synchronous call: also where an unreachable bus shows up */
	r = sd_bus_add_match(s->bus, &s->owner_match, match, on_owner_changed, s);
	if (r < 0)
		return err_set(err, r,
			       "cannot use the D-Bus system bus (%s): targetcli will not list "
			       "user:%s backstores; devices created through configfs are still "
			       "served",
			       strerror(-r), s->subtype);
	r = setup_fds(s);
	if (r < 0)
		return err_set_errno(err, r, "D-Bus: epoll/timerfd");
	return 0;
}

int dbus_service_start(const struct dbus_service_params *p, struct dbus_service **out,
		       struct err *err)
{
	struct dbus_service *s;
	int r;

	if (!is_valid_subtype(p->subtype) || !p->check_config)
		return err_set(err, -EINVAL, "D-Bus: invalid handler subtype '%s'",
			       p->subtype ? p->subtype : "");
	s = service_new(p);
	if (!s)
		return err_set(err, -ENOMEM, "out of memory");
	r = connect_bus(s, p->bus_address, err);
	if (r >= 0)
		r = take_role(s, /*wait*/ true, err);
	if (r < 0) {
		dbus_service_stop(s);
		return r;
	}
	update_fds(s);
	*out = s;
	return 0;
}

void dbus_service_stop(struct dbus_service *s)
{
	if (!s)
		return;
	detach(s);
	if (s->bus) {
		if (!s->broken)
			drop_role(s);
		sd_bus_slot_unref(s->owner_match);
		sd_bus_flush_close_unref(s->bus);
	}
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->tfd >= 0)
		close(s->tfd);
	free(s->obj_path);
	free(s->hm_name);
	free(s->cfg_desc);
	free(s->subtype);
	free(s);
}

#else /* !HAVE_LIBSYSTEMD */

int dbus_service_start(const struct dbus_service_params *p, struct dbus_service **out,
		       struct err *err)
{
	(void)out;
	return err_set(err, -ENOTSUP,
		       "built without libsystemd (sd-bus): targetcli will not list user:%s "
		       "backstores; devices created through configfs are still served",
		       p->subtype);
}

int dbus_service_fd(const struct dbus_service *s)
{
	(void)s;
	return -1;
}

int dbus_service_dispatch(struct dbus_service *s)
{
	(void)s;
	return -ENOTCONN;
}

int dbus_service_attach(struct dbus_service *s, struct aio_ctx *ctx)
{
	(void)s;
	(void)ctx;
	return -ENOTCONN;
}

enum dbus_role dbus_service_role(const struct dbus_service *s)
{
	(void)s;
	return DBUS_ROLE_NONE;
}

const char *dbus_role_name(enum dbus_role role)
{
	(void)role;
	return "none";
}

void dbus_service_stop(struct dbus_service *s)
{
	(void)s;
}

#endif
