/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmbuf_chr: a record-stream character device that delivers data through
 * io_uring kernel-managed buffer rings (kmbuf).
 *
 * See Documentation/io_uring/kmbuf_chr.rst for the full description.
 *
 * Each open file reads records in one of three modes, chosen with
 * KMBUF_CHR_SET_MODE:
 *
 * KMBUF_CHR_MODE_QUEUE (default): every write(2) is one record, appended
 *	to a bounded FIFO queue of the user who opened the file (its
 *	effective uid at open(2)).  All files opened by one user share that
 *	user's queue; files of different users never see each other's
 *	records (a user shares by passing an open file).  A queue and its
 *	records go away with the last file of its user.  Each record is
 *	delivered intact and exactly once, to one reader, in FIFO order.
 * KMBUF_CHR_MODE_GEN: the file generates sequence-numbered records of a
 *	fixed size at full speed (see kmbuf_chr_gen_word()), for tests and
 *	benchmarks.
 * KMBUF_CHR_MODE_PATTERN: the file reads an endless byte stream in which
 *	the 64-bit little-endian word at stream offset 8 * n holds n (see
 *	kmbuf_chr_pattern_byte()); reads are not record oriented.
 *
 * In the record modes read(2) and io_uring reads return exactly one record
 * per call, or fail with EMSGSIZE (leaving the record queued) if the
 * buffer is too small for it.  EFAULT puts a queued record back at the
 * head of its queue (a concurrent reader of the same queue may meanwhile
 * have taken the one after it); a generator record is used up (the next
 * read gets the next number).  Concurrent reads of one pattern-mode file
 * get disjoint pieces of the stream.
 *
 * kmbuf delivery: every file is a kmbuf port with one stream (index 0) and
 * takes the common commands of <linux/kmbuf.h>: KMBUF_CMD_BIND binds a
 * kmbuf ring (buffers of at most KMBUF_CHR_MAX_RECORD bytes), KMBUF_CMD_ARM
 * delivers one record per CQE into its buffers, KMBUF_CMD_RETURN and the
 * refill ring give buffers back, KMBUF_CMD_UNBIND (or close) unbinds.  A
 * record larger than a buffer ends the armed command with EMSGSIZE (the
 * record stays queued).  In queue mode an empty queue pauses delivery
 * until the next write.
 *
 * Commands: cmd_op values are ioctl numbers with magic KMBUF_CHR_MAGIC.
 * Submitted as IORING_OP_URING_CMD, the 16-byte sqe->cmd area holds a
 * struct kmbuf_chr_cmd.  KMBUF_CHR_SET_MODE and KMBUF_CHR_MEMCPY are also
 * available through ioctl(2), whose argument then points directly to the
 * command's structure.  Unknown commands fail with ENOTTY, non-zero
 * reserved fields with EINVAL.  SQE fields no command uses must be 0
 * (EINVAL): ioprio, addr, len, buf_index, file_index, the
 * IORING_URING_CMD_FIXED flag, and on an IORING_SETUP_SQE128 ring the
 * command area after struct kmbuf_chr_cmd.
 *
 * Non-blocking I/O: read(2) and write(2) with O_NONBLOCK, and reads and
 * writes with RWF_NOWAIT (IOCB_NOWAIT), never sleep: EAGAIN on an empty
 * queue (read) or a full one (write).  io_uring READ and WRITE without
 * RWF_NOWAIT wait for a record or for room even on an O_NONBLOCK file, as
 * for pipes and sockets: io_uring retries when poll(2) reports the file
 * ready.  Pass RWF_NOWAIT (sqe->rw_flags) to get EAGAIN instead.
 */
#ifndef _UAPI_LINUX_KMBUF_CHR_H
#define _UAPI_LINUX_KMBUF_CHR_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KMBUF_CHR_MAGIC		0xB9

/* Largest record, in bytes; a longer write(2) fails with EMSGSIZE. */
#define KMBUF_CHR_MAX_RECORD	65536
/* Records a user's queue holds before writers block (or get EAGAIN). */
#define KMBUF_CHR_QUEUE_LEN	256

/**
 * struct kmbuf_chr_cmd - payload of every kmbuf_chr uring_cmd
 * @addr: user pointer to the command's argument, or 0 (see each command)
 * @nr: must be 0
 * @flags: must be 0
 */
struct kmbuf_chr_cmd {
	__u64	addr;
	__u32	nr;
	__u32	flags;
};

/* File modes, struct kmbuf_chr_mode.mode */
#define KMBUF_CHR_MODE_QUEUE	0
#define KMBUF_CHR_MODE_GEN	1
#define KMBUF_CHR_MODE_PATTERN	2

/**
 * struct kmbuf_chr_mode - argument of KMBUF_CHR_SET_MODE
 * @mode: KMBUF_CHR_MODE_*
 * @rec_size: KMBUF_CHR_MODE_GEN: bytes per record, a multiple of 8 from
 *	16 to KMBUF_CHR_MAX_RECORD; otherwise must be 0
 * @start_seq: KMBUF_CHR_MODE_GEN: sequence number of the next record;
 *	otherwise must be 0
 */
struct kmbuf_chr_mode {
	__u32	mode;
	__u32	rec_size;
	__u64	start_seq;
};

/**
 * struct kmbuf_chr_memcpy - argument of KMBUF_CHR_MEMCPY
 * @rec_size: bytes per copy, 1 to KMBUF_CHR_MAX_RECORD
 * @resv: must be 0
 * @count: number of copies, 1 to 2^24
 * @ns: out: nanoseconds the copies took
 */
struct kmbuf_chr_memcpy {
	__u32	rec_size;
	__u32	resv;
	__u64	count;
	__u64	ns;
};

/*
 * KMBUF_CHR_SET_MODE: uring_cmd (addr points to struct kmbuf_chr_mode) or
 * ioctl.  Res 0.  EINVAL: bad mode, size or reserved field; EBUSY: the
 * file's stream is armed (KMBUF_CMD_ARM in flight).
 */
#define KMBUF_CHR_SET_MODE	_IOW(KMBUF_CHR_MAGIC, 0, struct kmbuf_chr_mode)
/*
 * Numbers 1 to 4 (the file's own BIND, RECV, RETURN and UNBIND before the
 * common commands) are not used.
 */
/*
 * KMBUF_CHR_MEMCPY: ioctl only.  memcpy()s rec_size bytes count times
 * between two kernel buffers and reports the time taken: the in-kernel
 * copy ceiling benchmarks compare the delivery paths with.  EPERM: the
 * caller lacks CAP_SYS_ADMIN; EINVAL: bad size, count or reserved field;
 * EINTR: a fatal signal is pending.
 */
#define KMBUF_CHR_MEMCPY	_IOWR(KMBUF_CHR_MAGIC, 5, struct kmbuf_chr_memcpy)

/* Byte @off of the KMBUF_CHR_MODE_PATTERN stream. */
static inline __u8 kmbuf_chr_pattern_byte(__u64 off)
{
	return (__u8)((off >> 3) >> (8 * (off & 7)));
}

/*
 * KMBUF_CHR_MODE_GEN records: 64-bit little-endian words.  Word 0 holds
 * the sequence number, the last word its complement, and word i in between
 * holds KMBUF_CHR_GEN_FILL * i, so a reader detects lost, duplicated,
 * reordered, truncated and stale records.
 */
#define KMBUF_CHR_GEN_FILL	0x9e3779b97f4a7c15ULL

/* Expected word @i of a @rec_size byte generator record @seq. */
static inline __u64 kmbuf_chr_gen_word(__u64 seq, __u32 rec_size, __u32 i)
{
	if (i == 0)
		return seq;
	if (i == rec_size / 8 - 1)
		return ~seq;
	return KMBUF_CHR_GEN_FILL * i;
}

#endif /* _UAPI_LINUX_KMBUF_CHR_H */
