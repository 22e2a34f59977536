/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The config keys, from the registry: for --config-help, targetcli and the man page. */
#include "block-driver.h"

#include <stdio.h>
#include <string.h>

/* Keys the core takes for every image (block.c). */
static const struct blk_opt_desc core_options[] = {
	{ "file", "the image: a path, or a URL a driver serves (nbd://, rbd:, ssh://, ...)" },
	{ "format", "the image format (raw, qcow2, vmdk, ...; alias driver); probed when absent" },
	{ "driver", NULL },
	{ "read-only", "on or off: export write-protected" },
	{ "cache", "writeback (default), writethrough, none, directsync or unsafe: QEMU's "
		   "meanings" },
	{ "discard", "unmap (default) or ignore: whether UNMAP deallocates" },
	{ "helper", "auto (default): QEMU serves what nothing native does; qemu: always; off: "
		    "never" },
	{ NULL, NULL },
};

static const char *kind_name(const struct blk_driver *d)
{
	switch (d->kind) {
	case BLK_DRIVER_FORMAT:
		return "format";
	case BLK_DRIVER_IMAGE:
		return "formats and protocols";
	case BLK_DRIVER_PROTOCOL:
	default:
		return "protocol";
	}
}

/* roff: a leading '.' or '\'' would be a request; '\' and '-' need escapes */
static void put_roff(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
	}
}

void blk_print_option(FILE *f, enum blk_help_style style, const char *name, const char *help)
{
	if (!help)
		return;
	switch (style) {
	case BLK_HELP_MAN:
		fputs(".TP\n.B ", f);
		put_roff(f, name);
		fputc('\n', f);
		put_roff(f, help);
		fputs("\n", f);
		break;
	case BLK_HELP_BRIEF:
		fprintf(f, " %s", name);
		break;
	case BLK_HELP_TEXT:
	default:
		fprintf(f, "    %-20s %s\n", name, help);
		break;
	}
}

static void print_options(FILE *f, enum blk_help_style style, const struct blk_opt_desc *o)
{
	bool first = true;

	for (; o && o->name; o++) {
		if (style == BLK_HELP_BRIEF && o->help && !first)
			fputc(',', f);
		blk_print_option(f, style, o->name, o->help);
		first &= !o->help;
	}
}

static void print_prefixes(FILE *f, const struct blk_driver *d)
{
	for (int i = 0; d->prefixes && d->prefixes[i]; i++)
		fprintf(f, "%s%s", i ? " " : "", d->prefixes[i]);
}

static void print_driver(FILE *f, enum blk_help_style style, const struct blk_driver *d)
{
	if (!d->summary)
		return; /* internal (tests) */
	switch (style) {
	case BLK_HELP_MAN:
		fputs(".SS ", f);
		put_roff(f, d->name);
		fputs(" (", f);
		put_roff(f, kind_name(d));
		fputs(")\n", f);
		put_roff(f, d->summary);
		if (d->prefixes) {
			fputs(".\nServes file names starting\n.BR ", f);
			for (int i = 0; d->prefixes[i]; i++) {
				fputs(i ? " \", \" " : "", f);
				put_roff(f, d->prefixes[i]);
			}
		}
		fputs(".\n", f);
		break;
	case BLK_HELP_BRIEF:
		if (!d->options || !d->options[0].name)
			return;
		fprintf(f, "; %s:", d->name);
		break;
	case BLK_HELP_TEXT:
	default:
		fprintf(f, "  %s (%s): %s\n", d->name, kind_name(d), d->summary);
		if (d->prefixes) {
			fputs("    serves: ", f);
			print_prefixes(f, d);
			fputc('\n', f);
		}
		break;
	}
	print_options(f, style, d->options);
}

void blk_print_config_help(FILE *f, enum blk_help_style style)
{
	if (style == BLK_HELP_TEXT)
		fputs("Keys for every image:\n", f);
	print_options(f, style, core_options);
	if (style == BLK_HELP_TEXT)
		fputs("\nDrivers and their keys:\n", f);
	else if (style == BLK_HELP_MAN)
		fputs(".PP\nEach driver takes keys of its own:\n", f);
	for (int i = 0; blk_drivers[i]; i++)
		print_driver(f, style, blk_drivers[i]);
}
