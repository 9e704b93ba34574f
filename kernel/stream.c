// SPDX-License-Identifier: GPL-2.0
/*
 * The extra connections of a migration (PARTMOB_A_MIG_STREAMS above 1).
 *
 * The first connection (m->sock) carries every control frame; the others
 * carry the pages of the rounds only (the uapi header, "The stream"). A
 * receiver copies every page it is sent, and one receiving thread on one
 * CPU is what bounds a bulk migration (Documentation/design.rst, "Where
 * the CPU goes"): several connections give the destination a thread each.
 *
 * Source: its one thread sends each batch of pages on the connection with
 * the most room in its send buffer (partmob_stream_pick()), so a slower
 * receiver gets less; it starts only once every connection is attached
 * (partmob_stream_wait_attached()).
 *
 * Destination: each extra connection gets a receiving thread of its own
 * (recv.c) from its attach on. The main thread answers a ROUND or END
 * only once every connection has delivered that round
 * (partmob_stream_barrier()); since the source starts a round only after
 * the last one's answer, a page of a later round never overtakes an
 * earlier copy of it on another connection. Before it ends the migration
 * the main thread closes the streams and waits for their threads
 * (partmob_stream_close()), so they may use the region and the migration
 * without references of their own on the region.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/net.h>
#include <linux/wait.h>
#include <net/sock.h>

#include "mig.h"

/**
 * partmob_stream_attach() - hand over one more connection of a migration
 * @m: the migration, referenced by the caller
 * @index: the connection's index, 1 to @m->nstreams - 1
 * @fd: the caller's socket descriptor (the module takes a reference)
 * @extack: for error messages
 *
 * Context: the caller's process (netlink, PARTMOB_CMD_MIG_ATTACH).
 * Return: 0, -ERANGE, -EEXIST, -EALREADY, the socket's errors as for
 * PARTMOB_CMD_MIG_START, or a destination's failure to start receiving
 * on it (which fails the migration).
 */
int partmob_stream_attach(struct partmob_mig *m, u32 index, int fd,
			  struct netlink_ext_ack *extack)
{
	bool dest = m->role == PARTMOB_MIG_DEST;
	struct socket *sock;
	int ret;

	if (!index || index >= m->nstreams) {
		NL_SET_ERR_MSG_MOD(extack,
				   "the migration has no connection of that index");
		return -ERANGE;
	}
	sock = partmob_sock_lookup(fd, extack);
	if (IS_ERR(sock))
		return PTR_ERR(sock);
	partmob_sock_setup(sock, m->timeout_ms);

	spin_lock(&m->lock);
	if (m->streams_closed || m->finished || m->abort_err ||
	    m->state >= PARTMOB_MIG_S_PREPARING) {
		ret = -EALREADY;
		NL_SET_ERR_MSG_MOD(extack,
				   "the migration has ended or is past its rounds");
	} else if (m->streams[index].sock) {
		ret = -EEXIST;
		NL_SET_ERR_MSG_MOD(extack,
				   "that connection of the migration is attached already");
	} else {
		m->streams[index].sock = sock;
		if (dest)
			atomic_inc(&m->stream_threads);
	}
	spin_unlock(&m->lock);
	if (ret)
		goto err_sock;
	wake_up_all(&m->wq);
	if (!dest)
		return 0;
	ret = partmob_recv_stream_start(m, index, sock);
	if (ret) {
		partmob_mig_abort(m, ret,
				  "cannot start receiving on a connection");
		if (atomic_dec_and_test(&m->stream_threads))
			wake_up_all(&m->wq);
		NL_SET_ERR_MSG_MOD(extack,
				   "cannot start receiving on the connection");
	}
	return ret;

err_sock:
	sockfd_put(sock);
	return ret;
}

static bool all_attached(struct partmob_mig *m)
{
	bool all = true;
	u32 k;

	spin_lock(&m->lock);
	for (k = 1; k < m->nstreams; k++)
		all &= !!m->streams[k].sock;
	spin_unlock(&m->lock);
	return all;
}

/**
 * partmob_stream_wait_attached() - source: wait for every connection
 * @m: the migration
 *
 * Context: the sending thread, before its first frame.
 * Return: 0, the abort's error, or -ETIMEDOUT (the migration failed) if
 * a connection is missing after the link timeout.
 */
int partmob_stream_wait_attached(struct partmob_mig *m)
{
	long left;

	if (m->nstreams == 1)
		return 0;
	left = wait_event_idle_timeout(m->wq, all_attached(m) ||
				       partmob_mig_aborted(m),
				       msecs_to_jiffies(m->timeout_ms));
	if (partmob_mig_aborted(m))
		return partmob_mig_aborted(m);
	if (!left && !all_attached(m)) {
		partmob_mig_fail(m, -ETIMEDOUT,
				 "not all %u connections were handed over within %u ms",
				 m->nstreams, m->timeout_ms);
		return -ETIMEDOUT;
	}
	return 0;
}

/**
 * partmob_stream_sock() - a connection of a migration
 * @m: the migration
 * @k: its index, 0 (the first) to @m->nstreams - 1
 *
 * Context: its sending or receiving thread, while the migration runs
 * (the socket stays referenced until the migration ends).
 * Return: the socket.
 */
struct socket *partmob_stream_sock(struct partmob_mig *m, unsigned int k)
{
	return k ? READ_ONCE(m->streams[k].sock) : m->sock;
}

/**
 * partmob_stream_pick() - source: the connection for the next batch
 * @m: the migration, all its connections attached
 *
 * The one with the most room in its send buffer: a receiver that falls
 * behind gets less. A hint read without the socket lock.
 *
 * Return: its index.
 */
unsigned int partmob_stream_pick(struct partmob_mig *m)
{
	unsigned int k, best = 0;
	int room, most = INT_MIN;

	for (k = 0; k < m->nstreams; k++) {
		struct sock *sk = partmob_stream_sock(m, k)->sk;

		room = READ_ONCE(sk->sk_sndbuf) - READ_ONCE(sk->sk_wmem_queued);
		if (room > most) {
			most = room;
			best = k;
		}
	}
	return best;
}

/* Every extra connection has delivered @round (@end: ended). */
static bool delivered(struct partmob_mig *m, u32 round, bool end, u64 *got)
{
	bool all = true;
	u32 k;

	*got = 0;
	for (k = 1; k < m->nstreams; k++) {
		struct partmob_stream *s = &m->streams[k];

		*got += atomic64_read(&s->received);
		if (end ? !READ_ONCE(s->ended) :
			  (u32)atomic_read(&s->round) < round)
			all = false;
	}
	return all;
}

/**
 * partmob_stream_barrier() - destination: wait for the other connections
 * @m: the migration
 * @round: the round the first connection just closed
 * @end: it was the last round (END)
 *
 * Waits as long as pages keep arriving; a connection that never attached
 * or stopped delivering for the link timeout fails the migration.
 *
 * Context: the main receiving thread, at a ROUND or END frame.
 * Return: 0, the abort's error, or -ETIMEDOUT.
 */
int partmob_stream_barrier(struct partmob_mig *m, u32 round, bool end)
{
	u64 got, before;
	int ret;

	if (m->nstreams == 1)
		return 0;
	delivered(m, round, end, &before);
	for (;;) {
		wait_event_idle_timeout(m->wq,
					delivered(m, round, end, &got) ||
					partmob_mig_aborted(m),
					msecs_to_jiffies(m->timeout_ms));
		ret = partmob_mig_aborted(m);
		if (ret)
			return ret;
		if (delivered(m, round, end, &got))
			return 0;
		if (got == before)
			break;
		before = got;
	}
	partmob_mig_fail(m, -ETIMEDOUT,
			 "round %u: not every connection delivered it within %u ms (one never connected, or stalled)",
			 round, m->timeout_ms);
	return -ETIMEDOUT;
}

/*
 * The extra connections' sockets, taken under @m->lock into @socks: each
 * with a file reference of its own, or with @detach, cleared from @m
 * (whose references pass to the caller) and no more attaches taken.
 * Returns how many.
 */
static unsigned int collect_socks(struct partmob_mig *m,
				  struct socket **socks, bool detach)
{
	unsigned int k, n = 0;

	spin_lock(&m->lock);
	if (detach)
		m->streams_closed = true;
	for (k = 1; k < m->nstreams; k++) {
		struct socket *sock = m->streams[k].sock;

		if (!sock)
			continue;
		if (detach)
			m->streams[k].sock = NULL;
		else
			get_file(sock->file);
		socks[n++] = sock;
	}
	spin_unlock(&m->lock);
	return n;
}

/**
 * partmob_stream_shutdown() - shut the extra connections down
 * @m: the migration
 *
 * Ends any send or receive blocked on them; the sockets stay referenced.
 * Context: any, but not under @m->lock.
 */
void partmob_stream_shutdown(struct partmob_mig *m)
{
	struct socket *socks[PARTMOB_MIG_STREAMS_MAX];
	unsigned int k, n = collect_socks(m, socks, false);

	for (k = 0; k < n; k++) {
		kernel_sock_shutdown(socks[k], SHUT_RDWR);
		sockfd_put(socks[k]);
	}
}

/**
 * partmob_stream_close() - no more attaches; the stream threads are gone
 * @m: the migration
 * @failed: shut the connections down first (the migration failed);
 *	otherwise the threads have returned after their END, or do on their
 *	connection's end
 *
 * Context: the main thread (sending or receiving), before it ends the
 * migration.
 */
void partmob_stream_close(struct partmob_mig *m, bool failed)
{
	spin_lock(&m->lock);
	m->streams_closed = true;
	spin_unlock(&m->lock);
	if (failed)
		partmob_stream_shutdown(m);
	wait_event(m->wq, !atomic_read(&m->stream_threads));
}

/**
 * partmob_stream_release() - drop the extra connections
 * @m: the migration, ending
 * @failed: reset them (no linger), as the first one
 *
 * Context: partmob_mig_end(), not under @m->lock.
 */
void partmob_stream_release(struct partmob_mig *m, bool failed)
{
	struct socket *socks[PARTMOB_MIG_STREAMS_MAX];
	unsigned int k, n = collect_socks(m, socks, true);

	for (k = 0; k < n; k++) {
		if (failed)
			sock_no_linger(socks[k]->sk);
		sockfd_put(socks[k]);
	}
}
