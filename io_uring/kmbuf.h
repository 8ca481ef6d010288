/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IOU_KMBUF_H
#define IOU_KMBUF_H

#include <linux/types.h>

struct io_uring_region;
struct kmbuf_ring;
struct kmbuf_ring_desc;

#if IS_ENABLED(CONFIG_IO_URING_KMBUF)
void kmbuf_region_release(struct io_uring_region *region);
#else
/* without the kmbuf core, no ring ever reserves a range of a region */
static inline void kmbuf_region_release(struct io_uring_region *region)
{
}
#endif

/* kmbuf internals visible to its KUnit suite only */
#if IS_ENABLED(CONFIG_KUNIT)
int kmbuf_desc_validate(const struct kmbuf_ring_desc *desc, u64 region_size);
int kmbuf_ring_check(struct kmbuf_ring *ring);
u32 kmbuf_ring_head(struct kmbuf_ring *ring);
void kmbuf_flush_free_work(void);
struct kmbuf_ring *kmbuf_ring_create_refill(struct io_uring_region *region,
					    const struct kmbuf_ring_desc *desc,
					    struct io_uring_region *refill,
					    u64 offset, u32 entries);
#endif

#endif
