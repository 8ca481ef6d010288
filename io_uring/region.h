/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IOU_REGION_H
#define IOU_REGION_H

#include <linux/types.h>

/*
 * mmap offset of region 0, as upstream (io_uring/memmap.h there).  Region
 * N is mapped at IORING_MAP_OFF_PARAM_REGION | (N << IORING_MAP_REGION_SHIFT).
 */
#define IORING_MAP_OFF_PARAM_REGION	0x20000000ULL
#define IORING_MAP_REGION_SHIFT		16

struct io_ring_ctx;
struct io_uring_region;
struct io_uring_rsrc_update2;
struct vm_area_struct;

int io_register_mem_region(struct io_ring_ctx *ctx, void __user *uarg);
void io_regions_free(struct io_ring_ctx *ctx);
void *io_region_validate_mmap(struct io_ring_ctx *ctx, unsigned long pgoff,
			      size_t len);
int io_region_mmap(struct io_ring_ctx *ctx, struct vm_area_struct *vma);
int io_region_bufs_update(struct io_ring_ctx *ctx,
			  struct io_uring_rsrc_update2 *up,
			  unsigned int nr_args);

/* for io_uring's own users of regions; see region.c */
struct io_uring_region *io_region_get(struct io_ring_ctx *ctx,
				      unsigned int id);
struct io_uring_region *io_region_grab(struct io_uring_region *r);
void *io_region_kaddr(const struct io_uring_region *r);
bool io_region_read_only(const struct io_uring_region *r);
u32 io_region_id(const struct io_uring_region *r);
bool io_region_registered(struct io_ring_ctx *ctx,
			  const struct io_uring_region *r);
void *io_region_priv(const struct io_uring_region *r);
void *io_region_set_priv(struct io_uring_region *r, void *priv,
			 void (*release)(void *priv));

#if IS_ENABLED(CONFIG_KUNIT)
struct io_uring_region *io_region_create_kunit(size_t size, u32 id);
unsigned int io_region_refs_kunit(const struct io_uring_region *r);
#endif

#endif
