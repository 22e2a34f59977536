/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One-command exports without targetcli: `qemu-tcmu export`, `unexport` and `exports`
 * create, remove and list LIO objects through configfs directly:
 *
 *   core/user_N/NAME                      the user:qemu backstore (one HBA each, as
 *                                         rtslib does), dev_config=qemu/CFG, dev_size,
 *                                         hw_block_size, enable, wwn/vpd_unit_serial
 *   loopback/naa.5001405.../tpgt_1        tcm_loop: nexus, lun/lun_0 -> the backstore
 *   iscsi/IQN/tpgt_1                      iSCSI: lun/lun_0, np/IP:PORT, demo-mode attributes,
 *                                         enable
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
	int timeout_ms; /* waiting for the daemon and for /dev/sdX; 0: 30 s */
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
