/*
 * inspect.c - read a finished handshake and its peer certificate for `mailport check`.
 * Not verification policy: what counts as a problem is check's verdict code.
 */
#include "inspect.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static void name_line(X509_NAME *n, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int got;

	buf[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, n, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	got = BIO_read(b, buf, (int)len - 1);
	buf[got > 0 ? got : 0] = '\0';
	BIO_free(b);
}

static void alt_names(X509 *x, char *buf, size_t len)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char one[INET6_ADDRSTRLEN + 1] = "";
		if (g->type == GEN_DNS) {
			const unsigned char *d = ASN1_STRING_get0_data(g->d.dNSName);
			int l = ASN1_STRING_length(g->d.dNSName);
			if (o < len)
				o += (size_t)snprintf(buf + o, len - o, "%s%.*s", o ? ", " : "", l, (const char *)d);
			continue;
		}
		if (g->type == GEN_IPADD) {
			int l = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
			if (l == 4 || l == 16)
				inet_ntop(l == 4 ? AF_INET : AF_INET6, d, one, sizeof(one));
			if (one[0] && o < len)
				o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", one);
		}
	}
	GENERAL_NAMES_free(gens);
}

static void key_facts(X509 *x, struct tls_peer *p)
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	size_t gl = 0;

	if (k == NULL)
		return;
	snprintf(p->key_type, sizeof(p->key_type), "%s", EVP_PKEY_get0_type_name(k) ? EVP_PKEY_get0_type_name(k) : "?");
	p->key_bits = EVP_PKEY_get_bits(k);
	if (EVP_PKEY_get_group_name(k, p->key_group, sizeof(p->key_group), &gl) != 1)
		p->key_group[0] = '\0';
}

void tls_inspect(const SSL *ssl, const char *host, time_t now, struct tls_peer *p)
{
	X509 *x;
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int nid, pday = 0, psec = 0;
	unsigned char ip[16];
	struct tm tm;

	memset(p, 0, sizeof(*p));
	snprintf(p->version, sizeof(p->version), "%s", SSL_get_version(ssl));
	snprintf(p->cipher, sizeof(p->cipher), "%s", c ? SSL_CIPHER_get_name(c) : "");
	nid = SSL_get_negotiated_group((SSL *)ssl);
	if (nid > 0) {
		const char *g = SSL_group_to_name((SSL *)ssl, nid);
		snprintf(p->group, sizeof(p->group), "%s", g ? g : OBJ_nid2sn(nid & ~TLSEXT_nid_unknown));
	}
	x = SSL_get1_peer_certificate(ssl);
	if (x == NULL)
		return;
	p->have_cert = 1;
	name_line(X509_get_subject_name(x), p->subject, sizeof(p->subject));
	name_line(X509_get_issuer_name(x), p->issuer, sizeof(p->issuer));
	alt_names(x, p->names, sizeof(p->names));
	p->chain_error = (int)SSL_get_verify_result(ssl);
	p->chain_ok = p->chain_error == X509_V_OK;
	snprintf(p->chain_reason, sizeof(p->chain_reason), "%s",
	         p->chain_ok ? "" : X509_verify_cert_error_string(p->chain_error));
	if (host != NULL)
		p->host_ok = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1 ?
		             X509_check_ip_asc(x, host, 0) == 1 : X509_check_host(x, host, 0, 0, NULL) == 1;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
		strftime(p->not_after, sizeof(p->not_after), "%Y-%m-%dT%H:%M:%SZ", &tm);
	{
		ASN1_TIME *nowt = ASN1_TIME_set(NULL, now);
		if (nowt != NULL && ASN1_TIME_diff(&pday, &psec, nowt, X509_get0_notAfter(x)) == 1)
			p->days_left = pday - (psec < 0 ? 1 : 0);
		p->expired = X509_cmp_time(X509_get0_notAfter(x), &now) < 0;
		p->not_yet_valid = X509_cmp_time(X509_get0_notBefore(x), &now) > 0;
		ASN1_TIME_free(nowt);
	}
	key_facts(x, p);
	nid = X509_get_signature_nid(x);
	snprintf(p->signature, sizeof(p->signature), "%s", nid != NID_undef ? OBJ_nid2ln(nid) : "?");
	X509_free(x);
}
