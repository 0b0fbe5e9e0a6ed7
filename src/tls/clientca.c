/*
 * clientca.c - TLS client certificates: the request in the handshake, the verdict after it,
 * and the CRL read again when its file changes.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "../util/fsutil.h"
#include "../util/log.h"
#include "clientca.h"

struct clientca {
	X509_STORE *store;
	STACK_OF(X509) *cas;
	STACK_OF(X509_NAME) *names;
	char *crl_path;
	pthread_mutex_t mu;             /* crl, crl_bad, st */
	X509_CRL *crl;                  /* NULL: none (no file) */
	int crl_bad;                    /* the file is there and not a CRL of our CA: refuse all */
	struct stat st;                 /* of the CRL file when read; st_ino 0: there was none */
};

struct clientca *clientca_new(const char *ca_file, const char *crl_file, char *why, size_t whylen)
{
	struct clientca *cc = calloc(1, sizeof(*cc));
	FILE *f = NULL;
	X509 *x;

	if (cc == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&cc->mu, NULL);
	cc->crl_path = strdup(crl_file);
	cc->store = X509_STORE_new();
	cc->cas = sk_X509_new_null();
	cc->names = sk_X509_NAME_new_null();
	if (cc->crl_path == NULL || cc->store == NULL || cc->cas == NULL || cc->names == NULL) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	if ((f = fopen(ca_file, "r")) == NULL) {
		snprintf(why, whylen, "cannot read %s: %s", ca_file, strerror(errno));
		goto fail;
	}
	while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		X509_NAME *n = X509_NAME_dup(X509_get_subject_name(x));
		if (X509_STORE_add_cert(cc->store, x) != 1 || n == NULL || sk_X509_NAME_push(cc->names, n) == 0 ||
		    sk_X509_push(cc->cas, x) == 0) {
			X509_NAME_free(n);
			X509_free(x);
			snprintf(why, whylen, "%s: cannot use a certificate in it", ca_file);
			goto fail;
		}
	}
	ERR_clear_error();
	fclose(f);
	f = NULL;
	if (sk_X509_num(cc->cas) == 0) {
		snprintf(why, whylen, "%s holds no PEM certificate", ca_file);
		goto fail;
	}
	return cc;
fail:
	if (f != NULL)
		fclose(f);
	clientca_free(cc);
	return NULL;
}

void clientca_free(struct clientca *cc)
{
	if (cc == NULL)
		return;
	X509_STORE_free(cc->store);
	sk_X509_pop_free(cc->cas, X509_free);
	sk_X509_NAME_pop_free(cc->names, X509_NAME_free);
	X509_CRL_free(cc->crl);
	free(cc->crl_path);
	pthread_mutex_destroy(&cc->mu);
	free(cc);
}

/* The handshake goes on whatever the client shows: the verdict is ours to give after it, as
 * "no certificate" or "a bad one", never as a handshake failure a mail client reports as
 * "cannot connect". OpenSSL still records the first verification error for us. */
static int accept_any(int ok, X509_STORE_CTX *x)
{
	(void)ok;
	(void)x;
	return 1;
}

int clientca_request(struct clientca *cc, SSL *ssl)
{
	STACK_OF(X509_NAME) *names = SSL_dup_CA_list(cc->names);

	if (names == NULL || SSL_set1_verify_cert_store(ssl, cc->store) != 1) {
		sk_X509_NAME_pop_free(names, X509_NAME_free);
		return -1;
	}
	SSL_set_client_CA_list(ssl, names);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, accept_any);
	return 0;
}

/* Caller holds mu. The CRL again when the file changed; a CRL that does not carry one of our
 * CAs' signatures is as bad as none at all, and worse: refuse everything until it is fixed. */
static void crl_refresh(struct clientca *cc)
{
	struct stat st;

	if (stat(cc->crl_path, &st) < 0) {
		if (cc->st.st_ino != 0 || cc->crl_bad)
			log_info(NULL, "client certificates: CRL %s gone: no certificate is revoked", cc->crl_path);
		X509_CRL_free(cc->crl);
		cc->crl = NULL;
		cc->crl_bad = 0;
		memset(&cc->st, 0, sizeof(cc->st));
		return;
	}
	if (fs_same_version(&st, &cc->st))
		return;
	FILE *f = fopen(cc->crl_path, "r");
	X509_CRL *crl = f != NULL ? PEM_read_X509_CRL(f, NULL, NULL, NULL) : NULL;
	int good = 0;
	if (f != NULL)
		fclose(f);
	ERR_clear_error();
	for (int i = 0; crl != NULL && i < sk_X509_num(cc->cas) && !good; i++) {
		X509 *ca = sk_X509_value(cc->cas, i);
		good = X509_NAME_cmp(X509_get_subject_name(ca), X509_CRL_get_issuer(crl)) == 0 &&
		       X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
	}
	ERR_clear_error();
	X509_CRL_free(cc->crl);
	cc->crl = good ? crl : NULL;
	if (!good)
		X509_CRL_free(crl);
	cc->crl_bad = !good;
	cc->st = st;
	if (good)
		log_info(NULL, "client certificates: CRL %s read, %d revoked", cc->crl_path,
		         sk_X509_REVOKED_num(X509_CRL_get_REVOKED(cc->crl)));
	else
		log_warnx(NULL, "client certificates: %s is not a CRL signed by [auth] client_ca: every client "
		          "certificate is refused until it is (mailport user cert revoke writes a good one)", cc->crl_path);
}

static void lower_copy(char *out, size_t outlen, const unsigned char *in, int len)
{
	size_t o = 0;

	for (int i = 0; i < len && o + 1 < outlen; i++)
		out[o++] = (char)tolower(in[i]);
	out[o] = '\0';
}

static void add_name(struct clientca_id *id, const unsigned char *s, int len)
{
	if (id->n >= CLIENTCA_NAMES || len <= 0 || len >= (int)sizeof(id->mailbox[0]) || memchr(s, '@', (size_t)len) == NULL ||
	    memchr(s, '\0', (size_t)len) != NULL)
		return;
	lower_copy(id->mailbox[id->n++], sizeof(id->mailbox[0]), s, len);
}

void clientca_mailboxes(X509 *x, struct clientca_id *id)
{
	GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	X509_NAME *subj = X509_get_subject_name(x);
	const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

	memset(id, 0, sizeof(*id));
	snprintf(id->serial, sizeof(id->serial), "%s", hex != NULL ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
	for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		if (g->type == GEN_EMAIL)
			add_name(id, ASN1_STRING_get0_data(g->d.rfc822Name), ASN1_STRING_length(g->d.rfc822Name));
	}
	GENERAL_NAMES_free(sans);
	for (int nid = 0; id->n == 0 && nid < 2; nid++) {
		int pos = -1;
		while (id->n < CLIENTCA_NAMES &&
		       (pos = X509_NAME_get_index_by_NID(subj, nid == 0 ? NID_pkcs9_emailAddress : NID_commonName, pos)) >= 0) {
			ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, pos));
			add_name(id, ASN1_STRING_get0_data(d), ASN1_STRING_length(d));
		}
	}
}

enum clientca_result clientca_check(struct clientca *cc, SSL *ssl, struct clientca_id *id, char *why,
                                    size_t whylen)
{
	X509 *x = SSL_get0_peer_certificate(ssl);

	memset(id, 0, sizeof(*id));
	if (x == NULL)
		return CLIENTCA_NONE;
	clientca_mailboxes(x, id);
	long v = SSL_get_verify_result(ssl);
	if (v != X509_V_OK) {
		snprintf(why, whylen, "%s", v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		         v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ?
		         "not issued by [auth] client_ca" : X509_verify_cert_error_string(v));
		return CLIENTCA_BAD;
	}
	if (id->n == 0) {
		snprintf(why, whylen, "it names no mailbox (no rfc822Name, emailAddress or CN with an @)");
		return CLIENTCA_BAD;
	}
	pthread_mutex_lock(&cc->mu);
	crl_refresh(cc);
	X509_REVOKED *rev = NULL;
	int bad = cc->crl_bad, revoked = cc->crl != NULL && X509_CRL_get0_by_cert(cc->crl, &rev, x) == 1;
	pthread_mutex_unlock(&cc->mu);
	if (bad || revoked) {
		snprintf(why, whylen, "%s", bad ? "the CRL is not signed by [auth] client_ca (refusing all)" : "revoked");
		return CLIENTCA_BAD;
	}
	return CLIENTCA_OK;
}

int clientca_names(const struct clientca_id *id, const char *mailbox)
{
	for (size_t i = 0; i < id->n; i++)
		if (strcasecmp(id->mailbox[i], mailbox) == 0)
			return 1;
	return 0;
}
