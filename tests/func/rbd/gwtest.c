/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-tcmu-gwtest: one gateway of a shared image, driven by a script.  The ring
 * simulator plays LIO and an initiator; the production transport (ring-dev), SCSI layer
 * and rbd driver serve it, with ALUA target port groups 1..N of which --group is ours
 * (what the daemon reads from configfs).  Several of these processes on one image are
 * several gateways (tests/func/rbd/rbd-gateway.sh).
 *
 *   qemu-tcmu-gwtest [--group G] [--groups N] [--debug CATS] [--subtype S] CFGSTRING
 *                                                          commands on stdin
 *     --subtype S: the config string in the dialect the daemon reads when serving
 *     subtype S (-x rbd: tcmu-runner's "pool/image;osd_op_timeout=N", gateway mode)
 *   qemu-tcmu-gwtest --check FILE LBA NLB                  stamps in an exported image
 *
 * One reply line per command, flushed:
 *   write LBA NLB STAMP   blocks stamped STAMP; retried like an initiator on 04/0A and
 *                         BUSY for up to 20 s -> "ok RETRIES MS", "standby MS" (04/0B),
 *                         "unavailable MS" (04/0C), "sense K/ASC/ASCQ MS"
 *   read LBA NLB          -> "data STAMP[,STAMP...]" (the distinct stamps, in order)
 *   rtpg                  REPORT TARGET PORT GROUPS -> "groups 1=ao 2=ano ..."
 *   state                 the node's access state -> "state S acquired=N lost=N ..."
 *   flood LBA NLB STAMP QD [failover]   one-block writes at random LBAs, QD at a time, no
 *                         retries, until "stop" (with failover: until the first refused
 *                         write too, as multipath fails a path) -> "flooding"
 *   stop                  -> "flood ok=N transition=N standby=N unavailable=N other=N"
 *   quit
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "block/cfgstr.h"
#include "scsi/scsi.h"
#include "transport/ring-dev.h"
#include "transport/sim.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#define BLK 512u
#define MAX_NLB 256u
#define FLOOD_MAX 32
#define RETRY_NS (20ull * 1000000000ull)

#define DIE(...)                                         \
	do {                                             \
		fprintf(stderr, "gwtest: " __VA_ARGS__); \
		fputc('\n', stderr);                     \
		exit(1);                                 \
	} while (0)

struct io {
	struct sim_cmd c;
	bool busy;
	uint8_t buf[MAX_NLB * BLK];
};

static struct {
	struct sim *sim;
	struct blk_node *bs;
	struct ring_dev *dev;
	uint64_t nblk;
	unsigned int group, ngroups;
	const char *subtype; /* open through the daemon's config string parser */
	/* flood */
	struct io flood[FLOOD_MAX];
	unsigned int qd;
	uint64_t lba, nlb, x;
	char stamp[16];
	bool flooding, failover;
	unsigned long ok, transition, standby, unavailable, other;
} g = { .group = 1, .ngroups = 2, .x = 88172645463325252ull };

/* ---- ALUA as configfs would have it: groups 1..N, ours is --group, port = group ------- */

static int get_alua(void *opaque, struct scsi_alua *a)
{
	(void)opaque;
	memset(a, 0, sizeof(*a));
	a->tpgs = 1;
	a->implicit_trans_secs = 45;
	a->ngroups = g.ngroups;
	for (unsigned int i = 0; i < g.ngroups; i++) {
		struct scsi_alua_group *gr = &a->groups[i];

		gr->id = (uint16_t)(i + 1);
		gr->state = i ? SCSI_ALUA_NONOPTIMIZED : SCSI_ALUA_OPTIMIZED; /* ceph-iscsi */
		gr->supported = SCSI_ALUA_SUP_T | SCSI_ALUA_SUP_AN | SCSI_ALUA_SUP_AO;
		gr->nports = 1;
		gr->ports[0] = (uint16_t)(i + 1);
	}
	a->has_local = true;
	a->local_group = a->local_port = (uint16_t)g.group;
	a->local_proto = 5;
	return 0;
}

static int get_serial(void *opaque, char *buf, size_t len)
{
	(void)opaque;
	snprintf(buf, len, "gwtest-serial");
	return 0;
}

/* ---- commands ---------------------------------------------------------------------- */

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void stamp_block(uint8_t *b, const char *stamp, uint64_t lba)
{
	size_t n = strlen(stamp);

	for (size_t k = 0; k < BLK; k++)
		b[k] = (uint8_t)stamp[k % n];
	snprintf((char *)b, 40, "%s %llu\n", stamp, (unsigned long long)lba);
}

/* The command's public fields (the simulator keeps its own between uses). */
static void reset(struct sim_cmd *c)
{
	memset(c->cdb, 0, sizeof(c->cdb));
	c->bidi_buf = NULL;
	c->bidi_len = 0;
}

static void prepare(struct io *io, bool write, uint64_t lba, uint32_t nlb)
{
	reset(&io->c);
	io->c.cdb[0] = write ? 0x8a : 0x88; /* WRITE(16) / READ(16) */
	put_be(io->c.cdb + 2, lba, 8);
	put_be(io->c.cdb + 10, nlb, 4);
	io->c.dir = write ? SIM_DIR_WRITE : SIM_DIR_READ;
	io->c.buf = io->buf;
	io->c.len = nlb * BLK;
}

static void submit(struct io *io)
{
	int r;

	while ((r = sim_submit(g.sim, &io->c)) == -EAGAIN)
		if (sim_poll(g.sim, 1000) < 0 && sim_is_broken(g.sim))
			DIE("ring broken: %s", sim_error(g.sim));
	if (r < 0)
		DIE("submit: %s", strerror(-r));
	io->busy = true;
}

static void run(struct io *io)
{
	submit(io);
	if (sim_wait(g.sim, &io->c, 120000) < 0)
		DIE("no completion for 120 s");
	io->busy = false;
}

/* 0 GOOD, 1 04/0A, 2 04/0B, 3 04/0C, 4 BUSY, 5 anything else */
static int outcome(const struct sim_cmd *c)
{
	if (c->status == SCSI_STATUS_GOOD)
		return 0;
	if (c->status == SCSI_STATUS_BUSY)
		return 4;
	if (c->status == SCSI_STATUS_CHECK_CONDITION && (c->sense[2] & 0xf) == 2 &&
	    c->sense[12] == 0x04 && c->sense[13] >= 0x0a && c->sense[13] <= 0x0c)
		return c->sense[13] - 0x09;
	return 5;
}

static void cmd_write(uint64_t lba, uint32_t nlb, const char *stamp)
{
	static struct io io;
	uint64_t t0 = clock_now_ns();
	unsigned int retries = 0;
	int o;

	for (;;) {
		prepare(&io, true, lba, nlb);
		for (uint32_t i = 0; i < nlb; i++)
			stamp_block(io.buf + i * BLK, stamp, lba + i);
		run(&io);
		o = outcome(&io.c);
		if ((o != 1 && o != 4) || clock_now_ns() - t0 > RETRY_NS)
			break;
		retries++;
		usleep(10000);
	}
	unsigned long long ms = (clock_now_ns() - t0) / 1000000;
	if (o == 0)
		printf("ok %u %llu\n", retries, ms);
	else if (o == 2)
		printf("standby %llu\n", ms);
	else if (o == 3)
		printf("unavailable %llu\n", ms);
	else
		printf("sense %02x/%02x/%02x status 0x%02x %llu\n", io.c.sense[2] & 0xf,
		       io.c.sense[12], io.c.sense[13], io.c.status, ms);
}

/* The distinct stamps of @nlb blocks in @b, in order of first appearance. */
static void print_stamps(const uint8_t *b, uint64_t nlb)
{
	char seen[64][16];
	unsigned int n = 0;

	for (uint64_t i = 0; i < nlb; i++) {
		char s[16] = "";
		unsigned int k;

		if (sscanf((const char *)b + i * BLK, "%15s", s) != 1 || !s[0])
			snprintf(s, sizeof(s), "?");
		for (k = 0; k < n && strcmp(seen[k], s); k++)
			;
		if (k == n && n < 64)
			snprintf(seen[n++], 16, "%s", s);
	}
	for (unsigned int k = 0; k < n; k++)
		printf("%s%s", k ? "," : "", seen[k]);
	printf("\n");
}

static void cmd_read(uint64_t lba, uint32_t nlb)
{
	static struct io io;

	prepare(&io, false, lba, nlb);
	run(&io);
	if (io.c.status) {
		printf("sense %02x/%02x/%02x\n", io.c.sense[2] & 0xf, io.c.sense[12],
		       io.c.sense[13]);
		return;
	}
	printf("data ");
	print_stamps(io.buf, nlb);
}

static void cmd_rtpg(void)
{
	static const char *const names[16] = { "ao",  "ano", "standby", "unavailable",
					       "lbd", "5",   "6",	"7",
					       "8",   "9",   "10",	"11",
					       "12",  "13",  "offline", "transitioning" };
	static struct io io;
	uint32_t len, off;

	reset(&io.c);
	io.c.cdb[0] = 0xa3; /* MAINTENANCE IN */
	io.c.cdb[1] = 0x0a; /* REPORT TARGET PORT GROUPS */
	put_be(io.c.cdb + 6, 1024, 4);
	io.c.dir = SIM_DIR_READ;
	io.c.buf = io.buf;
	io.c.len = 1024;
	run(&io);
	if (io.c.status) {
		printf("sense %02x/%02x/%02x\n", io.c.sense[2] & 0xf, io.c.sense[12],
		       io.c.sense[13]);
		return;
	}
	len = (uint32_t)io.buf[0] << 24 | (uint32_t)io.buf[1] << 16 | io.buf[2] << 8 | io.buf[3];
	printf("groups");
	for (off = 4; off + 8 <= len + 4 && off + 8 <= io.c.xfer_len;
	     off += 8 + 4u * io.buf[off + 7])
		printf(" %u=%s", io.buf[off + 2] << 8 | io.buf[off + 3], names[io.buf[off] & 0xf]);
	printf("\n");
}

static void cmd_state(void)
{
	static const char *const names[] = { "optimized", "nonoptimized", "standby",
					     "transitioning", "unavailable" };
	struct blk_access a;

	if (blk_get_access(g.bs, &a) < 0) {
		printf("state none\n");
		return;
	}
	printf("state %s acquired=%llu lost=%llu timeouts=%llu conn_lost=%llu owner_tag=%d\n",
	       names[a.state], (unsigned long long)a.acquired, (unsigned long long)a.lost,
	       (unsigned long long)a.timeouts, (unsigned long long)a.conn_lost, a.owner_tag);
}

/* ---- flood --------------------------------------------------------------------------- */

static uint64_t rnd(void)
{
	g.x ^= g.x << 13;
	g.x ^= g.x >> 7;
	g.x ^= g.x << 17;
	return g.x;
}

static void flood_pump(void)
{
	sim_reap(g.sim);
	for (unsigned int i = 0; i < g.qd; i++) {
		struct io *io = &g.flood[i];
		uint64_t lba;

		if (io->busy && io->c.done) {
			io->busy = false;
			switch (outcome(&io->c)) {
			case 0:
				g.ok++;
				break;
			case 1:
				g.transition++;
				g.flooding = g.flooding && !g.failover;
				break;
			case 2:
				g.standby++;
				g.flooding = g.flooding && !g.failover;
				break;
			case 3:
				g.unavailable++;
				g.flooding = g.flooding && !g.failover;
				break;
			default:
				if (!g.other++)
					fprintf(stderr,
						"gwtest: flood: status 0x%02x sense "
						"%02x/%02x/%02x\n",
						io->c.status, io->c.sense[2] & 0xf, io->c.sense[12],
						io->c.sense[13]);
			}
		}
		if (!io->busy && g.flooding) {
			lba = g.lba + rnd() % g.nlb;
			prepare(io, true, lba, 1);
			stamp_block(io->buf, g.stamp, lba);
			submit(io);
		}
	}
}

static bool flood_busy(void)
{
	for (unsigned int i = 0; i < g.qd; i++)
		if (g.flood[i].busy)
			return true;
	return false;
}

static void cmd_flood(uint64_t lba, uint64_t nlb, const char *stamp, unsigned int qd, bool failover)
{
	g.failover = failover;
	g.lba = lba;
	g.nlb = nlb ? nlb : 1;
	g.qd = qd < 1 ? 1 : qd > FLOOD_MAX ? FLOOD_MAX : qd;
	snprintf(g.stamp, sizeof(g.stamp), "%s", stamp);
	g.ok = g.transition = g.standby = g.unavailable = g.other = 0;
	g.flooding = true;
	printf("flooding\n");
}

static void cmd_stop(void)
{
	g.flooding = false;
	while (flood_busy()) {
		sim_poll(g.sim, 100);
		flood_pump();
	}
	printf("flood ok=%lu transition=%lu standby=%lu unavailable=%lu other=%lu\n", g.ok,
	       g.transition, g.standby, g.unavailable, g.other);
}

/* ---- main ---------------------------------------------------------------------------- */

static bool dispatch(char *line)
{
	unsigned long long a = 0, b = 0;
	unsigned int qd = 0;
	char s[16] = "", mode[16] = "";

	if (sscanf(line, "write %llu %llu %15s", &a, &b, s) == 3 && b && b <= MAX_NLB)
		cmd_write(a, (uint32_t)b, s);
	else if (sscanf(line, "read %llu %llu", &a, &b) == 2 && b && b <= MAX_NLB)
		cmd_read(a, (uint32_t)b);
	else if (!strncmp(line, "rtpg", 4))
		cmd_rtpg();
	else if (!strncmp(line, "state", 5))
		cmd_state();
	else if (sscanf(line, "flood %llu %llu %15s %u %15s", &a, &b, s, &qd, mode) >= 4)
		cmd_flood(a, b, s, qd, !strcmp(mode, "failover"));
	else if (!strncmp(line, "stop", 4))
		cmd_stop();
	else if (!strncmp(line, "quit", 4))
		return false;
	else
		printf("error: %s", line);
	fflush(stdout);
	return true;
}

static void serve(const char *cfg)
{
	struct ring_dev_params p = { .name = "gw", .max_inflight = 64 };
	struct sim_params sp = { 0 };
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	char line[256], id[CFGSTR_ID_MAX];
	struct err err;
	int r;

	err_init(&err);
	if (sim_new(&sp, &g.sim, &err) < 0)
		DIE("%s", err.msg);
	if (g.subtype) {
		cfgstr_set_subtype(g.subtype);
		r = cfgstr_open(cfg, BLK_O_RDWR, &g.bs, id, &err);
	} else {
		r = blk_open_str(cfg, BLK_O_RDWR, &g.bs, &err);
	}
	if (r < 0)
		DIE("%s", err.msg);
	g.nblk = (uint64_t)blk_getlength(g.bs) / BLK;
	blk_set_access_tag(g.bs, (int)g.group); /* as the daemon does from configfs */
	sim_daemon_map(g.sim, &p.map, &p.map_size);
	p.fd = sim_daemon_fd(g.sim);
	p.bs = g.bs;
	p.lun.block_size = BLK;
	p.lun.max_sectors = MAX_NLB;
	p.lun.get_alua = get_alua;
	p.lun.get_serial = get_serial;
	if (ring_dev_start(&p, &g.dev, &err) < 0)
		DIE("ring_dev_start: %s", err.msg);
	setvbuf(stdin, NULL, _IONBF, 0);
	for (;;) {
		if (g.flooding)
			flood_pump();
		if (poll(&pfd, 1, g.flooding ? 0 : -1) > 0) {
			if (!fgets(line, sizeof(line), stdin) || !dispatch(line))
				break;
		} else if (g.flooding) {
			sim_poll(g.sim, 5);
		}
	}
	g.flooding = false;
	while (flood_busy()) {
		sim_poll(g.sim, 100);
		flood_pump();
	}
	ring_dev_stop(g.dev);
	blk_close(g.bs);
	sim_free(g.sim);
}

static int check(const char *file, uint64_t lba, uint64_t nlb)
{
	FILE *f = fopen(file, "rb");
	uint8_t *b = malloc(nlb * BLK);

	if (!f || !b || fseek(f, (long)(lba * BLK), SEEK_SET) || fread(b, BLK, nlb, f) != nlb)
		DIE("cannot read %llu blocks at %llu of %s", (unsigned long long)nlb,
		    (unsigned long long)lba, file);
	print_stamps(b, nlb);
	fclose(f);
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "group", 1, NULL, 'g' },	 { "groups", 1, NULL, 'n' },
					    { "check", 0, NULL, 'c' },	 { "debug", 1, NULL, 'D' },
					    { "subtype", 1, NULL, 's' }, { NULL, 0, NULL, 0 } };
	bool chk = false;
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'g')
			g.group = (unsigned int)atoi(optarg);
		else if (c == 'n')
			g.ngroups = (unsigned int)atoi(optarg);
		else if (c == 'c')
			chk = true;
		else if (c == 's')
			g.subtype = optarg;
		else if (c != 'D' || log_enable_debug(optarg, NULL) < 0)
			return 2;
	}
	if (chk && argc - optind == 3)
		return check(argv[optind], strtoull(argv[optind + 1], NULL, 0),
			     strtoull(argv[optind + 2], NULL, 0));
	if (chk || argc - optind != 1 || !g.group || g.group > g.ngroups ||
	    g.ngroups > SCSI_ALUA_MAX_GROUPS)
		DIE("usage: qemu-tcmu-gwtest [--group G] [--groups N] CFGSTRING | --check FILE "
		    "LBA NLB");
	serve(argv[optind]);
	return 0;
}
