/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: config strings, every form we take, and every driver's keys.
 *  1. the string is parsed as the daemon (cfgstr_parse, subtype qemu: "@key=value@..." or a
 *     plain path; subtype rbd: tcmu-runner's "pool/image[@snap][;key=value]"), as
 *     blk_open_str() does (opts_parse_cfgstring) or as qemu-tcmu-io's image options
 *     (opts_parse_kv, "k=v,k=v" with ",," escapes and an implied file=);
 *  2. every value goes through the typed getters (size, bool, number, enum, string);
 *  3. the drivers' own parsers that need no server: rbd names and keys (rbd_spec_parse),
 *     nbd URIs and server keys (nbdc_parse), the registry's routing of file names;
 *  4. the image is opened as blk_open() routes it, with the file name replaced by one of
 *     the harness's images (raw, qcow2, empty) in its sandbox and only the drivers raw,
 *     qcow2, file, null and memory allowed (helper=off), then read, written and closed.
 * Nothing connects anywhere, runs a program or writes outside the sandbox (sandbox.h
 * aborts if it would).
 *
 * Input: a flags byte (bits 0-1: the form, 1.; bit 2: open read-write; bits 3-4: the
 * image), then the string.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "block/block-driver.h"
#include "block/block.h"
#include "daemon/cfgstr.h"
#include "image.h"
#include "sandbox.h"
#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"
#if HAVE_NBD
#include "block/nbd/nbd-int.h"
#endif
#if HAVE_RBD
#include "block/rbd/rbd-int.h"
#endif

#define MAX_STR 4096
#define MAX_MEMORY (64u << 20) /* a memory node's chunk table is 8 bytes per 64 KiB */

enum form {
	FORM_DAEMON,	 /* cfgstr_parse, subtype qemu */
	FORM_DAEMON_RBD, /* cfgstr_parse, subtype rbd */
	FORM_KV,	 /* opts_parse_kv(..., "file") */
	FORM_CFGSTRING,	 /* opts_parse_cfgstring */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char img_path[512];

static void write_image(unsigned int which)
{
	static uint8_t buf[65536];
	size_t len = 0;

	switch (which) {
	case 0: /* raw */
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(i * 7);
		len = sizeof(buf);
		break;
	case 1:
	case 2:
		len = fuzz_qcow2_image(buf, sizeof(buf));
		break;
	default: /* empty */
		break;
	}
	sandbox_write(img_path, buf, len);
}

/* 2.: every value through every typed getter (on a copy: marks do not matter). */
static void getters(const struct opts *src)
{
	static const char *const names[] = { "writeback", "none", "off", "on", NULL };
	struct opts o, pre;
	struct err err;
	char buf[256];

	opts_init(&o);
	opts_init(&pre);
	if (opts_copy(&o, src) == 0) {
		for (size_t i = 0; i < src->n; i++) {
			const char *k = src->v[i].key, *s;
			uint64_t u;
			bool b;
			int e;

			err_init(&err);
			opts_get_size(&o, k, 0, &u, &err);
			opts_get_u64(&o, k, 0, &u, &err);
			opts_get_bool(&o, k, false, &b, &err);
			opts_get_enum(&o, k, names, 0, &e, &err);
			opts_get_str(&o, k, NULL, &s, &err);
		}
		opts_extract_prefix(&o, "file", &pre);
		opts_extract_prefix(&o, "server", &pre);
		opts_format(&o, buf, sizeof(buf));
		err_init(&err);
		opts_check_unused(&pre, "fuzz", &err);
	}
	opts_release(&pre);
	opts_release(&o);
}

/* 3.: the parsers of drivers that would connect somewhere, without connecting. */
static void driver_parsers(const struct opts *src)
{
	const char *file = opts_peek(src, "file"), *drv = opts_peek(src, "driver");
	struct opts o;
	struct err err;

	if (file)
		blk_find_driver_for(file);
	if (drv) /* not blk_find_image_driver(): it asks qemu-img which formats it knows */
		blk_find_driver(drv);
#if HAVE_RBD
	if ((drv && !strcmp(drv, "rbd")) || (file && !strncmp(file, "rbd:", 4))) {
		struct rbd_spec sp;
		char name[256];

		opts_init(&o);
		err_init(&err);
		if (opts_copy(&o, src) == 0 && rbd_spec_parse(&o, file, &sp, &err) == 0) {
			rbd_spec_name(&sp, name, sizeof(name));
			rbd_spec_release(&sp);
		}
		opts_release(&o);
	}
#endif
#if HAVE_NBD
	if ((drv && !strcmp(drv, "nbd")) || (file && !strncmp(file, "nbd", 3))) {
		struct blk_node bs = { .drv = &blk_driver_nbd,
				       .filename = (char *)(file ? file : "") };

		bs.opaque = calloc(1, sizeof(struct nbdc_state));
		opts_init(&o);
		err_init(&err);
		if (bs.opaque && opts_copy(&o, src) == 0)
			nbdc_parse(&bs, &o, &err);
		if (bs.opaque)
			nbdc_free_config(bs.opaque);
		free(bs.opaque);
		opts_release(&o);
	}
#else
	(void)o;
	(void)err;
#endif
}

static bool allowed_driver(const char *d)
{
	static const char *const ok[] = { "raw", "qcow2", "file", "null", "memory", NULL };

	for (int i = 0; ok[i]; i++)
		if (!strcmp(d, ok[i]))
			return true;
	return false;
}

/* 4.: open what may be opened here, and use it a little. */
static void open_image(struct opts *o, unsigned int flags)
{
	static uint8_t buf[4096];
	const char *drv = opts_peek(o, "driver"), *h = opts_peek(o, "helper"), *sz;
	struct blk_node *bs = NULL;
	struct err err;
	uint64_t size;
	int64_t len;

	if (drv && !allowed_driver(drv))
		return;
	if (drv && !strcmp(drv, "memory") && (sz = opts_peek(o, "size")) &&
	    (parse_size(sz, &size) < 0 || size > MAX_MEMORY))
		return;
	if (opts_has(o, "file") && opts_set(o, "file", img_path) < 0)
		return;
	/* no QEMU helper (a process): a valid helper= value becomes off, a bad one stays */
	if (h && (!strcmp(h, "auto") || !strcmp(h, "qemu") || !strcmp(h, "off")) &&
	    opts_set(o, "helper", "off") < 0)
		return;
	if (!h && opts_set(o, "helper", "off") < 0)
		return;
	err_init(&err);
	if (blk_open_checked(o, flags | BLK_O_NO_BACKING, "config string", &bs, &err) < 0)
		return;
	len = blk_getlength(bs);
	if (len > 0) {
		uint64_t n = (uint64_t)len < sizeof(buf) ? (uint64_t)len : sizeof(buf);

		blk_pread(bs, 0, buf, n);
		if (!blk_is_read_only(bs)) {
			memset(buf, 0x5a, sizeof(buf));
			blk_pwrite(bs, 0, buf, n, BLK_REQ_FUA);
			blk_flush(bs);
		}
	}
	blk_close(bs);
}

static int parse(enum form form, struct opts *o, const char *s)
{
	char id[CFGSTR_ID_MAX];
	struct err err;

	err_init(&err);
	switch (form) {
	case FORM_DAEMON:
	case FORM_DAEMON_RBD:
		cfgstr_set_subtype(form == FORM_DAEMON ? "qemu" : "rbd");
		return cfgstr_parse(o, s, id, &err);
	case FORM_KV:
		return opts_parse_kv(o, s, "file", &err);
	case FORM_CFGSTRING:
	default:
		return opts_parse_cfgstring(o, s, &err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	struct opts o;
	unsigned int flags;

	if (size < 1 || size > MAX_STR)
		return 0;
	if (!img_path[0]) {
		log_set_level((enum log_level)(LOG_LVL_ERR - 1)); /* bad strings are expected */
		snprintf(img_path, sizeof(img_path), "%s/img", sandbox_dir("cfgstring"));
	}
	s = strndup((const char *)data + 1, size - 1);
	if (!s)
		return 0;
	flags = data[0];
	write_image((flags >> 3) & 3);
	sandbox_enter(NULL, 0);
	opts_init(&o);
	if (parse((enum form)(flags & 3), &o, s) == 0) {
		getters(&o);
		driver_parsers(&o);
		open_image(&o, flags & 4 ? BLK_O_RDWR : 0);
	}
	opts_release(&o);
	sandbox_leave();
	free(s);
	return 0;
}
