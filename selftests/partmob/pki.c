// SPDX-License-Identifier: GPL-2.0
/*
 * A throwaway PKI for the TLS tests (pki.h), made with OpenSSL's libcrypto
 * at run time: fresh P-256 keys, certificates signed with SHA-256.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki.h"

static int write_pem(const char *dir, const char *name, const char *ext,
		     X509 *crt, EVP_PKEY *key)
{
	char path[512];
	FILE *f;
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	ok = crt ? PEM_write_X509(f, crt) :
	     PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	if (fclose(f) || !ok)
		return -EIO;
	return 0;
}

static FILE *open_pem(const char *dir, const char *name, const char *ext)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
	return fopen(path, "re");
}

static EVP_PKEY *read_key(const char *dir, const char *name)
{
	FILE *f = open_pem(dir, name, "key");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return k;
}

static X509 *read_crt(const char *dir, const char *name)
{
	FILE *f = open_pem(dir, name, "crt");
	X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f)
		fclose(f);
	return c;
}

static int add_ext(X509 *crt, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, crt, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!e)
		return -EINVAL;
	ok = X509_add_ext(crt, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -EINVAL;
}

int pm_pki_make(const char *dir, const char *name, const char *ca,
		const char *cn, const char *san, int from_days, int to_days)
{
	static long serial = 1;
	EVP_PKEY *key = NULL, *ca_key = NULL;
	X509 *crt = NULL, *ca_crt = NULL;
	X509_NAME *subj;
	int ret = -EINVAL;

	key = EVP_EC_gen("P-256");
	crt = X509_new();
	if (!key || !crt)
		goto out;
	if (ca) {
		ca_key = read_key(dir, ca);
		ca_crt = read_crt(dir, ca);
		if (!ca_key || !ca_crt) {
			ret = -ENOENT;
			goto out;
		}
	}
	subj = X509_get_subject_name(crt);
	if (!X509_set_version(crt, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(crt),
			      (long)getpid() * 1000 + serial++) ||
	    !X509_gmtime_adj(X509_getm_notBefore(crt), (long)from_days * 86400) ||
	    !X509_gmtime_adj(X509_getm_notAfter(crt), (long)to_days * 86400) ||
	    !X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(crt, ca ? X509_get_subject_name(ca_crt) :
				  subj) ||
	    !X509_set_pubkey(crt, key))
		goto out;
	if (!ca) {
		if (add_ext(crt, crt, NID_basic_constraints, "critical,CA:TRUE") ||
		    add_ext(crt, crt, NID_key_usage, "critical,keyCertSign,cRLSign") ||
		    add_ext(crt, crt, NID_subject_key_identifier, "hash"))
			goto out;
	} else if (add_ext(crt, ca_crt, NID_basic_constraints, "CA:FALSE") ||
		   add_ext(crt, ca_crt, NID_authority_key_identifier,
			   "keyid") ||
		   (san && add_ext(crt, ca_crt, NID_subject_alt_name, san))) {
		goto out;
	}
	if (!X509_sign(crt, ca ? ca_key : key, EVP_sha256()))
		goto out;
	ret = write_pem(dir, name, "crt", crt, NULL);
	if (!ret)
		ret = write_pem(dir, name, "key", NULL, key);
out:
	X509_free(crt);
	X509_free(ca_crt);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return ret;
}
