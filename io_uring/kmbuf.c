// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel-managed buffer rings (kmbuf) on io_uring memory regions.
 *
 * A ring is a driver-private object.  It is never inserted into the ring
 * context's provided-buffer table, so a request with IOSQE_BUFFER_SELECT
 * can't name it, whatever buffer group it asks for; only the driver that
 * holds the ring pointer can take buffers from it.
 *
 * Free buffers are kept in a FIFO of buffer ids (16 bits each) and every
 * buffer has a one-byte owner; both live in kernel memory, so nothing
 * userspace writes into the region can change who owns what.  One spinlock,
 * always taken with interrupts disabled, protects the FIFO, the owners and
 * the counters, so every operation works from any context in O(1) (a batch
 * return is O(batch)) without allocating and without the io_uring mutex.
 */
#include <linux/kernel.h>
#include <linux/bvec.h>
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/io_uring_types.h>
#include <linux/io_uring/cmd.h>
#include <linux/io_uring/kmbuf.h>
#include <linux/io_uring/region.h>
#include <kunit/visibility.h>

#include "kmbuf.h"

/* Who owns a buffer; one byte per buffer in kmbuf_ring::owner. */
enum {
	KMBUF_OWNER_RING	= 0,	/* free, its id is in the FIFO */
	KMBUF_OWNER_KERNEL	= 1,	/* taken by the driver */
	KMBUF_OWNER_USER	= 2,	/* named in a CQE, userspace has it */
	/* in the batch being returned, only seen under the lock */
	KMBUF_OWNER_RETURNING	= 3,
};

#define KMBUF_RING_FLAGS	0U

/*
 * Bytes [start, end) of a region that belong to one ring, on the region's
 * kmbuf_rings list.  Allocated with the ring; freed when the ring's last
 * reference goes, unless userspace still holds buffers of the ring then:
 * those may hold verified data that must not change, so the range stays
 * reserved until the region itself is released (kmbuf_region_release()).
 */
struct kmbuf_range {
	struct list_head	node;
	u64			start;
	u64			end;
};

/* Frees rings after their last reference; flushed by the KUnit suite. */
static struct workqueue_struct *kmbuf_wq;

struct kmbuf_ring {
	/* protects the fields up to @owner and the contents of both arrays */
	spinlock_t		lock;
	u32			head;		/* FIFO slot of the next take */
	u32			nr_free;	/* ids in the FIFO */
	u32			nr_kernel;
	u32			nr_user;
	u64			nr_exhausted;
	bool			shutdown;
	/* a take failed with -ENOBUFS since the FIFO was last non-empty */
	bool			starved;
	/* notify callbacks running now; kmbuf_ring_destroy() waits for 0 */
	u32			notifying;
	u16			*fifo;		/* nr_bufs slots */
	u8			*owner;		/* nr_bufs entries */

	/* set at creation, never changed */
	struct io_uring_region	*region;
	void			*base;		/* region->kaddr + offset */
	u64			offset;
	u32			buf_size;
	u32			nr_bufs;
	void			(*notify)(struct kmbuf_ring *ring, void *priv);
	void			*priv;

	refcount_t		refs;
	struct wait_queue_head	wait;
	struct work_struct	free_work;
	/* the ring's bytes of the region, see struct kmbuf_range */
	struct kmbuf_range	*range;
};

/**
 * kmbuf_desc_validate() - check a ring description against a region size
 * @desc: the description
 * @region_size: size of the region in bytes
 *
 * Context: Any context.
 * Return: 0, -EINVAL for bad flags, sizes, counts, alignment or a range
 * outside the region, or -EOVERFLOW if the range does not fit 64 bits.
 */
VISIBLE_IF_KUNIT int kmbuf_desc_validate(const struct kmbuf_ring_desc *desc,
					 u64 region_size)
{
	u64 bytes, end;
	u32 align;

	if (desc->flags & ~KMBUF_RING_FLAGS)
		return -EINVAL;
	if (!desc->nr_bufs || desc->nr_bufs > KMBUF_MAX_BUFS)
		return -EINVAL;
	if (desc->align && !is_power_of_2(desc->align))
		return -EINVAL;
	align = max(desc->align, kmbuf_buf_align_min());
	if (!desc->buf_size || !IS_ALIGNED(desc->buf_size, align))
		return -EINVAL;
	if (!IS_ALIGNED(desc->offset, align))
		return -EINVAL;
	/* can't overflow (2^32 * 2^16), checked anyway for future limits */
	if (check_mul_overflow((u64)desc->buf_size, (u64)desc->nr_bufs, &bytes))
		return -EOVERFLOW;
	if (check_add_overflow(desc->offset, bytes, &end))
		return -EOVERFLOW;
	if (end > region_size)
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_desc_validate);

static void kmbuf_ring_free(struct kmbuf_ring *ring)
{
	io_uring_region_put(ring->region);
	kvfree(ring->owner);
	kvfree(ring->fifo);
	kfree(ring);
}

/* End of the ring's bytes in its region (checked not to overflow). */
static u64 kmbuf_ring_end(const struct kmbuf_ring *ring)
{
	return ring->offset + (u64)ring->buf_size * ring->nr_bufs;
}

/*
 * The last reference is gone: nothing can write into the ring's buffers
 * any more, so its bytes of the region may go to a new ring, now rather
 * than when the free work gets to run; unless userspace still holds some
 * of them, which then stay reserved until the region is released.
 */
static void kmbuf_ring_release_range(struct kmbuf_ring *ring)
{
	struct io_uring_region *region = ring->region;
	struct kmbuf_range *range = ring->range;
	unsigned long flags;
	bool user_held;

	spin_lock_irqsave(&ring->lock, flags);
	user_held = ring->nr_user;
	spin_unlock_irqrestore(&ring->lock, flags);
	if (user_held)
		return;		/* the region owns the range from now on */

	spin_lock_irqsave(&region->kmbuf_lock, flags);
	list_del(&range->node);
	spin_unlock_irqrestore(&region->kmbuf_lock, flags);
	kfree(range);
}

/**
 * kmbuf_region_release() - free the ranges a region still reserves
 * @region: a region whose last reference is gone, or a KUnit fake one
 *
 * Context: Process context.
 */
void kmbuf_region_release(struct io_uring_region *region)
{
	struct kmbuf_range *range, *tmp;

	list_for_each_entry_safe(range, tmp, &region->kmbuf_rings, node) {
		list_del(&range->node);
		kfree(range);
	}
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_region_release);

static void kmbuf_ring_free_work(struct work_struct *work)
{
	kmbuf_ring_free(container_of(work, struct kmbuf_ring, free_work));
}

/**
 * kmbuf_ring_create() - build a kernel-managed buffer ring on a region
 * @region: the region, from io_uring_region_get() or
 *	io_uring_cmd_region_get()
 * @desc: offset, buffer size, number of buffers and flags
 *
 * Creates a ring whose buffers are all free.  On success the ring takes
 * over the caller's reference to @region and drops it when the ring is
 * freed, so the memory outlives the io_uring instance for as long as the
 * ring exists.  On failure the caller still owns its reference.  The ring
 * is returned with one reference, owned by the caller and dropped by
 * kmbuf_ring_destroy().
 *
 * The ring's bytes of @region are its own until its last reference is
 * gone (after kmbuf_ring_destroy() and the kmbuf_ring_put() of every
 * command still in flight), and if userspace still holds any of its
 * buffers then, until @region is released: no other ring, of this driver
 * or another, can be built over any of them meanwhile, so a driver that
 * lets userspace map a region read-only can rely on nobody else writing
 * into the buffers it hands out.
 *
 * Context: Process context; may sleep.  Allocates about 3 bytes per buffer,
 * charged to the caller's memory cgroup.
 * Return: the ring, ERR_PTR(-EINVAL) or ERR_PTR(-EOVERFLOW) if @desc is
 * invalid for @region (see kmbuf_desc_validate()), ERR_PTR(-EBUSY) if its
 * range overlaps bytes another ring of @region still owns, or
 * ERR_PTR(-ENOMEM).
 */
struct kmbuf_ring *kmbuf_ring_create(struct io_uring_region *region,
				     const struct kmbuf_ring_desc *desc)
{
	struct kmbuf_range *other;
	struct kmbuf_ring *ring;
	u32 i;
	int ret;

	might_sleep();
	ret = kmbuf_desc_validate(desc, region->size);
	if (ret)
		return ERR_PTR(ret);
	if (unlikely(!kmbuf_wq))
		return ERR_PTR(-ENOMEM);

	ring = kzalloc(sizeof(*ring), GFP_KERNEL_ACCOUNT);
	if (!ring)
		return ERR_PTR(-ENOMEM);
	ret = -ENOMEM;
	ring->fifo = kvmalloc_array(desc->nr_bufs, sizeof(*ring->fifo),
				    GFP_KERNEL_ACCOUNT);
	if (!ring->fifo)
		goto free_ring;
	ring->owner = kvzalloc(desc->nr_bufs, GFP_KERNEL_ACCOUNT);
	if (!ring->owner)
		goto free_fifo;
	ring->range = kmalloc(sizeof(*ring->range), GFP_KERNEL_ACCOUNT);
	if (!ring->range)
		goto free_owner;

	spin_lock_init(&ring->lock);
	for (i = 0; i < desc->nr_bufs; i++)
		ring->fifo[i] = i;
	ring->nr_free = desc->nr_bufs;
	ring->region = region;
	ring->base = region->kaddr + desc->offset;
	ring->offset = desc->offset;
	ring->buf_size = desc->buf_size;
	ring->nr_bufs = desc->nr_bufs;
	ring->notify = desc->notify;
	ring->priv = desc->priv;
	refcount_set(&ring->refs, 1);
	init_waitqueue_head(&ring->wait);
	INIT_WORK(&ring->free_work, kmbuf_ring_free_work);
	ring->range->start = ring->offset;
	ring->range->end = kmbuf_ring_end(ring);
	/* each byte of a region belongs to at most one ring */
	spin_lock_irq(&region->kmbuf_lock);
	list_for_each_entry(other, &region->kmbuf_rings, node) {
		if (other->start < ring->range->end &&
		    ring->range->start < other->end) {
			spin_unlock_irq(&region->kmbuf_lock);
			ret = -EBUSY;
			goto free_range;
		}
	}
	list_add_tail(&ring->range->node, &region->kmbuf_rings);
	spin_unlock_irq(&region->kmbuf_lock);
	return ring;

free_range:
	kfree(ring->range);
free_owner:
	kvfree(ring->owner);
free_fifo:
	kvfree(ring->fifo);
free_ring:
	kfree(ring);
	return ERR_PTR(ret);
}
EXPORT_SYMBOL_GPL(kmbuf_ring_create);

/**
 * kmbuf_ring_create_cmd() - build a ring on a region of a command's ring
 * @cmd: the IORING_OP_URING_CMD being handled, usually the driver's
 *	"bind a buffer ring" command
 * @desc: region id, offset, buffer size, number of buffers and flags
 *
 * Looks up region @desc->region_id of the io_uring instance @cmd was
 * submitted on and builds a ring on it with kmbuf_ring_create().
 *
 * Context: Process context; may sleep.  Usually called from the driver's
 * ->uring_cmd() handler, which io_uring runs in process context.
 * Return: the ring, ERR_PTR(-ENOENT) if no region has that id,
 * ERR_PTR(-EINVAL) or ERR_PTR(-EOVERFLOW) for a bad @desc, ERR_PTR(-EBUSY)
 * if the range overlaps another ring's, or ERR_PTR(-ENOMEM).
 */
struct kmbuf_ring *kmbuf_ring_create_cmd(struct io_uring_cmd *cmd,
					 const struct kmbuf_ring_desc *desc)
{
	struct io_uring_region *region;
	struct kmbuf_ring *ring;

	region = io_uring_cmd_region_get(cmd, desc->region_id);
	if (IS_ERR(region))
		return ERR_CAST(region);
	ring = kmbuf_ring_create(region, desc);
	if (IS_ERR(ring))
		io_uring_region_put(region);
	return ring;
}
EXPORT_SYMBOL_GPL(kmbuf_ring_create_cmd);

/**
 * kmbuf_ring_check_cmd() - is a command from the io_uring a ring belongs to?
 * @ring: the ring
 * @cmd: an IORING_OP_URING_CMD being handled by the caller
 *
 * A ring belongs to the io_uring instance whose region it is built on:
 * only that instance can map the buffers, so only its commands may fill,
 * announce or return them.  A driver that keys its ring by an open file,
 * which any process holding the file can submit on from any io_uring,
 * calls this for every command that uses the ring.  The region cannot be
 * replaced while the ring holds it, so the answer cannot be fooled by an
 * io_uring instance that reuses the memory of a freed one.
 *
 * Context: Any context; does not sleep.
 * Return: 0 if @cmd was submitted on the io_uring instance that registered
 * the ring's region, -EXDEV otherwise.
 */
int kmbuf_ring_check_cmd(struct kmbuf_ring *ring, struct io_uring_cmd *cmd)
{
	struct io_ring_ctx *ctx = cmd_to_io_kiocb(cmd)->ctx;

	if (xa_load(&ctx->mem_regions, ring->region->id) != ring->region)
		return -EXDEV;
	return 0;
}
EXPORT_SYMBOL_GPL(kmbuf_ring_check_cmd);

/**
 * kmbuf_ring_get() - take an extra reference to a ring
 * @ring: the ring
 *
 * For code that may still use the ring after its owner destroyed it, e.g.
 * an I/O completion that puts a buffer back.
 *
 * Context: Any context.
 * Return: @ring.
 */
struct kmbuf_ring *kmbuf_ring_get(struct kmbuf_ring *ring)
{
	refcount_inc(&ring->refs);
	return ring;
}
EXPORT_SYMBOL_GPL(kmbuf_ring_get);

/**
 * kmbuf_ring_put() - drop a reference taken with kmbuf_ring_get()
 * @ring: the ring
 *
 * When the last reference goes, the ring and its reference to the region
 * are released from a workqueue, because releasing a region may sleep.
 *
 * Context: Any context.
 */
void kmbuf_ring_put(struct kmbuf_ring *ring)
{
	if (refcount_dec_and_test(&ring->refs)) {
		kmbuf_ring_release_range(ring);
		queue_work(kmbuf_wq, &ring->free_work);
	}
}
EXPORT_SYMBOL_GPL(kmbuf_ring_put);

/* No notify callback runs, and none can start once ->shutdown is set. */
static bool kmbuf_ring_notify_idle(struct kmbuf_ring *ring)
{
	unsigned long flags;
	bool idle;

	spin_lock_irqsave(&ring->lock, flags);
	idle = !ring->notifying;
	spin_unlock_irqrestore(&ring->lock, flags);
	return idle;
}

/**
 * kmbuf_ring_destroy() - shut a ring down and drop the owner's reference
 * @ring: the ring, as returned by kmbuf_ring_create()
 *
 * From now on kmbuf_buf_take() fails with -ESHUTDOWN and kmbuf_ring_wait()
 * returns; buffers the kernel or userspace still hold may be put back or
 * returned as before, and their memory stays valid until the last
 * reference to the ring is gone.  When this function returns, @desc->notify
 * is not running and will not be called again, so the driver may free what
 * it uses and its module may go away.  If no other reference exists the
 * ring is freed before returning; otherwise its range of the region stays
 * reserved until the last kmbuf_ring_put().
 *
 * The owner must call this exactly once, and only once no other code can
 * reach the ring through the owner's reference; code that can race with
 * the destruction holds its own reference (kmbuf_ring_get()).  It must not
 * be called from the ring's own notify callback.
 *
 * Context: Process context.  Never waits for an RCU grace period, so it may
 * be called from ->uring_cmd() at inline issue (%IO_URING_F_NONBLOCK) and
 * from ->release(); it sleeps only while a notify callback of this ring is
 * running on another CPU.
 */
void kmbuf_ring_destroy(struct kmbuf_ring *ring)
{
	unsigned long flags;

	might_sleep();
	spin_lock_irqsave(&ring->lock, flags);
	ring->shutdown = true;
	spin_unlock_irqrestore(&ring->lock, flags);
	wake_up_all(&ring->wait);
	/* callbacks that started before ->shutdown was set may still run */
	wait_event(ring->wait, kmbuf_ring_notify_idle(ring));

	if (refcount_dec_and_test(&ring->refs)) {
		kmbuf_ring_release_range(ring);
		kmbuf_ring_free(ring);
	}
}
EXPORT_SYMBOL_GPL(kmbuf_ring_destroy);

/* Called with the lock held; the slot after the last free id. */
static u32 kmbuf_fifo_tail(const struct kmbuf_ring *ring)
{
	u32 tail = ring->head + ring->nr_free;

	lockdep_assert_held(&ring->lock);
	return tail >= ring->nr_bufs ? tail - ring->nr_bufs : tail;
}

/* Called with the lock held: @bid becomes free, last in the FIFO. */
static void kmbuf_fifo_push(struct kmbuf_ring *ring, u16 bid)
{
	lockdep_assert_held(&ring->lock);
	ring->fifo[kmbuf_fifo_tail(ring)] = bid;
	ring->nr_free++;
	ring->owner[bid] = KMBUF_OWNER_RING;
}

/*
 * Called with the lock held, after buffers were freed: should the driver's
 * notify callback run?  If so it is counted as running until
 * kmbuf_freed_unlocked() is done with it; kmbuf_ring_destroy(), which sets
 * ->shutdown under the lock, waits for that count to drop to zero.
 */
static bool kmbuf_freed_locked(struct kmbuf_ring *ring)
{
	lockdep_assert_held(&ring->lock);
	if (!ring->starved)
		return false;
	ring->starved = false;
	if (!ring->notify || ring->shutdown)
		return false;
	ring->notifying++;
	return true;
}

/*
 * Called after the lock was dropped, with kmbuf_freed_locked()'s answer.
 * The caller holds a reference to the ring, so it stays valid throughout.
 */
static void kmbuf_freed_unlocked(struct kmbuf_ring *ring, bool notify)
{
	unsigned long flags;

	if (notify) {
		ring->notify(ring, ring->priv);
		spin_lock_irqsave(&ring->lock, flags);
		ring->notifying--;
		spin_unlock_irqrestore(&ring->lock, flags);
	}
	/*
	 * Wakes kmbuf_ring_wait() and kmbuf_ring_destroy(); pairs with the
	 * barrier in prepare_to_wait_event().
	 */
	if (wq_has_sleeper(&ring->wait))
		wake_up(&ring->wait);
}

/**
 * kmbuf_buf_take_batch() - take up to @nr free buffers at once
 * @ring: the ring
 * @bufs: array of at least @nr entries; the first ones are filled with
 *	the kernel address, length and id of each buffer taken
 * @nr: how many buffers the caller wants, at least 1
 *
 * Equivalent to calling kmbuf_buf_take() until it fails or @nr buffers are
 * taken, with one acquisition of the ring's lock.  A driver that fills
 * buffers in bursts (a NAPI-style poll loop, a task work run) pays for the
 * lock once per burst instead of once per buffer.  Buffers are taken in the
 * order they became free.
 *
 * Context: Any context (process, softirq, hard interrupt); does not sleep
 * or allocate.  Takes the ring's spinlock with interrupts disabled for
 * O(@nr).
 * Return: the number of buffers taken, 1 to @nr; -ENOBUFS if none is free
 * (an exhaustion event, as for kmbuf_buf_take()); -ESHUTDOWN after
 * kmbuf_ring_destroy(); -EINVAL if @nr is 0.
 */
int kmbuf_buf_take_batch(struct kmbuf_ring *ring, struct kmbuf_buf *bufs,
			 unsigned int nr)
{
	unsigned long flags;
	unsigned int i;
	u16 bid;

	if (!nr)
		return -EINVAL;
	spin_lock_irqsave(&ring->lock, flags);
	if (unlikely(ring->shutdown)) {
		spin_unlock_irqrestore(&ring->lock, flags);
		return -ESHUTDOWN;
	}
	if (unlikely(!ring->nr_free)) {
		ring->nr_exhausted++;
		ring->starved = true;
		spin_unlock_irqrestore(&ring->lock, flags);
		return -ENOBUFS;
	}
	nr = min(nr, ring->nr_free);
	for (i = 0; i < nr; i++) {
		bid = ring->fifo[ring->head];
		if (++ring->head == ring->nr_bufs)
			ring->head = 0;
		ring->owner[bid] = KMBUF_OWNER_KERNEL;
		bufs[i].bid = bid;
	}
	ring->nr_free -= nr;
	ring->nr_kernel += nr;
	spin_unlock_irqrestore(&ring->lock, flags);

	for (i = 0; i < nr; i++) {
		bufs[i].kaddr = ring->base + (size_t)bufs[i].bid * ring->buf_size;
		bufs[i].len = ring->buf_size;
	}
	return nr;
}
EXPORT_SYMBOL_GPL(kmbuf_buf_take_batch);

/**
 * kmbuf_buf_take() - take a free buffer for the kernel to fill
 * @ring: the ring
 * @buf: filled with the buffer's kernel address, length and id
 *
 * Buffers are taken in the order they became free.  The buffer belongs to
 * the caller until it calls kmbuf_buf_put() or kmbuf_buf_to_user().
 *
 * Context: Any context (process, softirq, hard interrupt); does not sleep
 * or allocate.  Takes the ring's spinlock with interrupts disabled.
 * Return: 0, -ENOBUFS if no buffer is free (counted as an exhaustion
 * event; the notify callback and waiters are told when one comes back), or
 * -ESHUTDOWN after kmbuf_ring_destroy().
 */
int kmbuf_buf_take(struct kmbuf_ring *ring, struct kmbuf_buf *buf)
{
	int ret = kmbuf_buf_take_batch(ring, buf, 1);

	return ret < 0 ? ret : 0;
}
EXPORT_SYMBOL_GPL(kmbuf_buf_take);

/**
 * kmbuf_buf_put() - give a buffer the kernel did not use back to the ring
 * @ring: the ring
 * @bid: id of a buffer taken with kmbuf_buf_take()
 *
 * Context: Any context; does not sleep.  Takes the ring's spinlock with
 * interrupts disabled; may call the ring's notify callback.
 * Return: 0, or -EINVAL if @bid is out of range or not held by the kernel
 * (the ring is left unchanged).
 */
int kmbuf_buf_put(struct kmbuf_ring *ring, unsigned int bid)
{
	unsigned long flags;
	bool notify;

	if (bid >= ring->nr_bufs)
		return -EINVAL;
	spin_lock_irqsave(&ring->lock, flags);
	if (ring->owner[bid] != KMBUF_OWNER_KERNEL) {
		spin_unlock_irqrestore(&ring->lock, flags);
		return -EINVAL;
	}
	ring->nr_kernel--;
	kmbuf_fifo_push(ring, bid);
	notify = kmbuf_freed_locked(ring);
	spin_unlock_irqrestore(&ring->lock, flags);

	kmbuf_freed_unlocked(ring, notify);
	return 0;
}
EXPORT_SYMBOL_GPL(kmbuf_buf_put);

/**
 * kmbuf_buf_to_user() - hand a filled buffer over to userspace
 * @ring: the ring
 * @bid: id of a buffer taken with kmbuf_buf_take()
 *
 * Call it before posting the CQE that names @bid (kmbuf_cqe_flags()), so
 * that userspace can return the buffer as soon as it sees the CQE.  If the
 * CQE can't be posted, userspace will never learn about the buffer; take
 * it back with kmbuf_ring_return() on the driver's behalf.
 *
 * Context: Any context; does not sleep.  Takes the ring's spinlock with
 * interrupts disabled.
 * Return: 0, or -EINVAL if @bid is out of range or not held by the kernel
 * (the ring is left unchanged).
 */
int kmbuf_buf_to_user(struct kmbuf_ring *ring, unsigned int bid)
{
	struct kmbuf_buf buf = { .bid = bid };

	if (bid >= ring->nr_bufs)
		return -EINVAL;
	return kmbuf_buf_to_user_batch(ring, &buf, 1);
}
EXPORT_SYMBOL_GPL(kmbuf_buf_to_user);

/**
 * kmbuf_buf_to_user_batch() - hand several buffers over to userspace
 * @ring: the ring
 * @bufs: buffers taken with kmbuf_buf_take() or kmbuf_buf_take_batch()
 * @nr: number of entries in @bufs
 *
 * kmbuf_buf_to_user() for each buffer, all or nothing, with one
 * acquisition of the ring's lock.  The buffers may be handed over before
 * they are filled, as long as each CQE naming a buffer is posted only once
 * its data is in place: userspace learns of a buffer from its CQE, and a
 * buffer returned before that is a bug of the program that returns it (the
 * ring stays consistent).  Buffers handed over but never announced are
 * taken back with kmbuf_ring_return().
 *
 * Context: Any context; does not sleep.  Takes the ring's spinlock with
 * interrupts disabled for O(@nr).
 * Return: 0, or -EINVAL if a buffer id is out of range, not held by the
 * kernel or repeated (no buffer changes owner then).
 */
int kmbuf_buf_to_user_batch(struct kmbuf_ring *ring,
			    const struct kmbuf_buf *bufs, unsigned int nr)
{
	unsigned long flags;
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (bufs[i].bid >= ring->nr_bufs)
			return -EINVAL;
	spin_lock_irqsave(&ring->lock, flags);
	for (i = 0; i < nr; i++) {
		if (ring->owner[bufs[i].bid] != KMBUF_OWNER_KERNEL)
			goto unwind;
		ring->owner[bufs[i].bid] = KMBUF_OWNER_USER;
	}
	ring->nr_kernel -= nr;
	ring->nr_user += nr;
	spin_unlock_irqrestore(&ring->lock, flags);
	return 0;

unwind:
	/* all of bufs[0 .. i) were held by the kernel before */
	while (i--)
		ring->owner[bufs[i].bid] = KMBUF_OWNER_KERNEL;
	spin_unlock_irqrestore(&ring->lock, flags);
	return -EINVAL;
}
EXPORT_SYMBOL_GPL(kmbuf_buf_to_user_batch);

/*
 * Undo the RETURNING marks of the first @nr entries of a rejected batch.
 * Ids marked twice were rejected at their second occurrence, so every
 * marked id is restored exactly once.
 */
static void kmbuf_return_unwind(struct kmbuf_ring *ring, const u32 *bids,
				unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		ring->owner[bids[i]] = KMBUF_OWNER_USER;
}

/**
 * kmbuf_ring_return() - take a batch of buffers back from userspace
 * @ring: the ring
 * @bids: buffer ids, in kernel memory that does not change during the
 *	call (the driver copies them from its command's payload first)
 * @nr: number of ids in @bids, at most the ring's buffer count
 *
 * All or nothing: the whole batch is checked first, and the ring is only
 * changed if every id is valid.  Returned buffers become free in the order
 * given.  Since userspace controls the ids, nothing here warns.
 *
 * Context: Any context; does not sleep.  Takes the ring's spinlock with
 * interrupts disabled for O(@nr); may call the ring's notify callback.
 * Return: @nr on success (0 for an empty batch); -EINVAL if @nr exceeds
 * the buffer count or an id is out of range; -EALREADY if an id is not
 * held by userspace: already returned, never handed over, or repeated in
 * the batch.  On error no buffer changes owner.
 */
int kmbuf_ring_return(struct kmbuf_ring *ring, const u32 *bids,
		      unsigned int nr)
{
	unsigned long flags;
	unsigned int i;
	bool notify;

	if (nr > ring->nr_bufs)
		return -EINVAL;
	for (i = 0; i < nr; i++)
		if (bids[i] >= ring->nr_bufs)
			return -EINVAL;
	if (!nr)
		return 0;

	spin_lock_irqsave(&ring->lock, flags);
	for (i = 0; i < nr; i++) {
		if (ring->owner[bids[i]] != KMBUF_OWNER_USER)
			goto unwind;
		ring->owner[bids[i]] = KMBUF_OWNER_RETURNING;
	}
	for (i = 0; i < nr; i++)
		kmbuf_fifo_push(ring, bids[i]);
	ring->nr_user -= nr;
	notify = kmbuf_freed_locked(ring);
	spin_unlock_irqrestore(&ring->lock, flags);

	kmbuf_freed_unlocked(ring, notify);
	return nr;

unwind:
	kmbuf_return_unwind(ring, bids, i);
	spin_unlock_irqrestore(&ring->lock, flags);
	return -EALREADY;
}
EXPORT_SYMBOL_GPL(kmbuf_ring_return);

/**
 * kmbuf_ring_max_segs() - bio_vec entries kmbuf_buf_bvec() may need
 * @ring: the ring
 *
 * Context: Any context.
 * Return: the worst-case number of segments of one buffer.
 */
unsigned int kmbuf_ring_max_segs(struct kmbuf_ring *ring)
{
	/* a buffer not starting on a page boundary touches one more page */
	return DIV_ROUND_UP(ring->buf_size, PAGE_SIZE) + 1;
}
EXPORT_SYMBOL_GPL(kmbuf_ring_max_segs);

/* Does @off in @page start right where @bv ends in physical memory? */
static bool kmbuf_bvec_follows(const struct bio_vec *bv, struct page *page,
			       unsigned int off)
{
	unsigned int end = bv->bv_offset + bv->bv_len;

	return !off && offset_in_page(end) == 0 &&
	       page_to_pfn(page) == page_to_pfn(bv->bv_page) + end / PAGE_SIZE;
}

/**
 * kmbuf_buf_bvec() - describe a buffer's pages for DMA or a bio
 * @ring: the ring
 * @bid: a buffer the caller holds (taken, not yet put or handed over)
 * @len: bytes from the start of the buffer to describe, at most the
 *	buffer size
 * @bvec: array to fill
 * @max_segs: entries in @bvec; kmbuf_ring_max_segs() is always enough
 *
 * The pages are the region's own (kernel-allocated or pinned once at
 * registration), so no user page is pinned here and nothing needs to be
 * released afterwards.  Physically contiguous pages are merged into one
 * multi-page segment.
 *
 * Context: Any context; does not sleep or take locks.
 * Return: number of entries filled (0 if @len is 0), or -EINVAL if @bid or
 * @len is out of range or @bvec is too short.
 */
int kmbuf_buf_bvec(struct kmbuf_ring *ring, unsigned int bid,
		   unsigned int len, struct bio_vec *bvec,
		   unsigned int max_segs)
{
	struct page **pages = ring->region->pages;
	u64 pos = ring->offset + (u64)bid * ring->buf_size;
	unsigned int nr = 0;

	if (bid >= ring->nr_bufs || len > ring->buf_size)
		return -EINVAL;

	while (len) {
		struct page *page = pages[pos >> PAGE_SHIFT];
		unsigned int off = offset_in_page(pos);
		unsigned int chunk = min_t(unsigned int, len, PAGE_SIZE - off);

		if (nr && kmbuf_bvec_follows(&bvec[nr - 1], page, off)) {
			bvec[nr - 1].bv_len += chunk;
		} else {
			if (nr == max_segs)
				return -EINVAL;
			bvec_set_page(&bvec[nr++], page, chunk, off);
		}
		pos += chunk;
		len -= chunk;
	}
	return nr;
}
EXPORT_SYMBOL_GPL(kmbuf_buf_bvec);

/**
 * kmbuf_ring_nr_free() - number of free buffers
 * @ring: the ring
 *
 * Context: Any context; takes the ring's spinlock.
 * Return: buffers that kmbuf_buf_take() could take right now.
 */
unsigned int kmbuf_ring_nr_free(struct kmbuf_ring *ring)
{
	unsigned long flags;
	unsigned int nr;

	spin_lock_irqsave(&ring->lock, flags);
	nr = ring->nr_free;
	spin_unlock_irqrestore(&ring->lock, flags);
	return nr;
}
EXPORT_SYMBOL_GPL(kmbuf_ring_nr_free);

static bool kmbuf_ring_can_take(struct kmbuf_ring *ring)
{
	unsigned long flags;
	bool ret;

	spin_lock_irqsave(&ring->lock, flags);
	ret = ring->nr_free || ring->shutdown;
	spin_unlock_irqrestore(&ring->lock, flags);
	return ret;
}

/**
 * kmbuf_ring_wait() - wait until a buffer is free
 * @ring: the ring
 *
 * Backpressure for a producer that must not drop data: after
 * kmbuf_buf_take() returned -ENOBUFS, sleep until a buffer comes back.
 * Another taker may win the race for it, so retry the take in a loop.
 *
 * Context: Process context; sleeps interruptibly.
 * Return: 0 when a buffer is free, -ESHUTDOWN after kmbuf_ring_destroy(),
 * or -ERESTARTSYS if a signal arrived.
 */
int kmbuf_ring_wait(struct kmbuf_ring *ring)
{
	unsigned long flags;
	int ret;

	ret = wait_event_interruptible(ring->wait, kmbuf_ring_can_take(ring));
	if (ret)
		return ret;
	spin_lock_irqsave(&ring->lock, flags);
	ret = ring->shutdown ? -ESHUTDOWN : 0;
	spin_unlock_irqrestore(&ring->lock, flags);
	return ret;
}
EXPORT_SYMBOL_GPL(kmbuf_ring_wait);

/**
 * kmbuf_ring_waitqueue() - the queue woken when buffers become free
 * @ring: the ring
 *
 * For a driver's ->poll(): poll_wait() on it and report readiness with
 * kmbuf_ring_nr_free().  It is also woken by kmbuf_ring_destroy().
 *
 * Context: Any context.
 * Return: the ring's wait queue, valid as long as the ring.
 */
struct wait_queue_head *kmbuf_ring_waitqueue(struct kmbuf_ring *ring)
{
	return &ring->wait;
}
EXPORT_SYMBOL_GPL(kmbuf_ring_waitqueue);

/**
 * kmbuf_ring_get_stats() - read a ring's counters
 * @ring: the ring
 * @st: filled with a consistent snapshot
 *
 * Context: Any context; takes the ring's spinlock.
 */
void kmbuf_ring_get_stats(struct kmbuf_ring *ring, struct kmbuf_ring_stats *st)
{
	unsigned long flags;

	st->nr_bufs = ring->nr_bufs;
	st->buf_size = ring->buf_size;
	st->region_id = ring->region->id;
	st->offset = ring->offset;
	spin_lock_irqsave(&ring->lock, flags);
	st->nr_free = ring->nr_free;
	st->nr_kernel = ring->nr_kernel;
	st->nr_user = ring->nr_user;
	st->nr_exhausted = ring->nr_exhausted;
	st->shutdown = ring->shutdown;
	spin_unlock_irqrestore(&ring->lock, flags);
}
EXPORT_SYMBOL_GPL(kmbuf_ring_get_stats);

/**
 * kmbuf_ring_show_fdinfo() - print a ring's counters in fdinfo format
 * @ring: the ring
 * @m: the seq_file of the driver's ->show_fdinfo()
 *
 * Prints one "kmbuf_<name>:\t<value>" line per counter of
 * struct kmbuf_ring_stats.  A driver with several rings prints its own
 * line naming the ring before each call.
 *
 * Context: Process context (seq_file output).
 */
void kmbuf_ring_show_fdinfo(struct kmbuf_ring *ring, struct seq_file *m)
{
	struct kmbuf_ring_stats st;

	kmbuf_ring_get_stats(ring, &st);
	seq_printf(m, "kmbuf_region:\t%u\n", st.region_id);
	seq_printf(m, "kmbuf_offset:\t%llu\n", st.offset);
	seq_printf(m, "kmbuf_buf_size:\t%u\n", st.buf_size);
	seq_printf(m, "kmbuf_bufs:\t%u\n", st.nr_bufs);
	seq_printf(m, "kmbuf_free:\t%u\n", st.nr_free);
	seq_printf(m, "kmbuf_kernel:\t%u\n", st.nr_kernel);
	seq_printf(m, "kmbuf_user:\t%u\n", st.nr_user);
	seq_printf(m, "kmbuf_exhausted:\t%llu\n", st.nr_exhausted);
	seq_printf(m, "kmbuf_shutdown:\t%u\n", st.shutdown);
}
EXPORT_SYMBOL_GPL(kmbuf_ring_show_fdinfo);

static int __init kmbuf_init(void)
{
	/* without it kmbuf_ring_create() fails with -ENOMEM */
	kmbuf_wq = alloc_workqueue("kmbuf", 0, 0);
	return kmbuf_wq ? 0 : -ENOMEM;
}
subsys_initcall(kmbuf_init);

#if IS_ENABLED(CONFIG_KUNIT)
/**
 * kmbuf_flush_free_work() - wait until every freed ring is gone
 *
 * Rings are freed from a workqueue after their last reference; a test
 * that owns the memory of the region calls this before freeing it.
 *
 * Context: Process context; sleeps.
 */
void kmbuf_flush_free_work(void)
{
	flush_workqueue(kmbuf_wq);
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_flush_free_work);

/**
 * kmbuf_ring_check() - verify a ring's internal consistency
 * @ring: the ring
 *
 * The FIFO holds exactly the free buffers, each once, and the counters
 * match the owners.  For KUnit.
 *
 * Context: Process context; takes the ring's spinlock for O(nr_bufs).
 * Return: 0 if consistent, -EUCLEAN otherwise.
 */
int kmbuf_ring_check(struct kmbuf_ring *ring)
{
	u32 cnt[4] = { };
	unsigned long flags;
	unsigned long *seen;
	int ret = 0;
	u32 i, slot;

	seen = bitmap_zalloc(ring->nr_bufs, GFP_KERNEL);
	if (!seen)
		return -ENOMEM;
	spin_lock_irqsave(&ring->lock, flags);
	for (i = 0; i < ring->nr_bufs; i++)
		cnt[ring->owner[i] & 3]++;
	if (cnt[KMBUF_OWNER_RING] != ring->nr_free ||
	    cnt[KMBUF_OWNER_KERNEL] != ring->nr_kernel ||
	    cnt[KMBUF_OWNER_USER] != ring->nr_user ||
	    cnt[KMBUF_OWNER_RETURNING] || ring->head >= ring->nr_bufs)
		ret = -EUCLEAN;
	for (i = 0, slot = ring->head; !ret && i < ring->nr_free; i++) {
		u16 bid = ring->fifo[slot];

		if (bid >= ring->nr_bufs || test_and_set_bit(bid, seen) ||
		    ring->owner[bid] != KMBUF_OWNER_RING)
			ret = -EUCLEAN;
		if (++slot == ring->nr_bufs)
			slot = 0;
	}
	spin_unlock_irqrestore(&ring->lock, flags);
	bitmap_free(seen);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_check);

/**
 * kmbuf_ring_head() - FIFO slot the next take reads, for KUnit
 * @ring: the ring
 *
 * Context: Any context.
 * Return: the head slot.
 */
u32 kmbuf_ring_head(struct kmbuf_ring *ring)
{
	return READ_ONCE(ring->head);
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_head);
#endif
