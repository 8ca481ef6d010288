// SPDX-License-Identifier: GPL-2.0
/*
 * stress: a seeded, bounded campaign over every kmbuf surface at once.
 *
 *   stress [--seed N] [--ops N | --duration S] [--procs P] [--threads T]
 *          [--op-timeout S] [--user UID] [--intruder UID] [--memlock BYTES]
 *          [--cgroup DIR]
 *
 * P processes of T threads each (default 2 x 2) run random operations,
 * with random and boundary arguments, each on an io_uring instance of its
 * own: memory regions (kernel, read-only, user memory) and what userspace
 * does to their mappings (mmap, munmap, mprotect, mremap, madvise, fork),
 * kmbuf rings of random geometry bound and unbound on kmbuf_chr,
 * kmbuf_tick and kmbuf_blk files (the RAM disk, and the disk stacked on
 * NVMe when it is loaded) sharing those regions, multishot ARMs, returns
 * (valid, duplicate, foreign, out of range), chr writes and reads in every
 * mode, verified blk reads and writes, debugfs corruption, region ranges
 * as fixed buffers (READ_FIXED, WRITE_FIXED), cancellation (UNBIND,
 * ASYNC_CANCEL, linked timeouts), closed files, exited rings, children
 * killed with commands in flight, and rmmod attempts.
 *
 * Each thread's operations follow from the seed and its index, so
 * `--seed N` with the same --procs, --threads and --ops replays a failing
 * run's operation sequence (the interleaving between threads differs).
 *
 * Invariants checked as it goes; any violation prints the seed, the kind
 * of operation and its index, and exits 1:
 *  - every call returns success or an errno its documentation lists, and
 *    no operation takes longer than --op-timeout seconds of the guest
 *    running (a watchdog that does not count time QEMU was stopped);
 *  - data delivered is what was generated or written: chr generator
 *    sequence numbers and pattern bytes, queue records exactly once
 *    (across every process), tick records in order, blk blocks as last
 *    written (CRC32C kept per block here);
 *  - no buffer id is handed out twice without a return in between;
 *  - a buffer of a read-only region does not change while userspace holds
 *    it, even after its ring is unbound; the region's last page, which no
 *    ring uses, stays zero;
 *  - a block corrupted with debugfs never reaches the application: its
 *    reads fail (EBADMSG, EILSEQ) until it is written again;
 *  - regions alive never add up to more than RLIMIT_MEMLOCK;
 *  - as --user, run from a memory cgroup (--cgroup): memory.events
 *    oom_kill stays 0; the largest memory.current, memory.peak, VmPin and
 *    VmLck seen are reported;
 *  - an --intruder uid sees no record, region, ring or file of --user.
 *
 * Started as root with --user, it forks a root helper first (it corrupts
 * blocks through debugfs and runs rmmod and modprobe for the workers),
 * then sets RLIMIT_MEMLOCK to --memlock, changes to --user and drops
 * every capability.  scripts/stress.sh sets up the cgroup and devices.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <time.h>
#include <dirent.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/fs.h>

#include "chr_util.h"
#include "blk_util.h"
#include "tick_util.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif
#define MAXW		32		/* worker threads in all */
#define QCNT		(1U << 18)	/* queue records per writer */
#define UNIT		4096U		/* blk I/O granularity */
#define SLICE		32U		/* units of a worker's disk slice */
#define NVME_DEV	"/dev/kmbufblk-nvme0n1"
#define NREG		15		/* region ids per ring, 1..15 */
#define NSLOT		4		/* fixed-buffer slots */
#define MAXBUFS		256		/* buffers per ring, at most */

enum kind {
	K_RING, K_REGION, K_MAP, K_VM, K_FORK, K_KILL, K_BIND, K_UNBIND,
	K_ARM, K_REAP, K_RETURN, K_BADRET, K_CHR_WRITE, K_CHR_READ,
	K_CHR_MODE, K_TICK, K_BLK_READ, K_BLK_WRITE, K_CORRUPT, K_FIXED,
	K_FIXED_IO, K_CANCEL, K_LINK_TIMEOUT, K_CLOSE, K_RMMOD, K_BADCMD,
	K_XRING, K_INTRUDE, K_NR,
};

static const char *const kind_name[K_NR] = {
	"ring_exit", "region", "mmap", "vm_ops", "fork", "kill_child",
	"bind", "unbind", "arm", "reap", "return", "bad_return", "chr_write",
	"chr_read", "chr_mode", "tick_ctl", "blk_read", "blk_write",
	"corrupt", "fixed_slot", "fixed_io", "async_cancel",
	"link_timeout", "close", "rmmod", "bad_cmd", "cross_ring",
	"intruder",
};

/* relative weights of the kinds a worker picks */
static const unsigned int kind_weight[K_NR] = {
	[K_RING] = 2, [K_REGION] = 8, [K_MAP] = 4, [K_VM] = 6, [K_FORK] = 1,
	[K_KILL] = 1, [K_BIND] = 10, [K_UNBIND] = 3, [K_ARM] = 8,
	[K_REAP] = 25, [K_RETURN] = 10, [K_BADRET] = 5, [K_CHR_WRITE] = 12,
	[K_CHR_READ] = 6, [K_CHR_MODE] = 4, [K_TICK] = 3, [K_BLK_READ] = 14,
	[K_BLK_WRITE] = 10, [K_CORRUPT] = 3, [K_FIXED] = 4, [K_FIXED_IO] = 8,
	[K_CANCEL] = 3, [K_LINK_TIMEOUT] = 3, [K_CLOSE] = 2, [K_RMMOD] = 1,
	[K_BADCMD] = 6, [K_XRING] = 4,
};

/* the memory all processes share */
struct shm {
	int		stop;
	int		fail;
	unsigned long long cnt[K_NR];
	unsigned long long err[K_NR];
	/*
	 * The watchdog's clock: the main process's ticks, one per 100 ms it
	 * sleeps.  Wall time would count the seconds a stopped (SIGSTOP) or
	 * starved QEMU did not run the guest at all.
	 */
	unsigned long long tick;
	struct {
		unsigned long long t0;	/* tick + 1 at the start, 0: idle */
		unsigned long long opi;
		int		kind;
		int		pid;
	} busy[MAXW];
	long long	locked;		/* region bytes alive, as counted here */
	long long	locked_max;
	int		mod_gen[4];	/* odd while the helper reloads */
	/* modules unloaded and loaded again; kmbuf_blk: a new RAM disk */
	int		reloads[4];
	int		nvictims;	/* worker pids, for the intruder */
	pid_t		victims[MAXW];
	unsigned char	qseen[MAXW][QCNT / 8];
};

static struct shm *shm;
/* see w_fork() */
static pthread_rwlock_t fork_lock = PTHREAD_RWLOCK_INITIALIZER;
static unsigned long long g_seed = 1, g_ops, g_duration;
static unsigned int g_procs = 2, g_threads = 2, g_op_timeout = 240;
static long g_user = -1, g_intruder = -1;
static unsigned long long g_memlock;
static const char *g_cgroup;
static unsigned long long g_deadline;	/* ns */
static int g_helper_fd[MAXW];		/* worker end of helper sockets */
static bool g_have_nvme;

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* helper requests */
enum { H_CORRUPT, H_DELAY, H_RMMOD };
enum { M_TICK, M_CHR, M_BLK, M_FIXED };
static const char *const mod_name[] = {
	"kmbuf_tick", "kmbuf_chr", "kmbuf_blk", "kmbuf_fixed_test",
};

struct hreq {
	int		op;
	int		arg;
	unsigned long long val;
};

struct region {
	bool		live;
	__u32		id;
	int		kind;		/* R_* */
	bool		fixed_role;	/* used by fixed buffers, never rings */
	size_t		size;
	char		*map;		/* readable mapping, or NULL */
	size_t		map_len;
	bool		map_rw;
	__u64		mmap_off;
	/* bytes [lo, hi) no ring may take: held buffers of an unbound ring */
	size_t		taint_lo, taint_hi;
	unsigned int	rf_taint;	/* refill slots (port bit) likewise */
};

enum { R_KERN, R_RO, R_USER };

enum { P_CHR, P_TICK, P_BLK, P_NVME, P_NR };
static const char *const port_name[P_NR] = { "chr", "tick", "blk", "nvme" };

/* a buffer userspace holds: its length and a checksum of its bytes */
struct held {
	bool		held;
	int		len;
	__u32		csum;
	unsigned long long op;	/* that delivered it, for messages */
};

/* a buffer of an unbound ring that stays readable and unchanged */
struct orphan {
	int		reg;
	size_t		off;
	int		len;
	__u32		csum;
	/* for the message: where it came from */
	int		pi, bid;
	unsigned long long read_op, unbind_op;
};

struct port {
	int		fd;
	__u16		bgen;		/* this binding, in ARM user_data */
	bool		was_armed;	/* since BIND: stale CQEs may come */
	unsigned int	stale_bufs;	/* since BIND: buffers in stale CQEs */
	bool		bound;
	unsigned long long bind_op;	/* for messages */
	int		reg;		/* index into regions */
	__u64		off;
	__u32		bs, nr;
	struct held	held[MAXBUFS];
	int		nheld;
	struct kmbuf_refill *refill;	/* or NULL */
	__u32		rf_entries;
	int		rf_reg;
	size_t		rf_off;		/* of the refill ring in rf_reg */
	unsigned int	armed;		/* bit per stream (tick channels) */
	/* chr */
	__u32		mode, rec_size;
	__u64		gen_next, pat_off;
	unsigned int	junk;		/* records of a previous mode to come */
	/* tick */
	__u32		nchan, tick_rec;
	bool		configured;
	/*
	 * Channels started (bit per channel): a started channel writes its
	 * records into buffers of a bound ring whether or not it is armed;
	 * they wait in the stream for the next ARM.
	 */
	unsigned int	running;
	__u64		tick_seq[4];
	bool		tick_seen[4];
	/* blk: expected CRC of each unit of this worker's slice */
	__u64		base;
	__u32		crc[SLICE];
	bool		known[SLICE];
	bool		corrupt[SLICE];
	int		blk_reloads;	/* shm->reloads[M_BLK] the model is of */
	/* for the messages: the op that last wrote or flipped each unit */
	unsigned long long wr_op[SLICE], flip_op[SLICE];
	unsigned int	flips[SLICE];	/* since the last write */
	int		dfd;		/* O_DIRECT file of the disk */
};

struct slot {
	bool		used;
	int		reg;
	__u64		off, len;
};

struct wk {
	int		wid;
	unsigned long long rng;
	unsigned long long opi;
	int		kind;
	struct rx	rx;
	bool		ring_ok;
	__u32		next_id;
	struct region	reg[NREG + 1];
	struct port	port[P_NR];
	bool		table;
	struct slot	slot[NSLOT];
	struct orphan	orphan[64];
	int		norphan;
	__u32		qseq;		/* next queue record of this writer */
	__u16		gen_ctr;	/* source of port bgen values */
	unsigned char	hist[32];	/* kinds of the last operations */
	unsigned char	*buf;		/* KMBUF_CHR_MAX_RECORD scratch */
};

static __thread struct wk *cur;
static struct wk *g_wk;		/* this process's workers */

static void violation(struct wk *w, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr,
		"VIOLATION seed=%llu kind=%s op=%llu worker=%d pid=%d: %s\n",
		g_seed, w ? kind_name[w->kind] : "-", w ? w->opi : 0,
		w ? w->wid : -1, getpid(), msg);
	if (w) {
		unsigned int i;

		fprintf(stderr, "last operations:");
		for (i = 0; i < 32 && i <= w->opi; i++)
			fprintf(stderr, " %s", kind_name[w->hist[(w->opi - i) % 32]]);
		fprintf(stderr, "\n");
	}
	fprintf(stderr, "replay: stress --seed %llu --procs %u --threads %u%s\n",
		g_seed, g_procs, g_threads, g_ops ? " --ops (same)" : "");
	__atomic_store_n(&shm->fail, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&shm->stop, 1, __ATOMIC_SEQ_CST);
	_exit(1);
}

static unsigned long long rnd64(struct wk *w)
{
	unsigned long long z = (w->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned int rnd(struct wk *w, unsigned int n)
{
	return n ? rnd64(w) % n : 0;
}

static bool chance(struct wk *w, unsigned int pct)
{
	return rnd(w, 100) < pct;
}

/* Fail unless @ret is 0 or more, or minus one of the listed errnos. */
static void want_(struct wk *w, const char *what, long ret, const int *ok)
{
	if (ret >= 0)
		return;
	for (; *ok; ok++)
		if (ret == -*ok)
			return;
	violation(w, "%s: unexpected result %ld (%s)", what, ret,
		  strerror((int)-ret));
}

#define WANT(w, what, ret, ...) \
	want_(w, what, ret, (const int[]){ __VA_ARGS__, 0 })

/* Fail unless @ret is exactly @exp. */
static void expect_eq(struct wk *w, const char *what, long ret, long exp)
{
	if (ret != exp)
		violation(w, "%s: got %ld (%s), expected %ld", what, ret,
			  ret < 0 ? strerror((int)-ret) : "", exp);
}

static void count_err(struct wk *w, long ret)
{
	if (ret < 0)
		__atomic_add_fetch(&shm->err[w->kind], 1, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------- helper */

static int helper(int wid, int op, int arg, unsigned long long val)
{
	struct hreq q = { .op = op, .arg = arg, .val = val };
	int ret;

	if (g_helper_fd[wid] < 0)
		return -EOPNOTSUPP;
	if (write(g_helper_fd[wid], &q, sizeof(q)) != sizeof(q))
		return -EPIPE;
	if (read(g_helper_fd[wid], &ret, sizeof(ret)) != sizeof(ret))
		return -EPIPE;
	return ret;
}

static void chmod_devs(void)
{
	static const char * const devs[] = {
		CHR_DEV, TICK_DEV, BLK_DEV, NVME_DEV, "/dev/kmbuf_fixed_test",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(devs); i++)
		chmod(devs[i], 0666);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int helper_do(const struct hreq *q)
{
	char path[128], val[32], cmd[256], lower[64] = "";
	int ret, fd;

	switch (q->op) {
	case H_CORRUPT:
		snprintf(val, sizeof(val), "%llu\n", q->val);
		return write_str(BLK_DBG "corrupt", val);
	case H_DELAY:
		snprintf(val, sizeof(val), "%llu\n", q->val);
		return write_str(BLK_DBG "delay_us", val);
	case H_RMMOD:
		if (q->arg < 0 || q->arg > M_FIXED)
			return -EINVAL;
		if (q->arg == M_BLK) {
			fd = open("/sys/module/kmbuf_blk/parameters/lower",
				  O_RDONLY);
			if (fd >= 0) {
				ret = read(fd, lower, sizeof(lower) - 1);
				lower[ret > 0 ? ret : 0] = 0;
				lower[strcspn(lower, "\n")] = 0;
				close(fd);
			}
		}
		__atomic_add_fetch(&shm->mod_gen[q->arg], 1, __ATOMIC_SEQ_CST);
		ret = syscall(SYS_delete_module, mod_name[q->arg], O_NONBLOCK);
		ret = ret ? -errno : 0;
		if (!ret) {
			__atomic_add_fetch(&shm->reloads[q->arg], 1,
					   __ATOMIC_SEQ_CST);
			if (q->arg == M_BLK && lower[0] && strcmp(lower, "(null)"))
				snprintf(cmd, sizeof(cmd),
					 "modprobe kmbuf_blk lower=%s", lower);
			else
				snprintf(cmd, sizeof(cmd), "modprobe %s",
					 mod_name[q->arg]);
			if (system(cmd))
				ret = -EIO;
			chmod_devs();
		}
		__atomic_add_fetch(&shm->mod_gen[q->arg], 1, __ATOMIC_SEQ_CST);
		(void)path;
		return ret;
	}
	return -EINVAL;
}

static void helper_main(int *fds, int n)
{
	struct pollfd pfd[MAXW];
	int i, live = n;

	for (i = 0; i < n; i++) {
		pfd[i].fd = fds[i];
		pfd[i].events = POLLIN;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (live) {
		if (poll(pfd, n, -1) < 0)
			continue;
		for (i = 0; i < n; i++) {
			struct hreq q;
			int ret;

			if (!pfd[i].revents)
				continue;
			if (read(pfd[i].fd, &q, sizeof(q)) != sizeof(q)) {
				pfd[i].fd = -1;
				live--;
				continue;
			}
			ret = helper_do(&q);
			if (write(pfd[i].fd, &ret, sizeof(ret)) < 0)
				pfd[i].fd = -1;
		}
	}
	_exit(0);
}

/* ------------------------------------------------------------- regions */

static __u32 csum(const void *p, size_t len)
{
	return blk_crc32c(~0U, p, len);
}

static bool reg_readable(struct wk *w, int ri, __u64 off, size_t len)
{
	struct region *r = &w->reg[ri];

	return r->live && r->map && off + len <= r->map_len;
}

static void track_locked(long long delta)
{
	long long v = __atomic_add_fetch(&shm->locked, delta, __ATOMIC_SEQ_CST);
	long long m = __atomic_load_n(&shm->locked_max, __ATOMIC_RELAXED);

	while (v > m && !__atomic_compare_exchange_n(&shm->locked_max, &m, v,
						     false, __ATOMIC_SEQ_CST,
						     __ATOMIC_RELAXED))
		;
	if (g_memlock && v > (long long)g_memlock)
		violation(cur, "regions alive: %lld bytes > RLIMIT_MEMLOCK %llu",
			  v, g_memlock);
}

static void reg_unmap(struct region *r)
{
	if (r->map && r->kind != R_USER)
		munmap(r->map, r->map_len);
	r->map = NULL;
	r->map_len = 0;
}

/* the last page of a read-only region is used by no ring: still zero? */
static void check_ro_tail(struct wk *w, int ri)
{
	struct region *r = &w->reg[ri];
	size_t i, pg = 4096;

	if (!r->live || r->kind != R_RO || r->size < 2 * pg ||
	    !reg_readable(w, ri, r->size - pg, pg))
		return;
	for (i = r->size - pg; i < r->size; i++)
		if (r->map[i])
			violation(w, "read-only region %u byte %zu changed: %#x",
				  r->id, i, r->map[i]);
}

static void check_orphans(struct wk *w)
{
	int i;

	for (i = 0; i < w->norphan; i++) {
		struct orphan *o = &w->orphan[i];

		if (!reg_readable(w, o->reg, o->off, o->len))
			continue;
		if (csum(w->reg[o->reg].map + o->off, o->len) != o->csum) {
			int j;

			for (j = 0; j < P_NR; j++) {
				struct port *q = &w->port[j];

				if (q->fd > 0 && q->bound && q->reg == o->reg &&
				    o->off < q->off + (__u64)q->bs * q->nr &&
				    q->off < o->off + o->len)
					fprintf(stderr,
						"# %s is bound over it now: off %llu bs %u nr %u, bound at op %llu\n",
						port_name[j],
						(unsigned long long)q->off,
						q->bs, q->nr, q->bind_op);
			}
			violation(w,
				  "buffer held past UNBIND at region %u +%zu changed (%s buffer %d, %d bytes, read at op %llu, unbound at op %llu)",
				  w->reg[o->reg].id, o->off, port_name[o->pi],
				  o->bid, o->len, o->read_op, o->unbind_op);
		}
	}
}

static void ports_close(struct wk *w);

static void ring_open(struct wk *w)
{
	int ret;

	ret = rx_init(&w->rx, 64, 1024, 0);
	if (ret) {
		WANT(w, "io_uring_setup", ret, ENOMEM, EAGAIN);
		w->ring_ok = false;
		return;
	}
	/* the watchdog judges: a stopped guest must not time out here */
	w->rx.timeout_s = 3600;
	w->ring_ok = true;
	w->next_id = 1;
	w->table = false;
	memset(w->slot, 0, sizeof(w->slot));
}

/* Exit the io_uring instance with whatever is in flight. */
static void ring_close(struct wk *w, bool files_first)
{
	long long freed = 0;
	int i;

	if (!w->ring_ok)
		return;
	check_orphans(w);
	for (i = 1; i <= NREG; i++)
		check_ro_tail(w, i);
	if (files_first)
		ports_close(w);
	for (i = 1; i <= NREG; i++) {
		struct region *r = &w->reg[i];

		if (!r->live)
			continue;
		reg_unmap(r);
		if (r->kind == R_USER)
			munmap((void *)r->mmap_off, r->size);
		freed += r->size;
		memset(r, 0, sizeof(*r));
	}
	/* the ring's last reference, as for port files */
	pthread_rwlock_wrlock(&fork_lock);
	rx_exit(&w->rx);
	pthread_rwlock_unlock(&fork_lock);
	w->ring_ok = false;
	if (!files_first)
		ports_close(w);
	/*
	 * Only now: closing the ports keeps their held buffers as orphans,
	 * which name regions of this ring, whose indexes the next ring's
	 * regions take.
	 */
	w->norphan = 0;
	track_locked(-freed);
}

static size_t rand_size(struct wk *w)
{
	static const size_t sizes[] = { 4096, 8192, 16384, 65536, 131072,
					 3 * 4096, 262144 };

	return sizes[rnd(w, ARRAY_SIZE(sizes))];
}

/* Register a region: kernel, read-only or user memory, maybe bad. */
static void op_region(struct wk *w)
{
	struct io_uring_region_desc rd = { };
	int kind = rnd(w, 3), ret, bad = chance(w, 15) ? 1 + rnd(w, 5) : 0;
	int ri = w->next_id;
	size_t size = rand_size(w);
	void *um = NULL;

	if (!w->ring_ok || ri > NREG)
		return;
	rd.id = ri;
	rd.size = size;
	if (kind == R_USER) {
		um = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (um == MAP_FAILED)
			return;
		rd.user_addr = (uintptr_t)um;
		rd.flags = IORING_MEM_REGION_TYPE_USER;
	} else if (kind == R_RO) {
		rd.flags = IORING_MEM_REGION_RDONLY;
	}
	switch (bad) {
	case 1:
		rd.size = 0;
		break;
	case 2:
		rd.size = size + 1;
		break;
	case 3:
		rd.id = 16 + rnd(w, 100);
		break;
	case 4:
		if (w->next_id > 1)
			rd.id = 1 + rnd(w, w->next_id - 1);	/* in use */
		else
			rd.size = 1ULL << 62;
		break;
	case 5:
		rd.__resv[0] = 1;
		break;
	}
	ret = kmbuf_region_register(w->rx.ring.ring_fd, &rd, 0);
	count_err(w, ret);
	if (bad) {
		if (ret >= 0)
			violation(w, "bad region (case %d) registered", bad);
		WANT(w, "bad region", ret, EINVAL, EBUSY, E2BIG, EOVERFLOW,
		     ENOMEM, EFAULT, EAGAIN);
		if (bad == 4 && w->next_id > 1)
			expect_eq(w, "region id in use", ret, -EBUSY);
		if (um)
			munmap(um, size);
		return;
	}
	WANT(w, "region register", ret, ENOMEM, EAGAIN);
	if (ret < 0) {
		if (um)
			munmap(um, size);
		return;
	}
	track_locked(size);
	w->next_id++;
	w->reg[ri] = (struct region){
		.live = true, .id = ri, .kind = kind, .size = size,
		.fixed_role = chance(w, 25),
		.mmap_off = um ? (uintptr_t)um : rd.mmap_offset,
	};
	if (um) {
		w->reg[ri].map = um;
		w->reg[ri].map_len = size;
		w->reg[ri].map_rw = true;
	}
}

static int pick_region(struct wk *w, bool any)
{
	int i, n = 0, c[NREG];

	for (i = 1; i <= NREG; i++)
		if (w->reg[i].live && (any || !w->reg[i].fixed_role))
			c[n++] = i;
	return n ? c[rnd(w, n)] : 0;
}

/* A read-only region of no fixed role, or @other if there is none. */
static int pick_ro_region(struct wk *w, int other)
{
	int i, n = 0, c[NREG];

	for (i = 1; i <= NREG; i++)
		if (w->reg[i].live && !w->reg[i].fixed_role &&
		    w->reg[i].kind == R_RO)
			c[n++] = i;
	return n ? c[rnd(w, n)] : other;
}

/* mmap a kernel region: whole, read-only, writable (refused if RO), bad */
static void op_map(struct wk *w)
{
	int ri = pick_region(w, true), prot, ret;
	struct region *r = &w->reg[ri];
	void *p;
	size_t len;

	if (!ri || r->kind == R_USER)
		return;
	prot = chance(w, 50) ? PROT_READ : PROT_READ | PROT_WRITE;
	len = r->size;
	if (chance(w, 10))
		len += 4096;		/* beyond the region: refused */
	ret = kmbuf_region_mmap(w->rx.ring.ring_fd, r->mmap_off, len, prot, &p);
	count_err(w, ret);
	if (len > r->size) {
		if (ret >= 0)
			violation(w, "mmap beyond region %u succeeded", r->id);
		WANT(w, "mmap beyond", ret, EINVAL, ENOMEM, EOVERFLOW);
		return;
	}
	if (r->kind == R_RO && (prot & PROT_WRITE)) {
		if (ret >= 0)
			violation(w, "writable mmap of read-only region %u", r->id);
		WANT(w, "mmap rdonly rw", ret, EPERM, EACCES);
		return;
	}
	WANT(w, "mmap region", ret, ENOMEM, EAGAIN);
	if (ret < 0)
		return;
	reg_unmap(r);
	r->map = p;
	r->map_len = len;
	r->map_rw = prot & PROT_WRITE;
	check_ro_tail(w, ri);
}

/*
 * The mapping of region @ri no longer holds what @copy does, across an
 * operation that must not change it: say where, and what of ours covers
 * those bytes.
 */
static void region_changed(struct wk *w, int ri, const char *copy,
			   const char *what, int arg)
{
	struct region *r = &w->reg[ri];
	char msg[1024];
	size_t lo, hi, o;
	int n, i;

	for (lo = 0; lo < r->map_len && copy[lo] == r->map[lo]; lo++)
		;
	for (hi = r->map_len; hi > lo && copy[hi - 1] == r->map[hi - 1]; hi--)
		;
	n = snprintf(msg, sizeof(msg),
		     "%s(%d) changed region %u (kind %d, %zu bytes, mapped %zu%s): bytes %zu-%zu",
		     what, arg, r->id, r->kind, r->size, r->map_len,
		     r->map_rw ? " rw" : "", lo, hi - 1);
	for (i = 0; i < P_NR && n < (int)sizeof(msg); i++) {
		struct port *p = &w->port[i];

		if (p->fd <= 0 || !p->bound || (p->reg != ri && p->rf_reg != ri))
			continue;
		o = lo - p->off;
		n += snprintf(msg + n, sizeof(msg) - n,
			      "; %s ring at %llu, %u x %u, armed %#x, started %#x, held %d, bid at lo %zd%s, refill %s",
			      port_name[i], (unsigned long long)p->off, p->nr,
			      p->bs, p->armed, p->running, p->nheld,
			      p->reg == ri && lo >= p->off && o / p->bs < p->nr ?
			      (ssize_t)(o / p->bs) : -1,
			      p->reg == ri && lo >= p->off && o / p->bs < p->nr &&
			      p->held[o / p->bs].held ? " (held)" : "",
			      !p->refill ? "none" : p->rf_reg == ri ? "here" :
			      "elsewhere");
	}
	for (i = 0; i < NSLOT && n < (int)sizeof(msg); i++)
		if (w->slot[i].used && w->slot[i].reg == ri)
			n += snprintf(msg + n, sizeof(msg) - n,
				      "; fixed slot %d at %llu, %llu bytes", i,
				      (unsigned long long)w->slot[i].off,
				      (unsigned long long)w->slot[i].len);
	if (r->taint_hi && n < (int)sizeof(msg))
		snprintf(msg + n, sizeof(msg) - n, "; reserved past UNBIND %zu-%zu",
			 r->taint_lo, r->taint_hi);
	/* what was written, and what the kernel says of our files */
	fprintf(stderr, "bytes %zu-%zu now:", lo, hi - 1);
	for (o = lo; o < hi && o < lo + 64; o++)
		fprintf(stderr, " %02x", (unsigned char)r->map[o]);
	fprintf(stderr, "\n");
	for (i = 0; i < P_NR; i++) {
		char path[64], line[256];
		FILE *f;

		if (w->port[i].fd <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", w->port[i].fd);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "kmbuf"))
				fprintf(stderr, "%s fdinfo: %s", port_name[i], line);
		if (f)
			fclose(f);
	}
	violation(w, "%s", msg);
}

/* munmap, mprotect, mremap and madvise on a region's mapping */
static void op_vm(struct wk *w)
{
	int ri = pick_region(w, true), ret, what = rnd(w, 8);
	struct region *r = &w->reg[ri];
	void *p;

	if (!ri || !r->map)
		return;
	/* user memory: only advice, the mapping is ours */
	if (r->kind == R_USER && what < 3)
		what = 3 + rnd(w, 3);
	switch (what) {
	case 0:		/* munmap the tail, keep the head */
		if (r->map_len > 4096) {
			size_t keep = 4096 * (1 + rnd(w, r->map_len / 4096 - 1));

			ret = munmap(r->map + keep, r->map_len - keep);
			expect_eq(w, "munmap tail", ret ? -errno : 0, 0);
			r->map_len = keep;
		} else {
			reg_unmap(r);
		}
		break;
	case 1:		/* mprotect: read-only regions never become writable */
		ret = mprotect(r->map, r->map_len, PROT_READ | PROT_WRITE);
		ret = ret ? -errno : 0;
		count_err(w, ret);
		if (r->kind == R_RO) {
			if (!ret)
				violation(w, "mprotect(PROT_WRITE) of read-only region %u",
					  r->id);
			WANT(w, "mprotect ro", ret, EACCES);
		} else {
			expect_eq(w, "mprotect rw", ret, 0);
			r->map_rw = true;
			if (chance(w, 50)) {
				ret = mprotect(r->map, r->map_len, PROT_READ);
				expect_eq(w, "mprotect r", ret ? -errno : 0, 0);
				r->map_rw = false;
			}
		}
		break;
	case 2:		/* mremap: may move, may not grow */
		p = mremap(r->map, r->map_len, r->map_len, MREMAP_MAYMOVE);
		if (p == MAP_FAILED) {
			count_err(w, -errno);
			WANT(w, "mremap move", -errno, EFAULT, EINVAL, ENOMEM);
		} else {
			r->map = p;
		}
		p = mremap(r->map, r->map_len, r->map_len + 4096, 0);
		if (p != MAP_FAILED)
			violation(w, "mremap grew region %u's mapping", r->id);
		WANT(w, "mremap grow", -errno, EFAULT, ENOMEM, EINVAL);
		break;
	case 3:
		{;	/* advice that keeps the pages: contents must stay */
		static const int adv[] = { MADV_WILLNEED, MADV_RANDOM,
					   MADV_SEQUENTIAL, MADV_COLD,
					   MADV_PAGEOUT, MADV_NORMAL,
					   MADV_HUGEPAGE, MADV_MERGEABLE };
		int a = adv[rnd(w, ARRAY_SIZE(adv))];
		char *copy;

		/*
		 * Not while a ring may write into it: a stream armed or
		 * started, or a ring that lives on past UNBIND or close (its
		 * file held by an ARM in flight): those write their range
		 * and their refill ring's head.
		 */
		if (w->port[P_CHR].armed || w->port[P_TICK].armed ||
		    (w->port[P_TICK].bound && w->port[P_TICK].running) ||
		    r->rf_taint)
			break;
		copy = malloc(r->map_len);
		if (!copy)
			break;
		memcpy(copy, r->map, r->map_len);
		ret = madvise(r->map, r->map_len, a) ? -errno : 0;
		count_err(w, ret);
		WANT(w, "madvise", ret, EINVAL, EAGAIN, EPERM, ENOMEM);
		if (r->taint_hi && r->taint_lo < r->map_len)
			memcpy(copy + r->taint_lo, r->map + r->taint_lo,
			       (r->taint_hi < r->map_len ? r->taint_hi :
				r->map_len) - r->taint_lo);
		if (memcmp(copy, r->map, r->map_len))
			region_changed(w, ri, copy, "madvise", a);
		free(copy);
		break;
	}
	case 4:		/* DONTNEED drops the pages from the mapping */
		ret = madvise(r->map, r->map_len, MADV_DONTNEED) ? -errno : 0;
		count_err(w, ret);
		WANT(w, "madvise dontneed", ret, EINVAL, EAGAIN, EPERM);
		/* refaulting has no handler: remap before reading again */
		reg_unmap(r);
		break;
	case 6:
		{;	/* a private mapping: writes stay private */
		int prot = PROT_READ | (r->kind == R_RO ? 0 : PROT_WRITE);
		char *q;

		q = mmap(NULL, 4096, prot, MAP_PRIVATE, w->rx.ring.ring_fd,
			 r->mmap_off);
		if (q == MAP_FAILED) {
			count_err(w, -errno);
			WANT(w, "private mmap", -errno, EINVAL, ENOMEM, EPERM);
			break;
		}
		if (r->kind == R_RO) {
			ret = mprotect(q, 4096, PROT_READ | PROT_WRITE);
			if (!ret)
				violation(w, "private mapping of read-only region %u made writable",
					  r->id);
			WANT(w, "mprotect private ro", -errno, EACCES);
		} else if (r->fixed_role) {
			/* no ring writes here: the shared view must not move */
			char before = r->map[0];

			q[0] = ~before;
			if (r->map[0] != before)
				violation(w, "a private mapping's write reached region %u",
					  r->id);
		}
		munmap(q, 4096);
		break;
	}
	case 7:
		{;	/* FOLL_FORCE through /proc/self/mem: not into read-only */
		int fd = open("/proc/self/mem", O_RDWR);
		char c = 0x5a;

		if (fd < 0 || r->kind != R_RO)
			goto out_mem;
		ret = pwrite(fd, &c, 1, (uintptr_t)r->map) == 1 ? 0 : -errno;
		count_err(w, ret);
		if (!ret)
			violation(w, "/proc/self/mem wrote into read-only region %u",
				  r->id);
		WANT(w, "/proc/self/mem write", ret, EFAULT, EIO, EPERM, EACCES);
out_mem:
		if (fd >= 0)
			close(fd);
		break;
	}
	case 5:		/* DONTFORK then DOFORK */
		ret = madvise(r->map, r->map_len, MADV_DONTFORK) ? -errno : 0;
		WANT(w, "madvise dontfork", ret, EINVAL);
		ret = madvise(r->map, r->map_len, MADV_DOFORK) ? -errno : 0;
		count_err(w, ret);
		WANT(w, "madvise dofork", ret, EINVAL);
		break;
	}
}

/*
 * A forked child gets a copy of the process's file table, so a file that a
 * sibling thread closes meanwhile lives on, bound ring and all, until the
 * child lets go of it.  The children need none of the inherited files:
 * they close them before the parent goes on, and files are closed only
 * while no child is between fork() and that point, so a close is the
 * file's last reference as the model assumes.
 */
static void close_unforked(int fd)
{
	pthread_rwlock_wrlock(&fork_lock);
	close(fd);
	pthread_rwlock_unlock(&fork_lock);
}

/* fork: the child keeps the mappings but not the files */
static pid_t w_fork(struct wk *w)
{
	int pfd[2], ret;
	pid_t pid;
	char c;

	if (pipe2(pfd, O_CLOEXEC)) {
		count_err(w, -errno);
		WANT(w, "pipe", -errno, EMFILE, ENFILE, ENOMEM);
		return -1;
	}
	pthread_rwlock_rdlock(&fork_lock);
	pid = fork();
	if (!pid) {
		/* 0-2 stay for messages */
		if (pfd[1] > 3)
			close_range(3, pfd[1] - 1, 0);
		close_range(pfd[1] + 1, ~0U, 0);
		if (write(pfd[1], "", 1) != 1)
			_exit(1);
		close(pfd[1]);
		return 0;
	}
	ret = pid < 0 ? -errno : 0;
	close(pfd[1]);
	/* the byte, or EOF if the child died first */
	if (pid > 0 && read(pfd[0], &c, 1) < 0)
		violation(w, "fork: reading the child's pipe: %s",
			  strerror(errno));
	close(pfd[0]);
	pthread_rwlock_unlock(&fork_lock);
	if (ret) {
		count_err(w, ret);
		WANT(w, "fork", ret, EAGAIN, ENOMEM);
	}
	return pid;
}

/* fork: the child sees the read-only data as the parent does */
static void op_fork(struct wk *w)
{
	pid_t pid;
	int st, i;

	pid = w_fork(w);
	if (pid < 0)
		return;
	if (!pid) {
		for (i = 1; i <= NREG; i++)
			check_ro_tail(w, i);
		check_orphans(w);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		violation(w, "forked child status %#x", st);
}

/* A child with commands in flight, killed at a random moment. */
static void op_kill(struct wk *w)
{
	unsigned int delay = rnd(w, 20000);
	pid_t pid;
	int st;

	pid = w_fork(w);
	if (pid < 0)
		return;
	if (!pid) {
		struct kmbuf_region reg;
		struct io_uring ring;
		struct io_uring_sqe *sqe;
		struct kmbuf_bind b = { .region_id = 1, .buf_size = 4096,
					.nr_bufs = 8 };
		struct kmbuf_cmd c = { .addr = (uintptr_t)&b };
		int fd, bfd, i;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (io_uring_queue_init(32, &ring, 0))
			_exit(0);
		fd = open(CHR_DEV, O_RDWR | O_NONBLOCK);
		bfd = open(BLK_DEV, O_RDONLY);
		if (kmbuf_region_create(ring.ring_fd, 1, 65536,
					IORING_MEM_REGION_RDONLY, 0, &reg))
			_exit(0);
		if (fd >= 0) {
			chr_set_mode(fd, KMBUF_CHR_MODE_GEN, 64, 0);
			sqe = io_uring_get_sqe(&ring);
			kmbuf_prep_cmd(sqe, fd, KMBUF_CMD_BIND, 0, &c);
			sqe->flags |= IOSQE_IO_LINK;
			sqe = io_uring_get_sqe(&ring);
			kmbuf_prep_arm(sqe, fd, 0);
		}
		if (bfd >= 0) {
			b.offset = 32768;
			sqe = io_uring_get_sqe(&ring);
			kmbuf_prep_cmd(sqe, bfd, KMBUF_CMD_BIND, 0, &c);
			sqe->flags |= IOSQE_IO_LINK;
			for (i = 0; i < 6; i++) {
				sqe = io_uring_get_sqe(&ring);
				blk_prep(sqe, bfd, KMBUF_BLK_READ,
					 (__u64)i * 4096, 4096, 0, 0);
			}
		}
		io_uring_submit(&ring);
		for (;;)
			io_uring_submit_and_wait(&ring, 1);
	}
	usleep(delay);
	kill(pid, SIGKILL);
	if (waitpid(pid, &st, 0) != pid)
		violation(w, "waitpid of killed child");
}

/* ---------------------------------------------------------------- ports */

static void blk_init_slice(struct wk *w, int pi);

static int port_open(struct wk *w, int pi)
{
	static const char *const dev[P_NR] = { CHR_DEV, TICK_DEV, BLK_DEV,
					       NVME_DEV };
	static const int mod[P_NR] = { M_CHR, M_TICK, M_BLK, M_BLK };
	struct port *p = &w->port[pi];
	int gen = __atomic_load_n(&shm->mod_gen[mod[pi]], __ATOMIC_SEQ_CST);
	int fd, ret;

	fd = open(dev[pi], O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		/* the module was being reloaded: its node may be missing */
		if ((gen & 1) || gen != __atomic_load_n(&shm->mod_gen[mod[pi]],
							__ATOMIC_SEQ_CST)) {
			WANT(w, "open during reload", ret, ENOENT, ENXIO,
			     ENODEV, EACCES);
			return ret;
		}
		violation(w, "open %s: %s", dev[pi], strerror(-ret));
	}
	/* the blk model stays: the disk keeps its data */
	memset(p, 0, offsetof(struct port, base));
	p->fd = fd;
	p->bgen = ++w->gen_ctr;
	p->dfd = -1;
	if (pi == P_BLK || pi == P_NVME) {
		p->base = (1ULL << 20) + (__u64)w->wid * SLICE * UNIT;
		p->dfd = open(dev[pi], O_RDWR | O_DIRECT | O_CLOEXEC);
		if (p->dfd < 0)
			violation(w, "open %s O_DIRECT: %s", dev[pi],
				  strerror(errno));
	}
	/*
	 * kmbuf_blk was unloaded since the model was made (which takes every
	 * file of it closed, ours too): the RAM disk is a new one, all zero.
	 * The disk stacked on NVMe keeps its data.
	 */
	if (pi == P_BLK) {
		int r = __atomic_load_n(&shm->reloads[M_BLK], __ATOMIC_SEQ_CST);

		if (r != p->blk_reloads) {
			p->blk_reloads = r;
			blk_init_slice(w, pi);
		}
	}
	return 0;
}

/*
 * The ring of @p goes: buffers userspace holds stay readable and unchanged
 * (kept as orphans) and reserve their bytes until the region goes.  A
 * stream that was armed may have handed over buffers whose CQEs are still
 * to come: then the whole range counts as reserved.
 */
static void port_unbound(struct wk *w, int pi)
{
	struct port *p = &w->port[pi];
	struct region *r = &w->reg[p->reg];
	int i;

	if (!p->bound)
		return;
	for (i = 0; i < (int)p->nr; i++)
		if (p->held[i].held && pi >= P_BLK && p->held[i].len &&
		    w->norphan < 64)
			w->orphan[w->norphan++] = (struct orphan){
				.reg = p->reg,
				.off = p->off + (size_t)i * p->bs,
				.len = p->held[i].len, .csum = p->held[i].csum,
				.pi = pi, .bid = i, .read_op = p->held[i].op,
				.unbind_op = w->opi,
			};
	/*
	 * A tick timer may hold a buffer of the ring as it goes: the ring
	 * lives on until the buffer comes back (kmbuf.rst, Contexts).
	 */
	if (p->nheld || p->was_armed || pi == P_TICK) {
		/* the ring may live on, its refill ring included */
		if (p->refill)
			w->reg[p->rf_reg].rf_taint |= 1U << pi;
		if (!r->taint_hi || p->off < r->taint_lo)
			r->taint_lo = p->off;
		if (p->off + (size_t)p->bs * p->nr > r->taint_hi)
			r->taint_hi = p->off + (size_t)p->bs * p->nr;
	}
	p->bound = false;
	p->refill = NULL;
	p->bgen = ++w->gen_ctr;
	p->armed = 0;
	p->nheld = 0;
	memset(p->held, 0, sizeof(p->held));
}

static void port_close(struct wk *w, int pi)
{
	struct port *p = &w->port[pi];

	if (p->fd <= 0)
		return;
	port_unbound(w, pi);
	close_unforked(p->fd);
	if (p->dfd >= 0)
		close_unforked(p->dfd);
	p->fd = 0;
	p->dfd = -1;
	p->bound = false;
}

static void ports_close(struct wk *w)
{
	int i;

	for (i = 0; i < P_NR; i++)
		port_close(w, i);
}

static bool port_ok(struct wk *w, int pi)
{
	if (pi == P_NVME && !g_have_nvme)
		return false;
	if (w->port[pi].fd <= 0)
		port_open(w, pi);
	return w->port[pi].fd > 0;
}

/* ------------------------------------------------------- data checking */

static void check_chr_buf(struct wk *w, struct port *p, const unsigned char *b,
			  int len)
{
	long seq, i;

	switch (p->mode) {
	case KMBUF_CHR_MODE_GEN:
		i = gen_mismatch(b, len, p->rec_size, p->gen_next);
		if (i >= 0)
			violation(w, "chr gen record %llu (len %d of %u): word %ld is %#llx",
				  (unsigned long long)p->gen_next, len,
				  p->rec_size, i,
				  len >= 8 * (i + 1) ?
				  (unsigned long long)((const __u64 *)b)[i] : 0ULL);
		p->gen_next++;
		break;
	case KMBUF_CHR_MODE_PATTERN:
		for (i = 0; i < len; i++)
			if (b[i] != kmbuf_chr_pattern_byte(p->pat_off + i))
				violation(w, "chr pattern byte %llu wrong",
					  (unsigned long long)p->pat_off + i);
		p->pat_off += len;
		break;
	default:
		seq = check_rec(b, len);
		if (seq < 0)
			violation(w, "chr queue record of %d bytes corrupt", len);
		if ((seq >> 18) >= MAXW ||
		    __atomic_fetch_or(&shm->qseen[seq >> 18][(seq & (QCNT - 1)) / 8],
				      1 << (seq & 7), __ATOMIC_SEQ_CST) &
		    (1 << (seq & 7)))
			violation(w, "chr queue record %#lx delivered twice", seq);
		break;
	}
}

static void check_tick_buf(struct wk *w, struct port *p, unsigned int ch,
			   const void *b, int len)
{
	const char *why;
	__u64 seq;

	if (ch >= p->nchan)
		violation(w, "tick record on channel %u of %u", ch, p->nchan);
	why = tick_check_rec(b, len, ch, &seq);
	if (why)
		violation(w, "tick channel %u: %s", ch, why);
	if (len != (int)(p->tick_rec < p->bs ? p->tick_rec : p->bs))
		violation(w, "tick record of %d bytes, rec_size %u buf %u", len,
			  p->tick_rec, p->bs);
	if (p->tick_seen[ch] && seq <= p->tick_seq[ch])
		violation(w, "tick channel %u: seq %llu after %llu", ch,
			  (unsigned long long)seq,
			  (unsigned long long)p->tick_seq[ch]);
	p->tick_seen[ch] = true;
	p->tick_seq[ch] = seq;
}

/* user_data of our own requests: tag << 56 | port << 48 | extra */
enum { T_ARM = 1, T_LTO, T_CANCEL, T_NOP };
#define UD(tag, port, x) ((__u64)(tag) << 56 | (__u64)(port) << 48 | (x))
#define UD_TAG(ud)	((ud) >> 56 & 0x7f)
#define UD_PORT(ud)	((ud) >> 48 & 0xff)
#define UD_X(ud)	((ud) & 0xffffffffffffULL)
/* ARM of stream @s of the binding @gen */
#define UDA(pi, s, gen) UD(T_ARM, pi, (__u64)(gen) << 16 | (s))
#define UD_STREAM(ud)	(UD_X(ud) & 0xffff)
#define UD_GEN(ud)	((__u16)(UD_X(ud) >> 16))

/* A buffer the kernel just handed over: check, mark held. */
static void got_buf(struct wk *w, int pi, unsigned int stream,
		    const struct rx_cqe *c)
{
	struct port *p = &w->port[pi];
	unsigned int bid = c->flags >> IORING_CQE_BUFFER_SHIFT;
	__u64 off;

	if (!p->bound || bid >= p->nr)
		violation(w, "%s: CQE names buffer %u of a %s ring of %u",
			  port_name[pi], bid, p->bound ? "bound" : "unbound",
			  p->nr);
	if (p->held[bid].held)
		violation(w, "%s: buffer %u handed out twice", port_name[pi],
			  bid);
	if (c->res < 0 || (__u32)c->res > p->bs)
		violation(w, "%s: buffer CQE res %d, buffers of %u",
			  port_name[pi], c->res, p->bs);
	p->held[bid].held = true;
	p->held[bid].len = c->res;
	p->nheld++;
	off = p->off + (__u64)bid * p->bs;
	if (!reg_readable(w, p->reg, off, c->res)) {
		/* not mapped: unchecked, but the stream moved on */
		if (pi == P_CHR && p->junk)
			p->junk--;
		else if (pi == P_CHR && p->mode == KMBUF_CHR_MODE_GEN)
			p->gen_next++;
		else if (pi == P_CHR && p->mode == KMBUF_CHR_MODE_PATTERN)
			p->pat_off += c->res;
		return;
	}
	if (pi == P_CHR && p->junk)
		p->junk--;	/* kept from before a SET_MODE */
	else if (pi == P_CHR)
		check_chr_buf(w, p, (unsigned char *)w->reg[p->reg].map + off,
			      c->res);
	else if (pi == P_TICK)
		check_tick_buf(w, p, stream, w->reg[p->reg].map + off, c->res);
	p->held[bid].csum = csum(w->reg[p->reg].map + off, c->res);
}

static void handle_cqe(struct wk *w, const struct rx_cqe *c)
{
	int pi = UD_PORT(c->ud), tag = UD_TAG(c->ud);
	struct port *p;

	if (c->ud & UD_SYNC)	/* a sync command that timed out earlier */
		violation(w, "stray sync CQE %#llx res %d",
			  (unsigned long long)c->ud, c->res);
	if (tag == T_NOP)
		return;
	if (tag == T_LTO) {
		WANT(w, "link timeout CQE", c->res, ETIME, ECANCELED, ENOENT,
		     EALREADY);
		return;
	}
	if (tag == T_CANCEL) {
		WANT(w, "async cancel CQE", c->res, ENOENT, EALREADY);
		return;
	}
	if (tag != T_ARM || pi >= P_NR)
		violation(w, "CQE with unknown user_data %#llx res %d",
			  (unsigned long long)c->ud, c->res);
	p = &w->port[pi];
	if (c->flags & IORING_CQE_F_BUFFER) {
		if (!(c->flags & IORING_CQE_F_MORE))
			violation(w, "%s: final ARM CQE carries a buffer",
				  port_name[pi]);
		/* a binding that is gone: its buffers no longer count */
		if (UD_GEN(c->ud) == p->bgen)
			got_buf(w, pi, UD_STREAM(c->ud), c);
		else
			p->stale_bufs++;
		return;
	}
	if (c->flags & IORING_CQE_F_MORE)
		violation(w, "%s: ARM CQE with F_MORE but no buffer, res %d",
			  port_name[pi], c->res);
	if (UD_GEN(c->ud) == p->bgen)
		p->armed &= ~(1U << UD_STREAM(c->ud));
	WANT(w, "ARM final CQE", c->res, ECANCELED, EOVERFLOW, EMSGSIZE);
}

/* Hand every CQE that is ready to handle_cqe(). */
static void drain(struct wk *w)
{
	struct rx_cqe c;

	if (!w->ring_ok)
		return;
	io_uring_submit(&w->rx.ring);
	while (!rx_peek(&w->rx, &c))
		handle_cqe(w, &c);
}

/*
 * Run kmbuf_blk command @op and return its res (its CQE flags in *@flags);
 * CQEs of other requests wait in w->rx for drain().
 */
static int blk_sync(struct wk *w, int fd, __u32 op, __u64 offset, __u32 len,
		    __u16 region_id, __u64 addr, __u32 *flags)
{
	__u64 ud = rx_sync_ud(&w->rx);
	struct rx_cqe c;
	int ret;

	ret = blk_queue(&w->rx.ring, fd, op, offset, len, region_id, addr, ud);
	if (ret)
		return ret;
	ret = rx_wait_cqe(&w->rx, ud, &c);
	if (ret)
		return ret;
	if (flags)
		*flags = c.flags;
	return c.res;
}

/* Wait for the final CQE of stream @s of port @pi. */
static void wait_unarmed(struct wk *w, int pi, unsigned int s)
{
	struct rx_cqe c;

	while (w->port[pi].armed & (1U << s)) {
		if (rx_next(&w->rx, &c))
			violation(w, "%s: no final CQE for stream %u",
				  port_name[pi], s);
		handle_cqe(w, &c);
	}
}

/* ---------------------------------------------------------------- rings */

static void set_tick(struct wk *w, struct port *p)
{
	int ret;

	if (p->configured)
		return;
	p->nchan = 1 + rnd(w, 3);
	p->tick_rec = 32 + 8 * rnd(w, 60);
	ret = tick_config(p->fd, p->nchan, p->tick_rec,
			  500000 + rnd(w, 5000000));
	WANT(w, "tick config", ret, ENOMEM);
	p->configured = !ret;
}

/*
 * A BIND over bytes no ring of ours should hold failed with EBUSY: say
 * whether the file still had a ring and whether the bytes came free later.
 */
static void bind_busy(struct wk *w, int pi, struct kmbuf_bind *b,
		      const char *what)
{
	long long bound = fdinfo_val(w->port[pi].fd, "kmbuf_bound");
	int i, ret = -EBUSY;

	for (i = 0; i < 100 && ret == -EBUSY; i++) {
		usleep(20000);
		ret = rx_bind_desc(&w->rx, w->port[pi].fd, b);
	}
	violation(w,
		  "%s: EBUSY (fdinfo kmbuf_bound %lld, -1: not shown for this file); again after %d ms: %d",
		  what, bound, i * 20, ret);
}

/* Geometry for a port: mostly valid, sometimes one field wrong. */
static void bind_port(struct wk *w, int pi)
{
	int ri, ret, bad, rr = 0;
	struct port *p = &w->port[pi];
	struct kmbuf_refill *rf = NULL;
	struct kmbuf_bind b = { };
	struct region *r;
	__u32 align = pi >= P_BLK ? 4096 : 64, maxbs;
	bool overlap = false, valid;
	int i;

	if (!w->ring_ok || !port_ok(w, pi))
		return;
	ri = pick_region(w, false);
	if (pi >= P_BLK && chance(w, 75))
		ri = pick_ro_region(w, ri);	/* blk binds need one */
	if (!ri)
		return;
	r = &w->reg[ri];
	if (pi == P_TICK && chance(w, 80))
		set_tick(w, p);
	maxbs = pi == P_CHR ? 16384 : pi == P_TICK ? 4096 : 65536;
	b.region_id = r->id;
	b.buf_size = align * (1 + rnd(w, maxbs / align));
	if (b.buf_size > r->size)
		b.buf_size = align;
	b.nr_bufs = 1 + rnd(w, r->size / b.buf_size);
	if (b.nr_bufs > MAXBUFS)
		b.nr_bufs = MAXBUFS;
	b.offset = (__u64)align * rnd(w, (r->size - (__u64)b.buf_size *
					  b.nr_bufs) / align + 1);
	bad = chance(w, 15) ? 1 + rnd(w, 8) : 0;
	switch (bad) {
	case 1:
		b.nr_bufs = chance(w, 50) ? 0 : KMBUF_MAX_RING_BUFS + 1;
		break;
	case 2:
		b.buf_size = chance(w, 50) ? 0 : b.buf_size + 8;
		break;
	case 3:
		b.offset += 8;
		break;
	case 4:
		b.offset = r->size - b.buf_size + align;
		break;
	case 5:
		b.region_id = 16 + rnd(w, 1000);
		break;
	case 6:
		b.resv = 1;
		break;
	case 7:
		b.offset = ~0ULL - 4095;
		break;
	case 8:
		b.flags = KMBUF_BIND_REFILL;	/* in a read-only region */
		for (i = 1; i <= NREG; i++)
			if (w->reg[i].live && w->reg[i].kind == R_RO)
				break;
		if (i > NREG)
			return;
		b.refill_region = w->reg[i].id;
		b.refill_entries = 4;
		b.refill_offset = w->reg[i].size - 4096;
		break;
	}
	/*
	 * The last page of a region is never a buffer: read-only regions
	 * keep it zero (check_ro_tail()), writable ones hold refill rings.
	 */
	if (!bad && r->size >= 8192 &&
	    b.offset + (__u64)b.buf_size * b.nr_bufs > r->size - 4096)
		return;
	if (!bad && !p->bound && chance(w, 35)) {
		/* a refill ring in the last page of a writable region */
		struct region *q;

		rr = pick_region(w, false);
		q = &w->reg[rr];
		if (rr && q->kind != R_RO && q->size >= 8192 && q->map &&
		    q->map_rw && q->map_len == q->size)
			rf = kmbuf_refill_init(&b, q->map, q->id,
					       q->size - 4096 + pi * 1024,
					       1U << rnd(w, 8));
	}
	for (i = 0; i < P_NR; i++) {
		struct port *q = &w->port[i];

		if (q->fd > 0 && q->bound && q->reg == ri &&
		    b.offset < q->off + (__u64)q->bs * q->nr &&
		    q->off < b.offset + (__u64)b.buf_size * b.nr_bufs)
			overlap = true;
	}
	ret = rx_bind_desc(&w->rx, p->fd, &b);
	count_err(w, ret);
	valid = !bad && !p->bound && !overlap;
	if (pi == P_TICK && !p->configured) {
		expect_eq(w, "BIND on an unconfigured tick file", ret, -ENXIO);
		return;
	}
	if (bad || p->bound || overlap) {
		if (ret >= 0)
			violation(w, "%s: BIND succeeded: bad %d bound %d overlap %d",
				  port_name[pi], bad, p->bound, overlap);
		WANT(w, "bad BIND", ret, EINVAL, EOVERFLOW, ENOENT, EBUSY,
		     EACCES);
		if (p->bound && !bad && !overlap)
			expect_eq(w, "BIND on a bound file", ret, -EBUSY);
		return;
	}
	if (pi >= P_BLK && r->kind != R_RO) {
		expect_eq(w, "blk BIND on a writable region", ret, -EACCES);
		return;
	}
	/* a range still reserved by held buffers of an unbound ring */
	if ((r->taint_hi && b.offset < r->taint_hi &&
	     r->taint_lo < b.offset + (__u64)b.buf_size * b.nr_bufs) ||
	    (rf && w->reg[rr].rf_taint & (1U << pi))) {
		WANT(w, "BIND over reserved bytes", ret, EBUSY);
	} else {
		char what[160];

		snprintf(what, sizeof(what),
			 "%s BIND region %u (kind %d, %zu bytes) off %llu bs %u nr %u refill %u@%llu",
			 port_name[pi], r->id, r->kind, r->size,
			 (unsigned long long)b.offset, b.buf_size, b.nr_bufs,
			 b.refill_region, (unsigned long long)b.refill_offset);
		if (ret == -EBUSY)
			bind_busy(w, pi, &b, what);
		if (pi < P_BLK && r->kind == R_RO)
			WANT(w, what, ret, EACCES);
		else
			WANT(w, what, ret, ENOMEM);
	}
	if (ret < 0 || !valid)
		return;
	/* buffers userspace holds keep their ring's bytes reserved */
	for (i = 0; i < w->norphan; i++) {
		struct orphan *o = &w->orphan[i];

		if (o->reg == ri && o->off < b.offset +
		    (__u64)b.buf_size * b.nr_bufs && b.offset < o->off + o->len)
			violation(w,
				  "%s BIND over a buffer held past UNBIND succeeded (%s buffer %d at +%zu, read at op %llu, unbound at op %llu)",
				  port_name[pi], port_name[o->pi], o->bid,
				  o->off, o->read_op, o->unbind_op);
	}
	p->bound = true;
	p->bind_op = w->opi;
	p->refill = rf;
	p->rf_off = rf ? (char *)rf - w->reg[rr].map : 0;
	p->rf_entries = b.refill_entries;
	p->rf_reg = rr;
	p->bgen = ++w->gen_ctr;
	p->was_armed = false;
	p->stale_bufs = 0;
	p->reg = ri;
	p->off = b.offset;
	p->bs = b.buf_size;
	p->nr = b.nr_bufs;
	p->nheld = 0;
	p->armed = 0;
	memset(p->held, 0, sizeof(p->held));
}

static void op_bind(struct wk *w)
{
	bind_port(w, rnd(w, P_NR));
}

static void op_unbind(struct wk *w)
{
	int pi = rnd(w, P_NR), ret;
	long long dropped;
	struct port *p = &w->port[pi];

	if (!w->ring_ok || p->fd <= 0)
		return;
	drain(w);
	dropped = pi < P_BLK ? fdinfo_val(p->fd, "kmbuf_dropped") : 0;
	ret = rx_unbind(&w->rx, p->fd);
	count_err(w, ret);
	if (!p->bound) {
		expect_eq(w, "UNBIND of an unbound file", ret, -ENXIO);
		return;
	}
	expect_eq(w, "UNBIND", ret, 0);
	/* what came before the UNBIND's CQE still counts */
	drain(w);
	/* records still waiting were dropped: their data is gone */
	if (pi == P_CHR) {
		long long d = fdinfo_val(p->fd, "kmbuf_dropped") - dropped;
		long long j = d < p->junk ? d : p->junk;

		p->junk -= j;
		d -= j;
		if (p->mode == KMBUF_CHR_MODE_GEN)
			p->gen_next += d;
		else if (p->mode == KMBUF_CHR_MODE_PATTERN)
			p->pat_off += d * p->bs;
	}
	/* armed streams end with ECANCELED; those CQEs are stale now */
	port_unbound(w, pi);
}

static void op_arm(struct wk *w)
{
	int pi = chance(w, 60) ? P_CHR : P_TICK;
	struct port *p = &w->port[pi];
	struct io_uring_sqe *sqe;
	unsigned int stream = 0;

	if (!w->ring_ok || !port_ok(w, pi))
		return;
	if (pi == P_TICK) {
		set_tick(w, p);
		if (!p->configured)
			return;
		stream = rnd(w, p->nchan);
	}
	drain(w);
	if (p->armed & (1U << stream) || !p->bound)
		return;	/* EBUSY and ENXIO come from bad_cmd */
	sqe = kmbuf_get_sqe(&w->rx.ring);
	if (!sqe)
		return;
	kmbuf_prep_arm(sqe, p->fd, stream);
	sqe->user_data = UDA(pi, stream, p->bgen);
	p->armed |= 1U << stream;
	p->was_armed = true;
	io_uring_submit(&w->rx.ring);
	if (pi == P_TICK && chance(w, 70)) {
		expect_eq(w, "tick start",
			  tick_range(p->fd, KMBUF_TICK_START, stream, 1), 0);
		p->running |= 1U << stream;
	}
}

/* Can we write the refill ring of @p? */
/*
 * The refill ring is in a mapping of its region that covers it, writable;
 * the mapping may have moved (mremap) or been made anew since the BIND.
 */
static bool refill_usable(struct wk *w, struct port *p)
{
	struct region *q = &w->reg[p->rf_reg];

	if (!(p->bound && p->refill && q->live && q->map && q->map_rw &&
	      q->map_len == q->size))
		return false;
	p->refill = (struct kmbuf_refill *)(q->map + p->rf_off);
	return true;
}

/* fdinfo kmbuf_refill_bad of @pi before ids go into its refill ring */
static long long refill_bad(struct wk *w, int pi)
{
	return pi < P_BLK ? fdinfo_val(w->port[pi].fd, FDI_REFILL_BAD) : -1;
}

/*
 * After @good valid and @bad invalid ids went into the refill ring: the
 * doorbell reads it now.  It gives back at most what was pushed and
 * counts every bad one (fdinfo kmbuf_refill_bad, chr and tick, @bad0
 * before the push: a started tick channel may read the ring at any time).
 */
static void refill_doorbell(struct wk *w, int pi, unsigned int good,
			    unsigned int bad, long long bad0)
{
	struct port *p = &w->port[pi];
	/* for the message: had the kernel read the ring before the doorbell? */
	long long bad1 = refill_bad(w, pi);
	__u32 head = __atomic_load_n(&p->refill->head, __ATOMIC_ACQUIRE);
	__u32 tail = p->refill->tail;
	int ret;

	ret = rx_cmd(&w->rx, p->fd, KMBUF_CMD_RETURN, 0, 0, 0);
	count_err(w, ret);
	if (ret < 0 || (unsigned int)ret > good)
		violation(w, "%s: refill doorbell returned %d of %u pushed",
			  port_name[pi], ret, good);
	if (bad0 >= 0 && fdinfo_val(p->fd, FDI_REFILL_BAD) - bad0 != bad)
		violation(w,
			  "%s: %u bad ids, refill_bad %lld -> %lld (at the doorbell: %lld, head %u tail %u)",
			  port_name[pi], bad, bad0,
			  fdinfo_val(p->fd, FDI_REFILL_BAD), bad1, head, tail);
}

/* Give back held buffers: a batch, by refill ring or KMBUF_CMD_RETURN. */
static void give_back(struct wk *w, int pi, unsigned int max)
{
	struct port *p = &w->port[pi];
	__u32 ids[MAXBUFS];
	unsigned int n = 0, i;
	int ret;

	if (!p->bound || !p->nheld)
		return;
	for (i = 0; i < p->nr && n < max; i++) {
		__u64 off = p->off + (__u64)i * p->bs;

		if (!p->held[i].held)
			continue;
		/* read-only data did not change while we held it */
		if (pi >= P_BLK && reg_readable(w, p->reg, off, p->held[i].len) &&
		    csum(w->reg[p->reg].map + off, p->held[i].len) !=
		    p->held[i].csum)
			violation(w, "%s: held buffer %u changed", port_name[pi], i);
		ids[n++] = i;
	}
	if (refill_usable(w, p) && chance(w, 60)) {
		/* pushed ids are the kernel's as soon as it reads them */
		long long bad0 = refill_bad(w, pi);
		unsigned int k = kmbuf_refill_push_many(p->refill, p->rf_entries,
							ids, n);

		for (i = 0; i < k; i++)
			p->held[ids[i]].held = false;
		p->nheld -= k;
		refill_doorbell(w, pi, k, 0, bad0);
		memmove(ids, ids + k, (n - k) * sizeof(ids[0]));
		n -= k;
		if (!n)
			return;
	}
	ret = rx_return(&w->rx, p->fd, ids, n);
	count_err(w, ret);
	expect_eq(w, "RETURN of held buffers", ret, n);
	for (i = 0; i < n; i++)
		p->held[ids[i]].held = false;
	p->nheld -= n;
}

static void op_reap(struct wk *w)
{
	int i;

	drain(w);
	/* no stream delivers: the kernel counts what we hold */
	for (i = 0; i < P_BLK; i++) {
		struct port *p = &w->port[i];
		long long u;

		if (p->fd <= 0 || !p->bound || p->armed)
			continue;
		u = fdinfo_val(p->fd, "kmbuf_user");
		if (u != p->nheld)
			violation(w,
				  "%s: fdinfo kmbuf_user %lld, we hold %d (buffers in stale CQEs since BIND: %u)",
				  port_name[i], u, p->nheld, p->stale_bufs);
	}
	for (i = 0; i < P_NR; i++)
		if (w->port[i].bound && w->port[i].fd > 0 && chance(w, 60))
			give_back(w, i, 1 + rnd(w, MAXBUFS));
	check_orphans(w);
}

static void op_return(struct wk *w)
{
	int pi = rnd(w, P_NR);

	drain(w);
	if (w->port[pi].fd > 0 && w->ring_ok)
		give_back(w, pi, 1 + rnd(w, 8));
}

/* Duplicate, foreign (not held) and out-of-range ids: all refused. */
static void op_badret(struct wk *w)
{
	int pi = rnd(w, P_NR), ret, how = rnd(w, 4);
	struct port *p = &w->port[pi];
	__u32 ids[3];
	unsigned int i, n = 0;

	if (!w->ring_ok || p->fd <= 0)
		return;
	drain(w);
	if (how == 0) {				/* out of range */
		ids[n++] = p->bound ? p->nr + rnd(w, 70000) : rnd(w, 10);
	} else if (how == 1) {			/* duplicate in one batch */
		for (i = 0; i < p->nr && p->bound; i++)
			if (p->held[i].held)
				break;
		if (!p->bound || i == p->nr)
			return;
		ids[n++] = i;
		ids[n++] = i;
	} else {				/* not held by userspace */
		/* a stream that delivers may hand it over meanwhile */
		if (!p->bound || p->armed || p->nheld >= (int)p->nr)
			return;
		for (i = rnd(w, p->nr); p->held[i].held; i = (i + 1) % p->nr)
			;
		ids[n++] = i;
	}
	if (p->bound && refill_usable(w, p) && pi < P_BLK && chance(w, 40) &&
	    (how == 0 || how >= 2)) {
		/* the same ids through the refill ring: skipped and counted */
		long long bad0 = refill_bad(w, pi);

		if (kmbuf_refill_push_many(p->refill, p->rf_entries, ids, n) == n)
			refill_doorbell(w, pi, 0, n, bad0);
		return;
	}
	ret = rx_return(&w->rx, p->fd, ids, n);
	count_err(w, ret);
	if (!p->bound)
		expect_eq(w, "RETURN on an unbound file", ret, -ENXIO);
	else if (how == 0)
		expect_eq(w, "RETURN of an id out of range", ret, -EINVAL);
	else if (n > p->nr)	/* @nr: 1 to the ring's buffer count */
		expect_eq(w, "RETURN of more ids than buffers", ret, -EINVAL);
	else
		expect_eq(w, "RETURN of an id not held", ret, -EALREADY);
}

/* ------------------------------------------------------------------ chr */

/* Write one queue record of ours: its id is wid << 18 | count. */
static long chr_write_one(struct wk *w, int fd, int how, unsigned int len)
{
	__u32 seq = (__u32)w->wid << 18 | w->qseq;
	unsigned char *b = w->buf;
	struct iovec iov[2];
	unsigned int i;
	long ret;

	memcpy(b, &seq, 4);
	memcpy(b + 4, &len, 4);
	for (i = 8; i < len; i++)
		b[i] = (unsigned char)(seq * 31 + i);
	switch (how) {
	case 0:
		ret = write(fd, b, len);
		break;
	default:
		iov[0].iov_base = b;
		iov[0].iov_len = len / 2;
		iov[1].iov_base = b + len / 2;
		iov[1].iov_len = len - len / 2;
		ret = pwritev2(fd, iov, 2, -1, RWF_NOWAIT);
		break;
	}
	return ret < 0 ? -errno : ret;
}

static void op_chr_write(struct wk *w)
{
	struct port *p = &w->port[P_CHR];
	unsigned int len, how = rnd(w, 3);
	long ret;

	if (!port_ok(w, P_CHR) || w->qseq >= QCNT)
		return;
	if (how == 2 && !w->ring_ok)
		how = 0;
	len = chance(w, 5) ? KMBUF_CHR_MAX_RECORD : 8 + rnd(w, 2048);
	if (chance(w, 3)) {		/* too large: refused whole */
		ret = write(p->fd, w->buf, KMBUF_CHR_MAX_RECORD + 1);
		count_err(w, -errno);
		expect_eq(w, "write too large", ret < 0 ? -errno : ret,
			  -EMSGSIZE);
		return;
	}
	if (how == 2) {
		struct io_uring_sqe *sqe = kmbuf_get_sqe(&w->rx.ring);
		__u32 seq = (__u32)w->wid << 18 | w->qseq;
		__u64 ud = rx_sync_ud(&w->rx);
		unsigned int i;

		if (!sqe)
			return;
		memcpy(w->buf, &seq, 4);
		memcpy(w->buf + 4, &len, 4);
		for (i = 8; i < len; i++)
			w->buf[i] = (unsigned char)(seq * 31 + i);
		io_uring_prep_write(sqe, p->fd, w->buf, len, 0);
		sqe->rw_flags = RWF_NOWAIT;
		sqe->user_data = ud;
		ret = rx_wait(&w->rx, ud);
	} else {
		ret = chr_write_one(w, p->fd, how, len);
	}
	count_err(w, ret);
	WANT(w, "chr write", ret, EAGAIN, ENOMEM);
	if (ret >= 0) {
		expect_eq(w, "chr write length", ret, len);
		w->qseq++;
	}
}

static void op_chr_mode(struct wk *w)
{
	struct port *p = &w->port[P_CHR];
	__u32 mode = rnd(w, 4), rs = 0;
	__u64 seq = 0;
	int ret;

	if (!port_ok(w, P_CHR))
		return;
	if (mode == KMBUF_CHR_MODE_GEN) {
		rs = chance(w, 10) ? 8 * rnd(w, 3) : 16 + 8 * rnd(w, 512);
		seq = rnd64(w) >> 8;
	}
	drain(w);
	/* records kept for the next ARM were made in the old mode */
	if (!p->armed && fdinfo_val(p->fd, "kmbuf_pending") > 0)
		return;
	ret = chr_set_mode(p->fd, mode, rs, seq);
	count_err(w, ret);
	if (mode > KMBUF_CHR_MODE_PATTERN || (mode == KMBUF_CHR_MODE_GEN &&
					      rs < 16)) {
		expect_eq(w, "SET_MODE bad", ret, -EINVAL);
		return;
	}
	if (p->armed) {
		/* the final CQE may be on its way: then it succeeds */
		WANT(w, "SET_MODE armed", ret, EBUSY);
		if (ret == -EBUSY)
			return;
		/* records before the final CQE are of the old mode */
		wait_unarmed(w, P_CHR, 0);
		p->junk = fdinfo_val(p->fd, "kmbuf_pending");
	}
	expect_eq(w, "SET_MODE", ret, 0);
	/* the pattern stream's position is the file's: it continues */
	p->mode = mode;
	p->rec_size = rs;
	p->gen_next = seq;
}

static void op_chr_read(struct wk *w)
{
	struct port *p = &w->port[P_CHR];
	unsigned int len;
	long ret;

	if (!port_ok(w, P_CHR))
		return;
	drain(w);
	/* the stream and read(2) would interleave; kept records go first */
	if (p->armed || fdinfo_val(p->fd, "kmbuf_pending") > 0)
		return;
	len = p->mode == KMBUF_CHR_MODE_GEN && chance(w, 80) ?
		p->rec_size : 1 + rnd(w, KMBUF_CHR_MAX_RECORD);
	ret = read(p->fd, w->buf, len);
	ret = ret < 0 ? -errno : ret;
	count_err(w, ret);
	switch (p->mode) {
	case KMBUF_CHR_MODE_GEN:
		if (len < p->rec_size) {
			expect_eq(w, "gen read short", ret, -EMSGSIZE);
			return;
		}
		expect_eq(w, "gen read", ret, p->rec_size);
		break;
	case KMBUF_CHR_MODE_PATTERN:
		expect_eq(w, "pattern read", ret, len);
		break;
	default:
		WANT(w, "queue read", ret, EAGAIN, EMSGSIZE);
		if (ret <= 0)
			return;
	}
	check_chr_buf(w, p, w->buf, ret);
}

static void op_tick(struct wk *w)
{
	struct port *p = &w->port[P_TICK];
	__u32 first, nr;
	bool start;
	int ret;

	if (!port_ok(w, P_TICK))
		return;
	if (!p->configured) {
		if (chance(w, 30)) {	/* out of range: refused */
			ret = tick_config(p->fd, 0, 32, 1000000);
			expect_eq(w, "tick config 0 channels", ret, -EINVAL);
			ret = tick_config(p->fd, 1, 32, 1000);
			expect_eq(w, "tick config short period", ret, -EINVAL);
			ret = tick_range(p->fd, KMBUF_TICK_START, 0, 1);
			expect_eq(w, "tick start unconfigured", ret, -ENXIO);
		}
		set_tick(w, p);
		return;
	}
	first = rnd(w, p->nchan + 1);
	nr = rnd(w, p->nchan + 1);
	start = chance(w, 50);
	ret = tick_range(p->fd, start ? KMBUF_TICK_START : KMBUF_TICK_STOP,
			 first, nr);
	count_err(w, ret);
	if (!nr || first + nr > p->nchan) {
		expect_eq(w, "tick range bad", ret, -EINVAL);
	} else {
		expect_eq(w, "tick range", ret, 0);
		if (start)
			p->running |= ((1U << nr) - 1) << first;
		else
			p->running &= ~(((1U << nr) - 1) << first);
	}
	ret = tick_config(p->fd, 1, 64, 1000000);
	expect_eq(w, "tick config twice", ret, -EBUSY);
}

/* ------------------------------------------------------------------ blk */

static int blk_port(struct wk *w)
{
	int pi = g_have_nvme && chance(w, 30) ? P_NVME : P_BLK;

	if (!port_ok(w, pi))
		return -1;
	return pi;
}

/* A source range of a writable fixed-role region, mapped. */
static int pick_src(struct wk *w, __u32 len, __u64 *off)
{
	int i, n = 0, c[NREG];

	for (i = 1; i <= NREG; i++) {
		struct region *r = &w->reg[i];

		if (r->live && r->fixed_role && r->kind != R_RO && r->map &&
		    r->map_rw && r->map_len >= len)
			c[n++] = i;
	}
	if (!n)
		return 0;
	i = c[rnd(w, n)];
	*off = UNIT * (__u64)rnd(w, (w->reg[i].map_len - len) / UNIT + 1);
	return i;
}

/* Expected CRCs after writing @len bytes at @src over units from @u. */
static void blk_written(struct port *p, unsigned int u, const char *src,
			unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len / UNIT; i++) {
		p->crc[u + i] = csum(src + (size_t)i * UNIT, UNIT);
		p->known[u + i] = true;
		p->corrupt[u + i] = false;
		p->wr_op[u + i] = cur ? cur->opi : 0;
		p->flips[u + i] = 0;
	}
}

static bool blk_range_corrupt(struct port *p, unsigned int u, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (p->corrupt[u + i])
			return true;
	return false;
}

/* Check data read from units [u, u + len / UNIT). */
static void blk_check(struct wk *w, struct port *p, unsigned int u,
		      const char *data, unsigned int len, const char *how)
{
	unsigned int i;

	for (i = 0; i < len / UNIT; i++) {
		if (p->corrupt[u + i])
			violation(w, "%s: corrupted block %llu read as good data",
				  how, (unsigned long long)(p->base / UNIT + u + i));
		if (p->known[u + i] &&
		    csum(data + (size_t)i * UNIT, UNIT) != p->crc[u + i])
			violation(w, "%s: block %llu differs from what was written",
				  how, (unsigned long long)(p->base / UNIT + u + i));
	}
}

static void op_blk_write(struct wk *w)
{
	int pi = blk_port(w), ri, ret;
	unsigned int u, n;
	struct port *p;
	__u64 off;

	if (pi < 0 || !w->ring_ok)
		return;
	p = &w->port[pi];
	n = 1 + rnd(w, 4);
	u = rnd(w, SLICE - n + 1);
	ri = pick_src(w, n * UNIT, &off);
	if (!ri)
		return;
	blk_pattern_fill(w->reg[ri].map + off, p->base + u * UNIT, n * UNIT,
			 rnd64(w));
	ret = blk_sync(w, p->fd, KMBUF_BLK_WRITE, p->base + u * UNIT,
		       n * UNIT, w->reg[ri].id, off, NULL);
	count_err(w, ret);
	expect_eq(w, "blk WRITE", ret, n * UNIT);
	blk_written(p, u, w->reg[ri].map + off, n * UNIT);
	/* bad ones */
	if (chance(w, 20)) {
		ret = blk_sync(w, p->fd, KMBUF_BLK_WRITE,
			       p->base, UNIT, w->reg[ri].id,
			      w->reg[ri].size, NULL);
		expect_eq(w, "blk WRITE beyond region", ret, -EFAULT);
		ret = blk_sync(w, p->fd, KMBUF_BLK_WRITE,
			       p->base, UNIT, 16, 0, NULL);
		WANT(w, "blk WRITE no region", ret, ENOENT, EINVAL);
		if (ret >= 0)
			violation(w, "blk WRITE from region 16");
	}
}

/*
 * A READ of units [@u, @u + @n) that hold a corrupted block succeeded: say
 * which units, what their data is and what happened to them last.
 */
static void blk_corrupt_read(struct wk *w, int pi, unsigned int u,
			     unsigned int n, __u32 flags)
{
	struct port *p = &w->port[pi];
	unsigned int bid = flags >> IORING_CQE_BUFFER_SHIFT, i;
	const char *data = NULL;
	__u64 off = p->off + (__u64)bid * p->bs;

	if ((flags & IORING_CQE_F_BUFFER) && bid < p->nr &&
	    reg_readable(w, p->reg, off, n * UNIT))
		data = w->reg[p->reg].map + off;
	for (i = 0; i < n; i++)
		fprintf(stderr,
			"# %s unit %u (block %llu): corrupt %d known %d, written at op %llu, flipped %u time(s) since, last at op %llu; data %s\n",
			port_name[pi], u + i,
			(unsigned long long)(p->base / UNIT + u + i),
			p->corrupt[u + i], p->known[u + i], p->wr_op[u + i],
			p->flips[u + i], p->flip_op[u + i],
			!data ? "not mapped" :
			csum(data + (size_t)i * UNIT, UNIT) == p->crc[u + i] ?
			"as written (not corrupted)" : "NOT as written");
}

static void op_blk_read(struct wk *w)
{
	int pi = blk_port(w), ret;
	unsigned int u, n, bid;
	struct port *p;
	__u32 flags = 0;
	__u64 off;

	if (pi < 0 || !w->ring_ok)
		return;
	p = &w->port[pi];
	/* most reads want a ring: without one they all end in ENXIO */
	if (!p->bound && chance(w, 70))
		bind_port(w, pi);
	n = 1 + rnd(w, 4);
	u = rnd(w, SLICE - n + 1);
	ret = blk_sync(w, p->fd, KMBUF_BLK_READ, p->base + u * UNIT,
		       n * UNIT, 0, 0, &flags);
	count_err(w, ret);
	if (!p->bound) {
		expect_eq(w, "blk READ unbound", ret, -ENXIO);
		return;
	}
	if (n * UNIT > p->bs) {
		/* either check may come first */
		if (p->nheld == (int)p->nr)
			WANT(w, "blk READ too large, no buffer", ret, EMSGSIZE,
			     ENOBUFS);
		if (ret >= 0 || p->nheld < (int)p->nr)
			expect_eq(w, "blk READ larger than a buffer", ret,
				  -EMSGSIZE);
		return;
	}
	if (p->nheld == (int)p->nr) {
		expect_eq(w, "blk READ with every buffer held", ret, -ENOBUFS);
		return;
	}
	if (blk_range_corrupt(p, u, n)) {
		if (ret >= 0)
			blk_corrupt_read(w, pi, u, n, flags);
		expect_eq(w, "blk READ of a corrupted block", ret, -EBADMSG);
		return;
	}
	expect_eq(w, "blk READ", ret, n * UNIT);
	if (!(flags & IORING_CQE_F_BUFFER))
		violation(w, "blk READ CQE without a buffer");
	bid = flags >> IORING_CQE_BUFFER_SHIFT;
	if (bid >= p->nr || p->held[bid].held)
		violation(w, "blk READ buffer %u: out of range or held", bid);
	p->held[bid].held = true;
	p->held[bid].len = ret;
	p->held[bid].op = w->opi;
	p->nheld++;
	off = p->off + (__u64)bid * p->bs;
	if (reg_readable(w, p->reg, off, ret)) {
		blk_check(w, p, u, w->reg[p->reg].map + off, ret, "KMBUF_BLK_READ");
		p->held[bid].csum = csum(w->reg[p->reg].map + off, ret);
	} else {
		p->held[bid].len = 0;
		p->held[bid].csum = csum("", 0);
	}
	if (chance(w, 20)) {
		/* the read-only source: a held buffer written elsewhere */
		unsigned int v = rnd(w, SLICE - n + 1);

		if (!reg_readable(w, p->reg, off, ret))
			return;
		ret = blk_sync(w, p->fd, KMBUF_BLK_WRITE,
			       p->base + v * UNIT, n * UNIT,
			      w->reg[p->reg].id, off, NULL);
		expect_eq(w, "blk WRITE from a read-only region", ret, n * UNIT);
		blk_written(p, v, w->reg[p->reg].map + off, n * UNIT);
	}
}

static void op_corrupt(struct wk *w)
{
	struct port *p;
	unsigned int u;
	int ret;

	if (!port_ok(w, P_BLK))
		return;
	p = &w->port[P_BLK];
	if (chance(w, 20)) {
		ret = helper(w->wid, H_DELAY, 0, rnd(w, 3) ? 0 : rnd(w, 300));
		WANT(w, "delay_us", ret, EOPNOTSUPP);
		return;
	}
	u = rnd(w, SLICE);
	if (!p->known[u])
		return;		/* unknown data, unknown expectations */
	ret = helper(w->wid, H_CORRUPT, 0, p->base / UNIT + u);
	count_err(w, ret);
	WANT(w, "corrupt", ret, EOPNOTSUPP);
	if (!ret) {
		p->corrupt[u] = !p->corrupt[u];	/* a second flip repairs */
		p->flip_op[u] = w->opi;
		p->flips[u]++;
	}
}

/* ---------------------------------------------------------------- fixed */

static void op_fixed(struct wk *w)
{
	unsigned int s = rnd(w, NSLOT + 1);
	int ri, ret, bad;
	__u64 off, len;

	if (!w->ring_ok)
		return;
	if (!w->table) {
		ret = kmbuf_fixed_table(w->rx.ring.ring_fd, NSLOT);
		WANT(w, "fixed table", ret, ENOMEM);
		w->table = !ret;
		return;
	}
	if (s < NSLOT && w->slot[s].used && chance(w, 50)) {
		ret = kmbuf_fixed_clear(w->rx.ring.ring_fd, s);
		expect_eq(w, "fixed clear", ret, 0);
		w->slot[s].used = false;
		return;
	}
	ri = pick_region(w, true);
	if (!ri)
		return;
	len = 4096 * (1 + rnd(w, w->reg[ri].size / 4096));
	off = 4096 * (__u64)rnd(w, (w->reg[ri].size - len) / 4096 + 1);
	bad = chance(w, 15) ? 1 + rnd(w, 3) : 0;
	if (bad == 1)
		off += 512;
	else if (bad == 2)
		len = w->reg[ri].size + 4096;
	ret = kmbuf_fixed_region(w->rx.ring.ring_fd, s,
				 bad == 3 ? 16 : w->reg[ri].id, off, len, 0);
	count_err(w, ret);
	if (s == NSLOT || bad) {
		if (ret >= 0)
			violation(w, "fixed slot %u bad %d filled", s, bad);
		WANT(w, "fixed bad", ret, EINVAL, ENOENT);
		return;
	}
	if (w->slot[s].used) {
		expect_eq(w, "fixed slot in use", ret, -EBUSY);
		return;
	}
	WANT(w, "fixed region", ret, ENOMEM);
	if (ret)
		return;
	w->slot[s] = (struct slot){ .used = true, .reg = ri, .off = off,
				    .len = len };
}

static void op_fixed_io(struct wk *w)
{
	unsigned int s = rnd(w, NSLOT), u, n;
	struct io_uring_sqe *sqe;
	struct region *r;
	struct slot *sl = &w->slot[s];
	struct port *p;
	bool rd = chance(w, 50);
	__u64 ud, so;
	int pi, ret;

	if (!w->ring_ok || !sl->used || !w->reg[sl->reg].live)
		return;
	r = &w->reg[sl->reg];
	/* ring buffers of the region must not be overwritten */
	if (!r->fixed_role || !r->map)
		return;
	if (!rd && (r->kind == R_RO || !r->map_rw))
		return;
	pi = blk_port(w);
	if (pi < 0)
		return;
	p = &w->port[pi];
	n = 1 + rnd(w, sl->len / UNIT < 4 ? sl->len / UNIT : 4);
	u = rnd(w, SLICE - n + 1);
	so = UNIT * (__u64)rnd(w, (sl->len - n * UNIT) / UNIT + 1);
	if (!reg_readable(w, sl->reg, sl->off + so, n * UNIT))
		return;
	if (!rd)
		blk_pattern_fill(r->map + sl->off + so, 0, n * UNIT, rnd64(w));
	sqe = kmbuf_get_sqe(&w->rx.ring);
	if (!sqe)
		return;
	ud = rx_sync_ud(&w->rx);
	if (rd)
		kmbuf_prep_read_fixed(sqe, p->dfd, s, so, n * UNIT,
				      p->base + u * UNIT);
	else
		kmbuf_prep_write_fixed(sqe, p->dfd, s, so, n * UNIT,
				       p->base + u * UNIT);
	sqe->user_data = ud;
	io_uring_submit(&w->rx.ring);
	/* the request keeps the slot's buffer, and its region, to the end */
	if (chance(w, 25)) {
		ret = kmbuf_fixed_clear(w->rx.ring.ring_fd, s);
		expect_eq(w, "fixed clear with I/O in flight", ret, 0);
		sl->used = false;
	}
	if (rd && chance(w, 10)) {
		/* or the whole instance goes with it in flight */
		ring_close(w, chance(w, 50));
		ring_open(w);
		return;
	}
	ret = rx_wait(&w->rx, ud);
	count_err(w, ret);
	if (rd && r->kind == R_RO) {
		expect_eq(w, "READ_FIXED into a read-only region", ret, -EFAULT);
		return;
	}
	if (rd && blk_range_corrupt(p, u, n)) {
		WANT(w, "READ_FIXED of a corrupted block", ret, EILSEQ, EIO,
		     EBADMSG);
		if (ret >= 0)
			violation(w, "READ_FIXED of a corrupted block: %d", ret);
		return;
	}
	expect_eq(w, rd ? "READ_FIXED" : "WRITE_FIXED", ret, n * UNIT);
	if (!reg_readable(w, sl->reg, sl->off + so, n * UNIT))
		return;
	if (rd)
		blk_check(w, p, u, r->map + sl->off + so, n * UNIT, "READ_FIXED");
	else
		blk_written(p, u, r->map + sl->off + so, n * UNIT);
}

/* --------------------------------------------------------- cancellation */

static void op_cancel(struct wk *w)
{
	int pi = chance(w, 60) ? P_CHR : P_TICK;
	struct port *p = &w->port[pi];
	struct io_uring_sqe *sqe;
	unsigned int s;

	if (!w->ring_ok || p->fd <= 0 || !p->armed)
		return;
	s = __builtin_ctz(p->armed);
	sqe = kmbuf_get_sqe(&w->rx.ring);
	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, UDA(pi, s, p->bgen), 0);
	sqe->user_data = UD(T_CANCEL, pi, s);
	io_uring_submit(&w->rx.ring);
	drain(w);
}

static void op_link_timeout(struct wk *w)
{
	struct port *p = &w->port[P_CHR];
	struct __kernel_timespec ts = { .tv_nsec = 1000000 * (1 + rnd(w, 30)) };
	struct io_uring_sqe *sqe;

	if (!w->ring_ok || !port_ok(w, P_CHR) || p->armed || !p->bound)
		return;
	sqe = kmbuf_get_sqe(&w->rx.ring);
	if (!sqe)
		return;
	kmbuf_prep_arm(sqe, p->fd, 0);
	sqe->user_data = UDA(P_CHR, 0, p->bgen);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = kmbuf_get_sqe(&w->rx.ring);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	sqe->user_data = UD(T_LTO, P_CHR, 0);
	p->armed |= 1;
	p->was_armed = true;
	io_uring_submit(&w->rx.ring);
}

static void op_close(struct wk *w)
{
	int pi = rnd(w, P_NR);

	if (w->port[pi].fd <= 0)
		return;
	drain(w);
	port_close(w, pi);
	port_open(w, pi);
}

static void op_ring(struct wk *w)
{
	ring_close(w, chance(w, 50));
	ring_open(w);
}

static void op_rmmod(struct wk *w)
{
	static const int m[] = { M_TICK, M_TICK, M_FIXED, M_CHR, M_BLK };
	int mod = m[rnd(w, 5)], ret;

	/* our files of the module close first, sometimes */
	if (mod == M_TICK && chance(w, 50))
		port_close(w, P_TICK);
	ret = helper(w->wid, H_RMMOD, mod, 0);
	count_err(w, ret);
	WANT(w, "rmmod", ret, EBUSY, EAGAIN, EWOULDBLOCK, EOPNOTSUPP, ENOENT);
	if (!ret && mod == M_TICK && w->port[P_TICK].fd > 0)
		violation(w, "rmmod kmbuf_tick succeeded with a file open");
	if (!ret && mod == M_BLK && w->port[P_BLK].fd > 0)
		violation(w, "rmmod kmbuf_blk succeeded with its files open");
	if (!ret && mod == M_CHR && w->port[P_CHR].fd > 0)
		violation(w, "rmmod kmbuf_chr succeeded with a file open");
}

/* Commands with one argument wrong: each has its documented errno. */
static void op_badcmd(struct wk *w)
{
	int pi = rnd(w, P_NR), ret, how = rnd(w, 6);
	struct port *p = &w->port[pi];
	struct kmbuf_cmd c = { };
	__u32 op = KMBUF_CMD_UNBIND, cf = 0;

	if (!w->ring_ok || !port_ok(w, pi))
		return;
	switch (how) {
	case 0:
		op = _IO(KMBUF_CMD_MAGIC, 9 + rnd(w, 200));
		break;
	case 1:
		c.flags = 1 + rnd(w, 0xfffe);
		break;
	case 2:		/* no MULTISHOT */
		op = KMBUF_CMD_ARM;
		break;
	case 3:
		op = KMBUF_CMD_ARM;
		cf = IORING_URING_CMD_MULTISHOT;
		c.stream = 4096 + rnd(w, 60000);
		break;
	case 4:
		op = KMBUF_CMD_RETURN;
		c.nr = 0;
		c.addr = 0;
		break;
	case 5:		/* from an unreadable address */
		op = KMBUF_CMD_BIND;
		c.addr = 16;
		break;
	}
	ret = rx_kcmd(&w->rx, p->fd, op, cf, &c);
	count_err(w, ret);
	if (pi == P_TICK && !p->configured) {
		/* every command but CONFIG, known or not */
		WANT(w, "command on an unconfigured tick file", ret, ENXIO,
		     ENOTTY);
		if (ret != -ENXIO && how)
			violation(w, "tick unconfigured: %d", ret);
		return;
	}
	switch (how) {
	case 0:
		expect_eq(w, "unknown common command", ret, -ENOTTY);
		break;
	case 1:
	case 2:
		expect_eq(w, "command with bad flags", ret, -EINVAL);
		break;
	case 3:
		if (pi == P_BLK || pi == P_NVME || p->bound)
			expect_eq(w, "ARM of a stream out of range", ret, -EINVAL);
		else
			WANT(w, "ARM out of range unbound", ret, EINVAL, ENXIO);
		if (ret >= 0)
			violation(w, "ARM of stream %u", c.stream);
		break;
	case 4:
		/* a doorbell: EINVAL without a refill ring */
		if (!p->bound)
			expect_eq(w, "RETURN nr 0 unbound", ret, -ENXIO);
		else if (!p->refill)
			expect_eq(w, "RETURN nr 0", ret, -EINVAL);
		else if (ret < 0)
			violation(w, "refill doorbell: %d", ret);
		break;
	case 5:
		if (p->bound)
			WANT(w, "BIND on a bound file", ret, EBUSY, EFAULT);
		else
			expect_eq(w, "BIND from an unreadable address", ret,
				  -EFAULT);
		if (ret >= 0)
			violation(w, "BIND from address 16");
		break;
	}
}

/*
 * A command on the file of another thread of this process, from our own
 * io_uring instance: its ring is not ours (EXDEV), or it has none (ENXIO);
 * the file may be closed meanwhile (EBADF) and its number reused by a
 * file that takes no kmbuf commands (EOPNOTSUPP).  Never success.
 */
static void op_xring(struct wk *w)
{
	int pi = rnd(w, P_NR), ret, fd, i;
	struct wk *o = &g_wk[rnd(w, g_threads)];
	__u32 id = 0;
	__u32 op = chance(w, 50) ? KMBUF_CMD_UNBIND : KMBUF_CMD_RETURN;

	if (o == w || !w->ring_ok || g_threads < 2)
		return;
	fd = __atomic_load_n(&o->port[pi].fd, __ATOMIC_RELAXED);
	if (fd <= 0)
		return;
	for (i = 0; i < P_NR; i++)
		if (w->port[i].fd == fd || w->port[i].dfd == fd)
			return;		/* the number is ours now */
	ret = rx_cmd(&w->rx, fd, op, op == KMBUF_CMD_RETURN ? (uintptr_t)&id : 0,
		     op == KMBUF_CMD_RETURN, 0);
	count_err(w, ret);
	if (ret >= 0)
		violation(w, "%s on another instance's file (fd %d): %d",
			  op == KMBUF_CMD_UNBIND ? "UNBIND" : "RETURN", fd, ret);
	WANT(w, "command from another instance", ret, EXDEV, ENXIO, EBADF,
	     EOPNOTSUPP);
}

/* --------------------------------------------------------------- worker */

static void (*const op_fn[K_NR])(struct wk *w) = {
	[K_RING] = op_ring, [K_REGION] = op_region, [K_MAP] = op_map,
	[K_VM] = op_vm, [K_FORK] = op_fork, [K_KILL] = op_kill,
	[K_BIND] = op_bind, [K_UNBIND] = op_unbind, [K_ARM] = op_arm,
	[K_REAP] = op_reap, [K_RETURN] = op_return, [K_BADRET] = op_badret,
	[K_CHR_WRITE] = op_chr_write, [K_CHR_READ] = op_chr_read,
	[K_CHR_MODE] = op_chr_mode, [K_TICK] = op_tick,
	[K_BLK_READ] = op_blk_read, [K_BLK_WRITE] = op_blk_write,
	[K_CORRUPT] = op_corrupt, [K_FIXED] = op_fixed,
	[K_FIXED_IO] = op_fixed_io, [K_CANCEL] = op_cancel,
	[K_LINK_TIMEOUT] = op_link_timeout, [K_CLOSE] = op_close,
	[K_RMMOD] = op_rmmod, [K_BADCMD] = op_badcmd, [K_XRING] = op_xring,
};

static int pick_kind(struct wk *w)
{
	static unsigned int total;
	unsigned int i, x;

	if (!total)
		for (i = 0; i < K_NR; i++)
			total += kind_weight[i];
	x = rnd(w, total);
	for (i = 0; i < K_NR; i++) {
		if (x < kind_weight[i])
			return i;
		x -= kind_weight[i];
	}
	return K_REAP;
}

/* Write the whole blk slice once, so that every block is known. */
static void blk_init_slice(struct wk *w, int pi)
{
	struct port *p = &w->port[pi];
	unsigned char *b;
	unsigned int u;

	if (!port_ok(w, pi))
		return;
	if (posix_memalign((void **)&b, 4096, UNIT))
		violation(w, "posix_memalign");
	for (u = 0; u < SLICE; u++) {
		blk_pattern_fill(b, p->base + u * UNIT, UNIT, rnd64(w));
		if (pwrite(p->dfd, b, UNIT, p->base + u * UNIT) != UNIT)
			violation(w, "%s: pwrite: %s", port_name[pi],
				  strerror(errno));
		blk_written(p, u, (char *)b, UNIT);
	}
	free(b);
}

static unsigned long long g_ops_per_worker;

static void *worker(void *arg)
{
	struct wk *w = arg;
	int k;

	cur = w;
	w->buf = malloc(KMBUF_CHR_MAX_RECORD + 8);
	if (!w->buf)
		violation(w, "malloc");
	w->rng = g_seed * 0x2545f4914f6cdd1dULL + (w->wid + 1) * 0x9e3779b97f4a7c15ULL;
	ring_open(w);
	blk_init_slice(w, P_BLK);
	if (g_have_nvme)
		blk_init_slice(w, P_NVME);
	while (!__atomic_load_n(&shm->stop, __ATOMIC_RELAXED)) {
		if (g_ops_per_worker && w->opi >= g_ops_per_worker)
			break;
		if (!g_ops_per_worker && (w->opi & 15) == 0 && now_ns() > g_deadline)
			break;
		k = pick_kind(w);
		w->kind = k;
		w->hist[w->opi % 32] = k;
		shm->busy[w->wid].kind = k;
		shm->busy[w->wid].opi = w->opi;
		__atomic_store_n(&shm->busy[w->wid].t0,
				 __atomic_load_n(&shm->tick, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELEASE);
		op_fn[k](w);
		__atomic_store_n(&shm->busy[w->wid].t0, 0, __ATOMIC_RELEASE);
		__atomic_add_fetch(&shm->cnt[k], 1, __ATOMIC_RELAXED);
		w->opi++;
	}
	/* tear down as the program would: drain, give back, exit */
	w->kind = K_RING;
	shm->busy[w->wid].t0 = shm->tick + 1;
	drain(w);
	for (k = 0; k < P_NR; k++)
		if (w->port[k].fd > 0 && w->ring_ok)
			give_back(w, k, MAXBUFS);
	ring_close(w, false);
	shm->busy[w->wid].t0 = 0;
	free(w->buf);
	return NULL;
}

static void worker_proc(int proc)
{
	pthread_t th[MAXW];
	struct wk *w;
	unsigned int t;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	w = calloc(g_threads, sizeof(*w));
	if (!w)
		_exit(1);
	g_wk = w;
	for (t = 0; t < g_threads; t++) {
		w[t].wid = proc * g_threads + t;
		if (pthread_create(&th[t], NULL, worker, &w[t]))
			_exit(1);
	}
	for (t = 0; t < g_threads; t++)
		pthread_join(th[t], NULL);
	_exit(0);
}

/* ------------------------------------------------------------- intruder */

/*
 * Another user: it may not open our processes' files through /proc, sees
 * none of our queue records, and on its own ring no region id reaches
 * ours.
 */
static void intruder_main(void)
{
	struct wk w = { .wid = MAXW - 1, .kind = K_INTRUDE };
	unsigned char buf[256];
	struct io_uring ring;
	char path[64];
	int i, fd, ret, n, cfd, nv;
	pid_t *victims;

	cur = &w;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (!__atomic_load_n(&shm->nvictims, __ATOMIC_ACQUIRE))
		usleep(10000);
	nv = shm->nvictims;
	victims = shm->victims;
	if (io_uring_queue_init(8, &ring, 0))
		_exit(0);
	cfd = open(CHR_DEV, O_RDWR | O_NONBLOCK);
	while (!__atomic_load_n(&shm->stop, __ATOMIC_RELAXED)) {
		if (now_ns() > g_deadline && !g_ops)
			break;
		for (i = 0; i < nv; i++) {
			for (n = 0; n < 16; n++) {
				snprintf(path, sizeof(path), "/proc/%d/fd/%d",
					 victims[i], n);
				fd = open(path, O_RDWR);
				if (fd >= 0)
					violation(&w, "uid %ld opened %s", g_intruder,
						  path);
			}
			snprintf(path, sizeof(path), "/proc/%d/mem", victims[i]);
			fd = open(path, O_RDONLY);
			if (fd >= 0)
				violation(&w, "uid %ld opened %s", g_intruder, path);
		}
		if (cfd >= 0) {
			struct kmbuf_bind b = { .buf_size = 4096, .nr_bufs = 1 };
			void *p;

			ret = read(cfd, buf, sizeof(buf));
			if (ret >= 0)
				violation(&w, "uid %ld read a record of another user",
					  g_intruder);
			WANT(&w, "intruder read", -errno, EAGAIN, EMSGSIZE);
			for (b.region_id = 1; b.region_id <= NREG; b.region_id++) {
				ret = kmbuf_bind_sync(&ring, cfd, &b);
				expect_eq(&w, "intruder BIND on a region id it lacks",
					  ret, -ENOENT);
				ret = kmbuf_region_mmap(ring.ring_fd,
							0x20000000ULL | (__u64)b.region_id << 16,
					4096, PROT_READ, &p);
				if (!ret)
					violation(&w, "intruder mapped region %u",
						  b.region_id);
			}
		}
		__atomic_add_fetch(&shm->cnt[K_INTRUDE], 1, __ATOMIC_RELAXED);
		usleep(20000);
	}
	_exit(0);
}

/* --------------------------------------------------------------- limits */

struct limits {
	long long memcur_max, mempeak, memmax, vmpin_max, vmlck_max;
	long long oom_kill;
};

static long long read_ll(const char *dir, const char *file, const char *key)
{
	char path[256], line[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!key) {
			v = strncmp(line, "max", 3) ? atoll(line) : -2;
			break;
		}
		if (!strncmp(line, key, strlen(key)))
			v = atoll(line + strlen(key));
	}
	fclose(f);
	return v;
}

static void sample(struct limits *l, pid_t *pids, int n)
{
	char dir[64];
	long long v;
	int i;

	if (g_cgroup) {
		v = read_ll(g_cgroup, "memory.current", NULL);
		if (v > l->memcur_max)
			l->memcur_max = v;
		if (l->memmax > 0 && v > l->memmax)
			violation(NULL, "memory.current %lld > memory.max %lld",
				  v, l->memmax);
	}
	for (i = 0; i < n; i++) {
		snprintf(dir, sizeof(dir), "/proc/%d", pids[i]);
		v = read_ll(dir, "status", "VmPin:");
		if (v > l->vmpin_max)
			l->vmpin_max = v;
		v = read_ll(dir, "status", "VmLck:");
		if (v > l->vmlck_max)
			l->vmlck_max = v;
	}
}

/* ----------------------------------------------------------------- main */

static int drop_privileges(uid_t uid)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2] = { };
	struct rlimit rl = { g_memlock, g_memlock };

	if (g_memlock && setrlimit(RLIMIT_MEMLOCK, &rl))
		return -errno;
	if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid))
		return -errno;
	if (syscall(SYS_capset, &h, d))
		return -errno;
	prctl(PR_SET_DUMPABLE, 1);	/* the intruder must still be refused */
	return 0;
}

static void print_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--seed N] [--ops N | --duration S] [--procs P]\n"
		"              [--threads T] [--op-timeout S] [--user UID]\n"
		"              [--intruder UID] [--memlock BYTES] [--cgroup DIR]\n",
		prog);
	exit(2);
}

/* Say where each thread of @pid is: for a worker that does not end. */
static void dump_tasks(pid_t pid)
{
	char path[320], buf[256];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		static const char *const what[] = { "wchan", "syscall" };
		unsigned int i;

		if (de->d_name[0] == '.')
			continue;
		fprintf(stderr, "#   task %s:", de->d_name);
		for (i = 0; i < 2; i++) {
			FILE *f;

			snprintf(path, sizeof(path), "/proc/%d/task/%s/%s",
				 pid, de->d_name, what[i]);
			f = fopen(path, "r");
			if (!f || !fgets(buf, sizeof(buf), f))
				snprintf(buf, sizeof(buf), "?");
			if (f)
				fclose(f);
			buf[strcspn(buf, "\n")] = 0;
			fprintf(stderr, " %s %s", what[i], buf);
		}
		fprintf(stderr, "\n");
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	pid_t pids[MAXW + 2], intr = 0, helper_pid = 0;
	int socks[MAXW][2], hfd[MAXW];
	struct limits lim = { .memmax = -1 };
	unsigned long long total = 0, t0, last_report, stop_t = 0;
	bool stuck_told = false;
	int i, st, nw, failed = 0, running;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			print_usage(argv[0]);
		if (!strcmp(a, "--seed"))
			g_seed = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--ops"))
			g_ops = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--duration"))
			g_duration = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--procs"))
			g_procs = atoi(v);
		else if (!strcmp(a, "--threads"))
			g_threads = atoi(v);
		else if (!strcmp(a, "--op-timeout"))
			g_op_timeout = atoi(v);
		else if (!strcmp(a, "--user"))
			g_user = atol(v);
		else if (!strcmp(a, "--intruder"))
			g_intruder = atol(v);
		else if (!strcmp(a, "--memlock"))
			g_memlock = strtoull(v, NULL, 0);
		else if (!strcmp(a, "--cgroup"))
			g_cgroup = v;
		else
			print_usage(argv[0]);
		i++;
	}
	nw = g_procs * g_threads;
	if (!g_procs || !g_threads || nw > MAXW - 1 || (!g_ops && !g_duration))
		print_usage(argv[0]);
	if (!g_ops && !g_duration)
		g_duration = 60;
	g_ops_per_worker = g_ops ? (g_ops + nw - 1) / nw : 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..1\n");
	printf("# stress: seed %llu, %u processes x %u threads, %s %llu\n",
	       g_seed, g_procs, g_threads, g_ops ? "ops" : "seconds",
	       g_ops ? g_ops : g_duration);

	if (kmbuf_region_probe(-1)) {
		printf("1..0 # SKIP no kmbuf regions\n");
		return 4;
	}
	if (access(CHR_DEV, F_OK))
		system("modprobe kmbuf_chr");
	if (access(TICK_DEV, F_OK))
		system("modprobe kmbuf_tick");
	if (blk_load()) {
		printf("1..0 # SKIP no kmbuf_blk\n");
		return 4;
	}
	g_have_nvme = !access(NVME_DEV, F_OK);
	if (g_cgroup)
		lim.memmax = read_ll(g_cgroup, "memory.max", NULL);

	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED)
		return 1;

	/* the root helper, before the privileges go */
	for (i = 0; i < MAXW; i++)
		g_helper_fd[i] = -1;
	if (!geteuid()) {
		for (i = 0; i < nw; i++) {
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				       socks[i]))
				return 1;
			hfd[i] = socks[i][1];
		}
		helper_pid = fork();
		if (!helper_pid) {
			for (i = 0; i < nw; i++)
				close(socks[i][0]);
			helper_main(hfd, nw);
		}
		for (i = 0; i < nw; i++) {
			close(socks[i][1]);
			g_helper_fd[i] = socks[i][0];
		}
		chmod_devs();
	}
	t0 = now_ns();
	g_deadline = t0 + g_duration * 1000000000ULL;
	/* the other user, also while we can still become it */
	if (g_intruder >= 0 && !geteuid()) {
		intr = fork();
		if (!intr) {
			if (drop_privileges(g_intruder))
				_exit(1);
			intruder_main();
		}
	}
	if (g_user >= 0) {
		int ret = drop_privileges(g_user);

		if (ret) {
			printf("not ok 1 stress # dropping privileges: %s\n",
			       strerror(-ret));
			return 1;
		}
		printf("# running as uid %d, RLIMIT_MEMLOCK %llu, no capabilities\n",
		       getuid(), g_memlock);
	}

	for (i = 0; i < (int)g_procs; i++) {
		pids[i] = fork();
		if (!pids[i])
			worker_proc(i);
		if (pids[i] < 0)
			return 1;
		shm->victims[i] = pids[i];
	}
	__atomic_store_n(&shm->nvictims, g_procs, __ATOMIC_RELEASE);

	/* watchdog and limits */
	running = g_procs;
	last_report = now_ns();
	while (running) {
		pid_t pid = waitpid(-1, &st, WNOHANG);
		unsigned long long t = now_ns();

		if (pid > 0) {
			for (i = 0; i < (int)g_procs; i++)
				if (pids[i] == pid)
					running--;
			if (pid == intr)
				intr = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st)) {
				fprintf(stderr, "# pid %d (%s) ended with status %#x\n",
					pid, pid == helper_pid ? "helper" :
					"worker or intruder", st);
				failed = 1;
				__atomic_store_n(&shm->stop, 1, __ATOMIC_SEQ_CST);
			}
			continue;
		}
		for (i = 0; i < nw; i++) {
			unsigned long long b = __atomic_load_n(&shm->busy[i].t0,
							       __ATOMIC_ACQUIRE);

			if (b && shm->tick + 1 - b > g_op_timeout * 10ULL) {
				fprintf(stderr,
					"VIOLATION seed=%llu kind=%s op=%llu worker=%d: no progress for %u s\n",
					g_seed, kind_name[shm->busy[i].kind],
					shm->busy[i].opi, i, g_op_timeout);
				failed = 1;
				shm->stop = 1;
				shm->busy[i].t0 = 0;
				for (i = 0; i < (int)g_procs; i++)
					kill(pids[i], SIGKILL);
				break;
			}
		}
		/* a worker that does not end once told to */
		if (!stop_t && __atomic_load_n(&shm->stop, __ATOMIC_SEQ_CST))
			stop_t = t;
		if (stop_t && !stuck_told &&
		    t - stop_t > g_op_timeout * 1000000000ULL) {
			fprintf(stderr,
				"VIOLATION seed=%llu: %d worker(s) still running %u s after the stop\n",
				g_seed, running, g_op_timeout);
			for (i = 0; i < (int)g_procs; i++) {
				if (kill(pids[i], 0))
					continue;
				fprintf(stderr, "# worker pid %d:\n", pids[i]);
				dump_tasks(pids[i]);
				kill(pids[i], SIGKILL);
			}
			failed = 1;
			stuck_told = true;
		}
		sample(&lim, pids, g_procs);
		__atomic_add_fetch(&shm->tick, 1, __ATOMIC_RELAXED);
		if (t - last_report > 60000000000ULL) {
			unsigned long long n = 0;

			for (i = 0; i < K_NR; i++)
				n += shm->cnt[i];
			printf("# %.0f s: %llu operations\n", (t - t0) / 1e9, n);
			last_report = t;
		}
		usleep(100000);
	}
	__atomic_store_n(&shm->stop, 1, __ATOMIC_SEQ_CST);
	if (intr > 0) {
		waitpid(intr, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			failed = 1;
	}
	for (i = 0; i < nw; i++)
		if (g_helper_fd[i] >= 0)
			close(g_helper_fd[i]);
	/* children of killed workers may still hold its sockets */
	if (helper_pid > 0) {
		kill(helper_pid, SIGKILL);
		waitpid(helper_pid, NULL, 0);
	}
	if (shm->fail)
		failed = 1;

	printf("# %-14s %12s %10s\n", "kind", "ops", "errors");
	for (i = 0; i < K_NR; i++) {
		printf("# %-14s %12llu %10llu\n", kind_name[i], shm->cnt[i],
		       shm->err[i]);
		total += shm->cnt[i];
	}
	printf("# total %llu operations in %.1f s (%.0f/s), seed %llu\n", total,
	       (now_ns() - t0) / 1e9, total / ((now_ns() - t0) / 1e9), g_seed);
	printf("# modules unloaded and loaded again:");
	for (i = 0; i <= M_FIXED; i++)
		printf(" %s %d", mod_name[i], shm->reloads[i]);
	printf("\n");
	if (g_cgroup) {
		lim.mempeak = read_ll(g_cgroup, "memory.peak", NULL);
		lim.oom_kill = read_ll(g_cgroup, "memory.events", "oom_kill ");
		printf("# limits: memory.max %lld, memory.current max %lld, ",
		       lim.memmax, lim.memcur_max);
		printf("memory.peak %lld, oom_kill %lld\n",
		       lim.mempeak, lim.oom_kill);
		if (lim.oom_kill > 0) {
			fprintf(stderr, "VIOLATION seed=%llu: %lld OOM kills in the cgroup\n",
				g_seed, lim.oom_kill);
			failed = 1;
		}
	}
	printf("# limits: RLIMIT_MEMLOCK %llu, regions alive max %lld bytes, ",
	       g_memlock, shm->locked_max);
	printf("VmPin max %lld kB, VmLck max %lld kB\n",
	       lim.vmpin_max, lim.vmlck_max);
	printf("%s 1 stress seed %llu\n", failed ? "not ok" : "ok", g_seed);
	return failed ? 1 : 0;
}
