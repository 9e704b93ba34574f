/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A migration of one region: shared by mig.c (objects, state, control
 * file), send.c (the source's kernel thread) and recv.c (the
 * destination's).
 */

#ifndef _PARTMOB_MIG_H
#define _PARTMOB_MIG_H

#include <linux/atomic.h>
#include <linux/kref.h>
#include <linux/memcontrol.h>
#include <linux/net.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <net/netlink.h>

#include "partmob.h"

/**
 * struct partmob_stream - one more connection of a migration (stream.c)
 * @sock: from sockfd_lookup(), set once by partmob_stream_attach() under
 *	the migration's @lock; released (and cleared under @lock) by
 *	partmob_stream_release() when the migration ends. A destination's
 *	receiving thread holds a reference of its own on the file.
 * @round: destination: rounds whose pages all arrived on it (its ROUND
 *	and END frames); written by its thread, read by the barrier
 * @received: destination: its pages so far, for the barrier's patience
 * @ended: destination: its END arrived
 * @sent: source: pages sent on it, its END frame's count (the sending
 *	thread's own; kept for the first connection too, in @streams[0])
 */
struct partmob_stream {
	struct socket *sock;
	atomic_t round;
	atomic64_t received;
	bool ended;
	u64 sent;
};

/**
 * struct partmob_mig - one migration, in or out
 * @ref: lifetime. Held by the region (@r->mig, until the region is freed),
 *	by the kernel thread until it returns, and by the control file.
 * @r: the region. While the migration is live (not in a final state) it
 *	holds a reference and a user count of the region, so the region can
 *	be neither deleted nor unloaded; partmob_mig_finish() drops them.
 * @sock: the socket, from sockfd_lookup(). Used by the thread; released
 *	by partmob_mig_end() (cleared under @lock), or when @ref drops.
 * @net: where events go: the namespace of the caller of MIG_START, with a
 *	reference dropped when @ref drops.
 * @memcg: destination: the memory cgroup of the caller of MIG_START
 *	(the listener), charged for the pages received; referenced.
 * @role: enum partmob_mig_role.
 * @flags: enum partmob_mig_flags.
 * @name: the region's name, @size its size, kept for status after the
 *	region is gone.
 * @lock: protects @state, @round, @action, @abort_err, @decided,
 *	@finished, @settling, @events, @err, @errmsg and the clearing of
 *	@sock. A spinlock: it is taken from netlink, the control file and
 *	the thread, never across a sleep.
 * @state: enum partmob_mig_state.
 * @action: a pending enum partmob_mig_action for a WAITING source.
 * @abort_err: set (negative errno) when the migration must fail: ABORT,
 *	the control file closed before the decision. The thread sees it at
 *	its next step; the socket is shut down so no wait outlives it.
 * @decided: source: the receipt of prepared was taken as the decision;
 *	destination: the decision arrived. After it nothing aborts.
 * @finished: the migration reached a final state and dropped its region
 *	user; set once, by partmob_mig_end().
 * @settling: an operator's RESUME or DISCARD of a destination in doubt is
 *	under way; a second one is refused.
 * @events: changes not yet read from the control file.
 * @wq: the thread waits here for @action or @abort_err; control files
 *	poll here. Stream threads and attaches wake it too.
 * @nstreams: connections, 1 to PARTMOB_MIG_STREAMS_MAX; fixed at start.
 * @streams: the extra ones, index 1 to @nstreams - 1; of @streams[0]
 *	(whose socket is @sock) only @sent is used.
 * @streams_closed: set under @lock before the main thread ends the
 *	migration; no attach is taken after it.
 * @stream_threads: destination: stream receiving threads not yet
 *	returned; the main thread waits for 0 before it ends the migration,
 *	so they may use @r without a reference of their own.
 *
 * Counters are atomics written by the thread and read by netlink at any
 * time; times are ktime_get_ns() values. @round_start_ns is the start of
 * the round being sent (0 between rounds); @pass_left the pages round 1
 * has still to send, estimated from the page cache when it starts. Where
 * a source's time goes, all rounds: @harvest_ns in harvests of the dirty
 * log (their re-arm included), @sock_ns in sends of page batches (waiting
 * for room in a full socket included), @wait_ns waiting for the
 * destination's answers (ROUND_DONE, PREPARED, RESUMED).
 */
struct partmob_mig {
	struct kref ref;
	struct partmob_region *r;
	struct socket *sock;
	struct net *net;
	struct mem_cgroup *memcg;
	u32 role;
	u64 id;
	char name[PARTMOB_REGION_NAME_MAX + 1];
	u64 size;
	char peer[PARTMOB_MIG_PEER_MAX + 1];
	char peer_boot_id[PARTMOB_BOOT_ID_MAX + 1];
	u64 max_bandwidth;
	u32 timeout_ms;
	u32 flags;

	spinlock_t lock;	/* see @lock above */
	u32 state;
	u32 round;
	u32 action;
	int abort_err;
	bool decided;
	bool finished;
	bool settling;
	u64 events;
	int err;
	char errmsg[PARTMOB_MIG_ERROR_MAX + 1];
	wait_queue_head_t wq;
	u32 nstreams;
	struct partmob_stream streams[PARTMOB_MIG_STREAMS_MAX];
	bool streams_closed;
	atomic_t stream_threads;

	atomic64_t transferred;
	atomic64_t pages_normal;
	atomic64_t pages_zero;
	atomic64_t round_bytes;
	atomic64_t round_ns;
	atomic64_t round_dirtied;
	atomic64_t send_ns;
	atomic64_t round_start_ns;
	atomic64_t pass_left;
	u64 start_ns;
	atomic64_t setup_ns;
	atomic64_t end_ns;
	atomic64_t freeze_ns;
	atomic64_t downtime_ns;
	atomic64_t verify_ns;
	atomic64_t harvest_ns;
	atomic64_t sock_ns;
	atomic64_t wait_ns;
};

void partmob_mig_set_state(struct partmob_mig *m, u32 state);
void partmob_mig_notify(struct partmob_mig *m);
void partmob_mig_fail(struct partmob_mig *m, int err, const char *fmt, ...)
	__printf(3, 4);
int partmob_mig_aborted(struct partmob_mig *m);
void partmob_mig_end(struct partmob_mig *m, u32 state);
bool partmob_mig_decide(struct partmob_mig *m);
int partmob_mig_abort(struct partmob_mig *m, int err, const char *why);

int partmob_stream_attach(struct partmob_mig *m, u32 index, int fd,
			  struct netlink_ext_ack *extack);
int partmob_stream_wait_attached(struct partmob_mig *m);
unsigned int partmob_stream_pick(struct partmob_mig *m);
struct socket *partmob_stream_sock(struct partmob_mig *m, unsigned int k);
int partmob_stream_barrier(struct partmob_mig *m, u32 round, bool end);
void partmob_stream_shutdown(struct partmob_mig *m);
void partmob_stream_close(struct partmob_mig *m, bool failed);
void partmob_stream_release(struct partmob_mig *m, bool failed);
int partmob_recv_stream_start(struct partmob_mig *m, u32 index,
			      struct socket *sock);

#endif /* _PARTMOB_MIG_H */
