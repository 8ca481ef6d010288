/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kmbuf_chr: streaming character device fed through io_uring kernel-managed
 * buffer rings.
 *
 * Generator stream: the device produces an endless byte stream in which the
 * 64-bit little-endian word at stream offset 8 * n holds n. Each open file
 * has its own stream starting at offset 0, so a reader can verify that no
 * byte was lost, duplicated or reordered whatever its read sizes.
 */
#ifndef _UAPI_LINUX_KMBUF_CHR_H
#define _UAPI_LINUX_KMBUF_CHR_H

#include <linux/types.h>

/* Byte @off of the generator stream. */
static inline __u8 kmbuf_chr_pattern_byte(__u64 off)
{
	return (__u8)((off >> 3) >> (8 * (off & 7)));
}

#endif /* _UAPI_LINUX_KMBUF_CHR_H */
