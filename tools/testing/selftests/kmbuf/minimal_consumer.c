// SPDX-License-Identifier: GPL-2.0
/*
 * The minimal consumer of Documentation/io_uring/kmbuf.rst
 * (drivers/kmbuf_demo/kmbuf_minimal.c) does what the documentation says:
 * records from its hard-interrupt timer arrive in order through the common
 * commands, and cancelling the ARM ends it with ECANCELED.  The module is
 * unloaded afterwards: nothing of it is left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/io_uring.h>	/* the tree's uapi, before liburing's copy */
#include <liburing.h>
#include <linux/kmbuf.h>
#include "libkmbuf.h"
#include "../kselftest_harness.h"

#define DEV		"/dev/kmbuf_minimal"
#define NR_BUFS		8
#define RECORDS		50
#define UD_ARM		1
#define UD_CANCEL	2

TEST(records_then_cancel)
{
	struct kmbuf_bind b = {
		.region_id = 1, .buf_size = 64, .nr_bufs = NR_BUFS,
	};
	unsigned long long seq, last = 0;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct kmbuf_region reg;
	struct io_uring r;
	int fd, n = 0;
	__u32 bid;

	if (access(DEV, F_OK) && system("modprobe kmbuf_minimal"))
		SKIP(return, "kmbuf_minimal not available");
	ASSERT_EQ(0, io_uring_queue_init(16, &r, 0));
	ASSERT_EQ(0, kmbuf_region_create(r.ring_fd, 1, 4096,
					 IORING_MEM_REGION_RDONLY, 0, &reg));
	fd = open(DEV, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kmbuf_bind_sync(&r, fd, &b));
	sqe = io_uring_get_sqe(&r);
	kmbuf_prep_arm(sqe, fd, 0);
	sqe->user_data = UD_ARM;
	ASSERT_EQ(1, io_uring_submit(&r));

	/* 8-byte records, in order; a gap is a period without a buffer */
	while (n < RECORDS) {
		ASSERT_EQ(0, io_uring_wait_cqe(&r, &cqe));
		ASSERT_EQ(UD_ARM, cqe->user_data);
		ASSERT_TRUE(cqe->flags & IORING_CQE_F_MORE);
		ASSERT_TRUE(cqe->flags & IORING_CQE_F_BUFFER);
		ASSERT_EQ(8, cqe->res);
		bid = kmbuf_cqe_bid(cqe);
		ASSERT_GT(NR_BUFS, bid);
		memcpy(&seq, (char *)reg.addr + bid * 64, sizeof(seq));
		if (n)
			ASSERT_LT(last, seq);
		last = seq;
		n++;
		io_uring_cqe_seen(&r, cqe);
		ASSERT_EQ(1, kmbuf_return_sync(&r, fd, &bid, 1));
	}

	/* the core cancels the ARM for the driver */
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_cancel64(sqe, UD_ARM, 0);
	sqe->user_data = UD_CANCEL;
	ASSERT_EQ(1, io_uring_submit(&r));
	for (;;) {
		ASSERT_EQ(0, io_uring_wait_cqe(&r, &cqe));
		if (cqe->user_data == UD_CANCEL) {
			EXPECT_EQ(0, cqe->res);
		} else {
			ASSERT_EQ(UD_ARM, cqe->user_data);
			if (!(cqe->flags & IORING_CQE_F_MORE)) {
				EXPECT_EQ(-ECANCELED, cqe->res);
				EXPECT_FALSE(cqe->flags & IORING_CQE_F_BUFFER);
				io_uring_cqe_seen(&r, cqe);
				break;
			}
		}
		io_uring_cqe_seen(&r, cqe);
	}
	TH_LOG("%d records, last sequence number %llu", n, last);
	close(fd);
	io_uring_queue_exit(&r);
	/* the file and its port are gone: the module can go */
	EXPECT_EQ(0, system("rmmod kmbuf_minimal"));
}

TEST_HARNESS_MAIN
