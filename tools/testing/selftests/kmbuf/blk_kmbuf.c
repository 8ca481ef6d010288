// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_blk: verified zero-copy reads into read-only kmbuf buffers.
 *
 * Data integrity against a reference pattern at queue depth > 1, checksum
 * failures (-EBADMSG, EILSEQ for read(2)) confined to the corrupted block,
 * KMBUF_BLK_WRITE from a region, page cache coherence with buffered I/O,
 * read-only buffers while reads are in flight, every documented errno,
 * buffer exhaustion, teardown with commands in flight (ring exit, close,
 * unbind, process exit) and module removal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "blk_util.h"
#include "../kselftest_harness.h"

#define BS		4096U			/* module default */
#define NBUF		32U
#define BUFSZ		(128U * 1024)
#define RO_ID		1
#define RO_SIZE		((NBUF + 2) * BUFSZ)	/* two spare buffers */
#define RW_ID		2
#define RW_SIZE		(1024U * 1024)
#define AREA		(8ULL << 20)		/* device bytes the tests use */
#define SEED		0x1234
#define SEGV_EXIT	77
#define CHR_BUFSZ	(64U * 1024)		/* kmbuf_chr's largest */

struct blk_ctx {
	struct io_uring		ring;
	struct kmbuf_region	ro;
	int			fd;
};

static int ctx_init(struct blk_ctx *c, int flags)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE,
				     .cq_entries = 1024 };
	int ret;

	ret = blk_load();
	if (ret)
		return ret;
	c->fd = open(BLK_DEV, flags);
	if (c->fd < 0)
		return -errno;
	ret = io_uring_queue_init_params(128, &c->ring, &p);
	if (ret)
		return ret;
	ret = kmbuf_region_create(c->ring.ring_fd, RO_ID, RO_SIZE,
				  IORING_MEM_REGION_RDONLY, 0, &c->ro);
	if (ret)
		return ret;
	return blk_bind(&c->ring, c->fd, RO_ID, 0, BUFSZ, NBUF);
}

static void ctx_exit(struct blk_ctx *c)
{
	kmbuf_region_unmap(&c->ro);
	io_uring_queue_exit(&c->ring);
	close(c->fd);
}

static const void *ro_buf(struct blk_ctx *c, unsigned int bid)
{
	return (const char *)c->ro.addr + (size_t)bid * BUFSZ;
}

static unsigned int cqe_bid(__u32 cflags)
{
	return cflags >> IORING_CQE_BUFFER_SHIFT;
}

/* Byte of the first pattern mismatch in the buffer a CQE named, or -1. */
static long buf_check(struct blk_ctx *c, __u32 cflags, __u64 off, size_t len,
		      __u64 seed)
{
	return blk_pattern_check(ro_buf(c, cqe_bid(cflags)), off, len, seed);
}

/* Write the pattern over [off, off + len) with O_DIRECT pwrite. */
static int write_pattern(int fd, __u64 off, size_t len, __u64 seed)
{
	void *buf;
	int ret = 0;

	if (posix_memalign(&buf, BS, len))
		return -ENOMEM;
	blk_pattern_fill(buf, off, len, seed);
	if (pwrite(fd, buf, len, off) != (ssize_t)len)
		ret = -errno;
	free(buf);
	return ret;
}

/* A counter from kmbufblk0's debugfs stats, or -1. */
static long long blk_stat(const char *name)
{
	char line[128];
	long long v = -1;
	FILE *f;

	f = fopen(BLK_DBG "stats", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, strlen(name)) &&
		    line[strlen(name)] == ':')
			v = atoll(line + strlen(name) + 1);
	fclose(f);
	return v;
}

static void segv_exit(int sig)
{
	_exit(SEGV_EXIT);
}

FIXTURE(blk) {
	struct blk_ctx c;
};

FIXTURE_SETUP(blk)
{
	int ret;

	ret = ctx_init(&self->c, O_RDWR | O_DIRECT);
	if (ret == -ENODEV)
		SKIP(return, "kmbuf_blk not available");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, blk_dbg_write("delay_us", 0));
	ASSERT_EQ(0, write_pattern(self->c.fd, 0, AREA, SEED));
}

FIXTURE_TEARDOWN(blk)
{
	blk_dbg_write("delay_us", 0);
	ctx_exit(&self->c);
}

/*
 * Random verified reads at queue depth 32 (with a completion delay, so
 * they really are in flight together) match the pattern; every buffer is
 * returned and reused.
 */
TEST_F(blk, integrity)
{
	struct blk_ctx *c = &self->c;
	unsigned int done = 0, submitted = 0, total = 512;
	unsigned int free_slots[NBUF], nr_free = NBUF;
	__u64 offs[NBUF];
	__u32 lens[NBUF];
	unsigned int i;

	for (i = 0; i < NBUF; i++)
		free_slots[i] = i;
	ASSERT_EQ(0, blk_dbg_write("delay_us", 500));
	srand(42);
	while (done < total) {
		__u64 ud;
		__u32 fl;
		int res;

		while (nr_free && submitted < total) {
			unsigned int slot = free_slots[--nr_free];

			lens[slot] = BS * (1 + rand() % (BUFSZ / BS));
			offs[slot] = (__u64)BS *
				     (rand() % ((AREA - lens[slot]) / BS));
			ASSERT_EQ(0, blk_queue(&c->ring, c->fd, KMBUF_BLK_READ,
					       offs[slot], lens[slot], 0, 0,
					       slot));
			submitted++;
		}
		ASSERT_LE(0, io_uring_submit(&c->ring));
		do {
			ASSERT_EQ(0, blk_reap(&c->ring, &ud, &res, &fl));
			ASSERT_LT(ud, NBUF);
			ASSERT_EQ((int)lens[ud], res);
			ASSERT_TRUE(fl & IORING_CQE_F_BUFFER);
			ASSERT_LT(cqe_bid(fl), NBUF);
			EXPECT_EQ(-1, buf_check(c, fl, offs[ud], lens[ud], SEED));
			ASSERT_EQ(1, blk_return(&c->ring, c->fd, cqe_bid(fl)));
			free_slots[nr_free++] = ud;
			done++;
		} while (blk_ready(&c->ring));
	}
}

/* The disk is a normal disk too: buffered and O_DIRECT I/O round-trip. */
TEST_F(blk, normal_io)
{
	char *buf;
	int fd;

	ASSERT_EQ(0, posix_memalign((void **)&buf, BS, 1 << 20));
	fd = open(BLK_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	blk_pattern_fill(buf, 1 << 20, 1 << 20, 77);
	ASSERT_EQ(1 << 20, pwrite(fd, buf, 1 << 20, 1 << 20));
	ASSERT_EQ(0, fsync(fd));
	close(fd);
	memset(buf, 0, 1 << 20);
	/* O_DIRECT and the verified read see what went through the cache */
	ASSERT_EQ(1 << 20, pread(self->c.fd, buf, 1 << 20, 1 << 20));
	EXPECT_EQ(-1, blk_pattern_check(buf, 1 << 20, 1 << 20, 77));
	free(buf);
}

#define DD	"dd 2>/dev/null bs=4k "
#define TMPF	"/tmp/kmbuf_blk.dd"

/* mkfs and dd work; the verified read sees what they wrote. */
TEST_F(blk, mkfs_dd)
{
	struct blk_ctx *c = &self->c;
	const unsigned char *sb;
	__u32 fl;

	if (system("command -v mke2fs >/dev/null"))
		SKIP(return, "no mke2fs");
	ASSERT_EQ(0, system("mke2fs -q -F -b 4096 " BLK_DEV " 2048 >/dev/null"));
	/* it wrote through the page cache, which the commands bypass */
	ASSERT_EQ(0, fsync(c->fd));
	/* the ext2 superblock magic 0xef53 at byte 1024 + 56 */
	ASSERT_EQ((int)BS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, 0, BS, 0,
				   0, &fl));
	sb = ro_buf(c, cqe_bid(fl));
	EXPECT_EQ(0x53, sb[1024 + 56]);
	EXPECT_EQ(0xef, sb[1024 + 57]);
	ASSERT_EQ(0, system(DD "if=/dev/urandom of=" TMPF " count=64"));
	ASSERT_EQ(0, system(DD "if=" TMPF " of=" BLK_DEV " seek=4096 conv=fsync"));
	ASSERT_EQ(0, system(DD "if=" BLK_DEV " skip=4096 count=64 | cmp - " TMPF));
	unlink(TMPF);
}

/*
 * A corrupted block fails verified reads that cover it with EBADMSG and
 * gives the buffer back; its neighbours and the rest of the disk still
 * read fine; read(2) sees EILSEQ; rewriting the block repairs it.
 */
TEST_F(blk, corruption)
{
	struct blk_ctx *c = &self->c;
	const __u64 bad = 100;
	unsigned int i;
	__u32 fl;
	char *buf;
	int res;

	ASSERT_EQ(0, blk_dbg_write("corrupt", bad));

	fl = ~0U;
	EXPECT_EQ(-EBADMSG, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ,
				    bad * BS, BS, 0, 0, &fl));
	EXPECT_EQ(0, fl & IORING_CQE_F_BUFFER);
	EXPECT_EQ(-EBADMSG, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ,
				    (bad - 4) * BS, 8 * BS, 0, 0, &fl));

	/* neighbours are fine */
	for (i = 0; i < 2; i++) {
		__u64 off = (i ? bad + 1 : bad - 1) * BS;

		res = blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, off, BS, 0, 0,
			      &fl);
		ASSERT_EQ((int)BS, res);
		EXPECT_EQ(-1, buf_check(c, fl, off, BS, SEED));
		ASSERT_EQ(1, blk_return(&c->ring, c->fd, cqe_bid(fl)));
	}

	/* the failed reads took no buffer: all NBUF can still be taken */
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ((int)BS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ,
					   0, BS, 0, 0, NULL));
	EXPECT_EQ(-ENOBUFS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, 0, BS,
				    0, 0, NULL));

	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(1, blk_return(&c->ring, c->fd, i));

	/* read(2) fails on that block only */
	ASSERT_EQ(0, posix_memalign((void **)&buf, BS, AREA));
	errno = 0;
	EXPECT_EQ(-1, pread(c->fd, buf, BS, bad * BS));
	EXPECT_EQ(EILSEQ, errno);
	ASSERT_EQ(bad * BS, pread(c->fd, buf, bad * BS, 0));
	EXPECT_EQ(-1, blk_pattern_check(buf, 0, bad * BS, SEED));
	ASSERT_EQ(AREA - (bad + 1) * BS,
		  pread(c->fd, buf, AREA - (bad + 1) * BS, (bad + 1) * BS));
	EXPECT_EQ(-1, blk_pattern_check(buf, (bad + 1) * BS,
					AREA - (bad + 1) * BS, SEED));
	free(buf);

	/* a write stores a fresh checksum */
	ASSERT_EQ(0, write_pattern(c->fd, bad * BS, BS, SEED));
	res = blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, bad * BS, BS, 0, 0,
		      &fl);
	ASSERT_EQ((int)BS, res);
	EXPECT_EQ(-1, buf_check(c, fl, bad * BS, BS, SEED));
	EXPECT_EQ(-ERANGE, blk_dbg_write("corrupt", 1ULL << 40));
}

/* KMBUF_BLK_WRITE from a writable region, then a verified read. */
TEST_F(blk, write_then_read)
{
	struct blk_ctx *c = &self->c;
	struct kmbuf_region rw;
	const __u64 dev_off = 3 << 20;
	const __u32 len = 96 * 1024;
	const __u64 src = 8192 + 512;	/* not page aligned */
	char *buf;
	__u32 fl;
	int res, fd2;

	ASSERT_EQ(0, kmbuf_region_create(c->ring.ring_fd, RW_ID, RW_SIZE, 0,
					 0, &rw));
	blk_pattern_fill((char *)rw.addr + src, dev_off, len, 9);
	EXPECT_EQ((int)len, blk_cmd(&c->ring, c->fd, KMBUF_BLK_WRITE, dev_off,
				    len, RW_ID, src, NULL));

	res = blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, dev_off, len, 0, 0,
		      &fl);
	ASSERT_EQ((int)len, res);
	EXPECT_EQ(-1, buf_check(c, fl, dev_off, len, 9));
	/* and the checksums were stored: O_DIRECT reads verify too */
	ASSERT_EQ(0, posix_memalign((void **)&buf, BS, len));
	ASSERT_EQ((ssize_t)len, pread(c->fd, buf, len, dev_off));
	EXPECT_EQ(-1, blk_pattern_check(buf, dev_off, len, 9));
	free(buf);
	/* around it, the old pattern */
	res = blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, dev_off - BS, BS, 0, 0,
		      &fl);
	ASSERT_EQ((int)BS, res);
	EXPECT_EQ(-1, buf_check(c, fl, dev_off - BS, BS, SEED));

	/* the read ring refuses a writable region */
	fd2 = open(BLK_DEV, O_RDONLY);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-EACCES, blk_bind(&c->ring, fd2, RW_ID, 0, BUFSZ, 4));
	/* and a read-only file cannot write */
	EXPECT_EQ(-EBADF, blk_cmd(&c->ring, fd2, KMBUF_BLK_WRITE, 0, BS, RW_ID,
				  0, NULL));
	close(fd2);
	kmbuf_region_unmap(&rw);
}

/*
 * The bytes of a region belong to one ring at a time, whichever driver
 * built it: kmbuf_chr can't bind over this disk's ring (its generator
 * would overwrite verified data), nor this driver over kmbuf_chr's.
 */
TEST_F(blk, ring_bytes_exclusive_across_drivers)
{
	struct blk_ctx *c = &self->c;
	const __u64 spare = (__u64)NBUF * BUFSZ;
	int chr_fd, fd2;

	if (access("/dev/kmbuf_chr", F_OK) && system("modprobe kmbuf_chr"))
		SKIP(return, "kmbuf_chr not available");
	chr_fd = open("/dev/kmbuf_chr", O_RDWR);
	ASSERT_LE(0, chr_fd);
	fd2 = open(BLK_DEV, O_RDONLY);
	ASSERT_LE(0, fd2);

	/* the disk's ring holds [0, spare); BIND is the same on kmbuf_chr */
	EXPECT_EQ(-EBUSY, blk_bind(&c->ring, chr_fd, RO_ID, 0, 4096, 4));
	EXPECT_EQ(-EBUSY, blk_bind(&c->ring, chr_fd, RO_ID, spare - 4096,
				   4096, 2));
	/*
	 * the two spare buffers are free: kmbuf_chr takes them (as four of
	 * its buffers: they are KMBUF_CHR_MAX_RECORD bytes at most)
	 */
	ASSERT_EQ(0, blk_bind(&c->ring, chr_fd, RO_ID, spare, CHR_BUFSZ,
			      2 * BUFSZ / CHR_BUFSZ));
	EXPECT_EQ(-EBUSY, blk_bind(&c->ring, fd2, RO_ID, spare, BUFSZ, 1));
	/* closing kmbuf_chr's file destroys its ring: the bytes are free */
	close(chr_fd);
	EXPECT_EQ(0, blk_bind(&c->ring, fd2, RO_ID, spare, BUFSZ, 2));
	close(fd2);
}

/*
 * Verified data stays stable after UNBIND: a buffer userspace still holds
 * keeps its ring's bytes reserved, so no ring of any driver (kmbuf_chr's
 * generator would write chosen bytes) can be built over them until the
 * region goes; buffers given back before UNBIND free the bytes at once.
 */
TEST_F(blk, verified_data_reserved_after_unbind)
{
	struct blk_ctx *c = &self->c;
	const __u64 spare = (__u64)NBUF * BUFSZ;
	__u32 fl = 0, bid;
	int chr_fd, fd2;

	if (access("/dev/kmbuf_chr", F_OK) && system("modprobe kmbuf_chr"))
		SKIP(return, "kmbuf_chr not available");
	chr_fd = open("/dev/kmbuf_chr", O_RDWR);
	ASSERT_LE(0, chr_fd);

	/* a verified read the application keeps, then UNBIND */
	ASSERT_EQ((int)BUFSZ, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, BUFSZ,
				      BUFSZ, 0, 0, &fl));
	ASSERT_TRUE(fl & IORING_CQE_F_BUFFER);
	bid = cqe_bid(fl);
	ASSERT_EQ(0, blk_unbind(&c->ring, c->fd));
	/* every byte of the old ring stays out of reach */
	EXPECT_EQ(-EBUSY, blk_bind(&c->ring, chr_fd, RO_ID,
				   (__u64)bid * BUFSZ, CHR_BUFSZ,
				   BUFSZ / CHR_BUFSZ));
	EXPECT_EQ(-EBUSY, blk_bind(&c->ring, chr_fd, RO_ID, 0, 4096, 1));
	EXPECT_EQ(-EBUSY, blk_bind(&c->ring, chr_fd, RO_ID, spare - 4096,
				   4096, 1));
	EXPECT_EQ(-EBUSY, blk_bind(&c->ring, c->fd, RO_ID, 0, BUFSZ, NBUF));
	EXPECT_EQ(-1, buf_check(c, fl, BUFSZ, BUFSZ, SEED));

	/* given back before UNBIND: the bytes are free again */
	fd2 = open(BLK_DEV, O_RDONLY);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, blk_bind(&c->ring, fd2, RO_ID, spare, BUFSZ, 2));
	ASSERT_EQ((int)BUFSZ, blk_cmd(&c->ring, fd2, KMBUF_BLK_READ, 0, BUFSZ,
				      0, 0, &fl));
	ASSERT_EQ(1, blk_return(&c->ring, fd2, cqe_bid(fl)));
	ASSERT_EQ(0, blk_unbind(&c->ring, fd2));
	EXPECT_EQ(0, blk_bind(&c->ring, chr_fd, RO_ID, spare, CHR_BUFSZ,
			      2 * BUFSZ / CHR_BUFSZ));
	close(fd2);
	close(chr_fd);
}

/*
 * A binding belongs to the io_uring instance that made it: a second ring
 * sharing the file can't read into the first ring's buffers, give them
 * back (the first ring's program may be reading them) or unbind them.
 */
TEST_F(blk, binding_belongs_to_its_io_uring)
{
	struct blk_ctx *c = &self->c;
	struct io_uring other;
	__u32 fl = 0, bid;

	ASSERT_EQ(0, io_uring_queue_init(8, &other, 0));
	ASSERT_EQ((int)BS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, 0, BS, 0,
				   0, &fl));
	ASSERT_TRUE(fl & IORING_CQE_F_BUFFER);
	bid = cqe_bid(fl);

	EXPECT_EQ(-EXDEV, blk_cmd(&other, c->fd, KMBUF_BLK_READ, 0, BS, 0, 0,
				  NULL));
	EXPECT_EQ(-EXDEV, blk_return(&other, c->fd, bid));
	EXPECT_EQ(-EXDEV, blk_unbind(&other, c->fd));
	EXPECT_EQ(-EBUSY, blk_bind(&other, c->fd, RO_ID, 0, BUFSZ, 1));
	/* nothing changed for the owner */
	EXPECT_EQ(-1, buf_check(c, fl, 0, BS, SEED));
	EXPECT_EQ(1, blk_return(&c->ring, c->fd, bid));
	EXPECT_EQ(0, blk_unbind(&c->ring, c->fd));
	io_uring_queue_exit(&other);
}

/*
 * SQE fields no command uses must be 0, so they can get a meaning later.
 * Each command is otherwise valid (UNBIND last: it would succeed).
 */
TEST_F(blk, unused_sqe_fields)
{
	struct kmbuf_bind b = {
		.region_id = RO_ID, .offset = (__u64)NBUF * BUFSZ,
		.buf_size = BUFSZ, .nr_bufs = 1,
	};
	__u32 bid = 0;
	/* the common commands: payload in a struct kmbuf_cmd, sqe->addr 0 */
	const struct {
		__u32 op, len;
		__u16 region_id;
		bool common;
		struct kmbuf_cmd kc;
	} cmds[] = {
		{ KMBUF_CMD_BIND, 0, 0, true, { .addr = (uintptr_t)&b } },
		{ KMBUF_BLK_READ, BS, 0, false, { } },
		{ KMBUF_BLK_WRITE, BS, RO_ID, false, { } },
		{ KMBUF_CMD_RETURN, 0, 0, true,
		  { .addr = (uintptr_t)&bid, .nr = 1 } },
		{ KMBUF_CMD_UNBIND, 0, 0, true, { } },
	};
	struct blk_ctx *c = &self->c;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	unsigned int i, field;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		for (field = 0; field < 6; field++) {
			/* WRITE's sqe->addr is its source offset */
			if (field == 5 && cmds[i].op == KMBUF_BLK_WRITE)
				continue;
			sqe = kmbuf_get_sqe(&c->ring);
			ASSERT_NE(NULL, sqe);
			if (cmds[i].common)
				kmbuf_prep_cmd(sqe, c->fd, cmds[i].op, 0,
					       &cmds[i].kc);
			else
				blk_prep(sqe, c->fd, cmds[i].op, 0,
					 cmds[i].len, cmds[i].region_id, 0);
			switch (field) {
			case 0:
				sqe->len = 1;
				break;
			case 1:
				sqe->ioprio = 1;
				break;
			case 2:
				sqe->buf_index = 1;
				break;
			case 3:
				sqe->file_index = 1;
				break;
			case 4:
				sqe->__pad1 = 1;
				break;
			default:
				sqe->addr = 8;
				break;
			}
			ASSERT_EQ(1, io_uring_submit(&c->ring));
			ASSERT_EQ(0, io_uring_wait_cqe(&c->ring, &cqe));
			EXPECT_EQ(-EINVAL, cqe->res) {
				TH_LOG("cmd %u, field %u", i, field);
			}
			io_uring_cqe_seen(&c->ring, cqe);
		}
	}
	/* the binding is untouched */
	EXPECT_EQ(-EBUSY, blk_bind(&c->ring, c->fd, RO_ID, 0, BUFSZ, NBUF));
}

/*
 * The commands keep the page cache coherent, as O_DIRECT does: a READ
 * sees a buffered write still dirty in the cache, and a buffered read
 * after a WRITE sees the new data, not pages cached before it.
 */
TEST_F(blk, page_cache_coherent)
{
	struct blk_ctx *c = &self->c;
	const __u64 a = 5 << 20, b = 6 << 20;
	const __u32 len = 16 * 1024;
	struct kmbuf_region rw;
	char buf[16 * 1024];
	int fdb, res;
	__u32 fl;

	fdb = open(BLK_DEV, O_RDWR);
	ASSERT_LE(0, fdb);

	/* dirty in the cache, not yet on the disk */
	blk_pattern_fill(buf, a, len, 21);
	ASSERT_EQ((ssize_t)len, pwrite(fdb, buf, len, a));
	res = blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, a, len, 0, 0, &fl);
	ASSERT_EQ((int)len, res);
	EXPECT_EQ(-1, buf_check(c, fl, a, len, 21));

	/* cached before a WRITE: dropped, the next buffered read sees it */
	ASSERT_EQ((ssize_t)len, pread(fdb, buf, len, b));
	EXPECT_EQ(-1, blk_pattern_check(buf, b, len, SEED));
	ASSERT_EQ(0, kmbuf_region_create(c->ring.ring_fd, RW_ID, RW_SIZE, 0,
					 0, &rw));
	blk_pattern_fill(rw.addr, b, len, 22);
	EXPECT_EQ((int)len, blk_cmd(&c->ring, c->fd, KMBUF_BLK_WRITE, b, len,
				    RW_ID, 0, NULL));
	ASSERT_EQ((ssize_t)len, pread(fdb, buf, len, b));
	EXPECT_EQ(-1, blk_pattern_check(buf, b, len, 22));

	kmbuf_region_unmap(&rw);
	close(fdb);
}

/*
 * While reads are in flight into them (and after), the buffers cannot be
 * written by userspace: stores fault, mprotect() and a writable mmap()
 * fail, /proc/self/mem and process_vm_writev() cannot write either.
 */
TEST_F(blk, readonly_in_flight)
{
	struct blk_ctx *c = &self->c;
	unsigned int i;
	int status, mfd;
	pid_t pid;
	void *p;
	char byte = 1;
	struct iovec l = { .iov_base = &byte, .iov_len = 1 };
	struct iovec r;

	ASSERT_EQ(0, blk_dbg_write("delay_us", 300000));
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, blk_queue(&c->ring, c->fd, KMBUF_BLK_READ,
				       (__u64)i * BUFSZ, BUFSZ, 0, 0, i));
	ASSERT_EQ((int)NBUF, io_uring_submit(&c->ring));

	/* all NBUF reads are in flight now */
	EXPECT_EQ(-1, mprotect(c->ro.addr, c->ro.size,
			       PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	p = mmap(NULL, c->ro.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 c->ring.ring_fd, c->ro.mmap_offset);
	EXPECT_EQ(MAP_FAILED, p);
	mfd = open("/proc/self/mem", O_RDWR);
	ASSERT_LE(0, mfd);
	EXPECT_EQ(-1, pwrite(mfd, &byte, 1, (off_t)(uintptr_t)c->ro.addr));
	close(mfd);
	r.iov_base = c->ro.addr;
	r.iov_len = 1;
	EXPECT_EQ(-1, process_vm_writev(getpid(), &l, 1, &r, 1, 0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		signal(SIGSEGV, segv_exit);
		((char *)c->ro.addr)[BUFSZ + 5] = 1;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(SEGV_EXIT, WEXITSTATUS(status));

	for (i = 0; i < NBUF; i++) {
		__u64 ud;
		__u32 fl;
		int res;

		ASSERT_EQ(0, blk_reap(&c->ring, &ud, &res, &fl));
		ASSERT_EQ((int)BUFSZ, res);
		EXPECT_EQ(-1, buf_check(c, fl, ud * BUFSZ, BUFSZ, SEED));
	}
}

/* Every bad input fails with its documented errno and takes no buffer. */
TEST_F(blk, bad_inputs)
{
	struct blk_ctx *c = &self->c;
	struct io_uring *ring = &c->ring;
	struct kmbuf_bind b = { .region_id = RO_ID, .buf_size = BUFSZ,
				.nr_bufs = 1 };
	struct io_uring_sqe *sqe;
	__u64 size = 64ULL << 20;
	__u32 bids[2] = { 0, 0 };
	int fd2, res;
	__u32 fl;

	/* READ */
	EXPECT_EQ(-EINVAL, blk_cmd(ring, c->fd, KMBUF_BLK_READ, 512, BS, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, blk_cmd(ring, c->fd, KMBUF_BLK_READ, 0, 0, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, blk_cmd(ring, c->fd, KMBUF_BLK_READ, 0, BS + 512, 0, 0, NULL));
	EXPECT_EQ(-ERANGE, blk_cmd(ring, c->fd, KMBUF_BLK_READ, size, BS, 0, 0, NULL));
	EXPECT_EQ(-ERANGE, blk_cmd(ring, c->fd, KMBUF_BLK_READ, size - BS, 2 * BS, 0, 0, NULL));
	EXPECT_EQ(-ERANGE, blk_cmd(ring, c->fd, KMBUF_BLK_READ, ~0ULL << 12, BS, 0, 0, NULL));
	EXPECT_EQ(-EMSGSIZE, blk_cmd(ring, c->fd, KMBUF_BLK_READ, 0, BUFSZ + BS, 0, 0, NULL));
	EXPECT_EQ(-EMSGSIZE, blk_cmd(ring, c->fd, KMBUF_BLK_READ, 0,
				     KMBUF_BLK_MAX_IO + BS, 0, 0, NULL));
	EXPECT_EQ(-EINVAL, blk_cmd(ring, c->fd, KMBUF_BLK_READ, 0, BS, 1, 0, NULL));
	EXPECT_EQ(-EINVAL, blk_cmd(ring, c->fd, KMBUF_BLK_READ, 0, BS, 0, 8, NULL));
	/* flags, sqe->len, uring_cmd_flags */
	sqe = io_uring_get_sqe(ring);
	blk_prep(sqe, c->fd, KMBUF_BLK_READ, 0, BS, 0, 0);
	((struct kmbuf_blk_cmd *)sqe->cmd)->flags = 1;
	io_uring_submit(ring);
	ASSERT_EQ(0, blk_reap(ring, NULL, &res, NULL));
	EXPECT_EQ(-EINVAL, res);
	sqe = io_uring_get_sqe(ring);
	blk_prep(sqe, c->fd, KMBUF_BLK_READ, 0, BS, 0, 0);
	sqe->len = 1;
	io_uring_submit(ring);
	ASSERT_EQ(0, blk_reap(ring, NULL, &res, NULL));
	EXPECT_EQ(-EINVAL, res);
	sqe = io_uring_get_sqe(ring);
	blk_prep(sqe, c->fd, KMBUF_BLK_READ, 0, BS, 0, 0);
	sqe->uring_cmd_flags = IORING_URING_CMD_MULTISHOT;
	io_uring_submit(ring);
	ASSERT_EQ(0, blk_reap(ring, NULL, &res, NULL));
	EXPECT_EQ(-EINVAL, res);
	/* unknown commands */
	EXPECT_EQ(-ENOTTY, blk_cmd(ring, c->fd, _IO(KMBUF_BLK_MAGIC, 99), 0, 0, 0, 0, NULL));
	EXPECT_EQ(-ENOTTY, blk_cmd(ring, c->fd, _IO(0x42, 1), 0, 0, 0, 0, NULL));

	/* RETURN: nr from 1 to the ring's buffer count (was 256 at most) */
	EXPECT_EQ(-EINVAL, blk_return_n(ring, c->fd, bids, 0));
	EXPECT_EQ(-EINVAL, blk_return_n(ring, c->fd, bids, NBUF + 1));
	EXPECT_EQ(-EALREADY, blk_return(ring, c->fd, 0));
	EXPECT_EQ(-EINVAL, blk_return(ring, c->fd, NBUF));
	EXPECT_EQ(-EFAULT, blk_return_n(ring, c->fd, (__u32 *)8, 1));
	res = blk_cmd(ring, c->fd, KMBUF_BLK_READ, 0, BS, 0, 0, &fl);
	ASSERT_EQ((int)BS, res);
	bids[0] = cqe_bid(fl);
	bids[1] = bids[0];
	EXPECT_EQ(-EALREADY, blk_return_n(ring, c->fd, bids, 2));
	EXPECT_EQ(1, blk_return(ring, c->fd, bids[0]));
	EXPECT_EQ(-EALREADY, blk_return(ring, c->fd, bids[0]));

	/* BIND */
	EXPECT_EQ(-EBUSY, blk_bind(ring, c->fd, RO_ID, 0, BUFSZ, NBUF));
	fd2 = open(BLK_DEV, O_RDONLY);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-ENXIO, blk_cmd(ring, fd2, KMBUF_BLK_READ, 0, BS, 0, 0, NULL));
	EXPECT_EQ(-ENXIO, blk_return(ring, fd2, 0));
	EXPECT_EQ(-ENXIO, blk_unbind(ring, fd2));
	EXPECT_EQ(-ENOENT, blk_bind(ring, fd2, 5, 0, BUFSZ, 1));
	EXPECT_EQ(-EINVAL, blk_bind(ring, fd2, 1000, 0, BUFSZ, 1));
	EXPECT_EQ(-EINVAL, blk_bind(ring, fd2, RO_ID, 0, 100, 1));
	EXPECT_EQ(-EINVAL, blk_bind(ring, fd2, RO_ID, 32, BUFSZ, 1));
	EXPECT_EQ(-EINVAL, blk_bind(ring, fd2, RO_ID, 0, BUFSZ, NBUF + 3));
	EXPECT_EQ(-EINVAL, blk_bind(ring, fd2, RO_ID, 0, BUFSZ, 0));
	EXPECT_EQ(-EINVAL, blk_bind(ring, fd2, RO_ID, 0,
				    KMBUF_BLK_MAX_IO + 64, 1));
	b.flags = 1U << 31;
	EXPECT_EQ(-EINVAL, blk_bind_desc(ring, fd2, &b));
	b.flags = 0;
	b.resv = 1;
	EXPECT_EQ(-EINVAL, blk_bind_desc(ring, fd2, &b));
	EXPECT_EQ(-EFAULT, blk_bind_desc(ring, fd2, (struct kmbuf_bind *)8));
	/* a second file may bind a ring on other bytes of the region only */
	EXPECT_EQ(-EBUSY, blk_bind(ring, fd2, RO_ID, BUFSZ * (NBUF - 1),
				   BUFSZ, 2));
	EXPECT_EQ(0, blk_bind(ring, fd2, RO_ID, BUFSZ * NBUF, BUFSZ, 2));
	EXPECT_EQ(0, blk_unbind(ring, fd2));
	/* UNBIND's payload must be 0 (and sqe->addr, unused_sqe_fields) */
	EXPECT_EQ(-EINVAL, blk_kcmd(ring, fd2, KMBUF_CMD_UNBIND,
				    &(struct kmbuf_cmd){ .addr = 8 }));
	/* ARM: the disk's files have no streams (nor multishot commands) */
	ASSERT_EQ(0, blk_queue_kcmd(ring, c->fd, KMBUF_CMD_ARM,
				    IORING_URING_CMD_MULTISHOT,
				    &(struct kmbuf_cmd){ }, 200));
	EXPECT_EQ(-EINVAL, blk_sync_wait(ring, 200, NULL));
	/* WRITE */
	EXPECT_EQ(-EBADF, blk_cmd(ring, fd2, KMBUF_BLK_WRITE, 0, BS, RO_ID, 0, NULL));
	close(fd2);
	EXPECT_EQ(-ENOENT, blk_cmd(ring, c->fd, KMBUF_BLK_WRITE, 0, BS, 7, 0, NULL));
	EXPECT_EQ(-EFAULT, blk_cmd(ring, c->fd, KMBUF_BLK_WRITE, 0, BS, RO_ID,
				   RO_SIZE - BS / 2, NULL));
	EXPECT_EQ(-EFAULT, blk_cmd(ring, c->fd, KMBUF_BLK_WRITE, 0, BS, RO_ID,
				   ~0ULL - 10, NULL));
	EXPECT_EQ(-EINVAL, blk_cmd(ring, c->fd, KMBUF_BLK_WRITE, 100, BS, RO_ID, 0, NULL));
	EXPECT_EQ(-ERANGE, blk_cmd(ring, c->fd, KMBUF_BLK_WRITE, size, BS, RO_ID, 0, NULL));
	EXPECT_EQ(-EMSGSIZE, blk_cmd(ring, c->fd, KMBUF_BLK_WRITE, 0,
				     KMBUF_BLK_MAX_IO + BS, RO_ID, 0, NULL));

	/* nothing leaked a buffer */
	for (res = 0; res < (int)NBUF; res++)
		ASSERT_EQ((int)BS, blk_cmd(ring, c->fd, KMBUF_BLK_READ, 0, BS,
					   0, 0, NULL));
}

/* All buffers held by userspace: ENOBUFS until one comes back. */
TEST_F(blk, exhaustion)
{
	struct blk_ctx *c = &self->c;
	unsigned int i;
	__u32 fl, bid = 0;

	for (i = 0; i < NBUF; i++) {
		ASSERT_EQ((int)BS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ,
					   i * BS, BS, 0, 0, &fl));
		if (i == 3)
			bid = cqe_bid(fl);
	}
	for (i = 0; i < 3; i++)
		EXPECT_EQ(-ENOBUFS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ,
					    0, BS, 0, 0, NULL));
	ASSERT_EQ(1, blk_return(&c->ring, c->fd, bid));
	ASSERT_EQ((int)BS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, 8 * BS, BS,
				   0, 0, &fl));
	EXPECT_EQ(bid, cqe_bid(fl));
	EXPECT_EQ(-1, blk_pattern_check(ro_buf(c, bid), 8 * BS, BS, SEED));
	EXPECT_EQ(-ENOBUFS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, 0, BS, 0,
				    0, NULL));

	/* exhaustion while reads are still in flight */
	ASSERT_EQ(1, blk_return(&c->ring, c->fd, bid));
	ASSERT_EQ(0, blk_dbg_write("delay_us", 200000));
	ASSERT_EQ(0, blk_queue(&c->ring, c->fd, KMBUF_BLK_READ, 0, BS, 0, 0, 1));
	ASSERT_EQ(0, blk_queue(&c->ring, c->fd, KMBUF_BLK_READ, 0, BS, 0, 0, 2));
	ASSERT_EQ(2, io_uring_submit(&c->ring));
	for (i = 0; i < 2; i++) {
		__u64 ud;
		int res;

		ASSERT_EQ(0, blk_reap(&c->ring, &ud, &res, &fl));
		EXPECT_EQ(ud == 2 ? -ENOBUFS : (int)BS, res);
	}
}

/* Submit @n reads of BUFSZ with a long completion delay. */
static int submit_slow(struct blk_ctx *c, unsigned int n)
{
	unsigned int i;
	int ret;

	ret = blk_dbg_write("delay_us", 200000);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		ret = blk_queue(&c->ring, c->fd, KMBUF_BLK_READ,
				(__u64)i * BUFSZ, BUFSZ, 0, 0, i);
		if (ret)
			return ret;
	}
	ret = io_uring_submit(&c->ring);
	return ret == (int)n ? 0 : -EIO;
}

/* Reads in flight when the ring goes away; the disk carries on. */
TEST_F(blk, teardown_ring_exit)
{
	struct blk_ctx *c = &self->c;

	ASSERT_EQ(0, submit_slow(c, NBUF));
	kmbuf_region_unmap(&c->ro);
	io_uring_queue_exit(&c->ring);
	/* the binding (and region) outlive the ring until close */
	close(c->fd);
	blk_dbg_write("delay_us", 0);
	ASSERT_EQ(0, ctx_init(c, O_RDWR | O_DIRECT));
	ASSERT_EQ((int)BS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, 0, BS, 0,
				   0, NULL));
}

/* close() of the file with reads in flight: they still complete. */
TEST_F(blk, teardown_close)
{
	struct blk_ctx *c = &self->c;
	unsigned int i;

	ASSERT_EQ(0, submit_slow(c, NBUF));
	close(c->fd);
	for (i = 0; i < NBUF; i++) {
		__u32 fl;
		int res;

		ASSERT_EQ(0, blk_reap(&c->ring, NULL, &res, &fl));
		EXPECT_EQ((int)BUFSZ, res);
	}
	c->fd = open(BLK_DEV, O_RDWR);
	ASSERT_LE(0, c->fd);
}

/* UNBIND with reads in flight: they complete; their buffers can't return. */
TEST_F(blk, teardown_unbind)
{
	struct blk_ctx *c = &self->c;
	unsigned int i, ok = 0;

	ASSERT_EQ(0, submit_slow(c, 8));
	ASSERT_EQ(0, blk_queue_kcmd(&c->ring, c->fd, KMBUF_CMD_UNBIND, 0,
				    &(struct kmbuf_cmd){ }, 100));
	ASSERT_EQ(1, io_uring_submit(&c->ring));
	for (i = 0; i < 9; i++) {
		__u64 ud;
		__u32 fl;
		int res;

		ASSERT_EQ(0, blk_reap(&c->ring, &ud, &res, &fl));
		if (ud == 100) {
			EXPECT_EQ(0, res);
			continue;
		}
		EXPECT_EQ((int)BUFSZ, res);
		if (res == (int)BUFSZ) {
			EXPECT_EQ(-1, buf_check(c, fl, ud * BUFSZ, BUFSZ, SEED));
			ok++;
		}
	}
	EXPECT_EQ(8, ok);
	EXPECT_EQ(-ENXIO, blk_return(&c->ring, c->fd, 0));
	/*
	 * The 8 verified buffers can't be returned any more: their ring's
	 * bytes stay reserved while the region lives.  Bind again on the
	 * same region, beyond them.
	 */
	EXPECT_EQ(-EBUSY, blk_bind(&c->ring, c->fd, RO_ID, 0, BUFSZ, NBUF));
	EXPECT_EQ(0, blk_bind(&c->ring, c->fd, RO_ID, (__u64)NBUF * BUFSZ,
			      BUFSZ, 2));
}

/* A process exits (ring, file and mapping go at once) with reads in flight. */
TEST_F(blk, teardown_exit)
{
	struct blk_ctx *c = &self->c;
	int status, i;
	pid_t pid;

	for (i = 0; i < 3; i++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			struct blk_ctx cc;

			if (ctx_init(&cc, O_RDWR) || submit_slow(&cc, NBUF))
				_exit(1);
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
	blk_dbg_write("delay_us", 0);
	ASSERT_EQ((int)BS, blk_cmd(&c->ring, c->fd, KMBUF_BLK_READ, 0, BS, 0,
				   0, NULL));
}

/* Module removal: refused while the disk is open, clean afterwards. */
TEST(rmmod)
{
	struct blk_ctx c;
	int fd, i;

	if (blk_load())
		SKIP(return, "kmbuf_blk not available");
	ASSERT_EQ(0, ctx_init(&c, O_RDWR));
	ASSERT_EQ(0, submit_slow(&c, 4));
	EXPECT_NE(0, system("rmmod kmbuf_blk 2>/dev/null"));
	ctx_exit(&c);
	/* the reads still complete after the ring is gone; then unload */
	for (i = 0; i < 50 && system("rmmod kmbuf_blk 2>/dev/null"); i++)
		usleep(100000);
	ASSERT_LT(i, 50);
	EXPECT_NE(0, access(BLK_DEV, F_OK));
	ASSERT_EQ(0, system("modprobe kmbuf_blk nr_devices=2 size_mb=8 block_size=512"));
	fd = open("/dev/kmbufblk1", O_RDONLY);
	EXPECT_LE(0, fd);
	close(fd);
	ASSERT_EQ(0, system("rmmod kmbuf_blk"));
	ASSERT_EQ(0, system("modprobe kmbuf_blk"));
}

/*
 * A queue of two tags under 32 reads: submissions that find the queue
 * full are resubmitted from task work, and all complete correctly.  Each
 * request takes 100 ms, so the two tags stay busy while all 32 are
 * submitted even on a loaded TCG host (with 2 ms, submitting could be
 * slow enough for no read to find the queue full).
 */
TEST(queue_full)
{
	struct blk_ctx c;
	unsigned int i;

	if (blk_load())
		SKIP(return, "kmbuf_blk not available");
	if (system("rmmod kmbuf_blk 2>/dev/null"))
		SKIP(return, "kmbuf_blk is in use");
	ASSERT_EQ(0, system("modprobe kmbuf_blk queue_depth=2"));
	ASSERT_EQ(0, ctx_init(&c, O_RDWR | O_DIRECT));
	ASSERT_EQ(0, write_pattern(c.fd, 0, NBUF * BUFSZ, SEED));
	ASSERT_EQ(0, blk_dbg_write("delay_us", 100000));
	for (i = 0; i < NBUF; i++)
		ASSERT_EQ(0, blk_queue(&c.ring, c.fd, KMBUF_BLK_READ,
				       (__u64)i * BUFSZ, BUFSZ, 0, 0, i));
	ASSERT_EQ((int)NBUF, io_uring_submit(&c.ring));
	for (i = 0; i < NBUF; i++) {
		__u64 ud;
		__u32 fl;
		int res;

		ASSERT_EQ(0, blk_reap(&c.ring, &ud, &res, &fl));
		ASSERT_EQ((int)BUFSZ, res);
		EXPECT_EQ(-1, buf_check(&c, fl, ud * BUFSZ, BUFSZ, SEED));
	}
	/* some bios found the queue full and were submitted again */
	EXPECT_LT(NBUF, blk_stat("uring_cmd_io"));
	ctx_exit(&c);
	for (i = 0; i < 50 && system("rmmod kmbuf_blk 2>/dev/null"); i++)
		usleep(100000);
	ASSERT_EQ(0, system("modprobe kmbuf_blk"));
}

TEST_HARNESS_MAIN
