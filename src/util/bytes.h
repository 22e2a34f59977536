/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fields at any alignment: big-endian (SCSI CDBs and parameter data, qcow2 metadata),
 * little-endian (other formats' magics) and native (the TCMU ring, shared with the
 * kernel).  memcpy keeps unaligned access defined; compilers turn each into one load or
 * store (with a byte swap where needed).
 */
#ifndef QT_UTIL_BYTES_H
#define QT_UTIL_BYTES_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t get_ne16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t get_ne32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t get_ne64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void put_ne32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void put_ne64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t get_be16(const uint8_t *p)
{
	return be16toh(get_ne16(p));
}

static inline uint32_t get_be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return be32toh(get_ne32(p));
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return be64toh(get_ne64(p));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return le32toh(get_ne32(p));
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_be24(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 16);
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	put_ne32(p, htobe32(v));
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_ne64(p, htobe64(v));
}

#endif
