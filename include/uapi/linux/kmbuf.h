/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmbuf: the io_uring commands every consumer of kernel-managed buffer
 * rings understands.
 *
 * A consumer is a driver whose files (or devices, queues, connections)
 * deliver data into the buffers of a kmbuf ring built on an io_uring memory
 * region.  Each such file is a "port": userspace binds one ring to it,
 * arms one or more of its "streams" with a multishot command, reads the
 * data in place at region + offset + bid * buf_size when a CQE names
 * buffer bid, and gives buffers back.  The same four commands, with the
 * same arguments and the same errors, work on every consumer; a consumer's
 * own uapi only adds what is specific to it (see its header).
 *
 * Every command is an IORING_OP_URING_CMD on the consumer's file with
 * cmd_op one of the KMBUF_CMD_* values below and a struct kmbuf_cmd in the
 * first 16 bytes of sqe->cmd.  SQE fields no command uses must be 0, or
 * the command fails with EINVAL: ioprio, addr, len, buf_index,
 * file_index, uring_cmd_flags other than IORING_URING_CMD_MULTISHOT (ARM
 * only), and on an IORING_SETUP_SQE128 ring the command area after struct
 * kmbuf_cmd.  Reserved fields and flags must be 0 (EINVAL).
 *
 * A ring bound to a port belongs to the io_uring instance the BIND was
 * submitted on (the one whose region it is built on): ARM, RETURN and
 * UNBIND submitted on any other io_uring instance fail with EXDEV,
 * whoever holds the file.
 *
 * Errors common to all commands: EINVAL (bad argument, see each command),
 * EFAULT (@addr unreadable), ENXIO (no ring bound), EXDEV (another
 * io_uring instance), ENOMEM, ENOTTY (cmd_op is not a command of this
 * file).  See Documentation/io_uring/kmbuf.rst.
 */
#ifndef _UAPI_LINUX_KMBUF_H
#define _UAPI_LINUX_KMBUF_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KMBUF_CMD_MAGIC		0xBB

/* Most buffers in a ring; a buffer id is 16 bits (IORING_CQE_BUFFER_SHIFT). */
#define KMBUF_MAX_RING_BUFS	65536

/**
 * struct kmbuf_cmd - payload of every KMBUF_CMD_* command, in sqe->cmd
 * @addr: user pointer to the command's argument, or 0 (see each command)
 * @nr: number of elements at @addr (KMBUF_CMD_RETURN), else 0
 * @stream: stream index (KMBUF_CMD_ARM), else 0
 * @flags: must be 0
 */
struct kmbuf_cmd {
	__u64	addr;
	__u32	nr;
	__u16	stream;
	__u16	flags;
};

/* struct kmbuf_bind.flags: returns also come through a refill ring */
#define KMBUF_BIND_REFILL	(1U << 0)

/**
 * struct kmbuf_bind - argument of KMBUF_CMD_BIND
 * @region_id: id of the io_uring memory region the buffers live in
 * @flags: 0 or %KMBUF_BIND_REFILL
 * @offset: byte offset of buffer 0 in the region
 * @buf_size: bytes per buffer
 * @nr_bufs: number of buffers, 1 to %KMBUF_MAX_RING_BUFS
 * @refill_region: with %KMBUF_BIND_REFILL, id of a writable region (may be
 *	@region_id if that one is writable) holding the refill ring, else 0
 * @refill_entries: with %KMBUF_BIND_REFILL, entries in the refill ring, a
 *	power of two from 1 to %KMBUF_MAX_RING_BUFS, else 0
 * @refill_offset: with %KMBUF_BIND_REFILL, byte offset of the refill ring
 *	(struct kmbuf_refill) in its region, a multiple of 64, else 0
 * @resv: must be 0
 *
 * @offset and @buf_size must be multiples of the ring's alignment: 64
 * bytes, more on architectures with a larger DMA cache alignment, more
 * for consumers whose device needs it (see the consumer's documentation).
 */
struct kmbuf_bind {
	__u32	region_id;
	__u32	flags;
	__u64	offset;
	__u32	buf_size;
	__u32	nr_bufs;
	__u32	refill_region;
	__u32	refill_entries;
	__u64	refill_offset;
	__u64	resv;
};

/* struct kmbuf_refill.flags: the kernel waits for a KMBUF_CMD_RETURN */
#define KMBUF_REFILL_NEED_WAKEUP	(1U << 0)

/**
 * struct kmbuf_refill - header of a refill ring, in a writable region
 * @head: next entry the kernel reads; written by the kernel only
 * @tail: one past the last entry userspace wrote; written by userspace
 *	only, with release semantics, after the entries it covers
 * @flags: written by the kernel: %KMBUF_REFILL_NEED_WAKEUP
 * @resv: written by neither
 * @bids: buffer ids, @refill_entries of them; entry n is @bids[n & mask]
 *
 * Instead of a KMBUF_CMD_RETURN, userspace writes the id of a buffer it is
 * done with at bids[tail & (entries - 1)] and then increments @tail (free
 * running; it wraps at 2^32).  The kernel reads the entries up to @tail
 * when it needs buffers (before it counts the ring as exhausted) and
 * advances @head.  At most @refill_entries entries may be outstanding
 * (tail - head); the kernel reads no more than that many per pass.  An id that
 * is out of range or that userspace does not hold (a duplicate, one never
 * handed out or already free) is skipped and counted (fdinfo
 * kmbuf_refill_bad), never trusted.  Both forms of return may be mixed.
 *
 * The kernel reads the refill ring only when it runs.  When a stream
 * found no buffer, even after reading the refill ring, it sets
 * %KMBUF_REFILL_NEED_WAKEUP and waits: userspace, after bumping @tail,
 * issues a full memory barrier, reads @flags and, if the flag is set,
 * submits a KMBUF_CMD_RETURN with @nr = 0, which reads the refill ring and
 * restarts the waiting streams.  (AF_XDP's fill ring works the same way.)
 * BIND sets @head to @tail and clears @flags.
 */
struct kmbuf_refill {
	__u32	head;
	__u32	tail;
	__u32	flags;
	__u32	resv[13];
	__u32	bids[];
};

/*
 * KMBUF_CMD_BIND: build a ring from @addr's struct kmbuf_bind on the
 * region of the io_uring instance the command is submitted on and bind it
 * to the file.  @nr, @stream, @flags: 0.  All buffers start free.
 * Errors: ENOENT (no such region), EINVAL (geometry, alignment, range
 * outside the region, bad refill ring), EOVERFLOW (offset + size of the
 * buffers does not fit 64 bits), EBUSY (a ring is already bound,
 * or the range overlaps bytes another ring of the region still owns),
 * EACCES (the consumer needs a kind of region this is not, e.g. a
 * kernel-allocated read-only one for verified data; or a read-only
 * region for the refill ring), EFAULT, ENOMEM.
 */
#define KMBUF_CMD_BIND		_IOW(KMBUF_CMD_MAGIC, 0, struct kmbuf_bind)
/*
 * KMBUF_CMD_ARM: multishot (IORING_URING_CMD_MULTISHOT required, else
 * EINVAL): deliver the data of stream @stream into free buffers, one CQE
 * per record, res = length, flags IORING_CQE_F_BUFFER | bid <<
 * IORING_CQE_BUFFER_SHIFT | IORING_CQE_F_MORE.  @addr, @nr, @flags: 0.
 * When the ring has no free buffer the command waits for one; it never
 * ends because of that.  The final CQE (no F_MORE) never carries a
 * buffer; its res is 0 (the consumer ended the stream), ECANCELED
 * (UNBIND, IORING_OP_ASYNC_CANCEL, ring or task exit), EOVERFLOW (the
 * CQ ring was full: nothing is lost, the record that did not fit is the
 * first one the next ARM posts) or an error of the consumer.
 * Errors at submission: EINVAL (no MULTISHOT flag, IOSQE_CQE_SKIP_SUCCESS,
 * @stream out of range), EBUSY (the stream is armed already), ENXIO,
 * EXDEV.
 */
#define KMBUF_CMD_ARM		_IO(KMBUF_CMD_MAGIC, 1)
/*
 * KMBUF_CMD_RETURN: give back the @nr buffer ids (__u32 each) at @addr,
 * all or nothing.  @nr: 1 to the ring's buffer count; or 0 with @addr 0
 * on a ring with a refill ring: read the refill ring now (see struct
 * kmbuf_refill), res = the number of buffers it returned.  @stream,
 * @flags: 0.  res = @nr.  Errors: EINVAL (@nr, an id out of range, @nr
 * 0 without a refill ring), EALREADY (an id userspace does not hold:
 * already returned, never handed out, repeated in the batch; no buffer
 * changes owner then), ENXIO, EXDEV.
 */
#define KMBUF_CMD_RETURN	_IO(KMBUF_CMD_MAGIC, 2)
/*
 * KMBUF_CMD_UNBIND: unbind and destroy the ring.  Armed streams end with
 * ECANCELED; buffers userspace holds stay readable, in place, until the
 * region goes (no other ring can be built over them meanwhile).  @addr,
 * @nr, @stream, @flags: 0.  Errors: ENXIO, EXDEV.  Closing the file
 * unbinds too.
 */
#define KMBUF_CMD_UNBIND	_IO(KMBUF_CMD_MAGIC, 3)

#endif /* _UAPI_LINUX_KMBUF_H */
