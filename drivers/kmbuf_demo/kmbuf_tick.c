// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_tick: periodic records written in hard interrupt context and
 * delivered through io_uring kernel-managed buffer rings, using nothing
 * but the kmbuf port/stream API: the core binds the ring, arms, cancels
 * and completes the commands and posts the CQEs.
 *
 * One open file is one port, one channel one stream with an hrtimer of its
 * own.  See include/uapi/linux/kmbuf_tick.h and
 * Documentation/io_uring/kmbuf_tick.rst.
 */
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/io_uring/cmd.h>
#include <linux/io_uring/kmbuf.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <uapi/linux/kmbuf_tick.h>

struct kmbuf_tick_chan {
	struct hrtimer		timer;
	struct kmbuf_stream	*s;
	struct kmbuf_tick_file	*tf;
	atomic64_t		seq;		/* next record; set by the timer only */
	atomic64_t		overruns;
	bool			running;	/* protected by tf->lock */
};

struct kmbuf_tick_file {
	struct mutex		lock;		/* CONFIG, START, STOP */
	struct kmbuf_port	*port;		/* set once, by CONFIG */
	struct kmbuf_tick_chan	*ch;
	unsigned int		nr;
	u32			rec_size;
	ktime_t			period;
};

/* Words 0 .. KMBUF_TICK_MAX_RECORD / 8 - 1 of every record's fill. */
static __le64 *kmbuf_tick_fill;

/* Hard interrupt context: the kmbuf stream calls take raw spinlocks only. */
static enum hrtimer_restart kmbuf_tick_fire(struct hrtimer *t)
{
	struct kmbuf_tick_chan *ch = container_of(t, struct kmbuf_tick_chan,
						  timer);
	u64 lost = hrtimer_forward_now(t, ch->tf->period) - 1;
	u64 seq = atomic64_read(&ch->seq) + lost;
	struct kmbuf_tick_rec *r;
	struct kmbuf_buf buf;
	u32 len;

	atomic64_set(&ch->seq, seq + 1);
	if (kmbuf_stream_buf_get(ch->s, &buf)) {	/* -ENXIO, -ENOBUFS */
		lost++;
		goto out;
	}
	len = min(ch->tf->rec_size, buf.len);
	r = buf.kaddr;
	r->seq = cpu_to_le64(seq);
	r->time_ns = cpu_to_le64(ktime_get_ns());
	r->channel = cpu_to_le32(kmbuf_stream_index(ch->s));
	r->len = cpu_to_le32(len);
	memcpy(r + 1, kmbuf_tick_fill + 3, len - sizeof(*r) - 8);
	((__le64 *)buf.kaddr)[len / 8 - 1] = cpu_to_le64(~seq);
	kmbuf_stream_deliver(ch->s, &buf, len);
out:
	if (lost)
		atomic64_add(lost, &ch->overruns);
	return HRTIMER_RESTART;
}

static int kmbuf_tick_config(struct kmbuf_tick_file *tf,
			     const struct kmbuf_tick_config *c)
{
	struct kmbuf_port_desc desc = { .priv = tf, .nr_streams = c->nr_channels };
	struct kmbuf_tick_chan *ch;
	struct kmbuf_port *port;
	unsigned int i;

	if (!c->nr_channels || c->nr_channels > KMBUF_TICK_MAX_CHANNELS ||
	    c->rec_size < sizeof(struct kmbuf_tick_rec) + 8 ||
	    c->rec_size > KMBUF_TICK_MAX_RECORD || c->rec_size % 8 ||
	    c->period_ns < KMBUF_TICK_MIN_PERIOD || c->period_ns > NSEC_PER_SEC)
		return -EINVAL;
	if (tf->port)
		return -EBUSY;
	ch = kvcalloc(c->nr_channels, sizeof(*ch), GFP_KERNEL_ACCOUNT);
	if (!ch)
		return -ENOMEM;
	port = kmbuf_port_create(&desc);
	if (IS_ERR(port)) {
		kvfree(ch);
		return PTR_ERR(port);
	}
	for (i = 0; i < c->nr_channels; i++) {
		hrtimer_init(&ch[i].timer, CLOCK_MONOTONIC,
			     HRTIMER_MODE_REL_HARD);
		ch[i].timer.function = kmbuf_tick_fire;
		ch[i].s = kmbuf_port_stream(port, i);
		ch[i].tf = tf;
	}
	tf->ch = ch;
	tf->nr = c->nr_channels;
	tf->rec_size = c->rec_size;
	tf->period = ns_to_ktime(c->period_ns);
	smp_store_release(&tf->port, port);	/* tf->ch and the rest first */
	return 0;
}

static int kmbuf_tick_run(struct kmbuf_tick_file *tf,
			  const struct kmbuf_tick_range *r, bool start)
{
	struct kmbuf_tick_chan *ch;

	if (!tf->port)
		return -ENXIO;
	if (!r->nr || r->first >= tf->nr || r->nr > tf->nr - r->first)
		return -EINVAL;
	for (ch = tf->ch + r->first; ch < tf->ch + r->first + r->nr; ch++) {
		if (ch->running == start)
			continue;
		ch->running = start;
		if (start)
			hrtimer_start(&ch->timer, ch->tf->period,
				      HRTIMER_MODE_REL_HARD);
		else
			hrtimer_cancel(&ch->timer);
	}
	return 0;
}

/* CONFIG, START or STOP with its argument at @argp; -EAGAIN if @nowait. */
static long kmbuf_tick_ctl(struct kmbuf_tick_file *tf, unsigned int op,
			   void __user *argp, bool nowait)
{
	union {
		struct kmbuf_tick_config	c;
		struct kmbuf_tick_range		r;
	} a;
	long ret;

	if (op != KMBUF_TICK_CONFIG && op != KMBUF_TICK_START &&
	    op != KMBUF_TICK_STOP)
		return -ENOTTY;
	if (copy_from_user(&a, argp, _IOC_SIZE(op)))
		return -EFAULT;
	if (!nowait)
		mutex_lock(&tf->lock);
	else if (!mutex_trylock(&tf->lock))
		return -EAGAIN;		/* io_uring retries from io-wq */
	if (op == KMBUF_TICK_CONFIG)
		ret = kmbuf_tick_config(tf, &a.c);
	else
		ret = kmbuf_tick_run(tf, &a.r, op == KMBUF_TICK_START);
	mutex_unlock(&tf->lock);
	return ret;
}

static int kmbuf_tick_uring_cmd(struct io_uring_cmd *cmd,
				unsigned int issue_flags)
{
	struct kmbuf_tick_file *tf = cmd->file->private_data;
	const struct kmbuf_cmd *c = io_uring_sqe_cmd(cmd->sqe);
	/* pairs with kmbuf_tick_config(): tf->ch and the rest are set */
	struct kmbuf_port *port = smp_load_acquire(&tf->port);

	/* every IO_URING_F_CANCEL is for a common command: only ARM waits */
	if (kmbuf_cmd_op_is_common(cmd->cmd_op))
		return port ? kmbuf_port_uring_cmd(port, cmd, issue_flags) :
			      -ENXIO;
	if (kmbuf_cmd_check_sqe(cmd, issue_flags) || READ_ONCE(c->nr) ||
	    READ_ONCE(c->stream) || READ_ONCE(c->flags))
		return -EINVAL;
	return kmbuf_tick_ctl(tf, cmd->cmd_op,
			      u64_to_user_ptr(READ_ONCE(c->addr)),
			      issue_flags & IO_URING_F_NONBLOCK);
}

static long kmbuf_tick_ioctl(struct file *file, unsigned int op,
			     unsigned long arg)
{
	return kmbuf_tick_ctl(file->private_data, op, (void __user *)arg,
			      false);
}

static void kmbuf_tick_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct kmbuf_tick_file *tf = file->private_data;
	/* pairs with kmbuf_tick_config(): tf->ch and the rest are set */
	struct kmbuf_port *port = smp_load_acquire(&tf->port);
	u64 periods = 0, overruns = 0;
	unsigned int i;

	if (!port)
		return;
	for (i = 0; i < tf->nr; i++) {
		periods += atomic64_read(&tf->ch[i].seq);
		overruns += atomic64_read(&tf->ch[i].overruns);
	}
	seq_printf(m, "kmbuf_tick_channels:\t%u\n", tf->nr);
	seq_printf(m, "kmbuf_tick_periods:\t%llu\n", periods);
	seq_printf(m, "kmbuf_tick_overruns:\t%llu\n", overruns);
	kmbuf_port_show_fdinfo(port, m);
}

static int kmbuf_tick_open(struct inode *inode, struct file *file)
{
	struct kmbuf_tick_file *tf = kzalloc(sizeof(*tf), GFP_KERNEL_ACCOUNT);

	if (!tf)
		return -ENOMEM;
	mutex_init(&tf->lock);
	file->private_data = tf;
	return nonseekable_open(inode, file);
}

/* Every command holds the file: none is in flight here. */
static int kmbuf_tick_release(struct inode *inode, struct file *file)
{
	struct kmbuf_tick_file *tf = file->private_data;
	unsigned int i;

	if (tf->port) {
		for (i = 0; i < tf->nr; i++)
			hrtimer_cancel(&tf->ch[i].timer);
		kmbuf_port_destroy(tf->port);
		kvfree(tf->ch);
	}
	mutex_destroy(&tf->lock);
	kfree(tf);
	return 0;
}

static const struct file_operations kmbuf_tick_fops = {
	.owner		= THIS_MODULE,
	.open		= kmbuf_tick_open,
	.release	= kmbuf_tick_release,
	.unlocked_ioctl	= kmbuf_tick_ioctl,
	.uring_cmd	= kmbuf_tick_uring_cmd,
	.show_fdinfo	= kmbuf_tick_show_fdinfo,
	.fop_flags	= FOP_URING_CMD_MULTISHOT | FOP_URING_CMD_CANCEL,
};

static struct miscdevice kmbuf_tick_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kmbuf_tick",
	.fops	= &kmbuf_tick_fops,
	.mode	= 0666,
};

static int __init kmbuf_tick_init(void)
{
	unsigned int i, nr = KMBUF_TICK_MAX_RECORD / 8;
	int ret;

	BUILD_BUG_ON(KMBUF_TICK_MAX_CHANNELS != KMBUF_MAX_STREAMS);
	kmbuf_tick_fill = kvmalloc_array(nr, sizeof(__le64), GFP_KERNEL);
	if (!kmbuf_tick_fill)
		return -ENOMEM;
	for (i = 0; i < nr; i++)
		kmbuf_tick_fill[i] = cpu_to_le64(kmbuf_tick_word(i));
	ret = misc_register(&kmbuf_tick_misc);
	if (ret)
		goto free_fill;
	return 0;

free_fill:
	kvfree(kmbuf_tick_fill);
	return ret;
}

/* Every open file holds a module reference: no timer runs here. */
static void __exit kmbuf_tick_exit(void)
{
	misc_deregister(&kmbuf_tick_misc);
	kvfree(kmbuf_tick_fill);
}

module_init(kmbuf_tick_init);
module_exit(kmbuf_tick_exit);

MODULE_DESCRIPTION("Hard-irq periodic record source for io_uring kernel-managed buffer rings");
MODULE_LICENSE("GPL");
