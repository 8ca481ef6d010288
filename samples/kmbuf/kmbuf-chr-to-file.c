// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf-chr-to-file: write the records /dev/kmbuf_chr delivers into kmbuf
 * buffers to a file with IORING_OP_WRITE_FIXED, straight from the buffers:
 * no copy in userspace, and no page pinned, ever.
 *
 *   1. a read-only memory region holds the kmbuf ring's buffers; the same
 *      region is placed in slot 0 of the ring's registered-buffer table
 *      (IORING_RSRC_UPDATE_MEM_REGION, libkmbuf's kmbuf_fixed_region())
 *   2. BIND + one multishot ARM: each CQE names the buffer (bid) holding
 *      a record
 *   3. per record, a WRITE_FIXED on slot 0 at byte offset bid * REC_SIZE
 *      (the address of a fixed request on a region slot is an offset into
 *      the slot) to the record's place in the file
 *   4. the buffer goes back (libkmbuf's reaper) only once the write's CQE
 *      has come: until then the kernel does not reuse it, and userspace
 *      could not modify it anyway (the region is read-only), so the file
 *      gets exactly the bytes the driver delivered
 *
 * At the end the file is read back and every record checked against the
 * generator's pattern.  Usage: kmbuf-chr-to-file [FILE] (default
 * /tmp/kmbuf-records.dat, removed afterwards).  Exits 0 on success.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/io_uring.h>	/* the kernel's uapi first, see libkmbuf.h */
#include <liburing.h>
#include <linux/kmbuf_chr.h>
#include "libkmbuf.h"

#define REGION_ID	1
#define SLOT		0		/* registered-buffer slot of the region */
#define REC_SIZE	4096
#define NR_BUFS		16
#define NR_RECORDS	2000
#define UD_ARM		1
#define UD_RETURN	2		/* 2..4: the reaper's RETURNs */
#define UD_WRITE	0x100		/* + bid */

struct app {
	struct io_uring		ring;
	struct kmbuf_reaper	rp;
	int			chr, out;
	__u64			next_seq;	/* records received */
	__u64			written;	/* WRITE_FIXEDs completed */
	unsigned int		in_flight, max_in_flight, rearms;
	int			error;
};

static void queue_arm(struct app *a)
{
	struct io_uring_sqe *sqe = kmbuf_get_sqe(&a->ring);

	kmbuf_prep_arm(sqe, a->chr, 0);
	sqe->user_data = UD_ARM;
}

/*
 * Called by kmbuf_reap() for every CQE.  A record: queue its WRITE_FIXED
 * and keep the buffer (return 1).  A write's CQE: give that buffer back.
 */
static int on_cqe(void *arg, const struct kmbuf_cqe *c)
{
	struct app *a = arg;
	struct io_uring_sqe *sqe;

	if (c->user_data >= UD_WRITE && c->user_data < UD_WRITE + NR_BUFS) {
		if (c->res != REC_SIZE) {
			fprintf(stderr, "WRITE_FIXED: %s\n",
				c->res < 0 ? strerror(-c->res) : "short write");
			return c->res < 0 ? c->res : -EIO;
		}
		a->in_flight--;
		a->written++;
		kmbuf_reaper_put(&a->rp, c->user_data - UD_WRITE);
		return 0;
	}
	if (c->user_data != UD_ARM)
		return 0;
	if (!c->more) {
		/* -EOVERFLOW: the CQ ring was full, nothing lost: re-arm */
		if (c->res != -EOVERFLOW) {
			fprintf(stderr, "ARM ended: %s\n", strerror(-c->res));
			return c->res < 0 ? c->res : -EPROTO;
		}
		queue_arm(a);
		a->rearms++;
		return 0;
	}
	if (!c->has_buf || c->res != REC_SIZE) {
		fprintf(stderr, "unexpected record CQE (res %d)\n", c->res);
		return -EPROTO;
	}
	if (a->next_seq >= NR_RECORDS)
		return 0;	/* one more than wanted: straight back */

	sqe = kmbuf_get_sqe(&a->ring);
	if (!sqe)
		return -EBUSY;
	kmbuf_prep_write_fixed(sqe, a->out, SLOT, (__u64)c->bid * REC_SIZE,
			       REC_SIZE, a->next_seq * REC_SIZE);
	sqe->user_data = UD_WRITE + c->bid;
	a->next_seq++;
	if (++a->in_flight > a->max_in_flight)
		a->max_in_flight = a->in_flight;
	return 1;	/* the buffer stays out until its write is done */
}

static int verify(int fd)
{
	static __u64 rec[REC_SIZE / 8];
	__u64 seq;
	int i;

	for (seq = 0; seq < NR_RECORDS; seq++) {
		if (pread(fd, rec, REC_SIZE, seq * REC_SIZE) != REC_SIZE) {
			fprintf(stderr, "record %llu: short file\n",
				(unsigned long long)seq);
			return -1;
		}
		for (i = 0; i < REC_SIZE / 8; i++)
			if (rec[i] != kmbuf_chr_gen_word(seq, REC_SIZE, i)) {
				fprintf(stderr, "record %llu: word %d differs\n",
					(unsigned long long)seq, i);
				return -1;
			}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/tmp/kmbuf-records.dat";
	struct kmbuf_chr_mode mode = {
		.mode = KMBUF_CHR_MODE_GEN, .rec_size = REC_SIZE,
	};
	struct kmbuf_bind bind = {
		.region_id = REGION_ID, .buf_size = REC_SIZE,
		.offset = 0, .nr_bufs = NR_BUFS,
	};
	struct app a = { };
	struct kmbuf_region reg;
	struct io_uring_cqe *cqe;
	int ret;

	a.chr = open("/dev/kmbuf_chr", O_RDWR);
	if (a.chr < 0) {
		perror("open /dev/kmbuf_chr (modprobe kmbuf_chr?)");
		return 1;
	}
	if (ioctl(a.chr, KMBUF_CHR_SET_MODE, &mode)) {
		perror("KMBUF_CHR_SET_MODE");
		return 1;
	}
	a.out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (a.out < 0) {
		perror(path);
		return 1;
	}
	ret = io_uring_queue_init(64, &a.ring, IORING_SETUP_SINGLE_ISSUER |
				  IORING_SETUP_DEFER_TASKRUN);
	if (ret) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-ret));
		return 1;
	}

	/* 1. the region, read-only for us, and the same bytes as slot 0 */
	ret = kmbuf_region_create(a.ring.ring_fd, REGION_ID,
				  NR_BUFS * REC_SIZE, IORING_MEM_REGION_RDONLY,
				  0, &reg);
	if (!ret)
		ret = kmbuf_fixed_table(a.ring.ring_fd, 1);
	if (!ret)
		ret = kmbuf_fixed_region(a.ring.ring_fd, SLOT, REGION_ID, 0,
					 NR_BUFS * REC_SIZE, 0);
	if (ret) {
		fprintf(stderr, "region as fixed buffer: %s\n", strerror(-ret));
		return 1;
	}
	printf("region %u: %zu bytes, read-only for userspace, registered as fixed buffer %d\n",
	       reg.id, reg.size, SLOT);

	/* 2. the kmbuf ring on it, and one multishot ARM */
	ret = kmbuf_bind_sync(&a.ring, a.chr, &bind);
	if (ret) {
		fprintf(stderr, "KMBUF_CMD_BIND: %s\n", strerror(-ret));
		return 1;
	}
	ret = kmbuf_reaper_init(&a.rp, &a.ring, a.chr, NR_BUFS, NULL, 0,
				UD_RETURN);
	if (ret) {
		fprintf(stderr, "reaper: %s\n", strerror(-ret));
		return 1;
	}
	queue_arm(&a);

	/* 3. + 4. records to WRITE_FIXEDs, buffers back after each write */
	while (a.written < NR_RECORDS) {
		ret = io_uring_submit_and_wait(&a.ring, 1);
		if (ret < 0) {
			fprintf(stderr, "io_uring_submit_and_wait: %s\n",
				strerror(-ret));
			return 1;
		}
		ret = kmbuf_reap(&a.rp, on_cqe, &a, 0);
		if (ret < 0)
			return 1;
		if (a.rp.error) {
			fprintf(stderr, "RETURN: %s\n", strerror(-a.rp.error));
			return 1;
		}
	}
	io_uring_submit(&a.ring);
	printf("wrote %llu records (%llu KiB) with WRITE_FIXED from kmbuf buffers,\n",
	       (unsigned long long)a.written,
	       (unsigned long long)a.written * REC_SIZE / 1024);
	printf("up to %u writes in flight, %u re-arms\n", a.max_in_flight,
	       a.rearms);

	ret = kmbuf_unbind_sync(&a.ring, a.chr);
	if (ret) {
		fprintf(stderr, "KMBUF_CMD_UNBIND: %s\n", strerror(-ret));
		return 1;
	}
	for (;;) {
		ret = io_uring_wait_cqe(&a.ring, &cqe);
		if (ret) {
			fprintf(stderr, "waiting for the ARM's end: %s\n",
				strerror(-ret));
			return 1;
		}
		if (cqe->user_data == UD_ARM &&
		    !(cqe->flags & IORING_CQE_F_MORE))
			break;
		io_uring_cqe_seen(&a.ring, cqe);
	}
	io_uring_cqe_seen(&a.ring, cqe);

	ret = verify(a.out);
	if (!ret)
		printf("%s: all %d records read back intact\n", path,
		       NR_RECORDS);
	kmbuf_reaper_free(&a.rp);
	kmbuf_region_unmap(&reg);
	io_uring_queue_exit(&a.ring);
	close(a.chr);
	close(a.out);
	if (argc <= 1)
		unlink(path);
	return ret ? 1 : 0;
}
