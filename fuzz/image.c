/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Images the fuzz targets open (see image.h). */
#include "image.h"

#include <stdlib.h>
#include <string.h>

size_t fuzz_qcow2_image(uint8_t *b, size_t len)
{
	static const struct {
		unsigned int off, bytes;
		uint64_t v;
	} f[] = {
		{ 0, 4, 0x514649fb },		/* magic */
		{ 4, 4, 3 },			/* version */
		{ 20, 4, 9 },			/* cluster_bits */
		{ 24, 8, 1 << 20 },		/* size */
		{ 36, 4, 32 },			/* L1 entries */
		{ 40, 8, 1536 },		/* L1 offset */
		{ 48, 8, 512 },			/* refcount table offset */
		{ 56, 4, 1 },			/* refcount table clusters */
		{ 96, 4, 4 },			/* refcount_order */
		{ 100, 4, 104 },		/* header_length */
		{ 512, 8, 1024 },		/* refcount table[0] */
		{ 1536, 8, 2048 | 1ull << 63 }, /* L1[0] (copied) */
		{ 2048, 8, 2560 | 1ull << 63 }, /* L2[0] (copied) */
	};

	if (len < 3072)
		abort();
	memset(b, 0, 3072);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		for (unsigned int k = 0; k < f[i].bytes; k++)
			b[f[i].off + k] = (uint8_t)(f[i].v >> (8 * (f[i].bytes - 1 - k)));
	for (unsigned int c = 0; c < 6; c++) /* clusters 0..5: refcount 1 (16 bits) */
		b[1024 + 2 * c + 1] = 1;
	memset(b + 2560, 0xa5, 512);
	return 3072;
}
