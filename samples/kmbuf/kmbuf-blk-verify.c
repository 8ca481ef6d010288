// SPDX-License-Identifier: GPL-2.0
/*
 * Verified zero-copy reads from kmbuf_blk into read-only kernel buffers.
 *
 * A kmbuf_blk RAM disk keeps a CRC32C per block; a disk stacked on an NVMe
 * namespace formatted with protection information (kmbuf_blk lower=) has
 * the device DMA into the buffer and the block layer check the PI.  This
 * program binds a kmbuf ring, built on a memory region userspace can only
 * map read-only, to the disk, reads through it, and shows:
 *   1. the data lands in the kernel buffer named by the CQE, verified;
 *   2. userspace cannot change that buffer: mprotect(), a writable mmap(),
 *      a store and /proc/self/mem all fail;
 *   3. a block corrupted behind the check's back (the RAM disk's debugfs
 *      knob; on NVMe a bad guard tag planted with nvme-cli) fails the read
 *      with EBADMSG: no buffer is consumed, and the verified data read
 *      before is unchanged.
 *
 * Usage: kmbuf-blk-verify [/dev/kmbufblkN | /dev/kmbufblk-nvme0n1]
 * (loads kmbuf_blk if needed)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <linux/fs.h>

#include <linux/io_uring.h>	/* the tree's uapi, before liburing's copy */
#include <liburing.h>
#include <linux/kmbuf_blk.h>
#include "libkmbuf.h"

#define REGION_ID	1
#define NR_BUFS		8
#define BUF_SIZE	(64 * 1024)
#define BLOCK		4096

static int run(struct io_uring *ring, int fd, __u32 op, __u64 off, __u32 len,
	       __u64 addr, __u32 *cflags)
{
	struct kmbuf_blk_cmd c = { .offset = off, .len = len };
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	if (!sqe)
		return -EBUSY;
	kmbuf_prep_uring_cmd(sqe, fd, op, 0, &c, sizeof(c));
	sqe->addr = addr;
	io_uring_submit(ring);
	if (io_uring_wait_cqe(ring, &cqe))
		return -EIO;
	res = cqe->res;
	if (cflags)
		*cflags = cqe->flags;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

/* The common KMBUF_CMD_RETURN, the same on every kmbuf consumer. */
static int give_back(struct io_uring *ring, int fd, __u32 bid)
{
	return kmbuf_return_sync(ring, fd, &bid, 1);
}

static void line(__u64 off, char *p, size_t len)
{
	snprintf(p, len, "kmbuf_blk block %llu: verified on kernel memory\n",
		 (unsigned long long)(off / BLOCK));
}

static void on_segv(int sig)
{
	_exit(42);
}

/*
 * Corrupt 4 KiB block @block of stacked disk @dev: rewrite its first
 * logical block on the NVMe namespace below with its own data @data and
 * reference tag but a wrong guard tag, with PRINFO 0 so the controller
 * stores the metadata as given.  The stacked disk claims the namespace,
 * so nvme-cli needs --force.
 */
static int plant_bad_guard(const char *dev, int fd, __u64 block,
			   const char *data)
{
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	const char *lower = strchr(name, '-') + 1;
	unsigned char md[8] = { 0xde, 0xad };
	char cmd[320];
	__u64 lba;
	int lbs, n;
	FILE *f;

	if (ioctl(fd, BLKSSZGET, &lbs))
		return -errno;
	lba = block * BLOCK / lbs;
	md[4] = lba >> 24;
	md[5] = lba >> 16;
	md[6] = lba >> 8;
	md[7] = lba;
	f = fopen("/tmp/kmbuf-blk-verify.data", "w");
	if (!f || fwrite(data, lbs, 1, f) != 1 || fclose(f))
		return -EIO;
	f = fopen("/tmp/kmbuf-blk-verify.md", "w");
	if (!f || fwrite(md, sizeof(md), 1, f) != 1 || fclose(f))
		return -EIO;
	n = snprintf(cmd, sizeof(cmd), "nvme write /dev/%s --start-block=%llu",
		     lower, (unsigned long long)lba);
	n += snprintf(cmd + n, sizeof(cmd) - n, " %s --data-size=%d %s",
		      "--block-count=0", lbs,
		      "--data=/tmp/kmbuf-blk-verify.data");
	snprintf(cmd + n, sizeof(cmd) - n, " %s %s >/dev/null",
		 "--metadata-size=8 --metadata=/tmp/kmbuf-blk-verify.md",
		 "--prinfo=0 --force");
	printf("$ %s\n", cmd);
	return system(cmd) ? -EIO : 0;
}

static int corrupt_block(const char *dev, __u64 block)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/kmbuf_blk/%s/corrupt",
		 strrchr(dev, '/') + 1);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%llu\n", (unsigned long long)block);
	return fclose(f) ? -errno : 0;
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/kmbufblk0";
	struct kmbuf_bind bind = {
		.region_id = REGION_ID, .buf_size = BUF_SIZE,
		.nr_bufs = NR_BUFS,
	};
	struct kmbuf_region r;
	struct io_uring ring;
	char *data, *buf, expect[80];
	int fd, ret, status, mfd;
	const char *name = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	bool stacked = strchr(name, '-');
	__u32 cflags, bid;
	unsigned int held;
	int res;
	__u64 off;
	pid_t pid;

	if (access(dev, F_OK) && system("modprobe kmbuf_blk"))
		return 1;
	fd = open(dev, O_RDWR | O_DIRECT);
	if (fd < 0) {
		perror(dev);
		return 1;
	}
	/* some data to read back: one text line per 4 KiB block */
	if (posix_memalign((void **)&data, BLOCK, BUF_SIZE))
		return 1;
	memset(data, 0, BUF_SIZE);
	for (off = 0; off < BUF_SIZE; off += BLOCK)
		line(off, data + off, BLOCK);
	if (pwrite(fd, data, BUF_SIZE, 0) != BUF_SIZE) {
		perror("pwrite");
		return 1;
	}

	ret = io_uring_queue_init(8, &ring, 0);
	if (!ret)
		ret = kmbuf_region_create(ring.ring_fd, REGION_ID,
					  NR_BUFS * BUF_SIZE,
					  IORING_MEM_REGION_RDONLY, 0, &r);
	if (!ret)
		ret = kmbuf_bind_sync(&ring, fd, &bind);
	if (ret) {
		fprintf(stderr, "setup: %s\n", strerror(-ret));
		return 1;
	}
	printf("bound a ring of %d x %d KiB buffers on read-only region %d\n",
	       NR_BUFS, BUF_SIZE / 1024, REGION_ID);

	/* 1. a verified read */
	ret = run(&ring, fd, KMBUF_BLK_READ, 0, BUF_SIZE, 0, &cflags);
	if (ret != BUF_SIZE || !(cflags & IORING_CQE_F_BUFFER)) {
		fprintf(stderr, "read: %s\n", strerror(-ret));
		return 1;
	}
	bid = cflags >> IORING_CQE_BUFFER_SHIFT;
	buf = (char *)r.addr + (size_t)bid * BUF_SIZE;
	printf("read %d bytes into buffer %u; block 3 says: %s", ret, bid,
	       buf + 3 * BLOCK);
	if (memcmp(buf, data, BUF_SIZE)) {
		fprintf(stderr, "data mismatch\n");
		return 1;
	}

	/* 2. the buffer cannot be modified in place */
	if (!mprotect(buf, BUF_SIZE, PROT_READ | PROT_WRITE))
		return 1;
	printf("mprotect(PROT_WRITE) on the buffer: %s\n", strerror(errno));
	if (mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 ring.ring_fd, r.mmap_offset) != MAP_FAILED)
		return 1;
	printf("writable mmap() of the region: %s\n", strerror(errno));
	mfd = open("/proc/self/mem", O_RDWR);
	if (mfd >= 0 && pwrite(mfd, "X", 1, (off_t)(uintptr_t)buf) == 1)
		return 1;
	printf("write through /proc/self/mem: %s\n", strerror(errno));
	close(mfd);
	pid = fork();
	if (!pid) {
		signal(SIGSEGV, on_segv);
		buf[0] = 'X';
		_exit(0);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 42)
		return 1;
	printf("a store into the buffer: SIGSEGV; the data is unchanged: %s",
	       buf);
	if (give_back(&ring, fd, bid) != 1)
		return 1;

	/* 3. corruption behind the check's back is detected */
	res = run(&ring, fd, KMBUF_BLK_READ, 0, BLOCK, 0, &cflags);
	if (res != BLOCK)
		return 1;
	held = cflags >> IORING_CQE_BUFFER_SHIFT;
	if (stacked) {
		ret = plant_bad_guard(dev, fd, 5, data + 5 * BLOCK);
		if (ret) {
			fprintf(stderr, "nvme write: %s\n", strerror(-ret));
			return 1;
		}
		printf("planted a bad guard tag on block 5 %s\n",
		       "(its data and reference tag left alone)");
	} else {
		ret = corrupt_block(dev, 5);
		if (ret) {
			fprintf(stderr, "corrupt: %s (is debugfs mounted?)\n",
				strerror(-ret));
			return 1;
		}
		printf("corrupted the data of block 5 (its checksum left alone)\n");
	}
	ret = run(&ring, fd, KMBUF_BLK_READ, 0, BUF_SIZE, 0, &cflags);
	if (ret != -EBADMSG || (cflags & IORING_CQE_F_BUFFER))
		return 1;
	printf("verified read of blocks 0-15: %s, no buffer consumed\n",
	       strerror(-ret));
	buf = (char *)r.addr + (size_t)held * BUF_SIZE;
	if (memcmp(buf, data, BLOCK))
		return 1;
	printf("buffer %u, read before, still holds verified block 0: %s",
	       held, buf);
	if (give_back(&ring, fd, held) != 1)
		return 1;
	ret = run(&ring, fd, KMBUF_BLK_READ, 6 * BLOCK, BLOCK, 0, &cflags);
	if (ret != BLOCK)
		return 1;
	line(6 * BLOCK, expect, sizeof(expect));
	bid = cflags >> IORING_CQE_BUFFER_SHIFT;
	buf = (char *)r.addr + (size_t)bid * BUF_SIZE;
	if (strcmp(buf, expect))
		return 1;
	printf("block 6 is fine: %s", buf);
	if (give_back(&ring, fd, bid) != 1)
		return 1;
	/* repair: rewrite the block, which stores a fresh checksum or PI */
	if (pwrite(fd, data + 5 * BLOCK, BLOCK, 5 * BLOCK) != BLOCK)
		return 1;
	ret = run(&ring, fd, KMBUF_BLK_READ, 0, BUF_SIZE, 0, &cflags);
	if (ret != BUF_SIZE)
		return 1;
	printf("after rewriting block 5 the read verifies again\n");

	kmbuf_region_unmap(&r);
	io_uring_queue_exit(&ring);
	close(fd);
	free(data);
	return 0;
}
