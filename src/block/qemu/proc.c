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
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "util/err.h"
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

static void put_num(char *dst, long v) /* async-signal-safe */
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*dst++ = tmp[--n];
	*dst = '\0';
}

/* ---- credentials ------------------------------------------------------------------------ */

static struct qh_creds creds;
static int creds_r;
static char creds_msg[256];
static pthread_once_t creds_once = PTHREAD_ONCE_INIT;

static bool lookup_user(const char *name, struct qh_creds *c)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) || !res || res->pw_uid == 0 ||
	    res->pw_gid == 0)
		return false;
	c->uid = res->pw_uid;
	c->gid = res->pw_gid;
	snprintf(c->user, sizeof(c->user), "%s", res->pw_name);
	snprintf(c->home, sizeof(c->home), "%s", res->pw_dir ? res->pw_dir : "/");
	return true;
}

static void creds_init(void)
{
	const char *want = getenv("QEMU_TCMU_HELPER_USER");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (geteuid() != 0) {
		creds.uid = geteuid();
		creds.gid = getegid();
		if (getpwuid_r(creds.uid, &pw, buf, sizeof(buf), &res) == 0 && res)
			snprintf(creds.user, sizeof(creds.user), "%s", res->pw_name);
		else
			snprintf(creds.user, sizeof(creds.user), "%u", (unsigned int)creds.uid);
		return;
	}
	creds.setid = true;
	if (want && *want) {
		if (!lookup_user(want, &creds)) {
			creds_r = -ESRCH;
			snprintf(creds_msg, sizeof(creds_msg),
				 "QEMU_TCMU_HELPER_USER=%s: no such user, or it is root or in "
				 "group root (the QEMU helper runs unprivileged)",
				 want);
		}
		return;
	}
	if (lookup_user(QH_HELPER_USER, &creds))
		return;
	if (lookup_user("nobody", &creds)) {
		log_warn("no user %s (scripts/install-deps.sh creates it): the QEMU helpers run "
			 "as nobody",
			 QH_HELPER_USER);
		return;
	}
	creds_r = -ESRCH;
	snprintf(creds_msg, sizeof(creds_msg),
		 "no unprivileged user for the QEMU helper (neither %s nor nobody exists)",
		 QH_HELPER_USER);
}

int qh_child_creds(const struct qh_creds **out, struct err *err)
{
	pthread_once(&creds_once, creds_init);
	if (creds_r < 0)
		return err_set(err, creds_r, "%s", creds_msg);
	*out = &creds;
	return 0;
}

/* ---- starting children ------------------------------------------------------------------ */

void qh_child_init(struct qh_child *c, int out_fd)
{
	memset(c, 0, sizeof(*c));
	c->out_fd = out_fd;
	c->listen_fd = -1;
}

/* Our environment without LISTEN_* (and HOME, when @home), plus LISTEN_FDS=1 and a
 * LISTEN_PID= slot when @activation (the child writes its own pid there) and HOME=@home. */
static char **build_env(bool activation, const char *home, char **slots)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 4, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LISTEN_", 7) && (!home || strncmp(environ[i], "HOME=", 5)))
			env[k++] = environ[i];
	if (activation) {
		static char fds[] = "LISTEN_FDS=1";

		slots[0] = calloc(1, 40);
		if (!slots[0])
			goto fail;
		strcpy(slots[0], "LISTEN_PID=");
		env[k++] = fds;
		env[k++] = slots[0];
	}
	if (home) {
		if (asprintf(&slots[1], "HOME=%s", home) < 0) {
			slots[1] = NULL;
			goto fail;
		}
		env[k++] = slots[1];
	}
	return env;
fail:
	free(env);
	return NULL;
}

/* In the child: say what failed on stderr and exit 125 (async-signal-safe). */
static _Noreturn void child_fail(const char *what)
{
	static const char pre[] = "qemu-tcmu: the child cannot drop its privileges: ";
	char num[24];
	int e = errno;

	put_num(num, e);
	(void)!write(2, pre, sizeof(pre) - 1);
	(void)!write(2, what, strlen(what));
	(void)!write(2, ": errno ", 8);
	(void)!write(2, num, strlen(num));
	(void)!write(2, "\n", 1);
	_exit(125);
}

/* In the child, between fork and exec: async-signal-safe calls only (raw syscalls for the
 * credentials: only this thread exists, and glibc's wrappers synchronise all threads). */
static void drop_privileges(const struct qh_creds *c, bool keep_ids)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (c->setid) {
		/* the bounding set first: dropping needs CAP_SETPCAP, which setresuid ends */
		for (int cap = 0; cap < 64; cap++)
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
				if (errno == EINVAL)
					break; /* past the kernel's last capability */
				child_fail("PR_CAPBSET_DROP");
			}
		if (syscall(SYS_setgroups, 0, NULL) < 0)
			child_fail("setgroups");
	}
	if (c->setid && keep_ids) {
		/* uid 0 gets no capabilities back at exec (with the empty bounding set and
		 * no_new_privs it could not anyway) */
		if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0) < 0)
			child_fail("PR_SET_SECUREBITS");
	} else if (c->setid) {
		if (syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0)
			child_fail("setresgid");
		/* from uid 0 to none: the permitted, effective and ambient sets are cleared */
		if (syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
			child_fail("setresuid");
		if (syscall(SYS_setresuid, 0, 0, 0) == 0)
			child_fail("uid 0 could be regained");
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		child_fail("PR_CAP_AMBIENT_CLEAR_ALL");
	if (syscall(SYS_capset, &hdr, none) < 0) /* inheritable too */
		child_fail("capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail("PR_SET_NO_NEW_PRIVS");
}

/* In the child: @b in a pipe whose read end becomes @target (async-signal-safe). */
static void put_blob(const struct qh_blob *b, int target)
{
	int p[2];
	size_t done = 0;

	if (pipe2(p, O_NONBLOCK) < 0)
		child_fail("pipe2");
	while (done < b->len) {
		ssize_t n = write(p[1], b->data + done, b->len - done);

		if (n <= 0)
			child_fail("writing a secret to its pipe");
		done += (size_t)n;
	}
	close(p[1]);
	if (p[0] != target) {
		if (dup2(p[0], target) < 0)
			child_fail("dup2");
		close(p[0]);
	}
	/* QEMU reopens /dev/fd/N: a blocking descriptor of its own */
	fcntl(target, F_SETFL, 0);
}

/*
 * Start @argv: stdin /dev/null, stdout and stderr into c->out_fd, c->listen_fd (>= 0) as
 * fd 3 by systemd socket activation, c->pass_fds and c->blobs from QH_PASS_FD on.
 * Between fork and exec only async-signal-safe calls.
 */
int qh_spawn(const char *prog, char *const argv[], struct qh_child *c, pid_t *out, struct err *err)
{
	const struct qh_creds *cr;
	char *slots[2] = { NULL, NULL }, **env = NULL;
	int devnull = -1, first_free = QH_PASS_FD + c->npass + c->nblobs, sv[2] = { -1, -1 };
	sigset_t all;
	pid_t pid;
	int r;

	r = qh_child_creds(&cr, err);
	if (r < 0)
		return r;
	for (int i = 0; i < c->nblobs; i++)
		if (c->blobs[i].len > QH_BLOB_MAX)
			return err_set(err, -E2BIG, "%s: a secret over %d bytes", prog,
				       QH_BLOB_MAX);
	c->broker = NULL;
	if (c->image_path && !broker_supported())
		return err_set(err, -ENOSYS,
			       "%s cannot open a local image unprivileged without seccomp user "
			       "notification (Linux 5.14 or later)",
			       prog);
	if (c->image_path) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return err_set_errno(err, -errno, "cannot start %s", prog);
		sv[1] = qh_fd_high(sv[1]);
	}
	env = build_env(c->listen_fd >= 0, cr->setid && !c->keep_ids ? cr->home : NULL, slots);
	devnull = qh_fd_high(open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (!env || devnull < 0) {
		r = err_set_errno(err, env ? -errno : -ENOMEM, "cannot start %s", prog);
		goto out;
	}
	sigemptyset(&all);
	pid = fork();
	if (pid == 0) {
		if (slots[0])
			put_num(slots[0] + strlen("LISTEN_PID="), getpid());
		sigprocmask(SIG_SETMASK, &all, NULL); /* our threads may block signals */
		if (dup2(devnull, 0) < 0 || dup2(c->out_fd, 1) < 0 || dup2(c->out_fd, 2) < 0 ||
		    (c->listen_fd >= 0 && dup2(c->listen_fd, 3) < 0))
			_exit(126);
		if (c->listen_fd < 0)
			close(3);
		for (int i = 0; i < c->npass; i++)
			if (dup2(c->pass_fds[i], QH_PASS_FD + i) < 0)
				_exit(126);
		drop_privileges(cr, c->keep_ids);
		for (int i = 0; i < c->nblobs; i++)
			put_blob(&c->blobs[i], QH_PASS_FD + c->npass + i);
		/* the last step: from here on, our opens wait for the parent's answer */
		if (c->image_path && broker_child_install(sv[1]) < 0)
			child_fail("installing the seccomp filter that brokers its opens");
		close_range((unsigned int)first_free, ~0u, 0);
		if (chdir("/") < 0)
			_exit(126);
		execve(prog, argv, env);
		_exit(127);
	}
	if (pid < 0) {
		r = err_set_errno(err, -errno, "cannot start %s", prog);
		goto out;
	}
	if (c->image_path) {
		close(sv[1]);
		sv[1] = -1;
		r = broker_start(sv[0], pid, c->image_path, c->image_read_only, &c->broker);
		sv[0] = -1;
		if (r < 0) {
			char line[256];
			int st;

			kill(pid, SIGKILL);
			qh_wait_pid(pid, -1, &st);
			qh_last_line(c->out_fd, line, sizeof(line)); /* why, if it said */
			r = line[0] ? err_set(err, r, "%s: %s", prog, line)
				    : err_set_errno(err, r, "%s: cannot broker its opens", prog);
			goto out;
		}
	}
	*out = pid;
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (devnull >= 0)
		close(devnull);
	free(slots[0]);
	free(slots[1]);
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
