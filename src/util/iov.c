/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "iov.h"

#include <errno.h>
#include <string.h>

#include "compiler.h"

size_t iov_size(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

/* Walk [off, off+len) of the vector, calling @fn on each piece; @fn returns false to stop. */
#define IOV_WALK(iov, cnt, off, len, piece_base, piece_len, pos, body)            \
	do {                                                                      \
		size_t o__ = (off), left__ = (len);                               \
		size_t pos = 0;                                                   \
		for (int i__ = 0; i__ < (cnt) && left__; i__++) {                 \
			if (o__ >= (iov)[i__].iov_len) {                          \
				o__ -= (iov)[i__].iov_len;                        \
				continue;                                         \
			}                                                         \
			char *piece_base = (char *)(iov)[i__].iov_base + o__;     \
			size_t piece_len = MIN((iov)[i__].iov_len - o__, left__); \
			body;                                                     \
			pos += piece_len;                                         \
			left__ -= piece_len;                                      \
			o__ = 0;                                                  \
		}                                                                 \
		(void)pos;                                                        \
	} while (0)

size_t iov_to_buf(const struct iovec *iov, int cnt, size_t off, void *buf, size_t len)
{
	size_t done = 0;

	IOV_WALK(iov, cnt, off, len, p, n, pos, {
		memcpy((char *)buf + pos, p, n);
		done += n;
	});
	return done;
}

size_t iov_from_buf(const struct iovec *iov, int cnt, size_t off, const void *buf, size_t len)
{
	size_t done = 0;

	IOV_WALK(iov, cnt, off, len, p, n, pos, {
		memcpy(p, (const char *)buf + pos, n);
		done += n;
	});
	return done;
}

size_t iov_memset(const struct iovec *iov, int cnt, size_t off, int c, size_t len)
{
	size_t done = 0;

	IOV_WALK(iov, cnt, off, len, p, n, pos, {
		memset(p, c, n);
		done += n;
	});
	return done;
}

int64_t iov_compare_buf(const struct iovec *iov, int cnt, size_t off, const void *buf, size_t len)
{
	int64_t diff = -1;

	IOV_WALK(iov, cnt, off, len, p, n, pos, {
		if (diff < 0 && memcmp(p, (const char *)buf + pos, n)) {
			for (size_t j = 0; j < n; j++) {
				if (p[j] != ((const char *)buf)[pos + j]) {
					diff = (int64_t)(pos + j);
					break;
				}
			}
		}
	});
	return diff;
}

bool buf_is_zero(const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* memcmp against itself shifted by one byte: fast and branch-light */
	if (len == 0)
		return true;
	return p[0] == 0 && !memcmp(p, p + 1, len - 1);
}

bool iov_is_zero(const struct iovec *iov, int cnt, size_t off, size_t len)
{
	bool zero = true;

	IOV_WALK(iov, cnt, off, len, p, n, pos, {
		if (zero && !buf_is_zero(p, n))
			zero = false;
	});
	return zero;
}

int iov_slice(struct iovec *dst, int dst_max, const struct iovec *src, int cnt, size_t off,
	      size_t len)
{
	int k = 0, overflow = 0;

	IOV_WALK(src, cnt, off, len, p, n, pos, {
		if (k == dst_max) {
			overflow = 1;
			break;
		}
		dst[k].iov_base = p;
		dst[k].iov_len = n;
		k++;
	});
	return overflow ? -E2BIG : k;
}

bool iov_is_aligned(const struct iovec *iov, int cnt, size_t align)
{
	for (int i = 0; i < cnt; i++)
		if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (align - 1))
			return false;
	return true;
}
