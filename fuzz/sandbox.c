/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The fuzz targets' file-system guard (see sandbox.h). */
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* The wrapped functions (-Wl,--wrap=NAME): __real_NAME is libc's. */
int __real_open(const char *path, int flags, ...);
int __real_openat(int dirfd, const char *path, int flags, ...);
int __real_mkdir(const char *path, mode_t mode);
int __real_rmdir(const char *path);
int __real_unlink(const char *path);
int __real_symlink(const char *target, const char *link);
int __real_rename(const char *from, const char *to);
DIR *__real_opendir(const char *path);
pid_t __real_fork(void);
int __real_execve(const char *path, char *const argv[], char *const envp[]);
int __real_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
int __real_socket(int domain, int type, int protocol);
int __real_connect(int fd, const struct sockaddr *addr, socklen_t len);

int __wrap_open(const char *path, int flags, ...);
int __wrap_openat(int dirfd, const char *path, int flags, ...);
int __wrap_mkdir(const char *path, mode_t mode);
int __wrap_rmdir(const char *path);
int __wrap_unlink(const char *path);
int __wrap_symlink(const char *target, const char *link);
int __wrap_rename(const char *from, const char *to);
DIR *__wrap_opendir(const char *path);
pid_t __wrap_fork(void);
int __wrap_execve(const char *path, char *const argv[], char *const envp[]);
int __wrap_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
int __wrap_socket(int domain, int type, int protocol);
int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len);

static char root[256];	  /* the process's directory */
static char allowed[512]; /* where the code under test may write: root or below */
static bool active;
static unsigned int mode;

static void violation(const char *what, const char *path)
{
	active = false; /* libFuzzer writes its artifact next */
	fprintf(stderr, "fuzz sandbox: %s '%s' outside %s\n", what, path ? path : "", allowed);
	abort();
}

/* @path with "." and ".." resolved textually (symlinks are not followed: the guard checks
 * what the code asked for) is @dir or below it. */
static bool inside(const char *path, const char *dir)
{
	char buf[8192], norm[8192], *save = NULL, *c;
	size_t n = 0, len = strlen(dir);

	if (path[0] == '/')
		snprintf(buf, sizeof(buf), "%s", path);
	else if (!getcwd(buf, sizeof(buf) / 2) || strlen(buf) + 1 + strlen(path) >= sizeof(buf))
		return false;
	else
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%s", path);
	norm[0] = '\0';
	for (c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			while (n > 0 && norm[--n] != '/')
				;
			norm[n] = '\0';
			continue;
		}
		n += (size_t)snprintf(norm + n, sizeof(norm) - n, "/%s", c);
		if (n >= sizeof(norm))
			return false;
	}
	return !strncmp(norm, dir, len) && (norm[len] == '\0' || norm[len] == '/');
}

static void check_write(const char *what, const char *path)
{
	if (active && !inside(path, allowed))
		violation(what, path);
}

static void check_open(const char *path, int flags)
{
	if (!active)
		return;
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC))) {
		/* the harness's images may be opened through /proc/self/fd (memfds) */
		if (!strncmp(path, "/proc/self/fd/", 14) || inside(path, allowed))
			return;
		violation("open for writing", path);
	}
	if ((mode & SANDBOX_READS) && strncmp(path, "/proc/self/fd/", 14) && !inside(path, root))
		violation("open", path);
}

int __wrap_open(const char *path, int flags, ...)
{
	mode_t m = 0;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		m = va_arg(ap, mode_t);
		va_end(ap);
	}
	check_open(path, flags);
	return __real_open(path, flags, m);
}

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
	mode_t m = 0;

	if (flags & (O_CREAT | __O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		m = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (active && dirfd != AT_FDCWD && path[0] != '/')
		violation("openat relative to a descriptor", path);
	check_open(path, flags);
	return __real_openat(dirfd, path, flags, m);
}

int __wrap_mkdir(const char *path, mode_t m)
{
	check_write("mkdir", path);
	return __real_mkdir(path, m);
}

int __wrap_rmdir(const char *path)
{
	check_write("rmdir", path);
	return __real_rmdir(path);
}

int __wrap_unlink(const char *path)
{
	check_write("unlink", path);
	return __real_unlink(path);
}

int __wrap_symlink(const char *target, const char *link)
{
	check_write("symlink", link);
	check_write("symlink to", target);
	return __real_symlink(target, link);
}

int __wrap_rename(const char *from, const char *to)
{
	check_write("rename", from);
	check_write("rename to", to);
	return __real_rename(from, to);
}

DIR *__wrap_opendir(const char *path)
{
	if (active && (mode & SANDBOX_READS) && !inside(path, root))
		violation("opendir", path);
	return __real_opendir(path);
}

pid_t __wrap_fork(void)
{
	if (active)
		violation("fork", NULL);
	return __real_fork();
}

int __wrap_execve(const char *path, char *const argv[], char *const envp[])
{
	if (active)
		violation("execve", path);
	return __real_execve(path, argv, envp);
}

int __wrap_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	if (active)
		violation("posix_spawn", path);
	return __real_posix_spawn(pid, path, fa, attr, argv, envp);
}

int __wrap_socket(int domain, int type, int protocol)
{
	if (active)
		violation("socket", NULL);
	return __real_socket(domain, type, protocol);
}

int __wrap_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (active)
		violation("connect", NULL);
	return __real_connect(fd, addr, len);
}

/* ---- the harness's side --------------------------------------------------------------- */

static void remove_root(void)
{
	active = false;
	if (root[0])
		sandbox_rm_rf(root);
}

const char *sandbox_dir(const char *name)
{
	if (root[0])
		return root;
	/* tmpfs when there is one: the targets flush what they write, per input */
	snprintf(root, sizeof(root), "%s/qemu-tcmu-fuzz-%s.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", name);
	if (!mkdtemp(root)) {
		perror("fuzz sandbox: mkdtemp");
		abort();
	}
	atexit(remove_root);
	return root;
}

void sandbox_enter(const char *dir, unsigned int flags)
{
	snprintf(allowed, sizeof(allowed), "%s", dir ? dir : root);
	mode = flags;
	active = true;
}

void sandbox_leave(void)
{
	active = false;
}

void sandbox_mkdir_p(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (__real_mkdir(buf, 0755) < 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (__real_mkdir(buf, 0755) < 0 && errno != EEXIST)
		goto fail;
	return;
fail:
	fprintf(stderr, "fuzz sandbox: mkdir %s: %s\n", buf, strerror(errno));
	abort();
}

void sandbox_write(const char *path, const void *data, size_t len)
{
	int fd = __real_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) < 0) {
		fprintf(stderr, "fuzz sandbox: writing %s: %s\n", path, strerror(errno));
		abort();
	}
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		__real_rmdir(path);
	else
		__real_unlink(path);
	return 0;
}

void sandbox_rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- snapshots ------------------------------------------------------------------------ */

struct snap {
	char **v;
	size_t n, cap;
	size_t skip; /* strlen of the root */
};

static struct snap *cur_snap;

static int snap_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct snap *s = cur_snap;
	char val[512] = "";
	char *line;

	(void)ftw;
	if (type == FTW_SL) {
		ssize_t n = readlink(path, val, sizeof(val) - 1);

		val[n > 0 ? n : 0] = '\0';
	} else if (type == FTW_F) {
		int fd = __real_open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, val, sizeof(val) - 1);

		val[n > 0 ? n : 0] = '\0';
		if (fd >= 0)
			close(fd);
	}
	if (asprintf(&line, "%c %s %o %s",
		     type == FTW_SL  ? 'l'
		     : type == FTW_F ? 'f'
				     : 'd',
		     path + s->skip, (unsigned int)(st->st_mode & 07777), val) < 0)
		abort();
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			abort();
	}
	s->v[s->n++] = line;
	return 0;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *sandbox_snapshot(const char *path)
{
	struct snap s = { .skip = strlen(path) };
	size_t len = 1, off = 0;
	char *out;

	cur_snap = &s;
	nftw(path, snap_one, 16, FTW_PHYS);
	cur_snap = NULL;
	qsort(s.v, s.n, sizeof(*s.v), by_str);
	for (size_t i = 0; i < s.n; i++)
		len += strlen(s.v[i]) + 1;
	out = malloc(len);
	if (!out)
		abort();
	for (size_t i = 0; i < s.n; i++) {
		off += (size_t)sprintf(out + off, "%s\n", s.v[i]);
		free(s.v[i]);
	}
	out[off] = '\0';
	free(s.v);
	return out;
}
