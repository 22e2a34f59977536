/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * librbd and librados, loaded when the first rbd node opens (rbd-lib.c), not linked.
 *
 * Their static initialisers allocate a large heap at program start; every binary of ours
 * would pay it (and LeakSanitizer's scan of it at exit, ~0.7 s per process in the test
 * build) whether it serves Ceph or not.  Calls go through RBD(fn)(args...).
 */
#ifndef QT_BLOCK_RBD_RBD_LIB_H
#define QT_BLOCK_RBD_RBD_LIB_H

#include <rados/librados.h>
#include <rbd/librbd.h>

struct err;

#define RBD_LIB_FUNCS(X)               \
	X(rados_create2)               \
	X(rados_conf_read_file)        \
	X(rados_conf_get)              \
	X(rados_conf_set)              \
	X(rados_connect)               \
	X(rados_shutdown)              \
	X(rados_ioctx_create)          \
	X(rados_ioctx_destroy)         \
	X(rados_ioctx_set_namespace)   \
	X(rados_getaddrs)              \
	X(rados_mon_command)           \
	X(rados_buffer_free)           \
	X(rados_service_register)      \
	X(rados_service_update_status) \
	X(rbd_namespace_exists)        \
	X(rbd_open)                    \
	X(rbd_open_read_only)          \
	X(rbd_close)                   \
	X(rbd_stat)                    \
	X(rbd_get_features)            \
	X(rbd_get_size)                \
	X(rbd_resize)                  \
	X(rbd_update_watch)            \
	X(rbd_update_unwatch)          \
	X(rbd_diff_iterate2)           \
	X(rbd_is_exclusive_lock_owner) \
	X(rbd_lock_acquire)            \
	X(rbd_lock_release)            \
	X(rbd_lock_break)              \
	X(rbd_lock_get_owners)         \
	X(rbd_lock_get_owners_cleanup) \
	X(rbd_watchers_list)           \
	X(rbd_watchers_list_cleanup)   \
	X(rbd_get_id)                  \
	X(rbd_metadata_get)            \
	X(rbd_metadata_set)            \
	X(rbd_aio_create_completion)   \
	X(rbd_aio_get_return_value)    \
	X(rbd_aio_release)             \
	X(rbd_aio_wait_for_complete)   \
	X(rbd_aio_read)                \
	X(rbd_aio_readv)               \
	X(rbd_aio_write)               \
	X(rbd_aio_writev)              \
	X(rbd_aio_flush)               \
	X(rbd_aio_discard)             \
	X(rbd_aio_write_zeroes)        \
	X(rbd_aio_writesame)           \
	X(rbd_aio_compare_and_write)

struct rbd_lib {
#define RBD_LIB_MEMBER(fn) __typeof__(fn) *fn;
	RBD_LIB_FUNCS(RBD_LIB_MEMBER)
#undef RBD_LIB_MEMBER
};

extern struct rbd_lib rbd_lib;

/* Load the libraries once (thread-safe); 0, or -ENOTSUP with a message. */
int rbd_lib_load(struct err *err);

#define RBD(fn) (rbd_lib.fn)

#endif
