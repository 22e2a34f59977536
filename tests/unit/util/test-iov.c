/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/iov.h"

static char a[7], b[1], c[12];
static struct iovec vec[3] = {
	{ a, sizeof(a) },
	{ b, sizeof(b) },
	{ c, sizeof(c) },
};

static void test_copy_roundtrip(void **state)
{
	char src[20], dst[20];

	(void)state;
	for (int i = 0; i < 20; i++)
		src[i] = (char)(i + 1);
	assert_int_equal(iov_size(vec, 3), 20);
	/* every offset/length combination round-trips through the scattered vector */
	for (size_t off = 0; off <= 20; off++) {
		for (size_t len = 0; off + len <= 20; len++) {
			memset(a, 0, sizeof(a));
			memset(b, 0, sizeof(b));
			memset(c, 0, sizeof(c));
			memset(dst, 0x55, sizeof(dst));
			assert_int_equal(iov_from_buf(vec, 3, off, src, len), len);
			assert_int_equal(iov_to_buf(vec, 3, off, dst, len), len);
			assert_memory_equal(src, dst, len);
		}
	}
	/* short at the end */
	assert_int_equal(iov_to_buf(vec, 3, 15, dst, 10), 5);
}

static void test_compare_zero(void **state)
{
	char ref[20] = { 0 };

	(void)state;
	iov_memset(vec, 3, 0, 0, 20);
	assert_true(iov_is_zero(vec, 3, 0, 20));
	assert_int_equal(iov_compare_buf(vec, 3, 0, ref, 20), -1);
	c[3] = 1; /* byte 7 + 1 + 3 = 11 */
	assert_false(iov_is_zero(vec, 3, 0, 20));
	assert_true(iov_is_zero(vec, 3, 0, 11));
	assert_int_equal(iov_compare_buf(vec, 3, 0, ref, 20), 11);
	assert_int_equal(iov_compare_buf(vec, 3, 5, ref, 15), 6);
	assert_true(buf_is_zero(ref, 0));
	assert_true(buf_is_zero(ref, 20));
}

static void test_slice(void **state)
{
	struct iovec out[3];

	(void)state;
	assert_int_equal(iov_slice(out, 3, vec, 3, 6, 3), 3);
	assert_ptr_equal(out[0].iov_base, a + 6);
	assert_int_equal(out[0].iov_len, 1);
	assert_ptr_equal(out[1].iov_base, b);
	assert_ptr_equal(out[2].iov_base, c);
	assert_int_equal(out[2].iov_len, 1);
	assert_int_equal(iov_slice(out, 1, vec, 3, 0, 20), -E2BIG);
	assert_int_equal(iov_slice(out, 3, vec, 3, 8, 12), 1);
	assert_int_equal(out[0].iov_len, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_roundtrip),
		cmocka_unit_test(test_compare_zero),
		cmocka_unit_test(test_slice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
