// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_chr: a record-stream character device that delivers data to
 * userspace through io_uring kernel-managed buffer rings (kmbuf).
 *
 * Records come from a FIFO fed by write(2), one per user (the effective uid
 * of the opener: files of different users never see each other's records),
 * or from a per-file generator (see include/uapi/linux/kmbuf_chr.h).  They
 * are read with read(2) and io_uring reads, one record per call, or
 * delivered by a multishot KMBUF_CHR_RECV command into the buffers of a
 * kmbuf ring bound to the file, one CQE per record.
 *
 * Delivery of a RECV command always runs in the task that submitted it,
 * with the ring's uring_lock held: inline at issue, or from task work.
 * Everything that wants delivery to happen (a buffer returned, a record
 * written, the end of the command) "kicks" the command: it schedules task
 * work unless some is already pending.  Only that task work completes the
 * command, so a completion can never race with queued task work.
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
/* Records one delivery run posts before it yields to other task work. */
#define KMBUF_CHR_RECV_BUDGET	256U
/* Buffers a delivery run takes from the ring at a time. */
#define KMBUF_CHR_BATCH		16U
/* Buffer ids a RETURN copies to the stack; bigger batches allocate. */
#define KMBUF_CHR_RETURN_STACK	64
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
	struct list_head	waiters;	/* files whose RECV wants data */
	struct wait_queue_head	read_wait;
	struct wait_queue_head	write_wait;
};

/* All queues, looked up at open; protected by kmbuf_chr_queues_lock. */
static LIST_HEAD(kmbuf_chr_queues);
static DEFINE_MUTEX(kmbuf_chr_queues_lock);

/* Words 1 .. (KMBUF_CHR_MAX_RECORD / 8 - 2) of every generator record. */
static __le64 *kmbuf_chr_fill;

struct kmbuf_chr_file {
	spinlock_t		lock;		/* protects up to stash_len */
	u32			mode;
	u32			rec_size;
	struct kmbuf_ring	*ring;
	struct io_uring_cmd	*recv;		/* the pending RECV, if any */
	/*
	 * Task work queued for @recv, or @recv still being set up (not yet
	 * cancelable): either way a kick has nothing to do.
	 */
	bool			tw_pending;
	bool			final_set;	/* @recv must end with final_res */
	s32			final_res;
	/*
	 * A record whose CQE could not be posted (CQ ring full) waits in
	 * buffer @stash_bid of @ring for the next RECV to post it first.
	 * The ring counts the buffer as userspace's (it was handed over
	 * before its CQE failed); RETURN refuses it.
	 */
	bool			stashed;
	u16			stash_bid;
	u32			stash_len;

	struct kmbuf_chr_queue	*q;		/* of the opener's euid */
	/* protected by q->lock */
	struct list_head	wait_node;

	atomic64_t		seq;		/* next generator record */
	atomic64_t		pos;		/* pattern stream offset */
};

/* Per-command state of a RECV, in the command's pdu. */
struct kmbuf_chr_pdu {
	struct kmbuf_chr_file	*kf;
	struct kmbuf_ring	*ring;		/* our own reference */
};

static struct kmbuf_chr_pdu *kmbuf_chr_pdu(struct io_uring_cmd *cmd)
{
	return io_uring_cmd_to_pdu(cmd, struct kmbuf_chr_pdu);
}

static void kmbuf_chr_recv_tw(struct io_uring_cmd *cmd,
			      unsigned int issue_flags);

/*
 * Make the pending RECV of @kf run in its task soon.  Any context;
 * called with @kf->lock held.
 */
static void kmbuf_chr_kick_locked(struct kmbuf_chr_file *kf)
{
	lockdep_assert_held(&kf->lock);
	if (!kf->recv || kf->tw_pending)
		return;
	kf->tw_pending = true;
	io_uring_cmd_complete_in_task(kf->recv, kmbuf_chr_recv_tw);
}

static void kmbuf_chr_kick(struct kmbuf_chr_file *kf)
{
	unsigned long flags;

	spin_lock_irqsave(&kf->lock, flags);
	kmbuf_chr_kick_locked(kf);
	spin_unlock_irqrestore(&kf->lock, flags);
}

/*
 * End the pending RECV of @kf with @res: recorded here, done by the task
 * work.  A result already recorded wins.  No result carries a buffer, so
 * the one that loses costs nothing.  Any context; called with @kf->lock
 * held.
 */
static void kmbuf_chr_recv_end_locked(struct kmbuf_chr_file *kf, s32 res)
{
	lockdep_assert_held(&kf->lock);
	if (kf->recv && !kf->final_set) {
		kf->final_set = true;
		kf->final_res = res;
	}
	kmbuf_chr_kick_locked(kf);
}

static void kmbuf_chr_recv_end(struct kmbuf_chr_file *kf, s32 res)
{
	unsigned long flags;

	spin_lock_irqsave(&kf->lock, flags);
	kmbuf_chr_recv_end_locked(kf, res);
	spin_unlock_irqrestore(&kf->lock, flags);
}

/* kmbuf notify callback: a buffer came back after the ring ran dry. */
static void kmbuf_chr_ring_notify(struct kmbuf_ring *ring, void *priv)
{
	kmbuf_chr_kick(priv);
}

static void kmbuf_chr_unwait(struct kmbuf_chr_file *kf)
{
	spin_lock_irq(&kf->q->lock);
	list_del_init(&kf->wait_node);
	spin_unlock_irq(&kf->q->lock);
}

/*
 * Take back buffers handed to userspace but never announced by a CQE.
 * A failure means userspace returned an id it had not been told about
 * (its bug; the ring stays consistent): then take back the others one by
 * one, and the ones it already returned are simply free.
 */
static void kmbuf_chr_take_back(struct kmbuf_ring *ring, const u32 *bids,
				unsigned int nr)
{
	unsigned int i;

	if (!nr || kmbuf_ring_return(ring, bids, nr) == nr)
		return;
	for (i = 0; i < nr; i++) {
		/* -EALREADY: userspace gave this one back itself, it is free */
		if (kmbuf_ring_return(ring, &bids[i], 1) != 1)
			continue;
	}
}

static void kmbuf_chr_unannounce(struct kmbuf_ring *ring,
				 const struct kmbuf_buf *bufs, unsigned int nr)
{
	u32 bids[KMBUF_CHR_BATCH];
	unsigned int i;

	for (i = 0; i < nr; i++)
		bids[i] = bufs[i].bid;
	kmbuf_chr_take_back(ring, bids, nr);
}

/*
 * Take the stashed record of @kf out of the stash: its buffer id to @bid,
 * its length to @len.  Called with @kf->lock held.  Returns false if there
 * is none.
 */
static bool kmbuf_chr_unstash_locked(struct kmbuf_chr_file *kf, u32 *bid,
				     u32 *len)
{
	lockdep_assert_held(&kf->lock);
	if (!kf->stashed)
		return false;
	kf->stashed = false;
	*bid = kf->stash_bid;
	*len = kf->stash_len;
	return true;
}

/*
 * Keep the record of @len bytes in buffer @bid of @ring, whose CQE could
 * not be posted, for the next RECV of @kf to post first.  If @ring is no
 * longer bound (UNBIND ran meanwhile), the buffer goes back to it instead.
 * Process context.
 */
static void kmbuf_chr_stash(struct kmbuf_chr_file *kf, struct kmbuf_ring *ring,
			    u32 bid, u32 len)
{
	spin_lock_irq(&kf->lock);
	if (kf->ring == ring && !kf->stashed) {
		kf->stashed = true;
		kf->stash_bid = bid;
		kf->stash_len = len;
		spin_unlock_irq(&kf->lock);
		return;
	}
	spin_unlock_irq(&kf->lock);
	kmbuf_chr_take_back(ring, &bid, 1);
}

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
		kmbuf_chr_kick(w);
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

/* The next record of @kf into the kernel buffer @buf; see _produce(). */
static ssize_t kmbuf_chr_produce_buf(struct kmbuf_chr_file *kf, u32 mode,
				     u32 size, const struct kmbuf_buf *buf)
{
	struct iov_iter it;
	struct kvec kv;

	/* the benchmarks' case: straight into the buffer */
	if (mode == KMBUF_CHR_MODE_GEN && buf->len >= size) {
		kmbuf_chr_gen_kbuf(buf->kaddr, atomic64_fetch_inc(&kf->seq),
				   size);
		return size;
	}
	kv.iov_base = buf->kaddr;
	kv.iov_len = buf->len;
	iov_iter_kvec(&it, ITER_DEST, &kv, 1, buf->len);
	return kmbuf_chr_produce(kf, mode, size, &it, kf);
}

/*
 * Deliver records into free buffers until the ring runs dry, the queue is
 * empty, the budget is spent or the command must end.  Runs in the task
 * that submitted @cmd with its ring's uring_lock held.
 *
 * Buffers are taken and handed to userspace in batches, one ring lock
 * round trip per batch, then filled and announced one CQE at a time: a
 * record is only produced once the CQE of the one before it is posted, and
 * the buffers of a batch that were not needed go back to the ring.  When
 * the CQ ring is full, the record in hand stays in its buffer, kept by the
 * file (the stash), and the command ends with -EOVERFLOW, a CQE that
 * carries no buffer; the next RECV posts the stashed record first.  So no
 * record and no buffer rides in a terminating CQE, which could be dropped
 * (IOSQE_CQE_SKIP_SUCCESS, a failed overflow allocation).
 */
static void kmbuf_chr_recv_run(struct io_uring_cmd *cmd,
			       unsigned int issue_flags)
{
	struct kmbuf_chr_pdu *pdu = kmbuf_chr_pdu(cmd);
	struct kmbuf_buf bufs[KMBUF_CHR_BATCH];
	struct kmbuf_chr_file *kf = pdu->kf;
	unsigned int budget = KMBUF_CHR_RECV_BUDGET;
	u32 mode, size, bid, len;
	bool stashed = false;
	int nr, i;
	ssize_t n;

	/* SET_MODE is refused while a RECV is pending: read it once */
	spin_lock_irq(&kf->lock);
	mode = kf->mode;
	size = kf->rec_size;
	if (kf->ring == pdu->ring)
		stashed = kmbuf_chr_unstash_locked(kf, &bid, &len);
	spin_unlock_irq(&kf->lock);

	/* the record the last RECV could not post comes first */
	if (stashed) {
		if (!io_uring_cmd_post_mshot_cqe(cmd, len, kmbuf_cqe_flags(bid),
						 issue_flags)) {
			kmbuf_chr_stash(kf, pdu->ring, bid, len);
			kmbuf_chr_recv_end(kf, -EOVERFLOW);
			return;
		}
		budget--;
	}

	while (budget) {
		if (READ_ONCE(kf->final_set))
			break;
		nr = kmbuf_buf_take_batch(pdu->ring, bufs,
					  min(budget, KMBUF_CHR_BATCH));
		if (nr == -ENOBUFS)
			return;	/* the notify callback kicks us */
		if (nr < 0) {
			/* -ESHUTDOWN: unbound, UNBIND has set the result */
			kmbuf_chr_recv_end(kf, -ECANCELED);
			return;
		}
		/* we just took them: they are ours to hand over */
		if (WARN_ON_ONCE(kmbuf_buf_to_user_batch(pdu->ring, bufs, nr))) {
			for (i = 0; i < nr; i++)
				kmbuf_buf_put(pdu->ring, bufs[i].bid);
			kmbuf_chr_recv_end(kf, -EIO);
			return;
		}
		for (i = 0; i < nr; i++) {
			n = kmbuf_chr_produce_buf(kf, mode, size, &bufs[i]);
			if (n < 0) {
				kmbuf_chr_unannounce(pdu->ring, &bufs[i],
						     nr - i);
				if (n != -EAGAIN) /* -EAGAIN: a writer kicks us */
					kmbuf_chr_recv_end(kf, n);
				return;
			}
			if (!io_uring_cmd_post_mshot_cqe(cmd, n,
							 kmbuf_cqe_flags(bufs[i].bid),
							 issue_flags)) {
				/* CQ ring full: stash it, end without it */
				kmbuf_chr_unannounce(pdu->ring, &bufs[i + 1],
						     nr - i - 1);
				kmbuf_chr_stash(kf, pdu->ring, bufs[i].bid, n);
				kmbuf_chr_recv_end(kf, -EOVERFLOW);
				return;
			}
		}
		budget -= nr;
	}
	/* budget spent, or the command ends: continue in task work */
	kmbuf_chr_kick(kf);
}

static void kmbuf_chr_recv_tw(struct io_uring_cmd *cmd,
			      unsigned int issue_flags)
{
	struct kmbuf_chr_pdu *pdu = kmbuf_chr_pdu(cmd);
	struct kmbuf_chr_file *kf = pdu->kf;
	bool end = false;
	s32 res = 0;

	spin_lock_irq(&kf->lock);
	kf->tw_pending = false;
	if (kf->final_set || (issue_flags & IO_URING_F_TASK_DEAD)) {
		end = true;
		res = kf->final_set ? kf->final_res : -ECANCELED;
		kf->final_set = false;
		kf->recv = NULL;
	}
	spin_unlock_irq(&kf->lock);

	if (!end) {
		kmbuf_chr_recv_run(cmd, issue_flags);
		return;
	}
	kmbuf_chr_unwait(kf);
	kmbuf_ring_put(pdu->ring);
	io_uring_cmd_done(cmd, res, 0, issue_flags);
}

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
	if (kf->recv) {
		ret = -EBUSY;
	} else {
		WRITE_ONCE(kf->mode, m->mode);
		kf->rec_size = m->rec_size;
		atomic64_set(&kf->seq, m->start_seq);
	}
	spin_unlock_irq(&kf->lock);
	return ret;
}

static int kmbuf_chr_bind(struct io_uring_cmd *cmd, struct kmbuf_chr_file *kf,
			  const struct kmbuf_chr_cmd *c)
{
	struct kmbuf_ring_desc desc = { };
	struct kmbuf_chr_bind b;
	struct kmbuf_ring *ring;

	if (c->nr || c->flags)
		return -EINVAL;
	if (copy_from_user(&b, u64_to_user_ptr(c->addr), sizeof(b)))
		return -EFAULT;
	if (b.flags || b.resv[0] || b.resv[1])
		return -EINVAL;
	if (READ_ONCE(kf->ring))
		return -EBUSY;

	desc.region_id = b.region_id;
	desc.offset = b.offset;
	desc.buf_size = b.buf_size;
	desc.nr_bufs = b.nr_bufs;
	desc.notify = kmbuf_chr_ring_notify;
	desc.priv = kf;
	ring = kmbuf_ring_create_cmd(cmd, &desc);
	if (IS_ERR(ring))
		return PTR_ERR(ring);

	spin_lock_irq(&kf->lock);
	if (kf->ring) {
		spin_unlock_irq(&kf->lock);
		kmbuf_ring_destroy(ring);	/* lost a race with another BIND */
		return -EBUSY;
	}
	kf->ring = ring;
	spin_unlock_irq(&kf->lock);
	return 0;
}

/*
 * The ring bound to @kf, if @cmd may use it: 0, -ENXIO if nothing is bound,
 * -EXDEV if @cmd comes from another io_uring instance than the one whose
 * region the ring is built on.  Called with @kf->lock held.
 */
static int kmbuf_chr_check_ring_locked(struct kmbuf_chr_file *kf,
				       struct io_uring_cmd *cmd)
{
	lockdep_assert_held(&kf->lock);
	if (!kf->ring)
		return -ENXIO;
	return kmbuf_ring_check_cmd(kf->ring, cmd);
}

static int kmbuf_chr_unbind(struct io_uring_cmd *cmd, struct kmbuf_chr_file *kf,
			    const struct kmbuf_chr_cmd *c)
{
	struct kmbuf_ring *ring;
	bool stashed = false;
	u32 bid, len;
	int ret;

	if (c->addr || c->nr || c->flags)
		return -EINVAL;
	spin_lock_irq(&kf->lock);
	ring = kf->ring;
	ret = kmbuf_chr_check_ring_locked(kf, cmd);
	if (!ret) {
		kf->ring = NULL;
		stashed = kmbuf_chr_unstash_locked(kf, &bid, &len);
		kmbuf_chr_recv_end_locked(kf, -ECANCELED);
	}
	spin_unlock_irq(&kf->lock);
	if (ret)
		return ret;
	if (stashed)
		kmbuf_chr_take_back(ring, &bid, 1);
	kmbuf_ring_destroy(ring);
	return 0;
}

static bool kmbuf_chr_has_bid(const u32 *bids, u32 nr, u32 bid)
{
	u32 i;

	for (i = 0; i < nr; i++)
		if (bids[i] == bid)
			return true;
	return false;
}

static int kmbuf_chr_return(struct io_uring_cmd *cmd, struct kmbuf_chr_file *kf,
			    const struct kmbuf_chr_cmd *c)
{
	u32 stack_bids[KMBUF_CHR_RETURN_STACK];
	struct kmbuf_ring *ring;
	u32 *bids = stack_bids;
	int ret;

	if (c->flags || !c->nr || c->nr > KMBUF_MAX_BUFS)
		return -EINVAL;
	if (c->nr > KMBUF_CHR_RETURN_STACK) {
		bids = kvmalloc_array(c->nr, sizeof(*bids), GFP_KERNEL);
		if (!bids)
			return -ENOMEM;
	}
	ret = -EFAULT;
	if (copy_from_user(bids, u64_to_user_ptr(c->addr),
			   c->nr * sizeof(*bids)))
		goto free_bids;

	spin_lock_irq(&kf->lock);
	ring = kf->ring;
	ret = kmbuf_chr_check_ring_locked(kf, cmd);
	/* the stashed record's buffer was never announced */
	if (!ret && kf->stashed &&
	    kmbuf_chr_has_bid(bids, c->nr, kf->stash_bid))
		ret = -EALREADY;
	if (!ret)
		kmbuf_ring_get(ring);
	spin_unlock_irq(&kf->lock);
	if (ret)
		goto free_bids;
	ret = kmbuf_ring_return(ring, bids, c->nr);
	kmbuf_ring_put(ring);
free_bids:
	if (bids != stack_bids)
		kvfree(bids);
	return ret;
}

static int kmbuf_chr_recv(struct io_uring_cmd *cmd, struct kmbuf_chr_file *kf,
			  const struct kmbuf_chr_cmd *c,
			  unsigned int issue_flags)
{
	struct kmbuf_chr_pdu *pdu = kmbuf_chr_pdu(cmd);
	int ret;

	if (c->addr || c->nr || c->flags ||
	    !(cmd->flags & IORING_URING_CMD_MULTISHOT))
		return -EINVAL;

	spin_lock_irq(&kf->lock);
	ret = kmbuf_chr_check_ring_locked(kf, cmd);
	if (!ret && kf->recv)
		ret = -EBUSY;
	if (ret) {
		spin_unlock_irq(&kf->lock);
		return ret;
	}
	pdu->kf = kf;
	pdu->ring = kmbuf_ring_get(kf->ring);
	kf->recv = cmd;
	kf->final_set = false;
	/*
	 * Published, but not cancelable yet: nobody may queue task work for
	 * it, which could complete it before io-wq has put it on the
	 * cancelable list (and a completed request must never be linked
	 * there).  Kicks see "task work pending" and leave it to us.
	 */
	kf->tw_pending = true;
	spin_unlock_irq(&kf->lock);

	/* from here on the command only ends through its task work */
	io_uring_cmd_mark_cancelable(cmd, issue_flags);

	spin_lock_irq(&kf->lock);
	kf->tw_pending = false;
	/* io-wq can't post CQEs; the first run then happens in task work */
	if (issue_flags & IO_URING_F_UNLOCKED) {
		kmbuf_chr_kick_locked(kf);
		spin_unlock_irq(&kf->lock);
		return -EIOCBQUEUED;
	}
	spin_unlock_irq(&kf->lock);
	kmbuf_chr_recv_run(cmd, issue_flags);
	return -EIOCBQUEUED;
}

/* IO_URING_F_CANCEL: the ring exits or the task's requests are cancelled. */
static void kmbuf_chr_cancel(struct io_uring_cmd *cmd)
{
	struct kmbuf_chr_file *kf = kmbuf_chr_pdu(cmd)->kf;
	unsigned long flags;

	spin_lock_irqsave(&kf->lock, flags);
	if (kf->recv == cmd)
		kmbuf_chr_recv_end_locked(kf, -ECANCELED);
	spin_unlock_irqrestore(&kf->lock, flags);
}

/* Bytes of the command area of an IORING_SETUP_SQE128 SQE. */
#define KMBUF_CHR_SQE128_CMD	(2 * sizeof(struct io_uring_sqe) - \
				 offsetof(struct io_uring_sqe, cmd))

/*
 * SQE fields no kmbuf_chr command uses must be zero, so that they can be
 * given a meaning later: ioprio, addr, len, buf_index, file_index, the
 * IORING_URING_CMD_FIXED flag and, on an IORING_SETUP_SQE128 ring, the
 * command area after struct kmbuf_chr_cmd.  (off holds cmd_op and addr3
 * starts the payload; io_uring itself checks __pad1.)
 */
static int kmbuf_chr_check_sqe(const struct io_uring_cmd *cmd,
			       unsigned int issue_flags)
{
	const struct io_uring_sqe *sqe = cmd->sqe;

	if (cmd->flags & IORING_URING_CMD_FIXED)
		return -EINVAL;
	if (READ_ONCE(sqe->ioprio) || READ_ONCE(sqe->addr) ||
	    READ_ONCE(sqe->len) || READ_ONCE(sqe->buf_index) ||
	    READ_ONCE(sqe->file_index))
		return -EINVAL;
	if ((issue_flags & IO_URING_F_SQE128) &&
	    memchr_inv(sqe->cmd + sizeof(struct kmbuf_chr_cmd), 0,
		       KMBUF_CHR_SQE128_CMD - sizeof(struct kmbuf_chr_cmd)))
		return -EINVAL;
	return 0;
}

static int kmbuf_chr_uring_cmd(struct io_uring_cmd *cmd,
			       unsigned int issue_flags)
{
	struct kmbuf_chr_file *kf = cmd->file->private_data;
	const struct kmbuf_chr_cmd *sc;
	struct kmbuf_chr_cmd c;
	struct kmbuf_chr_mode m;
	int ret;

	if (unlikely(issue_flags & IO_URING_F_CANCEL)) {
		kmbuf_chr_cancel(cmd);
		return 0;
	}

	ret = kmbuf_chr_check_sqe(cmd, issue_flags);
	if (ret)
		return ret;
	sc = io_uring_sqe_cmd(cmd->sqe);
	c.addr = READ_ONCE(sc->addr);
	c.nr = READ_ONCE(sc->nr);
	c.flags = READ_ONCE(sc->flags);

	if (cmd->cmd_op != KMBUF_CHR_RECV &&
	    (cmd->flags & IORING_URING_CMD_MULTISHOT))
		return -EINVAL;

	switch (cmd->cmd_op) {
	case KMBUF_CHR_RECV:
		return kmbuf_chr_recv(cmd, kf, &c, issue_flags);
	case KMBUF_CHR_RETURN:
		return kmbuf_chr_return(cmd, kf, &c);
	case KMBUF_CHR_BIND:
		return kmbuf_chr_bind(cmd, kf, &c);
	case KMBUF_CHR_UNBIND:
		return kmbuf_chr_unbind(cmd, kf, &c);
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
	struct kmbuf_ring *ring;

	spin_lock_irq(&kf->lock);
	seq_printf(m, "kmbuf_chr_mode:\t%u\n", kf->mode);
	seq_printf(m, "kmbuf_chr_recv:\t%u\n", !!kf->recv);
	seq_printf(m, "kmbuf_chr_stashed:\t%u\n", kf->stashed);
	ring = kf->ring;
	if (ring)
		kmbuf_ring_get(ring);
	spin_unlock_irq(&kf->lock);
	if (ring) {
		kmbuf_ring_show_fdinfo(ring, m);
		kmbuf_ring_put(ring);
	}
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
	struct kmbuf_chr_file *kf;

	kf = kzalloc(sizeof(*kf), GFP_KERNEL);
	if (!kf)
		return -ENOMEM;
	/* records are shared by the files of one user, never across users */
	kf->q = kmbuf_chr_queue_get(file->f_cred->euid);
	if (!kf->q) {
		kfree(kf);
		return -ENOMEM;
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
}

/*
 * A pending RECV holds a reference to the file, so none is left here, and
 * nothing can kick @kf any more once it is off the waiter list and its
 * ring is destroyed.
 */
static int kmbuf_chr_release(struct inode *inode, struct file *file)
{
	struct kmbuf_chr_file *kf = file->private_data;
	bool stashed;
	u32 bid, len;

	kmbuf_chr_unwait(kf);
	if (kf->ring) {
		spin_lock_irq(&kf->lock);
		stashed = kmbuf_chr_unstash_locked(kf, &bid, &len);
		spin_unlock_irq(&kf->lock);
		if (stashed)
			kmbuf_chr_take_back(kf->ring, &bid, 1);
		kmbuf_ring_destroy(kf->ring);
	}
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

	BUILD_BUG_ON(sizeof(struct kmbuf_chr_cmd) > 16);
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
