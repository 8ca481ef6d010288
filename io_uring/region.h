/* SPDX-License-Identifier: GPL-2.0 */
#ifndef IOU_REGION_H
#define IOU_REGION_H

/*
 * mmap offset of region 0, as upstream (io_uring/memmap.h there).  Region
 * N is mapped at IORING_MAP_OFF_PARAM_REGION | (N << IORING_MAP_REGION_SHIFT).
 */
#define IORING_MAP_OFF_PARAM_REGION	0x20000000ULL
#define IORING_MAP_REGION_SHIFT		16

struct io_ring_ctx;
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

#endif
