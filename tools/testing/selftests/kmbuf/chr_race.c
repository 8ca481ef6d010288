// SPDX-License-Identifier: GPL-2.0
/*
 * STRESS: a KMBUF_CMD_ARM issued from io-wq (IOSQE_ASYNC) racing with
 * KMBUF_CMD_UNBIND, then the ring's exit.
 *
 * The ARM used to be published to the file before it was marked
 * cancelable.  An UNBIND in between queued the task work that completes
 * it; if that ran first (the submitter takes uring_lock for it while the
 * io-wq worker waits for uring_lock to link the request), a completed
 * request ended up on the ring's cancelable list: list corruption, and a
 * use-after-free when the ring exits (KASAN: io_uring_cmd_done_cflags from
 * io_handle_tw_list, or io_uring_try_cancel_uring_cmd at exit).
 *
 * Each round binds the file, submits ARM(IOSQE_ASYNC) with UNBIND and a
 * batch of NOPs that keep uring_lock busy in varying order, and checks
 * that each command completes exactly once with an allowed result; every
 * few rounds the ring exits.  Variants: a plain ring, DEFER_TASKRUN, and
 * the UNBIND from a second thread.  A kernel that gets it wrong usually
 * splats in the guest log (which fails the run) or times out here.
 *
 * Rounds per variant: -n N (or CHR_RACE_ROUNDS=N); default 600.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>

#include "chr_util.h"
#include "../kselftest_harness.h"

#define REGION_ID	1
#define UD_RECV		0x100
#define UD_UNBIND	0x200
#define UD_NOP		0x300
#define ROUNDS_PER_RING	8
#define MAX_NOPS	24

static unsigned int rounds = 600;

struct race {
	struct rx		rx;
	struct kmbuf_region	reg;
	int			fd;
	/* second-thread variant */
	pthread_mutex_t		sq_lock;
	pthread_barrier_t	go;
	int			stop;
	pthread_t		thr;
};

static int race_ring_init(struct race *r, unsigned int setup_flags)
{
	int ret = rx_init(&r->rx, 64, 256, setup_flags);

	if (ret)
		return ret;
	ret = kmbuf_region_create(r->rx.ring.ring_fd, REGION_ID, 65536, 0, 0,
				  &r->reg);
	if (ret)
		rx_exit(&r->rx);
	return ret;
}

static void race_ring_exit(struct race *r)
{
	kmbuf_region_unmap(&r->reg);
	rx_exit(&r->rx);
}

static void queue_nops(struct rx *rx, unsigned int n)
{
	while (n--) {
		struct io_uring_sqe *sqe = rx_sqe(rx);

		io_uring_prep_nop(sqe);
		sqe->user_data = UD_NOP;
	}
}

static void queue_arm_async(struct rx *rx, int fd)
{
	struct io_uring_sqe *sqe = rx_sqe(rx);

	kmbuf_prep_arm(sqe, fd, 0);
	sqe->flags |= IOSQE_ASYNC;
	sqe->user_data = UD_RECV;
}

static void queue_unbind(struct rx *rx, int fd)
{
	struct io_uring_sqe *sqe = rx_sqe(rx);

	kmbuf_prep_unbind(sqe, fd);
	sqe->user_data = UD_UNBIND;
}

/*
 * Reap the CQEs of one round: @nops NOPs, one UNBIND (0) and the ARM's
 * single final CQE: -ENXIO if the UNBIND got there first, else -ECANCELED.
 * The queue is empty, so the ARM never delivers.  NULL or what was wrong.
 */
static const char *reap_round(struct rx *rx, unsigned int nops)
{
	unsigned int got_nops = 0, got_recv = 0, got_unbind = 0;
	struct rx_cqe c;

	while (got_nops < nops || !got_recv || !got_unbind) {
		if (rx_next(rx, &c))
			return "timed out waiting for a CQE";
		switch (c.ud) {
		case UD_NOP:
			got_nops++;
			break;
		case UD_UNBIND:
			if (c.res)
				return "UNBIND failed";
			got_unbind++;
			break;
		case UD_RECV:
			if (c.flags)
				return "ARM CQE with flags";
			if (c.res != -ECANCELED && c.res != -ENXIO)
				return "ARM ended with an unexpected result";
			got_recv++;
			break;
		default:
			return "unexpected CQE";
		}
	}
	if (got_recv != 1 || got_unbind != 1)
		return "a command completed twice";
	return NULL;
}

FIXTURE(race) {
	struct race r;
};

FIXTURE_VARIANT(race) {
	unsigned int setup_flags;
	bool unbind_thread;
};

FIXTURE_VARIANT_ADD(race, plain) {
	.setup_flags = 0,
};

FIXTURE_VARIANT_ADD(race, defer_taskrun) {
	.setup_flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
};

FIXTURE_VARIANT_ADD(race, unbind_thread) {
	.setup_flags = 0,
	.unbind_thread = true,
};

FIXTURE_SETUP(race)
{
	struct kmbuf_region probe;
	struct rx rx;
	int ret;

	memset(&self->r, 0, sizeof(self->r));
	self->r.fd = chr_open(O_RDWR);
	if (self->r.fd < 0)
		SKIP(return, CHR_DEV " not available (CONFIG_KMBUF_CHR)");
	chr_drain_queue();
	ASSERT_EQ(0, rx_init(&rx, 4, 8, 0));
	ret = kmbuf_region_create(rx.ring.ring_fd, REGION_ID, 4096, 0, 0,
				  &probe);
	if (ret == -EINVAL || ret == -EOPNOTSUPP)
		SKIP(return, "no kmbuf memory regions");
	ASSERT_EQ(0, ret);
	kmbuf_region_unmap(&probe);
	rx_exit(&rx);
	pthread_mutex_init(&self->r.sq_lock, NULL);
	pthread_barrier_init(&self->r.go, NULL, 2);
}

FIXTURE_TEARDOWN(race)
{
	if (self->r.fd >= 0)
		close(self->r.fd);
}

/* One round in one submission: ARM(async), UNBIND, NOPs, in some order. */
static const char *round_one_thread(struct race *r, unsigned int i)
{
	unsigned int nops = i % MAX_NOPS;
	bool unbind_first = i & 1;

	queue_arm_async(&r->rx, r->fd);
	if (unbind_first)
		queue_unbind(&r->rx, r->fd);
	queue_nops(&r->rx, nops);
	if (!unbind_first)
		queue_unbind(&r->rx, r->fd);
	if (io_uring_submit(&r->rx.ring) < 0)
		return "submit failed";
	return reap_round(&r->rx, nops);
}

/* The second thread: UNBIND on the same ring when told to. */
static void *unbinder(void *arg)
{
	struct race *r = arg;

	for (;;) {
		pthread_barrier_wait(&r->go);
		if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
			return NULL;
		pthread_mutex_lock(&r->sq_lock);
		queue_unbind(&r->rx, r->fd);
		io_uring_submit(&r->rx.ring);
		pthread_mutex_unlock(&r->sq_lock);
	}
}

/* One round with the UNBIND from the other thread. */
static const char *round_two_threads(struct race *r, unsigned int i)
{
	unsigned int nops = i % MAX_NOPS;

	pthread_barrier_wait(&r->go);
	pthread_mutex_lock(&r->sq_lock);
	queue_arm_async(&r->rx, r->fd);
	queue_nops(&r->rx, nops);
	if (io_uring_submit(&r->rx.ring) < 0) {
		pthread_mutex_unlock(&r->sq_lock);
		return "submit failed";
	}
	pthread_mutex_unlock(&r->sq_lock);
	return reap_round(&r->rx, nops);
}

TEST_F_TIMEOUT(race, async_recv_vs_unbind, 600)
{
	struct race *r = &self->r;
	const char *err = NULL;
	bool live = false;
	unsigned int i;

	if (variant->unbind_thread)
		ASSERT_EQ(0, pthread_create(&r->thr, NULL, unbinder, r));
	for (i = 0; i < rounds && !err; i++) {
		if (!live) {
			if (race_ring_init(r, variant->setup_flags)) {
				err = "ring setup failed";
				break;
			}
			live = true;
		}
		pthread_mutex_lock(&r->sq_lock);
		if (rx_bind(&r->rx, r->fd, REGION_ID, 0, 4096, 4))
			err = "BIND failed";
		pthread_mutex_unlock(&r->sq_lock);
		if (!err && variant->unbind_thread)
			err = round_two_threads(r, i);
		else if (!err)
			err = round_one_thread(r, i);
		if (!err && fdinfo_val(r->fd, FDI_ARMED) != 0)
			err = "ARM still pending after its final CQE";
		if (!err && fdinfo_val(r->fd, "kmbuf_bufs") != -1)
			err = "still bound after UNBIND";
		/* the ring's exit walks its cancelable list */
		if (i % ROUNDS_PER_RING == ROUNDS_PER_RING - 1) {
			race_ring_exit(r);
			live = false;
		}
	}
	if (variant->unbind_thread) {
		__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
		pthread_barrier_wait(&r->go);
		pthread_join(r->thr, NULL);
	}
	if (live)
		race_ring_exit(r);
	ASSERT_EQ(NULL, err) TH_LOG("round %u: %s", i - 1, err);
	TH_LOG("%u rounds", i);
}

int main(int argc, char **argv)
{
	const char *env = getenv("CHR_RACE_ROUNDS");
	int i, j;

	if (env)
		rounds = strtoul(env, NULL, 0);
	/* take -n N out of the arguments; the harness parses the rest */
	for (i = 1, j = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			rounds = strtoul(argv[++i], NULL, 0);
			continue;
		}
		argv[j++] = argv[i];
	}
	argv[j] = NULL;
	return test_harness_run(j, argv);
}
