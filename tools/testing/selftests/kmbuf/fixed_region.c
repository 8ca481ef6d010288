// SPDX-License-Identifier: GPL-2.0
/*
 * Memory regions as io_uring registered buffers
 * (IORING_REGISTER_BUFFERS_UPDATE with IORING_RSRC_UPDATE_MEM_REGION):
 *
 * - READ_FIXED and WRITE_FIXED move the region's bytes to and from files
 *   (tmpfs, with and without O_DIRECT) and a block device (kmbuf_blk,
 *   with and without O_DIRECT), addressed by
 *   byte offset into the slot's range, at any offset and length inside it;
 * - a read-only region is a source only: WRITE_FIXED writes what the
 *   kernel put there, READ_FIXED fails with EFAULT and changes nothing;
 * - every bad descriptor, table and flag gets its documented errno, and
 *   a batch stops at the first bad entry;
 * - lifetime: a slot emptied, or a ring closed, while a READ_FIXED on it
 *   waits on an empty pipe stays safe (the region's pages live until the
 *   request is done, the slot's tag comes after its CQE); a slot holds
 *   the region's RLIMIT_MEMLOCK charge until it goes, on a clone too;
 * - IORING_REGISTER_CLONE_BUFFERS shares slots, directions included;
 * - records a kmbuf_chr stream delivers into a read-only region reach a
 *   file with WRITE_FIXED straight from the kmbuf buffers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "chr_util.h"
#include "../kselftest_harness.h"

#define RW_ID		1	/* writable kernel region */
#define RO_ID		2	/* read-only kernel region */
#define NPAGES		16	/* pages per region */
#define NSLOTS		8
#define UD_IO		0x10
#define UD_TAG		0x7a67

static size_t pg;

static void fill(void *p, size_t len, unsigned int seed)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		c[i] = (unsigned char)(i * 13 + seed);
}

/* Index of the first byte of @p that differs from fill(@seed), or -1. */
static long mismatch(const void *p, size_t len, unsigned int seed)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i] != (unsigned char)(i * 13 + seed))
			return i;
	return -1;
}

static bool all_bytes(const void *p, size_t len, unsigned char v)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (c[i] != v)
			return false;
	return true;
}

/* Submit @sqe's request (user_data UD_IO) and return its CQE's res. */
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

static int write_fixed(struct io_uring *ring, int fd, unsigned int slot,
		       __u64 slot_off, unsigned int len, __u64 file_off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	kmbuf_prep_write_fixed(sqe, fd, slot, slot_off, len, file_off);
	sqe->user_data = UD_IO;
	return run_one(ring);
}

static int read_fixed(struct io_uring *ring, int fd, unsigned int slot,
		      __u64 slot_off, unsigned int len, __u64 file_off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	kmbuf_prep_read_fixed(sqe, fd, slot, slot_off, len, file_off);
	sqe->user_data = UD_IO;
	return run_one(ring);
}

/* The next CQE within @ms milliseconds: 0, or -ETIME if none came. */
static int cqe_within(struct io_uring *ring, int ms, __u64 *ud, int *res)
{
	struct __kernel_timespec ts = {
		.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L,
	};
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (ret)
		return ret;
	*ud = cqe->user_data;
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

/* An unnamed file on the guest's tmpfs. */
static int tmpfile_open(int extra)
{
	return open("/tmp", O_TMPFILE | O_RDWR | extra, 0600);
}

/* Does the ring's fdinfo list slot @slot as a kernel buffer of @len bytes? */
static bool fdinfo_has_buf(int ring_fd, unsigned int slot, size_t len)
{
	char path[64], line[256], want[64];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ring_fd);
	snprintf(want, sizeof(want), "%5u: 0x0/%zu\n", slot, len);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		found |= !strcmp(line, want);
	fclose(f);
	return found;
}

/* Put @pg bytes of user memory into the empty slot @slot: 1, or -errno. */
static int user_slot(int ring_fd, unsigned int slot, void *mem)
{
	struct iovec iov = { mem, pg };
	struct io_uring_rsrc_update2 up = {
		.offset = slot, .data = (uintptr_t)&iov, .nr = 1,
	};

	return kmbuf_io_uring_register(ring_fd, IORING_REGISTER_BUFFERS_UPDATE,
				       &up, sizeof(up));
}

FIXTURE(fixed) {
	struct io_uring ring;
	struct kmbuf_region rw, ro;
	int fd;
};

FIXTURE_SETUP(fixed)
{
	int ret;

	pg = sysconf(_SC_PAGESIZE);
	ret = io_uring_queue_init(16, &self->ring, 0);
	if (ret == -EPERM)
		SKIP(return, "io_uring is disabled");
	ASSERT_EQ(0, ret);
	self->fd = self->ring.ring_fd;
	if (kmbuf_region_probe(self->fd))
		SKIP(return, "kernel lacks the kmbuf region uapi");
	ASSERT_EQ(0, kmbuf_region_create(self->fd, RW_ID, NPAGES * pg, 0, 0,
					 &self->rw));
	ASSERT_EQ(0, kmbuf_region_create(self->fd, RO_ID, NPAGES * pg,
					 IORING_MEM_REGION_RDONLY, 0,
					 &self->ro));
	ASSERT_EQ(0, kmbuf_fixed_table(self->fd, NSLOTS));
}

FIXTURE_TEARDOWN(fixed)
{
	io_uring_queue_exit(&self->ring);
}

/*
 * A slot over pages 2..9 of the writable region: WRITE_FIXED sends what
 * the mapping holds at region offset 2 * pg + addr, READ_FIXED lands there;
 * addr is an offset into the slot, not a user address.
 */
TEST_F(fixed, file_round_trip)
{
	unsigned char *r = self->rw.addr, *buf;
	size_t slot_len = 8 * pg, base = 2 * pg;
	int fd;

	buf = malloc(4 * pg);
	ASSERT_NE(NULL, buf);
	fd = tmpfile_open(0);
	ASSERT_LE(0, fd);
	fill(r, NPAGES * pg, 1);
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 0, RW_ID, base, slot_len,
					0));

	/* unaligned, across page boundaries */
	ASSERT_EQ(5000, write_fixed(&self->ring, fd, 0, pg + 100, 5000, 0));
	ASSERT_EQ(5000, pread(fd, buf, 5000, 0));
	EXPECT_EQ(0, memcmp(buf, r + base + pg + 100, 5000));

	fill(buf, 6000, 77);
	ASSERT_EQ(6000, pwrite(fd, buf, 6000, 3 * pg));
	ASSERT_EQ(6000, read_fixed(&self->ring, fd, 0, 3 * pg + 7, 6000,
				   3 * pg));
	EXPECT_EQ(-1, mismatch(r + base + 3 * pg + 7, 6000, 77));
	/* nothing around it moved */
	EXPECT_EQ(-1, mismatch(r, base + 3 * pg + 7, 1));

	/* the whole slot, then one byte past its end, and a user address */
	ASSERT_EQ((int)slot_len, write_fixed(&self->ring, fd, 0, 0, slot_len,
					     0));
	EXPECT_EQ(-EFAULT, write_fixed(&self->ring, fd, 0, slot_len - 100,
				       101, 0));
	EXPECT_EQ(-EFAULT, write_fixed(&self->ring, fd, 0,
				       (uintptr_t)r + base, 16, 0));
	/* an empty slot */
	EXPECT_EQ(-EFAULT, write_fixed(&self->ring, fd, 1, 0, 16, 0));

	/* fdinfo lists a kernel buffer: no user address, the slot's size */
	EXPECT_TRUE(fdinfo_has_buf(self->fd, 0, slot_len));
	close(fd);
	free(buf);
}

/* O_DIRECT on tmpfs, page-aligned, both ways. */
TEST_F(fixed, file_o_direct)
{
	unsigned char *r = self->rw.addr;
	void *buf;
	int fd;

	fd = tmpfile_open(O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		SKIP(return, "no O_DIRECT on /tmp");
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, posix_memalign(&buf, pg, 4 * pg));
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 3, RW_ID, 0, NPAGES * pg,
					0));
	fill(r, NPAGES * pg, 5);
	ASSERT_EQ((int)(4 * pg), write_fixed(&self->ring, fd, 3, 6 * pg,
					     4 * pg, 2 * pg));
	ASSERT_EQ((ssize_t)(4 * pg), pread(fd, buf, 4 * pg, 2 * pg));
	EXPECT_EQ(0, memcmp(buf, r + 6 * pg, 4 * pg));

	fill(buf, 4 * pg, 9);
	ASSERT_EQ((ssize_t)(4 * pg), pwrite(fd, buf, 4 * pg, 0));
	ASSERT_EQ((int)(4 * pg), read_fixed(&self->ring, fd, 3, 11 * pg,
					    4 * pg, 0));
	EXPECT_EQ(-1, mismatch(r + 11 * pg, 4 * pg, 9));
	close(fd);
	free(buf);
}

/*
 * A block device: kmbuf_blk's RAM disk (the test kernels have no other).
 * O_DIRECT hands the region's pages to the driver in a bio as they are;
 * without it they go through the page cache.
 */
#define BLKDEV		"/dev/kmbufblk0"

TEST_F(fixed, block_device)
{
	unsigned char *r = self->rw.addr;
	void *buf;
	int fd, i;

	if (access(BLKDEV, F_OK) && system("modprobe kmbuf_blk 2>/dev/null"))
		SKIP(return, "no kmbuf_blk");
	fd = open(BLKDEV, O_RDWR | O_DIRECT);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, posix_memalign(&buf, pg, 4 * pg));
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 2, RW_ID, 4 * pg, 8 * pg,
					0));
	fill(r, NPAGES * pg, 21);
	for (i = 0; i < 2; i++) {
		/* O_DIRECT first, then through the page cache */
		ASSERT_EQ((int)(4 * pg), write_fixed(&self->ring, fd, 2,
						     2 * pg, 4 * pg, 8 * pg));
		if (i)
			ASSERT_EQ(0, fsync(fd));
		ASSERT_EQ((ssize_t)(4 * pg), pread(fd, buf, 4 * pg, 8 * pg));
		EXPECT_EQ(0, memcmp(buf, r + 6 * pg, 4 * pg));

		fill(buf, 4 * pg, 33 + i);
		ASSERT_EQ((ssize_t)(4 * pg), pwrite(fd, buf, 4 * pg, 0));
		if (i)
			ASSERT_EQ(0, fsync(fd));
		ASSERT_EQ((int)(2 * pg), read_fixed(&self->ring, fd, 2, pg,
						    2 * pg, pg));
		EXPECT_EQ(-1, mismatch(r + 5 * pg, 2 * pg, 33 + i));
		EXPECT_EQ(0, memcmp(r + 5 * pg, (char *)buf + pg, 2 * pg));
		if (!i) {
			close(fd);
			fd = open(BLKDEV, O_RDWR);
			ASSERT_LE(0, fd);
		}
	}
	close(fd);
	free(buf);
}

/*
 * Offsets and lengths in every position relative to page boundaries, on a
 * region that is one high-order allocation (4 MiB) and on one made of
 * single pages (3 pages), read back through the file.
 */
TEST_F(fixed, offsets)
{
	static const struct { size_t id, pages; } regs[] = {
		{ 3, 1024 }, { 4, 3 },
	};
	unsigned char *buf;
	unsigned int k;
	int fd;

	buf = malloc(1024 * pg);
	ASSERT_NE(NULL, buf);
	fd = tmpfile_open(0);
	ASSERT_LE(0, fd);
	for (k = 0; k < 2; k++) {
		size_t size = regs[k].pages * pg, off, len;
		struct kmbuf_region reg;
		size_t cases[][2] = {
			{ 0, 1 }, { pg - 1, 2 }, { pg, pg }, { pg + 1, pg },
			{ 0, size }, { size - 1, 1 }, { pg / 2, 2 * pg },
			{ size - pg - 3, pg + 3 }, { 2 * pg - 8, 16 },
		};
		unsigned int i;

		ASSERT_EQ(0, kmbuf_region_create(self->fd, regs[k].id, size,
						 0, 0, &reg));
		fill(reg.addr, size, 40 + k);
		ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 4 + k, regs[k].id, 0,
						size, 0));
		for (i = 0; i < ARRAY_SIZE(cases); i++) {
			off = cases[i][0];
			len = cases[i][1];
			if (off + len > size)
				continue;
			ASSERT_EQ((int)len, write_fixed(&self->ring, fd, 4 + k,
							off, len, 0));
			ASSERT_EQ((ssize_t)len, pread(fd, buf, len, 0));
			EXPECT_EQ(0, memcmp(buf, (char *)reg.addr + off, len))
				TH_LOG("region of %zu pages, %zu at %zu",
				       regs[k].pages, len, off);
		}
		/* and one read into the far end */
		fill(buf, pg + 3, 99);
		ASSERT_EQ((ssize_t)(pg + 3), pwrite(fd, buf, pg + 3, 0));
		ASSERT_EQ((int)(pg + 3), read_fixed(&self->ring, fd, 4 + k,
						    size - pg - 3, pg + 3, 0));
		EXPECT_EQ(-1, mismatch((char *)reg.addr + size - pg - 3,
				       pg + 3, 99));
		kmbuf_region_unmap(&reg);
	}
	close(fd);
	free(buf);
}

/*
 * A read-only region's slot is a source only.  WRITE_FIXED sends what the
 * kernel put in the region (zeroes, at allocation); READ_FIXED fails with
 * EFAULT before touching anything, on the whole slot or a byte of it.
 */
TEST_F(fixed, read_only_is_source_only)
{
	unsigned char *buf;
	int fd;

	buf = malloc(4 * pg);
	ASSERT_NE(NULL, buf);
	fd = tmpfile_open(0);
	ASSERT_LE(0, fd);
	memset(buf, 0x5a, 4 * pg);
	ASSERT_EQ((ssize_t)(4 * pg), pwrite(fd, buf, 4 * pg, 0));
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 1, RO_ID, pg, 4 * pg, 0));

	EXPECT_EQ(-EFAULT, read_fixed(&self->ring, fd, 1, 0, 4 * pg, 0));
	EXPECT_EQ(-EFAULT, read_fixed(&self->ring, fd, 1, 5, 1, 0));
	EXPECT_TRUE(all_bytes(self->ro.addr, NPAGES * pg, 0));

	ASSERT_EQ((int)(3 * pg), write_fixed(&self->ring, fd, 1, pg, 3 * pg,
					     0));
	ASSERT_EQ((ssize_t)(4 * pg), pread(fd, buf, 4 * pg, 0));
	EXPECT_TRUE(all_bytes(buf, 3 * pg, 0));
	EXPECT_TRUE(all_bytes(buf + 3 * pg, pg, 0x5a));

	/* the same pages through a writable region's slot: both ways */
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 2, RW_ID, pg, 4 * pg, 0));
	EXPECT_EQ((int)pg, read_fixed(&self->ring, fd, 2, 0, pg, 3 * pg));
	EXPECT_TRUE(all_bytes((char *)self->rw.addr + pg, pg, 0x5a));
	close(fd);
	free(buf);
}

static int update2(int ring_fd, unsigned int opcode, __u32 offset,
		   __u32 resv, const void *data, const void *tags, __u32 nr,
		   __u32 resv2)
{
	struct io_uring_rsrc_update2 up = {
		.offset = offset, .resv = resv, .data = (uintptr_t)data,
		.tags = (uintptr_t)tags, .nr = nr, .resv2 = resv2,
	};

	return kmbuf_io_uring_register(ring_fd, opcode, &up, sizeof(up));
}

static int region_buf(int ring_fd, unsigned int slot, __u32 id, __u64 off,
		      __u64 len, __u32 flags, __u64 resv)
{
	struct io_uring_region_buf rb = {
		.region_id = id, .flags = flags, .offset = off, .len = len,
		.resv = resv,
	};

	return kmbuf_fixed_regions(ring_fd, slot, &rb, NULL, 1);
}

TEST_F(fixed, bad_inputs)
{
	struct io_uring_region_buf rbs[3] = {
		{ .region_id = RW_ID, .len = pg },
		{ .region_id = RW_ID, .len = pg, .offset = NPAGES * pg },
		{ .region_id = RW_ID, .len = pg },
	};
	void *mem = aligned_alloc(pg, pg);
	int fd = self->fd, i, tfd;
	struct io_uring other;

	/* descriptors */
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, 0, pg, 1, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, 0, pg, 1U << 31, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, 0, pg, 0, 1));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, IORING_MEM_REGION_NR_IDS, 0, pg,
				      0, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, ~0U, 0, pg, 0, 0));
	EXPECT_EQ(-ENOENT, region_buf(fd, 0, 9, 0, pg, 0, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, 0, 0, 0, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, 0, pg + 1, 0, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, 0, pg - 1, 0, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, 1, pg, 0, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, pg / 2, pg, 0, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, NPAGES * pg, pg, 0, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, pg, NPAGES * pg, 0, 0));
	EXPECT_EQ(-EINVAL, region_buf(fd, 0, RW_ID, 0, (1ULL << 30) + pg, 0,
				      0));
	EXPECT_EQ(-EOVERFLOW, region_buf(fd, 0, RW_ID, -(__u64)pg, 2 * pg, 0,
					 0));
	/* the table: slot range, its overflow, unreadable arrays */
	EXPECT_EQ(-EINVAL, region_buf(fd, NSLOTS, RW_ID, 0, pg, 0, 0));
	EXPECT_EQ(-EINVAL, kmbuf_fixed_regions(fd, NSLOTS - 1, rbs, NULL, 2));
	EXPECT_EQ(-EOVERFLOW, kmbuf_fixed_regions(fd, ~0U, rbs, NULL, 2));
	EXPECT_EQ(-EFAULT, kmbuf_fixed_regions(fd, 0, (void *)8, NULL, 1));
	EXPECT_EQ(-EFAULT, kmbuf_fixed_regions(fd, 0, rbs, (void *)8, 1));
	/* flags: only IORING_RSRC_UPDATE_MEM_REGION, and only for buffers */
	EXPECT_EQ(-EINVAL, update2(fd, IORING_REGISTER_BUFFERS_UPDATE, 0,
				   IORING_RSRC_UPDATE_MEM_REGION | 1, rbs,
				   NULL, 1, 0));
	EXPECT_EQ(-EINVAL, update2(fd, IORING_REGISTER_BUFFERS_UPDATE, 0,
				   1U << 30, rbs, NULL, 1, 0));
	EXPECT_EQ(-EINVAL, update2(fd, IORING_REGISTER_BUFFERS_UPDATE, 0,
				   IORING_RSRC_UPDATE_MEM_REGION, rbs, NULL, 1,
				   1));
	EXPECT_EQ(-EINVAL, update2(fd, IORING_REGISTER_BUFFERS_UPDATE, 0,
				   IORING_RSRC_UPDATE_MEM_REGION, rbs, NULL, 0,
				   0));
	EXPECT_EQ(-EINVAL, update2(fd, IORING_REGISTER_FILES_UPDATE2, 0,
				   IORING_RSRC_UPDATE_MEM_REGION, rbs, NULL, 1,
				   0));

	/* none of that filled a slot */
	tfd = tmpfile_open(0);
	ASSERT_LE(0, tfd);
	for (i = 0; i < NSLOTS; i++)
		EXPECT_EQ(-EFAULT, write_fixed(&self->ring, tfd, i, 0, 1, 0));

	/* a batch stops at its first bad entry and says how far it got */
	EXPECT_EQ(1, kmbuf_fixed_regions(fd, 2, rbs, NULL, 3));
	EXPECT_EQ(1, write_fixed(&self->ring, tfd, 2, 0, 1, 0));
	EXPECT_EQ(-EFAULT, write_fixed(&self->ring, tfd, 3, 0, 1, 0));
	EXPECT_EQ(-EFAULT, write_fixed(&self->ring, tfd, 4, 0, 1, 0));
	/* an occupied slot, by a region or by user memory */
	EXPECT_EQ(-EBUSY, region_buf(fd, 2, RO_ID, 0, pg, 0, 0));
	ASSERT_NE(NULL, mem);
	ASSERT_EQ(1, user_slot(fd, 5, mem));
	EXPECT_EQ(-EBUSY, region_buf(fd, 5, RW_ID, 0, pg, 0, 0));
	ASSERT_EQ(0, kmbuf_fixed_clear(fd, 5));
	/* emptied, a slot takes a region again */
	ASSERT_EQ(0, kmbuf_fixed_clear(fd, 2));
	EXPECT_EQ(1, region_buf(fd, 2, RO_ID, 0, pg, 0, 0));
	close(tfd);

	/* a ring without a table */
	ASSERT_EQ(0, io_uring_queue_init(4, &other, 0));
	EXPECT_EQ(-ENXIO, region_buf(other.ring_fd, 0, 0, 0, pg, 0, 0));
	io_uring_queue_exit(&other);
	free(mem);
}

/*
 * Emptying a slot while a READ_FIXED into it waits on an empty pipe: the
 * read still completes into the region, and the slot's tag, posted when
 * its buffer is released, comes only after the read's CQE.
 */
TEST_F(fixed, clear_slot_in_flight)
{
	unsigned char data[3000];
	struct io_uring_sqe *sqe;
	int pfd[2], res, fd;
	__u64 ud;

	ASSERT_EQ(0, pipe(pfd));
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 6, RW_ID, 4 * pg, 4 * pg,
					UD_TAG));
	memset(self->rw.addr, 0, NPAGES * pg);
	sqe = io_uring_get_sqe(&self->ring);
	kmbuf_prep_read_fixed(sqe, pfd[0], 6, pg + 10, sizeof(data), 0);
	sqe->user_data = UD_IO;
	ASSERT_EQ(1, io_uring_submit(&self->ring));
	EXPECT_EQ(-ETIME, cqe_within(&self->ring, 100, &ud, &res));

	ASSERT_EQ(0, kmbuf_fixed_clear(self->fd, 6));
	/* the slot is empty for new requests at once */
	fd = tmpfile_open(0);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-EFAULT, write_fixed(&self->ring, fd, 6, 0, 1, 0));
	/* but the buffer is not released while the read waits */
	EXPECT_EQ(-ETIME, cqe_within(&self->ring, 200, &ud, &res));

	fill(data, sizeof(data), 3);
	ASSERT_EQ((ssize_t)sizeof(data), write(pfd[1], data, sizeof(data)));
	ASSERT_EQ(0, cqe_within(&self->ring, 5000, &ud, &res));
	EXPECT_EQ(UD_IO, ud);
	EXPECT_EQ((int)sizeof(data), res);
	ASSERT_EQ(0, cqe_within(&self->ring, 5000, &ud, &res));
	EXPECT_EQ(UD_TAG, ud);
	EXPECT_EQ(0, res);
	EXPECT_EQ(-1, mismatch((char *)self->rw.addr + 5 * pg + 10,
			       sizeof(data), 3));

	/* the same slot takes a region again */
	EXPECT_EQ(0, kmbuf_fixed_region(self->fd, 6, RO_ID, 0, pg, 0));
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
}

/*
 * An iovec update replaces a region slot with user memory, releasing the
 * region's buffer (its tag is posted); after IORING_UNREGISTER_BUFFERS a
 * new table takes region slots again.  (That unregistering releases them
 * is clone_keeps_region's to show.)
 */
TEST_F(fixed, replace_and_unregister)
{
	void *mem = aligned_alloc(pg, pg);
	__u64 tags[2] = { UD_TAG, UD_TAG + 1 }, ud;
	int res, fd;

	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 0, RW_ID, 0, pg, tags[0]));
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 1, RO_ID, 0, pg, tags[1]));
	ASSERT_EQ(1, user_slot(self->fd, 0, mem));
	ASSERT_EQ(0, cqe_within(&self->ring, 2000, &ud, &res));
	EXPECT_EQ(UD_TAG, ud);
	/* slot 0 is user memory now: its address is a user address again */
	fd = tmpfile_open(0);
	ASSERT_LE(0, fd);
	fill(mem, pg, 8);
	EXPECT_EQ(-EFAULT, write_fixed(&self->ring, fd, 0, 0, 16, 0));
	EXPECT_EQ(16, write_fixed(&self->ring, fd, 0, (uintptr_t)mem, 16, 0));

	ASSERT_EQ(0, kmbuf_io_uring_register(self->fd,
					     IORING_UNREGISTER_BUFFERS,
					     NULL, 0));
	/* a new table takes the regions again */
	ASSERT_EQ(0, kmbuf_fixed_table(self->fd, 2));
	EXPECT_EQ(0, kmbuf_fixed_region(self->fd, 1, RO_ID, 0, pg, 0));
	close(fd);
	free(mem);
}

/* User memory regions (IORING_MEM_REGION_TYPE_USER) work the same way. */
TEST_F(fixed, user_memory_region)
{
	unsigned char *mem = aligned_alloc(pg, 4 * pg), *buf = malloc(pg);
	int fd;

	ASSERT_NE(NULL, mem);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, kmbuf_region_register_user(self->fd, 5, mem, 4 * pg, 0));
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 7, 5, pg, 3 * pg, 0));
	fd = tmpfile_open(0);
	ASSERT_LE(0, fd);
	fill(mem, 4 * pg, 12);
	ASSERT_EQ(100, write_fixed(&self->ring, fd, 7, pg - 50, 100, 0));
	ASSERT_EQ(100, pread(fd, buf, 100, 0));
	EXPECT_EQ(0, memcmp(buf, mem + 2 * pg - 50, 100));
	fill(buf, pg, 51);
	ASSERT_EQ((ssize_t)pg, pwrite(fd, buf, pg, 0));
	ASSERT_EQ((int)pg, read_fixed(&self->ring, fd, 7, 2 * pg, pg, 0));
	EXPECT_EQ(-1, mismatch(mem + 3 * pg, pg, 51));
	close(fd);
	io_uring_queue_exit(&self->ring);	/* unpins mem before the free */
	ASSERT_EQ(0, io_uring_queue_init(4, &self->ring, 0));
	free(mem);
	free(buf);
}

/*
 * A clone shares the slots: the source ring and its mappings gone, the
 * clone still reads and writes the region's pages, and a read-only
 * region's slot is still a source only.
 */
TEST_F(fixed, clone)
{
	struct io_uring_clone_buffers cb = { .src_fd = self->fd };
	unsigned char *buf = malloc(2 * pg);
	struct io_uring dst;
	int fd, pfd[2];

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pipe(pfd));
	fd = tmpfile_open(0);
	ASSERT_LE(0, fd);
	fill(self->rw.addr, NPAGES * pg, 61);
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 0, RW_ID, 2 * pg, 2 * pg,
					0));
	ASSERT_EQ(0, kmbuf_fixed_region(self->fd, 1, RO_ID, 0, pg, 0));
	ASSERT_EQ(0, io_uring_queue_init(4, &dst, 0));
	ASSERT_EQ(0, kmbuf_io_uring_register(dst.ring_fd,
					     IORING_REGISTER_CLONE_BUFFERS,
					     &cb, 1));

	/* the source goes: ring and mappings */
	kmbuf_region_unmap(&self->rw);
	kmbuf_region_unmap(&self->ro);
	io_uring_queue_exit(&self->ring);

	ASSERT_EQ((int)(2 * pg), write_fixed(&dst, fd, 0, 0, 2 * pg, 0));
	ASSERT_EQ((ssize_t)(2 * pg), pread(fd, buf, 2 * pg, 0));
	EXPECT_EQ(-1, mismatch(buf, 2 * pg, (unsigned char)(61 + 2 * pg * 13)));
	EXPECT_EQ(-EFAULT, read_fixed(&dst, fd, 1, 0, pg, 0));

	/* pipe -> slot 0 -> file: the pages are alive and shared */
	fill(buf, 300, 17);
	ASSERT_EQ(300, write(pfd[1], buf, 300));
	ASSERT_EQ(300, read_fixed(&dst, pfd[0], 0, pg + 1, 300, 0));
	ASSERT_EQ(300, write_fixed(&dst, fd, 0, pg + 1, 300, 4 * pg));
	memset(buf, 0, 300);
	ASSERT_EQ(300, pread(fd, buf, 300, 4 * pg));
	EXPECT_EQ(-1, mismatch(buf, 300, 17));

	io_uring_queue_exit(&dst);
	ASSERT_EQ(0, io_uring_queue_init(4, &self->ring, 0));
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	free(buf);
}

/*
 * Run @fn as an unprivileged user with RLIMIT_MEMLOCK of @pages pages, so
 * that regions are charged; returns its exit status.
 */
static int run_charged(int (*fn)(void), unsigned int pages)
{
	struct rlimit rl = { pages * pg, pages * pg };
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(65534) ||
		    setuid(65534))
			_exit(100);
		_exit(fn());
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/* Can a fresh ring get a region of @pages pages now? 0 or -errno. */
static int can_charge(unsigned int pages)
{
	struct kmbuf_region r;
	struct io_uring ring;
	int ret;

	if (io_uring_queue_init(2, &ring, 0))
		return -EIO;
	ret = kmbuf_region_create(ring.ring_fd, 0, pages * pg, 0, 0, &r);
	if (!ret)
		kmbuf_region_unmap(&r);
	io_uring_queue_exit(&ring);
	return ret;
}

/* Wait up to 4 s for the charge of freed rings to come back. */
static int charge_back(unsigned int pages)
{
	int i;

	for (i = 0; i < 80; i++) {
		if (!can_charge(pages))
			return 0;
		usleep(50 * 1000);
	}
	return -1;
}

/*
 * Closing a ring while a READ_FIXED into its region slot waits on a pipe:
 * the request is cancelled (the pipe keeps its data), then the ring, the
 * slot and the region go, and with them the region's charge.
 */
static int close_in_flight(void)
{
	struct io_uring_sqe *sqe;
	struct kmbuf_region r;
	struct io_uring ring;
	char c[8];
	int pfd[2];

	if (pipe(pfd) || io_uring_queue_init(4, &ring, 0))
		return 1;
	if (kmbuf_region_create(ring.ring_fd, 1, 16 * pg, 0, 0, &r) ||
	    kmbuf_fixed_table(ring.ring_fd, 1) ||
	    kmbuf_fixed_region(ring.ring_fd, 0, 1, 0, 16 * pg, 0))
		return 2;
	if (can_charge(1) != -ENOMEM)		/* the limit is used up */
		return 3;
	sqe = io_uring_get_sqe(&ring);
	kmbuf_prep_read_fixed(sqe, pfd[0], 0, 5, 8, 0);
	if (io_uring_submit(&ring) != 1)
		return 4;
	usleep(100 * 1000);
	kmbuf_region_unmap(&r);
	io_uring_queue_exit(&ring);
	if (charge_back(16))
		return 5;
	if (write(pfd[1], "12345678", 8) != 8 || read(pfd[0], c, 8) != 8 ||
	    memcmp(c, "12345678", 8))
		return 6;
	return 0;
}

TEST(close_ring_in_flight)
{
	pg = sysconf(_SC_PAGESIZE);
	if (geteuid())
		SKIP(return, "needs root to drop privileges");
	EXPECT_EQ(0, run_charged(close_in_flight, 16));
}

/*
 * Through slot 0 of @ring: a pipe's bytes into it with READ_FIXED, then
 * out to a file with WRITE_FIXED; 0 if the file got them.
 */
static int slot_round_trip(struct io_uring *ring)
{
	char in[512], out[512];
	int pfd[2], fd, ret = 1;

	fd = tmpfile_open(0);
	if (fd < 0 || pipe(pfd))
		return 1;
	fill(in, sizeof(in), 29);
	if (write(pfd[1], in, sizeof(in)) == sizeof(in) &&
	    read_fixed(ring, pfd[0], 0, 3 * pg + 1, sizeof(in), 0) ==
	    sizeof(in) &&
	    write_fixed(ring, fd, 0, 3 * pg + 1, sizeof(in), 0) ==
	    sizeof(in) &&
	    pread(fd, out, sizeof(out), 0) == sizeof(out))
		ret = memcmp(in, out, sizeof(in)) ? 1 : 0;
	close(fd);
	close(pfd[0]);
	close(pfd[1]);
	return ret;
}

/*
 * A slot keeps its region's RLIMIT_MEMLOCK charge and pages: cloned to
 * another ring, it outlives the source ring (I/O on the clone after the
 * source is freed reaches live pages), and the charge comes back only
 * when the clone's table is unregistered, or the clone goes.
 */
static int clone_keeps_charge(bool unregister)
{
	struct io_uring_clone_buffers cb;
	struct kmbuf_region r;
	struct io_uring src, dst;
	int i, ret;

	if (io_uring_queue_init(4, &src, 0) || io_uring_queue_init(4, &dst, 0))
		return 1;
	if (kmbuf_region_create(src.ring_fd, 1, 16 * pg, 0, 0, &r) ||
	    kmbuf_fixed_table(src.ring_fd, 1) ||
	    kmbuf_fixed_region(src.ring_fd, 0, 1, 0, 16 * pg, 0))
		return 2;
	memset(&cb, 0, sizeof(cb));
	cb.src_fd = src.ring_fd;
	if (kmbuf_io_uring_register(dst.ring_fd,
				    IORING_REGISTER_CLONE_BUFFERS, &cb, 1))
		return 3;
	kmbuf_region_unmap(&r);
	io_uring_queue_exit(&src);
	usleep(300 * 1000);	/* the source ring is freed meanwhile */
	if (slot_round_trip(&dst))
		return 8;
	/* and the charge stays */
	for (i = 0; i < 10; i++) {
		if (can_charge(1) != -ENOMEM)
			return 4;
		usleep(50 * 1000);
	}
	if (unregister) {
		if (kmbuf_io_uring_register(dst.ring_fd,
					    IORING_UNREGISTER_BUFFERS, NULL, 0))
			return 5;
		/* the clone ring stays open: its slot's release did it */
		ret = charge_back(16) ? 6 : 0;
		io_uring_queue_exit(&dst);
		return ret;
	}
	io_uring_queue_exit(&dst);
	return charge_back(16) ? 7 : 0;
}

static int clone_keeps_charge_close(void)
{
	return clone_keeps_charge(false);
}

static int clone_keeps_charge_unregister(void)
{
	return clone_keeps_charge(true);
}

TEST(clone_keeps_region)
{
	pg = sysconf(_SC_PAGESIZE);
	if (geteuid())
		SKIP(return, "needs root to drop privileges");
	EXPECT_EQ(0, run_charged(clone_keeps_charge_close, 16));
	EXPECT_EQ(0, run_charged(clone_keeps_charge_unregister, 16));
}

/*
 * kmbuf_chr generator records arrive in the buffers of a read-only
 * region; each one goes to a file with WRITE_FIXED straight from its
 * buffer, and the buffer goes back after the write's CQE.  The file then
 * holds every record, in order.
 */
#define CHR_REC		4096U
#define CHR_NBUF	8U
#define CHR_RECORDS	200U
#define UD_ARM		0x1000
#define UD_WRITE	0x2000	/* + bid */

TEST(chr_to_file)
{
	unsigned int done = 0, written = 0, inflight = 0;
	struct kmbuf_region reg;
	__u64 seq_of[CHR_NBUF];
	struct rx rx;
	char *buf;
	int cfd, fd;

	pg = sysconf(_SC_PAGESIZE);
	cfd = chr_open(O_RDWR);
	if (cfd < 0)
		SKIP(return, "no /dev/kmbuf_chr");
	ASSERT_EQ(0, chr_set_mode(cfd, KMBUF_CHR_MODE_GEN, CHR_REC, 0));
	ASSERT_EQ(0, rx_init(&rx, 32, 64, 0));
	ASSERT_EQ(0, kmbuf_region_create(rx.ring.ring_fd, 1,
					 CHR_NBUF * CHR_REC,
					 IORING_MEM_REGION_RDONLY, 0, &reg));
	ASSERT_EQ(0, kmbuf_fixed_table(rx.ring.ring_fd, 1));
	ASSERT_EQ(0, kmbuf_fixed_region(rx.ring.ring_fd, 0, 1, 0,
					CHR_NBUF * CHR_REC, 0));
	fd = tmpfile_open(0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, rx_bind(&rx, cfd, 1, 0, CHR_REC, CHR_NBUF));
	ASSERT_EQ(0, rx_arm(&rx, cfd, UD_ARM));

	while (written < CHR_RECORDS) {
		struct io_uring_sqe *sqe;
		struct rx_cqe c;
		__u32 bid;

		ASSERT_EQ(0, rx_next(&rx, &c));
		if (c.ud == UD_ARM) {
			ASSERT_TRUE(c.flags & IORING_CQE_F_MORE)
				TH_LOG("ARM ended: %d", c.res);
			ASSERT_TRUE(c.flags & IORING_CQE_F_BUFFER);
			ASSERT_EQ((int)CHR_REC, c.res);
			bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
			ASSERT_LT(bid, CHR_NBUF);
			if (done >= CHR_RECORDS) {
				/* more than we need: straight back */
				ASSERT_EQ(1, rx_return(&rx, cfd, &bid, 1));
				continue;
			}
			seq_of[bid] = done++;
			sqe = rx_sqe(&rx);
			ASSERT_NE(NULL, sqe);
			kmbuf_prep_write_fixed(sqe, fd, 0, (__u64)bid * CHR_REC,
					       CHR_REC, seq_of[bid] * CHR_REC);
			sqe->user_data = UD_WRITE + bid;
			ASSERT_LE(0, io_uring_submit(&rx.ring));
			inflight++;
			continue;
		}
		ASSERT_GE(c.ud, UD_WRITE);
		ASSERT_LT(c.ud, UD_WRITE + CHR_NBUF);
		ASSERT_EQ((int)CHR_REC, c.res);
		bid = c.ud - UD_WRITE;
		inflight--;
		written++;
		/* the write is done with the buffer: give it back */
		ASSERT_EQ(1, rx_return(&rx, cfd, &bid, 1));
	}
	EXPECT_EQ(0, inflight);
	ASSERT_EQ(0, rx_unbind(&rx, cfd));

	buf = malloc(CHR_REC);
	ASSERT_NE(NULL, buf);
	for (done = 0; done < CHR_RECORDS; done++) {
		ASSERT_EQ((ssize_t)CHR_REC,
			  pread(fd, buf, CHR_REC, (off_t)done * CHR_REC));
		ASSERT_EQ(-1, gen_mismatch(buf, CHR_REC, CHR_REC, done))
			TH_LOG("record %u", done);
	}
	free(buf);
	close(fd);
	kmbuf_region_unmap(&reg);
	rx_exit(&rx);
	close(cfd);
}

TEST_HARNESS_MAIN
