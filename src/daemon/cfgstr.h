/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A device's config string: what follows "<subtype>/" in LIO's dev_config, e.g.
 * "@id=disk0@file=/img.qcow2@cache=none" or a plain image path.  The daemon takes its
 * own key ("id": a name for the logs); blk_open() takes the rest; an unknown key is an
 * error naming it.
 */
#ifndef QT_DAEMON_CFGSTR_H
#define QT_DAEMON_CFGSTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct blk_node;
struct err;
struct opts;

#define CFGSTR_ID_MAX 64

/* What cfgstr_open() does before opening: @cfgstring, in the served subtype's dialect,
 * into the empty @o; the daemon's "id" key is taken (marked used) into @id ("" when
 * absent).  Opens nothing (the fuzzer's entry point).  On failure @o may hold keys. */
int cfgstr_parse(struct opts *o, const char *cfgstring, char id[CFGSTR_ID_MAX], struct err *err);

/* Open the image of @cfgstring (BLK_O_* @flags; "read-only"/"cache" keys override).
 * @id receives the "id" key ("" when absent). */
int cfgstr_open(const char *cfgstring, unsigned int flags, struct blk_node **bs,
		char id[CFGSTR_ID_MAX], struct err *err);

/*
 * D-Bus CheckConfig: would a device with @cfgstring open?  Parses it, checks every key
 * and value, opens the image read-only (probing its format, so the file must exist and
 * be readable) and closes it again; for a writable export, checks the file is writable.
 * No side effects.  On false, @msg holds a one-line reason.
 */
bool cfgstr_check(const char *cfgstring, char *msg, size_t len);
/* The same, and the image's virtual size into *@size (when not NULL) if valid. */
bool cfgstr_check_size(const char *cfgstring, uint64_t *size, char *msg, size_t len);

/* Every key a config string takes, the daemon's ("id") and the block layer's, in
 * @style (block.h: BLK_HELP_TEXT, _MAN, _BRIEF). */
void cfgstr_print_keys(FILE *f, int style);
/* targetcli's ConfigDesc: the syntax and every key's name in one line (malloc'd, or NULL
 * when out of memory). */
char *cfgstr_describe(void);
/*
 * The handler subtype the daemon serves (-x).  Serving "rbd", a config string not starting
 * with '@' is tcmu-runner's rbd form, so that backstores made for tcmu-runner (targetcli,
 * ceph-iscsi) work unchanged:
 *   pool/image[@snap][;osd_op_timeout=N][;conf=PATH][;id=USER]
 * and "rbd/" before it is skipped (CheckConfig and --check-config may include it).
 */
void cfgstr_set_subtype(const char *subtype);

/* The config string after "<subtype>/" of a full dev_config, NULL if the subtype is not
 * @subtype. */
const char *cfgstr_strip_subtype(const char *dev_config, const char *subtype);

#endif
