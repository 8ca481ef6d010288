/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmbuf_tick: a periodic record source whose producer runs in hard
 * interrupt context, delivering through io_uring kernel-managed buffer
 * rings (kmbuf).  See Documentation/io_uring/kmbuf_tick.rst.
 *
 * Every open file of /dev/kmbuf_tick is one kmbuf port (include/uapi/
 * linux/kmbuf.h).  KMBUF_TICK_CONFIG, once per file and before anything
 * else, gives it nr_channels channels, stream n of the port being channel
 * n; all channels share the one ring bound with KMBUF_CMD_BIND.  A running
 * channel has a high-resolution timer that fires every period_ns in hard
 * interrupt context and writes record number seq (0, 1, 2, ... per
 * channel) into a free buffer of the ring, posted on the channel's armed
 * KMBUF_CMD_ARM (or kept for it until it is armed).  A period whose
 * record cannot be written (no ring bound, no free buffer, or the timer
 * fired more than a period late) is an overrun: its seq is skipped, so
 * userspace sees the gap, and it is counted (fdinfo kmbuf_tick_overruns).
 *
 * Records: struct kmbuf_tick_rec, then 64-bit little-endian words
 * kmbuf_tick_word(i) for word indexes i = 3 .. len / 8 - 2, then ~seq as
 * the last word.  len is rec_size, or the ring's buffer size if that is
 * smaller (a multiple of 64).
 *
 * Commands: KMBUF_TICK_CONFIG, _START and _STOP are ioctls whose argument
 * points to the command's structure, or IORING_OP_URING_CMDs whose
 * sqe->cmd holds a struct kmbuf_cmd (include/uapi/linux/kmbuf.h) with
 * @addr pointing to it and every other field 0; SQE fields no command
 * uses must be 0 (EINVAL).  The common KMBUF_CMD_* commands work as
 * documented there.  Every command but CONFIG fails with ENXIO on a file
 * that is not configured yet.  Unknown commands: ENOTTY.
 */
#ifndef _UAPI_LINUX_KMBUF_TICK_H
#define _UAPI_LINUX_KMBUF_TICK_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KMBUF_TICK_MAGIC	0xBC

/* Shortest period, in nanoseconds; largest record, in bytes. */
#define KMBUF_TICK_MIN_PERIOD	10000ULL
#define KMBUF_TICK_MAX_RECORD	65536
/* Most channels per file (KMBUF_MAX_STREAMS of the kmbuf core). */
#define KMBUF_TICK_MAX_CHANNELS	4096

/**
 * struct kmbuf_tick_rec - head of every record
 * @seq: record number in its channel, from 0; a gap is an overrun
 * @time_ns: CLOCK_MONOTONIC when the record was written
 * @channel: channel (stream) index
 * @len: bytes in the record, as in the CQE's res
 */
struct kmbuf_tick_rec {
	__le64	seq;
	__le64	time_ns;
	__le32	channel;
	__le32	len;
};

#define KMBUF_TICK_FILL		0x9e3779b97f4a7c15ULL

/* Word @i of every record, for 3 <= i < len / 8 - 1. */
static __inline__ __u64 kmbuf_tick_word(__u64 i)
{
	return KMBUF_TICK_FILL * i;
}

/**
 * struct kmbuf_tick_config - argument of KMBUF_TICK_CONFIG
 * @nr_channels: 1 to %KMBUF_TICK_MAX_CHANNELS
 * @rec_size: bytes per record, a multiple of 8 from 32 to
 *	%KMBUF_TICK_MAX_RECORD
 * @period_ns: timer period of every channel, %KMBUF_TICK_MIN_PERIOD to
 *	one second (1000000000)
 */
struct kmbuf_tick_config {
	__u32	nr_channels;
	__u32	rec_size;
	__u64	period_ns;
};

/**
 * struct kmbuf_tick_range - argument of KMBUF_TICK_START and _STOP
 * @first: first channel
 * @nr: number of channels, at least 1; @first + @nr <= nr_channels
 */
struct kmbuf_tick_range {
	__u32	first;
	__u32	nr;
};

/*
 * KMBUF_TICK_CONFIG: set up the channels; once per file.  Errors: EINVAL
 * (a field out of range), EBUSY (configured already), ENOMEM, EFAULT.
 */
#define KMBUF_TICK_CONFIG	_IOW(KMBUF_TICK_MAGIC, 0, struct kmbuf_tick_config)
/*
 * KMBUF_TICK_START / _STOP: start or stop the timers of a range of
 * channels; channels already in that state are left alone.  A channel
 * runs with or without a ring bound or a stream armed (every period is
 * then an overrun) until it is stopped or the file is closed; stopped and
 * started again it continues its seq.  Errors: EINVAL (range), ENXIO
 * (not configured), EFAULT.
 */
#define KMBUF_TICK_START	_IOW(KMBUF_TICK_MAGIC, 1, struct kmbuf_tick_range)
#define KMBUF_TICK_STOP		_IOW(KMBUF_TICK_MAGIC, 2, struct kmbuf_tick_range)

#endif /* _UAPI_LINUX_KMBUF_TICK_H */
