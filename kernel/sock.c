// SPDX-License-Identifier: GPL-2.0
/*
 * The socket of a migration: checks, options, and blocking sends and
 * receives that either move every byte or fail.
 *
 * Pages go out zero-copy: the socket takes its own references on them and
 * reads them when it transmits (kernel_sendpage() before 6.5,
 * MSG_SPLICE_PAGES after; see compat.h). A page written after it was
 * queued is therefore sent with newer contents, which is harmless: the
 * write was logged, so the page goes again in a later round, and the last
 * round runs with the region frozen.
 *
 * A send or receive blocked on a dead peer ends after the socket's
 * timeouts (set here), or at once when the migration is aborted, which
 * shuts the socket down (mig.c); kthread_stop() would not wake it.
 *
 * On a kernel TLS socket (keyed by partmobctl after its TLS 1.3 handshake)
 * the same calls go through the tls ULP: pages are still not copied, the
 * ULP encrypts straight from them. The kernels partmob targets cannot
 * rekey a kTLS socket (a second TLS_TX/TLS_RX is refused: no KeyUpdate),
 * so one key must carry the whole migration; AES-GCM allows 2^24.5 full
 * records per key (RFC 8446, 5.5), and the page paths below stop before
 * a send or receive of pages could take either direction past
 * PARTMOB_TLS_RECORDS_MAX records (one call moves up to
 * PARTMOB_FRAME_PAGES_MAX pages: 64 records with 4 KiB pages, 256 with
 * 64 KiB ones).
 */

#include <linux/net.h>
#include <linux/sizes.h>
#include <linux/tcp.h>
#include <net/inet_connection_sock.h>
#include <net/netlink.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/tls.h>

#include "partmob.h"

/* Records per direction and key: below RFC 8446's 2^24.5 for AES-GCM. */
#define PARTMOB_TLS_RECORDS_MAX	BIT_ULL(24)

/**
 * partmob_sock_check() - accept only an established TCP socket
 * @sock: the socket handed over by userspace
 *
 * Kernel TLS is the only upper-layer protocol allowed: everything else
 * would see page frames it does not expect. And kTLS only with keys in
 * both directions: with one, frames would cross the other way in plain
 * text, unauthenticated, and a peer expecting TLS would take them for
 * records. The ULP and its keys are read under the socket lock, which
 * setsockopt(TCP_ULP) and setsockopt(SOL_TLS) take to change them; once
 * set, neither goes away while the socket lives.
 *
 * Return: 0, -EPROTONOSUPPORT, -ENOTCONN or -ENOKEY (kTLS lacks a key).
 */
int partmob_sock_check(struct socket *sock)
{
	const struct tcp_ulp_ops *ulp;
	struct tls_context *tls;
	struct sock *sk = sock->sk;
	int ret = 0;

	if (sock->type != SOCK_STREAM || !sk ||
	    sk->sk_protocol != IPPROTO_TCP ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6))
		return -EPROTONOSUPPORT;
	lock_sock(sk);
	ulp = inet_csk(sk)->icsk_ulp_ops;
	if (sk->sk_state != TCP_ESTABLISHED) {
		ret = -ENOTCONN;
	} else if (ulp && strcmp(ulp->name, "tls")) {
		ret = -EPROTONOSUPPORT;
	} else if (ulp) {
		tls = tls_get_ctx(sk);
		if (!tls || tls->tx_conf == TLS_BASE ||
		    tls->rx_conf == TLS_BASE)
			ret = -ENOKEY;
	}
	release_sock(sk);
	return ret;
}

/**
 * partmob_sock_lookup() - the socket of a descriptor, fit for a migration
 * @fd: the caller's descriptor
 * @extack: for error messages
 *
 * Context: the caller's process (netlink: MIG_START, MIG_ATTACH).
 * Return: the socket, referenced (sockfd_put()), checked by
 * partmob_sock_check(), or an ERR_PTR() of its error or sockfd_lookup()'s.
 */
struct socket *partmob_sock_lookup(int fd, struct netlink_ext_ack *extack)
{
	struct socket *sock;
	int ret;

	sock = sockfd_lookup(fd, &ret);
	if (!sock) {
		NL_SET_ERR_MSG_MOD(extack, "the file descriptor is not a socket");
		return ERR_PTR(ret);
	}
	ret = partmob_sock_check(sock);
	if (!ret)
		return sock;
	if (ret == -ENOKEY)
		NL_SET_ERR_MSG_MOD(extack,
				   "the socket's kernel TLS needs keys in both directions (TLS_TX and TLS_RX)");
	else
		NL_SET_ERR_MSG_MOD(extack,
				   "the socket is not an established TCP connection (plain or kernel TLS)");
	sockfd_put(sock);
	return ERR_PTR(ret);
}

/*
 * The send buffer of a kernel TLS socket, at least. Bulk data goes out
 * with MSG_MORE, which the tls ULP passes on to TCP with every record, so
 * TCP holds the records back (corks them) until it has a full GSO-sized
 * packet (up to 64 KiB), or a frame without MSG_MORE comes. But when the
 * send buffer is full, tls_sw waits for room (sk_stream_wait_memory())
 * without pushing what TCP holds, unlike TCP's own sendmsg: with nothing
 * in flight, no ACK ever frees room, and both ends wait until the
 * timeout. A new connection's send buffer (net.ipv4.tcp_wmem[1], then
 * grown on ACKs) is small enough for this to happen in its first 64 KiB;
 * a buffer of this size holds a full packet held back and the records
 * being built, with room to spare.
 */
#define PARTMOB_TLS_SNDBUF_MIN	SZ_1M

/*
 * The send buffer of a kTLS socket: the larger of its own, the TCP
 * autotuning maximum (net.ipv4.tcp_wmem[2]) and PARTMOB_TLS_SNDBUF_MIN,
 * and locked, as by SO_SNDBUF (autotuning would not go beyond the maximum
 * either). Called with the socket locked.
 */
static void tls_sndbuf(struct sock *sk)
{
	int want = max(READ_ONCE(sock_net(sk)->ipv4.sysctl_tcp_wmem[2]),
		       PARTMOB_TLS_SNDBUF_MIN);

	if (!inet_csk(sk)->icsk_ulp_ops)
		return;
	sk->sk_userlocks |= SOCK_SNDBUF_LOCK;
	if (READ_ONCE(sk->sk_sndbuf) < want)
		WRITE_ONCE(sk->sk_sndbuf, want);
	sk->sk_write_space(sk);
}

/**
 * partmob_sock_setup() - set the options of a migration socket
 * @sock: the socket
 * @timeout_ms: how long a peer may stay silent or stop taking data
 *
 * Sets the send and receive timeouts, TCP_USER_TIMEOUT (unacknowledged
 * data) and keepalive (a silent, dead peer), and TCP_NODELAY: bulk data is
 * corked with MSG_MORE, and the commit frames must not wait. On a kernel
 * TLS socket, also the send buffer (tls_sndbuf()).
 */
void partmob_sock_setup(struct socket *sock, u32 timeout_ms)
{
	struct sock *sk = sock->sk;
	long t = msecs_to_jiffies(timeout_ms);
	int secs = max_t(int, 1, timeout_ms / 3000);

	lock_sock(sk);
	sk->sk_rcvtimeo = t;
	sk->sk_sndtimeo = t;
	tls_sndbuf(sk);
	release_sock(sk);
	tcp_sock_set_user_timeout(sk, timeout_ms);
	tcp_sock_set_nodelay(sk);
	sock_set_keepalive(sk);
	tcp_sock_set_keepidle(sk, secs);
	tcp_sock_set_keepintvl(sk, secs);
	tcp_sock_set_keepcnt(sk, 3);
}

/*
 * Would @bytes more of this direction take the kTLS key past its last
 * record? At most one record per TLS_MAX_PAYLOAD_SIZE bytes, and one more
 * for the record a frame header may have opened. The record sequence
 * number lives in the tls_context and changes under the socket lock,
 * taken here; a plain socket stays plain (partmob_sock_check()).
 */
static int tls_spent(struct socket *sock, bool tx, size_t bytes)
{
	u64 need = DIV_ROUND_UP(bytes, TLS_MAX_PAYLOAD_SIZE) + 1;
	struct sock *sk = sock->sk;
	struct tls_context *tls;
	u64 seq = 0;

	if (!inet_csk(sk)->icsk_ulp_ops)
		return 0;
	lock_sock(sk);
	tls = tls_get_ctx(sk);
	if (tls && (tx ? tls->tx_conf : tls->rx_conf) != TLS_BASE)
		seq = get_unaligned_be64(tx ? tls->tx.rec_seq :
					 tls->rx.rec_seq);
	release_sock(sk);
	return seq + need > PARTMOB_TLS_RECORDS_MAX ? -EKEYEXPIRED : 0;
}

static int sock_errno(int ret)
{
	/* The socket's own timeout ends a blocking call with -EAGAIN. */
	return ret == -EAGAIN ? -ETIMEDOUT : ret;
}

/**
 * partmob_sock_send_frame() - send one frame of the page stream, whole
 * @sock: the socket
 * @type: enum partmob_frame_type
 * @flags: the frame's flags (zero but on END)
 * @count: the frame's count
 * @offset: the frame's offset
 * @arg: the frame's arg
 * @msg_flags: MSG_MORE (more follows at once: cork), MSG_DONTWAIT (one
 *	try, for an ABORT on a link that may be dead), or 0
 *
 * Return: 0 or a negative error.
 */
int partmob_sock_send_frame(struct socket *sock, u16 type, u16 flags,
			    u32 count, u64 offset, u64 arg, int msg_flags)
{
	struct partmob_frame f = {
		.type = cpu_to_be16(type),
		.flags = cpu_to_be16(flags),
		.count = cpu_to_be32(count),
		.offset = cpu_to_be64(offset),
		.arg = cpu_to_be64(arg),
	};

	return partmob_sock_send(sock, &f, sizeof(f), msg_flags);
}

/**
 * partmob_sock_send() - send bytes, all of them
 * @sock: the socket
 * @buf: the bytes, copied into the socket
 * @len: how many
 * @msg_flags: as for partmob_sock_send_frame()
 *
 * Return: 0 or a negative error.
 */
int partmob_sock_send(struct socket *sock, const void *buf, size_t len,
		      int msg_flags)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL | msg_flags };
	struct kvec vec;
	int ret;

	while (len) {
		vec.iov_base = (void *)buf;
		vec.iov_len = len;
		ret = kernel_sendmsg(sock, &msg, &vec, 1, len);
		if (ret <= 0)
			return ret ? sock_errno(ret) : -EPIPE;
		buf += ret;
		len -= ret;
	}
	return 0;
}

/**
 * partmob_sock_send_pages() - send whole pages without copying them
 * @sock: the socket
 * @pages: the pages; the socket takes its own references
 * @n: their number
 * @more: more follows at once (cork)
 *
 * Return: 0, -EKEYEXPIRED (the pages would take the kTLS key past its last
 * record), or a negative error.
 */
int partmob_sock_send_pages(struct socket *sock, struct page **pages,
			    unsigned int n, bool more)
{
	int ret = tls_spent(sock, true, (size_t)n << PAGE_SHIFT);

	return ret ?: sock_errno(partmob_sendpages(sock, pages, n, more));
}

/**
 * partmob_sock_recv() - receive exactly @len bytes
 * @sock: the socket
 * @buf: where to
 * @len: how many
 *
 * Return: 0, -ECONNRESET if the peer closed, or a negative error.
 */
int partmob_sock_recv(struct socket *sock, void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	struct kvec vec;
	int ret;

	while (len) {
		vec.iov_base = buf;
		vec.iov_len = len;
		ret = kernel_recvmsg(sock, &msg, &vec, 1, len,
				     MSG_WAITALL | MSG_NOSIGNAL);
		if (ret <= 0)
			return ret ? sock_errno(ret) : -ECONNRESET;
		buf += ret;
		len -= ret;
	}
	return 0;
}

/**
 * partmob_sock_recv_pages() - receive whole pages straight into them
 * @sock: the socket
 * @pages: the pages, referenced (the receiver holds them locked: recv.c
 *	says why that is safe); directly mapped (compat.h: no highmem)
 * @n: their number, at most PARTMOB_FRAME_PAGES_MAX
 *
 * Return: 0, -ECONNRESET if the peer closed, -EKEYEXPIRED (the pages would
 * take the kTLS key past its last record), -EBADMSG (a kTLS record did not
 * authenticate), or a negative error.
 */
int partmob_sock_recv_pages(struct socket *sock, struct page **pages,
			    unsigned int n)
{
	struct kvec vec[PARTMOB_FRAME_PAGES_MAX];
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	size_t left = (size_t)n << PAGE_SHIFT;
	unsigned int i, first = 0;
	int ret = 0;

	if (WARN_ON_ONCE(n > PARTMOB_FRAME_PAGES_MAX))
		return -EINVAL;
	ret = tls_spent(sock, false, left);
	if (ret)
		return ret;
	for (i = 0; i < n; i++) {
		vec[i].iov_base = page_address(pages[i]);
		vec[i].iov_len = PAGE_SIZE;
	}
	while (left) {
		ret = kernel_recvmsg(sock, &msg, &vec[first], n - first, left,
				     MSG_WAITALL | MSG_NOSIGNAL);
		if (ret <= 0) {
			ret = ret ? sock_errno(ret) : -ECONNRESET;
			break;
		}
		left -= ret;
		/* A short read: skip the filled vectors, trim the next. */
		while (first < n && (size_t)ret >= vec[first].iov_len) {
			ret -= vec[first].iov_len;
			first++;
		}
		if (first < n) {
			vec[first].iov_base += ret;
			vec[first].iov_len -= ret;
		}
		ret = 0;
	}
	return ret;
}
