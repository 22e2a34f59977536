/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The QEMU helper's translation of our options into a qemu-nbd command line, URL and
 * format recognition, probing with qemu-img. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"
#include "block/qemu-helper.h"
#include "util/err.h"
#include "util/opts.h"

/* The command line for @cfg (nothing is started). */
static void expect_cmd(const char *cfg, unsigned int flags, const char *want)
{
	struct qemu_helper *h = NULL;
	struct opts o;
	struct err err;
	char buf[2048];
	const char *cmd;

	opts_init(&o);
	err_init(&err);
	assert_int_equal(opts_parse_cfgstring(&o, cfg, &err), 0);
	if (qemu_helper_new(&o, flags, &h, &err) < 0)
		fail_msg("%s: %s", cfg, err.msg);
	opts_get(&o, "id"); /* the daemon's */
	if (opts_check_unused(&o, NULL, &err) < 0)
		fail_msg("%s: %s", cfg, err.msg);
	qemu_helper_describe_long(h, buf, sizeof(buf));
	cmd = strstr(buf, "qemu-nbd ");
	assert_non_null(cmd);
	if (strncmp(cmd, want, strlen(want)) || cmd[strlen(want)] != '\n')
		fail_msg("%s:\n got  %s want %s", cfg, cmd, want);
	assert_false(qemu_helper_is_read_only(h) != !!strstr(want, "--read-only"));
	qemu_helper_free(h);
	opts_release(&o);
}

static void test_translation(void **state)
{
	(void)state;
	expect_cmd("@file=/img/a.vmdk@driver=vmdk", BLK_O_RDWR,
		   "qemu-nbd --image-opts --cache=writeback --discard=unmap --allocation-depth "
		   "driver=vmdk,file.filename=/img/a.vmdk");
	/* unknown keys pass through unchanged (QEMU's names), commas are escaped, objects
	 * become --object, our cache/discard/aio/read-only modes map to qemu-nbd's */
	expect_cmd("@file=/img/x,y.luks@driver=luks@key-secret=sec0"
		   "@object=secret,id=sec0,data=abc@file.locking=off@cache=directsync"
		   "@discard=ignore@aio=threads@id=lun0",
		   0,
		   "qemu-nbd --image-opts --object=secret,id=sec0,data=abc --cache=none "
		   "--aio=threads --discard=ignore --allocation-depth --read-only "
		   "driver=luks,file.filename=/img/x,,y.luks,key-secret=sec0,file.locking=off");
	/* http(s) is read-only whatever was asked */
	expect_cmd("@file=https://example.com/d.img@driver=raw@cache=writethrough", BLK_O_RDWR,
		   "qemu-nbd --image-opts --cache=writeback --discard=unmap --allocation-depth "
		   "--read-only driver=raw,file.filename=https://example.com/d.img");
	/* QEMU's structured names instead of file= */
	expect_cmd("@driver=qcow2@file.driver=file@file.filename=/i.qcow2", BLK_O_RDWR,
		   "qemu-nbd --image-opts --cache=writeback --discard=unmap --allocation-depth "
		   "driver=qcow2,file.driver=file,file.filename=/i.qcow2");
}

static void test_errors(void **state)
{
	struct qemu_helper *h = NULL;
	struct opts o;
	struct err err;
	char path[] = "/tmp/qt-helper.XXXXXX", fmt[32];
	int fd = mkstemp(path);

	(void)state;
	opts_init(&o);
	err_init(&err);
	assert_int_equal(opts_parse_cfgstring(&o, "@driver=vmdk", &err), 0);
	assert_int_equal(qemu_helper_new(&o, 0, &h, &err), -EINVAL);
	assert_string_equal(err.msg, "no image given (option 'file')");
	opts_release(&o);

	/* probing: qemu-img's own message; a raw file is raw, a vmdk a vmdk */
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	err_init(&err);
	assert_int_equal(qemu_helper_probe(path, fmt, sizeof(fmt), &err), 0);
	assert_string_equal(fmt, "raw");
	unlink(path);
	err_init(&err);
	assert_true(qemu_helper_probe("/nonexistent/x.img", fmt, sizeof(fmt), &err) < 0);
	assert_non_null(strstr(err.msg, "Could not open '/nonexistent/x.img'"));
}

static void test_recognition(void **state)
{
	(void)state;
	assert_true(qemu_helper_knows_format("vmdk"));
	assert_true(qemu_helper_knows_format("vhdx"));
	assert_true(qemu_helper_knows_format("luks"));
	assert_false(qemu_helper_knows_format("vhdz"));
	assert_false(qemu_helper_knows_format("vmdk vhdx"));
	assert_true(qemu_helper_is_url("https://example.com/x"));
	assert_true(qemu_helper_is_url("nfs://h/e/x"));
	assert_true(qemu_helper_is_url("rbd:pool/img"));
	assert_false(qemu_helper_is_url("/srv/x.img"));
	assert_false(qemu_helper_is_url("nbd://h/x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translation),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_recognition),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
