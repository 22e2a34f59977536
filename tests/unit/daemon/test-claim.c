/* SPDX-License-Identifier: GPL-2.0-or-later */
/* --claim: shell patterns on backstore names, '!' excludes, the last match decides. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/claim.h"
#include "util/err.h"

static void test_match(void **state)
{
	struct claims none = { .n = 0 }, a = { .n = 0 }, rest = { .n = 0 };
	struct err err;

	(void)state;
	err_init(&err);
	assert_true(claims_match(&none, "anything"));
	assert_int_equal(claims_add(&a, "gw-a-*", &err), 0);
	assert_true(claims_match(&a, "gw-a-lun0"));
	assert_false(claims_match(&a, "gw-b-lun0"));
	assert_false(claims_match(&a, "gw-a"));
	/* the complement, so that every name is claimed exactly once */
	assert_int_equal(claims_add(&rest, "*", &err), 0);
	assert_int_equal(claims_add(&rest, "!gw-a-*", &err), 0);
	assert_false(claims_match(&rest, "gw-a-lun0"));
	assert_true(claims_match(&rest, "gw-b-lun0"));
	assert_true(claims_match(&rest, "gw-a"));
	/* the last match decides: re-include one */
	assert_int_equal(claims_add(&rest, "gw-a-lun7", &err), 0);
	assert_true(claims_match(&rest, "gw-a-lun7"));
	assert_false(claims_match(&rest, "gw-a-lun6"));
}

static void test_bad(void **state)
{
	struct claims c = { .n = 0 };
	struct err err;

	(void)state;
	err_init(&err);
	assert_int_equal(claims_add(&c, "", &err), -EINVAL);
	assert_string_equal(err.msg, "--claim: empty pattern");
	assert_int_equal(claims_add(&c, "!", &err), -EINVAL);
	for (int i = 0; i < CLAIM_MAX; i++)
		assert_int_equal(claims_add(&c, "x*", &err), 0);
	assert_int_equal(claims_add(&c, "y*", &err), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
