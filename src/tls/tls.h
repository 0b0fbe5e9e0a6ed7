/*
 * tls.h - server-side TLS contexts (OpenSSL 3) with mailport's defaults: TLS 1.2 minimum,
 * forward-secret AEAD suites only, X25519 and P-256, server preference, tickets and a
 * session cache on, compression and renegotiation off. Several certificates are chosen by
 * SNI against each certificate's own names; the first is the default.
 *
 * tls_server_new() loads every [tls] cert/key pair and reports each problem as file:line into
 * errs (NULL on any error). The object is immutable; a reload builds a new one and the old one
 * lives as long as the configuration snapshot that holds it. tls_server_free(NULL) is a no-op.
 */
#ifndef MAILPORT_TLS_H
#define MAILPORT_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "../util/errlist.h"

struct config;
struct tls_server;

struct tls_server *tls_server_new(const struct config *cfg, struct errlist *errs);
void tls_server_free(struct tls_server *t);
/* A new SSL in accept state for one connection; the caller owns it. NULL on failure. */
SSL *tls_server_ssl(struct tls_server *t);

/* The tls-exporter channel binding of a finished handshake (RFC 9266: 32 octets exported with
 * the label "EXPORTER-Channel-Binding"), the same on both ends of one TLS connection and
 * different on each side of a man in the middle. 0, or -1 when the connection has none that
 * is safe: TLS 1.2 without the extended master secret (RFC 7627). */
int tls_channel_binding(SSL *ssl, unsigned char out[32]);

/* data signed as CMS SignedData (DER, the content attached) with the default certificate's key
 * and chain: what Apple devices show as a "Verified" configuration profile. *der is
 * OPENSSL_malloc'ed (OPENSSL_free). 0 or -1. */
int tls_server_sign(struct tls_server *t, const void *data, size_t len, unsigned char **der, size_t *derlen);

/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)", for logs and Received:. */
void tls_describe(const SSL *ssl, char *buf, size_t len);
/* The most recent OpenSSL error queue entries as one line (and clear the queue). */
void tls_last_error(char *buf, size_t len);

/* What an OpenSSL handshake error says about the peer, on either side of the connection: it
 * sent something that is not TLS (plaintext SMTP, an HTTP request), or it speaks TLS with no
 * version in common, or something else (an alert, no common cipher, a closed connection). */
enum tls_failure { TLS_FAILURE_OTHER, TLS_FAILURE_PLAINTEXT, TLS_FAILURE_VERSION };
enum tls_failure tls_failure_kind(unsigned long err);

/* Why a client's handshake with us failed, in words an admin can act on, from the SSL and the
 * first OpenSSL error of the handshake (0 = none, the client closed). *probe is set when the
 * client offered only versions we refuse (a version probe such as mailport check's or
 * testssl.sh's, or an obsolete client). No "error:0A000102:..." codes. */
void tls_accept_failure(const SSL *ssl, unsigned long err, char *buf, size_t len, int *probe);

#endif
