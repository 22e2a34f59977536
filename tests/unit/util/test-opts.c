/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/err.h"
#include "util/opts.h"

static void test_cfgstring_basic(void **state)
{
	struct opts o;
	struct err err;
	const char *v;
	bool ro;

	(void)state;
	opts_init(&o);
	err_init(&err);
	assert_int_equal(opts_parse_cfgstring(&o,
					      "@id=test@file=/root/test.file@format=qcow2"
					      "@cache=none@read-only=on",
					      &err),
			 0);
	assert_string_equal(opts_get(&o, "id"), "test");
	assert_string_equal(opts_get(&o, "file"), "/root/test.file");
	/* format is an alias of driver */
	assert_string_equal(opts_get(&o, "driver"), "qcow2");
	assert_int_equal(opts_get_bool(&o, "read-only", false, &ro, &err), 0);
	assert_true(ro);
	v = opts_get(&o, "cache");
	assert_string_equal(v, "none");
	assert_int_equal(opts_check_unused(&o, NULL, &err), 0);
	opts_release(&o);
}

static void test_cfgstring_plain_path(void **state)
{
	struct opts o;

	(void)state;
	opts_init(&o);
	assert_int_equal(opts_parse_cfgstring(&o, "/var/lib/images/a=b.img", NULL), 0);
	assert_int_equal((int)o.n, 1);
	assert_string_equal(opts_get(&o, "file"), "/var/lib/images/a=b.img");
	opts_release(&o);
}

static void test_cfgstring_errors(void **state)
{
	static const struct {
		const char *in, *msg;
	} cases[] = {
		{ "", "empty config string" },
		{ "@file", "config string: 'file' has no '=value'" },
		{ "@=x", "empty option name" },
		{ "@file=a@file=b", "option 'file' given twice" },
		{ "@format=raw@driver=raw", "option 'driver' given twice" },
		{ "@fi le=a", "invalid character ' ' in option name 'fi le'" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct opts o;
		struct err err;

		opts_init(&o);
		err_init(&err);
		assert_int_equal(opts_parse_cfgstring(&o, cases[i].in, &err), -EINVAL);
		assert_string_equal(err.msg, cases[i].msg);
		opts_release(&o);
	}
}

static void test_unused_and_empty_segments(void **state)
{
	struct opts o;
	struct err err;

	(void)state;
	opts_init(&o);
	err_init(&err);
	assert_int_equal(opts_parse_cfgstring(&o, "@@file=x@@bogus=1@", &err), 0);
	opts_get(&o, "file");
	assert_int_equal(opts_check_unused(&o, NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "unknown option 'bogus'");
	opts_release(&o);
}

static void test_kv(void **state)
{
	struct opts o;
	struct err err;

	(void)state;
	opts_init(&o);
	err_init(&err);
	assert_int_equal(opts_parse_kv(&o, "/a,,b.img,format=raw,cache=none", "file", &err), 0);
	assert_string_equal(opts_get(&o, "file"), "/a,b.img");
	assert_string_equal(opts_get(&o, "driver"), "raw");
	assert_int_equal(opts_parse_kv(&o, "nokey", NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "'nokey' has no '=value'");
	opts_release(&o);
}

static void test_typed(void **state)
{
	static const char *const modes[] = { "threads", "io_uring", NULL };
	struct opts o;
	struct err err;
	uint64_t sz;
	bool b;
	int e;

	(void)state;
	opts_init(&o);
	err_init(&err);
	assert_int_equal(opts_parse_cfgstring(&o,
					      "@size=64M@bad=12Q@on=yes@aio=io_uring"
					      "@flag=maybe@empty=",
					      &err),
			 0);
	assert_int_equal(opts_get_size(&o, "size", 0, &sz, &err), 0);
	assert_int_equal(sz, 64ull << 20);
	assert_int_equal(opts_get_size(&o, "bad", 0, &sz, &err), -EINVAL);
	assert_string_equal(err.msg, "option 'bad': '12Q' is not a size");
	assert_int_equal(opts_get_size(&o, "missing", 7, &sz, &err), 0);
	assert_int_equal(sz, 7);
	assert_int_equal(opts_get_bool(&o, "on", false, &b, &err), 0);
	assert_true(b);
	assert_int_equal(opts_get_bool(&o, "flag", false, &b, &err), -EINVAL);
	assert_string_equal(err.msg, "option 'flag': 'maybe' is not on/off");
	assert_int_equal(opts_get_enum(&o, "aio", modes, 0, &e, &err), 0);
	assert_int_equal(e, 1);
	assert_int_equal(opts_get_str(&o, "empty", NULL, &(const char *){ NULL }, &err), -EINVAL);
	assert_string_equal(err.msg, "option 'empty' is empty");
	opts_release(&o);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(parse_size("64k", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(parse_size("1G", &v), 0);
	assert_int_equal(v, 1ull << 30);
	assert_int_equal(parse_size("0x1000", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("-1", &v), -EINVAL);
	assert_int_equal(parse_size("1kb", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(parse_size("16777216T", &v), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfgstring_basic),
		cmocka_unit_test(test_cfgstring_plain_path),
		cmocka_unit_test(test_cfgstring_errors),
		cmocka_unit_test(test_unused_and_empty_segments),
		cmocka_unit_test(test_kv),
		cmocka_unit_test(test_typed),
		cmocka_unit_test(test_parse_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
