/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The TCM-USER generic netlink family over libmnl (see netlink.h). */
#include "netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>

#include "tcmu-uapi.h"
#include "util/compiler.h"
#include "util/err.h"
#include "util/log.h"

#define TCMU_FAMILY "TCM-USER"
#define TCMU_GROUP "config"
#define TCMU_NL_VERSION 2
#define NL_BUF_SIZE 8192 /* MNL_SOCKET_BUFFER_SIZE, which is not a constant */

struct netlink {
	struct mnl_socket *ev;	/* joined to the group; replies go out here too */
	struct mnl_socket *req; /* requests that want an answer (SET_FEATURES) */
	uint16_t family;
	uint32_t group;
	uint32_t seq;
	char buf[NL_BUF_SIZE];
};

/* ---- resolving the family ------------------------------------------------------- */

struct resolve {
	uint16_t family;
	uint32_t group;
	bool found_group;
};

static int group_cb(const struct nlattr *grp, struct resolve *rs)
{
	const struct nlattr *a;
	const char *name = NULL;
	uint32_t id = 0;
	bool has_id = false;

	mnl_attr_for_each_nested(a, grp)
	{
		if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			name = mnl_attr_get_str(a);
		if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			id = mnl_attr_get_u32(a);
			has_id = true;
		}
	}
	if (name && has_id && !strcmp(name, TCMU_GROUP)) {
		rs->group = id;
		rs->found_group = true;
	}
	return MNL_CB_OK;
}

static int family_attr_cb(const struct nlattr *a, void *data)
{
	struct resolve *rs = data;
	const struct nlattr *grp;

	switch (mnl_attr_get_type(a)) {
	case CTRL_ATTR_FAMILY_ID:
		if (mnl_attr_validate(a, MNL_TYPE_U16) == 0)
			rs->family = mnl_attr_get_u16(a);
		break;
	case CTRL_ATTR_MCAST_GROUPS:
		mnl_attr_for_each_nested(grp, a) group_cb(grp, rs);
		break;
	}
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	return mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, data);
}

/* Send @nlh on @sock and run @cb over the answer until the ACK.  Returns 0 or -errno. */
static int transact(struct netlink *nl, struct mnl_socket *sock, struct nlmsghdr *nlh, mnl_cb_t cb,
		    void *data)
{
	uint32_t portid = mnl_socket_get_portid(sock);
	ssize_t n;
	int r;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	if (mnl_socket_sendto(sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(sock, nl->buf, sizeof(nl->buf));
		if (n < 0)
			return -errno;
		r = mnl_cb_run(nl->buf, (size_t)n, nl->seq, portid, cb, data);
	} while (r > 0);
	return r < 0 ? -errno : 0;
}

static struct nlmsghdr *put_genl(char *buf, uint16_t type, uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return nlh;
}

static int resolve_family(struct netlink *nl, struct err *err)
{
	char msg[256];
	struct nlmsghdr *nlh = put_genl(msg, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	struct resolve rs = { 0 };
	int r;

	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, TCMU_FAMILY);
	r = transact(nl, nl->req, nlh, family_cb, &rs);
	if (r == -ENOENT || (!r && !rs.family))
		return err_set(err, -ENOENT,
			       "the kernel has no " TCMU_FAMILY " netlink family "
			       "(is target_core_user loaded?)");
	if (r < 0)
		return err_set_errno(err, r, "cannot resolve the " TCMU_FAMILY " netlink family");
	if (!rs.found_group)
		return err_set(err, -ENOENT, TCMU_FAMILY " has no '" TCMU_GROUP "' group");
	nl->family = rs.family;
	nl->group = rs.group;
	return 0;
}

static int open_socket(struct mnl_socket **out, struct err *err)
{
	struct mnl_socket *s = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	int r;

	if (!s)
		return err_set_errno(err, -errno, "cannot open a generic netlink socket");
	if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = err_set_errno(err, -errno, "cannot bind a generic netlink socket");
		mnl_socket_close(s);
		return r;
	}
	*out = s;
	return 0;
}

int netlink_open(struct netlink **out, struct err *err)
{
	struct netlink *nl = calloc(1, sizeof(*nl));
	int r;

	if (!nl)
		return err_set(err, -ENOMEM, "out of memory");
	nl->seq = (uint32_t)time(NULL);
	r = open_socket(&nl->req, err);
	if (!r)
		r = open_socket(&nl->ev, err);
	if (!r)
		r = resolve_family(nl, err);
	if (r < 0)
		goto fail;
	if (mnl_socket_setsockopt(nl->ev, NETLINK_ADD_MEMBERSHIP, &nl->group, sizeof(int)) < 0) {
		r = err_set_errno(err, -errno,
				  "cannot join the " TCMU_GROUP " group of " TCMU_FAMILY);
		goto fail;
	}
	/* never block the main loop */
	fcntl(mnl_socket_get_fd(nl->ev), F_SETFL,
	      fcntl(mnl_socket_get_fd(nl->ev), F_GETFL) | O_NONBLOCK);
	*out = nl;
	return 0;
fail:
	netlink_close(nl);
	return r;
}

void netlink_close(struct netlink *nl)
{
	if (!nl)
		return;
	if (nl->ev)
		mnl_socket_close(nl->ev);
	if (nl->req)
		mnl_socket_close(nl->req);
	free(nl);
}

int netlink_fd(const struct netlink *nl)
{
	return mnl_socket_get_fd(nl->ev);
}

/* ---- events ----------------------------------------------------------------------- */

static int event_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, TCMU_ATTR_MAX) > 0)
		tb[type] = a;
	return MNL_CB_OK;
}

static int get_u32(const struct nlattr *a, bool *has, uint32_t *v)
{
	if (!a)
		return 0;
	if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return -EINVAL;
	*v = mnl_attr_get_u32(a);
	*has = true;
	return 0;
}

static int get_str(const struct nlattr *a, const char **v)
{
	if (!a)
		return 0;
	if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return -EINVAL;
	*v = mnl_attr_get_str(a);
	return 0;
}

static int fill_event(const struct nlattr *const *tb, struct netlink_event *ev)
{
	bool has_cfg = false;

	if (get_u32(tb[TCMU_ATTR_MINOR], &ev->has_minor, &ev->minor) ||
	    get_u32(tb[TCMU_ATTR_DEVICE_ID], &ev->has_dev_id, &ev->dev_id) ||
	    get_str(tb[TCMU_ATTR_DEVICE], &ev->device) || get_str(tb[TCMU_ATTR_DEV_CFG], &ev->cfg))
		return -EINVAL;
	has_cfg = ev->cfg != NULL;
	ev->has_cfg = has_cfg;
	if (tb[TCMU_ATTR_DEV_SIZE]) {
		if (mnl_attr_validate(tb[TCMU_ATTR_DEV_SIZE], MNL_TYPE_U64) < 0)
			return -EINVAL;
		ev->size = mnl_attr_get_u64(tb[TCMU_ATTR_DEV_SIZE]);
		ev->has_size = true;
	}
	if (tb[TCMU_ATTR_WRITECACHE]) {
		if (mnl_attr_validate(tb[TCMU_ATTR_WRITECACHE], MNL_TYPE_U8) < 0)
			return -EINVAL;
		ev->wce = mnl_attr_get_u8(tb[TCMU_ATTR_WRITECACHE]);
		ev->has_wce = true;
	}
	return 0;
}

/* A whole message in the @len bytes at @nlh.  Not mnl_nlmsg_ok(): it compares the length as
 * an int, so a message claiming 2 GiB or more passes and the walk leaves the buffer. */
static bool msg_ok(const struct nlmsghdr *nlh, size_t len)
{
	return len >= sizeof(*nlh) && nlh->nlmsg_len >= sizeof(*nlh) && nlh->nlmsg_len <= len;
}

int netlink_parse(const void *buf, size_t len, uint16_t family, struct netlink_event *ev)
{
	const struct nlmsghdr *nlh = buf;
	const struct nlattr *tb[TCMU_ATTR_MAX + 1] = { 0 };
	const struct genlmsghdr *g;

	memset(ev, 0, sizeof(*ev));
	if (!msg_ok(nlh, len))
		return -EINVAL;
	if (nlh->nlmsg_type != family)
		return 0;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*g))
		return -EINVAL;
	g = mnl_nlmsg_get_payload(nlh);
	ev->cmd = g->cmd;
	ev->version = g->version;
	if (mnl_attr_parse(nlh, sizeof(*g), event_attr_cb, tb) < 0)
		return -EINVAL;
	return fill_event(tb, ev) < 0 ? -EINVAL : 1;
}

void netlink_handle_buf(const void *buf, size_t len, uint16_t family,
			void (*fn)(const struct netlink_event *ev, void *opaque), void *opaque)
{
	const uint8_t *p = buf;
	size_t left = len;

	/* messages are NLMSG_ALIGNTO-aligned; the last one's padding may be missing */
	while (msg_ok((const struct nlmsghdr *)p, left)) {
		const struct nlmsghdr *nlh = (const void *)p;
		size_t step = MIN((size_t)NLMSG_ALIGN(nlh->nlmsg_len), left);
		struct netlink_event ev;
		int r = netlink_parse(nlh, left, family, &ev);

		p += step;
		left -= step;
		if (r < 0)
			log_warn("netlink: malformed " TCMU_FAMILY " message ignored");
		else if (r > 0)
			fn(&ev, opaque);
		/* anything else: acks and errors for our replies, ignored */
	}
}

int netlink_dispatch(struct netlink *nl, void (*fn)(const struct netlink_event *ev, void *opaque),
		     void *opaque)
{
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->ev, nl->buf, sizeof(nl->buf));

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -errno;
		netlink_handle_buf(nl->buf, (size_t)n, nl->family, fn, opaque);
	}
}

int netlink_reply(struct netlink *nl, const struct netlink_event *ev, int status)
{
	char msg[256];
	struct nlmsghdr *nlh;
	uint8_t done;

	if (ev->version < 2 || !ev->has_dev_id)
		return 0;
	switch (ev->cmd) {
	case TCMU_CMD_ADDED_DEVICE:
		done = TCMU_CMD_ADDED_DEVICE_DONE;
		break;
	case TCMU_CMD_REMOVED_DEVICE:
		done = TCMU_CMD_REMOVED_DEVICE_DONE;
		break;
	case TCMU_CMD_RECONFIG_DEVICE:
		done = TCMU_CMD_RECONFIG_DEVICE_DONE;
		break;
	default:
		return -EINVAL;
	}
	nlh = put_genl(msg, nl->family, done, TCMU_NL_VERSION);
	nlh->nlmsg_seq = ++nl->seq;
	mnl_attr_put_u32(nlh, TCMU_ATTR_CMD_STATUS, (uint32_t)status);
	mnl_attr_put_u32(nlh, TCMU_ATTR_DEVICE_ID, ev->dev_id);
	if (mnl_socket_sendto(nl->ev, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return 0;
}

int netlink_set_reply_mode(struct netlink *nl, bool on)
{
	char msg[256];
	struct nlmsghdr *nlh = put_genl(msg, nl->family, TCMU_CMD_SET_FEATURES, TCMU_NL_VERSION);

	mnl_attr_put_u8(nlh, TCMU_ATTR_SUPP_KERN_CMD_REPLY, on ? 1 : 0);
	return transact(nl, nl->req, nlh, NULL, NULL);
}
