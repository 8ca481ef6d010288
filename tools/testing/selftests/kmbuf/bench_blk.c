// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_blk benchmark: random reads of 4 KiB and 128 KiB at queue depth 1
 * and 32 from /dev/kmbufblk0, three ways:
 *   a) O_DIRECT into user memory (pread at QD1, io_uring IORING_OP_READ at
 *      QD32), then CRC32C of every block checked in userspace against a
 *      table the application keeps (what users do today);
 *   b) O_DIRECT io_uring IORING_OP_READ at both depths, unverified (the
 *      fio io_uring baseline; fio is not available in the guest, this loop
 *      stands in);
 *   c) KMBUF_BLK_READ: verified in the kernel, into read-only buffers,
 *      buffers returned in batches.
 * The disk verifies its checksums in every case (it is what it is); a)
 * verifies once more in userspace, as an application that does not trust
 * the path would.  Prints one table line per case and the ratios.
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

#define AREA		(48ULL << 20)
#define BS		4096U
#define NBUF		64U
#define MAXIO		(128U * 1024)
#define RO_ID		1
#define SEED		0xbe9c

static __u32 *csums;	/* the application's checksum table */
static double secs = 2.0;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static __u64 rand_off(unsigned int len)
{
	return (__u64)BS * (random() % ((AREA - len) / BS));
}

static int verify(const char *p, __u64 off, unsigned int len)
{
	unsigned int i;

	for (i = 0; i < len; i += BS)
		if (blk_block_csum(p + i, BS) != csums[(off + i) / BS])
			return -EBADMSG;
	return 0;
}

/*
 * a) and b): O_DIRECT reads into user memory, optionally verified; pread()
 * at queue depth 1 unless @uring, else io_uring IORING_OP_READ
 */
static double run_direct(int fd, unsigned int len, unsigned int qd,
			 bool check, bool uring)
{
	struct io_uring ring;
	char *mem;
	unsigned long n = 0;
	__u64 offs[32];
	double t0, t;
	unsigned int i;

	if (posix_memalign((void **)&mem, BS, (size_t)qd * len))
		return -1;
	t0 = now();
	if (!uring) {
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
	for (i = 0; i < qd; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		offs[i] = rand_off(len);
		io_uring_prep_read(sqe, fd, mem + (size_t)i * len, len, offs[i]);
		sqe->user_data = i;
	}
	io_uring_submit(&ring);
	for (;;) {
		struct io_uring_cqe *cqe;
		struct io_uring_sqe *sqe;

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
		sqe = io_uring_get_sqe(&ring);
		offs[i] = rand_off(len);
		io_uring_prep_read(sqe, fd, mem + (size_t)i * len, len, offs[i]);
		sqe->user_data = i;
		if (!io_uring_cq_ready(&ring))
			io_uring_submit_and_wait(&ring, 1);
	}
	io_uring_queue_exit(&ring);	/* waits for the reads still in flight */
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

int main(int argc, char **argv)
{
	static const unsigned int lens[] = { 4096, 128 * 1024 };
	static const unsigned int qds[] = { 1, 32 };
	char *mem;
	__u64 off;
	int fd, li, qi;

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
	printf("%-7s %3s %18s %18s %18s %7s %7s\n", "size", "qd",
	       "a) pread+crc", "b) io_uring raw", "c) kmbuf verified",
	       "c/a", "c/b");
	for (li = 0; li < 2; li++) {
		for (qi = 0; qi < 2; qi++) {
			unsigned int len = lens[li], qd = qds[qi];
			double a, b, c;
			int fd2;

			a = run_direct(fd, len, qd, true, qd > 1);
			b = run_direct(fd, len, qd, false, true);
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
		}
	}
	close(fd);
	return 0;
}
