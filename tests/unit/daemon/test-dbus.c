/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon/dbus.c against a private dbus-daemon (a fresh one per test): the service role
 * (ObjectManager, ConfigDesc, CheckConfig as targetcli calls them), the handler role with a
 * fake tcmu-runner (HandlerManager1.RegisterHandler, CheckConfig on our own name), taking
 * the name over when tcmu-runner exits, handing it over when tcmu-runner queues for it,
 * and the failures: no bus, a policy that forbids owning the name, the name taken.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <systemd/sd-bus.h>

#include "daemon/dbus.h"
#include "util/err.h"
#include "util/opts.h"

#define DESC "@key=value@...: file=PATH (test)"
#define HM_QEMU_NAME DBUS_HM_IFACE ".qemu"
#define HM_QEMU_PATH DBUS_HM_PATH "/qemu"

/* ---- a private bus ------------------------------------------------------------------ */

struct bus_fixture {
	char dir[64];
	char address[256];
	pid_t pid;
};

static const char *const policy_allow = "<allow own='*'/>";
static const char *const policy_deny = "<allow own='*'/><deny own='org.kernel.TCMUService1'/>";

static void write_config(const char *path, const char *sock, const char *own_policy)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fprintf(f,
		"<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\""
		" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
		"<busconfig><listen>unix:path=%s</listen><auth>EXTERNAL</auth>"
		"<policy context='default'>%s<allow send_destination='*' eavesdrop='true'/>"
		"<allow eavesdrop='true'/><allow user='*'/></policy></busconfig>\n",
		sock, own_policy);
	fclose(f);
}

static void bus_start(struct bus_fixture *b, const char *own_policy)
{
	char conf[128], sock[128], fdarg[32];
	int pfd[2];
	ssize_t n;

	snprintf(b->dir, sizeof(b->dir), "/tmp/qt-dbus.XXXXXX");
	assert_non_null(mkdtemp(b->dir));
	snprintf(conf, sizeof(conf), "%s/bus.conf", b->dir);
	snprintf(sock, sizeof(sock), "%s/bus", b->dir);
	write_config(conf, sock, own_policy);
	assert_int_equal(pipe(pfd), 0);
	b->pid = fork();
	assert_true(b->pid >= 0);
	if (b->pid == 0) {
		close(pfd[0]);
		snprintf(fdarg, sizeof(fdarg), "--print-address=%d", pfd[1]);
		execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nosyslog", fdarg,
		       "--config-file", conf, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	n = read(pfd[0], b->address, sizeof(b->address) - 1);
	close(pfd[0]);
	if (n <= 0)
		fail_msg("dbus-daemon did not start (is the dbus package installed?)");
	b->address[n] = '\0';
	b->address[strcspn(b->address, "\n")] = '\0';
}

static void bus_stop(struct bus_fixture *b)
{
	char cmd[128];

	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		waitpid(b->pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", b->dir);
}

static sd_bus *bus_connect(const struct bus_fixture *b)
{
	sd_bus *bus = NULL;

	assert_true(sd_bus_new(&bus) >= 0);
	assert_true(sd_bus_set_address(bus, b->address) >= 0);
	assert_true(sd_bus_set_bus_client(bus, 1) >= 0);
	assert_true(sd_bus_start(bus) >= 0);
	return bus;
}

/* ---- a thread that serves one sd-bus connection or the service ---------------------- */

struct pump {
	pthread_t thread;
	int stop_fd;
	sd_bus *bus;		  /* a plain connection (the fake tcmu-runner) ... */
	struct dbus_service *svc; /* ... or the service under test */
};

static void *pump_main(void *opaque)
{
	struct pump *p = opaque;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = p->stop_fd, .events = POLLIN } };

		if (p->svc) {
			pfd[1].fd = dbus_service_fd(p->svc);
			pfd[1].events = POLLIN;
		} else {
			pfd[1].fd = sd_bus_get_fd(p->bus);
			pfd[1].events = (short)sd_bus_get_events(p->bus);
		}
		/* the service is woken by its fd alone; the fake runner polls for simplicity */
		if (poll(pfd, 2, p->svc ? -1 : 50) < 0)
			break;
		if (pfd[0].revents)
			break;
		if (p->svc) {
			if (pfd[1].revents)
				dbus_service_dispatch(p->svc);
		} else {
			while (sd_bus_process(p->bus, NULL) > 0)
				;
		}
	}
	return NULL;
}

static void pump_start(struct pump *p)
{
	p->stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(p->stop_fd >= 0);
	assert_int_equal(pthread_create(&p->thread, NULL, pump_main, p), 0);
}

static void pump_stop(struct pump *p)
{
	uint64_t one = 1;

	assert_int_equal(write(p->stop_fd, &one, sizeof(one)), sizeof(one));
	pthread_join(p->thread, NULL);
	close(p->stop_fd);
}

/* ---- the daemon's check: a readable file is required --------------------------------- */

static char last_cfg[256];
static int check_calls;

static bool check_file(const char *cfgstring, char *msg, size_t msglen, void *opaque)
{
	struct opts o;
	struct err err;
	const char *file = NULL;
	bool ok = false;

	assert_ptr_equal(opaque, &check_calls);
	check_calls++;
	snprintf(last_cfg, sizeof(last_cfg), "%s", cfgstring);
	opts_init(&o);
	err_init(&err);
	if (opts_parse_cfgstring(&o, cfgstring, &err) < 0 || (opts_get(&o, "id"), false) ||
	    opts_get_str(&o, "file", NULL, &file, &err) < 0 ||
	    opts_check_unused(&o, "qemu", &err) < 0)
		snprintf(msg, msglen, "%s", err.msg);
	else if (!file)
		snprintf(msg, msglen, "no file= given");
	else if (access(file, R_OK) != 0)
		snprintf(msg, msglen, "cannot open '%s': %s", file, strerror(errno));
	else
		ok = true;
	opts_release(&o);
	return ok;
}

static struct dbus_service_params params(const struct bus_fixture *b)
{
	return (struct dbus_service_params){
		.subtype = "qemu",
		.cfg_desc = DESC,
		.check_config = check_file,
		.opaque = &check_calls,
		.bus_address = b->address,
	};
}

/* ---- client calls, as targetcli makes them ------------------------------------------- */

/* CheckConfig on @dest/@path; returns the verdict, copies the message. */
static bool call_check(sd_bus *c, const char *dest, const char *path, const char *cfg, char *msg,
		       size_t len)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *m = NULL;
	int ok = -1, r;

	r = sd_bus_call_method(c, dest, path, DBUS_TCMU_IFACE, "CheckConfig", &e, &reply, "s", cfg);
	if (r < 0)
		fail_msg("CheckConfig: %s", e.message ? e.message : strerror(-r));
	assert_int_equal(sd_bus_message_read(reply, "bs", &ok, &m), 1);
	snprintf(msg, len, "%s", m);
	sd_bus_message_unref(reply);
	return ok;
}

/*
 * GetManagedObjects on org.kernel.TCMUService1: the number of objects, and whether
 * /org/kernel/TCMUService1/qemu is one of them with ConfigDesc == DESC.
 */
static int managed_objects(sd_bus *c, bool *has_qemu)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	const char *path, *iface, *prop, *val;
	int n = 0;

	*has_qemu = false;
	if (sd_bus_call_method(c, DBUS_TCMU_NAME, DBUS_TCMU_PATH,
			       "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", &e, &m,
			       "") < 0) {
		sd_bus_error_free(&e);
		return -1;
	}
	assert_true(sd_bus_message_enter_container(m, 'a', "{oa{sa{sv}}}") > 0);
	while (sd_bus_message_enter_container(m, 'e', "oa{sa{sv}}") > 0) {
		n++;
		assert_int_equal(sd_bus_message_read(m, "o", &path), 1);
		assert_true(sd_bus_message_enter_container(m, 'a', "{sa{sv}}") > 0);
		while (sd_bus_message_enter_container(m, 'e', "sa{sv}") > 0) {
			assert_int_equal(sd_bus_message_read(m, "s", &iface), 1);
			assert_true(sd_bus_message_enter_container(m, 'a', "{sv}") > 0);
			while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
				assert_int_equal(sd_bus_message_read(m, "s", &prop), 1);
				if (strcmp(path, DBUS_TCMU_PATH "/qemu") == 0 &&
				    strcmp(iface, DBUS_TCMU_IFACE) == 0 &&
				    strcmp(prop, "ConfigDesc") == 0) {
					assert_int_equal(sd_bus_message_read(m, "v", "s", &val), 1);
					assert_string_equal(val, DESC);
					*has_qemu = true;
				} else {
					assert_true(sd_bus_message_skip(m, "v") >= 0);
				}
				assert_true(sd_bus_message_exit_container(m) >= 0);
			}
			assert_true(sd_bus_message_exit_container(m) >= 0);
			assert_true(sd_bus_message_exit_container(m) >= 0);
		}
		assert_true(sd_bus_message_exit_container(m) >= 0);
		assert_true(sd_bus_message_exit_container(m) >= 0);
	}
	sd_bus_message_unref(m);
	return n;
}

static void wait_for(bool (*cond)(void *), void *arg, const char *what)
{
	for (int i = 0; i < 200; i++) {
		if (cond(arg))
			return;
		usleep(50 * 1000);
	}
	fail_msg("timed out (10 s) waiting for %s", what);
}

static bool lists_qemu(void *arg)
{
	bool has = false;

	return managed_objects(arg, &has) >= 0 && has;
}

/* ---- the fake tcmu-runner ------------------------------------------------------------ */

struct runner {
	sd_bus *bus;
	sd_bus_slot *slot;
	struct pump pump;
	char subtype[64], desc[128];
	int registrations;
	bool refuse;
};

static int on_register(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct runner *rn = userdata;
	const char *sub, *desc;

	(void)ret_error;
	assert_int_equal(sd_bus_message_read(m, "ss", &sub, &desc), 1);
	snprintf(rn->subtype, sizeof(rn->subtype), "%s", sub);
	snprintf(rn->desc, sizeof(rn->desc), "%s", desc);
	__atomic_add_fetch(&rn->registrations, 1, __ATOMIC_SEQ_CST);
	if (rn->refuse)
		return sd_bus_reply_method_return(m, "bs", 0, "handler refused by test");
	return sd_bus_reply_method_return(m, "bs", 1, "succeeded");
}

static const sd_bus_vtable hm_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("RegisterHandler", "ss", "bs", on_register, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

/* @queue: request the name with SD_BUS_NAME_QUEUE, as GDBus does (tcmu-runner) */
static void runner_start(struct runner *rn, const struct bus_fixture *b, bool queue)
{
	int r;

	rn->bus = bus_connect(b);
	assert_int_equal(sd_bus_add_object_vtable(rn->bus, &rn->slot, DBUS_HM_PATH, DBUS_HM_IFACE,
						  hm_vtable, rn),
			 0);
	r = sd_bus_request_name(rn->bus, DBUS_TCMU_NAME, queue ? SD_BUS_NAME_QUEUE : 0);
	assert_true(r >= 0);
	rn->pump.bus = rn->bus;
	pump_start(&rn->pump);
}

static void runner_stop(struct runner *rn)
{
	pump_stop(&rn->pump);
	sd_bus_slot_unref(rn->slot);
	sd_bus_flush_close_unref(rn->bus);
}

static bool runner_registered(void *arg)
{
	struct runner *rn = arg;

	return __atomic_load_n(&rn->registrations, __ATOMIC_SEQ_CST) > 0;
}

/* ---- tests --------------------------------------------------------------------------- */

static int setup_bus(void **state)
{
	static struct bus_fixture b;

	memset(&b, 0, sizeof(b));
	bus_start(&b, policy_allow);
	check_calls = 0;
	last_cfg[0] = '\0';
	*state = &b;
	return 0;
}

static int teardown_bus(void **state)
{
	bus_stop(*state);
	return 0;
}

/* tcmu-runner absent: we own the name; targetcli's calls work. */
static void test_service_role(void **state)
{
	struct bus_fixture *b = *state;
	struct dbus_service_params p = params(b);
	struct dbus_service *s = NULL;
	struct pump pump = { 0 };
	struct err err;
	char msg[512], *desc = NULL;
	sd_bus *c;
	bool has;

	err_init(&err);
	assert_int_equal(dbus_service_start(&p, &s, &err), 0);
	assert_int_equal(dbus_service_role(s), DBUS_ROLE_SERVICE);
	assert_true(dbus_service_fd(s) >= 0);
	pump.svc = s;
	pump_start(&pump);
	c = bus_connect(b);

	assert_int_equal(managed_objects(c, &has), 1);
	assert_true(has);
	assert_int_equal(sd_bus_get_property_string(c, DBUS_TCMU_NAME, DBUS_TCMU_PATH "/qemu",
						    DBUS_TCMU_IFACE, "ConfigDesc", NULL, &desc),
			 0);
	assert_string_equal(desc, DESC);
	free(desc);

	/* targetcli passes "<subtype>/<cfgstring>"; the check sees the cfgstring */
	assert_false(call_check(c, DBUS_TCMU_NAME, DBUS_TCMU_PATH "/qemu",
				"qemu/@id=x@file=/nonexistent/img", msg, sizeof(msg)));
	assert_string_equal(last_cfg, "@id=x@file=/nonexistent/img");
	assert_non_null(strstr(msg, "cannot open '/nonexistent/img'"));
	assert_false(call_check(c, DBUS_TCMU_NAME, DBUS_TCMU_PATH "/qemu",
				"qemu/@file=/dev/null@colour=red", msg, sizeof(msg)));
	assert_non_null(strstr(msg, "colour"));
	assert_true(call_check(c, DBUS_TCMU_NAME, DBUS_TCMU_PATH "/qemu", "qemu/@file=/dev/null",
			       msg, sizeof(msg)));
	assert_string_equal(msg, "success");
	assert_true(call_check(c, DBUS_TCMU_NAME, DBUS_TCMU_PATH "/qemu", "/dev/null", msg,
			       sizeof(msg)));
	assert_string_equal(last_cfg, "/dev/null");
	assert_int_equal(check_calls, 4);

	pump_stop(&pump);
	dbus_service_stop(s);
	/* the name is released: nothing is listed any more */
	assert_int_equal(managed_objects(c, &has), -1);
	sd_bus_flush_close_unref(c);
}

/* tcmu-runner present: register through HandlerManager1 and answer CheckConfig on our
 * own name (tcmu-runner forwards targetcli's call there). */
static void test_handler_role(void **state)
{
	struct bus_fixture *b = *state;
	struct dbus_service_params p = params(b);
	struct dbus_service *s = NULL;
	struct runner rn = { 0 };
	struct pump pump = { 0 };
	struct err err;
	char msg[512], *desc = NULL;
	sd_bus *c;

	runner_start(&rn, b, false);
	err_init(&err);
	assert_int_equal(dbus_service_start(&p, &s, &err), 0);
	assert_int_equal(dbus_service_role(s), DBUS_ROLE_HANDLER);
	assert_int_equal(rn.registrations, 1);
	assert_string_equal(rn.subtype, "qemu");
	assert_string_equal(rn.desc, DESC);
	pump.svc = s;
	pump_start(&pump);
	c = bus_connect(b);
	assert_false(call_check(c, HM_QEMU_NAME, HM_QEMU_PATH, "qemu/@file=/nonexistent", msg,
				sizeof(msg)));
	assert_non_null(strstr(msg, "cannot open '/nonexistent'"));
	assert_true(call_check(c, HM_QEMU_NAME, HM_QEMU_PATH, "qemu/@file=/dev/null", msg,
			       sizeof(msg)));
	assert_int_equal(sd_bus_get_property_string(c, HM_QEMU_NAME, HM_QEMU_PATH, DBUS_TCMU_IFACE,
						    "ConfigDesc", NULL, &desc),
			 0);
	assert_string_equal(desc, DESC);
	free(desc);

	/* tcmu-runner exits: we take org.kernel.TCMUService1 over */
	runner_stop(&rn);
	wait_for(lists_qemu, c, "the service role after tcmu-runner left");

	pump_stop(&pump);
	assert_int_equal(dbus_service_role(s), DBUS_ROLE_SERVICE);
	dbus_service_stop(s);
	sd_bus_flush_close_unref(c);
}

/* tcmu-runner started after us queues for the name: we hand it over and register. */
static void test_hand_over_to_queued_runner(void **state)
{
	struct bus_fixture *b = *state;
	struct dbus_service_params p = params(b);
	struct dbus_service *s = NULL;
	struct runner rn = { 0 };
	struct pump pump = { 0 };
	struct err err;
	char msg[512];
	sd_bus *c;

	err_init(&err);
	assert_int_equal(dbus_service_start(&p, &s, &err), 0);
	assert_int_equal(dbus_service_role(s), DBUS_ROLE_SERVICE);
	pump.svc = s;
	pump_start(&pump);
	runner_start(&rn, b, true);
	wait_for(runner_registered, &rn, "RegisterHandler from the service");
	assert_string_equal(rn.subtype, "qemu");
	c = bus_connect(b);
	assert_true(call_check(c, HM_QEMU_NAME, HM_QEMU_PATH, "qemu/@file=/dev/null", msg,
			       sizeof(msg)));
	pump_stop(&pump);
	assert_int_equal(dbus_service_role(s), DBUS_ROLE_HANDLER);
	dbus_service_stop(s);
	runner_stop(&rn);
	sd_bus_flush_close_unref(c);
}

static void test_runner_refuses(void **state)
{
	struct bus_fixture *b = *state;
	struct dbus_service_params p = params(b);
	struct dbus_service *s = NULL;
	struct runner rn = { .refuse = true };
	struct err err;

	runner_start(&rn, b, false);
	err_init(&err);
	assert_int_equal(dbus_service_start(&p, &s, &err), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err.msg, "tcmu-runner refused handler qemu: handler refused"));
	runner_stop(&rn);
}

/* a second daemon for the same subtype is told who is in the way */
static void test_subtype_taken(void **state)
{
	struct bus_fixture *b = *state;
	struct dbus_service_params p = params(b);
	struct dbus_service *s1 = NULL, *s2 = NULL;
	struct runner rn = { 0 };
	struct err err;

	runner_start(&rn, b, false);
	err_init(&err);
	assert_int_equal(dbus_service_start(&p, &s1, &err), 0);
	assert_int_equal(dbus_service_start(&p, &s2, &err), -EEXIST);
	assert_null(s2);
	assert_non_null(strstr(err.msg, "another daemon already serves user:qemu"));
	dbus_service_stop(s1);
	runner_stop(&rn);
}

static void test_no_bus(void **state)
{
	struct dbus_service_params p = {
		.subtype = "qemu",
		.check_config = check_file,
		.bus_address = "unix:path=/nonexistent/qt-no-bus",
	};
	struct dbus_service *s = NULL;
	struct err err;
	int r;

	(void)state;
	err_init(&err);
	r = dbus_service_start(&p, &s, &err);
	assert_true(r < 0);
	assert_int_equal(err.code, r);
	assert_null(s);
	assert_non_null(strstr(err.msg, "targetcli will not list user:qemu backstores"));
	assert_non_null(strstr(err.msg, "configfs are still served"));
}

static void test_policy_denies(void **state)
{
	struct bus_fixture b = { 0 };
	struct dbus_service_params p;
	struct dbus_service *s = NULL;
	struct err err;

	(void)state;
	bus_start(&b, policy_deny);
	p = params(&b);
	err_init(&err);
	assert_int_equal(dbus_service_start(&p, &s, &err), -EACCES);
	assert_non_null(strstr(err.msg, "not allowed to own org.kernel.TCMUService1"));
	bus_stop(&b);
}

static void test_bad_subtype(void **state)
{
	struct bus_fixture *b = *state;
	struct dbus_service_params p = params(b);
	struct dbus_service *s = NULL;
	struct err err;

	err_init(&err);
	p.subtype = "qemu/x";
	assert_int_equal(dbus_service_start(&p, &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "invalid handler subtype 'qemu/x'"));
	dbus_service_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_service_role, setup_bus, teardown_bus),
		cmocka_unit_test_setup_teardown(test_handler_role, setup_bus, teardown_bus),
		cmocka_unit_test_setup_teardown(test_hand_over_to_queued_runner, setup_bus,
						teardown_bus),
		cmocka_unit_test_setup_teardown(test_runner_refuses, setup_bus, teardown_bus),
		cmocka_unit_test_setup_teardown(test_subtype_taken, setup_bus, teardown_bus),
		cmocka_unit_test(test_no_bus),
		cmocka_unit_test(test_policy_denies),
		cmocka_unit_test_setup_teardown(test_bad_subtype, setup_bus, teardown_bus),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
