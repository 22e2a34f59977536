/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Routing by the registry: every file-name form a driver accepts reaches that driver, no
 * two drivers claim one prefix, names nobody claims are files (or a clear error for an
 * unknown URL scheme), and every driver describes the keys it takes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "block/block-driver.h"
#include "block/block.h"
#include "config.h"
#include "util/err.h"

struct route {
	const char *file;
	const char *driver; /* NULL: no driver claims it (the file driver opens it) */
};

static const struct route routes[] = {
	{ "/srv/images/disk.qcow2", NULL },
	{ "relative/disk.raw", NULL },
	{ "disk:with:colons.img", NULL },
#if HAVE_NBD
	/* every scheme of libnbd's nbd_connect_uri, and QEMU's nbd+tcp:// */
	{ "nbd://example.com/export", "nbd" },
	{ "nbd://[::1]:10810/export", "nbd" },
	{ "nbds://example.com/export", "nbd" },
	{ "nbd+unix:///export?socket=/run/nbd.sock", "nbd" },
	{ "nbds+unix:///export?socket=/run/nbd.sock", "nbd" },
	{ "nbd+vsock://2:10809/export", "nbd" },
	{ "nbds+vsock://2/export", "nbd" },
	{ "nbd+tcp://example.com/export", "nbd" },
	/* what only QEMU opens */
	{ "http://example.com/disk.img", "qemu" },
	{ "https://example.com/disk.img", "qemu" },
	{ "ftp://example.com/disk.img", "qemu" },
	{ "ftps://example.com/disk.img", "qemu" },
	{ "ssh://user@example.com/srv/disk.img", "qemu" },
	{ "nfs://example.com/export/disk.img", "qemu" },
	{ "iscsi://127.0.0.1/iqn.2003-01.org.example:t/0", "qemu" },
	{ "iser://127.0.0.1/iqn.2003-01.org.example:t/0", "qemu" },
	{ "gluster://127.0.0.2/gv0/disk.qcow2", "qemu" },
	{ "gluster+tcp://127.0.0.2:24007/gv0/disk.qcow2", "qemu" },
	{ "gluster+unix:///gv0/disk.qcow2?socket=/run/glusterd.socket", "qemu" },
	{ "gluster+rdma://127.0.0.2/gv0/disk.qcow2", "qemu" },
	{ "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"/x\"}}",
	  "qemu" },
#endif
};

static const char *route_of(const char *file)
{
	const struct blk_driver *d = blk_find_driver_for(file);

	return d ? d->name : NULL;
}

static void test_routes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *got = route_of(routes[i].file);
		const char *want = routes[i].driver;

		if ((got == NULL) != (want == NULL) || (got && strcmp(got, want)))
			fail_msg("%s: routed to %s, want %s", routes[i].file, got ? got : "(file)",
				 want ? want : "(file)");
	}
}

/* rbd: goes to whichever driver serves Ceph (native or through QEMU), never to files. */
static void test_rbd(void **state)
{
	(void)state;
#if HAVE_NBD
	assert_non_null(route_of("rbd:rbd/image"));
	assert_non_null(route_of("rbd:pool/ns/image@snap:conf=/etc/ceph/ceph.conf"));
#endif
}

/* No prefix is claimed twice, and every declared prefix and option is well formed. */
static void test_registry(void **state)
{
	(void)state;
	for (int i = 0; blk_drivers[i]; i++) {
		const struct blk_driver *a = blk_drivers[i];

		assert_non_null(a->name);
		assert_true(a->prefixes == NULL || a->kind != BLK_DRIVER_FORMAT);
		for (int p = 0; a->prefixes && a->prefixes[p]; p++) {
			assert_true(strlen(a->prefixes[p]) > 0);
			assert_string_equal(route_of(a->prefixes[p]), a->name);
			for (int j = 0; blk_drivers[j]; j++) {
				const struct blk_driver *b = blk_drivers[j];

				for (int q = 0; b->prefixes && b->prefixes[q]; q++)
					if ((i != j || p != q) &&
					    !strcmp(a->prefixes[p], b->prefixes[q]))
						fail_msg("prefix '%s' claimed by %s and %s",
							 a->prefixes[p], a->name, b->name);
			}
		}
		for (const struct blk_opt_desc *o = a->options; o && o->name; o++)
			assert_true(strlen(o->name) > 0);
		assert_ptr_equal(blk_find_driver(a->name), a);
	}
}

static int open_error(const char *cfg, struct err *err)
{
	struct blk_node *bs = NULL;
	int r;

	err_init(err);
	r = blk_open_str(cfg, 0, &bs, err);
	if (r == 0)
		blk_close(bs);
	return r;
}

/*
 * Regression: nbds+unix:// and nbd+vsock:// once reached the file driver ("could not open
 * ... No such file"), because three prefix lists had drifted apart.
 */
static void test_nbd_schemes_open_nbd(void **state)
{
	static const char *const cfgs[] = {
		"@file=nbds+unix:///x?socket=/nonexistent/qt-route.sock@connect-timeout=2",
		"@file=nbd+unix:///x?socket=/nonexistent/qt-route.sock@connect-timeout=2",
		"@file=nbd+vsock://1:9/x@connect-timeout=2",
	};
	struct err err;

	(void)state;
	if (!HAVE_NBD)
		return;
	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
		assert_true(open_error(cfgs[i], &err) < 0);
		if (strncmp(err.msg, "nbd: ", 5) || strstr(err.msg, "could not open"))
			fail_msg("%s: %s", cfgs[i], err.msg);
	}
}

static void test_unclaimed(void **state)
{
	struct err err;

	(void)state;
	assert_int_equal(open_error("@file=foo://host/x.img", &err), -EPROTONOSUPPORT);
	assert_string_equal(err.msg, "'foo://host/x.img': no driver serves 'foo://' URLs");
	if (HAVE_NBD) {
		assert_int_equal(open_error("@file=ssh://h/x.img@helper=off", &err), -ENOTSUP);
		assert_string_equal(err.msg, "'ssh://h/x.img' needs the QEMU helper (helper=off)");
	}
}

/* The generated help lists every driver that has a summary and every key it declares. */
static void test_help(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	blk_print_config_help(f, BLK_HELP_TEXT);
	assert_int_equal(fclose(f), 0);
	for (int i = 0; blk_drivers[i]; i++) {
		const struct blk_driver *d = blk_drivers[i];
		char head[64];

		if (!d->summary)
			continue;
		snprintf(head, sizeof(head), "\n  %s (", d->name);
		if (!strstr(buf, head))
			fail_msg("driver %s missing from the help", d->name);
		for (const struct blk_opt_desc *o = d->options; o && o->name; o++) {
			char key[64];

			snprintf(key, sizeof(key), "    %s ", o->name);
			if (o->help && !strstr(buf, key))
				fail_msg("%s: key %s missing from the help", d->name, o->name);
		}
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),	  cmocka_unit_test(test_rbd),
		cmocka_unit_test(test_registry),  cmocka_unit_test(test_nbd_schemes_open_nbd),
		cmocka_unit_test(test_unclaimed), cmocka_unit_test(test_help),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
