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

/* The program's full path on PATH (malloc'd), or NULL. */
char *qh_find_prog(const char *name);
/* Move @fd above the standard descriptors (closing the old one); returns the new fd. */
int qh_fd_high(int fd);
/* Start @prog with stdout/stderr on @out_fd and, if @listen_fd >= 0, systemd socket
 * activation (LISTEN_FDS=1 on fd 3).  0 and *out = pid, or -errno. */
int qh_spawn(const char *prog, char *const argv[], int out_fd, int listen_fd, pid_t *out);
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
