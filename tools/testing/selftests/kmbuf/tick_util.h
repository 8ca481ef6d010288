/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kmbuf_tick selftest and benchmark: an io_uring that
 * keeps aside the CQEs that arrive while a synchronous command waits for
 * its own, the device's own ioctls, the common KMBUF_CMD_* commands, and a
 * receiver that checks every record of every channel.
 */
#ifndef KMBUF_TICK_UTIL_H
#define KMBUF_TICK_UTIL_H

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
#include <linux/kmbuf.h>
#include <linux/kmbuf_tick.h>
#include "libkmbuf.h"

#define TICK_DEV	"/dev/kmbuf_tick"
/* user_data of synchronous commands: top bit set, a sequence number */
#define UD_SYNC		(1ULL << 63)
#define TKR_LOG		(1U << 16)

struct tkr_cqe {
	__u64	ud;
	__s32	res;
	__u32	flags;
};

/* An io_uring with a backlog of CQEs that arrived while waiting for another. */
struct tkr {
	struct io_uring	ring;
	struct tkr_cqe	*log;
	unsigned int	head, tail;
	__u64		sync_seq;
	int		timeout_s;
};

static inline int tkr_init(struct tkr *r, unsigned int entries,
			   unsigned int cq_entries, unsigned int setup_flags)
{
	struct io_uring_params p = { };
	int ret;

	memset(r, 0, sizeof(*r));
	r->timeout_s = 10;
	p.flags = IORING_SETUP_CQSIZE | setup_flags;
	p.cq_entries = cq_entries;
	ret = io_uring_queue_init_params(entries, &r->ring, &p);
	if (ret)
		return ret;
	r->log = calloc(TKR_LOG, sizeof(*r->log));
	if (!r->log) {
		io_uring_queue_exit(&r->ring);
		return -ENOMEM;
	}
	return 0;
}

static inline void tkr_exit(struct tkr *r)
{
	io_uring_queue_exit(&r->ring);
	free(r->log);
	r->log = NULL;
}

/* An SQE; if the SQ ring is full, what is queued is submitted first. */
static inline struct io_uring_sqe *tkr_sqe(struct tkr *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe) {
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

/* Wait up to r->timeout_s for one CQE from the ring itself. */
static inline int tkr_reap(struct tkr *r, struct tkr_cqe *out)
{
	struct __kernel_timespec ts = { .tv_sec = r->timeout_s };
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
	if (ret)
		return ret;
	out->ud = cqe->user_data;
	out->res = cqe->res;
	out->flags = cqe->flags;
	io_uring_cqe_seen(&r->ring, cqe);
	return 0;
}

/* The next CQE not consumed by tk_cmd(): backlog first.  0 or -ETIME. */
static inline int tkr_next(struct tkr *r, struct tkr_cqe *out)
{
	if (r->head != r->tail) {
		*out = r->log[r->head++ % TKR_LOG];
		return 0;
	}
	return tkr_reap(r, out);
}

/* Value of "name:\t<n>" in the fdinfo of @fd, or -1. */
static inline long long fdinfo_get(int fd, const char *name)
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

/* user_data of the ARM of channel n */
#define UD_ARM(n)	(0x10000ULL + (n))
#define UD_IS_ARM(ud)	((ud) >= 0x10000ULL && (ud) < 0x10000ULL + 65536)

static inline int tick_open(void)
{
	if (access(TICK_DEV, F_OK) && system("modprobe kmbuf_tick"))
		return -1;
	return open(TICK_DEV, O_RDWR);
}

static inline int tick_config(int fd, __u32 nr, __u32 rec_size,
			      __u64 period_ns)
{
	struct kmbuf_tick_config c = {
		.nr_channels = nr, .rec_size = rec_size, .period_ns = period_ns,
	};

	return ioctl(fd, KMBUF_TICK_CONFIG, &c) ? -errno : 0;
}

/* KMBUF_TICK_START or _STOP by ioctl */
static inline int tick_range(int fd, unsigned long op, __u32 first, __u32 nr)
{
	struct kmbuf_tick_range r = { .first = first, .nr = nr };

	return ioctl(fd, op, &r) ? -errno : 0;
}

/* Queue (not submit) a command whose sqe->cmd is a struct kmbuf_cmd. */
static inline int tk_queue(struct tkr *rx, int fd, __u32 op, __u32 cmd_flags,
			   __u64 addr, __u32 nr, __u16 stream, __u64 ud)
{
	struct kmbuf_cmd c = { .addr = addr, .nr = nr, .stream = stream };
	struct io_uring_sqe *sqe = tkr_sqe(rx);

	if (!sqe)
		return -EBUSY;
	kmbuf_prep_uring_cmd(sqe, fd, op, cmd_flags, &c, sizeof(c));
	sqe->user_data = ud;
	return 0;
}

/* Run a single-shot command, keeping other CQEs for tkr_next(). */
static inline int tk_cmd(struct tkr *rx, int fd, __u32 op, __u64 addr,
			 __u32 nr, __u16 stream)
{
	__u64 ud = UD_SYNC | ++rx->sync_seq;
	struct tkr_cqe c;
	int ret;

	ret = tk_queue(rx, fd, op, 0, addr, nr, stream, ud);
	if (ret)
		return ret;
	io_uring_submit(&rx->ring);
	for (;;) {
		ret = tkr_reap(rx, &c);
		if (ret)
			return ret;
		if (c.ud == ud)
			return c.res;
		rx->log[rx->tail++ % TKR_LOG] = c;
	}
}

static inline int tk_bind(struct tkr *rx, int fd, __u32 region, __u64 off,
			  __u32 buf_size, __u32 nr_bufs)
{
	struct kmbuf_bind b = {
		.region_id = region, .offset = off,
		.buf_size = buf_size, .nr_bufs = nr_bufs,
	};

	return tk_cmd(rx, fd, KMBUF_CMD_BIND, (uintptr_t)&b, 0, 0);
}

static inline int tk_unbind(struct tkr *rx, int fd)
{
	return tk_cmd(rx, fd, KMBUF_CMD_UNBIND, 0, 0, 0);
}

static inline int tk_return(struct tkr *rx, int fd, const __u32 *bids,
			    __u32 nr)
{
	return tk_cmd(rx, fd, KMBUF_CMD_RETURN, (uintptr_t)bids, nr, 0);
}

/* Arm channels [first, first + nr) with user_data UD_ARM(channel). */
static inline int tk_arm(struct tkr *rx, int fd, __u32 first, __u32 nr)
{
	__u32 i;
	int ret;

	for (i = first; i < first + nr; i++) {
		ret = tk_queue(rx, fd, KMBUF_CMD_ARM,
			       IORING_URING_CMD_MULTISHOT, 0, 0, i, UD_ARM(i));
		if (ret)
			return ret;
	}
	return io_uring_submit(&rx->ring) < 0 ? -EIO : 0;
}

/* What the receiver knows about one channel. */
struct tick_chan {
	__s64	last;		/* seq of the last record, -1 before the first */
	__u64	records;
	__u64	gaps;		/* seqs skipped between records */
	int	armed;
};

/* A receiver of the records of every channel of one file. */
struct tick_rx {
	struct tkr		*rx;
	int			fd;
	const char		*base;	/* region + bind offset */
	__u32			buf_size, nr_bufs, rec_size, nr_chan;
	struct tick_chan	*ch;
	char			*held;	/* bids userspace holds */
	__u32			*ret;	/* to return */
	__u32			nr_ret, batch;
	__u64			records, bytes, rearms;
	const char		*err;
};

static inline int tick_rx_init(struct tick_rx *t, struct tkr *rx, int fd,
			       const void *base, __u32 buf_size, __u32 nr_bufs,
			       __u32 rec_size, __u32 nr_chan, __u32 batch)
{
	__u32 i;

	memset(t, 0, sizeof(*t));
	t->rx = rx;
	t->fd = fd;
	t->base = base;
	t->buf_size = buf_size;
	t->nr_bufs = nr_bufs;
	t->rec_size = rec_size;
	t->nr_chan = nr_chan;
	t->batch = batch;
	t->ch = calloc(nr_chan, sizeof(*t->ch));
	t->held = calloc(nr_bufs, 1);
	t->ret = calloc(nr_bufs, sizeof(*t->ret));
	if (!t->ch || !t->held || !t->ret)
		return -ENOMEM;
	for (i = 0; i < nr_chan; i++)
		t->ch[i].last = -1;
	return 0;
}

static inline void tick_rx_free(struct tick_rx *t)
{
	free(t->ch);
	free(t->held);
	free(t->ret);
}

static inline const void *tick_buf(const struct tick_rx *t, __u32 bid)
{
	return t->base + (size_t)bid * t->buf_size;
}

/* NULL if @p holds a good record of @len bytes of channel @chan, seq @seq. */
static inline const char *tick_check_rec(const void *p, int len, __u32 chan,
					 __u64 *seq)
{
	const struct kmbuf_tick_rec *r = p;
	const __u64 *w = p;
	int i;

	*seq = r->seq;
	if (len < 32 || len % 8)
		return "bad record length";
	if (r->channel != chan)
		return "record of another channel";
	if (r->len != (__u32)len)
		return "record length field differs from the CQE";
	for (i = 3; i < len / 8 - 1; i++)
		if (w[i] != kmbuf_tick_word(i))
			return "fill word corrupt";
	if (w[len / 8 - 1] != ~r->seq)
		return "tail word is not ~seq";
	return NULL;
}

/* Give back the buffers collected so far. */
static inline int tick_rx_flush(struct tick_rx *t)
{
	__u32 i;

	if (!t->nr_ret)
		return 0;
	if (tk_return(t->rx, t->fd, t->ret, t->nr_ret) != (int)t->nr_ret) {
		t->err = "RETURN failed";
		return -1;
	}
	for (i = 0; i < t->nr_ret; i++)
		t->held[t->ret[i]] = 0;
	t->nr_ret = 0;
	return 0;
}

/*
 * Check one CQE of an ARM.  A record is verified in place and its buffer
 * queued for return (flushed every t->batch buffers); a final CQE is
 * checked to carry no buffer and, if it says -EOVERFLOW, the channel is
 * re-armed.  Returns 1 for a record, 0 for a final CQE, -1 on error
 * (t->err says what).  *@final_res gets a final CQE's res.
 */
static inline int tick_rx_cqe(struct tick_rx *t, const struct tkr_cqe *c,
			      int *final_res)
{
	__u32 chan = c->ud - UD_ARM(0), bid;
	struct tick_chan *ch;
	const char *err;
	__u64 seq;

	if (!UD_IS_ARM(c->ud) || chan >= t->nr_chan) {
		t->err = "CQE of no ARM";
		return -1;
	}
	ch = &t->ch[chan];
	if (!(c->flags & IORING_CQE_F_MORE)) {
		if (c->flags & IORING_CQE_F_BUFFER) {
			t->err = "final CQE carries a buffer";
			return -1;
		}
		*final_res = c->res;
		ch->armed = 0;
		if (c->res == -EOVERFLOW) {
			t->rearms++;
			if (tk_arm(t->rx, t->fd, chan, 1)) {
				t->err = "re-arm failed";
				return -1;
			}
			ch->armed = 1;
		}
		return 0;
	}
	if (!(c->flags & IORING_CQE_F_BUFFER) || c->res <= 0) {
		t->err = "F_MORE CQE without a buffer or with an error";
		return -1;
	}
	bid = c->flags >> IORING_CQE_BUFFER_SHIFT;
	if (bid >= t->nr_bufs || t->held[bid]) {
		t->err = "bad or duplicate buffer id";
		return -1;
	}
	if (c->res != (int)(t->rec_size < t->buf_size ? t->rec_size :
			    t->buf_size)) {
		t->err = "unexpected record length";
		return -1;
	}
	err = tick_check_rec(tick_buf(t, bid), c->res, chan, &seq);
	if (err) {
		t->err = err;
		return -1;
	}
	if ((__s64)seq <= ch->last) {
		t->err = "seq went back or repeated";
		return -1;
	}
	ch->gaps += seq - (__u64)(ch->last + 1);
	ch->last = seq;
	ch->records++;
	t->records++;
	t->bytes += c->res;
	t->held[bid] = 1;
	t->ret[t->nr_ret++] = bid;
	if (t->nr_ret >= t->batch && tick_rx_flush(t))
		return -1;
	return 1;
}

/*
 * Receive until @n records arrived in all (0: until @secs passed with no
 * CQE), returning buffers every t->batch records (fewer stay held: see
 * tick_rx_flush()).  Final CQEs other than -EOVERFLOW are errors.  0 or
 * -1 (t->err).
 */
static inline int tick_rx_run(struct tick_rx *t, __u64 n, int secs)
{
	int saved = t->rx->timeout_s, final, ret = 0;
	struct tkr_cqe c;

	if (!n)
		t->rx->timeout_s = secs;
	while (!n || t->records < n) {
		if (tkr_next(t->rx, &c)) {
			if (n)
				t->err = "timed out waiting for records";
			ret = n ? -1 : 0;
			break;
		}
		final = 0;
		if (tick_rx_cqe(t, &c, &final) < 0) {
			ret = -1;
			break;
		}
		if (final && final != -EOVERFLOW) {
			t->err = "ARM ended";
			ret = -1;
			break;
		}
	}
	t->rx->timeout_s = saved;
	return ret;
}

/* Seqs skipped so far in all channels. */
static inline __u64 tick_rx_gaps(const struct tick_rx *t)
{
	__u64 g = 0;
	__u32 i;

	for (i = 0; i < t->nr_chan; i++)
		g += t->ch[i].gaps;
	return g;
}

#endif /* KMBUF_TICK_UTIL_H */
