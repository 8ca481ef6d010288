/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kmbuf_chr selftests and benchmark: open the
 * device, run the common kmbuf commands (<linux/kmbuf.h>, on any
 * consumer's file), and reap CQEs while keeping the multishot ones apart
 * from synchronous command results.
 */
#ifndef KMBUF_CHR_UTIL_H
#define KMBUF_CHR_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/io_uring.h>	/* the tree's uapi, before liburing's copy */
#include <liburing.h>
#include <linux/kmbuf_chr.h>
#include "libkmbuf.h"

#define CHR_DEV		"/dev/kmbuf_chr"
/* user_data of synchronous commands: top bit set, a sequence number */
#define UD_SYNC		(1ULL << 63)
#define RX_LOG		(1U << 16)

/* fdinfo keys: kmbuf_chr's armed streams, the core's kept records */
#define FDI_ARMED	"kmbuf_armed"
#define FDI_PENDING	"kmbuf_pending"
#define FDI_REFILL_BAD	"kmbuf_refill_bad"

struct rx_cqe {
	__u64	ud;
	__s32	res;
	__u32	flags;
};

/* An io_uring with a backlog of CQEs that arrived while waiting for another. */
struct rx {
	struct io_uring	ring;
	struct rx_cqe	*log;
	unsigned int	head, tail;
	__u64		sync_seq;
	int		timeout_s;
};

static inline int rx_init(struct rx *rx, unsigned int entries,
			  unsigned int cq_entries, unsigned int setup_flags)
{
	struct io_uring_params p = { };
	int ret;

	memset(rx, 0, sizeof(*rx));
	rx->timeout_s = 10;
	p.flags = IORING_SETUP_CQSIZE | setup_flags;
	p.cq_entries = cq_entries;
	ret = io_uring_queue_init_params(entries, &rx->ring, &p);
	if (ret)
		return ret;
	rx->log = calloc(RX_LOG, sizeof(*rx->log));
	if (!rx->log) {
		io_uring_queue_exit(&rx->ring);
		return -ENOMEM;
	}
	return 0;
}

static inline void rx_exit(struct rx *rx)
{
	io_uring_queue_exit(&rx->ring);
	free(rx->log);
	rx->log = NULL;
}

/* A zeroed SQE (both halves on an SQE128 ring), or NULL. */
static inline struct io_uring_sqe *rx_sqe(struct rx *rx)
{
	return kmbuf_get_sqe(&rx->ring);
}

/* Queue (not submit) command @op with the struct kmbuf_cmd payload @c. */
static inline int rx_queue_kcmd(struct rx *rx, int fd, __u32 op,
				__u32 uring_cmd_flags,
				const struct kmbuf_cmd *c, __u64 ud)
{
	struct io_uring_sqe *sqe = rx_sqe(rx);

	if (!sqe)
		return -EBUSY;
	kmbuf_prep_cmd(sqe, fd, op, uring_cmd_flags, c);
	sqe->user_data = ud;
	return 0;
}

/* Queue (not submit) command @op with payload addr, nr, flags (stream 0). */
static inline int rx_queue_cmd(struct rx *rx, int fd, __u32 op,
			       __u32 uring_cmd_flags, __u64 addr, __u32 nr,
			       __u16 flags, __u64 ud)
{
	struct kmbuf_cmd c = { .addr = addr, .nr = nr, .flags = flags };

	return rx_queue_kcmd(rx, fd, op, uring_cmd_flags, &c, ud);
}

/* Wait up to rx->timeout_s for one CQE from the ring itself. */
static inline int rx_reap(struct rx *rx, struct rx_cqe *out)
{
	struct __kernel_timespec ts = { .tv_sec = rx->timeout_s };
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_wait_cqe_timeout(&rx->ring, &cqe, &ts);
	if (ret)
		return ret;
	out->ud = cqe->user_data;
	out->res = cqe->res;
	out->flags = cqe->flags;
	io_uring_cqe_seen(&rx->ring, cqe);
	return 0;
}

/* The next CQE not consumed by rx_cmd(): backlog first. 0 or -ETIME. */
static inline int rx_next(struct rx *rx, struct rx_cqe *out)
{
	if (rx->head != rx->tail) {
		*out = rx->log[rx->head++ % RX_LOG];
		return 0;
	}
	return rx_reap(rx, out);
}

/* Like rx_next() without waiting; -EAGAIN if none is ready. */
static inline int rx_peek(struct rx *rx, struct rx_cqe *out)
{
	struct io_uring_cqe *cqe;

	if (rx->head != rx->tail) {
		*out = rx->log[rx->head++ % RX_LOG];
		return 0;
	}
	if (io_uring_peek_cqe(&rx->ring, &cqe))
		return -EAGAIN;
	out->ud = cqe->user_data;
	out->res = cqe->res;
	out->flags = cqe->flags;
	io_uring_cqe_seen(&rx->ring, cqe);
	return 0;
}

/* A user_data for one synchronous command, see rx_wait(). */
static inline __u64 rx_sync_ud(struct rx *rx)
{
	return UD_SYNC | ++rx->sync_seq;
}

/*
 * Submit what is queued and wait for the CQE with user_data @ud, keeping
 * other CQEs for rx_next().  0 or -ETIME.
 */
static inline int rx_wait_cqe(struct rx *rx, __u64 ud, struct rx_cqe *out)
{
	int ret;

	io_uring_submit(&rx->ring);
	for (;;) {
		ret = rx_reap(rx, out);
		if (ret)
			return ret;
		if (out->ud == ud)
			return 0;
		rx->log[rx->tail++ % RX_LOG] = *out;
	}
}

/*
 * Like rx_wait_cqe(), returning the CQE's res.  A timeout returns -ETIME,
 * which no command returns itself.
 */
static inline int rx_wait(struct rx *rx, __u64 ud)
{
	struct rx_cqe c;
	int ret = rx_wait_cqe(rx, ud, &c);

	return ret ? ret : c.res;
}

/* Run common command @op with payload @c; its result (see rx_wait()). */
static inline int rx_kcmd(struct rx *rx, int fd, __u32 op,
			  __u32 uring_cmd_flags, const struct kmbuf_cmd *c)
{
	__u64 ud = rx_sync_ud(rx);
	int ret = rx_queue_kcmd(rx, fd, op, uring_cmd_flags, c, ud);

	return ret ? ret : rx_wait(rx, ud);
}

static inline int rx_cmd_flags(struct rx *rx, int fd, __u32 op,
			       __u32 uring_cmd_flags, __u64 addr, __u32 nr,
			       __u16 flags)
{
	struct kmbuf_cmd c = { .addr = addr, .nr = nr, .flags = flags };

	return rx_kcmd(rx, fd, op, uring_cmd_flags, &c);
}

static inline int rx_cmd(struct rx *rx, int fd, __u32 op, __u64 addr,
			 __u32 nr, __u16 flags)
{
	return rx_cmd_flags(rx, fd, op, 0, addr, nr, flags);
}

/* KMBUF_CMD_BIND of @b, on any kmbuf consumer's @fd. */
static inline int rx_bind_desc(struct rx *rx, int fd,
			       const struct kmbuf_bind *b)
{
	return rx_cmd(rx, fd, KMBUF_CMD_BIND, (uintptr_t)b, 0, 0);
}

static inline int rx_bind(struct rx *rx, int fd, __u32 region, __u64 off,
			  __u32 buf_size, __u32 nr_bufs)
{
	struct kmbuf_bind b = {
		.region_id = region, .buf_size = buf_size,
		.offset = off, .nr_bufs = nr_bufs,
	};

	return rx_bind_desc(rx, fd, &b);
}

static inline int rx_unbind(struct rx *rx, int fd)
{
	return rx_cmd(rx, fd, KMBUF_CMD_UNBIND, 0, 0, 0);
}

static inline int rx_return(struct rx *rx, int fd, const __u32 *bids,
			    __u32 nr)
{
	return rx_cmd(rx, fd, KMBUF_CMD_RETURN, (uintptr_t)bids, nr, 0);
}

/* Arm stream @stream multishot with CQEs carrying @ud; submitted at once. */
static inline int rx_arm_stream(struct rx *rx, int fd, __u16 stream,
				__u64 ud)
{
	struct io_uring_sqe *sqe = rx_sqe(rx);

	if (!sqe)
		return -EBUSY;
	kmbuf_prep_arm(sqe, fd, stream);
	sqe->user_data = ud;
	return io_uring_submit(&rx->ring) < 0 ? -EIO : 0;
}

/* Arm kmbuf_chr's one stream. */
static inline int rx_arm(struct rx *rx, int fd, __u64 ud)
{
	return rx_arm_stream(rx, fd, 0, ud);
}

static inline int chr_set_mode(int fd, __u32 mode, __u32 rec_size,
			       __u64 seq)
{
	struct kmbuf_chr_mode m = {
		.mode = mode, .rec_size = rec_size, .start_seq = seq,
	};

	return ioctl(fd, KMBUF_CHR_SET_MODE, &m) ? -errno : 0;
}

static inline int chr_open(int flags)
{
	if (access(CHR_DEV, F_OK) && system("modprobe kmbuf_chr"))
		return -1;
	return open(CHR_DEV, flags);
}

/* Throw away whatever records earlier users left in the device queue. */
static inline void chr_drain_queue(void)
{
	static char buf[KMBUF_CHR_MAX_RECORD];
	int fd = chr_open(O_RDONLY | O_NONBLOCK);

	if (fd < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

/* -1 if @buf is generator record @seq of @len bytes, else the bad word. */
static inline long gen_mismatch(const void *buf, int len, __u32 rec_size,
				__u64 seq)
{
	const __u64 *w = buf;
	__u32 i;

	if (len != (int)rec_size)
		return 0;
	for (i = 0; i < rec_size / 8; i++)
		if (w[i] != kmbuf_chr_gen_word(seq, rec_size, i))
			return i;
	return -1;
}

/* Value of "name:\t<n>" in the fdinfo of @fd, or -1. */
static inline long long fdinfo_val(int fd, const char *name)
{
	char path[64], line[128];
	long long val = -1;
	size_t len = strlen(name);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':')
			val = strtoll(line + len + 1, NULL, 10);
	fclose(f);
	return val;
}

/* Write one queue record: a header (seq, len) and a payload from both. */
static inline int write_rec(int fd, unsigned int seq, unsigned int len)
{
	unsigned char buf[KMBUF_CHR_MAX_RECORD];	/* threads write too */
	unsigned int i;

	memcpy(buf, &seq, 4);
	memcpy(buf + 4, &len, 4);
	for (i = 8; i < len; i++)
		buf[i] = (unsigned char)(seq * 31 + i);
	return write(fd, buf, len);
}

/* Check a queue record; returns its seq or -1. */
static inline long check_rec(const unsigned char *buf, int len)
{
	unsigned int seq, rlen;
	int i;

	if (len < 8)
		return -1;
	memcpy(&seq, buf, 4);
	memcpy(&rlen, buf + 4, 4);
	if (rlen != (unsigned int)len)
		return -1;
	for (i = 8; i < len; i++)
		if (buf[i] != (unsigned char)(seq * 31 + i))
			return -1;
	return seq;
}

#endif /* KMBUF_CHR_UTIL_H */
