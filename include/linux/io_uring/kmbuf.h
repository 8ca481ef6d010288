/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-managed buffer rings (kmbuf) on io_uring memory regions.
 *
 * A kmbuf ring carves a range of a memory region (see region.h) into
 * nr_bufs equally sized buffers and tracks who owns each one: the ring
 * (free), the kernel (a driver is filling it) or userspace (a CQE told it
 * which buffer holds data, and it has not given the buffer back yet).
 *
 * The ring is private to the driver that created it.  It is not a provided
 * buffer group: nothing in io_uring can look it up, so no request other
 * than the driver's own commands ever sees its buffers.  All of its state
 * lives in kernel memory; userspace only ever sees buffer contents.
 *
 * See Documentation/io_uring/kmbuf.rst.
 */
#ifndef _LINUX_IO_URING_KMBUF_H
#define _LINUX_IO_URING_KMBUF_H

#include <linux/bits.h>
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/minmax.h>
#include <linux/types.h>
#include <uapi/linux/io_uring.h>
#include <uapi/linux/kmbuf.h>

struct bio_vec;
struct io_uring_cmd;
struct kmbuf_port;
struct kmbuf_ring;
struct kmbuf_stream;
struct seq_file;

/* A buffer id must fit the 16 bits above IORING_CQE_BUFFER_SHIFT. */
#define KMBUF_MAX_BUFS		65536U
/*
 * Least alignment of a ring's offset and buffer size, in bytes.  The
 * alignment a ring actually requires is never below the DMA cache
 * alignment of the architecture either (see kmbuf_buf_align_min()), so
 * that a buffer a device writes never shares a cache line with one the
 * CPU writes.
 */
#define KMBUF_BUF_ALIGN		64U

/**
 * kmbuf_buf_align_min() - least alignment of every kmbuf ring
 *
 * Context: Any context.
 * Return: the larger of %KMBUF_BUF_ALIGN and dma_get_cache_alignment()
 * (64 on x86, 128 on many arm64 and ppc64 systems, 256 on s390).
 */
static inline u32 kmbuf_buf_align_min(void)
{
	return max_t(u32, KMBUF_BUF_ALIGN, dma_get_cache_alignment());
}

/**
 * struct kmbuf_buf - a buffer taken from a kmbuf ring
 * @kaddr: kernel address of the buffer, virtually contiguous
 * @len: size of the buffer in bytes (the ring's buffer size)
 * @bid: buffer id, reported to userspace in the CQE
 * @ring: the ring it was taken from; a buffer the kernel holds keeps its
 *	ring's memory alive, so this stays valid until the buffer is put
 *	back, delivered or handed to userspace, even if the ring is
 *	destroyed meanwhile
 */
struct kmbuf_buf {
	void			*kaddr;
	u32			len;
	u16			bid;
	struct kmbuf_ring	*ring;
};

/* Most streams one port may have. */
#define KMBUF_MAX_STREAMS	4096U

/* struct kmbuf_port_desc.flags: BIND needs a kernel-allocated read-only region */
#define KMBUF_PORT_RDONLY	BIT(0)

/* Most buffers one call of &kmbuf_stream_ops.produce gets. */
#define KMBUF_FILL_MAX		32U

/**
 * struct kmbuf_fill - a buffer for &kmbuf_stream_ops.produce to fill
 * @kaddr: the buffer's kernel address
 * @size: its size
 * @len: set by ->produce() for each buffer it filled: the length of the
 *	record it wrote, 1 to @size
 */
struct kmbuf_fill {
	void	*kaddr;
	u32	size;
	u32	len;
};

/**
 * struct kmbuf_stream_ops - how a port's streams get their data
 * @produce: optional, for "pull" producers whose data can be generated or
 *	copied on demand (a queue, a generator).  Called by the core with
 *	@nr buffers (1 to %KMBUF_FILL_MAX) it took for the stream, and the
 *	port's @priv (&kmbuf_port_desc.priv): write the next records, one
 *	per buffer, in order from @bufs[0], set each one's @len, and return how
 *	many were filled.  After fewer than @nr the core calls again with
 *	fresh buffers; 0 (or -EAGAIN) means there is no data now: call
 *	kmbuf_stream_kick() when some arrives.  Any other negative errno
 *	fills nothing and ends the armed command with that result (a
 *	producer that fails after filling some returns those first and the
 *	error on the next call).  Buffers not filled go back to the ring.
 *	Runs in the task that armed the stream, from io_uring task
 *	work, with no kmbuf lock held; it should not sleep (it holds up the
 *	io_uring instance's other completions meanwhile).  Streams of "push"
 *	producers (a device, an interrupt) leave it NULL and hand filled
 *	buffers over with kmbuf_stream_deliver().
 */
struct kmbuf_stream_ops {
	int	(*produce)(struct kmbuf_stream *s, void *priv,
			   struct kmbuf_fill *bufs, unsigned int nr);
};

/**
 * struct kmbuf_port_desc - what a port is built from
 * @ops: how its streams get data; may be NULL (push producers only)
 * @priv: the driver's, passed to &kmbuf_stream_ops.produce
 * @nr_streams: streams of the port, 0 to %KMBUF_MAX_STREAMS; userspace
 *	arms stream n with KMBUF_CMD_ARM and kmbuf_cmd.stream = n (0: the
 *	port has no streams, e.g. for single-shot commands only)
 * @align: alignment the driver's device needs for the start and size of
 *	every buffer, e.g. its device's DMA alignment (queue_dma_alignment()
 *	+ 1 for a block device): 0 or a power of two.  The ring's alignment
 *	is the larger of @align and kmbuf_buf_align_min().
 * @max_buf_size: largest buffer BIND accepts (0: no limit); a larger one
 *	fails with -EINVAL
 * @flags: 0 or %KMBUF_PORT_RDONLY
 */
struct kmbuf_port_desc {
	const struct kmbuf_stream_ops	*ops;
	void				*priv;
	unsigned int			nr_streams;
	u32				align;
	u32				max_buf_size;
	u32				flags;
};

/**
 * kmbuf_cmd_op_is_common() - is a uring_cmd opcode one of KMBUF_CMD_*?
 * @cmd_op: io_uring_cmd.cmd_op
 *
 * A consumer's ->uring_cmd() passes such commands, and every command
 * issued with %IO_URING_F_CANCEL whose opcode this accepts, to
 * kmbuf_port_uring_cmd().
 *
 * Context: Any context.
 * Return: true for the opcodes of include/uapi/linux/kmbuf.h.
 */
static inline bool kmbuf_cmd_op_is_common(u32 cmd_op)
{
	return _IOC_TYPE(cmd_op) == KMBUF_CMD_MAGIC;
}

/**
 * kmbuf_cqe_flags() - CQE flags telling userspace which buffer holds data
 * @bid: buffer id
 *
 * Context: Any context.
 * Return: %IORING_CQE_F_BUFFER with @bid in the buffer id field, for
 * io_uring_cmd_done_cflags() or io_uring_cmd_post_mshot_cqe().
 */
static inline u32 kmbuf_cqe_flags(u16 bid)
{
	return IORING_CQE_F_BUFFER | ((u32)bid << IORING_CQE_BUFFER_SHIFT);
}

/*
 * The core is built when CONFIG_IO_URING_KMBUF is set, which its users
 * select.  Without it, code that includes this header still compiles:
 * the constructors return ERR_PTR(-EOPNOTSUPP), the other functions that
 * return an errno return -EOPNOTSUPP, lookups return NULL or 0, and the
 * rest do nothing (no ring can exist for them to act on).
 */
#if IS_ENABLED(CONFIG_IO_URING_KMBUF)
int __must_check kmbuf_buf_bvec(struct kmbuf_ring *ring, unsigned int bid,
				unsigned int len, struct bio_vec *bvec,
				unsigned int max_segs);
unsigned int kmbuf_ring_max_segs(struct kmbuf_ring *ring);

struct kmbuf_port *__must_check
kmbuf_port_create(const struct kmbuf_port_desc *desc);
void kmbuf_port_destroy(struct kmbuf_port *port);
int kmbuf_port_uring_cmd(struct kmbuf_port *port, struct io_uring_cmd *cmd,
			 unsigned int issue_flags);
int kmbuf_cmd_check_sqe(const struct io_uring_cmd *cmd,
			unsigned int issue_flags);
struct kmbuf_stream *kmbuf_port_stream(struct kmbuf_port *port,
				       unsigned int idx);
void kmbuf_port_show_fdinfo(struct kmbuf_port *port, struct seq_file *m);
int __must_check kmbuf_port_buf_get(struct kmbuf_port *port,
				    struct io_uring_cmd *cmd,
				    struct kmbuf_buf *buf);
void kmbuf_cmd_done_buf(struct io_uring_cmd *cmd, struct kmbuf_buf *buf,
			int res, unsigned int issue_flags);

unsigned int kmbuf_stream_index(struct kmbuf_stream *s);
bool kmbuf_stream_armed(struct kmbuf_stream *s);
int __must_check kmbuf_stream_buf_get(struct kmbuf_stream *s,
				      struct kmbuf_buf *buf);
void kmbuf_buf_giveback(struct kmbuf_buf *buf);
void kmbuf_stream_deliver(struct kmbuf_stream *s, struct kmbuf_buf *buf,
			  u32 len);
void kmbuf_stream_kick(struct kmbuf_stream *s);
#else
static inline int kmbuf_buf_bvec(struct kmbuf_ring *ring, unsigned int bid,
				 unsigned int len, struct bio_vec *bvec,
				 unsigned int max_segs)
{
	return -EOPNOTSUPP;
}

static inline unsigned int kmbuf_ring_max_segs(struct kmbuf_ring *ring)
{
	return 0;
}

static inline struct kmbuf_port *
kmbuf_port_create(const struct kmbuf_port_desc *desc)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void kmbuf_port_destroy(struct kmbuf_port *port)
{
}

static inline int kmbuf_port_uring_cmd(struct kmbuf_port *port,
				       struct io_uring_cmd *cmd,
				       unsigned int issue_flags)
{
	return -EOPNOTSUPP;
}

static inline int kmbuf_cmd_check_sqe(const struct io_uring_cmd *cmd,
				      unsigned int issue_flags)
{
	return -EOPNOTSUPP;
}

static inline struct kmbuf_stream *kmbuf_port_stream(struct kmbuf_port *port,
						     unsigned int idx)
{
	return NULL;
}

static inline void kmbuf_port_show_fdinfo(struct kmbuf_port *port,
					  struct seq_file *m)
{
}

static inline int kmbuf_port_buf_get(struct kmbuf_port *port,
				     struct io_uring_cmd *cmd,
				     struct kmbuf_buf *buf)
{
	return -EOPNOTSUPP;
}

static inline void kmbuf_cmd_done_buf(struct io_uring_cmd *cmd,
				      struct kmbuf_buf *buf, int res,
				      unsigned int issue_flags)
{
}

static inline unsigned int kmbuf_stream_index(struct kmbuf_stream *s)
{
	return 0;
}

static inline bool kmbuf_stream_armed(struct kmbuf_stream *s)
{
	return false;
}

static inline int kmbuf_stream_buf_get(struct kmbuf_stream *s,
				       struct kmbuf_buf *buf)
{
	return -EOPNOTSUPP;
}

static inline void kmbuf_buf_giveback(struct kmbuf_buf *buf)
{
}

static inline void kmbuf_stream_deliver(struct kmbuf_stream *s,
					struct kmbuf_buf *buf, u32 len)
{
}

static inline void kmbuf_stream_kick(struct kmbuf_stream *s)
{
}
#endif /* CONFIG_IO_URING_KMBUF */

#endif /* _LINUX_IO_URING_KMBUF_H */
