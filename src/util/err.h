/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Error reporting for open, config and CLI paths.
 *
 * Functions return 0 or a negative errno and, on failure, describe the problem in a
 * struct err supplied by the caller.  As in QEMU, @err is left untouched on success.
 * A NULL @err is allowed: the message is then dropped.  Messages have no trailing
 * newline and name the thing that is wrong ("qcow2: cluster_bits 40 out of range").
 */
#ifndef QT_UTIL_ERR_H
#define QT_UTIL_ERR_H

#include <stdarg.h>
#include "compiler.h"

#define ERR_MSG_MAX 512

struct err {
	int code;	       /* negative errno, 0 while unset */
	char msg[ERR_MSG_MAX]; /* NUL-terminated, no trailing newline */
};

/* Record @code (a negative errno) and a message; returns @code for `return err_set(...)`. */
int err_set(struct err *err, int code, const char *fmt, ...) PRINTF_FMT(3, 4);
int err_setv(struct err *err, int code, const char *fmt, va_list ap) PRINTF_FMT(3, 0);
/* Like err_set() but appends ": strerror(-code)". */
int err_set_errno(struct err *err, int code, const char *fmt, ...) PRINTF_FMT(3, 4);
/* Prepend "prefix: " to an already set message. */
void err_prefix(struct err *err, const char *fmt, ...) PRINTF_FMT(2, 3);
static inline void err_init(struct err *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}

#endif
