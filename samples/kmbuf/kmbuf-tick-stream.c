// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf-tick-stream: receive the records that /dev/kmbuf_tick writes from
 * hard-irq timers on 4 channels, all through one small kmbuf ring.
 *
 *   1. CONFIG the file: 4 channels (streams of one port), 1 KiB records,
 *      one every 2 ms per channel
 *   2. register a read-only memory region; BIND a 16-buffer ring to it
 *   3. ARM every channel with a multishot command; START the timers
 *   4. each CQE names the channel (user_data) and the buffer (bid); the
 *      record is checked in place and its buffer given back (RETURN)
 *   5. STOP; the seqs never received are exactly the device's overruns
 *
 * Exits 0 on success.
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
#include <linux/kmbuf_tick.h>
#include "libkmbuf.h"

#define NR_CHAN		4
#define REC_SIZE	1024
#define NR_BUFS		16
#define NR_RECORDS	2000
#define UD_RETURN	100
#define UD_SYNC		101

static struct io_uring ring;
static __u32 slot[NR_BUFS];	/* a RETURN reads its bid when issued */

static void queue(int fd, __u32 op, __u32 flags, __u64 addr, __u32 nr,
		  __u16 stream, __u64 ud)
{
	struct kmbuf_cmd c = { .addr = addr, .nr = nr, .stream = stream };
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	kmbuf_prep_uring_cmd(sqe, fd, op, flags, &c, sizeof(c));
	sqe->user_data = ud;
}

/* BIND or another single-shot command, before anything is armed. */
static int sync_cmd(int fd, __u32 op, __u64 addr)
{
	struct io_uring_cqe *cqe;
	int ret;

	queue(fd, op, 0, addr, 0, 0, UD_SYNC);
	io_uring_submit(&ring);
	ret = io_uring_wait_cqe(&ring, &cqe);
	if (!ret)
		ret = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return ret;
}

static long long fdinfo_val(int fd, const char *key)
{
	char path[64], line[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtoll(line + strlen(key) + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

int main(void)
{
	struct kmbuf_tick_config cfg = { NR_CHAN, REC_SIZE, 2000000 };
	struct kmbuf_tick_range all = { 0, NR_CHAN };
	struct kmbuf_bind bind = { .region_id = 1, .buf_size = REC_SIZE,
				   .nr_bufs = NR_BUFS };
	long long next[NR_CHAN] = { 0 }, got = 0, gaps = 0, periods, over;
	struct kmbuf_region reg;
	struct io_uring_cqe *cqe;
	int fd, i;

	fd = open("/dev/kmbuf_tick", O_RDWR);
	if (fd < 0 || ioctl(fd, KMBUF_TICK_CONFIG, &cfg) ||
	    io_uring_queue_init(64, &ring, 0) ||
	    kmbuf_region_create(ring.ring_fd, 1, NR_BUFS * REC_SIZE,
				IORING_MEM_REGION_RDONLY, 0, &reg) ||
	    sync_cmd(fd, KMBUF_CMD_BIND, (uintptr_t)&bind)) {
		perror("kmbuf_tick setup");
		return 1;
	}
	for (i = 0; i < NR_CHAN; i++)
		queue(fd, KMBUF_CMD_ARM, IORING_URING_CMD_MULTISHOT, 0, 0, i, i);
	io_uring_submit(&ring);
	ioctl(fd, KMBUF_TICK_START, &all);

	while (got < NR_RECORDS && !io_uring_wait_cqe(&ring, &cqe)) {
		unsigned int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		const __u64 *w = (const __u64 *)((char *)reg.addr +
						 bid * REC_SIZE);
		__u64 ch = cqe->user_data;

		if (ch == UD_RETURN) {
			if (cqe->res != 1)
				goto bad;
		} else if (ch >= NR_CHAN || !(cqe->flags & IORING_CQE_F_MORE) ||
			   cqe->res != REC_SIZE || (w[2] & 0xffffffff) != ch ||
			   (long long)w[0] < next[ch] ||
			   w[3] != kmbuf_tick_word(3) ||
			   w[REC_SIZE / 8 - 1] != ~w[0]) {
			goto bad;
		} else {
			gaps += w[0] - next[ch];
			next[ch] = w[0] + 1;
			got++;
			slot[bid] = bid;
			queue(fd, KMBUF_CMD_RETURN, 0, (uintptr_t)&slot[bid], 1,
			      0, UD_RETURN);
			io_uring_submit(&ring);
		}
		io_uring_cqe_seen(&ring, cqe);
	}
	ioctl(fd, KMBUF_TICK_STOP, &all);
	periods = fdinfo_val(fd, "kmbuf_tick_periods");
	over = fdinfo_val(fd, "kmbuf_tick_overruns");
	for (i = 0; i < NR_CHAN; i++)
		printf("channel %d: up to seq %lld\n", i, next[i] - 1);
	printf("%lld records of %d bytes from %d channels through %d buffers; "
	       "%lld periods, %lld overruns, %lld seen as gaps so far\n",
	       got, REC_SIZE, NR_CHAN, NR_BUFS, periods, over, gaps);
	close(fd);
	io_uring_queue_exit(&ring);
	return got == NR_RECORDS && gaps <= over ? 0 : 1;
bad:
	fprintf(stderr, "bad CQE: user_data %llu res %d flags %#x\n",
		(unsigned long long)cqe->user_data, cqe->res, cqe->flags);
	return 1;
}
