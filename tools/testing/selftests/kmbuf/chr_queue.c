// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_chr record queues: one per user, never shared across users;
 * copies to user memory outside the queue lock (a fault puts the record
 * back); concurrent readers of the pattern stream get disjoint ranges;
 * the benchmark ioctl needs CAP_SYS_ADMIN; io_uring writes to a full
 * queue with and without RWF_NOWAIT.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "chr_util.h"
#include "blk_util.h"
#include "../kselftest_harness.h"

#define NOBODY		65534
#define REGION_ID	1
#define UD_RECV		0x100
#define UD_WRITE	0x200

/* Read one record from @fd: its seq, or -errno. */
static long read_rec(int fd)
{
	static unsigned char buf[KMBUF_CHR_MAX_RECORD];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0)
		return -errno;
	return check_rec(buf, n);
}

static int become_nobody(void)
{
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return -1;
	return 0;
}

/* A byte through a pipe: the other process may go on. */
static void post(int fd)
{
	char c = 0;

	if (write(fd, &c, 1) != 1)
		_exit(99);
}

static void await(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		_exit(98);
}

static int child_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

FIXTURE(queue) {
	int fd;
	int to_child[2], to_parent[2];
};

FIXTURE_SETUP(queue)
{
	self->fd = chr_open(O_RDWR | O_NONBLOCK);
	if (self->fd < 0)
		SKIP(return, CHR_DEV " not available (CONFIG_KMBUF_CHR)");
	chr_drain_queue();
	ASSERT_EQ(0, pipe(self->to_child));
	ASSERT_EQ(0, pipe(self->to_parent));
}

FIXTURE_TEARDOWN(queue)
{
	if (self->fd < 0)
		return;
	chr_drain_queue();
	close(self->fd);
	close(self->to_child[0]);
	close(self->to_child[1]);
	close(self->to_parent[0]);
	close(self->to_parent[1]);
}

/*
 * The child as nobody: read(2) and ARM see only nobody's records.  Exit
 * code 0 or the step that failed.
 */
static int nobody_reader(int to_child, int to_parent)
{
	struct kmbuf_region reg;
	struct rx_cqe c;
	struct rx rx;
	int fd;

	if (become_nobody())
		return 10;
	fd = open(CHR_DEV, O_RDWR | O_NONBLOCK);
	if (fd < 0)
		return 11;
	if (write_rec(fd, 1001, 40) != 40)
		return 12;
	post(to_parent);
	await(to_child);		/* root has written record 1 */
	if (read_rec(fd) != 1001)
		return 13;
	if (read_rec(fd) != -EAGAIN)	/* root's record is not ours */
		return 14;

	/* an ARM as nobody gets nobody's records only */
	if (rx_init(&rx, 8, 64, 0) ||
	    kmbuf_region_create(rx.ring.ring_fd, REGION_ID, 65536, 0, 0, &reg) ||
	    rx_bind(&rx, fd, REGION_ID, 0, 4096, 4) ||
	    rx_arm(&rx, fd, UD_RECV))
		return 15;
	post(to_parent);
	await(to_child);		/* root's ARM got record 1 */
	if (write_rec(fd, 1002, 50) != 50)
		return 16;
	if (rx_next(&rx, &c) || c.ud != UD_RECV || c.res != 50 ||
	    !(c.flags & IORING_CQE_F_MORE))
		return 17;
	if (check_rec((unsigned char *)reg.addr + 4096 * (c.flags >> 16),
		      c.res) != 1002)
		return 18;
	if (rx_peek(&rx, &c) != -EAGAIN)
		return 19;
	kmbuf_region_unmap(&reg);
	rx_exit(&rx);
	close(fd);
	return 0;
}

/*
 * Records never cross from one user to another: root's reads and ARM
 * don't see nobody's records and nobody's don't see root's; each still
 * gets its own, in order.  Before, one queue served the whole device.
 */
TEST_F(queue, users_isolated)
{
	struct kmbuf_region reg;
	struct rx_cqe c;
	struct rx rx;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(nobody_reader(self->to_child[0], self->to_parent[1]));

	await(self->to_parent[0]);	/* nobody has written 1001 */
	EXPECT_EQ(-EAGAIN, read_rec(self->fd));
	ASSERT_EQ(30, write_rec(self->fd, 1, 30));
	post(self->to_child[1]);

	/* root's ARM, armed while nobody writes */
	ASSERT_EQ(0, rx_init(&rx, 8, 64, 0));
	ASSERT_EQ(0, kmbuf_region_create(rx.ring.ring_fd, REGION_ID, 65536, 0,
					 0, &reg));
	ASSERT_EQ(0, rx_bind(&rx, self->fd, REGION_ID, 0, 4096, 4));
	await(self->to_parent[0]);	/* nobody's ARM is armed */
	ASSERT_EQ(0, rx_arm(&rx, self->fd, UD_RECV));
	/* record 1 is still root's, the first and only one */
	ASSERT_EQ(0, rx_next(&rx, &c));
	EXPECT_EQ(30, c.res);
	EXPECT_EQ(1, check_rec((unsigned char *)reg.addr +
			       4096 * (c.flags >> 16), c.res));
	post(self->to_child[1]);
	EXPECT_EQ(0, child_status(pid));
	/* nobody wrote 1002 meanwhile: root's ARM did not get it */
	ASSERT_EQ(40, write_rec(self->fd, 2, 40));
	ASSERT_EQ(0, rx_next(&rx, &c));
	EXPECT_EQ(40, c.res);
	EXPECT_EQ(2, check_rec((unsigned char *)reg.addr +
			       4096 * (c.flags >> 16), c.res));
	EXPECT_EQ(0, rx_unbind(&rx, self->fd));
	kmbuf_region_unmap(&reg);
	rx_exit(&rx);
}

/*
 * A record too big for the reader's buffer stays at the head of its
 * user's queue (EMSGSIZE) and holds up that user's readers only.
 */
TEST_F(queue, oversized_head_holds_up_its_user_only)
{
	unsigned char small[100];
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int fd;

		if (become_nobody())
			_exit(10);
		fd = open(CHR_DEV, O_RDWR | O_NONBLOCK);
		if (fd < 0)
			_exit(11);
		if (write_rec(fd, 7, KMBUF_CHR_MAX_RECORD) !=
		    KMBUF_CHR_MAX_RECORD)
			_exit(12);
		post(self->to_parent[1]);
		await(self->to_child[0]);
		if (read(fd, small, sizeof(small)) != -1 || errno != EMSGSIZE)
			_exit(13);
		if (read_rec(fd) != 7)
			_exit(14);
		_exit(0);
	}
	await(self->to_parent[0]);
	ASSERT_EQ(16, write_rec(self->fd, 3, 16));
	EXPECT_EQ(16, read(self->fd, small, sizeof(small)));
	EXPECT_EQ(3, check_rec(small, 16));
	post(self->to_child[1]);
	EXPECT_EQ(0, child_status(pid));
}

/* The in-kernel memcpy benchmark needs CAP_SYS_ADMIN. */
TEST_F(queue, memcpy_needs_cap_sys_admin)
{
	struct kmbuf_chr_memcpy mc = { .rec_size = 65536, .count = 16 };
	pid_t pid;

	EXPECT_EQ(0, ioctl(self->fd, KMBUF_CHR_MEMCPY, &mc));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (become_nobody())
			_exit(10);
		/* on a file root opened, too: it is the caller that counts */
		if (ioctl(self->fd, KMBUF_CHR_MEMCPY, &mc) != -1 ||
		    errno != EPERM)
			_exit(11);
		_exit(0);
	}
	EXPECT_EQ(0, child_status(pid));
}

/*
 * A read whose destination faults puts the record back at the head of the
 * queue: it is read whole by the next read, and order is kept.
 */
TEST_F(queue, efault_puts_record_back)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *p;

	ASSERT_EQ(5000, write_rec(self->fd, 1, 5000));
	ASSERT_EQ(64, write_rec(self->fd, 2, 64));
	EXPECT_EQ(-1, read(self->fd, (void *)8, 8192));
	EXPECT_EQ(EFAULT, errno);
	/* mapped for the first 100 bytes: the copy starts, then faults */
	p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p + pg, pg));
	EXPECT_EQ(-1, read(self->fd, p + pg - 100, 8192));
	EXPECT_EQ(EFAULT, errno);
	munmap(p, pg);
	EXPECT_EQ(1, read_rec(self->fd));
	EXPECT_EQ(2, read_rec(self->fd));
	EXPECT_EQ(-EAGAIN, read_rec(self->fd));
}

struct stalled_reader {
	int	fd;
	void	*dst;
	long	ret;
	int	done;
};

static void *stalled_read(void *arg)
{
	struct stalled_reader *r = arg;

	r->ret = read(r->fd, r->dst, 8192);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * A reader whose memory faults slowly holds up no other reader: its
 * destination is a private mapping of a kmbuf_blk block that is not cached
 * and takes 1 s to read (delay_us), so its copy stalls in the page fault.
 * Another reader of the same queue gets the other record meanwhile.
 * Before, the queue's mutex was held across the copy and the second
 * reader waited for the first.
 */
TEST_F(queue, stalled_reader_holds_up_nobody)
{
	struct stalled_reader r = { .fd = self->fd };
	long pg = sysconf(_SC_PAGESIZE), seq;
	int bfd, fd2;
	pthread_t t;

	if (blk_load())
		SKIP(return, "kmbuf_blk not available");
	bfd = open(BLK_DEV, O_RDONLY);
	ASSERT_LE(0, bfd);
	fd2 = chr_open(O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, fd2);
	posix_fadvise(bfd, 0, 0, POSIX_FADV_DONTNEED);
	ASSERT_EQ(0, blk_dbg_write("delay_us", 1000000));
	r.dst = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, bfd,
		     64 * pg);
	ASSERT_NE(MAP_FAILED, r.dst);
	ASSERT_EQ(5000, write_rec(self->fd, 1, 5000));
	ASSERT_EQ(5000, write_rec(self->fd, 2, 5000));

	ASSERT_EQ(0, pthread_create(&t, NULL, stalled_read, &r));
	usleep(200 * 1000);	/* the first reader is in its fault by now */
	seq = read_rec(fd2);
	EXPECT_FALSE(__atomic_load_n(&r.done, __ATOMIC_SEQ_CST))
		TH_LOG("the second reader waited for the stalled one");
	pthread_join(t, NULL);
	EXPECT_TRUE(seq == 1 || seq == 2);
	EXPECT_EQ(5000, r.ret);
	EXPECT_EQ(3 - seq, check_rec(r.dst, 5000));
	EXPECT_EQ(0, blk_dbg_write("delay_us", 0));
	munmap(r.dst, 2 * pg);
	close(fd2);
	close(bfd);
}

#define PAT_READS	1500
#define PAT_LEN		4096

struct pat_reader {
	int fd;
	unsigned int n;
	__u64 starts[PAT_READS];
	const char *err;
};

static void *pat_read(void *arg)
{
	static __thread __u64 buf[PAT_LEN / 8];
	struct pat_reader *r = arg;
	unsigned int i, w;

	for (i = 0; i < PAT_READS; i++) {
		if (read(r->fd, buf, PAT_LEN) != PAT_LEN) {
			r->err = "short read";
			break;
		}
		/* 8-byte aligned reads: word i of the read holds its index */
		for (w = 1; w < PAT_LEN / 8; w++)
			if (buf[w] != buf[0] + w) {
				r->err = "not a contiguous piece of the stream";
				return NULL;
			}
		r->starts[r->n++] = buf[0] * 8;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Two threads reading the pattern stream of one file get disjoint pieces
 * that together cover it without a gap.  Before, the stream offset was
 * read and advanced without a lock: pieces were duplicated.
 */
TEST_F(queue, pattern_concurrent_readers)
{
	static struct pat_reader r[2];
	static __u64 all[2 * PAT_READS];
	pthread_t thr;
	unsigned int i;

	ASSERT_EQ(0, chr_set_mode(self->fd, KMBUF_CHR_MODE_PATTERN, 0, 0));
	r[0].fd = self->fd;
	r[1].fd = self->fd;
	ASSERT_EQ(0, pthread_create(&thr, NULL, pat_read, &r[1]));
	pat_read(&r[0]);
	pthread_join(thr, NULL);
	ASSERT_EQ(NULL, r[0].err);
	ASSERT_EQ(NULL, r[1].err);
	memcpy(all, r[0].starts, sizeof(r[0].starts));
	memcpy(all + PAT_READS, r[1].starts, sizeof(r[1].starts));
	qsort(all, 2 * PAT_READS, sizeof(all[0]), cmp_u64);
	for (i = 0; i < 2 * PAT_READS; i++)
		if (all[i] != (__u64)i * PAT_LEN)
			break;
	/* the first piece that is duplicated or missing */
	ASSERT_EQ(2 * PAT_READS, i) TH_LOG("piece %u starts at %llu", i,
					   (unsigned long long)all[i]);
}

/*
 * An io_uring WRITE to a full queue: with RWF_NOWAIT it fails with
 * EAGAIN; without, even on an O_NONBLOCK file, io_uring waits for room
 * (the file is pollable and supports NOWAIT, so io_uring retries when
 * poll reports EPOLLOUT, as for pipes and sockets) and the record lands
 * at the tail once a reader made room.
 */
TEST_F(queue, uring_write_full_queue)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN | POLLOUT };
	static unsigned char rec[64];
	struct io_uring_sqe *sqe;
	struct rx_cqe c;
	unsigned int i;
	struct rx rx;
	long seq;

	for (i = 0; i < KMBUF_CHR_QUEUE_LEN; i++)
		ASSERT_EQ(16, write_rec(self->fd, i, 16));
	EXPECT_EQ(-1, write_rec(self->fd, i, 16));
	EXPECT_EQ(EAGAIN, errno);
	/* full: readable, not writable */
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN, pfd.revents);

	memcpy(rec, &(unsigned int){ 999 }, 4);
	memcpy(rec + 4, &(unsigned int){ 8 }, 4);
	ASSERT_EQ(0, rx_init(&rx, 8, 64, 0));
	sqe = rx_sqe(&rx);
	io_uring_prep_write(sqe, self->fd, rec, 8, -1);
	sqe->rw_flags = RWF_NOWAIT;
	sqe->user_data = UD_WRITE;
	io_uring_submit(&rx.ring);
	ASSERT_EQ(0, rx_next(&rx, &c));
	EXPECT_EQ(-EAGAIN, c.res);

	sqe = rx_sqe(&rx);
	io_uring_prep_write(sqe, self->fd, rec, 8, -1);
	sqe->user_data = UD_WRITE;
	io_uring_submit(&rx.ring);
	/* waiting for room, not failed */
	EXPECT_EQ(-EAGAIN, rx_peek(&rx, &c));
	EXPECT_EQ(0, read_rec(self->fd));
	ASSERT_EQ(0, rx_next(&rx, &c));
	EXPECT_EQ(8, c.res);
	for (i = 1; i < KMBUF_CHR_QUEUE_LEN; i++)
		ASSERT_EQ(i, read_rec(self->fd));
	seq = read_rec(self->fd);
	EXPECT_EQ(999, seq);
	EXPECT_EQ(-EAGAIN, read_rec(self->fd));
	rx_exit(&rx);
}

TEST_HARNESS_MAIN
