/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the export files: export.c (create), export-remove.c (remove, list),
 * export-host.c (/proc and sysfs). */
#ifndef QT_EXPORT_EXPORT_INT_H
#define QT_EXPORT_EXPORT_INT_H

#include <stdbool.h>
#include <stddef.h>

struct err;
struct etree;

/* Exports and unexports run one at a time (two exports of one name could otherwise
 * both pass the check for a free name): an flock on EXPORT_LOCK_FILE, not in a plain
 * tree.  export_lock() returns the fd to pass to export_unlock(), or -1 (no lock). */
#define EXPORT_LOCK_FILE "/run/qemu-tcmu-export.lock"
int export_lock(const struct etree *t);
void export_unlock(int fd);

/* The tree's root exists (else a one-line hint: configfs mounted? LIO loaded?). */
int export_check_root(const struct etree *t, struct err *err);
/* The HBA N of the backstore core/user_N/@name; -ENOENT if there is none. */
int export_find_so(const struct etree *t, const char *name, unsigned int *hba);
/* A backstore's "dev_config" ("qemu/@file=...") or "dev_size": attrib/<key>, else the
 * info file's "Config:" / "Size:", else (a plain tree) what was written to control. */
int export_so_attr(const struct etree *t, const char *so_rel, const char *key, char *buf,
		   size_t len);

/* qemu-tcmu's command line @argv: the daemon runs without a positional argument
 * (export, unexport, ... are subcommands) and without --check-config, --help or
 * --version.  Whether it is a daemon, with its handler name (-x) in *@subtype. */
bool export_daemon_cmdline(char **argv, int argc, const char **subtype);
/* Is a qemu-tcmu daemon serving @subtype running (a process named qemu-tcmu, in daemon
 * mode, with that handler name)?  Its pid, or 0. */
int export_find_daemon(const char *subtype);
/* The pid of a process that holds the UIO device of core/user_@hba/@name open (the
 * daemon serving it; @uio receives "/dev/uioN"), 0 if none, -ENOENT if the device has no
 * UIO device. */
int export_uio_holder(unsigned int hba, const char *name, char *uio, size_t len);
/* tcm_loop's address "H:C:T" -> "/dev/sdX" of its LUN @lun, -ENOENT while there is none. */
int export_scsi_disk(const char *addr, unsigned int lun, char *dev, size_t len);

#endif
