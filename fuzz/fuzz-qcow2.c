/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the qcow2 driver: the input is an image file (header, extensions,
 * L1/L2 tables, refcounts, snapshot table, bitmap directory, compressed data).  It is
 * opened read-write from a memfd and driven through reads, block status, writes, zero
 * writes, discards and flushes; opening read-only is tried when read-write is refused.
 * Every outcome is fine except a crash, a sanitizer report or a hang.  Backing files are
 * not opened and the external-data-file bit is cleared, so an input cannot reach other
 * files of the host.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"
#include "util/err.h"
#include "util/log.h"

#define MAX_INPUT (4u << 20)
#define HDR_INCOMPAT 72
#define INCOMPAT_DATA_FILE 0x04

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(struct blk_node *bs, bool rw)
{
	static uint8_t buf[65536] __attribute__((aligned(4096)));
	uint64_t len = (uint64_t)blk_getlength(bs), off = 0, n;
	const uint64_t offs[] = { 0,	    512,     65536 - 512,
				  1u << 20, len / 2, len > 8192 ? len - 8192 : 0 };

	for (int i = 0; i < 64 && off < len; i++) {
		int d;

		if (blk_block_status_chain(bs, off, len - off, &n, NULL, NULL, &d) < 0 || !n)
			break;
		off += n;
	}
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		uint64_t o = offs[i] & ~511ull, l = 8192;

		if (o >= len)
			continue;
		l = l < len - o ? l : len - o;
		blk_pread(bs, o, buf, l);
		if (!rw)
			continue;
		memset(buf, (int)i + 1, l);
		blk_pwrite(bs, o, buf, l, 0);
		if (o + 2 * l <= len) {
			blk_write_zeroes(bs, o + l, l, i & 1 ? BLK_REQ_MAY_UNMAP : 0);
			blk_discard(bs, o, 2 * l);
		}
		blk_pread(bs, o, buf, l);
	}
	if (rw)
		blk_flush(bs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blk_node *bs = NULL;
	char cfg[96];
	struct err err;
	int fd;

	log_set_level((enum log_level)(LOG_LVL_ERR - 1)); /* corrupt images are expected */
	if (size > MAX_INPUT)
		return 0;
	fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	if (size > HDR_INCOMPAT + 8) {
		uint8_t b = data[HDR_INCOMPAT + 7] & (uint8_t)~INCOMPAT_DATA_FILE;

		if (pwrite(fd, &b, 1, HDR_INCOMPAT + 7) != 1) {
			close(fd);
			return 0;
		}
	}
	snprintf(cfg, sizeof(cfg), "@file=/proc/self/fd/%d@format=qcow2", fd);
	err_init(&err);
	if (blk_open_str(cfg, BLK_O_RDWR | BLK_O_NO_BACKING, &bs, &err) == 0) {
		exercise(bs, true);
		blk_close(bs);
	} else {
		err_init(&err);
		if (blk_open_str(cfg, BLK_O_NO_BACKING, &bs, &err) == 0) {
			exercise(bs, false);
			blk_close(bs);
		}
	}
	close(fd);
	return 0;
}
