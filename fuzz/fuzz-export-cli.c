/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target: `qemu-tcmu export`, `unexport` and `exports` (export_main,
 * unexport_main) with arguments from the input, against a fake configfs tree given by
 * $QEMU_TCMU_CONFIGFS (a plain directory: no daemon, no kernel, no lock file in /run).
 * Checked, besides the sanitizers:
 *  - nothing is created, removed or written outside the tree (sandbox.h: a directory
 *    beside it, "decoy", looks like a backstore to code that would wander out);
 *  - export is all or nothing: when it fails, the tree is as it was; when it succeeds,
 *    unexporting what it made gives the tree back as it was;
 *  - `exports` changes nothing.
 * The image check export runs (cfgstr_check_size) is wrapped: the harness's images
 * (a qcow2 and a raw file beside the tree, a memory node) are checked for real, any other
 * image is refused as a missing file would be, so that nothing else is opened or probed.
 *
 * Input: [command: 0 export, 1 unexport, 2 exports][state of the tree] then arguments
 * separated by NUL bytes; an argument "\x01N" is the harness's image N (images[], N a
 * digit).
 * States: 0 empty; 1 with the export disk0 (tcm_loop and iSCSI); 2 with disk0 and a
 * user:rbd backstore "other".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/cfgstr.h"
#include "export/export.h"
#include "image.h"
#include "sandbox.h"
#include "util/err.h"
#include "util/log.h"
#include "util/opts.h"

#define MAX_ARGS 32
#define MAX_ARG 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
bool __real_cfgstr_check_size(const char *cfgstring, uint64_t *size, char *msg, size_t len);
bool __wrap_cfgstr_check_size(const char *cfgstring, uint64_t *size, char *msg, size_t len);

static const char *dir; /* the sandbox: images, decoy/, cfs/ */
static char cfs[512];	/* the tree */
static char qcow2[512], raw[512];
static FILE *devnull;

/* "\x01N" arguments (the working directory is the sandbox: relative names work) */
#define NIMAGES 7
static const char *images[NIMAGES];
static char images_buf[NIMAGES][600];

/* ---- the image check ------------------------------------------------------------------ */

static bool allowed(const struct opts *o)
{
	static const char *const drivers[] = { "raw", "qcow2", "file", "memory", "null", NULL };
	const char *file = opts_peek(o, "file"), *drv = opts_peek(o, "driver");
	const char *h = opts_peek(o, "helper"), *sz = opts_peek(o, "size");
	uint64_t n;
	bool ok = !drv;

	for (int i = 0; drv && drivers[i]; i++)
		ok |= !strcmp(drv, drivers[i]);
	if (!ok || (h && strcmp(h, "off")))
		return false;
	if (drv && (!strcmp(drv, "memory") || !strcmp(drv, "null")))
		return !file && sz && parse_size(sz, &n) == 0 && n <= (64u << 20);
	/* a file of ours; unnamed formats are probed: only the qcow2 one, raw would ask
	 * qemu-img (the QEMU helper's detect_format) */
	return file && (!strcmp(file, qcow2) || (drv && !strcmp(file, raw)));
}

bool __wrap_cfgstr_check_size(const char *cfgstring, uint64_t *size, char *msg, size_t len)
{
	char id[CFGSTR_ID_MAX];
	struct opts o;
	struct err err;
	bool ok;

	opts_init(&o);
	err_init(&err);
	/* what does not parse fails in parsing, before any open: the real check says why */
	ok = cfgstr_parse(&o, cfgstring, id, &err) < 0 || allowed(&o);
	opts_release(&o);
	if (ok)
		return __real_cfgstr_check_size(cfgstring, size, msg, len);
	snprintf(msg, len, "fuzz: could not open '%s': No such file or directory", cfgstring);
	return false;
}

/* ---- the tree ------------------------------------------------------------------------- */

/* @fn(argc, args) in the sandbox directory (relative image names are its files) */
static int run(int (*fn)(int, char **), int argc, const char *const *args)
{
	char *argv[MAX_ARGS + 2];
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	for (int i = 0; i < argc; i++)
		argv[i] = (char *)args[i];
	argv[argc] = NULL;
	optind = 0; /* getopt starts over */
	if (cwd < 0 || chdir(dir) < 0)
		abort();
	rc = fn(argc, argv);
	if (fchdir(cwd) < 0)
		abort();
	close(cwd);
	return rc;
}

static void make_state(unsigned int state)
{
	static const char *const disk0[] = { "export", "--name",  "disk0",
					     "--loop", "--iscsi", "iqn.2003-01.org.example:disk0",
					     "--demo", NULL,	  NULL };
	const char *args[9];
	char p[700];

	sandbox_rm_rf(cfs);
	for (const char *const *d = (const char *const[]){ "core", "loopback", "iscsi", NULL }; *d;
	     d++) {
		snprintf(p, sizeof(p), "%s/%s", cfs, *d);
		sandbox_mkdir_p(p);
	}
	if (state == 0)
		return;
	memcpy(args, disk0, sizeof(args));
	args[7] = qcow2;
	if (run(export_main, 8, args) != 0)
		abort();
	if (state == 1)
		return;
	snprintf(p, sizeof(p), "%s/core/user_5/other", cfs);
	sandbox_mkdir_p(p);
	snprintf(p, sizeof(p), "%s/core/user_5/other/control", cfs);
	sandbox_write(p, "dev_config=rbd/pool/image,dev_size=1048576", 43);
}

/* A backstore made since @before (a snapshot), found in @after: its name and the subtype
 * its control file was written with ("f /core/user_N/NAME/control 644 dev_config=S/...").
 * At most one per export; 0 if none. */
static int new_backstore(const char *before, const char *after, char *name, char *subtype)
{
	int found = 0;

	for (const char *l = after; *l; l = strchr(l, '\n') + 1) {
		const char *end = strchr(l, '\n');
		char line[1024], n[256], st[64];
		unsigned int hba;

		snprintf(line, sizeof(line), "%.*s", (int)(end - l), l);
		if (sscanf(line, "f /core/user_%u/%255[^/]/control %*o dev_config=%63[^/]", &hba, n,
			   st) != 3 ||
		    strstr(before, line))
			continue;
		if (found++)
			abort(); /* two backstores from one export */
		strcpy(name, n);
		strcpy(subtype, st);
	}
	return found;
}

/* export succeeded: unexporting what it made restores the tree. */
static void check_round_trip(const char *before)
{
	char *after = sandbox_snapshot(cfs), *back, name[256], subtype[64];
	struct err err;

	err_init(&err);
	if (new_backstore(before, after, name, subtype) &&
	    export_remove(name, subtype, devnull, &err) < 0) {
		fprintf(stderr, "fuzz: unexport %s after export: %s\n", name, err.msg);
		abort();
	}
	back = sandbox_snapshot(cfs);
	if (strcmp(before, back)) {
		fprintf(stderr, "fuzz: export + unexport changed the tree:\n%s---\n%s", before,
			back);
		abort();
	}
	free(back);
	free(after);
}

static void setup(void)
{
	char p[600];

	log_set_level((enum log_level)(LOG_LVL_ERR - 1));
	dir = sandbox_dir("export-cli");
	snprintf(cfs, sizeof(cfs), "%s/cfs", dir);
	snprintf(qcow2, sizeof(qcow2), "%s/img.qcow2", dir);
	snprintf(raw, sizeof(raw), "%s/img.raw", dir);
	setenv("QEMU_TCMU_CONFIGFS", cfs, 1);
	devnull = fopen("/dev/null", "we");
	{
		uint8_t img[4096] = { 0 };

		sandbox_write(qcow2, img, fuzz_qcow2_image(img, sizeof(img)));
		memset(img, 0, sizeof(img));
		sandbox_write(raw, img, sizeof(img));
	}
	snprintf(p, sizeof(p), "%s/decoy/attrib", dir);
	sandbox_mkdir_p(p);
	snprintf(p, sizeof(p), "%s/decoy/attrib/dev_config", dir);
	sandbox_write(p, "qemu/@file=/img\n", 16);
	snprintf(images_buf[0], sizeof(images_buf[0]), "%s", qcow2);
	snprintf(images_buf[1], sizeof(images_buf[1]), "img.qcow2");
	snprintf(images_buf[2], sizeof(images_buf[2]), "@file=%s@format=raw", raw);
	snprintf(images_buf[3], sizeof(images_buf[3]), "@file=img.raw@format=raw@id=x");
	snprintf(images_buf[4], sizeof(images_buf[4]), "@driver=memory@size=1M");
	snprintf(images_buf[5], sizeof(images_buf[5]), "./img.qcow2");
	snprintf(images_buf[6], sizeof(images_buf[6]), "@file=%s@format=qcow2@cache=none", qcow2);
	for (size_t i = 0; i < NIMAGES; i++)
		images[i] = images_buf[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char tokens[MAX_ARGS][MAX_ARG];
	const char *args[MAX_ARGS + 1];
	int argc = 1, rc;
	size_t pos = 2;
	char *before, *after;
	unsigned int cmd;

	if (size < 2)
		return 0;
	if (!dir)
		setup();
	cmd = data[0] % 3;
	args[0] = cmd == 0 ? "export" : cmd == 1 ? "unexport" : "exports";
	while (pos < size && argc < MAX_ARGS) {
		const uint8_t *end = memchr(data + pos, '\0', size - pos);
		size_t len = end ? (size_t)(end - data - pos) : size - pos;

		snprintf(tokens[argc], MAX_ARG, "%.*s", (int)len, (const char *)data + pos);
		if (tokens[argc][0] == 1 && len == 2)
			args[argc] = images[(unsigned char)(tokens[argc][1] - '0') % NIMAGES];
		else
			args[argc] = tokens[argc];
		argc++;
		pos += len + 1;
	}
	make_state(data[1] % 3);
	before = sandbox_snapshot(cfs);
	sandbox_enter(cfs, 0);
	rc = run(cmd == 0 ? export_main : unexport_main, argc, args);
	sandbox_leave();
	fflush(stdout);
	if (cmd == 0 && rc == 0) {
		sandbox_enter(cfs, 0);
		check_round_trip(before);
		sandbox_leave();
	} else if (cmd != 1) {
		/* a failed export, a listing: nothing changed */
		after = sandbox_snapshot(cfs);
		if (strcmp(before, after)) {
			fprintf(stderr, "fuzz: %s (exit %d) changed the tree:\n%s---\n%s", args[0],
				rc, before, after);
			abort();
		}
		free(after);
	}
	free(before);
	return 0;
}
