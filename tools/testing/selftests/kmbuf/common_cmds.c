// SPDX-License-Identifier: GPL-2.0
/*
 * The common kmbuf commands (<linux/kmbuf.h>) fail the same way on every
 * consumer: one matrix of KMBUF_CMD_BIND, _ARM, _RETURN and _UNBIND
 * errors, run on kmbuf_chr (/dev/kmbuf_chr), kmbuf_blk (/dev/kmbufblk0)
 * and kmbuf_tick (/dev/kmbuf_tick; its variant skips where the driver or
 * its uapi header is missing).  Each variant says what kind of region its
 * buffers need, whether its files have streams, and how to get buffers
 * delivered to userspace (a queue record, a verified read, a tick).
 *
 * The semantic tests of each driver stay in its own file (chr_kmbuf.c,
 * blk_kmbuf.c, ...).
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "chr_util.h"
#include "blk_util.h"
#if __has_include("linux/kmbuf_tick.h")
#include <linux/kmbuf_tick.h>
#define HAVE_KMBUF_TICK	1
#endif
#include "../kselftest_harness.h"

#define BUF_ID		1		/* the buffers' region, per variant */
#define RW_ID		2		/* kernel, writable: refill rings */
#define RO_ID		3		/* kernel, read-only */
#define USER_ID		4		/* user memory */
#define BUF_SIZE	(1U << 20)
#define SMALL_SIZE	65536U
#define BSZ		4096U
#define NBUF		8U
#define UD_ARM		0x100
#define TICK_DEV	"/dev/kmbuf_tick"

FIXTURE(cc) {
	struct rx		rx;
	struct kmbuf_region	buf, rw, ro;
	void			*user;
	int			fd, fd2, wfd;
	bool			armed;
};

FIXTURE_VARIANT(cc) {
	const char	*name;
	/* an open file of the consumer, set up for BIND; -ENODEV: skip */
	int		(*open_dev)(void);
	__u32		buf_flags;	/* desc flags of the buffers' region */
	bool		needs_rdonly;	/* BIND: kernel read-only regions only */
	unsigned int	nr_streams;	/* streams of a file set up by open_dev */
	__u32		max_buf_size;	/* 0: no limit */
	bool		fdinfo;		/* the file shows the ring's fdinfo */
	/* make @n buffers of @fd's ring userspace's; their ids in @bids */
	int		(*take)(FIXTURE_DATA(cc) *self, unsigned int n,
				__u32 *bids);
};

/* Collect @n buffers from the armed stream 0 of self->fd. */
static int take_armed(FIXTURE_DATA(cc) *self, unsigned int n, __u32 *bids)
{
	struct rx_cqe c;
	unsigned int i;

	if (!self->armed) {
		if (rx_arm(&self->rx, self->fd, UD_ARM))
			return -EIO;
		self->armed = true;
	}
	for (i = 0; i < n; i++) {
		if (rx_next(&self->rx, &c))
			return -ETIME;
		if (c.ud != UD_ARM || c.res <= 0 ||
		    (c.flags & (IORING_CQE_F_BUFFER | IORING_CQE_F_MORE)) !=
		    (IORING_CQE_F_BUFFER | IORING_CQE_F_MORE))
			return -EPROTO;
		bids[i] = c.flags >> IORING_CQE_BUFFER_SHIFT;
	}
	return 0;
}

static int chr_dev_open(void)
{
	int fd = chr_open(O_RDWR);

	if (fd < 0)
		return -ENODEV;
	chr_drain_queue();
	return fd;
}

/* kmbuf_chr: @n queue records, delivered on the armed stream */
static int chr_take(FIXTURE_DATA(cc) *self, unsigned int n, __u32 *bids)
{
	unsigned int i;

	if (self->wfd < 0)
		self->wfd = chr_open(O_WRONLY | O_NONBLOCK);
	for (i = 0; i < n; i++)
		if (write_rec(self->wfd, i, 64) != 64)
			return -errno;
	return take_armed(self, n, bids);
}

static int blk_dev_open(void)
{
	int fd;

	if (blk_load())
		return -ENODEV;
	fd = open(BLK_DEV, O_RDWR);
	return fd < 0 ? -errno : fd;
}

/* kmbuf_blk: @n verified reads, each into a buffer of the ring */
static int blk_take(FIXTURE_DATA(cc) *self, unsigned int n, __u32 *bids)
{
	struct io_uring_sqe *sqe;
	struct rx_cqe c;
	unsigned int i;
	__u64 ud;

	for (i = 0; i < n; i++) {
		sqe = rx_sqe(&self->rx);
		if (!sqe)
			return -EBUSY;
		blk_prep(sqe, self->fd, KMBUF_BLK_READ, (__u64)i * BSZ, BSZ,
			 0, 0);
		ud = rx_sync_ud(&self->rx);
		sqe->user_data = ud;
		if (rx_wait_cqe(&self->rx, ud, &c))
			return -ETIME;
		if (c.res != (int)BSZ || !(c.flags & IORING_CQE_F_BUFFER))
			return c.res < 0 ? c.res : -EPROTO;
		bids[i] = c.flags >> IORING_CQE_BUFFER_SHIFT;
	}
	return 0;
}

static int tick_dev_open(void)
{
#ifdef HAVE_KMBUF_TICK
	struct kmbuf_tick_config cfg = {
		.nr_channels = 2, .rec_size = 64, .period_ns = 1000000,
	};
	int fd;

	if (access(TICK_DEV, F_OK) &&
	    system("modprobe kmbuf_tick 2>/dev/null"))
		return -ENODEV;
	fd = open(TICK_DEV, O_RDWR);
	if (fd < 0)
		return -ENODEV;
	/* two channels: streams 0 and 1 */
	if (ioctl(fd, KMBUF_TICK_CONFIG, &cfg)) {
		close(fd);
		return -errno;
	}
	return fd;
#else
	return -ENODEV;
#endif
}

/* kmbuf_tick: channel 0 runs until @n records arrived on stream 0 */
static int tick_take(FIXTURE_DATA(cc) *self, unsigned int n, __u32 *bids)
{
#ifdef HAVE_KMBUF_TICK
	struct kmbuf_tick_range r = { .first = 0, .nr = 1 };
	int ret;

	if (ioctl(self->fd, KMBUF_TICK_START, &r))
		return -errno;
	ret = take_armed(self, n, bids);
	if (ioctl(self->fd, KMBUF_TICK_STOP, &r) && !ret)
		ret = -errno;
	usleep(20000);	/* a record the timer wrote meanwhile is posted */
	return ret;
#else
	return -ENODEV;
#endif
}

FIXTURE_VARIANT_ADD(cc, kmbuf_chr) {
	.name = "kmbuf_chr",
	.open_dev = chr_dev_open,
	.buf_flags = 0,
	.nr_streams = 1,
	.max_buf_size = KMBUF_CHR_MAX_RECORD,
	.fdinfo = true,
	.take = chr_take,
};

FIXTURE_VARIANT_ADD(cc, kmbuf_blk) {
	.name = "kmbuf_blk",
	.open_dev = blk_dev_open,
	.buf_flags = IORING_MEM_REGION_RDONLY,
	.needs_rdonly = true,
	.nr_streams = 0,
	.max_buf_size = KMBUF_BLK_MAX_IO,
	.take = blk_take,
};

FIXTURE_VARIANT_ADD(cc, kmbuf_tick) {
	.name = "kmbuf_tick",
	.open_dev = tick_dev_open,
	.buf_flags = 0,
	.nr_streams = 2,
	.fdinfo = true,
	.take = tick_take,
};

FIXTURE_SETUP(cc)
{
	int ring_fd, ret;

	self->fd = -1;
	self->fd2 = -1;
	self->wfd = -1;
	self->armed = false;
	self->user = NULL;
	ret = variant->open_dev();
	if (ret == -ENODEV)
		SKIP(return, "%s not available", variant->name);
	ASSERT_LE(0, ret) TH_LOG("%s: %s", variant->name, strerror(-ret));
	self->fd = ret;
	self->fd2 = variant->open_dev();
	ASSERT_LE(0, self->fd2);
	ASSERT_EQ(0, rx_init(&self->rx, 64, 1024, 0));
	ring_fd = self->rx.ring.ring_fd;
	ASSERT_EQ(0, kmbuf_region_create(ring_fd, BUF_ID, BUF_SIZE,
					 variant->buf_flags, 0, &self->buf));
	ASSERT_EQ(0, kmbuf_region_create(ring_fd, RW_ID, SMALL_SIZE, 0, 0,
					 &self->rw));
	ASSERT_EQ(0, kmbuf_region_create(ring_fd, RO_ID, SMALL_SIZE,
					 IORING_MEM_REGION_RDONLY, 0,
					 &self->ro));
	self->user = mmap(NULL, SMALL_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->user);
	ASSERT_EQ(0, kmbuf_region_register_user(ring_fd, USER_ID, self->user,
						SMALL_SIZE, 0));
}

FIXTURE_TEARDOWN(cc)
{
	if (self->fd < 0)
		return;
	if (self->rx.log) {
		kmbuf_region_unmap(&self->buf);
		kmbuf_region_unmap(&self->rw);
		kmbuf_region_unmap(&self->ro);
		rx_exit(&self->rx);
	}
	if (self->user && self->user != MAP_FAILED)
		munmap(self->user, SMALL_SIZE);
	if (self->wfd >= 0)
		close(self->wfd);
	if (self->fd2 >= 0)
		close(self->fd2);
	close(self->fd);
}

/* BIND of the usual ring: NBUF buffers of BSZ at @off of the buffers' region */
static int bind_std(FIXTURE_DATA(cc) *self, int fd, __u64 off)
{
	return rx_bind(&self->rx, fd, BUF_ID, off, BSZ, NBUF);
}

/*
 * Geometry, alignment and range: EINVAL (EOVERFLOW beyond 64 bits), and
 * nothing gets bound.
 */
TEST_F(cc, bind_geometry)
{
	struct rx *rx = &self->rx;
	int fd = self->fd;

	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, 32, BSZ, NBUF));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, 0, 0, NBUF));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, 0, 100, NBUF));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, 0, BSZ + 32, NBUF));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, 0, BSZ, 0));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, 0, 64,
				   KMBUF_MAX_RING_BUFS + 1));
	/* outside the region: past its end, too many */
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, BUF_SIZE, BSZ, 1));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, BUF_SIZE - BSZ, BSZ, 2));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, 0, BSZ,
				   BUF_SIZE / BSZ + 1));
	/* a range beyond 64 bits */
	EXPECT_EQ(-EOVERFLOW, rx_bind(rx, fd, BUF_ID, ~0ULL << 12, BSZ, 2));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, 0, ~0U << 12, 2));
	if (variant->max_buf_size)
		EXPECT_EQ(-EINVAL, rx_bind(rx, fd, BUF_ID, 0,
					   variant->max_buf_size + BSZ, 1));
	/* the whole region, then nothing was bound before */
	ASSERT_EQ(0, rx_bind(rx, fd, BUF_ID, 0, BSZ, BUF_SIZE / BSZ));
	if (variant->fdinfo)
		EXPECT_EQ(BUF_SIZE / BSZ, fdinfo_val(fd, "kmbuf_bufs"));
	EXPECT_EQ(0, rx_unbind(rx, fd));
}

/* No such region: ENOENT; an id out of the range of ids: EINVAL. */
TEST_F(cc, bind_unknown_region)
{
	EXPECT_EQ(-ENOENT, rx_bind(&self->rx, self->fd, 7, 0, BSZ, NBUF));
	EXPECT_EQ(-ENOENT, rx_bind(&self->rx, self->fd, 15, 0, BSZ, NBUF));
	/* not a region id at all */
	EXPECT_EQ(-EINVAL, rx_bind(&self->rx, self->fd, 1U << 30, 0, BSZ,
				   NBUF));
	EXPECT_EQ(0, bind_std(self, self->fd, 0));
}

/*
 * The kind of region a consumer takes: kmbuf_blk only kernel-allocated
 * read-only ones (EACCES), the others any.
 */
TEST_F(cc, bind_region_kind)
{
	static const __u32 ids[] = { RW_ID, USER_ID, RO_ID };
	unsigned int i;
	int want;

	for (i = 0; i < ARRAY_SIZE(ids); i++) {
		want = variant->needs_rdonly && ids[i] != RO_ID ? -EACCES : 0;
		EXPECT_EQ(want, rx_bind(&self->rx, self->fd, ids[i], 0, BSZ,
					4)) TH_LOG("region %u", ids[i]);
		if (!want)
			EXPECT_EQ(0, rx_unbind(&self->rx, self->fd));
	}
}

/* A file takes one ring: EBUSY, until it is unbound. */
TEST_F(cc, bind_twice)
{
	ASSERT_EQ(0, bind_std(self, self->fd, 0));
	EXPECT_EQ(-EBUSY, bind_std(self, self->fd, NBUF * BSZ));
	EXPECT_EQ(-EBUSY, bind_std(self, self->fd, 0));
	EXPECT_EQ(0, rx_unbind(&self->rx, self->fd));
	EXPECT_EQ(0, bind_std(self, self->fd, NBUF * BSZ));
}

/* Two rings never share a byte of a region: EBUSY. */
TEST_F(cc, bind_overlap)
{
	const __u64 end = NBUF * BSZ;

	ASSERT_EQ(0, bind_std(self, self->fd, 0));
	EXPECT_EQ(-EBUSY, bind_std(self, self->fd2, 0));
	EXPECT_EQ(-EBUSY, bind_std(self, self->fd2, end - BSZ));
	/* 512: kmbuf_blk's DMA alignment */
	EXPECT_EQ(-EBUSY, rx_bind(&self->rx, self->fd2, BUF_ID, end - 512,
				  512, 1));
	EXPECT_EQ(-EBUSY, rx_bind(&self->rx, self->fd2, BUF_ID, 0, end * 2,
				  1));
	/* right after it is free */
	EXPECT_EQ(0, bind_std(self, self->fd2, end));
	EXPECT_EQ(0, rx_unbind(&self->rx, self->fd));
	/* and once unbound (nothing held), the first range is free too */
	EXPECT_EQ(0, rx_unbind(&self->rx, self->fd2));
	EXPECT_EQ(0, bind_std(self, self->fd2, 0));
}

/* Reserved fields and flags, of kmbuf_bind and kmbuf_cmd: EINVAL. */
TEST_F(cc, bind_reserved)
{
	struct kmbuf_bind b = {
		.region_id = BUF_ID, .buf_size = BSZ, .nr_bufs = NBUF,
	};
	struct kmbuf_cmd c = { .addr = (uintptr_t)&b };
	struct rx *rx = &self->rx;
	int fd = self->fd;
	unsigned int bit;

	for (bit = 1; bit < 32; bit++) {
		b.flags = 1U << bit;
		EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b)) TH_LOG("flag %u",
								    bit);
	}
	b.flags = 0;
	b.resv = 1;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.resv = 0;
	/* refill fields without KMBUF_BIND_REFILL */
	b.refill_region = RW_ID;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.refill_region = 0;
	b.refill_entries = 8;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.refill_entries = 0;
	b.refill_offset = 64;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.refill_offset = 0;
	/* kmbuf_cmd: nr, stream and flags are 0 for BIND */
	c.nr = 1;
	EXPECT_EQ(-EINVAL, rx_kcmd(rx, fd, KMBUF_CMD_BIND, 0, &c));
	c.nr = 0;
	c.stream = 1;
	EXPECT_EQ(-EINVAL, rx_kcmd(rx, fd, KMBUF_CMD_BIND, 0, &c));
	c.stream = 0;
	c.flags = 1;
	EXPECT_EQ(-EINVAL, rx_kcmd(rx, fd, KMBUF_CMD_BIND, 0, &c));
	c.flags = 0;
	/* nothing got bound meanwhile */
	EXPECT_EQ(0, rx_kcmd(rx, fd, KMBUF_CMD_BIND, 0, &c));
	/* the other commands' payload fields */
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_UNBIND, 0, 0, 1));
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_UNBIND, 0, 1, 0));
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_UNBIND, 8, 0, 0));
	EXPECT_EQ(-EINVAL, rx_kcmd(rx, fd, KMBUF_CMD_UNBIND, 0,
				   &(struct kmbuf_cmd){ .stream = 1 }));
	EXPECT_EQ(-EINVAL, rx_kcmd(rx, fd, KMBUF_CMD_RETURN, 0,
				   &(struct kmbuf_cmd){ .addr = 8, .nr = 1,
							.stream = 1 }));
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_RETURN, 8, 1, 1));
	/* an unknown common command */
	EXPECT_EQ(-ENOTTY, rx_cmd(rx, fd, _IO(KMBUF_CMD_MAGIC, 0x3f), 0, 0,
				  0));
	EXPECT_EQ(0, rx_unbind(rx, fd));
}

/* Which SQE field unused_cmd() sets. */
enum field {
	F_NONE, F_IOPRIO, F_ADDR, F_LEN, F_BUF_INDEX, F_FILE_INDEX, F_PAD1,
	F_FIXED, F_MSHOT, F_CMD128, NR_FIELDS,
};

static const char *const field_names[NR_FIELDS] = {
	"none", "ioprio", "addr", "len", "buf_index", "file_index", "__pad1",
	"IORING_URING_CMD_FIXED", "IORING_URING_CMD_MULTISHOT",
	"SQE128 cmd[16..79]",
};

/* Run common command @op with payload @c and field @f set: its res. */
static int unused_cmd(struct rx *rx, int fd, __u32 op, __u32 ucflags,
		      const struct kmbuf_cmd *c, enum field f)
{
	struct io_uring_sqe *sqe = rx_sqe(rx);
	__u64 ud = rx_sync_ud(rx);

	if (!sqe)
		return -EBUSY;
	if (f == F_FIXED)
		ucflags |= IORING_URING_CMD_FIXED;
	if (f == F_MSHOT)
		ucflags |= IORING_URING_CMD_MULTISHOT;
	kmbuf_prep_cmd(sqe, fd, op, ucflags, c);
	sqe->user_data = ud;
	switch (f) {
	case F_IOPRIO:
		sqe->ioprio = 1;
		break;
	case F_ADDR:
		sqe->addr = 8;
		break;
	case F_LEN:
		sqe->len = 1;
		break;
	case F_BUF_INDEX:
		sqe->buf_index = 1;
		break;
	case F_FILE_INDEX:
		sqe->file_index = 1;
		break;
	case F_PAD1:
		sqe->__pad1 = 1;
		break;
	case F_CMD128:
		sqe->cmd[79] = 1;
		break;
	default:
		break;
	}
	return rx_wait(rx, ud);
}

static void check_unused(struct __test_metadata *_metadata,
			 const FIXTURE_VARIANT(cc) *variant, struct rx *rx,
			 int fd)
{
	static const __u32 zero_bid;
	struct kmbuf_bind b = { .region_id = 7, .buf_size = BSZ,
				.nr_bufs = NBUF };
	const struct {
		__u32 op, ucflags;
		struct kmbuf_cmd c;
		int ok;		/* without a field: unknown region, unbound */
	} cmds[] = {
		{ KMBUF_CMD_BIND, 0, { .addr = (uintptr_t)&b }, -ENOENT },
		{ KMBUF_CMD_ARM, IORING_URING_CMD_MULTISHOT, { }, -ENXIO },
		{ KMBUF_CMD_RETURN, 0,
		  { .addr = (uintptr_t)&zero_bid, .nr = 1 }, -ENXIO },
		{ KMBUF_CMD_UNBIND, 0, { }, -ENXIO },
	};
	bool sqe128 = rx->ring.flags & IORING_SETUP_SQE128;
	unsigned int i, f;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		/* without streams an ARM is EINVAL anyway */
		if (cmds[i].op == KMBUF_CMD_ARM && !variant->nr_streams)
			continue;
		EXPECT_EQ(cmds[i].ok, unused_cmd(rx, fd, cmds[i].op,
						 cmds[i].ucflags, &cmds[i].c,
						 F_NONE))
			TH_LOG("cmd %u without a field", i);
		for (f = F_NONE + 1; f < NR_FIELDS; f++) {
			if (f == F_CMD128 && !sqe128)
				continue;
			if (f == F_MSHOT && cmds[i].op == KMBUF_CMD_ARM)
				continue;
			EXPECT_EQ(-EINVAL, unused_cmd(rx, fd, cmds[i].op,
						      cmds[i].ucflags,
						      &cmds[i].c, f))
				TH_LOG("cmd %u with %s", i, field_names[f]);
		}
	}
}

/* SQE fields the commands don't use must be 0: EINVAL. */
TEST_F(cc, unused_sqe_fields)
{
	static char fixed_buf[4096];
	struct iovec iov = { fixed_buf, sizeof(fixed_buf) };
	struct rx r128;

	/* a registered buffer, so that IORING_URING_CMD_FIXED gets through */
	ASSERT_EQ(0, io_uring_register_buffers(&self->rx.ring, &iov, 1));
	check_unused(_metadata, variant, &self->rx, self->fd);

	ASSERT_EQ(0, rx_init(&r128, 8, 64, IORING_SETUP_SQE128));
	ASSERT_EQ(0, io_uring_register_buffers(&r128.ring, &iov, 1));
	check_unused(_metadata, variant, &r128, self->fd);
	rx_exit(&r128);
}

/* An unreadable argument: EFAULT. */
TEST_F(cc, bad_addr)
{
	EXPECT_EQ(-EFAULT, rx_cmd(&self->rx, self->fd, KMBUF_CMD_BIND, 8, 0,
				  0));
	ASSERT_EQ(0, bind_std(self, self->fd, 0));
	EXPECT_EQ(-EFAULT, rx_return(&self->rx, self->fd, (__u32 *)8, 1));
	EXPECT_EQ(-EFAULT, rx_return(&self->rx, self->fd,
				     (__u32 *)(~0ULL << 12), 1));
}

/*
 * RETURN: ENXIO unbound, EINVAL for nr or an id out of range, EALREADY
 * for an id userspace does not hold; all or nothing.
 */
TEST_F(cc, return_errors)
{
	struct rx *rx = &self->rx;
	long long user = -1;
	__u32 ids[NBUF + 1] = { };
	__u32 a, b;
	int fd = self->fd;

	EXPECT_EQ(-ENXIO, rx_return(rx, fd, ids, 1));
	ASSERT_EQ(0, bind_std(self, fd, 0));
	/* nothing delivered yet */
	EXPECT_EQ(-EALREADY, rx_return(rx, fd, ids, 1));
	ids[0] = NBUF;
	EXPECT_EQ(-EINVAL, rx_return(rx, fd, ids, 1));
	ids[0] = ~0U;
	EXPECT_EQ(-EINVAL, rx_return(rx, fd, ids, 1));
	ids[0] = 0;
	EXPECT_EQ(-EINVAL, rx_return(rx, fd, ids, 0));
	EXPECT_EQ(-EINVAL, rx_return(rx, fd, ids, NBUF + 1));
	EXPECT_EQ(-EINVAL, rx_return(rx, fd, ids, ~0U));

	ASSERT_EQ(0, variant->take(self, 2, ids));
	a = ids[0];
	b = ids[1];
	ASSERT_NE(a, b);
	if (variant->fdinfo)
		user = fdinfo_val(fd, "kmbuf_user");
	/* all or nothing: one bad id and no buffer changes owner */
	ids[2] = a;
	EXPECT_EQ(-EALREADY, rx_return(rx, fd, ids, 3));	/* repeated */
	ids[1] = NBUF;
	EXPECT_EQ(-EINVAL, rx_return(rx, fd, ids, 2));		/* range */
	ids[1] = b;
	if (variant->fdinfo)
		EXPECT_EQ(user, fdinfo_val(fd, "kmbuf_user"));
	/* both still held: they go back, once */
	EXPECT_EQ(2, rx_return(rx, fd, ids, 2));
	EXPECT_EQ(-EALREADY, rx_return(rx, fd, &a, 1));
	EXPECT_EQ(-EALREADY, rx_return(rx, fd, &b, 1));
	if (variant->fdinfo)
		EXPECT_EQ(user - 2, fdinfo_val(fd, "kmbuf_user"));
}

/* UNBIND: ENXIO unbound, twice. */
TEST_F(cc, unbind_twice)
{
	EXPECT_EQ(-ENXIO, rx_unbind(&self->rx, self->fd));
	ASSERT_EQ(0, bind_std(self, self->fd, 0));
	EXPECT_EQ(0, rx_unbind(&self->rx, self->fd));
	EXPECT_EQ(-ENXIO, rx_unbind(&self->rx, self->fd));
	if (variant->fdinfo)
		EXPECT_EQ(-1, fdinfo_val(self->fd, "kmbuf_bufs"));
}

/*
 * A ring belongs to the io_uring instance that bound it: ARM, RETURN and
 * UNBIND from another one fail with EXDEV and change nothing, even when
 * that instance has a region with the same id; BIND from it finds the
 * file bound (EBUSY).
 */
TEST_F(cc, foreign_ring_exdev)
{
	struct kmbuf_region rb_buf;
	struct rx rb;
	__u32 bid;

	ASSERT_EQ(0, rx_init(&rb, 8, 64, 0));
	ASSERT_EQ(0, kmbuf_region_create(rb.ring.ring_fd, BUF_ID, BUF_SIZE,
					 variant->buf_flags, 0, &rb_buf));
	ASSERT_EQ(0, bind_std(self, self->fd, 0));

	if (variant->nr_streams)
		EXPECT_EQ(-EXDEV, rx_cmd_flags(&rb, self->fd, KMBUF_CMD_ARM,
					       IORING_URING_CMD_MULTISHOT, 0,
					       0, 0));
	EXPECT_EQ(-EBUSY, rx_bind(&rb, self->fd, BUF_ID, 0, BSZ, NBUF));
	EXPECT_EQ(-EXDEV, rx_unbind(&rb, self->fd));

	ASSERT_EQ(0, variant->take(self, 1, &bid));
	EXPECT_EQ(-EXDEV, rx_return(&rb, self->fd, &bid, 1));
	/* still held by the owner */
	EXPECT_EQ(1, rx_return(&self->rx, self->fd, &bid, 1));
	EXPECT_EQ(-EXDEV, rx_return(&rb, self->fd, &bid, 1));
	EXPECT_EQ(-EXDEV, rx_unbind(&rb, self->fd));
	EXPECT_EQ(0, rx_unbind(&self->rx, self->fd));

	/* unbound, the other instance may bind the file to its region */
	EXPECT_EQ(0, rx_bind(&rb, self->fd, BUF_ID, 0, BSZ, NBUF));
	EXPECT_EQ(-EXDEV, rx_unbind(&self->rx, self->fd));
	EXPECT_EQ(-EXDEV, rx_return(&self->rx, self->fd, &bid, 1));
	EXPECT_EQ(0, rx_unbind(&rb, self->fd));
	kmbuf_region_unmap(&rb_buf);
	rx_exit(&rb);
}

/*
 * ARM: multishot only, a stream the file has, once at a time; UNBIND
 * ends it with -ECANCELED.  On a file without streams: EINVAL.
 */
TEST_F(cc, arm_errors)
{
	struct io_uring_sqe *sqe;
	struct rx *rx = &self->rx;
	struct rx_cqe c;
	int fd = self->fd;

	if (!variant->nr_streams) {
		ASSERT_EQ(0, bind_std(self, fd, 0));
		EXPECT_EQ(-EINVAL, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
						IORING_URING_CMD_MULTISHOT, 0,
						0, 0));
		EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_ARM, 0, 0, 0));
		return;
	}
	EXPECT_EQ(-ENXIO, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
				       IORING_URING_CMD_MULTISHOT, 0, 0, 0));
	ASSERT_EQ(0, bind_std(self, fd, 0));
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_ARM, 0, 0, 0));
	EXPECT_EQ(-EINVAL, rx_kcmd(rx, fd, KMBUF_CMD_ARM,
				   IORING_URING_CMD_MULTISHOT,
				   &(struct kmbuf_cmd){
					.stream = variant->nr_streams }));
	EXPECT_EQ(-EINVAL, rx_kcmd(rx, fd, KMBUF_CMD_ARM,
				   IORING_URING_CMD_MULTISHOT,
				   &(struct kmbuf_cmd){ .stream = 0xffff }));
	EXPECT_EQ(-EINVAL, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
					IORING_URING_CMD_MULTISHOT, 8, 0, 0));
	EXPECT_EQ(-EINVAL, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
					IORING_URING_CMD_MULTISHOT, 0, 1, 0));
	EXPECT_EQ(-EINVAL, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
					IORING_URING_CMD_MULTISHOT, 0, 0, 1));
	/* IOSQE_CQE_SKIP_SUCCESS would hide the end of the stream */
	sqe = rx_sqe(rx);
	ASSERT_NE(NULL, sqe);
	kmbuf_prep_arm(sqe, fd, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	sqe->user_data = UD_ARM + 1;
	ASSERT_EQ(0, rx_wait_cqe(rx, UD_ARM + 1, &c));
	EXPECT_EQ(-EINVAL, c.res);
	EXPECT_EQ(0, c.flags);

	/* armed, a second ARM of the stream is EBUSY; another stream not */
	ASSERT_EQ(0, rx_arm(rx, fd, UD_ARM));
	EXPECT_EQ(-EBUSY, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
				       IORING_URING_CMD_MULTISHOT, 0, 0, 0));
	if (variant->nr_streams > 1)
		ASSERT_EQ(0, rx_arm_stream(rx, fd, 1, UD_ARM + 2));
	EXPECT_EQ(0, rx_unbind(rx, fd));
	/* each armed stream ends once, -ECANCELED, without a buffer */
	for (unsigned int ended = 0; ended < variant->nr_streams; ) {
		ASSERT_EQ(0, rx_next(rx, &c));
		ASSERT_TRUE(c.ud == UD_ARM || c.ud == UD_ARM + 2);
		if (c.flags & IORING_CQE_F_MORE)
			continue;	/* a record before the end */
		EXPECT_EQ(-ECANCELED, c.res);
		EXPECT_EQ(0, c.flags);
		ended++;
	}
	EXPECT_EQ(-EAGAIN, rx_peek(rx, &c));
}

/*
 * Refill ring arguments: a power of two from 1 to KMBUF_MAX_RING_BUFS
 * entries at a multiple of 64 inside a writable region (EINVAL), which
 * must exist (ENOENT) and be writable by userspace (EACCES).
 */
TEST_F(cc, refill_bad_args)
{
	struct kmbuf_bind b = {
		.region_id = BUF_ID, .buf_size = BSZ, .nr_bufs = NBUF,
	};
	static const __u32 bad_entries[] = {
		0, 3, 12, KMBUF_MAX_RING_BUFS * 2, 1U << 31,
	};
	struct rx *rx = &self->rx;
	unsigned int i;
	int fd = self->fd;

	ASSERT_NE(NULL, kmbuf_refill_init(&b, self->rw.addr, RW_ID, 0, NBUF));
	for (i = 0; i < ARRAY_SIZE(bad_entries); i++) {
		b.refill_entries = bad_entries[i];
		EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b))
			TH_LOG("%u entries", bad_entries[i]);
	}
	b.refill_entries = NBUF;
	b.refill_offset = 32;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	/* past the region's end, or not wholly inside it */
	b.refill_offset = SMALL_SIZE;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.refill_offset = SMALL_SIZE - 64;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.refill_offset = ~0ULL << 6;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.refill_offset = 0;
	b.refill_entries = KMBUF_MAX_RING_BUFS;	/* 256 KiB: too big */
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.refill_entries = NBUF;
	/* no region 9; a read-only region (kernel or not) can't be written */
	b.refill_region = 9;
	EXPECT_EQ(-ENOENT, rx_bind_desc(rx, fd, &b));
	b.refill_region = RO_ID;
	EXPECT_EQ(-EACCES, rx_bind_desc(rx, fd, &b));
	if (variant->buf_flags & IORING_MEM_REGION_RDONLY) {
		b.refill_region = BUF_ID;
		b.refill_offset = BUF_SIZE - kmbuf_refill_size(NBUF);
		EXPECT_EQ(-EACCES, rx_bind_desc(rx, fd, &b));
		b.refill_offset = 0;
	}
	/* the ring's own buffers, when their region is writable: EBUSY */
	if (!(variant->buf_flags & IORING_MEM_REGION_RDONLY)) {
		b.refill_region = BUF_ID;
		b.refill_offset = BSZ;
		EXPECT_EQ(-EBUSY, rx_bind_desc(rx, fd, &b));
		/* after them it is fine */
		b.refill_offset = NBUF * BSZ;
		EXPECT_EQ(0, rx_bind_desc(rx, fd, &b));
		EXPECT_EQ(0, rx_unbind(rx, fd));
		b.refill_offset = 0;
	}
	/* another ring's refill ring: EBUSY */
	b.refill_region = RW_ID;
	ASSERT_EQ(0, rx_bind_desc(rx, self->fd2, &b));
	b.offset = NBUF * BSZ;
	b.refill_offset = 64;
	EXPECT_EQ(-EBUSY, rx_bind_desc(rx, fd, &b));
	b.offset = 0;
	EXPECT_EQ(0, rx_unbind(rx, self->fd2));
	if (variant->fdinfo)
		EXPECT_EQ(-1, fdinfo_val(fd, "kmbuf_bufs"));
	/* right: in another writable region, or a user memory one */
	b.refill_region = RW_ID;
	EXPECT_EQ(0, rx_bind_desc(rx, fd, &b));
	EXPECT_EQ(0, rx_unbind(rx, fd));
	b.refill_region = USER_ID;
	b.refill_offset = 128;
	EXPECT_EQ(0, rx_bind_desc(rx, fd, &b));
	EXPECT_EQ(0, rx_unbind(rx, fd));
}

/*
 * Buffers given back through the refill ring come out again, and bogus
 * ids in it change nothing: the same ids stay userspace's.
 */
TEST_F(cc, refill_returns)
{
	struct kmbuf_bind b = {
		.region_id = BUF_ID, .buf_size = BSZ, .nr_bufs = NBUF,
	};
	struct kmbuf_refill *r;
	__u32 ids[NBUF], more[NBUF];
	unsigned int i;
	int fd = self->fd;

	r = kmbuf_refill_init(&b, self->rw.addr, RW_ID, 0, NBUF);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, rx_bind_desc(&self->rx, fd, &b));
	ASSERT_EQ(0, variant->take(self, NBUF, ids));
	/* out of range, and one we hold twice: skipped */
	ASSERT_EQ(0, kmbuf_refill_push(r, NBUF, NBUF));
	ASSERT_EQ(0, kmbuf_refill_push(r, NBUF, ~0U));
	ASSERT_EQ(0, kmbuf_refill_push(r, NBUF, ids[0]));
	ASSERT_EQ(0, kmbuf_refill_push(r, NBUF, ids[0]));
	/* a waiting stream needs the doorbell; a read takes a buffer itself */
	if (kmbuf_refill_need_wakeup(r))
		EXPECT_EQ(1, rx_cmd(&self->rx, fd, KMBUF_CMD_RETURN, 0, 0, 0));
	ASSERT_EQ(0, variant->take(self, 1, more));
	EXPECT_EQ(ids[0], more[0]);
	EXPECT_EQ(r->tail, r->head);
	if (variant->fdinfo)
		EXPECT_EQ(3, fdinfo_val(fd, FDI_REFILL_BAD));
	/* every id is userspace's once more: RETURN takes each, once */
	for (i = 0; i < NBUF; i++)
		EXPECT_EQ(1, rx_return(&self->rx, fd, &ids[i], 1))
			TH_LOG("id %u of %u", i, NBUF);
	EXPECT_EQ(-EALREADY, rx_return(&self->rx, fd, &ids[0], 1));
	EXPECT_EQ(0, rx_unbind(&self->rx, fd));
}

/* End the ARM of stream 0, if any; hold what it delivered before. */
static int disarm(FIXTURE_DATA(cc) *self)
{
	struct io_uring_sqe *sqe;
	struct rx_cqe c;

	if (!self->armed)
		return 0;
	sqe = rx_sqe(&self->rx);
	io_uring_prep_cancel64(sqe, UD_ARM, 0);
	sqe->user_data = UD_ARM + 3;
	if (rx_wait(&self->rx, UD_ARM + 3))
		return -EIO;
	do {
		if (rx_next(&self->rx, &c) || c.ud != UD_ARM)
			return -EPROTO;
	} while (c.flags & IORING_CQE_F_MORE);
	self->armed = false;
	return c.res == -ECANCELED ? 0 : -EPROTO;
}

/*
 * The id of a buffer that is free when it is written to the refill ring
 * is bogus, even if the kernel hands the buffer out before it gets to
 * that entry: it must never come to count as a return of the buffer,
 * which would hand the buffer out a second time while userspace holds it.
 */
TEST_F(cc, refill_free_ids)
{
	struct kmbuf_bind b = {
		.region_id = BUF_ID, .buf_size = BSZ, .nr_bufs = NBUF,
	};
	__u32 ids[NBUF], got[3], push[2];
	struct kmbuf_refill *r;
	unsigned int i, j;
	int fd = self->fd;

	r = kmbuf_refill_init(&b, self->rw.addr, RW_ID, 0, NBUF);
	ASSERT_NE(NULL, r);
	ASSERT_EQ(0, rx_bind_desc(&self->rx, fd, &b));
	ASSERT_EQ(0, variant->take(self, NBUF, ids));
	ASSERT_EQ(0, disarm(self));
	/* two free ones, then the first of them (bogus) and a held one */
	ASSERT_EQ(2, rx_return(&self->rx, fd, ids, 2));
	push[0] = ids[0];
	push[1] = ids[2];
	ASSERT_EQ(2, kmbuf_refill_push_many(r, NBUF, push, 2));
	/* three buffers are free: each comes out once */
	ASSERT_EQ(0, variant->take(self, 3, got));
	for (i = 0; i < 3; i++) {
		EXPECT_TRUE(got[i] == ids[0] || got[i] == ids[1] ||
			    got[i] == ids[2]) TH_LOG("bid %u", got[i]);
		for (j = 0; j < i; j++)
			EXPECT_NE(got[i], got[j])
				TH_LOG("bid %u handed out twice", got[i]);
	}
	if (variant->fdinfo)
		EXPECT_EQ(1, fdinfo_val(fd, FDI_REFILL_BAD));
	/* ids[3..] are still held, the three again: each goes back once */
	for (i = 0; i < NBUF; i++)
		EXPECT_EQ(1, rx_return(&self->rx, fd, &ids[i], 1))
			TH_LOG("id %u of %u", i, NBUF);
}

TEST_HARNESS_MAIN
