/* SPDX-License-Identifier: GPL-2.0 */
/*
 * libkmbuf: small userspace helpers for the kmbuf io_uring extensions,
 * shared by samples, selftests and benchmarks.
 *
 * Include the kernel tree's <linux/io_uring.h> (KHDR_INCLUDES) before
 * <liburing.h>: liburing 2.3 carries an older copy of the uapi under the
 * same include guard.  All functions return 0 or a negative errno unless
 * documented otherwise; none of them print anything.
 */
#ifndef LIBKMBUF_H
#define LIBKMBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/io_uring.h>
#include <liburing.h>

#ifndef IORING_MEM_REGION_RDONLY	/* a #define, unlike the register opcode */
#error "<linux/io_uring.h> lacks the kmbuf region uapi: build with the tree's uapi headers"
#endif

/* Raw io_uring_register(2); returns the result or -errno. */
int kmbuf_io_uring_register(int ring_fd, unsigned int opcode, void *arg,
			    unsigned int nr_args);

/* Raw io_uring_enter(2); returns the result or -errno. */
int kmbuf_io_uring_enter(int ring_fd, unsigned int to_submit,
			 unsigned int min_complete, unsigned int flags,
			 const void *arg, size_t argsz);

/*
 * Return 0 if the kernel has the kmbuf extensions of <linux/io_uring.h>:
 * memory regions with ids 1..15, IORING_MEM_REGION_RDONLY, the mmap offset
 * 0x20000000 | id << 16.  Such a kernel also runs IORING_URING_CMD_MULTISHOT
 * commands of drivers that support them (others fail the flag with
 * EINVAL) and lets IORING_OP_ASYNC_CANCEL, IORING_REGISTER_SYNC_CANCEL and
 * linked timeouts cancel the queued commands of drivers that allow it
 * (kmbuf_chr's RECV).  See Documentation/io_uring/kmbuf.rst.
 *
 * It finds out by trying, not from an errno: on a scratch ring of its own
 * it registers a one-page read-only region with id 1 and checks the
 * returned offset, that the page maps read-only and reads as zeroes, and
 * that a writable mapping is refused.  Returns -EOPNOTSUPP if any step
 * fails, -ENOMEM or -EAGAIN if the region could not be allocated or
 * charged to RLIMIT_MEMLOCK (unknown), or the errno of io_uring_setup(2)
 * (e.g. -EPERM when io_uring is disabled).  @ring_fd is not used; the
 * caller's ring is left alone.  The scratch ring and its page are gone
 * when the function returns, though their memory may be freed a moment
 * later.
 */
int kmbuf_region_probe(int ring_fd);

/*
 * Register the region described by @rd with IORING_REGISTER_MEM_REGION and
 * registration flags @reg_flags (IORING_MEM_REGION_REG_WAIT_ARG).  On
 * success the kernel has written rd->mmap_offset for kernel-allocated
 * regions.
 */
int kmbuf_region_register(int ring_fd, struct io_uring_region_desc *rd,
			  __u64 reg_flags);

/*
 * mmap @size bytes of a kernel-allocated region at ring mmap offset @offset
 * (io_uring_region_desc.mmap_offset) with protection @prot, MAP_SHARED.
 * Stores the address in *@addrp.
 */
int kmbuf_region_mmap(int ring_fd, __u64 offset, size_t size, int prot,
		      void **addrp);

/* A kernel-allocated region, registered and mapped. */
struct kmbuf_region {
	void		*addr;		/* userspace mapping */
	size_t		size;
	__u32		id;
	__u32		flags;		/* IORING_MEM_REGION_* desc flags */
	__u64		mmap_offset;
};

/*
 * Register kernel-allocated region @id of @size bytes (a multiple of the
 * page size) with desc flags @flags (0 or IORING_MEM_REGION_RDONLY) and map
 * it: read-only if IORING_MEM_REGION_RDONLY is set, else read-write.
 * @reg_flags are the registration flags.  Fills @r.
 */
int kmbuf_region_create(int ring_fd, __u32 id, size_t size, __u32 flags,
			__u64 reg_flags, struct kmbuf_region *r);

/* Unmap a region set up by kmbuf_region_create(); the ring keeps it. */
void kmbuf_region_unmap(struct kmbuf_region *r);

/*
 * Register @size bytes of user memory at @addr (page aligned) as region
 * @id (IORING_MEM_REGION_TYPE_USER).
 */
int kmbuf_region_register_user(int ring_fd, __u32 id, void *addr,
			       size_t size, __u64 reg_flags);

/*
 * Wait for @min_complete completions using the registered wait argument at
 * byte offset @offset of the ring's wait region
 * (IORING_ENTER_EXT_ARG | IORING_ENTER_EXT_ARG_REG).  Returns what
 * io_uring_enter(2) returns, e.g. -ETIME on timeout.
 */
int kmbuf_region_wait(int ring_fd, unsigned int min_complete, size_t offset);

/*
 * Turn @sqe into IORING_OP_URING_CMD @cmd_op on @fd with uring_cmd flags
 * @cmd_flags (e.g. IORING_URING_CMD_MULTISHOT) and the @len byte payload
 * @cmd copied to sqe->cmd: at most 16 bytes, or 80 on an
 * IORING_SETUP_SQE128 ring (the caller knows which).  user_data is 0.
 * liburing 2.3 has no io_uring_prep_uring_cmd().
 */
void kmbuf_prep_uring_cmd(struct io_uring_sqe *sqe, int fd, __u32 cmd_op,
			  __u32 cmd_flags, const void *cmd, size_t len);

/* Buffer id of a CQE that has IORING_CQE_F_BUFFER set. */
static inline unsigned int kmbuf_cqe_bid(const struct io_uring_cqe *cqe)
{
	return cqe->flags >> IORING_CQE_BUFFER_SHIFT;
}

#endif /* LIBKMBUF_H */
