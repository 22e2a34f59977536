/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the benchmark programs. */
#ifndef QT_BENCH_BENCH_H
#define QT_BENCH_BENCH_H

#include <stdint.h>

/* xorshift64*: a fast, reproducible offset generator (@state must start non-zero) */
static inline uint64_t bench_rand(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 2685821657736338717ull;
}

#endif
