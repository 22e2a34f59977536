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

/* @t with "@D" replaced by the test's directory. */
static char dir[] = "/tmp/qt-helper-unit.XXXXXX";
static void subst(char *out, size_t len, const char *t)
{
	size_t n = 0;

	for (const char *p = t; *p && n + 1 < len; p++) {
		if (p[0] == '@' && p[1] == 'D') {
			n += (size_t)snprintf(out + n, len - n, "%s", dir);
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n < len ? n : len - 1] = '\0';
}

/* A helper for the image in @o, with file= and driver= taken as the block core takes them. */
static int new_helper(struct opts *o, unsigned int flags, struct qemu_helper **h, struct err *err)
{
	const char *file = opts_get(o, "file"), *fmt = opts_get(o, "driver");

	return qemu_helper_new(o, file, fmt, flags, h, err);
}

/* The command line for @cfg (nothing is started); "@D" in @cfg and @want is the test's
 * directory. */
static void expect_cmd(const char *cfg_t, unsigned int flags, const char *want_t)
{
	struct qemu_helper *h = NULL;
	struct opts o;
	struct err err;
	char buf[2048], cfg[1024], want[1024];
	const char *cmd;

	subst(cfg, sizeof(cfg), cfg_t);
	subst(want, sizeof(want), want_t);
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

static void touch(const char *name, const char *content)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void test_translation(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	touch("a.vmdk", "");
	touch("x,y.luks", "");
	touch("i.qcow2", "");
	touch("key", "hunter2");
	/* a local image: the helper opens it by the broker's name, the daemon in its place */
	expect_cmd("@file=@D/a.vmdk@driver=vmdk", BLK_O_RDWR,
		   "qemu-nbd --image-opts --cache=writeback --discard=unmap --allocation-depth "
		   "--description=vmdk image '@D/a.vmdk' "
		   "driver=vmdk,file.driver=file,file.filename=/qemu-tcmu/image");
	/* unknown keys pass through unchanged (QEMU's names), commas are escaped, objects
	 * become --object, our cache/discard/aio/read-only modes map to qemu-nbd's */
	expect_cmd("@file=@D/x,y.luks@driver=luks@key-secret=sec0"
		   "@object=secret,id=sec0,data=abc@file.locking=off@cache=directsync"
		   "@discard=ignore@aio=threads@id=lun0",
		   0,
		   "qemu-nbd --image-opts --object=secret,id=sec0,data=abc --cache=none "
		   "--aio=threads --discard=ignore --allocation-depth --read-only "
		   "--description=luks image '@D/x,y.luks' "
		   "driver=luks,file.driver=file,file.filename=/qemu-tcmu/image,"
		   "key-secret=sec0,file.locking=off");
	/* a secret's file is read by the daemon and handed over in a pipe */
	expect_cmd("@file=@D/x,y.luks@driver=luks@key-secret=sec0"
		   "@object=secret,id=sec0,file=@D/key,format=raw",
		   BLK_O_RDWR,
		   "qemu-nbd --image-opts --object=secret,id=sec0,file=/dev/fd/4,format=raw "
		   "--cache=writeback --discard=unmap --allocation-depth "
		   "--description=luks image '@D/x,y.luks' "
		   "driver=luks,file.driver=file,file.filename=/qemu-tcmu/image,"
		   "key-secret=sec0");
	/* http(s) is read-only whatever was asked */
	expect_cmd("@file=https://example.com/d.img@driver=raw@cache=writethrough", BLK_O_RDWR,
		   "qemu-nbd --image-opts --cache=writeback --discard=unmap --allocation-depth "
		   "--read-only driver=raw,file.driver=https,file.url=https://example.com/d.img");
	/* other URLs: QEMU's filename parsing, with the format given */
	expect_cmd("@file=nfs://srv/export/d.qcow2@driver=qcow2", BLK_O_RDWR,
		   "qemu-nbd --format=qcow2 --cache=writeback --discard=unmap --allocation-depth "
		   "nfs://srv/export/d.qcow2");
	/* network protocols' secrets from files too */
	expect_cmd("@driver=raw@file.driver=iscsi@file.portal=h@file.target=t@file.lun=1"
		   "@file.password-secret=s@object=secret,id=s,file=@D/key",
		   BLK_O_RDWR,
		   "qemu-nbd --image-opts --object=secret,id=s,file=/dev/fd/4 --cache=writeback "
		   "--discard=unmap --allocation-depth driver=raw,file.driver=iscsi,"
		   "file.portal=h,file.target=t,file.lun=1,file.password-secret=s");
	/* QEMU's structured names instead of file= */
	expect_cmd("@driver=qcow2@file.driver=file@file.filename=@D/i.qcow2", BLK_O_RDWR,
		   "qemu-nbd --image-opts --cache=writeback --discard=unmap --allocation-depth "
		   "--description=qcow2 image '@D/i.qcow2' "
		   "driver=qcow2,file.driver=file,file.filename=/qemu-tcmu/image");
}

static void test_errors(void **state)
{
	struct qemu_helper *h = NULL;
	struct opts o;
	struct err err;
	char path[] = "/tmp/qt-helper.XXXXXX", fmt[32], cfg[256];
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
	assert_int_equal(qemu_probe_path(path, fmt, sizeof(fmt), &err), 0);
	assert_string_equal(fmt, "raw");
	unlink(path);
	err_init(&err);
	assert_true(qemu_probe_path("/nonexistent/x.img", fmt, sizeof(fmt), &err) < 0);
	assert_non_null(strstr(err.msg, "could not open '/nonexistent/x.img'"));
	/* a local image we cannot open ourselves: our message, naming it */
	opts_init(&o);
	err_init(&err);
	snprintf(cfg, sizeof(cfg), "@file=%s/none.vmdk@driver=vmdk", dir);
	assert_int_equal(opts_parse_cfgstring(&o, cfg, &err), 0);
	assert_int_equal(new_helper(&o, 0, &h, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "could not open '"));
	opts_release(&o);
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
	/* helpers that keep our uid/gid: their identity on the server is the process's */
	assert_true(qemu_needs_identity("gluster://h/v/x", NULL));
	assert_true(qemu_needs_identity("gluster+tcp://h/v/x", NULL));
	assert_true(qemu_needs_identity("nfs://h/e/x", NULL));
	assert_true(qemu_needs_identity("ssh://h/x", NULL));
	assert_true(qemu_needs_identity("rbd:pool/img", NULL));
	assert_true(qemu_needs_identity(NULL, "rbd"));
	assert_false(qemu_needs_identity("rbdx:pool/img", NULL));
	assert_false(qemu_needs_identity("https://h/x", NULL));
	assert_false(qemu_needs_identity("iscsi://h/iqn/0", NULL));
	assert_false(qemu_needs_identity(NULL, "nbd"));
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

	const char *files[] = { "a.vmdk", "x,y.luks", "i.qcow2", "key" };
	char path[256];
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
	return r;
}
