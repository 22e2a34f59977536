/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Asymmetric logical unit access (SPC-5 5.16): REPORT TARGET PORT GROUPS and what INQUIRY
 * says about ALUA.  LIO passes both to a TCMU handler (its core still enforces the access
 * state of the port a command arrives through); the groups, their states and ports come
 * from the device's configfs alua/ directory, through the LUN's get_alua callback.  Only
 * implicit ALUA is offered: SET TARGET PORT GROUPS is not (the target decides, from the
 * write lock of a shared image: apply_access, docs/HA.md).
 */
#include "scsi-int.h"

#include <string.h>

#include "block/block.h"
#include "util/bytes.h"
#include "util/compiler.h"

#define RTPG_FMT_LENGTH 0x00   /* PARAMETER DATA FORMAT: length only */
#define RTPG_FMT_EXTENDED 0x01 /* with the extended header */
#define RTPG_DESC_LEN 8
#define RTPG_PORT_LEN 4
#define RTPG_MAX (8 + SCSI_ALUA_MAX_GROUPS * (RTPG_DESC_LEN + SCSI_ALUA_MAX_PORTS * RTPG_PORT_LEN))

/* VPD 0x83 designators of the port (SPC-5 7.7.6): association target port, PIV set. */
#define DESIG_ASSOC_PORT 0x10
#define DESIG_PIV 0x80
#define DESIG_REL_PORT 0x4
#define DESIG_TPG 0x5
#define CODESET_BINARY 0x1

/* The states a gateway's groups take (below), offered in every group it reports. */
#define GW_SUPPORTED \
	(SCSI_ALUA_SUP_T | SCSI_ALUA_SUP_U | SCSI_ALUA_SUP_S | SCSI_ALUA_SUP_AN | SCSI_ALUA_SUP_AO)

static uint8_t access_to_alua(enum blk_access_state st)
{
	switch (st) {
	case BLK_ACCESS_OPTIMIZED:
		return SCSI_ALUA_OPTIMIZED;
	case BLK_ACCESS_STANDBY:
		return SCSI_ALUA_STANDBY;
	case BLK_ACCESS_TRANSITIONING:
		return SCSI_ALUA_TRANSITIONING;
	case BLK_ACCESS_UNAVAILABLE:
		return SCSI_ALUA_UNAVAILABLE;
	default:
		return SCSI_ALUA_NONOPTIMIZED;
	}
}

/*
 * A LUN over a shared image (one of several gateways, docs/HA.md): the states follow the
 * image's write lock, not configfs.  Our group is optimized while we hold the lock,
 * non-optimized otherwise (standby, transitioning or unavailable as the node says); the
 * group whose tag the holder published is optimized, every other non-optimized, so every
 * gateway reports the same picture (ESXi asks one of them for all groups).  From the
 * node's cached state: no I/O here.
 */
static void apply_access(const struct scsi_lun *lun, struct scsi_alua *a)
{
	struct blk_access acc;

	/* the group we publish with the lock follows configfs (an admin or ceph-iscsi may
	 * move the port after enable); a no-op while it stays the same */
	blk_set_access_tag(lun->bs, a->has_local ? (int)a->local_group : -1);
	if (blk_get_access(lun->bs, &acc) < 0)
		return;
	for (unsigned int i = 0; i < a->ngroups; i++) {
		struct scsi_alua_group *g = &a->groups[i];

		g->supported |= GW_SUPPORTED;
		if (a->has_local && g->id == a->local_group)
			g->state = access_to_alua(acc.state);
		else if (acc.state != BLK_ACCESS_OPTIMIZED && acc.owner_tag == (int)g->id)
			g->state = SCSI_ALUA_OPTIMIZED;
		else
			g->state = SCSI_ALUA_NONOPTIMIZED;
	}
}

bool scsi_lun_alua(const struct scsi_lun *lun, struct scsi_alua *a)
{
	memset(a, 0, sizeof(*a));
	if (!lun->get_alua || lun->get_alua(lun->serial_opaque, a) < 0 || !a->ngroups) {
		memset(a, 0, sizeof(*a));
		return false;
	}
	a->ngroups = MIN(a->ngroups, (unsigned int)SCSI_ALUA_MAX_GROUPS);
	for (unsigned int i = 0; i < a->ngroups; i++)
		a->groups[i].nports = MIN(a->groups[i].nports, (uint8_t)SCSI_ALUA_MAX_PORTS);
	a->tpgs = 1; /* implicit */
	apply_access(lun, a);
	return true;
}

uint8_t scsi_lun_tpgs(const struct scsi_lun *lun)
{
	struct scsi_alua a;

	return scsi_lun_alua(lun, &a) ? (uint8_t)(a.tpgs << 4) : 0;
}

size_t scsi_alua_port_designators(const struct scsi_lun *lun, uint8_t *b, size_t room)
{
	struct scsi_alua a;
	size_t n = 0;

	if (room < 16 || !scsi_lun_alua(lun, &a) || !a.has_local)
		return 0;
	for (int i = 0; i < 2; i++) {
		b[n] = (uint8_t)(a.local_proto << 4 | CODESET_BINARY);
		b[n + 1] = DESIG_PIV | DESIG_ASSOC_PORT | (i ? DESIG_TPG : DESIG_REL_PORT);
		b[n + 2] = 0;
		b[n + 3] = 4;
		memset(b + n + 4, 0, 4);
		put_be16(b + n + 6, i ? a.local_group : a.local_port);
		n += 8;
	}
	return n;
}

enum scsi_sense spc_parse_rtpg(struct scsi_cmd *cmd)
{
	uint8_t fmt = cmd->cdb[1] >> 5;

	if (fmt != RTPG_FMT_LENGTH && fmt != RTPG_FMT_EXTENDED)
		return scsi_bad_cdb_field(cmd, 1, 7);
	cmd->priv.xfer_len = get_be32(cmd->cdb + 6);
	return SCSI_SENSE_OK;
}

static size_t put_group(uint8_t *b, const struct scsi_alua_group *g)
{
	size_t n = RTPG_DESC_LEN;

	b[0] = (uint8_t)((g->pref ? 0x80 : 0) | (g->state & 0x0f));
	b[1] = g->supported;
	put_be16(b + 2, g->id);
	b[5] = g->status;
	b[7] = g->nports;
	for (unsigned int i = 0; i < g->nports; i++, n += RTPG_PORT_LEN)
		put_be16(b + n + 2, g->ports[i]);
	return n;
}

/* SPC-5 6.37 REPORT TARGET PORT GROUPS */
enum scsi_sense spc_rtpg(struct scsi_cmd *cmd)
{
	static __thread uint8_t b[RTPG_MAX];
	bool ext = (cmd->cdb[1] >> 5) == RTPG_FMT_EXTENDED;
	struct scsi_alua a;
	size_t n = ext ? 8 : 4;

	if (!scsi_lun_alua(cmd->priv.lun, &a))
		return SCSI_SENSE_INVALID_OPCODE; /* its groups went away since the lookup */
	memset(b, 0, sizeof(b));
	if (ext) {
		b[4] = RTPG_FMT_EXTENDED << 4;
		b[5] = a.implicit_trans_secs;
	}
	for (unsigned int i = 0; i < a.ngroups; i++)
		n += put_group(b + n, &a.groups[i]);
	put_be32(b, (uint32_t)(n - 4)); /* RETURN DATA LENGTH */
	scsi_data_in(cmd, b, n);
	return SCSI_SENSE_OK;
}
