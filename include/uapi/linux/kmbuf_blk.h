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

/**
 * struct kmbuf_blk_cmd - payload of every kmbuf_blk uring_cmd (sqe->cmd)
 * @offset: KMBUF_BLK_READ, KMBUF_BLK_WRITE: byte offset on the device, a
 *	multiple of the logical block size; else 0
 * @len: KMBUF_BLK_READ, KMBUF_BLK_WRITE: bytes, a non-zero multiple of the
 *	logical block size, at most %KMBUF_BLK_MAX_IO
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

/*
 * kmbuf ring: every open file of the disk is a kmbuf port without streams
 * and takes the common commands of <linux/kmbuf.h>.  KMBUF_CMD_BIND builds
 * the file's ring, for KMBUF_BLK_READ: it needs a kernel-allocated region
 * registered with IORING_MEM_REGION_RDONLY (EACCES otherwise), buffers of
 * at most %KMBUF_BLK_MAX_IO bytes (EINVAL), and offset and buf_size that
 * are multiples of the disk's DMA alignment (queue/dma_alignment + 1, 512
 * for kmbuf_blk) as well as of the kmbuf minimum.  The ring stays bound
 * until KMBUF_CMD_UNBIND or until the file is released; its region (its
 * memory and accounting) lives as long, even past the io_uring instance.
 * KMBUF_CMD_RETURN (or the refill ring) gives buffers back.
 * KMBUF_CMD_ARM fails with EINVAL (no streams).  After UNBIND, reads in
 * flight still complete and name their buffer; buffers userspace still
 * holds can't be returned, and their bytes of the region stay reserved (no
 * ring of any driver can be built over them, so the verified data cannot
 * change) until the region is released with its io_uring instance.
 * Return every buffer first to bind the same bytes again.
 *
 * Unused SQE fields must be 0 for kmbuf_blk's own commands too (EINVAL):
 * len, ioprio, buf_index, file_index, the word after cmd_op.
 */
/*
 * KMBUF_BLK_READ: read len bytes at device offset into one free buffer of
 * the file's ring; sqe->addr must be 0.  The data is written by the
 * kernel (or, on a stacked disk, the device) straight into the buffer and
 * verified there against the stored checksums (or the protection
 * information) before the CQE.  Success: res = len, cqe->flags =
 * IORING_CQE_F_BUFFER | bid << IORING_CQE_BUFFER_SHIFT; the buffer belongs
 * to userspace until it returns it.  Failure: no buffer is consumed.
 * EBADMSG: a block's checksum does not match its data (stacked: the PI
 * check failed); ENOBUFS: every buffer of the ring is in use (in flight
 * or held by userspace); ENXIO: no ring bound to the
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
 * ring may be the source.  On the RAM disk the checksums are computed on
 * the device's own copy, so changing the source while the write runs
 * cannot make them wrong.  On a disk stacked on a device with protection
 * information, the PI is computed on the source before the device reads
 * it: a source changed meanwhile (only possible in a writable region)
 * can make the device reject the write (EBADMSG); a read-only region is
 * a stable source.
 * Res = len.  EBADF: the file is not open for both reading and writing;
 * EPERM: the device is read-only; ENOENT: no such region; EFAULT: the
 * source range is not inside the region; EINVAL, ERANGE, EMSGSIZE (len
 * above %KMBUF_BLK_MAX_IO): as for KMBUF_BLK_READ; EIO or another I/O
 * error of the device.
 */
#define KMBUF_BLK_WRITE		_IO(KMBUF_BLK_MAGIC, 2)
/* Numbers 0, 3 and 4 (the disk's own BIND, RETURN, UNBIND) are not used. */

#endif /* _UAPI_LINUX_KMBUF_BLK_H */
