/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Test helper: run nbdkit in the foreground on a unix socket, as our child. */
#ifndef QT_TESTS_NBD_SERVER_H
#define QT_TESTS_NBD_SERVER_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct test_server {
	char dir[64];
	char sock[96];
	char pidfile[96];
	pid_t pid;
};

static inline void test_server_init(struct test_server *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/qt-nbd.XXXXXX");
	if (!mkdtemp(t->dir))
		abort();
	snprintf(t->sock, sizeof(t->sock), "%s/sock", t->dir);
	snprintf(t->pidfile, sizeof(t->pidfile), "%s/pid", t->dir);
	t->pid = 0;
}

/* Start "nbdkit -f -U SOCK <args...>" and wait until it listens (it writes its pid
 * file then). */
static inline int test_server_start(struct test_server *t, const char *const *args)
{
	const char *argv[32] = { "nbdkit", "-f",      "--exit-with-parent", "-U", t->sock,
				 "-P",	   t->pidfile };
	int n = 7;
	pid_t pid;

	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	unlink(t->sock);
	unlink(t->pidfile);
	pid = fork();
	if (pid == 0) {
		execvp("nbdkit", (char *const *)argv);
		_exit(127);
	}
	if (pid < 0)
		return -errno;
	t->pid = pid;
	for (int i = 0; i < 500; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (access(t->pidfile, F_OK) == 0)
			return 0;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			t->pid = 0;
			return -ECHILD;
		}
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

static inline void test_server_kill(struct test_server *t, int sig)
{
	if (t->pid > 0) {
		kill(t->pid, sig);
		waitpid(t->pid, NULL, 0);
		t->pid = 0;
	}
}

static inline void test_server_release(struct test_server *t)
{
	test_server_kill(t, SIGKILL);
	unlink(t->sock);
	unlink(t->pidfile);
	rmdir(t->dir);
}

#endif
