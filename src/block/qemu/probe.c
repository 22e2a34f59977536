/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What QEMU opens that we do not: URL prefixes, magics, qemu-img (see probe.h). */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "proc.h"
#include "util/bytes.h"
#include "util/err.h"
#include "util/log.h"

#define PROBE_PROG "qemu-img"
#define PROBE_TIMEOUT_MS 30000

/* ---- names --------------------------------------------------------------------------- */

const char *const qemu_url_prefixes[] = {
	"http://", "https://",	      "ftp://",		 "ftps://",    "ssh://",
	"nfs://",  "iscsi://",	      "iser://",	 "gluster://", "gluster+tcp://",
	"json:",   "gluster+unix://", "gluster+rdma://",
#if !HAVE_RBD
	"rbd:", /* QEMU's, while no native rbd driver is built */
#endif
	NULL,
};

/* Names QEMU also parses that native drivers claim (reached here with helper=qemu). */
static const char *const qemu_also[] = { "rbd:", NULL };

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

bool qemu_is_url(const char *file)
{
	for (int i = 0; qemu_url_prefixes[i]; i++)
		if (has_prefix(file, qemu_url_prefixes[i]))
			return true;
	for (int i = 0; qemu_also[i]; i++)
		if (has_prefix(file, qemu_also[i]))
			return true;
	return false;
}

bool qemu_needs_identity(const char *file, const char *file_driver)
{
	static const char *const names[] = { "gluster", "nfs", "rbd", "ssh", NULL };

	for (int i = 0; names[i]; i++)
		if ((file_driver && !strcmp(file_driver, names[i])) ||
		    (file && has_prefix(file, names[i]) &&
		     (file[strlen(names[i])] == ':' || file[strlen(names[i])] == '+')))
			return true;
	return false;
}

bool qemu_is_read_only_url(const char *file)
{
	return has_prefix(file, "http://") || has_prefix(file, "https://") ||
	       has_prefix(file, "ftp://") || has_prefix(file, "ftps://");
}

/* ---- probing by magic ----------------------------------------------------------------- */

static bool at(const uint8_t *buf, size_t len, size_t off, const char *magic, size_t n)
{
	return len >= off + n && !memcmp(buf + off, magic, n);
}

/* vmdk's text descriptor, as QEMU's vmdk_probe: after comment lines and blanks, the
 * first line is "version=1|2|3". */
static bool is_vmdk_text(const uint8_t *buf, size_t len)
{
	const char *p = (const char *)buf, *end = p + len;

	while (p < end) {
		if (*p == '#') {
			while (p < end && *p != '\n')
				p++;
			p++;
			continue;
		}
		if (*p == ' ') {
			while (p < end && *p == ' ')
				p++;
			continue;
		}
		for (char v = '1'; v <= '3'; v++) {
			char want[16];

			snprintf(want, sizeof(want), "version=%c\n", v);
			if (end - p >= 10 && !memcmp(p, want, 10))
				return true;
			snprintf(want, sizeof(want), "version=%c\r\n", v);
			if (end - p >= 11 && !memcmp(p, want, 11))
				return true;
		}
		return false;
	}
	return false;
}

const char *qemu_probe_magic(const uint8_t *buf, size_t len)
{
	static const char cloop[] = "#!/bin/sh\n#V2.0 Format\nmodprobe cloop file=$0 && mount -r "
				    "-t iso9660 /dev/cloop $1\n";

	if (at(buf, len, 0, "QFI\xfb", 4) && len >= 8)
		return get_be32(buf + 4) == 1 ? "qcow" : "qcow2";
	if (at(buf, len, 0, "KDMV", 4) || at(buf, len, 0, "COWD", 4))
		return "vmdk";
	if (at(buf, len, 0, "vhdxfile", 8))
		return "vhdx";
	if (at(buf, len, 0, "conectix", 8))
		return "vpc";
	if (at(buf, len, 0, "QED\0", 4))
		return "qed";
	if (at(buf, len, 0, "LUKS\xba\xbe", 6))
		return "luks";
	if (len >= 0x44 && get_le32(buf + 0x40) == 0xbeda107f)
		return "vdi";
	if (at(buf, len, 0, "WithoutFreeSpace", 16) || at(buf, len, 0, "WithouFreSpacExt", 16))
		return "parallels";
	if (at(buf, len, 0, "Bochs Virtual HD Image", 22))
		return "bochs";
	if (at(buf, len, 0, cloop, sizeof(cloop) - 1))
		return "cloop";
	if (is_vmdk_text(buf, len))
		return "vmdk";
	return NULL;
}

/* ---- probing with qemu-img ------------------------------------------------------------ */

/* Run @argv to completion (bounded, as qh_spawn runs children), output into a memfd
 * returned in *out_fd; @image (not NULL): a local image it opens as BROKER_IMAGE_PATH,
 * read-only. */
static int run_capture(char *const argv[], const char *image, bool keep_ids, int *out_fd,
		       int *status, struct err *err)
{
	char *prog = qh_find_prog(argv[0]);
	int fd = qh_fd_high(memfd_create("qemu-img-output", MFD_CLOEXEC));
	struct qh_child c;
	pid_t pid;
	int r;

	if (!prog || fd < 0) {
		r = err_set_errno(err, prog ? -errno : -ENOENT, "cannot run %s", argv[0]);
		goto fail;
	}
	qh_child_init(&c, fd);
	c.image_path = image;
	c.image_read_only = true;
	c.keep_ids = keep_ids;
	r = qh_spawn(prog, argv, &c, &pid, err);
	if (r < 0)
		goto fail;
	if (!qh_wait_pid(pid, PROBE_TIMEOUT_MS, status)) {
		kill(pid, SIGKILL);
		qh_wait_pid(pid, -1, status);
		r = err_set(err, -ETIMEDOUT, "%s did not answer within %d s", argv[0],
			    PROBE_TIMEOUT_MS / 1000);
	}
	broker_free(c.broker);
	if (r < 0)
		goto fail;
	free(prog);
	*out_fd = fd;
	return 0;
fail:
	free(prog);
	if (fd >= 0)
		close(fd);
	return r;
}

/* The string value of @key at the top level of a JSON object. */
static int json_top_string(const char *js, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	int depth = 0;

	for (const char *p = js; *p; p++) {
		if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			depth--;
		} else if (*p == '"') {
			const char *q = strchr(p + 1, '"');

			if (!q)
				return -EINVAL;
			if (depth == 1 && (size_t)(q - p - 1) == klen &&
			    !strncmp(p + 1, key, klen)) {
				const char *v = q + 1, *e;

				v += strspn(v, " \t\n:");
				if (*v != '"' || !(e = strchr(v + 1, '"')) ||
				    (size_t)(e - v - 1) >= len)
					return -EINVAL;
				snprintf(out, len, "%.*s", (int)(e - v - 1), v + 1);
				return 0;
			}
			p = q;
		}
	}
	return -ENOENT;
}

static char *read_all(int fd)
{
	struct stat st;
	char *buf;

	if (fstat(fd, &st) < 0)
		return NULL;
	buf = calloc(1, (size_t)st.st_size + 1);
	if (buf && st.st_size && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		return NULL;
	}
	return buf;
}

static bool is_dmg_name(const char *name)
{
	size_t n = strlen(name);

	return n > 4 && !strcmp(name + n - 4, ".dmg");
}

int qemu_probe(const char *filename, bool local, struct qemu_image_info *out, struct err *err)
{
	char path[4096];
	char *argv_url[] = { PROBE_PROG, "info", "--output=json", "-U", path, NULL };
	char *argv_local[] = {
		PROBE_PROG, "info",	    "--output=json",
		"-U",	    "--image-opts", "file.driver=file,file.filename=" BROKER_IMAGE_PATH,
		NULL
	};
	char *js, line[384];
	int fd, status, r;

	memset(out, 0, sizeof(*out));
	/* a relative name with a colon would read as a protocol prefix */
	snprintf(path, sizeof(path), "%s%s",
		 filename[0] != '/' && !qemu_is_url(filename) && !strstr(filename, "://") ? "./"
											  : "",
		 filename);
	r = run_capture(local ? argv_local : argv_url, local ? filename : NULL,
			!local && qemu_needs_identity(filename, NULL), &fd, &status, err);
	if (r < 0) {
		err_prefix(err, "probing '%s'", filename);
		return r;
	}
	js = read_all(fd);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !js) {
		qh_last_line(fd, line, sizeof(line));
		r = err_set(err, -EINVAL, "%s", line[0] ? line : "qemu-img info failed");
	} else if (json_top_string(js, "format", out->format, sizeof(out->format)) < 0) {
		r = err_set(err, -EINVAL, "qemu-img info '%s': no format in its answer", filename);
	} else {
		json_top_string(js, "backing-filename", out->backing, sizeof(out->backing));
		/* QEMU knows dmg by its name alone, which it did not see */
		if (local && !strcmp(out->format, "raw") && is_dmg_name(filename))
			snprintf(out->format, sizeof(out->format), "dmg");
	}
	free(js);
	close(fd);
	return r;
}

int qemu_probe_path(const char *path, char *fmt, size_t len, struct err *err)
{
	struct qemu_image_info info;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0) /* our message, not QEMU's about a name it was given instead */
		return err_set_errno(err, -errno, "could not open '%s'", path);
	close(fd);
	r = qemu_probe(path, /*local*/ true, &info, err);
	if (r == 0)
		snprintf(fmt, len, "%s", info.format);
	return r;
}

static char *qemu_formats; /* " raw qcow2 vmdk ... " from qemu-img --help */
static pthread_once_t formats_once = PTHREAD_ONCE_INIT;

static void formats_init(void)
{
	char *argv[] = { PROBE_PROG, "--help", NULL };
	const char *tag = "Supported formats:";
	char *out, *p, *nl;
	int fd, status;

	if (run_capture(argv, NULL, false, &fd, &status, NULL) < 0)
		return;
	out = read_all(fd);
	close(fd);
	p = out ? strstr(out, tag) : NULL;
	if (p) {
		p += strlen(tag);
		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (asprintf(&qemu_formats, "%s ", p) < 0)
			qemu_formats = NULL;
	}
	free(out);
}

bool qemu_knows_format(const char *name)
{
	char word[80];

	pthread_once(&formats_once, formats_init);
	if (!qemu_formats || strlen(name) > 60 || strchr(name, ' '))
		return false;
	snprintf(word, sizeof(word), " %s ", name);
	return strstr(qemu_formats, word) != NULL;
}
