/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "err.h"

#define LOG_MAX_CATS 32
#define LOG_RATELIMIT_BURST 10

static struct {
	pthread_mutex_t lock;
	enum log_level level;
	bool syslog;
	bool debug_all;
	int journal; /* -1 unknown, 0 no, 1 stderr goes to journald */
	char prefix[64];
	int ncats;
	char cats[LOG_MAX_CATS][32];
} log_state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.level = LOG_LVL_INFO,
	.journal = -1,
};

void log_set_level(enum log_level lvl)
{
	log_state.level = lvl;
}

void log_set_prefix(const char *prefix)
{
	snprintf(log_state.prefix, sizeof(log_state.prefix), "%s", prefix ? prefix : "");
}

/* Every category a log_debug() call uses (and "daemon", which -v enables); keep sorted. */
static const char *const debug_categories[] = {
	"block", "daemon", "dbus", "nbd", "netlink", "qcow2", "rbd", "scsi", "sim", "transport",
};

static bool known_category(const char *p, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(debug_categories); i++)
		if (strlen(debug_categories[i]) == n && !strncmp(p, debug_categories[i], n))
			return true;
	return false;
}

static int unknown_category(const char *p, size_t n, struct err *err)
{
	char list[256] = "all";
	size_t len = strlen(list);

	for (size_t i = 0; i < ARRAY_SIZE(debug_categories) && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, ", %s",
					debug_categories[i]);
	return err_set(err, -EINVAL, "unknown debug category '%.*s' (valid: %s)", (int)n, p, list);
}

int log_enable_debug(const char *cats, struct err *err)
{
	const char *p;

	/* all or nothing: check every name first */
	for (p = cats; *p; p += *p == ',') {
		size_t n = strcspn(p, ",");

		if (n && !(n == 3 && !strncmp(p, "all", 3)) && !known_category(p, n))
			return unknown_category(p, n, err);
		p += n;
	}
	for (p = cats; *p;) {
		size_t n = strcspn(p, ",");

		if (n == 3 && !strncmp(p, "all", 3)) {
			log_state.debug_all = true;
		} else if (n > 0) {
			if (log_state.ncats == LOG_MAX_CATS)
				return err_set(err, -ENOSPC, "too many debug categories");
			memcpy(log_state.cats[log_state.ncats], p, n);
			log_state.cats[log_state.ncats++][n] = '\0';
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

bool log_debug_enabled(const char *cat)
{
	if (log_state.debug_all)
		return true;
	for (int i = 0; i < log_state.ncats; i++) {
		size_t n = strlen(log_state.cats[i]);
		/* "qcow2" enables "qcow2.l2" too */
		if (!strncmp(cat, log_state.cats[i], n) && (cat[n] == '\0' || cat[n] == '.'))
			return true;
	}
	return false;
}

bool log_is_syslog(void)
{
	return log_state.syslog;
}

void log_use_syslog(const char *ident)
{
	if (ident) {
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_state.syslog = true;
	} else {
		log_state.syslog = false;
		closelog();
	}
}

static const char *level_name(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_ERR:
		return "error";
	case LOG_LVL_WARN:
		return "warning";
	case LOG_LVL_INFO:
		return "info";
	default:
		return "debug";
	}
}

void log_msg(enum log_level lvl, const char *cat, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (lvl != LOG_LVL_DEBUG && lvl > log_state.level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);

	if (log_state.syslog) {
		if (cat)
			syslog((int)lvl, "[%s] %s", cat, line);
		else
			syslog((int)lvl, "%s", line);
		return;
	}
	pthread_mutex_lock(&log_state.lock);
	if (log_state.journal < 0)
		log_state.journal = getenv("JOURNAL_STREAM") != NULL;
	/* "<N>" lets journald pick up the priority of stderr lines */
	if (log_state.journal)
		fprintf(stderr, "<%d>", (int)lvl);
	fprintf(stderr, "%s%s%s: %s%s%s%s\n", log_state.prefix, log_state.prefix[0] ? ": " : "",
		level_name(lvl), cat ? "[" : "", cat ? cat : "", cat ? "] " : "", line);
	pthread_mutex_unlock(&log_state.lock);
}

bool log_ratelimit_ok(struct log_ratelimit *rl)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	if (ts.tv_sec != rl->sec) {
		rl->sec = ts.tv_sec;
		rl->count = 0;
	}
	return rl->count++ < LOG_RATELIMIT_BURST;
}
