/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Child processes for the QEMU image driver: see proc.h. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/log.h"

#define REAP_TERM_MS 2000

extern char **environ;

char *qh_find_prog(const char *name)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		if (n &&
		    snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name) < (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return strdup(buf);
		path += n + (path[n] == ':');
	}
	return NULL;
}

/* Move @fd to a number >= 10 (so dup2() onto 0..3 in the child cannot clobber it). */
int qh_fd_high(int fd)
{
	int h;

	if (fd < 0 || fd >= 10)
		return fd;
	h = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return h;
}

static void put_pid(char *dst, pid_t pid) /* async-signal-safe */
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + pid % 10);
		pid /= 10;
	} while (pid);
	while (n)
		*dst++ = tmp[--n];
	*dst = '\0';
}

/* Our environment without LISTEN_*, plus LISTEN_FDS=1 and a LISTEN_PID= slot when
 * @activation (the child writes its own pid there). */
static char **build_env(bool activation, char **pid_slot)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LISTEN_", 7))
			env[k++] = environ[i];
	if (activation) {
		static char fds[] = "LISTEN_FDS=1";

		*pid_slot = calloc(1, 40);
		if (!*pid_slot) {
			free(env);
			return NULL;
		}
		strcpy(*pid_slot, "LISTEN_PID=");
		env[k++] = fds;
		env[k++] = *pid_slot;
	}
	return env;
}

/*
 * Start @argv: stdin /dev/null, stdout and stderr into @out_fd, and @listen_fd (>= 0) as
 * fd 3 by systemd socket activation.  Between fork and exec only async-signal-safe calls.
 */
int qh_spawn(const char *prog, char *const argv[], int out_fd, int listen_fd, pid_t *out)
{
	char *pid_slot = NULL, **env = build_env(listen_fd >= 0, &pid_slot);
	int devnull = qh_fd_high(open("/dev/null", O_RDONLY | O_CLOEXEC));
	sigset_t all;
	pid_t pid;
	int r = 0;

	if (!env || devnull < 0) {
		r = env ? -errno : -ENOMEM;
		goto out;
	}
	sigemptyset(&all);
	pid = fork();
	if (pid == 0) {
		if (pid_slot)
			put_pid(pid_slot + strlen("LISTEN_PID="), getpid());
		sigprocmask(SIG_SETMASK, &all, NULL); /* our threads may block signals */
		if (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0 ||
		    (listen_fd >= 0 && dup2(listen_fd, 3) < 0))
			_exit(126);
		close_range(listen_fd >= 0 ? 4 : 3, ~0u, 0);
		execve(prog, argv, env);
		_exit(127);
	}
	if (pid < 0)
		r = -errno;
	else
		*out = pid;
out:
	if (devnull >= 0)
		close(devnull);
	free(pid_slot);
	free(env);
	return r;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Wait up to @ms for @pid to exit; true (and *status) once reaped. */
bool qh_wait_pid(pid_t pid, int ms, int *status)
{
	int pfd = pidfd_open_(pid);
	pid_t r;

	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };

		while (poll(&p, 1, ms) < 0 && errno == EINTR)
			;
		close(pfd);
	}
	do
		r = waitpid(pid, status, ms < 0 ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	return r == pid || (r < 0 && errno == ECHILD);
}

struct reap {
	pid_t pid;
	int grace_ms;
	char desc[];
};

static void *reap_main(void *opaque)
{
	struct reap *a = opaque;
	int st;

	if (qh_wait_pid(a->pid, a->grace_ms, &st)) {
		log_debug("nbd", "%s (pid %d) exited", a->desc, (int)a->pid);
	} else {
		log_warn("%s (pid %d) still runs %d s after it was told to exit; terminating it",
			 a->desc, (int)a->pid, a->grace_ms / 1000);
		kill(a->pid, SIGTERM);
		if (!qh_wait_pid(a->pid, REAP_TERM_MS, &st)) {
			kill(a->pid, SIGKILL);
			qh_wait_pid(a->pid, -1, &st);
		}
	}
	free(a);
	return NULL;
}

void qh_reap_later(pid_t pid, int grace_ms, const char *desc)
{
	size_t n = strlen(desc) + 1;
	struct reap *a = malloc(sizeof(*a) + n);
	pthread_attr_t at;
	bool started = false;
	pthread_t t;
	int st;

	if (a) {
		a->pid = pid;
		a->grace_ms = grace_ms;
		memcpy(a->desc, desc, n);
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&t, &at, reap_main, a) == 0;
		pthread_attr_destroy(&at);
	}
	if (started)
		return;
	/* no thread: wait here, as a synchronous stop would */
	free(a);
	if (!qh_wait_pid(pid, grace_ms, &st)) {
		kill(pid, SIGKILL);
		qh_wait_pid(pid, -1, &st);
	}
}

/* The last non-empty line of @fd's contents (a memfd), for messages. */
void qh_last_line(int fd, char *buf, size_t len)
{
	struct stat st;
	char tail[1024];
	off_t from;
	ssize_t n;
	char *end, *start;

	buf[0] = '\0';
	if (fstat(fd, &st) < 0 || st.st_size == 0)
		return;
	from = st.st_size > (off_t)sizeof(tail) - 1 ? st.st_size - (off_t)sizeof(tail) + 1 : 0;
	n = pread(fd, tail, sizeof(tail) - 1, from);
	if (n <= 0)
		return;
	tail[n] = '\0';
	end = tail + n;
	while (end > tail && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		*--end = '\0';
	for (;;) {
		start = strrchr(tail, '\n');
		start = start ? start + 1 : tail;
		if (start == tail || !strstr(start, ": Try `"))
			break;
		start[-1] = '\0'; /* "Try `qemu-nbd --help'": the line before says more */
	}
	snprintf(buf, len, "%s", start);
}

void qh_describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "stopped (status 0x%x)", st);
}
