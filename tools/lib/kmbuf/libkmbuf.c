// SPDX-License-Identifier: GPL-2.0
/*
 * libkmbuf: userspace helpers for the kmbuf io_uring extensions.
 * See libkmbuf.h.  liburing 2.3 has no region helpers and no raw register
 * wrapper, so the system calls are made directly.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

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
