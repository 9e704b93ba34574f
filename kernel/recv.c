// SPDX-License-Identifier: GPL-2.0
/*
 * The destination of a migration: a kernel thread that receives frames
 * into a region the module created for it, frozen.
 *
 * The peer may be hostile. Every frame is checked field by field by
 * frame.c before anything is done: its type against the phase, flags
 * zero, offsets and counts inside the region, a PAGES or SCATTER count at
 * most PARTMOB_FRAME_PAGES_MAX, a SCATTER list strictly ascending inside
 * the region. Payload is received straight into the
 * region's page-cache pages, got from the page cache's write_begin (a new
 * shmem page is not zeroed first: the payload fills it whole) and locked
 * while the socket is read (recv_pages()). Nothing is allocated on the
 * peer's say-so beyond the region's own pages.
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
#include <linux/slab.h>

#include "frame.h"
#include "mig.h"

/**
 * struct rx - the receiver's scratch state, owned by its thread
 * @m: the migration
 * @r: its region
 * @sock: the connection it reads (stream 0: @m->sock; another: a
 *	reference of the thread's own)
 * @stream: its index, 0 for the first connection (stream.c)
 * @st: the frame parser's state of the stream (frame.c)
 * @list: the list of the SCATTER frame being received, as received
 * @offs: the offsets of the pages of the frame being received, ascending
 * @pages: pages of the PAGES or SCATTER frame being received, locked
 *	(write_begin)
 * @fsdata: write_begin's cookie of each of them, for write_end
 * @round_start: when the current round started
 * @round_bytes: payload bytes of the current round
 * @hash: the region's hash, if END asked for it (--verify)
 * @why: why the frame parser refused a frame
 */
struct rx {
	struct partmob_mig *m;
	struct partmob_region *r;
	struct socket *sock;
	u32 stream;
	struct partmob_rx_state st;
	__be32 list[PARTMOB_FRAME_PAGES_MAX];
	u64 offs[PARTMOB_FRAME_PAGES_MAX];
	struct page *pages[PARTMOB_FRAME_PAGES_MAX];
	void *fsdata[PARTMOB_FRAME_PAGES_MAX];
	u64 round_start;
	u64 round_bytes;
	u64 hash;
	char why[PARTMOB_MIG_ERROR_MAX + 1];
};

/* Fail @m on a receive error @ret, in words for the errors of kTLS. */
static void recv_failed(struct rx *rx, int ret, const char *what)
{
	struct partmob_mig *m = rx->m;
	char where[64];

	/* Which connection, when there are several (stream.c). */
	if (rx->stream)
		snprintf(where, sizeof(where), "%s on connection %u", what,
			 rx->stream + 1);
	else
		strscpy(where, what, sizeof(where));
	if (ret == -EBADMSG)
		partmob_mig_fail(m, ret,
				 "%s: a TLS record from the source did not authenticate (changed or damaged in transit)",
				 where);
	else if (ret == -EKEYEXPIRED)
		partmob_mig_fail(m, ret,
				 "%s: the TLS key has carried as many records as it may (partmob does not rekey)",
				 where);
	else
		partmob_mig_fail(m, ret, "the connection failed %s (%d)",
				 where, ret);
}

static int send_frame(struct rx *rx, u16 type, u64 arg)
{
	return partmob_sock_send_frame(rx->sock, type, 0, 0, 0, arg, 0);
}

/*
 * Receive the next frame and have frame.c check it against the stream so
 * far: 0 with @f filled, or a negative errno with the migration failed.
 */
static int recv_frame(struct rx *rx, struct partmob_rx_frame *f)
{
	struct partmob_mig *m = rx->m;
	struct partmob_frame w;
	int ret;

	ret = partmob_sock_recv(rx->sock, &w, sizeof(w));
	if (ret) {
		if (ret == -ETIMEDOUT && rx->stream)
			partmob_mig_fail(m, ret,
					 "the source sent nothing on connection %u for %u ms",
					 rx->stream + 1, m->timeout_ms);
		else if (ret == -ETIMEDOUT)
			partmob_mig_fail(m, ret,
					 "the source sent nothing for %u ms",
					 m->timeout_ms);
		else
			recv_failed(rx, ret, "between frames");
		return ret;
	}
	ret = partmob_frame_check(&rx->st, &w, f, rx->why, sizeof(rx->why));
	if (ret && rx->stream)
		partmob_mig_fail(m, ret, "connection %u: %s", rx->stream + 1,
				 rx->why);
	else if (ret)
		partmob_mig_fail(m, ret, "%s", rx->why);
	return ret;
}

/*
 * A PAGES or SCATTER frame that frame.c accepted: its payload, into the
 * region, for the @n pages of rx->offs (ascending, so the pages are
 * locked in the page cache's order).
 *
 * The pages come from the page cache's write_begin, as for a write(2) of
 * whole pages: shmem does not zero a page it allocates for that (under
 * the profile of a bulk migration, zeroing was the receiver's largest
 * cost). They stay locked while the socket is read: a stalled peer
 * holds them at most the link timeout (the socket's receive timeout,
 * sock.c). Nothing else normally touches them: the destination region is
 * frozen until the commit; a reader's fault or a delete waits for the
 * frame. write_end marks them uptodate and dirty, and zeroes a new page
 * that a failed receive left unfilled (the migration fails then; nothing
 * stale can be read).
 *
 * The inode's i_rwsem is not taken, unlike write(2): what it guards for
 * shmem's write_begin and write_end, the seals and the size, cannot
 * change here, since the size is sealed and the file is the module's.
 * The threads of several connections (stream.c) so receive into one
 * region at once without waiting for (or spinning on) each other's page
 * allocations. Each takes its frame's page locks in ascending order, so
 * a hostile peer sending one page on two connections can stall a
 * receiver until the link timeout, not deadlock two of them.
 */
static int recv_pages(struct rx *rx, u32 n)
{
	struct partmob_mig *m = rx->m;
	struct file *file = rx->r->backing;
	u32 i, got = 0;
	int ret = 0;

	for (; got < n; got++) {
		ret = partmob_write_begin(file, rx->offs[got], &rx->pages[got],
					  &rx->fsdata[got]);
		if (ret)
			break;
	}
	if (ret) {
		partmob_mig_fail(m, ret,
				 "no memory for page %llu of the region (%d)",
				 rx->offs[got], ret);
		goto out;
	}
	ret = partmob_sock_recv_pages(rx->sock, rx->pages, n);
	if (ret) {
		recv_failed(rx, ret, "inside a PAGES or SCATTER frame");
		goto out;
	}
	rx->round_bytes += (u64)n << PAGE_SHIFT;
	if (rx->stream)
		atomic64_add(n, &m->streams[rx->stream].received);
	atomic64_add(n, &m->pages_normal);
	atomic64_add((u64)n << PAGE_SHIFT, &m->transferred);
out:
	for (i = 0; i < got; i++)
		partmob_write_end(file, rx->offs[i], rx->pages[i],
				  ret ? 0 : PAGE_SIZE, rx->fsdata[i]);
	return ret;
}

/* A PAGES frame that frame.c accepted. */
static int recv_run(struct rx *rx, const struct partmob_rx_frame *f)
{
	u32 i;

	for (i = 0; i < f->count; i++)
		rx->offs[i] = f->offset + i;
	return recv_pages(rx, f->count);
}

/* A SCATTER frame that frame.c accepted: its list, then its pages. */
static int recv_scatter(struct rx *rx, const struct partmob_rx_frame *f)
{
	struct partmob_mig *m = rx->m;
	int ret;

	ret = partmob_sock_recv(rx->sock, rx->list,
				f->count * sizeof(rx->list[0]));
	if (ret) {
		recv_failed(rx, ret, "inside a SCATTER frame's list");
		return ret;
	}
	ret = partmob_frame_check_list(&rx->st, f, rx->list, rx->offs,
				       rx->why, sizeof(rx->why));
	if (ret) {
		partmob_mig_fail(m, ret, "%s", rx->why);
		return ret;
	}
	return recv_pages(rx, f->count);
}

/* A ZERO frame that frame.c accepted. */
static int recv_zero(struct rx *rx, const struct partmob_rx_frame *f)
{
	int ret;

	ret = partmob_backing_punch(rx->r, f->offset, f->count);
	if (ret)
		partmob_mig_fail(rx->m, ret, "cannot clear pages (%d)", ret);
	else
		atomic64_add(f->count, &rx->m->pages_zero);
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

/*
 * Another connection closed a round (@end: its last): its pages are all
 * in the region; the main thread's barrier may pass.
 */
static void stream_done(struct rx *rx, u64 round, bool end)
{
	struct partmob_stream *s = &rx->m->streams[rx->stream];

	if (end)
		WRITE_ONCE(s->ended, true);
	else
		atomic_set(&s->round, (u32)round);
	wake_up_all(&rx->m->wq);
}

static int recv_hello(struct rx *rx)
{
	struct partmob_mig *m = rx->m;
	struct partmob_rx_frame f;
	int ret;

	ret = recv_frame(rx, &f);
	if (ret)
		return ret;
	if (rx->stream)
		return 0;
	atomic64_set(&m->setup_ns, ktime_get_ns() - m->start_ns);
	rx->round_start = ktime_get_ns();
	partmob_mig_set_state(m, PARTMOB_MIG_S_ROUND);
	return 0;
}

/* Rounds until END. */
static int recv_rounds(struct rx *rx)
{
	struct partmob_mig *m = rx->m;
	struct partmob_rx_frame f;
	int ret;

	for (;;) {
		ret = recv_frame(rx, &f);
		if (ret)
			return ret;
		switch (f.type) {
		case PARTMOB_FRAME_PAGES:
			ret = recv_run(rx, &f);
			break;
		case PARTMOB_FRAME_SCATTER:
			ret = recv_scatter(rx, &f);
			break;
		case PARTMOB_FRAME_ZERO:
			ret = recv_zero(rx, &f);
			break;
		case PARTMOB_FRAME_ROUND:
			if (rx->stream) {
				stream_done(rx, f.arg, false);
				break;
			}
			ret = partmob_stream_barrier(m, f.arg, false);
			if (ret)
				return ret;
			round_done(rx);
			/*
			 * Every page of the round is in the region: tell the
			 * source. If the link is gone, the next receive says
			 * so, in the same way as without this frame.
			 */
			send_frame(rx, PARTMOB_FRAME_ROUND_DONE, f.arg);
			break;
		case PARTMOB_FRAME_END:
			if (rx->stream) {
				stream_done(rx, f.arg, true);
				return 0;
			}
			ret = partmob_stream_barrier(m, rx->st.round, true);
			if (ret)
				return ret;
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
		default:
			/* ABORT: frame.c accepts nothing else here. */
			partmob_mig_fail(m, -ECONNABORTED,
					 "the source aborted (error %lld)",
					 -(s64)f.arg);
			return -ECONNABORTED;
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
	struct partmob_rx_frame f;
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
	if (f.type == PARTMOB_FRAME_COMMIT)
		return 1;
	/* frame.c accepts nothing else but ABORT here. */
	partmob_mig_fail(m, -ECONNABORTED,
			 "the source aborted after prepared (error %lld)",
			 -(s64)f.arg);
	return 0;
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
	/* Every connection delivered END: their threads return. */
	partmob_stream_close(m, false);
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
	partmob_stream_close(m, true);
	pr_info("%s: incoming migration from %s failed: %s\n", r->name,
		m->peer, m->errmsg);
	partmob_mig_end(m, PARTMOB_MIG_S_FAILED);
}

/*
 * Another connection's thread (stream.c): HELLO, then the pages of every
 * round until its END. A failure fails the whole migration; the main
 * thread ends it once this thread has returned.
 */
static int recv_stream_thread(void *arg)
{
	struct rx *rx = arg;
	struct partmob_mig *m = rx->m;
	struct mem_cgroup *old;
	int ret;

	old = set_active_memcg(m->memcg);
	ret = recv_hello(rx);
	if (!ret)
		ret = recv_rounds(rx);
	set_active_memcg(old);
	if (ret) {
		partmob_mig_abort(m, ret, "a connection failed");
		pr_info("%s: connection %u from %s failed: %s\n", rx->r->name,
			rx->stream, m->peer, m->errmsg);
	}
	sockfd_put(rx->sock);
	kfree(rx);
	if (atomic_dec_and_test(&m->stream_threads))
		wake_up_all(&m->wq);
	partmob_mig_put(m);
	module_put_and_kthread_exit(0);
}

/**
 * partmob_recv_stream_start() - receive on another connection
 * @m: the migration, a destination that has not ended (its main thread
 *	waits for @m->stream_threads, counted by the caller, to drop)
 * @index: the connection's index
 * @sock: its socket, referenced by @m; the thread takes its own reference
 *
 * Return: 0, or a negative error (no thread runs).
 */
int partmob_recv_stream_start(struct partmob_mig *m, u32 index,
			      struct socket *sock)
{
	struct task_struct *task;
	struct rx *rx;

	rx = kzalloc(sizeof(*rx), GFP_KERNEL);
	if (!rx)
		return -ENOMEM;
	rx->m = m;
	rx->r = m->r;
	rx->sock = sock;
	rx->stream = index;
	partmob_frame_init(&rx->st, m->r->npages, PAGE_SIZE, m->id);
	get_file(sock->file);
	kref_get(&m->ref);
	__module_get(THIS_MODULE);
	task = kthread_run(recv_stream_thread, rx, "partmob-rx%u/%s", index,
			   m->name);
	if (IS_ERR(task)) {
		module_put(THIS_MODULE);
		partmob_mig_put(m);
		sockfd_put(sock);
		kfree(rx);
		return PTR_ERR(task);
	}
	return 0;
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
		kernel_sock_shutdown(m->sock, SHUT_RDWR);
		partmob_stream_close(m, true);
		partmob_mig_end(m, PARTMOB_MIG_S_FAILED);
	} else {
		struct mem_cgroup *old;

		rx->m = m;
		rx->r = m->r;
		rx->sock = m->sock;
		partmob_frame_init(&rx->st, m->r->npages, PAGE_SIZE, m->id);
		/* A kernel thread would charge the root cgroup otherwise. */
		old = set_active_memcg(m->memcg);
		run(rx);
		set_active_memcg(old);
		kfree(rx);
	}
	partmob_mig_put(m);
	module_put_and_kthread_exit(0);
}
