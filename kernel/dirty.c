// SPDX-License-Identifier: GPL-2.0
/*
 * The dirty log of a region: marking (from page_mkwrite and the backing
 * file's write paths), harvesting with re-arm, freeze and thaw.
 *
 * Invariant: a page of a region can be mapped writable only while its log
 * bit is set. page_mkwrite sets the bit under the folio lock before the
 * core makes the PTE writable; a harvest clears the bit, then waits for a
 * fault in flight (one that holds the folio lock) and write-protects and
 * cleans every PTE of the folio before anybody reads the page. A write
 * after the re-arm faults again and sets the bit again.
 */

#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
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
	log->pcpu = alloc_percpu_gfp(struct partmob_dirty_pcpu,
				     GFP_KERNEL_ACCOUNT);
	if (!log->pcpu)
		goto err_pcpu;
	atomic64_set(&log->taken, 0);
	return 0;

err_pcpu:
	kvfree(log->summary);
	log->summary = NULL;
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
	free_percpu(log->pcpu);
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
		if (!test_and_set_bit(i, log->bits))
			this_cpu_inc(log->pcpu->dirtied);
		if (!test_bit(i / BITS_PER_LONG, log->summary))
			set_bit(i / BITS_PER_LONG, log->summary);
	}
}

/**
 * partmob_dirty_counts() - the counts of a region's write path
 * @log: the region's log
 * @c: filled with the sums of every CPU's counts, and the pages logged
 *	now (approximate while writers or a harvest run)
 */
void partmob_dirty_counts(struct partmob_dirty_log *log,
			  struct partmob_dirty_counts *c)
{
	const struct partmob_dirty_pcpu *p;
	u64 taken;
	int cpu;

	c->faults = 0;
	c->dirtied = 0;
	for_each_possible_cpu(cpu) {
		p = per_cpu_ptr(log->pcpu, cpu);
		c->faults += READ_ONCE(p->faults);
		c->dirtied += READ_ONCE(p->dirtied);
	}
	taken = atomic64_read(&log->taken);
	c->logged = c->dirtied > taken ? c->dirtied - taken : 0;
}

/**
 * partmob_dirty_log_word() - log again pages handed out but not used
 * @r: the region
 * @first: page of bit 0 of @mask
 * @mask: the pages
 */
void partmob_dirty_log_word(struct partmob_region *r, pgoff_t first,
			    unsigned long mask)
{
	unsigned long b;

	for_each_set_bit(b, &mask, BITS_PER_LONG)
		partmob_dirty_mark(r, first + b, 1);
}

/*
 * Re-arming: write-protect and clean every PTE that maps the pages of a
 * run, so that a write fault in flight (which holds its folio lock from
 * logging to making the PTE writable) is either finished before the
 * write-protect or logs its page again after it. A run of one page uses
 * folio_mkclean() under the folio lock (one rmap walk); longer runs use
 * wp_shared_mapping_range() and clean_record_shared_mapping_range() with
 * one walk, one TLB flush and one MMU-notifier call each for the whole
 * run, and lock only the folios find_busy() names: the page cache is read
 * under RCU, without a reference or a lock per folio for the rest. The
 * walks skip PMD mappings, so large folios also get folio_mkclean(). A
 * dirty PTE found when cleaning keeps the folio dirty. Kernels built
 * without CONFIG_MAPPING_DIRTY_HELPERS (Debian's ppc64le) re-arm every
 * folio with folio_mkclean() (see compat.h).
 */
#define REARM_MAX 4096
#define BATCH_WORDS (REARM_MAX / BITS_PER_LONG)

/*
 * Scratch space of one harvest or freeze: up to BATCH_WORDS words taken
 * from the log, re-armed together (runs may cross words), the folios of
 * the run being re-armed that are locked, and two bitmaps over the run:
 * the PTEs found dirty and the folios to lock.
 */
struct rearm_run {
	unsigned long w[BATCH_WORDS];
	unsigned long word[BATCH_WORDS];
	unsigned int nwords;
	struct folio *folios[REARM_MAX];
	unsigned int nfolios;
	DECLARE_BITMAP(recorded, REARM_MAX);
	DECLARE_BITMAP(busy, REARM_MAX);
};

/*
 * References to @folio beyond the page cache's, one per mapping, and the
 * caller's @ours: someone in the kernel holds it. A folio off the LRU may
 * owe one reference to a per-CPU LRU batch or to an isolation, which says
 * nothing about a writer: then only a second one counts. (A folio that
 * stays on the LRU while queued in another batch may count once too many:
 * it is sent once more, nothing is lost.)
 */
static bool held_by_kernel(struct folio *folio, int ours)
{
	int maps = partmob_folio_mapcount(folio);
	int extra;

	if (maps < 0)
		return false;
	extra = folio_ref_count(folio) - (int)folio_nr_pages(folio) - maps -
		ours;
	return extra >= (folio_test_lru(folio) ? 1 : 2);
}

/*
 * Called for each folio of a run, locked, after its re-arm. A folio that
 * can be written without a fault stays logged, so that every pass sends
 * it again for as long as that lasts:
 * - pinned for DMA (O_DIRECT, process_vm_writev, RDMA, io_uring fixed
 *   buffers): folio_maybe_dma_pinned();
 * - held by the kernel through a plain reference, which KVM HV on ppc64
 *   takes with get_user_pages(FOLL_WRITE) on each vCPU's VPA, DTL and SLB
 *   shadow and writes through the kernel mapping on every guest entry and
 *   exit. Such a reference is taken by a write fault (or on a page mapped
 *   writable, hence logged), so its folio is logged from then on; the first
 *   harvest after it sees the reference here and keeps it logged until the
 *   reference is gone.
 */
static void keep_pinned(struct partmob_region *r, struct folio *folio)
{
	if (folio_maybe_dma_pinned(folio) || held_by_kernel(folio, 1)) {
		atomic64_add(folio_nr_pages(folio), &r->stats.pinned);
		partmob_dirty_mark(r, folio->index, folio_nr_pages(folio));
	}
}

/*
 * Take a reference to the folio at @index of @mapping and lock it, in
 * @run->folios. The large ones are re-armed here: the range walks skip
 * PMD mappings. With @rearm_all, every folio is re-armed here.
 */
static void lock_folios(struct address_space *mapping, pgoff_t index,
			pgoff_t last, bool rearm_all, struct rearm_run *run)
{
	struct folio_batch fbatch;
	struct folio *folio;
	unsigned int f;

	folio_batch_init(&fbatch);
	/*
	 * One lookup per batch of folios; holes and pages on swap are not
	 * returned: they are not mapped, so there is nothing to arm.
	 */
	while (filemap_get_folios(mapping, &index, last, &fbatch)) {
		for (f = 0; f < folio_batch_count(&fbatch); f++) {
			folio = fbatch.folios[f];
			folio_lock(folio);
			if (folio->mapping != mapping) {
				/* Truncated meanwhile: no PTE maps it. */
				folio_unlock(folio);
				folio_put(folio);
				continue;
			}
			if ((rearm_all || folio_test_large(folio)) &&
			    folio_mkclean(folio))
				folio_mark_dirty(folio);
			run->folios[run->nfolios++] = folio;
		}
		/* The references moved to run->folios. */
		folio_batch_init(&fbatch);
	}
}

/*
 * The folios of a run that the range walks cannot re-arm without their
 * lock, marked in @run->busy: locked ones (a write fault may be in flight
 * on them, see below), large ones (the walks skip PMD mappings) and clean
 * ones (a dirty PTE cleaned by the walk must make its folio dirty before
 * reclaim can see the folio clean and drop it).
 *
 * Ordering: the caller took the pages' log bits with a fully ordered
 * xchg() (harvest) or set r->frozen before smp_mb() (freeze); a write
 * fault locks its folio, then logs the page with a fully ordered atomic
 * (and checks r->frozen after smp_mb()), makes the PTE writable under the
 * page-table lock, marks the folio dirty and unlocks it (release). So a
 * fault whose logging was taken by this harvest, or that passed the frozen
 * check, either holds the lock when it is read here, or finished making
 * its PTE writable before: the smp_rmb() orders that read before the
 * walks' PTE reads. A fault that logs its page after the xchg() leaves it
 * logged for the next harvest, whatever the walks do.
 */
static void find_busy(struct address_space *mapping, pgoff_t first,
		      pgoff_t last, struct rearm_run *run)
{
	XA_STATE(xas, &mapping->i_pages, first);
	struct folio *folio;

	bitmap_zero(run->busy, REARM_MAX);
	rcu_read_lock();
	xas_for_each(&xas, folio, last) {
		if (xas_retry(&xas, folio) || xa_is_value(folio))
			continue;
		if (folio_test_locked(folio) || folio_test_large(folio) ||
		    !folio_test_dirty(folio))
			__set_bit(max(xas.xa_index, first) - first, run->busy);
	}
	rcu_read_unlock();
	/* The flags read above before the walks' PTE reads (see above). */
	smp_rmb();
}

/*
 * keep_pinned() for the folios of a run that were not locked, read under
 * RCU without a reference, after the write-protect (as keep_pinned()): a
 * get_user_pages() that saw a writable PTE holds its reference by now,
 * one that comes later faults and logs the page. A folio freed meanwhile
 * may log its page once too often, which only sends it again.
 */
static void keep_pinned_unlocked(struct partmob_region *r,
				 struct address_space *mapping, pgoff_t first,
				 pgoff_t last, struct rearm_run *run)
{
	XA_STATE(xas, &mapping->i_pages, first);
	struct folio *folio;

	rcu_read_lock();
	xas_for_each(&xas, folio, last) {
		if (xas_retry(&xas, folio) || xa_is_value(folio) ||
		    test_bit(max(xas.xa_index, first) - first, run->busy))
			continue;
		/* Small: find_busy() took the large ones. */
		if (folio_maybe_dma_pinned(folio) || held_by_kernel(folio, 0)) {
			atomic64_inc(&r->stats.pinned);
			partmob_dirty_mark(r, xas.xa_index, 1);
		}
	}
	rcu_read_unlock();
}

static void rearm_run(struct partmob_region *r, pgoff_t first,
		      unsigned long nr, u32 flags, struct rearm_run *run)
{
	struct address_space *mapping = r->backing->f_mapping;
	bool rearm = !(flags & PARTMOB_DIRTY_F_NO_REARM);
	bool batch = PARTMOB_HAVE_RANGE_REARM && rearm && nr > 1;
	pgoff_t start, end, i, last = first + nr - 1;
	struct folio *folio;
	unsigned long b;
	unsigned int f;

	run->nfolios = 0;
	if (!batch) {
		lock_folios(mapping, first, last, rearm, run);
		goto unlock;
	}
	find_busy(mapping, first, last, run);
	for_each_set_bit(b, run->busy, nr)
		lock_folios(mapping, first + b, first + b, false, run);
	bitmap_zero(run->recorded, REARM_MAX);
	start = nr;
	end = 0;
	wp_shared_mapping_range(mapping, first, nr);
	if (clean_record_shared_mapping_range(mapping, first, nr, first,
					      run->recorded, &start, &end)) {
		for (f = 0; f < run->nfolios; f++) {
			folio = run->folios[f];
			i = max(folio->index, first) - first;
			if (test_bit(i, run->recorded) &&
			    !folio_test_dirty(folio))
				folio_mark_dirty(folio);
		}
	}
	keep_pinned_unlocked(r, mapping, first, last, run);
unlock:
	for (f = 0; f < run->nfolios; f++) {
		folio = run->folios[f];
		keep_pinned(r, folio);
		folio_unlock(folio);
		folio_put(folio);
	}
}

/* Re-arm the pages of the words batched in @run, in runs of pages. */
static void rearm_batch(struct partmob_region *r, u32 flags,
			struct rearm_run *run)
{
	unsigned long first = 0, len = 0, page, b, e, n;
	unsigned int i;

	for (i = 0; i < run->nwords; i++) {
		unsigned long word = run->word[i];

		for (b = find_first_bit(&word, BITS_PER_LONG); b < BITS_PER_LONG;
		     b = find_next_bit(&word, BITS_PER_LONG, e)) {
			e = find_next_zero_bit(&word, BITS_PER_LONG, b);
			page = run->w[i] * BITS_PER_LONG + b;
			n = e - b;
			if (len && page == first + len && len + n <= REARM_MAX) {
				len += n;
				continue;
			}
			if (len)
				rearm_run(r, first, len, flags, run);
			first = page;
			len = n;
		}
	}
	if (len)
		rearm_run(r, first, len, flags, run);
}

/*
 * Re-arm the batched words, then hand them to @fn, a word at a time:
 * re-armed first, so that what @fn reads includes every write logged so
 * far. If @fn fails, the words it did not take are logged again.
 */
static int hand_out(struct partmob_region *r, u32 flags,
		    struct rearm_run *run, partmob_harvest_fn fn, void *arg,
		    int *count)
{
	unsigned int i, j;
	unsigned long b;
	int ret = 0;

	rearm_batch(r, flags, run);
	for (i = 0; i < run->nwords; i++) {
		if (fn) {
			ret = fn(r, run->w[i] * BITS_PER_LONG, run->word[i],
				 arg);
			if (ret < 0)
				break;
		}
		*count += hweight_long(run->word[i]);
	}
	for (j = i; j < run->nwords; j++)
		for_each_set_bit(b, &run->word[j], BITS_PER_LONG)
			partmob_dirty_mark(r, run->w[j] * BITS_PER_LONG + b, 1);
	run->nwords = 0;
	return ret;
}

/**
 * partmob_dirty_harvest_some() - take a part of the dirty log and re-arm it
 * @r: the region
 * @flags: enum partmob_dirty_flags, and PARTMOB_DIRTY_F_NETLINK for a
 *	harvest asked for over netlink (refused while a migration runs)
 * @cursor: word of the log to start at (0 for a new pass); on return the
 *	word to continue at, or the number of words when the pass is done
 * @fn: called for each word of harvested pages after they have been
 *	re-armed, so that reading them from @fn sees every write logged so
 *	far; may be NULL
 * @arg: passed to @fn
 *
 * Takes at most PARTMOB_HARVEST_WORDS words, so that a caller can send
 * their pages without holding the log. Words before @cursor that are
 * logged meanwhile are left for the next pass.
 *
 * Context: process context, may sleep. Takes @r->harvest_lock.
 * Return: the number of pages harvested, -EBUSY (netlink harvest during a
 * migration), -ENOMEM, or the first negative value returned by @fn (the
 * words not yet handed out stay logged).
 */
int partmob_dirty_harvest_some(struct partmob_region *r, u32 flags,
			       unsigned long *cursor, partmob_harvest_fn fn,
			       void *arg)
{
	struct partmob_dirty_log *log = &r->log;
	unsigned long w = *cursor, word;
	struct rearm_run *run;
	int count = 0, ret = 0;

	BUILD_BUG_ON(PARTMOB_HARVEST_WORDS != BATCH_WORDS);
	run = kvmalloc(sizeof(*run), GFP_KERNEL);
	if (!run)
		return -ENOMEM;
	mutex_lock(&r->harvest_lock);
	if ((flags & PARTMOB_DIRTY_F_NETLINK) && r->migrating) {
		ret = -EBUSY;
		goto out;
	}
	if (!w)
		atomic64_inc(&r->stats.harvests);
	run->nwords = 0;
	for_each_set_bit_from(w, log->summary, log->nwords) {
		if (!test_and_clear_bit(w, log->summary))
			continue;
		word = xchg(&log->bits[w], 0);
		if (!word)
			continue;
		atomic64_add(hweight_long(word), &log->taken);
		run->w[run->nwords] = w;
		run->word[run->nwords++] = word;
		if (run->nwords == BATCH_WORDS) {
			w++;
			break;
		}
	}
	*cursor = min(w, log->nwords);
	ret = hand_out(r, flags, run, fn, arg, &count);
	atomic64_add(count, &r->stats.harvested);
out:
	mutex_unlock(&r->harvest_lock);
	kvfree(run);
	return ret < 0 ? ret : count;
}

/**
 * partmob_dirty_harvest() - take the whole dirty log and re-arm it
 * @r: the region
 * @flags: as for partmob_dirty_harvest_some()
 * @fn: as for partmob_dirty_harvest_some()
 * @arg: passed to @fn
 *
 * Context: process context, may sleep.
 * Return: the number of pages harvested, or a negative error as for
 * partmob_dirty_harvest_some().
 */
int partmob_dirty_harvest(struct partmob_region *r, u32 flags,
			  partmob_harvest_fn fn, void *arg)
{
	unsigned long cursor = 0;
	int count = 0, ret;

	do {
		ret = partmob_dirty_harvest_some(r, flags, &cursor, fn, arg);
		if (ret < 0)
			return ret;
		count += ret;
		cond_resched();
	} while (cursor < r->log.nwords);
	return count;
}

/**
 * partmob_region_freeze() - stop every writer of a region
 * @r: the region
 * @mig: asked for by the region's migration (otherwise refused while one
 *	runs or after the region was retired)
 *
 * After the flag is set, write-protects every page that is logged (only
 * those can be mapped writable) without clearing the log: the pages are
 * still to be read. From the return on, no writable PTE of the region
 * exists and every writer waits in page_mkwrite until the thaw.
 *
 * Return: 0, -ENOMEM, -EBUSY (migration), or -EALREADY if frozen.
 */
int partmob_region_freeze(struct partmob_region *r, bool mig)
{
	struct partmob_dirty_log *log = &r->log;
	struct rearm_run *run;
	unsigned long w;

	run = kvmalloc(sizeof(*run), GFP_KERNEL);
	if (!run)
		return -ENOMEM;
	mutex_lock(&r->harvest_lock);
	if (!mig && (r->migrating || r->retired)) {
		mutex_unlock(&r->harvest_lock);
		kvfree(run);
		return -EBUSY;
	}
	if (r->frozen) {
		mutex_unlock(&r->harvest_lock);
		kvfree(run);
		return -EALREADY;
	}
	WRITE_ONCE(r->frozen, true);
	/* Pairs with the barrier in page_mkwrite between mark and check. */
	smp_mb();
	/* Wait for writers through the backing file that passed the check. */
	down_write(&r->file_sem);
	up_write(&r->file_sem);
	run->nwords = 0;
	for_each_set_bit(w, log->summary, log->nwords) {
		run->w[run->nwords] = w;
		run->word[run->nwords++] = READ_ONCE(log->bits[w]);
		if (run->nwords == BATCH_WORDS) {
			rearm_batch(r, 0, run);
			run->nwords = 0;
			cond_resched();
		}
	}
	rearm_batch(r, 0, run);
	mutex_unlock(&r->harvest_lock);
	kvfree(run);
	return 0;
}

/**
 * partmob_region_thaw() - let the writers of a frozen region go on
 * @r: the region
 * @mig: asked for by the region's migration (otherwise refused while one
 *	runs or after the region was retired)
 *
 * Return: 0, -EBUSY (migration or retired), or -EALREADY if not frozen.
 */
int partmob_region_thaw(struct partmob_region *r, bool mig)
{
	mutex_lock(&r->harvest_lock);
	if (r->retired || (!mig && r->migrating)) {
		mutex_unlock(&r->harvest_lock);
		return -EBUSY;
	}
	if (!r->frozen) {
		mutex_unlock(&r->harvest_lock);
		return -EALREADY;
	}
	WRITE_ONCE(r->frozen, false);
	mutex_unlock(&r->harvest_lock);
	wake_up_all(&r->thaw_wq);
	return 0;
}
