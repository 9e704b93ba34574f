// SPDX-License-Identifier: GPL-2.0
/*
 * The dirty log of a region: marking (from page_mkwrite and the backing
 * file's write paths), harvesting with re-arm, freeze and thaw.
 *
 * Invariant: a page of a region can be mapped writable only while its log
 * bit is set. page_mkwrite sets the bit under the folio lock before the
 * core makes the PTE writable; a harvest clears the bit, then takes the
 * folio lock (waiting for a fault in flight) and write-protects and cleans
 * every PTE of the folio with folio_mkclean() before anybody reads the
 * page. A write after the re-arm faults again and sets the bit again.
 */

#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "partmob.h"

/**
 * partmob_dirty_init() - allocate an empty dirty log
 * @log: the log to set up
 * @npages: pages in the region
 *
 * Return: 0 or -ENOMEM.
 */
int partmob_dirty_init(struct partmob_dirty_log *log, pgoff_t npages)
{
	log->nwords = BITS_TO_LONGS(npages);
	log->bits = kvcalloc(log->nwords, sizeof(long), GFP_KERNEL_ACCOUNT);
	if (!log->bits)
		goto err_bits;
	log->summary = kvcalloc(BITS_TO_LONGS(log->nwords), sizeof(long),
				GFP_KERNEL_ACCOUNT);
	if (!log->summary)
		goto err_summary;
	atomic64_set(&log->logged, 0);
	return 0;

err_summary:
	kvfree(log->bits);
	log->bits = NULL;
err_bits:
	return -ENOMEM;
}

/**
 * partmob_dirty_free() - free the bitmaps of a log
 * @log: the log
 */
void partmob_dirty_free(struct partmob_dirty_log *log)
{
	kvfree(log->summary);
	kvfree(log->bits);
}

/**
 * partmob_dirty_mark() - log pages as changed
 * @r: the region
 * @first: first page index
 * @nr: number of pages, clamped to the region
 *
 * Safe from any context that may touch the region; lockless.
 */
void partmob_dirty_mark(struct partmob_region *r, pgoff_t first,
			unsigned long nr)
{
	struct partmob_dirty_log *log = &r->log;
	pgoff_t i, end;

	if (first >= r->npages)
		return;
	end = min_t(pgoff_t, first + nr, r->npages);
	for (i = first; i < end; i++) {
		/* Fully ordered: the page bit is visible before the summary. */
		if (!test_and_set_bit(i, log->bits)) {
			atomic64_inc(&log->logged);
			atomic64_inc(&r->stats.dirtied);
		}
		if (!test_bit(i / BITS_PER_LONG, log->summary))
			set_bit(i / BITS_PER_LONG, log->summary);
	}
}

/*
 * Write-protect and clean every PTE that maps the folio of @page, unless
 * @flags asks not to. Returns the folio's page count (0 if none is cached:
 * a hole or a page on swap is not mapped, so there is nothing to re-arm).
 */
static unsigned long rearm_page(struct partmob_region *r, pgoff_t page,
				u32 flags)
{
	struct address_space *mapping = r->backing->f_mapping;
	struct folio *folio;
	unsigned long nr;

	folio = partmob_lock_folio(mapping, page);
	if (!folio)
		return 0;
	nr = folio_nr_pages(folio);
	if (!(flags & PARTMOB_DIRTY_F_NO_REARM)) {
		/* A dirty PTE means the folio must stay dirty for swap. */
		if (folio_mkclean(folio))
			folio_mark_dirty(folio);
	}
	/*
	 * A page pinned for DMA (O_DIRECT, process_vm_writev, RDMA) can be
	 * written through the pin without a fault: keep it logged.
	 */
	if (folio_maybe_dma_pinned(folio)) {
		atomic64_add(nr, &r->stats.pinned);
		partmob_dirty_mark(r, folio->index, nr);
	}
	folio_unlock(folio);
	folio_put(folio);
	return nr;
}

/**
 * partmob_dirty_harvest() - take the dirty log and re-arm it
 * @r: the region
 * @flags: enum partmob_dirty_flags
 * @fn: called for each harvested page after it has been re-armed, so that
 *	reading the page from @fn sees every write logged so far; may be NULL
 * @arg: passed to @fn
 *
 * Context: process context, may sleep. Takes @r->harvest_lock.
 * Return: the number of pages harvested, or the first negative value
 * returned by @fn (the pages not yet handed out stay logged).
 */
int partmob_dirty_harvest(struct partmob_region *r, u32 flags,
			  partmob_harvest_fn fn, void *arg)
{
	struct partmob_dirty_log *log = &r->log;
	unsigned long w, word, b;
	int count = 0, ret = 0;

	mutex_lock(&r->harvest_lock);
	atomic64_inc(&r->stats.harvests);
	for_each_set_bit(w, log->summary, log->nwords) {
		if (!test_and_clear_bit(w, log->summary))
			continue;
		word = xchg(&log->bits[w], 0);
		if (!word)
			continue;
		atomic64_sub(hweight_long(word), &log->logged);
		for_each_set_bit(b, &word, BITS_PER_LONG) {
			pgoff_t page = w * BITS_PER_LONG + b;

			rearm_page(r, page, flags);
			if (fn) {
				ret = fn(r, page, arg);
				if (ret < 0) {
					/* Give back what was not handed out. */
					partmob_dirty_mark(r, page, 1);
					while ((b = find_next_bit(&word,
						BITS_PER_LONG, b + 1)) <
					       BITS_PER_LONG)
						partmob_dirty_mark(r,
							w * BITS_PER_LONG + b,
							1);
					goto out;
				}
			}
			count++;
		}
		cond_resched();
	}
out:
	atomic64_add(count, &r->stats.harvested);
	mutex_unlock(&r->harvest_lock);
	return ret < 0 ? ret : count;
}

/**
 * partmob_region_freeze() - stop every writer of a region
 * @r: the region
 *
 * After the flag is set, write-protects every page that is logged (only
 * those can be mapped writable) without clearing the log: the pages are
 * still to be read. From the return on, no writable PTE of the region
 * exists and every writer waits in page_mkwrite until the thaw.
 *
 * Return: 0, or -EALREADY if frozen.
 */
int partmob_region_freeze(struct partmob_region *r)
{
	struct partmob_dirty_log *log = &r->log;
	unsigned long w, b;

	mutex_lock(&r->harvest_lock);
	if (r->frozen) {
		mutex_unlock(&r->harvest_lock);
		return -EALREADY;
	}
	WRITE_ONCE(r->frozen, true);
	/* Pairs with the barrier in page_mkwrite between mark and check. */
	smp_mb();
	/* Wait for writers through the backing file that passed the check. */
	down_write(&r->file_sem);
	up_write(&r->file_sem);
	for_each_set_bit(w, log->summary, log->nwords) {
		unsigned long word = READ_ONCE(log->bits[w]);

		for_each_set_bit(b, &word, BITS_PER_LONG)
			rearm_page(r, w * BITS_PER_LONG + b, 0);
		cond_resched();
	}
	mutex_unlock(&r->harvest_lock);
	return 0;
}

/**
 * partmob_region_thaw() - let the writers of a frozen region go on
 * @r: the region
 *
 * Return: 0, or -EALREADY if not frozen.
 */
int partmob_region_thaw(struct partmob_region *r)
{
	mutex_lock(&r->harvest_lock);
	if (!r->frozen) {
		mutex_unlock(&r->harvest_lock);
		return -EALREADY;
	}
	WRITE_ONCE(r->frozen, false);
	mutex_unlock(&r->harvest_lock);
	wake_up_all(&r->thaw_wq);
	return 0;
}
