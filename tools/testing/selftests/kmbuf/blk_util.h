/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kmbuf_blk selftests and benchmark: the reference
 * pattern, CRC32C, kmbuf_blk uring_cmd submission and the common kmbuf
 * commands (<linux/kmbuf.h>) on its files.
 */
#ifndef KMBUF_BLK_UTIL_H
#define KMBUF_BLK_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/io_uring.h>	/* the tree's uapi, before liburing's copy */
#include <liburing.h>
#include <linux/kmbuf_blk.h>
#include "libkmbuf.h"

#define BLK_DEV		"/dev/kmbufblk0"
#define BLK_DBG		"/sys/kernel/debug/kmbuf_blk/kmbufblk0/"

/* The 64-bit word at device byte offset 8 * w of pattern @seed. */
static inline __u64 blk_pattern_word(__u64 w, __u64 seed)
{
	return w * 0x9e3779b97f4a7c15ULL + seed;
}

/* Fill @len bytes (a multiple of 8) as the pattern at device offset @off. */
static inline void blk_pattern_fill(void *p, __u64 off, size_t len,
				    __u64 seed)
{
	__u64 *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = blk_pattern_word(off / 8 + i, seed);
}

/* Byte index of the first difference from the pattern, or -1. */
static inline long blk_pattern_check(const void *p, __u64 off, size_t len,
				     __u64 seed)
{
	const __u64 *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != blk_pattern_word(off / 8 + i, seed))
			return (long)(i * 8);
	return -1;
}

/* CRC32C (Castagnoli), reflected, table driven: what kmbuf_blk stores. */
static inline __u32 blk_crc32c(__u32 crc, const void *p, size_t len)
{
	static __u32 table[256];
	const unsigned char *c = p;
	size_t i;

	if (!table[1]) {
		for (i = 0; i < 256; i++) {
			__u32 v = i;
			int k;

			for (k = 0; k < 8; k++)
				v = (v >> 1) ^ (0x82f63b78U & -(v & 1));
			table[i] = v;
		}
	}
	for (i = 0; i < len; i++)
		crc = table[(crc ^ c[i]) & 0xff] ^ (crc >> 8);
	return crc;
}

/* A block's checksum as kmbuf_blk computes it. */
static inline __u32 blk_block_csum(const void *p, size_t len)
{
	return ~blk_crc32c(~0U, p, len);
}

/* Turn @sqe into kmbuf_blk command @op. */
static inline void blk_prep(struct io_uring_sqe *sqe, int fd, __u32 op,
			    __u64 offset, __u32 len, __u16 region_id,
			    __u64 addr)
{
	struct kmbuf_blk_cmd c = {
		.offset = offset, .len = len, .region_id = region_id,
	};

	kmbuf_prep_uring_cmd(sqe, fd, op, 0, &c, sizeof(c));
	sqe->addr = addr;
}

/*
 * Queue command @op with user_data @ud; submits first if the SQ ring is
 * full.  0 or -EBUSY.
 */
static inline int blk_queue(struct io_uring *ring, int fd, __u32 op,
			    __u64 offset, __u32 len, __u16 region_id,
			    __u64 addr, __u64 ud)
{
	struct io_uring_sqe *sqe = kmbuf_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	blk_prep(sqe, fd, op, offset, len, region_id, addr);
	sqe->user_data = ud;
	return 0;
}

/* user_data of blk_cmd()'s commands: top bit set, a sequence number */
#define BLK_UD_SYNC	(1ULL << 63)
#define BLK_BACKLOG	1024

/* CQEs that arrived while blk_cmd() waited for its own (one ring at a time) */
static struct {
	__u64		ud;
	int		res;
	__u32		flags;
} blk_backlog[BLK_BACKLOG];
static unsigned int blk_bl_head, blk_bl_tail;
static __u64 blk_sync_seq;

/* Wait up to 10 s for a CQE from the ring itself; 0 or -ETIME. */
static inline int blk_reap_raw(struct io_uring *ring, __u64 *ud, int *res,
			       __u32 *flags)
{
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (ret)
		return ret;
	*ud = cqe->user_data;
	*res = cqe->res;
	*flags = cqe->flags;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

/* The next CQE not consumed by blk_cmd(), backlog first; 0 or -ETIME. */
static inline int blk_reap(struct io_uring *ring, __u64 *ud, int *res,
			   __u32 *flags)
{
	__u64 u;
	__u32 f;
	int ret;

	if (blk_bl_head != blk_bl_tail) {
		unsigned int i = blk_bl_head++ % BLK_BACKLOG;

		u = blk_backlog[i].ud;
		*res = blk_backlog[i].res;
		f = blk_backlog[i].flags;
	} else {
		ret = blk_reap_raw(ring, &u, res, &f);
		if (ret)
			return ret;
	}
	if (ud)
		*ud = u;
	if (flags)
		*flags = f;
	return 0;
}

/* CQEs blk_reap() can return without waiting. */
static inline unsigned int blk_ready(struct io_uring *ring)
{
	return io_uring_cq_ready(ring) + blk_bl_tail - blk_bl_head;
}

/* A user_data for one synchronous command, for blk_sync_wait(). */
static inline __u64 blk_sync_ud(void)
{
	return BLK_UD_SYNC | ++blk_sync_seq;
}

/*
 * Submit what is queued and return the res of the CQE whose user_data is
 * @want (its flags in *@flags), keeping CQEs of other requests for
 * blk_reap().  -ETIME if none came.
 */
static inline int blk_sync_wait(struct io_uring *ring, __u64 want,
				__u32 *flags)
{
	__u64 ud;
	__u32 f;
	int ret, res;

	ret = io_uring_submit(ring);
	if (ret < 0)
		return ret;
	for (;;) {
		ret = blk_reap_raw(ring, &ud, &res, &f);
		if (ret)
			return ret;
		if (ud == want)
			break;
		if (blk_bl_tail - blk_bl_head >= BLK_BACKLOG)
			return -ENOSPC;
		blk_backlog[blk_bl_tail % BLK_BACKLOG].ud = ud;
		blk_backlog[blk_bl_tail % BLK_BACKLOG].res = res;
		blk_backlog[blk_bl_tail % BLK_BACKLOG].flags = f;
		blk_bl_tail++;
	}
	if (flags)
		*flags = f;
	return res;
}

/* Run one kmbuf_blk command and return its CQE's res; see blk_sync_wait(). */
static inline int blk_cmd(struct io_uring *ring, int fd, __u32 op,
			  __u64 offset, __u32 len, __u16 region_id,
			  __u64 addr, __u32 *flags)
{
	__u64 want = blk_sync_ud();
	int ret;

	ret = blk_queue(ring, fd, op, offset, len, region_id, addr, want);
	if (ret)
		return ret;
	return blk_sync_wait(ring, want, flags);
}

/* Queue common command @op (<linux/kmbuf.h>) with payload @c. */
static inline int blk_queue_kcmd(struct io_uring *ring, int fd, __u32 op,
				 __u32 uring_cmd_flags,
				 const struct kmbuf_cmd *c, __u64 ud)
{
	struct io_uring_sqe *sqe = kmbuf_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	kmbuf_prep_cmd(sqe, fd, op, uring_cmd_flags, c);
	sqe->user_data = ud;
	return 0;
}

/* Run common command @op with payload @c; see blk_sync_wait(). */
static inline int blk_kcmd(struct io_uring *ring, int fd, __u32 op,
			   const struct kmbuf_cmd *c)
{
	__u64 want = blk_sync_ud();
	int ret = blk_queue_kcmd(ring, fd, op, 0, c, want);

	return ret ? ret : blk_sync_wait(ring, want, NULL);
}

static inline int blk_bind_desc(struct io_uring *ring, int fd,
				const struct kmbuf_bind *b)
{
	struct kmbuf_cmd c = { .addr = (__u64)(uintptr_t)b };

	return blk_kcmd(ring, fd, KMBUF_CMD_BIND, &c);
}

static inline int blk_bind(struct io_uring *ring, int fd, __u32 region_id,
			   __u64 offset, __u32 buf_size, __u32 nr_bufs)
{
	struct kmbuf_bind b = {
		.region_id = region_id, .offset = offset,
		.buf_size = buf_size, .nr_bufs = nr_bufs,
	};

	return blk_bind_desc(ring, fd, &b);
}

static inline int blk_return_n(struct io_uring *ring, int fd,
			       const __u32 *bids, __u32 nr)
{
	struct kmbuf_cmd c = { .addr = (__u64)(uintptr_t)bids, .nr = nr };

	return blk_kcmd(ring, fd, KMBUF_CMD_RETURN, &c);
}

static inline int blk_return(struct io_uring *ring, int fd, __u32 bid)
{
	return blk_return_n(ring, fd, &bid, 1);
}

static inline int blk_unbind(struct io_uring *ring, int fd)
{
	struct kmbuf_cmd c = { };

	return blk_kcmd(ring, fd, KMBUF_CMD_UNBIND, &c);
}

/* Write @val to debugfs file @name of kmbufblk0; 0 or -errno. */
static inline int blk_dbg_write(const char *name, unsigned long long val)
{
	char path[128], buf[32];
	int fd, n, ret = 0;

	snprintf(path, sizeof(path), BLK_DBG "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%llu\n", val);
	if (write(fd, buf, n) != n)
		ret = -errno;
	close(fd);
	return ret;
}

/* Load kmbuf_blk unless its first disk exists; 0 or -ENODEV. */
static inline int blk_load(void)
{
	if (access(BLK_DEV, F_OK) &&
	    system("modprobe kmbuf_blk 2>/dev/null") != 0)
		return -ENODEV;
	return access(BLK_DEV, F_OK) ? -ENODEV : 0;
}

/*
 * Reload kmbuf_blk with @params; rmmod waits for commands still in flight
 * (an io_uring instance that just exited), so it is retried for 30 s.
 * 0 if @dev exists afterwards.
 */
static inline int blk_reload(const char *params, const char *dev)
{
	char cmd[256];
	int i;

	for (i = 0; i < 300; i++) {
		if (!system("rmmod kmbuf_blk 2>/dev/null") ||
		    access("/sys/module/kmbuf_blk", F_OK))
			break;
		usleep(100 * 1000);
	}
	snprintf(cmd, sizeof(cmd), "modprobe kmbuf_blk %s", params);
	if (system(cmd))
		return -1;
	return access(dev, F_OK);
}

#endif /* KMBUF_BLK_UTIL_H */
