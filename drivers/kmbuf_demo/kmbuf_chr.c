// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_chr: a streaming character device for io_uring kernel-managed
 * buffer rings.
 *
 * Each open file reads an endless generated stream (see
 * include/uapi/linux/kmbuf_chr.h) through read(2) or io_uring reads, which
 * is the baseline the kmbuf delivery path is measured against.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <uapi/linux/kmbuf_chr.h>

/* Words generated per chunk before they are copied out. */
#define KMBUF_CHR_CHUNK_WORDS	64

struct kmbuf_chr_file {
	u64 pos;	/* stream offset of the next byte to read */
};

static int kmbuf_chr_open(struct inode *inode, struct file *file)
{
	struct kmbuf_chr_file *kf;

	kf = kzalloc(sizeof(*kf), GFP_KERNEL);
	if (!kf)
		return -ENOMEM;
	file->private_data = kf;
	stream_open(inode, file);
	/* the generator never blocks, so io_uring may read inline */
	file->f_mode |= FMODE_NOWAIT;
	return 0;
}

static int kmbuf_chr_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

/* Copy @len bytes of the stream starting at @pos to @to. */
static size_t kmbuf_chr_generate(struct iov_iter *to, u64 pos, size_t len)
{
	__le64 words[KMBUF_CHR_CHUNK_WORDS];
	size_t done = 0;

	while (done < len) {
		u64 p = pos + done;
		u64 first = p >> 3;
		size_t skip = p & 7;
		size_t n, copied;
		int i;

		for (i = 0; i < KMBUF_CHR_CHUNK_WORDS; i++)
			words[i] = cpu_to_le64(first + i);
		n = min_t(size_t, sizeof(words) - skip, len - done);
		copied = copy_to_iter((u8 *)words + skip, n, to);
		done += copied;
		if (copied != n)
			break;
	}
	return done;
}

static ssize_t kmbuf_chr_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct kmbuf_chr_file *kf = iocb->ki_filp->private_data;
	size_t len = iov_iter_count(to);
	size_t done;

	if (!len)
		return 0;
	done = kmbuf_chr_generate(to, kf->pos, len);
	if (!done)
		return -EFAULT;
	kf->pos += done;
	return done;
}

static const struct file_operations kmbuf_chr_fops = {
	.owner		= THIS_MODULE,
	.open		= kmbuf_chr_open,
	.release	= kmbuf_chr_release,
	.read_iter	= kmbuf_chr_read_iter,
};

static struct miscdevice kmbuf_chr_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kmbuf_chr",
	.fops	= &kmbuf_chr_fops,
	.mode	= 0666,
};

static int __init kmbuf_chr_init(void)
{
	int ret;

	ret = misc_register(&kmbuf_chr_misc);
	if (ret)
		pr_err("cannot register misc device: %d\n", ret);
	return ret;
}

static void __exit kmbuf_chr_exit(void)
{
	misc_deregister(&kmbuf_chr_misc);
}

module_init(kmbuf_chr_init);
module_exit(kmbuf_chr_exit);

MODULE_DESCRIPTION("Streaming character device for io_uring kernel-managed buffer rings");
MODULE_LICENSE("GPL");
