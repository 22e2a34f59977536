/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LIO's configfs tree as `qemu-tcmu export` changes it: paths relative to the target
 * root (/sys/kernel/config/target, or $QEMU_TCMU_CONFIGFS), and an undo log so that a
 * failed export removes exactly what it created, in reverse order.
 *
 * The root may be a plain directory (tests on a host without configfs): attribute files
 * are then created by the writes that configfs would find in place, and removing a
 * directory removes the files and empty default groups the kernel would have removed
 * with it.  Nothing here pretends to be the kernel: a real tree auto-creates default
 * groups (tpgt_N/lun, np, attrib, ...) and checks values; a plain one does neither.
 *
 * Every failure is one line in @err naming the path and strerror.
 */
#ifndef QT_EXPORT_EXPORT_TREE_H
#define QT_EXPORT_EXPORT_TREE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/compiler.h"

struct err;

enum etree_undo_kind {
	ETREE_RMDIR,  /* a directory we made */
	ETREE_UNLINK, /* a symlink, or an attribute file made in a plain tree */
	ETREE_WRITE,  /* write a value back (e.g. enable=0 before the rmdir above it) */
};

struct etree_undo {
	enum etree_undo_kind kind;
	char *rel;
	char *value;
	bool secret; /* @value is a secret: never printed, wiped when dropped */
};

struct etree {
	char root[PATH_MAX];
	bool plain; /* a plain directory, not configfs */
	struct etree_undo *undo;
	size_t nundo, capundo;
};

/* @root NULL: $QEMU_TCMU_CONFIGFS, else /sys/kernel/config/target.  A root other than
 * the default is a plain tree unless it is configfs itself. */
void etree_init(struct etree *t, const char *root);
/* Drops the undo log (what was made stays). */
void etree_release(struct etree *t);

/* "<root>/<rel>" into @buf; -ENAMETOOLONG. */
int etree_path(const struct etree *t, char *buf, size_t len, const char *rel);
/* printf into a relative path buffer; -ENAMETOOLONG with a message in @err. */
int etree_rel(char *buf, size_t len, struct err *err, const char *fmt, ...) PRINTF_FMT(4, 5);

bool etree_exists(const struct etree *t, const char *rel);
bool etree_is_dir(const struct etree *t, const char *rel);
bool etree_is_link(const struct etree *t, const char *rel);
/* Read a file into @buf (NUL-terminated, trailing newline kept); bytes read or -errno. */
int etree_read(const struct etree *t, const char *rel, char *buf, size_t len);
/* The absolute, resolved path @rel (a directory or a symlink to one) stands for. */
int etree_realpath(const struct etree *t, const char *rel, char *buf, size_t len);

/* Make one directory (-EEXIST if it exists); logged for undo. */
int etree_mkdir(struct etree *t, const char *rel, struct err *err);
/* Make every missing component of @rel (existing ones, such as default groups, are
 * left alone and not logged). */
int etree_mkdir_p(struct etree *t, const char *rel, struct err *err);
/* A symlink at @link_rel to the directory @target_rel (absolute in the tree). */
int etree_symlink(struct etree *t, const char *target_rel, const char *link_rel, struct err *err);
/* Write @value to an attribute; @undo_value (or NULL) is written back on rollback. */
int etree_write(struct etree *t, const char *rel, const char *value, const char *undo_value,
		struct err *err);
/* The same for a secret (a CHAP password): neither @value nor @undo_value appears in a
 * message, and the undo log's copy is wiped when dropped. */
int etree_write_secret(struct etree *t, const char *rel, const char *value, const char *undo_value,
		       struct err *err);
/* Read an attribute's first line (no newline) into @buf; "" when it is missing or empty.
 * 0, or -errno when it cannot be read. */
int etree_read_line(const struct etree *t, const char *rel, char *buf, size_t len);

/* Remove a directory (not logged).  In a plain tree, its files and its subdirectories
 * holding only files go with it; a subdirectory with directories or symlinks in it makes
 * it fail with -ENOTEMPTY, as a configfs group with child groups does. */
int etree_rmdir(struct etree *t, const char *rel, struct err *err);
int etree_unlink(struct etree *t, const char *rel, struct err *err);

/* Undo everything logged, newest first; failures are printed to stderr (the first error
 * is what the caller reports).  Then the log is empty. */
void etree_rollback(struct etree *t);
/* Keep what was made: empty the log. */
void etree_commit(struct etree *t);

/* Random lowercase hex digits (getrandom), NUL-terminated: @n digits into @buf[n+1]. */
int etree_random_hex(char *buf, size_t n);

#endif
