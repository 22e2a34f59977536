/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Config strings: targetcli's ConfigDesc names every key the registry declares. */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
