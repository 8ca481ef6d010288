// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_blk stacked on a real device: an NVMe namespace whose blocks carry
 * protection information (T10 DIF type 1, 8 bytes of metadata per block),
 * as the test guest's QEMU provides it.  Verified READs are bios to the
 * namespace straight into read-only kmbuf buffers; the block layer
 * generates PI on writes and verifies it on reads.
 *
 * Data at several sizes, a READ the namespace's queue limits split,
 * buffers the device can't take refused, a bad guard tag planted with
 * nvme-cli failing only the READs that cover it (-EBADMSG, no buffer
 * consumed) until the block is written again, and teardown with READs in
 * flight.  Skips without an NVMe namespace formatted with PI.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "blk_util.h"
#include "../kselftest_harness.h"

#define NVME_NS		"/dev/nvme0n1"
#define NVME_SYS	"/sys/block/nvme0n1/"
#define STK_DEV		"/dev/kmbufblk-nvme0n1"
#define STK_SYS		"/sys/block/kmbufblk-nvme0n1/"
#define LBS		512U		/* the namespace's format: 512 + 8 */
#define NBUF		16U
#define BUFSZ		(128U * 1024)
#define BIG		(512U * 1024)	/* the namespace's largest request */
#define RO_ID		1
#define RW_ID		2
#define RW_SIZE		(1024U * 1024)
#define AREA		(4ULL << 20)	/* device bytes the tests use */
#define SEED		0x4e564d65ULL
#define BAD_LBA		24ULL		/* in the 4 KiB block at 12288 */

static unsigned int cqe_bid(__u32 cflags)
{
	return cflags >> IORING_CQE_BUFFER_SHIFT;
}

/* A whole sysfs or debugfs file as a string, "" if missing. */
static const char *read_file(const char *path)
{
	static char buf[256];
	ssize_t n = -1;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* Requests the namespace completed reading: field 1 of its stat file. */
static long long ns_reads(void)
{
	return atoll(read_file(NVME_SYS "stat"));
}

/*
 * Plant a bad guard tag on block @lba with nvme-cli: the block's pattern
 * data, its right reference tag, a wrong guard, written with PRINFO 0 (no
 * checks, no insertion), so the controller stores what it is given.  The
 * stacked disk holds the namespace exclusively, so nvme-cli refuses to
 * write to it without --force.
 */
static int plant_bad_guard(__u64 lba)
{
	unsigned char md[8] = { 0xde, 0xad, 0, 0,
				lba >> 24, lba >> 16, lba >> 8, lba };
	char cmd[256], data[LBS];
	int fd, ret, n;

	blk_pattern_fill(data, lba * LBS, LBS, SEED);
	fd = open("/tmp/nvme_blk", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, LBS) != LBS)
		return -1;
	close(fd);
	fd = open("/tmp/nvme_md", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, md, sizeof(md)) != sizeof(md))
		return -1;
	close(fd);
	n = snprintf(cmd, sizeof(cmd), "nvme write %s --start-block=%llu",
		     NVME_NS, (unsigned long long)lba);
	n += snprintf(cmd + n, sizeof(cmd) - n, " %s --data-size=%u %s",
		      "--block-count=0", LBS, "--data=/tmp/nvme_blk");
	snprintf(cmd + n, sizeof(cmd) - n, " %s %s %s >/dev/null 2>&1",
		 "--metadata-size=8 --metadata=/tmp/nvme_md", "--prinfo=0",
		 "--force");
	ret = system(cmd);
	return ret ? -1 : 0;
}

FIXTURE(nvme) {
	struct io_uring		ring;
	struct kmbuf_region	ro, rw;
	int			fd;
};

FIXTURE_SETUP(nvme)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE,
				     .cq_entries = 256 };

	self->fd = -1;
	if (access(NVME_NS, F_OK))
		SKIP(return, "no NVMe namespace");
	if (strncmp(read_file(NVME_SYS "integrity/format"), "T10-DIF-TYPE1",
		    13) || atoi(read_file(NVME_SYS "queue/logical_block_size"))
		    != LBS)
		SKIP(return, "namespace not formatted 512 + 8 with PI type 1");
	ASSERT_EQ(0, blk_reload("nr_devices=0 lower=" NVME_NS, STK_DEV));
	self->fd = open(STK_DEV, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, io_uring_queue_init_params(64, &self->ring, &p));
	ASSERT_EQ(0, kmbuf_region_create(self->ring.ring_fd, RO_ID,
					 NBUF * BUFSZ + BIG + 4096,
					 IORING_MEM_REGION_RDONLY, 0,
					 &self->ro));
	ASSERT_EQ(0, kmbuf_region_create(self->ring.ring_fd, RW_ID, RW_SIZE,
					 0, 0, &self->rw));
	/* the pattern, written through the stacked disk: PI generated */
	for (__u64 off = 0; off < AREA; off += BIG) {
		blk_pattern_fill(self->rw.addr, off, BIG, SEED);
		ASSERT_EQ((int)BIG,
			  blk_cmd(&self->ring, self->fd, KMBUF_BLK_WRITE, off,
				  BIG, RW_ID, 0, NULL));
	}
}

FIXTURE_TEARDOWN(nvme)
{
	if (self->fd < 0)
		return;
	kmbuf_region_unmap(&self->ro);
	kmbuf_region_unmap(&self->rw);
	io_uring_queue_exit(&self->ring);
	close(self->fd);
	/* the other kmbuf_blk tests load the module with their defaults */
	system("rmmod kmbuf_blk");
}

/* READ @len at @off into a buffer: res, and the CQE's flags in @fl. */
static int nvme_read(struct io_uring *ring, int fd, __u64 off, __u32 len,
		     __u32 *fl)
{
	*fl = 0;
	return blk_cmd(ring, fd, KMBUF_BLK_READ, off, len, 0, 0, fl);
}

/*
 * The namespace is what the tests expect, and the stacked disk has its
 * limits: logical block size, DMA alignment, largest request, PI on the
 * lower device only.
 */
TEST_F(nvme, stacked_limits)
{
	char lower[64];

	EXPECT_STREQ("T10-DIF-TYPE1-CRC\n",
		     read_file(NVME_SYS "integrity/format"));
	EXPECT_STREQ("1\n", read_file(NVME_SYS "integrity/read_verify"));
	EXPECT_STREQ("1\n", read_file(NVME_SYS "integrity/write_generate"));
	EXPECT_STREQ("512\n", read_file(STK_SYS "queue/logical_block_size"));
	/* read_file() returns a static buffer: one at a time */
	snprintf(lower, sizeof(lower), "%s",
		 read_file(NVME_SYS "queue/max_hw_sectors_kb"));
	EXPECT_STREQ(lower, read_file(STK_SYS "queue/max_hw_sectors_kb"));
	snprintf(lower, sizeof(lower), "%s", read_file(NVME_SYS "size"));
	EXPECT_STREQ(lower, read_file(STK_SYS "size"));
}

/*
 * Verified READs of 512 B to 512 KiB land in read-only buffers with the
 * pattern; each CQE names its buffer; each buffer comes back.
 */
TEST_F(nvme, verified_reads)
{
	static const __u32 lens[] = { 512, 4096, 65536, BUFSZ };
	__u32 fl;
	int i;

	ASSERT_EQ(0, blk_bind(&self->ring, self->fd, RO_ID, 0, BUFSZ, NBUF));
	for (i = 0; i < 4; i++) {
		__u64 off = (__u64)(i * 7 + 1) * 4096 + 512 * i;
		const char *p;

		ASSERT_EQ((int)lens[i], nvme_read(&self->ring,
						  self->fd, off, lens[i],
						  &fl));
		ASSERT_TRUE(fl & IORING_CQE_F_BUFFER);
		ASSERT_LT(cqe_bid(fl), NBUF);
		p = (const char *)self->ro.addr + cqe_bid(fl) * BUFSZ;
		EXPECT_EQ(-1, blk_pattern_check(p, off, lens[i], SEED));
		ASSERT_EQ(1, blk_return(&self->ring, self->fd, cqe_bid(fl)));
	}
}

/* Write @val to sysfs file @path; 0 or -1. */
static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret = -1;

	if (fd >= 0) {
		if (write(fd, val, strlen(val)) == (ssize_t)strlen(val))
			ret = 0;
		close(fd);
	}
	return ret;
}

/*
 * The READ's bio obeys the namespace's queue limits: with its largest
 * request set to 64 KiB (max_sectors_kb), a 512 KiB READ reaches the
 * namespace as eight requests, and the buffer (512 bytes into a page, so
 * no request starts page-aligned) holds the right data.
 */
TEST_F(nvme, read_split_by_lower_limits)
{
	char old[32];
	long long before, reqs;
	__u32 fl;
	int res;

	snprintf(old, sizeof(old), "%s", read_file(NVME_SYS
						   "queue/max_sectors_kb"));
	ASSERT_EQ(0, blk_bind(&self->ring, self->fd, RO_ID, 512, BIG, 1));
	ASSERT_EQ(0, write_file(NVME_SYS "queue/max_sectors_kb", "64"));
	before = ns_reads();
	res = nvme_read(&self->ring, self->fd, 0, BIG, &fl);
	reqs = ns_reads() - before;
	ASSERT_EQ(0, write_file(NVME_SYS "queue/max_sectors_kb", old));
	ASSERT_EQ((int)BIG, res);
	EXPECT_EQ(8, reqs);
	ASSERT_TRUE(fl & IORING_CQE_F_BUFFER);
	ASSERT_EQ(0, cqe_bid(fl));
	EXPECT_EQ(-1, blk_pattern_check((char *)self->ro.addr + 512, 0, BIG,
					SEED));
}

/*
 * Buffers the device can't take directly are refused, never bounced:
 * offsets and sizes off the DMA alignment at BIND (EINVAL), lengths off
 * the logical block size (EINVAL) or above a buffer (EMSGSIZE) at READ.
 */
TEST_F(nvme, refused_buffers)
{
	__u32 fl;

	ASSERT_STREQ("511\n", read_file(STK_SYS "queue/dma_alignment"));
	EXPECT_EQ(-EINVAL, blk_bind(&self->ring, self->fd, RO_ID, 256, 4096,
				    4));
	EXPECT_EQ(-EINVAL, blk_bind(&self->ring, self->fd, RO_ID, 0, 4096 + 256,
				    4));
	/* PI is checked on read-only memory only */
	EXPECT_EQ(-EACCES, blk_bind(&self->ring, self->fd, RW_ID, 0, 4096, 4));
	ASSERT_EQ(0, blk_bind(&self->ring, self->fd, RO_ID, 0, 4096, 4));
	EXPECT_EQ(-EINVAL, nvme_read(&self->ring, self->fd, 0, 256,
				     &fl));
	EXPECT_EQ(-EINVAL, nvme_read(&self->ring, self->fd, 256,
				     512, &fl));
	EXPECT_EQ(-EMSGSIZE, nvme_read(&self->ring, self->fd, 0,
				       8192, &fl));
	EXPECT_EQ(-ERANGE, nvme_read(&self->ring, self->fd,
				     atoll(read_file(NVME_SYS "size")) * 512,
				     512, &fl));
}

/*
 * A bad guard tag on one block, planted with nvme-cli, fails every READ
 * that covers the block with EBADMSG and consumes no buffer: a one-buffer
 * ring serves the next READ.  READs of its neighbours, even of the blocks
 * right before and after it, succeed.  Writing the block again through
 * the stacked disk (PI generated again) heals it.
 */
TEST_F(nvme, pi_error_fails_only_its_block)
{
	__u64 bad = BAD_LBA * LBS;
	const char *p = self->ro.addr;
	__u32 fl;

	ASSERT_EQ(0, blk_bind(&self->ring, self->fd, RO_ID, 0, BUFSZ, 1));
	ASSERT_EQ(0, plant_bad_guard(BAD_LBA));

	EXPECT_EQ(-EBADMSG, nvme_read(&self->ring, self->fd,
				      bad & ~4095ULL, 4096, &fl));
	EXPECT_FALSE(fl & IORING_CQE_F_BUFFER);
	EXPECT_EQ(-EBADMSG, nvme_read(&self->ring, self->fd, bad,
				      LBS, &fl));
	EXPECT_EQ(-EBADMSG, nvme_read(&self->ring, self->fd, 0,
				      BUFSZ, &fl));
	/* the only buffer is still free: each neighbour gets it */
	ASSERT_EQ((int)LBS, nvme_read(&self->ring, self->fd,
				      bad - LBS, LBS, &fl));
	ASSERT_TRUE(fl & IORING_CQE_F_BUFFER);
	EXPECT_EQ(-1, blk_pattern_check(p, bad - LBS, LBS, SEED));
	ASSERT_EQ(1, blk_return(&self->ring, self->fd, cqe_bid(fl)));
	ASSERT_EQ((int)LBS, nvme_read(&self->ring, self->fd,
				      bad + LBS, LBS, &fl));
	EXPECT_EQ(-1, blk_pattern_check(p, bad + LBS, LBS, SEED));
	ASSERT_EQ(1, blk_return(&self->ring, self->fd, cqe_bid(fl)));
	ASSERT_EQ((int)BUFSZ, nvme_read(&self->ring, self->fd,
					BUFSZ, BUFSZ, &fl));
	EXPECT_EQ(-1, blk_pattern_check(p, BUFSZ, BUFSZ, SEED));
	ASSERT_EQ(1, blk_return(&self->ring, self->fd, cqe_bid(fl)));

	/* written again through the stacked disk: verified again */
	blk_pattern_fill(self->rw.addr, bad, LBS, SEED);
	ASSERT_EQ((int)LBS, blk_cmd(&self->ring, self->fd, KMBUF_BLK_WRITE,
				    bad, LBS, RW_ID, 0, NULL));
	ASSERT_EQ(4096, nvme_read(&self->ring, self->fd,
				  bad & ~4095ULL, 4096, &fl));
	EXPECT_EQ(-1, blk_pattern_check(p, bad & ~4095ULL, 4096, SEED));
}

/* read(2) through the stacked disk sees the PI error as EILSEQ. */
TEST_F(nvme, pi_error_read_syscall)
{
	void *buf;

	ASSERT_EQ(0, posix_memalign(&buf, 4096, 4096));
	ASSERT_EQ(0, plant_bad_guard(BAD_LBA));
	errno = 0;
	EXPECT_EQ(-1, pread(self->fd, buf, 4096, (BAD_LBA * LBS) & ~4095ULL));
	EXPECT_EQ(EILSEQ, errno);
	EXPECT_EQ(4096, pread(self->fd, buf, 4096, 0));
	EXPECT_EQ(-1, blk_pattern_check(buf, 0, 4096, SEED));
	free(buf);
}

/*
 * The stacked disk takes REQ_NOWAIT I/O when the namespace does: a
 * RWF_NOWAIT read works (EOPNOTSUPP without BLK_FEAT_NOWAIT), so io_uring
 * reads and writes of the disk are issued inline.
 */
TEST_F(nvme, nowait_io)
{
	struct iovec iov;
	void *buf;

	ASSERT_EQ(0, posix_memalign(&buf, 4096, 4096));
	iov.iov_base = buf;
	iov.iov_len = 4096;
	ASSERT_EQ(4096, preadv2(self->fd, &iov, 1, 8192, RWF_NOWAIT));
	EXPECT_EQ(-1, blk_pattern_check(buf, 8192, 4096, SEED));
	free(buf);
}

/*
 * Teardown with READs in flight: the io_uring instance and the file go
 * at once with 16 READs submitted; the READs finish, everything is freed
 * (KASAN and kmemleak watch) and the module can go.
 */
TEST_F(nvme, teardown_inflight)
{
	unsigned int i;
	int tries;

	ASSERT_EQ(0, blk_bind(&self->ring, self->fd, RO_ID, 0, BUFSZ, NBUF));
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, blk_queue(&self->ring, self->fd, KMBUF_BLK_READ,
				       (__u64)i * BUFSZ, BUFSZ, 0, 0, i));
	ASSERT_EQ((int)NBUF, io_uring_submit(&self->ring));
	kmbuf_region_unmap(&self->ro);
	kmbuf_region_unmap(&self->rw);
	io_uring_queue_exit(&self->ring);
	close(self->fd);
	self->fd = -1;
	for (tries = 0; tries < 300; tries++) {
		if (!system("rmmod kmbuf_blk 2>/dev/null"))
			break;
		usleep(100 * 1000);
	}
	EXPECT_LT(tries, 300);
}

TEST_HARNESS_MAIN
