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
#include <linux/irq_work.h>
#include <linux/export.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/io_uring_types.h>
#include <linux/io_uring/cmd.h>
#include <linux/io_uring/kmbuf.h>
#include <linux/io_uring/region.h>
#include <kunit/visibility.h>

#include "kmbuf.h"
#include "region.h"

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
 * Bytes [start, end) of a region that belong to one ring, on the list of
 * its struct kmbuf_region.  Allocated with the ring; freed when the ring's
 * last reference goes, unless userspace still holds buffers of the ring
 * then: those may hold verified data that must not change, so the range
 * stays reserved until the region itself is released (kmbuf_region_free()).
 */
struct kmbuf_range {
	struct list_head	node;
	u64			start;
	u64			end;
};

/*
 * What kmbuf knows about a region: the ranges of it that rings own.  The
 * region itself knows nothing of them; it holds this as private data
 * (io_region_set_priv()), made by the first ring built on it and freed
 * with it.  The lock is raw and irq-safe: a ring's last reference, which
 * frees its range, may go in hard interrupt context.
 */
struct kmbuf_region {
	raw_spinlock_t		lock;
	struct list_head	ranges;
};

/* Frees rings after their last reference; flushed by the KUnit suite. */
static struct workqueue_struct *kmbuf_wq;

struct kmbuf_ring {
	/*
	 * Protects the fields up to @owner and the contents of both arrays.
	 * A raw spinlock: buffers are taken and given back from hard
	 * interrupt context, on PREEMPT_RT too; every section under it is
	 * O(1) but for batch returns and refill ring reads, O(batch).
	 */
	raw_spinlock_t		lock;
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
	u64			nr_refill_bad;	/* refill ids skipped */
	struct kmbuf_refill	*refill;	/* in a region, or NULL */
	u32			refill_mask;
	u32			refill_head;	/* ours; rf->head is a copy */

	/*
	 * Records delivered to a stream and not yet posted: a singly linked
	 * list per stream through @pend_next, with the length in @pend_len.
	 * Only the holder of a buffer (the stream, under its port's lock)
	 * touches its entries.
	 */
	u16			*pend_next;
	u32			*pend_len;

	/* set at creation, never changed */
	struct io_uring_region	*region;
	struct kmbuf_region	*kr;		/* kmbuf's state of @region */
	struct page		**pages;	/* @region's */
	void			*base;		/* @region's kaddr + offset */
	u64			offset;
	u32			buf_size;
	u32			nr_bufs;
	void			(*notify)(struct kmbuf_ring *ring, void *priv);
	void			*priv;
	struct io_uring_region	*refill_region;	/* holds @refill */
	struct kmbuf_region	*refill_kr;

	/* the owner's, one per command in flight, one per buffer taken */
	refcount_t		refs;
	struct work_struct	free_work;
	/* the ring's bytes of the region, see struct kmbuf_range */
	struct kmbuf_range	*range;
	/* the refill ring's bytes of its region, or NULL */
	struct kmbuf_range	*refill_range;
	/* the last reference went with interrupts off: see put_many */
	bool			release_range_late;
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
	if (ring->refill_region)
		io_uring_region_put(ring->refill_region);
	io_uring_region_put(ring->region);
	kvfree(ring->pend_len);
	kvfree(ring->pend_next);
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
	struct kmbuf_range *range = ring->range;
	struct kmbuf_region *kr = ring->kr;
	unsigned long flags;
	bool user_held;

	if (ring->refill_range) {
		/* nothing reads the refill ring any more */
		raw_spin_lock_irqsave(&ring->refill_kr->lock, flags);
		list_del(&ring->refill_range->node);
		raw_spin_unlock_irqrestore(&ring->refill_kr->lock, flags);
		kfree(ring->refill_range);
		ring->refill_range = NULL;
	}

	raw_spin_lock_irqsave(&ring->lock, flags);
	user_held = ring->nr_user;
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	if (user_held)
		return;		/* the region owns the range from now on */

	raw_spin_lock_irqsave(&kr->lock, flags);
	list_del(&range->node);
	raw_spin_unlock_irqrestore(&kr->lock, flags);
	kfree(range);
}

/*
 * The region's last reference is gone, so is every ring built on it:
 * free the ranges kept for buffers userspace held when their ring went.
 */
static void kmbuf_region_free(void *priv)
{
	struct kmbuf_region *kr = priv;
	struct kmbuf_range *range, *tmp;

	list_for_each_entry_safe(range, tmp, &kr->ranges, node) {
		list_del(&range->node);
		kfree(range);
	}
	kfree(kr);
}

/* kmbuf's state of @region, made on first use. */
static struct kmbuf_region *kmbuf_region_of(struct io_uring_region *region)
{
	struct kmbuf_region *kr, *new;

	kr = io_region_priv(region);
	if (kr)
		return kr;
	new = kmalloc(sizeof(*new), GFP_KERNEL_ACCOUNT);
	if (!new)
		return NULL;
	raw_spin_lock_init(&new->lock);
	INIT_LIST_HEAD(&new->ranges);
	kr = io_region_set_priv(region, new, kmbuf_region_free);
	if (kr != new)
		kfree(new);	/* a concurrent first ring attached one */
	return kr;
}

#if IS_ENABLED(CONFIG_KUNIT)
/**
 * kmbuf_region_nr_ranges() - ranges of a region that rings own, for KUnit
 * @region: the region
 *
 * Context: Any context.
 * Return: the number of ranges reserved on @region, by rings that exist
 * and for buffers userspace held when their ring went.
 */
unsigned int kmbuf_region_nr_ranges(struct io_uring_region *region)
{
	struct kmbuf_region *kr = io_region_priv(region);
	struct kmbuf_range *range;
	unsigned long flags;
	unsigned int nr = 0;

	if (!kr)
		return 0;
	raw_spin_lock_irqsave(&kr->lock, flags);
	list_for_each_entry(range, &kr->ranges, node)
		nr++;
	raw_spin_unlock_irqrestore(&kr->lock, flags);
	return nr;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_region_nr_ranges);
#endif

static void kmbuf_ring_free_work(struct work_struct *work)
{
	struct kmbuf_ring *ring = container_of(work, struct kmbuf_ring,
					       free_work);

	if (ring->release_range_late)
		kmbuf_ring_release_range(ring);
	kmbuf_ring_free(ring);
}

/* Where a ring's refill ring lives; see struct kmbuf_refill. */
struct kmbuf_refill_desc {
	struct io_uring_region	*region;
	u64			offset;
	u32			entries;
};

/* Bytes of a refill ring of @entries entries. */
static u64 kmbuf_refill_bytes(u32 entries)
{
	return sizeof(struct kmbuf_refill) + (u64)entries * sizeof(u32);
}

/*
 * Claim bytes [@range->start, @range->end) of @kr's region: -EBUSY if any
 * of them belongs to a ring (or a refill ring) already.
 */
static int kmbuf_range_reserve(struct kmbuf_region *kr,
			       struct kmbuf_range *range)
{
	struct kmbuf_range *other;

	raw_spin_lock_irq(&kr->lock);
	list_for_each_entry(other, &kr->ranges, node) {
		if (other->start < range->end && range->start < other->end) {
			raw_spin_unlock_irq(&kr->lock);
			return -EBUSY;
		}
	}
	list_add_tail(&range->node, &kr->ranges);
	raw_spin_unlock_irq(&kr->lock);
	return 0;
}

static void kmbuf_range_unreserve(struct kmbuf_region *kr,
				  struct kmbuf_range *range)
{
	raw_spin_lock_irq(&kr->lock);
	list_del(&range->node);
	raw_spin_unlock_irq(&kr->lock);
}

/* Check @rd and claim its bytes for @ring; see struct kmbuf_bind. */
static int kmbuf_ring_setup_refill(struct kmbuf_ring *ring,
				   const struct kmbuf_refill_desc *rd)
{
	struct io_uring_region *region = rd->region;
	struct kmbuf_region *kr;
	u64 end;
	int ret;

	if (!rd->entries || rd->entries > KMBUF_MAX_BUFS ||
	    !is_power_of_2(rd->entries) ||
	    !IS_ALIGNED(rd->offset, sizeof(struct kmbuf_refill)) ||
	    check_add_overflow(rd->offset, kmbuf_refill_bytes(rd->entries),
			       &end) || end > io_uring_region_size(region))
		return -EINVAL;
	/* userspace writes it: it must be mapped writable */
	if (io_region_read_only(region))
		return -EACCES;
	kr = kmbuf_region_of(region);
	if (!kr)
		return -ENOMEM;
	ring->refill_range = kmalloc(sizeof(*ring->refill_range),
				     GFP_KERNEL_ACCOUNT);
	if (!ring->refill_range)
		return -ENOMEM;
	ring->refill_range->start = rd->offset;
	ring->refill_range->end = end;
	ret = kmbuf_range_reserve(kr, ring->refill_range);
	if (ret) {
		kfree(ring->refill_range);
		ring->refill_range = NULL;
		return ret;
	}
	ring->refill_kr = kr;
	ring->refill = io_region_kaddr(region) + rd->offset;
	ring->refill_mask = rd->entries - 1;
	/* start where userspace's tail is */
	ring->refill_head = READ_ONCE(ring->refill->tail);
	WRITE_ONCE(ring->refill->head, ring->refill_head);
	WRITE_ONCE(ring->refill->flags, 0);
	return 0;
}

/*
 * kmbuf_ring_create() with an optional refill ring.  On success the ring
 * holds references of its own to @region and to @rd->region; the caller's
 * stay the caller's, on success and on failure.
 */
static struct kmbuf_ring *
kmbuf_ring_build(struct io_uring_region *region,
		 const struct kmbuf_ring_desc *desc,
		 const struct kmbuf_refill_desc *rd)
{
	struct kmbuf_ring *ring;
	u32 i;
	int ret;

	might_sleep();
	ret = kmbuf_desc_validate(desc, io_uring_region_size(region));
	if (ret)
		return ERR_PTR(ret);
	if (unlikely(!kmbuf_wq))
		return ERR_PTR(-ENOMEM);

	ring = kzalloc(sizeof(*ring), GFP_KERNEL_ACCOUNT);
	if (!ring)
		return ERR_PTR(-ENOMEM);
	ret = -ENOMEM;
	ring->kr = kmbuf_region_of(region);
	if (!ring->kr)
		goto free_ring;
	ring->fifo = kvmalloc_array(desc->nr_bufs, sizeof(*ring->fifo),
				    GFP_KERNEL_ACCOUNT);
	if (!ring->fifo)
		goto free_ring;
	ring->owner = kvzalloc(desc->nr_bufs, GFP_KERNEL_ACCOUNT);
	if (!ring->owner)
		goto free_fifo;
	ring->pend_next = kvmalloc_array(desc->nr_bufs,
					 sizeof(*ring->pend_next),
					 GFP_KERNEL_ACCOUNT);
	if (!ring->pend_next)
		goto free_owner;
	ring->pend_len = kvmalloc_array(desc->nr_bufs, sizeof(*ring->pend_len),
					GFP_KERNEL_ACCOUNT);
	if (!ring->pend_len)
		goto free_pend_next;
	ring->range = kmalloc(sizeof(*ring->range), GFP_KERNEL_ACCOUNT);
	if (!ring->range)
		goto free_pend_len;

	raw_spin_lock_init(&ring->lock);
	for (i = 0; i < desc->nr_bufs; i++)
		ring->fifo[i] = i;
	ring->nr_free = desc->nr_bufs;
	ring->pages = io_uring_region_pages(region);
	ring->base = io_region_kaddr(region) + desc->offset;
	ring->offset = desc->offset;
	ring->buf_size = desc->buf_size;
	ring->nr_bufs = desc->nr_bufs;
	ring->notify = desc->notify;
	ring->priv = desc->priv;
	refcount_set(&ring->refs, 1);
	INIT_WORK(&ring->free_work, kmbuf_ring_free_work);
	ring->range->start = ring->offset;
	ring->range->end = kmbuf_ring_end(ring);
	/* each byte of a region belongs to at most one ring */
	ret = kmbuf_range_reserve(ring->kr, ring->range);
	if (ret)
		goto free_range;
	if (rd) {
		ret = kmbuf_ring_setup_refill(ring, rd);
		if (ret)
			goto unreserve_range;
		ring->refill_region = io_region_grab(rd->region);
	}
	ring->region = io_region_grab(region);
	return ring;

unreserve_range:
	kmbuf_range_unreserve(ring->kr, ring->range);
free_range:
	kfree(ring->range);
free_pend_len:
	kvfree(ring->pend_len);
free_pend_next:
	kvfree(ring->pend_next);
free_owner:
	kvfree(ring->owner);
free_fifo:
	kvfree(ring->fifo);
free_ring:
	kfree(ring);
	return ERR_PTR(ret);
}

#if IS_ENABLED(CONFIG_KUNIT)
/**
 * kmbuf_ring_create_refill() - kmbuf_ring_create() with a refill ring
 * @region: the ring's region
 * @desc: as for kmbuf_ring_create()
 * @refill: region of the refill ring; the ring takes a reference of its
 *	own, as to @region
 * @offset: byte offset of the refill ring in @refill
 * @entries: entries of the refill ring
 *
 * For KUnit; drivers get refill rings through KMBUF_CMD_BIND.
 *
 * Context: Process context; may sleep.
 * Return: as kmbuf_ring_create(), or ERR_PTR(-EACCES) for a read-only
 * @refill.
 */
struct kmbuf_ring *kmbuf_ring_create_refill(struct io_uring_region *region,
					    const struct kmbuf_ring_desc *desc,
					    struct io_uring_region *refill,
					    u64 offset, u32 entries)
{
	struct kmbuf_refill_desc rd = {
		.region = refill, .offset = offset, .entries = entries,
	};

	return kmbuf_ring_build(region, desc, &rd);
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_create_refill);
#endif

/**
 * kmbuf_ring_create() - build a kernel-managed buffer ring on a region
 * @region: the region, from io_region_get() or io_uring_cmd_region_get()
 * @desc: offset, buffer size, number of buffers and flags
 *
 * Creates a ring whose buffers are all free.  The ring takes a reference
 * of its own to @region and drops it when the ring is freed, so the memory
 * outlives the io_uring instance for as long as the ring exists.  The
 * caller's reference stays the caller's, whether the call succeeds or
 * fails.  The ring is returned with one reference, owned by the caller and
 * dropped by kmbuf_ring_destroy().
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
	return kmbuf_ring_build(region, desc, NULL);
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_create);

/*
 * A ring belongs to the io_uring instance whose region it is built on:
 * only that instance can map the buffers, so only its commands may fill,
 * announce or return them.  A port is keyed by an open file, which any
 * process holding the file can submit on from any io_uring, so every
 * command that uses the ring is checked.  The region cannot be replaced
 * while the ring holds it, so the answer cannot be fooled by an io_uring
 * instance that reuses the memory of a freed one.  0 or -EXDEV.
 */
static int kmbuf_ring_check_cmd(struct kmbuf_ring *ring,
				struct io_uring_cmd *cmd)
{
	if (!io_region_registered(cmd_to_io_kiocb(cmd)->ctx, ring->region))
		return -EXDEV;
	return 0;
}

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
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_get);

/* Drop @nr references at once, e.g. those of @nr buffers handed over. */
static void kmbuf_ring_put_many(struct kmbuf_ring *ring, unsigned int nr)
{
	if (!nr || !refcount_sub_and_test(nr, &ring->refs))
		return;
	/*
	 * Free the range now, so that an UNBIND and a BIND of the same bytes
	 * right after it work; but not with interrupts off (a producer's
	 * last buffer given back in hard interrupt context), where kfree()
	 * is not allowed on PREEMPT_RT: the free work does it then.
	 */
	if (in_hardirq() || irqs_disabled())
		ring->release_range_late = true;
	else
		kmbuf_ring_release_range(ring);
	queue_work(kmbuf_wq, &ring->free_work);
}

/**
 * kmbuf_ring_put() - drop a reference taken with kmbuf_ring_get()
 * @ring: the ring
 *
 * When the last reference goes, the ring and its reference to the region
 * are released from a workqueue, because releasing a region may sleep.
 *
 * Context: Any context, also hard interrupt on PREEMPT_RT (the last
 * reference then leaves all freeing to the workqueue).
 */
void kmbuf_ring_put(struct kmbuf_ring *ring)
{
	kmbuf_ring_put_many(ring, 1);
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_put);

/* No notify callback runs, and none can start once ->shutdown is set. */
static bool kmbuf_ring_notify_idle(struct kmbuf_ring *ring)
{
	unsigned long flags;
	bool idle;

	raw_spin_lock_irqsave(&ring->lock, flags);
	idle = !ring->notifying;
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	return idle;
}

/**
 * kmbuf_ring_destroy() - shut a ring down and drop the owner's reference
 * @ring: the ring, as returned by kmbuf_ring_create()
 *
 * From now on kmbuf_buf_take() fails with -ESHUTDOWN; buffers the kernel
 * or userspace still hold may be put back or returned as before, and
 * their memory stays valid until the last reference to the ring is gone.
 * When this function returns, @desc->notify is not running and will not
 * be called again, so the driver may free what it uses and its module may
 * go away.  If no other reference exists the
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
	raw_spin_lock_irqsave(&ring->lock, flags);
	ring->shutdown = true;
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	/*
	 * Callbacks that started before ->shutdown was set may still run.
	 * They are short and never sleep; poll rather than have them wake a
	 * wait queue, whose spinlock_t hard interrupt context can't take on
	 * PREEMPT_RT.
	 */
	while (!kmbuf_ring_notify_idle(ring))
		schedule_timeout_uninterruptible(1);

	if (refcount_dec_and_test(&ring->refs)) {
		kmbuf_ring_release_range(ring);
		kmbuf_ring_free(ring);
	}
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_destroy);

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
		raw_spin_lock_irqsave(&ring->lock, flags);
		ring->notifying--;
		raw_spin_unlock_irqrestore(&ring->lock, flags);
	}
}

/*
 * Called with the lock held: give back the buffers named in the refill
 * ring, up to its tail.  Userspace writes the refill ring at any time, so
 * every id is read once and checked against the owners: only a buffer
 * userspace holds becomes free.  Returns the number freed.
 */
static u32 kmbuf_refill_read(struct kmbuf_ring *ring)
{
	/*
	 * The loop's state in locals: owner[] is u8, which may alias
	 * anything, and the kernel builds without strict aliasing (fifo[]),
	 * so each store would make the compiler reload the ring's fields.
	 */
	struct kmbuf_refill *rf = ring->refill;
	const u32 nr_bufs = ring->nr_bufs, mask = ring->refill_mask;
	u32 head = ring->refill_head, tail, n, bid, freed = 0, bad = 0;
	u32 slot = kmbuf_fifo_tail(ring);
	u8 *owner = ring->owner;
	u16 *fifo = ring->fifo;

	lockdep_assert_held(&ring->lock);
	/* pairs with userspace's release store of tail after the entries */
	tail = smp_load_acquire(&rf->tail);
	n = min(tail - head, mask + 1);
	for (; n; n--, head++) {
		bid = READ_ONCE(rf->bids[head & mask]);
		/* a duplicate finds its buffer free already: bad */
		if (bid >= nr_bufs || owner[bid] != KMBUF_OWNER_USER) {
			bad++;
			continue;
		}
		/* kmbuf_fifo_push() */
		owner[bid] = KMBUF_OWNER_RING;
		fifo[slot] = bid;
		if (++slot == nr_bufs)
			slot = 0;
		freed++;
	}
	ring->nr_free += freed;
	ring->nr_user -= freed;
	ring->nr_refill_bad += bad;
	ring->refill_head = head;
	/* the entries are read: userspace may overwrite them */
	smp_store_release(&rf->head, head);
	return freed;
}

/*
 * Called with the lock held: reserve up to @nr free buffers for owner @to
 * (the kernel, or userspace for buffers whose CQEs are about to be
 * posted), each with a reference to the ring; the caller then pops that
 * many ids with kmbuf_fifo_pop() or kmbuf_fifo_pop_many() before
 * dropping the lock.  Returns the number reserved, -ENOBUFS (an
 * exhaustion event) or -ESHUTDOWN.
 */
static int kmbuf_take_locked(struct kmbuf_ring *ring, unsigned int nr, u8 to)
{
	lockdep_assert_held(&ring->lock);
	if (unlikely(ring->shutdown))
		return -ESHUTDOWN;
	if (ring->refill) {
		/*
		 * Judge every refill entry before handing a buffer out: an
		 * id written while its buffer was free must not count as a
		 * return once the buffer has been handed out again.
		 */
		if (smp_load_acquire(&ring->refill->tail) != ring->refill_head)
			kmbuf_refill_read(ring);
		if (!ring->nr_free) {
			/*
			 * Ask for a doorbell, then look once more: userspace
			 * bumps tail, then reads flags, with a full barrier
			 * between, so one of us sees the other.
			 */
			WRITE_ONCE(ring->refill->flags,
				   KMBUF_REFILL_NEED_WAKEUP);
			smp_mb(); /* flags before tail; pairs with userspace */
			kmbuf_refill_read(ring);
		}
		if (ring->nr_free && READ_ONCE(ring->refill->flags))
			WRITE_ONCE(ring->refill->flags, 0);
	}
	if (unlikely(!ring->nr_free)) {
		ring->nr_exhausted++;
		ring->starved = true;
		return -ENOBUFS;
	}
	nr = min(nr, ring->nr_free);
	/* each buffer the kernel holds keeps the ring's memory alive */
	refcount_add(nr, &ring->refs);
	ring->nr_free -= nr;
	if (to == KMBUF_OWNER_KERNEL)
		ring->nr_kernel += nr;
	else
		ring->nr_user += nr;
	return nr;
}

/* Called with the lock held: the next free id, reserved for owner @to. */
static u16 kmbuf_fifo_pop(struct kmbuf_ring *ring, u8 to)
{
	u16 bid = ring->fifo[ring->head];

	lockdep_assert_held(&ring->lock);
	if (++ring->head == ring->nr_bufs)
		ring->head = 0;
	ring->owner[bid] = to;
	return bid;
}

/*
 * Called with the lock held: kmbuf_fifo_pop() @nr times, the ids into
 * @bids, with the loop's state in locals (see kmbuf_refill_read()).
 */
static void kmbuf_fifo_pop_many(struct kmbuf_ring *ring, u16 *bids,
				unsigned int nr, u8 to)
{
	const u32 nr_bufs = ring->nr_bufs;
	const u16 *fifo = ring->fifo;
	u8 *owner = ring->owner;
	u32 head = ring->head;
	unsigned int i;

	lockdep_assert_held(&ring->lock);
	for (i = 0; i < nr; i++) {
		bids[i] = fifo[head];
		if (++head == nr_bufs)
			head = 0;
		owner[bids[i]] = to;
	}
	ring->head = head;
}

static void *kmbuf_buf_kaddr(const struct kmbuf_ring *ring, u16 bid)
{
	return ring->base + (size_t)bid * ring->buf_size;
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
 * Context: Any context: process, softirq, hard interrupt, also on
 * PREEMPT_RT; does not sleep or allocate.  Takes the ring's raw spinlock
 * with interrupts disabled for O(@nr), plus O(refill entries) when the
 * ring has a refill ring and too few free buffers.
 * Return: the number of buffers taken, 1 to @nr; -ENOBUFS if none is free
 * (an exhaustion event, as for kmbuf_buf_take()); -ESHUTDOWN after
 * kmbuf_ring_destroy(); -EINVAL if @nr is 0.
 */
int kmbuf_buf_take_batch(struct kmbuf_ring *ring, struct kmbuf_buf *bufs,
			 unsigned int nr)
{
	unsigned long flags;
	int ret, i;

	if (!nr)
		return -EINVAL;
	raw_spin_lock_irqsave(&ring->lock, flags);
	ret = kmbuf_take_locked(ring, nr, KMBUF_OWNER_KERNEL);
	for (i = 0; i < ret; i++)
		bufs[i].bid = kmbuf_fifo_pop(ring, KMBUF_OWNER_KERNEL);
	raw_spin_unlock_irqrestore(&ring->lock, flags);

	for (i = 0; i < ret; i++) {
		bufs[i].kaddr = kmbuf_buf_kaddr(ring, bufs[i].bid);
		bufs[i].len = ring->buf_size;
		bufs[i].ring = ring;
	}
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_buf_take_batch);

/**
 * kmbuf_buf_take() - take a free buffer for the kernel to fill
 * @ring: the ring
 * @buf: filled with the buffer's kernel address, length and id
 *
 * Buffers are taken in the order they became free.  The buffer belongs to
 * the caller until it calls kmbuf_buf_put() or kmbuf_buf_to_user(), and
 * holds a reference to the ring until then: the ring's memory stays valid
 * for the I/O filling it even if the ring is destroyed meanwhile.
 *
 * Context: Any context: process, softirq, hard interrupt, also on
 * PREEMPT_RT; does not sleep or allocate.  Takes the ring's raw spinlock
 * with interrupts disabled.
 * Return: 0, -ENOBUFS if no buffer is free (counted as an exhaustion
 * event; the notify callback and waiters are told when one comes back), or
 * -ESHUTDOWN after kmbuf_ring_destroy().
 */
int kmbuf_buf_take(struct kmbuf_ring *ring, struct kmbuf_buf *buf)
{
	int ret = kmbuf_buf_take_batch(ring, buf, 1);

	return ret < 0 ? ret : 0;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_buf_take);

/**
 * kmbuf_buf_put() - give a buffer the kernel did not use back to the ring
 * @ring: the ring
 * @bid: id of a buffer taken with kmbuf_buf_take()
 *
 * Context: Any context, also hard interrupt on PREEMPT_RT; does not sleep.  Takes the ring's raw
 * spinlock with interrupts disabled; may call the ring's notify callback.
 * Return: 0, -EINVAL if @bid is out of range, or -EALREADY if the kernel
 * does not hold it (the ring is left unchanged).  The same errors mean
 * the same in every call taking a buffer id.
 */
int kmbuf_buf_put(struct kmbuf_ring *ring, unsigned int bid)
{
	unsigned long flags;
	bool notify;

	if (bid >= ring->nr_bufs)
		return -EINVAL;
	raw_spin_lock_irqsave(&ring->lock, flags);
	if (ring->owner[bid] != KMBUF_OWNER_KERNEL) {
		raw_spin_unlock_irqrestore(&ring->lock, flags);
		return -EALREADY;
	}
	ring->nr_kernel--;
	kmbuf_fifo_push(ring, bid);
	notify = kmbuf_freed_locked(ring);
	raw_spin_unlock_irqrestore(&ring->lock, flags);

	kmbuf_freed_unlocked(ring, notify);
	/* the buffer's reference; the ring may be gone after this */
	kmbuf_ring_put(ring);
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_buf_put);

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
 * Context: Any context, also hard interrupt on PREEMPT_RT; does not
 * sleep.  Takes the ring's raw spinlock with interrupts disabled.
 * Return: 0, -EINVAL if @bid is out of range, or -EALREADY if the kernel
 * does not hold it (the ring is left unchanged).  The same errors mean
 * the same in every call taking a buffer id.
 */
int kmbuf_buf_to_user(struct kmbuf_ring *ring, unsigned int bid)
{
	struct kmbuf_buf buf = { .bid = bid };

	if (bid >= ring->nr_bufs)
		return -EINVAL;
	return kmbuf_buf_to_user_batch(ring, &buf, 1);
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_buf_to_user);

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
 * Context: Any context, also hard interrupt on PREEMPT_RT; does not
 * sleep.  Takes the ring's raw spinlock with interrupts disabled for
 * O(@nr).
 * Return: 0, -EINVAL if a buffer id is out of range, or -EALREADY if one
 * is not held by the kernel or repeated (no buffer changes owner then).
 */
int kmbuf_buf_to_user_batch(struct kmbuf_ring *ring,
			    const struct kmbuf_buf *bufs, unsigned int nr)
{
	unsigned long flags;
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (bufs[i].bid >= ring->nr_bufs)
			return -EINVAL;
	raw_spin_lock_irqsave(&ring->lock, flags);
	for (i = 0; i < nr; i++) {
		if (ring->owner[bufs[i].bid] != KMBUF_OWNER_KERNEL)
			goto unwind;
		ring->owner[bufs[i].bid] = KMBUF_OWNER_USER;
	}
	ring->nr_kernel -= nr;
	ring->nr_user += nr;
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	/* the buffers' references; the ring may be gone after this */
	kmbuf_ring_put_many(ring, nr);
	return 0;

unwind:
	/* all of bufs[0 .. i) were held by the kernel before */
	while (i--)
		ring->owner[bufs[i].bid] = KMBUF_OWNER_KERNEL;
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	return -EALREADY;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_buf_to_user_batch);

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
 * Context: Any context, with the wait queue caveat of kmbuf_buf_put();
 * does not sleep.  Takes the ring's raw spinlock with interrupts
 * disabled for O(@nr); may call the ring's notify callback.
 * Return: @nr on success (0 for an empty batch); -EINVAL if @nr exceeds
 * the buffer count or an id is out of range; -EALREADY if an id is not
 * held by userspace: already returned, never handed over, or repeated in
 * the batch.  On error no buffer changes owner.
 */
int kmbuf_ring_return(struct kmbuf_ring *ring, const u32 *bids,
		      unsigned int nr)
{
	/* the loops' state in locals, see kmbuf_refill_read() */
	const u32 nr_bufs = ring->nr_bufs;
	u8 *owner = ring->owner;
	u16 *fifo = ring->fifo;
	unsigned long flags;
	unsigned int i;
	bool notify;
	u32 slot;

	if (nr > nr_bufs)
		return -EINVAL;
	for (i = 0; i < nr; i++)
		if (bids[i] >= nr_bufs)
			return -EINVAL;
	if (!nr)
		return 0;

	raw_spin_lock_irqsave(&ring->lock, flags);
	for (i = 0; i < nr; i++) {
		if (owner[bids[i]] != KMBUF_OWNER_USER)
			goto unwind;
		owner[bids[i]] = KMBUF_OWNER_RETURNING;
	}
	/* kmbuf_fifo_push() of each */
	slot = kmbuf_fifo_tail(ring);
	for (i = 0; i < nr; i++) {
		fifo[slot] = bids[i];
		if (++slot == nr_bufs)
			slot = 0;
		owner[bids[i]] = KMBUF_OWNER_RING;
	}
	ring->nr_free += nr;
	ring->nr_user -= nr;
	notify = kmbuf_freed_locked(ring);
	raw_spin_unlock_irqrestore(&ring->lock, flags);

	kmbuf_freed_unlocked(ring, notify);
	return nr;

unwind:
	kmbuf_return_unwind(ring, bids, i);
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	return -EALREADY;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_return);

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
	struct page **pages = ring->pages;
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
 * kmbuf_ring_get_stats() - read a ring's counters
 * @ring: the ring
 * @st: filled with a consistent snapshot
 *
 * Context: Any context; takes the ring's raw spinlock.
 */
void kmbuf_ring_get_stats(struct kmbuf_ring *ring, struct kmbuf_ring_stats *st)
{
	unsigned long flags;

	st->nr_bufs = ring->nr_bufs;
	st->buf_size = ring->buf_size;
	st->region_id = io_region_id(ring->region);
	st->offset = ring->offset;
	raw_spin_lock_irqsave(&ring->lock, flags);
	st->nr_free = ring->nr_free;
	st->nr_kernel = ring->nr_kernel;
	st->nr_user = ring->nr_user;
	st->nr_exhausted = ring->nr_exhausted;
	st->nr_refill_bad = ring->nr_refill_bad;
	st->refill = ring->refill;
	st->shutdown = ring->shutdown;
	raw_spin_unlock_irqrestore(&ring->lock, flags);
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_get_stats);

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
static void kmbuf_ring_show_fdinfo(struct kmbuf_ring *ring,
				   struct seq_file *m)
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
	if (st.refill)
		seq_printf(m, "kmbuf_refill_bad:\t%llu\n", st.nr_refill_bad);
	seq_printf(m, "kmbuf_shutdown:\t%u\n", st.shutdown);
}

/*
 * Ports and streams.
 *
 * A port is what userspace binds a ring to (a driver's open file, queue or
 * connection); its streams are the sources of records the driver has, each
 * delivered by one multishot KMBUF_CMD_ARM at a time.  All streams of a
 * port draw from its one ring, so buffers are spent only by streams that
 * have data.
 *
 * Delivery of an armed stream always runs in the task that submitted the
 * ARM, with its io_uring's uring_lock held: inline at issue, or from task
 * work.  Whatever wants delivery to happen (a record delivered, a buffer
 * returned, the command to end) "kicks" the stream: it queues the task
 * work unless it is queued already (tw_pending).  Only that task work
 * completes the command, so a completion never races with queued task
 * work, and a command is marked cancelable before anyone may kick it.
 *
 * Records wait in a stream, in order, each in its buffer, until their CQE
 * is posted: those a push producer delivered while the stream was not
 * armed or its task work was pending, and the one whose CQE did not fit
 * the CQ ring.  The stream then ends with -EOVERFLOW, a CQE without a
 * buffer, and the next ARM posts the kept record first: a terminating CQE
 * never carries a record, so none can be lost with it.
 *
 * Locking: port->lock (raw, irqs off) protects the bound ring pointer and
 * every stream's state; the ring's lock nests inside it.  Nothing calls
 * into the ring in a way that can run its notify callback (which takes
 * port->lock) with port->lock held.
 */

/* Records one task work run posts before it lets other task work run. */
#define KMBUF_STREAM_BUDGET	256U
/* Buffers a pull stream takes from the ring at a time. */
#define KMBUF_STREAM_BATCH	KMBUF_FILL_MAX
/* Buffer ids a RETURN copies to the stack; bigger batches allocate. */
#define KMBUF_RETURN_STACK	64U
/* Streams a ring notification kicks directly; more go through irq_work. */
#define KMBUF_NOTIFY_DIRECT	8U

struct kmbuf_stream {
	struct kmbuf_port	*port;
	unsigned int		idx;
	/* the rest is protected by port->lock */
	struct io_uring_cmd	*cmd;		/* the armed ARM, or NULL */
	/*
	 * Task work is queued for @cmd, or @cmd is still being set up (not
	 * cancelable yet): either way a kick has nothing to do.
	 */
	bool			tw_pending;
	bool			final_set;	/* @cmd must end with final_res */
	s32			final_res;
	/* records waiting for their CQE, linked through ring->pend_next */
	u32			nr_pending;
	u16			pend_head;
	u16			pend_tail;
	struct list_head	starved_node;	/* on port->starved */
	/* queues the task work when kicked from hard interrupt context */
	struct irq_work		kick_work;
};

struct kmbuf_port {
	raw_spinlock_t		lock;
	struct kmbuf_ring	*ring;		/* bound; the owner's reference */
	struct list_head	starved;	/* pull streams out of buffers */
	const struct kmbuf_stream_ops *ops;
	void			*priv;
	u32			align;
	u32			max_buf_size;
	u32			flags;
	/* records dropped: delivered to an unbound ring, or waiting at UNBIND */
	u64			nr_dropped;
	unsigned int		nr_streams;
	struct kmbuf_stream	streams[] __counted_by(nr_streams);
};

/* What an ARM command keeps in its pdu. */
struct kmbuf_arm_pdu {
	struct kmbuf_stream	*s;
};

static void kmbuf_stream_tw(struct io_uring_cmd *cmd, unsigned int issue_flags);

static struct kmbuf_stream *kmbuf_cmd_stream(struct io_uring_cmd *cmd)
{
	return io_uring_cmd_to_pdu(cmd, struct kmbuf_arm_pdu)->s;
}

/*
 * Called with the port's lock held: may the caller queue the task work of
 * @s?  If so, it does once it has dropped the lock (kmbuf_stream_queue()).
 */
static bool kmbuf_stream_kick_locked(struct kmbuf_stream *s)
{
	lockdep_assert_held(&s->port->lock);
	if (!s->cmd || s->tw_pending)
		return false;
	s->tw_pending = true;
	return true;
}

/*
 * Queue the task work that kmbuf_stream_kick_locked() allowed; @s->cmd
 * can't complete before it runs.  Not from hard interrupt context:
 * queueing task work may wake the task through an eventfd, whose lock is
 * a spinlock_t (a sleeping lock on PREEMPT_RT); irq_work does it there.
 */
static void kmbuf_stream_queue(struct kmbuf_stream *s)
{
	if (in_hardirq())
		irq_work_queue(&s->kick_work);
	else
		io_uring_cmd_complete_in_task(s->cmd, kmbuf_stream_tw);
}

static void kmbuf_stream_kick_work(struct irq_work *work)
{
	struct kmbuf_stream *s = container_of(work, struct kmbuf_stream,
					      kick_work);

	io_uring_cmd_complete_in_task(s->cmd, kmbuf_stream_tw);
}

/* Called with the port's lock held; a result already set wins. */
static bool kmbuf_stream_end_locked(struct kmbuf_stream *s, int res)
{
	lockdep_assert_held(&s->port->lock);
	if (s->cmd && !s->final_set) {
		s->final_set = true;
		s->final_res = res;
	}
	return kmbuf_stream_kick_locked(s);
}

/**
 * kmbuf_stream_kick() - tell the core a stream may have data
 * @s: the stream
 *
 * For pull streams (&struct kmbuf_stream_ops.produce): after ->produce()
 * returned -EAGAIN, call this when data arrives, and the core calls
 * ->produce() again.  Does nothing if the stream is not armed; ARM always
 * tries ->produce() first.
 *
 * Context: Any context, including hard interrupt on PREEMPT_RT; takes
 * only raw spinlocks.
 */
void kmbuf_stream_kick(struct kmbuf_stream *s)
{
	unsigned long flags;
	bool kick;

	raw_spin_lock_irqsave(&s->port->lock, flags);
	kick = kmbuf_stream_kick_locked(s);
	raw_spin_unlock_irqrestore(&s->port->lock, flags);
	if (kick)
		kmbuf_stream_queue(s);
}
EXPORT_SYMBOL_GPL(kmbuf_stream_kick);

/**
 * kmbuf_stream_end() - end a stream's armed command
 * @s: the stream
 * @res: result of the final CQE: 0 (the stream is over) or a negative
 *	errno (a device error)
 *
 * Records delivered before are posted first if the CQ ring has room;
 * the others stay for the next ARM.  Does nothing if the stream is not
 * armed or already ending.
 *
 * Context: Any context, including hard interrupt on PREEMPT_RT; takes
 * only raw spinlocks.
 */
static void kmbuf_stream_end(struct kmbuf_stream *s, int res)
{
	unsigned long flags;
	bool kick;

	raw_spin_lock_irqsave(&s->port->lock, flags);
	kick = kmbuf_stream_end_locked(s, min(res, 0));
	raw_spin_unlock_irqrestore(&s->port->lock, flags);
	if (kick)
		kmbuf_stream_queue(s);
}

/*
 * Move buffer @bid of @ring from owner @from to owner @to, keeping the
 * counters; false if @from doesn't own it.  No reference changes.
 */
static bool kmbuf_owner_move(struct kmbuf_ring *ring, u16 bid, u8 from, u8 to)
{
	unsigned long flags;
	bool ok;

	raw_spin_lock_irqsave(&ring->lock, flags);
	ok = ring->owner[bid] == from;
	if (ok) {
		ring->owner[bid] = to;
		if (from == KMBUF_OWNER_KERNEL)
			ring->nr_kernel--;
		else
			ring->nr_user--;
		if (to == KMBUF_OWNER_KERNEL)
			ring->nr_kernel++;
		else
			ring->nr_user++;
	}
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	return ok;
}

/*
 * Hand buffer @bid of @ring, holding a record of @len bytes, to userspace
 * and post its CQE.  Returns false if the CQ ring is full: then the buffer
 * is the kernel's again, with its reference, and the caller keeps the
 * record.  The buffer goes to userspace before the CQE, so that userspace
 * can return it as soon as it sees the CQE.
 */
static bool kmbuf_stream_post(struct io_uring_cmd *cmd,
			      struct kmbuf_ring *ring, u16 bid, u32 len,
			      unsigned int issue_flags)
{
	kmbuf_owner_move(ring, bid, KMBUF_OWNER_KERNEL, KMBUF_OWNER_USER);
	if (io_uring_cmd_post_mshot_cqe(cmd, len, kmbuf_cqe_flags(bid),
					issue_flags)) {
		kmbuf_ring_put(ring);	/* the buffer's reference */
		return true;
	}
	if (kmbuf_owner_move(ring, bid, KMBUF_OWNER_USER, KMBUF_OWNER_KERNEL))
		return false;
	/*
	 * Userspace returned a buffer no CQE had named yet (it guessed the
	 * id): the buffer is free again and the record is gone, its loss.
	 */
	kmbuf_ring_put(ring);
	return true;
}

/*
 * Keep the record of @len bytes in buffer @bid of @ring at the head of the
 * records of @s, or give the buffer back if @ring is no longer bound.
 */
static void kmbuf_stream_keep(struct kmbuf_stream *s, struct kmbuf_ring *ring,
			      u16 bid, u32 len)
{
	struct kmbuf_port *port = s->port;
	unsigned long flags;

	raw_spin_lock_irqsave(&port->lock, flags);
	if (port->ring == ring) {
		ring->pend_len[bid] = len;
		ring->pend_next[bid] = s->pend_head;
		s->pend_head = bid;
		if (!s->nr_pending++)
			s->pend_tail = bid;
		raw_spin_unlock_irqrestore(&port->lock, flags);
		return;
	}
	raw_spin_unlock_irqrestore(&port->lock, flags);
	kmbuf_buf_put(ring, bid);
}

/**
 * kmbuf_buf_giveback() - give back a buffer the kernel took and won't fill
 * @buf: a buffer from kmbuf_stream_buf_get() or kmbuf_port_buf_get()
 *
 * Context: Any context, including hard interrupt on PREEMPT_RT.
 */
void kmbuf_buf_giveback(struct kmbuf_buf *buf)
{
	kmbuf_buf_put(buf->ring, buf->bid);
}
EXPORT_SYMBOL_GPL(kmbuf_buf_giveback);

/*
 * Take back buffers kmbuf_stream_take() handed to userspace but no CQE
 * named: they become free (unless userspace returned them already: then
 * they are free anyway), and their references go.
 */
static void kmbuf_bids_unannounce(struct kmbuf_ring *ring, const u16 *bids,
				  unsigned int nr)
{
	unsigned long flags;
	unsigned int i;
	bool notify;

	if (!nr)
		return;
	raw_spin_lock_irqsave(&ring->lock, flags);
	for (i = 0; i < nr; i++) {
		if (ring->owner[bids[i]] != KMBUF_OWNER_USER)
			continue;
		kmbuf_fifo_push(ring, bids[i]);
		ring->nr_user--;
	}
	notify = kmbuf_freed_locked(ring);
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	kmbuf_freed_unlocked(ring, notify);
	kmbuf_ring_put_many(ring, nr);
}

/*
 * The CQE of an announced buffer holding a record of @len bytes did not
 * fit the CQ ring: keep the record at the head of @s, the buffer the
 * kernel's again.  If userspace returned the buffer meanwhile (it guessed
 * the id), the record is gone, its loss.
 */
static void kmbuf_stream_unpost(struct kmbuf_stream *s,
				struct kmbuf_ring *ring, u16 bid, u32 len)
{
	if (kmbuf_owner_move(ring, bid, KMBUF_OWNER_USER, KMBUF_OWNER_KERNEL))
		kmbuf_stream_keep(s, ring, bid, len);
	else
		kmbuf_ring_put(ring);
}

/*
 * Take up to @nr buffers of the port's ring for the pull stream @s, their
 * ids into @bids, the ring into @ringp.  They go to userspace at once,
 * before their records are produced: each CQE is posted only once its
 * record is in place, and userspace learns of a buffer from its CQE, so
 * one it returns earlier is its own bug (the ring stays consistent).  Each
 * keeps a reference to the ring until its CQE is posted or it is taken
 * back with kmbuf_bids_unannounce().  Returns the number taken, -ENXIO if
 * no ring is bound, or -ENOBUFS: then @s is on the port's starved list
 * before the ring lock is dropped, so the notify callback of the next
 * buffer given back kicks it.
 */
static int kmbuf_stream_take(struct kmbuf_stream *s, u16 *bids,
			     unsigned int nr, struct kmbuf_ring **ringp)
{
	struct kmbuf_port *port = s->port;
	struct kmbuf_ring *ring;
	unsigned long flags;
	int ret = -ENXIO;

	raw_spin_lock_irqsave(&port->lock, flags);
	ring = port->ring;
	if (ring) {
		raw_spin_lock(&ring->lock);
		ret = kmbuf_take_locked(ring, nr, KMBUF_OWNER_USER);
		if (ret > 0)
			kmbuf_fifo_pop_many(ring, bids, ret, KMBUF_OWNER_USER);
		raw_spin_unlock(&ring->lock);
		if (ret == -ENOBUFS && list_empty(&s->starved_node))
			list_add_tail(&s->starved_node, &port->starved);
	}
	raw_spin_unlock_irqrestore(&port->lock, flags);
	*ringp = ring;
	return ret;
}

/*
 * One batch of a pull stream: take buffers, let ->produce() fill them,
 * post their CQEs at once.  Returns the number of records posted, or 0
 * when the stream must stop here (no buffer or no data: it is kicked
 * again; an error or a full CQ ring: it is ending).
 */
static unsigned int kmbuf_stream_pull(struct kmbuf_stream *s,
				      struct io_uring_cmd *cmd,
				      unsigned int budget,
				      unsigned int issue_flags)
{
	/*
	 * One batch: the buffers for ->produce(), then the CQEs, built in
	 * place over the fills (CQE i lies within fills 0 to i, all read by
	 * then), which keeps the frame under 1 KiB with KASAN.  Only the
	 * entries of the batch are read: not zeroed (INIT_STACK_ALL_ZERO),
	 * this runs once per batch of records.
	 */
	union {
		struct kmbuf_fill fill[KMBUF_STREAM_BATCH];
		struct io_uring_cmd_cqe cqe[KMBUF_STREAM_BATCH];
	} b __uninitialized;
	u16 bids[KMBUF_STREAM_BATCH] __uninitialized;
	struct kmbuf_port *port = s->port;
	unsigned int i, filled, posted, room;
	struct kmbuf_ring *ring;
	u32 size;
	void *base;
	int nr, ret;

	BUILD_BUG_ON(sizeof(b.cqe[0]) > sizeof(b.fill[0]));
	/* make no record the CQ ring has no room for: it would hold a buffer */
	room = io_uring_cmd_mshot_cq_space(cmd, issue_flags);
	if (!room) {
		kmbuf_stream_end(s, -EOVERFLOW);
		return 0;
	}
	nr = kmbuf_stream_take(s, bids, min3(budget, room, KMBUF_STREAM_BATCH),
			       &ring);
	/* -ENOBUFS: kicked when a buffer comes back; -ENXIO: unbound */
	if (nr < 0)
		return 0;
	base = ring->base;
	size = ring->buf_size;
	for (i = 0; i < nr; i++) {
		b.fill[i].kaddr = base + (size_t)bids[i] * size;
		b.fill[i].size = size;
		b.fill[i].len = 0;
	}
	ret = port->ops->produce(s, port->priv, b.fill, nr);
	filled = ret > 0 ? min_t(unsigned int, ret, nr) : 0;
	for (i = 0; i < filled; i++) {
		u32 len = b.fill[i].len;

		if (!len || len > size) {
			ret = -EIO;	/* the driver's bug: end the command */
			filled = i;
			break;
		}
		b.cqe[i].res = len;
		b.cqe[i].cflags = kmbuf_cqe_flags(bids[i]);
	}
	posted = filled ? io_uring_cmd_post_mshot_cqes(cmd, b.cqe, filled,
						       issue_flags) : 0;
	/* the references of the buffers now named in CQEs */
	if (posted)
		kmbuf_ring_put_many(ring, posted);
	if (posted == nr)
		return nr;

	kmbuf_bids_unannounce(ring, &bids[filled], nr - filled);
	if (posted < filled) {
		/*
		 * Another completion took the room: keep the records, the
		 * first one at the head, for the next ARM.
		 */
		for (i = filled; i-- > posted;)
			kmbuf_stream_unpost(s, ring, bids[i], b.cqe[i].res);
		kmbuf_stream_end(s, -EOVERFLOW);
		return 0;
	}
	if (ret < 0 && ret != -EAGAIN) {
		kmbuf_stream_end(s, ret);
		return 0;
	}
	/*
	 * Fewer than asked: ask again, with fresh buffers (the producer may
	 * have stopped at an error it reports now); nothing at all: no data
	 * now, the driver kicks the stream when it has some.
	 */
	return posted;
}

/*
 * Post what stream @s has until it has nothing more, the ring runs dry,
 * the budget is spent or the command must end: first the records waiting
 * in the stream, then, for a pull stream, new records from ->produce().
 * Runs in the task that armed @s with its uring_lock held.
 */
static void kmbuf_stream_run(struct kmbuf_stream *s, struct io_uring_cmd *cmd,
			     unsigned int issue_flags)
{
	const struct kmbuf_stream_ops *ops = s->port->ops;
	unsigned int budget = KMBUF_STREAM_BUDGET, nr;
	struct kmbuf_port *port = s->port;
	struct kmbuf_ring *ring;
	unsigned long flags;
	u16 bid;
	u32 len;

	while (budget) {
		raw_spin_lock_irqsave(&port->lock, flags);
		if (s->final_set || !s->nr_pending) {
			raw_spin_unlock_irqrestore(&port->lock, flags);
			break;
		}
		/* waiting records hold buffers of the bound ring */
		ring = port->ring;
		bid = s->pend_head;
		len = ring->pend_len[bid];
		s->pend_head = ring->pend_next[bid];
		s->nr_pending--;
		raw_spin_unlock_irqrestore(&port->lock, flags);

		if (!kmbuf_stream_post(cmd, ring, bid, len, issue_flags)) {
			kmbuf_stream_keep(s, ring, bid, len);
			kmbuf_stream_end(s, -EOVERFLOW);
			return;
		}
		budget--;
	}

	while (budget && ops && ops->produce) {
		if (READ_ONCE(s->final_set))
			break;
		nr = kmbuf_stream_pull(s, cmd, budget, issue_flags);
		if (!nr)
			return;
		budget -= nr;
	}
	/* budget spent: go on in task work, after the task's other work */
	if (!budget)
		kmbuf_stream_kick(s);
}

static void kmbuf_stream_tw(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct kmbuf_stream *s = kmbuf_cmd_stream(cmd);
	struct kmbuf_port *port = s->port;
	unsigned long flags;
	s32 res;

	raw_spin_lock_irqsave(&port->lock, flags);
	s->tw_pending = false;
	if (!s->final_set && !(issue_flags & IO_URING_F_TASK_DEAD)) {
		raw_spin_unlock_irqrestore(&port->lock, flags);
		kmbuf_stream_run(s, cmd, issue_flags);
		return;
	}
	res = s->final_set ? s->final_res : -ECANCELED;
	s->final_set = false;
	s->cmd = NULL;
	list_del_init(&s->starved_node);
	raw_spin_unlock_irqrestore(&port->lock, flags);
	/* records still waiting stay in the stream for the next ARM */
	io_uring_cmd_done(cmd, res, 0, issue_flags);
}

/**
 * kmbuf_stream_buf_get() - take a buffer for a push producer to fill
 * @s: the stream that will deliver it
 * @buf: filled with the buffer's kernel address, length, id and ring
 *
 * The buffer belongs to the caller until it passes it to
 * kmbuf_stream_deliver() or kmbuf_buf_giveback(), which it must do (the
 * buffer keeps its ring's memory alive).
 *
 * Context: Any context, including hard interrupt on PREEMPT_RT; takes
 * only raw spinlocks; does not sleep or allocate.
 * Return: 0, -ENXIO if no ring is bound to the port, or -ENOBUFS if no
 * buffer is free (counted as an exhaustion of the ring).
 */
int kmbuf_stream_buf_get(struct kmbuf_stream *s, struct kmbuf_buf *buf)
{
	struct kmbuf_port *port = s->port;
	unsigned long flags;
	int ret = -ENXIO;

	raw_spin_lock_irqsave(&port->lock, flags);
	if (port->ring)
		ret = kmbuf_buf_take(port->ring, buf);
	raw_spin_unlock_irqrestore(&port->lock, flags);
	return ret;
}
EXPORT_SYMBOL_GPL(kmbuf_stream_buf_get);

/**
 * kmbuf_stream_deliver() - hand a filled buffer to a stream
 * @s: the stream
 * @buf: a buffer from kmbuf_stream_buf_get() holding a record
 * @len: length of the record, 1 to @buf->len
 *
 * The core posts the record's CQE (res = @len, the buffer id in the flags)
 * from the task that armed @s, in the order records were delivered.  If
 * @s is not armed, the record waits in the stream, in its buffer, for the
 * next ARM.  If the port's ring was unbound since the buffer was taken,
 * the buffer goes back to its ring and the record is dropped (counted in
 * fdinfo kmbuf_dropped, as are records still waiting at UNBIND).  Either
 * way @buf is the core's from now on.
 *
 * Context: Any context, including hard interrupt on PREEMPT_RT; takes
 * only raw spinlocks; does not sleep or allocate.
 */
void kmbuf_stream_deliver(struct kmbuf_stream *s, struct kmbuf_buf *buf,
			  u32 len)
{
	struct kmbuf_ring *ring = buf->ring;
	struct kmbuf_port *port = s->port;
	unsigned long flags;
	u16 bid = buf->bid;
	bool kick;

	if (WARN_ON_ONCE(!len || len > buf->len)) {
		kmbuf_buf_giveback(buf);
		return;
	}
	raw_spin_lock_irqsave(&port->lock, flags);
	if (port->ring != ring) {
		port->nr_dropped++;
		raw_spin_unlock_irqrestore(&port->lock, flags);
		kmbuf_buf_giveback(buf);
		return;
	}
	ring->pend_len[bid] = len;
	if (s->nr_pending++)
		ring->pend_next[s->pend_tail] = bid;
	else
		s->pend_head = bid;
	s->pend_tail = bid;
	kick = kmbuf_stream_kick_locked(s);
	raw_spin_unlock_irqrestore(&port->lock, flags);
	if (kick)
		kmbuf_stream_queue(s);
}
EXPORT_SYMBOL_GPL(kmbuf_stream_deliver);

/**
 * kmbuf_stream_index() - which stream of its port a stream is
 * @s: the stream
 *
 * Context: Any context.
 * Return: the index userspace arms it with (struct kmbuf_cmd.stream).
 */
unsigned int kmbuf_stream_index(struct kmbuf_stream *s)
{
	return s->idx;
}
EXPORT_SYMBOL_GPL(kmbuf_stream_index);

/**
 * kmbuf_stream_armed() - is a stream armed?
 * @s: the stream
 *
 * Context: Any context.
 * Return: true while an ARM command of @s is in flight (a hint: it may
 * end at any time).
 */
bool kmbuf_stream_armed(struct kmbuf_stream *s)
{
	return READ_ONCE(s->cmd);
}
EXPORT_SYMBOL_GPL(kmbuf_stream_armed);

/*
 * The ring's notify callback: a buffer came back after a take failed.
 * Kick the pull streams waiting for one.  Runs in the context of whoever
 * gave the buffer back, without the ring's lock.
 */
static void kmbuf_port_notify(struct kmbuf_ring *ring, void *priv)
{
	struct kmbuf_stream *direct[KMBUF_NOTIFY_DIRECT], *s, *tmp;
	struct kmbuf_port *port = priv;
	bool hard = in_hardirq();
	unsigned int nr = 0, i;
	unsigned long flags;

	raw_spin_lock_irqsave(&port->lock, flags);
	list_for_each_entry_safe(s, tmp, &port->starved, starved_node) {
		list_del_init(&s->starved_node);
		if (!kmbuf_stream_kick_locked(s))
			continue;
		if (!hard && nr < KMBUF_NOTIFY_DIRECT)
			direct[nr++] = s;
		else
			irq_work_queue(&s->kick_work);
	}
	raw_spin_unlock_irqrestore(&port->lock, flags);
	for (i = 0; i < nr; i++)
		io_uring_cmd_complete_in_task(direct[i]->cmd, kmbuf_stream_tw);
}

/**
 * kmbuf_port_create() - create a port for userspace to bind a ring to
 * @desc: streams, how they get data, and what rings the port accepts
 *
 * Typically one per open file, created in ->open() or when the file is
 * configured, and destroyed in ->release().
 *
 * Context: Process context; may sleep.  Allocates about 80 bytes per
 * stream, charged to the caller's memory cgroup.
 * Return: the port, ERR_PTR(-EINVAL) for a bad @desc, or
 * ERR_PTR(-ENOMEM).
 */
struct kmbuf_port *kmbuf_port_create(const struct kmbuf_port_desc *desc)
{
	struct kmbuf_port *port;
	unsigned int i;

	if (desc->nr_streams > KMBUF_MAX_STREAMS ||
	    (desc->flags & ~KMBUF_PORT_RDONLY) ||
	    (desc->align && !is_power_of_2(desc->align)))
		return ERR_PTR(-EINVAL);
	port = kvzalloc(struct_size(port, streams, desc->nr_streams),
			GFP_KERNEL_ACCOUNT);
	if (!port)
		return ERR_PTR(-ENOMEM);
	raw_spin_lock_init(&port->lock);
	INIT_LIST_HEAD(&port->starved);
	port->ops = desc->ops;
	port->priv = desc->priv;
	port->align = desc->align;
	port->max_buf_size = desc->max_buf_size;
	port->flags = desc->flags;
	port->nr_streams = desc->nr_streams;
	for (i = 0; i < port->nr_streams; i++) {
		struct kmbuf_stream *s = &port->streams[i];

		s->port = port;
		s->idx = i;
		INIT_LIST_HEAD(&s->starved_node);
		init_irq_work(&s->kick_work, kmbuf_stream_kick_work);
	}
	return port;
}
EXPORT_SYMBOL_GPL(kmbuf_port_create);

/* A chain of buffers, linked through ring->pend_next, to give back. */
struct kmbuf_chain {
	u32	nr;
	u16	head;
	u16	tail;
};

/*
 * Called with the port's lock held: unbind the port's ring.  Armed streams
 * end with -ECANCELED; the records waiting in streams are moved to
 * @chain, for kmbuf_port_drop_ring() to give their buffers back.
 */
static struct kmbuf_ring *kmbuf_port_detach_locked(struct kmbuf_port *port,
						   struct kmbuf_chain *chain)
{
	struct kmbuf_ring *ring = port->ring;
	unsigned int i;

	lockdep_assert_held(&port->lock);
	port->ring = NULL;
	chain->nr = 0;
	for (i = 0; i < port->nr_streams; i++) {
		struct kmbuf_stream *s = &port->streams[i];

		/* we hold a raw spinlock: no task work from here */
		if (kmbuf_stream_end_locked(s, -ECANCELED))
			irq_work_queue(&s->kick_work);
		list_del_init(&s->starved_node);
		if (!s->nr_pending)
			continue;
		if (chain->nr)
			ring->pend_next[chain->tail] = s->pend_head;
		else
			chain->head = s->pend_head;
		chain->tail = s->pend_tail;
		chain->nr += s->nr_pending;
		port->nr_dropped += s->nr_pending;
		s->nr_pending = 0;
	}
	return ring;
}

/* Give back the buffers of @chain and destroy the unbound @ring. */
static void kmbuf_port_drop_ring(struct kmbuf_ring *ring,
				 const struct kmbuf_chain *chain)
{
	u16 bid = chain->head;
	u32 i;

	for (i = 0; i < chain->nr; i++) {
		u16 next = ring->pend_next[bid];

		kmbuf_buf_put(ring, bid);
		bid = next;
	}
	kmbuf_ring_destroy(ring);
}

/**
 * kmbuf_port_destroy() - unbind a port's ring and free the port
 * @port: the port
 *
 * Buffers held by records waiting in streams go back to the ring, which is
 * destroyed; buffers userspace holds stay readable until their region
 * goes.  Buffers the driver still holds (taken, not yet delivered) keep
 * the ring's memory alive until it gives them back, after which it must
 * not use the port: stop the producers first.
 *
 * Context: Process context; may sleep.  Only once no command of the port
 * can be in flight or be submitted any more, e.g. from ->release() (every
 * command holds a reference to its file).
 */
void kmbuf_port_destroy(struct kmbuf_port *port)
{
	struct kmbuf_chain chain;
	struct kmbuf_ring *ring;
	unsigned int i;

	raw_spin_lock_irq(&port->lock);
	ring = port->ring;
	if (ring)
		kmbuf_port_detach_locked(port, &chain);
	raw_spin_unlock_irq(&port->lock);
	if (ring)
		kmbuf_port_drop_ring(ring, &chain);
	for (i = 0; i < port->nr_streams; i++) {
		/* a command in flight holds the file: a driver bug */
		WARN_ON_ONCE(port->streams[i].cmd);
		irq_work_sync(&port->streams[i].kick_work);
	}
	kvfree(port);
}
EXPORT_SYMBOL_GPL(kmbuf_port_destroy);

/**
 * kmbuf_port_stream() - a stream of a port
 * @port: the port
 * @idx: stream index, below &struct kmbuf_port_desc.nr_streams
 *
 * Context: Any context.
 * Return: the stream, or NULL if @idx is out of range.
 */
struct kmbuf_stream *kmbuf_port_stream(struct kmbuf_port *port,
				       unsigned int idx)
{
	return idx < port->nr_streams ? &port->streams[idx] : NULL;
}
EXPORT_SYMBOL_GPL(kmbuf_port_stream);

/*
 * Called with the port's lock held: the bound ring, if @cmd may use it.
 * -ENXIO if none is bound, -EXDEV if @cmd comes from another io_uring
 * instance than the one whose region the ring is built on.
 */
static int kmbuf_port_check_locked(struct kmbuf_port *port,
				   struct io_uring_cmd *cmd)
{
	lockdep_assert_held(&port->lock);
	if (!port->ring)
		return -ENXIO;
	return kmbuf_ring_check_cmd(port->ring, cmd);
}

/* The bound ring with a reference for the caller, if @cmd may use it. */
static struct kmbuf_ring *kmbuf_port_ring_get(struct kmbuf_port *port,
					      struct io_uring_cmd *cmd)
{
	struct kmbuf_ring *ring;
	int ret;

	raw_spin_lock_irq(&port->lock);
	ret = kmbuf_port_check_locked(port, cmd);
	ring = ret ? ERR_PTR(ret) : kmbuf_ring_get(port->ring);
	raw_spin_unlock_irq(&port->lock);
	return ring;
}

/**
 * kmbuf_port_buf_get() - take a buffer for a single-shot command
 * @port: the port whose ring to take from
 * @cmd: the command that will complete with the buffer
 * @buf: filled with the buffer's kernel address, length, id and ring
 *
 * For drivers whose own commands each fill one buffer (a read): the
 * command later ends with kmbuf_cmd_done_buf(), or gives the buffer back
 * with kmbuf_buf_giveback() if it fails before.
 *
 * Context: Any context; takes only raw spinlocks.
 * Return: 0, -ENXIO if no ring is bound, -EXDEV if @cmd comes from another
 * io_uring instance than the ring, or -ENOBUFS if no buffer is free.
 */
int kmbuf_port_buf_get(struct kmbuf_port *port, struct io_uring_cmd *cmd,
		       struct kmbuf_buf *buf)
{
	unsigned long flags;
	int ret;

	raw_spin_lock_irqsave(&port->lock, flags);
	ret = kmbuf_port_check_locked(port, cmd);
	if (!ret)
		ret = kmbuf_buf_take(port->ring, buf);
	raw_spin_unlock_irqrestore(&port->lock, flags);
	return ret;
}
EXPORT_SYMBOL_GPL(kmbuf_port_buf_get);

/**
 * kmbuf_cmd_done_buf() - complete a single-shot command with a buffer
 * @cmd: the command
 * @buf: the buffer from kmbuf_port_buf_get()
 * @res: the result: the number of bytes in @buf, or a negative errno
 * @issue_flags: as passed to the caller
 *
 * On success the buffer goes to userspace and the CQE names it
 * (kmbuf_cqe_flags()); on error it goes back to its ring and the CQE
 * carries @res alone.  Completes @cmd either way.
 *
 * Context: Where io_uring_cmd_done() may be called: ->uring_cmd() or an
 * io_uring_cmd_complete_in_task() callback.
 */
void kmbuf_cmd_done_buf(struct io_uring_cmd *cmd, struct kmbuf_buf *buf,
			int res, unsigned int issue_flags)
{
	u32 cflags = 0;

	if (res >= 0 && !kmbuf_buf_to_user(buf->ring, buf->bid)) {
		cflags = kmbuf_cqe_flags(buf->bid);
	} else {
		kmbuf_buf_giveback(buf);
		if (res >= 0)
			res = -EIO;
	}
	io_uring_cmd_done_cflags(cmd, res, 0, cflags, issue_flags);
}
EXPORT_SYMBOL_GPL(kmbuf_cmd_done_buf);

static int kmbuf_port_bind(struct kmbuf_port *port, struct io_uring_cmd *cmd,
			   const struct kmbuf_cmd *c)
{
	struct io_uring_region *region, *refill = NULL;
	struct kmbuf_ring_desc desc = { };
	struct kmbuf_refill_desc rd = { };
	struct kmbuf_ring *ring;
	struct kmbuf_bind b;
	bool busy;
	int ret;

	if (c->nr || c->stream || c->flags)
		return -EINVAL;
	if (copy_from_user(&b, u64_to_user_ptr(c->addr), sizeof(b)))
		return -EFAULT;
	if ((b.flags & ~KMBUF_BIND_REFILL) || b.resv)
		return -EINVAL;
	if (!(b.flags & KMBUF_BIND_REFILL) &&
	    (b.refill_region || b.refill_entries || b.refill_offset))
		return -EINVAL;
	if (port->max_buf_size && b.buf_size > port->max_buf_size)
		return -EINVAL;
	if (READ_ONCE(port->ring))
		return -EBUSY;

	region = io_uring_cmd_region_get(cmd, b.region_id);
	if (IS_ERR(region))
		return PTR_ERR(region);
	/* e.g. verified data: only a region userspace can't write */
	if ((port->flags & KMBUF_PORT_RDONLY) && !io_region_read_only(region)) {
		ret = -EACCES;
		goto put_region;
	}
	if (b.flags & KMBUF_BIND_REFILL) {
		refill = io_uring_cmd_region_get(cmd, b.refill_region);
		if (IS_ERR(refill)) {
			ret = PTR_ERR(refill);
			goto put_region;
		}
		rd.region = refill;
		rd.offset = b.refill_offset;
		rd.entries = b.refill_entries;
	}
	desc.offset = b.offset;
	desc.buf_size = b.buf_size;
	desc.nr_bufs = b.nr_bufs;
	desc.align = port->align;
	desc.notify = kmbuf_port_notify;
	desc.priv = port;
	/* the ring takes region references of its own */
	ring = kmbuf_ring_build(region, &desc, refill ? &rd : NULL);
	if (IS_ERR(ring)) {
		ret = PTR_ERR(ring);
		goto put_refill;
	}

	raw_spin_lock_irq(&port->lock);
	busy = port->ring;	/* a concurrent BIND won */
	if (!busy)
		port->ring = ring;
	raw_spin_unlock_irq(&port->lock);
	if (busy)
		kmbuf_ring_destroy(ring);
	ret = busy ? -EBUSY : 0;

put_refill:
	if (refill)
		io_uring_region_put(refill);
put_region:
	io_uring_region_put(region);
	return ret;
}

static int kmbuf_port_unbind(struct kmbuf_port *port, struct io_uring_cmd *cmd,
			     const struct kmbuf_cmd *c)
{
	struct kmbuf_chain chain;
	struct kmbuf_ring *ring;
	int ret;

	if (c->addr || c->nr || c->stream || c->flags)
		return -EINVAL;
	raw_spin_lock_irq(&port->lock);
	ret = kmbuf_port_check_locked(port, cmd);
	ring = ret ? NULL : kmbuf_port_detach_locked(port, &chain);
	raw_spin_unlock_irq(&port->lock);
	if (ret)
		return ret;
	/* never waits for a grace period: fine at inline issue */
	kmbuf_port_drop_ring(ring, &chain);
	return 0;
}

/* Read the refill ring now, and restart streams waiting for buffers. */
static int kmbuf_ring_refill_doorbell(struct kmbuf_ring *ring)
{
	unsigned long flags;
	bool notify;
	u32 freed;

	raw_spin_lock_irqsave(&ring->lock, flags);
	if (!ring->refill) {
		raw_spin_unlock_irqrestore(&ring->lock, flags);
		return -EINVAL;
	}
	freed = kmbuf_refill_read(ring);
	if (freed)
		WRITE_ONCE(ring->refill->flags, 0);
	notify = freed && kmbuf_freed_locked(ring);
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	kmbuf_freed_unlocked(ring, notify);
	return freed;
}

static int kmbuf_port_return(struct kmbuf_port *port, struct io_uring_cmd *cmd,
			     const struct kmbuf_cmd *c)
{
	/* only the c->nr ids copied in are read */
	u32 stack_bids[KMBUF_RETURN_STACK] __uninitialized;
	struct kmbuf_ring *ring;
	u32 *bids = stack_bids;
	int ret;

	if (c->stream || c->flags || c->nr > KMBUF_MAX_BUFS ||
	    (!c->nr && c->addr))
		return -EINVAL;
	ring = kmbuf_port_ring_get(port, cmd);
	if (IS_ERR(ring))
		return PTR_ERR(ring);
	if (!c->nr) {
		ret = kmbuf_ring_refill_doorbell(ring);
		goto put_ring;
	}
	if (c->nr > KMBUF_RETURN_STACK) {
		bids = kvmalloc_array(c->nr, sizeof(*bids), GFP_KERNEL);
		if (!bids) {
			ret = -ENOMEM;
			goto put_ring;
		}
	}
	ret = -EFAULT;
	if (!copy_from_user(bids, u64_to_user_ptr(c->addr),
			    c->nr * sizeof(*bids)))
		ret = kmbuf_ring_return(ring, bids, c->nr);
	if (bids != stack_bids)
		kvfree(bids);
put_ring:
	kmbuf_ring_put(ring);
	return ret;
}

static int kmbuf_port_arm(struct kmbuf_port *port, struct io_uring_cmd *cmd,
			  const struct kmbuf_cmd *c, unsigned int issue_flags)
{
	struct kmbuf_stream *s;
	int ret;

	if (c->addr || c->nr || c->flags ||
	    !(cmd->flags & IORING_URING_CMD_MULTISHOT) ||
	    c->stream >= port->nr_streams)
		return -EINVAL;
	s = &port->streams[c->stream];

	raw_spin_lock_irq(&port->lock);
	ret = kmbuf_port_check_locked(port, cmd);
	if (!ret && s->cmd)
		ret = -EBUSY;
	if (ret) {
		raw_spin_unlock_irq(&port->lock);
		return ret;
	}
	io_uring_cmd_to_pdu(cmd, struct kmbuf_arm_pdu)->s = s;
	s->cmd = cmd;
	s->final_set = false;
	/*
	 * Armed, but not cancelable yet: nobody may queue its task work,
	 * which could complete it before io-wq has put it on the cancelable
	 * list (a completed request must never be linked there).  Kicks see
	 * "task work pending" and leave it to us.
	 */
	s->tw_pending = true;
	raw_spin_unlock_irq(&port->lock);

	/* from here on the command only ends through its task work */
	io_uring_cmd_mark_cancelable(cmd, issue_flags);

	raw_spin_lock_irq(&port->lock);
	s->tw_pending = false;
	/* io-wq can't post CQEs: the first run happens in task work */
	if (issue_flags & IO_URING_F_UNLOCKED) {
		s->tw_pending = true;
		raw_spin_unlock_irq(&port->lock);
		io_uring_cmd_complete_in_task(cmd, kmbuf_stream_tw);
		return -EIOCBQUEUED;
	}
	raw_spin_unlock_irq(&port->lock);
	kmbuf_stream_run(s, cmd, issue_flags);
	return -EIOCBQUEUED;
}

/* IO_URING_F_CANCEL: the ring exits, the task's requests are cancelled. */
static void kmbuf_stream_cancel(struct io_uring_cmd *cmd)
{
	struct kmbuf_stream *s = kmbuf_cmd_stream(cmd);
	unsigned long flags;
	bool kick = false;

	raw_spin_lock_irqsave(&s->port->lock, flags);
	if (s->cmd == cmd)
		kick = kmbuf_stream_end_locked(s, -ECANCELED);
	raw_spin_unlock_irqrestore(&s->port->lock, flags);
	if (kick)
		io_uring_cmd_complete_in_task(cmd, kmbuf_stream_tw);
}

/* Bytes of the command area of an IORING_SETUP_SQE128 SQE. */
#define KMBUF_SQE128_CMD	(2 * sizeof(struct io_uring_sqe) - \
				 offsetof(struct io_uring_sqe, cmd))

/* The SQE fields after the uring_cmd flags; see kmbuf_cmd_check_sqe(). */
static int kmbuf_check_sqe_fields(const struct io_uring_cmd *cmd,
				  unsigned int issue_flags)
{
	const struct io_uring_sqe *sqe = cmd->sqe;

	if (READ_ONCE(sqe->ioprio) || READ_ONCE(sqe->addr) ||
	    READ_ONCE(sqe->len) || READ_ONCE(sqe->buf_index) ||
	    READ_ONCE(sqe->file_index))
		return -EINVAL;
	if ((issue_flags & IO_URING_F_SQE128) &&
	    memchr_inv(sqe->cmd + sizeof(struct kmbuf_cmd), 0,
		       KMBUF_SQE128_CMD - sizeof(struct kmbuf_cmd)))
		return -EINVAL;
	return 0;
}

/**
 * kmbuf_cmd_check_sqe() - check the SQE fields a 16-byte command leaves unused
 * @cmd: a command of the caller's own uapi, with a 16-byte payload at the
 *	start of sqe->cmd, as struct kmbuf_cmd has
 * @issue_flags: as passed to the driver's ->uring_cmd()
 *
 * SQE fields no command uses must be zero, so that they can be given a
 * meaning later: ioprio, addr, len, buf_index, file_index, every uring_cmd
 * flag (IORING_URING_CMD_FIXED, IORING_URING_CMD_MULTISHOT) and, on an
 * IORING_SETUP_SQE128 ring, the command area after the 16-byte payload.
 * The common commands follow these rules (ARM allows MULTISHOT); a
 * consumer checks its own single-shot commands with this.
 *
 * Context: Process context, from ->uring_cmd().
 * Return: 0, or -EINVAL if any of those fields is set.
 */
int kmbuf_cmd_check_sqe(const struct io_uring_cmd *cmd,
			unsigned int issue_flags)
{
	if (cmd->flags)
		return -EINVAL;
	return kmbuf_check_sqe_fields(cmd, issue_flags);
}
EXPORT_SYMBOL_GPL(kmbuf_cmd_check_sqe);

/* The common commands: as kmbuf_cmd_check_sqe(), MULTISHOT for ARM. */
static int kmbuf_check_sqe(const struct io_uring_cmd *cmd,
			   unsigned int issue_flags)
{
	u32 allowed = cmd->cmd_op == KMBUF_CMD_ARM ?
		      IORING_URING_CMD_MULTISHOT : 0;

	if (cmd->flags & ~allowed)
		return -EINVAL;
	return kmbuf_check_sqe_fields(cmd, issue_flags);
}

/**
 * kmbuf_port_uring_cmd() - handle a common kmbuf command
 * @port: the port of the file the command was issued on
 * @cmd: a command whose opcode kmbuf_cmd_op_is_common() accepts
 * @issue_flags: as passed to the driver's ->uring_cmd()
 *
 * Handles KMBUF_CMD_BIND, _ARM, _RETURN and _UNBIND (see
 * include/uapi/linux/kmbuf.h) and the cancellation of ARM commands: a
 * driver passes every common command to it, including those issued with
 * %IO_URING_F_CANCEL.  The driver's file_operations must set
 * %FOP_URING_CMD_MULTISHOT (for ARM) and %FOP_URING_CMD_CANCEL (so that
 * IORING_OP_ASYNC_CANCEL reaches armed streams).
 *
 * Context: Process context, from ->uring_cmd().
 * Return: the command's result, -EIOCBQUEUED for an armed stream, or
 * -ENOTTY for an opcode that is not a common command.
 */
int kmbuf_port_uring_cmd(struct kmbuf_port *port, struct io_uring_cmd *cmd,
			 unsigned int issue_flags)
{
	const struct kmbuf_cmd *uc;
	struct kmbuf_cmd c;
	int ret;

	BUILD_BUG_ON(sizeof(struct kmbuf_arm_pdu) > sizeof(cmd->pdu));
	BUILD_BUG_ON(sizeof(struct kmbuf_cmd) != 16);

	if (unlikely(issue_flags & IO_URING_F_CANCEL)) {
		/* only ARM commands are ever marked cancelable */
		if (cmd->cmd_op == KMBUF_CMD_ARM)
			kmbuf_stream_cancel(cmd);
		return 0;
	}
	if (!kmbuf_cmd_op_is_common(cmd->cmd_op))
		return -ENOTTY;
	ret = kmbuf_check_sqe(cmd, issue_flags);
	if (ret)
		return ret;
	uc = io_uring_sqe_cmd(cmd->sqe);
	c.addr = READ_ONCE(uc->addr);
	c.nr = READ_ONCE(uc->nr);
	c.stream = READ_ONCE(uc->stream);
	c.flags = READ_ONCE(uc->flags);

	switch (cmd->cmd_op) {
	case KMBUF_CMD_BIND:
		return kmbuf_port_bind(port, cmd, &c);
	case KMBUF_CMD_ARM:
		return kmbuf_port_arm(port, cmd, &c, issue_flags);
	case KMBUF_CMD_RETURN:
		return kmbuf_port_return(port, cmd, &c);
	case KMBUF_CMD_UNBIND:
		return kmbuf_port_unbind(port, cmd, &c);
	default:
		return -ENOTTY;
	}
}
EXPORT_SYMBOL_GPL(kmbuf_port_uring_cmd);

/**
 * kmbuf_port_show_fdinfo() - print a port's state in fdinfo format
 * @port: the port
 * @m: the seq_file of the driver's ->show_fdinfo()
 *
 * Prints "kmbuf_bound", "kmbuf_armed" (streams armed), "kmbuf_pending"
 * (records waiting in streams for their CQE), "kmbuf_dropped" (records
 * delivered after their ring was unbound, or still waiting when it was)
 * and the bound ring's counters (see kmbuf_ring_show_fdinfo()).
 *
 * Context: Process context (seq_file output).
 */
void kmbuf_port_show_fdinfo(struct kmbuf_port *port, struct seq_file *m)
{
	unsigned int i, armed = 0, pending = 0;
	struct kmbuf_ring *ring;
	u64 dropped;

	raw_spin_lock_irq(&port->lock);
	ring = port->ring;
	if (ring)
		kmbuf_ring_get(ring);
	for (i = 0; i < port->nr_streams; i++) {
		armed += !!port->streams[i].cmd;
		pending += port->streams[i].nr_pending;
	}
	dropped = port->nr_dropped;
	raw_spin_unlock_irq(&port->lock);
	seq_printf(m, "kmbuf_bound:\t%u\n", !!ring);
	seq_printf(m, "kmbuf_armed:\t%u\n", armed);
	seq_printf(m, "kmbuf_pending:\t%u\n", pending);
	seq_printf(m, "kmbuf_dropped:\t%llu\n", dropped);
	if (ring) {
		kmbuf_ring_show_fdinfo(ring, m);
		kmbuf_ring_put(ring);
	}
}
EXPORT_SYMBOL_GPL(kmbuf_port_show_fdinfo);

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
	raw_spin_lock_irqsave(&ring->lock, flags);
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
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	bitmap_free(seen);
	return ret;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_check);

/**
 * kmbuf_ring_nr_free() - number of free buffers, for KUnit
 * @ring: the ring
 *
 * Context: Any context; takes the ring's raw spinlock.
 * Return: buffers that kmbuf_buf_take() could take right now.
 */
unsigned int kmbuf_ring_nr_free(struct kmbuf_ring *ring)
{
	unsigned long flags;
	unsigned int nr;

	raw_spin_lock_irqsave(&ring->lock, flags);
	nr = ring->nr_free;
	raw_spin_unlock_irqrestore(&ring->lock, flags);
	return nr;
}
EXPORT_SYMBOL_IF_KUNIT(kmbuf_ring_nr_free);

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
