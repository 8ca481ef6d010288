/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel access to io_uring memory regions (IORING_REGISTER_MEM_REGION).
 *
 * A region is a page-aligned chunk of memory registered with a ring, either
 * allocated by the kernel or pinned from userspace.  It lives until the ring
 * is freed.  A consumer (e.g. a driver handling an IORING_OP_URING_CMD) may
 * take a reference to a region by id, which keeps the pages, the kernel
 * mapping and the memory accounting alive past the end of the ring.
 */
#ifndef _LINUX_IO_URING_REGION_H
#define _LINUX_IO_URING_REGION_H

#include <linux/err.h>
#include <linux/list.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/spinlock_types.h>
#include <linux/types.h>

struct io_ring_ctx;
struct io_uring_cmd;
struct page;
struct user_struct;

/**
 * struct io_uring_region - a memory region registered with a ring
 * @kaddr: kernel virtual address of the whole region, always writable by
 *	the kernel and virtually contiguous
 * @size: size of the region in bytes, a multiple of PAGE_SIZE
 * @pages: the pages backing the region, @nr_pages entries
 * @nr_pages: number of pages in @pages
 * @read_only: userspace can only map the region read-only
 *	(IORING_MEM_REGION_RDONLY); the kernel may still write to it
 * @user_memory: the pages are pinned user memory
 *	(IORING_MEM_REGION_TYPE_USER); userspace can modify them at any time
 * @id: the region id the region was registered with
 *
 * All fields above are stable for the lifetime of the region and may be
 * read by the holder of a reference without locking.  The remaining fields
 * are private to io_uring.
 */
struct io_uring_region {
	void			*kaddr;
	size_t			size;
	struct page		**pages;
	unsigned int		nr_pages;
	bool			read_only;
	bool			user_memory;
	u32			id;

	/* private: */
	unsigned int		flags;
	refcount_t		refs;
	struct user_struct	*user;
	struct rcu_head		rcu;
	/* kmbuf rings built on the region, on bytes no other ring uses */
	raw_spinlock_t		kmbuf_lock;
	struct list_head	kmbuf_rings;
};

#if defined(CONFIG_IO_URING)
struct io_uring_region *io_uring_region_get(struct io_ring_ctx *ctx,
					    unsigned int id);
struct io_uring_region *io_uring_cmd_region_get(struct io_uring_cmd *ioucmd,
						unsigned int id);
void io_uring_region_put(struct io_uring_region *region);
#else
static inline struct io_uring_region *
io_uring_region_get(struct io_ring_ctx *ctx, unsigned int id)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline struct io_uring_region *
io_uring_cmd_region_get(struct io_uring_cmd *ioucmd, unsigned int id)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void io_uring_region_put(struct io_uring_region *region)
{
}
#endif

#endif /* _LINUX_IO_URING_REGION_H */
