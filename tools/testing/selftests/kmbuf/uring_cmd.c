// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring core rules for uring_cmd providers, on kmbuf_chr, kmbuf_blk and
 * a socket:
 *
 * - IORING_URING_CMD_MULTISHOT is refused with IOSQE_CQE_SKIP_SUCCESS, and
 *   by every provider that does not declare multishot support;
 * - the block layer checks a driver command's access before the driver:
 *   every kmbuf_blk command needs a file open for reading, WRITE also one
 *   open for writing (EBADF otherwise);
 * - IORING_OP_ASYNC_CANCEL (by user_data, FD, FD_FIXED, ANY, ALL),
 *   IORING_REGISTER_SYNC_CANCEL and linked timeouts cancel a queued
 *   multishot KMBUF_CMD_ARM;
 * - kmbuf_region_probe() detects the kmbuf uapi by trying it.
 */
#define _GNU_SOURCE
#include <linux/fs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "chr_util.h"
#include "blk_util.h"
#include "../kselftest_harness.h"

#define REGION_ID	1
#define REGION_SIZE	(1U << 20)
#define CHR_BUF		4096U
#define CHR_NBUF	8U
#define UD_RECV		0x100
#define UD_RECV2	0x200
#define UD_CANCEL	0x300
#define UD_TIMEOUT	0x400
#define UD_NONE		0x999
#define STASH		16

/* CQEs that arrived while waiting for another request's */
struct stash {
	struct rx_cqe	cqe[STASH];
	unsigned int	nr;
};

FIXTURE(chr) {
	struct rx rx;
	struct kmbuf_region reg;
	struct stash stash;
	int fd;
};

FIXTURE_SETUP(chr)
{
	int ret;

	self->stash.nr = 0;
	self->fd = chr_open(O_RDWR);
	if (self->fd < 0)
		SKIP(return, CHR_DEV " not available (CONFIG_KMBUF_CHR)");
	chr_drain_queue();
	ASSERT_EQ(0, rx_init(&self->rx, 64, 256, 0));
	ret = kmbuf_region_create(self->rx.ring.ring_fd, REGION_ID,
				  REGION_SIZE, 0, 0, &self->reg);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, CHR_BUF,
			     CHR_NBUF));
}

FIXTURE_TEARDOWN(chr)
{
	if (self->fd < 0)
		return;
	if (self->rx.log) {
		kmbuf_region_unmap(&self->reg);
		rx_exit(&self->rx);
	}
	close(self->fd);
}

/*
 * The next CQE with user_data @ud; CQEs of other requests are kept in @st
 * for later calls.  0, or -ETIME if it does not come within rx->timeout_s.
 */
static int wait_ud(struct rx *rx, struct stash *st, __u64 ud,
		   struct rx_cqe *out)
{
	unsigned int i;
	int ret;

	for (i = 0; i < st->nr; i++) {
		if (st->cqe[i].ud != ud)
			continue;
		*out = st->cqe[i];
		memmove(&st->cqe[i], &st->cqe[i + 1],
			(st->nr - i - 1) * sizeof(*out));
		st->nr--;
		return 0;
	}
	for (;;) {
		ret = rx_next(rx, out);
		if (ret)
			return ret;
		if (out->ud == ud)
			return 0;
		if (st->nr == STASH)
			return -ENOSPC;
		st->cqe[st->nr++] = *out;
	}
}

/* No CQE is pending or kept: nothing posted more than it should. */
static bool no_cqes(struct rx *rx, struct stash *st)
{
	struct rx_cqe c;

	return !st->nr && rx_peek(rx, &c) == -EAGAIN;
}

/* Submit an IORING_OP_ASYNC_CANCEL for @ud (or @fd) with @flags: its res. */
static int async_cancel(struct rx *rx, struct stash *st, __u64 ud, int fd,
			unsigned int flags)
{
	struct io_uring_sqe *sqe = rx_sqe(rx);
	struct rx_cqe c;

	if (flags & IORING_ASYNC_CANCEL_FD)
		io_uring_prep_cancel_fd(sqe, fd, flags);
	else
		io_uring_prep_cancel64(sqe, ud, flags);
	sqe->user_data = UD_CANCEL;
	if (io_uring_submit(&rx->ring) != 1)
		return -EIO;
	if (wait_ud(rx, st, UD_CANCEL, &c))
		return -ETIME;
	return c.res;
}

/*
 * The res of the terminating CQE of ARM @ud, -EPROTO if it has
 * IORING_CQE_F_MORE or a buffer.
 */
static int recv_end(struct rx *rx, struct stash *st, __u64 ud)
{
	struct rx_cqe c;

	if (wait_ud(rx, st, ud, &c))
		return -ETIME;
	if (c.flags & (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER))
		return -EPROTO;
	return c.res;
}

/* A 64-byte record into the device queue (any file of it delivers it). */
static int queue_record(int fd)
{
	char rec[64];

	memset(rec, 0x5a, sizeof(rec));
	return write(fd, rec, sizeof(rec)) == sizeof(rec) ? 0 : -errno;
}

/*
 * MULTISHOT with IOSQE_CQE_SKIP_SUCCESS: refused at prep, so the CQE is
 * already there when io_uring_enter() returns, and nothing is armed.
 */
TEST_F(chr, mshot_skip_success_refused)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct rx_cqe c;

	sqe = rx_sqe(&self->rx);
	kmbuf_prep_arm(sqe, self->fd, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	sqe->user_data = UD_RECV;
	ASSERT_EQ(1, io_uring_submit(&self->rx.ring));
	ASSERT_EQ(0, io_uring_peek_cqe(&self->rx.ring, &cqe));
	EXPECT_EQ(UD_RECV, cqe->user_data);
	EXPECT_EQ(-EINVAL, cqe->res);
	EXPECT_EQ(0, cqe->flags & IORING_CQE_F_MORE);
	io_uring_cqe_seen(&self->rx.ring, cqe);

	/* no ARM is pending: a new one is accepted and delivers */
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV2));
	ASSERT_EQ(0, queue_record(self->fd));
	ASSERT_EQ(0, wait_ud(&self->rx, &self->stash, UD_RECV2, &c));
	EXPECT_EQ(64, c.res);
	EXPECT_EQ(IORING_CQE_F_MORE | IORING_CQE_F_BUFFER,
		  c.flags & (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER));
	EXPECT_EQ(0, async_cancel(&self->rx, &self->stash, UD_RECV2, -1, 0));
	EXPECT_EQ(-ECANCELED, recv_end(&self->rx, &self->stash, UD_RECV2));
	EXPECT_TRUE(no_cqes(&self->rx, &self->stash));
}

/* ASYNC_CANCEL by user_data ends the ARM; a miss is -ENOENT. */
TEST_F(chr, async_cancel_user_data)
{
	struct rx_cqe c;

	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	/* matches nothing: -ENOENT, and the ARM still delivers */
	EXPECT_EQ(-ENOENT, async_cancel(&self->rx, &self->stash, UD_NONE, -1, 0));
	ASSERT_EQ(0, queue_record(self->fd));
	ASSERT_EQ(0, wait_ud(&self->rx, &self->stash, UD_RECV, &c));
	EXPECT_EQ(64, c.res);
	EXPECT_EQ(IORING_CQE_F_MORE | IORING_CQE_F_BUFFER,
		  c.flags & (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER));
	EXPECT_GT(CHR_NBUF, c.flags >> IORING_CQE_BUFFER_SHIFT);

	ASSERT_EQ(0, async_cancel(&self->rx, &self->stash, UD_RECV, -1, 0));
	EXPECT_EQ(-ECANCELED, recv_end(&self->rx, &self->stash, UD_RECV));
	/* it is gone, and the file takes a new ARM */
	EXPECT_EQ(-ENOENT, async_cancel(&self->rx, &self->stash, UD_RECV, -1, 0));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV2));
	EXPECT_EQ(0, async_cancel(&self->rx, &self->stash, UD_RECV2, -1,
				  IORING_ASYNC_CANCEL_USERDATA));
	EXPECT_EQ(-ECANCELED, recv_end(&self->rx, &self->stash, UD_RECV2));
	EXPECT_TRUE(no_cqes(&self->rx, &self->stash));
}

static int sync_cancel(int ring_fd, struct io_uring_sync_cancel_reg *reg)
{
	return kmbuf_io_uring_register(ring_fd, IORING_REGISTER_SYNC_CANCEL,
				       reg, 1);
}

/* IORING_REGISTER_SYNC_CANCEL by user_data. */
TEST_F(chr, sync_cancel)
{
	struct io_uring_sync_cancel_reg reg = {
		.addr = UD_RECV,
		.timeout = { .tv_sec = -1, .tv_nsec = -1 },
	};
	int ring_fd = self->rx.ring.ring_fd;

	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	reg.addr = UD_NONE;
	EXPECT_EQ(-ENOENT, sync_cancel(ring_fd, &reg));
	reg.addr = UD_RECV;
	ASSERT_EQ(0, sync_cancel(ring_fd, &reg));
	EXPECT_EQ(-ECANCELED, recv_end(&self->rx, &self->stash, UD_RECV));
	EXPECT_EQ(-ENOENT, sync_cancel(ring_fd, &reg));
	EXPECT_TRUE(no_cqes(&self->rx, &self->stash));
}

/*
 * A linked timeout cancels the ARM it is linked to: ARM ends with
 * -ECANCELED, the timeout with -ETIME (-ENOENT if it found nothing).  The
 * ARM never completes by itself (the queue stays empty), so the result
 * doesn't depend on the timeout's length.
 */
TEST_F(chr, linked_timeout)
{
	struct __kernel_timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	struct io_uring_sqe *sqe;
	struct rx_cqe c;

	sqe = rx_sqe(&self->rx);
	kmbuf_prep_arm(sqe, self->fd, 0);
	sqe->flags |= IOSQE_IO_LINK;
	sqe->user_data = UD_RECV;
	sqe = rx_sqe(&self->rx);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	sqe->user_data = UD_TIMEOUT;
	ASSERT_EQ(2, io_uring_submit(&self->rx.ring));

	ASSERT_EQ(0, wait_ud(&self->rx, &self->stash, UD_TIMEOUT, &c));
	EXPECT_EQ(-ETIME, c.res);
	ASSERT_EQ(-ECANCELED, recv_end(&self->rx, &self->stash, UD_RECV));
	EXPECT_TRUE(no_cqes(&self->rx, &self->stash));
}

/* CANCEL_FD | CANCEL_ALL takes only the file's ARM, CANCEL_ANY the rest. */
TEST_F(chr, cancel_fd_all_any)
{
	int fd2 = chr_open(O_RDWR);
	struct rx_cqe c;

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, rx_bind(&self->rx, fd2, REGION_ID,
			     CHR_BUF * CHR_NBUF, CHR_BUF, CHR_NBUF));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	ASSERT_EQ(0, rx_arm(&self->rx, fd2, UD_RECV2));

	EXPECT_EQ(1, async_cancel(&self->rx, &self->stash, 0, self->fd,
				  IORING_ASYNC_CANCEL_FD |
				  IORING_ASYNC_CANCEL_ALL));
	EXPECT_EQ(-ECANCELED, recv_end(&self->rx, &self->stash, UD_RECV));
	/* fd2's ARM is still armed: it delivers */
	ASSERT_EQ(0, queue_record(self->fd));
	ASSERT_EQ(0, wait_ud(&self->rx, &self->stash, UD_RECV2, &c));
	EXPECT_EQ(64, c.res);
	EXPECT_EQ(IORING_CQE_F_MORE, c.flags & IORING_CQE_F_MORE);

	EXPECT_EQ(1, async_cancel(&self->rx, &self->stash, 0, -1,
				  IORING_ASYNC_CANCEL_ANY |
				  IORING_ASYNC_CANCEL_ALL));
	EXPECT_EQ(-ECANCELED, recv_end(&self->rx, &self->stash, UD_RECV2));
	/* ANY counts what it cancelled: nothing is left */
	EXPECT_EQ(0, async_cancel(&self->rx, &self->stash, 0, -1,
				  IORING_ASYNC_CANCEL_ANY));
	EXPECT_TRUE(no_cqes(&self->rx, &self->stash));
	close(fd2);
}

/* An ARM on a fixed file, cancelled by CANCEL_FD_FIXED. */
TEST_F(chr, cancel_fd_fixed)
{
	struct io_uring_sqe *sqe;

	ASSERT_EQ(0, io_uring_register_files(&self->rx.ring, &self->fd, 1));
	sqe = rx_sqe(&self->rx);
	kmbuf_prep_arm(sqe, 0, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	sqe->user_data = UD_RECV;
	ASSERT_EQ(1, io_uring_submit(&self->rx.ring));

	EXPECT_EQ(0, async_cancel(&self->rx, &self->stash, 0, 0,
				  IORING_ASYNC_CANCEL_FD |
				  IORING_ASYNC_CANCEL_FD_FIXED));
	EXPECT_EQ(-ECANCELED, recv_end(&self->rx, &self->stash, UD_RECV));
	EXPECT_TRUE(no_cqes(&self->rx, &self->stash));
}

/*
 * A socket command doesn't do multishot: -EINVAL, as on 6.12, instead of
 * one CQE that looks like a multishot command's end.
 */
TEST(socket_mshot_refused)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	struct ifreq ifr = { };
	socklen_t len = sizeof(sin);
	int s, i;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_LE(0, s);
	/* bring up lo and queue one 5-byte datagram to ourselves */
	memcpy(ifr.ifr_name, "lo", 3);
	ASSERT_EQ(0, ioctl(s, SIOCGIFFLAGS, &ifr));
	ifr.ifr_flags |= IFF_UP;
	ASSERT_EQ(0, ioctl(s, SIOCSIFFLAGS, &ifr));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(0, bind(s, (struct sockaddr *)&sin, sizeof(sin)));
	ASSERT_EQ(0, getsockname(s, (struct sockaddr *)&sin, &len));
	ASSERT_EQ(5, sendto(s, "hello", 5, 0, (struct sockaddr *)&sin,
			    sizeof(sin)));

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	sqe = io_uring_get_sqe(&ring);
	kmbuf_prep_uring_cmd(sqe, s, SOCKET_URING_OP_SIOCINQ, 0, NULL, 0);
	sqe->user_data = 1;
	sqe = io_uring_get_sqe(&ring);
	kmbuf_prep_uring_cmd(sqe, s, SOCKET_URING_OP_SIOCINQ,
			     IORING_URING_CMD_MULTISHOT, NULL, 0);
	sqe->user_data = 2;
	ASSERT_EQ(2, io_uring_submit(&ring));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, io_uring_wait_cqe(&ring, &cqe));
		/* the plain command works, the multishot one is refused */
		EXPECT_EQ(cqe->user_data == 1 ? 5 : -EINVAL, cqe->res);
		EXPECT_EQ(0, cqe->flags);
		io_uring_cqe_seen(&ring, cqe);
	}
	EXPECT_EQ(-EAGAIN, io_uring_peek_cqe(&ring, &cqe));
	io_uring_queue_exit(&ring);
	close(s);
}

/* Block device files don't do multishot either, whatever the command. */
TEST(blk_mshot_refused)
{
	static const __u32 ops[] = {
		KMBUF_CMD_BIND, KMBUF_BLK_READ, KMBUF_BLK_WRITE,
		KMBUF_CMD_RETURN, KMBUF_CMD_UNBIND, KMBUF_CMD_ARM,
	};
	static const struct kmbuf_cmd zero;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	unsigned int i;
	__u64 ud;
	int fd;

	if (blk_load())
		SKIP(return, "kmbuf_blk not available (CONFIG_KMBUF_BLK)");
	fd = open(BLK_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, io_uring_queue_init(8, &ring, 0));
	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		sqe = kmbuf_get_sqe(&ring);
		if (kmbuf_cmd_op_common(ops[i]))
			kmbuf_prep_cmd(sqe, fd, ops[i], 0, &zero);
		else
			blk_prep(sqe, fd, ops[i], 0, 0, 0, 0);
		sqe->uring_cmd_flags = IORING_URING_CMD_MULTISHOT;
		ud = blk_sync_ud();
		sqe->user_data = ud;
		EXPECT_EQ(-EINVAL, blk_sync_wait(&ring, ud, NULL));
	}
	io_uring_queue_exit(&ring);
	close(fd);
}

#define BS		4096U	/* kmbuf_blk's default logical block size */
#define RO_ID		1
#define RW_ID		2

struct blk_perm {
	struct io_uring		ring;
	struct kmbuf_region	ro, rw;
	__u64			off;	/* last block of the disk */
};

static int blk_perm_init(struct blk_perm *p)
{
	__u64 size;
	int fd, ret;

	ret = blk_load();
	if (ret)
		return ret;
	fd = open(BLK_DEV, O_RDONLY);
	if (fd < 0)
		return -errno;
	ret = ioctl(fd, BLKGETSIZE64, &size) ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	p->off = size - BS;
	ret = io_uring_queue_init(16, &p->ring, 0);
	if (ret)
		return ret;
	ret = kmbuf_region_create(p->ring.ring_fd, RO_ID, 4 * BS,
				  IORING_MEM_REGION_RDONLY, 0, &p->ro);
	if (ret)
		return ret;
	return kmbuf_region_create(p->ring.ring_fd, RW_ID, BS, 0, 0, &p->rw);
}

static void blk_perm_exit(struct blk_perm *p)
{
	kmbuf_region_unmap(&p->ro);
	kmbuf_region_unmap(&p->rw);
	io_uring_queue_exit(&p->ring);
}

/*
 * Read-only file: BIND, READ, RETURN and UNBIND work, WRITE is -EBADF
 * from the block layer.
 */
TEST(blk_access_rdonly)
{
	struct blk_perm p;
	__u32 flags, bid;
	int fd;

	if (blk_load())
		SKIP(return, "kmbuf_blk not available (CONFIG_KMBUF_BLK)");
	ASSERT_EQ(0, blk_perm_init(&p));
	fd = open(BLK_DEV, O_RDONLY);
	ASSERT_LE(0, fd);

	EXPECT_EQ(0, blk_bind(&p.ring, fd, RO_ID, 0, BS, 4));
	ASSERT_EQ((int)BS, blk_cmd(&p.ring, fd, KMBUF_BLK_READ, p.off, BS, 0,
				   0, &flags));
	ASSERT_TRUE(flags & IORING_CQE_F_BUFFER);
	bid = flags >> IORING_CQE_BUFFER_SHIFT;
	EXPECT_GT(4, bid);
	EXPECT_EQ(-EBADF, blk_cmd(&p.ring, fd, KMBUF_BLK_WRITE, p.off, BS,
				  RW_ID, 0, NULL));
	EXPECT_EQ(1, blk_return(&p.ring, fd, bid));
	EXPECT_EQ(0, blk_unbind(&p.ring, fd));
	close(fd);
	blk_perm_exit(&p);
}

/*
 * Write-only file: every command is -EBADF, before the driver looks at
 * it (UNBIND without a binding would be -ENXIO, RETURN -ENXIO, an
 * unknown command -ENOTTY).  A file open for both may WRITE.
 */
TEST(blk_access_wronly)
{
	struct kmbuf_bind b = {
		.region_id = RO_ID, .buf_size = BS, .nr_bufs = 4,
	};
	static char buf[BS];
	struct blk_perm p;
	__u32 bid = 0;
	int fd, rfd;

	if (blk_load())
		SKIP(return, "kmbuf_blk not available (CONFIG_KMBUF_BLK)");
	ASSERT_EQ(0, blk_perm_init(&p));
	fd = open(BLK_DEV, O_WRONLY);
	ASSERT_LE(0, fd);

	EXPECT_EQ(-EBADF, blk_bind_desc(&p.ring, fd, &b));
	EXPECT_EQ(-EBADF, blk_cmd(&p.ring, fd, KMBUF_BLK_READ, p.off, BS, 0,
				  0, NULL));
	EXPECT_EQ(-EBADF, blk_cmd(&p.ring, fd, KMBUF_BLK_WRITE, p.off, BS,
				  RW_ID, 0, NULL));
	EXPECT_EQ(-EBADF, blk_return(&p.ring, fd, bid));
	EXPECT_EQ(-EBADF, blk_unbind(&p.ring, fd));
	EXPECT_EQ(-EBADF, blk_cmd(&p.ring, fd, _IO(KMBUF_BLK_MAGIC, 99), 0, 0,
				  0, 0, NULL));

	/* read-write: WRITE the block's own bytes back */
	rfd = open(BLK_DEV, O_RDWR);
	ASSERT_LE(0, rfd);
	ASSERT_EQ((ssize_t)BS, pread(rfd, buf, BS, p.off));
	memcpy(p.rw.addr, buf, BS);
	EXPECT_EQ((int)BS, blk_cmd(&p.ring, rfd, KMBUF_BLK_WRITE, p.off, BS,
				   RW_ID, 0, NULL));
	close(rfd);
	close(fd);
	blk_perm_exit(&p);
}

/*
 * kmbuf_region_probe() needs no ring of the caller's and leaves the one it
 * gets alone.  The errno-order probe failed here: with region 0 taken its
 * registration got -EBUSY before the kernel looked at the flags, and with
 * fd -1 it got -EBADF.
 */
TEST(region_probe)
{
	size_t pgsz = sysconf(_SC_PAGESIZE);
	struct io_uring_region_desc rd;
	struct kmbuf_region r;
	struct io_uring ring;

	EXPECT_EQ(0, kmbuf_region_probe(-1));

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	memset(&rd, 0, sizeof(rd));
	rd.size = pgsz;
	ASSERT_EQ(0, kmbuf_region_register(ring.ring_fd, &rd, 0));
	EXPECT_EQ(0, kmbuf_region_probe(ring.ring_fd));
	/* the probe registered nothing on @ring: id 1 is still free */
	ASSERT_EQ(0, kmbuf_region_create(ring.ring_fd, 1, pgsz,
					 IORING_MEM_REGION_RDONLY, 0, &r));
	EXPECT_EQ(0x20000000ULL | (1ULL << 16), r.mmap_offset);
	kmbuf_region_unmap(&r);
	io_uring_queue_exit(&ring);
}

TEST_HARNESS_MAIN
