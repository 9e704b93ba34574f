// SPDX-License-Identifier: GPL-2.0
/*
 * --verify: a hash of a whole region that both ends of a migration compute
 * after the last round, each on its own copy, for operators who want proof
 * at run time that the destination holds what the source froze.
 *
 * The hash chains xxh64 over every page that is not all zero, seeded with
 * the previous value and the page index. All-zero pages and holes are
 * skipped alike, since the stream turns one into the other. Pages on swap
 * are read back; holes are never allocated.
 */

#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/shmem_fs.h>
#include <linux/string.h>
#include <linux/xarray.h>
#include <linux/xxhash.h>

#include "partmob.h"

static u64 region_hash_page(struct page *page, pgoff_t index, u64 h)
{
	void *addr = kmap_local_page(page);

	if (memchr_inv(addr, 0, PAGE_SIZE))
		h = xxh64(addr, PAGE_SIZE, h ^ index);
	kunmap_local(addr);
	return h;
}

/**
 * partmob_region_hash() - hash the contents of a region
 * @r: a region nobody writes (frozen, or an incoming one)
 * @hash: the result
 *
 * Context: process context, may sleep; cost grows with the present pages.
 * Return: 0 or a negative error from reading a page back from swap.
 */
int partmob_region_hash(struct partmob_region *r, u64 *hash)
{
	struct address_space *mapping = r->backing->f_mapping;
	unsigned long index = 0;
	struct page *page;
	u64 h = 0;

	while (index < r->npages &&
	       xa_find(&mapping->i_pages, &index, r->npages - 1, XA_PRESENT)) {
		page = shmem_read_mapping_page_gfp(mapping, index,
						   mapping_gfp_mask(mapping));
		if (IS_ERR(page))
			return PTR_ERR(page);
		h = region_hash_page(page, index, h);
		put_page(page);
		index++;
		cond_resched();
	}
	*hash = h;
	return 0;
}
