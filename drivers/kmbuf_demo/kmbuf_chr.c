// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_chr: a record-stream character device that delivers data to
 * userspace through io_uring kernel-managed buffer rings (kmbuf).
 *
 * Records come from a FIFO fed by write(2), one per user (the effective uid
 * of the opener: files of different users never see each other's records),
 * or from a per-file generator (see include/uapi/linux/kmbuf_chr.h).  They
 * are read with read(2) and io_uring reads, one record per call, or
 * delivered into the buffers of a kmbuf ring bound to the file, one CQE
 * per record, through the common kmbuf commands (include/uapi/linux/kmbuf.h):
 * each file is a kmbuf port with one pull stream, and the kmbuf core calls
 * kmbuf_chr_stream_produce() whenever it has a buffer for the next record.
 * See Documentation/io_uring/kmbuf_chr.rst.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/io_uring/cmd.h>
#include <linux/io_uring/kmbuf.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/refcount.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/unaligned.h>
#include <linux/wait.h>
#include <uapi/linux/kmbuf_chr.h>

/* Words generated per chunk in pattern mode before they are copied out. */
#define KMBUF_CHR_CHUNK_WORDS	64
/* Most copies one KMBUF_CHR_MEMCPY may ask for. */
#define KMBUF_CHR_MEMCPY_MAX	BIT_ULL(24)

/* One record of a queue. */
struct kmbuf_chr_rec {
	struct list_head	node;
	u32			len;
	u8			data[];
};

/*
 * The record queue of one user: every file opened with the same effective
 * uid shares it, so records never cross from one user to another.  Created
 * by the first open of that user, freed with its records at the last close.
 */
struct kmbuf_chr_queue {
	struct list_head	node;		/* in kmbuf_chr_queues */
	refcount_t		refs;		/* open files */
	kuid_t			uid;
	spinlock_t		lock;		/* protects the next three */
	struct list_head	records;
	unsigned int		nr;
	struct list_head	waiters;	/* files whose stream wants data */
	struct wait_queue_head	read_wait;
	struct wait_queue_head	write_wait;
};

/* All queues, looked up at open; protected by kmbuf_chr_queues_lock. */
static LIST_HEAD(kmbuf_chr_queues);
static DEFINE_MUTEX(kmbuf_chr_queues_lock);

/* Words 1 .. (KMBUF_CHR_MAX_RECORD / 8 - 2) of every generator record. */
static __le64 *kmbuf_chr_fill;

struct kmbuf_chr_file {
	spinlock_t		lock;		/* protects mode and rec_size */
	u32			mode;
	u32			rec_size;
	struct kmbuf_port	*port;		/* one stream */
	struct kmbuf_chr_queue	*q;		/* of the opener's euid */
	/* protected by q->lock */
	struct list_head	wait_node;

	atomic64_t		seq;		/* next generator record */
	atomic64_t		pos;		/* pattern stream offset */
};

/* Copy @len bytes of the pattern stream starting at @pos to @to. */
static size_t kmbuf_chr_pattern(struct iov_iter *to, u64 pos, size_t len)
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

/*
 * Pattern bytes to all of @to from the stream offset of @kf.  Concurrent
 * readers of one file get disjoint ranges: each reserves its range before
 * copying.  Bytes a fault left uncopied are given back unless another
 * reader reserved bytes after them meanwhile; then they are skipped.
 */
static ssize_t kmbuf_chr_pattern_read(struct kmbuf_chr_file *kf,
				      struct iov_iter *to)
{
	size_t want = iov_iter_count(to), len;
	u64 pos = atomic64_fetch_add(want, &kf->pos);

	len = kmbuf_chr_pattern(to, pos, want);
	if (len < want)
		atomic64_cmpxchg(&kf->pos, pos + want, pos + len);
	return len ? len : -EFAULT;
}

/*
 * Generator record @seq of @size bytes at user address @p: the two
 * sequence words under one user access section, then the fill.
 */
static int kmbuf_chr_gen_user(void __user *p, u64 seq, u32 size)
{
	__le64 __user *w = p;

	if (!user_access_begin(p, size))
		return -EFAULT;
	unsafe_put_user(cpu_to_le64(seq), w, efault);
	unsafe_put_user(cpu_to_le64(~seq), w + size / 8 - 1, efault);
	user_access_end();
	if (copy_to_user(w + 1, kmbuf_chr_fill + 1, size - 16))
		return -EFAULT;
	return 0;
efault:
	user_access_end();
	return -EFAULT;
}

/* Generator record @seq of @size bytes at kernel address @k. */
static void kmbuf_chr_gen_kbuf(u8 *k, u64 seq, u32 size)
{
	put_unaligned_le64(seq, k);
	memcpy(k + 8, kmbuf_chr_fill + 1, size - 16);
	put_unaligned_le64(~seq, k + size - 8);
}

/*
 * One generator record of @size bytes to @to.  read(2)'s destination, one
 * user buffer, is written directly with one bulk copy; anything else goes
 * through copy_to_iter() piece by piece.  kmbuf delivery writes its
 * kernel buffers with kmbuf_chr_gen_kbuf() and does not come here.
 */
static ssize_t kmbuf_chr_gen(struct kmbuf_chr_file *kf, struct iov_iter *to,
			     u32 size)
{
	__le64 head, tail;
	u64 seq;

	if (iov_iter_count(to) < size)
		return -EMSGSIZE;
	seq = atomic64_fetch_inc(&kf->seq);
	if (iter_is_ubuf(to)) {
		if (kmbuf_chr_gen_user(to->ubuf + to->iov_offset, seq, size))
			return -EFAULT;
		iov_iter_advance(to, size);
		return size;
	}
	head = cpu_to_le64(seq);
	tail = cpu_to_le64(~seq);
	if (copy_to_iter(&head, 8, to) != 8 ||
	    copy_to_iter(kmbuf_chr_fill + 1, size - 16, to) != size - 16 ||
	    copy_to_iter(&tail, 8, to) != 8)
		return -EFAULT;
	return size;
}

/*
 * Records were added to @q: kick the RECVs waiting for one.  Called with
 * @q->lock held; the caller wakes read_wait after dropping it.
 */
static void kmbuf_chr_queue_added_locked(struct kmbuf_chr_queue *q)
{
	struct kmbuf_chr_file *w, *tmp;

	lockdep_assert_held(&q->lock);
	list_for_each_entry_safe(w, tmp, &q->waiters, wait_node) {
		list_del_init(&w->wait_node);
		kmbuf_stream_kick(kmbuf_port_stream(w->port, 0));
	}
}

/*
 * Move the oldest record of @q to @to.  -EAGAIN if the queue is empty;
 * then, if @waiter is given, it is registered to be kicked by the next
 * write.  -EMSGSIZE if @to is too small leaves the record queued.  The
 * record is taken off the queue under the queue's spinlock and copied
 * with no lock held, so a reader whose destination faults slowly holds up
 * nobody; on -EFAULT the record goes back to the head of the queue.
 */
static ssize_t kmbuf_chr_dequeue(struct kmbuf_chr_queue *q,
				 struct iov_iter *to,
				 struct kmbuf_chr_file *waiter)
{
	struct kmbuf_chr_rec *rec;
	ssize_t ret = 0;

	spin_lock_irq(&q->lock);
	rec = list_first_entry_or_null(&q->records, struct kmbuf_chr_rec, node);
	if (!rec) {
		if (waiter && list_empty(&waiter->wait_node))
			list_add_tail(&waiter->wait_node, &q->waiters);
		ret = -EAGAIN;
	} else if (rec->len > iov_iter_count(to)) {
		ret = -EMSGSIZE;
	} else {
		list_del(&rec->node);
		q->nr--;
	}
	spin_unlock_irq(&q->lock);
	if (ret)
		return ret;

	if (copy_to_iter(rec->data, rec->len, to) != rec->len) {
		spin_lock_irq(&q->lock);
		list_add(&rec->node, &q->records);
		q->nr++;
		kmbuf_chr_queue_added_locked(q);
		spin_unlock_irq(&q->lock);
		wake_up_interruptible_poll(&q->read_wait, EPOLLIN);
		return -EFAULT;
	}
	ret = rec->len;
	kvfree(rec);
	wake_up_interruptible_poll(&q->write_wait, EPOLLOUT);
	return ret;
}

/*
 * The next record (or pattern bytes) of @kf in @mode, with generator
 * records of @size bytes, into @to.  Returns its length or a negative
 * errno; see kmbuf_chr_dequeue() for @waiter.
 */
static ssize_t kmbuf_chr_produce(struct kmbuf_chr_file *kf, u32 mode,
				 u32 size, struct iov_iter *to,
				 struct kmbuf_chr_file *waiter)
{
	switch (mode) {
	case KMBUF_CHR_MODE_GEN:
		return kmbuf_chr_gen(kf, to, size);
	case KMBUF_CHR_MODE_PATTERN:
		return kmbuf_chr_pattern_read(kf, to);
	default:
		return kmbuf_chr_dequeue(kf->q, to, waiter);
	}
}

/*
 * kmbuf_stream_ops.produce: the next records of the file into buffers the
 * kmbuf core took for them, one per buffer.  In queue mode an empty queue
 * registers the file to be kicked by the next write.
 */
static int kmbuf_chr_stream_produce(struct kmbuf_stream *s, void *priv,
				    struct kmbuf_fill *bufs, unsigned int nr)
{
	struct kmbuf_chr_file *kf = priv;
	struct iov_iter it;
	unsigned int i;
	struct kvec kv;
	u32 mode, size;
	ssize_t ret;
	u64 seq;

	/* SET_MODE is refused while the stream is armed, as it is now */
	mode = READ_ONCE(kf->mode);
	size = READ_ONCE(kf->rec_size);
	/* the benchmarks' case: straight into the buffers, one counter add */
	if (mode == KMBUF_CHR_MODE_GEN && bufs[0].size >= size) {
		seq = atomic64_fetch_add(nr, &kf->seq);
		for (i = 0; i < nr; i++) {
			kmbuf_chr_gen_kbuf(bufs[i].kaddr, seq + i, size);
			bufs[i].len = size;
		}
		return nr;
	}
	for (i = 0; i < nr; i++) {
		kv.iov_base = bufs[i].kaddr;
		kv.iov_len = bufs[i].size;
		iov_iter_kvec(&it, ITER_DEST, &kv, 1, bufs[i].size);
		ret = kmbuf_chr_produce(kf, mode, size, &it, kf);
		if (ret < 0)
			return i ? i : ret;
		bufs[i].len = ret;
	}
	return nr;
}

static const struct kmbuf_stream_ops kmbuf_chr_stream_ops = {
	.produce	= kmbuf_chr_stream_produce,
};

static int kmbuf_chr_copy_mode(struct kmbuf_chr_mode *m, u64 uaddr)
{
	if (copy_from_user(m, u64_to_user_ptr(uaddr), sizeof(*m)))
		return -EFAULT;
	return 0;
}

static int kmbuf_chr_set_mode(struct kmbuf_chr_file *kf,
			      const struct kmbuf_chr_mode *m)
{
	int ret = 0;

	switch (m->mode) {
	case KMBUF_CHR_MODE_GEN:
		if (m->rec_size < 16 || m->rec_size > KMBUF_CHR_MAX_RECORD ||
		    !IS_ALIGNED(m->rec_size, 8))
			return -EINVAL;
		break;
	case KMBUF_CHR_MODE_QUEUE:
	case KMBUF_CHR_MODE_PATTERN:
		if (m->rec_size || m->start_seq)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}

	spin_lock_irq(&kf->lock);
	if (kmbuf_stream_armed(kmbuf_port_stream(kf->port, 0))) {
		ret = -EBUSY;
	} else {
		WRITE_ONCE(kf->mode, m->mode);
		WRITE_ONCE(kf->rec_size, m->rec_size);
		atomic64_set(&kf->seq, m->start_seq);
	}
	spin_unlock_irq(&kf->lock);
	return ret;
}

static int kmbuf_chr_uring_cmd(struct io_uring_cmd *cmd,
			       unsigned int issue_flags)
{
	struct kmbuf_chr_file *kf = cmd->file->private_data;
	const struct kmbuf_chr_cmd *sc;
	struct kmbuf_chr_cmd c;
	struct kmbuf_chr_mode m;
	int ret;

	/* BIND, ARM, RETURN, UNBIND and the cancellation of ARM */
	if (kmbuf_cmd_op_is_common(cmd->cmd_op))
		return kmbuf_port_uring_cmd(kf->port, cmd, issue_flags);
	/* nothing else is ever marked cancelable */
	if (unlikely(issue_flags & IO_URING_F_CANCEL))
		return 0;

	/* unused SQE fields and uring_cmd flags must be 0 */
	ret = kmbuf_cmd_check_sqe(cmd, issue_flags);
	if (ret)
		return ret;
	sc = io_uring_sqe_cmd(cmd->sqe);
	c.addr = READ_ONCE(sc->addr);
	c.nr = READ_ONCE(sc->nr);
	c.flags = READ_ONCE(sc->flags);

	switch (cmd->cmd_op) {
	case KMBUF_CHR_SET_MODE:
		if (c.nr || c.flags)
			return -EINVAL;
		ret = kmbuf_chr_copy_mode(&m, c.addr);
		return ret ? ret : kmbuf_chr_set_mode(kf, &m);
	default:
		return -ENOTTY;
	}
}

static long kmbuf_chr_memcpy(void __user *argp)
{
	struct kmbuf_chr_memcpy mc;
	void *src, *dst;
	u64 i, t0;
	long ret = 0;

	/* up to 2^24 copies of 64 KiB: a benchmark tool, not for everyone */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&mc, argp, sizeof(mc)))
		return -EFAULT;
	if (mc.resv || !mc.rec_size || mc.rec_size > KMBUF_CHR_MAX_RECORD ||
	    !mc.count || mc.count > KMBUF_CHR_MEMCPY_MAX)
		return -EINVAL;
	src = kvmalloc(mc.rec_size, GFP_KERNEL);
	dst = kvmalloc(mc.rec_size, GFP_KERNEL);
	if (!src || !dst) {
		ret = -ENOMEM;
		goto free_bufs;
	}
	memset(src, 0x5a, mc.rec_size);
	t0 = ktime_get_ns();
	for (i = 0; i < mc.count; i++) {
		memcpy(dst, src, mc.rec_size);
		/* the copies are the point: keep the compiler from merging them */
		barrier_data(dst);
		if (!(i & 1023)) {
			if (fatal_signal_pending(current)) {
				ret = -EINTR;
				goto free_bufs;
			}
			cond_resched();
		}
	}
	mc.ns = ktime_get_ns() - t0;
	if (copy_to_user(argp, &mc, sizeof(mc)))
		ret = -EFAULT;
free_bufs:
	kvfree(dst);
	kvfree(src);
	return ret;
}

static long kmbuf_chr_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct kmbuf_chr_file *kf = file->private_data;
	void __user *argp = (void __user *)arg;
	struct kmbuf_chr_mode m;

	switch (cmd) {
	case KMBUF_CHR_SET_MODE:
		if (copy_from_user(&m, argp, sizeof(m)))
			return -EFAULT;
		return kmbuf_chr_set_mode(kf, &m);
	case KMBUF_CHR_MEMCPY:
		return kmbuf_chr_memcpy(argp);
	default:
		return -ENOTTY;
	}
}

static bool kmbuf_chr_nonblock(struct kiocb *iocb)
{
	return (iocb->ki_flags & IOCB_NOWAIT) ||
	       (iocb->ki_filp->f_flags & O_NONBLOCK);
}

static ssize_t kmbuf_chr_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct kmbuf_chr_file *kf = iocb->ki_filp->private_data;
	struct kmbuf_chr_queue *q = kf->q;
	u32 mode, size;
	ssize_t ret;

	if (!iov_iter_count(to))
		return 0;
	spin_lock_irq(&kf->lock);
	mode = kf->mode;
	size = kf->rec_size;
	spin_unlock_irq(&kf->lock);
	for (;;) {
		ret = kmbuf_chr_produce(kf, mode, size, to, NULL);
		if (ret != -EAGAIN || kmbuf_chr_nonblock(iocb))
			return ret;
		ret = wait_event_interruptible(q->read_wait, READ_ONCE(q->nr));
		if (ret)
			return ret;
	}
}

static ssize_t kmbuf_chr_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct kmbuf_chr_file *kf = iocb->ki_filp->private_data;
	size_t len = iov_iter_count(from);
	struct kmbuf_chr_queue *q = kf->q;
	struct kmbuf_chr_rec *rec;
	gfp_t gfp = GFP_KERNEL_ACCOUNT;
	int ret;

	if (!len)
		return 0;
	if (len > KMBUF_CHR_MAX_RECORD)
		return -EMSGSIZE;
	/* IOCB_NOWAIT: nothing may block, not even reclaim */
	if (iocb->ki_flags & IOCB_NOWAIT)
		gfp = GFP_NOWAIT | __GFP_ACCOUNT | __GFP_NOWARN;
	rec = kvmalloc(struct_size(rec, data, len), gfp);
	if (!rec)
		return iocb->ki_flags & IOCB_NOWAIT ? -EAGAIN : -ENOMEM;
	rec->len = len;
	if (!copy_from_iter_full(rec->data, len, from)) {
		ret = -EFAULT;
		goto free_rec;
	}

	spin_lock_irq(&q->lock);
	while (q->nr >= KMBUF_CHR_QUEUE_LEN) {
		spin_unlock_irq(&q->lock);
		ret = -EAGAIN;
		if (kmbuf_chr_nonblock(iocb))
			goto free_rec;
		ret = wait_event_interruptible(q->write_wait,
					       READ_ONCE(q->nr) <
					       KMBUF_CHR_QUEUE_LEN);
		if (ret)
			goto free_rec;
		spin_lock_irq(&q->lock);
	}
	list_add_tail(&rec->node, &q->records);
	q->nr++;
	kmbuf_chr_queue_added_locked(q);
	spin_unlock_irq(&q->lock);
	wake_up_interruptible_poll(&q->read_wait, EPOLLIN);
	return len;

free_rec:
	kvfree(rec);
	return ret;
}

static __poll_t kmbuf_chr_poll(struct file *file, poll_table *wait)
{
	struct kmbuf_chr_file *kf = file->private_data;
	struct kmbuf_chr_queue *q = kf->q;
	__poll_t mask = 0;

	poll_wait(file, &q->read_wait, wait);
	poll_wait(file, &q->write_wait, wait);
	if (READ_ONCE(kf->mode) != KMBUF_CHR_MODE_QUEUE || READ_ONCE(q->nr))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (READ_ONCE(q->nr) < KMBUF_CHR_QUEUE_LEN)
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

static void kmbuf_chr_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct kmbuf_chr_file *kf = file->private_data;

	seq_printf(m, "kmbuf_chr_mode:\t%u\n", READ_ONCE(kf->mode));
	kmbuf_port_show_fdinfo(kf->port, m);
}

/* The record queue of @uid, created on first use; NULL without memory. */
static struct kmbuf_chr_queue *kmbuf_chr_queue_get(kuid_t uid)
{
	struct kmbuf_chr_queue *q;

	mutex_lock(&kmbuf_chr_queues_lock);
	list_for_each_entry(q, &kmbuf_chr_queues, node) {
		if (uid_eq(q->uid, uid)) {
			refcount_inc(&q->refs);
			goto unlock;
		}
	}
	q = kzalloc(sizeof(*q), GFP_KERNEL_ACCOUNT);
	if (q) {
		refcount_set(&q->refs, 1);
		q->uid = uid;
		spin_lock_init(&q->lock);
		INIT_LIST_HEAD(&q->records);
		INIT_LIST_HEAD(&q->waiters);
		init_waitqueue_head(&q->read_wait);
		init_waitqueue_head(&q->write_wait);
		list_add(&q->node, &kmbuf_chr_queues);
	}
unlock:
	mutex_unlock(&kmbuf_chr_queues_lock);
	return q;
}

/* Drop a file's reference; the last one frees the queue and its records. */
static void kmbuf_chr_queue_put(struct kmbuf_chr_queue *q)
{
	struct kmbuf_chr_rec *rec, *tmp;

	if (!refcount_dec_and_mutex_lock(&q->refs, &kmbuf_chr_queues_lock))
		return;
	list_del(&q->node);
	mutex_unlock(&kmbuf_chr_queues_lock);
	list_for_each_entry_safe(rec, tmp, &q->records, node)
		kvfree(rec);
	kfree(q);
}

static int kmbuf_chr_open(struct inode *inode, struct file *file)
{
	struct kmbuf_port_desc pd = {
		.ops		= &kmbuf_chr_stream_ops,
		.nr_streams	= 1,
		.max_buf_size	= KMBUF_CHR_MAX_RECORD,
	};
	struct kmbuf_chr_file *kf;
	int ret = -ENOMEM;

	kf = kzalloc(sizeof(*kf), GFP_KERNEL);
	if (!kf)
		return -ENOMEM;
	/* records are shared by the files of one user, never across users */
	kf->q = kmbuf_chr_queue_get(file->f_cred->euid);
	if (!kf->q)
		goto free_kf;
	pd.priv = kf;
	kf->port = kmbuf_port_create(&pd);
	if (IS_ERR(kf->port)) {
		ret = PTR_ERR(kf->port);
		goto put_queue;
	}
	spin_lock_init(&kf->lock);
	INIT_LIST_HEAD(&kf->wait_node);
	file->private_data = kf;
	stream_open(inode, file);
	/*
	 * With IOCB_NOWAIT nothing sleeps: reads take spinlocks only, writes
	 * allocate with GFP_NOWAIT and don't wait for room.  So io_uring may
	 * try reads and writes inline.
	 */
	file->f_mode |= FMODE_NOWAIT;
	return 0;

put_queue:
	kmbuf_chr_queue_put(kf->q);
free_kf:
	kfree(kf);
	return ret;
}

/*
 * An armed stream holds a reference to the file, so none is left here,
 * and nothing kicks the stream once the file is off the waiter list.
 */
static int kmbuf_chr_release(struct inode *inode, struct file *file)
{
	struct kmbuf_chr_file *kf = file->private_data;

	spin_lock_irq(&kf->q->lock);
	list_del_init(&kf->wait_node);
	spin_unlock_irq(&kf->q->lock);
	kmbuf_port_destroy(kf->port);
	kmbuf_chr_queue_put(kf->q);
	kfree(kf);
	return 0;
}

static const struct file_operations kmbuf_chr_fops = {
	.owner		= THIS_MODULE,
	.open		= kmbuf_chr_open,
	.release	= kmbuf_chr_release,
	.read_iter	= kmbuf_chr_read_iter,
	.write_iter	= kmbuf_chr_write_iter,
	.poll		= kmbuf_chr_poll,
	.unlocked_ioctl	= kmbuf_chr_ioctl,
	.uring_cmd	= kmbuf_chr_uring_cmd,
	.show_fdinfo	= kmbuf_chr_show_fdinfo,
	.fop_flags	= FOP_URING_CMD_MULTISHOT | FOP_URING_CMD_CANCEL,
};

static struct miscdevice kmbuf_chr_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kmbuf_chr",
	.fops	= &kmbuf_chr_fops,
	.mode	= 0666,
};

static int __init kmbuf_chr_init(void)
{
	unsigned int i, nr = KMBUF_CHR_MAX_RECORD / 8;
	int ret;

	/* kmbuf_cmd_check_sqe() checks what follows a 16-byte payload */
	BUILD_BUG_ON(sizeof(struct kmbuf_chr_cmd) != 16);
	kmbuf_chr_fill = kvmalloc_array(nr, sizeof(*kmbuf_chr_fill),
					GFP_KERNEL);
	if (!kmbuf_chr_fill)
		return -ENOMEM;
	for (i = 0; i < nr; i++)
		kmbuf_chr_fill[i] = cpu_to_le64(KMBUF_CHR_GEN_FILL * i);

	ret = misc_register(&kmbuf_chr_misc);
	if (ret) {
		pr_err("cannot register misc device: %d\n", ret);
		goto free_fill;
	}
	return 0;

free_fill:
	kvfree(kmbuf_chr_fill);
	return ret;
}

/* Every open file holds a module reference: no queue is left here. */
static void __exit kmbuf_chr_exit(void)
{
	misc_deregister(&kmbuf_chr_misc);
	kvfree(kmbuf_chr_fill);
}

module_init(kmbuf_chr_init);
module_exit(kmbuf_chr_exit);

MODULE_DESCRIPTION("Record-stream character device for io_uring kernel-managed buffer rings");
MODULE_LICENSE("GPL");
