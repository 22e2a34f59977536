/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Loading librbd and librados on first use (see rbd-lib.h). */
#include "rbd-lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "util/err.h"

#define LIBRBD_SONAME "librbd.so.1" /* pulls in librados.so.2 */

struct rbd_lib rbd_lib;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[256];

static void load(void)
{
	void *h = dlopen(LIBRBD_SONAME, RTLD_NOW | RTLD_LOCAL);
	void *r = h ? dlopen("librados.so.2", RTLD_NOW | RTLD_LOCAL) : NULL;
	const char *dl;

	if (!h || !r) {
		dl = dlerror();
		snprintf(load_error, sizeof(load_error), "%s", dl ? dl : "dlopen failed");
		return;
	}
#define RBD_LIB_SYM(fn)                                                                            \
	do {                                                                                       \
		void *p = dlsym(!__builtin_strncmp(#fn, "rados_", 6) ? r : h, #fn);                \
		if (!p) {                                                                          \
			snprintf(load_error, sizeof(load_error), "no %s in librbd/librados", #fn); \
			return;                                                                    \
		}                                                                                  \
		*(void **)&rbd_lib.fn = p;                                                         \
	} while (0);
	RBD_LIB_FUNCS(RBD_LIB_SYM)
#undef RBD_LIB_SYM
}

int rbd_lib_load(struct err *err)
{
	pthread_once(&once, load);
	if (load_error[0])
		return err_set(err, -ENOTSUP, "rbd: cannot load librbd: %s (install librbd1)",
			       load_error);
	return 0;
}
