/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2-powercut: power-loss simulation for the qcow2 driver.
 *
 *   qcow2-powercut IMAGE SEED CRASHES [lazy]
 *
 * The qcow2 driver runs a random write / zero-write / discard / flush workload over
 * "pcut", a protocol node in memory that keeps two images: what reads see, and what a
 * flush (fdatasync) made durable, plus the log of writes since the last flush.  At random
 * writes a power cut is simulated: the durable image plus a random subset of the logged
 * writes (in order, some torn at 512-byte sectors) is written to IMAGE.crash, which then
 * must pass, with QEMU as the oracle:
 *  - `qemu-img check`: no corruption (leaks allowed);
 *  - `qemu-img convert` to raw: every 512-byte sector of each 4 KiB block holds the block's
 *    value at the last acknowledged flush or a value written to it later;
 *  - reopened read-write by our driver (lazy refcounts: repaired; then `qemu-img check`
 *    must find it clean), the same content reads back, a write + flush + close works and
 *    `qemu-img check` still finds no corruption.
 * A SIGKILL test cannot see any of this: the page cache keeps every write in order.  Here
 * writes between two flushes land in any order, so the test checks the fdatasync
 * ordering itself.  It also counts fdatasyncs per guest flush.  IMAGE is not modified.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block-driver.h"
#include "block/qcow2/qcow2.h"
#include "util/err.h"
#include "util/iov.h"
#include "util/opts.h"

extern const struct blk_driver blk_driver_qcow2;

#define BLK 4096u
#define SECTOR 512u

struct pc_write {
	uint64_t off, len; /* len = new length for a truncate */
	uint8_t *data;	   /* NULL: zeroes (discard) */
	bool trunc;
};

static struct {
	uint8_t *cur, *dur;
	uint64_t cur_len, dur_len, cap;
	struct pc_write *log;
	size_t nlog, logcap;
	uint64_t writes, syncs, countdown;
	bool in_check;
} pc;

static struct {
	const char *image;
	char crash[4200];
	uint64_t size, nblk, cluster;
	uint8_t *durable, *latest;
	uint8_t (*later)[32]; /* bitset of values written since the last acknowledged flush */
	bool lazy;
	unsigned int crashes, checked;
	uint64_t guest_flushes, flush_syncs, leaks_max;
} m;

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static NORETURN void die(const char *fmt, ...) PRINTF_FMT(1, 2);
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "qcow2-powercut: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (crash %u, image kept as %s)\n", m.checked, m.crash);
	exit(1);
}

/* ---- the pcut protocol driver ------------------------------------------------------------ */

static void pc_reserve(uint64_t len)
{
	if (len <= pc.cap)
		return;
	pc.cap = MAX(len, 2 * pc.cap);
	pc.cur = realloc(pc.cur, pc.cap);
	pc.dur = realloc(pc.dur, pc.cap);
	if (!pc.cur || !pc.dur)
		die("%s", "out of memory");
}

static void image_apply(uint8_t *img, uint64_t *len, const struct pc_write *w, uint64_t off,
			uint64_t n)
{
	if (w->trunc) {
		if (w->len > *len)
			memset(img + *len, 0, w->len - *len);
		*len = w->len;
		return;
	}
	if (off + n > *len) {
		memset(img + *len, 0, off + n - *len);
		*len = off + n;
	}
	if (w->data)
		memcpy(img + off, w->data + (off - w->off), n);
	else
		memset(img + off, 0, n);
}

static void crash_check(void);

static void pc_log(uint64_t off, uint64_t len, const uint8_t *data, bool trunc)
{
	struct pc_write *w;

	if (pc.nlog == pc.logcap) {
		pc.logcap = pc.logcap ? 2 * pc.logcap : 256;
		pc.log = realloc(pc.log, pc.logcap * sizeof(*pc.log));
		if (!pc.log)
			die("%s", "out of memory");
	}
	w = &pc.log[pc.nlog++];
	*w = (struct pc_write){ .off = off, .len = len, .trunc = trunc };
	if (data) {
		w->data = malloc(len);
		if (!w->data)
			die("%s", "out of memory");
		memcpy(w->data, data, len);
	}
	pc.writes++;
	if (!pc.in_check && pc.countdown && --pc.countdown == 0)
		crash_check();
}

static int pc_open(struct blk_node *bs, struct opts *opts, unsigned int flags, struct err *err)
{
	struct stat st;
	int fd = open(bs->filename, O_RDONLY);

	(void)opts;
	(void)flags;
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_set_errno(err, -errno, "pcut: %s", bs->filename);
	pc_reserve((uint64_t)st.st_size + (64u << 20));
	if (read(fd, pc.cur, (size_t)st.st_size) != st.st_size) {
		close(fd);
		return err_set(err, -EIO, "pcut: short read of %s", bs->filename);
	}
	close(fd);
	pc.cur_len = pc.dur_len = (uint64_t)st.st_size;
	memcpy(pc.dur, pc.cur, pc.cur_len);
	bs->total_size = pc.cur_len;
	return 0;
}

static void pc_close(struct blk_node *bs)
{
	(void)bs;
}

static void pc_limits(struct blk_node *bs, struct blk_limits *lim)
{
	(void)bs;
	lim->request_alignment = 1;
	lim->caps = BLK_CAP_GROW | BLK_CAP_DISCARD | BLK_CAP_DISCARD_ZEROES | BLK_CAP_RESIZE;
}

static int64_t pc_length(struct blk_node *bs)
{
	(void)bs;
	return (int64_t)pc.cur_len;
}

static int pc_preadv(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		     int iovcnt, unsigned int flags)
{
	uint64_t n = off < pc.cur_len ? MIN(len, pc.cur_len - off) : 0;

	(void)bs;
	(void)flags;
	iov_from_buf(iov, iovcnt, 0, pc.cur + off, n);
	if (n < len)
		iov_memset(iov, iovcnt, n, 0, len - n);
	return 0;
}

static int pc_pwritev(struct blk_node *bs, uint64_t off, uint64_t len, const struct iovec *iov,
		      int iovcnt, unsigned int flags)
{
	(void)bs;
	(void)flags;
	pc_reserve(off + len);
	if (off > pc.cur_len)
		memset(pc.cur + pc.cur_len, 0, off - pc.cur_len);
	iov_to_buf(iov, iovcnt, 0, pc.cur + off, len);
	pc.cur_len = MAX(pc.cur_len, off + len);
	pc_log(off, len, pc.cur + off, false);
	return 0;
}

static int pc_discard(struct blk_node *bs, uint64_t off, uint64_t len)
{
	(void)bs;
	if (off >= pc.cur_len)
		return 0;
	len = MIN(len, pc.cur_len - off);
	memset(pc.cur + off, 0, len);
	pc_log(off, len, NULL, false);
	return 0;
}

static int pc_truncate(struct blk_node *bs, uint64_t size, struct err *err)
{
	(void)bs;
	(void)err;
	pc_reserve(size);
	if (size > pc.cur_len)
		memset(pc.cur + pc.cur_len, 0, size - pc.cur_len);
	pc.cur_len = size;
	pc_log(0, size, NULL, true);
	return 0;
}

static int pc_flush(struct blk_node *bs)
{
	(void)bs;
	for (size_t i = 0; i < pc.nlog; i++) {
		image_apply(pc.dur, &pc.dur_len, &pc.log[i], pc.log[i].off, pc.log[i].len);
		free(pc.log[i].data);
	}
	pc.nlog = 0;
	pc.syncs++;
	return 0;
}

static const struct blk_driver pcut_driver = {
	.name = "pcut",
	.kind = BLK_DRIVER_PROTOCOL,
	.state_size = 1,
	.open = pc_open,
	.close = pc_close,
	.refresh_limits = pc_limits,
	.get_length = pc_length,
	.truncate = pc_truncate,
	.preadv = pc_preadv,
	.pwritev = pc_pwritev,
	.flush = pc_flush,
	.discard = pc_discard,
};

/* ---- the crash image and its checks ------------------------------------------------------ */

/* The durable image plus a random subset of the logged writes, some torn. */
static uint8_t *crash_image(uint64_t *len)
{
	uint8_t *img = malloc(pc.cap);

	if (!img)
		die("%s", "out of memory");
	memcpy(img, pc.dur, pc.dur_len);
	*len = pc.dur_len;
	for (size_t i = 0; i < pc.nlog; i++) {
		const struct pc_write *w = &pc.log[i];
		uint64_t end = w->off + w->len;

		if (rnd() & 1)
			continue;
		if (w->trunc || rnd_below(4)) {
			image_apply(img, len, w, w->off, w->len);
			continue;
		}
		for (uint64_t s = w->off; s < end; s = ALIGN_DOWN(s, SECTOR) + SECTOR) {
			uint64_t n = MIN(ALIGN_DOWN(s, SECTOR) + SECTOR, end) - s;

			if (rnd() & 1)
				image_apply(img, len, w, s, n);
		}
	}
	return img;
}

static int run(const char *cmd)
{
	int r = system(cmd);

	return WIFEXITED(r) ? WEXITSTATUS(r) : 128;
}

static uint64_t json_num(const char *json, const char *key)
{
	const char *p = strstr(json, key);

	return p ? strtoull(p + strlen(key) + 2, NULL, 10) : 0;
}

/* qemu-img check: no corruption; returns the leak count.  @clean: no leaks either. */
static uint64_t qemu_check(bool clean)
{
	char cmd[8800], json[4096] = "";
	FILE *f;
	size_t n;
	int rc;

	snprintf(cmd, sizeof(cmd), "qemu-img check --output=json '%s' > '%s.json' 2>&1", m.crash,
		 m.crash);
	rc = run(cmd);
	snprintf(cmd, sizeof(cmd), "%s.json", m.crash);
	f = fopen(cmd, "r");
	n = f ? fread(json, 1, sizeof(json) - 1, f) : 0;
	if (f)
		fclose(f);
	json[n] = '\0';
	if ((rc != 0 && rc != 3) || json_num(json, "\"corruptions\"") ||
	    json_num(json, "\"check-errors\"") || (clean && rc != 0))
		die("qemu-img check: %s", json);
	return json_num(json, "\"leaks\"");
}

static bool value_ok(uint64_t b, uint8_t v)
{
	return v == m.durable[b] || (m.later[b][v / 8] & (1u << (v % 8)));
}

/*
 * Does every sector of block @b hold one allowed value?  (A write not covered by a flush
 * may be torn at sectors, as on a disk.)  *bad: the first wrong byte.
 */
static bool block_ok(uint64_t b, const uint8_t *data, unsigned int *bad)
{
	for (unsigned int i = 0; i < BLK; i++) {
		if (data[i] != data[ALIGN_DOWN(i, SECTOR)] || !value_ok(b, data[i])) {
			*bad = i;
			return false;
		}
	}
	return true;
}

static void check_content(const uint8_t *data, const char *who)
{
	char msg[256];

	for (uint64_t b = 0; b < m.nblk; b++) {
		unsigned int bad;

		if (block_ok(b, data + b * BLK, &bad))
			continue;
		snprintf(msg, sizeof(msg),
			 "%s: block %" PRIu64 " holds 0x%02x (byte %u: 0x%02x); the last "
			 "acknowledged flush left 0x%02x",
			 who, b, data[b * BLK], bad, data[b * BLK + bad], m.durable[b]);
		die("%s", msg);
	}
}

static uint8_t *read_raw(void)
{
	char cmd[8800];
	uint8_t *buf = malloc(m.size);
	FILE *f;

	snprintf(cmd, sizeof(cmd), "qemu-img convert -O raw '%s' '%s.raw'", m.crash, m.crash);
	if (!buf || run(cmd) != 0)
		die("%s", "qemu-img convert failed");
	snprintf(cmd, sizeof(cmd), "%s.raw", m.crash);
	f = fopen(cmd, "rb");
	if (!f || fread(buf, 1, m.size, f) != m.size)
		die("%s", "short raw image");
	fclose(f);
	unlink(cmd);
	return buf;
}

/* Our driver on the crash image: repair/recover, same content, still writable. */
static void our_reopen(const uint8_t *want)
{
	char cfg[4300];
	struct blk_node *bs = NULL;
	struct err err;
	uint8_t *buf = malloc(m.size);

	err_init(&err);
	snprintf(cfg, sizeof(cfg), "@file=%s@format=qcow2", m.crash);
	if (!buf || blk_open_str(cfg, BLK_O_RDWR, &bs, &err) < 0)
		die("our open failed: %s", err.msg);
	if (blk_pread(bs, 0, buf, m.size) < 0)
		die("%s", "our read failed");
	if (memcmp(buf, want, m.size))
		die("%s", "our driver reads other content than qemu-img convert");
	memset(buf, 0xee, BLK);
	if (blk_pwrite(bs, rnd_below(m.nblk) * BLK, buf, BLK, 0) < 0 || blk_flush(bs) < 0)
		die("%s", "write after recovery failed");
	blk_close(bs);
	free(buf);
}

static void crash_check(void)
{
	uint64_t len, leaks;
	uint8_t *img = crash_image(&len), *raw;
	int fd = open(m.crash, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	pc.in_check = true;
	if (fd < 0 || write(fd, img, len) != (ssize_t)len || close(fd) < 0)
		die("%s", "cannot write the crash image");
	free(img);
	raw = read_raw();
	check_content(raw, "qemu-img convert");
	if (!m.lazy) { /* a dirty lazy-refcount image is checked after our repair */
		leaks = qemu_check(false);
		m.leaks_max = MAX(m.leaks_max, leaks);
	}
	our_reopen(raw);
	qemu_check(m.lazy);
	free(raw);
	m.checked++;
	pc.countdown = 1 + rnd_below(80);
	pc.in_check = false;
}

/* ---- the workload ------------------------------------------------------------------------ */

static void model_write(uint64_t b0, uint64_t n, uint8_t v)
{
	for (uint64_t b = b0; b < b0 + n; b++) {
		m.latest[b] = v;
		m.later[b][v / 8] |= (uint8_t)(1u << (v % 8));
	}
}

static void one_op(struct blk_node *bs, uint8_t *buf)
{
	uint64_t op = rnd_below(100), b0 = rnd_below(m.nblk), n;
	static const uint64_t lens[] = { 1, 1, 2, 4, 16, 33 };
	uint64_t syncs = pc.syncs;
	int r;

	if (op < 8) {
		r = blk_flush(bs);
		if (r < 0)
			die("%s", "flush failed");
		memcpy(m.durable, m.latest, m.nblk);
		memset(m.later, 0, m.nblk * sizeof(*m.later));
		m.guest_flushes++;
		m.flush_syncs += pc.syncs - syncs;
		return;
	}
	if (op < 14) {
		uint64_t per = m.cluster / BLK, c = b0 / per,
			 k = 1 + rnd_below(65536 / m.cluster + 1);
		uint64_t end = MIN(m.nblk, (c + k) * per);

		model_write(c * per, end - c * per, 0);
		r = blk_discard(bs, c * per * BLK, (end - c * per) * BLK);
		if (r < 0)
			die("%s", "discard failed");
		return;
	}
	n = lens[rnd_below(6)];
	n = MIN(n, m.nblk - b0);
	if (op < 20) {
		model_write(b0, n, 0);
		r = blk_write_zeroes(bs, b0 * BLK, n * BLK, rnd() & 1 ? BLK_REQ_MAY_UNMAP : 0);
	} else {
		uint8_t v = (uint8_t)(1 + rnd_below(255));

		model_write(b0, n, v);
		memset(buf, v, n * BLK);
		r = blk_pwrite(bs, b0 * BLK, buf, n * BLK, 0);
	}
	if (r < 0)
		die("%s", "write failed");
}

static struct blk_node *open_workload(void)
{
	struct blk_node *file = NULL, *bs = NULL;
	struct opts opts;
	struct err err;

	err_init(&err);
	opts_init(&opts);
	if (blk_open_node(&pcut_driver, m.image, NULL, &opts, BLK_O_RDWR, &file, &err) < 0 ||
	    blk_open_node(&blk_driver_qcow2, m.image, file, &opts, BLK_O_RDWR, &bs, &err) < 0)
		die("open: %s", err.msg);
	opts_release(&opts);
	return bs;
}

int main(int argc, char **argv)
{
	struct blk_node *bs;
	uint8_t *buf;

	if (argc < 4) {
		fprintf(stderr, "usage: qcow2-powercut IMAGE SEED CRASHES [lazy]\n");
		return 2;
	}
	m.image = argv[1];
	rnd_state = strtoull(argv[2], NULL, 0) * 0x9e3779b97f4a7c15ull + 1;
	m.crashes = (unsigned int)atoi(argv[3]);
	m.lazy = argc > 4 && !strcmp(argv[4], "lazy");
	snprintf(m.crash, sizeof(m.crash), "%s.crash", m.image);
	bs = open_workload();
	m.size = (uint64_t)blk_getlength(bs);
	m.cluster = ((struct qcow2_state *)bs->opaque)->cluster_size;
	m.nblk = m.size / BLK;
	m.durable = malloc(m.nblk);
	m.latest = malloc(m.nblk);
	m.later = calloc(m.nblk, sizeof(*m.later));
	buf = malloc(64 * BLK);
	if (!m.durable || !m.latest || !m.later || !buf || m.size % BLK || m.cluster < BLK)
		die("%s", "bad setup (size and cluster must be multiples of 4 KiB)");
	for (uint64_t b = 0; b < m.nblk; b++) {
		if (blk_pread(bs, b * BLK, buf, BLK) < 0)
			die("%s", "initial read failed");
		m.durable[b] = m.latest[b] = buf[0];
	}
	pc.countdown = 1 + rnd_below(80);
	while (m.checked < m.crashes)
		one_op(bs, buf);
	blk_close(bs);
	printf("%u power cuts checked; %" PRIu64 " guest flushes cost %" PRIu64
	       " fdatasyncs (%.2f each); at most %" PRIu64 " leaked clusters\n",
	       m.checked, m.guest_flushes, m.flush_syncs,
	       m.guest_flushes ? (double)m.flush_syncs / (double)m.guest_flushes : 0.0,
	       m.leaks_max);
	unlink(m.crash);
	free(buf);
	return 0;
}
