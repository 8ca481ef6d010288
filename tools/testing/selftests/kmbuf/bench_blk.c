// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_blk benchmark: random reads of 4 KiB and 128 KiB at queue depth 1
 * and 32.
 *
 * From the RAM disk /dev/kmbufblk0, three ways:
 *   a) O_DIRECT into user memory (pread at QD1, io_uring IORING_OP_READ at
 *      QD32), then CRC32C of every block checked in userspace against a
 *      table the application keeps (what users do today);
 *   b) O_DIRECT io_uring IORING_OP_READ at both depths, unverified (a loop
 *      like fio's io_uring engine);
 *   c) KMBUF_BLK_READ: verified in the kernel, into read-only buffers,
 *      buffers returned in batches.
 * The disk verifies its checksums in every case (it is what it is); a)
 * verifies once more in userspace, as an application that does not trust
 * the path would.
 *
 * From the guest's NVMe namespace with protection information, which the
 * block layer verifies on every read (skipped without it):
 *   a) fio, io_uring engine, O_DIRECT into user memory, fixedbufs=1 (the
 *      memory pinned once), gtod_reduce=1 (no clock reads per I/O);
 *   b) the same without fixedbufs (pinned per I/O);
 *   a') our own loop (the one c) uses), READ_FIXED into user memory
 *      registered once: the like-for-like baseline, since fio's own
 *      per-I/O work weighs more under TCG than natively;
 *   c) IORING_OP_READ_FIXED, O_DIRECT, into a writable memory region
 *      placed in a registered-buffer slot (IORING_RSRC_UPDATE_MEM_REGION:
 *      nothing pinned at all, the region owns its pages), our loop;
 *   d) KMBUF_BLK_READ on kmbuf_blk stacked on the namespace: DMA into
 *      read-only kmbuf buffers, PI verified before the CQE.
 * Each NVMe case runs its paths in interleaved rounds and reports medians.
 *
 * Prints one table line per case with the ratios, and every row as CSV
 * (bench_csv.h).
 *
 * Usage: bench_blk [seconds per case, default 2]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk_util.h"
#include "bench_csv.h"

#define AREA		(48ULL << 20)
#define BS		4096U
#define NBUF		64U
#define MAXIO		(128U * 1024)
#define RO_ID		1
#define SEED		0xbe9c
#define NVME_NS		"/dev/nvme0n1"
#define STK_DEV		"/dev/kmbufblk-nvme0n1"
#define NVME_AREA	(32ULL << 20)
#define ROUNDS		3
#define RW_ID		2		/* (c)'s region */

static __u32 *csums;	/* the application's checksum table */
static double secs = 2.0;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static __u64 area = AREA;	/* the device bytes read */

static __u64 rand_off(unsigned int len)
{
	return (__u64)BS * (random() % ((area - len) / BS));
}

static int verify(const char *p, __u64 off, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len; i += BS)
		if (blk_block_csum(p + i, BS) != csums[(off + i) / BS])
			return -EBADMSG;
	return 0;
}

/* How run_direct() reads. */
enum direct_mode {
	PREAD,		/* pread() into user memory */
	URING,		/* io_uring IORING_OP_READ into user memory */
	UFIXED,		/* IORING_OP_READ_FIXED into registered user memory */
	SLOT,		/* IORING_OP_READ_FIXED into a region slot (NVMe c) */
};

/* Queue the read of buffer @i: into @mem, or slot 0 at the same offset. */
static void prep_read(struct io_uring *ring, enum direct_mode mode, int fd,
		      char *mem, unsigned int i, unsigned int len, __u64 off)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (mode == SLOT)
		kmbuf_prep_read_fixed(sqe, fd, 0, (__u64)i * len, len, off);
	else if (mode == UFIXED)
		io_uring_prep_read_fixed(sqe, fd, mem + (size_t)i * len, len,
					 off, 0);
	else
		io_uring_prep_read(sqe, fd, mem + (size_t)i * len, len, off);
	sqe->user_data = i;
}

/*
 * O_DIRECT random reads of @len bytes at depth @qd (1 for PREAD), for
 * secs seconds, optionally verified against the checksum table; ops/s.
 * a) and b) read into user memory; NVMe (c) reads with READ_FIXED into
 * slot 0, which holds a writable memory region of @qd buffers
 * (IORING_RSRC_UPDATE_MEM_REGION: nothing pinned).
 */
static double run_direct(int fd, unsigned int len, unsigned int qd,
			 bool check, enum direct_mode mode)
{
	size_t size = ((size_t)qd * len + 4095) & ~4095UL;
	struct kmbuf_region r = { };
	struct io_uring ring;
	char *mem = NULL;
	unsigned long n = 0;
	__u64 offs[32];
	double t0, t;
	unsigned int i;

	if (mode != SLOT && posix_memalign((void **)&mem, BS, size))
		return -1;
	t0 = now();
	if (mode == PREAD) {
		do {
			__u64 off = rand_off(len);

			if (pread(fd, mem, len, off) != len)
				return -1;
			if (check && verify(mem, off, len))
				return -1;
			n++;
		} while ((t = now()) - t0 < secs);
		free(mem);
		return n / (t - t0);
	}
	if (io_uring_queue_init(qd, &ring, 0))
		return -1;
	if (mode == UFIXED) {
		struct iovec iov = { .iov_base = mem, .iov_len = size };

		if (io_uring_register_buffers(&ring, &iov, 1))
			return -1;
		t0 = now();
	}
	if (mode == SLOT) {
		if (kmbuf_region_create(ring.ring_fd, RW_ID, size, 0, 0, &r) ||
		    kmbuf_fixed_table(ring.ring_fd, 1) ||
		    kmbuf_fixed_region(ring.ring_fd, 0, RW_ID, 0, size, 0)) {
			fprintf(stderr, "region slot setup failed\n");
			return -1;
		}
		mem = r.addr;
		t0 = now();
	}
	for (i = 0; i < qd; i++) {
		offs[i] = rand_off(len);
		prep_read(&ring, mode, fd, mem, i, len, offs[i]);
	}
	io_uring_submit(&ring);
	for (;;) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&ring, &cqe) || cqe->res != (int)len)
			return -1;
		i = cqe->user_data;
		io_uring_cqe_seen(&ring, cqe);
		if (check && verify(mem + (size_t)i * len, offs[i], len))
			return -1;
		n++;
		t = now();
		if (t - t0 >= secs)
			break;
		offs[i] = rand_off(len);
		prep_read(&ring, mode, fd, mem, i, len, offs[i]);
		if (!io_uring_cq_ready(&ring))
			io_uring_submit_and_wait(&ring, 1);
	}
	io_uring_queue_exit(&ring);	/* waits for the reads still in flight */
	if (mode == SLOT)
		kmbuf_region_unmap(&r);
	else
		free(mem);
	return n / (t - t0);
}

/* c): kmbuf verified reads */
static double run_kmbuf(int fd, unsigned int len, unsigned int qd)
{
	struct kmbuf_region r;
	struct io_uring ring;
	__u32 bids[NBUF];
	unsigned int nret = 0, inflight = 0, i;
	unsigned long n = 0;
	double t0, t;
	int ret;

	if (io_uring_queue_init(2 * NBUF, &ring, 0))
		return -1;
	ret = kmbuf_region_create(ring.ring_fd, RO_ID, NBUF * MAXIO,
				  IORING_MEM_REGION_RDONLY, 0, &r);
	if (!ret)
		ret = blk_bind(&ring, fd, RO_ID, 0, MAXIO, NBUF);
	if (ret) {
		fprintf(stderr, "kmbuf setup: %s\n", strerror(-ret));
		return -1;
	}
	t0 = now();
	for (;;) {
		__u64 ud;
		__u32 fl;
		int res;

		/* give back what was consumed, then refill the queue */
		if (nret) {
			struct kmbuf_cmd kc = {
				.addr = (uintptr_t)bids, .nr = nret,
			};

			blk_queue_kcmd(&ring, fd, KMBUF_CMD_RETURN, 0, &kc,
				       BLK_UD_SYNC);
		}
		for (i = inflight; i < qd; i++)
			blk_queue(&ring, fd, KMBUF_BLK_READ, rand_off(len), len,
				  0, 0, 1);
		inflight = qd;
		io_uring_submit_and_wait(&ring, 1);
		nret = 0;
		do {
			if (blk_reap(&ring, &ud, &res, &fl))
				return -1;
			if (ud == BLK_UD_SYNC)
				continue;	/* a RETURN */
			if (res != (int)len)
				return -1;
			/* the data is verified and can't change: just use it */
			bids[nret++] = fl >> IORING_CQE_BUFFER_SHIFT;
			inflight--;
			n++;
		} while (io_uring_cq_ready(&ring));
		t = now();
		if (t - t0 >= secs)
			break;
	}
	io_uring_queue_exit(&ring);
	kmbuf_region_unmap(&r);
	/* unbind happens when fd is closed */
	return n / (t - t0);
}

/*
 * IOPS of fio reading @len bytes at random offsets of the first NVME_AREA
 * bytes of @dev at depth @qd for secs seconds with io_uring and O_DIRECT,
 * with fixedbufs=1 if @fixed; -1 on failure.  Field 8 of fio's terse
 * output (version 3) is the read IOPS.
 */
static double run_fio(const char *dev, unsigned int len, unsigned int qd,
		      bool fixed)
{
	char cmd[512], line[4096], *p;
	double iops = -1;
	int field, n;
	FILE *f;

	n = snprintf(cmd, sizeof(cmd), "fio --name=bench --filename=%s %s",
		     dev, "--ioengine=io_uring --direct=1 --rw=randread");
	n += snprintf(cmd + n, sizeof(cmd) - n,
		      " --bs=%u --iodepth=%u --size=%llu --runtime=%ums",
		      len, qd, NVME_AREA, (unsigned int)(secs * 1000));
	/* gtod_reduce: no clock reads per I/O, as our own loops do */
	snprintf(cmd + n, sizeof(cmd) - n, " %s %s %s 2>/dev/null",
		 "--time_based --norandommap --randrepeat=0 --gtod_reduce=1",
		 fixed ? "--fixedbufs=1" : "",
		 "--output-format=terse --terse-version=3");
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (fgets(line, sizeof(line), f)) {
		for (p = line, field = 1; p && field < 8; field++) {
			p = strchr(p, ';');
			if (p)
				p++;
		}
		if (p)
			iops = atof(p);
	}
	if (pclose(f))
		return -1;
	return iops > 0 ? iops : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median3(double *v)
{
	qsort(v, ROUNDS, sizeof(*v), cmp_double);
	return v[ROUNDS / 2];
}

/*
 * The NVMe table: fio with and without fixed buffers on the namespace,
 * kmbuf verified reads on kmbuf_blk stacked on it.  0, 4 (skip) or 1.
 */
static int bench_nvme(void)
{
	static const unsigned int lens[] = { 4096, 128 * 1024 };
	static const unsigned int qds[] = { 1, 32 };
	static const char * const names[] = {
		"(a) fio fixedbufs", "(b) fio", "(c) region slot",
		"(d) kmbuf stacked", "(a') loop fixedbufs",
	};
	double v[5][ROUNDS], m[5];
	int fd, li, qi, r, p;
	char *mem;
	__u64 off;

	if (access(NVME_NS, F_OK)) {
		printf("\nno NVMe namespace: NVMe table skipped\n");
		return 4;
	}
	if (blk_reload("nr_devices=0 lower=" NVME_NS, STK_DEV)) {
		fprintf(stderr, "kmbuf_blk lower=" NVME_NS ": no " STK_DEV "\n");
		return 1;
	}
	fd = open(STK_DEV, O_RDWR | O_DIRECT);
	if (fd < 0 || posix_memalign((void **)&mem, BS, 1 << 20))
		return 1;
	/* written through the stacked disk: with protection information */
	for (off = 0; off < NVME_AREA; off += 1 << 20) {
		blk_pattern_fill(mem, off, 1 << 20, SEED);
		if (pwrite(fd, mem, 1 << 20, off) != 1 << 20) {
			perror(STK_DEV);
			return 1;
		}
	}
	free(mem);
	close(fd);
	area = NVME_AREA;

	printf("\nNVMe namespace with PI (512 + 8, type 1), random reads, ");
	printf("%d interleaved rounds of %.1f s, medians\n", ROUNDS, secs);
	printf("%-7s %3s %19s %19s %19s %19s %19s %5s %5s %5s %6s %6s\n",
	       "size", "qd", names[0], names[1], names[2], names[3], names[4],
	       "b/a", "c/a", "d/a", "c/a'", "d/a'");
	bench_csv("nvme", "case,path,iops,mb_s,ratio");
	for (li = 0; li < 2; li++) {
		for (qi = 0; qi < 2; qi++) {
			unsigned int len = lens[li], qd = qds[qi];
			char label[32];

			for (r = 0; r < ROUNDS; r++) {
				v[0][r] = run_fio(NVME_NS, len, qd, true);
				v[1][r] = run_fio(NVME_NS, len, qd, false);
				fd = open(NVME_NS, O_RDONLY | O_DIRECT);
				v[2][r] = fd < 0 ? -1 :
					  run_direct(fd, len, qd, false, SLOT);
				close(fd);
				fd = open(STK_DEV, O_RDONLY);
				v[3][r] = fd < 0 ? -1 : run_kmbuf(fd, len, qd);
				close(fd);
				fd = open(NVME_NS, O_RDONLY | O_DIRECT);
				v[4][r] = fd < 0 ? -1 :
					  run_direct(fd, len, qd, false, UFIXED);
				close(fd);
				for (p = 0; p < 5; p++) {
					if (v[p][r] > 0)
						continue;
					fprintf(stderr, "NVMe %u/%u: %s failed\n",
						len, qd, names[p]);
					return 1;
				}
			}
			for (p = 0; p < 5; p++)
				m[p] = median3(v[p]);
			snprintf(label, sizeof(label), "%s qd%u",
				 len == 4096 ? "4KiB" : "128KiB", qd);
			printf("%-7s %3u", len == 4096 ? "4KiB" : "128KiB", qd);
			for (p = 0; p < 5; p++)
				printf(" %10.0f;%8.1f", m[p], m[p] * len / 1e6);
			printf(" %5.2f %5.2f %5.2f %6.2f %6.2f\n", m[1] / m[0],
			       m[2] / m[0], m[3] / m[0], m[2] / m[4],
			       m[3] / m[4]);
			for (p = 0; p < 5; p++)
				bench_csv("nvme", "%s,%s,%.0f,%.1f,%.3f", label,
					  names[p], m[p], m[p] * len / 1e6,
					  m[p] / m[0]);
		}
	}
	blk_reload("", BLK_DEV);	/* as the other benchmarks expect it */
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned int lens[] = { 4096, 128 * 1024 };
	static const unsigned int qds[] = { 1, 32 };
	char *mem;
	__u64 off;
	int fd, li, qi, ret;

	if (argc > 1)
		secs = atof(argv[1]);
	if (blk_load()) {
		fprintf(stderr, "kmbuf_blk not available\n");
		return 4;
	}
	fd = open(BLK_DEV, O_RDWR | O_DIRECT);
	if (fd < 0) {
		perror(BLK_DEV);
		return 1;
	}
	/* fill the area and build the application's checksum table */
	csums = malloc(AREA / BS * sizeof(*csums));
	if (!csums || posix_memalign((void **)&mem, BS, 1 << 20))
		return 1;
	for (off = 0; off < AREA; off += 1 << 20) {
		unsigned int i;

		blk_pattern_fill(mem, off, 1 << 20, SEED);
		if (pwrite(fd, mem, 1 << 20, off) != 1 << 20)
			return 1;
		for (i = 0; i < (1 << 20) / BS; i++)
			csums[(off >> 12) + i] = blk_block_csum(mem + i * BS, BS);
	}
	free(mem);

	printf("kmbuf_blk random reads, %.1f s per case (IOPS; MB/s)\n", secs);
	bench_csv("blk", "case,path,iops,mb_s,ratio");
	printf("%-7s %3s %18s %18s %18s %7s %7s\n", "size", "qd",
	       "a) pread+crc", "b) io_uring raw", "c) kmbuf verified",
	       "c/a", "c/b");
	for (li = 0; li < 2; li++) {
		for (qi = 0; qi < 2; qi++) {
			unsigned int len = lens[li], qd = qds[qi];
			char label[32];
			double a, b, c;
			int fd2;

			a = run_direct(fd, len, qd, true,
				       qd > 1 ? URING : PREAD);
			b = run_direct(fd, len, qd, false, URING);
			/* a fresh file, so the ring binds anew */
			fd2 = open(BLK_DEV, O_RDONLY);
			c = run_kmbuf(fd2, len, qd);
			close(fd2);
			if (a <= 0 || b <= 0 || c <= 0) {
				fprintf(stderr, "case %u/%u failed\n", len, qd);
				return 1;
			}
			printf("%-7s %3u %9.0f;%7.1f %9.0f;%7.1f %9.0f;%7.1f %7.2f %7.2f\n",
			       len == 4096 ? "4KiB" : "128KiB", qd,
			       a, a * len / 1e6, b, b * len / 1e6,
			       c, c * len / 1e6, c / a, c / b);
			snprintf(label, sizeof(label), "%s qd%u",
				 len == 4096 ? "4KiB" : "128KiB", qd);
			bench_csv("blk", "%s,a) pread+crc,%.0f,%.1f,1.000",
				  label, a, a * len / 1e6);
			bench_csv("blk", "%s,b) io_uring raw,%.0f,%.1f,%.3f",
				  label, b, b * len / 1e6, b / a);
			bench_csv("blk", "%s,c) kmbuf verified,%.0f,%.1f,%.3f",
				  label, c, c * len / 1e6, c / a);
		}
	}
	close(fd);
	free(csums);
	ret = bench_nvme();
	return ret == 4 ? 0 : ret;
}
