/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The qcow2 format driver as the block layer sees it: one ops table (docs/QCOW2.md).
 * Code that looks inside a qcow2 node, as tests do (struct qcow2_state), gets the
 * driver's private interface with it.
 */
#ifndef QT_BLOCK_QCOW2_QCOW2_H
#define QT_BLOCK_QCOW2_QCOW2_H

#include "block/block-driver.h"
#include "qcow2-int.h"

extern const struct blk_driver blk_driver_qcow2;

#endif
