/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging: one line per message, no trailing newline in the format.  Output goes to
 * stderr (journald adds time stamps) or to syslog.  Debug output is enabled per
 * category ("-d scsi", "-d qcow2", "-d all").  Thread-safe.
 */
#ifndef QT_UTIL_LOG_H
#define QT_UTIL_LOG_H

#include <stdbool.h>
#include "compiler.h"

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

void log_msg(enum log_level lvl, const char *cat, const char *fmt, ...) PRINTF_FMT(3, 4);
/* Threshold for non-debug messages (default INFO; -v lowers nothing, -q raises to WARN). */
void log_set_level(enum log_level lvl);
struct err;
/* Enable debug output for a comma-separated list of categories ("all" enables every one).
 * An unknown category enables nothing: -EINVAL, and @err names it and the valid ones. */
int log_enable_debug(const char *cats, struct err *err);
bool log_debug_enabled(const char *cat);
/* Send output to syslog (ident) instead of stderr; NULL goes back to stderr. */
void log_use_syslog(const char *ident);
bool log_is_syslog(void);
/* Prefix for stderr lines (program name); default none. */
void log_set_prefix(const char *prefix);

#define log_err(...) log_msg(LOG_LVL_ERR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, NULL, __VA_ARGS__)
#define log_debug(cat, ...)                                       \
	do {                                                      \
		if (unlikely(log_debug_enabled(cat)))             \
			log_msg(LOG_LVL_DEBUG, cat, __VA_ARGS__); \
	} while (0)

/* At most @burst messages per second from one call site. */
#define log_err_ratelimited(...)                  \
	do {                                      \
		static struct log_ratelimit rl__; \
		if (log_ratelimit_ok(&rl__))      \
			log_err(__VA_ARGS__);     \
	} while (0)

struct log_ratelimit {
	long sec;
	int count;
};
bool log_ratelimit_ok(struct log_ratelimit *rl);

#endif
