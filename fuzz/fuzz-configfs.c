/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: the sysfs and configfs files the daemon reads, with the input as their
 * contents, in a fake tree (sysfile_set_root) inside the sandbox (sandbox.h: nothing is
 * opened outside it, not even for reading):
 *  - /sys/class/uio/uio0/{name,maps/map0/size}: uio_scan -> uio_read -> uio_parse_name;
 *  - the device's configfs attributes as devices.c reads them: attrib/dev_size (else the
 *    info file's "Size:"), hw_block_size, hw_max_sectors, hw_queue_depth,
 *    wwn/vpd_unit_serial (cfs_read_u64, cfs_read_size, cfs_read_serial);
 *  - its ALUA groups (alua_read: two groups and default_tg_pt_gp, their attributes and
 *    members, the fabric ports the members name).
 * Then what the values feed: a SCSI LUN over a 1 MiB memory node with that block size,
 * capacity, transfer limit, serial and ALUA groups, asked INQUIRY (standard, VPD 0x00,
 * 0x80, 0x83, 0xb0), REPORT TARGET PORT GROUPS (both formats) and READ CAPACITY(16).
 *
 * Input: records [file id][length: 2 bytes, little endian][contents]; ids are the rows
 * of files[] (a file without a record does not exist; the last record of an id wins).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "sandbox.h"
#include "scsi/scsi.h"
#include "transport/alua.h"
#include "transport/configfs.h"
#include "transport/uio.h"
#include "util/aio.h"
#include "util/err.h"
#include "util/log.h"
#include "util/sysfile.h"

#define CFS "/sys/kernel/config/target"
#define DEV "%s" CFS "/core/user_%u/%s/"
#define ISCSI CFS "/iscsi/iqn.2003-01.org.linux-iscsi.h:t/tpgt_1"
#define LOOP CFS "/loopback/naa.5001405abcdef012/tpgt_1"
#define NODE_SIZE (1u << 20)
#define MAX_FILE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The files an input may give, by id; device files are relative to the device's dir. */
static const struct {
	bool dev;
	const char *path;
} files[] = {
	{ false, "/sys/class/uio/uio0/name" },
	{ false, "/sys/class/uio/uio0/maps/map0/size" },
	{ true, "attrib/dev_size" },
	{ true, "attrib/hw_block_size" },
	{ true, "attrib/hw_max_sectors" },
	{ true, "attrib/hw_queue_depth" },
	{ true, "info" },
	{ true, "wwn/vpd_unit_serial" },
	{ true, "alua/ao/tg_pt_gp_id" },
	{ true, "alua/ao/alua_access_state" },
	{ true, "alua/ao/alua_support_*" }, /* every alua_support_ file of the group */
	{ true, "alua/ao/alua_access_status" },
	{ true, "alua/ao/preferred" },
	{ true, "alua/ao/implicit_trans_secs" },
	{ true, "alua/ao/members" },
	{ true, "alua/standby/tg_pt_gp_id" },
	{ true, "alua/standby/alua_access_state" },
	{ true, "alua/standby/members" },
	{ false, ISCSI "/lun/lun_0/statistics/scsi_port/indx" },
	{ false, ISCSI "/enable" },
	{ false, LOOP "/lun/lun_0/statistics/scsi_port/indx" },
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static const char *const support_files[] = {
	"alua_support_transitioning",	 "alua_support_offline", "alua_support_lba_dependent",
	"alua_support_unavailable",	 "alua_support_standby", "alua_support_active_nonoptimized",
	"alua_support_active_optimized",
};

static const char *root;
static struct aio_ctx *ctx;
static struct blk_node *node;
/* this input's files */
static const uint8_t *content[NFILES];
static size_t content_len[NFILES];

struct dev_ref {
	unsigned int hba;
	const char *dev;
};

static void put(const char *path, const uint8_t *d, size_t len)
{
	char dir[4096], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	sandbox_mkdir_p(dir);
	sandbox_write(path, d, len);
}

/* The device's files, once its name is known (the harness's writes: outside the guard). */
static void put_device_files(unsigned int hba, const char *dev)
{
	char p[4096];

	sandbox_leave();
	/* the default group exists on every device, and is skipped */
	snprintf(p, sizeof(p), DEV "alua/default_tg_pt_gp/tg_pt_gp_id", root, hba, dev);
	put(p, (const uint8_t *)"0\n", 2);
	for (size_t i = 0; i < NFILES; i++) {
		if (!files[i].dev || !content[i])
			continue;
		if (!strstr(files[i].path, "*")) {
			snprintf(p, sizeof(p), DEV "%s", root, hba, dev, files[i].path);
			put(p, content[i], content_len[i]);
			continue;
		}
		for (size_t k = 0; k < sizeof(support_files) / sizeof(support_files[0]); k++) {
			snprintf(p, sizeof(p), DEV "alua/ao/%s", root, hba, dev, support_files[k]);
			put(p, content[i], content_len[i]);
		}
	}
	sandbox_enter(NULL, SANDBOX_READS);
}

static int get_serial(void *opaque, char *buf, size_t len)
{
	const struct dev_ref *d = opaque;

	return cfs_read_serial(d->hba, d->dev, buf, len);
}

static int get_alua(void *opaque, struct scsi_alua *out)
{
	const struct dev_ref *d = opaque;

	return alua_read(d->hba, d->dev, out);
}

static void done(struct scsi_cmd *cmd)
{
	*(bool *)cmd->opaque = true;
}

static void run_cmd(struct scsi_lun *lun, const uint8_t *cdb, unsigned int cdb_len)
{
	static uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct scsi_cmd c = { .cdb = cdb, .cdb_len = (uint16_t)cdb_len, .iov = &iov, .iovcnt = 1 };
	bool finished = false;

	c.done = done;
	c.opaque = &finished;
	scsi_lun_submit(lun, &c);
	while (!finished)
		aio_poll(ctx, true);
	if (c.data_in_len > sizeof(buf) ||
	    (c.status != SCSI_STATUS_GOOD && c.status != SCSI_STATUS_CHECK_CONDITION))
		abort();
}

static void serve(const struct uio_dev *u, uint64_t size, uint64_t bsz, uint64_t max_sectors)
{
	static const uint8_t cdbs[][16] = {
		{ 0x12, 0, 0, 0, 255, 0 },		       /* INQUIRY */
		{ 0x12, 1, 0x00, 0, 255, 0 },		       /* VPD pages */
		{ 0x12, 1, 0x80, 0, 255, 0 },		       /* unit serial */
		{ 0x12, 1, 0x83, 1, 0, 0 },		       /* device identification */
		{ 0x12, 1, 0xb0, 0, 255, 0 },		       /* block limits */
		{ 0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0 }, /* RTPG, length format */
		{ 0xa3, 0x2a, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0 }, /* RTPG, extended */
		{ 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0 }, /* READ CAPACITY(16) */
	};
	struct dev_ref ref = { u->hba, u->dev };
	struct scsi_lun_params p = {
		.block_size = (uint32_t)bsz,
		.size = size,
		.max_sectors = (uint32_t)max_sectors,
		.cfgstring = u->cfg,
		.get_serial = get_serial,
		.get_alua = get_alua,
		.serial_opaque = &ref,
	};
	struct scsi_lun *lun;
	struct err err;

	if (size > NODE_SIZE) /* devices.c refuses a dev_size past the image */
		return;
	err_init(&err);
	if (scsi_lun_new(node, &p, ctx, &lun, &err) < 0)
		return;
	for (size_t i = 0; i < sizeof(cdbs) / sizeof(cdbs[0]); i++)
		run_cmd(lun, cdbs[i], cdbs[i][0] == 0x12 ? 6 : cdbs[i][0] == 0x9e ? 16 : 12);
	scsi_lun_free(lun);
}

static uint64_t attr_or(const struct uio_dev *u, const char *rel, uint64_t def)
{
	uint64_t v;

	return cfs_read_u64(u->hba, u->dev, rel, &v) == 0 && v ? v : def;
}

/* devices_open()'s reads, for one device uio_scan found. */
static int on_device(const struct uio_dev *u, void *opaque)
{
	struct scsi_alua a;
	char serial[256];
	uint64_t size = 0;

	(void)opaque;
	if (u->handler_off > strlen(u->cfg) || !u->map_size)
		abort();
	put_device_files(u->hba, u->dev);
	if (cfs_read_u64(u->hba, u->dev, "attrib/dev_size", &size) < 0 &&
	    cfs_read_size(u->hba, u->dev, &size) < 0)
		return 0;
	attr_or(u, "attrib/hw_queue_depth", 128);
	if (cfs_read_serial(u->hba, u->dev, serial, sizeof(serial)) == 0 &&
	    strlen(serial) >= sizeof(serial))
		abort();
	alua_read(u->hba, u->dev, &a);
	if (a.ngroups > SCSI_ALUA_MAX_GROUPS)
		abort();
	serve(u, size, attr_or(u, "attrib/hw_block_size", 512),
	      attr_or(u, "attrib/hw_max_sectors", 128));
	return 0;
}

static void setup(void)
{
	struct err err;

	log_set_level((enum log_level)(LOG_LVL_ERR - 1));
	unsetenv("QEMU_TCMU_CONFIGFS");
	root = sandbox_dir("configfs");
	sysfile_set_root(root);
	ctx = aio_ctx_new();
	err_init(&err);
	if (!ctx || blk_open_str("@driver=memory@size=1M", BLK_O_RDWR, &node, &err) < 0) {
		fprintf(stderr, "fuzz-configfs: setup: %s\n", err.msg);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char p[4096];
	size_t pos = 0;

	if (!root)
		setup();
	memset(content, 0, sizeof(content));
	while (pos + 3 <= size) {
		size_t id = data[pos], len = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8;

		pos += 3;
		len = len < size - pos ? len : size - pos;
		if (id < NFILES && len <= MAX_FILE) {
			content[id] = data + pos;
			content_len[id] = len;
		}
		pos += len;
	}
	snprintf(p, sizeof(p), "%s/sys", root);
	sandbox_rm_rf(p);
	sandbox_mkdir_p(p);
	for (size_t i = 0; i < NFILES; i++) {
		if (files[i].dev || !content[i])
			continue;
		snprintf(p, sizeof(p), "%s%s", root, files[i].path);
		put(p, content[i], content_len[i]);
	}
	sandbox_enter(NULL, SANDBOX_READS);
	uio_scan(on_device, NULL);
	sandbox_leave();
	return 0;
}
