/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Serialising requests, per node (the request core's, io.c; the idea is QEMU's).
 *
 * A write the core turns into read-modify-write (unaligned to the node's
 * request_alignment) reads the aligned head/tail blocks, patches them and writes the whole
 * aligned range back.  Any other write to that aligned range landing between its read and
 * its write would be undone, so such a write is "serialising": it waits for every earlier
 * overlapping write to finish, and later overlapping writes wait for it.
 *
 * Writes are tracked only while an RMW is in flight on the node.  Otherwise a write just
 * counts itself as "untracked" (one atomic increment, one load, one decrement: no lock,
 * no allocation), and an RMW arriving waits for the untracked count to drain; from the
 * moment it has announced itself, new writes go into the tracked list instead.
 *
 * Reads are not tracked.  A read overlapping an RMW sees, outside the RMW's own bytes,
 * the bytes the RMW read and writes back unchanged (no other write can change them
 * meanwhile), and inside them old or new bytes, as for any write racing a read.
 *
 * Waiting blocks the calling thread, so async requests that may have to wait run on the
 * thread pool (io.c), never in an event loop; a pool worker that waits lets the pool start
 * another worker (thread_pool_blocking_begin), so waiters cannot starve the requests
 * they wait for.
 */
#ifndef QT_BLOCK_SERIALISE_H
#define QT_BLOCK_SERIALISE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* One tracked write, on the stack of the thread doing it. */
struct blk_tracked {
	uint64_t start, end; /* bytes [start, end), aligned to the node's request_alignment */
	uint64_t seq;	     /* order of arrival: a request waits only for earlier ones */
	bool serialising;    /* a read-modify-write */
	struct blk_tracked *prev, *next;
};

struct blk_serial {
	unsigned int serialising; /* RMWs tracked (atomic); 0: writes need not be tracked */
	unsigned int untracked;	  /* writes in flight without an entry (atomic) */
	pthread_mutex_t lock;	  /* the list, next_seq; with cond, the waits */
	pthread_cond_t cond;
	uint64_t next_seq;
	struct blk_tracked *head, *tail; /* in arrival order */
};

void blk_serial_init(struct blk_serial *s);
void blk_serial_destroy(struct blk_serial *s);

/*
 * The fast path of a write: true when no RMW is in flight, and the write now counts as
 * untracked until blk_serial_untracked_end(); false (nothing held) when it must be tracked.
 * Never blocks, so the event loop may call it.
 */
bool blk_serial_untracked_begin(struct blk_serial *s);
void blk_serial_untracked_end(struct blk_serial *s);

/*
 * Track a write of [start, end) and wait until it may run: a plain write waits for earlier
 * overlapping RMWs, an RMW (@serialising) for every earlier overlapping write and for the
 * untracked ones.  Blocks: not in an event loop.  End with blk_serial_end().
 */
void blk_serial_begin(struct blk_serial *s, struct blk_tracked *t, uint64_t start, uint64_t end,
		      bool serialising);
void blk_serial_end(struct blk_serial *s, struct blk_tracked *t);

/* Nothing in flight or tracked (for tests and assertions). */
bool blk_serial_idle(struct blk_serial *s);

#endif
