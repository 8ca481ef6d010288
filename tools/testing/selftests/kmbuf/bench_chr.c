// SPDX-License-Identifier: GPL-2.0
/*
 * bench_chr: read the kmbuf_chr generator stream at 512 B, 4 KiB and
 * 64 KiB per record through
 *   (a) read(2) into a user buffer,
 *   (b) io_uring READ with IOSQE_BUFFER_SELECT from a user pbuf ring,
 *   (c) a kmbuf multishot ARM with batched RETURNs,
 *   (d) the same with the buffers given back through a refill ring
 *       (libkmbuf's reaper; no RETURN command, no system call to return),
 * touching each record the same way (its sequence number is checked), and
 * compare with an in-kernel memcpy() of the same bytes (KMBUF_CHR_MEMCPY).
 *
 * The paths run in interleaved rounds, one after the other, and each is
 * reported by its median round: a burst of load on a shared host slows
 * one round of every path rather than all of one path.
 *
 * Usage: bench_chr [-t seconds] [-r rounds] [-s size] [-p paths]
 * [-b buffers]; -h explains.  Exit status 1 if a record is wrong or a path
 * fails, else 0: the targets (kmbuf >= 2x read(2), >= 1.3x pbuf; the
 * refill ring >= 3x read(2) at 512 B; kmbuf within 15% of the memcpy
 * ceiling from 4 KiB up) are reported, not enforced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "chr_util.h"
#include "bench_csv.h"

/* buffers of the pbuf ring: twice the READs in flight */
#define NR_BUFS		64
/*
 * Buffers of the kmbuf rings of the main table (-b): as many as the kmbuf
 * core posts in one task work run (its budget), so that a run ends with
 * the budget, not with an empty ring, and the refill path needs no
 * doorbell; but no more than 4 MiB of them, and at least 64.  At 64 KiB
 * per record a run of 64 is long enough.  The ring size table shows 64
 * buffers of 512 B too.
 */
#define KMBUF_BUFS	256
#define KMBUF_RING_BYTES (4U << 20)
#define QD		32
#define REGION_ID	1
#define BGID		5
#define UD_RECV		1
#define UD_RET		2
/* both io_uring paths: the setup for a single-threaded consumer */
#define SETUP_FLAGS	(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN)

/* CQ entries for a kmbuf ring of @nr buffers: room for all, at least 256 */
static unsigned int cq_entries(__u32 nr)
{
	return nr > 128 && nr <= 4096 ? 2 * nr : 256;
}

static double secs = 4.0;
static unsigned long bad;
/* buffers of the kmbuf rings of the main table */
static __u32 ring_bufs;		/* 0: kmbuf_bufs() */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The one way every path touches a record: its sequence number. */
static inline void touch(const void *buf, int len, __u32 size, __u64 *seq)
{
	if (len != (int)size || *(const __u64 *)buf != *seq)
		bad++;
	*seq = *(const __u64 *)buf + 1;
}

static int gen_fd(__u32 size)
{
	int fd = chr_open(O_RDWR);

	if (fd < 0 || chr_set_mode(fd, KMBUF_CHR_MODE_GEN, size, 0)) {
		perror("kmbuf_chr generator");
		exit(1);
	}
	return fd;
}

/* Operations per second since @t0. */
static double rate(unsigned long ops, double t0)
{
	return ops / (now() - t0);
}

static double bench_read(__u32 size)
{
	void *buf = malloc(size);
	int fd = gen_fd(size);
	unsigned long ops = 0;
	__u64 seq = 0;
	double t0 = now(), end = t0 + secs;

	do {
		for (int i = 0; i < 64; i++, ops++)
			touch(buf, read(fd, buf, size), size, &seq);
	} while (now() < end);
	close(fd);
	free(buf);
	return rate(ops, t0);
}

static double bench_pbuf(__u32 size)
{
	struct io_uring_params p = { .flags = SETUP_FLAGS };
	struct io_uring_buf_reg reg = { };
	struct io_uring_buf_ring *br;
	struct io_uring ring;
	unsigned long ops = 0;
	int fd = gen_fd(size);
	char *bufs;
	__u64 seq = 0;
	double t0, end;
	int i;

	if (io_uring_queue_init_params(QD * 2, &ring, &p) ||
	    posix_memalign((void **)&br, 4096, NR_BUFS * sizeof(*br->bufs)) ||
	    posix_memalign((void **)&bufs, 4096, (size_t)NR_BUFS * size)) {
		fprintf(stderr, "pbuf setup failed\n");
		exit(1);
	}
	io_uring_buf_ring_init(br);
	reg.ring_addr = (unsigned long)br;
	reg.ring_entries = NR_BUFS;
	reg.bgid = BGID;
	if (io_uring_register_buf_ring(&ring, &reg, 0)) {
		fprintf(stderr, "pbuf ring registration failed\n");
		exit(1);
	}
	for (i = 0; i < NR_BUFS; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * size, size, i,
				      io_uring_buf_ring_mask(NR_BUFS), i);
	io_uring_buf_ring_advance(br, NR_BUFS);

	t0 = now();
	end = t0 + secs;
	do {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		for (i = 0; i < QD; i++) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			io_uring_prep_read(sqe, fd, NULL, size, -1);
			sqe->flags |= IOSQE_BUFFER_SELECT;
			sqe->buf_group = BGID;
		}
		io_uring_submit_and_wait(&ring, QD);
		io_uring_for_each_cqe(&ring, head, cqe) {
			unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
			char *b = bufs + (size_t)bid * size;

			if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) {
				fprintf(stderr, "pbuf READ: %d\n", cqe->res);
				exit(1);
			}
			touch(b, cqe->res, size, &seq);
			io_uring_buf_ring_add(br, b, size, bid,
					      io_uring_buf_ring_mask(NR_BUFS),
					      seen);
			seen++;
		}
		io_uring_buf_ring_advance(br, seen);
		io_uring_cq_advance(&ring, seen);
		ops += seen;
	} while (now() < end);
	io_uring_queue_exit(&ring);
	close(fd);
	free(bufs);
	free(br);
	return rate(ops, t0);
}

static double bench_kmbuf(__u32 size, __u32 nr_bufs)
{
	__u32 *bids[2];
	unsigned int batch = 0, nb;
	struct kmbuf_region reg;
	unsigned long ops = 0;
	int fd = gen_fd(size);
	struct rx rx;
	__u64 seq = 0;
	double t0, end;

	bids[0] = calloc(nr_bufs, sizeof(__u32));
	bids[1] = calloc(nr_bufs, sizeof(__u32));
	if (!bids[0] || !bids[1] ||
	    rx_init(&rx, 64, cq_entries(nr_bufs), SETUP_FLAGS) ||
	    kmbuf_region_create(rx.ring.ring_fd, REGION_ID,
				(size_t)nr_bufs * size, IORING_MEM_REGION_RDONLY,
				0, &reg) ||
	    rx_bind(&rx, fd, REGION_ID, 0, size, nr_bufs)) {
		fprintf(stderr, "kmbuf setup failed\n");
		exit(1);
	}
	rx_queue_cmd(&rx, fd, KMBUF_CMD_ARM, IORING_URING_CMD_MULTISHOT,
		     0, 0, 0, UD_RECV);

	t0 = now();
	end = t0 + secs;
	do {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		/* sends the queued RETURN (or ARM) and waits for records */
		io_uring_submit_and_wait(&rx.ring, 1);
		nb = 0;
		io_uring_for_each_cqe(&rx.ring, head, cqe) {
			unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

			seen++;
			if (cqe->user_data == UD_RET) {
				if (cqe->res < 0)
					bad++;
				continue;
			}
			/* the end without a record: -EOVERFLOW, CQ ring full */
			if (!(cqe->flags & IORING_CQE_F_MORE)) {
				if (cqe->res != -EOVERFLOW) {
					fprintf(stderr, "ARM: %d\n", cqe->res);
					exit(1);
				}
				rx_queue_cmd(&rx, fd, KMBUF_CMD_ARM,
					     IORING_URING_CMD_MULTISHOT, 0, 0,
					     0, UD_RECV);
				continue;
			}
			touch((char *)reg.addr + (size_t)bid * size, cqe->res,
			      size, &seq);
			bids[batch][nb++] = bid;
		}
		io_uring_cq_advance(&rx.ring, seen);
		if (nb) {
			rx_queue_cmd(&rx, fd, KMBUF_CMD_RETURN, 0,
				     (uintptr_t)bids[batch], nb, 0, UD_RET);
			batch ^= 1;
			ops += nb;
		}
	} while (now() < end);
	io_uring_submit(&rx.ring);
	kmbuf_region_unmap(&reg);
	rx_exit(&rx);		/* cancels the ARM */
	close(fd);
	free(bids[0]);
	free(bids[1]);
	return rate(ops, t0);
}

struct refill_state {
	struct rx	*rx;
	int		fd;
	__u32		size;
	void		*bufs;
	__u64		seq;
	unsigned long	records;
};

/* the end without a record: -EOVERFLOW (CQ ring full), re-arm */
static void refill_rearm(struct refill_state *st, int res)
{
	if (res != -EOVERFLOW) {
		fprintf(stderr, "ARM (refill): %d\n", res);
		exit(1);
	}
	rx_queue_cmd(st->rx, st->fd, KMBUF_CMD_ARM,
		     IORING_URING_CMD_MULTISHOT, 0, 0, 0, UD_RECV);
}

/*
 * kmbuf_reap() callback: touch the record; its buffer goes back at once.
 * Small and static, so that the compiler inlines it into kmbuf_reap()'s
 * loop as it would a user's callback.
 */
static inline int refill_cqe(void *arg, const struct kmbuf_cqe *c)
{
	struct refill_state *st = arg;

	if (!c->more) {
		refill_rearm(st, c->res);
		return 0;
	}
	if (!c->has_buf) {
		bad++;
		return 0;
	}
	touch((char *)st->bufs + (size_t)c->bid * st->size, c->res,
	      st->size, &st->seq);
	st->records++;
	return 0;
}

static double bench_kmbuf_refill(__u32 size, __u32 nr_bufs)
{
	struct kmbuf_bind b = {
		.region_id = REGION_ID, .buf_size = size, .nr_bufs = nr_bufs,
	};
	size_t rsize = (kmbuf_refill_size(nr_bufs) + 4095) & ~4095UL;
	struct refill_state st = { .size = size };
	struct kmbuf_region reg, rreg;
	struct kmbuf_refill *refill;
	struct kmbuf_reaper rp;
	int fd = gen_fd(size);
	struct rx rx;
	double t0, end;

	st.rx = &rx;
	st.fd = fd;
	if (rx_init(&rx, 64, cq_entries(nr_bufs), SETUP_FLAGS) ||
	    kmbuf_region_create(rx.ring.ring_fd, REGION_ID,
				(size_t)nr_bufs * size, IORING_MEM_REGION_RDONLY,
				0, &reg) ||
	    kmbuf_region_create(rx.ring.ring_fd, REGION_ID + 1, rsize, 0, 0,
				&rreg)) {
		fprintf(stderr, "kmbuf refill setup failed\n");
		exit(1);
	}
	refill = kmbuf_refill_init(&b, rreg.addr, rreg.id, 0, nr_bufs);
	if (!refill || rx_bind_desc(&rx, fd, &b) ||
	    kmbuf_reaper_init(&rp, &rx.ring, fd, nr_bufs, refill, nr_bufs,
			      UD_RET)) {
		fprintf(stderr, "kmbuf refill bind failed\n");
		exit(1);
	}
	st.bufs = reg.addr;
	rx_queue_cmd(&rx, fd, KMBUF_CMD_ARM, IORING_URING_CMD_MULTISHOT,
		     0, 0, 0, UD_RECV);

	t0 = now();
	end = t0 + secs;
	do {
		/* sends a queued ARM and waits for records */
		io_uring_submit_and_wait(&rx.ring, 1);
		if (kmbuf_reap(&rp, refill_cqe, &st, 0) < 0 || rp.error) {
			fprintf(stderr, "refill reap: %d\n", rp.error);
			exit(1);
		}
	} while (now() < end);
	kmbuf_reaper_free(&rp);
	kmbuf_region_unmap(&reg);
	kmbuf_region_unmap(&rreg);
	rx_exit(&rx);		/* cancels the ARM */
	close(fd);
	return rate(st.records, t0);
}

static double bench_memcpy(__u32 size)
{
	struct kmbuf_chr_memcpy mc = { .rec_size = size };
	int fd = gen_fd(size);

	/* calibrate on a short run, then copy for about @secs */
	mc.count = 1000;
	if (ioctl(fd, KMBUF_CHR_MEMCPY, &mc)) {
		perror("KMBUF_CHR_MEMCPY");
		exit(1);
	}
	mc.count = secs * 1e9 * 1000 / (mc.ns ? mc.ns : 1);
	if (mc.count < 1000)
		mc.count = 1000;
	if (mc.count > 1 << 24)
		mc.count = 1 << 24;
	if (ioctl(fd, KMBUF_CHR_MEMCPY, &mc)) {
		perror("KMBUF_CHR_MEMCPY");
		exit(1);
	}
	close(fd);
	return mc.count * 1e9 / mc.ns;
}

#define MAX_ROUNDS	32

/* Buffers of the main table's kmbuf rings at @size bytes a record. */
static __u32 kmbuf_bufs(__u32 size)
{
	__u32 n = KMBUF_BUFS;

	if (ring_bufs)
		return ring_bufs;
	while (n > 64 && (size_t)n * size > KMBUF_RING_BYTES)
		n /= 2;
	return n;
}

static double bench_kmbuf_default(__u32 size)
{
	return bench_kmbuf(size, kmbuf_bufs(size));
}

static double bench_kmbuf_refill_default(__u32 size)
{
	return bench_kmbuf_refill(size, kmbuf_bufs(size));
}

enum { READ, PBUF, KMBUF, REFILL, MEMCPY, NR_PATHS };

/* The paths compared, each with its rounds at the current record size. */
static struct path {
	char key;
	const char *name;
	double (*run)(__u32 size);
	double ops[MAX_ROUNDS];
	double median, spread;
} paths[NR_PATHS] = {
	[READ]	 = { 'a', "(a) read(2)", bench_read },
	[PBUF]	 = { 'b', "(b) io_uring READ pbuf", bench_pbuf },
	[KMBUF]	 = { 'c', "(c) kmbuf multishot", bench_kmbuf_default },
	[REFILL] = { 'd', "(d) kmbuf refill ring", bench_kmbuf_refill_default },
	[MEMCPY] = { 'm', "in-kernel memcpy", bench_memcpy },
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of @p's @n rounds, and their spread (max - min) / median in %. */
static void summarize(struct path *p, int n)
{
	double v[MAX_ROUNDS];

	memcpy(v, p->ops, n * sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_double);
	p->median = n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	p->spread = p->median ? (v[n - 1] - v[0]) * 100 / p->median : 0;
}

/*
 * One row of @table: @label (a size or a count), @p at @size, vs @base;
 * printed and as CSV.
 */
static void row(const char *table, __u32 label, __u32 size,
		const struct path *p, double base)
{
	printf("%8u  %-22s %12.0f %10.1f %8.2fx %7.0f%%\n", label, p->name,
	       p->median, p->median * size / 1e6,
	       base ? p->median / base : 0, p->spread);
	bench_csv(table, "%u,%s,%.0f,%.1f,%.3f,%.0f", label, p->name,
		  p->median, p->median * size / 1e6,
		  base ? p->median / base : 0, p->spread);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [-t seconds] [-r rounds] [-s record size] [-p paths] [-b buffers]\n"
		"  -t  seconds per path and record size, default 4\n"
		"  -r  interleaved rounds they are split into, default 9\n"
		"  -s  only this record size (16 .. %u, a multiple of 8)\n"
		"  -p  only these paths, any of \"abcdm\" (m: in-kernel memcpy)\n"
		"  -b  buffers of the kmbuf rings (c, d), a power of 2 up to 4096;\n"
		"      default %u, fewer if they would take more than %u MiB, at least 64\n",
		prog, KMBUF_CHR_MAX_RECORD, KMBUF_BUFS, KMBUF_RING_BYTES >> 20);
	exit(2);
}

int main(int argc, char **argv)
{
	static const __u32 def_sizes[] = { 512, 4096, 65536 };
	const char *only = "abcdm";
	__u32 sizes[3], one_size = 0;
	int rounds = 9, nr_sizes, fails = 0, opt, i, r;

	while ((opt = getopt(argc, argv, "t:r:s:p:b:")) != -1) {
		switch (opt) {
		case 't':
			secs = atof(optarg);
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		case 's':
			one_size = strtoul(optarg, NULL, 0);
			break;
		case 'p':
			only = optarg;
			break;
		case 'b':
			ring_bufs = strtoul(optarg, NULL, 0);
			break;
		default:
			usage(argv[0]);
		}
	}
	/* a bare number is the seconds per case, as before */
	if (optind < argc)
		secs = atof(argv[optind]);
	if (secs <= 0 || rounds < 1 || rounds > MAX_ROUNDS ||
	    ring_bufs > 4096 || (ring_bufs & (ring_bufs - 1)) ||
	    (one_size && (one_size < 16 || one_size % 8 ||
			  one_size > KMBUF_CHR_MAX_RECORD)))
		usage(argv[0]);
	nr_sizes = one_size ? 1 : 3;
	for (i = 0; i < nr_sizes; i++)
		sizes[i] = one_size ? one_size : def_sizes[i];
	secs /= rounds;

	chr_drain_queue();
	printf("kmbuf_chr generator stream: %d interleaved rounds of %.2f s per path\n",
	       rounds, secs);
	printf("median ops/s; spread = (max - min) / median; %s\n",
	       "every record's sequence number checked");
	printf("kmbuf rings (c, d):");
	for (i = 0; i < nr_sizes; i++)
		printf(" %u buffers of %u B%s", kmbuf_bufs(sizes[i]), sizes[i],
		       i + 1 < nr_sizes ? "," : "\n");
	printf("%8s  %-22s %12s %10s %9s %8s\n", "record", "path", "ops/s",
	       "MB/s", "vs read", "spread");
	bench_csv("chr", "case,path,ops_s,mb_s,ratio,spread_pct");
	for (i = 0; i < nr_sizes; i++) {
		double ma, mb, mc, md, mm;
		struct path *p;

		/* one round runs every path once: noise hits them alike */
		for (r = 0; r < rounds; r++)
			for (p = paths; p < paths + NR_PATHS; p++)
				p->ops[r] = strchr(only, p->key) ?
					    p->run(sizes[i]) : 0;
		for (p = paths; p < paths + NR_PATHS; p++) {
			summarize(p, rounds);
			if (strchr(only, p->key))
				row("chr", sizes[i], sizes[i], p,
				    paths[READ].median);
		}
		ma = paths[READ].median;
		mb = paths[PBUF].median;
		mc = paths[KMBUF].median;
		mm = paths[MEMCPY].median;
		md = paths[REFILL].median;
		if (sizes[i] <= 4096 && ma && mb && mc) {
			printf("%8s  target kmbuf >= 2x read(2): %s (%.2fx), ",
			       "", mc >= 2 * ma ? "met" : "NOT met", mc / ma);
			printf(">= 1.3x pbuf: %s (%.2fx)\n",
			       mc >= 1.3 * mb ? "met" : "NOT met", mc / mb);
		}
		if (ma && mc && md)
			printf("%8s  refill ring: %.2fx read(2), %.2fx RETURN commands\n",
			       "", md / ma, md / mc);
		if (sizes[i] == 512 && ma && md)
			printf("%8s  target refill ring >= 3x read(2): %s (%.2fx)\n",
			       "", md >= 3 * ma ? "met" : "NOT met", md / ma);
		if (sizes[i] >= 4096 && mm && mc && md)
			printf("%8s  target kmbuf >= 0.85 memcpy: (c) %s (%.2f), (d) %s (%.2f)\n",
			       "", mc >= 0.85 * mm ? "met" : "NOT met", mc / mm,
			       md >= 0.85 * mm ? "met" : "NOT met", md / mm);
		/*
		 * Both read(2) and kmbuf write every byte of a record once;
		 * kmbuf saves the rest.  How much of its time is that copy?
		 */
		if (ma && mc && mm) {
			printf("%8s  per record: read(2) %.2f us, kmbuf %.2f us, ",
			       "", 1e6 / ma, 1e6 / mc);
			printf("of which copying %.2f us (%.0f%%)\n",
			       1e6 / mm, 100 * mc / mm);
		}
	}

	/*
	 * Taking and returning a buffer is O(1): the same records through a
	 * ring of 64 and of 65536 buffers should run at about the same rate.
	 * What a ring smaller than the budget costs shows at 64: every 64
	 * records the ring runs dry, and the next ones wait for a system call
	 * (with the refill ring, a doorbell).
	 */
	if (!one_size && strchr(only, 'c') && strchr(only, 'd')) {
		static const __u32 ring_sizes[] = { 64, KMBUF_BUFS, 65536 };
		/* (c) and (d), as paths[KMBUF] and paths[REFILL] */
		static double (*const run[2])(__u32 size, __u32 nr_bufs) = {
			bench_kmbuf, bench_kmbuf_refill,
		};
		struct path rs[2][3] = { };
		int k, j;

		for (r = 0; r < rounds; r++)
			for (k = 0; k < 2; k++)
				for (j = 0; j < 3; j++)
					rs[k][j].ops[r] = run[k](512, ring_sizes[j]);
		printf("\nkmbuf ring size, 512 B records\n");
		printf("%8s  %-22s %12s %10s %9s %8s\n", "buffers", "path",
		       "ops/s", "MB/s", "vs 64", "spread");
		bench_csv("chr_ring", "case,path,ops_s,mb_s,ratio,spread_pct");
		for (k = 0; k < 2; k++)
			for (j = 0; j < 3; j++) {
				rs[k][j].name = paths[KMBUF + k].name;
				summarize(&rs[k][j], rounds);
				row("chr_ring", ring_sizes[j], 512, &rs[k][j],
				    rs[k][0].median);
			}
	}
	if (bad) {
		printf("%lu records had the wrong sequence number or size\n",
		       bad);
		fails = 1;
	}
	return fails;
}
