/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * <linux/target_core_user.h> as installed (never vendored).  It includes <linux/uio.h>,
 * whose struct iovec clashes with glibc's; glibc's is the same layout, so the kernel
 * header is told its <linux/uio.h> was already seen.  Include this instead of the uapi
 * header directly.
 */
#ifndef QT_TRANSPORT_TCMU_UAPI_H
#define QT_TRANSPORT_TCMU_UAPI_H

#include <sys/uio.h>
#include <linux/types.h>
#ifndef __LINUX_UIO_H
#define __LINUX_UIO_H
#define QT_FAKED_LINUX_UIO_H
#endif
#include <linux/target_core_user.h>

#endif
