// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_blk io_uring passthrough: verified reads into kmbuf buffers.
 *
 * A file of the disk binds a kmbuf ring built on a read-only memory region
 * (KMBUF_BLK_BIND).  KMBUF_BLK_READ takes a free buffer, points a bio at
 * the buffer's region pages (kmbuf_buf_bvec(): no user page is pinned, the
 * pages were allocated by the kernel when the region was registered) and
 * submits it to the disk's own queue, where the data is copied in and its
 * checksum checked on the buffer itself.  Userspace can map the region
 * only read-only, so the verified bytes are the bytes it reads.  The bio
 * completes in whatever context the queue completes requests (a timer
 * interrupt with delay_us set), and the command is finished from task
 * work: the buffer goes to userspace with the CQE, or back to the ring on
 * error.
 *
 * Lifetimes: a command in flight holds its own reference to the ring (or,
 * for KMBUF_BLK_WRITE, to the source region) and io_uring holds the file,
 * so neither UNBIND, the ring's exit nor close() can free what the
 * completion still uses.  The binding goes when the file is released; the
 * module can't go while any file of the disk is open.
 */
#include "kmbuf_blk.h"

#include <linux/bio.h>
#include <linux/fs.h>
#include <linux/io_uring/cmd.h>
#include <linux/io_uring/kmbuf.h>
#include <linux/io_uring/region.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

/* A ring bound to an open file of a disk, on kmbuf_blk_binds. */
struct kmbuf_blk_binding {
	struct list_head	node;
	struct kmbuf_blk_dev	*dev;
	struct file		*file;	/* the key; never dereferenced */
	struct kmbuf_ring	*ring;
	u32			buf_size;
};

/*
 * Every binding of every disk.  Verified data must not change under its
 * reader, so no other ring may write into our buffers: the kmbuf core
 * refuses a ring over bytes of a region another ring still owns, whichever
 * driver built it (-EBUSY from kmbuf_ring_create()).
 */
static DEFINE_SPINLOCK(kmbuf_blk_bind_lock);
static LIST_HEAD(kmbuf_blk_binds);

/*
 * Per-command state of KMBUF_BLK_READ and _WRITE, in io_uring_cmd::pdu:
 * everything needed to build the bio again if it has to be resubmitted.
 */
struct kmbuf_blk_pdu {
	union {
		struct kmbuf_ring	*ring;		/* READ */
		struct io_uring_region	*region;	/* WRITE */
	};
	u64			pos;	/* device byte offset */
	union {
		u64			src;	/* WRITE: offset in region */
		u16			bid;	/* READ: the buffer taken */
	};
	u32			len;
	bool			write;
	bool			nowait;
	blk_status_t		status;
};

static struct kmbuf_blk_binding *kmbuf_blk_find_locked(struct file *file)
{
	struct kmbuf_blk_binding *b;

	lockdep_assert_held(&kmbuf_blk_bind_lock);
	list_for_each_entry(b, &kmbuf_blk_binds, node)
		if (b->file == file)
			return b;
	return NULL;
}

/* The file's ring with a reference for the caller, or NULL. */
static struct kmbuf_ring *kmbuf_blk_file_ring(struct file *file,
					      u32 *buf_size)
{
	struct kmbuf_blk_binding *b;
	struct kmbuf_ring *ring = NULL;

	spin_lock(&kmbuf_blk_bind_lock);
	b = kmbuf_blk_find_locked(file);
	if (b) {
		ring = kmbuf_ring_get(b->ring);
		*buf_size = b->buf_size;
	}
	spin_unlock(&kmbuf_blk_bind_lock);
	return ring;
}

static struct kmbuf_blk_binding *kmbuf_blk_detach(struct file *file)
{
	struct kmbuf_blk_binding *b;

	spin_lock(&kmbuf_blk_bind_lock);
	b = kmbuf_blk_find_locked(file);
	if (b)
		list_del(&b->node);
	spin_unlock(&kmbuf_blk_bind_lock);
	return b;
}

static void kmbuf_blk_binding_free(struct kmbuf_blk_binding *b)
{
	/* commands in flight keep their own ring reference */
	kmbuf_ring_destroy(b->ring);
	kfree(b);
}

static int kmbuf_blk_bind(struct kmbuf_blk_dev *dev, struct io_uring_cmd *cmd,
			  u64 uaddr)
{
	struct kmbuf_ring_desc desc = { };
	struct io_uring_region *region;
	struct kmbuf_blk_binding *b;
	struct kmbuf_blk_bind arg;
	struct kmbuf_ring *ring;
	bool busy;
	int ret;

	if (copy_from_user(&arg, u64_to_user_ptr(uaddr), sizeof(arg)))
		return -EFAULT;
	if (arg.flags || !mem_is_zero(arg.resv, sizeof(arg.resv)))
		return -EINVAL;
	if (arg.buf_size > KMBUF_BLK_MAX_IO)
		return -EINVAL;

	spin_lock(&kmbuf_blk_bind_lock);
	busy = kmbuf_blk_find_locked(cmd->file);
	spin_unlock(&kmbuf_blk_bind_lock);
	if (busy)
		return -EBUSY;

	region = io_uring_cmd_region_get(cmd, arg.region_id);
	if (IS_ERR(region))
		return PTR_ERR(region);
	/* the point of the driver: data userspace can't change once checked */
	if (!region->read_only || region->user_memory) {
		ret = -EACCES;
		goto put_region;
	}
	b = kzalloc(sizeof(*b), GFP_KERNEL_ACCOUNT);
	if (!b) {
		ret = -ENOMEM;
		goto put_region;
	}
	desc.region_id = arg.region_id;
	desc.offset = arg.offset;
	desc.buf_size = arg.buf_size;
	desc.nr_bufs = arg.nr_bufs;
	/* bios point straight at the buffers: the queue's DMA alignment */
	desc.align = bdev_dma_alignment(file_bdev(cmd->file)) + 1;
	ring = kmbuf_ring_create(region, &desc);
	if (IS_ERR(ring)) {
		ret = PTR_ERR(ring);
		goto free_binding;
	}
	/* the ring owns the region reference from here on */
	b->dev = dev;
	b->file = cmd->file;
	b->ring = ring;
	b->buf_size = arg.buf_size;

	spin_lock(&kmbuf_blk_bind_lock);
	/* a concurrent BIND on the same file */
	busy = kmbuf_blk_find_locked(cmd->file);
	if (!busy)
		list_add(&b->node, &kmbuf_blk_binds);
	spin_unlock(&kmbuf_blk_bind_lock);
	if (busy) {
		kmbuf_blk_binding_free(b);
		return -EBUSY;
	}
	return 0;

free_binding:
	kfree(b);
put_region:
	io_uring_region_put(region);
	return ret;
}

static int kmbuf_blk_check_io(struct kmbuf_blk_dev *dev, u64 off, u32 len)
{
	u32 mask = (1U << dev->bs_shift) - 1;

	if (!len || (off & mask) || (len & mask))
		return -EINVAL;
	if (len > KMBUF_BLK_MAX_IO)
		return -EMSGSIZE;
	if (off >= dev->size || len > dev->size - off)
		return -ERANGE;
	return 0;
}

/*
 * Commands bypass the disk's page cache, as O_DIRECT does, and keep it
 * coherent the same way: dirty cached pages of the range are written back
 * before a READ reads the disk, and before a WRITE the range's cached
 * pages are written back and dropped (again after it, see
 * kmbuf_blk_cmd_done()), so buffered readers see what was written.  With
 * @nowait, -EAGAIN if that would block: io_uring retries from io-wq.
 */
static int kmbuf_blk_sync_cache(struct file *file, u64 pos, u32 len,
				bool write, bool nowait)
{
	struct kiocb kiocb;

	if (!file->f_mapping->nrpages)
		return 0;
	init_sync_kiocb(&kiocb, file);
	kiocb.ki_pos = pos;
	if (nowait)
		kiocb.ki_flags |= IOCB_NOWAIT;
	if (write)
		return kiocb_invalidate_pages(&kiocb, len);
	return kiocb_write_and_wait(&kiocb, len);
}

static void kmbuf_blk_end_io(struct bio *bio);

/*
 * Build the command's bio from its pdu and submit it.  With @nowait the
 * bio may fail with BLK_STS_AGAIN instead of waiting for a free tag; the
 * completion then submits it again, allowed to wait.
 */
static int kmbuf_blk_submit(struct kmbuf_blk_dev *dev,
			    struct io_uring_cmd *cmd, bool nowait)
{
	struct kmbuf_blk_pdu *pdu = io_uring_cmd_to_pdu(cmd,
							struct kmbuf_blk_pdu);
	struct block_device *bdev = file_bdev(cmd->file);
	gfp_t gfp = nowait ? GFP_NOWAIT : GFP_KERNEL;
	blk_opf_t opf = nowait ? REQ_NOWAIT : 0;
	struct bio *bio;
	int nr;

	pdu->nowait = nowait;
	if (pdu->write) {
		struct io_uring_region *region = pdu->region;
		u64 pos = pdu->src, end = pdu->src + pdu->len;

		bio = bio_alloc(bdev, DIV_ROUND_UP(offset_in_page(pos) +
						   pdu->len, PAGE_SIZE),
				REQ_OP_WRITE | opf, gfp);
		if (!bio)
			return nowait ? -EAGAIN : -ENOMEM;
		while (pos < end) {
			unsigned int off = offset_in_page(pos);
			unsigned int n = min_t(u64, end - pos, PAGE_SIZE - off);

			__bio_add_page(bio, region->pages[pos >> PAGE_SHIFT], n,
				       off);
			pos += n;
		}
	} else {
		/* one request per command: a bad block fails only this one */
		/* len bytes touch at most one page more than len / PAGE_SIZE */
		nr = min(kmbuf_ring_max_segs(pdu->ring),
			 DIV_ROUND_UP(pdu->len, PAGE_SIZE) + 1);
		bio = bio_alloc(bdev, nr, REQ_OP_READ | REQ_NOMERGE | opf,
				gfp);
		if (!bio)
			return nowait ? -EAGAIN : -ENOMEM;
		/* the buffer's pages are the region's: nothing to pin */
		nr = kmbuf_buf_bvec(pdu->ring, pdu->bid, pdu->len,
				    bio->bi_io_vec, bio->bi_max_vecs);
		if (nr <= 0) {
			bio_put(bio);
			return nr ? nr : -EINVAL;
		}
		bio->bi_vcnt = nr;
		bio->bi_iter.bi_size = pdu->len;
	}
	bio->bi_iter.bi_sector = pdu->pos >> SECTOR_SHIFT;
	bio->bi_private = cmd;
	bio->bi_end_io = kmbuf_blk_end_io;
	atomic64_inc(&dev->nr_cmd);
	submit_bio(bio);
	return 0;
}

/* Give back what a READ or WRITE holds; returns the CQE flags to post. */
static u32 kmbuf_blk_cmd_release(struct kmbuf_blk_pdu *pdu, int *res)
{
	u32 cflags = 0;

	if (pdu->write) {
		io_uring_region_put(pdu->region);
		return 0;
	}
	if (*res >= 0 && !kmbuf_buf_to_user(pdu->ring, pdu->bid)) {
		cflags = kmbuf_cqe_flags(pdu->bid);
	} else {
		kmbuf_buf_put(pdu->ring, pdu->bid);
		if (*res >= 0)
			*res = -EIO;
	}
	kmbuf_ring_put(pdu->ring);
	return cflags;
}

/* Task work after the bio completed: post the CQE, or resubmit. */
static void kmbuf_blk_cmd_done(struct io_uring_cmd *cmd,
			       unsigned int issue_flags)
{
	struct kmbuf_blk_pdu *pdu = io_uring_cmd_to_pdu(cmd,
							struct kmbuf_blk_pdu);
	struct kmbuf_blk_dev *dev;
	int res = pdu->len;
	u32 cflags;

	if (pdu->status == BLK_STS_AGAIN && pdu->nowait) {
		/* the queue was full: again, this time allowed to wait */
		dev = file_bdev(cmd->file)->bd_disk->private_data;
		res = kmbuf_blk_submit(dev, cmd, false);
		if (!res)
			return;
	} else if (pdu->status == BLK_STS_PROTECTION) {
		res = -EBADMSG;
	} else if (pdu->status) {
		res = blk_status_to_errno(pdu->status);
	} else if (pdu->write && cmd->file->f_mapping->nrpages) {
		/*
		 * A buffered read may have cached the old data meanwhile.  As
		 * after an O_DIRECT write, a page that can't be dropped (dirtied
		 * again) stays: the written data is on the disk either way.
		 */
		invalidate_inode_pages2_range(cmd->file->f_mapping,
					      pdu->pos >> PAGE_SHIFT,
					      (pdu->pos + pdu->len - 1) >>
					      PAGE_SHIFT);
	}
	cflags = kmbuf_blk_cmd_release(pdu, &res);
	io_uring_cmd_done_cflags(cmd, res, 0, cflags, issue_flags);
}

/* Runs in the queue's completion context, possibly hard interrupt. */
static void kmbuf_blk_end_io(struct bio *bio)
{
	struct io_uring_cmd *cmd = bio->bi_private;
	struct kmbuf_blk_pdu *pdu = io_uring_cmd_to_pdu(cmd,
							struct kmbuf_blk_pdu);

	pdu->status = bio->bi_status;
	bio_put(bio);
	io_uring_cmd_complete_in_task(cmd, kmbuf_blk_cmd_done);
}

static int kmbuf_blk_read(struct kmbuf_blk_dev *dev, struct io_uring_cmd *cmd,
			  u64 pos, u32 len, unsigned int issue_flags)
{
	struct kmbuf_blk_pdu *pdu = io_uring_cmd_to_pdu(cmd,
							struct kmbuf_blk_pdu);
	struct kmbuf_ring *ring;
	struct kmbuf_buf buf;
	u32 buf_size;
	int ret;

	ret = kmbuf_blk_check_io(dev, pos, len);
	if (ret)
		return ret;
	ret = kmbuf_blk_sync_cache(cmd->file, pos, len, false,
				   issue_flags & IO_URING_F_NONBLOCK);
	if (ret)
		return ret;
	ring = kmbuf_blk_file_ring(cmd->file, &buf_size);
	if (!ring)
		return -ENXIO;
	/* only the io_uring that bound the ring maps its buffers */
	ret = kmbuf_ring_check_cmd(ring, cmd);
	if (ret)
		goto put_ring;
	if (len > buf_size) {
		ret = -EMSGSIZE;
		goto put_ring;
	}
	ret = kmbuf_buf_take(ring, &buf);
	if (ret) {
		/* -ENOBUFS: all in use; -ESHUTDOWN: unbound meanwhile */
		if (ret == -ESHUTDOWN)
			ret = -ENXIO;
		goto put_ring;
	}

	pdu->ring = ring;
	pdu->pos = pos;
	pdu->bid = buf.bid;
	pdu->len = len;
	pdu->write = false;
	ret = kmbuf_blk_submit(dev, cmd, issue_flags & IO_URING_F_NONBLOCK);
	if (ret)
		goto put_buf;
	return -EIOCBQUEUED;

put_buf:
	kmbuf_buf_put(ring, buf.bid);
put_ring:
	kmbuf_ring_put(ring);
	return ret;
}

static int kmbuf_blk_write(struct kmbuf_blk_dev *dev,
			   struct block_device *bdev,
			   struct io_uring_cmd *cmd,
			   const struct kmbuf_blk_cmd *c, u64 src,
			   unsigned int issue_flags)
{
	struct kmbuf_blk_pdu *pdu = io_uring_cmd_to_pdu(cmd,
							struct kmbuf_blk_pdu);
	struct io_uring_region *region;
	int ret;

	if (bdev_read_only(bdev))
		return -EPERM;
	ret = kmbuf_blk_check_io(dev, c->offset, c->len);
	if (ret)
		return ret;
	ret = kmbuf_blk_sync_cache(cmd->file, c->offset, c->len, true,
				   issue_flags & IO_URING_F_NONBLOCK);
	if (ret)
		return ret;
	region = io_uring_cmd_region_get(cmd, c->region_id);
	if (IS_ERR(region))
		return PTR_ERR(region);
	if (src > region->size || c->len > region->size - src) {
		ret = -EFAULT;
		goto put_region;
	}

	pdu->region = region;
	pdu->pos = c->offset;
	pdu->src = src;
	pdu->len = c->len;
	pdu->write = true;
	ret = kmbuf_blk_submit(dev, cmd, issue_flags & IO_URING_F_NONBLOCK);
	if (ret)
		goto put_region;
	return -EIOCBQUEUED;

put_region:
	io_uring_region_put(region);
	return ret;
}

static int kmbuf_blk_return(struct io_uring_cmd *cmd, u64 uaddr, u32 nr)
{
	struct kmbuf_ring *ring;
	u32 buf_size, *bids;
	int ret;

	if (!nr || nr > KMBUF_BLK_MAX_RETURN)
		return -EINVAL;
	ring = kmbuf_blk_file_ring(cmd->file, &buf_size);
	if (!ring)
		return -ENXIO;
	/* another io_uring's program must not give our buffers away */
	ret = kmbuf_ring_check_cmd(ring, cmd);
	if (ret)
		goto put_ring;
	bids = memdup_array_user(u64_to_user_ptr(uaddr), nr, sizeof(*bids));
	if (IS_ERR(bids)) {
		ret = PTR_ERR(bids);
		goto put_ring;
	}
	ret = kmbuf_ring_return(ring, bids, nr);
	kfree(bids);
put_ring:
	kmbuf_ring_put(ring);
	return ret;
}

static int kmbuf_blk_unbind(struct io_uring_cmd *cmd)
{
	struct kmbuf_blk_binding *b;
	int ret = -ENXIO;

	spin_lock(&kmbuf_blk_bind_lock);
	b = kmbuf_blk_find_locked(cmd->file);
	if (b) {
		ret = kmbuf_ring_check_cmd(b->ring, cmd);
		if (!ret)
			list_del(&b->node);
	}
	spin_unlock(&kmbuf_blk_bind_lock);
	if (ret)
		return ret;
	/* never waits for a grace period: fine at inline issue */
	kmbuf_blk_binding_free(b);
	return 0;
}

/**
 * kmbuf_blk_uring_cmd_writes() - block_device_operations.uring_cmd_writes
 * @cmd_op: a command for kmbuf_blk_uring_cmd()
 *
 * The block layer runs every command only on a file open for reading, and
 * the ones this returns true for only on a file also open for writing
 * (-EBADF otherwise).  Only KMBUF_BLK_WRITE changes the disk; BIND,
 * RETURN and UNBIND change just the file's own binding, which belongs to
 * reading.
 *
 * Context: Any context.
 * Return: true if @cmd_op needs a file open for writing.
 */
bool kmbuf_blk_uring_cmd_writes(u32 cmd_op)
{
	return cmd_op == KMBUF_BLK_WRITE;
}

/**
 * kmbuf_blk_uring_cmd() - block_device_operations.uring_cmd of kmbuf_blk
 * @bdev: the disk
 * @cmd: the command
 * @issue_flags: io_uring's issue flags
 *
 * The block layer has checked the file's access mode (see
 * kmbuf_blk_uring_cmd_writes()).
 *
 * Context: Process context (io_uring submission or io-wq worker).
 * Return: a result for the CQE, or -EIOCBQUEUED if the command completes
 * later; see include/uapi/linux/kmbuf_blk.h.
 */
int kmbuf_blk_uring_cmd(struct block_device *bdev, struct io_uring_cmd *cmd,
			unsigned int issue_flags)
{
	struct kmbuf_blk_dev *dev = bdev->bd_disk->private_data;
	const struct io_uring_sqe *sqe = cmd->sqe;
	const struct kmbuf_blk_cmd *ucmd = io_uring_sqe_cmd(sqe);
	struct kmbuf_blk_cmd c;
	u64 addr;

	BUILD_BUG_ON(sizeof(struct kmbuf_blk_cmd) != 16);
	BUILD_BUG_ON(sizeof(struct kmbuf_blk_pdu) > sizeof(cmd->pdu));

	/* nothing is ever marked cancelable: I/O always completes */
	if (issue_flags & IO_URING_F_CANCEL)
		return 0;
	if (cmd->flags & IORING_URING_CMD_MASK)
		return -EINVAL;
	/* unused SQE fields must be 0, so that they can get a meaning later */
	if (READ_ONCE(sqe->len) || READ_ONCE(sqe->ioprio) ||
	    READ_ONCE(sqe->__pad1) || READ_ONCE(sqe->buf_index) ||
	    READ_ONCE(sqe->file_index))
		return -EINVAL;
	c.offset = READ_ONCE(ucmd->offset);
	c.len = READ_ONCE(ucmd->len);
	c.region_id = READ_ONCE(ucmd->region_id);
	c.flags = READ_ONCE(ucmd->flags);
	addr = READ_ONCE(sqe->addr);
	if (c.flags)
		return -EINVAL;

	switch (cmd->cmd_op) {
	case KMBUF_BLK_BIND:
		if (c.offset || c.len || c.region_id)
			return -EINVAL;
		return kmbuf_blk_bind(dev, cmd, addr);
	case KMBUF_BLK_READ:
		if (addr || c.region_id)
			return -EINVAL;
		return kmbuf_blk_read(dev, cmd, c.offset, c.len, issue_flags);
	case KMBUF_BLK_WRITE:
		return kmbuf_blk_write(dev, bdev, cmd, &c, addr, issue_flags);
	case KMBUF_BLK_RETURN:
		if (c.offset || c.region_id)
			return -EINVAL;
		return kmbuf_blk_return(cmd, addr, c.len);
	case KMBUF_BLK_UNBIND:
		if (addr || c.offset || c.len || c.region_id)
			return -EINVAL;
		return kmbuf_blk_unbind(cmd);
	default:
		return -ENOTTY;
	}
}

/**
 * kmbuf_blk_release_file() - drop the ring bound to a file being released
 * @bdev: the disk
 * @file: the file
 *
 * No command of @file is in flight: each holds a reference to the file.
 *
 * Context: Process context; may sleep.
 */
void kmbuf_blk_release_file(struct block_device *bdev, struct file *file)
{
	struct kmbuf_blk_binding *b;

	b = kmbuf_blk_detach(file);
	if (b)
		kmbuf_blk_binding_free(b);
}

/**
 * kmbuf_blk_unbind_all() - drop every binding of a disk being removed
 * @dev: the disk
 *
 * Context: Process context; may sleep.
 */
void kmbuf_blk_unbind_all(struct kmbuf_blk_dev *dev)
{
	struct kmbuf_blk_binding *b, *tmp;
	LIST_HEAD(list);

	spin_lock(&kmbuf_blk_bind_lock);
	list_for_each_entry_safe(b, tmp, &kmbuf_blk_binds, node)
		if (b->dev == dev)
			list_move(&b->node, &list);
	spin_unlock(&kmbuf_blk_bind_lock);
	list_for_each_entry_safe(b, tmp, &list, node)
		kmbuf_blk_binding_free(b);
}
