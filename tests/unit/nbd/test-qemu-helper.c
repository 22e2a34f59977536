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
#include "block/qemu/helper.h"
#include "block/qemu/probe.h"
#include "util/err.h"
#include "util/opts.h"

/* A helper for the image in @o, with file= and driver= taken as the block core takes them. */
static int new_helper(struct opts *o, unsigned int flags, struct qemu_helper **h, struct err *err)
{
	const char *file = opts_get(o, "file"), *fmt = opts_get(o, "driver");

	return qemu_helper_new(o, file, fmt, flags, h, err);
}

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
	if (new_helper(&o, flags, &h, &err) < 0)
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
		   "--read-only driver=raw,file.driver=https,file.url=https://example.com/d.img");
	/* other URLs: QEMU's filename parsing, with the format given */
	expect_cmd("@file=nfs://srv/export/d.qcow2@driver=qcow2", BLK_O_RDWR,
		   "qemu-nbd --format=qcow2 --cache=writeback --discard=unmap --allocation-depth "
		   "nfs://srv/export/d.qcow2");
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
	assert_int_equal(new_helper(&o, 0, &h, &err), -EINVAL);
	assert_string_equal(err.msg, "no image given (option 'file')");
	opts_release(&o);

	/* probing: qemu-img's own message; a raw file is raw, a vmdk a vmdk */
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	err_init(&err);
	assert_int_equal(qemu_probe_file(path, fmt, sizeof(fmt), &err), 0);
	assert_string_equal(fmt, "raw");
	unlink(path);
	err_init(&err);
	assert_true(qemu_probe_file("/nonexistent/x.img", fmt, sizeof(fmt), &err) < 0);
	assert_non_null(strstr(err.msg, "Could not open '/nonexistent/x.img'"));
}

static void test_recognition(void **state)
{
	(void)state;
	assert_true(qemu_knows_format("vmdk"));
	assert_true(qemu_knows_format("vhdx"));
	assert_true(qemu_knows_format("luks"));
	assert_false(qemu_knows_format("vhdz"));
	assert_false(qemu_knows_format("vmdk vhdx"));
	assert_true(qemu_is_url("https://example.com/x"));
	assert_true(qemu_is_url("nfs://h/e/x"));
	assert_true(qemu_is_url("rbd:pool/img"));
	assert_false(qemu_is_url("/srv/x.img"));
	assert_false(qemu_is_url("nbd://h/x"));
}

/* Image starts only QEMU knows: recognized, and never written into a probed raw image. */
struct magic {
	const char *bytes;
	size_t n, off;
	const char *fmt;
};

static const struct magic magics[] = {
	{ "KDMV\1\0\0\0", 8, 0, "vmdk" },
	{ "COWD", 4, 0, "vmdk" },
	{ "# Disk DescriptorFile\nversion=1\n", 32, 0, "vmdk" },
	{ "# x\n  version=3\r\n", 18, 0, "vmdk" },
	{ "vhdxfile", 8, 0, "vhdx" },
	{ "conectix", 8, 0, "vpc" },
	{ "QED\0", 4, 0, "qed" },
	{ "LUKS\xba\xbe\0\1", 8, 0, "luks" },
	{ "\x7f\x10\xda\xbe", 4, 0x40, "vdi" },
	{ "WithoutFreeSpace", 16, 0, "parallels" },
	{ "Bochs Virtual HD Image", 22, 0, "bochs" },
	{ "QFI\xfb\0\0\0\1", 8, 0, "qcow" },
	{ "QFI\xfb\0\0\0\3", 8, 0, "qcow2" },
};

static void test_magic(void **state)
{
	uint8_t buf[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
		const struct magic *m = &magics[i];
		const char *got;

		memset(buf, 0, sizeof(buf));
		memcpy(buf + m->off, m->bytes, m->n);
		got = qemu_probe_magic(buf, sizeof(buf));
		if (!got || strcmp(got, m->fmt))
			fail_msg("magic %zu: got %s, want %s", i, got ? got : "NULL", m->fmt);
		assert_string_equal(blk_probe_format(buf, sizeof(buf), "x"), m->fmt);
	}
	memset(buf, 0, sizeof(buf));
	assert_null(qemu_probe_magic(buf, sizeof(buf)));
	memcpy(buf, "# comment\nversion=4\n", 20);
	assert_null(qemu_probe_magic(buf, sizeof(buf)));
	assert_string_equal(blk_probe_format(buf, sizeof(buf), "x"), "raw");
}

static void test_raw_block0(void **state)
{
	char path[] = "/tmp/qt-raw.XXXXXX", cfg[64];
	struct blk_node *bs = NULL;
	uint8_t buf[512];
	struct err err;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	err_init(&err);
	snprintf(cfg, sizeof(cfg), "@file=%s", path);
	assert_int_equal(blk_open_str(cfg, BLK_O_RDWR, &bs, &err), 0);
	assert_string_equal(blk_driver_name(bs), "raw");
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
		const struct magic *m = &magics[i];

		memset(buf, 0, sizeof(buf));
		memcpy(buf + m->off, m->bytes, m->n);
		assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf), 0), -EPERM);
		assert_int_equal(blk_pwrite(bs, 512, buf, sizeof(buf), 0), 0); /* not block 0 */
	}
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf), 0), 0);
	blk_close(bs);
	/* an explicit format=raw may hold anything */
	snprintf(cfg, sizeof(cfg), "@file=%s@format=raw", path);
	assert_int_equal(blk_open_str(cfg, BLK_O_RDWR, &bs, &err), 0);
	memcpy(buf, "KDMV", 4);
	assert_int_equal(blk_pwrite(bs, 0, buf, sizeof(buf), 0), 0);
	blk_close(bs);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translation), cmocka_unit_test(test_errors),
		cmocka_unit_test(test_recognition), cmocka_unit_test(test_magic),
		cmocka_unit_test(test_raw_block0),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
