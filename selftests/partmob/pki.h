/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A throwaway PKI for the TLS tests, made at run time (pki.c).
 */
#ifndef PARTMOB_SELFTEST_PKI_H
#define PARTMOB_SELFTEST_PKI_H

/*
 * pm_pki_make() - a new key and certificate: DIR/NAME.key (mode 0600) and
 * DIR/NAME.crt, both PEM
 * @ca: the stem in @dir of the issuing CA's .crt and .key; NULL makes a
 *	self-signed CA certificate
 * @cn: the subject's common name
 * @san: subjectAltName in OpenSSL's config syntax ("IP:10.0.0.1,DNS:b"),
 *	or NULL (not for a CA)
 * @from_days, @to_days: validity, in days from now (negative: the past)
 *
 * Return: 0 or -errno.
 */
int pm_pki_make(const char *dir, const char *name, const char *ca,
		const char *cn, const char *san, int from_days, int to_days);

#endif
