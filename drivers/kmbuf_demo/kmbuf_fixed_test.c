// SPDX-License-Identifier: GPL-2.0
/*
 * kmbuf_fixed_test: /dev/kmbuf_fixed_test puts pages of its own into
 * registered-buffer slots of the io_uring a command comes from, with
 * io_buffer_register_bvec(), and takes them out with
 * io_buffer_unregister(), so that selftests/kmbuf/fixed_kbuf can check
 * that interface from userspace: data, directions, errors, and when the
 * release callback runs.  See <uapi/linux/kmbuf_fixed_test.h>.
 */
#include <linux/bvec.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/io_uring/cmd.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <uapi/linux/kmbuf_fixed_test.h>

#define FT_MAX_PAGES	64

/* buffers registered and not yet released, for KMBUF_FT_COUNT */
static atomic_t ft_live = ATOMIC_INIT(0);

struct ft_buf {
	struct page	*page;
	unsigned int	order;
};

/*
 * The release callback: the last request using the buffer is done.  The
 * module reference taken at registration keeps this code loaded until
 * here.
 */
static void ft_release(void *priv)
{
	struct ft_buf *b = priv;

	__free_pages(b->page, b->order);
	kfree(b);
	atomic_dec(&ft_live);
	module_put(THIS_MODULE);
}

/* Cut @nr_pages pages at @b into bvecs as @layout says; returns the count. */
static unsigned int ft_bvecs(struct bio_vec *bv, struct ft_buf *b,
			     unsigned int nr_pages, unsigned int layout)
{
	size_t left = (size_t)nr_pages * PAGE_SIZE, off = 0;
	unsigned int n = 0;

	if (layout == KMBUF_FT_PAGES) {
		for (n = 0; n < nr_pages; n++)
			bvec_set_page(&bv[n], b->page + n, PAGE_SIZE, 0);
		return n;
	}
	/* KMBUF_FT_ODD: 100 bytes in, two-page bvecs, a short last one */
	left -= 100 + 300;
	bvec_set_page(&bv[n++], b->page, PAGE_SIZE - 100, 100);
	left -= PAGE_SIZE - 100;
	off = PAGE_SIZE;
	while (left) {
		size_t len = min_t(size_t, left, 2 * PAGE_SIZE);

		bvec_set_page(&bv[n++], b->page + off / PAGE_SIZE, len, 0);
		off += len;
		left -= len;
	}
	return n;
}

static int ft_register(struct io_uring_cmd *cmd, const struct kmbuf_ft_cmd *c,
		       unsigned int issue_flags)
{
	struct bio_vec *bv;
	struct ft_buf *b;
	unsigned int nr, i;
	u8 *p;
	int ret;

	if (!c->nr_pages || c->nr_pages > FT_MAX_PAGES ||
	    (c->layout == KMBUF_FT_ODD && c->nr_pages < 2) ||
	    c->layout > KMBUF_FT_ODD ||
	    (c->flags & ~(KMBUF_FT_NO_RELEASE | KMBUF_FT_NO_BVECS |
			  KMBUF_FT_EMPTY_BVEC)))
		return -EINVAL;

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	bv = kcalloc(c->nr_pages, sizeof(*bv), GFP_KERNEL);
	if (!b || !bv) {
		ret = -ENOMEM;
		goto free;
	}
	b->order = get_order((size_t)c->nr_pages * PAGE_SIZE);
	b->page = alloc_pages(GFP_KERNEL | __GFP_COMP, b->order);
	if (!b->page) {
		ret = -ENOMEM;
		goto free;
	}
	p = page_address(b->page);
	for (i = 0; i < c->nr_pages * PAGE_SIZE; i++)
		p[i] = (u8)(i * 7 + c->seed);

	nr = ft_bvecs(bv, b, c->nr_pages, c->layout);
	if (c->flags & KMBUF_FT_EMPTY_BVEC)
		bv[nr - 1].bv_len = 0;
	if (c->flags & KMBUF_FT_NO_BVECS)
		nr = 0;

	__module_get(THIS_MODULE);
	atomic_inc(&ft_live);
	ret = io_buffer_register_bvec(cmd, bv, nr,
				      c->flags & KMBUF_FT_NO_RELEASE ?
				      NULL : ft_release, b, c->dir, c->index,
				      issue_flags);
	kfree(bv);
	if (!ret)
		return 0;
	/* not registered: release was not called, the buffer is still ours */
	ft_release(b);
	return ret;

free:
	kfree(bv);
	kfree(b);
	return ret;
}

static int ft_uring_cmd(struct io_uring_cmd *cmd, unsigned int issue_flags)
{
	struct kmbuf_ft_cmd c;

	/* the SQE may be in memory userspace writes: read it once */
	memcpy(&c, io_uring_sqe_cmd(cmd->sqe), sizeof(c));
	if (c.resv)
		return -EINVAL;
	switch (cmd->cmd_op) {
	case KMBUF_FT_REG:
		return ft_register(cmd, &c, issue_flags);
	case KMBUF_FT_UNREG:
		return io_buffer_unregister(cmd, c.index, issue_flags);
	case KMBUF_FT_COUNT:
		return atomic_read(&ft_live);
	}
	return -ENOTTY;
}

static const struct file_operations ft_fops = {
	.owner		= THIS_MODULE,
	.uring_cmd	= ft_uring_cmd,
};

static struct miscdevice ft_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kmbuf_fixed_test",
	.fops	= &ft_fops,
	.mode	= 0600,
};
module_misc_device(ft_misc);

MODULE_DESCRIPTION("Test device for io_buffer_register_bvec()");
MODULE_LICENSE("GPL");
