// SPDX-License-Identifier: GPL-2.0
/*
 * Ranges of memory regions (IORING_REGISTER_MEM_REGION) as registered
 * buffers: IORING_REGISTER_BUFFERS_UPDATE with
 * IORING_RSRC_UPDATE_MEM_REGION.  See Documentation/io_uring/kmbuf_fixed.rst.
 */
#include <linux/kernel.h>
#include <linux/bvec.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/io_uring_types.h>
#include <linux/io_uring/region.h>

#include <uapi/linux/io_uring.h>

#include "io_uring.h"
#include "rsrc.h"
#include "region.h"

/*
 * Registered-buffer slots on regions (IORING_RSRC_UPDATE_MEM_REGION).
 *
 * A slot is a kernel buffer (see io_kernel_buf_install()): its bio_vecs
 * are the region's pages, it holds a reference to the region, which its
 * release callback drops, and it is never pinned or accounted again (the
 * region is already charged to RLIMIT_MEMLOCK).  io_uring keeps a removed
 * slot's buffer until the requests using it are done, so a region
 * outlives every fixed-buffer I/O on it, whether the slot is emptied, the
 * table unregistered, the ring freed or the slot cloned to another ring.
 */
static void io_region_buf_release(void *priv)
{
	io_uring_region_put(priv);
}

/* The largest slot, as for user buffers (io_buffer_validate()). */
#define IO_REGION_BUF_MAX	SZ_1G

static int io_region_buf_install(struct io_ring_ctx *ctx,
				 const struct io_uring_region_buf *rb,
				 unsigned int index, u64 tag)
{
	struct io_mapped_ubuf *imu;
	struct io_uring_region *r;
	unsigned long first, nr, i;
	struct page **pages;
	u64 end;
	int ret;

	if (rb->flags || rb->resv)
		return -EINVAL;
	if (!rb->len || rb->len > IO_REGION_BUF_MAX ||
	    ((rb->offset | rb->len) & ~PAGE_MASK))
		return -EINVAL;
	if (check_add_overflow(rb->offset, rb->len, &end))
		return -EOVERFLOW;

	r = io_region_get(ctx, rb->region_id);
	if (IS_ERR(r))
		return PTR_ERR(r);
	ret = -EINVAL;
	if (end > io_uring_region_size(r))
		goto put_region;

	ret = -ENOMEM;
	first = rb->offset >> PAGE_SHIFT;
	nr = rb->len >> PAGE_SHIFT;
	imu = io_kernel_buf_alloc(nr);
	if (!imu)
		goto put_region;
	pages = io_uring_region_pages(r);
	for (i = 0; i < nr; i++)
		bvec_set_page(&imu->bvec[i], pages[first + i], PAGE_SIZE, 0);
	imu->release = io_region_buf_release;
	imu->priv = r;
	/*
	 * Userspace can't write a read-only region, and no request may write
	 * it on userspace's behalf either: such a slot is a source only.
	 */
	imu->dir = io_region_read_only(r) ? IO_BUF_SOURCE : IO_BUF_DEST | IO_BUF_SOURCE;

	ret = io_kernel_buf_install(ctx, imu, index, tag);
	if (!ret)
		return 0;
	kvfree(imu);
put_region:
	io_uring_region_put(r);
	return ret;
}

/*
 * IORING_REGISTER_BUFFERS_UPDATE with IORING_RSRC_UPDATE_MEM_REGION: fill
 * slots up->offset.. from the struct io_uring_region_buf array at
 * up->data.  As for iovecs, returns the number of slots filled, or the
 * error of the first one if none was.
 */
int io_region_bufs_update(struct io_ring_ctx *ctx,
			  struct io_uring_rsrc_update2 *up,
			  unsigned int nr_args)
{
	struct io_uring_region_buf __user *descs = u64_to_user_ptr(up->data);
	u64 __user *tags = u64_to_user_ptr(up->tags);
	unsigned int done;
	int ret = 0;

	lockdep_assert_held(&ctx->uring_lock);

	if (!ctx->buf_data)
		return -ENXIO;
	if (up->offset + nr_args > ctx->nr_user_bufs)
		return -EINVAL;

	for (done = 0; done < nr_args; done++) {
		struct io_uring_region_buf rb;
		u64 tag = 0;

		if (copy_from_user(&rb, &descs[done], sizeof(rb)) ||
		    (tags && copy_from_user(&tag, &tags[done], sizeof(tag)))) {
			ret = -EFAULT;
			break;
		}
		ret = io_region_buf_install(ctx, &rb, up->offset + done, tag);
		if (ret)
			break;
	}
	return done ? done : ret;
}
