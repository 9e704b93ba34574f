// SPDX-License-Identifier: GPL-2.0
/*
 * TLS 1.3 with external pre-shared keys or X.509 certificates, handed over
 * to kernel TLS (tls.h has the rules).
 *
 * A PSK file holds one key per line, "IDENTITY:HEX", '#' comments and
 * blank lines ignored; it must not be readable by group or others. A
 * client offers the first key; a listener accepts any of them.
 *
 * With certificates both sides must present one that chains to the other's
 * --ca file (mutual TLS; a listener demands it), and its name is checked
 * in the handshake (verify_name(), so the peer gets an alert): against the
 * host the client connects to, or any --peer-name given (a listener
 * without --peer-name takes every certificate of its CAs: give it a CA of
 * its own). The private key file
 * follows the PSK file's rule (no group or other access) and has no
 * passphrase.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/tls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "partmobctl.h"
#include "tls.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

struct pm_key {
	char id[PM_TLS_ID_MAX + 1];
	unsigned char key[PM_TLS_KEY_MAX];
	size_t len;
};

struct pm_tls {
	SSL_CTX *ctx;
	bool server;
	bool certs;		/* certificates, not a PSK file */
	const char *names[PM_TLS_NAMES_MAX];	/* --peer-name */
	unsigned int nnames;
	unsigned int nkeys;
	struct pm_key keys[PM_TLS_KEYS_MAX];
};

/* What a handshake learnt: for its error message, and the kTLS keys. */
struct pm_tls_conn {
	struct pm_tls *t;
	const struct pm_key *key;	/* the peer's, once found */
	char unknown[PM_TLS_ID_MAX + 1];/* an identity not in the file */
	const char *host;		/* the client's peer, for its name */
	char bad_name[PM_TLS_PEER_MAX + 160];	/* why its certificate's name is not */
	/* The application traffic secrets (SHA-256: 32 bytes), by keylog. */
	unsigned char secret[2][32];	/* [0] client's, [1] server's */
	bool have[2];
};

/* The one cipher suite: AES-128-GCM, which every kTLS supports. */
static const unsigned char aes128gcm[] = { 0x13, 0x01 };

/* Any of the certificate options. */
static bool certs_given(const struct pm_tls_opts *o)
{
	return o->cert_file || o->key_file || o->ca_file;
}

bool pm_tls_opts_given(const struct pm_tls_opts *o)
{
	return o->psk_file || certs_given(o) || o->nnames || o->insecure;
}

int pm_tls_opts_check(const char *cmd, const struct pm_tls_opts *o)
{
	bool certs = certs_given(o);

	if (!!o->psk_file + certs + o->insecure > 1)
		return pm_usage_error(cmd,
				      "--psk-file, the certificate options (--cert, --key, --ca) and --insecure exclude each other");
	if (!o->psk_file && !certs && !o->insecure)
		return pm_usage_error(cmd,
				      "--psk-file FILE or --cert, --key and --ca needed (or --insecure for plain TCP)");
	if (certs && !(o->cert_file && o->key_file && o->ca_file))
		return pm_usage_error(cmd,
				      "--cert, --key and --ca go together");
	if (o->nnames && !certs)
		return pm_usage_error(cmd,
				      "--peer-name needs certificates (--cert, --key, --ca)");
	if (o->insecure)
		fprintf(stderr,
			"%s: %s: warning: --insecure: the peer is not authenticated and the migration is not encrypted\n",
			pm_prog, cmd);
	return -1;
}

/* The value of hex digit @c, or -1. */
static int hexval(int c)
{
	static const char digits[] = "0123456789abcdef";
	const char *d = c ? strchr(digits, tolower(c)) : NULL;

	return d ? (int)(d - digits) : -1;
}

/* One "IDENTITY:HEX" line into @k. Return: NULL or what is wrong. */
static const char *parse_line(char *s, struct pm_key *k)
{
	char *colon = strchr(s, ':'), *p;
	size_t idlen;
	int hi, lo;

	if (!colon)
		return "not IDENTITY:HEXKEY";
	idlen = (size_t)(colon - s);
	if (!idlen || idlen > PM_TLS_ID_MAX)
		return "the identity must have 1 to 128 characters";
	for (p = s; p < colon; p++)
		if (*p <= ' ' || *p > '~')
			return "the identity must be printable, without spaces";
	memcpy(k->id, s, idlen);
	k->id[idlen] = '\0';
	k->len = 0;
	for (p = colon + 1; *p; p += 2) {
		hi = hexval(p[0]);
		lo = hi < 0 ? -1 : hexval(p[1]);
		if (hi < 0 || lo < 0)
			return "the key is not an even number of hexadecimal digits";
		if (k->len == PM_TLS_KEY_MAX)
			return "the key is longer than 64 bytes";
		k->key[k->len++] = (unsigned char)(hi << 4 | lo);
	}
	if (k->len < PM_TLS_KEY_MIN)
		return "the key is shorter than 16 bytes (32 hex digits)";
	return NULL;
}

/*
 * Open secret @file of option @opt for reading: refused if group or
 * others have any access. Return: the stream, or NULL with *@ret and @why.
 */
static FILE *open_private(const char *opt, const char *file, int *ret,
			  char *why, size_t n)
{
	struct stat st;
	FILE *f;

	f = fopen(file, "re");
	if (!f) {
		*ret = -errno;
		snprintf(why, n, "%s %s: %s", opt, file, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st)) {
		*ret = -errno;
		snprintf(why, n, "%s %s: %s", opt, file, strerror(errno));
		fclose(f);
		return NULL;
	}
	if (st.st_mode & 077) {
		*ret = -EPERM;
		snprintf(why, n,
			 "%s %s: readable or writable by group or others (mode %04o); chmod 600 it",
			 opt, file, (unsigned int)st.st_mode & 07777);
		fclose(f);
		return NULL;
	}
	return f;
}

static int read_keys(struct pm_tls *t, const char *file, char *why, size_t n)
{
	char line[PM_TLS_ID_MAX + 2 * PM_TLS_KEY_MAX + 16];
	const char *bad;
	unsigned int lineno = 0;
	size_t len;
	FILE *f;
	int ret = 0;

	f = open_private("--psk-file", file, &ret, why, n);
	if (!f)
		return ret;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		len = strlen(line);
		if (len && line[len - 1] != '\n' && !feof(f)) {
			snprintf(why, n, "--psk-file %s:%u: line too long",
				 file, lineno);
			ret = -EINVAL;
			goto out;
		}
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
			       line[len - 1] == ' ' || line[len - 1] == '\t'))
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		if (t->nkeys == PM_TLS_KEYS_MAX) {
			snprintf(why, n, "--psk-file %s: more than %d keys",
				 file, PM_TLS_KEYS_MAX);
			ret = -EINVAL;
			goto out;
		}
		bad = parse_line(line, &t->keys[t->nkeys]);
		if (bad) {
			snprintf(why, n, "--psk-file %s:%u: %s", file, lineno,
				 bad);
			ret = -EINVAL;
			goto out;
		}
		t->nkeys++;
	}
	if (ferror(f)) {
		ret = -EIO;
		snprintf(why, n, "--psk-file %s: read error", file);
	} else if (!t->nkeys) {
		ret = -EINVAL;
		snprintf(why, n, "--psk-file %s: no key in it", file);
	}
out:
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return ret;
}

static SSL_SESSION *psk_session(SSL *ssl, const struct pm_key *k)
{
	const SSL_CIPHER *c = SSL_CIPHER_find(ssl, aes128gcm);
	SSL_SESSION *s;

	if (!c)
		return NULL;
	s = SSL_SESSION_new();
	if (!s)
		return NULL;
	if (!SSL_SESSION_set1_master_key(s, k->key, k->len) ||
	    !SSL_SESSION_set_cipher(s, c) ||
	    !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

/* Client: offer the first key of the file. */
static int use_psk(SSL *ssl, const EVP_MD *md, const unsigned char **id,
		   size_t *idlen, SSL_SESSION **sess)
{
	struct pm_tls_conn *c = SSL_get_app_data(ssl);
	const struct pm_key *k = &c->t->keys[0];
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm);

	*sess = NULL;
	*id = NULL;
	*idlen = 0;
	/* After a HelloRetryRequest: the suite's hash must not change. */
	if (md && (!cipher || md != SSL_CIPHER_get_handshake_digest(cipher)))
		return 1;
	*sess = psk_session(ssl, k);
	if (!*sess)
		return 0;
	*id = (const unsigned char *)k->id;
	*idlen = strlen(k->id);
	c->key = k;
	return 1;
}

/* Make peer-supplied text @s printable. */
static void printable(char *s)
{
	for (; *s; s++)
		if (*s < ' ' || *s > '~')
			*s = '?';
}

/* Listener: any key of the file, by identity; none means refusal. */
static int find_psk(SSL *ssl, const unsigned char *id, size_t idlen,
		    SSL_SESSION **sess)
{
	struct pm_tls_conn *c = SSL_get_app_data(ssl);
	unsigned int i;

	*sess = NULL;
	for (i = 0; i < c->t->nkeys; i++) {
		const struct pm_key *k = &c->t->keys[i];

		if (strlen(k->id) == idlen && !memcmp(k->id, id, idlen)) {
			*sess = psk_session(ssl, k);
			if (!*sess)
				return 0;
			c->key = k;
			return 1;
		}
	}
	snprintf(c->unknown, sizeof(c->unknown), "%.*s",
		 (int)(idlen < PM_TLS_ID_MAX ? idlen : PM_TLS_ID_MAX),
		 (const char *)id);
	/* Keep it printable: the identity comes from the peer. */
	printable(c->unknown);
	return 1;
}

/*
 * OpenSSL 3.0 installs the kTLS keys of TLS 1.3 for sending only (its
 * kTLS receive is TLS 1.2 only); the other direction is set here from the
 * application traffic secret, which the keylog callback is the one public
 * way to learn (SSL_export_keying_material() derives other keys).
 */
static void keylog(const SSL *ssl, const char *line)
{
	struct pm_tls_conn *c = SSL_get_app_data(ssl);
	static const char *const label[2] = { "CLIENT_TRAFFIC_SECRET_0 ",
					      "SERVER_TRAFFIC_SECRET_0 " };
	const char *hex;
	int i, hi, lo;
	size_t k;

	for (i = 0; i < 2; i++) {
		if (strncmp(line, label[i], strlen(label[i])))
			continue;
		/* "LABEL <client random, 64 hex> <secret hex>" */
		hex = strchr(line + strlen(label[i]), ' ');
		if (!hex || strlen(hex + 1) != 2 * sizeof(c->secret[i]))
			return;
		hex++;
		for (k = 0; k < sizeof(c->secret[i]); k++) {
			hi = hexval(hex[2 * k]);
			lo = hexval(hex[2 * k + 1]);
			if (hi < 0 || lo < 0)
				return;
			c->secret[i][k] = (unsigned char)(hi << 4 | lo);
		}
		c->have[i] = true;
	}
}

/* HKDF-Expand-Label(secret, label, "", n) of RFC 8446, 7.1, SHA-256. */
static int expand_label(const unsigned char *secret, size_t slen,
			const char *label, unsigned char *out, size_t n)
{
	unsigned char info[2 + 1 + 6 + 32 + 1];
	size_t ll = strlen(label), il = 0;
	OSSL_PARAM params[5], *p = params;
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok;

	if (ll > 32)
		return -1;
	info[il++] = (unsigned char)(n >> 8);
	info[il++] = (unsigned char)n;
	info[il++] = (unsigned char)(6 + ll);
	memcpy(info + il, "tls13 ", 6);
	il += 6;
	memcpy(info + il, label, ll);
	il += ll;
	info[il++] = 0;				/* empty context */

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!kctx)
		return -1;
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)secret, slen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						 il);
	*p = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, out, n, params);
	EVP_KDF_CTX_free(kctx);
	return ok == 1 ? 0 : -1;
}

/*
 * Key the kernel for direction @dir (TLS_TX, TLS_RX) from @secret, at
 * record 0: the first record under the application keys, as nothing was
 * sent or read under them (no tickets, nothing pending: handshake()).
 */
static int ktls_install(int fd, int dir, const unsigned char *secret,
			size_t slen)
{
	struct tls12_crypto_info_aes_gcm_128 ci = {
		.info.version = TLS_1_3_VERSION,
		.info.cipher_type = TLS_CIPHER_AES_GCM_128,
	};
	unsigned char key[16], iv[12];
	int ret = 0;

	if (expand_label(secret, slen, "key", key, sizeof(key)) ||
	    expand_label(secret, slen, "iv", iv, sizeof(iv))) {
		ret = -EINVAL;
		goto out;
	}
	memcpy(ci.key, key, sizeof(ci.key));
	memcpy(ci.salt, iv, sizeof(ci.salt));
	memcpy(ci.iv, iv + sizeof(ci.salt), sizeof(ci.iv));
	if (setsockopt(fd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) &&
	    errno != EEXIST) {
		ret = -errno;
		goto out;
	}
	if (setsockopt(fd, SOL_TLS, dir, &ci, sizeof(ci)))
		ret = -errno;
out:
	OPENSSL_cleanse(&ci, sizeof(ci));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(iv, sizeof(iv));
	return ret;
}

/* The subject of @crt, printable. */
static void cert_subject(X509 *crt, char *buf, size_t n)
{
	X509_NAME_oneline(X509_get_subject_name(crt), buf, (int)n);
	printable(buf);
}

/*
 * Is @crt for a name we expect: one of --peer-name, or else @host (the
 * client's peer)? A listener without --peer-name takes any certificate
 * of its CAs. Return: true, or false with @why set.
 */
static bool name_ok(const struct pm_tls *t, X509 *crt, const char *host,
		    char *why, size_t n)
{
	const char *const *names = t->nnames ? t->names : &host;
	unsigned int i, nnames = t->nnames ? t->nnames : !!host;
	char subject[PM_TLS_PEER_MAX - 64];

	if (!nnames)
		return true;
	for (i = 0; i < nnames; i++) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(names[i]);
		int ok;

		/* An address must be in the IP SANs, a name in the DNS ones. */
		if (ip) {
			ok = X509_check_ip(crt, ASN1_STRING_get0_data(ip),
					   ASN1_STRING_length(ip), 0);
			ASN1_OCTET_STRING_free(ip);
		} else {
			ok = X509_check_host(crt, names[i], 0, 0, NULL);
		}
		if (ok == 1)
			return true;
	}
	cert_subject(crt, subject, sizeof(subject));
	snprintf(why, n, "the peer's certificate (%s) is not for %.64s%s",
		 subject, names[0], nnames > 1 ?
		 " or the other --peer-name" : t->nnames ? " (--peer-name)" : "");
	return false;
}

/*
 * OpenSSL's verification, and then the name of the peer's own certificate
 * (depth 0): a wrong name fails the handshake, so the peer gets an alert.
 */
static int verify_name(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x,
			SSL_get_ex_data_X509_STORE_CTX_idx());
	struct pm_tls_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
	X509 *crt = X509_STORE_CTX_get_current_cert(x);

	if (!ok || !c || !crt || X509_STORE_CTX_get_error_depth(x))
		return ok;
	if (name_ok(c->t, crt, c->host, c->bad_name, sizeof(c->bad_name)))
		return 1;
	X509_STORE_CTX_set_error(x, X509_V_ERR_HOSTNAME_MISMATCH);
	return 0;
}

/* OpenSSL's reason for the last failure, for a message. */
static const char *ssl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	return r ? r : "unknown error";
}

/* A key with a passphrase is refused, not prompted for. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* --cert, --key and --ca of @o into t->ctx; peer verification on. */
static int load_certs(struct pm_tls *t, const struct pm_tls_opts *o,
		      char *why, size_t n)
{
	EVP_PKEY *pkey;
	FILE *f;
	int ret;

	ERR_clear_error();
	errno = 0;
	if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_file) != 1) {
		snprintf(why, n, "--cert %s: no PEM certificate read: %s",
			 o->cert_file, errno ? strerror(errno) : ssl_reason());
		return -EINVAL;
	}
	f = open_private("--key", o->key_file, &ret, why, n);
	if (!f)
		return ret;
	pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (!pkey) {
		snprintf(why, n,
			 "--key %s: no PEM private key without a passphrase read: %s",
			 o->key_file, ssl_reason());
		return -EINVAL;
	}
	ret = SSL_CTX_use_PrivateKey(t->ctx, pkey) == 1 &&
	      SSL_CTX_check_private_key(t->ctx) == 1;
	EVP_PKEY_free(pkey);
	if (!ret) {
		snprintf(why, n, "--key %s is not the key of --cert %s",
			 o->key_file, o->cert_file);
		return -EINVAL;
	}
	ERR_clear_error();
	errno = 0;
	if (SSL_CTX_load_verify_locations(t->ctx, o->ca_file, NULL) != 1) {
		snprintf(why, n, "--ca %s: no PEM certificate read: %s",
			 o->ca_file, errno ? strerror(errno) : ssl_reason());
		return -EINVAL;
	}
	/* Mutual: a listener demands the client's certificate too. */
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER |
			   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_name);
	return 0;
}

void pm_tls_free(struct pm_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	OPENSSL_cleanse(t->keys, sizeof(t->keys));
	free(t);
}

int pm_tls_new(const struct pm_tls_opts *o, bool server, struct pm_tls **out,
	       char *why, size_t n)
{
	struct pm_tls *t;
	int ret;

	*out = NULL;
	if (o->insecure)
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(why, n, "out of memory");
		return -ENOMEM;
	}
	t->server = server;
	t->certs = o->cert_file;
	t->nnames = o->nnames;
	memcpy(t->names, o->names, sizeof(t->names));
	if (!t->certs) {
		ret = read_keys(t, o->psk_file, why, n);
		if (ret)
			goto err;
	}
	t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!t->ctx ||
	    !SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(t->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(t->ctx, "TLS_AES_128_GCM_SHA256") ||
	    !SSL_CTX_set_num_tickets(t->ctx, 0)) {
		snprintf(why, n, "cannot set up OpenSSL: %s",
			 ERR_reason_error_string(ERR_get_error()));
		ret = -ENOMEM;
		goto err;
	}
	/*
	 * OpenSSL installs the kernel keys; no tickets (above), no
	 * renegotiation, no record padding: a kTLS peer must see nothing
	 * but application data once the handshake is done.
	 */
	SSL_CTX_set_options(t->ctx, SSL_OP_ENABLE_KTLS | SSL_OP_NO_TICKET |
			    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_keylog_callback(t->ctx, keylog);
	if (t->certs) {
		ret = load_certs(t, o, why, n);
		if (ret)
			goto err;
	} else if (server) {
		SSL_CTX_set_psk_find_session_callback(t->ctx, find_psk);
	} else {
		SSL_CTX_set_psk_use_session_callback(t->ctx, use_psk);
	}
	*out = t;
	return 0;

err:
	pm_tls_free(t);
	return ret;
}

static void set_timeout(int fd, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* The first error OpenSSL queued, or the system's. */
static void ssl_why(SSL *ssl, int ret, int err_no, char *buf, size_t n)
{
	unsigned long e = ERR_peek_error();
	int kind = SSL_get_error(ssl, ret);

	if (e) {
		ERR_error_string_n(e, buf, n);
	} else if (kind == SSL_ERROR_SYSCALL && err_no) {
		snprintf(buf, n, "%s", err_no == EAGAIN ||
			 err_no == EWOULDBLOCK ? "timed out" :
			 strerror(err_no));
	} else if (kind == SSL_ERROR_SYSCALL || kind == SSL_ERROR_ZERO_RETURN) {
		snprintf(buf, n, "the peer closed the connection");
	} else {
		snprintf(buf, n, "TLS error %d", kind);
	}
	ERR_clear_error();
}

static int handshake(struct pm_tls *t, int fd, const char *host,
		     int timeout_ms, char *id, size_t idn, char *why, size_t n)
{
	char peer[PM_TLS_PEER_MAX] = "";
	struct pm_tls_conn c = { .t = t, .host = host };
	char err[256];
	SSL *ssl;
	int ret, err_no, dir;

	ERR_clear_error();
	ssl = SSL_new(t->ctx);
	if (!ssl || !SSL_set_fd(ssl, fd)) {
		snprintf(why, n, "cannot set up OpenSSL");
		SSL_free(ssl);
		return -ENOMEM;
	}
	SSL_set_app_data(ssl, &c);
	set_timeout(fd, timeout_ms);
	errno = 0;
	ret = t->server ? SSL_accept(ssl) : SSL_connect(ssl);
	err_no = errno;
	set_timeout(fd, 0);
	if (ret != 1) {
		long v = SSL_get_verify_result(ssl);

		ssl_why(ssl, ret, err_no, err, sizeof(err));
		if (err_no == EAGAIN || err_no == EWOULDBLOCK)
			snprintf(why, n, "TLS handshake timed out after %d ms",
				 timeout_ms);
		else if (t->certs && c.bad_name[0])
			snprintf(why, n, "TLS handshake failed: %s",
				 c.bad_name);
		else if (t->certs && v != X509_V_OK)
			snprintf(why, n,
				 "TLS handshake failed: the peer's certificate is not trusted by --ca: %s",
				 X509_verify_cert_error_string(v));
		else if (t->certs)
			snprintf(why, n,
				 "TLS handshake failed (a certificate the peer does not trust, or a peer without certificates?): %s",
				 err);
		else if (t->server && c.unknown[0])
			snprintf(why, n,
				 "TLS handshake failed: the peer's PSK identity '%s' is not in the PSK file",
				 c.unknown);
		else if (t->server && !c.key)
			snprintf(why, n,
				 "TLS handshake failed: the peer offered no pre-shared key (%s)",
				 err);
		else
			snprintf(why, n,
				 "TLS handshake failed (a wrong pre-shared key, or a peer without --psk-file?): %s",
				 err);
		ret = err_no == EAGAIN || err_no == EWOULDBLOCK ? -ETIMEDOUT :
		      -EACCES;
		goto out;
	}
	if (t->certs) {
		X509 *crt = SSL_get0_peer_certificate(ssl);
		char subject[PM_TLS_PEER_MAX - 16];

		/* Verified (and named) in the handshake; say so again. */
		if (!crt || SSL_get_verify_result(ssl) != X509_V_OK) {
			snprintf(why, n, "TLS handshake without a verified certificate");
			ret = -EACCES;
			goto out;
		}
		cert_subject(crt, subject, sizeof(subject));
		snprintf(peer, sizeof(peer), "certificate '%s'", subject);
	} else if (!SSL_session_reused(ssl) || !c.key) {
		/* Only a PSK handshake authenticates the peer here. */
		snprintf(why, n, "TLS handshake without the pre-shared key");
		ret = -EACCES;
		goto out;
	} else {
		snprintf(peer, sizeof(peer), "key '%s'", c.key->id);
	}
	/* The handover: nothing may stay behind in OpenSSL's buffers. */
	if (SSL_has_pending(ssl)) {
		snprintf(why, n, "the peer sent data during the TLS handshake");
		ret = -EPROTO;
		goto out;
	}
	/* Each direction OpenSSL did not hand to the kernel itself. */
	for (dir = TLS_TX; dir <= TLS_RX; dir++) {
		BIO *bio = dir == TLS_TX ? SSL_get_wbio(ssl) :
			   SSL_get_rbio(ssl);
		/* TX is the server's secret on the server, RX the client's. */
		int i = (dir == TLS_TX) == t->server;

		if (dir == TLS_TX ? BIO_get_ktls_send(bio) :
		    BIO_get_ktls_recv(bio))
			continue;
		ret = c.have[i] ? ktls_install(fd, dir, c.secret[i],
					       sizeof(c.secret[i])) : -ENOKEY;
		if (ret) {
			snprintf(why, n,
				 "cannot set the kernel TLS %s key: %s (is the tls module available?)",
				 dir == TLS_TX ? "send" : "receive",
				 strerror(-ret));
			goto out;
		}
	}
	if (id)
		snprintf(id, idn, "%s", peer);
	ret = 0;
out:
	/* No SSL_shutdown(): no close_notify, the socket lives on in kTLS. */
	SSL_free(ssl);
	OPENSSL_cleanse(c.secret, sizeof(c.secret));
	ERR_clear_error();
	return ret;
}

int pm_tls_connect(struct pm_tls *t, int fd, const char *host,
		   int timeout_ms, char *why, size_t n)
{
	return handshake(t, fd, host, timeout_ms, NULL, 0, why, n);
}

int pm_tls_accept(struct pm_tls *t, int fd, int timeout_ms, char *id,
		  size_t idn, char *why, size_t n)
{
	return handshake(t, fd, NULL, timeout_ms, id, idn, why, n);
}

int pm_tls_peer_alert(int fd, char *why, size_t n)
{
	char cbuf[CMSG_SPACE(sizeof(unsigned char))];
	unsigned char rec[2];
	struct iovec iov = { .iov_base = rec, .iov_len = sizeof(rec) };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;

	if (recvmsg(fd, &m, MSG_DONTWAIT) != (ssize_t)sizeof(rec))
		return -ENOMSG;
	cm = CMSG_FIRSTHDR(&m);
	/* Record type 21: an alert, level and description. */
	if (!cm || cm->cmsg_level != SOL_TLS ||
	    cm->cmsg_type != TLS_GET_RECORD_TYPE || *CMSG_DATA(cm) != 21)
		return -ENOMSG;
	snprintf(why, n,
		 "the peer refused us after the TLS handshake: alert '%s'",
		 SSL_alert_desc_string_long(rec[1]));
	return 0;
}
