// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf-chr-stream: receive records from /dev/kmbuf_chr through an io_uring
 * kernel-managed buffer ring (kmbuf).
 *
 * The whole flow a driver's users follow:
 *   1. create an io_uring and register a memory region on it; mmap it
 *   2. KMBUF_CMD_BIND: the kmbuf core carves the region into buffers (a
 *      kmbuf ring) bound to the file
 *   3. KMBUF_CMD_ARM: one multishot command; every CQE names the buffer
 *      (bid) that holds one record, which is read in place in the mapping
 *   4. KMBUF_CMD_RETURN: hand buffers back in batches; when all are out,
 *      delivery pauses (nothing is lost) and resumes when they come back
 *   5. KMBUF_CMD_UNBIND: the ARM ends with -ECANCELED, the ring is released
 *
 * The four commands are the same on every kmbuf consumer
 * (<linux/kmbuf.h>); only SET_MODE is kmbuf_chr's own.
 *
 * The device runs in generator mode: records carry a sequence number and a
 * known payload, so every one of them is verified.  Exits 0 on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/io_uring.h>	/* the kernel's uapi first, see libkmbuf.h */
#include <liburing.h>
#include <linux/kmbuf.h>
#include <linux/kmbuf_chr.h>
#include "libkmbuf.h"

#define REGION_ID	1
#define REC_SIZE	4096		/* bytes per record */
#define NR_BUFS		16		/* a small ring: forces backpressure */
#define NR_RECORDS	20000
#define UD_RECV		1		/* user_data of the multishot ARM */
#define UD_RETURN	2		/* user_data of RETURNs */
#define UD_SYNC		3		/* user_data of chr_cmd() */

static struct io_uring ring;

/* Submit one kmbuf command and wait for its result, skipping others. */
static int chr_cmd(int fd, __u32 op, __u32 uring_cmd_flags, const void *arg,
		   __u32 nr)
{
	struct kmbuf_cmd c = { .addr = (uintptr_t)arg, .nr = nr };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	struct io_uring_cqe *cqe;
	int ret;

	kmbuf_prep_uring_cmd(sqe, fd, op, uring_cmd_flags, &c, sizeof(c));
	sqe->user_data = UD_SYNC;
	io_uring_submit(&ring);
	for (;;) {
		ret = io_uring_wait_cqe(&ring, &cqe);
		if (ret)
			return ret;
		if (cqe->user_data == UD_SYNC)
			break;
		io_uring_cqe_seen(&ring, cqe);
	}
	ret = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return ret;
}

/* Queue a multishot ARM or a RETURN; io_uring_submit*() sends it. */
static void queue_cmd(int fd, __u32 op, __u32 uring_cmd_flags,
		      const void *arg, __u32 nr, __u64 ud)
{
	struct kmbuf_cmd c = { .addr = (uintptr_t)arg, .nr = nr };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	kmbuf_prep_uring_cmd(sqe, fd, op, uring_cmd_flags, &c, sizeof(c));
	sqe->user_data = ud;
}

/* A generator record: word 0 = seq, last word = ~seq, fill in between. */
static int record_ok(const void *buf, int len, __u64 seq)
{
	const __u64 *w = buf;
	unsigned int i;

	if (len != REC_SIZE)
		return 0;
	for (i = 0; i < REC_SIZE / 8; i++)
		if (w[i] != kmbuf_chr_gen_word(seq, REC_SIZE, i))
			return 0;
	return 1;
}

int main(void)
{
	struct kmbuf_chr_mode mode = {
		.mode = KMBUF_CHR_MODE_GEN, .rec_size = REC_SIZE,
	};
	struct kmbuf_bind bind = {
		.region_id = REGION_ID, .buf_size = REC_SIZE,
		.offset = 0, .nr_bufs = NR_BUFS,
	};
	__u32 bids[2][NR_BUFS];		/* two batches: one may be in flight */
	unsigned int batch = 0, nb = 0, rearms = 0, pauses = 0;
	struct kmbuf_region reg;
	__u64 seq = 0;
	int fd, ret;

	fd = open("/dev/kmbuf_chr", O_RDWR);
	if (fd < 0) {
		perror("open /dev/kmbuf_chr (modprobe kmbuf_chr?)");
		return 1;
	}
	/* generator mode: sequence-numbered REC_SIZE byte records */
	if (ioctl(fd, KMBUF_CHR_SET_MODE, &mode)) {
		perror("KMBUF_CHR_SET_MODE");
		return 1;
	}

	/*
	 * 1. the ring and a kernel-allocated region, mapped read-only.  One
	 * thread submits and reaps: SINGLE_ISSUER | DEFER_TASKRUN lets the
	 * driver's deliveries run when we wait for CQEs, without locking the
	 * CQ ring for every record.
	 */
	ret = io_uring_queue_init(64, &ring, IORING_SETUP_SINGLE_ISSUER |
				  IORING_SETUP_DEFER_TASKRUN);
	if (ret) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 1;
	}
	ret = kmbuf_region_create(ring.ring_fd, REGION_ID, NR_BUFS * REC_SIZE,
				  IORING_MEM_REGION_RDONLY, 0, &reg);
	if (ret) {
		fprintf(stderr, "region: %s\n", strerror(-ret));
		return 1;
	}
	printf("region %u: %zu bytes mapped read-only at %p\n", reg.id,
	       reg.size, reg.addr);

	/* 2. BIND: NR_BUFS buffers of REC_SIZE bytes from offset 0 */
	ret = chr_cmd(fd, KMBUF_CMD_BIND, 0, &bind, 0);
	if (ret) {
		fprintf(stderr, "KMBUF_CMD_BIND: %s\n", strerror(-ret));
		return 1;
	}
	printf("bound a kmbuf ring of %u x %u byte buffers\n", NR_BUFS,
	       REC_SIZE);

	/* 3. one multishot ARM for the whole stream */
	queue_cmd(fd, KMBUF_CMD_ARM, IORING_URING_CMD_MULTISHOT, NULL, 0,
		  UD_RECV);

	while (seq < NR_RECORDS) {
		unsigned int head, bid, seen = 0;
		struct io_uring_cqe *cqe;
		void *data;

		/* sends the queued ARM or RETURN, waits for a CQE */
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0) {
			fprintf(stderr, "io_uring_submit_and_wait: %s\n",
				strerror(-ret));
			return 1;
		}
		io_uring_for_each_cqe(&ring, head, cqe) {
			seen++;
			if (cqe->user_data == UD_RETURN) {
				/* a RETURN: res is the number of buffers */
				if (cqe->res < 0) {
					fprintf(stderr, "RETURN: %s\n",
						strerror(-cqe->res));
					return 1;
				}
				continue;
			}
			/*
			 * no F_MORE: the ARM ended.  -EOVERFLOW says the CQ
			 * ring was full; nothing is lost (the record waits in
			 * the kernel for the next ARM), so re-arm.  A final
			 * CQE never carries a record.
			 */
			if (!(cqe->flags & IORING_CQE_F_MORE)) {
				if (cqe->res != -EOVERFLOW) {
					fprintf(stderr, "ARM ended: %s\n",
						strerror(-cqe->res));
					return 1;
				}
				queue_cmd(fd, KMBUF_CMD_ARM,
					  IORING_URING_CMD_MULTISHOT, NULL, 0,
					  UD_RECV);
				rearms++;
				continue;
			}
			/* the record is in buffer bid of the region */
			bid = kmbuf_cqe_bid(cqe);
			data = (char *)reg.addr + bid * REC_SIZE;

			if (!(cqe->flags & IORING_CQE_F_BUFFER) ||
			    !record_ok(data, cqe->res, seq)) {
				fprintf(stderr, "record %llu is wrong\n",
					(unsigned long long)seq);
				return 1;
			}
			seq++;
			bids[batch][nb++] = bid;
		}
		io_uring_cq_advance(&ring, seen);

		/* 4. give this batch back; the driver refills and goes on */
		if (nb) {
			if (nb == NR_BUFS)
				pauses++;	/* the driver had run dry */
			queue_cmd(fd, KMBUF_CMD_RETURN, 0, bids[batch], nb,
				  UD_RETURN);
			batch ^= 1;
			nb = 0;
		}
	}
	io_uring_submit(&ring);
	printf("received and verified %llu records (%llu KiB), %u times all buffers were out, %u re-arms\n",
	       (unsigned long long)seq, (unsigned long long)seq * REC_SIZE / 1024,
	       pauses, rearms);

	/* 5. UNBIND: the ARM's last CQE, without F_MORE, says -ECANCELED */
	ret = chr_cmd(fd, KMBUF_CMD_UNBIND, 0, NULL, 0);
	if (ret) {
		fprintf(stderr, "KMBUF_CMD_UNBIND: %s\n", strerror(-ret));
		return 1;
	}
	printf("unbound; closing\n");
	kmbuf_region_unmap(&reg);
	io_uring_queue_exit(&ring);
	close(fd);
	return 0;
}
