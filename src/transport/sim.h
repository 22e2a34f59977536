/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ring simulator: the kernel's side of a TCMU device (target_core_user.c) in
 * userspace, for tests, fuzzing and benchmarks on hosts without LIO.
 *
 * A memfd holds the mailbox, the command ring and the data area, laid out as the kernel
 * lays them out; a SOCK_SEQPACKET socketpair stands in for the UIO fd (4-byte messages
 * both ways: "new entries" to the daemon, "completions" back).  Entries are placed as
 * queue_cmd_ring() places them: a PAD entry when the end of the ring is too short, the
 * CDB after the iovecs, offsets relative to the mapping, data in data-area blocks taken
 * lowest-free-first (or scrambled, to force scattered iovecs) with contiguous blocks
 * merged into one iovec, cmd ids the lowest free in 1..65535.  Completions are checked
 * as tcmu_handle_completions() checks them: PAD and TMR entries at the tail are skipped,
 * every other entry's cmd_id must name a command in flight, or the ring is broken and
 * every later command fails, until sim_reset_ring().  The simulator is stricter than
 * the kernel where the kernel would walk garbage (a cmd_tail that is not on an entry
 * boundary or runs past cmd_head also breaks the ring).
 *
 * The daemon side gets its own mapping of the memfd (sim_daemon_map) and its end of the
 * socketpair (sim_daemon_fd): production ring code runs on it unchanged.  With
 * .strict, data blocks of the daemon's mapping are readable and writable only while a
 * command owns them (the kernel SIGBUSes on pages outside live iovecs).
 *
 * Threading: the simulator is driven by one thread (the test); the daemon side runs
 * elsewhere and only shares the memory and the socket.
 */
#ifndef QT_TRANSPORT_SIM_H
#define QT_TRANSPORT_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transport/ring.h"

struct sim;

struct sim_params {
	uint32_t ring_size;  /* mailbox + command ring, a multiple of 4 KiB; 0 = 8 MiB */
	uint32_t data_size;  /* data area bytes, a multiple of the block size; 0 = 8 MiB */
	uint32_t block_size; /* data area block (data_pages_per_blk pages); 0 = 4 KiB */
	uint16_t mb_flags;   /* mailbox capability flags; 0 = what 6.x kernels set */
	bool tmr_notify;     /* attrib/tmr_notification: TMR entries are queued */
	bool scatter;	     /* allocate data blocks in a scrambled order */
	bool strict;	     /* protect the daemon's view of unowned data blocks */
	bool no_notify;	     /* never write to the socket (benchmarks driving both sides) */
};

enum sim_dir {
	SIM_DIR_NONE,
	SIM_DIR_WRITE, /* Data-Out: buf is copied into the data area */
	SIM_DIR_READ,  /* Data-In: buf receives the data at completion */
	SIM_DIR_BIDI,  /* buf is Data-Out, bidi_buf Data-In */
};

/* A command as an initiator hands it to LIO.  Owned by the caller; reusable once done. */
struct sim_cmd {
	/* in */
	uint8_t cdb[RING_MAX_CDB]; /* its length is derived as the kernel does */
	enum sim_dir dir;
	void *buf;
	uint32_t len;
	void *bidi_buf;
	uint32_t bidi_len;
	void *opaque;
	/* out, valid when done */
	bool done;
	uint8_t status;
	uint8_t sense[RING_SENSE_SIZE]; /* CHECK CONDITION only */
	uint32_t xfer_len;		/* Data-In bytes returned (read_len residual applied) */
	bool read_len_valid;		/* the daemon reported READ_LEN */
	bool by_kernel;			/* completed by the simulated kernel, not the daemon */
	/* private */
	uint16_t cmd_id;
	uint32_t *dbi;
	uint32_t ndbi, ndbi_bidi, dbi_cap;
};

struct sim_stats {
	uint64_t cmds, completions, kicks, notifies, pads, tmrs;
};

int sim_new(const struct sim_params *p, struct sim **out, struct err *err);
/* Frees the daemon's mapping and socket end too (unless taken). NULL is a no-op. */
void sim_free(struct sim *s);

/* What the daemon side uses in place of open("/dev/uioN") + mmap(). */
void sim_daemon_map(const struct sim *s, void **map, size_t *size);
int sim_daemon_fd(const struct sim *s);
/* A fresh mapping + socket end for a restarted daemon (the old ones are released);
 * like a new open() of the UIO device. */
int sim_reopen(struct sim *s, struct err *err);

/*
 * Queue @c in the ring.  0: queued (or, like the kernel does for a blocked device, a
 * broken ring, or an oversized command, completed at once with c->by_kernel set).
 * -EAGAIN: no ring or data space now (the kernel would wait); poll and try again.
 */
int sim_submit(struct sim *s, struct sim_cmd *c);
/* Hold notifications until sim_unplug() (the kernel's plugging): one message per batch. */
void sim_plug(struct sim *s);
void sim_unplug(struct sim *s);

/* Wait up to @timeout_ms (-1: forever, 0: don't) for kicks and handle completions.
 * Returns the number of commands completed, or -EIO once the ring is broken, or
 * -ETIMEDOUT when nothing came. */
int sim_poll(struct sim *s, int timeout_ms);
/* Handle completions now, without waiting for a kick (the kernel's block_dev does). */
int sim_reap(struct sim *s);
/* Poll until @c is done; -ETIMEDOUT after @timeout_ms. */
int sim_wait(struct sim *s, struct sim_cmd *c, int timeout_ms);

/* Queue a TMR notification (only with .tmr_notify; else 0 and nothing is queued)
 * listing the cmd ids of those of @cmds that are in the ring. */
int sim_tmr(struct sim *s, uint8_t type, struct sim_cmd *const *cmds, unsigned int n);

/* action/block_dev: 1 reaps completions and fails new commands with BUSY; 0 unblocks. */
void sim_block(struct sim *s, bool on);
/* action/reset_ring: commands in the ring complete with BUSY (level 1) or CHECK
 * CONDITION (2), head and tail go to 0, a broken ring is usable again. */
void sim_reset_ring(struct sim *s, int level);

bool sim_is_broken(const struct sim *s);
const char *sim_error(const struct sim *s);
unsigned int sim_inflight(const struct sim *s);
const struct sim_stats *sim_stats(const struct sim *s);
/* The raw mailbox, for tests that poke at it. */
void *sim_kernel_map(const struct sim *s);
uint32_t sim_cmdr_size(const struct sim *s);

/* The kernel's scsi_command_size(): 6/10/12/16 by group, 8 + cdb[7] for 0x7f. */
unsigned int sim_cdb_len(const uint8_t *cdb);

#endif
