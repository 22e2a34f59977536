/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rbd: names and structured keys (src/block/rbd/rbd-opts.c), QEMU's syntax. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "block/rbd/rbd-int.h"
#include "util/err.h"
#include "util/opts.h"

/* Parse @file (may be NULL) plus "@k=v..." keys; returns the result, *sp filled on 0. */
static int parse(const char *file, const char *keys, struct rbd_spec *sp, struct err *err)
{
	struct opts o;
	int r;

	opts_init(&o);
	err_init(err);
	r = keys ? opts_parse_cfgstring(&o, keys, err) : 0;
	if (r == 0)
		r = rbd_spec_parse(&o, file, sp, err);
	if (r == 0)
		assert_int_equal(opts_check_unused(&o, NULL, err), 0);
	opts_release(&o);
	return r;
}

static void test_names(void **state)
{
	struct rbd_spec sp;
	struct err err;
	char name[256];

	(void)state;
	assert_int_equal(parse("rbd:rbd/disk0", NULL, &sp, &err), 0);
	assert_string_equal(sp.pool, "rbd");
	assert_string_equal(sp.image, "disk0");
	assert_null(sp.ns);
	assert_null(sp.snap);
	assert_null(sp.conf);
	assert_false(sp.shared);
	rbd_spec_release(&sp);

	assert_int_equal(parse("rbd:p/ns/img@s1:id=gw:conf=/etc/c.conf:mon_host=1.2.3.4\\:6789"
			       ":rados_osd_op_timeout=5",
			       NULL, &sp, &err),
			 0);
	assert_string_equal(sp.pool, "p");
	assert_string_equal(sp.ns, "ns");
	assert_string_equal(sp.image, "img");
	assert_string_equal(sp.snap, "s1");
	assert_string_equal(sp.user, "gw");
	assert_string_equal(sp.conf, "/etc/c.conf");
	assert_int_equal(sp.nkv, 2);
	assert_string_equal(sp.kv[0].key, "mon_host");
	assert_string_equal(sp.kv[0].value, "1.2.3.4:6789"); /* "\:" is a colon */
	assert_string_equal(sp.kv[1].key, "rados_osd_op_timeout");
	rbd_spec_name(&sp, name, sizeof(name));
	assert_string_equal(name, "p/ns/img@s1");
	rbd_spec_release(&sp);
}

static void test_keys(void **state)
{
	struct rbd_spec sp;
	struct err err;

	(void)state;
	assert_int_equal(parse(NULL,
			       "@pool=rbd@namespace=n@image=i@snapshot=s@user=u@keyring=/k"
			       "@osd-op-timeout=7@mount-timeout=9@shared-connection=on",
			       &sp, &err),
			 0);
	assert_string_equal(sp.pool, "rbd");
	assert_string_equal(sp.ns, "n");
	assert_string_equal(sp.snap, "s");
	assert_string_equal(sp.user, "u");
	assert_true(sp.shared);
	assert_int_equal(sp.nkv, 3);
	assert_string_equal(sp.kv[0].key, "keyring");
	assert_string_equal(sp.kv[1].key, "rados_osd_op_timeout");
	assert_string_equal(sp.kv[1].value, "7");
	assert_string_equal(sp.kv[2].key, "client_mount_timeout");
	rbd_spec_release(&sp);
}

static void expect_error(const char *file, const char *keys, const char *want)
{
	struct rbd_spec sp;
	struct err err;

	assert_int_equal(parse(file, keys, &sp, &err), -EINVAL);
	if (!strstr(err.msg, want))
		fail_msg("'%s' / '%s': got '%s', want '%s'", file ? file : "", keys ? keys : "",
			 err.msg, want);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("rbd:justone", NULL, "is not pool[/namespace]/image");
	expect_error("rbd:a/b/c/d", NULL, "is not pool[/namespace]/image");
	expect_error("rbd:/img", NULL, "empty pool");
	expect_error("rbd:p/img@", NULL, "empty pool");
	expect_error("rbd:p/img:novalue", NULL, "has no value");
	expect_error("rbd:p/img:=x", NULL, "empty key");
	expect_error("nbd://x/y", NULL, "does not start with rbd:");
	expect_error("rbd:p/img", "@pool=q", "given both");
	expect_error(NULL, "@pool=p", "no image given");
	expect_error(NULL, "@pool=p@image=a/b", "contains '/' or '@'");
	expect_error(NULL, "@pool=p@image=i@shared-connection=maybe", "shared-connection");
}

/* Gateway mode's keys (docs/HA.md). */
static void test_gateway(void **state)
{
	struct rbd_spec sp;
	struct err err;

	(void)state;
	assert_int_equal(parse(NULL, "@pool=p@image=i", &sp, &err), 0);
	assert_false(sp.gateway);
	assert_int_equal(sp.grace_s, 15);
	assert_null(sp.gw_name);
	rbd_spec_release(&sp);

	assert_int_equal(parse(NULL, "@pool=p@image=i@gateway=on@gateway-grace=3@gateway-name=gw1",
			       &sp, &err),
			 0);
	assert_true(sp.gateway);
	assert_int_equal(sp.grace_s, 3);
	assert_string_equal(sp.gw_name, "gw1");
	rbd_spec_release(&sp);

	expect_error(NULL, "@pool=p@image=i@gateway=on@gateway-grace=3601", "above 3600");
	expect_error(NULL, "@pool=p@image=i@gateway=on@gateway-name=a:b", "has a ':'");
	expect_error(NULL, "@pool=p@image=i@gateway=on@shared-connection=on",
		     "drop shared-connection");
	expect_error(NULL, "@pool=p@image=i@gateway=sometimes", "gateway");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_gateway),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
