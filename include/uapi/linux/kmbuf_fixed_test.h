/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmbuf_fixed_test: a test device for io_buffer_register_bvec() and
 * io_buffer_unregister(), the in-kernel interface that puts kernel pages
 * into a slot of an io_uring registered-buffer table.  Not a real driver:
 * it exists for tools/testing/selftests/kmbuf/fixed_kbuf.
 *
 * Every command is an IORING_OP_URING_CMD on /dev/kmbuf_fixed_test with
 * cmd_op one of the KMBUF_FT_* values below and a struct kmbuf_ft_cmd in
 * sqe->cmd.  The CQE's res is the kernel function's result.
 */
#ifndef _UAPI_LINUX_KMBUF_FIXED_TEST_H
#define _UAPI_LINUX_KMBUF_FIXED_TEST_H

#include <linux/types.h>

/* struct kmbuf_ft_cmd.layout: how the buffer's pages are cut into bvecs */
#define KMBUF_FT_PAGES		0	/* one full page per bvec */
/*
 * Starts 100 bytes into its first page, then bvecs of two pages, the last
 * one shorter: io_import_fixed() must walk it segment by segment.
 */
#define KMBUF_FT_ODD		1

/* struct kmbuf_ft_cmd.flags: pass bad arguments on purpose */
#define KMBUF_FT_NO_RELEASE	(1U << 0)	/* release = NULL */
#define KMBUF_FT_NO_BVECS	(1U << 1)	/* nr_bvecs = 0 */
#define KMBUF_FT_EMPTY_BVEC	(1U << 2)	/* a bvec of length 0 */

/**
 * struct kmbuf_ft_cmd - payload of every kmbuf_fixed_test command
 * @index: registered-buffer slot
 * @nr_pages: KMBUF_FT_REG: pages of the buffer, 1 to 64
 * @dir: KMBUF_FT_REG: io_buffer_register_bvec()'s @dir, passed unchecked
 * @layout: KMBUF_FT_REG: KMBUF_FT_PAGES or KMBUF_FT_ODD
 * @seed: KMBUF_FT_REG: byte i of the buffer is (u8)(i * 7 + @seed)
 * @flags: KMBUF_FT_REG: KMBUF_FT_NO_* / KMBUF_FT_EMPTY_BVEC
 * @resv: must be 0
 */
struct kmbuf_ft_cmd {
	__u32	index;
	__u32	nr_pages;
	__u8	dir;
	__u8	layout;
	__u8	seed;
	__u8	flags;
	__u32	resv;
};

/*
 * KMBUF_FT_REG: allocate a buffer of @nr_pages pages filled as @seed says
 * and register it at slot @index: res is what io_buffer_register_bvec()
 * returns.  The buffer is freed by its release callback, which counts.
 */
#define KMBUF_FT_REG		1
/* KMBUF_FT_UNREG: io_buffer_unregister(@index); res is its result. */
#define KMBUF_FT_UNREG		2
/*
 * KMBUF_FT_COUNT: res = buffers registered by the device and not yet
 * released, system wide.
 */
#define KMBUF_FT_COUNT		3

#endif /* _UAPI_LINUX_KMBUF_FIXED_TEST_H */
