// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_chr delivery through a kernel-managed buffer ring: BIND, multishot
 * ARM, RETURN, UNBIND; backpressure, record boundaries, bad arguments,
 * cancellation, two readers, fork, module unload, scribbling userspace.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "chr_util.h"
#include "../kselftest_harness.h"

#define REGION_ID	1
#define REGION_SIZE	(1U << 20)
#define UD_RECV		0x100
#define UD_RECV2	0x200
#define UD_READ		0x300

struct recv_state {
	__u64	next_seq;	/* generator: expected sequence number */
	__u64	records;
	__u64	bytes;
	__u64	rearms;	/* ARMs ended by -EOVERFLOW (CQ ring full) */
};

FIXTURE(kchr) {
	struct rx rx;
	struct kmbuf_region reg;
	int fd;
};

FIXTURE_SETUP(kchr)
{
	int ret;

	self->fd = chr_open(O_RDWR);
	if (self->fd < 0)
		SKIP(return, CHR_DEV " not available (CONFIG_KMBUF_CHR)");
	chr_drain_queue();
	ASSERT_EQ(0, rx_init(&self->rx, 64, 4096, 0));
	ret = kmbuf_region_create(self->rx.ring.ring_fd, REGION_ID, REGION_SIZE,
				  0, 0, &self->reg);
	if (ret == -EINVAL || ret == -EOPNOTSUPP)
		SKIP(return, "no kmbuf memory regions");
	ASSERT_EQ(0, ret);
}

FIXTURE_TEARDOWN(kchr)
{
	if (self->fd < 0)
		return;
	if (self->rx.log) {
		kmbuf_region_unmap(&self->reg);
		rx_exit(&self->rx);
	}
	close(self->fd);
}

static void *buf_addr(struct kmbuf_region *reg, __u64 off, __u32 size,
		      unsigned int bid)
{
	return (char *)reg->addr + off + (size_t)bid * size;
}

/*
 * Receive @n generator records of @rec_size from the ARM (user_data
 * UD_RECV) into buffers of @buf_size at @off, checking each, returning
 * them in batches of up to @batch; re-arm after a final CQE that says
 * -EOVERFLOW (the CQ ring was full).  A final CQE never carries a record.
 * Returns 0 or a description of the failure.
 */
static const char *recv_gen(struct rx *rx, int fd, struct kmbuf_region *reg,
			    __u64 off, __u32 buf_size, __u32 nr_bufs,
			    __u32 rec_size, __u64 n, unsigned int batch,
			    struct recv_state *st)
{
	__u32 *bids = calloc(nr_bufs, sizeof(*bids));
	char *held = calloc(nr_bufs, 1);
	const char *err = NULL;
	unsigned int nb = 0;
	struct rx_cqe c;
	__u32 bid;

	while (!err && st->records < n) {
		if (rx_next(rx, &c)) {
			err = "timed out waiting for a CQE";
			break;
		}
		if (c.ud != UD_RECV) {
			err = "unexpected CQE";
			break;
		}
		if (!(c.flags & IORING_CQE_F_MORE)) {
			if (c.res != -EOVERFLOW) {
				err = "ARM ended with an error";
				break;
			}
			if (c.flags & IORING_CQE_F_BUFFER) {
				err = "final CQE carries a buffer";
				break;
			}
			st->rearms++;
			if (rx_arm(rx, fd, UD_RECV))
				err = "re-arm failed";
			continue;
		}
		if (c.res < 0) {
			err = "error CQE with F_MORE";
			break;
		}
		if (!(c.flags & IORING_CQE_F_BUFFER)) {
			err = "CQE without a buffer";
			break;
		}
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		if (bid >= nr_bufs || held[bid]) {
			err = "bad or duplicate buffer id";
			break;
		}
		if (gen_mismatch(buf_addr(reg, off, buf_size, bid), c.res,
				 rec_size, st->next_seq) != -1) {
			err = "record corrupt, lost or out of order";
			break;
		}
		st->next_seq++;
		st->records++;
		st->bytes += c.res;
		held[bid] = 1;
		bids[nb++] = bid;
		if (nb >= batch || st->records == n) {
			if (rx_return(rx, fd, bids, nb) != (int)nb)
				err = "RETURN failed";
			while (nb)
				held[bids[--nb]] = 0;
		}
	}
	free(bids);
	free(held);
	return err;
}

/* Data integrity over millions of bytes through a 4-buffer ring. */
TEST_F_TIMEOUT(kchr, gen_integrity_small_ring, 300)
{
	struct recv_state st = { };
	const char *err;

	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 1024, 0));
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 1024, 4));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	err = recv_gen(&self->rx, self->fd, &self->reg, 0, 1024, 4, 1024,
		       4096, 3, &st);
	ASSERT_EQ(NULL, err) TH_LOG("%s at record %llu", err,
				    (unsigned long long)st.records);
	EXPECT_EQ(4096ULL * 1024, st.bytes);
	/* the ring ran dry again and again: that is the backpressure */
	EXPECT_LT(100, fdinfo_val(self->fd, "kmbuf_exhausted"));
	EXPECT_EQ(4, fdinfo_val(self->fd, "kmbuf_bufs"));
	EXPECT_EQ(1, fdinfo_val(self->fd, FDI_ARMED));

	/* UNBIND ends the ARM with -ECANCELED and no F_MORE */
	ASSERT_EQ(0, rx_unbind(&self->rx, self->fd));
	for (;;) {
		struct rx_cqe c;

		ASSERT_EQ(0, rx_next(&self->rx, &c));
		ASSERT_EQ(UD_RECV, c.ud);
		if (c.flags & IORING_CQE_F_MORE)
			continue;	/* records delivered before the end */
		EXPECT_EQ(-ECANCELED, c.res);
		EXPECT_EQ(0, c.flags & IORING_CQE_F_BUFFER);
		break;
	}
	EXPECT_EQ(-1, fdinfo_val(self->fd, "kmbuf_bufs"));
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_ARMED));
}

/*
 * Generator records through every destination shape: read(2) into an
 * unaligned buffer, readv(2) split at odd places, a readv(2) too short for
 * a record (EMSGSIZE, the record stays for the next read), and buffers
 * that fault (EFAULT).
 */
TEST_F(kchr, gen_read_destinations)
{
	static unsigned char a[5], b[300], c[207];
	struct iovec iov[3] = {
		{ a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) },
	};
	static unsigned char buf[512 + 3];
	static __u64 whole[64];
	long pg = sysconf(_SC_PAGESIZE);
	char *p;

	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 512, 40));
	ASSERT_EQ(512, read(self->fd, buf + 3, 512));
	memcpy(whole, buf + 3, 512);
	EXPECT_EQ(-1, gen_mismatch(whole, 512, 512, 40));

	ASSERT_EQ(512, readv(self->fd, iov, 3));
	memcpy(whole, a, sizeof(a));
	memcpy((char *)whole + sizeof(a), b, sizeof(b));
	memcpy((char *)whole + sizeof(a) + sizeof(b), c, sizeof(c));
	EXPECT_EQ(-1, gen_mismatch(whole, 512, 512, 41));

	iov[2].iov_len = sizeof(c) - 1;
	EXPECT_EQ(-1, readv(self->fd, iov, 3));
	EXPECT_EQ(EMSGSIZE, errno);
	ASSERT_EQ(512, read(self->fd, whole, 512));
	EXPECT_EQ(-1, gen_mismatch(whole, 512, 512, 42));

	/* unmapped, and mapped for the first word only: EFAULT */
	EXPECT_EQ(-1, read(self->fd, (void *)8, 512));
	EXPECT_EQ(EFAULT, errno);
	p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p + pg, pg));
	EXPECT_EQ(-1, read(self->fd, p + pg - 8, 512));
	EXPECT_EQ(EFAULT, errno);
	munmap(p, pg);
	/* each fault used up its number */
	ASSERT_EQ(512, read(self->fd, whole, 512));
	EXPECT_EQ(-1, gen_mismatch(whole, 512, 512, 45));
}

/* A record bigger than the buffers ends the ARM with -EMSGSIZE. */
TEST_F(kchr, gen_record_too_big)
{
	struct rx_cqe c;

	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 2048, 0));
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 1024, 4));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	ASSERT_EQ(0, rx_next(&self->rx, &c));
	EXPECT_EQ(-EMSGSIZE, c.res);
	EXPECT_EQ(0, c.flags & (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER));
	EXPECT_EQ(4, fdinfo_val(self->fd, "kmbuf_free"));
}

/*
 * Queue mode: the records that fit are posted, then the ARM ends with
 * -EMSGSIZE at the first that doesn't, which stays queued for read(2).
 * The producer fills a batch of buffers per call; it reports the error
 * on the call after the one that stopped short (kmbuf_stream_ops).
 */
TEST_F(kchr, queue_record_too_big_ends_arm)
{
	int wfd = chr_open(O_WRONLY | O_NONBLOCK);
	unsigned char big[2000];
	struct rx_cqe c;
	__u32 bid;
	int i;

	ASSERT_LE(0, wfd);
	ASSERT_EQ(100, write_rec(wfd, 0, 100));
	ASSERT_EQ(200, write_rec(wfd, 1, 200));
	ASSERT_EQ(2000, write_rec(wfd, 2, 2000));
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 1024, 4));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, rx_next(&self->rx, &c));
		ASSERT_EQ(100 * (i + 1), c.res);
		ASSERT_EQ(IORING_CQE_F_MORE | IORING_CQE_F_BUFFER,
			  c.flags & (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER));
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		ASSERT_GT(4, bid);
		EXPECT_EQ(i, check_rec(buf_addr(&self->reg, 0, 1024, bid),
				       c.res));
	}
	ASSERT_EQ(0, rx_next(&self->rx, &c));
	EXPECT_EQ(-EMSGSIZE, c.res);
	EXPECT_EQ(0, c.flags & (IORING_CQE_F_MORE | IORING_CQE_F_BUFFER));
	/* two buffers are userspace's, the others went back */
	EXPECT_EQ(2, fdinfo_val(self->fd, "kmbuf_user"));
	EXPECT_EQ(2, fdinfo_val(self->fd, "kmbuf_free"));
	EXPECT_EQ(0, fdinfo_val(self->fd, "kmbuf_kernel"));
	/* the big record is still first in the queue */
	ASSERT_EQ(2000, read(self->fd, big, sizeof(big)));
	EXPECT_EQ(2, check_rec(big, 2000));
	close(wfd);
}

static unsigned int rec_len(unsigned int seq)
{
	return 8 + (seq * 2654435761U) % 4089;	/* 8 .. 4096 */
}

/*
 * Write @n queue records through @wfd while receiving them on the ARMs
 * of @nfiles files (user_data UD_RECV + file index, buffers at file * @span
 * in the region) in one thread.  seen[] counts deliveries per seq.
 */
static const char *queue_pump(struct rx *rx, int wfd, const int *fds,
			      int nfiles, struct kmbuf_region *reg,
			      __u32 nr_bufs, __u64 span, unsigned int n,
			      unsigned char *seen, unsigned int *per_file)
{
	long last[2] = { -1, -1 };
	unsigned int written = 0, got = 0;
	struct rx_cqe c;
	long seq;
	__u32 bid;
	int f;

	while (got < n) {
		while (written < n) {
			int ret = write_rec(wfd, written, rec_len(written));

			if (ret < 0 && errno == EAGAIN)
				break;
			if (ret != (int)rec_len(written))
				return "write failed";
			written++;
		}
		if (rx_next(rx, &c))
			return "timed out waiting for a record";
		f = c.ud - UD_RECV;
		if (f < 0 || f >= nfiles)
			return "unexpected CQE";
		if (c.res == -EOVERFLOW && !(c.flags & (IORING_CQE_F_MORE |
							 IORING_CQE_F_BUFFER))) {
			/* CQ ring full: nothing lost, re-arm */
			if (rx_arm(rx, fds[f], c.ud))
				return "re-arm failed";
			continue;
		}
		if (c.res < 0 || !(c.flags & IORING_CQE_F_MORE) ||
		    !(c.flags & IORING_CQE_F_BUFFER))
			return "ARM ended";
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		if (bid >= nr_bufs)
			return "bid out of range";
		seq = check_rec(buf_addr(reg, f * span, 4096, bid), c.res);
		if (seq < 0 || seq >= n)
			return "record corrupt or cut";
		if (seen[seq]++)
			return "record delivered twice";
		if (seq <= last[f])
			return "records out of order";
		last[f] = seq;
		per_file[f]++;
		got++;
		if (rx_return(rx, fds[f], &bid, 1) != 1)
			return "RETURN failed";
	}
	return NULL;
}

/* Queue records of every length arrive intact, once, in order. */
TEST_F_TIMEOUT(kchr, queue_records_small_ring, 300)
{
	unsigned int n = 3000, per_file[2] = { };
	unsigned char *seen = calloc(n, 1);
	int wfd = chr_open(O_WRONLY | O_NONBLOCK);
	const char *err;
	unsigned int i;

	ASSERT_LE(0, wfd);
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 4096, 2));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	err = queue_pump(&self->rx, wfd, &self->fd, 1, &self->reg, 2, 0, n,
			 seen, per_file);
	ASSERT_EQ(NULL, err) TH_LOG("%s", err);
	for (i = 0; i < n; i++)
		ASSERT_EQ(1, seen[i]);
	EXPECT_LT(0, fdinfo_val(self->fd, "kmbuf_exhausted"));
	EXPECT_EQ(2, fdinfo_val(self->fd, "kmbuf_free"));
	close(wfd);
	free(seen);
}

/* Two files share the record stream: each record exactly once overall. */
TEST_F_TIMEOUT(kchr, two_readers, 300)
{
	unsigned int n = 2000, per_file[2] = { };
	unsigned char *seen = calloc(n, 1);
	int wfd = chr_open(O_WRONLY | O_NONBLOCK);
	int fds[2] = { self->fd, chr_open(O_RDWR) };
	const char *err;
	unsigned int i;

	ASSERT_LE(0, wfd);
	ASSERT_LE(0, fds[1]);
	ASSERT_EQ(0, rx_bind(&self->rx, fds[0], REGION_ID, 0, 4096, 4));
	ASSERT_EQ(0, rx_bind(&self->rx, fds[1], REGION_ID, 65536, 4096, 4));
	ASSERT_EQ(0, rx_arm(&self->rx, fds[0], UD_RECV));
	ASSERT_EQ(0, rx_arm(&self->rx, fds[1], UD_RECV + 1));
	err = queue_pump(&self->rx, wfd, fds, 2, &self->reg, 4, 65536, n,
			 seen, per_file);
	ASSERT_EQ(NULL, err) TH_LOG("%s", err);
	for (i = 0; i < n; i++)
		ASSERT_EQ(1, seen[i]);
	EXPECT_EQ(n, per_file[0] + per_file[1]);
	TH_LOG("file 0 got %u records, file 1 got %u", per_file[0],
	       per_file[1]);
	close(fds[1]);	/* its ARM keeps it open until the ring exits */
	close(wfd);
	free(seen);
}

/* read(2) and io_uring READ return one queue record per call. */
TEST_F(kchr, record_boundaries)
{
	struct io_uring_buf_reg breg = { };
	struct io_uring_buf_ring *br;
	unsigned char buf[8192], *pbufs;
	int wfd = chr_open(O_WRONLY | O_NONBLOCK);
	int rfd = chr_open(O_RDONLY | O_NONBLOCK);
	struct rx_cqe c;
	unsigned int i;

	ASSERT_LE(0, wfd);
	ASSERT_LE(0, rfd);
	/* a zero-length write is no record; an oversized one is refused */
	EXPECT_EQ(0, write(wfd, buf, 0));
	EXPECT_EQ(-1, write(wfd, malloc(KMBUF_CHR_MAX_RECORD + 1),
			    KMBUF_CHR_MAX_RECORD + 1));
	EXPECT_EQ(EMSGSIZE, errno);
	EXPECT_EQ(-1, read(rfd, buf, sizeof(buf)));
	EXPECT_EQ(EAGAIN, errno);

	for (i = 0; i < 8; i++)
		ASSERT_EQ((int)rec_len(i), write_rec(wfd, i, rec_len(i)));
	/* too small a buffer: EMSGSIZE, the record stays first */
	EXPECT_EQ(-1, read(rfd, buf, rec_len(0) - 1));
	EXPECT_EQ(EMSGSIZE, errno);
	for (i = 0; i < 4; i++) {
		ASSERT_EQ((int)rec_len(i), read(rfd, buf, sizeof(buf)));
		ASSERT_EQ(i, check_rec(buf, rec_len(i)));
	}

	/* the other four through READ with a user provided-buffer ring */
	ASSERT_EQ(0, posix_memalign((void **)&br, 4096,
				    8 * sizeof(struct io_uring_buf)));
	pbufs = malloc(8 * 8192);
	io_uring_buf_ring_init(br);
	breg.ring_addr = (unsigned long)br;
	breg.ring_entries = 8;
	breg.bgid = 3;
	ASSERT_EQ(0, io_uring_register_buf_ring(&self->rx.ring, &breg, 0));
	for (i = 0; i < 8; i++)
		io_uring_buf_ring_add(br, pbufs + i * 8192, 8192, i,
				      io_uring_buf_ring_mask(8), i);
	io_uring_buf_ring_advance(br, 8);
	for (i = 4; i < 8; i++) {
		struct io_uring_sqe *sqe = rx_sqe(&self->rx);

		io_uring_prep_read(sqe, rfd, NULL, 8192, -1);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 3;
		sqe->user_data = UD_READ;
		io_uring_submit(&self->rx.ring);
		ASSERT_EQ(0, rx_next(&self->rx, &c));
		ASSERT_EQ((int)rec_len(i), c.res);
		ASSERT_TRUE(c.flags & IORING_CQE_F_BUFFER);
		ASSERT_EQ(i, check_rec(pbufs + (c.flags >> 16) * 8192, c.res));
	}
	EXPECT_EQ(0, io_uring_unregister_buf_ring(&self->rx.ring, 3));

	/* the queue holds KMBUF_CHR_QUEUE_LEN records, then EAGAIN */
	for (i = 0; i < KMBUF_CHR_QUEUE_LEN; i++)
		ASSERT_EQ(8, write_rec(wfd, i, 8));
	EXPECT_EQ(-1, write_rec(wfd, i, 8));
	EXPECT_EQ(EAGAIN, errno);
	chr_drain_queue();
	close(wfd);
	close(rfd);
	free(pbufs);
	free(br);
}

/* A generic buffer-select READ can't reach a kmbuf ring, whatever bgid. */
TEST_F(kchr, bufselect_never_kmbuf)
{
	static const unsigned int bgids[] = { 0, REGION_ID, 65535 };
	int wfd = chr_open(O_WRONLY | O_NONBLOCK);
	struct rx_cqe c;
	unsigned int i;

	ASSERT_LE(0, wfd);
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 4096, 16));
	ASSERT_EQ(8, write_rec(wfd, 0, 8));
	for (i = 0; i < ARRAY_SIZE(bgids); i++) {
		struct io_uring_sqe *sqe = rx_sqe(&self->rx);

		io_uring_prep_read(sqe, self->fd, NULL, 4096, -1);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = bgids[i];
		sqe->user_data = UD_READ;
		io_uring_submit(&self->rx.ring);
		ASSERT_EQ(0, rx_next(&self->rx, &c));
		EXPECT_EQ(-ENOBUFS, c.res);
		EXPECT_EQ(0, c.flags & IORING_CQE_F_BUFFER);
	}
	EXPECT_EQ(16, fdinfo_val(self->fd, "kmbuf_free"));
	chr_drain_queue();
	close(wfd);
}

/* Every bad argument fails with its documented errno. */
TEST_F(kchr, bad_arguments)
{
	struct kmbuf_bind b = { .region_id = REGION_ID, .buf_size = 4096,
				.nr_bufs = 4 };
	struct kmbuf_chr_memcpy mc = { };
	int wfd = chr_open(O_WRONLY | O_NONBLOCK);
	struct rx *rx = &self->rx;
	int fd = self->fd;
	__u32 bids[8] = { };
	struct rx_cqe c;

	ASSERT_LE(0, wfd);
	/* nothing bound yet */
	EXPECT_EQ(-ENXIO, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
				       IORING_URING_CMD_MULTISHOT, 0, 0, 0));
	bids[0] = 0;
	EXPECT_EQ(-ENXIO, rx_return(rx, fd, bids, 1));
	EXPECT_EQ(-ENXIO, rx_unbind(rx, fd));

	/* BIND */
	EXPECT_EQ(-ENOENT, rx_bind(rx, fd, 7, 0, 4096, 4));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, 1U << 30, 0, 4096, 4));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, REGION_ID, 32, 4096, 4));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, REGION_ID, REGION_SIZE, 4096, 1));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, REGION_ID, 0, 4096, 257));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, REGION_ID, 0, 0, 4));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, REGION_ID, 0, 100, 4));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, REGION_ID, 0, 4096, 0));
	EXPECT_EQ(-EINVAL, rx_bind(rx, fd, REGION_ID, 0, 64, 65537));
	EXPECT_EQ(-EOVERFLOW, rx_bind(rx, fd, REGION_ID, ~0ULL << 6, 4096, 4));
	b.flags = 1U << 31;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.flags = 0;
	b.resv = 1;
	EXPECT_EQ(-EINVAL, rx_bind_desc(rx, fd, &b));
	b.resv = 0;
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_BIND, (uintptr_t)&b, 1, 0));
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_BIND, (uintptr_t)&b, 0, 1));
	EXPECT_EQ(-EFAULT, rx_cmd(rx, fd, KMBUF_CMD_BIND, 8, 0, 0));
	EXPECT_EQ(-EINVAL, rx_cmd_flags(rx, fd, KMBUF_CMD_BIND,
					IORING_URING_CMD_MULTISHOT,
					(uintptr_t)&b, 0, 0));
	EXPECT_EQ(-ENOTTY, rx_cmd(rx, fd, _IO(KMBUF_CHR_MAGIC, 0x3f), 0, 0, 0));
	EXPECT_EQ(-ENOTTY, rx_cmd(rx, fd, _IO(KMBUF_CMD_MAGIC, 0x3f), 0, 0, 0));
	EXPECT_EQ(-1, fdinfo_val(fd, "kmbuf_bufs"));

	ASSERT_EQ(0, rx_bind(rx, fd, REGION_ID, 0, 4096, 4));
	EXPECT_EQ(-EBUSY, rx_bind(rx, fd, REGION_ID, 65536, 4096, 4));

	/* ARM: multishot only, payload 0 but the stream, one stream */
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_ARM, 0, 0, 0));
	EXPECT_EQ(-EINVAL, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
					IORING_URING_CMD_MULTISHOT, 8, 0, 0));
	EXPECT_EQ(-EINVAL, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
					IORING_URING_CMD_MULTISHOT, 0, 0, 2));
	EXPECT_EQ(-EINVAL, rx_kcmd(rx, fd, KMBUF_CMD_ARM,
				   IORING_URING_CMD_MULTISHOT,
				   &(struct kmbuf_cmd){ .stream = 1 }));

	/* RETURN before any delivery */
	EXPECT_EQ(-EALREADY, rx_return(rx, fd, bids, 1));
	bids[0] = 4;
	EXPECT_EQ(-EINVAL, rx_return(rx, fd, bids, 1));
	EXPECT_EQ(-EINVAL, rx_return(rx, fd, bids, 0));
	EXPECT_EQ(-EINVAL, rx_return(rx, fd, bids, 5));
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_RETURN, (uintptr_t)bids,
				  1, 1));
	EXPECT_EQ(-EFAULT, rx_cmd(rx, fd, KMBUF_CMD_RETURN, 8, 1, 0));

	/*
	 * Get two queue records delivered, then misuse their bids; the queue
	 * is empty after them, so returned buffers stay free.
	 */
	ASSERT_EQ(64, write_rec(wfd, 0, 64));
	ASSERT_EQ(64, write_rec(wfd, 1, 64));
	ASSERT_EQ(0, rx_arm(rx, fd, UD_RECV));
	ASSERT_EQ(-EBUSY, rx_cmd_flags(rx, fd, KMBUF_CMD_ARM,
				       IORING_URING_CMD_MULTISHOT, 0, 0, 0));
	EXPECT_EQ(-EBUSY, chr_set_mode(fd, KMBUF_CHR_MODE_QUEUE, 0, 0));
	ASSERT_EQ(0, rx_next(rx, &c));
	ASSERT_EQ(64, c.res);
	bids[0] = c.flags >> IORING_CQE_BUFFER_SHIFT;
	ASSERT_EQ(0, rx_next(rx, &c));
	bids[1] = c.flags >> IORING_CQE_BUFFER_SHIFT;
	bids[2] = bids[0];
	/* repeated in the batch: all or nothing */
	EXPECT_EQ(-EALREADY, rx_return(rx, fd, bids, 3));
	EXPECT_EQ(1, rx_return(rx, fd, bids, 1));
	/* returned twice */
	EXPECT_EQ(-EALREADY, rx_return(rx, fd, bids, 2));
	EXPECT_EQ(1, rx_return(rx, fd, bids + 1, 1));

	/* SET_MODE */
	EXPECT_EQ(-EINVAL, chr_set_mode(fd, 9, 0, 0));
	EXPECT_EQ(-EINVAL, chr_set_mode(fd, KMBUF_CHR_MODE_GEN, 12, 0));
	EXPECT_EQ(-EINVAL, chr_set_mode(fd, KMBUF_CHR_MODE_GEN, 8, 0));
	EXPECT_EQ(-EINVAL, chr_set_mode(fd, KMBUF_CHR_MODE_GEN, 65544, 0));
	EXPECT_EQ(-EINVAL, chr_set_mode(fd, KMBUF_CHR_MODE_QUEUE, 64, 0));
	EXPECT_EQ(-EINVAL, chr_set_mode(fd, KMBUF_CHR_MODE_PATTERN, 0, 1));

	/* MEMCPY and unknown ioctls */
	EXPECT_EQ(-1, ioctl(fd, KMBUF_CHR_MEMCPY, &mc));
	EXPECT_EQ(EINVAL, errno);
	mc.rec_size = 64;
	mc.count = 1;
	mc.resv = 1;
	EXPECT_EQ(-1, ioctl(fd, KMBUF_CHR_MEMCPY, &mc));
	EXPECT_EQ(EINVAL, errno);
	mc.resv = 0;
	EXPECT_EQ(0, ioctl(fd, KMBUF_CHR_MEMCPY, &mc));
	/* the common commands are uring_cmds only */
	EXPECT_EQ(-1, ioctl(fd, KMBUF_CMD_BIND, &b));
	EXPECT_EQ(ENOTTY, errno);

	/* UNBIND: payload must be zero, then the ARM ends */
	EXPECT_EQ(-EINVAL, rx_cmd(rx, fd, KMBUF_CMD_UNBIND, 0, 1, 0));
	EXPECT_EQ(0, rx_unbind(rx, fd));
	do {
		ASSERT_EQ(0, rx_next(rx, &c));
	} while (c.flags & IORING_CQE_F_MORE);
	EXPECT_EQ(-ECANCELED, c.res);
	EXPECT_EQ(-ENXIO, rx_unbind(rx, fd));
	/* and the file can be bound again */
	EXPECT_EQ(0, rx_bind(rx, fd, REGION_ID, 0, 4096, 4));
	close(wfd);
}

/* Exiting the ring cancels a pending ARM and releases the file. */
TEST_F(kchr, cancel_on_ring_exit)
{
	int i;

	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 4096, 4));
	/* queue mode with an empty queue: the ARM just waits */
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	EXPECT_EQ(1, fdinfo_val(self->fd, FDI_ARMED));
	kmbuf_region_unmap(&self->reg);
	rx_exit(&self->rx);
	for (i = 0; i < 100 && fdinfo_val(self->fd, FDI_ARMED); i++)
		usleep(20000);
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_ARMED));
	/* the binding belongs to the file and outlives the ring */
	EXPECT_EQ(4, fdinfo_val(self->fd, "kmbuf_free"));
}

/* Same with a generator ARM stalled on buffers userspace holds. */
TEST_F(kchr, cancel_on_ring_exit_starved)
{
	int i;

	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 256, 0));
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 256, 2));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	kmbuf_region_unmap(&self->reg);
	rx_exit(&self->rx);
	for (i = 0; i < 100 && fdinfo_val(self->fd, FDI_ARMED); i++)
		usleep(20000);
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_ARMED));
	EXPECT_EQ(2, fdinfo_val(self->fd, "kmbuf_user"));
}

/*
 * close(2) does not end a pending ARM: the command holds the file, so
 * records keep arriving until the ring exits.
 */
TEST_F(kchr, close_with_recv_pending)
{
	int wfd = chr_open(O_WRONLY | O_NONBLOCK);
	struct rx_cqe c;

	ASSERT_LE(0, wfd);
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 4096, 4));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	close(self->fd);
	self->fd = -2;
	ASSERT_EQ(100, write_rec(wfd, 42, 100));
	ASSERT_EQ(0, rx_next(&self->rx, &c));
	EXPECT_EQ(100, c.res);
	EXPECT_TRUE(c.flags & IORING_CQE_F_MORE);
	EXPECT_EQ(42, check_rec(buf_addr(&self->reg, 0, 4096, c.flags >> 16),
				c.res));
	kmbuf_region_unmap(&self->reg);
	rx_exit(&self->rx);
	close(wfd);
	self->fd = -1;
}

/* The module can't go while a file is bound; it can once all are gone. */
TEST_F(kchr, rmmod_while_bound)
{
	int ret, err, i;

	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 4096, 4));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	ret = syscall(__NR_delete_module, "kmbuf_chr", O_NONBLOCK);
	err = errno;
	ASSERT_EQ(-1, ret);
	EXPECT_TRUE(err == EWOULDBLOCK || err == EBUSY) TH_LOG("errno %d", err);

	kmbuf_region_unmap(&self->reg);
	rx_exit(&self->rx);
	close(self->fd);
	self->fd = -1;
	/* the ARM's file reference goes with the ring, asynchronously */
	for (i = 0; i < 100; i++) {
		ret = syscall(__NR_delete_module, "kmbuf_chr", O_NONBLOCK);
		if (!ret || errno == ENOENT)
			break;
		usleep(20000);
	}
	EXPECT_EQ(0, ret);
	EXPECT_EQ(0, system("modprobe kmbuf_chr"));
}

/*
 * fork(): the binding, the generator position and the buffers belong to
 * the open file, so the child shares them; the ARM stays the parent's.
 */
TEST_F(kchr, fork_shares_file_state)
{
	struct recv_state st = { };
	const char *err;
	pid_t pid;
	int status;

	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 512, 0));
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 512, 8));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	err = recv_gen(&self->rx, self->fd, &self->reg, 0, 512, 8, 512, 100,
		       4, &st);
	ASSERT_EQ(NULL, err);

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct rx crx;
		__u64 w[64];

		/* the file is already bound, whichever ring asks */
		if (rx_init(&crx, 8, 64, 0) ||
		    kmbuf_region_create(crx.ring.ring_fd, REGION_ID, 65536, 0,
					0, &(struct kmbuf_region){ }))
			_exit(10);
		if (rx_bind(&crx, self->fd, REGION_ID, 0, 512, 8) != -EBUSY)
			_exit(11);
		/* read(2) takes records from the same generator */
		if (read(self->fd, w, sizeof(w)) != 512 || w[0] < 100 ||
		    gen_mismatch(w, 512, 512, w[0]) != -1)
			_exit(12);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));

	/* the parent's ARM goes on; the child took one record in between */
	EXPECT_EQ(1, fdinfo_val(self->fd, FDI_ARMED));
	EXPECT_EQ(0, rx_unbind(&self->rx, self->fd));
}

struct scribbler {
	int stop;
	void *addr;
	size_t size;
};

static void *scribble(void *arg)
{
	struct scribbler *s = arg;
	unsigned char v = 0;

	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED))
		memset(s->addr, v++, s->size);
	return NULL;
}

/*
 * Userspace writing all over a writable region while records flow can
 * trash record contents, never the ring: every bid arrives once per
 * delivery, all returns succeed and all buffers come home.
 */
TEST_F_TIMEOUT(kchr, scribble_region, 300)
{
	struct scribbler s = { .addr = self->reg.addr, .size = 8 * 1024 };
	unsigned int n = 2000, got = 0, written = 0;
	int wfd = chr_open(O_WRONLY | O_NONBLOCK);
	char held[8] = { };
	pthread_t thr;
	struct rx_cqe c;

	ASSERT_LE(0, wfd);
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 1024, 8));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	ASSERT_EQ(0, pthread_create(&thr, NULL, scribble, &s));
	while (got < n) {
		__u32 bid;

		while (written < n && write_rec(wfd, written, 64) == 64)
			written++;
		ASSERT_EQ(0, rx_next(&self->rx, &c));
		ASSERT_EQ(UD_RECV, c.ud);
		if (c.res == -EOVERFLOW && !(c.flags & IORING_CQE_F_MORE)) {
			ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
			continue;
		}
		ASSERT_EQ(64, c.res);
		ASSERT_TRUE(c.flags & IORING_CQE_F_MORE);
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		ASSERT_LT(bid, 8);
		ASSERT_EQ(0, held[bid]);
		held[bid] = 1;
		got++;
		/* hold a few to keep the ring short */
		if (got % 3 == 0) {
			__u32 bids[8], nb = 0, i;

			for (i = 0; i < 8; i++)
				if (held[i]) {
					bids[nb++] = i;
					held[i] = 0;
				}
			ASSERT_EQ((int)nb, rx_return(&self->rx, self->fd,
						     bids, nb));
		}
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_RELAXED);
	pthread_join(thr, NULL);
	for (__u32 i = 0; i < 8; i++)
		if (held[i])
			ASSERT_EQ(1, rx_return(&self->rx, self->fd, &i, 1));
	EXPECT_EQ(8, fdinfo_val(self->fd, "kmbuf_free"));
	EXPECT_EQ(0, fdinfo_val(self->fd, "kmbuf_user"));
	EXPECT_EQ(0, fdinfo_val(self->fd, "kmbuf_kernel"));
	close(wfd);
}

/*
 * A CQ ring that fills up ends the ARM with -EOVERFLOW, a final CQE that
 * carries no buffer.  A pull stream makes no record the CQ ring has no
 * room for, so none waits in a buffer meanwhile, and the new ARM goes on
 * from the next one: no record and no buffer is lost, the sequence runs
 * on across every re-arm, and the ring's counters account for each
 * buffer.  (Before, the record rode in the final CQE, which
 * IOSQE_CQE_SKIP_SUCCESS or a failed overflow allocation drops; then a
 * record was made anyway and held a buffer until the next ARM.)
 */
TEST_F_TIMEOUT(kchr, cq_full_ends_recv_loses_no_record, 300)
{
	struct kmbuf_region reg;
	struct recv_state st = { };
	char announced[64] = { };
	__u32 bids[16], bid;
	struct rx_cqe c;
	const char *err;
	struct rx crx;
	int i;

	/* an 8-entry CQ ring, nobody reaping: the ninth record can't post */
	ASSERT_EQ(0, rx_init(&crx, 4, 8, 0));
	ASSERT_EQ(0, kmbuf_region_create(crx.ring.ring_fd, REGION_ID,
					 64 * 512, 0, 0, &reg));
	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 512, 0));
	ASSERT_EQ(0, rx_bind(&crx, self->fd, REGION_ID, 0, 512, 64));
	ASSERT_EQ(0, rx_arm(&crx, self->fd, UD_RECV));

	/*
	 * 8 records announced; the ninth was not made: a pull stream makes
	 * only what the CQ ring has room for, so no buffer is held for it
	 * while the stream is down (no kmbuf_kernel, no kmbuf_pending)
	 */
	EXPECT_EQ(8, fdinfo_val(self->fd, "kmbuf_user"));
	EXPECT_EQ(0, fdinfo_val(self->fd, "kmbuf_kernel"));
	EXPECT_EQ(56, fdinfo_val(self->fd, "kmbuf_free"));
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_PENDING));

	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, rx_next(&crx, &c));
		ASSERT_EQ(UD_RECV, c.ud);
		ASSERT_EQ(512, c.res);
		ASSERT_TRUE(c.flags & IORING_CQE_F_BUFFER);
		ASSERT_TRUE(c.flags & IORING_CQE_F_MORE);
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		ASSERT_GT(64, bid);
		ASSERT_EQ(0, announced[bid]);
		announced[bid] = 1;
		EXPECT_EQ(-1, gen_mismatch(buf_addr(&reg, 0, 512, bid), 512,
					   512, i));
		bids[i] = bid;
	}
	/* the end: no F_MORE, no buffer */
	ASSERT_EQ(0, rx_next(&crx, &c));
	EXPECT_EQ(UD_RECV, c.ud);
	EXPECT_EQ(-EOVERFLOW, c.res);
	EXPECT_EQ(0, c.flags);
	EXPECT_EQ(-EAGAIN, rx_peek(&crx, &c));
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_ARMED));

	/* no buffer that was not announced can be returned */
	for (bid = 0; bid < 64; bid++)
		if (!announced[bid])
			ASSERT_EQ(-EALREADY, rx_return(&crx, self->fd, &bid, 1))
				TH_LOG("bid %u", bid);
	ASSERT_EQ(8, rx_return(&crx, self->fd, bids, 8));
	EXPECT_EQ(0, fdinfo_val(self->fd, "kmbuf_user"));
	EXPECT_EQ(0, fdinfo_val(self->fd, "kmbuf_kernel"));
	EXPECT_EQ(64, fdinfo_val(self->fd, "kmbuf_free"));
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_PENDING));

	/* re-armed: no record lost, record 8 comes first, then 9 .. 15 */
	memset(announced, 0, sizeof(announced));
	ASSERT_EQ(0, rx_arm(&crx, self->fd, UD_RECV));
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, rx_next(&crx, &c));
		ASSERT_EQ(512, c.res);
		ASSERT_TRUE(c.flags & IORING_CQE_F_MORE);
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		ASSERT_GT(64, bid);
		ASSERT_EQ(0, announced[bid]);
		announced[bid] = 1;
		EXPECT_EQ(-1, gen_mismatch(buf_addr(&reg, 0, 512, bid), 512,
					   512, 8 + i));
		bids[i] = bid;
	}
	ASSERT_EQ(0, rx_next(&crx, &c));
	EXPECT_EQ(-EOVERFLOW, c.res);
	EXPECT_EQ(0, c.flags);
	EXPECT_EQ(8, fdinfo_val(self->fd, "kmbuf_user"));
	EXPECT_EQ(0, fdinfo_val(self->fd, "kmbuf_kernel"));
	EXPECT_EQ(56, fdinfo_val(self->fd, "kmbuf_free"));
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_PENDING));
	ASSERT_EQ(8, rx_return(&crx, self->fd, bids, 8));

	/* re-armed again and again as the tiny CQ ring keeps filling up */
	ASSERT_EQ(0, rx_arm(&crx, self->fd, UD_RECV));
	st.next_seq = 16;
	err = recv_gen(&crx, self->fd, &reg, 0, 512, 64, 512, 20000, 8, &st);
	ASSERT_EQ(NULL, err) TH_LOG("%s at record %llu", err,
				    (unsigned long long)st.records);
	EXPECT_LT(100, st.rearms);
	/* nothing waits in the stream, whenever the last ARM ended */
	ASSERT_EQ(0, rx_unbind(&crx, self->fd));
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_PENDING));
	EXPECT_EQ(-1, fdinfo_val(self->fd, "kmbuf_bufs"));
	kmbuf_region_unmap(&reg);
	rx_exit(&crx);
}

/*
 * IOSQE_CQE_SKIP_SUCCESS on a multishot ARM is refused (-EINVAL, no
 * IORING_CQE_F_MORE) before the driver sees it: skipping the terminating
 * CQE would hide the end of the stream.  Nothing was taken from the ring,
 * and an ARM without the flag then streams from the first record.
 * Before, the combination was accepted and a skipped end lost the
 * record it carried, its buffer and the re-arm signal.
 */
TEST_F(kchr, cq_full_skip_success_refused)
{
	struct io_uring_sqe *sqe;
	struct kmbuf_region reg;
	struct rx_cqe c;
	struct rx crx;

	ASSERT_EQ(0, rx_init(&crx, 4, 8, 0));
	ASSERT_EQ(0, kmbuf_region_create(crx.ring.ring_fd, REGION_ID,
					 64 * 512, 0, 0, &reg));
	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 512, 0));
	ASSERT_EQ(0, rx_bind(&crx, self->fd, REGION_ID, 0, 512, 64));
	sqe = rx_sqe(&crx);
	kmbuf_prep_arm(sqe, self->fd, 0);
	sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
	sqe->user_data = UD_RECV;
	ASSERT_EQ(1, io_uring_submit(&crx.ring));
	ASSERT_EQ(0, rx_next(&crx, &c));
	EXPECT_EQ(UD_RECV, c.ud);
	EXPECT_EQ(-EINVAL, c.res);
	EXPECT_EQ(0, c.flags);
	EXPECT_EQ(64, fdinfo_val(self->fd, "kmbuf_free"));

	ASSERT_EQ(0, rx_arm(&crx, self->fd, UD_RECV));
	ASSERT_EQ(0, rx_next(&crx, &c));
	ASSERT_EQ(512, c.res);
	ASSERT_TRUE(c.flags & IORING_CQE_F_MORE);
	EXPECT_EQ(-1, gen_mismatch(buf_addr(&reg, 0, 512,
					    c.flags >> IORING_CQE_BUFFER_SHIFT),
				   512, 512, 0));
	ASSERT_EQ(0, rx_unbind(&crx, self->fd));
	kmbuf_region_unmap(&reg);
	rx_exit(&crx);
}

/*
 * The binding belongs to the io_uring instance whose region it uses: ARM,
 * RETURN and UNBIND from another instance fail with -EXDEV and change
 * nothing, even when that instance has a region with the same id.  Before,
 * ring B's ARM delivered into ring A's region and B could return buffers
 * A was still reading.
 */
TEST_F(kchr, foreign_ring_exdev)
{
	int wfd = chr_open(O_WRONLY | O_NONBLOCK);
	struct kmbuf_region regb;
	struct rx_cqe c;
	struct rx rb;
	__u32 bid;

	ASSERT_LE(0, wfd);
	ASSERT_EQ(0, rx_init(&rb, 8, 64, 0));
	ASSERT_EQ(0, kmbuf_region_create(rb.ring.ring_fd, REGION_ID, 65536, 0,
					 0, &regb));
	ASSERT_EQ(0, rx_bind(&self->rx, self->fd, REGION_ID, 0, 4096, 4));
	ASSERT_EQ(100, write_rec(wfd, 7, 100));

	/* B can neither receive, nor bind over, nor unbind A's binding */
	EXPECT_EQ(-EXDEV, rx_cmd_flags(&rb, self->fd, KMBUF_CMD_ARM,
				       IORING_URING_CMD_MULTISHOT, 0, 0, 0));
	EXPECT_EQ(-EBUSY, rx_bind(&rb, self->fd, REGION_ID, 0, 4096, 4));
	EXPECT_EQ(-EXDEV, rx_unbind(&rb, self->fd));
	EXPECT_EQ(4, fdinfo_val(self->fd, "kmbuf_free"));
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_ARMED));

	/* A receives the record; B can't return A's buffer */
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	ASSERT_EQ(0, rx_next(&self->rx, &c));
	ASSERT_EQ(UD_RECV, c.ud);
	ASSERT_EQ(100, c.res);
	ASSERT_TRUE(c.flags & IORING_CQE_F_MORE);
	bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
	EXPECT_EQ(7, check_rec(buf_addr(&self->reg, 0, 4096, bid), c.res));
	EXPECT_EQ(-EXDEV, rx_return(&rb, self->fd, &bid, 1));
	EXPECT_EQ(1, fdinfo_val(self->fd, "kmbuf_user"));
	EXPECT_EQ(1, rx_return(&self->rx, self->fd, &bid, 1));
	EXPECT_EQ(-EXDEV, rx_unbind(&rb, self->fd));
	EXPECT_EQ(1, fdinfo_val(self->fd, FDI_ARMED));

	EXPECT_EQ(0, rx_unbind(&self->rx, self->fd));
	ASSERT_EQ(0, rx_next(&self->rx, &c));
	EXPECT_EQ(-ECANCELED, c.res);
	/* unbound, B may bind the file to its own region */
	EXPECT_EQ(0, rx_bind(&rb, self->fd, REGION_ID, 0, 4096, 4));
	EXPECT_EQ(-EXDEV, rx_unbind(&self->rx, self->fd));
	EXPECT_EQ(0, rx_unbind(&rb, self->fd));
	kmbuf_region_unmap(&regb);
	rx_exit(&rb);
	close(wfd);
}

#define REFILL_ID	2
#define UD_CANCEL	0x400

/* A refill ring in a writable region of its own, for @b. */
static struct kmbuf_refill *refill_setup(struct rx *rx, struct kmbuf_bind *b,
					 struct kmbuf_region *rreg,
					 __u32 entries)
{
	size_t size = (kmbuf_refill_size(entries) + 4095) & ~4095UL;

	if (kmbuf_region_create(rx->ring.ring_fd, REFILL_ID, size, 0, 0,
				rreg))
		return NULL;
	return kmbuf_refill_init(b, rreg->addr, REFILL_ID, 0, entries);
}

struct refill_run {
	struct kmbuf_refill	*r;
	__u32			entries, nr_bufs, rec_size;
	char			*held;		/* per bid: CQE seen, not given back */
	__u64			next_seq, records, rearms;
	__u64			bogus;		/* bogus entries pushed */
	__u64			wakeups;	/* doorbells rung */
	__u32			bogus_every;	/* 0: none */
};

/*
 * Receive @n generator records from the ARM (user_data UD_RECV) into
 * @nr_bufs buffers of rec_size at offset 0 of @reg, giving every buffer
 * back through the refill ring only, in batches of @batch.  A bid must
 * never come in a CQE while userspace still holds it.  With bogus_every,
 * every so many batches carry bogus entries too: ids out of range and a
 * second copy of an id of the same batch, which the kernel must skip.
 */
static const char *refill_recv(struct rx *rx, int fd, struct kmbuf_region *reg,
			       struct refill_run *rr, __u64 n,
			       unsigned int batch)
{
	__u32 *ids = calloc(rr->entries, sizeof(*ids));
	unsigned int nb = 0, batches = 0;
	struct rx_cqe c;
	__u32 bid;

	while (rr->records < n) {
		if (rx_next(rx, &c))
			return "timed out waiting for a CQE";
		if (c.ud != UD_RECV)
			return "unexpected CQE";
		if (!(c.flags & IORING_CQE_F_MORE)) {
			if (c.res != -EOVERFLOW)
				return "ARM ended with an error";
			if (c.flags & IORING_CQE_F_BUFFER)
				return "final CQE carries a buffer";
			rr->rearms++;
			if (rx_arm(rx, fd, UD_RECV))
				return "re-arm failed";
			continue;
		}
		if (c.res < 0 || !(c.flags & IORING_CQE_F_BUFFER))
			return "CQE without a buffer";
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		if (bid >= rr->nr_bufs)
			return "bid out of range";
		if (rr->held[bid])
			return "a bid handed out twice without a return";
		rr->held[bid] = 1;
		if (gen_mismatch(buf_addr(reg, 0, rr->rec_size, bid), c.res,
				 rr->rec_size, rr->next_seq) != -1)
			return "record corrupt, lost or out of order";
		rr->next_seq++;
		rr->records++;
		ids[nb++] = bid;
		/* the last records stay held: the ring ran dry meanwhile */
		if (nb < batch && rr->records < n)
			continue;
		if (rr->bogus_every && ++batches % rr->bogus_every == 0 &&
		    nb + 3 <= rr->entries) {
			ids[nb++] = rr->nr_bufs + batches % 7;
			ids[nb++] = ids[0];	/* given back just before */
			ids[nb++] = ~0U - batches;
			rr->bogus += 3;
		}
		while (nb) {
			unsigned int i, k;

			k = kmbuf_refill_push_many(rr->r, rr->entries, ids,
						   nb);
			for (i = 0; i < k; i++)
				if (ids[i] < rr->nr_bufs)
					rr->held[ids[i]] = 0;
			memmove(ids, ids + k, (nb - k) * sizeof(*ids));
			nb -= k;
			/* a starved stream waits for the doorbell */
			if (k && kmbuf_refill_need_wakeup(rr->r)) {
				if (rx_cmd(rx, fd, KMBUF_CMD_RETURN, 0, 0, 0) < 0)
					return "refill doorbell failed";
				rr->wakeups++;
			}
			if (nb)
				usleep(1000);	/* full: the kernel is behind */
		}
	}
	free(ids);
	return NULL;
}

/*
 * A generator stream whose buffers all go back through a refill ring,
 * never with a RETURN command: every record arrives, in order, and no
 * bid is handed out twice without a return in between.
 */
TEST_F_TIMEOUT(kchr, refill_stream, 300)
{
	struct kmbuf_bind b = {
		.region_id = REGION_ID, .buf_size = 512, .nr_bufs = 16,
	};
	struct refill_run rr = { .entries = 16, .nr_bufs = 16,
				 .rec_size = 512 };
	struct kmbuf_region rreg;
	const char *err;

	rr.held = calloc(rr.nr_bufs, 1);
	rr.r = refill_setup(&self->rx, &b, &rreg, rr.entries);
	ASSERT_NE(NULL, rr.r);
	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 512, 0));
	ASSERT_EQ(0, rx_bind_desc(&self->rx, self->fd, &b));
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	err = refill_recv(&self->rx, self->fd, &self->reg, &rr, 20000, 5);
	ASSERT_EQ(NULL, err) TH_LOG("%s at record %llu", err,
				    (unsigned long long)rr.records);
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_REFILL_BAD));
	TH_LOG("%llu doorbells, %lld exhaustions",
	       (unsigned long long)rr.wakeups,
	       fdinfo_val(self->fd, "kmbuf_exhausted"));
	EXPECT_EQ(0, rx_unbind(&self->rx, self->fd));
	kmbuf_region_unmap(&rreg);
	free(rr.held);
}

/* Cancel the ARM with user_data UD_RECV; hold what came before its end. */
static const char *cancel_arm(struct rx *rx, char *held, __u32 nr_bufs,
			      unsigned int *got)
{
	struct io_uring_sqe *sqe = rx_sqe(rx);
	struct rx_cqe c;
	__u32 bid;

	io_uring_prep_cancel64(sqe, UD_RECV, 0);
	sqe->user_data = UD_CANCEL;
	if (rx_wait(rx, UD_CANCEL) != 0)
		return "cancel failed";
	for (;;) {
		if (rx_next(rx, &c) || c.ud != UD_RECV)
			return "no end of the ARM";
		if (!(c.flags & IORING_CQE_F_MORE))
			return c.res == -ECANCELED ? NULL : "ARM end not -ECANCELED";
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		if (!(c.flags & IORING_CQE_F_BUFFER) || bid >= nr_bufs ||
		    held[bid]++)
			return "bad or duplicate bid";
		(*got)++;
	}
}

/*
 * Bogus entries in the refill ring are skipped and counted (fdinfo
 * kmbuf_refill_bad), never trusted: ids out of range, a second copy of
 * an id in the same batch, and ids of buffers the kernel holds (free
 * ones, given back with RETURN).  None of them hands a buffer out twice;
 * then the same with bogus entries mixed into a stream.
 */
TEST_F_TIMEOUT(kchr, refill_bogus_ids, 300)
{
	struct kmbuf_bind b = {
		.region_id = REGION_ID, .buf_size = 512, .nr_bufs = 8,
	};
	struct refill_run rr = { .entries = 64, .nr_bufs = 8,
				 .rec_size = 512, .bogus_every = 3 };
	struct kmbuf_region rreg;
	unsigned int got = 0, i;
	__u32 free_ids[2], x = ~0U, entries[6];
	struct rx_cqe c;
	const char *err;
	__u32 bid;

	rr.held = calloc(rr.nr_bufs, 1);
	rr.r = refill_setup(&self->rx, &b, &rreg, rr.entries);
	ASSERT_NE(NULL, rr.r);
	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 512, 0));
	ASSERT_EQ(0, rx_bind_desc(&self->rx, self->fd, &b));

	/* all 8 buffers delivered, then the ARM cancelled */
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	while (got < 8) {
		ASSERT_EQ(0, rx_next(&self->rx, &c));
		ASSERT_EQ(UD_RECV, c.ud);
		ASSERT_TRUE(c.flags & IORING_CQE_F_MORE);
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		ASSERT_GT(8, bid);
		ASSERT_EQ(0, rr.held[bid]++);
		got++;
	}
	err = cancel_arm(&self->rx, rr.held, 8, &got);
	ASSERT_EQ(NULL, err) TH_LOG("%s", err);
	ASSERT_EQ(8, got);	/* nothing more: the ring was dry */
	rr.next_seq = got;

	/* two go back with RETURN: free, the kernel's */
	for (i = 0, bid = 0; i < 2; bid++)
		if (rr.held[bid])
			free_ids[i++] = bid;
	ASSERT_EQ(2, rx_return(&self->rx, self->fd, free_ids, 2));
	rr.held[free_ids[0]] = rr.held[free_ids[1]] = 0;
	for (bid = 0; bid < 8; bid++)
		if (rr.held[bid])
			x = bid;	/* one still held */
	/*
	 * the free ones, ids out of range, and x twice: only the first x is
	 * a return, five entries are bogus
	 */
	entries[0] = free_ids[0];
	entries[1] = 8;
	entries[2] = x;
	entries[3] = ~0U;
	entries[4] = free_ids[1];
	entries[5] = x;
	ASSERT_EQ(6, kmbuf_refill_push_many(rr.r, rr.entries, entries, 6));
	rr.held[x] = 0;
	EXPECT_EQ(0, fdinfo_val(self->fd, FDI_REFILL_BAD));

	/* armed again: three buffers are free, each comes out once */
	ASSERT_EQ(0, rx_arm(&self->rx, self->fd, UD_RECV));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, rx_next(&self->rx, &c));
		ASSERT_EQ(UD_RECV, c.ud);
		ASSERT_TRUE(c.flags & IORING_CQE_F_MORE);
		bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
		ASSERT_GT(8, bid);
		ASSERT_EQ(0, rr.held[bid]++) TH_LOG("bid %u handed out twice",
						    bid);
		EXPECT_EQ(-1, gen_mismatch(buf_addr(&self->reg, 0, 512, bid),
					   c.res, 512, rr.next_seq));
		rr.next_seq++;
	}
	EXPECT_EQ(-EAGAIN, rx_peek(&self->rx, &c));
	EXPECT_EQ(rr.r->tail, rr.r->head);
	EXPECT_EQ(5, fdinfo_val(self->fd, FDI_REFILL_BAD));
	EXPECT_EQ(8, fdinfo_val(self->fd, "kmbuf_user"));

	/* give all back through the ring, with bogus entries now and then */
	got = 0;
	for (bid = 0; bid < 8; bid++)
		if (rr.held[bid])
			entries[got++] = bid;
	ASSERT_EQ(8, got);
	for (i = 0; i < 8; i++)
		rr.held[i] = 0;
	ASSERT_EQ(8, kmbuf_refill_push_many(rr.r, rr.entries, entries, 8));
	/* the ARM waits for buffers: it asked for the doorbell */
	ASSERT_TRUE(kmbuf_refill_need_wakeup(rr.r));
	EXPECT_EQ(8, rx_cmd(&self->rx, self->fd, KMBUF_CMD_RETURN, 0, 0, 0));
	rr.records = 0;
	err = refill_recv(&self->rx, self->fd, &self->reg, &rr, 5000, 3);
	ASSERT_EQ(NULL, err) TH_LOG("%s at record %llu", err,
				    (unsigned long long)rr.records);
	EXPECT_LT(0, rr.bogus);
	/* the kernel read all bogus ones once it needed buffers again */
	EXPECT_EQ(5 + rr.bogus, fdinfo_val(self->fd, FDI_REFILL_BAD));
	EXPECT_EQ(0, rx_unbind(&self->rx, self->fd));
	kmbuf_region_unmap(&rreg);
	free(rr.held);
}

struct reap_state {
	struct rx		*rx;
	int			fd;
	struct kmbuf_region	*reg;
	char			*held;		/* kept by the callback */
	char			*out;		/* in a CQE, not given back */
	__u64			next_seq, records, rearms;
	bool			stop, ended;
	const char		*err;
};

#define UD_REAPER	0x500
#define UD_NOP		0x777

/* kmbuf_reap() callback of reaper_gen */
static int reap_gen(void *arg, const struct kmbuf_cqe *c)
{
	struct reap_state *st = arg;

	if (c->user_data != UD_RECV) {
		st->err = "unexpected CQE";
		return -EPROTO;
	}
	if (!c->more) {
		if (c->res != -EOVERFLOW || c->has_buf) {
			st->err = "ARM ended";
			return -EPROTO;
		}
		st->rearms++;
		if (st->stop) {
			st->ended = true;
			return 0;
		}
		return rx_queue_cmd(st->rx, st->fd, KMBUF_CMD_ARM,
				    IORING_URING_CMD_MULTISHOT, 0, 0, 0,
				    UD_RECV);
	}
	if (!c->has_buf || c->bid >= 16 || st->out[c->bid]) {
		st->err = "bad or duplicate bid";
		return -EPROTO;
	}
	st->out[c->bid] = 1;
	if (gen_mismatch(buf_addr(st->reg, 0, 256, c->bid), c->res, 256,
			 st->next_seq) != -1) {
		st->err = "record corrupt, lost or out of order";
		return -EPROTO;
	}
	st->next_seq++;
	st->records++;
	/* keep every seventh for a while: kmbuf_reaper_put() later */
	if (st->records % 7 == 0) {
		st->held[c->bid] = 1;
		return 1;
	}
	return 0;
}

/*
 * libkmbuf's reaper, with RETURN commands and with a refill ring (where
 * the CQ ring, 8 entries, keeps ending the ARM with -EOVERFLOW): every
 * record arrives in order, no bid twice without a return, buffers kept
 * by the callback go back later.  kmbuf_unbind_sync() leaves the CQEs of
 * other requests in the CQ ring.
 */
TEST_F_TIMEOUT(kchr, reaper_gen, 300)
{
	struct kmbuf_region reg, rreg;
	struct io_uring_cqe *cqe;
	struct kmbuf_reaper rp;
	struct reap_state st;
	int pass, nops;

	for (pass = 0; pass < 2; pass++) {
		struct kmbuf_bind b = {
			.region_id = REGION_ID, .buf_size = 256,
			.nr_bufs = 16,
		};
		struct kmbuf_refill *r = NULL;
		char held[16] = { }, out[16] = { };
		struct io_uring_sqe *sqe;
		struct rx crx;
		unsigned int head;
		__u32 i;

		ASSERT_EQ(0, rx_init(&crx, 8, 8, 0));
		ASSERT_EQ(0, kmbuf_region_create(crx.ring.ring_fd, REGION_ID,
						 16 * 256, 0, 0, &reg));
		if (pass)
			ASSERT_NE(NULL, r = refill_setup(&crx, &b, &rreg, 16));
		ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_GEN, 256,
					  0));
		ASSERT_EQ(0, kmbuf_bind_sync(&crx.ring, self->fd, &b));
		ASSERT_EQ(0, kmbuf_reaper_init(&rp, &crx.ring, self->fd, 16,
					       r, 16, UD_REAPER));
		st = (struct reap_state){ .rx = &crx, .fd = self->fd,
					  .reg = &reg, .held = held,
					  .out = out };
		ASSERT_EQ(0, rx_arm(&crx, self->fd, UD_RECV));
		while (!st.ended) {
			st.stop = st.records >= 5000;
			ASSERT_LE(0, io_uring_submit_and_wait(&crx.ring, 1));
			ASSERT_LE(0, kmbuf_reap(&rp, reap_gen, &st, 0))
				TH_LOG("pass %d: %s at %llu", pass, st.err,
				       (unsigned long long)st.records);
			ASSERT_EQ(0, rp.error);
			for (i = 0; i < 16; i++) {
				/* the kept ones go back with a later batch */
				if (held[i] && st.records % 3 == 0) {
					held[i] = 0;
					kmbuf_reaper_put(&rp, i);
				}
				if (!held[i])
					out[i] = 0;
			}
		}
		TH_LOG("pass %d: %llu records, %llu re-arms", pass,
		       (unsigned long long)st.records,
		       (unsigned long long)st.rearms);
		EXPECT_LT(0, st.rearms);
		if (pass)
			EXPECT_EQ(0, fdinfo_val(self->fd, FDI_REFILL_BAD));
		/* UNBIND leaves the other CQEs (a NOP's) in the ring */
		sqe = kmbuf_get_sqe(&crx.ring);
		io_uring_prep_nop(sqe);
		sqe->user_data = UD_NOP;
		ASSERT_EQ(0, kmbuf_unbind_sync(&crx.ring, self->fd));
		nops = 0;
		io_uring_for_each_cqe(&crx.ring, head, cqe) {
			EXPECT_NE(KMBUF_UD_SYNC, cqe->user_data);
			nops += cqe->user_data == UD_NOP;
		}
		EXPECT_EQ(1, nops);
		kmbuf_reaper_free(&rp);
		kmbuf_region_unmap(&reg);
		if (pass)
			kmbuf_region_unmap(&rreg);
		rx_exit(&crx);
	}
}

/* Which SQE field sqe_field_cmd() sets to a non-zero value. */
enum sqe_field {
	F_NONE, F_IOPRIO, F_ADDR, F_LEN, F_BUF_INDEX, F_FILE_INDEX, F_FIXED,
	F_MSHOT, F_PAD1, F_CMD_ADDR, F_CMD_NR, F_CMD_STREAM, F_CMD_FLAGS,
	F_CMD128, NR_FIELDS,
};

static const char *const field_names[NR_FIELDS] = {
	"none", "ioprio", "addr", "len", "buf_index", "file_index",
	"IORING_URING_CMD_FIXED", "IORING_URING_CMD_MULTISHOT", "__pad1",
	"cmd.addr", "cmd.nr", "cmd.stream", "cmd.flags", "SQE128 cmd[16..79]",
};

/*
 * The 16-byte payload of a command: struct kmbuf_cmd for the common
 * commands, struct kmbuf_chr_cmd for kmbuf_chr's own.
 */
struct any_cmd {
	bool common;
	union {
		struct kmbuf_cmd k;
		struct kmbuf_chr_cmd c;
	};
};

/* Run command @op with payload @c, and @field set; its result. */
static int sqe_field_cmd(struct rx *rx, int fd, __u32 op, __u32 ucflags,
			 struct any_cmd c, enum sqe_field field)
{
	unsigned char payload[80] = { };
	struct io_uring_sqe *sqe;
	bool sqe128 = rx->ring.flags & IORING_SETUP_SQE128;
	__u64 ud = rx_sync_ud(rx);

	switch (field) {
	case F_CMD_ADDR:
		c.k.addr = 8;	/* same place in both */
		break;
	case F_CMD_NR:
		c.k.nr = 1;
		break;
	case F_CMD_STREAM:
		c.k.stream = 1;	/* struct kmbuf_chr_cmd: a flags bit */
		break;
	case F_CMD_FLAGS:
		if (c.common)
			c.k.flags = 1;
		else
			c.c.flags = 1;
		break;
	case F_FIXED:
		ucflags |= IORING_URING_CMD_FIXED;
		break;
	case F_MSHOT:
		ucflags |= IORING_URING_CMD_MULTISHOT;
		break;
	default:
		break;
	}
	memcpy(payload, &c.k, sizeof(c.k));
	if (field == F_CMD128)
		payload[79] = 1;
	sqe = rx_sqe(rx);
	kmbuf_prep_uring_cmd(sqe, fd, op, ucflags, payload,
			     sqe128 ? 80 : sizeof(c.k));
	sqe->user_data = ud;
	switch (field) {
	case F_IOPRIO:
		sqe->ioprio = 1;
		break;
	case F_ADDR:
		sqe->addr = 1;
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
	default:
		break;
	}
	return rx_wait(rx, ud);
}

/*
 * Every SQE field and payload field a command does not use must be zero
 * (-EINVAL), so that they can be given a meaning later.  Each command is
 * set up to fail with another errno (or to succeed) otherwise, so the
 * -EINVAL can only come from the field.
 */
static void check_unused_fields(struct __test_metadata *_metadata,
				struct rx *rx, int fd)
{
	struct kmbuf_chr_mode m = { .mode = KMBUF_CHR_MODE_QUEUE };
	struct kmbuf_bind b = { .region_id = 7, .buf_size = 4096,
				.nr_bufs = 4 };
	static const __u32 zero_bid;
	struct {
		__u32 op, ucflags;
		struct any_cmd c;
		int ok;		/* result with no field set */
		__u32 used;	/* fields the command uses */
	} cmds[] = {
		{ KMBUF_CMD_BIND, 0, { true, .k = { .addr = (uintptr_t)&b } },
		  -ENOENT, 1U << F_CMD_ADDR },
		{ KMBUF_CMD_ARM, IORING_URING_CMD_MULTISHOT, { true, .k = { } },
		  -ENXIO, 1U << F_MSHOT | 1U << F_CMD_STREAM },
		{ KMBUF_CMD_RETURN, 0,
		  { true, .k = { .addr = (uintptr_t)&zero_bid, .nr = 1 } },
		  -ENXIO, 1U << F_CMD_ADDR | 1U << F_CMD_NR },
		{ KMBUF_CMD_UNBIND, 0, { true, .k = { } }, -ENXIO, 0 },
		{ KMBUF_CHR_SET_MODE, 0,
		  { false, .c = { .addr = (uintptr_t)&m } }, 0,
		  1U << F_CMD_ADDR },
	};
	bool sqe128 = rx->ring.flags & IORING_SETUP_SQE128;
	unsigned int i, f;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		EXPECT_EQ(cmds[i].ok,
			  sqe_field_cmd(rx, fd, cmds[i].op, cmds[i].ucflags,
					cmds[i].c, F_NONE))
			TH_LOG("cmd %u without a field", i);
		for (f = F_NONE + 1; f < NR_FIELDS; f++) {
			if (cmds[i].used & (1U << f))
				continue;
			if (f == F_CMD128 && !sqe128)
				continue;
			/* kmbuf.h's rule; kmbuf_chr.h names FIXED only */
			if (f == F_MSHOT && !cmds[i].c.common)
				continue;
			EXPECT_EQ(-EINVAL,
				  sqe_field_cmd(rx, fd, cmds[i].op,
						cmds[i].ucflags, cmds[i].c, f))
				TH_LOG("cmd %u with %s", i, field_names[f]);
		}
	}
}

TEST_F(kchr, unused_sqe_fields)
{
	static char fixed_buf[4096];
	struct iovec iov = { fixed_buf, sizeof(fixed_buf) };
	struct rx r128;

	/* a registered buffer, so that IORING_URING_CMD_FIXED gets through */
	ASSERT_EQ(0, io_uring_register_buffers(&self->rx.ring, &iov, 1));
	check_unused_fields(_metadata, &self->rx, self->fd);

	ASSERT_EQ(0, rx_init(&r128, 8, 64, IORING_SETUP_SQE128));
	ASSERT_EQ(0, io_uring_register_buffers(&r128.ring, &iov, 1));
	check_unused_fields(_metadata, &r128, self->fd);
	rx_exit(&r128);
}

TEST_HARNESS_MAIN
