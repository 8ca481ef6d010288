// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_blk: a RAM-backed blk-mq disk with a CRC32C per logical block, and
 * optionally a disk stacked on a real block device.
 *
 * Every write stores the data and the checksum of each block it covers;
 * every read copies the data into its destination and checks the checksum
 * on that copy, so what the reader got is exactly what was verified.  For
 * reads into a kmbuf buffer on a read-only region (kmbuf_blk_cmd.c) the
 * reader cannot change the data after the check either.
 *
 * With lower=/dev/X the module also creates /dev/kmbufblk-X, a bio-based
 * disk that passes every bio to X, and whose READ and WRITE commands build
 * their bios for X directly.  X's own integrity profile does the checking
 * (an NVMe namespace formatted with protection information: the block
 * layer generates it on writes and verifies it on reads), and X's queue
 * limits apply: the stacked disk has X's logical block size and a DMA
 * alignment of at least X's (511 at least), so a ring whose buffers X
 * cannot take is refused at BIND, and bios are split to X's size and
 * segment limits by the block layer.  If X goes away, the stacked disk's
 * I/O fails with X's errors until the module is removed.
 *
 * debugfs, per disk (/sys/kernel/debug/kmbuf_blk/kmbufblkN/):
 *   corrupt   write a block number: flips bits of that block's data and
 *             leaves its checksum alone, so the next read of it fails
 *   delay_us  completion delay of every request, to keep I/O in flight
 *   stats     request and verification counters
 */
#include "kmbuf_blk.h"

#include <linux/blk-integrity.h>
#include <linux/crc32.h>
#include <linux/debugfs.h>
#include <linux/hrtimer.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

static unsigned int g_nr_devices = 1;
module_param_named(nr_devices, g_nr_devices, uint, 0444);
MODULE_PARM_DESC(nr_devices,
		 "Number of RAM disks, 0 (only with lower) to 16. Default: 1");

static char *g_lower;
module_param_named(lower, g_lower, charp, 0444);
MODULE_PARM_DESC(lower,
		 "Block device to stack a disk on, e.g. /dev/nvme0n1. Default: none");

static unsigned int g_size_mb = 64;
module_param_named(size_mb, g_size_mb, uint, 0444);
MODULE_PARM_DESC(size_mb, "Size of each disk in MiB, 1 to 4096. Default: 64");

static unsigned int g_block_size = 4096;
module_param_named(block_size, g_block_size, uint, 0444);
MODULE_PARM_DESC(block_size,
		 "Logical block size and checksum granule, 512 or 4096. Default: 4096");

static unsigned int g_queue_depth = 128;
module_param_named(queue_depth, g_queue_depth, uint, 0444);
MODULE_PARM_DESC(queue_depth, "Requests in flight per disk, 1 to 4096. Default: 128");

/* per request, behind struct request */
struct kmbuf_blk_rq {
	struct hrtimer	timer;
	blk_status_t	status;
};

static struct kmbuf_blk_dev **kmbuf_blk_devs;
static unsigned int kmbuf_blk_nr_devs;
static struct kmbuf_blk_dev *kmbuf_blk_stacked;
static struct dentry *kmbuf_blk_dbg_root;

static u32 kmbuf_blk_crc(const void *p, size_t len)
{
	return ~__crc32c_le(~0U, p, len);
}

static spinlock_t *kmbuf_blk_lock(struct kmbuf_blk_dev *dev, u64 block)
{
	return &dev->locks[block % KMBUF_BLK_NR_LOCKS];
}

/*
 * Copy one block between the disk and the request's pages, segment by
 * segment (a block may straddle pages and bios).  For reads the checksum
 * is computed on the destination after the copy.  Returns false on a
 * checksum mismatch.
 */
static bool kmbuf_blk_xfer_block(struct kmbuf_blk_dev *dev, u64 block,
				 bool write, struct bio **biop,
				 struct bvec_iter *iter)
{
	unsigned int bs = 1U << dev->bs_shift;
	u8 *disk = dev->data + (block << dev->bs_shift);
	unsigned int done = 0;
	u32 crc = ~0U;
	bool ok = true;

	spin_lock(kmbuf_blk_lock(dev, block));
	while (done < bs) {
		struct bio_vec bv;
		unsigned int n;
		void *p;

		while (!iter->bi_size) {
			*biop = (*biop)->bi_next;
			*iter = (*biop)->bi_iter;
		}
		bv = bio_iter_iovec(*biop, *iter);
		n = min(bv.bv_len, bs - done);
		p = bvec_kmap_local(&bv);
		if (write) {
			memcpy(disk + done, p, n);
		} else {
			memcpy(p, disk + done, n);
			crc = __crc32c_le(crc, p, n);
		}
		kunmap_local(p);
		bio_advance_iter_single(*biop, iter, n);
		done += n;
	}
	if (write)
		dev->csum[block] = kmbuf_blk_crc(disk, bs);
	else
		ok = ~crc == dev->csum[block];
	spin_unlock(kmbuf_blk_lock(dev, block));
	return ok;
}

static blk_status_t kmbuf_blk_xfer(struct kmbuf_blk_dev *dev,
				   struct request *rq, bool write)
{
	u64 block = blk_rq_pos(rq) >> (dev->bs_shift - SECTOR_SHIFT);
	u64 nr = blk_rq_bytes(rq) >> dev->bs_shift;
	struct bio *bio = rq->bio;
	struct bvec_iter iter;
	blk_status_t status = BLK_STS_OK;

	if (!bio)
		return BLK_STS_OK;
	iter = bio->bi_iter;
	for (; nr; nr--, block++) {
		if (kmbuf_blk_xfer_block(dev, block, write, &bio, &iter))
			continue;
		atomic64_inc(&dev->nr_csum_err);
		pr_debug("%s: checksum mismatch in block %llu\n",
			 dev->disk->disk_name, block);
		status = BLK_STS_PROTECTION;
	}
	return status;
}

static enum hrtimer_restart kmbuf_blk_timer_fn(struct hrtimer *timer)
{
	struct kmbuf_blk_rq *krq = container_of(timer, struct kmbuf_blk_rq,
						timer);

	blk_mq_complete_request(blk_mq_rq_from_pdu(krq));
	return HRTIMER_NORESTART;
}

static blk_status_t kmbuf_blk_queue_rq(struct blk_mq_hw_ctx *hctx,
				       const struct blk_mq_queue_data *bd)
{
	struct kmbuf_blk_dev *dev = hctx->queue->queuedata;
	struct request *rq = bd->rq;
	struct kmbuf_blk_rq *krq = blk_mq_rq_to_pdu(rq);
	u32 delay = READ_ONCE(dev->delay_ns);

	blk_mq_start_request(rq);
	switch (req_op(rq)) {
	case REQ_OP_READ:
		krq->status = kmbuf_blk_xfer(dev, rq, false);
		atomic64_inc(&dev->nr_read);
		break;
	case REQ_OP_WRITE:
		krq->status = kmbuf_blk_xfer(dev, rq, true);
		atomic64_inc(&dev->nr_write);
		break;
	case REQ_OP_FLUSH:
		krq->status = BLK_STS_OK;
		break;
	default:
		krq->status = BLK_STS_NOTSUPP;
		break;
	}

	if (delay)
		hrtimer_start(&krq->timer, ns_to_ktime(delay), HRTIMER_MODE_REL);
	else
		blk_mq_complete_request(rq);
	return BLK_STS_OK;
}

static void kmbuf_blk_complete_rq(struct request *rq)
{
	struct kmbuf_blk_rq *krq = blk_mq_rq_to_pdu(rq);

	blk_mq_end_request(rq, krq->status);
}

static int kmbuf_blk_init_request(struct blk_mq_tag_set *set,
				  struct request *rq, unsigned int hctx_idx,
				  unsigned int numa_node)
{
	struct kmbuf_blk_rq *krq = blk_mq_rq_to_pdu(rq);

	hrtimer_init(&krq->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	krq->timer.function = kmbuf_blk_timer_fn;
	return 0;
}

static const struct blk_mq_ops kmbuf_blk_mq_ops = {
	.queue_rq	= kmbuf_blk_queue_rq,
	.complete	= kmbuf_blk_complete_rq,
	.init_request	= kmbuf_blk_init_request,
};

static const struct block_device_operations kmbuf_blk_fops = {
	.owner		= THIS_MODULE,
	.uring_cmd	= kmbuf_blk_uring_cmd,
	.uring_cmd_writes = kmbuf_blk_uring_cmd_writes,
	.release_file	= kmbuf_blk_release_file,
};

/* A stacked disk's bios go to the device below, unchanged. */
static void kmbuf_blk_stacked_submit_bio(struct bio *bio)
{
	struct kmbuf_blk_dev *dev = bio->bi_bdev->bd_disk->private_data;

	if (bio_op(bio) == REQ_OP_READ)
		atomic64_inc(&dev->nr_read);
	else if (bio_op(bio) == REQ_OP_WRITE)
		atomic64_inc(&dev->nr_write);
	bio_set_dev(bio, file_bdev(dev->lower));
	submit_bio_noacct(bio);
}

static const struct block_device_operations kmbuf_blk_stacked_fops = {
	.owner		= THIS_MODULE,
	.submit_bio	= kmbuf_blk_stacked_submit_bio,
	.uring_cmd	= kmbuf_blk_uring_cmd,
	.uring_cmd_writes = kmbuf_blk_uring_cmd_writes,
	.release_file	= kmbuf_blk_release_file,
};

static ssize_t kmbuf_blk_corrupt_write(struct file *file,
				       const char __user *ubuf, size_t count,
				       loff_t *ppos)
{
	struct kmbuf_blk_dev *dev = file_inode(file)->i_private;
	u64 block;
	u8 *p;
	int ret;

	ret = kstrtou64_from_user(ubuf, count, 0, &block);
	if (ret)
		return ret;
	if (block >= dev->size >> dev->bs_shift)
		return -ERANGE;
	p = dev->data + (block << dev->bs_shift);
	spin_lock(kmbuf_blk_lock(dev, block));
	/* in the middle of the block, so it is not at a page boundary */
	p[(1U << dev->bs_shift) / 2 + 1] ^= 0x5a;
	spin_unlock(kmbuf_blk_lock(dev, block));
	return count;
}

static const struct file_operations kmbuf_blk_corrupt_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.write	= kmbuf_blk_corrupt_write,
	.llseek	= noop_llseek,
};

static int kmbuf_blk_stats_show(struct seq_file *m, void *v)
{
	struct kmbuf_blk_dev *dev = m->private;

	seq_printf(m, "reads: %lld\n", atomic64_read(&dev->nr_read));
	seq_printf(m, "writes: %lld\n", atomic64_read(&dev->nr_write));
	seq_printf(m, "csum_errors: %lld\n", atomic64_read(&dev->nr_csum_err));
	seq_printf(m, "uring_cmd_io: %lld\n", atomic64_read(&dev->nr_cmd));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kmbuf_blk_stats);

static int kmbuf_blk_delay_get(void *data, u64 *val)
{
	struct kmbuf_blk_dev *dev = data;

	*val = READ_ONCE(dev->delay_ns) / NSEC_PER_USEC;
	return 0;
}

static int kmbuf_blk_delay_set(void *data, u64 val)
{
	struct kmbuf_blk_dev *dev = data;

	/* at most one second: a request must finish before its timeout */
	if (val > USEC_PER_SEC)
		return -ERANGE;
	WRITE_ONCE(dev->delay_ns, val * NSEC_PER_USEC);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(kmbuf_blk_delay_fops, kmbuf_blk_delay_get,
			 kmbuf_blk_delay_set, "%llu\n");

static void kmbuf_blk_debugfs_init(struct kmbuf_blk_dev *dev)
{
	dev->dbg = debugfs_create_dir(dev->disk->disk_name, kmbuf_blk_dbg_root);
	/* a stacked disk's data and timing are its lower device's */
	if (!dev->lower) {
		debugfs_create_file("corrupt", 0200, dev->dbg, dev,
				    &kmbuf_blk_corrupt_fops);
		debugfs_create_file_unsafe("delay_us", 0600, dev->dbg, dev,
					   &kmbuf_blk_delay_fops);
	}
	debugfs_create_file("stats", 0400, dev->dbg, dev,
			    &kmbuf_blk_stats_fops);
}

static void kmbuf_blk_free_storage(struct kmbuf_blk_dev *dev)
{
	kvfree(dev->csum);
	vfree(dev->data);
}

static int kmbuf_blk_alloc_storage(struct kmbuf_blk_dev *dev)
{
	u64 nr_blocks = dev->size >> dev->bs_shift;
	u32 zero_crc;
	u64 i;

	/*
	 * Both sizes come from module parameters: too big for the machine
	 * fails the load with -ENOMEM, without an allocation failure report.
	 */
	dev->data = __vmalloc(dev->size, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN);
	if (!dev->data)
		return -ENOMEM;
	dev->csum = kvmalloc_array(nr_blocks, sizeof(*dev->csum),
				   GFP_KERNEL | __GFP_NOWARN);
	if (!dev->csum) {
		vfree(dev->data);
		return -ENOMEM;
	}
	zero_crc = kmbuf_blk_crc(dev->data, 1U << dev->bs_shift);
	for (i = 0; i < nr_blocks; i++)
		dev->csum[i] = zero_crc;
	return 0;
}

static struct kmbuf_blk_dev *kmbuf_blk_dev_create(unsigned int index)
{
	struct queue_limits lim = {
		.logical_block_size	= g_block_size,
		.physical_block_size	= g_block_size,
		.io_min			= g_block_size,
		/* a whole kmbuf buffer in one request, never split */
		.max_hw_sectors		= KMBUF_BLK_MAX_IO >> SECTOR_SHIFT,
		.max_segments		= 512,
	};
	struct kmbuf_blk_dev *dev;
	struct gendisk *disk;
	int i, ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	dev->index = index;
	dev->size = (u64)g_size_mb << 20;
	dev->bs_shift = ilog2(g_block_size);
	for (i = 0; i < KMBUF_BLK_NR_LOCKS; i++)
		spin_lock_init(&dev->locks[i]);

	ret = kmbuf_blk_alloc_storage(dev);
	if (ret)
		goto free_dev;

	dev->tag_set.ops = &kmbuf_blk_mq_ops;
	dev->tag_set.nr_hw_queues = 1;
	dev->tag_set.queue_depth = g_queue_depth;
	dev->tag_set.numa_node = NUMA_NO_NODE;
	dev->tag_set.cmd_size = sizeof(struct kmbuf_blk_rq);
	dev->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	dev->tag_set.driver_data = dev;
	ret = blk_mq_alloc_tag_set(&dev->tag_set);
	if (ret)
		goto free_storage;

	disk = blk_mq_alloc_disk(&dev->tag_set, &lim, dev);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto free_tag_set;
	}
	dev->disk = disk;
	disk->fops = &kmbuf_blk_fops;
	disk->private_data = dev;
	disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, "kmbufblk%u", index);
	set_capacity(disk, dev->size >> SECTOR_SHIFT);

	ret = add_disk(disk);
	if (ret)
		goto put_disk;
	kmbuf_blk_debugfs_init(dev);
	return dev;

put_disk:
	put_disk(disk);
free_tag_set:
	blk_mq_free_tag_set(&dev->tag_set);
free_storage:
	kmbuf_blk_free_storage(dev);
free_dev:
	kfree(dev);
	return ERR_PTR(ret);
}

static void kmbuf_blk_dev_destroy(struct kmbuf_blk_dev *dev)
{
	debugfs_remove_recursive(dev->dbg);
	/* waits for requests in flight; no file is open (module reference) */
	del_gendisk(dev->disk);
	kmbuf_blk_unbind_all(dev);
	put_disk(dev->disk);
	blk_mq_free_tag_set(&dev->tag_set);
	kmbuf_blk_free_storage(dev);
	kfree(dev);
}

/*
 * The disk stacked on @path: its limits are the lower device's, stacked
 * (logical block size, DMA alignment, segment limits), its capacity the
 * lower device's.  It has no integrity profile of its own: bios reach the
 * lower device without protection information, and the lower device's
 * profile generates and verifies it there.
 */
static struct kmbuf_blk_dev *kmbuf_blk_stacked_create(const char *path)
{
	struct queue_limits lim;
	struct kmbuf_blk_dev *dev;
	struct block_device *lower;
	struct gendisk *disk;
	int ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	dev->lower = bdev_file_open_by_path(path, BLK_OPEN_READ | BLK_OPEN_WRITE,
					    dev, NULL);
	if (IS_ERR(dev->lower)) {
		ret = PTR_ERR(dev->lower);
		pr_err("cannot open %s: %d\n", path, ret);
		goto free_dev;
	}
	lower = file_bdev(dev->lower);
	/* a bio-based disk can't report zones for a zoned one below it */
	if (bdev_is_zoned(lower)) {
		pr_err("%pg is zoned: not supported\n", lower);
		ret = -EOPNOTSUPP;
		goto close_lower;
	}
	dev->size = bdev_nr_bytes(lower);
	dev->bs_shift = ilog2(bdev_logical_block_size(lower));

	blk_set_stacking_limits(&lim);
	/* kept only if the lower device has it too (blk_stack_limits()) */
	lim.features |= BLK_FEAT_NOWAIT;
	queue_limits_stack_bdev(&lim, lower, 0, KBUILD_MODNAME);
	disk = blk_alloc_disk(&lim, NUMA_NO_NODE);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		goto close_lower;
	}
	dev->disk = disk;
	disk->fops = &kmbuf_blk_stacked_fops;
	disk->private_data = dev;
	disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, "kmbufblk-%pg", lower);
	set_capacity(disk, bdev_nr_sectors(lower));

	ret = add_disk(disk);
	if (ret)
		goto put_disk;
	kmbuf_blk_debugfs_init(dev);
	pr_info("%s stacked on %pg: %llu bytes, %u-byte blocks, %s\n",
		disk->disk_name, lower, dev->size, 1U << dev->bs_shift,
		blk_get_integrity(lower->bd_disk) ?
		"protection information checked by the lower device" :
		"no integrity profile");
	return dev;

put_disk:
	put_disk(disk);
close_lower:
	bdev_fput(dev->lower);
free_dev:
	kfree(dev);
	return ERR_PTR(ret);
}

static void kmbuf_blk_stacked_destroy(struct kmbuf_blk_dev *dev)
{
	debugfs_remove_recursive(dev->dbg);
	/* no file is open (module reference); commands finished with them */
	del_gendisk(dev->disk);
	kmbuf_blk_unbind_all(dev);
	put_disk(dev->disk);
	/* gives up the claim now: @dev is its holder */
	bdev_fput(dev->lower);
	kfree(dev);
}

static void kmbuf_blk_destroy_all(void)
{
	if (kmbuf_blk_stacked)
		kmbuf_blk_stacked_destroy(kmbuf_blk_stacked);
	kmbuf_blk_stacked = NULL;
	while (kmbuf_blk_nr_devs)
		kmbuf_blk_dev_destroy(kmbuf_blk_devs[--kmbuf_blk_nr_devs]);
	debugfs_remove_recursive(kmbuf_blk_dbg_root);
	kfree(kmbuf_blk_devs);
}

static int __init kmbuf_blk_init(void)
{
	struct kmbuf_blk_dev *dev;
	unsigned int i;
	int ret;

	if ((!g_nr_devices && !(g_lower && *g_lower)) || g_nr_devices > 16) {
		pr_err("nr_devices must be 1 to 16, or 0 with lower\n");
		return -EINVAL;
	}
	if (!g_size_mb || g_size_mb > 4096) {
		pr_err("size_mb must be 1 to 4096\n");
		return -EINVAL;
	}
	if (g_block_size != 512 && g_block_size != 4096) {
		pr_err("block_size must be 512 or 4096\n");
		return -EINVAL;
	}
	if (!g_queue_depth || g_queue_depth > 4096) {
		pr_err("queue_depth must be 1 to 4096\n");
		return -EINVAL;
	}

	kmbuf_blk_devs = kcalloc(max(g_nr_devices, 1U),
				 sizeof(*kmbuf_blk_devs), GFP_KERNEL);
	if (!kmbuf_blk_devs)
		return -ENOMEM;
	kmbuf_blk_dbg_root = debugfs_create_dir(KBUILD_MODNAME, NULL);

	for (i = 0; i < g_nr_devices; i++) {
		dev = kmbuf_blk_dev_create(i);
		if (IS_ERR(dev)) {
			ret = PTR_ERR(dev);
			goto destroy_devs;
		}
		kmbuf_blk_devs[i] = dev;
		kmbuf_blk_nr_devs++;
	}
	if (g_lower && *g_lower) {
		dev = kmbuf_blk_stacked_create(g_lower);
		if (IS_ERR(dev)) {
			ret = PTR_ERR(dev);
			goto destroy_devs;
		}
		kmbuf_blk_stacked = dev;
	}
	if (g_nr_devices)
		pr_info("%u disk(s) of %u MiB, %u-byte blocks\n", g_nr_devices,
			g_size_mb, g_block_size);
	return 0;

destroy_devs:
	kmbuf_blk_destroy_all();
	return ret;
}

static void __exit kmbuf_blk_exit(void)
{
	kmbuf_blk_destroy_all();
}

module_init(kmbuf_blk_init);
module_exit(kmbuf_blk_exit);

MODULE_AUTHOR("kmbuf developers <kmbuf-dev@example.invalid>");
MODULE_DESCRIPTION("RAM disk with per-block CRC32C, or a disk stacked on a real one, with verified reads into kmbuf rings");
MODULE_LICENSE("GPL");
