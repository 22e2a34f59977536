/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A TCMU device served: one command ring (ring.h) feeding one SCSI LUN (scsi/scsi.h)
 * over a block node, in an event loop of its own running in a thread of its own.
 *
 * The loop watches the ring's fd.  When the kernel (or the simulator) signals, every new
 * entry is fetched and submitted as a preallocated struct scsi_cmd (one slot per command
 * that may be in flight; the cmd ids are the kernel's); data iovecs point into the
 * mapping, nothing is copied but the CDB and the iovec array.  Commands complete out of
 * order into the ring; the tail is published and the kernel kicked once per loop
 * iteration.  When every slot is busy, entries wait in the ring (the kernel's queue).
 *
 * The map, fd and block node are borrowed: they must outlive the device.
 * All functions are called from one control thread (the daemon's main loop, a test).
 */
#ifndef QT_TRANSPORT_RING_DEV_H
#define QT_TRANSPORT_RING_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scsi/scsi.h"

struct blk_node;
struct err;
struct ring_dev;

struct ring_dev_params {
	const char *name; /* for logs and the thread name (copied) */
	void *map;	  /* the ring mapping */
	size_t map_size;
	int fd; /* the UIO fd (or the simulator's socket), O_NONBLOCK */
	struct blk_node *bs;
	struct scsi_lun_params lun; /* strings are copied */
	unsigned int max_inflight;  /* command slots; 0 = 128 (LIO's hw_queue_depth) */
	unsigned int poll_us;	    /* busy-poll the ring this long before sleeping; 0: never */
};

struct ring_dev_stats {
	uint64_t cmds;	       /* commands submitted to the LUN */
	uint64_t kicks;	       /* 4-byte writes to the fd */
	uint64_t wakeups;      /* times the fd signalled */
	uint64_t polled;       /* times busy polling found new entries */
	uint64_t tmrs;	       /* TMR notifications seen */
	uint64_t bad;	       /* malformed or unknown entries answered with an error */
	unsigned int inflight; /* now */
	unsigned int max_seen; /* most commands in flight at once */
	bool broken;	       /* the ring could not be walked any further */
};

/* Set up the ring, the LUN and the loop, and start the thread. */
int ring_dev_start(const struct ring_dev_params *p, struct ring_dev **out, struct err *err);

/*
 * Stop fetching, let the commands in flight complete into the ring, kick, flush the
 * block node, end the thread and free the device.  Returns the flush result (0 or
 * -errno).  The map, fd and node stay the caller's.
 */
int ring_dev_stop(struct ring_dev *d);

/* As a crashed daemon: stop fetching, wait for the commands in flight (their memory
 * must not be freed under the block layer) but write no completion, no kick; free. */
void ring_dev_abandon(struct ring_dev *d);

/* In the device's thread: new capacity (raises the LUN's unit attention), write cache. */
void ring_dev_set_size(struct ring_dev *d, uint64_t bytes);
void ring_dev_set_write_cache(struct ring_dev *d, bool wce);
/* Flush the old node and serve @bs from now on, once no command is in flight (fetching
 * pauses meanwhile).  Returns the old node, which the caller closes. */
struct blk_node *ring_dev_swap_node(struct ring_dev *d, struct blk_node *bs);

void ring_dev_get_stats(struct ring_dev *d, struct ring_dev_stats *st);
const char *ring_dev_name(const struct ring_dev *d);

#endif
