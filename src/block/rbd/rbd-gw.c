/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Gateway mode (gateway=on): this node is one of several gateways serving one RBD image,
 * each a LUN in its own ALUA target port group.  RBD's exclusive lock, taken in manual
 * mode (rbd_lock_acquire), decides which gateway writes; docs/HA.md has the whole design.
 *
 *   UNLOCKED --write--> ACQUIRING --lock taken--> LOCKED
 *      ^   (a holder that took the lock less than gateway-grace ago and is alive:
 *      |    no; writes get BLK_E_STANDBY)          |  blocklisted, -EROFS, lock gone
 *      +----------- RECOVERING (a new client) <----+
 *   any --request timed out--> UNREACHABLE (reconnect in the background) --> UNLOCKED
 *
 * - Reads never need the lock.  A write reaching a gateway without it is answered with
 *   BLK_E_TRANSITION (the initiator retries) and the gateway's thread takes the lock:
 *   break the holder's (librbd blocklists the holder's client, so nothing it still has
 *   queued can land), acquire, publish our tag in the image's metadata.  The write that
 *   triggered it is never executed itself: only an initiator's retry is, so a write an
 *   initiator gave up on while it sat in this gateway cannot land after a newer one.
 * - No ping-pong: a holder is preempted only if it has held the lock for gateway-grace
 *   seconds (its tag's time, or when we first saw it), unless it is gone (no holder, or
 *   its client is not among the image's watchers).  Meanwhile writes here are refused
 *   with BLK_E_STANDBY, which moves initiators to another path.
 * - Lock lost (a request fails with -ESHUTDOWN = blocklisted, or -EROFS from librbd's
 *   manual mode): BLK_E_TRANSITION for it, and the gateway reopens with a new rados
 *   client (a new nonce) before it serves anything again.
 * - The state is cached and kept current by a background check (every 2 s: one RADOS op)
 *   and by header notifications (other gateways' tag writes): rbd_gw_access() does no I/O.
 * - Reported to the Ceph manager's service map as tcmu-runner does (ceph-iscsi, gwcli and
 *   the dashboard read it).
 *
 * Locking: g->lock covers the state, the counters, s->h and every handle's refs.  librbd
 * is only called outside it; the thread is the only one that changes the handle.
 */
#include "rbd-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#define NS 1000000000ull
#define POLL_NS (2 * NS)	 /* background check of the lock */
#define DRAIN_NS (120 * NS)	 /* a retired handle's requests end (they are bounded) */
#define BACKOFF_MAX_NS (10 * NS) /* reconnect attempts */
#define ADDR_MAX 128
#define PAST_MAX 8
#define TAG_KEY "qemu_tcmu.lock_owner"
#define SERVICE "tcmu-runner" /* what ceph-iscsi and the dashboard look for */

enum gw_state {
	GW_UNLOCKED,
	GW_ACQUIRING,
	GW_LOCKED,
	GW_RECOVERING,
	GW_UNREACHABLE
};

/* work for the thread */
#define W_LOCK 0x1u    /* a write wants the lock */
#define W_CHECK 0x2u   /* look at the lock again (a header notification) */
#define W_LOST 0x4u    /* a request saw the lock lost or this client blocklisted */
#define W_TIMEOUT 0x8u /* a request timed out */
#define W_TAG 0x10u    /* our tag changed while we hold the lock */

struct rbd_gw {
	struct blk_node *bs;
	struct rbd_state *s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* work for the thread; a retired handle became idle */
	bool stop;
	unsigned int work;
	enum gw_state state;
	uint64_t standby_until; /* writes refused before this (monotonic ns), 0: not */
	int tag, tag_published;
	int owner_tag;	       /* the holder's, -1: unknown */
	struct blk_access cnt; /* counters */
	/* the thread's own */
	char owner[ADDR_MAX];	       /* the holder's client address, "" = none */
	uint64_t owner_since;	       /* when it took the lock (best estimate, monotonic ns) */
	char me[ADDR_MAX];	       /* our client's address */
	char past[PAST_MAX][ADDR_MAX]; /* our earlier clients, all shut down */
	unsigned int npast;
	bool dirty_status; /* the service map's status is behind */
	char daemon[300];  /* service map: "<name>:<pool>/<image>" */
	char name[128];
};

/* Wall-clock milliseconds: the lock's start time in the tag, compared across gateways
 * (Ceph needs the hosts' clocks in sync anyway; mons warn beyond 50 ms). */
static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wake(struct rbd_gw *g, unsigned int w)
{
	g->work |= w;
	pthread_cond_broadcast(&g->cond);
}

static void notify(struct rbd_gw *g)
{
	pthread_mutex_lock(&g->lock);
	g->dirty_status = true;
	pthread_mutex_unlock(&g->lock);
	blk_node_access_changed(g->bs);
}

static void set_state(struct rbd_gw *g, enum gw_state st)
{
	pthread_mutex_lock(&g->lock);
	g->state = st;
	pthread_mutex_unlock(&g->lock);
	notify(g);
}

static enum gw_state get_state(struct rbd_gw *g)
{
	enum gw_state st;

	pthread_mutex_lock(&g->lock);
	st = g->state;
	pthread_mutex_unlock(&g->lock);
	return st;
}

static rbd_image_t img(struct rbd_gw *g)
{
	return g->s->h->img; /* the thread is the only one that changes s->h */
}

static rados_t cluster(struct rbd_gw *g)
{
	return rbd_conn_cluster(g->s->h->conn);
}

/* ---- the I/O path's side ------------------------------------------------------------ */

static int may(struct rbd_gw *g, bool write)
{
	switch (g->state) {
	case GW_LOCKED:
		return 0;
	case GW_UNLOCKED:
		if (!write)
			return 0;
		if (g->standby_until && clock_now_ns() < g->standby_until)
			return BLK_E_STANDBY;
		wake(g, W_LOCK);
		return BLK_E_TRANSITION;
	case GW_ACQUIRING:
		return write ? BLK_E_TRANSITION : 0;
	case GW_RECOVERING:
		return BLK_E_TRANSITION;
	default:
		return BLK_E_UNAVAILABLE;
	}
}

int rbd_gw_begin(struct rbd_state *s, bool write, struct rbd_handle **h)
{
	struct rbd_gw *g = s->gw;
	int r;

	if (!g) {
		*h = __atomic_load_n(&s->h, __ATOMIC_ACQUIRE);
		return *h ? 0 : -ENOMEDIUM;
	}
	pthread_mutex_lock(&g->lock);
	r = may(g, write);
	if (r == 0) {
		*h = s->h;
		s->h->refs++;
	}
	pthread_mutex_unlock(&g->lock);
	return r;
}

void rbd_gw_end(struct rbd_state *s, struct rbd_handle *h)
{
	struct rbd_gw *g = s->gw;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	if (--h->refs == 0)
		pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

int rbd_gw_result(struct rbd_state *s, struct rbd_handle *h, int r, bool write)
{
	struct rbd_gw *g = s->gw;
	bool lost = r == -ESHUTDOWN || (r == -EROFS && write); /* blocklisted; lock gone */

	if (r >= 0 || (!lost && r != -ETIMEDOUT))
		return r;
	if (!g) /* the lock of CAW's emulation lost: retryable, never DATA PROTECT */
		return lost ? -ESHUTDOWN : r;
	pthread_mutex_lock(&g->lock);
	if (r == -ETIMEDOUT)
		g->cnt.timeouts++;
	if (h == s->h && g->state != GW_UNREACHABLE) {
		if (r == -ETIMEDOUT) {
			g->state = GW_UNREACHABLE;
			g->cnt.conn_lost++;
		} else if (g->state != GW_RECOVERING) {
			g->cnt.lost += g->state == GW_LOCKED;
			g->state = GW_RECOVERING;
		}
	}
	g->dirty_status = true;
	wake(g, r == -ETIMEDOUT ? W_TIMEOUT : W_LOST);
	pthread_mutex_unlock(&g->lock);
	return lost ? BLK_E_TRANSITION : r;
}

void rbd_gw_poke(struct rbd_state *s)
{
	struct rbd_gw *g = s->gw;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	wake(g, W_CHECK);
	pthread_mutex_unlock(&g->lock);
}

int rbd_gw_access(struct rbd_state *s, struct blk_access *out)
{
	static const enum blk_access_state map[] = {
		[GW_UNLOCKED] = BLK_ACCESS_NONOPTIMIZED,
		[GW_ACQUIRING] = BLK_ACCESS_TRANSITIONING,
		[GW_LOCKED] = BLK_ACCESS_OPTIMIZED,
		[GW_RECOVERING] = BLK_ACCESS_TRANSITIONING,
		[GW_UNREACHABLE] = BLK_ACCESS_UNAVAILABLE,
	};
	struct rbd_gw *g = s->gw;

	if (!g)
		return -ENOTSUP;
	pthread_mutex_lock(&g->lock);
	*out = g->cnt;
	out->state = map[g->state];
	if (g->state == GW_UNLOCKED && g->standby_until && clock_now_ns() < g->standby_until)
		out->state = BLK_ACCESS_STANDBY;
	out->owner_tag = g->state == GW_LOCKED ? g->tag : g->owner_tag;
	pthread_mutex_unlock(&g->lock);
	return 0;
}

void rbd_gw_set_tag(struct rbd_state *s, int tag)
{
	struct rbd_gw *g = s->gw;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	if (g->tag != tag) {
		g->tag = tag;
		if (g->state == GW_LOCKED)
			wake(g, W_TAG);
	}
	pthread_mutex_unlock(&g->lock);
}

/* ---- looking at the lock ------------------------------------------------------------- */

static bool is_past(const struct rbd_gw *g, const char *addr)
{
	for (unsigned int i = 0; i < g->npast; i++)
		if (!strcmp(g->past[i], addr))
			return true;
	return false;
}

/* The holder's tag ("tag=N addr=A name=N time_ms=T", written when it took the lock): its
 * group and when it took the lock, if the tag is the current holder's. */
static void read_tag(struct rbd_gw *g, int *tag, uint64_t *since)
{
	char v[512], addr[ADDR_MAX];
	size_t len = sizeof(v);
	unsigned long long t, now;
	int n;

	*tag = -1;
	if (RBD(rbd_metadata_get)(img(g), TAG_KEY, v, &len) < 0)
		return;
	v[sizeof(v) - 1] = '\0';
	if (sscanf(v, "tag=%d addr=%127s name=%*s time_ms=%llu", &n, addr, &t) != 3 ||
	    strcmp(addr, g->owner)) {
		log_debug("rbd", "%s: tag '%s' is not the holder's", g->bs->filename, v);
		return;
	}
	*tag = n;
	now = wall_ms();
	/* a holder whose clock is ahead of ours: no earlier than when we saw it */
	if (t <= now && now - t < 86400000ull) {
		uint64_t est = clock_now_ns() - (now - t) * 1000000ull;

		*since = est < *since ? est : *since;
	}
}

/* A failed call on the current handle: -ESHUTDOWN (this client is blocklisted) or
 * -ETIMEDOUT (the cluster is unreachable) hand over to the thread's loop.  True if @r is
 * an error. */
static bool handle_error(struct rbd_gw *g, int r, const char *what)
{
	if (r >= 0)
		return false;
	log_warn("%s: %s: %s", g->bs->filename, what, strerror(-r));
	pthread_mutex_lock(&g->lock);
	if (r == -ESHUTDOWN && g->state != GW_RECOVERING && g->state != GW_UNREACHABLE) {
		g->cnt.lost += g->state == GW_LOCKED;
		g->state = GW_RECOVERING;
		wake(g, W_LOST);
	} else if (r == -ETIMEDOUT && g->state != GW_UNREACHABLE) {
		g->state = GW_UNREACHABLE;
		g->cnt.conn_lost++;
		wake(g, W_TIMEOUT);
	}
	pthread_mutex_unlock(&g->lock);
	return true;
}

/* Who holds the lock now; whether writes here must wait (the grace). */
static int refresh_owner(struct rbd_gw *g)
{
	char owner[ADDR_MAX];
	uint64_t now = clock_now_ns(), until = 0;
	unsigned int grace = g->s->spec.grace_s;
	bool changed;
	int r = rbd_lock_owner(img(g), owner, sizeof(owner));

	if (handle_error(g, r, "looking up the lock holder"))
		return r;
	changed = strcmp(owner, g->owner) != 0;
	if (changed) {
		snprintf(g->owner, sizeof(g->owner), "%s", owner);
		g->owner_since = now;
		log_info("%s: lock holder now %s%s", g->bs->filename, owner[0] ? owner : "none",
			 strcmp(owner, g->me) ? "" : " (us)");
	}
	/* the holder's tag: it writes it just after taking the lock, so look until it is
	 * there (we may have seen the lock first) */
	if (changed || (owner[0] && g->owner_tag < 0)) {
		int tag = -1;

		if (owner[0])
			read_tag(g, &tag, &g->owner_since);
		pthread_mutex_lock(&g->lock);
		changed = changed || tag != g->owner_tag;
		g->owner_tag = tag;
		pthread_mutex_unlock(&g->lock);
	}
	/* a live holder that took the lock recently is not preempted */
	if (owner[0] && strcmp(owner, g->me) && !is_past(g, owner) &&
	    now < g->owner_since + grace * NS && rbd_is_watching(img(g), owner))
		until = g->owner_since + grace * NS;
	log_debug("rbd", "%s: holder %s since %.1f s, grace %s", g->bs->filename,
		  owner[0] ? owner : "none", (double)(now - g->owner_since) / NS,
		  until ? "on" : "off");
	pthread_mutex_lock(&g->lock);
	changed = changed || (g->standby_until != 0) != (until != 0);
	g->standby_until = until;
	pthread_mutex_unlock(&g->lock);
	if (changed)
		notify(g);
	return 0;
}

/* ---- the service map (ceph-iscsi's DeviceStatusWatcher, gwcli, the dashboard) ------- */

static void service_register(struct rbd_gw *g)
{
	const struct rbd_spec *sp = &g->s->spec;
	char id[64] = "", md[1024];
	size_t n = 0;
	int r;

	RBD(rbd_get_id)(img(g), id, sizeof(id));
#define KV(k, v) n += (size_t)snprintf(md + n, sizeof(md) - n, "%s%c%s%c", k, 0, v, 0)
	KV("pool_name", sp->pool);
	KV("image_name", sp->image);
	KV("image_id", id);
	KV("daemon_type", "portal");
	KV("daemon_prefix", g->name);
#undef KV
	md[MIN(n, sizeof(md) - 1)] = '\0';
	r = RBD(rados_service_register)(cluster(g), SERVICE, g->daemon, md);
	if (r < 0)
		log_warn("%s: not in the service map: %s", g->bs->filename, strerror(-r));
	g->dirty_status = true;
}

static void publish(struct rbd_gw *g)
{
	struct blk_access c;
	char st[512];
	size_t n = 0;
	bool dirty, owner, down;

	pthread_mutex_lock(&g->lock);
	dirty = g->dirty_status;
	c = g->cnt;
	owner = g->state == GW_LOCKED;
	down = g->state == GW_UNREACHABLE;
	g->dirty_status = dirty && down; /* sent once the cluster is back */
	pthread_mutex_unlock(&g->lock);
	if (!dirty || down)
		return;
	n += (size_t)snprintf(st + n, sizeof(st) - n, "lock_owner%c%s%c", 0,
			      owner ? "true" : "false", 0);
#define CNT(k, v) n += (size_t)snprintf(st + n, sizeof(st) - n, "%s%c%llu%c", k, 0, v, 0)
	CNT("lock_lost_cnt", (unsigned long long)c.lost);
	CNT("conn_lost_cnt", (unsigned long long)c.conn_lost);
	CNT("cmd_timed_out_cnt", (unsigned long long)c.timeouts);
#undef CNT
	st[MIN(n, sizeof(st) - 1)] = '\0';
	RBD(rados_service_update_status)(cluster(g), st);
}

/* Our clients that are shut down cannot send anything any more: their blocklist entries
 * (librbd's, when another gateway broke our lock) go, as tcmu-runner does. */
static void clean_blocklist(struct rbd_gw *g)
{
	for (unsigned int i = 0; i < g->npast; i++) {
		int r = rbd_blocklist_rm(cluster(g), g->past[i]);

		log_debug("rbd", "%s: blocklist rm %s: %d", g->bs->filename, g->past[i], r);
	}
}

/* ---- taking the lock ----------------------------------------------------------------- */

static void write_tag(struct rbd_gw *g)
{
	char v[512];
	int tag, r;

	pthread_mutex_lock(&g->lock);
	tag = g->tag_published = g->tag;
	pthread_mutex_unlock(&g->lock);
	snprintf(v, sizeof(v), "tag=%d addr=%s name=%s time_ms=%llu", tag, g->me, g->name,
		 (unsigned long long)wall_ms());
	r = RBD(rbd_metadata_set)(img(g), TAG_KEY, v);
	if (r < 0)
		log_warn("%s: cannot publish the lock tag: %s", g->bs->filename, strerror(-r));
}

static void locked(struct rbd_gw *g, const char *from)
{
	/* the tag first: the other gateways report our group before we serve writes */
	write_tag(g);
	pthread_mutex_lock(&g->lock);
	g->state = GW_LOCKED;
	g->cnt.acquired++;
	g->standby_until = 0;
	pthread_mutex_unlock(&g->lock);
	snprintf(g->owner, sizeof(g->owner), "%s", g->me);
	log_info("%s: took the write lock%s%s", g->bs->filename, from[0] ? " from " : "", from);
	clean_blocklist(g);
	g->npast = 0;
	notify(g);
}

static void acquire(struct rbd_gw *g)
{
	char from[ADDR_MAX] = "";
	bool wait;
	int r;

	pthread_mutex_lock(&g->lock);
	if (g->state != GW_UNLOCKED) {
		pthread_mutex_unlock(&g->lock);
		return;
	}
	g->state = GW_ACQUIRING;
	pthread_mutex_unlock(&g->lock);
	notify(g);
	for (int tries = 0; tries < 3; tries++) {
		if (refresh_owner(g) < 0 || get_state(g) != GW_ACQUIRING)
			break;
		if (g->owner[0] && strcmp(g->owner, g->me)) {
			pthread_mutex_lock(&g->lock);
			wait = g->standby_until > clock_now_ns();
			pthread_mutex_unlock(&g->lock);
			if (wait) /* the grace: writes go elsewhere meanwhile */
				break;
			snprintf(from, sizeof(from), "%s", g->owner);
			r = RBD(rbd_lock_break)(img(g), RBD_LOCK_MODE_EXCLUSIVE, from);
			if (r == -ENOENT || r == -EBUSY) /* released, or another took it */
				continue;
			if (handle_error(g, r, "breaking the lock"))
				break;
		}
		r = RBD(rbd_lock_acquire)(img(g), RBD_LOCK_MODE_EXCLUSIVE);
		if (r == 0) {
			locked(g, from);
			return;
		}
		if (r == -EROFS || r == -EBUSY) /* someone was quicker: look again */
			continue;
		if (handle_error(g, r, "taking the lock"))
			break;
	}
	pthread_mutex_lock(&g->lock);
	if (g->state == GW_ACQUIRING)
		g->state = GW_UNLOCKED;
	pthread_mutex_unlock(&g->lock);
	notify(g);
}

/* ---- a new client -------------------------------------------------------------------- */

static void header_cb(void *arg);

/* Our client's address (what a blocklist entry names). */
static void read_me(struct rbd_gw *g)
{
	char *a = NULL;

	g->me[0] = '\0';
	if (RBD(rados_getaddrs)(cluster(g), &a) == 0 && a)
		snprintf(g->me, sizeof(g->me), "%s", a);
	free(a);
}

/* The node serves from @nh from now on; the old handle closes once its requests end. */
static void swap_in(struct rbd_gw *g, struct rbd_handle *nh)
{
	struct rbd_state *s = g->s;
	struct rbd_handle *old;
	uint64_t deadline = clock_now_ns() + DRAIN_NS;
	struct timespec ts = { .tv_sec = (time_t)(deadline / NS), .tv_nsec = deadline % NS };
	bool idle;

	pthread_mutex_lock(&g->lock);
	old = s->h;
	s->h = nh;
	old->refs--;
	while (old->refs && clock_now_ns() < deadline)
		pthread_cond_timedwait(&g->cond, &g->lock, &ts);
	idle = old->refs == 0;
	pthread_mutex_unlock(&g->lock);
	if (!idle) { /* cannot happen with bounded timeouts; never close under requests */
		log_err("%s: the old cluster connection still has requests: left open",
			g->bs->filename);
	} else {
		rbd_handle_close(old);
		if (old != &s->first)
			free(old);
		if (g->me[0] && g->npast < PAST_MAX)
			snprintf(g->past[g->npast++], ADDR_MAX, "%s", g->me);
	}
	read_me(g);
	service_register(g);
}

/* Open the image on a new client (new nonce: not blocklisted) and take it in use, retrying
 * with a backoff while the cluster cannot be reached.  The state meanwhile: @while_st. */
static void reopen(struct rbd_gw *g, enum gw_state while_st)
{
	uint64_t backoff = NS;
	char probe[ADDR_MAX];
	struct err err;

	set_state(g, while_st);
	for (;;) {
		struct rbd_handle *nh = calloc(1, sizeof(*nh));
		uint64_t until;
		struct timespec ts;
		int r = -ENOMEM;

		err_init(&err);
		if (nh)
			r = rbd_handle_open(&g->s->spec, true, header_cb, g->bs, nh, &err);
		if (r == 0) /* the OSDs answer too */
			r = rbd_lock_owner(nh->img, probe, sizeof(probe));
		if (r == 0) {
			swap_in(g, nh);
			break;
		}
		if (nh && nh->img)
			rbd_handle_close(nh);
		free(nh);
		log_warn("%s: reconnecting: %s", g->bs->filename,
			 err.msg[0] ? err.msg : strerror(-r));
		until = clock_now_ns() + backoff;
		ts.tv_sec = (time_t)(until / NS);
		ts.tv_nsec = (long)(until % NS);
		pthread_mutex_lock(&g->lock);
		while (!g->stop && clock_now_ns() < until)
			pthread_cond_timedwait(&g->cond, &g->lock, &ts);
		r = g->stop;
		pthread_mutex_unlock(&g->lock);
		if (r)
			return;
		backoff = backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : backoff * 2;
	}
	g->owner[0] = '\0'; /* seen afresh */
	pthread_mutex_lock(&g->lock);
	g->work &= ~(W_LOST | W_TIMEOUT); /* about the old client */
	pthread_mutex_unlock(&g->lock);
	/* who holds the lock, and its grace, before we report or serve anything: until then
	 * RTPG says transitioning (a failure leaves the state for step() to retry) */
	if (refresh_owner(g) < 0)
		return;
	pthread_mutex_lock(&g->lock);
	if (g->state == while_st)
		g->state = GW_UNLOCKED;
	pthread_mutex_unlock(&g->lock);
	log_info("%s: serving through a new cluster client %s", g->bs->filename, g->me);
	notify(g);
}

/* ---- the thread ---------------------------------------------------------------------- */

static void header_cb(void *arg)
{
	struct blk_node *bs = arg;

	rbd_gw_poke(bs->opaque);
}

/* While we hold it: still ours?  (One OSD round trip; -ESHUTDOWN when blocklisted.) */
static void check_lock(struct rbd_gw *g)
{
	int own = 0, r = RBD(rbd_is_exclusive_lock_owner)(img(g), &own);

	if (r == 0 && !own)
		r = -ESHUTDOWN; /* broken without a blocklist (rbd lock break): a new client too */
	handle_error(g, r, "checking the lock");
}

static void step(struct rbd_gw *g, unsigned int work, uint64_t *next_poll)
{
	enum gw_state st = get_state(g);

	if (st == GW_UNREACHABLE) {
		log_warn("%s: the cluster is unreachable: paths fail until it is back",
			 g->bs->filename);
		notify(g);
		reopen(g, GW_UNREACHABLE);
	} else if (st == GW_RECOVERING) {
		log_warn("%s: lost the write lock (or this client was blocklisted): reopening",
			 g->bs->filename);
		notify(g);
		reopen(g, GW_RECOVERING);
	}
	if (work & W_TAG && get_state(g) == GW_LOCKED)
		write_tag(g);
	if (work & W_LOCK)
		acquire(g);
	if ((work & W_CHECK) || clock_now_ns() >= *next_poll) {
		st = get_state(g);
		if (st == GW_LOCKED)
			check_lock(g);
		else if (st == GW_UNLOCKED)
			refresh_owner(g);
		*next_poll = clock_now_ns() + POLL_NS;
	}
	publish(g);
}

static void *gw_main(void *arg)
{
	struct rbd_gw *g = arg;
	uint64_t next_poll = clock_now_ns() + POLL_NS, until;
	bool standby = false, was;
	unsigned int work;
	struct timespec ts;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		until = next_poll;
		if (g->standby_until && g->standby_until < until)
			until = g->standby_until; /* the end of the grace changes what we report */
		ts.tv_sec = (time_t)(until / NS);
		ts.tv_nsec = (long)(until % NS);
		while (!g->stop && !g->work && clock_now_ns() < until)
			pthread_cond_timedwait(&g->cond, &g->lock, &ts);
		work = g->work;
		g->work = 0;
		was = standby;
		standby = g->standby_until && clock_now_ns() < g->standby_until;
		pthread_mutex_unlock(&g->lock);
		if (was != standby)
			notify(g);
		if (work || clock_now_ns() >= next_poll)
			step(g, work, &next_poll);
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* ---- start and stop ------------------------------------------------------------------ */

static int gw_init(struct rbd_gw *g, struct blk_node *bs)
{
	const struct rbd_spec *sp = &((struct rbd_state *)bs->opaque)->spec;
	pthread_condattr_t ca;
	struct utsname u;

	g->bs = bs;
	g->s = bs->opaque;
	g->tag = g->tag_published = g->owner_tag = -1;
	if (sp->gw_name)
		snprintf(g->name, sizeof(g->name), "%s", sp->gw_name);
	else if (uname(&u) == 0)
		snprintf(g->name, sizeof(g->name), "%s", u.nodename);
	snprintf(g->daemon, sizeof(g->daemon), "%s:%s/%s%s%s", g->name, sp->pool,
		 sp->ns ? sp->ns : "", sp->ns ? "/" : "", sp->image);
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

int rbd_gw_start(struct blk_node *bs, struct err *err)
{
	struct rbd_state *s = bs->opaque;
	struct rbd_gw *g;
	int r;

	if (!(s->features & RBD_FEATURE_EXCLUSIVE_LOCK))
		return err_set(err, -EINVAL,
			       "rbd: gateway=on needs the exclusive-lock feature on %s (rbd "
			       "feature enable IMAGE exclusive-lock)",
			       bs->filename);
	if (s->cache) /* writes acknowledged from one gateway's memory: others never see them */
		return err_set(err, -EINVAL, "rbd: gateway=on cannot use rbd_cache");
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(err, -ENOMEM, "rbd: out of memory");
	gw_init(g, bs);
	read_me(g);
	service_register(g);
	/* who holds it before the first INQUIRY asks; the thread keeps it current */
	refresh_owner(g);
	if (g->work & (W_LOST | W_TIMEOUT)) {
		r = err_set(err, -EIO, "rbd: %s: cannot look up the lock holder", bs->filename);
		goto fail;
	}
	publish(g);
	s->gw = g;
	r = pthread_create(&g->thread, NULL, gw_main, g);
	if (r == 0)
		return 0;
	s->gw = NULL;
	r = err_set(err, -r, "rbd: cannot start the gateway thread: %s", strerror(r));
fail:
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
	return r;
}

void rbd_gw_stop(struct rbd_state *s)
{
	struct rbd_gw *g = s->gw;
	int r;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	/* handed over cleanly: the next gateway takes the lock without breaking it */
	if (g->state == GW_LOCKED && (r = RBD(rbd_lock_release)(img(g))) < 0)
		log_warn("%s: releasing the write lock: %s", g->bs->filename, strerror(-r));
	s->gw = NULL;
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
