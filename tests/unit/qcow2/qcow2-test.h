/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers for the qcow2 unit tests: scratch images made by qemu-img (the oracle). */
#ifndef QT_TESTS_QCOW2_TEST_H
#define QT_TESTS_QCOW2_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"
#include "block/qcow2/qcow2-int.h"
#include "util/err.h"

static char qt_img[64];

/* qemu-img create -f qcow2 -o OPTS into a fresh temporary path. */
static inline void qt_create(const char *opts, const char *size)
{
	char cmd[512];
	int fd;

	snprintf(qt_img, sizeof(qt_img), "/tmp/qt-qcow2-XXXXXX");
	fd = mkstemp(qt_img);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "qemu-img create -q -f qcow2 %s%s %s %s", opts ? "-o " : "",
		 opts ? opts : "", qt_img, size);
	assert_int_equal(system(cmd), 0);
}

/* qemu-img check exit status (0 clean, 3 leaks, 2 corrupt). */
static inline int qt_check(void)
{
	char cmd[256];
	int r;

	snprintf(cmd, sizeof(cmd), "qemu-img check -q %s >/dev/null 2>&1", qt_img);
	r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static inline struct blk_node *qt_open(const char *extra)
{
	struct blk_node *bs = NULL;
	char cfg[256];
	struct err err;

	err_init(&err);
	snprintf(cfg, sizeof(cfg), "@file=%s@format=qcow2%s", qt_img, extra ? extra : "");
	if (blk_open_str(cfg, BLK_O_RDWR, &bs, &err) < 0)
		fail_msg("open %s: %s", cfg, err.msg);
	return bs;
}

static inline struct qcow2_state *qt_state(struct blk_node *bs)
{
	return bs->opaque;
}

static inline uint64_t qt_file_size(void)
{
	struct stat st;

	assert_int_equal(stat(qt_img, &st), 0);
	return (uint64_t)st.st_size;
}

#endif
