// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf-chr-stream: receive records from /dev/kmbuf_chr through an io_uring
 * kernel-managed buffer ring (kmbuf).
 *
 * The whole flow a driver's users follow:
 *   1. create an io_uring and register a memory region on it; mmap it
 *   2. BIND: the driver carves the region into buffers (a kmbuf ring)
 *   3. ARM: one multishot command; every CQE names the buffer (bid) that
 *      holds one record, which is read in place in the mapping
 *   4. RETURN: hand buffers back in batches (libkmbuf's reaper), with
 *      RETURN commands or, with --refill, through a refill ring; when all
 *      are out, the driver pauses (nothing is lost) and resumes when they
 *      come back
 *   5. UNBIND: the ARM ends with -ECANCELED and the ring is released
 *
 * BIND, ARM, RETURN and UNBIND are the common commands of <linux/kmbuf.h>,
 * the same on every kmbuf consumer.
 *
 * The device runs in generator mode: records carry a sequence number and a
 * known payload, so every one of them is verified.  Exits 0 on success.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
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
#define REFILL_ID	2		/* writable region of the refill ring */
#define REC_SIZE	4096		/* bytes per record */
#define NR_BUFS		16		/* a small ring: forces backpressure */
#define NR_RECORDS	20000
#define UD_ARM		1		/* user_data of the multishot ARM */
#define UD_RETURN	2		/* user_data of the reaper's RETURNs */

static struct io_uring ring;

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

/* Queue a multishot ARM of the file's one stream; submitted with the rest. */
static void queue_arm(int fd)
{
	struct io_uring_sqe *sqe = kmbuf_get_sqe(&ring);

	kmbuf_prep_arm(sqe, fd, 0);
	sqe->user_data = UD_ARM;
}

struct stream {
	int		fd;
	const char	*bufs;		/* the region's mapping */
	__u64		seq;		/* next record expected */
	unsigned int	got, rearms;
};

/*
 * Called by kmbuf_reap() for every CQE: check the record in place and
 * return 0, which hands its buffer back to the reaper's next batch.
 */
static int on_cqe(void *arg, const struct kmbuf_cqe *c)
{
	struct stream *st = arg;

	if (c->user_data != UD_ARM)
		return 0;
	/*
	 * no F_MORE: the ARM ended.  -EOVERFLOW says the CQ ring was full;
	 * nothing is lost (the record waits in the kernel for the next ARM),
	 * so re-arm.  A final CQE never carries a record.
	 */
	if (!c->more) {
		if (c->res != -EOVERFLOW) {
			fprintf(stderr, "ARM ended: %s\n", strerror(-c->res));
			return c->res < 0 ? c->res : -EPROTO;
		}
		queue_arm(st->fd);
		st->rearms++;
		return 0;
	}
	/* the record is in buffer bid of the region */
	if (!c->has_buf ||
	    !record_ok(st->bufs + (size_t)c->bid * REC_SIZE, c->res, st->seq)) {
		fprintf(stderr, "record %llu is wrong\n",
			(unsigned long long)st->seq);
		return -EBADMSG;
	}
	st->seq++;
	st->got++;
	return 0;
}

int main(int argc, char **argv)
{
	struct kmbuf_chr_mode mode = {
		.mode = KMBUF_CHR_MODE_GEN, .rec_size = REC_SIZE,
	};
	struct kmbuf_bind bind = {
		.region_id = REGION_ID, .buf_size = REC_SIZE,
		.offset = 0, .nr_bufs = NR_BUFS,
	};
	bool use_refill = argc > 1 && !strcmp(argv[1], "--refill");
	struct kmbuf_refill *refill = NULL;
	struct kmbuf_region reg, rreg;
	struct kmbuf_reaper rp;
	struct stream st = { };
	unsigned int pauses = 0;
	struct io_uring_cqe *cqe;
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
	/*
	 * With --refill, buffers go back through a refill ring, written in
	 * place in a small writable region, instead of RETURN commands.
	 */
	if (use_refill) {
		ret = kmbuf_region_create(ring.ring_fd, REFILL_ID, 4096, 0, 0,
					  &rreg);
		if (!ret)
			refill = kmbuf_refill_init(&bind, rreg.addr, REFILL_ID,
						   0, NR_BUFS);
		if (ret || !refill) {
			fprintf(stderr, "refill ring: %s\n",
				strerror(ret ? -ret : errno));
			return 1;
		}
	}

	/*
	 * 2. BIND: NR_BUFS buffers of REC_SIZE bytes from offset 0, with the
	 * command every kmbuf consumer understands (<linux/kmbuf.h>)
	 */
	ret = kmbuf_bind_sync(&ring, fd, &bind);
	if (ret) {
		fprintf(stderr, "KMBUF_CMD_BIND: %s\n", strerror(-ret));
		return 1;
	}
	printf("bound a kmbuf ring of %u x %u byte buffers, returns by %s\n",
	       NR_BUFS, REC_SIZE, refill ? "refill ring" : "RETURN command");

	/* 3. one multishot ARM for the whole stream */
	queue_arm(fd);
	/* 4. the reaper gives buffers back in batches, one per wait */
	ret = kmbuf_reaper_init(&rp, &ring, fd, NR_BUFS, refill, NR_BUFS,
				UD_RETURN);
	if (ret) {
		fprintf(stderr, "reaper: %s\n", strerror(-ret));
		return 1;
	}
	st.fd = fd;
	st.bufs = reg.addr;
	while (st.seq < NR_RECORDS) {
		/* sends a queued ARM or RETURN, waits for a CQE */
		ret = io_uring_submit_and_wait(&ring, 1);
		if (ret < 0) {
			fprintf(stderr, "io_uring_submit_and_wait: %s\n",
				strerror(-ret));
			return 1;
		}
		st.got = 0;
		ret = kmbuf_reap(&rp, on_cqe, &st, 0);
		if (ret < 0)
			return 1;
		if (rp.error) {
			fprintf(stderr, "RETURN: %s\n", strerror(-rp.error));
			return 1;
		}
		if (st.got == NR_BUFS)
			pauses++;	/* the driver had run dry */
	}
	io_uring_submit(&ring);
	printf("received and verified %llu records (%llu KiB), ",
	       (unsigned long long)st.seq,
	       (unsigned long long)st.seq * REC_SIZE / 1024);
	printf("%u times all buffers were out, %u re-arms\n", pauses, st.rearms);

	/*
	 * 5. UNBIND; CQEs that came meanwhile stay in the CQ ring, and the
	 * ARM's last one, without F_MORE, says -ECANCELED
	 */
	ret = kmbuf_unbind_sync(&ring, fd);
	if (ret) {
		fprintf(stderr, "KMBUF_CMD_UNBIND: %s\n", strerror(-ret));
		return 1;
	}
	for (;;) {
		ret = io_uring_wait_cqe(&ring, &cqe);
		if (ret) {
			fprintf(stderr, "waiting for the ARM's end: %s\n",
				strerror(-ret));
			return 1;
		}
		if (cqe->user_data == UD_ARM &&
		    !(cqe->flags & IORING_CQE_F_MORE))
			break;
		io_uring_cqe_seen(&ring, cqe);
	}
	printf("unbound: the ARM ended with %s; closing\n",
	       strerror(-cqe->res));
	ret = cqe->res != -ECANCELED;
	io_uring_cqe_seen(&ring, cqe);
	kmbuf_reaper_free(&rp);
	kmbuf_region_unmap(&reg);
	if (refill)
		kmbuf_region_unmap(&rreg);
	io_uring_queue_exit(&ring);
	close(fd);
	return ret;
}
