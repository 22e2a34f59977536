/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Scatter/gather helpers.  Offsets and lengths are bytes within the concatenated vector. */
#ifndef QT_UTIL_IOV_H
#define QT_UTIL_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

size_t iov_size(const struct iovec *iov, int cnt);
/* Copy between a vector and a flat buffer; returns the bytes copied (short at the end). */
size_t iov_to_buf(const struct iovec *iov, int cnt, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, int cnt, size_t off, const void *buf, size_t len);
size_t iov_memset(const struct iovec *iov, int cnt, size_t off, int c, size_t len);
/* Compare; returns -1 if equal, else the byte offset of the first difference. */
int64_t iov_compare_buf(const struct iovec *iov, int cnt, size_t off, const void *buf, size_t len);
bool iov_is_zero(const struct iovec *iov, int cnt, size_t off, size_t len);
/* Describe bytes [off, off+len) of @src in @dst (at most @dst_max entries, no copy).
 * Returns the number of entries used, or -E2BIG if @dst_max is too small. */
int iov_slice(struct iovec *dst, int dst_max, const struct iovec *src, int cnt, size_t off,
	      size_t len);
/* True if every base and length is a multiple of @align. */
bool iov_is_aligned(const struct iovec *iov, int cnt, size_t align);
bool buf_is_zero(const void *buf, size_t len);

#endif
