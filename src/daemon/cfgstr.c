/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Device config strings (see cfgstr.h). */
#include "cfgstr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "util/err.h"
#include "util/opts.h"

static char served_subtype[64] = "qemu";

void cfgstr_set_subtype(const char *subtype)
{
	snprintf(served_subtype, sizeof(served_subtype), "%s", subtype);
}

/* One ";key=value" of tcmu-runner's rbd form, as our keys. */
static int runner_rbd_opt(struct opts *o, const char *kv, struct err *err)
{
	static const char *const map[][2] = {
		{ "osd_op_timeout=", "osd-op-timeout" },
		{ "conf=", "conf" },
		{ "id=", "user" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strncmp(kv, map[i][0], strlen(map[i][0])))
			return opts_add(o, map[i][1], kv + strlen(map[i][0]), err);
	return err_set(err, -EINVAL,
		       "unknown rbd option '%s' (tcmu-runner's are osd_op_timeout, conf, id)", kv);
}

/* tcmu-runner's "pool/image[@snap][;k=v...]": the image served raw by the rbd driver. */
static int parse_runner_rbd(struct opts *o, const char *s, struct err *err)
{
	char *copy = strdup(s), *save = NULL, *path, *kv, *slash, *at;
	int r;

	if (!copy)
		return err_set(err, -ENOMEM, "out of memory");
	path = strtok_r(copy, ";", &save);
	/* "rbd/pool/image": the subtype included (a tcmu-runner name has one slash) */
	if (path && !strncmp(path, "rbd/", 4) && strchr(path + 4, '/'))
		path += 4;
	slash = path ? strchr(path, '/') : NULL;
	if (!slash || slash == path || !slash[1] || strchr(slash + 1, '/')) {
		r = err_set(err, -EINVAL, "rbd config '%s' is not pool/image[@snap][;key=value]",
			    s);
		goto out;
	}
	*slash = '\0';
	at = strchr(slash + 1, '@');
	if (at)
		*at = '\0';
	r = opts_add(o, "driver", "rbd", err);
	if (!r)
		r = opts_add(o, "pool", path, err);
	if (!r)
		r = opts_add(o, "image", slash + 1, err);
	if (!r && at)
		r = opts_add(o, "snapshot", at + 1, err);
	while (!r && (kv = strtok_r(NULL, ";", &save)))
		r = runner_rbd_opt(o, kv, err);
out:
	free(copy);
	return r;
}

/* A config string into options, in the dialect of the served subtype. */
static int parse_cfg(struct opts *o, const char *cfgstring, struct err *err)
{
	if (!cfgstring[0])
		return err_set(err, -EINVAL, "empty config string (expected @file=IMAGE@...)");
	if (!strcmp(served_subtype, "rbd") && cfgstring[0] != '@')
		return parse_runner_rbd(o, cfgstring, err);
	return opts_parse_cfgstring(o, cfgstring, err);
}

static int take_id(struct opts *o, char id[CFGSTR_ID_MAX], struct err *err)
{
	const char *v;
	int r;

	id[0] = '\0';
	if (!opts_has(o, "id"))
		return 0;
	r = opts_get_str(o, "id", NULL, &v, err);
	if (r < 0)
		return r;
	if (strlen(v) >= CFGSTR_ID_MAX)
		return err_set(err, -EINVAL, "option 'id' is longer than %d characters",
			       CFGSTR_ID_MAX - 1);
	strcpy(id, v);
	return 0;
}

int cfgstr_parse(struct opts *o, const char *cfgstring, char id[CFGSTR_ID_MAX], struct err *err)
{
	int r = parse_cfg(o, cfgstring, err);

	return r < 0 ? r : take_id(o, id, err);
}

int cfgstr_open(const char *cfgstring, unsigned int flags, struct blk_node **bs,
		char id[CFGSTR_ID_MAX], struct err *err)
{
	struct opts o;
	int r;

	opts_init(&o);
	r = cfgstr_parse(&o, cfgstring, id, err);
	if (r < 0)
		goto out;
	r = blk_open_checked(&o, flags, "config string", bs, err);
out:
	opts_release(&o);
	return r;
}

/* A writable export of a local file needs write permission; checked without opening
 * the file for writing (which could have side effects on some formats). */
static int check_writable(struct blk_node *bs, struct err *err)
{
	struct blk_node *leaf = bs;

	while (blk_child_file(leaf))
		leaf = blk_child_file(leaf);
	if (strcmp(blk_driver_name(leaf), "file"))
		return 0;
	if (access(blk_filename(leaf), W_OK) < 0)
		return err_set_errno(err, -errno,
				     "could not open '%s' read-write (use read-only=on)",
				     blk_filename(leaf));
	return 0;
}

bool cfgstr_check(const char *cfgstring, char *msg, size_t len)
{
	return cfgstr_check_size(cfgstring, NULL, msg, len);
}

bool cfgstr_check_size(const char *cfgstring, uint64_t *size, char *msg, size_t len)
{
	struct blk_node *bs = NULL;
	char id[CFGSTR_ID_MAX];
	struct opts o;
	struct err err;
	bool ro = false;
	int r;

	err_init(&err);
	opts_init(&o);
	r = cfgstr_parse(&o, cfgstring, id, &err);
	if (!r)
		r = opts_get_bool(&o, "read-only", false, &ro, &err);
	/* probe read-only whatever the export will be: opening has no side effects then */
	if (!r)
		r = opts_set(&o, "read-only", "on");
	if (!r)
		r = blk_open_checked(&o, 0, "config string", &bs, &err);
	if (!r && !ro)
		r = check_writable(bs, &err);
	if (!r && size) {
		int64_t n = blk_getlength(bs);

		r = n < 0 ? err_set_errno(&err, (int)n, "could not get the image's size") : 0;
		*size = n < 0 ? 0 : (uint64_t)n;
	}
	blk_close(bs);
	opts_release(&o);
	if (r < 0) {
		snprintf(msg, len, "%s", err.msg[0] ? err.msg : strerror(-r));
		return false;
	}
	snprintf(msg, len, "ok");
	return true;
}

void cfgstr_print_keys(FILE *f, int style)
{
	enum blk_help_style st = (enum blk_help_style)style;

	blk_print_config_help(f, st);
	if (st == BLK_HELP_TEXT)
		fputs("\nThe daemon's:\n", f);
	else if (st == BLK_HELP_MAN)
		fputs(".SS daemon\nThe daemon takes one key itself.\n", f);
	else
		fputs("; daemon:", f);
	blk_print_option(f, st, "id", "a name for the export in the logs");
}

char *cfgstr_describe(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs("@key=value@key=value... or a plain image path ('qemu-tcmu --config-help' "
	      "explains each key). Keys:",
	      f);
	cfgstr_print_keys(f, BLK_HELP_BRIEF);
	fputc('.', f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

const char *cfgstr_strip_subtype(const char *dev_config, const char *subtype)
{
	size_t n = strlen(subtype);

	if (strncmp(dev_config, subtype, n) || dev_config[n] != '/')
		return NULL;
	return dev_config + n + 1;
}
