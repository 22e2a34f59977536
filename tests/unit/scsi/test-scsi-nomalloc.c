/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The READ/WRITE fast path allocates nothing: malloc and friends are wrapped at link time
 * (-Wl,--wrap) and counted while many READ(16)/WRITE(16) commands run, in flight together,
 * over a memory node whose chunks already exist.
 */
#include "scsi-test.h"

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
int __real_posix_memalign(void **p, size_t align, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
int __wrap_posix_memalign(void **p, size_t align, size_t size);

static int allocs;

void *__wrap_malloc(size_t size)
{
	__atomic_add_fetch(&allocs, 1, __ATOMIC_RELAXED);
	return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
	__atomic_add_fetch(&allocs, 1, __ATOMIC_RELAXED);
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
	__atomic_add_fetch(&allocs, 1, __ATOMIC_RELAXED);
	return __real_realloc(p, size);
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	__atomic_add_fetch(&allocs, 1, __ATOMIC_RELAXED);
	return __real_posix_memalign(p, align, size);
}

#define QD 32
#define BSZ 4096
#define ROUNDS 64

static void test_rw_no_malloc(void **state)
{
	static uint8_t bufs[QD][BSZ], cdbs[QD][16];
	static struct scsi_cmd cmds[QD];
	static struct iovec iovs[QD];
	struct fx *f = fx_new(512, 8192, false);
	int pending, before;

	(void)state;
	memset(bufs, 0x5a, sizeof(bufs));
	assert_int_equal(blk_pwrite(f->bs, 0, bufs, sizeof(bufs), 0), 0); /* allocate chunks */
	for (int i = 0; i < QD; i++) {
		iovs[i] = (struct iovec){ bufs[i], BSZ };
		cmds[i].iov = &iovs[i];
		cmds[i].iovcnt = 1;
		cmds[i].cdb = cdbs[i];
		cmds[i].cdb_len = 16;
		cmds[i].done = cmd_done;
		cmds[i].opaque = &pending;
	}
	before = __atomic_load_n(&allocs, __ATOMIC_RELAXED);
	for (int round = 0; round < ROUNDS; round++) {
		pending = QD;
		for (int i = 0; i < QD; i++) {
			cdb_rw16(cdbs[i], round % 2 ? SCSI_OP_READ_16 : SCSI_OP_WRITE_16,
				 (uint64_t)i * 8, 8);
			cdbs[i][1] = round % 4 == 2 ? 0x08 : 0; /* some FUA writes */
			scsi_lun_submit(f->lun, &cmds[i]);
		}
		while (pending)
			aio_poll(f->ctx, true);
		for (int i = 0; i < QD; i++)
			assert_int_equal(cmds[i].status, SCSI_STATUS_GOOD);
	}
	assert_int_equal(__atomic_load_n(&allocs, __ATOMIC_RELAXED) - before, 0);
	/* the counter works: a non-fast-path command (UNMAP list) does allocate */
	{
		uint8_t pl[24] = { 0, 22, 0, 16 };
		struct res r;

		put_be32(pl + 16, 1);
		r = RUN(f, pl, sizeof(pl), SCSI_OP_UNMAP, 0, 0, 0, 0, 0, 0, 0, 24, 0);
		expect_good(&r);
		assert_true(__atomic_load_n(&allocs, __ATOMIC_RELAXED) > before);
	}
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw_no_malloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
