// SPDX-License-Identifier: GPL-2.0
/*
 * The destination of a migration: a kernel thread that receives frames
 * into a region the module created for it, frozen.
 *
 * The peer may be hostile. Every frame is checked field by field before
 * anything is done: its type against the phase, flags zero, offsets and
 * counts inside the region, a PAGES count at most PARTMOB_FRAME_PAGES_MAX.
 * Payload is received straight into the region's page-cache pages, which
 * are referenced but not locked while the socket is read. Nothing is
 * allocated on the peer's say-so beyond the region's own pages.
 *
 * After END the destination sends PREPARED and waits for the decision:
 * COMMIT thaws the region and completes; ABORT fails (the region is
 * deleted); silence, a broken link or garbage leaves it in doubt, frozen,
 * until an operator settles it (mig.c).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/net.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>

#include "mig.h"

/**
 * struct rx - the receiver's scratch state, owned by its thread
 * @m: the migration
 * @r: its region
 * @mapping: the region's page cache
 * @pages: pages of the PAGES frame being received, referenced
 * @received: PAGES payload pages received (checked against END)
 * @round_start: when the current round started
 * @round_bytes: payload bytes of the current round
 * @hash: the region's hash, if END asked for it (--verify)
 */
struct rx {
	struct partmob_mig *m;
	struct partmob_region *r;
	struct address_space *mapping;
	struct page *pages[PARTMOB_FRAME_PAGES_MAX];
	u64 received;
	u64 round_start;
	u64 round_bytes;
	u64 hash;
};

static const char *frame_name(u16 type)
{
	static const char * const names[] = {
		[PARTMOB_FRAME_HELLO] = "HELLO",
		[PARTMOB_FRAME_PAGES] = "PAGES",
		[PARTMOB_FRAME_ZERO] = "ZERO",
		[PARTMOB_FRAME_ROUND] = "ROUND",
		[PARTMOB_FRAME_END] = "END",
		[PARTMOB_FRAME_PREPARED] = "PREPARED",
		[PARTMOB_FRAME_COMMIT] = "COMMIT",
		[PARTMOB_FRAME_RESUMED] = "RESUMED",
		[PARTMOB_FRAME_ABORT] = "ABORT",
	};

	if (type < ARRAY_SIZE(names) && names[type])
		return names[type];
	return "unknown";
}

static int send_frame(struct rx *rx, u16 type, u64 arg)
{
	return partmob_sock_send_frame(rx->m->sock, type, 0, 0, 0, arg, 0);
}

static int recv_frame(struct rx *rx, struct partmob_frame *f)
{
	struct partmob_mig *m = rx->m;
	int ret;

	ret = partmob_sock_recv(m->sock, f, sizeof(*f));
	if (ret)
		partmob_mig_fail(m, ret,
				 ret == -ETIMEDOUT ?
				 "the source sent nothing for %u ms" :
				 "the connection to the source failed (%d)",
				 ret == -ETIMEDOUT ? m->timeout_ms : ret);
	else if (f->flags &&
		 !(f->type == cpu_to_be16(PARTMOB_FRAME_END) &&
		   f->flags == cpu_to_be16(PARTMOB_FRAME_F_VERIFY))) {
		partmob_mig_fail(m, -EPROTO, "frame type %u with flags %#x",
				 be16_to_cpu(f->type), be16_to_cpu(f->flags));
		ret = -EPROTO;
	}
	return ret;
}

/* Check that [offset, offset + count) lies inside the region. */
static int check_range(struct rx *rx, const struct partmob_frame *f,
		       u64 max_count)
{
	u64 offset = be64_to_cpu(f->offset);
	u32 count = be32_to_cpu(f->count);

	if (!count || count > max_count || offset >= rx->r->npages ||
	    count > rx->r->npages - offset) {
		partmob_mig_fail(rx->m, -EPROTO,
				 "%s frame out of range: %u pages at page %llu of %lu",
				 frame_name(be16_to_cpu(f->type)), count, offset,
				 rx->r->npages);
		return -EPROTO;
	}
	return 0;
}

static int recv_pages(struct rx *rx, const struct partmob_frame *f)
{
	struct partmob_mig *m = rx->m;
	pgoff_t first = be64_to_cpu(f->offset);
	u32 n = be32_to_cpu(f->count), i, got = 0;
	struct page *page;
	int ret;

	ret = check_range(rx, f, PARTMOB_FRAME_PAGES_MAX);
	if (ret)
		return ret;
	for (; got < n; got++) {
		page = shmem_read_mapping_page_gfp(rx->mapping, first + got,
						   mapping_gfp_mask(rx->mapping));
		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
			partmob_mig_fail(m, ret,
					 "no memory for page %lu of the region (%d)",
					 first + got, ret);
			goto out;
		}
		rx->pages[got] = page;
	}
	ret = partmob_sock_recv_pages(m->sock, rx->pages, n);
	if (ret) {
		partmob_mig_fail(m, ret,
				 "the connection failed inside a PAGES frame (%d)",
				 ret);
		goto out;
	}
	for (i = 0; i < n; i++)
		set_page_dirty(rx->pages[i]);
	rx->received += n;
	rx->round_bytes += (u64)n << PAGE_SHIFT;
	atomic64_add(n, &m->pages_normal);
	atomic64_add((u64)n << PAGE_SHIFT, &m->transferred);
out:
	for (i = 0; i < got; i++)
		put_page(rx->pages[i]);
	return ret;
}

static int recv_zero(struct rx *rx, const struct partmob_frame *f)
{
	int ret = check_range(rx, f, rx->r->npages);

	if (ret)
		return ret;
	ret = partmob_backing_punch(rx->r, be64_to_cpu(f->offset),
				    be32_to_cpu(f->count));
	if (ret)
		partmob_mig_fail(rx->m, ret, "cannot clear pages (%d)", ret);
	else
		atomic64_add(be32_to_cpu(f->count), &rx->m->pages_zero);
	return ret;
}

static void round_done(struct rx *rx)
{
	struct partmob_mig *m = rx->m;
	u64 now = ktime_get_ns();

	atomic64_set(&m->round_bytes, rx->round_bytes);
	atomic64_set(&m->round_ns, now - rx->round_start);
	atomic64_add(now - rx->round_start, &m->send_ns);
	spin_lock(&m->lock);
	m->round++;
	spin_unlock(&m->lock);
	partmob_mig_notify(m);
	rx->round_start = now;
	rx->round_bytes = 0;
}

static int bad_frame(struct rx *rx, const struct partmob_frame *f,
		     const char *phase)
{
	partmob_mig_fail(rx->m, -EPROTO, "unexpected %s frame (type %u) %s",
			 frame_name(be16_to_cpu(f->type)), be16_to_cpu(f->type),
			 phase);
	return -EPROTO;
}

static int recv_hello(struct rx *rx)
{
	struct partmob_mig *m = rx->m;
	struct partmob_frame f;
	int ret;

	ret = recv_frame(rx, &f);
	if (ret)
		return ret;
	if (be16_to_cpu(f.type) != PARTMOB_FRAME_HELLO)
		return bad_frame(rx, &f, "before HELLO");
	if (be32_to_cpu(f.count) != PAGE_SIZE ||
	    be64_to_cpu(f.arg) != rx->r->npages ||
	    (m->id && be64_to_cpu(f.offset) != m->id)) {
		partmob_mig_fail(m, -EPROTO,
				 "HELLO does not match the handshake (page size %u, %llu pages, id %llx)",
				 be32_to_cpu(f.count), be64_to_cpu(f.arg),
				 be64_to_cpu(f.offset));
		return -EPROTO;
	}
	atomic64_set(&m->setup_ns, ktime_get_ns() - m->start_ns);
	rx->round_start = ktime_get_ns();
	partmob_mig_set_state(m, PARTMOB_MIG_S_ROUND);
	return 0;
}

/* Rounds until END. */
static int recv_rounds(struct rx *rx)
{
	struct partmob_mig *m = rx->m;
	struct partmob_frame f;
	int ret;

	for (;;) {
		ret = recv_frame(rx, &f);
		if (ret)
			return ret;
		switch (be16_to_cpu(f.type)) {
		case PARTMOB_FRAME_PAGES:
			ret = recv_pages(rx, &f);
			break;
		case PARTMOB_FRAME_ZERO:
			ret = recv_zero(rx, &f);
			break;
		case PARTMOB_FRAME_ROUND:
			if (be64_to_cpu(f.arg) != m->round + 1)
				return bad_frame(rx, &f, "out of sequence");
			round_done(rx);
			break;
		case PARTMOB_FRAME_END:
			if (be64_to_cpu(f.arg) != rx->received) {
				partmob_mig_fail(m, -EPROTO,
						 "END says %llu pages were sent, %llu arrived",
						 be64_to_cpu(f.arg),
						 rx->received);
				return -EPROTO;
			}
			round_done(rx);
			/* --verify: hash before prepared; it costs downtime. */
			if (f.flags) {
				ret = partmob_region_hash(rx->r, &rx->hash);
				if (ret)
					partmob_mig_fail(m, ret,
							 "cannot hash the region (%d)",
							 ret);
			}
			return ret;
		case PARTMOB_FRAME_ABORT:
			partmob_mig_fail(m, -ECONNABORTED,
					 "the source aborted (error %lld)",
					 -(s64)be64_to_cpu(f.arg));
			return -ECONNABORTED;
		default:
			return bad_frame(rx, &f, "during the rounds");
		}
		if (ret)
			return ret;
		ret = partmob_mig_aborted(m);
		if (ret)
			return ret;
	}
}

/*
 * Prepared: wait for the decision. Return 1 when committed, 0 when the
 * source aborted, or a negative error: in doubt.
 */
static int await_decision(struct rx *rx)
{
	struct partmob_mig *m = rx->m;
	struct partmob_frame f;
	int ret;

	partmob_mig_set_state(m, PARTMOB_MIG_S_PREPARED);
	ret = send_frame(rx, PARTMOB_FRAME_PREPARED, rx->hash);
	if (ret) {
		partmob_mig_fail(m, ret, "cannot send prepared (%d)", ret);
		return ret;
	}
	/*
	 * Held: every page is here, and the VMM, which keeps the guest
	 * paused until the decision, loads its device state, which may write
	 * guest RAM: let it.
	 */
	if (m->flags & PARTMOB_MIG_F_HOLD)
		partmob_region_thaw(rx->r, true);
	ret = recv_frame(rx, &f);
	if (ret)
		return ret;
	switch (be16_to_cpu(f.type)) {
	case PARTMOB_FRAME_COMMIT:
		return 1;
	case PARTMOB_FRAME_ABORT:
		partmob_mig_fail(m, -ECONNABORTED,
				 "the source aborted after prepared (error %lld)",
				 -(s64)be64_to_cpu(f.arg));
		return 0;
	default:
		return bad_frame(rx, &f, "while waiting for the decision");
	}
}

static void run(struct rx *rx)
{
	struct partmob_mig *m = rx->m;
	struct partmob_region *r = rx->r;
	u64 end_ns = 0;
	int ret;

	ret = recv_hello(rx);
	if (!ret)
		ret = recv_rounds(rx);
	if (ret)
		goto fail;
	end_ns = ktime_get_ns();
	ret = await_decision(rx);
	if (ret == 1) {
		spin_lock(&m->lock);
		m->decided = true;
		spin_unlock(&m->lock);
		partmob_region_thaw(r, true);
		atomic64_set(&m->downtime_ns, ktime_get_ns() - end_ns);
		/* The source measures downtime up to this frame. */
		send_frame(rx, PARTMOB_FRAME_RESUMED, 0);
		kernel_sock_shutdown(m->sock, SHUT_RDWR);
		pr_info("%s: migration from %s completed\n", r->name, m->peer);
		partmob_mig_end(m, PARTMOB_MIG_S_COMPLETED);
		return;
	}
	if (ret == 0)
		goto fail_quiet;
	/* Prepared, and the outcome is unknown: in doubt, frozen. */
	kernel_sock_shutdown(m->sock, SHUT_RDWR);
	partmob_mig_set_state(m, PARTMOB_MIG_S_IN_DOUBT);
	pr_warn("%s: prepared but the decision never came (%s); frozen until partmobctl recover\n",
		r->name, m->errmsg);
	return;

fail:
	if (partmob_mig_aborted(m))
		ret = partmob_mig_aborted(m);
	partmob_mig_fail(m, ret, "migration failed: error %d", ret);
	partmob_sock_send_frame(m->sock, PARTMOB_FRAME_ABORT, 0, 0, 0, -ret,
				MSG_DONTWAIT);
fail_quiet:
	kernel_sock_shutdown(m->sock, SHUT_RDWR);
	pr_info("%s: incoming migration from %s failed: %s\n", r->name,
		m->peer, m->errmsg);
	partmob_mig_end(m, PARTMOB_MIG_S_FAILED);
}

/**
 * partmob_recv_thread() - the destination's kernel thread
 * @arg: the migration, with a reference for the thread
 *
 * Return: never; the thread exits through module_put_and_kthread_exit().
 */
int partmob_recv_thread(void *arg)
{
	struct partmob_mig *m = arg;
	struct rx *rx;

	rx = kzalloc(sizeof(*rx), GFP_KERNEL);
	if (!rx) {
		partmob_mig_fail(m, -ENOMEM, "no memory for the receiver");
		partmob_mig_end(m, PARTMOB_MIG_S_FAILED);
	} else {
		struct mem_cgroup *old;

		rx->m = m;
		rx->r = m->r;
		rx->mapping = m->r->backing->f_mapping;
		/* A kernel thread would charge the root cgroup otherwise. */
		old = set_active_memcg(m->memcg);
		run(rx);
		set_active_memcg(old);
		kfree(rx);
	}
	partmob_mig_put(m);
	module_put_and_kthread_exit(0);
}
