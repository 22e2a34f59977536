/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Images the fuzz targets open (fuzz-cfgstring, fuzz-export-cli). */
#ifndef QT_FUZZ_IMAGE_H
#define QT_FUZZ_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* A valid qcow2 v3 image of 1 MiB with 512-byte clusters (header, refcount table and
 * block, L1, one L2 table, one data cluster of 0xa5 at guest offset 0) into @buf (at
 * least 3072 bytes); returns its length.  qemu-img check finds no errors in it. */
size_t fuzz_qcow2_image(uint8_t *buf, size_t len);

#endif
