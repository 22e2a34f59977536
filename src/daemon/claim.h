/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which backstores a daemon serves when several daemons share one handler subtype on one
 * kernel (--claim): shell patterns (fnmatch) on the LIO device name, the configfs
 * directory under core/user_N/ (targetcli's backstore name).  A pattern starting with '!'
 * excludes; the last pattern that matches decides, as in .gitignore; no patterns: every
 * device.  `--claim 'gw-a-*'` and `--claim '*' --claim '!gw-a-*'` split a subtype in two.
 */
#ifndef QT_DAEMON_CLAIM_H
#define QT_DAEMON_CLAIM_H

#include <stdbool.h>

struct err;

#define CLAIM_MAX 16

struct claims {
	const char *pat[CLAIM_MAX]; /* borrowed (argv) */
	unsigned int n;
};

/* Add one pattern; -EINVAL (empty, "!" alone) or -E2BIG (too many) with a message. */
int claims_add(struct claims *c, const char *pattern, struct err *err);
/* Whether the device named @name is ours. */
bool claims_match(const struct claims *c, const char *name);

#endif
