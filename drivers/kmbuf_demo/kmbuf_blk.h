/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __KMBUF_BLK_H
#define __KMBUF_BLK_H

#undef pr_fmt
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <uapi/linux/kmbuf_blk.h>

struct dentry;
struct io_uring_cmd;
struct kmbuf_ring;

/* Stripes of locks serialising the data and checksum of a block. */
#define KMBUF_BLK_NR_LOCKS	64

/**
 * struct kmbuf_blk_dev - one RAM disk
 * @disk: the gendisk, /dev/kmbufblk<index>, or /dev/kmbufblk-<lower> for
 *	a stacked disk
 * @tag_set: its blk-mq tag set (a RAM disk's)
 * @lower: a stacked disk's block device, opened exclusively: every bio of
 *	the disk and every READ and WRITE command goes to it, and its
 *	integrity profile generates protection information on writes and
 *	verifies it on reads; NULL for a RAM disk
 * @index: device number
 * @data: the disk's contents, @size bytes
 * @csum: one checksum per logical block
 * @size: capacity in bytes
 * @bs_shift: log2 of the logical block size
 * @locks: a block's data and checksum change under @locks[block % N]
 * @delay_ns: completion delay of every request (debugfs delay_us)
 * @dbg: debugfs directory
 * @nr_read: read requests completed
 * @nr_write: write requests completed
 * @nr_csum_err: blocks that failed verification
 * @nr_cmd: uring_cmd READ/WRITE submitted to the queue
 */
struct kmbuf_blk_dev {
	struct gendisk		*disk;
	struct blk_mq_tag_set	tag_set;
	struct file		*lower;
	unsigned int		index;
	u8			*data;
	u32			*csum;
	u64			size;
	unsigned int		bs_shift;
	spinlock_t		locks[KMBUF_BLK_NR_LOCKS];	/* data + csum */
	u32			delay_ns;
	struct dentry		*dbg;
	atomic64_t		nr_read;
	atomic64_t		nr_write;
	atomic64_t		nr_csum_err;
	atomic64_t		nr_cmd;
};

/* kmbuf_blk_cmd.c */
int kmbuf_blk_uring_cmd(struct block_device *bdev, struct io_uring_cmd *cmd,
			unsigned int issue_flags);
bool kmbuf_blk_uring_cmd_writes(u32 cmd_op);
void kmbuf_blk_release_file(struct block_device *bdev, struct file *file);
void kmbuf_blk_unbind_all(struct kmbuf_blk_dev *dev);

#endif /* __KMBUF_BLK_H */
