// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_blk io_uring passthrough: verified reads into kmbuf buffers.
 *
 * A file of the disk is a kmbuf port: it binds a kmbuf ring built on a
 * read-only memory region with the common KMBUF_CMD_BIND (and gives
 * buffers back with KMBUF_CMD_RETURN or a refill ring), which the kmbuf
 * core handles.  KMBUF_BLK_READ takes a free buffer, points a bio at
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
 * Lifetimes: the buffer of a READ in flight keeps its ring's memory alive,
 * a WRITE holds a reference to its source region, and io_uring holds the
 * file, so neither UNBIND, the ring's exit nor close() can free what the
 * completion still uses.  The port goes when the file is released; the
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

/* The kmbuf port of an open file of a disk, on kmbuf_blk_ports. */
struct kmbuf_blk_port {
	struct list_head	node;
	struct kmbuf_blk_dev	*dev;
	struct file		*file;	/* the key; never dereferenced */
	struct kmbuf_port	*port;
};

/*
 * The ports of every open file that used a kmbuf command.  Verified data
 * must not change under its reader, so no other ring may write into our
 * buffers: the kmbuf core refuses a ring over bytes of a region another
 * ring still owns, whichever driver built it.
 */
static DEFINE_SPINLOCK(kmbuf_blk_ports_lock);
static LIST_HEAD(kmbuf_blk_ports);

/*
 * Per-command state of KMBUF_BLK_READ and _WRITE, in io_uring_cmd::pdu:
 * everything needed to build the bio again if it has to be resubmitted.
 */
struct kmbuf_blk_pdu {
	union {
		struct kmbuf_ring	*ring;		/* READ: the buffer's */
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

static struct kmbuf_blk_port *kmbuf_blk_find_locked(struct file *file)
{
	struct kmbuf_blk_port *p;

	lockdep_assert_held(&kmbuf_blk_ports_lock);
	list_for_each_entry(p, &kmbuf_blk_ports, node)
		if (p->file == file)
			return p;
	return NULL;
}

/*
 * The kmbuf port of @file, or NULL.  It lives until the file is released,
 * which can't happen while one of its commands is in flight.
 */
static struct kmbuf_port *kmbuf_blk_file_port(struct file *file)
{
	struct kmbuf_blk_port *p;

	spin_lock(&kmbuf_blk_ports_lock);
	p = kmbuf_blk_find_locked(file);
	spin_unlock(&kmbuf_blk_ports_lock);
	return p ? p->port : NULL;
}

/* The kmbuf port of @file, created on first use. */
static struct kmbuf_port *kmbuf_blk_file_port_get(struct kmbuf_blk_dev *dev,
						  struct file *file)
{
	struct kmbuf_port_desc pd = {
		/* bios point straight at the buffers */
		.align		= bdev_dma_alignment(file_bdev(file)) + 1,
		.max_buf_size	= KMBUF_BLK_MAX_IO,
		/* the point of the driver: data userspace can't change */
		.flags		= KMBUF_PORT_RDONLY,
	};
	struct kmbuf_blk_port *p, *other;
	struct kmbuf_port *port;

	port = kmbuf_blk_file_port(file);
	if (port)
		return port;
	p = kzalloc(sizeof(*p), GFP_KERNEL_ACCOUNT);
	if (!p)
		return ERR_PTR(-ENOMEM);
	p->port = kmbuf_port_create(&pd);
	if (IS_ERR(p->port)) {
		port = p->port;
		kfree(p);
		return port;
	}
	p->dev = dev;
	p->file = file;
	spin_lock(&kmbuf_blk_ports_lock);
	other = kmbuf_blk_find_locked(file);	/* a concurrent command */
	if (!other)
		list_add(&p->node, &kmbuf_blk_ports);
	spin_unlock(&kmbuf_blk_ports_lock);
	if (!other)
		return p->port;
	kmbuf_port_destroy(p->port);
	kfree(p);
	return other->port;
}

static void kmbuf_blk_port_free(struct kmbuf_blk_port *p)
{
	/* a READ in flight keeps its buffer's ring alive */
	kmbuf_port_destroy(p->port);
	kfree(p);
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
	/* a stacked disk's commands go straight to the device below it */
	struct block_device *bdev = dev->lower ? file_bdev(dev->lower) :
						  file_bdev(cmd->file);
	gfp_t gfp = nowait ? GFP_NOWAIT : GFP_KERNEL;
	blk_opf_t opf = nowait ? REQ_NOWAIT : 0;
	struct bio *bio;
	int nr;

	/*
	 * A device without REQ_NOWAIT support fails such a bio: let io_uring
	 * issue the command again from io-wq, where it may wait.
	 */
	if (nowait && !bdev_nowait(bdev))
		return -EAGAIN;
	pdu->nowait = nowait;
	if (pdu->write) {
		struct page **pages = io_uring_region_pages(pdu->region);
		u64 pos = pdu->src, end = pdu->src + pdu->len;

		bio = bio_alloc(bdev, DIV_ROUND_UP(offset_in_page(pos) +
						   pdu->len, PAGE_SIZE),
				REQ_OP_WRITE | opf, gfp);
		if (!bio)
			return nowait ? -EAGAIN : -ENOMEM;
		while (pos < end) {
			unsigned int off = offset_in_page(pos);
			unsigned int n = min_t(u64, end - pos, PAGE_SIZE - off);

			__bio_add_page(bio, pages[pos >> PAGE_SHIFT], n, off);
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

/* Task work after the bio completed: post the CQE, or resubmit. */
static void kmbuf_blk_cmd_done(struct io_uring_cmd *cmd,
			       unsigned int issue_flags)
{
	struct kmbuf_blk_pdu *pdu = io_uring_cmd_to_pdu(cmd,
							struct kmbuf_blk_pdu);
	struct kmbuf_buf buf = { };
	struct kmbuf_blk_dev *dev;
	int res = pdu->len;

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
	if (pdu->write) {
		io_uring_region_put(pdu->region);
		io_uring_cmd_done(cmd, res, 0, issue_flags);
		return;
	}
	/* the buffer to userspace with the CQE, or back to its ring */
	buf.ring = pdu->ring;
	buf.bid = pdu->bid;
	kmbuf_cmd_done_buf(cmd, &buf, res, issue_flags);
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
	struct kmbuf_port *port;
	struct kmbuf_buf buf;
	int ret;

	ret = kmbuf_blk_check_io(dev, pos, len);
	if (ret)
		return ret;
	ret = kmbuf_blk_sync_cache(cmd->file, pos, len, false,
				   issue_flags & IO_URING_F_NONBLOCK);
	if (ret)
		return ret;
	port = kmbuf_blk_file_port(cmd->file);
	if (!port)
		return -ENXIO;
	/* -ENXIO: unbound; -EXDEV: another io_uring's ring; -ENOBUFS */
	ret = kmbuf_port_buf_get(port, cmd, &buf);
	if (ret)
		return ret;
	if (len > buf.len) {
		ret = -EMSGSIZE;
		goto giveback;
	}

	pdu->ring = buf.ring;
	pdu->pos = pos;
	pdu->bid = buf.bid;
	pdu->len = len;
	pdu->write = false;
	ret = kmbuf_blk_submit(dev, cmd, issue_flags & IO_URING_F_NONBLOCK);
	if (ret)
		goto giveback;
	return -EIOCBQUEUED;

giveback:
	kmbuf_buf_giveback(&buf);
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
	if (src > io_uring_region_size(region) ||
	    c->len > io_uring_region_size(region) - src) {
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

/**
 * kmbuf_blk_uring_cmd_writes() - block_device_operations.uring_cmd_writes
 * @cmd_op: a command for kmbuf_blk_uring_cmd()
 *
 * The block layer runs every command only on a file open for reading, and
 * the ones this returns true for only on a file also open for writing
 * (-EBADF otherwise).  Only KMBUF_BLK_WRITE changes the disk; the common
 * kmbuf commands change just the file's own binding, which belongs to
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

	struct kmbuf_port *port;

	BUILD_BUG_ON(sizeof(struct kmbuf_blk_cmd) != 16);
	BUILD_BUG_ON(sizeof(struct kmbuf_blk_pdu) > sizeof(cmd->pdu));

	/* nothing is ever marked cancelable: I/O always completes */
	if (issue_flags & IO_URING_F_CANCEL)
		return 0;
	/* BIND, RETURN, UNBIND (and ARM: the port has no streams) */
	if (kmbuf_cmd_op_is_common(cmd->cmd_op)) {
		port = kmbuf_blk_file_port_get(dev, cmd->file);
		if (IS_ERR(port))
			return PTR_ERR(port);
		return kmbuf_port_uring_cmd(port, cmd, issue_flags);
	}
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
	case KMBUF_BLK_READ:
		if (addr || c.region_id)
			return -EINVAL;
		return kmbuf_blk_read(dev, cmd, c.offset, c.len, issue_flags);
	case KMBUF_BLK_WRITE:
		return kmbuf_blk_write(dev, bdev, cmd, &c, addr, issue_flags);
	default:
		return -ENOTTY;
	}
}

/**
 * kmbuf_blk_release_file() - drop the port of a file being released
 * @bdev: the disk
 * @file: the file
 *
 * No command of @file is in flight: each holds a reference to the file.
 *
 * Context: Process context; may sleep.
 */
void kmbuf_blk_release_file(struct block_device *bdev, struct file *file)
{
	struct kmbuf_blk_port *p;

	spin_lock(&kmbuf_blk_ports_lock);
	p = kmbuf_blk_find_locked(file);
	if (p)
		list_del(&p->node);
	spin_unlock(&kmbuf_blk_ports_lock);
	if (p)
		kmbuf_blk_port_free(p);
}

/**
 * kmbuf_blk_unbind_all() - drop every port of a disk being removed
 * @dev: the disk
 *
 * Context: Process context; may sleep.
 */
void kmbuf_blk_unbind_all(struct kmbuf_blk_dev *dev)
{
	struct kmbuf_blk_port *p, *tmp;
	LIST_HEAD(list);

	spin_lock(&kmbuf_blk_ports_lock);
	list_for_each_entry_safe(p, tmp, &kmbuf_blk_ports, node)
		if (p->dev == dev)
			list_move(&p->node, &list);
	spin_unlock(&kmbuf_blk_ports_lock);
	list_for_each_entry_safe(p, tmp, &list, node)
		kmbuf_blk_port_free(p);
}
