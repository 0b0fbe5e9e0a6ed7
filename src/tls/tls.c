/*
 * tls.c - building SSL_CTXs from the configuration and picking one by SNI.
 * Not I/O: the libevent adapter owns the handshake and the sockets.
 */
#include "tls.h"

#include <errno.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../conf/config.h"
#include "../util/log.h"

/* TLS 1.2: ECDHE key exchange (forward secrecy) with AEAD ciphers only: no RSA key exchange,
 * no CBC, no SHA-1 MACs, no RC4/3DES/NULL/EXPORT/anonymous. TLS 1.3 suites are all AEAD. */
#define DEFAULT_CIPHERS "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEFAULT_GROUPS  "X25519:P-256"

struct tls_server {
	SSL_CTX *ctx[CONFIG_MAX_CERTS];
	size_t nctx;
};

void tls_last_error(char *buf, size_t len)
{
	unsigned long e;
	size_t o = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];
		ERR_error_string_n(e, one, sizeof(one));
		if (o < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "; " : "", one);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "unknown error");
}

static const char *version_name(int v)
{
	return v == TLS1_VERSION ? "TLS 1.0" : v == TLS1_1_VERSION ? "TLS 1.1" : v == SSL3_VERSION ? "SSL 3.0" :
	       v == TLS1_2_VERSION ? "TLS 1.2" : v == TLS1_3_VERSION ? "TLS 1.3" : "an unknown version";
}

enum tls_failure tls_failure_kind(unsigned long err)
{
	switch (ERR_GET_LIB(err) == ERR_LIB_SSL ? ERR_GET_REASON(err) : 0) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_RECORD_LENGTH_MISMATCH:
		return TLS_FAILURE_PLAINTEXT;
	case SSL_R_UNSUPPORTED_PROTOCOL:            /* the peer's version is outside our range */
	case SSL_R_VERSION_TOO_LOW:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:    /* the peer said so */
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
		return TLS_FAILURE_VERSION;
	default:
		return TLS_FAILURE_OTHER;
	}
}

void tls_accept_failure(const SSL *ssl, unsigned long err, char *buf, size_t len, int *probe)
{
	const char *words = ERR_reason_error_string(err);

	*probe = 0;
	if (err == 0 || ERR_GET_LIB(err) == 0) {
		snprintf(buf, len, "the client closed the connection during the handshake");
		return;
	}
	switch (tls_failure_kind(err)) {
	case TLS_FAILURE_VERSION:
		*probe = 1;
		snprintf(buf, len, "the client offers only %s, which is obsolete and refused (RFC 8996): a version "
		         "probe (mailport check, testssl.sh) or an outdated client", version_name(SSL_client_version(ssl)));
		return;
	case TLS_FAILURE_PLAINTEXT:
		snprintf(buf, len, "the client speaks plaintext on the implicit-TLS port: set it to 'SSL/TLS' for this "
		         "port (or use the STARTTLS port with 'STARTTLS')");
		return;
	case TLS_FAILURE_OTHER:
		break;
	}
	switch (ERR_GET_REASON(err)) {
	case SSL_R_NO_SHARED_CIPHER:
		*probe = 1;
		snprintf(buf, len, "no cipher in common: the client offers only obsolete ciphers (a cipher probe, or an "
		         "outdated client)");
		return;
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
	case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		snprintf(buf, len, "the client refused our certificate (%s): it does not trust its issuer, or the name or "
		         "date does not match what it expects", words ? words : "alert");
		return;
	default:
		snprintf(buf, len, "%s", words ? words : "TLS error");
	}
}

static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	if (name == NULL || t->nctx < 2)
		return SSL_TLSEXT_ERR_OK;
	for (size_t i = 0; i < t->nctx; i++) {
		X509 *x = SSL_CTX_get0_certificate(t->ctx[i]);
		if (x != NULL && X509_check_host(x, name, 0, 0, NULL) == 1) {
			if (i > 0)
				SSL_set_SSL_CTX(ssl, t->ctx[i]);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK;       /* unknown name: the default certificate */
}

static SSL_CTX *make_ctx(const struct config *cfg, const struct config_cert *cc, struct errlist *errs)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char err[512];
	X509 *x;

	if (ctx == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, strcmp(cfg->tls_min_version, "TLSv1.3") == 0 ?
	                                   TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	                         SSL_OP_NO_RENEGOTIATION);
	if (!SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers ? cfg->tls_ciphers : DEFAULT_CIPHERS)) {
		tls_last_error(err, sizeof(err));
		errlist_add(errs, cfg->path, 0, "[tls] ciphers: no usable cipher (%s)", err);
		goto out;
	}
	if (cfg->tls_ciphersuites && !SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites)) {
		tls_last_error(err, sizeof(err));
		errlist_add(errs, cfg->path, 0, "[tls] ciphersuites: no usable suite (%s)", err);
		goto out;
	}
	if (!SSL_CTX_set1_groups_list(ctx, DEFAULT_GROUPS))
		goto fail;
	/* Idle sessions give their ~34 KiB of record buffers back: thousands of idle clients
	 * cost a few KiB each instead of tens. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* The chain sent is the cert file's, leaf first, as the documentation asks: OpenSSL would
	 * otherwise try to complete it from the verify store in every full handshake. */
	SSL_CTX_set_mode(ctx, SSL_MODE_NO_AUTO_CHAIN);
	/* One TLS 1.3 ticket per handshake, not OpenSSL's two: a mail client keeps one session
	 * per server, and each ticket costs an encryption and a record. */
	SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mailport", 8);
	/* A file that cannot be read is said as such, not as OpenSSL's "system lib" chain. */
	if (access(cc->cert, R_OK) < 0) {
		errlist_add(errs, cfg->path, cc->line, "[tls] cert %s: cannot read it: %s", cc->cert, strerror(errno));
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cc->cert) != 1) {
		tls_last_error(err, sizeof(err));
		errlist_add(errs, cfg->path, cc->line, "[tls] cert %s: not a PEM certificate chain (%s)", cc->cert, err);
		goto out;
	}
	if (access(cc->key, R_OK) < 0) {
		errlist_add(errs, cfg->path, cc->key_line, "[tls] key %s: cannot read it: %s", cc->key, strerror(errno));
		goto out;
	}
	/* Loading the key checks it against the certificate already; so does check_private_key. */
	if (SSL_CTX_use_PrivateKey_file(ctx, cc->key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		int r = ERR_GET_REASON(ERR_peek_last_error());
		tls_last_error(err, sizeof(err));
		if (r == X509_R_KEY_VALUES_MISMATCH || r == X509_R_KEY_TYPE_MISMATCH || r == SSL_R_NO_PRIVATE_KEY_ASSIGNED ||
		    SSL_CTX_get0_privatekey(ctx) != NULL)
			errlist_add(errs, cfg->path, cc->line, "[tls] key %s does not belong to cert %s (is the cert the "
			            "server's own, leaf first, and not its CA's?)", cc->key, cc->cert);
		else
			errlist_add(errs, cfg->path, cc->key_line, "[tls] key %s: not a PEM private key (%s)", cc->key, err);
		goto out;
	}
	x = SSL_CTX_get0_certificate(ctx);
	if (x != NULL && X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		log_warnx(NULL, "[tls] cert %s has expired: clients that verify (all should) will refuse it", cc->cert);
	return ctx;
fail:
	tls_last_error(err, sizeof(err));
	errlist_add(errs, cfg->path, cc->line, "[tls] cannot set up TLS: %s", err);
out:
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_server *tls_server_new(const struct config *cfg, struct errlist *errs)
{
	struct tls_server *t = calloc(1, sizeof(*t));
	size_t nerr0 = errs->n;

	if (t == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->ncerts && i < cfg->nkeys; i++) {
		SSL_CTX *ctx = make_ctx(cfg, &cfg->certs[i], errs);
		if (ctx != NULL)
			t->ctx[t->nctx++] = ctx;
	}
	if (errs->n > nerr0 || t->nctx == 0) {
		tls_server_free(t);
		return NULL;
	}
	SSL_CTX_set_tlsext_servername_callback(t->ctx[0], on_servername);
	SSL_CTX_set_tlsext_servername_arg(t->ctx[0], t);
	return t;
}

void tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nctx; i++)
		SSL_CTX_free(t->ctx[i]);
	free(t);
}

SSL *tls_server_ssl(struct tls_server *t)
{
	return SSL_new(t->ctx[0]);
}

int tls_server_sign(struct tls_server *t, const void *data, size_t len, unsigned char **der, size_t *derlen)
{
	X509 *cert = SSL_CTX_get0_certificate(t->ctx[0]);
	EVP_PKEY *key = SSL_CTX_get0_privatekey(t->ctx[0]);
	STACK_OF(X509) *chain = NULL;
	BIO *in = BIO_new_mem_buf(data, (int)len);
	CMS_ContentInfo *cms = NULL;
	int n = -1;

	*der = NULL;
	SSL_CTX_get0_chain_certs(t->ctx[0], &chain);
	if (cert != NULL && key != NULL && in != NULL &&
	    (cms = CMS_sign(cert, key, chain, in, CMS_BINARY | CMS_NOSMIMECAP)) != NULL)
		n = i2d_CMS_ContentInfo(cms, der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	if (n <= 0) {
		ERR_clear_error();
		return -1;
	}
	*derlen = (size_t)n;
	return 0;
}

int tls_channel_binding(SSL *ssl, unsigned char out[32])
{
	static const char label[] = "EXPORTER-Channel-Binding";

	if (SSL_version(ssl) < TLS1_3_VERSION && SSL_get_extms_support(ssl) != 1)
		return -1;
	return SSL_export_keying_material(ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0) == 1 ? 0 : -1;
}

void tls_describe(const SSL *ssl, char *buf, size_t len)
{
	int alg = 0, bits = SSL_get_cipher_bits(ssl, &alg);

	snprintf(buf, len, "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl),
	         SSL_get_cipher_name(ssl), bits, alg);
}
