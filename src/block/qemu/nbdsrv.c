/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A small NBD server serving a node to the QEMU helper (see nbdsrv.h).  Numbers and
 * layouts are the NBD protocol specification's (doc/proto.md of the NBD project). */
#include "nbdsrv.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block/block.h"
#include "util/bytes.h"
#include "util/log.h"

/* Handshake. */
#define NBD_MAGIC 0x4e42444d41474943ull	     /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC 0x49484156454f5054ull /* "IHAVEOPT" */
#define NBD_REP_MAGIC 0x3e889045565a9ull
#define NBD_FLAG_FIXED_NEWSTYLE (1u << 0)
#define NBD_FLAG_NO_ZEROES (1u << 1)
#define NBD_FLAG_C_KNOWN (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)

#define NBD_OPT_EXPORT_NAME 1
#define NBD_OPT_ABORT 2
#define NBD_OPT_LIST 3
#define NBD_OPT_INFO 6
#define NBD_OPT_GO 7
#define NBD_OPT_STRUCTURED_REPLY 8
#define NBD_OPT_LIST_META_CONTEXT 9
#define NBD_OPT_SET_META_CONTEXT 10
#define NBD_OPT_MAX_LEN 65536u

#define NBD_REP_ACK 1u
#define NBD_REP_SERVER 2u
#define NBD_REP_INFO 3u
#define NBD_REP_META_CONTEXT 4u
#define NBD_REP_ERR_UNSUP (0x80000000u | 1)
#define NBD_REP_ERR_INVALID (0x80000000u | 3)

#define NBD_INFO_EXPORT 0
#define NBD_INFO_BLOCK_SIZE 3

/* Transmission flags. */
#define NBD_FLAG_HAS_FLAGS (1u << 0)
#define NBD_FLAG_READ_ONLY (1u << 1)
#define NBD_FLAG_SEND_FLUSH (1u << 2)
#define NBD_FLAG_SEND_FUA (1u << 3)
#define NBD_FLAG_SEND_TRIM (1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES (1u << 6)
#define NBD_FLAG_SEND_DF (1u << 7)
#define NBD_FLAG_SEND_FAST_ZERO (1u << 11)

/* Requests and replies. */
#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC 0x668e33efu
#define NBD_REQUEST_LEN 28
#define NBD_CMD_READ 0
#define NBD_CMD_WRITE 1
#define NBD_CMD_DISC 2
#define NBD_CMD_FLUSH 3
#define NBD_CMD_TRIM 4
#define NBD_CMD_WRITE_ZEROES 6
#define NBD_CMD_BLOCK_STATUS 7
#define NBD_CMD_FLAG_FUA (1u << 0)
#define NBD_CMD_FLAG_NO_HOLE (1u << 1)
#define NBD_CMD_FLAG_REQ_ONE (1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO (1u << 4)
#define NBD_REPLY_FLAG_DONE (1u << 0)
#define NBD_REPLY_TYPE_NONE 0
#define NBD_REPLY_TYPE_OFFSET_DATA 1
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_ERROR ((1u << 15) | 1)
#define NBD_STATE_HOLE (1u << 0)
#define NBD_STATE_ZERO (1u << 1)

#define META_BASE_ALLOCATION "base:allocation"
#define META_ID 1

#define MAX_PAYLOAD (32u << 20) /* the spec's largest request a client may count on */
#define PREF_BLOCK 4096u
#define MAX_BLOCK (4u << 20) /* what we advertise: buffers stay small */
#define MAX_EXTENTS 16

struct nbdsrv {
	struct blk_node *bs;
	int fd;
	bool read_only;
	bool structured; /* NBD_OPT_STRUCTURED_REPLY */
	bool meta_base;	 /* base:allocation selected */
	uint16_t tflags;
	char *desc;
	pthread_t main;
	pthread_t workers[NBDSRV_THREADS - 1];
	int nworkers;
	pthread_mutex_t rx, tx; /* reading a request; sending a reply */
	bool done;		/* under rx: no more requests */
};

/* ---- the socket --------------------------------------------------------------------------- */

static int recv_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int send_iov(int fd, struct iovec *iov, int cnt)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };

	while (m.msg_iovlen) {
		ssize_t n = sendmsg(fd, &m, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		while (m.msg_iovlen && (size_t)n >= m.msg_iov->iov_len) {
			n -= (ssize_t)m.msg_iov->iov_len;
			m.msg_iov++;
			m.msg_iovlen--;
		}
		if (m.msg_iovlen) {
			m.msg_iov->iov_base = (uint8_t *)m.msg_iov->iov_base + n;
			m.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int send_buf(int fd, const void *buf, size_t len)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = len };

	return send_iov(fd, &v, 1);
}

/* ---- the handshake ------------------------------------------------------------------------ */

static int opt_reply(struct nbdsrv *s, uint32_t opt, uint32_t type, const void *data,
		     uint32_t len)
{
	uint8_t h[20];
	struct iovec v[2] = { { h, sizeof(h) }, { (void *)data, len } };

	put_be64(h, NBD_REP_MAGIC);
	put_be32(h + 8, opt);
	put_be32(h + 12, type);
	put_be32(h + 16, len);
	return send_iov(s->fd, v, len ? 2 : 1);
}

static uint16_t transmission_flags(const struct nbdsrv *s)
{
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA;

	if (s->read_only)
		return f | NBD_FLAG_READ_ONLY;
	f |= NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
	if (blk_get_limits(s->bs)->caps & BLK_CAP_DISCARD)
		f |= NBD_FLAG_SEND_TRIM;
	if (s->structured)
		f |= NBD_FLAG_SEND_DF; /* reads are never fragmented anyway */
	return f;
}

/* NBD_OPT_INFO / NBD_OPT_GO: the export's size and flags, and block sizes if asked. */
static int opt_info(struct nbdsrv *s, uint32_t opt, const uint8_t *d, uint32_t len)
{
	uint8_t exp[12], bsz[14];
	uint32_t namelen;
	uint16_t ninfo;
	bool want_bs = false;
	int r;

	if (len < 6 || (namelen = get_be32(d)) > len - 6)
		return opt_reply(s, opt, NBD_REP_ERR_INVALID, NULL, 0);
	ninfo = get_be16(d + 4 + namelen);
	if (len != 6 + namelen + 2u * ninfo)
		return opt_reply(s, opt, NBD_REP_ERR_INVALID, NULL, 0);
	for (uint16_t i = 0; i < ninfo; i++)
		want_bs |= get_be16(d + 6 + namelen + 2 * i) == NBD_INFO_BLOCK_SIZE;
	s->tflags = transmission_flags(s);
	put_be16(exp, NBD_INFO_EXPORT);
	put_be64(exp + 2, (uint64_t)blk_getlength(s->bs));
	put_be16(exp + 10, s->tflags);
	r = opt_reply(s, opt, NBD_REP_INFO, exp, sizeof(exp));
	if (r == 0 && want_bs) {
		/* any alignment: our block layer aligns for the file (O_DIRECT) */
		put_be16(bsz, NBD_INFO_BLOCK_SIZE);
		put_be32(bsz + 2, 1);
		put_be32(bsz + 6, PREF_BLOCK);
		put_be32(bsz + 10, MAX_BLOCK);
		r = opt_reply(s, opt, NBD_REP_INFO, bsz, sizeof(bsz));
	}
	if (r == 0)
		r = opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
	return r < 0 ? r : (opt == NBD_OPT_GO); /* 1: transmission begins */
}

static int reply_context(struct nbdsrv *s, uint32_t opt)
{
	uint8_t b[4 + sizeof(META_BASE_ALLOCATION) - 1];

	put_be32(b, META_ID);
	memcpy(b + 4, META_BASE_ALLOCATION, sizeof(b) - 4);
	return opt_reply(s, opt, NBD_REP_META_CONTEXT, b, sizeof(b));
}

/* NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT: base:allocation only. */
static int opt_meta(struct nbdsrv *s, uint32_t opt, const uint8_t *d, uint32_t len)
{
	bool set = opt == NBD_OPT_SET_META_CONTEXT;
	uint32_t namelen, nq, pos;
	int r = 0;

	if ((set && !s->structured) || len < 8 || (namelen = get_be32(d)) > len - 8)
		return opt_reply(s, opt, NBD_REP_ERR_INVALID, NULL, 0);
	nq = get_be32(d + 4 + namelen);
	pos = 8 + namelen;
	if (set)
		s->meta_base = false;
	if (!set && nq == 0)
		r = reply_context(s, opt);
	for (uint32_t i = 0; r == 0 && i < nq; i++) {
		uint32_t ql;
		const char *q;

		if (pos + 4 > len || (ql = get_be32(d + pos)) > len - pos - 4)
			return opt_reply(s, opt, NBD_REP_ERR_INVALID, NULL, 0);
		q = (const char *)d + pos + 4;
		pos += 4 + ql;
		if ((ql == strlen(META_BASE_ALLOCATION) && !memcmp(q, META_BASE_ALLOCATION, ql)) ||
		    (!set && ql == 5 && !memcmp(q, "base:", 5))) {
			s->meta_base |= set;
			r = reply_context(s, opt);
		}
	}
	return r < 0 ? r : opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
}

/* One option; 1 when transmission begins, 0 for the next option, or -errno. */
static int handle_option(struct nbdsrv *s, uint32_t opt, const uint8_t *d, uint32_t len,
			 bool no_zeroes)
{
	uint8_t exp[10 + 124] = { 0 }, srv[4] = { 0 };

	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		s->tflags = transmission_flags(s);
		put_be64(exp, (uint64_t)blk_getlength(s->bs));
		put_be16(exp + 8, s->tflags);
		return send_buf(s->fd, exp, no_zeroes ? 10 : sizeof(exp)) ?: 1;
	case NBD_OPT_ABORT:
		opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
		return -ECONNABORTED;
	case NBD_OPT_LIST:
		return opt_reply(s, opt, NBD_REP_SERVER, srv, sizeof(srv)) ?:
			       opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		return opt_info(s, opt, d, len);
	case NBD_OPT_STRUCTURED_REPLY:
		if (len)
			return opt_reply(s, opt, NBD_REP_ERR_INVALID, NULL, 0);
		s->structured = true;
		return opt_reply(s, opt, NBD_REP_ACK, NULL, 0);
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		return opt_meta(s, opt, d, len);
	default: /* STARTTLS among them: a socketpair needs no TLS */
		return opt_reply(s, opt, NBD_REP_ERR_UNSUP, NULL, 0);
	}
}

static int handshake(struct nbdsrv *s)
{
	uint8_t hello[18], h[16], *d = NULL;
	uint32_t cflags;
	int r;

	put_be64(hello, NBD_MAGIC);
	put_be64(hello + 8, NBD_OPTS_MAGIC);
	put_be16(hello + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	r = send_buf(s->fd, hello, sizeof(hello));
	if (r == 0)
		r = recv_full(s->fd, h, 4);
	if (r < 0)
		return r;
	cflags = get_be32(h);
	if (cflags & ~NBD_FLAG_C_KNOWN)
		return -EPROTO;
	for (;;) {
		uint32_t opt, len;

		r = recv_full(s->fd, h, sizeof(h));
		if (r < 0)
			break;
		opt = get_be32(h + 8);
		len = get_be32(h + 12);
		if (get_be64(h) != NBD_OPTS_MAGIC || len > NBD_OPT_MAX_LEN) {
			r = -EPROTO;
			break;
		}
		free(d);
		d = malloc(len + 1);
		r = d ? recv_full(s->fd, d, len) : -ENOMEM;
		if (r == 0)
			r = handle_option(s, opt, d, len, cflags & NBD_FLAG_NO_ZEROES);
		if (r != 0)
			break;
	}
	free(d);
	return r < 0 ? r : 0;
}

/* ---- transmission ------------------------------------------------------------------------- */

struct req {
	uint16_t flags, type;
	uint64_t handle, off;
	uint32_t len;
};

static uint32_t nbd_errno(int r)
{
	switch (-r) {
	case EPERM:
	case EROFS:
		return 1; /* NBD_EPERM */
	case ENOMEM:
		return 12;
	case EINVAL:
		return 22;
	case ENOSPC:
	case EFBIG:
		return 28;
	case EOVERFLOW:
		return 75;
	case ENOTSUP:
		return 95;
	case ESHUTDOWN:
		return 108;
	default:
		return 5; /* NBD_EIO */
	}
}

/* A structured reply chunk: header, then @payload (its length in the header). */
static int send_chunk(struct nbdsrv *s, const struct req *q, uint16_t type, struct iovec *payload,
		      int cnt)
{
	struct iovec v[3];
	uint8_t h[20];
	uint32_t len = 0;

	for (int i = 0; i < cnt; i++) {
		len += (uint32_t)payload[i].iov_len;
		v[1 + i] = payload[i];
	}
	put_be32(h, NBD_STRUCTURED_REPLY_MAGIC);
	put_be16(h + 4, NBD_REPLY_FLAG_DONE);
	put_be16(h + 6, type);
	put_be64(h + 8, q->handle);
	put_be32(h + 16, len);
	v[0] = (struct iovec){ h, sizeof(h) };
	return send_iov(s->fd, v, 1 + cnt);
}

/* The reply to @q, which ended with @ret; a successful read's data in @data. */
static int send_reply(struct nbdsrv *s, const struct req *q, int ret, void *data,
		      const uint8_t *extents, uint32_t ext_len)
{
	uint8_t h[16], off[8], err[6];
	struct iovec p[2];
	int r;

	pthread_mutex_lock(&s->tx);
	if (!s->structured) {
		struct iovec v[2] = { { h, sizeof(h) }, { data, q->len } };

		put_be32(h, NBD_SIMPLE_REPLY_MAGIC);
		put_be32(h + 4, ret < 0 ? nbd_errno(ret) : 0);
		put_be64(h + 8, q->handle);
		r = send_iov(s->fd, v, ret == 0 && q->type == NBD_CMD_READ ? 2 : 1);
	} else if (ret < 0) {
		put_be32(err, nbd_errno(ret));
		put_be16(err + 4, 0); /* no message */
		p[0] = (struct iovec){ err, sizeof(err) };
		r = send_chunk(s, q, NBD_REPLY_TYPE_ERROR, p, 1);
	} else if (q->type == NBD_CMD_READ) {
		put_be64(off, q->off);
		p[0] = (struct iovec){ off, sizeof(off) };
		p[1] = (struct iovec){ data, q->len };
		r = send_chunk(s, q, NBD_REPLY_TYPE_OFFSET_DATA, p, 2);
	} else if (q->type == NBD_CMD_BLOCK_STATUS) {
		p[0] = (struct iovec){ (void *)extents, ext_len };
		r = send_chunk(s, q, NBD_REPLY_TYPE_BLOCK_STATUS, p, 1);
	} else {
		r = send_chunk(s, q, NBD_REPLY_TYPE_NONE, NULL, 0);
	}
	pthread_mutex_unlock(&s->tx);
	return r;
}

/* base:allocation extents of [off, off + len) into @b (context id first); its length. */
static int block_status(struct nbdsrv *s, const struct req *q, uint8_t *b, uint32_t *out_len)
{
	int64_t size = blk_getlength(s->bs);
	uint64_t off = q->off, end;
	int n = 0, max = (q->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : MAX_EXTENTS;

	if (!s->meta_base)
		return -EINVAL;
	if (size < 0 || q->off >= (uint64_t)size || q->len == 0)
		return -EINVAL;
	end = q->off + q->len > (uint64_t)size ? (uint64_t)size : q->off + q->len;
	put_be32(b, META_ID);
	while (off < end && n < max) {
		uint64_t pnum = 0;
		int st = blk_block_status(s->bs, off, end - off, &pnum, NULL, NULL);
		uint32_t flags = 0;

		if (st < 0)
			return n ? 0 : st;
		if (!pnum)
			break;
		if (!(st & BLK_STATUS_DATA))
			flags |= NBD_STATE_HOLE;
		if (st & BLK_STATUS_ZERO)
			flags |= NBD_STATE_ZERO;
		put_be32(b + 4 + 8 * n, (uint32_t)pnum);
		put_be32(b + 8 + 8 * n, flags);
		n++;
		off += pnum;
	}
	*out_len = 4 + 8 * (uint32_t)n;
	return n ? 0 : -EIO;
}

static int execute(struct nbdsrv *s, const struct req *q, void *buf, uint8_t *ext,
		   uint32_t *ext_len)
{
	bool writes = q->type == NBD_CMD_WRITE || q->type == NBD_CMD_TRIM ||
		      q->type == NBD_CMD_WRITE_ZEROES;
	unsigned int zf = 0;

	if (writes && s->read_only)
		return -EPERM;
	if (q->off + q->len < q->off)
		return -EINVAL;
	switch (q->type) {
	case NBD_CMD_READ:
		return blk_pread(s->bs, q->off, buf, q->len);
	case NBD_CMD_WRITE:
		return blk_pwrite(s->bs, q->off, buf, q->len,
				  (q->flags & NBD_CMD_FLAG_FUA) ? BLK_REQ_FUA : 0);
	case NBD_CMD_FLUSH:
		return blk_flush(s->bs);
	case NBD_CMD_TRIM:
		return blk_discard(s->bs, q->off, q->len);
	case NBD_CMD_WRITE_ZEROES:
		if (!(q->flags & NBD_CMD_FLAG_NO_HOLE))
			zf |= BLK_REQ_MAY_UNMAP;
		if (q->flags & NBD_CMD_FLAG_FAST_ZERO)
			zf |= BLK_REQ_NO_FALLBACK;
		if (q->flags & NBD_CMD_FLAG_FUA)
			zf |= BLK_REQ_FUA;
		return blk_write_zeroes(s->bs, q->off, q->len, zf);
	case NBD_CMD_BLOCK_STATUS:
		return block_status(s, q, ext, ext_len);
	default:
		return -EINVAL;
	}
}

/* A buffer of at least @len bytes (page-aligned: the file may be O_DIRECT). */
static int grow(void **buf, size_t *cap, size_t len)
{
	void *n;

	if (len <= *cap)
		return 0;
	if (posix_memalign(&n, 4096, len))
		return -ENOMEM;
	free(*buf);
	*buf = n;
	*cap = len;
	return 0;
}

/* Read the next request (and a write's payload) under the rx lock; 1 when the session is
 * over. */
static int next_request(struct nbdsrv *s, struct req *q, void **buf, size_t *cap)
{
	uint8_t h[NBD_REQUEST_LEN];
	int r = 1;

	pthread_mutex_lock(&s->rx);
	if (s->done)
		goto out;
	r = recv_full(s->fd, h, sizeof(h));
	if (r == 0 && get_be32(h) != NBD_REQUEST_MAGIC)
		r = -EPROTO;
	if (r == 0) {
		q->flags = get_be16(h + 4);
		q->type = get_be16(h + 6);
		q->handle = get_be64(h + 8);
		q->off = get_be64(h + 16);
		q->len = get_be32(h + 24);
		if (q->type == NBD_CMD_DISC)
			r = 1;
		else if ((q->type == NBD_CMD_READ || q->type == NBD_CMD_WRITE) &&
			 q->len > MAX_PAYLOAD)
			r = -EPROTO; /* a write's payload could not be skipped in step */
	}
	if (r == 0 && (q->type == NBD_CMD_READ || q->type == NBD_CMD_WRITE))
		r = grow(buf, cap, q->len ? q->len : 1);
	if (r == 0 && q->type == NBD_CMD_WRITE)
		r = recv_full(s->fd, *buf, q->len);
	if (r != 0) {
		if (r < 0 && r != -ECONNRESET)
			log_debug("nbd", "nbd server for %s: %s", s->desc, strerror(-r));
		s->done = true;
		r = 1;
	}
out:
	pthread_mutex_unlock(&s->rx);
	return r;
}

static void *worker(void *opaque)
{
	struct nbdsrv *s = opaque;
	uint8_t ext[4 + 8 * MAX_EXTENTS];
	void *buf = NULL;
	size_t cap = 0;
	struct req q;

	while (next_request(s, &q, &buf, &cap) == 0) {
		uint32_t ext_len = 0;
		int ret = execute(s, &q, buf, ext, &ext_len);

		if (ret > 0)
			ret = 0;
		if (send_reply(s, &q, ret, buf, ext, ext_len) < 0) {
			pthread_mutex_lock(&s->rx);
			s->done = true;
			pthread_mutex_unlock(&s->rx);
			shutdown(s->fd, SHUT_RDWR); /* wakes a thread blocked reading */
			break;
		}
	}
	free(buf);
	return NULL;
}

static void *session(void *opaque)
{
	struct nbdsrv *s = opaque;
	int r = handshake(s);

	if (r < 0) {
		if (r != -ECONNRESET && r != -ECONNABORTED)
			log_debug("nbd", "nbd server for %s: handshake: %s", s->desc,
				  strerror(-r));
		return NULL;
	}
	for (int i = 0; i < NBDSRV_THREADS - 1; i++)
		if (pthread_create(&s->workers[s->nworkers], NULL, worker, s) == 0)
			s->nworkers++;
	worker(s);
	for (int i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i], NULL);
	return NULL;
}

int nbdsrv_start(struct blk_node *bs, bool read_only, int fd, const char *desc,
		 struct nbdsrv **out)
{
	struct nbdsrv *s = calloc(1, sizeof(*s));
	int r;

	if (!s || !(s->desc = strdup(desc))) {
		free(s);
		close(fd);
		return -ENOMEM;
	}
	s->bs = bs;
	s->fd = fd;
	s->read_only = read_only || blk_is_read_only(bs);
	pthread_mutex_init(&s->rx, NULL);
	pthread_mutex_init(&s->tx, NULL);
	r = -pthread_create(&s->main, NULL, session, s);
	if (r < 0) {
		pthread_mutex_destroy(&s->rx);
		pthread_mutex_destroy(&s->tx);
		close(fd);
		free(s->desc);
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

void nbdsrv_free(struct nbdsrv *s)
{
	if (!s)
		return;
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->main, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->rx);
	pthread_mutex_destroy(&s->tx);
	free(s->desc);
	free(s);
}
