/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the daemon reads from sysfs and configfs, on fake trees with the kernel's formats:
 * UIO names (split at the first three slashes only), map sizes, device scans in minor
 * order, dev_size from attrib/dev_size or the info line (after "SectorSize: 512"), the
 * unit serial, actions and module parameters. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "transport/configfs.h"
#include "transport/uio.h"
#include "util/err.h"

static char root[64];

static void put(const char *rel, const char *content)
{
	char path[512], dir[512], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + strlen(root) + 1; (slash = strchr(p, '/')); p = slash + 1) {
		*slash = '\0';
		mkdir(dir, 0755);
		*slash = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static char *get(const char *rel, char *buf, size_t len)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int setup(void **state)
{
	char a[128], b[128];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/qt-kfiles-XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(a, sizeof(a), "%s/class/uio", root);
	snprintf(b, sizeof(b), "%s/dev", root);
	uio_set_roots(a, b);
	snprintf(a, sizeof(a), "%s/core", root);
	snprintf(b, sizeof(b), "%s/params", root);
	cfs_set_roots(a, b);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
	uio_set_roots(NULL, NULL);
	cfs_set_roots(NULL, NULL);
	return 0;
}

static void test_names(void **state)
{
	struct uio_dev u, copy;

	(void)state;
	assert_int_equal(uio_parse_name("tcm-user/3/disk0/qemu/@id=a@file=/img/x.raw", &u), 0);
	assert_int_equal(u.hba, 3);
	assert_string_equal(u.dev, "disk0");
	assert_string_equal(u.cfg, "qemu/@id=a@file=/img/x.raw");
	assert_string_equal(u.subtype, "qemu");
	copy = u; /* the handler config is an offset: survives copies */
	assert_string_equal(uio_handler_cfg(&copy), "@id=a@file=/img/x.raw");
	/* tcmu-runner style: a plain path after the subtype keeps its slashes */
	assert_int_equal(uio_parse_name("tcm-user/1/d/qcow//run/a.img", &u), 0);
	assert_string_equal(u.subtype, "qcow");
	assert_string_equal(uio_handler_cfg(&u), "/run/a.img");
	/* no dev_config yet */
	assert_int_equal(uio_parse_name("tcm-user/0/d", &u), 0);
	assert_string_equal(u.cfg, "");
	assert_string_equal(u.subtype, "");
	assert_string_equal(uio_handler_cfg(&u), "");
	assert_int_equal(uio_parse_name("tcm-user/0/d/qemu", &u), 0);
	assert_string_equal(u.subtype, "qemu");
	assert_string_equal(uio_handler_cfg(&u), "");
	/* not ours, or malformed */
	assert_int_equal(uio_parse_name("uio_pci_generic", &u), -EINVAL);
	assert_int_equal(uio_parse_name("tcm-user/x/d/qemu/a", &u), -EINVAL);
	assert_int_equal(uio_parse_name("tcm-user/1", &u), -EINVAL);
	assert_int_equal(uio_parse_name("tcm-user/1//qemu/a", &u), -EINVAL);
	assert_int_equal(uio_parse_name("tcm-user/99999999999/d/qemu/a", &u), -EINVAL);
}

static int collect(const struct uio_dev *u, void *opaque)
{
	char *out = opaque;

	sprintf(out + strlen(out), "%u:%s:%llu ", u->minor, u->dev,
		(unsigned long long)u->map_size);
	return 0;
}

static void test_scan(void **state)
{
	struct uio_dev u;
	struct err err;
	char seen[256] = "";

	(void)state;
	put("class/uio/uio10/name", "tcm-user/1/b/qemu/@file=/b\n");
	put("class/uio/uio10/maps/map0/size", "0x40800000\n");
	put("class/uio/uio2/name", "tcm-user/1/a/qemu/@file=/a\n");
	put("class/uio/uio2/maps/map0/size", "0x800000\n");
	put("class/uio/uio3/name", "uio_pci_generic\n");
	put("class/uio/uio3/maps/map0/size", "0x1000\n");
	assert_int_equal(uio_scan(collect, seen), 0);
	assert_string_equal(seen, "2:a:8388608 10:b:1082130432 ");
	err_init(&err);
	assert_int_equal(uio_read(3, &u, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a TCMU device"));
	assert_int_equal(uio_read(7, &u, &err), -ENOENT);
	put("class/uio/uio2/maps/map0/size", "lots\n");
	assert_int_equal(uio_read(2, &u, &err), -EINVAL);
	/* no device node: a clear error */
	assert_int_equal(uio_read(10, &u, NULL), 0);
	{
		int fd;

		assert_int_equal(uio_open(&u, &fd, &err), -ENOENT);
		assert_non_null(strstr(err.msg, "uio10"));
	}
}

static void test_configfs(void **state)
{
	char buf[256];
	uint64_t v;

	(void)state;
	put("core/user_1/d0/info",
	    "Status: ACTIVATED  Max Queue Depth: 128  SectorSize: 512  HwMaxSectors: 128\n"
	    "Config: qemu/@file=/x Size: 67108864 MaxDataAreaMB: 1024 DataPagesPerBlk: 1\n");
	put("core/user_1/d0/attrib/hw_block_size", "4096\n");
	put("core/user_1/d0/wwn/vpd_unit_serial", "T10 VPD Unit Serial Number: 1234-abcd\n");
	put("core/user_1/d0/action/block_dev", "");
	put("params/block_netlink", "");
	assert_int_equal(cfs_read_size(1, "d0", &v), 0);
	assert_int_equal(v, 67108864);
	assert_int_equal(cfs_read_u64(1, "d0", "attrib/hw_block_size", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(cfs_read_u64(1, "d0", "attrib/nope", &v), -ENOENT);
	assert_int_equal(cfs_read_serial(1, "d0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1234-abcd");
	assert_int_equal(cfs_read_serial(1, "d0", buf, 4), -ENAMETOOLONG);
	put("core/user_1/d0/wwn/vpd_unit_serial", "T10 VPD Unit Serial Number: \n");
	assert_int_equal(cfs_read_serial(1, "d0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(cfs_action(1, "d0", "block_dev", 1), 0);
	assert_string_equal(get("core/user_1/d0/action/block_dev", buf, sizeof(buf)), "1");
	assert_int_equal(cfs_action(1, "d0", "reset_ring", 1), -ENOENT); /* an old kernel */
	assert_int_equal(cfs_module_param("block_netlink", "0"), 0);
	assert_string_equal(get("params/block_netlink", buf, sizeof(buf)), "0");
	put("core/user_1/d0/attrib/dev_size", "12abc\n");
	assert_int_equal(cfs_read_u64(1, "d0", "attrib/dev_size", &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_configfs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
