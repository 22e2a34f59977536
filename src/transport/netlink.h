/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * target_core_user's generic netlink family "TCM-USER" (libmnl): device events from the
 * multicast group "config" and the daemon's replies.
 *
 * The kernel announces ADDED_DEVICE when a device is enabled, REMOVED_DEVICE when it is
 * deleted, RECONFIG_DEVICE when dev_config, dev_size or emulate_write_cache change after
 * enable.  When the message's version is 2 or more it may wait for a *_DONE reply
 * carrying the device id and a status (0 or -errno); whether it waits is a module-wide
 * setting (SET_FEATURES) the daemons share: see docs/TRANSPORT.md.
 */
#ifndef QT_TRANSPORT_NETLINK_H
#define QT_TRANSPORT_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct netlink;

struct netlink_event {
	uint8_t cmd;	 /* TCMU_CMD_ADDED_DEVICE, _REMOVED_DEVICE, _RECONFIG_DEVICE */
	uint8_t version; /* of the genl header; replies are expected when > 1 */
	bool has_minor, has_dev_id, has_cfg, has_size, has_wce;
	uint32_t minor;
	uint32_t dev_id;
	const char *device; /* the UIO name; NULL if absent */
	const char *cfg;    /* RECONFIG: the new dev_config */
	uint64_t size;	    /* RECONFIG: the new dev_size */
	uint8_t wce;	    /* RECONFIG: the new emulate_write_cache */
};

/* Resolve the family, join its "config" group.  -ENOENT when the kernel has no such
 * family (target_core_user not loaded). */
int netlink_open(struct netlink **out, struct err *err);
void netlink_close(struct netlink *nl);
/* Readable when events are pending (non-blocking). */
int netlink_fd(const struct netlink *nl);

/* Handle every pending event with @fn (its pointers live during the call).  Returns 0,
 * or -ENOBUFS when the socket overflowed and events were lost (rescan), or -errno. */
int netlink_dispatch(struct netlink *nl, void (*fn)(const struct netlink_event *ev, void *opaque),
		     void *opaque);

/* The *_DONE reply to @ev (only sent when ev->version > 1 and the event had a device id). */
int netlink_reply(struct netlink *nl, const struct netlink_event *ev, int status);
/* SET_FEATURES(SUPP_KERN_CMD_REPLY = @on), acknowledged.  -EOPNOTSUPP on old kernels. */
int netlink_set_reply_mode(struct netlink *nl, bool on);

/* What netlink_dispatch() does with one datagram of @len bytes: every TCM-USER event of
 * @family in it to @fn, malformed ones logged and skipped (for tests and the fuzzer). */
void netlink_handle_buf(const void *buf, size_t len, uint16_t family,
			void (*fn)(const struct netlink_event *ev, void *opaque), void *opaque);

/* Parse one received message (for tests and the fuzzer): 1 and *ev filled when it is a
 * TCM-USER event of family @family, 0 when it is something else, -EINVAL if malformed. */
int netlink_parse(const void *buf, size_t len, uint16_t family, struct netlink_event *ev);

#endif
