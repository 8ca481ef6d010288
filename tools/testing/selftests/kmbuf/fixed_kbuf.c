// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel side of kernel registered buffers, io_buffer_register_bvec()
 * and io_buffer_unregister(), driven through /dev/kmbuf_fixed_test (which
 * registers pages of its own and counts the buffers not yet released):
 *
 * - a buffer is used by byte offset, in the directions it was registered
 *   for (others: EFAULT), with any bvec layout;
 * - bad arguments, a busy slot and slots outside the table get their
 *   errnos and leave nothing behind; unregistering an empty slot or one
 *   with user memory fails;
 * - the release callback runs only once the buffer is out of the table
 *   (unregistered, replaced, table or ring gone, clones gone too) and no
 *   request uses it any more.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <linux/io_uring.h>	/* the tree's uapi, before liburing's copy */
#include <liburing.h>
#include <linux/kmbuf_fixed_test.h>
#include "libkmbuf.h"
#include "../kselftest_harness.h"

#define FT_DEV		"/dev/kmbuf_fixed_test"
#define NSLOTS		4
#define UD_IO		0x10
#define UD_CMD		0x20
#define TMPF		"/tmp/fixed_kbuf.dat"
/* the kernel's IO_BUF_DEST and IO_BUF_SOURCE: 1 << ITER_DEST, ITER_SOURCE */
#define DST		1
#define SRC		2

static size_t pg;

/* Byte @i of a buffer the device filled with @seed. */
static unsigned char ft_byte(size_t i, unsigned int seed)
{
	return (unsigned char)(i * 7 + seed);
}

/* Index of the first byte of @p unlike buffer bytes @at.. of @seed, or -1. */
static long ft_mismatch(const unsigned char *p, size_t len, size_t at,
			unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != ft_byte(at + i, seed))
			return i;
	return -1;
}

static int run_one(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_submit(ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	ret = io_uring_wait_cqe(ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

static int ft_cmd(struct io_uring *ring, int dev, __u32 op,
		  const struct kmbuf_ft_cmd *c)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	kmbuf_prep_uring_cmd(sqe, dev, op, 0, c, sizeof(*c));
	sqe->user_data = UD_CMD;
	return run_one(ring);
}

static int ft_reg(struct io_uring *ring, int dev, unsigned int index,
		  unsigned int nr_pages, unsigned int dir, unsigned int layout,
		  unsigned int seed, unsigned int flags)
{
	struct kmbuf_ft_cmd c = {
		.index = index, .nr_pages = nr_pages, .dir = dir,
		.layout = layout, .seed = seed, .flags = flags,
	};

	return ft_cmd(ring, dev, KMBUF_FT_REG, &c);
}

static int ft_unreg(struct io_uring *ring, int dev, unsigned int index)
{
	struct kmbuf_ft_cmd c = { .index = index };

	return ft_cmd(ring, dev, KMBUF_FT_UNREG, &c);
}

static int ft_count(struct io_uring *ring, int dev)
{
	struct kmbuf_ft_cmd c = { };

	return ft_cmd(ring, dev, KMBUF_FT_COUNT, &c);
}

static int rw_fixed(struct io_uring *ring, bool write, int fd,
		    unsigned int slot, __u64 off, unsigned int len,
		    __u64 file_off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (write)
		kmbuf_prep_write_fixed(sqe, fd, slot, off, len, file_off);
	else
		kmbuf_prep_read_fixed(sqe, fd, slot, off, len, file_off);
	sqe->user_data = UD_IO;
	return run_one(ring);
}

/* Wait up to 4 s for the device's live count to be @want on @ring. */
static int wait_count(struct io_uring *ring, int dev, int want)
{
	int i, n = -1;

	for (i = 0; i < 80; i++) {
		n = ft_count(ring, dev);
		if (n == want)
			return n;
		usleep(50 * 1000);
	}
	return n;
}

FIXTURE(kbuf) {
	struct io_uring ring;
	int dev, file, base;
	unsigned char *buf;
};

FIXTURE_SETUP(kbuf)
{
	int ret;

	pg = sysconf(_SC_PAGESIZE);
	if (access(FT_DEV, F_OK) && system("modprobe kmbuf_fixed_test"))
		SKIP(return, "no kmbuf_fixed_test module");
	self->dev = open(FT_DEV, O_RDWR);
	ASSERT_LE(0, self->dev);
	ret = io_uring_queue_init(8, &self->ring, 0);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, kmbuf_fixed_table(self->ring.ring_fd, NSLOTS));
	self->file = open(TMPF, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->file);
	unlink(TMPF);
	self->buf = malloc(64 * pg);
	ASSERT_NE(NULL, self->buf);
	self->base = ft_count(&self->ring, self->dev);
	ASSERT_LE(0, self->base);
}

FIXTURE_TEARDOWN(kbuf)
{
	io_uring_queue_exit(&self->ring);
	close(self->file);
	close(self->dev);
	free(self->buf);
}

/* A source-only buffer of whole pages: WRITE_FIXED at byte offsets. */
TEST_F(kbuf, source_only)
{
	struct io_uring *r = &self->ring;

	ASSERT_EQ(0, ft_reg(r, self->dev, 0, 4, SRC, KMBUF_FT_PAGES, 3, 0));
	EXPECT_EQ(self->base + 1, ft_count(r, self->dev));

	ASSERT_EQ((int)(3 * pg), rw_fixed(r, true, self->file, 0, 100,
					  3 * pg, 0));
	ASSERT_EQ((ssize_t)(3 * pg), pread(self->file, self->buf, 3 * pg, 0));
	EXPECT_EQ(-1, ft_mismatch(self->buf, 3 * pg, 100, 3));
	/* the other direction, beyond the end, an empty slot */
	EXPECT_EQ(-EFAULT, rw_fixed(r, false, self->file, 0, 0, pg, 0));
	EXPECT_EQ(-EFAULT, rw_fixed(r, true, self->file, 0, 4 * pg - 1, 2,
				    0));
	EXPECT_EQ(-EFAULT, rw_fixed(r, true, self->file, 1, 0, 1, 0));

	ASSERT_EQ(0, ft_unreg(r, self->dev, 0));
	EXPECT_EQ(self->base, ft_count(r, self->dev));
	EXPECT_EQ(-EFAULT, rw_fixed(r, true, self->file, 0, 0, 1, 0));
}

/*
 * A buffer that starts 100 bytes into a page and continues in two-page
 * bvecs: every offset lands on the right byte, both ways.
 */
TEST_F(kbuf, odd_layout)
{
	struct io_uring *r = &self->ring;
	size_t total = 7 * pg - 400;
	size_t cases[][2] = {
		{ 0, 1 }, { 0, total }, { pg - 101, 2 }, { pg - 100, pg },
		{ 3 * pg - 100, 2 * pg + 1 }, { total - 1, 1 },
		{ total - 2 * pg - 5, 2 * pg + 5 }, { 4 * pg + 17, 333 },
	};
	unsigned int i;

	ASSERT_EQ(0, ft_reg(r, self->dev, 2, 7, SRC | DST, KMBUF_FT_ODD, 11,
			    0));
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t off = cases[i][0], len = cases[i][1];

		ASSERT_EQ((int)len, rw_fixed(r, true, self->file, 2, off, len,
					     0));
		ASSERT_EQ((ssize_t)len, pread(self->file, self->buf, len, 0));
		/* buffer byte j is byte 100 + j of the device's pages */
		EXPECT_EQ(-1, ft_mismatch(self->buf, len, 100 + off, 11))
			TH_LOG("%zu bytes at %zu", len, off);
	}
	EXPECT_EQ(-EFAULT, rw_fixed(r, true, self->file, 2, total - 1, 2, 0));

	/* file -> buffer at an odd place -> file elsewhere */
	for (i = 0; i < 3 * pg; i++)
		self->buf[i] = (unsigned char)(i ^ 0x3c);
	ASSERT_EQ((ssize_t)(3 * pg), pwrite(self->file, self->buf, 3 * pg,
					    8 * pg));
	ASSERT_EQ((int)(3 * pg), rw_fixed(r, false, self->file, 2, pg + 50,
					  3 * pg, 8 * pg));
	ASSERT_EQ((int)(3 * pg), rw_fixed(r, true, self->file, 2, pg + 50,
					  3 * pg, 16 * pg));
	memset(self->buf, 0, 3 * pg);
	ASSERT_EQ((ssize_t)(3 * pg), pread(self->file, self->buf, 3 * pg,
					   16 * pg));
	for (i = 0; i < 3 * pg; i++)
		if (self->buf[i] != (unsigned char)(i ^ 0x3c))
			break;
	EXPECT_EQ(3 * pg, i);
	ASSERT_EQ(0, ft_unreg(r, self->dev, 2));
}

/* A destination-only buffer takes reads and refuses to be written out. */
TEST_F(kbuf, dest_only)
{
	struct io_uring *r = &self->ring;

	memset(self->buf, 0x77, pg);
	ASSERT_EQ((ssize_t)pg, pwrite(self->file, self->buf, pg, 0));
	ASSERT_EQ(0, ft_reg(r, self->dev, 3, 2, DST, KMBUF_FT_PAGES, 0, 0));
	EXPECT_EQ((int)pg, rw_fixed(r, false, self->file, 3, 10, pg, 0));
	EXPECT_EQ(-EFAULT, rw_fixed(r, true, self->file, 3, 0, pg, 0));
	ASSERT_EQ(0, ft_unreg(r, self->dev, 3));
}

TEST_F(kbuf, bad_arguments)
{
	struct io_uring *r = &self->ring;
	void *mem = aligned_alloc(pg, pg);
	struct iovec iov = { mem, pg };
	struct io_uring_rsrc_update2 up = {
		.offset = 1, .data = (uintptr_t)&iov, .nr = 1,
	};
	struct kmbuf_region reg;
	struct io_uring other;
	int dev = self->dev;

	ASSERT_NE(NULL, mem);
	EXPECT_EQ(-EINVAL, ft_reg(r, dev, 0, 1, 0, KMBUF_FT_PAGES, 0, 0));
	EXPECT_EQ(-EINVAL, ft_reg(r, dev, 0, 1, 4, KMBUF_FT_PAGES, 0, 0));
	EXPECT_EQ(-EINVAL, ft_reg(r, dev, 0, 1, 0xff, KMBUF_FT_PAGES, 0, 0));
	EXPECT_EQ(-EINVAL, ft_reg(r, dev, 0, 1, SRC, KMBUF_FT_PAGES, 0,
				  KMBUF_FT_NO_RELEASE));
	EXPECT_EQ(-EINVAL, ft_reg(r, dev, 0, 1, SRC, KMBUF_FT_PAGES, 0,
				  KMBUF_FT_NO_BVECS));
	EXPECT_EQ(-EINVAL, ft_reg(r, dev, 0, 3, SRC, KMBUF_FT_PAGES, 0,
				  KMBUF_FT_EMPTY_BVEC));
	EXPECT_EQ(-EINVAL, ft_reg(r, dev, NSLOTS, 1, SRC, KMBUF_FT_PAGES, 0,
				  0));
	EXPECT_EQ(-EINVAL, ft_reg(r, dev, ~0U, 1, SRC, KMBUF_FT_PAGES, 0, 0));

	/* busy: a buffer of the device, user memory, a region's range */
	ASSERT_EQ(0, ft_reg(r, dev, 0, 1, SRC, KMBUF_FT_PAGES, 0, 0));
	EXPECT_EQ(-EBUSY, ft_reg(r, dev, 0, 1, SRC, KMBUF_FT_PAGES, 0, 0));
	ASSERT_EQ(1, kmbuf_io_uring_register(r->ring_fd,
					     IORING_REGISTER_BUFFERS_UPDATE,
					     &up, sizeof(up)));
	EXPECT_EQ(-EBUSY, ft_reg(r, dev, 1, 1, SRC, KMBUF_FT_PAGES, 0, 0));
	ASSERT_EQ(0, kmbuf_region_create(r->ring_fd, 1, pg, 0, 0, &reg));
	ASSERT_EQ(0, kmbuf_fixed_region(r->ring_fd, 2, 1, 0, pg, 0));
	EXPECT_EQ(-EBUSY, ft_reg(r, dev, 2, 1, SRC, KMBUF_FT_PAGES, 0, 0));
	/* only the one registered buffer is alive: nothing leaked */
	EXPECT_EQ(self->base + 1, ft_count(r, dev));

	/* unregister: out of range, empty, user memory */
	EXPECT_EQ(-EINVAL, ft_unreg(r, dev, NSLOTS));
	EXPECT_EQ(-EINVAL, ft_unreg(r, dev, 3));
	EXPECT_EQ(-EBUSY, ft_unreg(r, dev, 1));
	/* a region's range is a kernel buffer too */
	EXPECT_EQ(0, ft_unreg(r, dev, 2));
	EXPECT_EQ(0, ft_unreg(r, dev, 0));
	EXPECT_EQ(-EINVAL, ft_unreg(r, dev, 0));
	EXPECT_EQ(self->base, ft_count(r, dev));

	/* a ring without a table */
	ASSERT_EQ(0, io_uring_queue_init(4, &other, 0));
	EXPECT_EQ(-EINVAL, ft_reg(&other, dev, 0, 1, SRC, KMBUF_FT_PAGES, 0,
				  0));
	EXPECT_EQ(-EINVAL, ft_unreg(&other, dev, 0));
	io_uring_queue_exit(&other);
	kmbuf_region_unmap(&reg);
	free(mem);
}

/*
 * Unregistered while a READ_FIXED into it waits on an empty pipe, the
 * buffer stays until the read is done: then it is released.
 */
TEST_F(kbuf, unregister_in_flight)
{
	struct io_uring *r = &self->ring;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int pfd[2];

	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(0, ft_reg(r, self->dev, 1, 2, SRC | DST, KMBUF_FT_PAGES, 0,
			    0));
	sqe = io_uring_get_sqe(r);
	kmbuf_prep_read_fixed(sqe, pfd[0], 1, 5, 64, 0);
	sqe->user_data = UD_IO;
	ASSERT_EQ(1, io_uring_submit(r));
	usleep(100 * 1000);
	ASSERT_EQ(0, ft_unreg(r, self->dev, 1));
	usleep(100 * 1000);
	/* out of the table, still in use */
	EXPECT_EQ(self->base + 1, ft_count(r, self->dev));
	EXPECT_EQ(-EFAULT, rw_fixed(r, true, self->file, 1, 0, 1, 0));

	ASSERT_EQ(64, write(pfd[1], self->buf, 64));
	ASSERT_EQ(0, io_uring_wait_cqe(r, &cqe));
	EXPECT_EQ(UD_IO, cqe->user_data);
	EXPECT_EQ(64, cqe->res);
	io_uring_cqe_seen(r, cqe);
	EXPECT_EQ(self->base, ft_count(r, self->dev));
	close(pfd[0]);
	close(pfd[1]);
}

/*
 * Replacing the slot with user memory, unregistering the table, and
 * freeing the ring (with a read in flight) each release the buffers.
 */
TEST_F(kbuf, released_with_table_and_ring)
{
	struct io_uring *r = &self->ring;
	void *mem = aligned_alloc(pg, pg);
	struct iovec iov = { mem, pg };
	struct io_uring_rsrc_update2 up = {
		.offset = 0, .data = (uintptr_t)&iov, .nr = 1,
	};
	struct io_uring_sqe *sqe;
	int pfd[2];

	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, ft_reg(r, self->dev, 0, 1, SRC, KMBUF_FT_PAGES, 0, 0));
	ASSERT_EQ(1, kmbuf_io_uring_register(r->ring_fd,
					     IORING_REGISTER_BUFFERS_UPDATE,
					     &up, sizeof(up)));
	EXPECT_EQ(self->base, ft_count(r, self->dev));

	ASSERT_EQ(0, ft_reg(r, self->dev, 1, 1, SRC, KMBUF_FT_PAGES, 0, 0));
	ASSERT_EQ(0, ft_reg(r, self->dev, 2, 3, DST, KMBUF_FT_ODD, 0, 0));
	EXPECT_EQ(self->base + 2, ft_count(r, self->dev));
	ASSERT_EQ(0, kmbuf_io_uring_register(r->ring_fd,
					     IORING_UNREGISTER_BUFFERS,
					     NULL, 0));
	EXPECT_EQ(self->base, ft_count(r, self->dev));

	ASSERT_EQ(0, kmbuf_fixed_table(r->ring_fd, NSLOTS));
	ASSERT_EQ(0, ft_reg(r, self->dev, 3, 2, DST, KMBUF_FT_PAGES, 0, 0));
	ASSERT_EQ(0, pipe(pfd));
	sqe = io_uring_get_sqe(r);
	kmbuf_prep_read_fixed(sqe, pfd[0], 3, 0, 16, 0);
	ASSERT_EQ(1, io_uring_submit(r));
	usleep(100 * 1000);
	io_uring_queue_exit(r);
	ASSERT_EQ(0, io_uring_queue_init(8, r, 0));
	EXPECT_EQ(self->base, wait_count(r, self->dev, self->base));
	close(pfd[0]);
	close(pfd[1]);
	free(mem);
}

/* A clone shares the buffer: released when the last ring lets go. */
TEST_F(kbuf, clone)
{
	struct io_uring_clone_buffers cb = { .src_fd = self->ring.ring_fd };
	struct io_uring dst;

	ASSERT_EQ(0, ft_reg(&self->ring, self->dev, 0, 2, SRC,
			    KMBUF_FT_PAGES, 21, 0));
	ASSERT_EQ(0, io_uring_queue_init(4, &dst, 0));
	ASSERT_EQ(0, kmbuf_io_uring_register(dst.ring_fd,
					     IORING_REGISTER_CLONE_BUFFERS,
					     &cb, 1));
	io_uring_queue_exit(&self->ring);
	ASSERT_EQ(0, io_uring_queue_init(8, &self->ring, 0));
	usleep(200 * 1000);
	EXPECT_EQ(self->base + 1, ft_count(&self->ring, self->dev));

	ASSERT_EQ((int)pg, rw_fixed(&dst, true, self->file, 0, pg, pg, 0));
	ASSERT_EQ((ssize_t)pg, pread(self->file, self->buf, pg, 0));
	EXPECT_EQ(-1, ft_mismatch(self->buf, pg, pg, 21));
	EXPECT_EQ(-EFAULT, rw_fixed(&dst, false, self->file, 0, 0, pg, 0));

	io_uring_queue_exit(&dst);
	EXPECT_EQ(self->base, wait_count(&self->ring, self->dev, self->base));
}

TEST_HARNESS_MAIN
