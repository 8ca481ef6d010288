/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IOU_KMBUF_H
#define IOU_KMBUF_H

/*
 * The ring layer of kmbuf, under the ports and streams that drivers use:
 * for kmbuf itself and its KUnit suite.
 */
#include <linux/types.h>

struct io_uring_region;
struct kmbuf_buf;
struct kmbuf_ring;

/**
 * struct kmbuf_ring_desc - what a kmbuf ring is built from
 * @flags: must be 0; reserved for future use
 * @offset: byte offset of buffer 0 in the region, a multiple of the
 *	ring's alignment
 * @buf_size: size of each buffer in bytes, a non-zero multiple of the
 *	ring's alignment
 * @nr_bufs: number of buffers, 1 to %KMBUF_MAX_BUFS, any value
 * @align: alignment the driver needs for the start and size of every
 *	buffer, e.g. its device's DMA alignment (queue_dma_alignment() + 1
 *	for a block device): 0 or a power of two.  The ring's alignment is
 *	the larger of @align and kmbuf_buf_align_min().
 * @notify: optional; called when a buffer becomes free again after a
 *	kmbuf_buf_take() failed with -ENOBUFS.  Runs in the context of
 *	whoever freed the buffer (possibly hard interrupt), outside the ring
 *	lock; it must not sleep.  It may call kmbuf_buf_take() on the ring,
 *	not kmbuf_ring_destroy().  Never called once kmbuf_ring_destroy()
 *	has returned.
 * @priv: passed to @notify
 *
 * Buffer @bid occupies bytes [@offset + @bid * @buf_size, + @buf_size) of
 * the region.  Several rings may share one region, on ranges that do not
 * overlap: kmbuf_ring_create() refuses a range any byte of which belongs to
 * a ring that still exists (not destroyed, or with references left), or to
 * a ring that went away while userspace still held some of its buffers:
 * such a range stays reserved until the region is released.
 */
struct kmbuf_ring_desc {
	u32	flags;
	u64	offset;
	u32	buf_size;
	u32	nr_bufs;
	u32	align;
	void	(*notify)(struct kmbuf_ring *ring, void *priv);
	void	*priv;
};

/**
 * struct kmbuf_ring_stats - a consistent snapshot of a ring's counters
 * @nr_bufs: buffers in the ring
 * @nr_free: buffers owned by the ring, ready to be taken
 * @nr_kernel: buffers taken by the kernel and not yet put back or
 *	handed to userspace
 * @nr_user: buffers handed to userspace and not yet returned
 * @buf_size: size of each buffer in bytes
 * @region_id: id of the region the ring was built on
 * @offset: offset of buffer 0 in the region
 * @nr_exhausted: how often kmbuf_buf_take() found no free buffer
 * @nr_refill_bad: refill ring entries skipped: out of range, or naming a
 *	buffer userspace did not hold
 * @refill: the ring has a refill ring
 * @shutdown: kmbuf_ring_destroy() has been called
 */
struct kmbuf_ring_stats {
	u32	nr_bufs;
	u32	nr_free;
	u32	nr_kernel;
	u32	nr_user;
	u32	buf_size;
	u32	region_id;
	u64	offset;
	u64	nr_exhausted;
	u64	nr_refill_bad;
	bool	refill;
	bool	shutdown;
};

struct kmbuf_ring *__must_check
kmbuf_ring_create(struct io_uring_region *region,
		  const struct kmbuf_ring_desc *desc);
void kmbuf_ring_destroy(struct kmbuf_ring *ring);
struct kmbuf_ring *kmbuf_ring_get(struct kmbuf_ring *ring);
void kmbuf_ring_put(struct kmbuf_ring *ring);

int __must_check kmbuf_buf_take(struct kmbuf_ring *ring, struct kmbuf_buf *buf);
int __must_check kmbuf_buf_take_batch(struct kmbuf_ring *ring,
				      struct kmbuf_buf *bufs, unsigned int nr);
int kmbuf_buf_put(struct kmbuf_ring *ring, unsigned int bid);
int __must_check kmbuf_buf_to_user(struct kmbuf_ring *ring, unsigned int bid);
int __must_check kmbuf_buf_to_user_batch(struct kmbuf_ring *ring,
					 const struct kmbuf_buf *bufs,
					 unsigned int nr);
int __must_check kmbuf_ring_return(struct kmbuf_ring *ring, const u32 *bids,
				   unsigned int nr);
void kmbuf_ring_get_stats(struct kmbuf_ring *ring, struct kmbuf_ring_stats *st);

/* kmbuf internals visible to its KUnit suite only */
#if IS_ENABLED(CONFIG_KUNIT)
int kmbuf_desc_validate(const struct kmbuf_ring_desc *desc, u64 region_size);
int kmbuf_ring_check(struct kmbuf_ring *ring);
u32 kmbuf_ring_head(struct kmbuf_ring *ring);
unsigned int kmbuf_ring_nr_free(struct kmbuf_ring *ring);
unsigned int kmbuf_region_nr_ranges(struct io_uring_region *region);
void kmbuf_flush_free_work(void);
struct kmbuf_ring *kmbuf_ring_create_refill(struct io_uring_region *region,
					    const struct kmbuf_ring_desc *desc,
					    struct io_uring_region *refill,
					    u64 offset, u32 entries);
#endif

#endif
