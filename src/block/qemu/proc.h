/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Child processes for the QEMU image driver (the bottom of src/block/qemu: helper.c runs
 * qemu-nbd with these, probe.c runs qemu-img).  Between fork and exec only
 * async-signal-safe calls.
 */
#ifndef QT_BLOCK_QEMU_PROC_H
#define QT_BLOCK_QEMU_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct broker;
struct err;

/* The program's full path on PATH (malloc'd), or NULL. */
char *qh_find_prog(const char *name);
/* Move @fd above the standard descriptors (closing the old one); returns the new fd. */
int qh_fd_high(int fd);
/*
 * Whom children run as.  As root: an unprivileged user (QEMU_TCMU_HELPER_USER from the
 * environment, else QH_HELPER_USER, else nobody), no supplementary groups, no
 * capabilities (bounding set too), no_new_privs.  Not root: our own uid and gid (there is
 * nothing to change to), still without capabilities and with no_new_privs.
 */
#define QH_HELPER_USER "qemu-tcmu-helper"
struct qh_creds {
	bool setid; /* change uid/gid (we are root) */
	uid_t uid;
	gid_t gid;
	char user[64]; /* the user's name (ours when !setid) */
	char home[128];
};
/* Looked up once per process; -ESRCH with a message when we are root and no unprivileged
 * user exists (children are then refused rather than run as root). */
int qh_child_creds(const struct qh_creds **out, struct err *err);

/* Descriptors a child inherits: @pass_fds[i] becomes fd QH_PASS_FD + i; then each of
 * @blobs is written to a pipe the child makes after dropping its privileges, whose read
 * end is fd QH_PASS_FD + npass + i (readable once, by the child's user only: for secrets,
 * which QEMU reads as /dev/fd/N). */
#define QH_PASS_FD 4
#define QH_MAX_PASS 4
struct qh_blob {
	const char *data;
	size_t len; /* at most QH_BLOB_MAX (a pipe's buffer: the child's write cannot block) */
};
#define QH_BLOB_MAX 65536
struct qh_child {
	int out_fd;    /* stdout and stderr */
	int listen_fd; /* -1, or fd 3 by systemd socket activation (LISTEN_FDS=1) */
	int pass_fds[QH_MAX_PASS];
	int npass;
	struct qh_blob blobs[QH_MAX_PASS];
	int nblobs;
	/* a local image the child opens by the name BROKER_IMAGE_PATH (broker.h), or NULL */
	const char *image_path;
	bool image_read_only;
	/* as root: keep uid and gid 0 (capabilities, the bounding set and supplementary groups
	 * still go), for protocols whose identity on the server is the process's own */
	bool keep_ids;
	/* out: what answers the child's opens; broker_free() it once the child has exited */
	struct broker *broker;
};
/* A qh_child with nothing passed: out_fd only. */
void qh_child_init(struct qh_child *c, int out_fd);
/* Start @prog with @c's descriptors, as qh_child_creds() says, in "/", with its opens
 * brokered when @c has an image.  0 and *out = pid, or -errno with a message.  A child
 * that cannot drop its privileges exits with status 125 before running @prog, saying why
 * on its stderr. */
int qh_spawn(const char *prog, char *const argv[], struct qh_child *c, pid_t *out, struct err *err);
/* Reap @pid within @ms milliseconds (-1: wait); true and *status when it ended. */
bool qh_wait_pid(pid_t pid, int ms, int *status);
/*
 * Let @pid finish exiting in the background: a detached thread reaps it, and only if it
 * is still running after @grace_ms is it terminated (SIGTERM, then SIGKILL 2 s later),
 * with a warning naming @desc.  For children that have been told to exit and may take
 * long to do it (a network client library's teardown), so that nobody waits for them.
 * If the process exits first, the child goes on exiting on its own.
 */
void qh_reap_later(pid_t pid, int grace_ms, const char *desc);
/* The last non-empty line written to @fd (a memfd). */
void qh_last_line(int fd, char *buf, size_t len);
/* "exited with status N", "killed by signal N (...)" for a wait status. */
void qh_describe_status(int st, char *buf, size_t len);

#endif
