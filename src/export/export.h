/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One-command exports without targetcli: `qemu-tcmu export`, `unexport` and `exports`
 * create, remove and list LIO objects through configfs directly:
 *
 *   core/user_N/NAME                      the user:qemu backstore (one HBA each, as
 *                                         rtslib does), dev_config=qemu/CFG, dev_size,
 *                                         hw_block_size, enable, wwn/vpd_unit_serial
 *   loopback/naa.5001405.../tpgt_1        tcm_loop: nexus, lun/lun_0 -> the backstore
 *   iscsi/IQN/tpgt_1                      iSCSI: lun/lun_0, np/IP:PORT, who may log in
 *                                         (export-access.c: acls/INITIATOR with lun_0 and
 *                                         auth/, or demo mode; CHAP), enable
 *   iscsi/discovery_auth                  --discovery-chap: CHAP for SendTargets (host-wide)
 *
 * An export is all or nothing: a failing step undoes the steps before it.  The unexport
 * removes the LUNs (and ACL mappings) that point to the backstore, the target portal
 * groups left without LUNs and the targets left without portal groups, then the
 * backstore and its HBA.
 *
 * The tree's root is /sys/kernel/config/target unless $QEMU_TCMU_CONFIGFS names another;
 * a root that is not configfs is a plain directory tree (tests): the steps that need the
 * kernel (is a daemon running, did it take the device, which /dev/sdX appeared) are
 * skipped there.
 */
#ifndef QT_EXPORT_EXPORT_H
#define QT_EXPORT_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct err;

#define EXPORT_NAME_MAX 64
#define EXPORT_PORTALS_MAX 8
#define EXPORT_WWN_MAX 224 /* iSCSI names: 223 bytes */
#define EXPORT_PORTAL_MAX 64
#define EXPORT_ALLOW_MAX 32
#define EXPORT_CHAP_MAX 255  /* LIO's CHAP names and secrets: 256 bytes, NUL included */
#define EXPORT_SECRET_MIN 12 /* RFC 3720 8.2.1: 96 bits, as Windows' initiator asks */

/*
 * Who may log in to an iSCSI export (export-access.c).  At least one rule, or @demo:
 *   @allow          initiator names: a node ACL each, mapping LUN 0 (generate_node_acls=0);
 *   @chap_user      CHAP (authentication=1): initiators log in as this user with
 *                   @chap_secret, set in every ACL, or without @allow in the portal group's
 *                   auth (any initiator name, but only with the secret);
 *   @mutual_user    mutual CHAP: the target answers as this user with @mutual_secret;
 *   @discovery_chap SendTargets discovery needs the same CHAP (LIO's discovery_auth: one
 *                   for the host; refused if it is on already with other credentials);
 *   @demo           none of the above: any initiator, no authentication.
 * Secrets are 12 to 255 printable characters without spaces; they never appear in
 * messages.  The caller reads them from where the user keeps them (never argv).
 */
struct export_access {
	const char *const *allow;
	size_t nallow;
	const char *chap_user;
	const char *chap_secret;
	const char *mutual_user;
	const char *mutual_secret;
	bool discovery_chap;
	bool demo;
};

struct export_params {
	const char *cfg;     /* image path or "@key=value..." config string (required) */
	const char *name;    /* NULL: from the image's file name */
	const char *subtype; /* the handler subtype: "qemu" */
	uint64_t size;	     /* 0: the image's virtual size */
	unsigned int block_size;
	bool loop;		    /* export on tcm_loop */
	const char *iqn;	    /* export on iSCSI (NULL: not) */
	const char *const *portals; /* "IP[:PORT]"; none: 0.0.0.0:3260 */
	size_t nportals;
	struct export_access access; /* with @iqn: who may log in */
	int timeout_ms;		     /* waiting for the daemon and for /dev/sdX; 0: 30 s */
};

struct export_result {
	char name[EXPORT_NAME_MAX + 1];
	char so_rel[128]; /* "core/user_N/NAME" */
	char dev_config[320];
	uint64_t size;
	unsigned int block_size;
	char loop_wwn[32];  /* "" if not on tcm_loop */
	char loop_dev[64];  /* "/dev/sdX"; "" in a plain tree */
	char loop_addr[32]; /* tcm_loop's "H:C:T" */
	char portals[EXPORT_PORTALS_MAX][EXPORT_PORTAL_MAX];
	size_t nportals;
	bool plain; /* the tree was not configfs */
};

/* The access rules of @p (struct export_access) without reading anything: names and
 * combinations, and with @secrets the secrets' contents too (without, only whether they
 * are given).  export_create() checks them all again. */
int export_access_check(const struct export_params *p, bool secrets, struct err *err);
/* Is @portal ("IP:PORT" or "[IPv6]:PORT", as in export_result) a loopback address? */
bool export_portal_is_loopback(const char *portal);

/* Create the export; on failure nothing is left behind and @err says what failed. */
int export_create(const struct export_params *p, struct export_result *res, struct err *err);

/* Remove the user backstore @name (of @subtype) and what exports it.  -ENOENT: none. */
int export_remove(const char *name, const char *subtype, FILE *out, struct err *err);

/* List the backstores of @subtype and where they are exported. */
int export_list(const char *subtype, FILE *out, struct err *err);

/* The command lines (export-cli.c): argv[0] is the subcommand; exit status 0, 1 (failed,
 * the reason on stderr) or 2 (bad usage). */
int export_main(int argc, char **argv);
int unexport_main(int argc, char **argv); /* "unexport" and "exports" */
/* The subcommands' part of `qemu-tcmu --help`: their synopsis, their options. */
void export_synopsis(FILE *f);
void export_usage(FILE *f);

#endif
