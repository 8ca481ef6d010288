// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_chr baseline paths in pattern mode: read(2) and io_uring READ with a
 * provided-buffer ring must deliver the byte stream intact, whatever the read
 * size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/io_uring.h>	/* the tree's uapi, before liburing's copy */
#include <liburing.h>
#include <linux/kmbuf_chr.h>

#include "../kselftest_harness.h"

#define DEV "/dev/kmbuf_chr"

/* Check @len bytes at @buf against the stream from @pos; -1 if intact. */
static long pattern_mismatch(const unsigned char *buf, size_t len, __u64 pos)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != kmbuf_chr_pattern_byte(pos + i))
			return i;
	return -1;
}

/* A file reading the pattern byte stream (the device defaults to records). */
static int open_dev(void)
{
	struct kmbuf_chr_mode m = { .mode = KMBUF_CHR_MODE_PATTERN };
	int fd;

	if (access(DEV, F_OK))
		system("modprobe kmbuf_chr");
	fd = open(DEV, O_RDONLY);
	if (fd >= 0 && ioctl(fd, KMBUF_CHR_SET_MODE, &m)) {
		close(fd);
		return -1;
	}
	return fd;
}

FIXTURE(chr) {
	int fd;
};

FIXTURE_SETUP(chr)
{
	self->fd = open_dev();
	if (self->fd < 0)
		SKIP(return, DEV " not available (CONFIG_KMBUF_CHR)");
}

FIXTURE_TEARDOWN(chr)
{
	if (self->fd >= 0)
		close(self->fd);
}

/* read(2) with awkward sizes keeps the stream contiguous. */
TEST_F(chr, read_sizes)
{
	static const size_t sizes[] = { 1, 7, 8, 9, 512, 4095, 4096, 65536 + 3 };
	unsigned char *buf = malloc(65536 + 3);
	__u64 pos = 0;
	unsigned int i, round;

	ASSERT_NE(NULL, buf);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < ARRAY_SIZE(sizes); i++) {
			ssize_t n = read(self->fd, buf, sizes[i]);

			ASSERT_EQ((ssize_t)sizes[i], n);
			ASSERT_EQ(-1, pattern_mismatch(buf, n, pos)) {
				TH_LOG("stream corrupt near offset %llu",
				       (unsigned long long)pos);
			}
			pos += n;
		}
	}
	free(buf);
}

/* Two files have independent streams. */
TEST_F(chr, independent_streams)
{
	unsigned char a[64], b[64];
	int fd2 = open_dev();

	ASSERT_LE(0, fd2);
	ASSERT_EQ(64, read(self->fd, a, sizeof(a)));
	ASSERT_EQ(64, read(fd2, b, sizeof(b)));
	EXPECT_EQ(0, memcmp(a, b, sizeof(a)));
	EXPECT_EQ(-1, pattern_mismatch(b, sizeof(b), 0));
	close(fd2);
}

TEST_F(chr, not_seekable)
{
	char buf[8];

	EXPECT_EQ(-1, lseek(self->fd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_EQ(-1, pread(self->fd, buf, sizeof(buf), 0));
	EXPECT_EQ(ESPIPE, errno);
}

#define NR_BUFS		8
#define BUF_SIZE	4096
#define BGID		7

/*
 * io_uring READ with IOSQE_BUFFER_SELECT from a user provided-buffer ring:
 * every CQE names a buffer, which holds the next piece of the stream.
 * Enough rounds to wrap the ring several times.
 */
TEST_F(chr, iouring_pbuf_read)
{
	struct io_uring_buf_reg reg = { };
	struct io_uring_buf_ring *br;
	struct io_uring ring;
	unsigned char *bufs;
	__u64 pos = 0;
	int i, round, ret;

	ASSERT_EQ(0, io_uring_queue_init(NR_BUFS, &ring, 0));
	ASSERT_EQ(0, posix_memalign((void **)&br, 4096,
				    NR_BUFS * sizeof(struct io_uring_buf)));
	bufs = malloc(NR_BUFS * BUF_SIZE);
	ASSERT_NE(NULL, bufs);

	io_uring_buf_ring_init(br);
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = NR_BUFS;
	reg.bgid = BGID;
	ASSERT_EQ(0, io_uring_register_buf_ring(&ring, &reg, 0));
	for (i = 0; i < NR_BUFS; i++)
		io_uring_buf_ring_add(br, bufs + i * BUF_SIZE, BUF_SIZE, i,
				      io_uring_buf_ring_mask(NR_BUFS), i);
	io_uring_buf_ring_advance(br, NR_BUFS);

	for (round = 0; round < 4 * NR_BUFS; round++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		struct io_uring_cqe *cqe;
		unsigned int bid;
		size_t len = 1 + (round * 997) % BUF_SIZE;

		ASSERT_NE(NULL, sqe);
		io_uring_prep_read(sqe, self->fd, NULL, len, -1);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = BGID;
		ASSERT_EQ(1, io_uring_submit(&ring));
		ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));

		ASSERT_EQ((int)len, cqe->res);
		ASSERT_TRUE(cqe->flags & IORING_CQE_F_BUFFER);
		bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		ASSERT_LT(bid, NR_BUFS);
		/* buffers are handed out in ring order */
		ASSERT_EQ((unsigned int)(round % NR_BUFS), bid);
		ASSERT_EQ(-1, pattern_mismatch(bufs + bid * BUF_SIZE, len, pos));
		pos += len;

		io_uring_buf_ring_add(br, bufs + bid * BUF_SIZE, BUF_SIZE, bid,
				      io_uring_buf_ring_mask(NR_BUFS), 0);
		io_uring_buf_ring_advance(br, 1);
		io_uring_cqe_seen(&ring, cqe);
	}

	ret = io_uring_unregister_buf_ring(&ring, BGID);
	EXPECT_EQ(0, ret);
	io_uring_queue_exit(&ring);
	free(bufs);
	free(br);
}

/* With the ring empty, a buffer-select READ fails with -ENOBUFS. */
TEST_F(chr, iouring_pbuf_exhausted)
{
	struct io_uring_buf_reg reg = { };
	struct io_uring_buf_ring *br;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct io_uring ring;

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	ASSERT_EQ(0, posix_memalign((void **)&br, 4096,
				    NR_BUFS * sizeof(struct io_uring_buf)));
	io_uring_buf_ring_init(br);
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = NR_BUFS;
	reg.bgid = BGID;
	ASSERT_EQ(0, io_uring_register_buf_ring(&ring, &reg, 0));

	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_read(sqe, self->fd, NULL, 64, -1);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	ASSERT_EQ(1, io_uring_submit(&ring));
	ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
	EXPECT_EQ(-ENOBUFS, cqe->res);
	EXPECT_FALSE(cqe->flags & IORING_CQE_F_BUFFER);
	io_uring_cqe_seen(&ring, cqe);
	io_uring_queue_exit(&ring);
	free(br);
}

TEST_HARNESS_MAIN
