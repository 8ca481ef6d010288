// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests for the kernel-managed buffer ring (kmbuf) core: parameter
 * validation, the free-buffer FIFO and its wrap-around, ownership
 * transitions, batch takes, hand-overs and returns, 65536-buffer rings, bio_vec construction,
 * exhaustion notification and ring lifetime.
 *
 * The rings are built on a region of kernel memory that belongs to no
 * io_uring instance (io_region_create_kunit()).  The test holds one
 * reference to it and each ring takes one of its own, so the count goes
 * back to one when the rings are gone, which the tests check.
 */
#include <kunit/test.h>
#include <linux/bitmap.h>
#include <linux/bvec.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/io_uring/kmbuf.h>
#include <linux/io_uring/region.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "kmbuf.h"
#include "region.h"

#define KT_REGION_SIZE		(64UL << 10)
#define KT_BIG_REGION_SIZE	((size_t)KMBUF_MAX_BUFS * KMBUF_BUF_ALIGN)

struct kmbuf_test {
	struct io_uring_region	*region;
	struct kmbuf_ring	*ring;
	atomic_t		notified;
};

static int kmbuf_test_region_init(struct kunit *test, size_t size)
{
	struct kmbuf_test *kt = test->priv;
	struct io_uring_region *r;

	r = io_region_create_kunit(size, 3);
	if (IS_ERR(r))
		return PTR_ERR(r);
	kt->region = r;
	return 0;
}

static int kmbuf_test_init(struct kunit *test)
{
	struct kmbuf_test *kt;

	kt = kzalloc(sizeof(*kt), GFP_KERNEL);
	if (!kt)
		return -ENOMEM;
	test->priv = kt;
	return 0;
}

static void kmbuf_test_exit(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring_stats st;
	u32 bid;

	if (kt->ring) {
		/* buffers the kernel holds keep the ring: give them back */
		kmbuf_ring_get_stats(kt->ring, &st);
		for (bid = 0; st.nr_kernel && bid < st.nr_bufs; bid++)
			kmbuf_buf_put(kt->ring, bid);
		kmbuf_ring_destroy(kt->ring);
	}
	/* a ring still being freed holds the region: it goes after it */
	kmbuf_flush_free_work();
	if (kt->region)
		io_uring_region_put(kt->region);
	kfree(kt);
}

static void kmbuf_test_notify(struct kmbuf_ring *ring, void *priv)
{
	struct kmbuf_test *kt = priv;

	atomic_inc(&kt->notified);
}

/* Build kt->ring on a fresh region of @size bytes. */
static struct kmbuf_ring *kmbuf_test_ring(struct kunit *test, size_t size,
					  u64 offset, u32 buf_size,
					  u32 nr_bufs)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring_desc desc = {
		.offset		= offset,
		.buf_size	= buf_size,
		.nr_bufs	= nr_bufs,
		.notify		= kmbuf_test_notify,
		.priv		= kt,
	};
	struct kmbuf_ring *ring;

	KUNIT_ASSERT_EQ(test, kmbuf_test_region_init(test, size), 0);
	ring = kmbuf_ring_create(kt->region, &desc);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ring);
	kt->ring = ring;
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);
	return ring;
}

static void kmbuf_test_validate(struct kunit *test)
{
	static const struct {
		u32 flags, buf_size, nr_bufs;
		u64 offset;
		int ret;
	} cases[] = {
		{ 0, 64, 1, 0, 0 },
		{ 0, 4096, 256, 0, 0 },			/* exactly the region */
		{ 0, 4096, 257, 0, -EINVAL },		/* one buffer too many */
		{ 0, 4096, 1, (1 << 20) - 4096, 0 },	/* last page */
		{ 0, 4096, 1, 1 << 20, -EINVAL },	/* just past the end */
		{ 0, 64, 3, 64, 0 },			/* not a power of two */
		{ 1, 64, 1, 0, -EINVAL },		/* unknown flag */
		{ 1U << 31, 64, 1, 0, -EINVAL },
		{ 0, 0, 1, 0, -EINVAL },		/* empty buffers */
		{ 0, 100, 1, 0, -EINVAL },		/* misaligned size */
		{ 0, 32, 1, 0, -EINVAL },
		{ 0, 64, 1, 32, -EINVAL },		/* misaligned offset */
		{ 0, 64, 0, 0, -EINVAL },		/* no buffers */
		{ 0, 16, 65536, 0, -EINVAL },		/* 16 < alignment */
		{ 0, 64, 65536, 0, -EINVAL },		/* 4 MiB > 1 MiB */
		{ 0, 64, 65537, 0, -EINVAL },		/* bid > 16 bits */
		{ 0, 64, 16384, 0, 0 },			/* exactly 1 MiB */
		{ 0, 0xffffffc0, 65536, 0, -EINVAL },	/* 2^48 bytes */
		{ 0, 64, 1, U64_MAX & ~63ULL, -EOVERFLOW },
		{ 0, 0xffffffc0, 1, U64_MAX - 0xffffffc0 + 1, -EOVERFLOW },
		{ 0, 64, 1, U64_MAX - 127, -EINVAL },	/* no overflow, OOB */
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct kmbuf_ring_desc desc = {
			.flags		= cases[i].flags,
			.offset		= cases[i].offset,
			.buf_size	= cases[i].buf_size,
			.nr_bufs	= cases[i].nr_bufs,
		};

		KUNIT_EXPECT_EQ_MSG(test, kmbuf_desc_validate(&desc, 1 << 20),
				    cases[i].ret, "case %u", i);
	}
}

/*
 * The caller's region reference is the caller's, whether the create fails
 * or succeeds: a ring takes references of its own.
 */
static void kmbuf_test_create_fail(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring_desc desc = {
		.buf_size	= 4096,
		.nr_bufs	= 17,		/* 68 KiB > 64 KiB */
	};
	struct kmbuf_ring *ring;

	KUNIT_ASSERT_EQ(test, kmbuf_test_region_init(test, KT_REGION_SIZE), 0);
	ring = kmbuf_ring_create(kt->region, &desc);
	KUNIT_EXPECT_EQ(test, PTR_ERR(ring), -EINVAL);
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 1);
	/* with a refill ring too, failing at the refill ring's checks */
	desc.nr_bufs = 16;
	ring = kmbuf_ring_create_refill(kt->region, &desc, kt->region, 0, 8);
	KUNIT_EXPECT_EQ(test, PTR_ERR(ring), -EBUSY);	/* the ring's bytes */
	ring = kmbuf_ring_create_refill(kt->region, &desc, kt->region,
					KT_REGION_SIZE - 64, 8);
	KUNIT_EXPECT_EQ(test, PTR_ERR(ring), -EINVAL);	/* past the end */
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 1);
	KUNIT_EXPECT_EQ(test, kmbuf_region_nr_ranges(kt->region), 0);

	/* the ring takes a reference and drops it when destroyed */
	ring = kmbuf_ring_create(kt->region, &desc);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ring);
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 2);
	kmbuf_ring_destroy(ring);
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 1);
}

static void kmbuf_test_take_all(struct kunit *test)
{
	struct kmbuf_ring *ring;
	struct kmbuf_ring_stats st;
	struct kmbuf_buf buf;
	DECLARE_BITMAP(seen, 7) = { };
	unsigned int i;

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 128, 192, 7);
	for (i = 0; i < 7; i++) {
		KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
		KUNIT_ASSERT_LT(test, buf.bid, 7);
		KUNIT_EXPECT_FALSE(test, test_and_set_bit(buf.bid, seen));
		KUNIT_EXPECT_EQ(test, buf.len, 192);
		KUNIT_EXPECT_PTR_EQ(test, buf.kaddr,
				    io_region_kaddr(((struct kmbuf_test *)test->priv)->region) +
				    128 + buf.bid * 192);
	}
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &buf), -ENOBUFS);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &buf), -ENOBUFS);
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_bufs, 7);
	KUNIT_EXPECT_EQ(test, st.nr_free, 0);
	KUNIT_EXPECT_EQ(test, st.nr_kernel, 7);
	KUNIT_EXPECT_EQ(test, st.nr_user, 0);
	KUNIT_EXPECT_EQ(test, st.nr_exhausted, 2);
	KUNIT_EXPECT_EQ(test, st.buf_size, 192);
	KUNIT_EXPECT_EQ(test, st.offset, 128);
	KUNIT_EXPECT_EQ(test, st.region_id, 3);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);

	for (i = 0; i < 7; i++)
		KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, i), 0);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_nr_free(ring), 7);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);
}

/*
 * The FIFO hands buffers out in the order they came back, across many
 * wrap-arounds of a ring whose size is not a power of two.
 */
static void kmbuf_test_fifo_wrap(struct kunit *test)
{
	static const u32 order[] = { 3, 1, 4, 0, 2 };
	u32 model[5], head = 0, nr_free;
	struct kmbuf_ring *ring;
	struct kmbuf_buf buf;
	unsigned int i, round;

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 0, 64, 5);
	for (i = 0; i < 5; i++) {
		KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
		KUNIT_EXPECT_EQ(test, buf.bid, i);
	}
	KUNIT_EXPECT_EQ(test, kmbuf_ring_head(ring), 0);
	for (i = 0; i < 5; i++)
		KUNIT_ASSERT_EQ(test, kmbuf_buf_put(ring, order[i]), 0);
	for (i = 0; i < 5; i++) {
		KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
		KUNIT_EXPECT_EQ(test, buf.bid, order[i]);
	}
	for (i = 0; i < 5; i++) {
		KUNIT_ASSERT_EQ(test, kmbuf_buf_put(ring, i), 0);
		model[i] = i;
	}

	/* take two, give them back swapped; compare with a model FIFO */
	nr_free = 5;
	head = kmbuf_ring_head(ring);
	for (round = 0; round < 1000; round++) {
		u16 a, b;

		KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
		a = buf.bid;
		KUNIT_ASSERT_EQ(test, a, model[head]);
		head = (head + 1) % 5;
		KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
		b = buf.bid;
		KUNIT_ASSERT_EQ(test, b, model[head]);
		head = (head + 1) % 5;
		nr_free -= 2;
		KUNIT_ASSERT_EQ(test, kmbuf_ring_head(ring), head);

		KUNIT_ASSERT_EQ(test, kmbuf_buf_put(ring, b), 0);
		model[(head + nr_free++) % 5] = b;
		KUNIT_ASSERT_EQ(test, kmbuf_buf_put(ring, a), 0);
		model[(head + nr_free++) % 5] = a;
		if (!(round % 97))
			KUNIT_ASSERT_EQ(test, kmbuf_ring_check(ring), 0);
	}
	KUNIT_EXPECT_EQ(test, kmbuf_ring_nr_free(ring), 5);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);
}

static void kmbuf_test_ownership(struct kunit *test)
{
	struct kmbuf_ring_stats st;
	struct kmbuf_ring *ring;
	struct kmbuf_buf buf;
	u32 bids[2];

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 0, 64, 4);

	/* FREE: only take is valid */
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, 0), -EALREADY);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_to_user(ring, 0), -EALREADY);
	bids[0] = 0;
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 1), -EALREADY);

	/* KERNEL: put or hand over, userspace can't return it */
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
	bids[0] = buf.bid;
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 1), -EALREADY);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_to_user(ring, buf.bid), 0);

	/* USER: only a user return is valid */
	KUNIT_EXPECT_EQ(test, kmbuf_buf_to_user(ring, buf.bid), -EALREADY);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, buf.bid), -EALREADY);
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_user, 1);
	KUNIT_EXPECT_EQ(test, st.nr_kernel, 0);
	KUNIT_EXPECT_EQ(test, st.nr_free, 3);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 1), 1);

	/* double return */
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 1), -EALREADY);

	/* out of range, in every call taking an id */
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_to_user(ring, 4), -EINVAL);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, UINT_MAX), -EINVAL);
	bids[0] = 4;
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 1), -EINVAL);
	bids[0] = 0x10000;	/* would alias bid 0 if truncated to 16 bits */
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 1), -EINVAL);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 5), -EINVAL);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 0), 0);

	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_free, 4);
	KUNIT_EXPECT_EQ(test, st.nr_user, 0);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);
}

/*
 * kmbuf_buf_take_batch() takes what is free, up to the count asked for, in
 * FIFO order, and counts an exhaustion only when nothing is free;
 * kmbuf_buf_to_user_batch() is all or nothing.
 */
static void kmbuf_test_take_batch(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_buf bufs[8], bad[3];
	struct kmbuf_ring_stats st;
	struct kmbuf_ring *ring;
	u32 bids[8];
	int i;

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 64, 128, 6);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take_batch(ring, bufs, 0), -EINVAL);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take_batch(ring, bufs, 4), 4);
	for (i = 0; i < 4; i++) {
		KUNIT_EXPECT_EQ(test, bufs[i].bid, i);
		KUNIT_EXPECT_EQ(test, bufs[i].len, 128);
		KUNIT_EXPECT_PTR_EQ(test, bufs[i].kaddr,
				    io_region_kaddr(kt->region) + 64 + i * 128);
	}
	/* only two left: a partial batch, not an exhaustion */
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take_batch(ring, &bufs[4], 4), 2);
	KUNIT_EXPECT_EQ(test, bufs[4].bid, 4);
	KUNIT_EXPECT_EQ(test, bufs[5].bid, 5);
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_exhausted, 0);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take_batch(ring, &bufs[6], 2), -ENOBUFS);
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_exhausted, 1);
	KUNIT_EXPECT_EQ(test, st.nr_kernel, 6);

	/* a repeated id, an id held by userspace, an id out of range */
	KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(ring, 5), 0);
	bad[0] = bufs[0];
	bad[1] = bufs[1];
	bad[2] = bufs[0];
	KUNIT_EXPECT_EQ(test, kmbuf_buf_to_user_batch(ring, bad, 3), -EALREADY);
	bad[2] = bufs[5];
	KUNIT_EXPECT_EQ(test, kmbuf_buf_to_user_batch(ring, bad, 3), -EALREADY);
	bad[2].bid = 6;
	KUNIT_EXPECT_EQ(test, kmbuf_buf_to_user_batch(ring, bad, 3), -EINVAL);
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_kernel, 5);
	KUNIT_EXPECT_EQ(test, st.nr_user, 1);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);

	/* the rejected batches changed nothing: all five can go over */
	KUNIT_EXPECT_EQ(test, kmbuf_buf_to_user_batch(ring, bufs, 5), 0);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_to_user_batch(ring, bufs, 0), 0);
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_kernel, 0);
	KUNIT_EXPECT_EQ(test, st.nr_user, 6);

	/* returned in reverse: the next batch comes out in that order */
	for (i = 0; i < 6; i++)
		bids[i] = 5 - i;
	KUNIT_ASSERT_EQ(test, kmbuf_ring_return(ring, bids, 6), 6);
	KUNIT_EXPECT_EQ(test, atomic_read(&kt->notified), 1);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take_batch(ring, bufs, 8), 6);
	for (i = 0; i < 6; i++)
		KUNIT_EXPECT_EQ(test, bufs[i].bid, 5 - i);
	for (i = 0; i < 6; i++)
		KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, bufs[i].bid), 0);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);

	kmbuf_ring_destroy(ring);
	kt->ring = NULL;
}

/*
 * Rings on one region never share a byte: an overlapping range is refused
 * with -EBUSY for as long as the ring owning it has references, even after
 * kmbuf_ring_destroy(); adjacent ranges are fine.
 */
static void kmbuf_test_overlap(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring_desc desc = { .buf_size = 64, .nr_bufs = 4 };
	struct kmbuf_ring *a, *b, *c;

	/* a: bytes [128, 384); refused creations keep the caller's ref */
	a = kmbuf_test_ring(test, KT_REGION_SIZE, 128, 64, 4);
	for (desc.offset = 0; desc.offset < 384; desc.offset += 64) {
		/* [0, 256) .. [320, 576): all overlap a except [384, ..) */
		KUNIT_EXPECT_PTR_EQ(test, kmbuf_ring_create(kt->region, &desc),
				    ERR_PTR(-EBUSY));
	}
	desc.offset = 384;
	b = kmbuf_ring_create(kt->region, &desc);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, b);
	/* [0, 128): right below a */
	desc.offset = 0;
	desc.nr_bufs = 2;
	c = kmbuf_ring_create(kt->region, &desc);
	if (IS_ERR(c))
		KUNIT_FAIL(test, "adjacent ring: %ld", PTR_ERR(c));
	else
		kmbuf_ring_destroy(c);

	/* destroyed, but a command still holds a: its bytes stay taken */
	kmbuf_ring_get(a);
	kt->ring = NULL;
	kmbuf_ring_destroy(a);
	desc.offset = 128;
	desc.nr_bufs = 4;
	KUNIT_EXPECT_PTR_EQ(test, kmbuf_ring_create(kt->region, &desc),
			    ERR_PTR(-EBUSY));
	/* the last reference gives them back at once, not when freed */
	kmbuf_ring_put(a);
	a = kmbuf_ring_create(kt->region, &desc);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, a);
	if (!IS_ERR(a))
		kmbuf_ring_destroy(a);
	kmbuf_ring_destroy(b);

	kmbuf_flush_free_work();
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 1);
	KUNIT_EXPECT_EQ(test, kmbuf_region_nr_ranges(kt->region), 0);
}

/* A rejected batch changes nothing, wherever the bad id is. */
static void kmbuf_test_batch_atomic(struct kunit *test)
{
	struct kmbuf_ring_stats st;
	struct kmbuf_ring *ring;
	struct kmbuf_buf buf;
	u32 user[4], bids[4];
	unsigned int i;

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 0, 64, 6);
	for (i = 0; i < 4; i++) {
		KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
		KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(ring, buf.bid), 0);
		user[i] = buf.bid;
	}
	/* 4 and 5 are free */

	bids[0] = user[0]; bids[1] = user[1]; bids[2] = user[0];
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 3), -EALREADY);
	bids[0] = user[0]; bids[1] = user[0];
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 2), -EALREADY);
	bids[0] = user[2]; bids[1] = user[3]; bids[2] = 5;
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 3), -EALREADY);
	bids[0] = user[1]; bids[1] = 6;
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 2), -EINVAL);

	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_user, 4);
	KUNIT_EXPECT_EQ(test, st.nr_free, 2);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);

	for (i = 0; i < 4; i++)
		bids[i] = user[3 - i];
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 4), 4);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);

	/* free order: 4, 5, then the batch in the order given */
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
	KUNIT_EXPECT_EQ(test, buf.bid, 4);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
	KUNIT_EXPECT_EQ(test, buf.bid, 5);
	for (i = 0; i < 4; i++) {
		KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
		KUNIT_EXPECT_EQ(test, buf.bid, bids[i]);
	}
}

/* The largest ring: 65536 buffers, every id reachable, batch returns. */
static void kmbuf_test_max_bufs(struct kunit *test)
{
	const unsigned int batch = 4096;
	struct kmbuf_ring_stats st;
	struct kmbuf_ring *ring;
	unsigned long *seen;
	struct kmbuf_buf buf;
	unsigned int i, j;
	u32 *bids;

	seen = kunit_kcalloc(test, BITS_TO_LONGS(KMBUF_MAX_BUFS),
			     sizeof(long), GFP_KERNEL);
	bids = kunit_kcalloc(test, batch, sizeof(*bids), GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, seen);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, bids);

	ring = kmbuf_test_ring(test, KT_BIG_REGION_SIZE, 0, KMBUF_BUF_ALIGN,
			       KMBUF_MAX_BUFS);
	for (i = 0; i < KMBUF_MAX_BUFS; i++) {
		KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
		KUNIT_ASSERT_FALSE(test, test_and_set_bit(buf.bid, seen));
		KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(ring, buf.bid), 0);
	}
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &buf), -ENOBUFS);
	KUNIT_EXPECT_TRUE(test, test_bit(KMBUF_MAX_BUFS - 1, seen));
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_user, KMBUF_MAX_BUFS);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);

	/* return everything, highest ids first, in batches */
	for (i = 0; i < KMBUF_MAX_BUFS; i += batch) {
		for (j = 0; j < batch; j++)
			bids[j] = KMBUF_MAX_BUFS - 1 - i - j;
		KUNIT_ASSERT_EQ(test, kmbuf_ring_return(ring, bids, batch),
				batch);
	}
	KUNIT_EXPECT_EQ(test, kmbuf_ring_nr_free(ring), KMBUF_MAX_BUFS);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
	KUNIT_EXPECT_EQ(test, buf.bid, KMBUF_MAX_BUFS - 1);
	KUNIT_EXPECT_EQ(test, kmbuf_cqe_flags(buf.bid),
			IORING_CQE_F_BUFFER | 0xffff0000U);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, buf.bid), 0);
}

static void kmbuf_test_bvec(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct bio_vec bv[4];
	struct kmbuf_ring *ring;
	struct kmbuf_buf buf;
	unsigned int i, total = 0;
	int nr;

	/* buffers of two pages starting 64 bytes before a page boundary */
	ring = kmbuf_test_ring(test, KT_REGION_SIZE, PAGE_SIZE - 64,
			       2 * PAGE_SIZE, 3);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_max_segs(ring), 3);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
	KUNIT_ASSERT_EQ(test, buf.bid, 1);

	nr = kmbuf_buf_bvec(ring, buf.bid, buf.len, bv, ARRAY_SIZE(bv));
	KUNIT_ASSERT_GT(test, nr, 0);
	KUNIT_ASSERT_LE(test, nr, 3);
	for (i = 0; i < nr; i++) {
		void *want = buf.kaddr + total;

		/* each segment starts where the kernel mapping says */
		KUNIT_EXPECT_PTR_EQ(test, bv[i].bv_page, vmalloc_to_page(want));
		KUNIT_EXPECT_EQ(test, bv[i].bv_offset, offset_in_page(want));
		total += bv[i].bv_len;
	}
	KUNIT_EXPECT_EQ(test, total, buf.len);
	KUNIT_EXPECT_EQ(test, offset_in_page(buf.kaddr), PAGE_SIZE - 64);
	KUNIT_EXPECT_PTR_EQ(test, buf.kaddr, io_region_kaddr(kt->region) + 3 * PAGE_SIZE - 64);

	/* a prefix of the buffer stays in its first page */
	nr = kmbuf_buf_bvec(ring, buf.bid, 64, bv, 1);
	KUNIT_EXPECT_EQ(test, nr, 1);
	KUNIT_EXPECT_EQ(test, bv[0].bv_len, 64);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_bvec(ring, buf.bid, 0, bv, 1), 0);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_bvec(ring, buf.bid, buf.len + 1, bv, 4),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_bvec(ring, 3, 64, bv, 4), -EINVAL);
}

static void kmbuf_test_notify_wait(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring *ring;
	struct kmbuf_buf a, b, c;
	u32 bids[2];

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 0, 64, 2);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &a), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &b), 0);

	/* no notification without a failed take */
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, a.bid), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&kt->notified), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &a), 0);

	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &c), -ENOBUFS);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, a.bid), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&kt->notified), 1);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, b.bid), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&kt->notified), 1);

	/* a user return after exhaustion notifies once per batch */
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &a), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &b), 0);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &c), -ENOBUFS);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &c), -ENOBUFS);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(ring, a.bid), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(ring, b.bid), 0);
	bids[0] = b.bid;
	bids[1] = a.bid;
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, bids, 2), 2);
	KUNIT_EXPECT_EQ(test, atomic_read(&kt->notified), 2);
}

/* Destroy with a buffer and a reference outstanding, as a driver would. */
static void kmbuf_test_destroy(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring_stats st;
	struct kmbuf_ring *ring;
	struct kmbuf_buf a, b;
	u32 bid;

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 0, 64, 3);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &a), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &b), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(ring, b.bid), 0);

	kmbuf_ring_get(ring);
	kt->ring = NULL;
	kmbuf_ring_destroy(ring);
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 2);

	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &a), -ESHUTDOWN);
	/* the memory is still there for in-flight I/O */
	memset(a.kaddr, 0x5a, a.len);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, a.bid), 0);
	bid = b.bid;
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(ring, &bid, 1), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&kt->notified), 0);
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_TRUE(test, st.shutdown);
	KUNIT_EXPECT_EQ(test, st.nr_free, 3);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);

	/* the last put frees the ring from a workqueue */
	kmbuf_ring_put(ring);
	kmbuf_flush_free_work();
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 1);
}

struct kmbuf_race {
	struct kmbuf_ring	*ring;
	struct completion	done;
	atomic_t		returned;
	int			failed;
	int			late_notify;
	bool			destroyed;
};

static void kmbuf_test_race_notify(struct kmbuf_ring *ring, void *priv)
{
	struct kmbuf_race *race = priv;

	if (READ_ONCE(race->destroyed))
		race->late_notify++;
}

/* Give every buffer back one by one, then drop our ring reference. */
static int kmbuf_test_race_returner(void *data)
{
	struct kmbuf_race *race = data;
	u32 bid;

	for (bid = 0; bid < 256; bid++) {
		if (kmbuf_ring_return(race->ring, &bid, 1) != 1)
			race->failed++;
		atomic_inc(&race->returned);
		cond_resched();
	}
	kmbuf_ring_put(race->ring);
	complete(&race->done);
	return 0;
}

/*
 * kmbuf_ring_destroy() racing with userspace returns from another CPU, at a
 * different point of the return stream each round: every return succeeds,
 * no notify runs after destroy returned, and the ring is freed (the region
 * reference comes back) once the returner drops its reference.
 */
static void kmbuf_test_destroy_race(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_race race = { };
	struct kmbuf_ring_desc desc = {
		.buf_size	= 256,
		.nr_bufs	= 256,
		.notify		= kmbuf_test_race_notify,
		.priv		= &race,
	};
	struct task_struct *tsk;
	struct kmbuf_ring *ring;
	struct kmbuf_buf buf;
	unsigned int i, round;

	KUNIT_ASSERT_EQ(test, kmbuf_test_region_init(test, KT_REGION_SIZE), 0);
	for (round = 0; round < 20; round++) {
		ring = kmbuf_ring_create(kt->region, &desc);
		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ring);
		kt->ring = ring;
		for (i = 0; i < 256; i++) {
			KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
			KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(ring, buf.bid), 0);
		}
		/* arm the notification */
		KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), -ENOBUFS);

		race.ring = kmbuf_ring_get(ring);
		init_completion(&race.done);
		atomic_set(&race.returned, 0);
		WRITE_ONCE(race.destroyed, false);
		tsk = kthread_run(kmbuf_test_race_returner, &race, "kmbuf-race");
		if (IS_ERR(tsk)) {
			kmbuf_ring_put(ring);
			KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(tsk));
			return;
		}
		/* from here on only EXPECTs: the returner uses @race */
		while (atomic_read(&race.returned) < round * 12 &&
		       !completion_done(&race.done))
			usleep_range(10, 20);
		kt->ring = NULL;
		kmbuf_ring_destroy(ring);
		WRITE_ONCE(race.destroyed, true);
		wait_for_completion(&race.done);

		kmbuf_flush_free_work();
		KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 1);
	}
	KUNIT_EXPECT_EQ(test, race.failed, 0);
	KUNIT_EXPECT_EQ(test, race.late_notify, 0);
}

/*
 * A driver's alignment applies to the offset and the buffer size, and is
 * never below kmbuf_buf_align_min().
 */
static void kmbuf_test_align(struct kunit *test)
{
	u32 min = kmbuf_buf_align_min();
	struct kmbuf_ring_desc desc = { .buf_size = 4096, .nr_bufs = 2 };

	KUNIT_EXPECT_GE(test, min, KMBUF_BUF_ALIGN);
	KUNIT_EXPECT_GE(test, min, (u32)dma_get_cache_alignment());
	desc.align = 4096;
	KUNIT_EXPECT_EQ(test, kmbuf_desc_validate(&desc, 1 << 20), 0);
	desc.offset = 2048;
	KUNIT_EXPECT_EQ(test, kmbuf_desc_validate(&desc, 1 << 20), -EINVAL);
	desc.offset = 8192;
	desc.buf_size = 4096 + 512;
	KUNIT_EXPECT_EQ(test, kmbuf_desc_validate(&desc, 1 << 20), -EINVAL);
	/* not a power of two */
	desc.buf_size = 4096;
	desc.align = 96;
	KUNIT_EXPECT_EQ(test, kmbuf_desc_validate(&desc, 1 << 20), -EINVAL);
	/* below the minimum: the minimum applies */
	desc.align = 8;
	desc.offset = min / 2;
	KUNIT_EXPECT_EQ(test, kmbuf_desc_validate(&desc, 1 << 20), -EINVAL);
	desc.offset = min;
	desc.buf_size = min;
	KUNIT_EXPECT_EQ(test, kmbuf_desc_validate(&desc, 1 << 20), 0);
}

/*
 * Buffers userspace still holds when a ring goes away keep the ring's
 * bytes reserved until the region is released: verified data in them
 * must not be overwritten by a ring built over them later.  Buffers given
 * back before the last reference free the range as before.
 */
static void kmbuf_test_user_held_range(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring_desc desc = { .buf_size = 64, .nr_bufs = 4 };
	struct kmbuf_ring *ring, *other;
	struct kmbuf_buf buf;
	u32 bid;

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 0, 64, 4);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(ring, buf.bid), 0);
	kt->ring = NULL;
	kmbuf_ring_destroy(ring);
	kmbuf_flush_free_work();
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 1);

	/* freed, but the bytes stay taken, whoever asks */
	KUNIT_EXPECT_PTR_EQ(test, kmbuf_ring_create(kt->region, &desc),
			    ERR_PTR(-EBUSY));
	desc.offset = 192;
	KUNIT_EXPECT_PTR_EQ(test, kmbuf_ring_create(kt->region, &desc),
			    ERR_PTR(-EBUSY));
	/* beyond them is free */
	desc.offset = 256;
	other = kmbuf_ring_create(kt->region, &desc);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, other);

	/* returned before the last reference: the range is free again */
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(other, &buf), 0);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(other, buf.bid), 0);
	kmbuf_ring_get(other);
	kmbuf_ring_destroy(other);
	bid = buf.bid;
	KUNIT_EXPECT_EQ(test, kmbuf_ring_return(other, &bid, 1), 1);
	kmbuf_ring_put(other);
	kmbuf_flush_free_work();
	other = kmbuf_ring_create(kt->region, &desc);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, other);
	if (!IS_ERR(other))
		kmbuf_ring_destroy(other);
	kmbuf_flush_free_work();
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 1);
	/* only the first ring's range is left; kmbuf_test_exit() frees it */
	KUNIT_EXPECT_EQ(test, kmbuf_region_nr_ranges(kt->region), 1);
}

struct kmbuf_rcu_reader {
	struct completion	inside;
	bool			release;	/* set by the test */
	bool			timed_out;
};

/* Stay in an RCU read-side section until told to leave (at most 5 s). */
static int kmbuf_test_rcu_reader(void *data)
{
	struct kmbuf_rcu_reader *r = data;
	unsigned long end = jiffies + 5 * HZ;

	rcu_read_lock();
	complete(&r->inside);
	while (!READ_ONCE(r->release)) {
		if (time_after(jiffies, end)) {
			r->timed_out = true;
			break;
		}
		cpu_relax();
	}
	rcu_read_unlock();
	return 0;
}

/*
 * kmbuf_ring_destroy() is called at inline issue under uring_lock and on
 * every close: it must not wait for an RCU grace period.  A reader on the
 * other CPU stays in its read-side section until destroy has returned; if
 * destroy waited for a grace period, the reader would time out first.
 */
static void kmbuf_test_destroy_no_grace_period(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_rcu_reader r = { };
	struct task_struct *tsk;
	struct kmbuf_ring *ring;

	if (num_online_cpus() < 2)
		kunit_skip(test, "needs a second CPU for the RCU reader");
	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 0, 64, 4);
	init_completion(&r.inside);
	tsk = kthread_create(kmbuf_test_rcu_reader, &r, "kmbuf-rcu");
	KUNIT_ASSERT_FALSE(test, IS_ERR(tsk));
	get_task_struct(tsk);
	/* not on our CPU: without preemption it would keep us off it */
	kthread_bind(tsk, cpumask_any_but(cpu_online_mask,
					  raw_smp_processor_id()));
	wake_up_process(tsk);
	wait_for_completion(&r.inside);

	kt->ring = NULL;
	kmbuf_ring_destroy(ring);
	WRITE_ONCE(r.release, true);
	kthread_stop(tsk);
	put_task_struct(tsk);
	KUNIT_EXPECT_FALSE(test, r.timed_out);
}

/* The fast path works with interrupts off (DEBUG_ATOMIC_SLEEP, lockdep). */
static void kmbuf_test_irqs_off(struct kunit *test)
{
	struct kmbuf_ring *ring;
	struct kmbuf_buf a, b;
	int ra, rb, rc, rd, re;
	u32 bid;

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 0, 64, 2);
	local_irq_disable();
	ra = kmbuf_buf_take(ring, &a);
	rb = kmbuf_buf_take(ring, &b);
	rc = kmbuf_buf_put(ring, a.bid);
	rd = kmbuf_buf_to_user(ring, b.bid);
	bid = b.bid;
	re = kmbuf_ring_return(ring, &bid, 1);
	local_irq_enable();

	KUNIT_EXPECT_EQ(test, ra, 0);
	KUNIT_EXPECT_EQ(test, rb, 0);
	KUNIT_EXPECT_EQ(test, rc, 0);
	KUNIT_EXPECT_EQ(test, rd, 0);
	KUNIT_EXPECT_EQ(test, re, 1);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);
}

/*
 * A refill ring is written by userspace at any time: only ids of buffers
 * userspace holds free a buffer; duplicates, out-of-range ids and buffers
 * the kernel holds or that are free already are skipped and counted.  An
 * empty refill ring on an exhausted ring asks for a doorbell.
 */
static void kmbuf_test_refill(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring_desc desc = { .buf_size = 64, .nr_bufs = 8 };
	static const u32 ids[] = { 0, 0, 6, 100, 1, 0xffffffff, 7 };
	struct kmbuf_ring_stats st;
	struct kmbuf_refill *rf;
	struct kmbuf_buf bufs[8];
	struct kmbuf_ring *ring;
	unsigned int i;

	KUNIT_ASSERT_EQ(test, kmbuf_test_region_init(test, KT_REGION_SIZE), 0);
	rf = io_region_kaddr(kt->region) + 4096;
	rf->tail = 5;		/* userspace's tail: the kernel starts there */
	ring = kmbuf_ring_create_refill(kt->region, &desc, kt->region, 4096,
					8);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ring);
	kt->ring = ring;
	KUNIT_EXPECT_EQ(test, READ_ONCE(rf->head), 5U);

	KUNIT_ASSERT_EQ(test, kmbuf_buf_take_batch(ring, bufs, 8), 8);
	for (i = 0; i < 6; i++)
		KUNIT_ASSERT_EQ(test, kmbuf_buf_to_user(ring, bufs[i].bid), 0);
	/* bufs[6] and bufs[7] stay the kernel's */
	/* a fresh ring hands out ids in order: bufs[i].bid == i */
	for (i = 0; i < ARRAY_SIZE(ids); i++)
		rf->bids[(5 + i) & 7] = ids[i];
	/* the ids before the tail, as userspace publishes them */
	smp_store_release(&rf->tail, 5 + ARRAY_SIZE(ids));

	KUNIT_ASSERT_EQ(test, kmbuf_buf_take_batch(ring, bufs + 6, 1), 1);
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_refill_bad, 5ULL);
	KUNIT_EXPECT_EQ(test, st.nr_free, 1U);	/* two came back, one taken */
	KUNIT_EXPECT_EQ(test, st.nr_user, 4U);
	KUNIT_EXPECT_EQ(test, READ_ONCE(rf->head), 5U + ARRAY_SIZE(ids));
	KUNIT_EXPECT_EQ(test, bufs[6].bid, bufs[0].bid);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);

	/* take the last free one; then nothing: a doorbell is asked for */
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take_batch(ring, bufs + 7, 1), 1);
	KUNIT_EXPECT_EQ(test, bufs[7].bid, bufs[1].bid);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &bufs[0]), -ENOBUFS);
	KUNIT_EXPECT_EQ(test, READ_ONCE(rf->flags), KMBUF_REFILL_NEED_WAKEUP);
	rf->bids[rf->tail & 7] = bufs[2].bid;
	smp_store_release(&rf->tail, rf->tail + 1); /* id, then tail */
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &bufs[0]), 0);
	KUNIT_EXPECT_EQ(test, bufs[0].bid, bufs[2].bid);
	KUNIT_EXPECT_EQ(test, READ_ONCE(rf->flags), 0U);
	/*
	 * More outstanding entries than the refill ring has: at most 8 per
	 * pass, two passes (before and after asking for a doorbell).
	 */
	smp_store_release(&rf->tail, rf->tail + 1000); /* as userspace */
	KUNIT_EXPECT_EQ(test, kmbuf_buf_take(ring, &bufs[1]), -ENOBUFS);
	KUNIT_EXPECT_EQ(test, READ_ONCE(rf->tail) - READ_ONCE(rf->head), 984U);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);
}

/*
 * Buffers given back through the refill ring and with kmbuf_ring_return()
 * join the FIFO's tail in the order given, across many wrap-arounds of a
 * ring whose size is not a power of two: each take hands out the id a
 * model FIFO predicts, and the ring stays consistent.
 */
static void kmbuf_test_refill_return_wrap(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring_desc desc = { .buf_size = 64, .nr_bufs = 5 };
	u32 model[5], head = 0, nr_free = 5, tail, ids[3];
	struct kmbuf_ring_stats st;
	struct kmbuf_refill *rf;
	struct kmbuf_buf bufs[3];
	struct kmbuf_ring *ring;
	unsigned int i, n, round;

	KUNIT_ASSERT_EQ(test, kmbuf_test_region_init(test, KT_REGION_SIZE), 0);
	rf = io_region_kaddr(kt->region) + 4096;
	ring = kmbuf_ring_create_refill(kt->region, &desc, kt->region, 4096,
					8);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, ring);
	kt->ring = ring;
	for (i = 0; i < 5; i++)
		model[i] = i;
	tail = READ_ONCE(rf->tail);
	for (round = 0; round < 1000; round++) {
		n = 1 + round % 3;
		/* a take reads the refill ring first: its ids are free */
		KUNIT_ASSERT_EQ(test, kmbuf_buf_take_batch(ring, bufs, n), n);
		for (i = 0; i < n; i++) {
			KUNIT_ASSERT_EQ(test, bufs[i].bid, model[head]);
			head = (head + 1) % 5;
			KUNIT_ASSERT_EQ(test,
					kmbuf_buf_to_user(ring, bufs[i].bid), 0);
		}
		nr_free -= n;
		/* back in reverse order, one way or the other */
		for (i = 0; i < n; i++) {
			ids[i] = bufs[n - 1 - i].bid;
			model[(head + nr_free++) % 5] = ids[i];
		}
		if (round & 1) {
			KUNIT_ASSERT_EQ(test, kmbuf_ring_return(ring, ids, n),
					(int)n);
		} else {
			for (i = 0; i < n; i++)
				rf->bids[(tail + i) & 7] = ids[i];
			tail += n;
			/* the ids, then tail, as userspace publishes them */
			smp_store_release(&rf->tail, tail);
		}
		if (!(round % 97))
			KUNIT_ASSERT_EQ(test, kmbuf_ring_check(ring), 0);
	}
	/* the last round's ids came back through the refill ring: read it */
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take_batch(ring, bufs, 1), 1);
	KUNIT_EXPECT_EQ(test, bufs[0].bid, model[head]);
	KUNIT_EXPECT_EQ(test, kmbuf_buf_put(ring, bufs[0].bid), 0);
	kmbuf_ring_get_stats(ring, &st);
	KUNIT_EXPECT_EQ(test, st.nr_free, 5U);
	KUNIT_EXPECT_EQ(test, st.nr_user, 0U);
	KUNIT_EXPECT_EQ(test, st.nr_refill_bad, 0ULL);
	KUNIT_EXPECT_EQ(test, READ_ONCE(rf->head), tail);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);
}

/*
 * A buffer the kernel holds keeps the ring, and so the region, alive after
 * kmbuf_ring_destroy() without any kmbuf_ring_get() of its own.
 */
static void kmbuf_test_buf_holds_ring(struct kunit *test)
{
	struct kmbuf_test *kt = test->priv;
	struct kmbuf_ring *ring;
	struct kmbuf_buf buf;

	ring = kmbuf_test_ring(test, KT_REGION_SIZE, 0, 64, 4);
	KUNIT_ASSERT_EQ(test, kmbuf_buf_take(ring, &buf), 0);
	KUNIT_EXPECT_PTR_EQ(test, buf.ring, ring);
	kt->ring = NULL;
	kmbuf_ring_destroy(ring);
	kmbuf_flush_free_work();
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 2);
	/* the I/O filling it may still write, and give it back */
	memset(buf.kaddr, 0x5a, buf.len);
	KUNIT_EXPECT_EQ(test, kmbuf_ring_check(ring), 0);
	kmbuf_buf_giveback(&buf);
	kmbuf_flush_free_work();
	KUNIT_EXPECT_EQ(test, io_region_refs_kunit(kt->region), 1);
}

static struct kunit_case kmbuf_test_cases[] = {
	KUNIT_CASE(kmbuf_test_validate),
	KUNIT_CASE(kmbuf_test_create_fail),
	KUNIT_CASE(kmbuf_test_take_all),
	KUNIT_CASE(kmbuf_test_fifo_wrap),
	KUNIT_CASE(kmbuf_test_ownership),
	KUNIT_CASE(kmbuf_test_take_batch),
	KUNIT_CASE(kmbuf_test_overlap),
	KUNIT_CASE(kmbuf_test_batch_atomic),
	KUNIT_CASE(kmbuf_test_max_bufs),
	KUNIT_CASE(kmbuf_test_bvec),
	KUNIT_CASE(kmbuf_test_notify_wait),
	KUNIT_CASE(kmbuf_test_destroy),
	KUNIT_CASE(kmbuf_test_destroy_race),
	KUNIT_CASE(kmbuf_test_align),
	KUNIT_CASE(kmbuf_test_user_held_range),
	KUNIT_CASE(kmbuf_test_destroy_no_grace_period),
	KUNIT_CASE(kmbuf_test_irqs_off),
	KUNIT_CASE(kmbuf_test_refill),
	KUNIT_CASE(kmbuf_test_refill_return_wrap),
	KUNIT_CASE(kmbuf_test_buf_holds_ring),
	{}
};

static struct kunit_suite kmbuf_test_suite = {
	.name		= "io_uring_kmbuf",
	.init		= kmbuf_test_init,
	.exit		= kmbuf_test_exit,
	.test_cases	= kmbuf_test_cases,
};

kunit_test_suite(kmbuf_test_suite);

MODULE_DESCRIPTION("KUnit tests for io_uring kernel-managed buffer rings");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
