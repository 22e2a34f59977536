/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A TCMU device's ALUA target port groups, read from LIO's configfs
 * (core/user_<hba>/<dev>/alua/<group>/: tg_pt_gp_id, alua_access_state, the
 * alua_support_* flags, alua_access_status, preferred, implicit_trans_secs, members) and
 * the fabric ports its members name (<fabric>/<wwn>/tpgt_N/lun/lun_M/statistics/
 * scsi_port/indx: the relative target port identifier; tpgt_N/enable).
 *
 * default_tg_pt_gp is left out: every LUN is in it until the admin sets up ALUA groups,
 * and a device with nothing else reports no ALUA (TPGS 0), as tcmu-runner does.  The
 * first enabled port found is the device's own (TCMU does not say which port a command
 * came through; gateways enable one local port group per device, ceph-iscsi's layout).
 * Reads a few small files: callers may do it per RTPG/INQUIRY.
 */
#ifndef QT_TRANSPORT_ALUA_H
#define QT_TRANSPORT_ALUA_H

struct scsi_alua;

/* 0, or -ENOENT when the device has no groups but the default; -errno otherwise. */
int alua_read(unsigned int hba, const char *dev, struct scsi_alua *out);

#endif
