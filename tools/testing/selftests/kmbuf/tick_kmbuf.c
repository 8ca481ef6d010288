// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_tick: records written by hrtimers in hard interrupt context,
 * delivered through one kmbuf ring shared by many channels.  Every record
 * is checked (length, channel, fill, seq order, no duplicate buffer) and
 * the seqs userspace never saw are exactly the driver's overruns.  Bad
 * configuration and commands, ARM errors, cancellation with timers
 * running (ASYNC_CANCEL, UNBIND, io_uring exit, close, process exit) and
 * module unload afterwards.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "tick_util.h"
#include "../kselftest_harness.h"

#define REGION_ID	1
#define REGION_SIZE	(1U << 20)
#define MS		1000000ULL

static void env_setup(struct __test_metadata *_metadata, struct tkr *rx,
		      struct kmbuf_region *reg, int *fd)
{
	int ret;

	*fd = tick_open();
	if (*fd < 0)
		SKIP(return, TICK_DEV " not available (CONFIG_KMBUF_TICK)");
	ASSERT_EQ(0, tkr_init(rx, 256, 16384, 0));
	ret = kmbuf_region_create(rx->ring.ring_fd, REGION_ID, REGION_SIZE, 0,
				  0, reg);
	if (ret == -EINVAL || ret == -EOPNOTSUPP)
		SKIP(return, "no kmbuf memory regions");
	ASSERT_EQ(0, ret);
}

static void env_teardown(struct tkr *rx, struct kmbuf_region *reg, int fd)
{
	if (rx->log) {
		kmbuf_region_unmap(reg);
		tkr_exit(rx);
	}
	if (fd >= 0)
		close(fd);
}

FIXTURE(tick) {
	struct tkr rx;
	struct kmbuf_region reg;
	int fd;
};

FIXTURE_SETUP(tick)
{
	env_setup(_metadata, &self->rx, &self->reg, &self->fd);
}

FIXTURE_TEARDOWN(tick)
{
	env_teardown(&self->rx, &self->reg, self->fd);
}

/* the same, for the tests that run with several channel counts */
FIXTURE(tickn) {
	struct tkr rx;
	struct kmbuf_region reg;
	int fd;
};

FIXTURE_VARIANT(tickn)
{
	__u32	nr_chan;
	__u64	period_ns;
};

FIXTURE_VARIANT_ADD(tickn, ch8) { .nr_chan = 8, .period_ns = 5 * MS };
/* 256 records/s in all: the debug guest under TCG takes about 800 */
FIXTURE_VARIANT_ADD(tickn, ch64) { .nr_chan = 64, .period_ns = 250 * MS };
FIXTURE_VARIANT_ADD(tickn, ch256) { .nr_chan = 256, .period_ns = 1000 * MS };

FIXTURE_SETUP(tickn)
{
	env_setup(_metadata, &self->rx, &self->reg, &self->fd);
}

FIXTURE_TEARDOWN(tickn)
{
	env_teardown(&self->rx, &self->reg, self->fd);
}

static const void *base(struct kmbuf_region *reg, __u64 off)
{
	return (const char *)reg->addr + off;
}

/*
 * Stop every channel, take what is still on its way, and check that every
 * seq the device counted is either a record userspace got or an overrun.
 */
static const char *stop_and_account(struct tick_rx *t)
{
	long long periods, overruns;

	if (tick_range(t->fd, KMBUF_TICK_STOP, 0, t->nr_chan))
		return "STOP failed";
	if (tick_rx_run(t, 0, 1))
		return t->err;
	periods = fdinfo_get(t->fd, "kmbuf_tick_periods");
	overruns = fdinfo_get(t->fd, "kmbuf_tick_overruns");
	if (periods < 0 || overruns < 0)
		return "no kmbuf_tick fdinfo";
	if ((__u64)periods != t->records + overruns)
		return "records + overruns != periods: a record was lost";
	if (tick_rx_gaps(t) > (__u64)overruns)
		return "more seqs missing than overruns counted";
	return NULL;
}

TEST_F(tick, config_errors)
{
	struct kmbuf_tick_config bad[] = {
		{ 0, 64, MS }, { KMBUF_TICK_MAX_CHANNELS + 1, 64, MS },
		{ 1, 24, MS }, { 1, 36, MS }, { 1, KMBUF_TICK_MAX_RECORD + 8, MS },
		{ 1, 64, KMBUF_TICK_MIN_PERIOD - 1 }, { 1, 64, 1000 * MS + 1 },
	};
	unsigned int i;
	int fd2;

	/* nothing works before CONFIG */
	EXPECT_EQ(-ENXIO, tick_range(self->fd, KMBUF_TICK_START, 0, 1));
	EXPECT_EQ(-ENXIO, tk_bind(&self->rx, self->fd, REGION_ID, 0, 64, 4));
	EXPECT_EQ(-ENXIO, tk_unbind(&self->rx, self->fd));
	EXPECT_EQ(0, fdinfo_get(self->fd, "kmbuf_tick_channels") + 1);

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		EXPECT_EQ(-EINVAL, tick_config(self->fd, bad[i].nr_channels,
					       bad[i].rec_size,
					       bad[i].period_ns)) TH_LOG("%u", i);
	EXPECT_EQ(-EFAULT, ioctl(self->fd, KMBUF_TICK_CONFIG, 8) ? -errno : 0);
	EXPECT_EQ(-ENOTTY, ioctl(self->fd, _IO(KMBUF_TICK_MAGIC, 9), 0) ?
			   -errno : 0);

	/* the limits themselves are fine */
	fd2 = tick_open();
	ASSERT_LE(0, fd2);
	EXPECT_EQ(0, tick_config(fd2, KMBUF_TICK_MAX_CHANNELS,
				 KMBUF_TICK_MAX_RECORD, KMBUF_TICK_MIN_PERIOD));
	EXPECT_EQ(KMBUF_TICK_MAX_CHANNELS,
		  fdinfo_get(fd2, "kmbuf_tick_channels"));
	close(fd2);

	ASSERT_EQ(0, tick_config(self->fd, 8, 32, MS / 10));
	EXPECT_EQ(-EBUSY, tick_config(self->fd, 8, 64, MS));
	EXPECT_EQ(8, fdinfo_get(self->fd, "kmbuf_tick_channels"));
	EXPECT_EQ(0, fdinfo_get(self->fd, "kmbuf_tick_periods"));

	EXPECT_EQ(-EINVAL, tick_range(self->fd, KMBUF_TICK_START, 0, 0));
	EXPECT_EQ(-EINVAL, tick_range(self->fd, KMBUF_TICK_START, 8, 1));
	EXPECT_EQ(-EINVAL, tick_range(self->fd, KMBUF_TICK_START, 7, 2));
	EXPECT_EQ(-EINVAL, tick_range(self->fd, KMBUF_TICK_STOP, 1, ~0U));
	EXPECT_EQ(-EFAULT, ioctl(self->fd, KMBUF_TICK_START, 8) ? -errno : 0);
	/* STOP of stopped channels and START of started ones: no-ops */
	EXPECT_EQ(0, tick_range(self->fd, KMBUF_TICK_STOP, 0, 8));
	EXPECT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 0, 8));
	EXPECT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 2, 3));
	usleep(20000);
	EXPECT_EQ(0, tick_range(self->fd, KMBUF_TICK_STOP, 0, 8));
	/* no ring: every period an overrun */
	EXPECT_LT(0, fdinfo_get(self->fd, "kmbuf_tick_periods"));
	EXPECT_EQ(fdinfo_get(self->fd, "kmbuf_tick_periods"),
		  fdinfo_get(self->fd, "kmbuf_tick_overruns"));
}

/* The device's own commands as uring_cmds, and their SQE checks. */
TEST_F(tick, uring_cmd_errors)
{
	struct kmbuf_tick_config cfg = { 2, 64, MS };
	struct kmbuf_tick_range r = { 0, 2 };
	struct io_uring_sqe *sqe;
	struct tkr_cqe c;

	EXPECT_EQ(-ENXIO, tk_cmd(&self->rx, self->fd, KMBUF_TICK_START,
				 (uintptr_t)&r, 0, 0));
	EXPECT_EQ(-EFAULT, tk_cmd(&self->rx, self->fd, KMBUF_TICK_CONFIG,
				  8, 0, 0));
	EXPECT_EQ(-EINVAL, tk_cmd(&self->rx, self->fd, KMBUF_TICK_CONFIG,
				  (uintptr_t)&cfg, 1, 0));
	EXPECT_EQ(-EINVAL, tk_cmd(&self->rx, self->fd, KMBUF_TICK_CONFIG,
				  (uintptr_t)&cfg, 0, 1));
	EXPECT_EQ(-ENOTTY, tk_cmd(&self->rx, self->fd, _IO(KMBUF_TICK_MAGIC, 9),
				  0, 0, 0));
	ASSERT_EQ(0, tk_cmd(&self->rx, self->fd, KMBUF_TICK_CONFIG,
			    (uintptr_t)&cfg, 0, 0));
	EXPECT_EQ(-EBUSY, tk_cmd(&self->rx, self->fd, KMBUF_TICK_CONFIG,
				 (uintptr_t)&cfg, 0, 0));

	/* an SQE field the command does not use, and MULTISHOT */
	ASSERT_EQ(0, tk_queue(&self->rx, self->fd, KMBUF_TICK_START, 0,
			      (uintptr_t)&r, 0, 0, 1));
	sqe = &self->rx.ring.sq.sqes[(self->rx.ring.sq.sqe_tail - 1) &
				     *self->rx.ring.sq.kring_mask];
	sqe->len = 1;
	ASSERT_EQ(0, tk_queue(&self->rx, self->fd, KMBUF_TICK_START,
			      IORING_URING_CMD_MULTISHOT, (uintptr_t)&r, 0, 0,
			      2));
	ASSERT_EQ(2, io_uring_submit(&self->rx.ring));
	ASSERT_EQ(0, tkr_next(&self->rx, &c));
	EXPECT_EQ(-EINVAL, c.res);
	ASSERT_EQ(0, tkr_next(&self->rx, &c));
	EXPECT_EQ(-EINVAL, c.res);
	EXPECT_EQ(0, fdinfo_get(self->fd, "kmbuf_tick_periods"));

	EXPECT_EQ(0, tk_cmd(&self->rx, self->fd, KMBUF_TICK_START,
			    (uintptr_t)&r, 0, 0));
	usleep(20000);
	EXPECT_EQ(0, tk_cmd(&self->rx, self->fd, KMBUF_TICK_STOP,
			    (uintptr_t)&r, 0, 0));
	EXPECT_LT(0, fdinfo_get(self->fd, "kmbuf_tick_periods"));
}

TEST_F(tick, arm_errors)
{
	struct tick_rx t;
	struct tkr_cqe c;

	ASSERT_EQ(0, tick_config(self->fd, 4, 64, MS));
	/* not bound */
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, 1));
	ASSERT_EQ(0, tkr_next(&self->rx, &c));
	EXPECT_EQ(UD_ARM(0), c.ud);
	EXPECT_EQ(-ENXIO, c.res);
	EXPECT_EQ(0, c.flags & IORING_CQE_F_MORE);

	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 0, 64, 8));
	EXPECT_EQ(-EBUSY, tk_bind(&self->rx, self->fd, REGION_ID, 4096, 64, 8));
	/* no MULTISHOT; a stream the port does not have */
	EXPECT_EQ(-EINVAL, tk_cmd(&self->rx, self->fd, KMBUF_CMD_ARM, 0, 0, 0));
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 4, 1));
	ASSERT_EQ(0, tkr_next(&self->rx, &c));
	EXPECT_EQ(UD_ARM(4), c.ud);
	EXPECT_EQ(-EINVAL, c.res);
	/* armed twice: the second fails, the first stays */
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 1, 1));
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 1, 1));
	ASSERT_EQ(0, tkr_next(&self->rx, &c));
	EXPECT_EQ(UD_ARM(1), c.ud);
	EXPECT_EQ(-EBUSY, c.res);
	EXPECT_EQ(0, c.flags & IORING_CQE_F_MORE);

	ASSERT_EQ(0, tick_rx_init(&t, &self->rx, self->fd,
				  base(&self->reg, 0), 64, 8, 64, 4, 4));
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 1, 1));
	ASSERT_EQ(0, tick_rx_run(&t, 5, 0)) TH_LOG("%s", t.err);
	EXPECT_EQ(5, t.ch[1].records);
	EXPECT_EQ(NULL, stop_and_account(&t)) TH_LOG("%s", t.err);
	tick_rx_free(&t);
}

/* One channel: every record checked, the accounting exact. */
TEST_F(tick, one_channel)
{
	long long over;
	struct tick_rx t;
	__u64 gaps;

	ASSERT_EQ(0, tick_config(self->fd, 1, 256, MS));
	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 4096, 256, 8));
	ASSERT_EQ(0, tick_rx_init(&t, &self->rx, self->fd,
				  base(&self->reg, 4096), 256, 8, 256, 1, 2));
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, 1));
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 0, 1));
	ASSERT_EQ(0, tick_rx_run(&t, 200, 0)) TH_LOG("%s", t.err);
	EXPECT_EQ(NULL, stop_and_account(&t));
	TH_LOG("%llu records, %llu overruns", (unsigned long long)t.records,
	       fdinfo_get(self->fd, "kmbuf_tick_overruns"));
	/* stopped and started again, the seq goes on */
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 0, 1));
	ASSERT_EQ(0, tick_rx_run(&t, t.records + 20, 0)) TH_LOG("%s", t.err);
	EXPECT_EQ(NULL, stop_and_account(&t));

	/* all 8 buffers held for a while: a gap of what overran meanwhile */
	ASSERT_EQ(0, tick_rx_flush(&t));
	gaps = t.ch[0].gaps;
	over = fdinfo_get(self->fd, "kmbuf_tick_overruns");
	t.batch = 1000;
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 0, 1));
	ASSERT_EQ(0, tick_rx_run(&t, t.records + 8, 0)) TH_LOG("%s", t.err);
	usleep(30000);
	ASSERT_EQ(0, tick_rx_flush(&t));
	t.batch = 2;
	ASSERT_EQ(0, tick_rx_run(&t, t.records + 4, 0)) TH_LOG("%s", t.err);
	EXPECT_EQ(NULL, stop_and_account(&t));
	EXPECT_LE(gaps + 20, t.ch[0].gaps);
	EXPECT_GE(fdinfo_get(self->fd, "kmbuf_tick_overruns") - over,
		  t.ch[0].gaps - gaps);
	tick_rx_free(&t);
}

/* A record longer than the ring's buffers is cut to the buffer size. */
TEST_F(tick, record_cut_to_buffer)
{
	struct tick_rx t;

	ASSERT_EQ(0, tick_config(self->fd, 2, 4096, MS));
	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 0, 1024, 8));
	ASSERT_EQ(0, tick_rx_init(&t, &self->rx, self->fd, base(&self->reg, 0),
				  1024, 8, 4096, 2, 1));
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, 2));
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 0, 2));
	/* tick_rx_cqe() checks res == 1024 and the tail word at 1016 */
	ASSERT_EQ(0, tick_rx_run(&t, 50, 0)) TH_LOG("%s", t.err);
	EXPECT_EQ(NULL, stop_and_account(&t));
	tick_rx_free(&t);
}

/*
 * Many channels share one ring of 16 buffers: the buffers go round,
 * every channel gets records, and nothing is lost unaccounted.  The
 * channels are started one after the other, spread over a period: started
 * at once, they would all fire in one burst, and the same 16 would take
 * the 16 buffers every time.
 */
TEST_F_TIMEOUT(tickn, many_channels_small_ring, 120)
{
	__u32 n = variant->nr_chan, i, starved = 0;
	struct tick_rx t;

	ASSERT_EQ(0, tick_config(self->fd, n, 512, variant->period_ns));
	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 0, 512, 16));
	ASSERT_EQ(0, tick_rx_init(&t, &self->rx, self->fd, base(&self->reg, 0),
				  512, 16, 512, n, 4));
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, n));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, i, 1));
		usleep(variant->period_ns / 1000 / n);
	}
	ASSERT_EQ(0, tick_rx_run(&t, 5 * n, 0)) TH_LOG("%s", t.err);
	EXPECT_EQ(NULL, stop_and_account(&t));
	for (i = 0; i < n; i++)
		starved += !t.ch[i].records;
	EXPECT_EQ(0, starved) TH_LOG("%u channels got no record", starved);
	TH_LOG("%u channels: %llu records, %llu overruns, %llu re-arms", n,
	       (unsigned long long)t.records,
	       fdinfo_get(self->fd, "kmbuf_tick_overruns"),
	       (unsigned long long)t.rearms);
	tick_rx_free(&t);
}

/*
 * 64 channels started at once fire in one burst at every period, 4 times
 * as many as the ring has buffers: most periods overrun, and still every
 * seq is either a record userspace got or an overrun the device counted.
 */
TEST_F_TIMEOUT(tick, burst_overruns, 120)
{
	long long over;
	struct tick_rx t;

	ASSERT_EQ(0, tick_config(self->fd, 64, 256, 20 * MS));
	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 0, 256, 16));
	ASSERT_EQ(0, tick_rx_init(&t, &self->rx, self->fd, base(&self->reg, 0),
				  256, 16, 256, 64, 4));
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, 64));
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 0, 64));
	ASSERT_EQ(0, tick_rx_run(&t, 320, 0)) TH_LOG("%s", t.err);
	EXPECT_EQ(NULL, stop_and_account(&t));
	over = fdinfo_get(self->fd, "kmbuf_tick_overruns");
	EXPECT_LT(0, over);
	TH_LOG("%llu records, %lld overruns, %llu seen as gaps",
	       (unsigned long long)t.records, over,
	       (unsigned long long)tick_rx_gaps(&t));
	tick_rx_free(&t);
}

/*
 * Wait for the final CQE of ARM @ud and, if @other, for the CQE with
 * user_data @other too, checking the records that come meanwhile.
 */
static int wait_final(struct tick_rx *t, __u64 ud, int *res, __u64 other,
		      int *other_res)
{
	bool final = false, seen = !other;
	struct tkr_cqe c;
	int r;

	while (!final || !seen) {
		if (tkr_next(t->rx, &c))
			return -1;
		if (other && c.ud == other) {
			*other_res = c.res;
			seen = true;
			continue;
		}
		r = 0;
		if (tick_rx_cqe(t, &c, &r) < 0)
			return -1;
		if (!(c.flags & IORING_CQE_F_MORE) && c.ud == ud) {
			*res = r;
			final = true;
		}
	}
	return 0;
}

/* IORING_OP_ASYNC_CANCEL ends one ARM; the others go on, re-arming works. */
TEST_F(tick, async_cancel_arm)
{
	struct io_uring_sqe *sqe;
	struct tick_rx t;
	__u64 before;
	int res, cres;

	ASSERT_EQ(0, tick_config(self->fd, 2, 128, 2 * MS));
	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 0, 128, 16));
	ASSERT_EQ(0, tick_rx_init(&t, &self->rx, self->fd, base(&self->reg, 0),
				  128, 16, 128, 2, 2));
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, 2));
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 0, 2));
	ASSERT_EQ(0, tick_rx_run(&t, 20, 0)) TH_LOG("%s", t.err);

	sqe = tkr_sqe(&self->rx);
	ASSERT_NE(NULL, sqe);
	io_uring_prep_cancel64(sqe, UD_ARM(0), 0);
	sqe->user_data = 7;
	ASSERT_EQ(1, io_uring_submit(&self->rx.ring));
	ASSERT_EQ(0, wait_final(&t, UD_ARM(0), &res, 7, &cres))
		TH_LOG("%s", t.err);
	EXPECT_EQ(-ECANCELED, res);
	EXPECT_EQ(0, cres);	/* the cancel's own CQE */

	before = t.ch[1].records;
	ASSERT_EQ(0, tick_rx_run(&t, t.records + 10, 0)) TH_LOG("%s", t.err);
	EXPECT_LT(before, t.ch[1].records);
	/* channel 0 again: what it made meanwhile waited or overran */
	before = t.ch[0].records;
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, 1));
	ASSERT_EQ(0, tick_rx_run(&t, t.records + 20, 0)) TH_LOG("%s", t.err);
	EXPECT_LT(before, t.ch[0].records);
	EXPECT_EQ(NULL, stop_and_account(&t));
	tick_rx_free(&t);
}

/*
 * UNBIND with every channel armed and its timer running: each ARM ends
 * with -ECANCELED and no buffer, the buffers userspace holds stay readable
 * and unchanged, the timers go on counting overruns, a new ring works.
 */
TEST_F(tick, unbind_while_armed)
{
	static char copy[32][256];
	struct tick_rx t;
	int ended = 0, res;
	struct tkr_cqe c;
	long long o1;
	__u32 i, held;

	ASSERT_EQ(0, tick_config(self->fd, 4, 256, 2 * MS));
	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 0, 256, 32));
	/* never returns a buffer: batch > ring */
	ASSERT_EQ(0, tick_rx_init(&t, &self->rx, self->fd, base(&self->reg, 0),
				  256, 32, 256, 4, 1000));
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, 4));
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 0, 4));
	ASSERT_EQ(0, tick_rx_run(&t, 12, 0)) TH_LOG("%s", t.err);
	for (i = 0; i < 32; i++)
		memcpy(copy[i], tick_buf(&t, i), 256);

	ASSERT_EQ(0, tk_unbind(&self->rx, self->fd));
	while (ended < 4) {
		ASSERT_EQ(0, tkr_next(&self->rx, &c));
		res = 0;
		ASSERT_LE(0, tick_rx_cqe(&t, &c, &res)) TH_LOG("%s", t.err);
		if (!(c.flags & IORING_CQE_F_MORE)) {
			EXPECT_EQ(-ECANCELED, res);
			ended++;
		} else {	/* posted before the UNBIND: keep a copy */
			i = c.flags >> IORING_CQE_BUFFER_SHIFT;
			memcpy(copy[i], tick_buf(&t, i), 256);
		}
	}
	held = t.nr_ret;
	EXPECT_LE(12, held);
	for (i = 0; i < held; i++) {
		__u64 seq;

		EXPECT_EQ(NULL, tick_check_rec(tick_buf(&t, t.ret[i]), 256,
					       ((__u32 *)tick_buf(&t, t.ret[i]))[4],
					       &seq));
		EXPECT_EQ(0, memcmp(copy[t.ret[i]], tick_buf(&t, t.ret[i]),
				    256));
	}
	EXPECT_EQ(-ENXIO, tk_return(&self->rx, self->fd, t.ret, held));
	t.nr_ret = 0;
	o1 = fdinfo_get(self->fd, "kmbuf_tick_overruns");
	usleep(50000);
	EXPECT_LT(o1, fdinfo_get(self->fd, "kmbuf_tick_overruns"));
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, 1));
	ASSERT_EQ(0, tkr_next(&self->rx, &c));
	EXPECT_EQ(-ENXIO, c.res);

	/* the held range stays reserved; a new ring after it works */
	EXPECT_EQ(-EBUSY, tk_bind(&self->rx, self->fd, REGION_ID, 0, 256, 32));
	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 8192, 256, 32));
	t.base = base(&self->reg, 8192);
	t.batch = 2;
	memset(t.held, 0, 32);
	ASSERT_EQ(0, tk_arm(&self->rx, self->fd, 0, 4));
	ASSERT_EQ(0, tick_rx_run(&t, t.records + 20, 0)) TH_LOG("%s", t.err);
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_STOP, 0, 4));
	tick_rx_free(&t);
}

/*
 * Records delivered while no ARM is in flight wait in their stream (fdinfo
 * kmbuf_pending), each in its buffer; UNBIND drops them and counts them in
 * kmbuf_dropped, and a new ring starts empty.
 */
TEST_F(tick, unbind_drops_waiting_records)
{
	long long pending = 0;
	int i;

	ASSERT_EQ(0, tick_config(self->fd, 1, 256, 2 * MS));
	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 0, 256, 8));
	EXPECT_EQ(0, fdinfo_get(self->fd, "kmbuf_dropped"));
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_START, 0, 1));
	/* no ARM: every record waits, until the 8 buffers are all used */
	for (i = 0; i < 500 && pending < 8; i++) {
		usleep(10000);
		pending = fdinfo_get(self->fd, "kmbuf_pending");
	}
	ASSERT_EQ(0, tick_range(self->fd, KMBUF_TICK_STOP, 0, 1));
	ASSERT_EQ(8, fdinfo_get(self->fd, "kmbuf_pending"));
	EXPECT_EQ(0, fdinfo_get(self->fd, "kmbuf_user"));
	EXPECT_EQ(0, fdinfo_get(self->fd, "kmbuf_free"));

	ASSERT_EQ(0, tk_unbind(&self->rx, self->fd));
	EXPECT_EQ(0, fdinfo_get(self->fd, "kmbuf_pending"));
	EXPECT_EQ(8, fdinfo_get(self->fd, "kmbuf_dropped"));
	EXPECT_EQ(0, fdinfo_get(self->fd, "kmbuf_bound"));
	/* the same bytes bind again: no buffer was left held */
	ASSERT_EQ(0, tk_bind(&self->rx, self->fd, REGION_ID, 0, 256, 8));
	EXPECT_EQ(8, fdinfo_get(self->fd, "kmbuf_free"));
	EXPECT_EQ(0, fdinfo_get(self->fd, "kmbuf_pending"));
	EXPECT_EQ(8, fdinfo_get(self->fd, "kmbuf_dropped"));
}

/* Set up @n channels at @period_ns, armed and running, with records seen. */
static int running(struct tkr *rx, int fd, struct tick_rx *t, __u32 n,
		   __u64 period_ns, const void *b)
{
	if (tick_config(fd, n, 256, period_ns) ||
	    tk_bind(rx, fd, REGION_ID, 0, 256, 16) ||
	    tick_rx_init(t, rx, fd, b, 256, 16, 256, n, 4) ||
	    tk_arm(rx, fd, 0, n) ||
	    tick_range(fd, KMBUF_TICK_START, 0, n))
		return -1;
	return tick_rx_run(t, 4 * n, 0);
}

/* The io_uring instance goes away with timers running, then the file. */
TEST_F(tick, ring_exit_then_close)
{
	long long o1;
	struct tick_rx t;

	ASSERT_EQ(0, running(&self->rx, self->fd, &t, 8, MS,
			     base(&self->reg, 0))) TH_LOG("%s", t.err);
	kmbuf_region_unmap(&self->reg);
	tkr_exit(&self->rx);
	usleep(100000);
	/* no ARM left: every period is an overrun now */
	o1 = fdinfo_get(self->fd, "kmbuf_tick_overruns");
	usleep(50000);
	EXPECT_LT(o1, fdinfo_get(self->fd, "kmbuf_tick_overruns"));
	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
	tick_rx_free(&t);
}

/* The file is closed first: the armed commands keep it until ring exit. */
TEST_F(tick, close_then_ring_exit)
{
	struct tick_rx t;

	ASSERT_EQ(0, running(&self->rx, self->fd, &t, 8, MS,
			     base(&self->reg, 0))) TH_LOG("%s", t.err);
	ASSERT_EQ(0, tick_rx_flush(&t));
	t.batch = 1000;		/* no RETURN on a closed fd */
	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
	/* still delivering: the armed commands hold the file */
	ASSERT_EQ(0, tick_rx_run(&t, t.records + 12, 0)) TH_LOG("%s", t.err);
	kmbuf_region_unmap(&self->reg);
	tkr_exit(&self->rx);
	tick_rx_free(&t);
}

/* Declared last, so that it runs after the others: unload checks them all. */
FIXTURE(unload) {
	int unused;
};

FIXTURE_SETUP(unload)
{
}

FIXTURE_TEARDOWN(unload)
{
}

/* A process dies with channels running and buffers held; then unload. */
TEST_F_TIMEOUT(unload, process_exit_then_unload, 60)
{
	int i, status, killed;
	pid_t pid;

	for (killed = 0; killed < 2; killed++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			struct kmbuf_region reg;
			struct tick_rx t;
			struct tkr rx;
			int fd = tick_open();

			if (fd < 0 || tkr_init(&rx, 64, 1024, 0) ||
			    kmbuf_region_create(rx.ring.ring_fd, REGION_ID,
						REGION_SIZE, 0, 0, &reg) ||
			    running(&rx, fd, &t, 16, MS, reg.addr))
				_exit(1);
			t.batch = 1000;	/* hold buffers from here on */
			tick_rx_run(&t, t.records + 8, 0);
			if (killed)
				raise(SIGKILL);
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (killed) {
			ASSERT_TRUE(WIFSIGNALED(status));
		} else {
			ASSERT_TRUE(WIFEXITED(status));
			ASSERT_EQ(0, WEXITSTATUS(status));
		}
	}
	/* io_uring tears the instances down asynchronously */
	for (i = 0; i < 100 && system("rmmod kmbuf_tick 2>/dev/null"); i++)
		usleep(100000);
	ASSERT_LT(i, 100) TH_LOG("rmmod kmbuf_tick kept failing");
	ASSERT_NE(0, access(TICK_DEV, F_OK));
	ASSERT_EQ(0, system("modprobe kmbuf_tick"));
	ASSERT_EQ(0, access(TICK_DEV, F_OK));
}

TEST_HARNESS_MAIN
