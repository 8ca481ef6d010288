// SPDX-License-Identifier: GPL-2.0
/*
 * Multi-process stress of kmbuf_blk's verified reads: workers with their
 * own io_uring, region and disk file read random blocks while others write
 * blocks, fork children that try the inherited file from their own
 * io_uring, unbind and rebind, close files and exit rings with reads in
 * flight, and get SIGKILLed and respawned by the parent.  Invariants
 * checked throughout:
 *
 * - a successful READ's buffer holds exactly the block its CQE is for (one
 *   whole version of it, never another block's data or a mix), and still
 *   does when the worker gives it back;
 * - a child on another io_uring can't read into, return or unbind the
 *   parent's binding of a shared file (-EXDEV), nor bind it (-EBUSY);
 * - every command ends with success or a documented errno;
 * - a SIGKILLed worker is gone within 10 s, and the module unloads at the
 *   end.
 *
 * KMBUF_STRESS_SECONDS (default 20) and KMBUF_STRESS_SEED (default: time)
 * set the run; the seed is printed so a failing run can be replayed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "blk_util.h"
#include "../kselftest_harness.h"

#define BS		4096U
#define NBUF		16U
#define RO_ID		1
#define RO_SIZE		(4 * NBUF * BS)	/* room to rebind elsewhere */
#define RD_BLOCKS	256U		/* read-only area: SEED_R */
#define WR_BLOCKS	64U		/* after it: SEED_A or SEED_B */
#define SEED_R		0x5eed0001ULL
#define SEED_A		0x5eed000aULL
#define SEED_B		0x5eed000bULL
#define NR_WORKERS	4
#define MAX_HELD	8

enum { OP_READ, OP_RETURN, OP_WRITE, OP_FORK, OP_REBIND, OP_CLOSE,
	OP_EXIT_RING, OP_KILL, NR_OPS };
static const char * const op_names[NR_OPS] = {
	"read", "return", "write", "fork", "rebind", "close_in_flight",
	"ring_exit_in_flight", "sigkill",
};

/* Shared with the workers through a MAP_SHARED mapping. */
struct stress_stats {
	unsigned long	ops[NR_OPS];
	unsigned long	violations;
	char		first[256];
};

static struct stress_stats *stats;

static void violation(const char *fmt, unsigned long long a,
		      unsigned long long b)
{
	if (__atomic_fetch_add(&stats->violations, 1, __ATOMIC_SEQ_CST) == 0)
		snprintf(stats->first, sizeof(stats->first), fmt, a, b);
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
}

static void count(int op)
{
	__atomic_fetch_add(&stats->ops[op], 1, __ATOMIC_RELAXED);
}

/* The seed block @blk was verified against, or 0 if it matches none. */
static __u64 block_seed(const void *p, unsigned int blk)
{
	const __u64 off = (__u64)blk * BS;

	if (blk < RD_BLOCKS)
		return blk_pattern_check(p, off, BS, SEED_R) < 0 ? SEED_R : 0;
	if (blk_pattern_check(p, off, BS, SEED_A) < 0)
		return SEED_A;
	if (blk_pattern_check(p, off, BS, SEED_B) < 0)
		return SEED_B;
	return 0;
}

struct held {
	unsigned int	bid, blk;
	__u64		seed;
};

struct worker {
	struct io_uring		ring;
	struct kmbuf_region	ro;
	int			fd;
	__u64			bind_off;
	struct held		held[MAX_HELD];
	unsigned int		nr_held;
	bool			bound;
};

static const void *buf_at(struct worker *w, unsigned int bid)
{
	return (const char *)w->ro.addr + w->bind_off + (size_t)bid * BS;
}

static int w_setup(struct worker *w)
{
	int ret;

	w->nr_held = 0;
	w->bind_off = 0;
	ret = io_uring_queue_init(64, &w->ring, 0);
	if (ret)
		return ret;
	ret = kmbuf_region_create(w->ring.ring_fd, RO_ID, RO_SIZE,
				  IORING_MEM_REGION_RDONLY, 0, &w->ro);
	if (ret)
		return ret;
	w->fd = open(BLK_DEV, O_RDWR);
	if (w->fd < 0)
		return -errno;
	ret = blk_bind(&w->ring, w->fd, RO_ID, 0, BS, NBUF);
	w->bound = !ret;
	return ret;
}

static void w_teardown(struct worker *w)
{
	kmbuf_region_unmap(&w->ro);
	io_uring_queue_exit(&w->ring);
	if (w->fd >= 0)
		close(w->fd);
	/* blk_cmd()'s CQEs of the old ring */
	blk_bl_head = 0;
	blk_bl_tail = 0;
}

/* Give back every held buffer, checking that none changed meanwhile. */
static void w_return_all(struct worker *w)
{
	unsigned int i;
	int ret;

	for (i = 0; i < w->nr_held; i++) {
		struct held *h = &w->held[i];

		if (block_seed(buf_at(w, h->bid), h->blk) != h->seed)
			violation("held buffer %llu of block %llu changed",
				  h->bid, h->blk);
		ret = blk_return(&w->ring, w->fd, h->bid);
		if (ret != 1)
			violation("return of a held buffer: %lld (bid %llu)",
				  ret, h->bid);
		count(OP_RETURN);
	}
	w->nr_held = 0;
}

/*
 * Check a READ's CQE: its buffer holds block @blk, whole.  Returns the
 * seed of the version it holds, 0 if it holds no buffer.
 */
static __u64 w_verify(struct worker *w, unsigned int blk, int res,
		      __u32 flags)
{
	__u64 seed;

	count(OP_READ);
	if (res == -ENOBUFS || res == -ENXIO)
		return 0;
	if (res != (int)BS) {
		violation("READ of block %llu: res %lld", blk, res);
		return 0;
	}
	if (!(flags & IORING_CQE_F_BUFFER)) {
		violation("READ of block %llu: no buffer (flags %llx)", blk,
			  flags);
		return 0;
	}
	seed = block_seed(buf_at(w, flags >> IORING_CQE_BUFFER_SHIFT), blk);
	if (!seed)
		violation("buffer %llu does not hold block %llu",
			  flags >> IORING_CQE_BUFFER_SHIFT, blk);
	return seed;
}

/* Verify a READ and hold its buffer for a while before giving it back. */
static void w_check_read(struct worker *w, unsigned int blk, int res,
			 __u32 flags)
{
	__u64 seed = w_verify(w, blk, res, flags);
	struct held *h;

	if (!seed)
		return;
	h = &w->held[w->nr_held++];
	h->bid = flags >> IORING_CQE_BUFFER_SHIFT;
	h->blk = blk;
	h->seed = seed;
	if (w->nr_held == MAX_HELD)
		w_return_all(w);
}

static unsigned int rand_block(void)
{
	return rand() % (RD_BLOCKS + WR_BLOCKS);
}

/* Submit @n reads of random blocks; the block is the user_data. */
static int w_submit_reads(struct worker *w, unsigned int n)
{
	unsigned int i, blk;

	for (i = 0; i < n; i++) {
		blk = rand_block();
		if (blk_queue(&w->ring, w->fd, KMBUF_BLK_READ, (__u64)blk * BS,
			      BS, 0, 0, blk))
			return -EBUSY;
	}
	return io_uring_submit(&w->ring) == (int)n ? 0 : -EIO;
}

/* A child on its own io_uring tries the parent's binding of @fd. */
static void w_fork(struct worker *w)
{
	struct io_uring other;
	int status, bad = 0;
	pid_t pid;

	count(OP_FORK);
	pid = fork();
	if (pid < 0)
		return;
	if (!pid) {
		if (io_uring_queue_init(8, &other, 0))
			_exit(2);
		if (blk_cmd(&other, w->fd, KMBUF_BLK_READ, 0, BS, 0, 0,
			    NULL) != -EXDEV)
			bad |= 4;
		if (blk_return(&other, w->fd, 0) != -EXDEV)
			bad |= 8;
		if (blk_unbind(&other, w->fd) != -EXDEV)
			bad |= 16;
		if (blk_bind(&other, w->fd, RO_ID, 0, BS, 1) != -EBUSY)
			bad |= 32;
		_exit(bad);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		violation("forked child: status %llx, pid %llu", status, pid);
}

/* UNBIND with nothing held, then bind again elsewhere in the region. */
static void w_rebind(struct worker *w)
{
	int ret;

	count(OP_REBIND);
	w_return_all(w);
	ret = blk_unbind(&w->ring, w->fd);
	if (ret)
		violation("UNBIND: %lld (%llu)", ret, 0);
	w->bind_off = (__u64)(rand() % 4) * NBUF * BS;
	ret = blk_bind(&w->ring, w->fd, RO_ID, w->bind_off, BS, NBUF);
	if (ret)
		violation("BIND after returning everything: %lld at %llu", ret,
			  w->bind_off);
}

/*
 * Reads in flight, then the file (or the whole io_uring) goes: the reads
 * still complete with verified data, and the worker starts over on a
 * fresh io_uring (buffers it still holds keep their bytes reserved until
 * the old region goes).
 */
static void w_close_in_flight(struct worker *w, bool ring_exit)
{
	unsigned int i;

	count(ring_exit ? OP_EXIT_RING : OP_CLOSE);
	w_return_all(w);
	if (w_submit_reads(w, 4)) {
		violation("submitting 4 reads failed (%llu %llu)", 0, 0);
		return;
	}
	if (!ring_exit) {
		close(w->fd);
		w->fd = -1;
		for (i = 0; i < 4; i++) {
			__u64 ud;
			__u32 fl;
			int res;

			if (blk_reap(&w->ring, &ud, &res, &fl)) {
				violation("read %llu after close: no CQE (%llu)",
					  i, 0);
				break;
			}
			w_verify(w, ud, res, fl);
		}
	}
	w_teardown(w);
	if (w_setup(w))
		violation("setup after a ring exit (%llu) failed (%llu)",
			  ring_exit, 0);
}

static void w_write(struct worker *w)
{
	unsigned int blk = RD_BLOCKS + rand() % WR_BLOCKS;
	__u64 seed = rand() & 1 ? SEED_A : SEED_B;
	void *buf;
	int dfd;

	count(OP_WRITE);
	if (posix_memalign(&buf, BS, BS))
		return;
	blk_pattern_fill(buf, (__u64)blk * BS, BS, seed);
	dfd = open(BLK_DEV, O_WRONLY | O_DIRECT);
	if (dfd >= 0) {
		if (pwrite(dfd, buf, BS, (off_t)blk * BS) != BS)
			violation("pwrite block %llu: errno %llu", blk, errno);
		close(dfd);
	}
	free(buf);
}

static void worker_main(unsigned int seed, time_t end)
{
	struct worker w = { };

	srand(seed);
	if (w_setup(&w)) {
		violation("worker setup failed (seed %llu, %llu)", seed, 0);
		_exit(1);
	}
	while (time(NULL) < end) {
		unsigned int r = rand() % 100;
		__u32 fl = 0;
		int res;

		if (r < 70) {
			unsigned int blk = rand_block();

			res = blk_cmd(&w.ring, w.fd, KMBUF_BLK_READ,
				      (__u64)blk * BS, BS, 0, 0, &fl);
			w_check_read(&w, blk, res, fl);
		} else if (r < 80) {
			w_write(&w);
		} else if (r < 85) {
			w_fork(&w);
		} else if (r < 90) {
			w_rebind(&w);
		} else if (r < 93) {
			w_close_in_flight(&w, false);
		} else if (r < 96) {
			w_close_in_flight(&w, true);
		} else {
			w_return_all(&w);
		}
	}
	w_return_all(&w);
	w_teardown(&w);
	_exit(0);
}

static pid_t spawn(unsigned int seed, time_t end)
{
	pid_t pid = fork();

	if (!pid)
		worker_main(seed, end);
	return pid;
}

/* Reap @pid, waiting at most 10 s; false if it is still there. */
static bool reap(pid_t pid, int *status)
{
	int i;

	for (i = 0; i < 1000; i++) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return true;
		usleep(10 * 1000);
	}
	return false;
}

TEST(stress)
{
	const char *s = getenv("KMBUF_STRESS_SECONDS");
	const char *sd = getenv("KMBUF_STRESS_SEED");
	unsigned int seconds = s ? atoi(s) : 20;
	unsigned int seed = sd ? strtoul(sd, NULL, 0) : time(NULL);
	pid_t pids[NR_WORKERS];
	unsigned long total = 0;
	time_t end;
	void *buf;
	int fd, i, status;

	if (blk_load())
		SKIP(return, "kmbuf_blk not available");
	stats = mmap(NULL, sizeof(*stats), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, stats);
	TH_LOG("seed %u, %u s (KMBUF_STRESS_SEED=%u replays it)", seed,
	       seconds, seed);
	srand(seed);

	/* the areas' contents: SEED_R, then SEED_A */
	ASSERT_EQ(0, posix_memalign(&buf, BS, (RD_BLOCKS + WR_BLOCKS) * BS));
	blk_pattern_fill(buf, 0, RD_BLOCKS * BS, SEED_R);
	blk_pattern_fill((char *)buf + RD_BLOCKS * BS, RD_BLOCKS * BS,
			 WR_BLOCKS * BS, SEED_A);
	fd = open(BLK_DEV, O_RDWR | O_DIRECT);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)((RD_BLOCKS + WR_BLOCKS) * BS),
		  pwrite(fd, buf, (RD_BLOCKS + WR_BLOCKS) * BS, 0));
	close(fd);
	free(buf);

	end = time(NULL) + seconds;
	for (i = 0; i < NR_WORKERS; i++) {
		pids[i] = spawn(rand(), end);
		ASSERT_LT(0, pids[i]);
	}
	while (time(NULL) < end) {
		usleep(100 * 1000 + rand() % 300000);
		i = rand() % NR_WORKERS;
		kill(pids[i], SIGKILL);
		if (!reap(pids[i], &status)) {
			violation("worker %llu survived SIGKILL for 10 s (%llu)",
				  pids[i], 0);
			break;
		}
		count(OP_KILL);
		if (time(NULL) < end)
			pids[i] = spawn(rand(), end);
		else
			pids[i] = 0;
	}
	for (i = 0; i < NR_WORKERS; i++) {
		if (!pids[i])
			continue;
		if (!reap(pids[i], &status) &&
		    (kill(pids[i], SIGKILL), !reap(pids[i], &status)))
			violation("worker %llu did not end (%llu)", pids[i], 0);
	}

	for (i = 0; i < NR_OPS; i++) {
		TH_LOG("%-20s %lu", op_names[i], stats->ops[i]);
		total += stats->ops[i];
	}
	TH_LOG("%lu operations, %lu violations", total, stats->violations);
	EXPECT_EQ(0, stats->violations) {
		TH_LOG("first: %s (seed %u)", stats->first, seed);
	}
	EXPECT_LT(0, stats->ops[OP_READ]);

	/* nothing of the killed workers keeps the module */
	for (i = 0; i < 100; i++) {
		if (!system("rmmod kmbuf_blk 2>/dev/null"))
			break;
		usleep(100 * 1000);
	}
	EXPECT_GT(100, i);
	EXPECT_EQ(0, blk_load());
	munmap(stats, sizeof(*stats));
}

TEST_HARNESS_MAIN
