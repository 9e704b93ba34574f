/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Authentication and encryption of a migration's connection: TLS 1.3
 * (OpenSSL), then kernel TLS. The peers authenticate each other with an
 * external pre-shared key (--psk-file) or with X.509 certificates
 * (--cert, --key, --ca: both sides present a certificate, and each
 * verifies the other's against its CA file; the client also checks that
 * the server's certificate names the host it connects to, or a name of
 * --peer-name).
 *
 * OpenSSL does the handshake and, with SSL_OP_ENABLE_KTLS, installs the
 * sending key and record sequence number into the socket itself (TCP_ULP
 * "tls", SOL_TLS TLS_TX). OpenSSL 3.0 does not key kTLS receive for TLS
 * 1.3: tls.c does, from the application traffic secret (keylog callback,
 * HKDF-Expand-Label of RFC 8446, 7.3) at record 0, the first record under
 * that key; likewise the sending side if OpenSSL did not (no kTLS in the
 * library). Nothing of OpenSSL survives the handshake: the SSL object is freed (no close_notify), and
 * from then on plain read()/write() on the socket go through kTLS, the
 * partmob handshake (handshake.c) as well as the module's page stream.
 *
 * No session tickets are sent (a kTLS reader gets -EIO on a non-data
 * record), and nothing may be left in OpenSSL's buffers at the handover.
 * The kernels partmob targets (6.1, 6.12) cannot rekey a kTLS socket, so
 * KeyUpdate is never sent; the module stops a migration whose key has
 * carried 2^24 records (kernel/sock.c, Documentation/design.rst).
 */
#ifndef PARTMOBCTL_TLS_H
#define PARTMOBCTL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PM_TLS_ID_MAX		128	/* bytes of a PSK identity */
#define PM_TLS_KEY_MIN		16	/* bytes of a PSK */
#define PM_TLS_KEY_MAX		64
#define PM_TLS_KEYS_MAX		64	/* lines of a PSK file */
#define PM_TLS_NAMES_MAX	8	/* --peer-name options */
#define PM_TLS_PEER_MAX		256	/* text naming an authenticated peer */

/* The options every command that connects or listens shares. */
struct pm_tls_opts {
	const char *psk_file;	/* --psk-file */
	const char *cert_file;	/* --cert: our certificate (chain), PEM */
	const char *key_file;	/* --key: its private key, PEM, mode 0600 */
	const char *ca_file;	/* --ca: the CAs the peer's must chain to */
	const char *names[PM_TLS_NAMES_MAX];	/* --peer-name */
	unsigned int nnames;
	bool insecure;		/* --insecure */
};

/* an OpenSSL context and the keys of a PSK file, or the certificates */
struct pm_tls;

/*
 * pm_tls_opts_check() - exactly one of --psk-file, the certificate
 * options (--cert, --key and --ca, all three) and --insecure;
 * --peer-name only with certificates.
 * Prints the usage error of @cmd, or the warning of --insecure.
 * Return: -1 to go on, or an exit code.
 */
int pm_tls_opts_check(const char *cmd, const struct pm_tls_opts *o);
/* pm_tls_opts_given() - was any of the options of @o given? */
bool pm_tls_opts_given(const struct pm_tls_opts *o);

/*
 * pm_tls_new() - read the PSK file of @o, or load its certificate, key
 * and CAs (nothing with --insecure)
 * @server: a listener (accepts every identity of the PSK file, or any
 *	certificate of the CAs that --peer-name allows) or a client (uses
 *	the first key of the file)
 *
 * Return: 0 with *@out set (NULL with --insecure), or -errno with @why set.
 */
int pm_tls_new(const struct pm_tls_opts *o, bool server, struct pm_tls **out,
	       char *why, size_t n);
void pm_tls_free(struct pm_tls *t);

/*
 * pm_tls_connect(), pm_tls_accept() - the TLS handshake on connected
 * socket @fd, then kTLS in both directions
 * @host: the host name or address the client connects to: the server's
 *	certificate must name it (unless --peer-name names others)
 * @timeout_ms: for the whole handshake
 * @id: who the accepted peer is, for a log: "key 'IDENTITY'" or
 *	"certificate 'SUBJECT'" (pm_tls_accept(); may be NULL)
 *
 * On success @fd is a kTLS socket with nothing buffered in userspace; on
 * failure it must be closed. Return: 0, or -errno with @why set
 * (-EACCES: the peer did not authenticate).
 */
int pm_tls_connect(struct pm_tls *t, int fd, const char *host,
		   int timeout_ms, char *why, size_t n);
int pm_tls_accept(struct pm_tls *t, int fd, int timeout_ms, char *id,
		  size_t idn, char *why, size_t n);

/*
 * pm_tls_peer_alert() - what the peer said when a read of kTLS socket @fd
 * failed with EIO: in TLS 1.3 a server checks the client's certificate
 * after the client's handshake is done, and refuses it with an alert.
 * Return: 0 with @why set if an alert was waiting, else -ENOMSG.
 */
int pm_tls_peer_alert(int fd, char *why, size_t n);

#endif
