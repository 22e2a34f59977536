/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the daemon reads from sysfs and configfs, on fake trees with the kernel's formats:
 * UIO names (split at the first three slashes only), map sizes, device scans in minor
 * order, dev_size from attrib/dev_size or the info line (after "SectorSize: 512"), the
 * unit serial, actions and module parameters, ALUA groups and their ports; the one way to
 * point them at a test tree. */
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

#include "scsi/scsi.h"
#include "transport/alua.h"
#include "transport/configfs.h"
#include "transport/uio.h"
#include "util/err.h"
#include "util/sysfile.h"

/* The fake tree mirrors the real one under root (sysfile_set_root). */
#define UIO "sys/class/uio/"
#define CORE "sys/kernel/config/target/core/"
#define PARAMS "sys/module/target_core_user/parameters/"

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
	(void)state;
	snprintf(root, sizeof(root), "/tmp/qt-kfiles-XXXXXX");
	assert_non_null(mkdtemp(root));
	sysfile_set_root(root);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	assert_int_equal(system(cmd), 0);
	sysfile_set_root(NULL);
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
	put(UIO "uio10/name", "tcm-user/1/b/qemu/@file=/b\n");
	put(UIO "uio10/maps/map0/size", "0x40800000\n");
	put(UIO "uio2/name", "tcm-user/1/a/qemu/@file=/a\n");
	put(UIO "uio2/maps/map0/size", "0x800000\n");
	put(UIO "uio3/name", "uio_pci_generic\n");
	put(UIO "uio3/maps/map0/size", "0x1000\n");
	assert_int_equal(uio_scan(collect, seen), 0);
	assert_string_equal(seen, "2:a:8388608 10:b:1082130432 ");
	err_init(&err);
	assert_int_equal(uio_read(3, &u, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a TCMU device"));
	assert_int_equal(uio_read(7, &u, &err), -ENOENT);
	put(UIO "uio2/maps/map0/size", "lots\n");
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
	put(CORE "user_1/d0/info",
	    "Status: ACTIVATED  Max Queue Depth: 128  SectorSize: 512  HwMaxSectors: 128\n"
	    "Config: qemu/@file=/x Size: 67108864 MaxDataAreaMB: 1024 DataPagesPerBlk: 1\n");
	put(CORE "user_1/d0/attrib/hw_block_size", "4096\n");
	put(CORE "user_1/d0/wwn/vpd_unit_serial", "T10 VPD Unit Serial Number: 1234-abcd\n");
	put(CORE "user_1/d0/action/block_dev", "");
	put(PARAMS "block_netlink", "");
	assert_int_equal(cfs_read_size(1, "d0", &v), 0);
	assert_int_equal(v, 67108864);
	assert_int_equal(cfs_read_u64(1, "d0", "attrib/hw_block_size", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(cfs_read_u64(1, "d0", "attrib/nope", &v), -ENOENT);
	assert_int_equal(cfs_read_serial(1, "d0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1234-abcd");
	assert_int_equal(cfs_read_serial(1, "d0", buf, 4), -ENAMETOOLONG);
	put(CORE "user_1/d0/wwn/vpd_unit_serial", "T10 VPD Unit Serial Number: \n");
	assert_int_equal(cfs_read_serial(1, "d0", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(cfs_action(1, "d0", "block_dev", 1), 0);
	assert_string_equal(get(CORE "user_1/d0/action/block_dev", buf, sizeof(buf)), "1");
	assert_int_equal(cfs_action(1, "d0", "reset_ring", 1), -ENOENT); /* an old kernel */
	assert_int_equal(cfs_module_param("block_netlink", "0"), 0);
	assert_string_equal(get(PARAMS "block_netlink", buf, sizeof(buf)), "0");
	put(CORE "user_1/d0/attrib/dev_size", "12abc\n");
	assert_int_equal(cfs_read_u64(1, "d0", "attrib/dev_size", &v), -EINVAL);
}

/* One way to point everything at a test tree: sysfile_set_root() for every kernel path,
 * $QEMU_TCMU_CONFIGFS (the user-facing knob) for configfs, the daemon's reads included. */
static void test_roots(void **state)
{
	char buf[256], want[256], cfs[128];
	uint64_t v;

	(void)state;
	assert_int_equal(sysfile_path(buf, sizeof(buf), "/sys/class/uio/uio%u/name", 1), 0);
	snprintf(want, sizeof(want), "%s/sys/class/uio/uio1/name", root);
	assert_string_equal(buf, want);
	assert_int_equal(sysfile_path(buf, sizeof(buf), SYSFILE_CONFIGFS "/core"), 0);
	snprintf(want, sizeof(want), "%s/sys/kernel/config/target/core", root);
	assert_string_equal(buf, want);

	snprintf(cfs, sizeof(cfs), "%s/cfs", root);
	assert_int_equal(setenv("QEMU_TCMU_CONFIGFS", cfs, 1), 0);
	assert_int_equal(sysfile_path(buf, sizeof(buf), SYSFILE_CONFIGFS), 0);
	assert_string_equal(buf, cfs);
	assert_int_equal(sysfile_path(buf, sizeof(buf), SYSFILE_CONFIGFS "/core/user_2"), 0);
	snprintf(want, sizeof(want), "%s/core/user_2", cfs);
	assert_string_equal(buf, want);
	/* only configfs moves with the knob; a longer name is not configfs */
	assert_int_equal(sysfile_path(buf, sizeof(buf), SYSFILE_CONFIGFS "s"), 0);
	snprintf(want, sizeof(want), "%s/sys/kernel/config/targets", root);
	assert_string_equal(buf, want);
	assert_int_equal(sysfile_path(buf, sizeof(buf), "/dev/uio0"), 0);
	snprintf(want, sizeof(want), "%s/dev/uio0", root);
	assert_string_equal(buf, want);
	put("cfs/core/user_2/d1/attrib/hw_block_size", "4096\n");
	assert_int_equal(cfs_read_u64(2, "d1", "attrib/hw_block_size", &v), 0);
	assert_int_equal(v, 4096);
	/* empty: not set */
	assert_int_equal(setenv("QEMU_TCMU_CONFIGFS", "", 1), 0);
	assert_int_equal(cfs_read_u64(2, "d1", "attrib/hw_block_size", &v), -ENOENT);
	assert_int_equal(unsetenv("QEMU_TCMU_CONFIGFS"), 0);

	sysfile_set_root(NULL);
	assert_int_equal(sysfile_path(buf, sizeof(buf), "/sys/class/uio"), 0);
	assert_string_equal(buf, "/sys/class/uio");
	assert_int_equal(sysfile_path(buf, 8, "/sys/class/uio"), -ENAMETOOLONG);
}

/* One ALUA group of device gw0 as LIO lays it out (group files + the ports it names). */
static void put_group(const char *name, const char *id, const char *state, const char *members)
{
	static const char *const sup[] = { "transitioning",   "offline", "lba_dependent",
					   "unavailable",     "standby", "active_nonoptimized",
					   "active_optimized" };
	char rel[256];

	for (size_t i = 0; i < sizeof(sup) / sizeof(sup[0]); i++) {
		snprintf(rel, sizeof(rel), CORE "user_1/gw0/alua/%s/alua_support_%s", name, sup[i]);
		put(rel, i == 0 || i >= 5 ? "1\n" : "0\n");
	}
	snprintf(rel, sizeof(rel), CORE "user_1/gw0/alua/%s/tg_pt_gp_id", name);
	put(rel, id);
	snprintf(rel, sizeof(rel), CORE "user_1/gw0/alua/%s/alua_access_state", name);
	put(rel, state);
	snprintf(rel, sizeof(rel), CORE "user_1/gw0/alua/%s/alua_access_status", name);
	put(rel, "Altered by Implicit ALUA\n");
	snprintf(rel, sizeof(rel), CORE "user_1/gw0/alua/%s/preferred", name);
	put(rel, "0\n");
	snprintf(rel, sizeof(rel), CORE "user_1/gw0/alua/%s/implicit_trans_secs", name);
	put(rel, "45\n");
	snprintf(rel, sizeof(rel), CORE "user_1/gw0/alua/%s/members", name);
	put(rel, members);
}

/* ceph-iscsi's layout: "ao" (ours: enabled tpgt_1) and "ano2" (the other gateway's port
 * in a disabled tpgt_2), the default group left out. */
static void test_alua(void **state)
{
	struct scsi_alua a;

	(void)state;
	assert_int_equal(alua_read(1, "gw0", &a), -ENOENT); /* no alua/ at all */
	put_group("default_tg_pt_gp", "0\n", "0\n", "");
	assert_int_equal(alua_read(1, "gw0", &a), -ENOENT);
	put_group("ano2", "2\n", "1\n", "iSCSI/iqn.2003-01.org.x:gw/tpgt_2/lun_0\n");
	put_group("ao", "1\n", "0\n", "iSCSI/iqn.2003-01.org.x:gw/tpgt_1/lun_0\n");
	put("sys/kernel/config/target/iscsi/iqn.2003-01.org.x:gw/tpgt_1/enable", "1\n");
	put("sys/kernel/config/target/iscsi/iqn.2003-01.org.x:gw/tpgt_2/enable", "0\n");
	put("sys/kernel/config/target/iscsi/iqn.2003-01.org.x:gw/tpgt_1/lun/lun_0/statistics/"
	    "scsi_port/indx",
	    "7\n");
	put("sys/kernel/config/target/iscsi/iqn.2003-01.org.x:gw/tpgt_2/lun/lun_0/statistics/"
	    "scsi_port/indx",
	    "9\n");
	assert_int_equal(alua_read(1, "gw0", &a), 0);
	assert_int_equal(a.tpgs, 1);
	assert_int_equal(a.ngroups, 2);
	assert_int_equal(a.implicit_trans_secs, 45);
	assert_int_equal(a.groups[0].id, 1); /* sorted by id */
	assert_int_equal(a.groups[0].state, SCSI_ALUA_OPTIMIZED);
	assert_int_equal(a.groups[0].supported,
			 SCSI_ALUA_SUP_T | SCSI_ALUA_SUP_AN | SCSI_ALUA_SUP_AO);
	assert_int_equal(a.groups[0].status, 2);
	assert_int_equal(a.groups[0].nports, 1);
	assert_int_equal(a.groups[0].ports[0], 7);
	assert_int_equal(a.groups[1].id, 2);
	assert_int_equal(a.groups[1].state, SCSI_ALUA_NONOPTIMIZED);
	assert_int_equal(a.groups[1].ports[0], 9);
	/* the enabled port is the device's own */
	assert_true(a.has_local);
	assert_int_equal(a.local_port, 7);
	assert_int_equal(a.local_group, 1);
	assert_int_equal(a.local_proto, 5);
	/* a member naming a path outside the fabric tree is skipped */
	put_group("bad", "3\n", "1\n", "iSCSI/../../etc/tpgt_1/lun_0\nnonsense\n");
	assert_int_equal(alua_read(1, "gw0", &a), 0);
	assert_int_equal(a.ngroups, 3);
	assert_int_equal(a.groups[2].nports, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(test_configfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alua, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
