/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Config strings: targetcli's ConfigDesc names every key the registry declares;
 * tcmu-runner's rbd form under -x rbd (gateway mode, docs/HA.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "block/block-driver.h"
#include "block/cfgstr.h"
#include "util/err.h"
#include "util/opts.h"

static bool has_word(const char *s, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = strstr(s, w); p; p = strstr(p + 1, w))
		if (p[-1] == ' ' && (p[n] == ',' || p[n] == ';' || p[n] == '.'))
			return true;
	return false;
}

static void test_describe(void **state)
{
	char *d = cfgstr_describe();

	(void)state;
	assert_non_null(d);
	assert_int_equal(strncmp(d, "@key=value@", 11), 0);
	assert_null(strchr(d, '\n')); /* one line */
	for (int i = 0; blk_drivers[i]; i++) {
		const struct blk_driver *drv = blk_drivers[i];

		for (const struct blk_opt_desc *o = drv->options; drv->summary && o && o->name; o++)
			if (o->help && !has_word(d, o->name))
				fail_msg("%s: key %s not in: %s", drv->name, o->name, d);
	}
	assert_true(has_word(d, "id"));
	assert_true(has_word(d, "file"));
	assert_true(has_word(d, "cache"));
	free(d);
}

/* @key's value in @cfg parsed as subtype rbd parses it ("" when absent). */
static void expect_key(const char *cfg, const char *key, const char *want)
{
	char id[CFGSTR_ID_MAX];
	const char *v = NULL;
	struct opts o;
	struct err err;

	opts_init(&o);
	err_init(&err);
	if (cfgstr_parse(&o, cfg, id, &err) < 0)
		fail_msg("%s: %s", cfg, err.msg);
	if (opts_has(&o, key))
		assert_int_equal(opts_get_str(&o, key, NULL, &v, &err), 0);
	if (strcmp(v ? v : "", want))
		fail_msg("%s: %s is '%s', want '%s'", cfg, key, v ? v : "", want);
	opts_release(&o);
}

static void test_runner_rbd(void **state)
{
	(void)state;
	cfgstr_set_subtype("rbd");
	expect_key("rbd/pool/img;osd_op_timeout=5", "gateway", "on");
	expect_key("rbd/pool/img;osd_op_timeout=5", "osd-op-timeout", "5");
	expect_key("pool/img", "gateway", "on");
	expect_key("pool/img", "image", "img");
	expect_key("pool/img@snap", "gateway", "");		 /* a snapshot is read-only */
	expect_key("@driver=rbd@pool=p@image=i", "gateway", ""); /* ours: opt-in */
	cfgstr_set_subtype("qemu");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_runner_rbd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
