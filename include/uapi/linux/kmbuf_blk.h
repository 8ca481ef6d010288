/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmbuf_blk: a RAM-backed block device that keeps a CRC32C per logical
 * block and reads verified data into io_uring kernel-managed buffers
 * (kmbuf) that userspace can only map read-only.
 *
 * See Documentation/io_uring/kmbuf_blk.rst for the full description.
 *
 * The disks (/dev/kmbufblkN) are ordinary block devices: every write
 * updates the checksums of the blocks it covers and every read, whatever
 * its origin (page cache, O_DIRECT, these commands), is checked after the
 * data was copied into its destination.  A mismatch fails the read: with
 * EILSEQ through read(2), with EBADMSG through KMBUF_BLK_READ.
 *
 * The checksum of a block is ~crc32c(~0, data, block size), Castagnoli
 * polynomial, as the kernel's __crc32c_le() computes it.
 *
 * Commands: cmd_op values are ioctl numbers with magic KMBUF_BLK_MAGIC,
 * submitted as IORING_OP_URING_CMD on an open file of the disk, with a
 * 64-byte SQE.  The 16-byte sqe->cmd area holds a struct kmbuf_blk_cmd,
 * sqe->addr is a user pointer or a region offset as each command says,
 * sqe->len, sqe->ioprio and sqe->uring_cmd_flags must be 0.  Unknown
 * commands fail with ENOTTY, non-zero reserved fields with EINVAL.
 *
 * Access: the block layer checks it before anything else.  Every command
 * fails with EBADF on a file not open for reading (even an unknown one),
 * KMBUF_BLK_WRITE also on a file not open for writing.
 *
 * Like O_DIRECT, KMBUF_BLK_READ and KMBUF_BLK_WRITE bypass the page cache
 * of the block device and keep it coherent: a READ first writes back dirty
 * cached pages of its range, a WRITE writes back and drops them, so each
 * sees buffered writes made before it and buffered reads after a WRITE see
 * its data.
 */
#ifndef _UAPI_LINUX_KMBUF_BLK_H
#define _UAPI_LINUX_KMBUF_BLK_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KMBUF_BLK_MAGIC		0xBA

/* Largest KMBUF_BLK_READ or KMBUF_BLK_WRITE, and largest ring buffer. */
#define KMBUF_BLK_MAX_IO	(512U * 1024)
/* Most buffer ids one KMBUF_BLK_RETURN can give back. */
#define KMBUF_BLK_MAX_RETURN	256

/**
 * struct kmbuf_blk_cmd - payload of every kmbuf_blk uring_cmd (sqe->cmd)
 * @offset: KMBUF_BLK_READ, KMBUF_BLK_WRITE: byte offset on the device, a
 *	multiple of the logical block size; else 0
 * @len: KMBUF_BLK_READ, KMBUF_BLK_WRITE: bytes, a non-zero multiple of the
 *	logical block size, at most %KMBUF_BLK_MAX_IO;
 *	KMBUF_BLK_RETURN: number of buffer ids; else 0
 * @region_id: KMBUF_BLK_WRITE: id of the memory region holding the data;
 *	else 0
 * @flags: must be 0
 */
struct kmbuf_blk_cmd {
	__u64	offset;
	__u32	len;
	__u16	region_id;
	__u16	flags;
};

/**
 * struct kmbuf_blk_bind - argument of KMBUF_BLK_BIND
 * @region_id: id of a kernel-allocated memory region registered with
 *	IORING_MEM_REGION_RDONLY on the ring the command is submitted to
 * @flags: must be 0
 * @offset: byte offset of buffer 0 in the region, a multiple of 64
 * @buf_size: bytes per buffer, a multiple of 64, at most
 *	%KMBUF_BLK_MAX_IO
 * @nr_bufs: number of buffers, 1 to 65536; the buffers must fit in the
 *	region
 * @resv: must be 0
 *
 * Buffer @bid is bytes [@offset + @bid * @buf_size, + @buf_size) of the
 * region's read-only mapping.
 */
struct kmbuf_blk_bind {
	__u32	region_id;
	__u32	flags;
	__u64	offset;
	__u32	buf_size;
	__u32	nr_bufs;
	__u64	resv[2];
};

/*
 * KMBUF_BLK_BIND: sqe->addr points to struct kmbuf_blk_bind.  Builds a
 * kmbuf ring on the region and binds it to the open file, for
 * KMBUF_BLK_READ; it stays bound until KMBUF_BLK_UNBIND or until the file
 * is released.  The region (its memory and accounting) lives as long as
 * the binding, even past the io_uring instance.  The binding belongs to
 * the io_uring instance that made it: READ, RETURN and UNBIND submitted on
 * any other instance fail with EXDEV.  offset and buf_size must be
 * multiples of the disk's DMA alignment (queue/dma_alignment + 1, 512 for
 * kmbuf_blk) and of the kernel's kmbuf minimum.  Res 0.  EBUSY: the file
 * already has a ring, or another ring (of any driver, still bound, with
 * commands in flight, or unbound while userspace still held some of its
 * buffers) uses some of the same bytes of the region; ENOENT: no such
 * region; EACCES: the region is writable by userspace (not
 * IORING_MEM_REGION_RDONLY, or user memory); EINVAL: bad size, alignment,
 * count, range or reserved field, or a non-zero unused SQE field (len,
 * ioprio, buf_index, file_index, the word after cmd_op; the same holds for
 * every command); EOVERFLOW: the range overflows; EFAULT; ENOMEM.
 */
#define KMBUF_BLK_BIND		_IOW(KMBUF_BLK_MAGIC, 0, struct kmbuf_blk_bind)
/*
 * KMBUF_BLK_READ: read len bytes at device offset into one free buffer of
 * the file's ring; sqe->addr must be 0.  The data is written by the
 * kernel straight into the buffer and verified there against the stored
 * checksums.  Success: res = len, cqe->flags = IORING_CQE_F_BUFFER | bid
 * << IORING_CQE_BUFFER_SHIFT; the buffer belongs to userspace until
 * KMBUF_BLK_RETURN.  Failure: no buffer is consumed.  EBADMSG: a block's
 * checksum does not match its data; ENOBUFS: every buffer of the ring is
 * in use (in flight or held by userspace); ENXIO: no ring bound to the
 * file (or it was unbound meanwhile); EINVAL: len 0, offset or len not a
 * multiple of the logical block size, non-zero reserved field; ERANGE:
 * the range ends beyond the device; EMSGSIZE: len larger than the ring's
 * buffers; EXDEV: submitted on another io_uring instance than the one that
 * bound the ring; EIO: other I/O error.
 */
#define KMBUF_BLK_READ		_IO(KMBUF_BLK_MAGIC, 1)
/*
 * KMBUF_BLK_WRITE: write len bytes from memory region region_id, starting
 * at byte sqe->addr of the region, to device offset.  Any region of the
 * ring may be the source; the checksums are computed on the device's own
 * copy, so changing the source while the write runs cannot make them
 * wrong.  Res = len.  EBADF: the file is not open for both reading and
 * writing; EPERM: the device is read-only; ENOENT: no such region; EFAULT:
 * the source range is not inside the region; EINVAL, ERANGE, EMSGSIZE (len
 * above %KMBUF_BLK_MAX_IO): as for KMBUF_BLK_READ; EIO.
 */
#define KMBUF_BLK_WRITE		_IO(KMBUF_BLK_MAGIC, 2)
/*
 * KMBUF_BLK_RETURN: sqe->addr points to len __u32 buffer ids (1 <= len <=
 * %KMBUF_BLK_MAX_RETURN) that userspace got from KMBUF_BLK_READ CQEs and is
 * done with.  All or nothing.  Res len.  ENXIO: no ring bound; EINVAL: len
 * out of range, a bid out of range, reserved field non-zero; EALREADY: a
 * bid is not held by userspace (returned twice, never delivered, or
 * repeated in the batch); EXDEV: another io_uring instance; EFAULT.
 */
#define KMBUF_BLK_RETURN	_IO(KMBUF_BLK_MAGIC, 3)
/*
 * KMBUF_BLK_UNBIND: payload and sqe->addr must be 0.  Releases the file's
 * ring; reads already in flight still complete and name their buffer.
 * Buffers cannot be returned afterwards: if userspace holds any when the
 * ring's last read completes, the ring's bytes of the region stay reserved
 * (no ring of any driver can be built over them, so the verified data
 * cannot change) until the region is released with its io_uring instance.
 * Return every buffer first to bind the same bytes again.  Res 0.  ENXIO:
 * no ring bound; EXDEV: another io_uring instance.
 */
#define KMBUF_BLK_UNBIND	_IO(KMBUF_BLK_MAGIC, 4)

#endif /* _UAPI_LINUX_KMBUF_BLK_H */
