// SPDX-License-Identifier: GPL-2.0
/*
 * libkmbuf: userspace helpers for the kmbuf io_uring extensions.
 * See libkmbuf.h.  liburing 2.3 has no region helpers and no raw register
 * wrapper, so the system calls are made directly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "libkmbuf.h"

int kmbuf_io_uring_register(int ring_fd, unsigned int opcode, void *arg,
			    unsigned int nr_args)
{
	long ret = syscall(__NR_io_uring_register, ring_fd, opcode, arg,
			   nr_args);

	return ret < 0 ? -errno : (int)ret;
}

int kmbuf_io_uring_enter(int ring_fd, unsigned int to_submit,
			 unsigned int min_complete, unsigned int flags,
			 const void *arg, size_t argsz)
{
	long ret = syscall(__NR_io_uring_enter, ring_fd, to_submit,
			   min_complete, flags, arg, argsz);

	return ret < 0 ? -errno : (int)ret;
}

/* mmap offset of region @id on a kmbuf kernel, see <linux/io_uring.h> */
#define KMBUF_PROBE_OFF(id)	(0x20000000ULL | ((__u64)(id) << 16))

int kmbuf_region_probe(int ring_fd)
{
	size_t pgsz = (size_t)sysconf(_SC_PAGESIZE);
	struct io_uring_region_desc rd;
	struct io_uring_params p;
	void *ro = NULL, *rw = NULL;
	size_t i;
	int fd, ret;

	(void)ring_fd;	/* a scratch ring keeps the caller's ring untouched */
	memset(&p, 0, sizeof(p));
	fd = (int)syscall(__NR_io_uring_setup, 1, &p);
	if (fd < 0)
		return -errno;

	/*
	 * Use every extension once: a non-zero id, IORING_MEM_REGION_RDONLY
	 * and the per-id mmap offset.  A kernel without them fails the
	 * registration (whatever the errno), returns another offset, or
	 * lets the region be mapped writable.
	 */
	memset(&rd, 0, sizeof(rd));
	rd.size = pgsz;
	rd.flags = IORING_MEM_REGION_RDONLY;
	rd.id = 1;
	ret = kmbuf_region_register(fd, &rd, 0);
	if (ret == -ENOMEM || ret == -EAGAIN) {
		goto out;	/* can't tell: out of memory or RLIMIT_MEMLOCK */
	} else if (ret || rd.mmap_offset != KMBUF_PROBE_OFF(1)) {
		ret = -EOPNOTSUPP;
		goto out;
	}
	ret = kmbuf_region_mmap(fd, rd.mmap_offset, pgsz, PROT_READ, &ro);
	if (ret) {
		ret = -EOPNOTSUPP;
		goto out;
	}
	for (i = 0; i < pgsz; i++)	/* kernel memory starts zeroed */
		if (((unsigned char *)ro)[i])
			ret = -EOPNOTSUPP;
	munmap(ro, pgsz);
	if (!kmbuf_region_mmap(fd, rd.mmap_offset, pgsz,
			       PROT_READ | PROT_WRITE, &rw)) {
		munmap(rw, pgsz);
		ret = -EOPNOTSUPP;	/* read-only not enforced */
	}
out:
	close(fd);
	return ret;
}

int kmbuf_region_register(int ring_fd, struct io_uring_region_desc *rd,
			  __u64 reg_flags)
{
	struct io_uring_mem_region_reg reg = {
		.region_uptr = (__u64)(unsigned long)rd,
		.flags = reg_flags,
	};

	return kmbuf_io_uring_register(ring_fd, IORING_REGISTER_MEM_REGION,
				       &reg, 1);
}

int kmbuf_region_mmap(int ring_fd, __u64 offset, size_t size, int prot,
		      void **addrp)
{
	void *p = mmap(NULL, size, prot, MAP_SHARED, ring_fd,
		       (off_t)offset);

	if (p == MAP_FAILED)
		return -errno;
	*addrp = p;
	return 0;
}

int kmbuf_region_create(int ring_fd, __u32 id, size_t size, __u32 flags,
			__u64 reg_flags, struct kmbuf_region *r)
{
	struct io_uring_region_desc rd;
	int prot = PROT_READ;
	int ret;

	memset(&rd, 0, sizeof(rd));
	rd.size = size;
	rd.flags = flags;
	rd.id = id;
	ret = kmbuf_region_register(ring_fd, &rd, reg_flags);
	if (ret)
		return ret;

	if (!(flags & IORING_MEM_REGION_RDONLY))
		prot |= PROT_WRITE;
	memset(r, 0, sizeof(*r));
	ret = kmbuf_region_mmap(ring_fd, rd.mmap_offset, size, prot, &r->addr);
	if (ret)
		return ret;	/* registered, but the ring keeps it anyway */
	r->size = size;
	r->id = id;
	r->flags = flags;
	r->mmap_offset = rd.mmap_offset;
	return 0;
}

void kmbuf_region_unmap(struct kmbuf_region *r)
{
	if (r->addr)
		munmap(r->addr, r->size);
	r->addr = NULL;
}

int kmbuf_region_register_user(int ring_fd, __u32 id, void *addr,
			       size_t size, __u64 reg_flags)
{
	struct io_uring_region_desc rd;

	memset(&rd, 0, sizeof(rd));
	rd.user_addr = (__u64)(unsigned long)addr;
	rd.size = size;
	rd.flags = IORING_MEM_REGION_TYPE_USER;
	rd.id = id;
	return kmbuf_region_register(ring_fd, &rd, reg_flags);
}

int kmbuf_region_wait(int ring_fd, unsigned int min_complete, size_t offset)
{
	return kmbuf_io_uring_enter(ring_fd, 0, min_complete,
				    IORING_ENTER_GETEVENTS |
				    IORING_ENTER_EXT_ARG |
				    IORING_ENTER_EXT_ARG_REG,
				    (const void *)offset,
				    sizeof(struct io_uring_reg_wait));
}

int kmbuf_fixed_table(int ring_fd, unsigned int nr)
{
	struct io_uring_rsrc_register rr;

	memset(&rr, 0, sizeof(rr));
	rr.nr = nr;
	rr.flags = IORING_RSRC_REGISTER_SPARSE;
	return kmbuf_io_uring_register(ring_fd, IORING_REGISTER_BUFFERS2, &rr,
				       sizeof(rr));
}

int kmbuf_fixed_regions(int ring_fd, unsigned int slot,
			const struct io_uring_region_buf *descs,
			const __u64 *tags, unsigned int nr)
{
	struct io_uring_rsrc_update2 up;

	memset(&up, 0, sizeof(up));
	up.offset = slot;
	up.resv = IORING_RSRC_UPDATE_MEM_REGION;
	up.data = (__u64)(uintptr_t)descs;
	up.tags = (__u64)(uintptr_t)tags;
	up.nr = nr;
	return kmbuf_io_uring_register(ring_fd, IORING_REGISTER_BUFFERS_UPDATE,
				       &up, sizeof(up));
}

int kmbuf_fixed_region(int ring_fd, unsigned int slot, __u32 region_id,
		       __u64 offset, __u64 len, __u64 tag)
{
	struct io_uring_region_buf rb;
	int ret;

	memset(&rb, 0, sizeof(rb));
	rb.region_id = region_id;
	rb.offset = offset;
	rb.len = len;
	ret = kmbuf_fixed_regions(ring_fd, slot, &rb, tag ? &tag : NULL, 1);
	return ret == 1 ? 0 : ret < 0 ? ret : -EIO;
}

int kmbuf_fixed_clear(int ring_fd, unsigned int slot)
{
	struct io_uring_rsrc_update2 up;
	struct iovec iov = { NULL, 0 };
	int ret;

	memset(&up, 0, sizeof(up));
	up.offset = slot;
	up.data = (__u64)(uintptr_t)&iov;
	up.nr = 1;
	ret = kmbuf_io_uring_register(ring_fd, IORING_REGISTER_BUFFERS_UPDATE,
				      &up, sizeof(up));
	return ret == 1 ? 0 : ret < 0 ? ret : -EIO;
}

void kmbuf_prep_uring_cmd(struct io_uring_sqe *sqe, int fd, __u32 cmd_op,
			  __u32 cmd_flags, const void *cmd, size_t len)
{
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = cmd_op;
	sqe->uring_cmd_flags = cmd_flags;
	if (len)
		memcpy(sqe->cmd, cmd, len);
}

struct io_uring_sqe *kmbuf_get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
		if (!sqe)
			return NULL;
	}
	memset(sqe, 0, ring->flags & IORING_SETUP_SQE128 ? 128 : 64);
	return sqe;
}

void kmbuf_prep_cmd(struct io_uring_sqe *sqe, int fd, __u32 cmd_op,
		    __u32 uring_cmd_flags, const struct kmbuf_cmd *c)
{
	kmbuf_prep_uring_cmd(sqe, fd, cmd_op, uring_cmd_flags, c, sizeof(*c));
}

void kmbuf_prep_bind(struct io_uring_sqe *sqe, int fd,
		     const struct kmbuf_bind *b)
{
	struct kmbuf_cmd c = { .addr = (__u64)(uintptr_t)b };

	kmbuf_prep_cmd(sqe, fd, KMBUF_CMD_BIND, 0, &c);
}

void kmbuf_prep_arm(struct io_uring_sqe *sqe, int fd, __u16 stream)
{
	struct kmbuf_cmd c = { .stream = stream };

	kmbuf_prep_cmd(sqe, fd, KMBUF_CMD_ARM, IORING_URING_CMD_MULTISHOT, &c);
}

void kmbuf_prep_return(struct io_uring_sqe *sqe, int fd, const __u32 *ids,
		       __u32 nr)
{
	struct kmbuf_cmd c = { .addr = (__u64)(uintptr_t)ids, .nr = nr };

	kmbuf_prep_cmd(sqe, fd, KMBUF_CMD_RETURN, 0, &c);
}

void kmbuf_prep_unbind(struct io_uring_sqe *sqe, int fd)
{
	struct kmbuf_cmd c = { };

	kmbuf_prep_cmd(sqe, fd, KMBUF_CMD_UNBIND, 0, &c);
}

void kmbuf_prep_refill_wakeup(struct io_uring_sqe *sqe, int fd)
{
	kmbuf_prep_return(sqe, fd, NULL, 0);
}

/* CQE @i (free running index) of @ring's CQ ring */
static struct io_uring_cqe *cq_entry(struct io_uring *ring, unsigned int i)
{
	return &ring->cq.cqes[(i & *ring->cq.kring_mask) <<
			      io_uring_cqe_shift(ring)];
}

/*
 * Take the first CQE with user_data @ud out of the ready ones: copy its
 * res to *@res, move the CQEs before it one slot up and advance the head
 * past the hole, so the others stay in order.  The entries between head
 * and tail are userspace's until it moves the head.  0, or -ENOENT.
 */
static int cq_take(struct io_uring *ring, __u64 ud, int *res)
{
	unsigned int head = *ring->cq.khead;
	unsigned int tail = io_uring_smp_load_acquire(ring->cq.ktail);
	size_t sz = sizeof(struct io_uring_cqe) << io_uring_cqe_shift(ring);
	unsigned int i;

	for (i = head; i != tail; i++) {
		if (cq_entry(ring, i)->user_data != ud)
			continue;
		*res = cq_entry(ring, i)->res;
		for (; i != head; i--)
			memcpy(cq_entry(ring, i), cq_entry(ring, i - 1), sz);
		io_uring_cq_advance(ring, 1);
		return 0;
	}
	return -ENOENT;
}

int kmbuf_cmd_sync(struct io_uring *ring, struct io_uring_sqe *sqe)
{
	struct io_uring_cqe *cqe;
	unsigned int ready;
	int ret, res;

	sqe->user_data = KMBUF_UD_SYNC;
	ret = io_uring_submit(ring);
	if (ret < 0)
		return ret;
	for (;;) {
		if (!cq_take(ring, KMBUF_UD_SYNC, &res))
			return res;
		ready = io_uring_cq_ready(ring);
		if (ready >= *ring->cq.kring_entries)
			return -ENOSPC;
		/* one more than the others already there */
		ret = io_uring_wait_cqe_nr(ring, &cqe, ready + 1);
		if (ret)
			return ret;
	}
}

int kmbuf_bind_sync(struct io_uring *ring, int fd, const struct kmbuf_bind *b)
{
	struct io_uring_sqe *sqe = kmbuf_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	kmbuf_prep_bind(sqe, fd, b);
	return kmbuf_cmd_sync(ring, sqe);
}

int kmbuf_return_sync(struct io_uring *ring, int fd, const __u32 *ids,
		      __u32 nr)
{
	struct io_uring_sqe *sqe = kmbuf_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	kmbuf_prep_return(sqe, fd, ids, nr);
	return kmbuf_cmd_sync(ring, sqe);
}

int kmbuf_unbind_sync(struct io_uring *ring, int fd)
{
	struct io_uring_sqe *sqe = kmbuf_get_sqe(ring);

	if (!sqe)
		return -EBUSY;
	kmbuf_prep_unbind(sqe, fd);
	return kmbuf_cmd_sync(ring, sqe);
}

struct kmbuf_refill *kmbuf_refill_init(struct kmbuf_bind *b,
				       void *region_addr, __u32 region_id,
				       __u64 offset, __u32 entries)
{
	struct kmbuf_refill *r;

	if (!entries || entries > KMBUF_MAX_RING_BUFS ||
	    (entries & (entries - 1)) || offset % 64) {
		errno = EINVAL;
		return NULL;
	}
	r = (struct kmbuf_refill *)((char *)region_addr + offset);
	memset(r, 0, sizeof(*r));
	b->flags |= KMBUF_BIND_REFILL;
	b->refill_region = region_id;
	b->refill_entries = entries;
	b->refill_offset = offset;
	return r;
}

int kmbuf_reaper_init(struct kmbuf_reaper *rp, struct io_uring *ring, int fd,
		      __u32 nr_bufs, struct kmbuf_refill *refill,
		      __u32 refill_entries, __u64 ret_ud)
{
	memset(rp, 0, sizeof(*rp));
	rp->ring = ring;
	rp->fd = fd;
	rp->nr_bufs = nr_bufs;
	rp->refill = refill;
	rp->refill_entries = refill ? refill_entries : 0;
	rp->ret_ud = ret_ud;
	/* userspace holds each id once at most: nr_bufs of them */
	rp->pending = calloc(nr_bufs, sizeof(__u32));
	rp->inflight[0] = calloc(nr_bufs, sizeof(__u32));
	rp->inflight[1] = calloc(nr_bufs, sizeof(__u32));
	if (!rp->pending || !rp->inflight[0] || !rp->inflight[1]) {
		kmbuf_reaper_free(rp);
		return -ENOMEM;
	}
	return 0;
}

void kmbuf_reaper_free(struct kmbuf_reaper *rp)
{
	free(rp->pending);
	free(rp->inflight[0]);
	free(rp->inflight[1]);
	rp->pending = NULL;
	rp->inflight[0] = NULL;
	rp->inflight[1] = NULL;
}

int kmbuf_reaper_flush(struct kmbuf_reaper *rp)
{
	struct io_uring_sqe *sqe;
	unsigned int n, slot;

	if (!rp->nr_pending)
		return 0;
	if (rp->refill) {
		n = kmbuf_refill_push_many(rp->refill, rp->refill_entries,
					   rp->pending, rp->nr_pending);
		rp->returned += n;
		rp->nr_pending -= n;
		memmove(rp->pending, rp->pending + n,
			rp->nr_pending * sizeof(__u32));
		if (n && kmbuf_refill_need_wakeup(rp->refill)) {
			sqe = kmbuf_get_sqe(rp->ring);
			if (!sqe)
				return -EBUSY;
			kmbuf_prep_refill_wakeup(sqe, rp->fd);
			sqe->user_data = rp->ret_ud + 2;
			rp->wakeups++;
		}
		if (!rp->nr_pending)
			return 0;
	}
	/* the kernel reads a RETURN's ids when it runs: one array each */
	if (!rp->nr_inflight[0])
		slot = 0;
	else if (!rp->nr_inflight[1])
		slot = 1;
	else
		return 0;	/* both in flight: the next flush sends it */
	sqe = kmbuf_get_sqe(rp->ring);
	if (!sqe)
		return -EBUSY;
	memcpy(rp->inflight[slot], rp->pending, rp->nr_pending * sizeof(__u32));
	rp->nr_inflight[slot] = rp->nr_pending;
	kmbuf_prep_return(sqe, rp->fd, rp->inflight[slot], rp->nr_pending);
	sqe->user_data = rp->ret_ud + slot;
	rp->returned += rp->nr_pending;
	rp->nr_pending = 0;
	return 0;
}

void kmbuf_reaper_own_cqe(struct kmbuf_reaper *rp,
			  const struct io_uring_cqe *cqe, __u64 slot)
{
	if (slot == 2) {	/* a doorbell: res = buffers it freed */
		if (cqe->res < 0 && !rp->error)
			rp->error = cqe->res;
		return;
	}
	if (cqe->res != (int)rp->nr_inflight[slot] && !rp->error)
		rp->error = cqe->res < 0 ? cqe->res : -EIO;
	rp->nr_inflight[slot] = 0;
}

struct reap_array {
	struct kmbuf_cqe	*out;
	unsigned int		n;
};

static int reap_to_array(void *arg, const struct kmbuf_cqe *c)
{
	struct reap_array *a = arg;

	a->out[a->n++] = *c;
	return 1;	/* the caller puts each buffer */
}

unsigned int kmbuf_reap_array(struct kmbuf_reaper *rp, struct kmbuf_cqe *out,
			      unsigned int max)
{
	struct reap_array a = { .out = out };

	if (!max)
		return 0;
	kmbuf_reap(rp, reap_to_array, &a, max);
	return a.n;
}
