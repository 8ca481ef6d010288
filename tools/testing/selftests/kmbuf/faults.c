// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection at every allocation of every kmbuf setup path (issue 13).
 *
 * failslab and fail_page_alloc are set to fail nothing by themselves
 * (probability 0) but to count every allocation that may sleep, of any
 * order (ignore-gfp-wait=N, ignore-gfp-highmem=N, min-order=0, no
 * messages).  For n = 1, 2, ... a test writes n to
 * /proc/thread-self/fail-nth, runs one setup operation and reads fail-nth
 * back: 0 means the nth allocation of the operation failed, anything else
 * that the operation made fewer than n allocations, which ends the loop.
 * After each injected failure the operation must have failed with a
 * documented errno (or succeeded and work), and the very same operation,
 * on the same objects, must then succeed and work: a half-done setup that
 * leaves a region id, a bound port or a byte range taken shows up here.
 * The kmemleak test at the end scans for leaks, and the module tests
 * check that rmmod works after every load.
 *
 * Module loads (device and namespace setup) run finit_module(2) in this
 * task with fail-nth set and the fault attributes' stack filter over the
 * module area, so that only allocations made from the modules' own code
 * (init, and what it calls: add_disk(), misc_register(), ...) count, not
 * those of load_module().
 *
 * Each test prints, per path, the fault points exercised and how the
 * operation ended at each.  Every point of every path is tried, except
 * for the two kmbuf_blk loads (a few hundred points, most of them in the
 * block layer's add_disk(), at about a second each under TCG): every 8th
 * of those, unless FAULTS_STEP says otherwise.  Environment: FAULTS_STEP=k
 * tries every kth point of every path (FAULTS_STEP=1: the full form);
 * FAULTS_MAX bounds the fault points tried per path (default 2000);
 * FAULTS_FIRST=n starts at fault point n; FAULTS_VERBOSE=2 makes the
 * kernel log each injected failure with its stack (the test then stops
 * looking for reports in the kernel log, but the test runner's log scan
 * finds them).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#include "chr_util.h"
#include "blk_util.h"
#include <linux/kmbuf_tick.h>
#include "../kselftest_harness.h"

#define DBG		"/sys/kernel/debug/"
#define STACKED_DEV	"/dev/kmbufblk-nvme0n1"
#define NVME_DEV	"/dev/nvme0n1"
#define TICK_DEV	"/dev/kmbuf_tick"
#define REG_ID		1
#define REG_PAGES	16
#define NBUF		8
#define BSZ		4096
#define UD_CMD		0x1000
#define UD_ARM		0x2000
#define UD_IO		0x3000

static size_t pg;

/* ---- fault injection ---------------------------------------------- */

static int write_str(const char *path, const char *val)
{
	ssize_t len = strlen(val);
	int fd, ret = 0;

	fd = open(path, O_WRONLY);

	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != len)
		ret = -errno;
	close(fd);
	return ret;
}

static const char *const fi_attrs[] = { "failslab", "fail_page_alloc" };

/* Count every allocation; with @mod_lo..@mod_hi, only those made from there. */
static int fi_config(unsigned long lo, unsigned long hi)
{
	char path[128], val[32];
	unsigned int i;
	int ret = 0;

	for (i = 0; i < 2; i++) {
		const char *a = fi_attrs[i];

#define SET(file, v) do {						\
		snprintf(path, sizeof(path), DBG "%s/" file, a);	\
		ret = ret ?: write_str(path, v);			\
	} while (0)
		SET("probability", "0");
		SET("verbose", getenv("FAULTS_VERBOSE") ?: "0");
		SET("ignore-gfp-wait", "N");
		if (i == 1) {
			SET("ignore-gfp-highmem", "N");
			SET("min-order", "0");
		}
		SET("stacktrace-depth", "32");
		snprintf(val, sizeof(val), "%#lx", lo);
		SET("require-start", val);
		snprintf(val, sizeof(val), "%#lx", hi);
		SET("require-end", val);
#undef SET
	}
	return ret;
}

/* Back to the defaults: nothing sleeping counts, no stack filter. */
static void fi_restore(void)
{
	char path[128];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), DBG "%s/ignore-gfp-wait",
			 fi_attrs[i]);
		write_str(path, "Y");
		snprintf(path, sizeof(path), DBG "%s/require-start",
			 fi_attrs[i]);
		write_str(path, "0");
		snprintf(path, sizeof(path), DBG "%s/require-end",
			 fi_attrs[i]);
		write_str(path, "0xffffffffffffffff");
	}
	write_str(DBG "fail_page_alloc/ignore-gfp-highmem", "Y");
	write_str(DBG "fail_page_alloc/min-order", "1");
}

static int nth_fd = -1;

static void fi_arm(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	if (pwrite(nth_fd, buf, len, 0) != len)
		abort();
}

/* Disarm; true if the armed fault fired. */
static bool fi_fired(void)
{
	char buf[16] = "";
	unsigned int left;

	if (pread(nth_fd, buf, sizeof(buf) - 1, 0) <= 0)
		abort();
	left = strtoul(buf, NULL, 10);
	fi_arm(0);
	return left == 0;
}

/* ---- one setup path ------------------------------------------------ */

struct fctx {
	struct io_uring		ring;
	bool			ring_up;
	struct kmbuf_region	reg;
	void			*user;
	int			fd, wfd, modfd;
	int			pipe_w;		/* ends the reads of arm_setup() */
	struct kmbuf_refill	*refill;
	bool			pending;	/* the op's SQE is queued */
	bool			armed;		/* stream 0 is */
	__u32			seq;
	const void		*arg;
};

struct fpath {
	const char	*name;
	int		(*setup)(struct fctx *c);	/* 0, or skip */
	int		(*op)(struct fctx *c);		/* 0 or -errno */
	int		(*verify)(struct fctx *c);	/* after op: 0 */
	void		(*teardown)(struct fctx *c);
	const int	*errnos;			/* 0-terminated */
	const void	*arg;
	/* quick form: every step-th fault point (FAULTS_STEP=1: all) */
	unsigned int	step;
};

struct fstats {
	unsigned int	points, ok, step, total;
	double		secs;
	unsigned int	nr_err[4096];
};

static const int enomem[] = { ENOMEM, 0 };
/* io_uring_enter(2): no memory for the request itself */
static const int enomem_eagain[] = { ENOMEM, EAGAIN, 0 };

static bool errno_ok(const int *list, int err)
{
	for (; *list; list++)
		if (*list == err)
			return true;
	return false;
}

static unsigned int fi_max(void)
{
	const char *s = getenv("FAULTS_MAX");

	return s ? strtoul(s, NULL, 0) : 2000;
}

static unsigned int env_uint(const char *name, unsigned int def)
{
	const char *s = getenv(name);

	return s ? strtoul(s, NULL, 0) : def;
}

/*
 * The kernel log since the last look: a report there (what the test
 * runner would find in the whole log) fails the fault point that caused
 * it.  Allocation failure reports count too: an allocation that userspace
 * can make fail must fail quietly.
 */
static int kmsg_fd = -1;

static const char *const kmsg_bad[] = {
	"BUG: ", "WARNING: ", "Oops", "general protection fault", "KASAN",
	"UBSAN", "Call Trace:", "possible circular locking",
	"inconsistent lock state", "suspicious RCU usage",
	"page allocation failure", "vmalloc error", "unreferenced object",
};

static void kmsg_open(void)
{
	if (kmsg_fd < 0)
		kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
}

/* The first report since the last call (kept in @buf), or NULL. */
static const char *kmsg_report(char *buf, size_t size)
{
	const char *bad = NULL;
	unsigned int i;
	ssize_t n;

	if (kmsg_fd < 0 || getenv("FAULTS_VERBOSE"))
		return NULL;
	for (;;) {
		n = read(kmsg_fd, buf, size - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: read on */
			continue;
		if (n <= 0)
			break;
		buf[n] = 0;
		for (i = 0; !bad && i < sizeof(kmsg_bad) / sizeof(*kmsg_bad); i++)
			if (strstr(buf, kmsg_bad[i]))
				bad = kmsg_bad[i];
		if (bad)
			break;
	}
	if (bad)	/* skip the rest of it */
		while (read(kmsg_fd, buf + size / 2, size / 2 - 1) > 0 ||
		       errno == EPIPE)
			;
	return bad ? buf : NULL;
}

/*
 * Run @p with a fault at each allocation in turn, counting in @st; the
 * broken promises are test failures.  Returns 0, or @p's setup error.
 */
static int fi_run(struct __test_metadata *_metadata, const struct fpath *p,
		  struct fstats *st)
{
	unsigned int n, max = fi_max(), e;
	struct timespec t0, t1;
	const char *rep;
	char log[1024];
	struct fctx c;
	bool fired;
	int ret;

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kmsg_open();
	st->step = env_uint("FAULTS_STEP", p->step ?: 1) ?: 1;
	for (n = env_uint("FAULTS_FIRST", 1); n <= max; n += st->step) {
		memset(&c, 0, sizeof(c));
		c.fd = -1;
		c.wfd = -1;
		c.modfd = -1;
		c.pipe_w = -1;
		c.arg = p->arg;
		ret = p->setup ? p->setup(&c) : 0;
		if (ret) {
			p->teardown(&c);
			return ret;
		}
		fi_arm(n);
		ret = p->op(&c);
		fired = fi_fired();
		if (!fired) {
			/* every allocation of the op has had its turn */
			EXPECT_EQ(0, ret) TH_LOG("%s: %s without a fault",
						 p->name, strerror(-ret));
			if (!ret)
				EXPECT_EQ(0, p->verify(&c)) TH_LOG("%s: no fault",
								   p->name);
			p->teardown(&c);
			rep = kmsg_report(log, sizeof(log));
			EXPECT_EQ(NULL, rep) TH_LOG("%s: no fault: kernel log: %s",
						    p->name, rep);
			st->total = n - 1;
			break;
		}
		st->points++;
		if (!ret) {
			st->ok++;
			EXPECT_EQ(0, p->verify(&c))
				TH_LOG("%s: fault %u: succeeded but broken",
				       p->name, n);
		} else {
			e = -ret < 4096 ? -ret : 0;
			st->nr_err[e]++;
			EXPECT_TRUE(ret < 0 && errno_ok(p->errnos, -ret))
				TH_LOG("%s: fault %u: %d (%s)", p->name, n, ret,
				       strerror(-ret));
			/* the same operation on the same objects now works */
			ret = p->op(&c);
			EXPECT_EQ(0, ret) TH_LOG("%s: after fault %u: %s",
						 p->name, n, strerror(-ret));
			if (!ret)
				EXPECT_EQ(0, p->verify(&c))
					TH_LOG("%s: after fault %u: broken",
					       p->name, n);
		}
		p->teardown(&c);
		rep = kmsg_report(log, sizeof(log));
		EXPECT_EQ(NULL, rep) TH_LOG("%s: fault %u: kernel log: %s",
					    p->name, n, rep);
		if (_metadata->exit_code)
			break;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->secs = t1.tv_sec - t0.tv_sec +
		   (t1.tv_nsec - t0.tv_nsec) / 1e9;
	EXPECT_GE(max, n) TH_LOG("%s: more than %u fault points", p->name, max);
	return 0;
}

static void fi_report(const struct fpath *p, const struct fstats *st)
{
	char buf[512];
	int len = 0, e;

	for (e = 0; e < 4096; e++)
		if (st->nr_err[e])
			len += snprintf(buf + len, sizeof(buf) - len, " %s x%u",
					e ? strerrorname_np(e) : "?",
					st->nr_err[e]);
	buf[len] = 0;
	printf("# faults: %-28s %4u fault points",
	       p->name, st->points);
	if (st->step > 1)
		printf(" (every %uth of about %u)", st->step, st->total);
	printf(": %u succeeded anyway,%s%s (%.1f s)\n", st->ok,
	       len ? " failed:" : " none failed", buf, st->secs);
}

static int fi_prepare(void)
{
	pg = sysconf(_SC_PAGESIZE);
	if (nth_fd < 0)
		nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (nth_fd < 0)
		return -errno;
	return fi_config(0, ULONG_MAX);
}

/*
 * One variant per path.  A fault point costs up to a second under TCG and
 * KASAN (a module load and unload), tens of them per path: more than the
 * harness's default 30 s per test.
 */
FIXTURE(faults) {
};

FIXTURE_SETUP(faults)
{
}

FIXTURE_TEARDOWN(faults)
{
}

static void fi_test(struct __test_metadata *_metadata,
		    const struct fpath *p)
{
	struct fstats st;
	int ret;

	ASSERT_EQ(0, fi_prepare());
	ret = fi_run(_metadata, p, &st);
	if (ret == -ENODEV)
		SKIP(return, "%s: no device", p->name);
	ASSERT_EQ(0, ret) TH_LOG("%s: setup: %s", p->name, strerror(-ret));
	fi_report(p, &st);
	EXPECT_LT(0, st.points);
}

/* ---- common pieces ------------------------------------------------- */

static int ring_setup(struct fctx *c)
{
	int ret = io_uring_queue_init(16, &c->ring, 0);

	if (ret)
		return ret;
	c->ring_up = true;
	return 0;
}

static void common_teardown(struct fctx *c)
{
	if (c->reg.addr)
		kmbuf_region_unmap(&c->reg);
	if (c->ring_up)
		io_uring_queue_exit(&c->ring);
	if (c->user)
		munmap(c->user, REG_PAGES * pg);
	if (c->wfd >= 0)
		close(c->wfd);
	if (c->pipe_w >= 0)
		close(c->pipe_w);
	if (c->fd >= 0)
		close(c->fd);
}

/* Wait for the CQE with user_data @ud, dropping others; its res. */
static int wait_ud(struct fctx *c, __u64 ud, __u32 *flags)
{
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct io_uring_cqe *cqe;
	int ret;

	for (;;) {
		ret = io_uring_wait_cqe_timeout(&c->ring, &cqe, &ts);
		if (ret)
			return ret == -ETIME ? -ETIMEDOUT : ret;
		if (cqe->user_data == ud)
			break;
		io_uring_cqe_seen(&c->ring, cqe);
	}
	ret = cqe->res;
	if (flags)
		*flags = cqe->flags;
	io_uring_cqe_seen(&c->ring, cqe);
	return ret;
}

/*
 * Queue (once) and submit the common command @op with @cmd, and return
 * its CQE's res.  When io_uring_enter(2) fails the SQE stays queued and
 * the next call submits it again.
 */
static int kcmd(struct fctx *c, __u32 op, const struct kmbuf_cmd *cmd)
{
	struct io_uring_sqe *sqe;
	int ret;

	if (!c->pending) {
		sqe = kmbuf_get_sqe(&c->ring);
		if (!sqe)
			return -EBUSY;
		kmbuf_prep_cmd(sqe, c->fd, op, 0, cmd);
		sqe->user_data = UD_CMD;
		c->pending = true;
	}
	ret = io_uring_submit(&c->ring);
	if (ret < 0)
		return ret;
	c->pending = false;
	return wait_ud(c, UD_CMD, NULL);
}

static int region(struct fctx *c, __u32 flags)
{
	return kmbuf_region_create(c->ring.ring_fd, REG_ID, REG_PAGES * pg,
				   flags, 0, &c->reg);
}

/* A ring with the kernel region REG_ID mapped, desc flags @flags. */
static int ring_region(struct fctx *c, __u32 flags)
{
	int ret = ring_setup(c);

	return ret ? ret : region(c, flags);
}

static int bind_desc(struct fctx *c, const struct kmbuf_bind *b)
{
	struct kmbuf_cmd cmd = { .addr = (__u64)(uintptr_t)b };

	return kcmd(c, KMBUF_CMD_BIND, &cmd);
}

static int bind_plain(struct fctx *c)
{
	struct kmbuf_bind b = {
		.region_id = REG_ID, .buf_size = BSZ, .nr_bufs = NBUF,
	};

	return bind_desc(c, &b);
}

/* A second BIND must find the port bound. */
static int check_bound(struct fctx *c)
{
	int ret = bind_plain(c);

	return ret == -EBUSY ? 0 : (ret ? ret : -EPROTO);
}

/* ---- regions ------------------------------------------------------- */

struct region_arg {
	size_t	pages;
	__u32	flags;
	bool	user;
};

static int region_op(struct fctx *c)
{
	const struct region_arg *a = c->arg;
	struct io_uring_region_desc rd = {
		.id = REG_ID, .size = a->pages * pg, .flags = a->flags,
	};
	int ret;

	if (a->user)
		return kmbuf_region_register_user(c->ring.ring_fd, REG_ID,
						  c->user, a->pages * pg, 0);
	ret = kmbuf_region_register(c->ring.ring_fd, &rd, 0);
	c->reg.mmap_offset = rd.mmap_offset;
	return ret;
}

static int region_setup(struct fctx *c)
{
	const struct region_arg *a = c->arg;
	int ret = ring_setup(c);

	if (ret || !a->user)
		return ret;
	c->user = mmap(NULL, REG_PAGES * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->user == MAP_FAILED) {
		c->user = NULL;
		return -errno;
	}
	memset(c->user, 0x5a, a->pages * pg);	/* no page faults in the op */
	return 0;
}

/*
 * Registered: the id is taken, and a kernel region maps with the right
 * protection and reads as zeroes.
 */
static int region_verify(struct fctx *c)
{
	const struct region_arg *a = c->arg;
	struct io_uring_region_desc rd = { .id = REG_ID, .size = pg };
	size_t size = a->pages * pg, i;
	unsigned char *p;
	int ret;

	ret = kmbuf_region_register(c->ring.ring_fd, &rd, 0);
	if (ret != -EBUSY)
		return -EPROTO;
	if (a->user)
		return 0;
	if (a->flags & IORING_MEM_REGION_RDONLY) {
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 c->ring.ring_fd, c->reg.mmap_offset);
		if (p != MAP_FAILED) {
			munmap(p, size);
			return -EPROTO;
		}
	}
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, c->ring.ring_fd,
		 c->reg.mmap_offset);
	if (p == MAP_FAILED)
		return -errno;
	for (i = 0; i < size && !p[i]; i++)
		;
	munmap(p, size);
	return i == size ? 0 : -EPROTO;
}

/* 16 pages: one compound allocation; 3 pages: page by page and vmap() */
static const struct region_arg rarg_kernel = { .pages = REG_PAGES };
static const struct region_arg rarg_kernel_3 = { .pages = 3 };
static const struct region_arg rarg_rdonly = {
	.pages = REG_PAGES, .flags = IORING_MEM_REGION_RDONLY,
};

static const struct region_arg rarg_user = { .pages = REG_PAGES, .user = true };

static const struct fpath path_region_kernel = {
	.name = "region kernel 16 pages", .setup = region_setup,
	.op = region_op, .verify = region_verify, .teardown = common_teardown,
	.errnos = enomem, .arg = &rarg_kernel,
};

static const struct fpath path_region_kernel_3 = {
	.name = "region kernel 3 pages", .setup = region_setup,
	.op = region_op, .verify = region_verify, .teardown = common_teardown,
	.errnos = enomem, .arg = &rarg_kernel_3,
};

static const struct fpath path_region_rdonly = {
	.name = "region read-only 16 pages", .setup = region_setup,
	.op = region_op, .verify = region_verify, .teardown = common_teardown,
	.errnos = enomem, .arg = &rarg_rdonly,
};

static const struct fpath path_region_user = {
	.name = "region user memory 16 pages", .setup = region_setup,
	.op = region_op, .verify = region_verify, .teardown = common_teardown,
	.errnos = enomem, .arg = &rarg_user,
};

/* ---- ring create: BIND on each consumer ---------------------------- */

/* Arm stream 0 unless armed; 0, or the ARM's error. */
static int chr_arm(struct fctx *c)
{
	struct io_uring_sqe *sqe;
	int ret;

	if (c->armed)
		return 0;
	sqe = kmbuf_get_sqe(&c->ring);
	if (!sqe)
		return -EBUSY;
	kmbuf_prep_arm(sqe, c->fd, 0);
	sqe->user_data = UD_ARM;
	ret = io_uring_submit(&c->ring);
	if (ret < 0)
		return ret;
	c->armed = true;
	return 0;
}

/*
 * kmbuf_chr: a record written to the queue arrives, intact, in a buffer of
 * the ring on the armed stream; its buffer id in *@bid.
 */
static int chr_recv_one(struct fctx *c, __u32 *bid)
{
	const __u32 want = IORING_CQE_F_BUFFER | IORING_CQE_F_MORE;
	int ret, len = 200;
	__u32 flags;

	ret = chr_arm(c);
	if (ret)
		return ret;
	if (c->wfd < 0)
		c->wfd = chr_open(O_WRONLY | O_NONBLOCK);
	if (c->wfd < 0 || write_rec(c->wfd, ++c->seq, len) != len)
		return -EIO;
	ret = wait_ud(c, UD_ARM, &flags);
	if (ret != len || (flags & want) != want)
		return ret < 0 ? ret : -EPROTO;
	*bid = flags >> IORING_CQE_BUFFER_SHIFT;
	if (*bid >= NBUF ||
	    check_rec((unsigned char *)c->reg.addr + (size_t)*bid * BSZ,
		      len) != c->seq)
		return -EPROTO;
	return 0;
}

static int chr_verify(struct fctx *c)
{
	__u32 bid;
	int ret = check_bound(c);

	return ret ? ret : chr_recv_one(c, &bid);
}

static int chr_bind_setup(struct fctx *c)
{
	int ret = ring_region(c, 0);

	if (ret)
		return ret;
	chr_drain_queue();
	c->fd = chr_open(O_RDWR);
	return c->fd < 0 ? -ENODEV : 0;
}

static const struct fpath path_bind_chr = {
	.name = "BIND kmbuf_chr", .setup = chr_bind_setup, .op = bind_plain,
	.verify = chr_verify, .teardown = common_teardown,
	.errnos = enomem_eagain,
};

/* refill ring: buffers at the start of the region, the refill ring after */
static int bind_refill_op(struct fctx *c)
{
	struct kmbuf_bind b = {
		.region_id = REG_ID, .buf_size = BSZ, .nr_bufs = NBUF,
	};

	c->refill = kmbuf_refill_init(&b, c->reg.addr, REG_ID, NBUF * BSZ,
				      NBUF);
	if (!c->refill)
		return -EINVAL;
	return bind_desc(c, &b);
}

/*
 * Twice as many records as buffers arrive, each buffer given back through
 * the refill ring (and the doorbell rung when the kernel asks for it).
 */
static int refill_verify(struct fctx *c)
{
	struct kmbuf_cmd doorbell = { };
	unsigned int i;
	__u32 bid;
	int ret;

	ret = check_bound(c);
	for (i = 0; !ret && i < 2 * NBUF; i++) {
		ret = chr_recv_one(c, &bid);
		if (ret)
			break;
		if (kmbuf_refill_push(c->refill, NBUF, bid))
			return -ENOSPC;
		if (kmbuf_refill_need_wakeup(c->refill)) {
			ret = kcmd(c, KMBUF_CMD_RETURN, &doorbell);
			ret = ret < 0 ? ret : 0;
		}
	}
	return ret;
}

static const struct fpath path_bind_refill = {
	.name = "BIND kmbuf_chr refill ring", .setup = chr_bind_setup,
	.op = bind_refill_op, .verify = refill_verify,
	.teardown = common_teardown, .errnos = enomem_eagain,
};

/*
 * kmbuf_blk: a block written through the page cache comes back, verified,
 * in a buffer of the ring.
 */
static int blk_verify(struct fctx *c)
{
	unsigned char want[BSZ];
	struct io_uring_sqe *sqe;
	unsigned int i;
	__u32 flags;
	int ret;

	ret = check_bound(c);
	if (ret)
		return ret;
	for (i = 0; i < BSZ; i++)
		want[i] = (unsigned char)(i * 3 + ++c->seq);
	if (pwrite(c->fd, want, BSZ, 0) != BSZ || fsync(c->fd))
		return -EIO;
	sqe = kmbuf_get_sqe(&c->ring);
	blk_prep(sqe, c->fd, KMBUF_BLK_READ, 0, BSZ, 0, 0);
	sqe->user_data = UD_IO;
	ret = io_uring_submit(&c->ring);
	if (ret < 0)
		return ret;
	ret = wait_ud(c, UD_IO, &flags);
	if (ret != BSZ || !(flags & IORING_CQE_F_BUFFER))
		return ret < 0 ? ret : -EPROTO;
	if (memcmp((unsigned char *)c->reg.addr +
		   (size_t)(flags >> IORING_CQE_BUFFER_SHIFT) * BSZ, want, BSZ))
		return -EPROTO;
	return 0;
}

static int blk_bind_setup(struct fctx *c)
{
	const char *dev = c->arg;
	int ret = ring_region(c, IORING_MEM_REGION_RDONLY);

	if (ret)
		return ret;
	c->fd = open(dev, O_RDWR);
	return c->fd < 0 ? -ENODEV : 0;
}

static const struct fpath path_bind_blk = {
	.name = "BIND kmbuf_blk RAM", .setup = blk_bind_setup,
	.op = bind_plain, .verify = blk_verify, .teardown = common_teardown,
	.errnos = enomem_eagain, .arg = BLK_DEV,
};

static const struct fpath path_bind_blk_nvme = {
	.name = "BIND kmbuf_blk on NVMe", .setup = blk_bind_setup,
	.op = bind_plain, .verify = blk_verify, .teardown = common_teardown,
	.errnos = enomem_eagain, .arg = STACKED_DEV,
};

/* kmbuf_tick: one channel, its records arrive in ring buffers */
static int tick_open(struct fctx *c)
{
	c->fd = open(TICK_DEV, O_RDWR);
	return c->fd < 0 ? -ENODEV : 0;
}

static int tick_config(struct fctx *c)
{
	struct kmbuf_tick_config cfg = {
		.nr_channels = 1, .rec_size = 64, .period_ns = 1000000,
	};

	return ioctl(c->fd, KMBUF_TICK_CONFIG, &cfg) ? -errno : 0;
}

static int tick_verify(struct fctx *c)
{
	struct kmbuf_tick_range r = { .first = 0, .nr = 1 };
	struct io_uring_sqe *sqe;
	__u32 flags;
	int ret;

	ret = check_bound(c);
	if (ret)
		return ret;
	sqe = kmbuf_get_sqe(&c->ring);
	kmbuf_prep_arm(sqe, c->fd, 0);
	sqe->user_data = UD_ARM;
	ret = io_uring_submit(&c->ring);
	if (ret < 0)
		return ret;
	if (ioctl(c->fd, KMBUF_TICK_START, &r))
		return -errno;
	ret = wait_ud(c, UD_ARM, &flags);
	ioctl(c->fd, KMBUF_TICK_STOP, &r);
	if (ret != 64 || !(flags & IORING_CQE_F_BUFFER))
		return ret < 0 ? ret : -EPROTO;
	return 0;
}

static int tick_bind_setup(struct fctx *c)
{
	int ret = ring_region(c, 0);

	if (ret)
		return ret;
	ret = tick_open(c);
	return ret ? ret : tick_config(c);
}

static const struct fpath path_bind_tick = {
	.name = "BIND kmbuf_tick", .setup = tick_bind_setup,
	.op = bind_plain, .verify = tick_verify, .teardown = common_teardown,
	.errnos = enomem_eagain,
};

/* ---- port create: kmbuf_chr open, kmbuf_tick CONFIG ---------------- */

static int chr_open_op(struct fctx *c)
{
	c->fd = open(CHR_DEV, O_RDWR);
	return c->fd < 0 ? -errno : 0;
}

static int chr_open_verify(struct fctx *c)
{
	int ret = ring_region(c, 0);

	if (ret)
		return ret;
	ret = bind_plain(c);
	return ret ? ret : chr_verify(c);
}

static int chr_open_setup(struct fctx *c)
{
	chr_drain_queue();
	return access(CHR_DEV, F_OK) ? -ENODEV : 0;
}

static const struct fpath path_open_chr = {
	.name = "open kmbuf_chr (port)", .setup = chr_open_setup,
	.op = chr_open_op, .verify = chr_open_verify,
	.teardown = common_teardown, .errnos = enomem,
};

static int tick_config_setup(struct fctx *c)
{
	int ret = ring_region(c, 0);

	return ret ? ret : tick_open(c);
}

static int tick_config_verify(struct fctx *c)
{
	int ret = tick_config(c);

	if (ret != -EBUSY)
		return -EPROTO;
	ret = bind_plain(c);
	return ret ? ret : tick_verify(c);
}

static const struct fpath path_config_tick = {
	.name = "CONFIG kmbuf_tick (port)", .setup = tick_config_setup,
	.op = tick_config, .verify = tick_config_verify,
	.teardown = common_teardown, .errnos = enomem,
};

/* ---- multishot arming ---------------------------------------------- */

/* ARM: armed (no CQE yet), or its failure CQE. */
static int arm_op(struct fctx *c)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int ret;

	if (!c->pending) {
		sqe = kmbuf_get_sqe(&c->ring);
		kmbuf_prep_arm(sqe, c->fd, 0);
		sqe->user_data = UD_ARM;
		c->pending = true;
	}
	ret = io_uring_submit(&c->ring);
	if (ret < 0)
		return ret;
	c->pending = false;
	if (io_uring_peek_cqe(&c->ring, &cqe)) {
		c->armed = true;
		return 0;
	}
	ret = cqe->res;
	if (cqe->user_data != UD_ARM || ret >= 0 ||
	    (cqe->flags & IORING_CQE_F_MORE))
		ret = -EPROTO;
	io_uring_cqe_seen(&c->ring, cqe);
	return ret;
}

/* The armed stream delivers a record, and nothing else came. */
static int arm_verify(struct fctx *c)
{
	struct io_uring_cqe *cqe;
	__u32 bid;
	int ret;

	if (!c->armed)
		return -EPROTO;
	ret = chr_recv_one(c, &bid);
	if (ret)
		return ret;
	return io_uring_peek_cqe(&c->ring, &cqe) ? 0 : -EPROTO;
}

/*
 * Bound, and the ring's cache of requests used up by reads waiting on an
 * empty pipe (io_uring allocates requests IO_REQ_ALLOC_BATCH = 8 at a
 * time; the BIND left 8 in the cache), so that the ARM allocates its own.
 * Its uring_cmd data still comes from the ring's cache, which the BIND
 * filled.
 */
static int arm_setup(struct fctx *c)
{
	static char sink[8][1];
	struct io_uring_sqe *sqe;
	int ret, i, pfd[2];

	ret = chr_bind_setup(c);
	ret = ret ?: bind_plain(c);
	if (ret)
		return ret;
	if (pipe(pfd))
		return -errno;
	c->pipe_w = pfd[1];
	for (i = 0; i < 8; i++) {
		sqe = kmbuf_get_sqe(&c->ring);
		io_uring_prep_read(sqe, pfd[0], sink[i], 1, 0);
		sqe->user_data = UD_IO;
	}
	ret = io_uring_submit(&c->ring);
	close(pfd[0]);
	return ret == 8 ? 0 : -EIO;
}

static const struct fpath path_arm_chr = {
	.name = "ARM kmbuf_chr multishot", .setup = arm_setup,
	.op = arm_op, .verify = arm_verify, .teardown = common_teardown,
	.errnos = enomem_eagain,
};

/* ---- registered buffers on region memory --------------------------- */

static int fixed_setup(struct fctx *c)
{
	int ret = ring_region(c, 0);

	if (ret)
		return ret;
	return kmbuf_fixed_table(c->ring.ring_fd, 4);
}

static int fixed_op(struct fctx *c)
{
	return kmbuf_fixed_region(c->ring.ring_fd, 1, REG_ID, 0,
				  REG_PAGES * pg, 0);
}

/* WRITE_FIXED from the slot puts the region's bytes into a file. */
static int fixed_verify(struct fctx *c)
{
	size_t size = REG_PAGES * pg, i;
	unsigned char *back = NULL;
	struct io_uring_sqe *sqe;
	int fd, ret;

	if (fixed_op(c) != -EBUSY)
		return -EPROTO;
	for (i = 0; i < size; i++)
		((unsigned char *)c->reg.addr)[i] = (unsigned char)(i * 7 + c->seq);
	fd = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	if (fd < 0)
		return -errno;
	sqe = kmbuf_get_sqe(&c->ring);
	kmbuf_prep_write_fixed(sqe, fd, 1, 0, size, 0);
	sqe->user_data = UD_IO;
	ret = io_uring_submit(&c->ring);
	if (ret >= 0)
		ret = wait_ud(c, UD_IO, NULL);
	if (ret == (int)size) {
		back = malloc(size);
		ret = back && pread(fd, back, size, 0) == (ssize_t)size &&
		      !memcmp(back, c->reg.addr, size) ? 0 : -EPROTO;
		free(back);
	} else if (ret >= 0) {
		ret = -EPROTO;
	}
	close(fd);
	return ret;
}

static const struct fpath path_fixed_region = {
	.name = "fixed buffer on a region", .setup = fixed_setup,
	.op = fixed_op, .verify = fixed_verify, .teardown = common_teardown,
	.errnos = enomem,
};

/* ---- device and namespace setup: module loads ---------------------- */

struct mod_arg {
	const char	*name;
	const char	*params;
	const char	*dev;		/* a device the module creates */
};

static int mod_unload(const char *name)
{
	char path[64];
	int i;

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	for (i = 0; i < 300; i++) {
		if (access(path, F_OK))
			return 0;
		if (!syscall(SYS_delete_module, name, O_NONBLOCK))
			return 0;
		usleep(100 * 1000);
	}
	return -errno;
}

static char mod_path[PATH_MAX];

/* Find @name.ko under /lib/modules/<release>. */
static int mod_find(const char *dir, const char *file)
{
	struct dirent *d;
	char sub[PATH_MAX];
	int ret = -ENOENT;
	DIR *dp = opendir(dir);

	if (!dp)
		return -ENOENT;
	while (ret && (d = readdir(dp))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, d->d_name);
		if (!strcmp(d->d_name, file)) {
			snprintf(mod_path, sizeof(mod_path), "%s", sub);
			ret = 0;
		} else if (d->d_type == DT_DIR) {
			ret = mod_find(sub, file);
		}
	}
	closedir(dp);
	return ret;
}

static int mod_setup(struct fctx *c)
{
	const struct mod_arg *a = c->arg;
	int ret = mod_unload(a->name);

	if (ret)
		return ret;
	c->modfd = open(mod_path, O_RDONLY | O_CLOEXEC);
	return c->modfd < 0 ? -errno : 0;
}

static int mod_op(struct fctx *c)
{
	const struct mod_arg *a = c->arg;

	return syscall(SYS_finit_module, c->modfd, a->params, 0) ? -errno : 0;
}

/* The device is there and usable, and the module unloads. */
static int mod_verify(struct fctx *c)
{
	const struct mod_arg *a = c->arg;
	char buf[512];
	int fd, ret = 0;

	fd = open(a->dev, O_RDWR);
	if (fd < 0)
		return -errno;
	if (!strncmp(a->dev, "/dev/kmbufblk", 13) &&
	    pread(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		ret = -EIO;
	close(fd);
	return ret ?: mod_unload(a->name);
}

static void mod_teardown(struct fctx *c)
{
	if (c->modfd >= 0)
		close(c->modfd);
}

static unsigned long kallsyms_addr(const char *sym)
{
	char line[256], name[200], type;
	unsigned long addr, found = 0;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c %199s", &addr, &type, name) == 3 &&
		    !strcmp(name, sym))
			found = addr;
	fclose(f);
	return found;
}

/*
 * Count only allocations with module code on the stack: addresses above
 * the kernel image and below the fixmap (x86-64 MODULES_END).
 */
static int fi_modules_only(void)
{
	unsigned long end = kallsyms_addr("_end");

	if (!end)
		return -ENOENT;
	return fi_config(end, 0xffffffffff000000UL);
}

static void mod_test(struct __test_metadata *_metadata,
		     const struct fpath *p)
{
	const struct mod_arg *a = p->arg;
	char file[64];
	struct utsname u;
	struct fstats st;
	int ret;

	ASSERT_EQ(0, fi_prepare());
	uname(&u);
	snprintf(file, sizeof(file), "%s.ko", a->name);
	snprintf(mod_path, sizeof(mod_path), "/lib/modules/%s", u.release);
	if (mod_find(mod_path, file))
		SKIP(return, "no %s", file);
	ASSERT_EQ(0, fi_modules_only());
	ret = fi_run(_metadata, p, &st);
	fi_config(0, ULONG_MAX);
	EXPECT_EQ(0, ret) TH_LOG("%s: setup: %s", p->name, strerror(-ret));
	if (!ret)
		fi_report(p, &st);
	EXPECT_LT(0, st.points);
	/* leave them loaded, as other tests expect */
	EXPECT_EQ(0, system("modprobe kmbuf_chr && modprobe kmbuf_tick"));
}

static const struct mod_arg marg_chr = {
	.name = "kmbuf_chr", .params = "", .dev = CHR_DEV,
};

static const struct mod_arg marg_tick = {
	.name = "kmbuf_tick", .params = "", .dev = TICK_DEV,
};

static const struct mod_arg marg_blk = {
	.name = "kmbuf_blk", .params = "nr_devices=1 size_mb=1", .dev = BLK_DEV,
};

static const struct mod_arg marg_blk_nvme = {
	.name = "kmbuf_blk", .params = "lower=" NVME_DEV " nr_devices=0",
	.dev = STACKED_DEV,
};

static const struct fpath path_load_chr = {
	.name = "load kmbuf_chr", .setup = mod_setup, .op = mod_op,
	.verify = mod_verify, .teardown = mod_teardown, .errnos = enomem,
	.arg = &marg_chr,
};

static const struct fpath path_load_tick = {
	.name = "load kmbuf_tick", .setup = mod_setup, .op = mod_op,
	.verify = mod_verify, .teardown = mod_teardown, .errnos = enomem,
	.arg = &marg_tick,
};

static const struct fpath path_load_blk = {
	.name = "load kmbuf_blk 1 MiB RAM disk", .setup = mod_setup, .op = mod_op,
	.verify = mod_verify, .teardown = mod_teardown, .errnos = enomem,
	.arg = &marg_blk, .step = 8,
};

static const struct fpath path_load_blk_nvme = {
	.name = "load kmbuf_blk lower=nvme0n1", .setup = mod_setup,
	.op = mod_op, .verify = mod_verify, .teardown = mod_teardown,
	.errnos = enomem, .arg = &marg_blk_nvme, .step = 8,
};

FIXTURE_VARIANT(faults) {
	const struct fpath	*p;
};

FIXTURE_VARIANT_ADD(faults, region_kernel) {
	.p = &path_region_kernel,
};

FIXTURE_VARIANT_ADD(faults, region_kernel_3) {
	.p = &path_region_kernel_3,
};

FIXTURE_VARIANT_ADD(faults, region_rdonly) {
	.p = &path_region_rdonly,
};

FIXTURE_VARIANT_ADD(faults, region_user) {
	.p = &path_region_user,
};

FIXTURE_VARIANT_ADD(faults, bind_chr) {
	.p = &path_bind_chr,
};

FIXTURE_VARIANT_ADD(faults, bind_refill) {
	.p = &path_bind_refill,
};

FIXTURE_VARIANT_ADD(faults, bind_blk) {
	.p = &path_bind_blk,
};

FIXTURE_VARIANT_ADD(faults, bind_blk_nvme) {
	.p = &path_bind_blk_nvme,
};

FIXTURE_VARIANT_ADD(faults, bind_tick) {
	.p = &path_bind_tick,
};

FIXTURE_VARIANT_ADD(faults, open_chr) {
	.p = &path_open_chr,
};

FIXTURE_VARIANT_ADD(faults, config_tick) {
	.p = &path_config_tick,
};

FIXTURE_VARIANT_ADD(faults, arm_chr) {
	.p = &path_arm_chr,
};

FIXTURE_VARIANT_ADD(faults, fixed_region) {
	.p = &path_fixed_region,
};

FIXTURE_VARIANT_ADD(faults, load_chr) {
	.p = &path_load_chr,
};

FIXTURE_VARIANT_ADD(faults, load_tick) {
	.p = &path_load_tick,
};

FIXTURE_VARIANT_ADD(faults, load_blk) {
	.p = &path_load_blk,
};

FIXTURE_VARIANT_ADD(faults, load_blk_nvme) {
	.p = &path_load_blk_nvme,
};

TEST_F_TIMEOUT(faults, every_allocation, 900)
{
	if (variant->p->setup == mod_setup)
		mod_test(_metadata, variant->p);
	else
		fi_test(_metadata, variant->p);
}

/* the module loads' regressions, then the leak scan: after every path */
FIXTURE(faults_end) {
};

FIXTURE_SETUP(faults_end)
{
}

FIXTURE_TEARDOWN(faults_end)
{
}

/*
 * Regression: add_disk() ignored a failure of dev_set_name(), and
 * device_add() then failed the disk with -EINVAL instead of -ENOMEM.  The
 * stack filter makes the first allocation under dev_set_name() fail, which
 * in kmbuf_blk's init is the disk's name in add_disk().
 */
static int kallsyms_range(const char *sym, unsigned long *lo,
			  unsigned long *hi)
{
	char line[256], name[200], type;
	unsigned long addr;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return -errno;
	*lo = 0;
	*hi = ULONG_MAX;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c %199s", &addr, &type, name) == 3 &&
		    !strcmp(name, sym))
			*lo = addr;
	rewind(f);
	/* the function ends where the next symbol starts */
	while (*lo && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c %199s", &addr, &type, name) == 3 &&
		    addr > *lo && addr < *hi)
			*hi = addr;
	fclose(f);
	return *lo && *hi != ULONG_MAX ? 0 : -ENOENT;
}

static void disk_name_test(struct __test_metadata *_metadata,
			   const struct mod_arg *a)
{
	unsigned long lo = 0, hi = 0;
	struct fctx c = { .fd = -1, .wfd = -1, .pipe_w = -1, .arg = a };
	struct utsname u;
	int ret;

	ASSERT_EQ(0, fi_prepare());
	uname(&u);
	snprintf(mod_path, sizeof(mod_path), "/lib/modules/%s", u.release);
	if (mod_find(mod_path, "kmbuf_blk.ko"))
		SKIP(return, "no kmbuf_blk.ko");
	ASSERT_EQ(0, kallsyms_range("dev_set_name", &lo, &hi));
	ASSERT_EQ(0, mod_setup(&c));
	ASSERT_EQ(0, fi_config(lo, hi));
	fi_arm(1);
	ret = mod_op(&c);
	EXPECT_TRUE(fi_fired());
	fi_config(0, ULONG_MAX);
	EXPECT_EQ(-ENOMEM, ret) TH_LOG("%s", strerror(-ret));
	if (!ret)
		mod_unload(a->name);
	/* and then it loads */
	EXPECT_EQ(0, mod_op(&c));
	EXPECT_EQ(0, mod_verify(&c));
	mod_teardown(&c);
	EXPECT_EQ(0, system("modprobe kmbuf_chr && modprobe kmbuf_tick"));
}

TEST_F_TIMEOUT(faults_end, load_blk_disk_name, 120)
{
	disk_name_test(_metadata, &marg_blk);
}

TEST_F_TIMEOUT(faults_end, load_blk_nvme_disk_name, 120)
{
	disk_name_test(_metadata, &marg_blk_nvme);
}

/* ---- nothing leaked ------------------------------------------------ */

TEST_F_TIMEOUT(faults_end, kmemleak, 300)
{
	char line[256];
	FILE *f;
	int n = 0;

	fi_restore();
	if (access(DBG "kmemleak", W_OK))
		SKIP(return, "no kmemleak");
	/* freed rings and regions go through RCU and workqueues first */
	sleep(6);
	ASSERT_EQ(0, write_str(DBG "kmemleak", "scan"));
	f = fopen(DBG "kmemleak", "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		if (n < 40)
			printf("# %s", line);
		n++;
	}
	fclose(f);
	EXPECT_EQ(0, n) TH_LOG("kmemleak reports");
}

static void __attribute__((constructor)) faults_init(void)
{
	/* the RAM disk and the one stacked on the NVMe namespace */
	blk_reload("lower=" NVME_DEV, STACKED_DEV);
	if (system("modprobe kmbuf_chr && modprobe kmbuf_tick"))
		fprintf(stderr, "# modprobe failed\n");
}

static void __attribute__((destructor)) faults_exit(void)
{
	fi_restore();
}

TEST_HARNESS_MAIN
