/*
 * tls.c - building SSL_CTXs from the configuration and picking one by SNI.
 * Not I/O: the libevent adapter owns the handshake and the sockets.
 */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"mailport", 8);
	if (SSL_CTX_use_certificate_chain_file(ctx, cc->cert) != 1) {
		tls_last_error(err, sizeof(err));
		errlist_add(errs, cfg->path, cc->line, "[tls] cert %s: cannot load (%s)", cc->cert, err);
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cc->key, SSL_FILETYPE_PEM) != 1) {
		tls_last_error(err, sizeof(err));
		errlist_add(errs, cfg->path, cc->line, "[tls] key %s: cannot load (%s)", cc->key, err);
		goto out;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		errlist_add(errs, cfg->path, cc->line, "[tls] key %s does not belong to cert %s", cc->key, cc->cert);
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

void tls_describe(const SSL *ssl, char *buf, size_t len)
{
	int alg = 0, bits = SSL_get_cipher_bits(ssl, &alg);

	snprintf(buf, len, "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl),
	         SSL_get_cipher_name(ssl), bits, alg);
}
