/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The QEMU helper: a qemu-nbd child process per image (see helper.h). */
#include "helper.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "block/block.h"
#include "broker.h"
#include "probe.h"
#include "proc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"

#define HELPER_PROG "qemu-nbd"
#define HELPER_MAX_ARGS 48
#define STOP_GRACE_MS 5000 /* after our disconnect it flushes and exits on its own */
#define TERM_GRACE_MS 2000
/* A network client library may take long to tear down after our disconnect (libgfapi's
 * glfs_fini: ~10 s); nobody waits for it, and it is terminated only after this long. */
#define NET_EXIT_GRACE_MS 60000
#define NET_CLOSE_WAIT_MS 100 /* ... but a helper that exits at once is reaped at once */
#define MAX_CRASHES 2	      /* network helpers: deaths by a signal we did not send */

struct qemu_helper {
	pthread_mutex_t lock; /* pid, starts, status: describe() may run concurrently */
	char *prog;
	char *argv[HELPER_MAX_ARGS];
	int argc;
	char *desc;
	char *fmt;
	bool read_only;
	bool network;	/* the image is on a server (URL, or a file.driver other than files') */
	pid_t pid;	/* running child, or 0 */
	bool signalled; /* we sent the running child a signal */
	unsigned int starts, crashes;
	int out_fd; /* memfd: the child's stdout and stderr */
	/* a local image: the helper opens it as BROKER_IMAGE_PATH, the daemon in its place */
	char *image; /* its path, or NULL (a network image) */
	/* an NBD export on a unix socket the helper may not reach: the daemon connects */
	char *nbd_socket, *nbd_export;
	bool keep_ids;	       /* gluster, nfs, rbd, ssh: the daemon's uid/gid (probe.h) */
	struct broker *broker; /* answering the running helper's opens */
	/* secret objects' files, read by the daemon, handed over in pipes (proc.h) */
	struct qh_blob secrets[QH_MAX_PASS];
	int nsecrets;
};

/* ---- the command line ------------------------------------------------------------------ */

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

/* Append ",key=value" to @buf (QEMU's escaping: a comma in a value is doubled). */
static int kv_append(char **buf, size_t *len, size_t *cap, const char *key, const char *val)
{
	size_t need = *len + strlen(key) + 2 * strlen(val) + 3;

	if (need > *cap) {
		char *n = realloc(*buf, need * 2);

		if (!n)
			return -ENOMEM;
		*buf = n;
		*cap = need * 2;
	}
	*len += (size_t)sprintf(*buf + *len, "%s%s=", *len ? "," : "", key);
	for (const char *p = val; *p; p++) {
		(*buf)[(*len)++] = *p;
		if (*p == ',')
			(*buf)[(*len)++] = ',';
	}
	(*buf)[*len] = '\0';
	return 0;
}

/* One argument: @opt followed by @val ("--cache=" "none"). */
static int add_arg(struct qemu_helper *h, const char *opt, const char *val, struct err *err)
{
	char *a = NULL;

	if (h->argc >= HELPER_MAX_ARGS - 1)
		return err_set(err, -E2BIG, "qemu helper: too many options");
	if (asprintf(&a, "%s%s", opt, val) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	h->argv[h->argc++] = a;
	return 0;
}

static bool is_object_key(const char *k)
{
	return !strcmp(k, "object") || has_prefix(k, "object.");
}

/* A key of ours that becomes one of qemu-nbd's options, or is the daemon's ("id"). */
static bool is_own_key(const char *k)
{
	return !strcmp(k, "id") || !strcmp(k, "cache") || !strcmp(k, "discard") ||
	       !strcmp(k, "read-only") || is_object_key(k);
}

/* The unused keys that pass through to QEMU. */
static size_t count_passthrough(const struct opts *o)
{
	size_t n = 0;

	for (size_t i = 0; i < o->n; i++)
		n += !o->v[i].used && !is_own_key(o->v[i].key);
	return n;
}

/*
 * "driver=FMT,<the image's child>,<every unused key>" for --image-opts.  --image-opts
 * takes no protocol prefix in file.filename (as qemu-img), so an http(s)/ftp(s) URL
 * becomes the curl driver's url option.  A local image (@local) is opened by the name
 * BROKER_IMAGE_PATH, which the daemon answers with the real file (broker.h).
 */
static int image_opts(struct qemu_helper *h, struct opts *o, const char *fmt, const char *file,
		      bool local, char **out, struct err *err)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int r = kv_append(&buf, &len, &cap, "driver", fmt);

	if (r == 0 && local) {
		const char *drv = opts_peek(o, "file.driver");

		r = kv_append(&buf, &len, &cap, "file.driver", drv ? drv : "file");
		if (r == 0)
			r = kv_append(&buf, &len, &cap, "file.filename", BROKER_IMAGE_PATH);
		opts_get(o, "file.driver");
		opts_get(o, "file.filename");
	} else if (r == 0 && h->nbd_socket) {
		char fd[16];

		snprintf(fd, sizeof(fd), "%d", QH_PASS_FD);
		r = kv_append(&buf, &len, &cap, "file.driver", "nbd");
		if (r == 0)
			r = kv_append(&buf, &len, &cap, "file.server.type", "fd");
		if (r == 0)
			r = kv_append(&buf, &len, &cap, "file.server.str", fd);
		if (r == 0 && h->nbd_export[0])
			r = kv_append(&buf, &len, &cap, "file.export", h->nbd_export);
	} else if (r == 0 && file && qemu_is_read_only_url(file)) {
		char scheme[8];

		snprintf(scheme, sizeof(scheme), "%.*s", (int)strcspn(file, ":"), file);
		r = kv_append(&buf, &len, &cap, "file.driver", scheme);
		if (r == 0)
			r = kv_append(&buf, &len, &cap, "file.url", file);
	} else if (r == 0 && file) {
		r = kv_append(&buf, &len, &cap, "file.filename", file);
	}
	for (size_t i = 0; r == 0 && i < o->n; i++) {
		struct opt *e = &o->v[i];

		if (e->used || is_own_key(e->key)) {
			/* cache, discard, read-only: qemu-nbd's own options */
			e->used |= strcmp(e->key, "id") && !is_object_key(e->key);
			continue;
		}
		r = kv_append(&buf, &len, &cap, e->key, e->value);
		e->used = true;
	}
	if (r < 0) {
		free(buf);
		return err_set(err, r, "out of memory");
	}
	*out = buf;
	return 0;
}

/*
 * A secret object's "file=PATH" (QEMU's --object secret,id=x,file=PATH): the unprivileged
 * helper may not be able to read PATH, so the daemon reads it and the helper gets it in a
 * pipe: file=/dev/fd/N.  Other objects are passed as they are.  The new argument in *out.
 */
static int object_arg(struct qemu_helper *h, const char *obj, int fd, char **out, struct err *err)
{
	const char *p = obj, *file = NULL;
	size_t flen = 0;
	bool secret = !strncmp(obj, "secret,", 7) || strstr(obj, "qom-type=secret");
	FILE *f;
	char *data;
	size_t n;

	while (secret && *p) { /* the parts, with QEMU's ",," escapes */
		const char *e = p;

		while (*e && (*e != ',' || e[1] == ','))
			e += (*e == ',') ? 2 : 1;
		if (!strncmp(p, "file=", 5)) {
			file = p + 5;
			flen = (size_t)(e - file);
		}
		p = *e ? e + 1 : e;
	}
	if (!file) {
		*out = strdup(obj);
		return *out ? 0 : err_set(err, -ENOMEM, "out of memory");
	}
	if (h->nsecrets >= QH_MAX_PASS - 1)
		return err_set(err, -E2BIG, "qemu helper: too many secret files");
	{
		char path[4096];
		size_t k = 0;

		for (size_t i = 0; i < flen && k < sizeof(path) - 1; i++) {
			path[k++] = file[i];
			i += file[i] == ','; /* ",," is one comma */
		}
		path[k] = '\0';
		f = fopen(path, "re");
		if (!f)
			return err_set_errno(err, -errno, "qemu helper: secret file '%s'", path);
	}
	data = malloc(QH_BLOB_MAX + 1);
	n = data ? fread(data, 1, QH_BLOB_MAX + 1, f) : 0;
	fclose(f);
	if (!data || n > QH_BLOB_MAX) {
		free(data);
		return err_set(err, data ? -EFBIG : -ENOMEM,
			       "qemu helper: a secret file over %d bytes", QH_BLOB_MAX);
	}
	h->secrets[h->nsecrets++] = (struct qh_blob){ .data = data, .len = n };
	if (asprintf(out, "%.*sfile=/dev/fd/%d%s", (int)(file - 5 - obj), obj, fd, file + flen) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* Our cache modes for qemu-nbd: writethrough/directsync are done by our front end (FUA
 * and flushes), so the helper keeps its cache; the page-cache bypass carries over. */
static const char *helper_cache_mode(struct opts *o)
{
	const char *c = opts_peek(o, "cache");

	if (!c || !strcmp(c, "writethrough"))
		return "writeback";
	if (!strcmp(c, "directsync"))
		return "none";
	return c;
}

static int build_args(struct qemu_helper *h, struct opts *o, const char *fmt, const char *file,
		      struct err *err)
{
	const char *d = opts_peek(o, "discard"), *aio = NULL;
	bool local = h->image != NULL;
	char *img = NULL;
	int r;

	h->argv[h->argc++] = strdup(HELPER_PROG);
	r = opts_get_str(o, "aio", NULL, &aio, err);
	if (r == 0 && !local && !h->nbd_socket && file &&
	    (qemu_is_url(file) || strstr(file, "://")) && !qemu_is_read_only_url(file)) {
		/* ssh://, nfs://, nbd://, rbd:...: only QEMU's filename parsing knows these,
		 * and it takes no other options (give QEMU's structured names instead) */
		if (count_passthrough(o))
			return err_set(
				err, -EINVAL,
				"qemu helper: with file=%.*s..., give the protocol's own "
				"options instead (file.driver=..., as qemu-img --image-opts)",
				(int)strcspn(file, ":"), file);
		r = add_arg(h, "--format=", fmt, err);
		if (r == 0)
			img = strdup(file);
	} else {
		if (r == 0)
			r = image_opts(h, o, fmt, file, local, &img, err);
		if (r == 0)
			r = add_arg(h, "--image-opts", "", err);
	}
	for (size_t i = 0; r == 0 && i < o->n; i++) {
		char *arg = NULL;

		if (!is_object_key(o->v[i].key))
			continue;
		o->v[i].used = true;
		r = object_arg(h, o->v[i].value, QH_PASS_FD + !!h->nbd_socket + h->nsecrets, &arg,
			       err);
		if (r == 0)
			r = add_arg(h, "--object=", arg, err);
		free(arg);
	}
	if (r == 0)
		r = add_arg(h, "--cache=", helper_cache_mode(o), err);
	if (r == 0 && aio)
		r = add_arg(h, "--aio=", aio, err);
	if (r == 0)
		r = add_arg(h, "--discard=",
			    d && (!strcmp(d, "ignore") || !strcmp(d, "off")) ? "ignore" : "unmap",
			    err);
	if (r == 0)
		r = add_arg(h, "--allocation-depth", "", err);
	if (r == 0 && h->read_only)
		r = add_arg(h, "--read-only", "", err);
	if (r == 0 && local) /* names the image in ps (and to pgrep) */
		r = add_arg(h, "--description=", h->desc, err);
	if (r == 0)
		r = img ? add_arg(h, "", img, err) : err_set(err, -ENOMEM, "out of memory");
	free(img);
	if (r == 0 && !h->argv[0])
		r = err_set(err, -ENOMEM, "out of memory");
	return r;
}

/* An image on a server: QEMU's URL, or a protocol driver that is not a local file's. */
static bool is_network_image(const struct opts *o, const char *file)
{
	const char *drv = opts_peek(o, "file.driver");

	if (file)
		return qemu_is_url(file) || strstr(file, "://") != NULL;
	return drv && strcmp(drv, "file") && strcmp(drv, "host_device") &&
	       strcmp(drv, "host_cdrom");
}

/* A local image's path (file=, or QEMU's file.filename with a local file.driver), else NULL. */
static const char *local_path(const struct opts *o, const char *file)
{
	if (is_network_image(o, file))
		return NULL;
	return file ? file : opts_peek(o, "file.filename");
}

/* %XX escapes of @s decoded, up to @stop characters, into a new string. */
static char *uri_part(const char *s, const char *stop)
{
	size_t n = strcspn(s, stop), k = 0;
	char *out = malloc(n + 1);

	for (size_t i = 0; out && i < n; i++) {
		unsigned int c;

		if (s[i] == '%' && i + 2 < n && sscanf(s + i + 1, "%2x", &c) == 1) {
			out[k++] = (char)c;
			i += 2;
		} else {
			out[k++] = s[i];
		}
	}
	if (out)
		out[k] = '\0';
	return out;
}

/* nbd+unix:///EXPORT?socket=PATH (the helper, unprivileged, may not reach PATH: the
 * daemon connects and hands it the connection, QEMU's nbd driver on a descriptor). */
static int parse_nbd_unix(struct qemu_helper *h, const char *url, struct err *err)
{
	const char *p = url + strlen("nbd+unix://"), *q;

	p += strcspn(p, "/?"); /* no host for a unix socket */
	if (*p == '/')
		p++;
	q = strstr(p, "socket=");
	if (!q || (q[-1] != '?' && q[-1] != '&'))
		return err_set(err, -EINVAL, "qemu helper: '%s' names no socket", url);
	h->nbd_export = uri_part(p, "?");
	h->nbd_socket = uri_part(q + strlen("socket="), "&");
	if (!h->nbd_export || !h->nbd_socket)
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* A local image: the helper will open it through us; refuse early what we cannot open
 * either (with our message: QEMU's would name BROKER_IMAGE_PATH). */
static int check_local(struct qemu_helper *h, const char *path, struct err *err)
{
	int fd = open(path, (h->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);

	if (fd < 0)
		return err_set_errno(err, -errno, "could not open '%s'", path);
	close(fd);
	h->image = strdup(path);
	return h->image ? 0 : err_set(err, -ENOMEM, "out of memory");
}

int qemu_helper_new(struct opts *o, const char *file, const char *fmt, unsigned int flags,
		    struct qemu_helper **out, struct err *err)
{
	struct qemu_helper *h = calloc(1, sizeof(*h));
	struct qemu_image_info info;
	const char *path;
	int r = 0;

	if (!h)
		return err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&h->lock, NULL);
	h->out_fd = -1;
	if (file && !file[0])
		file = NULL;
	path = local_path(o, file);
	if (!file && !opts_has(o, "file.filename") && !opts_has(o, "file.driver"))
		r = err_set(err, -EINVAL, "no image given (option 'file')");
	if (r == 0 && !fmt && !file && !path)
		r = err_set(err, -EINVAL, "qemu helper: give the format (option 'format')");
	if (r == 0 && !fmt && path &&
	    (r = qemu_probe_path(path, info.format, sizeof(info.format), err)) == 0)
		fmt = info.format;
	else if (r == 0 && !fmt && (r = qemu_probe(file, /*local*/ false, &info, err)) == 0)
		fmt = info.format;
	if (r < 0)
		goto fail;
	/* formats QEMU only reads (bochs, cloop, dmg) are served read-only, as http(s) */
	h->read_only = !(flags & BLK_O_RDWR) || (file && qemu_is_read_only_url(file)) ||
		       !strcmp(fmt, "bochs") || !strcmp(fmt, "cloop") || !strcmp(fmt, "dmg");
	h->network = !path;
	h->keep_ids = h->network && qemu_needs_identity(file, opts_peek(o, "file.driver"));
	h->prog = qh_find_prog(HELPER_PROG);
	if (!h->prog) {
		r = err_set(err, -ENOENT,
			    "the QEMU helper needs %s (Debian: qemu-utils), "
			    "not found in PATH",
			    HELPER_PROG);
		goto fail;
	}
	if (!file)
		file = opts_peek(o, "file.filename");
	if ((file ? asprintf(&h->desc, "%s image '%s'", fmt, file)
		  : asprintf(&h->desc, "%s image on %s", fmt, opts_peek(o, "file.driver"))) < 0) {
		h->desc = NULL;
		r = err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (path && (r = check_local(h, path, err)) < 0)
		goto fail;
	if (file && has_prefix(file, "nbd+unix://") && (r = parse_nbd_unix(h, file, err)) < 0)
		goto fail;
	h->fmt = strdup(fmt);
	r = h->fmt ? build_args(h, o, fmt, path ? NULL : file, err)
		   : err_set(err, -ENOMEM, "out of memory");
	if (r < 0)
		goto fail;
	h->out_fd = qh_fd_high(memfd_create("qemu-helper-output", MFD_CLOEXEC));
	if (h->out_fd < 0) {
		r = err_set_errno(err, -errno, "qemu helper");
		goto fail;
	}
	*out = h;
	return 0;
fail:
	qemu_helper_free(h);
	return r;
}

/*
 * A network helper we are done with: reaped in the background if it does not exit at once
 * (its image is closed and flushed; only its client library's teardown is left).
 */
static void release_network(struct qemu_helper *h)
{
	char why[512];
	pid_t pid;

	if (qemu_helper_wait_exit(h, NET_CLOSE_WAIT_MS, why, sizeof(why)))
		return;
	pthread_mutex_lock(&h->lock);
	pid = h->pid;
	h->pid = 0;
	pthread_mutex_unlock(&h->lock);
	if (pid > 0) {
		log_debug("nbd", "qemu helper for %s (pid %d) exits in the background", h->desc,
			  (int)pid);
		snprintf(why, sizeof(why), "qemu helper for %s", h->desc);
		qh_reap_later(pid, NET_EXIT_GRACE_MS, why);
	}
}

void qemu_helper_free(struct qemu_helper *h)
{
	if (!h)
		return;
	if (h->network)
		release_network(h);
	else
		qemu_helper_stop(h);
	broker_free(h->broker);
	free(h->image);
	free(h->nbd_socket);
	free(h->nbd_export);
	for (int i = 0; i < h->nsecrets; i++)
		free((char *)h->secrets[i].data);
	for (int i = 0; i < h->argc; i++)
		free(h->argv[i]);
	if (h->out_fd >= 0)
		close(h->out_fd);
	free(h->prog);
	free(h->desc);
	free(h->fmt);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* A listening socket in a private directory, and our connection to it; the name is gone
 * before the helper runs, so nobody else can connect. */
static int make_sockets(int *lfd, int *cfd)
{
	const char *tmp = getenv("TMPDIR");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[80];
	int r = 0;

	snprintf(dir, sizeof(dir), "%s/qemu-tcmu.XXXXXX",
		 tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/nbd", dir);
	*lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	*cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*lfd < 0 || *cfd < 0 || bind(*lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(*lfd, 1) < 0 || connect(*cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = -errno;
	unlink(sa.sun_path);
	rmdir(dir);
	if (r < 0) {
		if (*lfd >= 0)
			close(*lfd);
		if (*cfd >= 0)
			close(*cfd);
		return r;
	}
	*lfd = qh_fd_high(*lfd);
	return *lfd < 0 ? -errno : 0;
}

/* A connection to the NBD export's unix socket, for the helper (fd QH_PASS_FD). */
static int connect_nbd_unix(struct qemu_helper *h, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (strlen(h->nbd_socket) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, h->nbd_socket);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(s);
		return r;
	}
	*fd = qh_fd_high(s);
	return *fd < 0 ? -EMFILE : 0;
}

int qemu_helper_start(struct qemu_helper *h, int *sock, struct err *err)
{
	char why[512];
	struct qh_child c;
	int lfd = -1, cfd = -1, r;

	if (qemu_helper_wait_exit(h, h->network ? 0 : 200, why, sizeof(why)))
		log_err("qemu helper for %s: %s", h->desc, why); /* it died: say how */
	if (h->network)
		release_network(h); /* no image lock to wait for: the old one may take its time */
	else
		qemu_helper_stop(h);
	pthread_mutex_lock(&h->lock);
	if (!h->network && h->starts >= 2) {
		pthread_mutex_unlock(&h->lock);
		return err_set(err, -ENOLINK, "the QEMU helper died after its restart");
	}
	if (h->crashes >= MAX_CRASHES) {
		pthread_mutex_unlock(&h->lock);
		return err_set(err, -ENOLINK, "the QEMU helper crashed %u times", h->crashes);
	}
	pthread_mutex_unlock(&h->lock);
	r = make_sockets(&lfd, &cfd);
	if (r < 0)
		return err_set_errno(err, r, "qemu helper: cannot create its socket");
	qh_child_init(&c, h->out_fd);
	c.listen_fd = lfd;
	c.image_path = h->image;
	c.image_read_only = h->read_only;
	c.keep_ids = h->keep_ids;
	if (h->nbd_socket) {
		r = connect_nbd_unix(h, &c.pass_fds[c.npass++]);
		if (r < 0) {
			close(lfd);
			close(cfd);
			return err_set_errno(err, r, "qemu helper: cannot connect to %s",
					     h->nbd_socket);
		}
	}
	for (int i = 0; i < h->nsecrets; i++)
		c.blobs[c.nblobs++] = h->secrets[i];
	if (ftruncate(h->out_fd, 0) < 0 || lseek(h->out_fd, 0, SEEK_SET) < 0)
		log_warn("qemu helper: cannot reset its output buffer: %s", strerror(errno));
	pthread_mutex_lock(&h->lock);
	r = qh_spawn(h->prog, h->argv, &c, &h->pid, err);
	h->broker = c.broker;
	h->signalled = false;
	if (r == 0 && h->starts++) {
		unsigned int k = h->starts - 1; /* restarts so far */

		if (!h->network)
			log_warn("qemu helper for %s restarted (pid %d); it will not be restarted "
				 "again",
				 h->desc, (int)h->pid);
		else if (!(k & (k - 1))) /* 1, 2, 4, 8, ...: a server may stay away long */
			log_warn("qemu helper for %s restarted (pid %d, restart %u)", h->desc,
				 (int)h->pid, k);
	}
	pthread_mutex_unlock(&h->lock);
	close(lfd);
	if (h->nbd_socket)
		close(c.pass_fds[0]);
	if (r < 0) {
		close(cfd);
		return r;
	}
	log_debug("nbd", "qemu helper for %s: pid %d", h->desc, (int)h->pid);
	*sock = cfd;
	return 0;
}

bool qemu_helper_wait_exit(struct qemu_helper *h, int ms, char *why, size_t len)
{
	struct broker *b = NULL;
	char st[96], line[384];
	pid_t pid;
	int status = 0;

	pthread_mutex_lock(&h->lock);
	pid = h->pid;
	pthread_mutex_unlock(&h->lock);
	if (pid <= 0 || !qh_wait_pid(pid, ms, &status))
		return false;
	pthread_mutex_lock(&h->lock);
	if (h->pid == pid) {
		h->pid = 0;
		h->crashes += WIFSIGNALED(status) && !h->signalled; /* a crash, not our kill */
		b = h->broker;
		h->broker = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	broker_free(b);
	qh_describe_status(status, st, sizeof(st));
	qh_last_line(h->out_fd, line, sizeof(line));
	snprintf(why, len, "the QEMU helper (%s) %s%s%s", HELPER_PROG, st, line[0] ? ": " : "",
		 line);
	return true;
}

void qemu_helper_stop(struct qemu_helper *h)
{
	char why[512];
	pid_t pid;

	pthread_mutex_lock(&h->lock);
	pid = h->pid;
	pthread_mutex_unlock(&h->lock);
	if (pid <= 0)
		return;
	if (qemu_helper_wait_exit(h, STOP_GRACE_MS, why, sizeof(why)))
		return;
	log_warn("qemu helper for %s (pid %d) did not exit; terminating it", h->desc, (int)pid);
	pthread_mutex_lock(&h->lock);
	h->signalled = true;
	pthread_mutex_unlock(&h->lock);
	kill(pid, SIGTERM);
	if (qemu_helper_wait_exit(h, TERM_GRACE_MS, why, sizeof(why)))
		return;
	kill(pid, SIGKILL);
	qemu_helper_wait_exit(h, -1, why, sizeof(why));
}

void qemu_helper_abandon(struct qemu_helper *h)
{
	char what[512];
	pid_t pid;

	if (!h->network) {
		qemu_helper_stop(h);
		return;
	}
	pthread_mutex_lock(&h->lock);
	pid = h->pid;
	h->pid = 0;
	h->signalled = true;
	pthread_mutex_unlock(&h->lock);
	if (pid <= 0)
		return;
	kill(pid, SIGKILL); /* it never served us: nothing to flush */
	snprintf(what, sizeof(what), "qemu helper for %s", h->desc);
	qh_reap_later(pid, TERM_GRACE_MS, what);
}

void qemu_helper_kill(struct qemu_helper *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->pid > 0) {
		h->signalled = true;
		kill(h->pid, SIGKILL);
	}
	pthread_mutex_unlock(&h->lock);
}

bool qemu_helper_is_network(const struct qemu_helper *h)
{
	return h->network;
}

bool qemu_helper_is_read_only(const struct qemu_helper *h)
{
	return h->read_only;
}

const char *qemu_helper_format(const struct qemu_helper *h)
{
	return h->fmt;
}

const char *qemu_helper_describe(const struct qemu_helper *h)
{
	return h->desc;
}

void qemu_helper_describe_long(struct qemu_helper *h, char *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&h->lock);
	n = (size_t)snprintf(buf, len, "qemu helper: pid %d, started %u time(s):", (int)h->pid,
			     h->starts);
	pthread_mutex_unlock(&h->lock);
	for (int i = 0; i < h->argc && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, " %s", h->argv[i]);
	if (n < len)
		snprintf(buf + n, len - n, "\n");
}
