/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernels partmob supports lives here, keyed
 * on LINUX_VERSION_CODE and checked by building against each kernel of the
 * test matrix (make lint): Debian's 6.1 (bookworm) and 6.12
 * (bookworm-backports), x86_64 and ppc64le.
 */

#ifndef _PARTMOB_COMPAT_H
#define _PARTMOB_COMPAT_H

#include <linux/version.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/pagemap.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 1, 0)
#error "partmob needs Linux 6.1 or newer"
#endif

/* The receiver writes pages through the direct map (sock.c). */
#ifdef CONFIG_HIGHMEM
#error "partmob needs a 64-bit kernel without highmem"
#endif

/* 6.12 moved asm/unaligned.h to linux/unaligned.h (sock.c). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
#include <asm/unaligned.h>
#else
#include <linux/unaligned.h>
#endif

/* 6.3 made vma->vm_flags read-only behind vm_flags_set(). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline void partmob_vm_flags_set(struct vm_area_struct *vma,
					unsigned long flags)
{
	vma->vm_flags |= flags;
}
#else
#define partmob_vm_flags_set(vma, flags) vm_flags_set(vma, flags)
#endif

/* 6.2 made the struct device argument of devnode callbacks const. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define PARTMOB_DEVNODE_CONST
#else
#define PARTMOB_DEVNODE_CONST const
#endif

/*
 * The page cache's write_begin and write_end for one whole page at @index
 * of @file (the receiver, recv.c): 6.12 passes folios where 6.1 passes
 * pages. @page comes back locked and referenced; write_end unlocks and
 * drops it, and zeroes what @copied did not fill.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
static inline int partmob_write_begin(struct file *file, pgoff_t index,
				      struct page **page, void **fsdata)
{
	struct address_space *mapping = file->f_mapping;

	return mapping->a_ops->write_begin(file, mapping,
					   (loff_t)index << PAGE_SHIFT,
					   PAGE_SIZE, page, fsdata);
}

static inline void partmob_write_end(struct file *file, pgoff_t index,
				     struct page *page, unsigned int copied,
				     void *fsdata)
{
	struct address_space *mapping = file->f_mapping;

	mapping->a_ops->write_end(file, mapping, (loff_t)index << PAGE_SHIFT,
				  PAGE_SIZE, copied, page, fsdata);
}
#else
static inline int partmob_write_begin(struct file *file, pgoff_t index,
				      struct page **page, void **fsdata)
{
	struct address_space *mapping = file->f_mapping;
	struct folio *folio;
	int ret;

	ret = mapping->a_ops->write_begin(file, mapping,
					  (loff_t)index << PAGE_SHIFT,
					  PAGE_SIZE, &folio, fsdata);
	if (!ret)
		*page = folio_file_page(folio, index);
	return ret;
}

static inline void partmob_write_end(struct file *file, pgoff_t index,
				     struct page *page, unsigned int copied,
				     void *fsdata)
{
	struct address_space *mapping = file->f_mapping;

	mapping->a_ops->write_end(file, mapping, (loff_t)index << PAGE_SHIFT,
				  PAGE_SIZE, copied, page_folio(page), fsdata);
}
#endif

/* 6.4 dropped the owner argument of class_create(). */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 4, 0)
#define partmob_class_create(name) class_create(THIS_MODULE, name)
#else
#define partmob_class_create(name) class_create(name)
#endif

/*
 * wp_shared_mapping_range() and clean_record_shared_mapping_range() exist
 * only with CONFIG_MAPPING_DIRTY_HELPERS, which Debian enables on x86_64
 * (for vmwgfx) but not on ppc64le. Without them re-arm is per folio.
 */
#define PARTMOB_HAVE_RANGE_REARM IS_ENABLED(CONFIG_MAPPING_DIRTY_HELPERS)

#if !IS_ENABLED(CONFIG_MAPPING_DIRTY_HELPERS)
static inline unsigned long
wp_shared_mapping_range(struct address_space *mapping, pgoff_t first_index,
			pgoff_t nr)
{
	return 0;
}

static inline unsigned long
clean_record_shared_mapping_range(struct address_space *mapping,
				  pgoff_t first_index, pgoff_t nr,
				  pgoff_t bitmap_pgoff, unsigned long *bitmap,
				  pgoff_t *start, pgoff_t *end)
{
	return 0;
}
#endif

/*
 * The mappings of a folio (dirty.c counts references beyond them). 6.1
 * does not export folio_mapcount(); page_mapcount() is inline and exact
 * for a small folio. A large folio there answers -1: not counted.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 12, 0)
static inline int partmob_folio_mapcount(struct folio *folio)
{
	return folio_test_large(folio) ? -1 : page_mapcount(&folio->page);
}
#else
#define partmob_folio_mapcount(folio) folio_mapcount(folio)
#endif

/* 6.2 put a struct genl_info into struct genl_dumpit_info. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define partmob_dump_attrs(cb) (genl_dumpit_info(cb)->attrs)
#else
#define partmob_dump_attrs(cb) (genl_dumpit_info(cb)->info.attrs)
#endif

/*
 * Zero-copy sends of whole pages: kernel_sendpage() until 6.4; from 6.5
 * sendmsg() with MSG_SPLICE_PAGES takes many pages in one call.
 */
#include <linux/net.h>
#include <linux/socket.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
static inline int partmob_sendpages(struct socket *sock, struct page **pages,
				    unsigned int n, bool more)
{
	unsigned int i;
	size_t off;
	int flags, ret;

	for (i = 0; i < n; i++) {
		flags = MSG_NOSIGNAL;
		if (more || i + 1 < n)
			flags |= MSG_MORE | MSG_SENDPAGE_NOTLAST;
		for (off = 0; off < PAGE_SIZE; off += ret) {
			ret = kernel_sendpage(sock, pages[i], off,
					      PAGE_SIZE - off, flags);
			if (ret <= 0)
				return ret ? ret : -EPIPE;
		}
	}
	return 0;
}
#else
#include <linux/bvec.h>
#include <linux/uio.h>

static inline int partmob_sendpages(struct socket *sock, struct page **pages,
				    unsigned int n, bool more)
{
	struct bio_vec bv[64];
	struct msghdr msg = { };
	unsigned int i;
	int ret;

	if (WARN_ON_ONCE(n > ARRAY_SIZE(bv)))
		return -EINVAL;
	for (i = 0; i < n; i++)
		bvec_set_page(&bv[i], pages[i], PAGE_SIZE, 0);
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, bv, n, (size_t)n * PAGE_SIZE);
	msg.msg_flags = MSG_SPLICE_PAGES | MSG_NOSIGNAL | (more ? MSG_MORE : 0);
	while (iov_iter_count(&msg.msg_iter)) {
		ret = sock_sendmsg(sock, &msg);
		if (ret <= 0)
			return ret ? ret : -EPIPE;
	}
	return 0;
}
#endif

#endif /* _PARTMOB_COMPAT_H */
