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

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/io_uring.h>
#include <liburing.h>
#include <linux/kmbuf.h>

#if !defined(IORING_MEM_REGION_RDONLY) || !defined(IORING_RSRC_UPDATE_MEM_REGION)
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
 * (KMBUF_CMD_ARM).  See Documentation/io_uring/kmbuf.rst.
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
 * Registered buffers on memory regions (IORING_RSRC_UPDATE_MEM_REGION):
 * a slot of the ring's registered-buffer table that covers a range of a
 * region, usable with READ_FIXED, WRITE_FIXED and the other fixed-buffer
 * requests, without any page being pinned.  The address of such a request
 * is a byte offset into the range (kmbuf_prep_read_fixed() and
 * kmbuf_prep_write_fixed() take one); a range of a read-only region is a
 * source only (READ_FIXED into it fails with -EFAULT).  See
 * Documentation/io_uring/kmbuf_fixed.rst.
 */

/*
 * Register a table of @nr empty registered-buffer slots
 * (IORING_REGISTER_BUFFERS2, IORING_RSRC_REGISTER_SPARSE).  -EBUSY if the
 * ring has a table already.
 */
int kmbuf_fixed_table(int ring_fd, unsigned int nr);

/*
 * Fill the empty slot @slot with bytes @offset to @offset + @len of region
 * @region_id (both multiples of the page size, @len at most 1 GiB).  A
 * non-zero @tag is posted as a CQE (user_data @tag, res 0) once the slot's
 * buffer is released: emptied and no longer used by any request.  Errors:
 * -EINVAL (bad range, @slot outside the table), -EOVERFLOW, -ENOENT (no
 * such region), -EBUSY (slot in use), -ENXIO (no table), -ENOMEM.
 */
int kmbuf_fixed_region(int ring_fd, unsigned int slot, __u32 region_id,
		       __u64 offset, __u64 len, __u64 tag);

/*
 * Fill slots @slot to @slot + @nr - 1 from @descs, with @tags (NULL: no
 * tags).  Returns how many were filled, or the first one's error if none
 * was; a later one stopped the batch with its own error.
 */
int kmbuf_fixed_regions(int ring_fd, unsigned int slot,
			const struct io_uring_region_buf *descs,
			const __u64 *tags, unsigned int nr);

/*
 * Empty slot @slot, whatever it holds: requests using its buffer keep it
 * until they complete.
 */
int kmbuf_fixed_clear(int ring_fd, unsigned int slot);

/* READ_FIXED into slot @slot at byte @slot_off of its range. */
static inline void kmbuf_prep_read_fixed(struct io_uring_sqe *sqe, int fd,
					 unsigned int slot, __u64 slot_off,
					 unsigned int len, __u64 file_off)
{
	io_uring_prep_read_fixed(sqe, fd, (void *)(uintptr_t)slot_off, len,
				 file_off, (int)slot);
}

/* WRITE_FIXED from slot @slot at byte @slot_off of its range. */
static inline void kmbuf_prep_write_fixed(struct io_uring_sqe *sqe, int fd,
					  unsigned int slot, __u64 slot_off,
					  unsigned int len, __u64 file_off)
{
	io_uring_prep_write_fixed(sqe, fd, (const void *)(uintptr_t)slot_off,
				  len, file_off, (int)slot);
}

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

/*
 * An SQE of @ring, zeroed (both halves on an IORING_SETUP_SQE128 ring);
 * if the SQ ring is full, what is queued is submitted first.  NULL if
 * there is still none.
 */
struct io_uring_sqe *kmbuf_get_sqe(struct io_uring *ring);

/*
 * The common commands of <linux/kmbuf.h>, the same on every kmbuf consumer
 * (kmbuf_chr, kmbuf_blk, kmbuf_tick, ...).  The prep helpers turn @sqe
 * into IORING_OP_URING_CMD on @fd with a struct kmbuf_cmd in sqe->cmd and
 * every other field 0, user_data included.  They rewrite the first 64
 * bytes of @sqe only: on an IORING_SETUP_SQE128 ring, take the SQE from
 * kmbuf_get_sqe() (the kernel refuses a non-zero second half).  The
 * arrays and structures they point to are read when the command is
 * issued: keep them until its CQE arrives.
 */

/* Is @cmd_op one of the common KMBUF_CMD_* commands? */
static inline bool kmbuf_cmd_op_common(__u32 cmd_op)
{
	return _IOC_TYPE(cmd_op) == KMBUF_CMD_MAGIC;
}

/* Any KMBUF_CMD_* @cmd_op with payload @c, e.g. to test bad arguments. */
void kmbuf_prep_cmd(struct io_uring_sqe *sqe, int fd, __u32 cmd_op,
		    __u32 uring_cmd_flags, const struct kmbuf_cmd *c);

/* KMBUF_CMD_BIND of the ring @b describes. */
void kmbuf_prep_bind(struct io_uring_sqe *sqe, int fd,
		     const struct kmbuf_bind *b);

/*
 * KMBUF_CMD_ARM of stream @stream, multishot: one CQE per record with
 * IORING_CQE_F_BUFFER | bid << IORING_CQE_BUFFER_SHIFT | IORING_CQE_F_MORE,
 * then a final CQE without F_MORE or a buffer.  Re-arm after a final
 * -EOVERFLOW (the CQ ring was full, nothing was lost).
 */
void kmbuf_prep_arm(struct io_uring_sqe *sqe, int fd, __u16 stream);

/* KMBUF_CMD_RETURN of the @nr buffer ids at @ids (res: @nr). */
void kmbuf_prep_return(struct io_uring_sqe *sqe, int fd, const __u32 *ids,
		       __u32 nr);

/* KMBUF_CMD_UNBIND: armed streams end with -ECANCELED. */
void kmbuf_prep_unbind(struct io_uring_sqe *sqe, int fd);

/* user_data of the commands the synchronous helpers below submit */
#define KMBUF_UD_SYNC	0x6b6d627566ffff00ULL

/*
 * Synchronous commands: submit everything queued on @ring, the command
 * included (its user_data set to KMBUF_UD_SYNC), wait for the command's
 * CQE and return its res: 0 or a count, or a negative errno.  CQEs of
 * other requests that complete first stay in the CQ ring, in order, for
 * the caller's own reaping: the command's CQE is taken out from among
 * them.  Not for use while another thread reaps @ring.  -ENOSPC if the CQ
 * ring fills up with other CQEs first: the command has run, and its CQE
 * (user_data KMBUF_UD_SYNC) comes once the caller makes room.  -EBUSY if
 * no SQE could be had.
 */
int kmbuf_cmd_sync(struct io_uring *ring, struct io_uring_sqe *sqe);
int kmbuf_bind_sync(struct io_uring *ring, int fd,
		    const struct kmbuf_bind *b);
int kmbuf_return_sync(struct io_uring *ring, int fd, const __u32 *ids,
		      __u32 nr);
int kmbuf_unbind_sync(struct io_uring *ring, int fd);

/*
 * Refill ring (struct kmbuf_refill): returns without a system call.  Its
 * size for @entries entries, rounded up to 64 bytes so that what follows
 * it in the region can be a refill ring or a buffer too.
 */
static inline size_t kmbuf_refill_size(__u32 entries)
{
	size_t sz = sizeof(struct kmbuf_refill) + (size_t)entries * 4;

	return (sz + 63) & ~(size_t)63;
}

/*
 * Put a refill ring of @entries entries (a power of two, 1 to
 * KMBUF_MAX_RING_BUFS) at byte @offset (a multiple of 64) of the writable
 * region @region_id mapped at @region_addr: zero its header and fill in
 * @b's refill fields and KMBUF_BIND_REFILL flag, for KMBUF_CMD_BIND.  Call
 * it before the BIND.  Returns the ring, or NULL (errno EINVAL) for a bad
 * @entries or @offset; the kernel checks the rest at BIND.
 */
struct kmbuf_refill *kmbuf_refill_init(struct kmbuf_bind *b,
				       void *region_addr, __u32 region_id,
				       __u64 offset, __u32 entries);

/*
 * Give back up to @nr of the buffer ids at @ids through refill ring @r of
 * @entries entries: each is written to bids[tail & (entries - 1)], then
 * tail is advanced once, with a release store.  Returns how many fit
 * (tail - head never exceeds @entries); the kernel takes them when it
 * next needs buffers.  One thread at a time per ring.
 */
static inline unsigned int kmbuf_refill_push_many(struct kmbuf_refill *r,
						  __u32 entries,
						  const __u32 *ids,
						  unsigned int nr)
{
	__u32 tail = __atomic_load_n(&r->tail, __ATOMIC_RELAXED);
	/* acquire: the kernel has read the entries it moved head past */
	__u32 head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	unsigned int room = entries - (tail - head), i;

	if (room > entries)	/* a bogus head: trust nothing */
		room = 0;
	if (nr > room)
		nr = room;
	for (i = 0; i < nr; i++)
		r->bids[(tail + i) & (entries - 1)] = ids[i];
	if (nr)
		__atomic_store_n(&r->tail, tail + nr, __ATOMIC_RELEASE);
	return nr;
}

/* Give back @bid through refill ring @r: 0, or -ENOSPC if it is full. */
static inline int kmbuf_refill_push(struct kmbuf_refill *r, __u32 entries,
				    __u32 bid)
{
	return kmbuf_refill_push_many(r, entries, &bid, 1) ? 0 : -ENOSPC;
}

/*
 * After a push: does the kernel wait for a doorbell?  A stream that found
 * no buffer, even in the refill ring, sets KMBUF_REFILL_NEED_WAKEUP and
 * waits; the kernel reads the refill ring only when it runs.  A full
 * barrier orders the push's tail store before the flag's load (the
 * kernel orders its flag store before its last look at tail), so one
 * side sees the other.  If true, ring the doorbell with
 * kmbuf_prep_refill_wakeup().
 */
static inline bool kmbuf_refill_need_wakeup(const struct kmbuf_refill *r)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&r->flags, __ATOMIC_RELAXED) &
	       KMBUF_REFILL_NEED_WAKEUP;
}

/*
 * The doorbell: KMBUF_CMD_RETURN with nr 0, which reads the refill ring
 * now and restarts the streams waiting for buffers; res = the number of
 * buffers it gave back.
 */
void kmbuf_prep_refill_wakeup(struct io_uring_sqe *sqe, int fd);

/* A CQE as kmbuf_reap() hands it over, decoded. */
struct kmbuf_cqe {
	__u64	user_data;
	__s32	res;		/* with a buffer: bytes in it */
	__u32	flags;		/* cqe->flags */
	__u32	bid;		/* buffer id, if has_buf */
	bool	has_buf;	/* IORING_CQE_F_BUFFER: the data is in bid */
	bool	more;		/* IORING_CQE_F_MORE: the command goes on */
};

/* Decode @cqe into @c. */
static inline void kmbuf_cqe_decode(const struct io_uring_cqe *cqe,
				    struct kmbuf_cqe *c)
{
	c->user_data = cqe->user_data;
	c->res = cqe->res;
	c->flags = cqe->flags;
	c->has_buf = cqe->flags & IORING_CQE_F_BUFFER;
	c->more = cqe->flags & IORING_CQE_F_MORE;
	c->bid = c->has_buf ? cqe->flags >> IORING_CQE_BUFFER_SHIFT : 0;
}

/*
 * Reaper: walks the ready CQEs of a ring, hands each to the caller
 * decoded, and gives the buffers the caller is done with back to the
 * kernel in batches, through the refill ring if it has one (falling back
 * to KMBUF_CMD_RETURN when that is full, ringing the doorbell when the
 * kernel asks for it), else with KMBUF_CMD_RETURN.  Commands are only
 * queued: the caller's next io_uring_submit*() sends them along with
 * whatever else it submits, so a reap-submit-wait loop costs one system
 * call per round.  Their CQEs (user_data ret_ud to ret_ud + 2) are
 * consumed by the reaper; a failed one is kept in @error.  One reaper per
 * bound file; it is not thread safe.
 */
struct kmbuf_reaper {
	struct io_uring		*ring;
	int			fd;
	__u32			nr_bufs;
	struct kmbuf_refill	*refill;
	__u32			refill_entries;
	__u64			ret_ud;
	__u32			*pending;	/* ids to give back */
	__u32			nr_pending;
	__u32			*inflight[2];	/* ids of a queued RETURN */
	__u32			nr_inflight[2];	/* 0: that slot is free */
	int			error;		/* first failed RETURN, or 0 */
	unsigned long		returned;	/* ids given back so far */
	unsigned long		wakeups;	/* doorbells rung */
};

/*
 * Set up @rp for the ring of @nr_bufs buffers bound to @fd on @ring, with
 * refill ring @refill of @refill_entries entries or NULL.  0 or -ENOMEM.
 */
int kmbuf_reaper_init(struct kmbuf_reaper *rp, struct io_uring *ring, int fd,
		      __u32 nr_bufs, struct kmbuf_refill *refill,
		      __u32 refill_entries, __u64 ret_ud);
void kmbuf_reaper_free(struct kmbuf_reaper *rp);

/* Give @bid back with the next batch (a buffer kept from a callback). */
static inline void kmbuf_reaper_put(struct kmbuf_reaper *rp, __u32 bid)
{
	if (rp->nr_pending < rp->nr_bufs)
		rp->pending[rp->nr_pending++] = bid;
	else if (!rp->error)
		rp->error = -EOVERFLOW;	/* more than the ring has: a bug */
}

/*
 * Send the batch: push it to the refill ring (and queue a doorbell if the
 * kernel needs one), or queue a RETURN (unless both RETURN slots are
 * still in flight: then it waits for the next flush).  kmbuf_reap() ends
 * with it.  0 or -EBUSY (no SQE).
 */
int kmbuf_reaper_flush(struct kmbuf_reaper *rp);

/*
 * Called by kmbuf_reap() for each CQE but the reaper's own.  Return 0 to
 * give the buffer (if @c has one) back now, 1 to keep it (give it back
 * later with kmbuf_reaper_put()), or a negative errno to stop reaping:
 * kmbuf_reap() then returns it, that CQE consumed.  It may queue SQEs (a
 * re-ARM), but must not consume CQEs.
 */
typedef int (*kmbuf_reap_fn)(void *arg, const struct kmbuf_cqe *c);

/* kmbuf_reap()'s handling of a CQE of the reaper's own commands. */
void kmbuf_reaper_own_cqe(struct kmbuf_reaper *rp,
			  const struct io_uring_cqe *cqe, __u64 slot);

/*
 * Hand up to @max (0: any number of) of the CQEs ready when it is called
 * to @fn, then flush.  Waits for nothing; CQEs posted meanwhile are left
 * for the next call.  Returns how many were handed over, or @fn's error.
 * Inline, so that a caller's static @fn is inlined into the loop: the
 * per-CQE cost is then the caller's own work.
 */
static inline int kmbuf_reap(struct kmbuf_reaper *rp, kmbuf_reap_fn fn,
			     void *arg, unsigned int max)
{
	struct io_uring *ring = rp->ring;
	const unsigned int mask = ring->cq.ring_mask;
	const unsigned int shift = io_uring_cqe_shift(ring);
	/* the CQEs ready now: tail is read once, with acquire */
	unsigned int head = *ring->cq.khead;
	const unsigned int tail = io_uring_smp_load_acquire(ring->cq.ktail);
	unsigned int seen = 0, n = 0;
	struct io_uring_cqe *cqe;
	struct kmbuf_cqe c;
	int ret = 0, keep;

	for (; head != tail; head++) {
		__u64 slot;

		if (max && n == max)
			break;
		cqe = &ring->cq.cqes[(head & mask) << shift];
		slot = cqe->user_data - rp->ret_ud;
		seen++;
		/* a RETURN (slots 0, 1) or a doorbell (slot 2) */
		if (slot <= 2 && (slot == 2 || rp->nr_inflight[slot])) {
			kmbuf_reaper_own_cqe(rp, cqe, slot);
			continue;
		}
		kmbuf_cqe_decode(cqe, &c);
		n++;
		keep = fn(arg, &c);
		if (keep < 0) {
			ret = keep;
			break;
		}
		if (c.has_buf && !keep)
			kmbuf_reaper_put(rp, c.bid);
	}
	io_uring_cq_advance(ring, seen);
	kmbuf_reaper_flush(rp);
	return ret < 0 ? ret : (int)n;
}

/*
 * Like kmbuf_reap() into the array @out of @max entries; the caller keeps
 * every buffer and gives each back with kmbuf_reaper_put().
 */
unsigned int kmbuf_reap_array(struct kmbuf_reaper *rp, struct kmbuf_cqe *out,
			      unsigned int max);

#endif /* LIBKMBUF_H */
