/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: a datagram from the TCM-USER generic netlink family, as the daemon's
 * main loop takes it (transport/netlink.c netlink_handle_buf -> netlink_parse: netlink
 * headers, the genl header, attributes MINOR, DEVICE, DEVICE_ID, DEV_CFG, DEV_SIZE,
 * WRITECACHE), and the event then consumed as daemon.c does: the UIO name split
 * (uio_parse_name), a new dev_config stripped of its subtype and parsed (cfgstr_parse).
 *
 * libmnl is not instrumented, so the datagram ends where a PROT_NONE page begins: reading
 * past it faults.  The strings an event carries must lie inside the datagram.
 *
 * Input: the datagram (its length rounded down to 4 bytes, as netlink's alignment).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/cfgstr.h"
#include "transport/netlink.h"
#include "transport/tcmu-uapi.h"
#include "transport/uio.h"
#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"

#define FAMILY 0x1d    /* the id the kernel gave TCM-USER, as far as this target knows */
#define MAX_DGRAM 8192 /* the daemon's receive buffer */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *area; /* MAX_DGRAM bytes, then a PROT_NONE page */
static size_t page;
static const uint8_t *dgram;
static size_t dgram_len;

static void check_str(const char *s)
{
	const char *end = (const char *)dgram + dgram_len;

	if (!s)
		return;
	if (s < (const char *)dgram || s >= end || !memchr(s, '\0', (size_t)(end - s)))
		abort();
}

static void on_event(const struct netlink_event *ev, void *opaque)
{
	struct uio_dev u;
	char id[CFGSTR_ID_MAX];
	struct opts o;
	struct err err;
	const char *cfg;

	(void)opaque;
	check_str(ev->device);
	check_str(ev->cfg);
	if (ev->has_cfg != (ev->cfg != NULL))
		abort();
	if (ev->device && uio_parse_name(ev->device, &u) == 0) {
		/* the handler config is the tail of cfg */
		if (u.handler_off > strlen(u.cfg))
			abort();
		(void)strlen(uio_handler_cfg(&u));
	}
	if (ev->cmd == TCMU_CMD_RECONFIG_DEVICE && ev->cfg &&
	    (cfg = cfgstr_strip_subtype(ev->cfg, "qemu"))) {
		opts_init(&o);
		err_init(&err);
		cfgstr_parse(&o, cfg, id, &err);
		opts_release(&o);
	}
}

static void setup(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	area = mmap(NULL, MAX_DGRAM + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		    0);
	if (area == MAP_FAILED || mprotect(area + MAX_DGRAM, page, PROT_NONE) < 0) {
		perror("fuzz-netlink: guard page");
		abort();
	}
	log_set_level((enum log_level)(LOG_LVL_ERR - 1)); /* malformed messages are expected */
	cfgstr_set_subtype("qemu");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;

	if (!area)
		setup();
	size &= ~(size_t)3;
	if (size > MAX_DGRAM)
		return 0;
	/* the datagram ends at the guard page */
	buf = area + MAX_DGRAM - size;
	memcpy(buf, data, size);
	dgram = buf;
	dgram_len = size;
	netlink_handle_buf(buf, size, FAMILY, on_event, NULL);
	return 0;
}
