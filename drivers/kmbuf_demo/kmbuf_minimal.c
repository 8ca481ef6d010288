// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_minimal: the complete minimal consumer of Documentation/io_uring/
 * kmbuf.rst ("A complete minimal consumer"), which includes this file.  A
 * hard-interrupt timer produces one 8-byte record (a sequence number) per
 * millisecond into stream 0 of a kmbuf port per open file; the kmbuf core
 * does everything else.  Tested by selftests/kmbuf/minimal_consumer.
 */
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/io_uring/cmd.h>
#include <linux/io_uring/kmbuf.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/unaligned.h>

/* kmbuf.rst: start */
struct kmbuf_minimal_file {
	struct kmbuf_port	*port;
	struct hrtimer		timer;
	u64			seq;
};

static enum hrtimer_restart kmbuf_minimal_tick(struct hrtimer *t)
{
	struct kmbuf_minimal_file *mf = container_of(t, typeof(*mf), timer);
	struct kmbuf_stream *s = kmbuf_port_stream(mf->port, 0);
	struct kmbuf_buf buf;

	/* hard irq: raw spinlocks only, which is all kmbuf takes */
	if (!kmbuf_stream_buf_get(s, &buf)) {
		put_unaligned_le64(mf->seq, buf.kaddr);
		kmbuf_stream_deliver(s, &buf, 8);
	}
	mf->seq++;		/* a gap tells userspace it overran */
	hrtimer_forward_now(t, ms_to_ktime(1));
	return HRTIMER_RESTART;
}

static int kmbuf_minimal_open(struct inode *inode, struct file *file)
{
	struct kmbuf_port_desc pd = { .nr_streams = 1 };
	struct kmbuf_minimal_file *mf;

	mf = kzalloc(sizeof(*mf), GFP_KERNEL);
	if (!mf)
		return -ENOMEM;
	pd.priv = mf;
	mf->port = kmbuf_port_create(&pd);
	if (IS_ERR(mf->port)) {
		int ret = PTR_ERR(mf->port);

		kfree(mf);
		return ret;
	}
	hrtimer_init(&mf->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	mf->timer.function = kmbuf_minimal_tick;
	hrtimer_start(&mf->timer, ms_to_ktime(1), HRTIMER_MODE_REL_HARD);
	file->private_data = mf;
	return 0;
}

static int kmbuf_minimal_release(struct inode *inode, struct file *file)
{
	struct kmbuf_minimal_file *mf = file->private_data;

	hrtimer_cancel(&mf->timer);	/* no producer from here on */
	kmbuf_port_destroy(mf->port);
	kfree(mf);
	return 0;
}

static int kmbuf_minimal_uring_cmd(struct io_uring_cmd *cmd,
				   unsigned int issue_flags)
{
	struct kmbuf_minimal_file *mf = cmd->file->private_data;

	if (kmbuf_cmd_op_is_common(cmd->cmd_op))
		return kmbuf_port_uring_cmd(mf->port, cmd, issue_flags);
	return -ENOTTY;
}

static const struct file_operations kmbuf_minimal_fops = {
	.owner		= THIS_MODULE,
	.open		= kmbuf_minimal_open,
	.release	= kmbuf_minimal_release,
	.uring_cmd	= kmbuf_minimal_uring_cmd,
	.fop_flags	= FOP_URING_CMD_MULTISHOT | FOP_URING_CMD_CANCEL,
};
/* kmbuf.rst: end */

static struct miscdevice kmbuf_minimal_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kmbuf_minimal",
	.fops	= &kmbuf_minimal_fops,
	.mode	= 0666,
};
module_misc_device(kmbuf_minimal_misc);

MODULE_DESCRIPTION("The minimal kmbuf consumer of the kmbuf documentation");
MODULE_LICENSE("GPL");
