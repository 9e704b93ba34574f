// SPDX-License-Identifier: GPL-2.0
/*
 * The source of a migration: a kernel thread that streams a region.
 *
 * Round 1 takes (and discards) the dirty log, which write-protects every
 * page written since the last harvest (the others are write-protected
 * already), then sends every page present in the region: untouched pages
 * are never read or sent, swapped-out pages are read back, all-zero pages
 * go as a ZERO header. Every later round harvests the log a batch of words
 * at a time and sends those pages, holes and zero pages as ZERO headers.
 * After each round, and once the destination has answered it with
 * ROUND_DONE (its pages are all written there), the thread waits for
 * userspace's policy: one more round, or the switch-over: freeze, a last
 * round, END, and the two-phase commit (mig.c). Waiting for ROUND_DONE
 * keeps the pages still in socket buffers out of the downtime, and makes
 * a round's time (the policy's bandwidth) count their delivery.
 *
 * Pages go out zero-copy, in batches of up to PARTMOB_FRAME_PAGES_MAX: a
 * PAGES frame when the batch is contiguous, else a SCATTER frame that
 * lists them (a sparse region costs a frame per 64 pages, not one per
 * page), corked with MSG_MORE until the end of the round. No lock is held
 * while the socket is written.
 *
 * With several connections (stream.c) each batch goes to the one with
 * the most room; every connection gets HELLO, the ROUND frames and its
 * own END; ZERO frames and every control frame go on the first.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/highmem.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>

#include "mig.h"

#define WINDOW BITS_PER_LONG	/* pages looked up together */

/**
 * struct tx - the sender's scratch state, owned by its thread
 * @m: the migration
 * @r: its region
 * @mapping: the region's page cache
 * @first: harvested words: their first page
 * @mask: harvested words: their bits
 * @nwords: harvested words in @first and @mask
 * @pages: the pages of the window being sent, referenced
 * @batch: pages with contents waiting to be sent, referenced, ascending
 * @batch_off: their offsets in the region
 * @nbatch: pages in @batch
 * @scatter: a SCATTER frame and its list, as sent
 * @round_bytes: payload bytes of the round being sent
 * @bw_ns: start of the bandwidth window
 * @bw_bytes: bytes sent in the bandwidth window
 */
struct tx {
	struct partmob_mig *m;
	struct partmob_region *r;
	struct address_space *mapping;
	pgoff_t first[PARTMOB_HARVEST_WORDS];
	unsigned long mask[PARTMOB_HARVEST_WORDS];
	unsigned int nwords;
	struct page *pages[WINDOW];
	struct page *batch[PARTMOB_FRAME_PAGES_MAX];
	pgoff_t batch_off[PARTMOB_FRAME_PAGES_MAX];
	unsigned int nbatch;
	struct {
		struct partmob_frame f;
		__be32 list[PARTMOB_FRAME_PAGES_MAX];
	} scatter;
	u64 round_bytes;
	u64 bw_ns;
	u64 bw_bytes;
};

static int send_frame(struct tx *tx, u16 type, u64 offset, u32 count,
		      u64 arg, bool more)
{
	return partmob_sock_send_frame(tx->m->sock, type, 0, count, offset,
				       arg, more ? MSG_MORE : 0);
}

/* Sleep off what the bandwidth cap says is too much; abortable. */
static int throttle(struct tx *tx, size_t bytes)
{
	struct partmob_mig *m = tx->m;
	u64 now, allowed_ns, elapsed;

	if (!m->max_bandwidth)
		return 0;
	tx->bw_bytes += bytes;
	now = ktime_get_ns();
	elapsed = now - tx->bw_ns;
	allowed_ns = div64_u64(tx->bw_bytes * NSEC_PER_SEC, m->max_bandwidth);
	if (allowed_ns > elapsed)
		wait_event_idle_timeout(m->wq, partmob_mig_aborted(m),
					nsecs_to_jiffies(allowed_ns - elapsed));
	/* A fresh window every second keeps the rate from bursting. */
	if (elapsed > NSEC_PER_SEC) {
		tx->bw_ns = now;
		tx->bw_bytes = 0;
	}
	return partmob_mig_aborted(m);
}

static bool page_is_zero(struct page *page)
{
	void *addr = kmap_local_page(page);
	bool zero = !memchr_inv(addr, 0, PAGE_SIZE);

	kunmap_local(addr);
	return zero;
}

/*
 * Find the pages of @mask in the window at @first: referenced pages in
 * tx->pages, NULL for holes. Pages on swap, and entries that changed under
 * the lookup, are read through shmem, which brings them back.
 */
static int lookup_window(struct tx *tx, pgoff_t first, unsigned long mask)
{
	XA_STATE(xas, &tx->mapping->i_pages, first);
	unsigned long slow = 0, i;
	struct folio *folio;
	struct page *page;
	void *entry;

	memset(tx->pages, 0, sizeof(tx->pages));
	rcu_read_lock();
	xas_for_each(&xas, entry, first + WINDOW - 1) {
		if (xas_retry(&xas, entry))
			continue;
		i = xas.xa_index - first;
		if (!(mask & BIT(i)))
			continue;
		folio = entry;
		if (xa_is_value(entry) || folio_test_large(folio) ||
		    !folio_try_get(folio)) {
			slow |= BIT(i);
			continue;
		}
		if (unlikely(folio != xas_reload(&xas))) {
			folio_put(folio);
			slow |= BIT(i);
			continue;
		}
		tx->pages[i] = &folio->page;
	}
	rcu_read_unlock();

	for_each_set_bit(i, &slow, WINDOW) {
		page = shmem_read_mapping_page_gfp(tx->mapping, first + i,
						   mapping_gfp_mask(tx->mapping));
		if (IS_ERR(page))
			return PTR_ERR(page);
		tx->pages[i] = page;
	}
	return 0;
}

static unsigned long present_mask(struct tx *tx)
{
	unsigned long mask = 0;
	unsigned int i;

	for (i = 0; i < WINDOW; i++)
		if (tx->pages[i])
			mask |= BIT(i);
	return mask;
}

static void put_window(struct tx *tx)
{
	unsigned int i;

	for (i = 0; i < WINDOW; i++) {
		if (tx->pages[i]) {
			put_page(tx->pages[i]);
			tx->pages[i] = NULL;
		}
	}
}

/* Send @n all-zero pages (or holes) from @offset as one ZERO frame. */
static int send_zero(struct tx *tx, pgoff_t offset, unsigned int n)
{
	atomic64_add(n, &tx->m->pages_zero);
	return send_frame(tx, PARTMOB_FRAME_ZERO, offset, n, 0, true);
}

/* Drop the batch's pages; @relog: unsent, so log them again. */
static void drop_batch(struct tx *tx, bool relog)
{
	unsigned int i;

	for (i = 0; i < tx->nbatch; i++) {
		if (relog)
			partmob_dirty_mark(tx->r, tx->batch_off[i], 1);
		put_page(tx->batch[i]);
	}
	tx->nbatch = 0;
}

/*
 * Send the batch: a PAGES frame if its pages are contiguous, else a
 * SCATTER frame with their distances from the first, then the pages.
 */
static int flush_batch(struct tx *tx)
{
	struct partmob_mig *m = tx->m;
	unsigned int i, n = tx->nbatch, k;
	pgoff_t first = tx->batch_off[0];
	struct socket *sock;
	u64 start;
	int ret;

	if (!n)
		return 0;
	start = ktime_get_ns();
	k = m->nstreams > 1 ? partmob_stream_pick(m) : 0;
	sock = partmob_stream_sock(m, k);
	if (tx->batch_off[n - 1] - first == n - 1) {
		ret = partmob_sock_send_frame(sock, PARTMOB_FRAME_PAGES, 0, n,
					      first, 0, MSG_MORE);
	} else {
		tx->scatter.f = (struct partmob_frame){
			.type = cpu_to_be16(PARTMOB_FRAME_SCATTER),
			.count = cpu_to_be32(n),
			.offset = cpu_to_be64(first),
		};
		for (i = 0; i < n; i++)
			tx->scatter.list[i] =
				cpu_to_be32(tx->batch_off[i] - first);
		ret = partmob_sock_send(sock, &tx->scatter,
					sizeof(tx->scatter.f) +
					n * sizeof(tx->scatter.list[0]),
					MSG_MORE);
	}
	if (!ret)
		ret = partmob_sock_send_pages(sock, tx->batch, n, true);
	atomic64_add(ktime_get_ns() - start, &m->sock_ns);
	drop_batch(tx, ret);
	if (ret)
		return ret;
	m->streams[k].sent += n;
	atomic64_add(n, &m->pages_normal);
	atomic64_add((u64)n << PAGE_SHIFT, &m->transferred);
	tx->round_bytes += (u64)n << PAGE_SHIFT;
	return throttle(tx, (size_t)n << PAGE_SHIFT);
}

/*
 * Add page @i of the window at @first to the batch, with its reference;
 * send the batch first if it is full or the page is too far from its
 * first page for a SCATTER distance.
 */
static int batch_page(struct tx *tx, pgoff_t first, unsigned int i)
{
	int ret;

	if (tx->nbatch == PARTMOB_FRAME_PAGES_MAX ||
	    (tx->nbatch && first + i - tx->batch_off[0] > U32_MAX)) {
		ret = flush_batch(tx);
		if (ret)
			return ret;
	}
	tx->batch[tx->nbatch] = tx->pages[i];
	tx->batch_off[tx->nbatch++] = first + i;
	tx->pages[i] = NULL;
	return 0;
}

/*
 * Send the pages of @mask in the window at @first: pages with contents go
 * to the batch, runs of zero pages out as ZERO frames. In round 1 a hole
 * is skipped (the destination starts empty); later it is sent as ZERO,
 * since the destination may hold an older copy.
 */
static int send_window(struct tx *tx, pgoff_t first, unsigned long mask,
		       bool first_pass)
{
	unsigned int i, start = 0, n = 0;
	unsigned long present;
	int ret;

	if (first + WINDOW > tx->r->npages)
		mask &= BIT(tx->r->npages - first) - 1;
	ret = lookup_window(tx, first, mask);
	if (ret)
		goto out;
	present = present_mask(tx);
	for (i = 0; i < WINDOW; i++) {
		bool take = (mask & BIT(i)) && (!first_pass || tx->pages[i]);
		bool zero = take && (!tx->pages[i] ||
				     page_is_zero(tx->pages[i]));

		if (take && !zero) {
			ret = batch_page(tx, first, i);
			if (ret)
				goto out;
		}
		if (zero && n && start + n == i) {
			n++;
			continue;
		}
		if (n) {
			ret = send_zero(tx, first + start, n);
			if (ret)
				goto out;
			n = 0;
		}
		if (zero) {
			start = i;
			n = 1;
		}
	}
	if (n)
		ret = send_zero(tx, first + start, n);
	if (first_pass)
		atomic64_sub(min_t(s64, hweight_long(present),
				   atomic64_read(&tx->m->pass_left)),
			     &tx->m->pass_left);
out:
	put_window(tx);
	return ret;
}

/*
 * Harvest (and re-arm) the next part of the log from @cursor, its words
 * handed to @fn (may be NULL); timed. 0 or -errno.
 */
static int harvest_some(struct tx *tx, unsigned long *cursor,
			partmob_harvest_fn fn)
{
	u64 start = ktime_get_ns();
	int ret;

	ret = partmob_dirty_harvest_some(tx->r, 0, cursor, fn, tx);
	atomic64_add(ktime_get_ns() - start, &tx->m->harvest_ns);
	return ret < 0 ? ret : 0;
}

static int collect(struct partmob_region *r, pgoff_t first,
		   unsigned long mask, void *arg)
{
	struct tx *tx = arg;

	tx->first[tx->nwords] = first;
	tx->mask[tx->nwords++] = mask;
	return 0;
}

/* Harvest the whole log and send its pages. */
static int send_dirty(struct tx *tx)
{
	unsigned long cursor = 0;
	unsigned int i;
	int ret;

	do {
		tx->nwords = 0;
		ret = harvest_some(tx, &cursor, collect);
		if (ret)
			return ret;
		for (i = 0; i < tx->nwords; i++) {
			ret = send_window(tx, tx->first[i], tx->mask[i], false);
			if (ret) {
				/* Not sent: keep them for a later round. */
				for (; i < tx->nwords; i++)
					partmob_dirty_log_word(tx->r,
							       tx->first[i],
							       tx->mask[i]);
				return ret;
			}
		}
		ret = partmob_mig_aborted(tx->m);
		if (ret)
			return ret;
		cond_resched();
	} while (cursor < tx->r->log.nwords);
	return flush_batch(tx);
}

/*
 * Round 1: every present page. The log is harvested (and its pages
 * re-armed) a batch of words at a time, and the present pages below the
 * harvest's cursor are sent before the next batch: a page is read only
 * after its word was taken, which is all the order needs (a page that is
 * not logged is write-protected already), and the destination receives
 * while the source re-arms the next batch, instead of idling through a
 * re-arm of the whole log first (a sparse region's scattered pages cost a
 * folio_mkclean() each).
 */
static int send_all(struct tx *tx)
{
	struct address_space *mapping = tx->mapping;
	pgoff_t npages = tx->r->npages, first, limit;
	unsigned long cursor = 0, index = 0;
	int ret;

	/* For the remaining bytes shown while round 1 runs: an estimate. */
	atomic64_set(&tx->m->pass_left, mapping->nrpages +
		     READ_ONCE(SHMEM_I(mapping->host)->swapped));
	while (index < npages) {
		ret = harvest_some(tx, &cursor, NULL);
		if (ret)
			return ret;
		/* Windows are words of the log: limit is a window's start. */
		limit = cursor < tx->r->log.nwords ?
			(pgoff_t)cursor * BITS_PER_LONG : npages;
		while (index < limit &&
		       xa_find(&mapping->i_pages, &index, limit - 1,
			       XA_PRESENT)) {
			first = round_down(index, WINDOW);
			ret = send_window(tx, first, ~0UL, true);
			if (ret)
				return ret;
			ret = partmob_mig_aborted(tx->m);
			if (ret)
				return ret;
			index = first + WINDOW;
			cond_resched();
		}
		index = limit;
	}
	ret = flush_batch(tx);
	atomic64_set(&tx->m->pass_left, 0);
	return ret;
}

/* The destination's next answer; the time it took counts as waiting. */
static int recv_frame(struct tx *tx, struct partmob_frame *f)
{
	u64 start = ktime_get_ns();
	int ret = partmob_sock_recv(tx->m->sock, f, sizeof(*f));

	atomic64_add(ktime_get_ns() - start, &tx->m->wait_ns);
	if (!ret && f->flags) {
		partmob_mig_fail(tx->m, -EPROTO,
				 "the destination sent frame type %u with flags %#x",
				 be16_to_cpu(f->type), be16_to_cpu(f->flags));
		ret = -EPROTO;
	}
	return ret;
}

/* The destination's ROUND_DONE for @round: 0, or the migration failed. */
static int wait_round_done(struct tx *tx, u32 round)
{
	struct partmob_mig *m = tx->m;
	struct partmob_frame f;
	int ret;

	ret = recv_frame(tx, &f);
	if (ret)
		return ret;
	if (be16_to_cpu(f.type) == PARTMOB_FRAME_ABORT) {
		partmob_mig_fail(m, -ECONNABORTED,
				 "the destination aborted in round %u (error %lld)",
				 round, -(s64)be64_to_cpu(f.arg));
		return -ECONNABORTED;
	}
	if (be16_to_cpu(f.type) != PARTMOB_FRAME_ROUND_DONE ||
	    be64_to_cpu(f.arg) != round) {
		partmob_mig_fail(m, -EPROTO,
				 "the destination answered round %u with frame type %u (arg %llu)",
				 round, be16_to_cpu(f.type),
				 be64_to_cpu(f.arg));
		return -EPROTO;
	}
	return 0;
}

/*
 * A frame on every connection, the first one last: HELLO, ROUND, and END
 * with the count of PAGES and SCATTER payload pages that connection
 * carried as its argument. @flags and @more go with the first one's.
 */
static int send_frame_all(struct tx *tx, u16 type, u16 flags, u64 offset,
			  u32 count, u64 arg, bool more)
{
	struct partmob_mig *m = tx->m;
	unsigned int k = m->nstreams;
	int ret;

	while (k--) {
		ret = partmob_sock_send_frame(partmob_stream_sock(m, k), type,
					      k ? 0 : flags, count, offset,
					      type == PARTMOB_FRAME_END ?
					      m->streams[k].sent : arg,
					      !k && more ? MSG_MORE : 0);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * One round: send, close it with a ROUND frame, wait for the
 * destination's ROUND_DONE, account for it.
 */
static int send_round(struct tx *tx, bool first_pass)
{
	struct partmob_mig *m = tx->m;
	struct partmob_dirty_counts before, after;
	u64 start = ktime_get_ns(), ns;
	u32 round;
	int ret;

	partmob_dirty_counts(&tx->r->log, &before);
	tx->round_bytes = 0;
	tx->bw_ns = start;
	tx->bw_bytes = 0;
	atomic64_set(&m->round_start_ns, start);
	partmob_mig_set_state(m, PARTMOB_MIG_S_ROUND);
	ret = first_pass ? send_all(tx) : send_dirty(tx);
	if (ret)
		return ret;
	round = m->round + 1;
	ret = send_frame_all(tx, PARTMOB_FRAME_ROUND, 0, 0, 0, round, false);
	if (!ret)
		ret = wait_round_done(tx, round);
	if (ret)
		return ret;
	ns = ktime_get_ns() - start;
	atomic64_set(&m->round_start_ns, 0);
	atomic64_set(&m->round_bytes, tx->round_bytes);
	atomic64_set(&m->round_ns, ns);
	atomic64_add(ns, &m->send_ns);
	partmob_dirty_counts(&tx->r->log, &after);
	atomic64_set(&m->round_dirtied, after.dirtied - before.dirtied);
	spin_lock(&m->lock);
	m->round = round;
	spin_unlock(&m->lock);
	return 0;
}

/* Wait for the policy's word after a round. */
static int wait_action(struct tx *tx, u32 *action)
{
	struct partmob_mig *m = tx->m;
	long left;

	partmob_mig_set_state(m, PARTMOB_MIG_S_WAITING);
	left = wait_event_idle_timeout(m->wq, READ_ONCE(m->action) ||
				       partmob_mig_aborted(m),
				       msecs_to_jiffies(m->timeout_ms));
	if (partmob_mig_aborted(m))
		return partmob_mig_aborted(m);
	if (!left) {
		partmob_mig_fail(m, -ETIMEDOUT,
				 "partmobctl gave no decision after round %u within %u ms",
				 m->round, m->timeout_ms);
		return -ETIMEDOUT;
	}
	spin_lock(&m->lock);
	*action = m->action;
	m->action = 0;
	spin_unlock(&m->lock);
	return 0;
}

/* The decision: delivered, and the destination's resume awaited. */
static void commit(struct tx *tx, u64 freeze_ns)
{
	struct partmob_mig *m = tx->m;
	struct partmob_region *r = tx->r;
	struct partmob_frame f;
	int ret;

	mutex_lock(&r->harvest_lock);
	r->retired = true;
	mutex_unlock(&r->harvest_lock);
	partmob_mig_set_state(m, PARTMOB_MIG_S_COMMITTED);
	ret = send_frame(tx, PARTMOB_FRAME_COMMIT, 0, 0, 0, false);
	if (!ret)
		ret = recv_frame(tx, &f);
	if (!ret && be16_to_cpu(f.type) != PARTMOB_FRAME_RESUMED)
		ret = -EPROTO;
	if (ret) {
		partmob_mig_fail(m, ret,
				 "committed, but the destination did not confirm its resume (%d): it runs, or waits in doubt for partmobctl recover",
				 ret);
		pr_warn("%s: committed; destination unconfirmed (%d)\n",
			r->name, ret);
	} else {
		atomic64_set(&m->downtime_ns, ktime_get_ns() - freeze_ns);
	}
}

/*
 * PARTMOB_MIG_F_HOLD: prepared is here; the decision is the group's
 * (partmob_mig_commit_group()). Waits for it, an abort, or the timeout,
 * which aborts unless the decision won the race.
 */
static int hold(struct tx *tx)
{
	struct partmob_mig *m = tx->m;

	partmob_mig_set_state(m, PARTMOB_MIG_S_PREPARED);
	wait_event_idle_timeout(m->wq, READ_ONCE(m->decided) ||
				partmob_mig_aborted(m),
				msecs_to_jiffies(m->timeout_ms));
	if (!READ_ONCE(m->decided) && !partmob_mig_aborted(m))
		partmob_mig_abort(m, -ETIMEDOUT,
				  "prepared, but no commit came within the timeout");
	if (READ_ONCE(m->decided))
		return 0;
	return partmob_mig_aborted(m);
}

/* Switch-over: freeze, last round, END, wait for prepared, decide. */
static int stop_copy(struct tx *tx, u64 *freeze_ns, bool *frozen)
{
	struct partmob_mig *m = tx->m;
	bool verify = m->flags & PARTMOB_MIG_F_VERIFY;
	struct partmob_frame f;
	u64 start, hash = 0;
	int ret;

	partmob_mig_set_state(m, PARTMOB_MIG_S_STOP_COPY);
	*freeze_ns = ktime_get_ns();
	atomic64_set(&m->freeze_ns, *freeze_ns);
	ret = partmob_region_freeze(tx->r, true);
	if (ret)
		return ret;
	*frozen = true;
	tx->round_bytes = 0;
	ret = send_dirty(tx);
	if (ret)
		return ret;
	/*
	 * PREPARING before END: an abort from now on sends ABORT itself
	 * (mig.c), since the destination may be prepared by the time it
	 * comes; END is one small send, which the socket lock keeps whole.
	 */
	spin_lock(&m->lock);
	m->round++;
	spin_unlock(&m->lock);
	partmob_mig_set_state(m, PARTMOB_MIG_S_PREPARING);
	ret = send_frame_all(tx, PARTMOB_FRAME_END,
			     verify ? PARTMOB_FRAME_F_VERIFY : 0, 0, 0, 0, false);
	if (ret)
		return ret;
	start = ktime_get_ns();
	/* The destination hashes its copy meanwhile. */
	if (verify) {
		ret = partmob_region_hash(tx->r, &hash);
		if (ret) {
			partmob_mig_fail(m, ret, "cannot hash the region (%d)",
					 ret);
			return ret;
		}
	}
	ret = recv_frame(tx, &f);
	if (ret)
		return ret;
	if (be16_to_cpu(f.type) == PARTMOB_FRAME_ABORT) {
		partmob_mig_fail(m, -ECONNABORTED,
				 "the destination refused to prepare (error %lld)",
				 -(s64)be64_to_cpu(f.arg));
		return -ECONNABORTED;
	}
	if (be16_to_cpu(f.type) != PARTMOB_FRAME_PREPARED) {
		partmob_mig_fail(m, -EPROTO,
				 "the destination answered END with frame type %u",
				 be16_to_cpu(f.type));
		return -EPROTO;
	}
	if (verify) {
		atomic64_set(&m->verify_ns, ktime_get_ns() - start);
		if (be64_to_cpu(f.arg) != hash) {
			partmob_mig_fail(m, -EBADMSG,
					 "verify: the destination's copy differs (hash %016llx, here %016llx)",
					 be64_to_cpu(f.arg), hash);
			return -EBADMSG;
		}
	}
	if (m->flags & PARTMOB_MIG_F_HOLD)
		return hold(tx);
	if (!partmob_mig_decide(m))
		return partmob_mig_aborted(m);
	return 0;
}

/* Returns the final state. */
static u32 run(struct tx *tx)
{
	struct partmob_mig *m = tx->m;
	bool frozen = false;
	u64 freeze_ns = 0;
	u32 action = 0;
	int ret;

	ret = partmob_stream_wait_attached(m);
	if (!ret)
		ret = send_frame_all(tx, PARTMOB_FRAME_HELLO, 0, m->id,
				     PAGE_SIZE, tx->r->npages, true);
	if (ret)
		goto fail;
	atomic64_set(&m->setup_ns, ktime_get_ns() - m->start_ns);
	ret = send_round(tx, true);
	while (!ret) {
		ret = wait_action(tx, &action);
		if (ret || action == PARTMOB_MIG_A_SWITCHOVER)
			break;
		ret = send_round(tx, false);
	}
	if (!ret)
		ret = stop_copy(tx, &freeze_ns, &frozen);
	if (!ret) {
		commit(tx, freeze_ns);
		return PARTMOB_MIG_S_COMPLETED;
	}
fail:
	atomic64_set(&m->round_start_ns, 0);
	if (partmob_mig_aborted(m))
		ret = partmob_mig_aborted(m);
	if (ret == -EPIPE || ret == -ECONNRESET)
		partmob_mig_fail(m, ret,
				 "the destination closed the connection (it failed or was aborted: see its log)");
	else if (ret == -ETIMEDOUT)
		partmob_mig_fail(m, ret,
				 "the destination stopped answering for %u ms",
				 m->timeout_ms);
	else if (ret == -EKEYEXPIRED)
		partmob_mig_fail(m, ret,
				 "the TLS key has carried as many records as it may (partmob does not rekey)");
	else if (ret == -EBADMSG)
		partmob_mig_fail(m, ret,
				 "a TLS record from the destination did not authenticate (changed or damaged in transit)");
	else
		partmob_mig_fail(m, ret, "migration failed: error %d", ret);
	if (frozen)
		partmob_region_thaw(tx->r, true);
	partmob_sock_send_frame(m->sock, PARTMOB_FRAME_ABORT, 0, 0, 0, -ret,
				MSG_DONTWAIT);
	kernel_sock_shutdown(m->sock, SHUT_RDWR);
	partmob_stream_shutdown(m);
	pr_info("%s: migration to %s failed, the region resumed: %s\n",
		tx->r->name, m->peer, m->errmsg);
	return PARTMOB_MIG_S_FAILED;
}

/**
 * partmob_send_thread() - the source's kernel thread
 * @arg: the migration, with a reference for the thread
 *
 * Ends the migration (partmob_mig_end()) and drops the thread's
 * references, the module's last.
 *
 * Return: never; the thread exits through module_put_and_kthread_exit().
 */
int partmob_send_thread(void *arg)
{
	struct partmob_mig *m = arg;
	u32 state = PARTMOB_MIG_S_FAILED;
	struct tx *tx;

	tx = kvzalloc(sizeof(*tx), GFP_KERNEL);
	if (!tx) {
		partmob_mig_fail(m, -ENOMEM, "no memory for the sender");
	} else {
		tx->m = m;
		tx->r = m->r;
		tx->mapping = m->r->backing->f_mapping;
		state = run(tx);
		/* Left by a failed round: the region runs on here. */
		drop_batch(tx, true);
		kvfree(tx);
	}
	partmob_mig_end(m, state);
	partmob_mig_put(m);
	module_put_and_kthread_exit(0);
}
