/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * LIO's configfs and target_core_user's module parameters, as a TCMU daemon needs them:
 * a device's attributes (dev_size, hw_block_size, ...), its unit serial, its actions
 * (block_dev, reset_ring), and the module's block_netlink/reset_netlink.
 * Paths: /sys/kernel/config/target/core/user_<hba>/<dev>/...,
 *        /sys/module/target_core_user/parameters/...
 * (through sysfile_path(): tests point them at a fake tree, util/sysfile.h).
 */
#ifndef QT_TRANSPORT_CONFIGFS_H
#define QT_TRANSPORT_CONFIGFS_H

#include <stddef.h>
#include <stdint.h>

/* A number from a device's file: "attrib/hw_block_size" holds "512\n". */
int cfs_read_u64(unsigned int hba, const char *dev, const char *rel, uint64_t *out);
/* The "Size: N" field of the device's info file (what dev_size was set to). */
int cfs_read_size(unsigned int hba, const char *dev, uint64_t *out);
/* wwn/vpd_unit_serial ("T10 VPD Unit Serial Number: <s>"): the serial, "" if unset. */
int cfs_read_serial(unsigned int hba, const char *dev, char *buf, size_t len);
/* Write "<value>" to action/<action> (block_dev, reset_ring); -ENOENT on old kernels. */
/* Write a number to a device attribute ("attrib/dev_size"). */
int cfs_write_u64(unsigned int hba, const char *dev, const char *rel, uint64_t value);
int cfs_action(unsigned int hba, const char *dev, const char *action, int value);
/* Write a module parameter of target_core_user (block_netlink, reset_netlink). */
int cfs_module_param(const char *name, const char *value);

#endif
