/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Vital product data pages (SPC-5 7.7, SBC-4 6.6): 00, 80, 83, 86, B0, B1, B2. */
#include "scsi-int.h"

#include <stdio.h>
#include <string.h>

#include "block/block.h"
#include "util/compiler.h"

#define VPD_MAX 512
#define SERIAL_MAX 255
#define T10_ID_MAX 252		  /* designator length is one byte */
#define IEEE_COMPANY_LIO 0x001405 /* LIO's OUI in NAA designators */

/* Designator descriptor header (SPC-5 7.7.6.1). */
enum {
	CODESET_BINARY = 1,
	CODESET_ASCII = 2
};
enum {
	DESIG_VENDOR = 0,
	DESIG_T10 = 1,
	DESIG_NAA = 3
};

/* The unit serial, "" when none (LIO writes it after enabling the device). */
static size_t get_serial(const struct scsi_lun *lun, char *buf)
{
	buf[0] = '\0';
	if (lun->get_serial && lun->get_serial(lun->serial_opaque, buf, SERIAL_MAX + 1) < 0)
		buf[0] = '\0';
	buf[SERIAL_MAX] = '\0';
	return strlen(buf);
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * NAA IEEE Registered Extended (type 6) designator as LIO's backstores build it: the
 * company id 0x001405, then the hex digits of the unit serial (other characters skipped)
 * as nibbles from the low half of byte 3 to the end of the 16 bytes.  Same bytes, same
 * /dev/disk/by-id/wwn-0x6001405... names as kernel backstores with that serial.
 */
static void naa_6_from_serial(uint8_t d[16], const char *serial)
{
	unsigned int nib = 7; /* nibble index: byte 3, low half */

	memset(d, 0, 16);
	d[0] = (uint8_t)(0x60 | ((IEEE_COMPANY_LIO >> 20) & 0xf));
	d[1] = (uint8_t)(IEEE_COMPANY_LIO >> 12);
	d[2] = (uint8_t)(IEEE_COMPANY_LIO >> 4);
	d[3] = (uint8_t)((IEEE_COMPANY_LIO & 0xf) << 4);
	for (const char *p = serial; *p && nib < 32; p++) {
		int v = hex_val(*p);

		if (v < 0)
			continue;
		d[nib / 2] |= (uint8_t)(nib % 2 ? v : v << 4);
		nib++;
	}
}

bool scsi_lun_naa(const struct scsi_lun *lun, uint8_t naa[16])
{
	char serial[SERIAL_MAX + 1];

	if (!get_serial(lun, serial))
		return false;
	naa_6_from_serial(naa, serial);
	return true;
}

static size_t desig_hdr(uint8_t *p, uint8_t codeset, uint8_t type, size_t len)
{
	p[0] = codeset;
	p[1] = type; /* PIV 0, association: the logical unit */
	p[2] = 0;
	p[3] = (uint8_t)len;
	return 4;
}

static size_t vpd_device_id(const struct scsi_lun *lun, uint8_t *b)
{
	char serial[SERIAL_MAX + 1], id[SERIAL_MAX + 32];
	size_t slen = get_serial(lun, serial), n = 4, len;

	if (slen) {
		n += desig_hdr(b + n, CODESET_BINARY, DESIG_NAA, 16);
		naa_6_from_serial(b + n, serial);
		n += 16;
	}
	/* T10 vendor id: vendor (8, space padded) + "product:serial" + NUL, as LIO */
	id[0] = '\0';
	if (slen)
		snprintf(id, sizeof(id), "%s:%s", lun->product, serial);
	len = MIN(8 + strlen(id) + 1, (size_t)T10_ID_MAX);
	n += desig_hdr(b + n, CODESET_ASCII, DESIG_T10, len);
	memset(b + n, ' ', 8);
	memcpy(b + n, lun->vendor, strnlen(lun->vendor, 8));
	memcpy(b + n + 8, id, len - 9);
	b[n + len - 1] = 0;
	n += len;
	n += scsi_alua_port_designators(lun, b + n, VPD_MAX - n);
	if (lun->cfgstring && *lun->cfgstring) {
		len = MIN(strlen(lun->cfgstring), (size_t)(VPD_MAX - 4 - n));
		n += desig_hdr(b + n, CODESET_ASCII, DESIG_VENDOR, len);
		memcpy(b + n, lun->cfgstring, len);
		n += len;
	}
	put_be16(b + 2, (uint16_t)(n - 4));
	return n;
}

static size_t vpd_supported(const struct scsi_lun *lun, uint8_t *b)
{
	char serial[SERIAL_MAX + 1];
	size_t n = 4;

	b[n++] = VPD_SUPPORTED_PAGES;
	if (get_serial(lun, serial))
		b[n++] = VPD_UNIT_SERIAL;
	b[n++] = VPD_DEVICE_ID;
	b[n++] = VPD_EXTENDED_INQUIRY;
	b[n++] = VPD_BLOCK_LIMITS;
	b[n++] = VPD_BLOCK_DEV_CHARS;
	b[n++] = VPD_LB_PROVISIONING;
	b[3] = (uint8_t)(n - 4);
	return n;
}

static size_t vpd_serial(const struct scsi_lun *lun, uint8_t *b)
{
	char serial[SERIAL_MAX + 1];
	size_t len = get_serial(lun, serial);

	if (!len)
		return 0;
	memcpy(b + 4, serial, len + 1);
	b[3] = (uint8_t)(len + 1); /* with the NUL, as LIO */
	return 4 + len + 1;
}

/* Extended INQUIRY data (SPC-5 7.7.7). */
static size_t vpd_extended(uint8_t *b)
{
	put_be16(b + 2, 0x3c);
	/* SIMPSUP only: LIO does not order pass-through commands by task attribute, and
	 * TCM-User does not pass the attribute to us */
	b[5] = 0x01;
	b[6] = 0x01; /* V_SUP: a volatile cache (SYNCHRONIZE CACHE is meaningful) */
	b[7] = 0x01; /* LUICLR */
	return 64;
}

/* Block limits (SBC-4 6.6.4). */
static size_t vpd_block_limits(const struct scsi_lun *lun, uint8_t *b)
{
	const struct blk_limits *l = blk_get_limits(lun->bs);
	uint32_t gran = MAX(l->discard_granularity, l->request_alignment) >> lun->block_shift;
	uint32_t opt = l->opt_transfer >> lun->block_shift;

	put_be16(b + 2, 0x3c);
	b[4] = 0x01; /* WSNZ: WRITE SAME with 0 blocks is not "to the end" */
	b[5] = (uint8_t)scsi_lun_max_caw(lun);
	put_be16(b + 6, (uint16_t)(1u << scsi_lun_lbppbe(lun)));
	put_be32(b + 8, lun->max_sectors);
	if (lun->max_sectors && opt > lun->max_sectors)
		opt = lun->max_sectors;
	put_be32(b + 12, opt);
	if (scsi_lun_lbpme(lun)) {
		put_be32(b + 20, scsi_lun_max_unmap_lbas(lun));
		put_be32(b + 24, SCSI_MAX_UNMAP_DESC);
		put_be32(b + 28, gran ? gran : 1);
	}
	put_be64(b + 36, SCSI_MAX_WS_BLOCKS);
	return 64;
}

/* Block device characteristics (SBC-4 6.6.2). */
static size_t vpd_block_chars(uint8_t *b)
{
	put_be16(b + 2, 0x3c);
	put_be16(b + 4, 0x0001); /* non-rotating medium */
	return 64;
}

/* Logical block provisioning (SBC-4 6.6.6): what the node really does. */
static size_t vpd_lbp(const struct scsi_lun *lun, uint8_t *b)
{
	put_be16(b + 2, 4);
	if (scsi_lun_lbpme(lun)) {
		b[5] = 0x80 | 0x40 | 0x20; /* LBPU, LBPWS, LBPWS10 */
		if (scsi_lun_lbprz(lun))
			b[5] |= 0x04; /* LBPRZ = 001b */
		b[6] = 0x02;	      /* PROVISIONING TYPE: thin */
	}
	return 8;
}

enum scsi_sense spc_vpd(struct scsi_cmd *cmd, uint8_t page)
{
	const struct scsi_lun *lun = cmd->priv.lun;
	uint8_t b[VPD_MAX] = { 0 };
	size_t n = 0;

	switch (page) {
	case VPD_SUPPORTED_PAGES:
		n = vpd_supported(lun, b);
		break;
	case VPD_UNIT_SERIAL:
		n = vpd_serial(lun, b);
		break;
	case VPD_DEVICE_ID:
		n = vpd_device_id(lun, b);
		break;
	case VPD_EXTENDED_INQUIRY:
		n = vpd_extended(b);
		break;
	case VPD_BLOCK_LIMITS:
		n = vpd_block_limits(lun, b);
		break;
	case VPD_BLOCK_DEV_CHARS:
		n = vpd_block_chars(b);
		break;
	case VPD_LB_PROVISIONING:
		n = vpd_lbp(lun, b);
		break;
	default:
		break;
	}
	if (!n)
		return scsi_bad_cdb_field(cmd, 2, 7);
	b[1] = page; /* byte 0: peripheral qualifier 0, device type 0 */
	scsi_data_in(cmd, b, n);
	return SCSI_SENSE_OK;
}
