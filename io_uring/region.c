// SPDX-License-Identifier: GPL-2.0
/*
 * Memory regions (IORING_REGISTER_MEM_REGION) for the 6.12 based kmbuf
 * kernel.
 *
 * Region 0 follows upstream Linux: kernel memory when user_addr is 0 (its
 * mmap offset is returned to userspace), pinned user memory with
 * IORING_MEM_REGION_TYPE_USER, optionally used for registered wait
 * arguments.  On top of that a ring may carry up to IORING_MEM_REGION_NR_IDS
 * regions, kernel regions may be made read-only for userspace, and other
 * kernel code can hold a reference to a region.
 *
 * Lifetime: the ring holds one reference to each region and drops it when
 * the ring is freed; there is no unregister.  Registered-buffer slots on a
 * region (IORING_RSRC_UPDATE_MEM_REGION) hold one more each, until their
 * buffer is released.  Userspace mappings hold their own page references
 * (vm_insert_pages()), so they stay valid after the region is gone.
 * Regions are looked up through ctx->mem_regions, which is only modified
 * under uring_lock and read under RCU; region structs are freed after a
 * grace period so a lookup racing with teardown is safe.
 */
#include <linux/kernel.h>
#include <linux/bvec.h>
#include <linux/errno.h>
#include <linux/export.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>
#include <linux/io_uring_types.h>
#include <linux/io_uring/region.h>

#include <uapi/linux/io_uring.h>

#include <kunit/visibility.h>

#include "io_uring.h"
#include "memmap.h"
#include "rsrc.h"
#include "region.h"

enum {
	/* kaddr comes from vmap() and is vunmap()ed on release */
	IO_REGION_F_VMAP	= 1,
};

/*
 * The region itself.  Opaque outside this file: other code uses the
 * accessors below and in <linux/io_uring/region.h>.  A region knows
 * nothing about how its users subdivide it; one in-kernel user may attach
 * private data, which is released with the region (io_region_set_priv()).
 */
struct io_uring_region {
	/* set at creation, never changed */
	void			*kaddr;
	size_t			size;
	struct page		**pages;
	unsigned int		nr_pages;
	bool			read_only;
	bool			user_memory;
	u32			id;
	unsigned int		flags;
	struct user_struct	*user;

	refcount_t		refs;
	/* set once, see io_region_set_priv() */
	void			*priv;
	void			(*priv_release)(void *priv);
	struct rcu_head		rcu;
};

#define IO_REGION_DESC_FLAGS	(IORING_MEM_REGION_TYPE_USER | \
				 IORING_MEM_REGION_RDONLY)

/*
 * kvmalloc() WARNs on arrays larger than INT_MAX bytes.  Without
 * RLIMIT_MEMLOCK (CAP_IPC_LOCK) nothing else stops such a size from
 * userspace, so refuse it first with the -ENOMEM the allocation would give.
 */
#define IO_REGION_MAX_PAGES	(INT_MAX / sizeof(struct page *))

static u64 io_region_mmap_offset(u32 id)
{
	return IORING_MAP_OFF_PARAM_REGION |
	       ((u64)id << IORING_MAP_REGION_SHIFT);
}

static void io_region_release(struct io_uring_region *r)
{
	if (r->priv)
		r->priv_release(r->priv);
	if (r->flags & IO_REGION_F_VMAP)
		vunmap(r->kaddr);
	if (r->user_memory)
		unpin_user_pages(r->pages, r->nr_pages);
	else
		release_pages(r->pages, r->nr_pages);
	kvfree(r->pages);
	if (r->user) {
		__io_unaccount_mem(r->user, r->nr_pages);
		free_uid(r->user);
	}
	kfree_rcu(r, rcu);
}

/*
 * One physically contiguous allocation gives a linear kernel mapping for
 * free.  Only tried when the region is exactly a power-of-two number of
 * pages, so that no memory beyond what is charged to RLIMIT_MEMLOCK is
 * allocated.  It is split into order-0 pages rather than kept as one
 * compound page: userspace may map any part of a region, and mm does not
 * expect a large folio that is neither anonymous nor in the page cache to
 * be mapped in part (without THP, madvise(MADV_COLD) of such a mapping
 * loops forever, as split_folio() is a stub that claims success).
 */
static int io_region_alloc_contig(struct io_uring_region *r, gfp_t gfp)
{
	unsigned int order = get_order(r->size);
	struct page *page;
	unsigned int i;

	if (order > MAX_PAGE_ORDER || (PAGE_SIZE << order) != r->size)
		return -ENOMEM;
	if (order > PAGE_ALLOC_COSTLY_ORDER)
		gfp |= __GFP_NORETRY;

	page = alloc_pages(gfp, order);
	if (!page)
		return -ENOMEM;
	if (order)
		split_page(page, order);

	for (i = 0; i < r->nr_pages; i++)
		r->pages[i] = page + i;
	r->kaddr = page_address(page);
	return 0;
}

static int io_region_alloc_single(struct io_uring_region *r, gfp_t gfp)
{
	unsigned int i;

	/*
	 * The 6.12 bulk allocator returns a single page when memcg
	 * accounting is requested; fill whatever it left one by one.
	 * Don't invoke the OOM killer for a large region, fail instead.
	 */
	gfp |= __GFP_RETRY_MAYFAIL;
	alloc_pages_bulk_array(gfp, r->nr_pages, r->pages);
	for (i = 0; i < r->nr_pages; i++) {
		if (r->pages[i])
			continue;
		r->pages[i] = alloc_page(gfp);
		if (!r->pages[i])
			goto put_pages;
		cond_resched();
	}

	r->kaddr = vmap(r->pages, r->nr_pages, VM_MAP, PAGE_KERNEL);
	if (!r->kaddr)
		goto put_pages;
	r->flags |= IO_REGION_F_VMAP;
	return 0;

put_pages:
	for (i = 0; i < r->nr_pages; i++)
		if (r->pages[i])
			put_page(r->pages[i]);
	return -ENOMEM;
}

static int io_region_alloc(struct io_uring_region *r)
{
	gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN;
	int ret;

	if (r->nr_pages > IO_REGION_MAX_PAGES)
		return -ENOMEM;
	r->pages = kvcalloc(r->nr_pages, sizeof(*r->pages),
			    GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!r->pages)
		return -ENOMEM;

	if (!io_region_alloc_contig(r, gfp))
		return 0;
	ret = io_region_alloc_single(r, gfp);
	if (ret) {
		kvfree(r->pages);
		r->pages = NULL;
	}
	return ret;
}

static int io_region_pin(struct io_uring_region *r, u64 uaddr)
{
	struct page **pages;
	int nr_pages, ret;

	if (r->nr_pages > IO_REGION_MAX_PAGES)
		return -ENOMEM;
	pages = io_pin_pages(uaddr, r->size, &nr_pages);
	if (IS_ERR(pages))
		return PTR_ERR(pages);
	if (nr_pages != r->nr_pages) {
		ret = -EFAULT;
		goto unpin_pages;
	}

	if (nr_pages == 1 && !PageHighMem(pages[0])) {
		r->kaddr = page_address(pages[0]);
	} else {
		r->kaddr = vmap(pages, nr_pages, VM_MAP, PAGE_KERNEL);
		if (!r->kaddr) {
			ret = -ENOMEM;
			goto unpin_pages;
		}
		r->flags |= IO_REGION_F_VMAP;
	}
	r->pages = pages;
	return 0;

unpin_pages:
	unpin_user_pages(pages, nr_pages);
	kvfree(pages);
	return ret;
}

/*
 * Validate a region descriptor and create the region.  The checks and their
 * order follow upstream io_create_region(), except that @id may be non-zero
 * and IORING_MEM_REGION_RDONLY is accepted for kernel memory.
 */
static struct io_uring_region *io_region_create(struct io_ring_ctx *ctx,
						struct io_uring_region_desc *rd)
{
	bool user_mem = rd->flags & IORING_MEM_REGION_TYPE_USER;
	struct io_uring_region *r;
	unsigned long nr_pages;
	u64 end;
	int ret;

	if (!mem_is_zero(rd->__resv, sizeof(rd->__resv)))
		return ERR_PTR(-EINVAL);
	if (rd->flags & ~IO_REGION_DESC_FLAGS)
		return ERR_PTR(-EINVAL);
	/* user memory is writable by its owner, it can't be read-only */
	if (user_mem && (rd->flags & IORING_MEM_REGION_RDONLY))
		return ERR_PTR(-EINVAL);
	/* user_addr is set if and only if it's a user memory region */
	if (user_mem != !!rd->user_addr)
		return ERR_PTR(-EFAULT);
	if (!rd->size || rd->mmap_offset || rd->id >= IORING_MEM_REGION_NR_IDS)
		return ERR_PTR(-EINVAL);
	if ((rd->size >> PAGE_SHIFT) > INT_MAX)
		return ERR_PTR(-E2BIG);
	if ((rd->user_addr | rd->size) & ~PAGE_MASK)
		return ERR_PTR(-EINVAL);
	if (check_add_overflow(rd->user_addr, rd->size, &end))
		return ERR_PTR(-EOVERFLOW);

	nr_pages = rd->size >> PAGE_SHIFT;
	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return ERR_PTR(-ENOMEM);
	r->size = rd->size;
	r->nr_pages = nr_pages;
	r->id = rd->id;
	r->read_only = rd->flags & IORING_MEM_REGION_RDONLY;
	r->user_memory = user_mem;
	refcount_set(&r->refs, 1);

	/* same RLIMIT_MEMLOCK rule as registered buffers */
	if (ctx->user) {
		ret = __io_account_mem(ctx->user, nr_pages);
		if (ret)
			goto free_region;
		r->user = get_uid(ctx->user);
	}

	if (user_mem)
		ret = io_region_pin(r, rd->user_addr);
	else
		ret = io_region_alloc(r);
	if (ret)
		goto unaccount;

	if (!user_mem)
		rd->mmap_offset = io_region_mmap_offset(rd->id);
	return r;

unaccount:
	if (r->user) {
		__io_unaccount_mem(r->user, nr_pages);
		free_uid(r->user);
	}
free_region:
	kfree(r);
	return ERR_PTR(ret);
}

int io_register_mem_region(struct io_ring_ctx *ctx, void __user *uarg)
{
	struct io_uring_mem_region_reg __user *reg_uptr = uarg;
	struct io_uring_region_desc __user *rd_uptr;
	struct io_uring_mem_region_reg reg;
	struct io_uring_region_desc rd;
	struct io_uring_region *r;
	bool wait_arg;
	int ret;

	lockdep_assert_held(&ctx->uring_lock);

	if (copy_from_user(&reg, reg_uptr, sizeof(reg)))
		return -EFAULT;
	rd_uptr = u64_to_user_ptr(reg.region_uptr);
	if (copy_from_user(&rd, rd_uptr, sizeof(rd)))
		return -EFAULT;
	if (rd.id >= IORING_MEM_REGION_NR_IDS)
		return -EINVAL;
	/* ids are never reused, regions live as long as the ring */
	if (xa_load(&ctx->mem_regions, rd.id))
		return -EBUSY;
	if (!mem_is_zero(reg.__resv, sizeof(reg.__resv)))
		return -EINVAL;
	if (reg.flags & ~IORING_MEM_REGION_REG_WAIT_ARG)
		return -EINVAL;

	wait_arg = reg.flags & IORING_MEM_REGION_REG_WAIT_ARG;
	if (wait_arg) {
		/*
		 * Waiters don't take uring_lock.  A disabled ring can't have
		 * any, so the wait region can be installed without racing.
		 */
		if (!(ctx->flags & IORING_SETUP_R_DISABLED))
			return -EINVAL;
		/* userspace must be able to write its wait arguments */
		if (rd.flags & IORING_MEM_REGION_RDONLY)
			return -EINVAL;
		if (ctx->cq_wait_arg)
			return -EBUSY;
	}

	r = io_region_create(ctx, &rd);
	if (IS_ERR(r))
		return PTR_ERR(r);
	if (copy_to_user(rd_uptr, &rd, sizeof(rd))) {
		ret = -EFAULT;
		goto put_region;
	}
	/* the region is complete, publish it to mmap and consumers */
	ret = xa_err(xa_store(&ctx->mem_regions, rd.id, r, GFP_KERNEL_ACCOUNT));
	if (ret)
		goto put_region;

	if (wait_arg) {
		ctx->cq_wait_arg = r->kaddr;
		ctx->cq_wait_size = r->size;
	}
	return 0;

put_region:
	io_uring_region_put(r);
	return ret;
}

/* Called when the ring is freed, from process context. */
void io_regions_free(struct io_ring_ctx *ctx)
{
	struct io_uring_region *r;
	unsigned long id;

	ctx->cq_wait_arg = NULL;
	ctx->cq_wait_size = 0;
	xa_for_each(&ctx->mem_regions, id, r) {
		xa_erase(&ctx->mem_regions, id);
		io_uring_region_put(r);
	}
	xa_destroy(&ctx->mem_regions);
}

/*
 * Find the region an mmap request at page offset @pgoff of @len bytes
 * refers to.  The caller has checked that the offset is in the region
 * range of the mmap offset space.  The ring file is referenced for the
 * whole mmap call and regions live until the ring is freed, so the region
 * stays valid without taking a reference.
 */
static struct io_uring_region *io_region_mmap_lookup(struct io_ring_ctx *ctx,
						     unsigned long pgoff,
						     size_t len)
{
	u64 off = ((u64)pgoff << PAGE_SHIFT) & ~IORING_OFF_MMAP_MASK;
	struct io_uring_region *r;
	u64 id;

	/* nothing but the id may be encoded below the region range */
	if (off & ((1ULL << IORING_MAP_REGION_SHIFT) - 1))
		return ERR_PTR(-EINVAL);
	id = off >> IORING_MAP_REGION_SHIFT;
	if (id >= IORING_MEM_REGION_NR_IDS)
		return ERR_PTR(-EINVAL);

	r = xa_load(&ctx->mem_regions, id);
	if (!r)
		return ERR_PTR(-EINVAL);
	/* user memory is already mapped by its owner, as upstream */
	if (r->user_memory)
		return ERR_PTR(-EINVAL);
	if (len > r->size)
		return ERR_PTR(-EINVAL);
	return r;
}

/* For get_unmapped_area: the kernel address of the region, or ERR_PTR. */
void *io_region_validate_mmap(struct io_ring_ctx *ctx, unsigned long pgoff,
			      size_t len)
{
	struct io_uring_region *r = io_region_mmap_lookup(ctx, pgoff, len);

	return IS_ERR(r) ? ERR_CAST(r) : r->kaddr;
}

int io_region_mmap(struct io_ring_ctx *ctx, struct vm_area_struct *vma)
{
	unsigned long nr_pages = vma_pages(vma);
	struct io_uring_region *r;

	r = io_region_mmap_lookup(ctx, vma->vm_pgoff,
				  vma->vm_end - vma->vm_start);
	if (IS_ERR(r))
		return PTR_ERR(r);

	if (r->read_only) {
		if (vma->vm_flags & VM_WRITE)
			return -EPERM;
		/*
		 * No mprotect(PROT_WRITE), and no FOLL_FORCE writes through
		 * /proc/pid/mem or ptrace: without VM_MAYWRITE a shared
		 * mapping is not writable by any route, and a private one is
		 * no longer a COW mapping either.
		 */
		vm_flags_clear(vma, VM_MAYWRITE);
	}

	vm_flags_set(vma, VM_DONTEXPAND);
	return vm_insert_pages(vma, vma->vm_start, r->pages, &nr_pages);
}

/**
 * io_region_get - take a reference to a memory region of a ring
 * @ctx: the ring
 * @id: region id, as passed in io_uring_region_desc.id at registration
 *
 * Look up the region registered as @id and take a reference to it.  The
 * region, its pages, its kernel mapping and its RLIMIT_MEMLOCK charge stay
 * valid until the reference is dropped with io_uring_region_put(), even if
 * the ring is freed in the meantime.  Safe against concurrent registration;
 * uring_lock is not needed.  The caller must make sure @ctx is not freed
 * during the call, e.g. by holding a request or a file reference of it.
 *
 * Context: Any context; does not sleep.
 * Return: the region, ERR_PTR(-EINVAL) if @id is out of range, or
 * ERR_PTR(-ENOENT) if no region is registered as @id.
 */
struct io_uring_region *io_region_get(struct io_ring_ctx *ctx, unsigned int id)
{
	struct io_uring_region *r;

	if (id >= IORING_MEM_REGION_NR_IDS)
		return ERR_PTR(-EINVAL);

	rcu_read_lock();
	r = xa_load(&ctx->mem_regions, id);
	if (r && !refcount_inc_not_zero(&r->refs))
		r = NULL;
	rcu_read_unlock();

	return r ? r : ERR_PTR(-ENOENT);
}

/**
 * io_region_grab - take another reference to a region
 * @r: a region the caller holds a reference to
 *
 * Context: Any context.
 * Return: @r.
 */
struct io_uring_region *io_region_grab(struct io_uring_region *r)
{
	refcount_inc(&r->refs);
	return r;
}

/**
 * io_region_kaddr - kernel address of a region
 * @r: the region
 *
 * Context: Any context.
 * Return: the kernel virtual address of the whole region, virtually
 * contiguous and always writable by the kernel.
 */
void *io_region_kaddr(const struct io_uring_region *r)
{
	return r->kaddr;
}
EXPORT_SYMBOL_IF_KUNIT(io_region_kaddr);

/**
 * io_region_read_only - can userspace write the region?
 * @r: the region
 *
 * Context: Any context.
 * Return: true if the region is kernel memory that userspace can only map
 * read-only (IORING_MEM_REGION_RDONLY); false for other kernel regions and
 * for user memory, which its owner can write at any time.
 */
bool io_region_read_only(const struct io_uring_region *r)
{
	return r->read_only;
}

/**
 * io_region_id - the id a region was registered with
 * @r: the region
 *
 * Context: Any context.
 * Return: the id.
 */
u32 io_region_id(const struct io_uring_region *r)
{
	return r->id;
}

/**
 * io_region_registered - is a region registered with a ring?
 * @ctx: the ring
 * @r: a region the caller holds a reference to
 *
 * Regions are never unregistered and their ids never reused, so the answer
 * stays true for as long as @ctx exists, and a ring that reuses the memory
 * of a freed one can't be mistaken for it while @r is referenced.
 *
 * Context: Any context; does not sleep.
 * Return: true if @r is registered with @ctx.
 */
bool io_region_registered(struct io_ring_ctx *ctx,
			  const struct io_uring_region *r)
{
	return xa_load(&ctx->mem_regions, r->id) == r;
}

/**
 * io_region_priv - the private data attached to a region
 * @r: the region
 *
 * Context: Any context.
 * Return: what io_region_set_priv() attached, or NULL.
 */
void *io_region_priv(const struct io_uring_region *r)
{
	/* pairs with the cmpxchg in io_region_set_priv() */
	return smp_load_acquire(&r->priv);
}

/**
 * io_region_set_priv - attach private data to a region
 * @r: a region the caller holds a reference to
 * @priv: the data
 * @release: called with @priv when the region's last reference is gone,
 *	in process context
 *
 * For the one in-kernel user that keeps per-region state of its own
 * (kmbuf tracks which bytes of a region its rings own).  The region does
 * not look at @priv; it only hands it to @release.  Data once attached
 * stays until the region is released.
 *
 * Context: Any context.
 * Return: @priv if it was attached, or the data already attached, which
 * the caller then uses instead (@release is not called for @priv).
 */
void *io_region_set_priv(struct io_uring_region *r, void *priv,
			 void (*release)(void *priv))
{
	void *old;

	/* a region's user is the only one to attach, with one @release */
	r->priv_release = release;
	old = cmpxchg_release(&r->priv, NULL, priv);
	return old ? old : priv;
}

/**
 * io_uring_cmd_region_get - take a reference to a region of a command's ring
 * @ioucmd: an IORING_OP_URING_CMD request being handled by the caller
 * @id: region id, as passed in io_uring_region_desc.id at registration
 *
 * Look up the region registered as @id on the ring @ioucmd was submitted
 * on and take a reference to it.  The region, its pages, its kernel
 * mapping and its RLIMIT_MEMLOCK charge stay valid until the reference is
 * dropped with io_uring_region_put(), even if the ring is freed in the
 * meantime.
 *
 * Context: Any context; does not sleep.
 * Return: the region, ERR_PTR(-EINVAL) if @id is out of range, or
 * ERR_PTR(-ENOENT) if no region is registered as @id.
 */
struct io_uring_region *io_uring_cmd_region_get(struct io_uring_cmd *ioucmd,
						unsigned int id)
{
	return io_region_get(cmd_to_io_kiocb(ioucmd)->ctx, id);
}
EXPORT_SYMBOL_GPL(io_uring_cmd_region_get);

/**
 * io_uring_region_put - drop a reference to a memory region
 * @region: region returned by io_uring_cmd_region_get(), or NULL
 *
 * When the last reference goes (the ring's own one is dropped when the ring
 * is freed), the kernel mapping is torn down, the pages are released and
 * the RLIMIT_MEMLOCK charge is returned.  Pages still mapped by userspace
 * stay alive until they are unmapped.
 *
 * Context: Process context; may sleep (vunmap()).  Must not be called
 * under a spinlock or from interrupt or RCU callback context.
 */
void io_uring_region_put(struct io_uring_region *region)
{
	if (!region)
		return;
	might_sleep();
	if (refcount_dec_and_test(&region->refs))
		io_region_release(region);
}
EXPORT_SYMBOL_GPL(io_uring_region_put);

/**
 * io_uring_region_size - size of a memory region
 * @region: a region the caller holds a reference to
 *
 * Context: Any context.
 * Return: the size in bytes, a multiple of PAGE_SIZE.
 */
size_t io_uring_region_size(const struct io_uring_region *region)
{
	return region->size;
}
EXPORT_SYMBOL_GPL(io_uring_region_size);

/**
 * io_uring_region_pages - the pages backing a memory region
 * @region: a region the caller holds a reference to
 *
 * Byte @off of the region is at offset_in_page(@off) of page
 * @off >> PAGE_SHIFT of the array.  The pages are the region's own
 * (kernel-allocated, or user memory pinned once at registration): they
 * stay valid while the reference is held and need no pinning of their own.
 *
 * Context: Any context.
 * Return: an array of io_uring_region_size() >> PAGE_SHIFT pages.
 */
struct page **io_uring_region_pages(const struct io_uring_region *region)
{
	return region->pages;
}
EXPORT_SYMBOL_GPL(io_uring_region_pages);

#if IS_ENABLED(CONFIG_KUNIT)
/**
 * io_region_create_kunit - a kernel-memory region of no ring, for KUnit
 * @size: size in bytes, a non-zero multiple of PAGE_SIZE
 * @id: the id it reports
 *
 * Context: Process context; may sleep.
 * Return: the region with one reference, dropped with
 * io_uring_region_put(), or ERR_PTR(-EINVAL) or ERR_PTR(-ENOMEM).
 */
struct io_uring_region *io_region_create_kunit(size_t size, u32 id)
{
	struct io_uring_region *r;
	int ret;

	if (!size || !PAGE_ALIGNED(size))
		return ERR_PTR(-EINVAL);
	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return ERR_PTR(-ENOMEM);
	r->size = size;
	r->nr_pages = size >> PAGE_SHIFT;
	r->id = id;
	refcount_set(&r->refs, 1);
	ret = io_region_alloc(r);
	if (ret) {
		kfree(r);
		return ERR_PTR(ret);
	}
	return r;
}
EXPORT_SYMBOL_IF_KUNIT(io_region_create_kunit);

/**
 * io_region_refs_kunit - a region's reference count, for KUnit
 * @r: the region
 *
 * Context: Any context.
 * Return: the count.
 */
unsigned int io_region_refs_kunit(const struct io_uring_region *r)
{
	return refcount_read(&r->refs);
}
EXPORT_SYMBOL_IF_KUNIT(io_region_refs_kunit);
#endif
