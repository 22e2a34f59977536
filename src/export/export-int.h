/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the export files: export.c (create), export-remove.c (remove, list),
 * export-host.c (/proc and sysfs). */
#ifndef QT_EXPORT_EXPORT_INT_H
#define QT_EXPORT_EXPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct err;
struct etree;
struct export_params;

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

/* Who may log in to an iSCSI export (export-access.c, see struct export_access). */
/* iSCSI names LIO takes: iqn., eui. or naa.; "bad @what '...': ..." otherwise. */
int export_check_iscsi_name(const char *what, const char *name, struct err *err);
/* What the tree holds allows them: --discovery-chap where discovery CHAP is on with
 * other credentials is refused. */
int export_access_check_tree(const struct etree *t, const struct export_params *p, struct err *err);
/* The portal group @tpg's attributes, ACLs (each mapping LUN 0), CHAP and discovery CHAP,
 * logged for undo (secrets as secrets); the caller enables the group afterwards. */
int export_access_make(struct etree *t, const struct export_params *p, const char *tpg,
		       struct err *err);
/* `exports`: one "    access: ..." line per way in to the iSCSI portal group @tpg (demo
 * mode, or each ACL, with its CHAP user; never a secret), and a "    discovery: ..." line. */
void export_access_list(const struct etree *t, const char *tpg, FILE *out);
/* unexport: discovery CHAP's user while discovery CHAP is on ("" while off). */
void export_discovery_user(const struct etree *t, char *user, size_t len);
/* Is @user the CHAP user of portal group @tpg (its auth or an ACL's); with @tpg NULL, of
 * any iSCSI portal group? */
bool export_tpg_has_chap_user(const struct etree *t, const char *tpg, const char *user);
/* Discovery CHAP off: enforce_discovery_auth=0, its credentials cleared. */
int export_discovery_off(struct etree *t, struct err *err);

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
