/* SPDX-License-Identifier: GPL-2.0 */
/*
 * In-kernel access to io_uring memory regions (IORING_REGISTER_MEM_REGION).
 *
 * A region is a page-aligned chunk of memory registered with a ring, either
 * allocated by the kernel or pinned from userspace.  It lives until the ring
 * is freed.  A consumer (e.g. a driver handling an IORING_OP_URING_CMD) may
 * take a reference to a region by id, which keeps the pages, the kernel
 * mapping and the memory accounting alive past the end of the ring.
 *
 * The region is opaque: its size and pages are read through the accessors
 * below, which the holder of a reference may call without locking, as
 * neither ever changes.
 */
#ifndef _LINUX_IO_URING_REGION_H
#define _LINUX_IO_URING_REGION_H

#include <linux/err.h>
#include <linux/types.h>

struct io_uring_cmd;
struct io_uring_region;
struct page;

#if defined(CONFIG_IO_URING)
struct io_uring_region *io_uring_cmd_region_get(struct io_uring_cmd *ioucmd,
						unsigned int id);
void io_uring_region_put(struct io_uring_region *region);
size_t io_uring_region_size(const struct io_uring_region *region);
struct page **io_uring_region_pages(const struct io_uring_region *region);
#else
static inline struct io_uring_region *
io_uring_cmd_region_get(struct io_uring_cmd *ioucmd, unsigned int id)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void io_uring_region_put(struct io_uring_region *region)
{
}

/* no region can exist for these to be called on */
static inline size_t io_uring_region_size(const struct io_uring_region *region)
{
	return 0;
}

static inline struct page **
io_uring_region_pages(const struct io_uring_region *region)
{
	return NULL;
}
#endif

#endif /* _LINUX_IO_URING_REGION_H */
