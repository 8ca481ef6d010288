// SPDX-License-Identifier: GPL-2.0
/*
 * bench_tick: one pool, many streams.  1024 kmbuf_tick streams, of which
 * a few (4) are active, write 64 KiB records from hard-irq timers, all at
 * the same period.  Two ways to receive them:
 *
 *   per-stream  1024 files of 1 channel, each with a ring of its own
 *               (-k buffers of 64 KiB, default 1): the memory any
 *               per-stream buffer model needs (read(2) on each stream, or
 *               a provided-buffer ring per stream): every stream must have
 *               a buffer posted, active or not;
 *   shared      1 file of 1024 channels sharing one ring sized for the
 *               active streams (-b buffers, default 2 per active stream).
 *
 * Both are set up side by side (two io_uring instances) and take turns,
 * in interleaved rounds of -t seconds, each reported by its median
 * round: records/s delivered, MB/s, overruns (periods the device found no
 * free buffer for) and the bytes of buffer memory each holds (and the
 * MemFree its setup took: buffers, ports, rings, files).  Each record's
 * head, length and tail word are checked; a bad one makes the exit
 * status 1.
 *
 * Usage: bench_tick [-t secs] [-r rounds] [-n streams] [-a active]
 *                   [-s rec_size] [-p period_us] [-k per-stream bufs]
 *                   [-b shared bufs]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "tick_util.h"
#include "bench_csv.h"

#define UD_RET		(1ULL << 62)
#define SLOTS		65536

static double secs = 2.0;
static unsigned int rounds = 3, nstreams = 1024, active = 4;
static unsigned int rec_size = 65536, period_us = 2000, per_k = 1, shared_b;
static unsigned long bad;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One way to receive: files, their ring(s), and what arrived. */
struct model {
	const char	*name;
	struct tkr	rx;
	struct kmbuf_region reg;
	int		*fds;		/* per file */
	unsigned int	nfiles, chans;	/* chans per file */
	__u32		nr_bufs;	/* per ring */
	__u64		held;		/* bytes of buffer memory bound */
	__s64		*last;		/* per stream: last seq */
	__u32		slot[SLOTS];	/* bids of RETURNs in flight */
	unsigned int	nslot;
	double		rate[16], ovr[16];
	double		setup_s;
	long long	mem;		/* MemFree lost by the setup, bytes */
};

/* MemFree of /proc/meminfo, in bytes. */
static long long mem_free(void)
{
	char line[128];
	long long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemFree: %lld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

/* The active streams: spread over the whole range. */
static unsigned int active_stream(unsigned int i)
{
	return i * (nstreams / active);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_tick: %s: %s\n", what, strerror(-err));
	exit(1);
}

static void setup(struct model *m, unsigned int nfiles, __u32 nr_bufs)
{
	size_t size = (size_t)nfiles * nr_bufs * rec_size;
	long long free0 = mem_free();
	double t0 = now();
	unsigned int f;
	int ret;

	m->nfiles = nfiles;
	m->chans = nstreams / nfiles;
	m->nr_bufs = nr_bufs;
	m->held = size;
	m->fds = calloc(nfiles, sizeof(*m->fds));
	m->last = calloc(nstreams, sizeof(*m->last));
	ret = tkr_init(&m->rx, 1024, 8192, IORING_SETUP_SINGLE_ISSUER |
		      IORING_SETUP_DEFER_TASKRUN);
	if (ret)
		die("io_uring", ret);
	ret = kmbuf_region_create(m->rx.ring.ring_fd, 1, size, 0, 0, &m->reg);
	if (ret)
		die("region", ret);
	for (f = 0; f < nfiles; f++) {
		m->fds[f] = tick_open();
		if (m->fds[f] < 0)
			die("open " TICK_DEV, -errno);
		ret = tick_config(m->fds[f], m->chans, rec_size,
				  period_us * 1000ULL);
		if (!ret)
			ret = tk_bind(&m->rx, m->fds[f], 1,
				      (__u64)f * nr_bufs * rec_size, rec_size,
				      nr_bufs);
		if (ret)
			die("config/bind", ret);
	}
	/* arm every stream, active or not, user_data = stream */
	for (f = 0; f < nstreams; f++) {
		ret = tk_queue(&m->rx, m->fds[f / m->chans], KMBUF_CMD_ARM,
			       IORING_URING_CMD_MULTISHOT, 0, 0, f % m->chans,
			       UD_ARM(f));
		if (ret)
			die("arm", ret);
	}
	io_uring_submit(&m->rx.ring);
	for (f = 0; f < nstreams; f++)
		m->last[f] = -1;
	m->setup_s = now() - t0;
	m->mem = free0 - mem_free();
}

static void run_streams(struct model *m, unsigned long op)
{
	unsigned int i, s;

	for (i = 0; i < active; i++) {
		s = active_stream(i);
		if (tick_range(m->fds[s / m->chans], op, s % m->chans, 1))
			die("start/stop", -errno);
	}
}

/* Overruns counted by the files of the active streams. */
static long long overruns(struct model *m)
{
	long long sum = 0;
	unsigned int i;

	if (m->nfiles == 1)
		return fdinfo_get(m->fds[0], "kmbuf_tick_overruns");
	for (i = 0; i < active; i++)
		sum += fdinfo_get(m->fds[active_stream(i) / m->chans],
				  "kmbuf_tick_overruns");
	return sum;
}

/* One record CQE: check it and queue the RETURN of its buffer. */
static void record(struct model *m, const struct io_uring_cqe *cqe)
{
	unsigned int s = cqe->user_data - UD_ARM(0), f = s / m->chans;
	unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	const __u64 *w = (const void *)((char *)m->reg.addr +
		((size_t)f * m->nr_bufs + bid) * rec_size);
	struct io_uring_sqe *sqe;
	__u32 *slot;

	if (cqe->res != (int)rec_size || !(cqe->flags & IORING_CQE_F_BUFFER) ||
	    bid >= m->nr_bufs || (__s64)w[0] <= m->last[s] ||
	    w[2] != ((__u64)rec_size << 32 | s % m->chans) ||
	    w[rec_size / 8 - 1] != ~w[0])
		bad++;
	m->last[s] = w[0];
	slot = &m->slot[m->nslot++ % SLOTS];
	*slot = bid;
	sqe = tkr_sqe(&m->rx);
	kmbuf_prep_uring_cmd(sqe, m->fds[f], KMBUF_CMD_RETURN, 0,
			     &(struct kmbuf_cmd){ .addr = (uintptr_t)slot,
						  .nr = 1 }, 16);
	sqe->user_data = UD_RET;
}

/* Receive for @t seconds; records/s delivered. */
static double receive(struct model *m, double t)
{
	double t0 = now(), end = t0 + t;
	struct __kernel_timespec ts = { .tv_nsec = 10000000 };
	unsigned long recs = 0;

	while (now() < end) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		io_uring_submit_and_wait_timeout(&m->rx.ring, &cqe, 1, &ts,
						 NULL);
		io_uring_for_each_cqe(&m->rx.ring, head, cqe) {
			seen++;
			if (cqe->user_data == UD_RET) {
				if (cqe->res != 1)
					bad++;
			} else if (cqe->flags & IORING_CQE_F_MORE) {
				record(m, cqe);
				recs++;
			} else {
				fprintf(stderr, "ARM ended: %d\n", cqe->res);
				exit(1);
			}
		}
		io_uring_cq_advance(&m->rx.ring, seen);
	}
	return recs / (now() - t0);
}

static void round_of(struct model *m, unsigned int r)
{
	long long o0 = overruns(m);
	double rate;

	run_streams(m, KMBUF_TICK_START);
	rate = receive(m, secs);
	run_streams(m, KMBUF_TICK_STOP);
	receive(m, 0.05);	/* what was on its way */
	m->rate[r] = rate;
	m->ovr[r] = (overruns(m) - o0) / secs;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, unsigned int n)
{
	double s[16];

	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp);
	return n & 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void help(void)
{
	fprintf(stderr, "usage: bench_tick [-t secs] [-r rounds(1-16)] [-n streams]\n"
		"  [-a active] [-s rec_size] [-p period_us] [-k per-stream bufs]\n"
		"  [-b shared bufs (default 2 per active stream)]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct model ps = { .name = "per-stream rings" };
	static struct model sh = { .name = "one shared ring" };
	struct rlimit rl = { 65536, 65536 };
	double mps, msh;
	unsigned int r;
	int c;

	while ((c = getopt(argc, argv, "t:r:n:a:s:p:k:b:h")) != -1) {
		switch (c) {
		case 't':
			secs = atof(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 'n':
			nstreams = atoi(optarg);
			break;
		case 'a':
			active = atoi(optarg);
			break;
		case 's':
			rec_size = atoi(optarg);
			break;
		case 'p':
			period_us = atoi(optarg);
			break;
		case 'k':
			per_k = atoi(optarg);
			break;
		case 'b':
			shared_b = atoi(optarg);
			break;
		default:
			help();
		}
	}
	if (!rounds || rounds > 16 || !active || active > nstreams ||
	    nstreams > KMBUF_TICK_MAX_CHANNELS || !per_k)
		help();
	if (!shared_b)
		shared_b = 2 * active;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		perror("RLIMIT_NOFILE");

	setup(&ps, nstreams, per_k);
	setup(&sh, 1, shared_b);
	for (r = 0; r < rounds; r++) {
		round_of(&ps, r);
		round_of(&sh, r);
	}

	printf("kmbuf_tick, one pool for many streams: %u streams, %u active, ",
	       nstreams, active);
	printf("%u B records every %u us each\n", rec_size, period_us);
	printf("%d interleaved rounds of %.2f s, medians; ideal %.0f records/s\n",
	       rounds, secs, active * 1e6 / period_us);
	printf("%-18s %6s %6s %10s %8s %10s %12s %12s %7s\n", "model", "files",
	       "bufs", "records/s", "MB/s", "overrun/s", "buffer bytes",
	       "MemFree -B", "setup s");
	mps = median(ps.rate, rounds);
	msh = median(sh.rate, rounds);
	printf("%-18s %6u %6u %10.0f %8.1f %10.1f %12llu %12lld %7.2f\n",
	       ps.name, ps.nfiles, ps.nfiles * ps.nr_bufs, mps,
	       mps * rec_size / 1e6, median(ps.ovr, rounds),
	       (unsigned long long)ps.held, ps.mem, ps.setup_s);
	printf("%-18s %6u %6u %10.0f %8.1f %10.1f %12llu %12lld %7.2f\n",
	       sh.name, sh.nfiles, sh.nr_bufs, msh, msh * rec_size / 1e6,
	       median(sh.ovr, rounds), (unsigned long long)sh.held, sh.mem,
	       sh.setup_s);
	printf("shared / per-stream: throughput %.2fx, buffer memory 1/%.0f\n",
	       mps ? msh / mps : 0, (double)ps.held / sh.held);
	/* two cases, each path's ratio to per-stream rings */
	bench_csv("tick", "case,path,value,ratio");
	bench_csv("tick", "records/s,%s,%.0f,1.000", ps.name, mps);
	bench_csv("tick", "records/s,%s,%.0f,%.3f", sh.name, msh,
		  mps ? msh / mps : 0);
	bench_csv("tick", "buffer bytes,%s,%llu,1.000", ps.name,
		  (unsigned long long)ps.held);
	bench_csv("tick", "buffer bytes,%s,%llu,%.5f", sh.name,
		  (unsigned long long)sh.held, (double)sh.held / ps.held);
	if (bad)
		printf("%lu records or RETURNs were wrong\n", bad);
	return bad ? 1 : 0;
}
