/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * How `qemu-tcmu export` recognizes a running daemon: the command-line rules
 * (export_daemon_cmdline) and the /proc scan (export_find_daemon) against child
 * processes named qemu-tcmu (this test re-executed through a symlink of that name).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "export/export-int.h"

static char self[4096];
static char link_dir[64];

static bool is_daemon(const char *want_sub, ...)
{
	char *argv[16] = { "qemu-tcmu" };
	const char *sub = NULL;
	int argc = 1;
	va_list ap;
	char *a;
	bool d;

	va_start(ap, want_sub);
	while ((a = va_arg(ap, char *)) && argc < 15)
		argv[argc++] = a;
	va_end(ap);
	d = export_daemon_cmdline(argv, argc, &sub);
	if (d)
		assert_string_equal(sub, want_sub);
	return d;
}

static void test_cmdline(void **state)
{
	(void)state;
	assert_true(is_daemon("qemu", NULL));
	assert_true(is_daemon("qemu", "-v", "--no-dbus", "--syslog", NULL));
	assert_true(is_daemon("qemu", "-d", "all", "--netlink-reply", "off", NULL));
	assert_true(is_daemon("qemu", "-dall", "--netlink-reply=on", "-q", NULL));
	assert_true(is_daemon("foo", "-x", "foo", NULL));
	assert_true(is_daemon("foo", "-xfoo", NULL));
	assert_true(is_daemon("foo", "-vx", "foo", "-q", NULL));
	assert_true(is_daemon("foo", "--handler-name", "foo", NULL));
	assert_true(is_daemon("foo", "--handler-name=foo", NULL));
	assert_true(is_daemon("foo", "--handler=foo", NULL)); /* getopt_long abbreviation */
	/* a debug category named like a subcommand is a value, not a subcommand */
	assert_true(is_daemon("qemu", "-d", "export", NULL));
	/* not daemons: subcommands, one-shot options */
	assert_false(is_daemon(NULL, "export", "x.img", "--loop", NULL));
	assert_false(is_daemon(NULL, "-x", "foo", "unexport", "d0", NULL));
	assert_false(is_daemon(NULL, "exports", NULL));
	assert_false(is_daemon(NULL, "--check-config", "@file=x", NULL));
	assert_false(is_daemon(NULL, "--check=@file=x", NULL));
	assert_false(is_daemon(NULL, "-h", NULL));
	assert_false(is_daemon(NULL, "-vV", NULL));
	assert_false(is_daemon(NULL, "--version", NULL));
	assert_false(is_daemon(NULL, "--", "x", NULL));
}

/* Run this program again as "qemu-tcmu ARGS...": it waits to be killed (see main). */
static pid_t spawn_named(char *const argv[])
{
	char path[128];
	pid_t pid;
	int i;

	snprintf(path, sizeof(path), "%s/qemu-tcmu", link_dir);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		execv(path, argv);
		_exit(127);
	}
	/* until the exec is done, the child's name is still ours */
	for (i = 0; i < 500; i++) {
		char comm[64] = "", p[64];
		FILE *f;

		snprintf(p, sizeof(p), "/proc/%d/comm", (int)pid);
		f = fopen(p, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (!strcmp(comm, "qemu-tcmu\n"))
			return pid;
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	}
	fail_msg("the child did not become qemu-tcmu");
	return -1;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void test_find_daemon(void **state)
{
	char *daemon[] = { "qemu-tcmu", "-v", "-x", "qt-unit-sub1", NULL };
	char *cli[] = { "qemu-tcmu", "export", "-x", "qt-unit-sub2", "x.img", NULL };
	pid_t d, c;

	(void)state;
	d = spawn_named(daemon);
	c = spawn_named(cli);
	assert_int_equal(export_find_daemon("qt-unit-sub1"), d);
	/* another subtype, and a qemu-tcmu that is not a daemon */
	assert_int_equal(export_find_daemon("qt-unit-sub3"), 0);
	assert_int_equal(export_find_daemon("qt-unit-sub2"), 0);
	reap(d);
	assert_int_equal(export_find_daemon("qt-unit-sub1"), 0);
	reap(c);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmdline),
		cmocka_unit_test(test_find_daemon),
	};
	char path[128];
	ssize_t n;
	int r;

	(void)argc;
	if (!strcmp(argv[0], "qemu-tcmu")) {
		pause(); /* a stand-in process: killed by the test */
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = '\0';
	snprintf(link_dir, sizeof(link_dir), "/tmp/qt-unit-export.XXXXXX");
	if (!mkdtemp(link_dir))
		return 1;
	snprintf(path, sizeof(path), "%s/qemu-tcmu", link_dir);
	if (symlink(self, path) < 0)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	rmdir(link_dir);
	return r;
}
