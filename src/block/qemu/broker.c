/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Opening a local image for an unprivileged QEMU helper (see broker.h). */
#include "broker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/log.h"

#if defined(__x86_64__)
#define BROKER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define BROKER_ARCH AUDIT_ARCH_AARCH64
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define BROKER_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define BROKER_ARCH AUDIT_ARCH_S390X
#endif

#ifndef SECCOMP_ADDFD_FLAG_SEND
#define BROKER_NO_SEND 1 /* headers older than Linux 5.14 */
#endif

/* Flags of the helper's open we carry over to ours; anything that creates or changes the
 * file, or is not a plain open, is refused. */
#define KEPT_FLAGS (O_ACCMODE | O_DIRECT | O_NONBLOCK | O_SYNC | O_DSYNC | O_LARGEFILE)
#define REFUSED_FLAGS (O_CREAT | O_TRUNC | O_EXCL | O_TMPFILE | O_PATH | O_DIRECTORY)

struct broker {
	int listener;
	int stop[2]; /* a pipe: written to stop the thread */
	pid_t pid;
	char *path;
	bool read_only;
	pthread_t thread;
};

#if defined(BROKER_ARCH) && !defined(BROKER_NO_SEND)

bool broker_supported(void)
{
	return true;
}

int broker_child_install(int sock)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BROKER_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __NR_open
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_open, 3, 0),
#else
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 3, 0),
#endif
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat2, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 0;
	struct iovec v = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &v, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int l = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
			     &prog);

	if (l < 0)
		return -errno;
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &l, sizeof(int));
	if (sendmsg(sock, &m, MSG_NOSIGNAL) != 1)
		return -errno;
	close(l);
	return 0;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	char byte;
	struct iovec v = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr m = {
		.msg_iov = &v, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)
	};
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	do
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : -ECHILD; /* the child died before sending it */
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* @len bytes at @addr in @pid's memory; 0 or -errno. */
static int read_remote(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec l = { .iov_base = buf, .iov_len = len };
	struct iovec r = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };

	return process_vm_readv(pid, &l, 1, &r, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

/* The NUL-terminated name at @addr (read page by page: the rest may be unmapped). */
static int read_remote_str(pid_t pid, uint64_t addr, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		size_t n = 4096 - ((addr + got) & 4095);

		if (n > len - got)
			n = len - got;
		if (read_remote(pid, addr + got, buf + got, n) < 0)
			return -EFAULT;
		if (memchr(buf + got, '\0', n))
			return 0;
		got += n;
	}
	return -ENAMETOOLONG;
}

/* The name and flags of a reported open; -errno when they cannot be read. */
static int open_args(pid_t pid, const struct seccomp_data *d, char *path, size_t len,
		     uint64_t *flags)
{
	uint64_t name = d->args[1];
	struct open_how how;

	if (d->nr == __NR_openat) {
		*flags = d->args[2];
	} else if (d->nr == __NR_openat2) {
		if (d->args[3] < sizeof(how.flags) ||
		    read_remote(pid, d->args[2], &how.flags, sizeof(how.flags)) < 0)
			return -EFAULT;
		*flags = how.flags;
	} else { /* open */
		name = d->args[0];
		*flags = d->args[1];
	}
	return read_remote_str(pid, name, path, len);
}

/* Answer one reported open. */
static void answer(struct broker *b, struct seccomp_notif *req, struct seccomp_notif_resp *resp)
{
	char path[PATH_MAX];
	uint64_t flags = 0;
	int fd;

	memset(resp, 0, sizeof(*resp));
	resp->id = req->id;
	if (open_args(b->pid, &req->data, path, sizeof(path), &flags) < 0 ||
	    strcmp(path, BROKER_IMAGE_PATH)) {
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; /* as the helper itself */
		goto send;
	}
	/* the name was read from a live request of that same process */
	if (ioctl(b->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0)
		return;
	if ((flags & REFUSED_FLAGS) || (b->read_only && (flags & O_ACCMODE) != O_RDONLY)) {
		resp->error = (flags & REFUSED_FLAGS) ? -EPERM : -EROFS;
		goto send;
	}
	fd = open(b->path, (int)(flags & KEPT_FLAGS) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		resp->error = -errno;
	} else {
		struct seccomp_notif_addfd a = {
			.id = req->id,
			.flags = SECCOMP_ADDFD_FLAG_SEND,
			.srcfd = (uint32_t)fd,
			.newfd_flags = (uint32_t)(flags & O_CLOEXEC),
		};
		int r = ioctl(b->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);

		close(fd);
		if (r >= 0)
			return; /* answered: the new descriptor is the call's result */
		if (errno == ENOENT)
			return; /* the call was interrupted */
		resp->error = -errno;
	}
send:
	if (ioctl(b->listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
		log_debug("nbd", "qemu helper %d: answering an open: %s", (int)b->pid,
			  strerror(errno));
}

static void *broker_main(void *opaque)
{
	struct broker *b = opaque;
	struct seccomp_notif_sizes sz;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;

	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0)
		return NULL;
	req = calloc(1, sz.seccomp_notif > sizeof(*req) ? sz.seccomp_notif : sizeof(*req));
	resp = calloc(1, sz.seccomp_notif_resp > sizeof(*resp) ? sz.seccomp_notif_resp
							       : sizeof(*resp));
	while (req && resp) {
		struct pollfd p[2] = { { .fd = b->listener, .events = POLLIN },
				       { .fd = b->stop[0], .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents || (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)))
			break; /* told to stop, or the helper is gone */
		memset(req, 0, sz.seccomp_notif);
		if (ioctl(b->listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			break;
		}
		answer(b, req, resp);
	}
	free(req);
	free(resp);
	return NULL;
}

int broker_start(int sock, pid_t pid, const char *path, bool read_only, struct broker **out)
{
	struct broker *b = calloc(1, sizeof(*b));
	int r;

	if (!b) {
		close(sock);
		return -ENOMEM;
	}
	b->listener = recv_fd(sock);
	close(sock);
	b->stop[0] = b->stop[1] = -1;
	b->pid = pid;
	b->read_only = read_only;
	b->path = strdup(path);
	r = b->listener < 0 ? b->listener : !b->path ? -ENOMEM : 0;
	if (r == 0 && pipe2(b->stop, O_CLOEXEC) < 0)
		r = -errno;
	if (r == 0)
		r = -pthread_create(&b->thread, NULL, broker_main, b);
	if (r < 0) {
		if (b->stop[0] >= 0) {
			close(b->stop[0]);
			close(b->stop[1]);
		}
		if (b->listener >= 0)
			close(b->listener);
		free(b->path);
		free(b);
		return r;
	}
	*out = b;
	return 0;
}

void broker_free(struct broker *b)
{
	if (!b)
		return;
	(void)!write(b->stop[1], "x", 1);
	pthread_join(b->thread, NULL);
	close(b->stop[0]);
	close(b->stop[1]);
	close(b->listener);
	free(b->path);
	free(b);
}

#else /* no seccomp user notification with ADDFD_FLAG_SEND here */

bool broker_supported(void)
{
	return false;
}

int broker_child_install(int sock)
{
	(void)sock;
	return -ENOSYS;
}

int broker_start(int sock, pid_t pid, const char *path, bool read_only, struct broker **out)
{
	(void)pid;
	(void)path;
	(void)read_only;
	(void)out;
	close(sock);
	return -ENOSYS;
}

void broker_free(struct broker *b)
{
	(void)b;
}

#endif
