/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A TCMU device's ALUA target port groups from LIO's configfs (see alua.h). */
#include "alua.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scsi/scsi.h"
#include "util/sysfile.h"

#define GROUP_DIR SYSFILE_CONFIGFS "/core/user_%u/%s/alua"

static int read_num(const char *dir, const char *name, uint64_t *out)
{
	char path[768], buf[64], *end;
	int r;

	r = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (r < 0 || (size_t)r >= sizeof(path))
		return -ENAMETOOLONG;
	r = sysfile_read_line(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return end == buf || *end || errno ? -EINVAL : 0;
}

static bool read_flag(const char *dir, const char *name)
{
	uint64_t v;

	return read_num(dir, name, &v) == 0 && v == 1;
}

static uint8_t supported_states(const char *dir)
{
	static const struct {
		const char *file;
		uint8_t bit;
	} bits[] = {
		{ "alua_support_transitioning", SCSI_ALUA_SUP_T },
		{ "alua_support_offline", SCSI_ALUA_SUP_O },
		{ "alua_support_lba_dependent", SCSI_ALUA_SUP_LBD },
		{ "alua_support_unavailable", SCSI_ALUA_SUP_U },
		{ "alua_support_standby", SCSI_ALUA_SUP_S },
		{ "alua_support_active_nonoptimized", SCSI_ALUA_SUP_AN },
		{ "alua_support_active_optimized", SCSI_ALUA_SUP_AO },
	};
	uint8_t sup = 0;

	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (read_flag(dir, bits[i].file))
			sup |= bits[i].bit;
	return sup;
}

static uint8_t access_status(const char *dir)
{
	char path[768], buf[64];

	snprintf(path, sizeof(path), "%s/alua_access_status", dir);
	if (sysfile_read_line(path, buf, sizeof(buf)) < 0)
		return 0;
	if (strstr(buf, "Explicit"))
		return 1;
	return strstr(buf, "Implicit") ? 2 : 0;
}

/* SPC-5 protocol identifier of a fabric as LIO names it in "members" */
static uint8_t fabric_proto(const char *fabric)
{
	if (!strcasecmp(fabric, "iSCSI"))
		return 0x5;
	if (!strcasecmp(fabric, "loopback")) /* tcm_loop emulates SAS */
		return 0x6;
	if (!strncasecmp(fabric, "srpt", 4))
		return 0x4;
	if (!strcasecmp(fabric, "fc") || !strcasecmp(fabric, "qla2xxx"))
		return 0x0;
	return 0xf; /* no specific protocol */
}

/*
 * One "members" line: "<fabric>/<wwn>/tpgt_<tag>/lun_<n>".  Its relative port id is the
 * LUN's statistics/scsi_port/indx; a port is enabled unless its tpgt's enable says 0
 * (tcm_loop has no enable).
 */
static int read_member(const char *line, uint16_t *port, bool *enabled, uint8_t *proto)
{
	char fabric[64], wwn[256], tpgt[32], lun[32], lower[64], path[768], buf[16];
	uint64_t v;
	size_t i;

	if (sscanf(line, "%63[^/]/%255[^/]/%31[^/]/%31s", fabric, wwn, tpgt, lun) != 4 ||
	    strncmp(tpgt, "tpgt_", 5) || strncmp(lun, "lun_", 4) || strstr(wwn, ".."))
		return -EINVAL;
	for (i = 0; fabric[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)tolower((unsigned char)fabric[i]);
	lower[i] = '\0';
	if (sysfile_path(path, sizeof(path), SYSFILE_CONFIGFS "/%s/%s/%s/lun/%s", lower, wwn, tpgt,
			 lun) < 0 ||
	    read_num(path, "statistics/scsi_port/indx", &v) < 0 || v > UINT16_MAX)
		return -ENOENT;
	*port = (uint16_t)v;
	if (sysfile_path(path, sizeof(path), SYSFILE_CONFIGFS "/%s/%s/%s/enable", lower, wwn,
			 tpgt) < 0)
		return -ENAMETOOLONG;
	*enabled = sysfile_read_line(path, buf, sizeof(buf)) < 0 || strcmp(buf, "0");
	*proto = fabric_proto(fabric);
	return 0;
}

static void read_members(const char *dir, struct scsi_alua_group *g, struct scsi_alua *a)
{
	char path[768], buf[4096], *save = NULL;

	snprintf(path, sizeof(path), "%s/members", dir);
	if (sysfile_read(path, buf, sizeof(buf)) < 0)
		return;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		uint16_t port;
		bool enabled;
		uint8_t proto;

		if (g->nports >= SCSI_ALUA_MAX_PORTS ||
		    read_member(line, &port, &enabled, &proto) < 0)
			continue;
		g->ports[g->nports++] = port;
		if (enabled && !a->has_local) {
			a->has_local = true;
			a->local_port = port;
			a->local_group = g->id;
			a->local_proto = proto;
		}
	}
}

static int read_group(const char *dir, struct scsi_alua_group *g, struct scsi_alua *a)
{
	uint64_t id, state, secs;

	if (read_num(dir, "tg_pt_gp_id", &id) < 0 || id > UINT16_MAX ||
	    read_num(dir, "alua_access_state", &state) < 0 || state > 0xf)
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	g->id = (uint16_t)id;
	g->state = (uint8_t)state;
	g->supported = supported_states(dir);
	g->status = access_status(dir);
	g->pref = read_flag(dir, "preferred");
	if (read_num(dir, "implicit_trans_secs", &secs) == 0)
		a->implicit_trans_secs = (uint8_t)(secs > 255 ? 255 : secs);
	read_members(dir, g, a);
	return 0;
}

static int by_id(const void *x, const void *y)
{
	const struct scsi_alua_group *a = x, *b = y;

	return (int)a->id - (int)b->id;
}

int alua_read(unsigned int hba, const char *dev, struct scsi_alua *a)
{
	char dir[512], gdir[768];
	struct dirent *de;
	DIR *d;
	int r = sysfile_path(dir, sizeof(dir), GROUP_DIR, hba, dev);

	memset(a, 0, sizeof(*a));
	if (r < 0)
		return r;
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && a->ngroups < SCSI_ALUA_MAX_GROUPS) {
		/* the default group is every LUN's until the admin sets up ALUA */
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "default_tg_pt_gp"))
			continue;
		snprintf(gdir, sizeof(gdir), "%s/%s", dir, de->d_name);
		if (read_group(gdir, &a->groups[a->ngroups], a) == 0)
			a->ngroups++;
	}
	closedir(d);
	qsort(a->groups, a->ngroups, sizeof(a->groups[0]), by_id);
	a->tpgs = a->ngroups ? 1 : 0;
	return a->ngroups ? 0 : -ENOENT;
}
