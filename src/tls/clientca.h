/*
 * clientca.h - TLS client certificates on the submission ports: a device's key that no phishing
 * page can ask for, as the second factor beside a password or as the only one (SASL EXTERNAL).
 *
 * The handshake asks for a certificate and never fails for want of one (a client without one
 * still logs in with a password); what the client showed is judged after the handshake: issued
 * by [auth] client_ca, in its validity period, for client authentication, not on the CRL. The
 * CRL file (written by `mailport user cert revoke`) is read again whenever it changes, so a
 * revocation takes effect at the next connection without a reload; a CRL that does not carry
 * the CA's signature refuses every certificate until it is fixed (fail closed).
 *
 * The mailboxes a certificate names: its rfc822Name subjectAltNames, else its subject's
 * emailAddress, else a subject CN with an '@'. Thread-safe; clientca_free(NULL) is a no-op.
 */
#ifndef MAILPORT_CLIENTCA_H
#define MAILPORT_CLIENTCA_H

#include <openssl/ssl.h>
#include <stddef.h>

#define CLIENTCA_NAMES 4

struct clientca;

struct clientca_id {
	char mailbox[CLIENTCA_NAMES][256];      /* lower case */
	size_t n;
	char serial[64];                        /* hex, for the logs and revocation */
};

enum clientca_result { CLIENTCA_NONE, CLIENTCA_OK, CLIENTCA_BAD };

/* The CA certificates in ca_file (PEM, one or more) and the CRL path (may not exist yet).
 * NULL with why when ca_file does not load. */
struct clientca *clientca_new(const char *ca_file, const char *crl_file, char *why, size_t whylen);
void clientca_free(struct clientca *cc);
/* Ask for a client certificate in this SSL's handshake (before it starts). 0 or -1. */
int clientca_request(struct clientca *cc, SSL *ssl);
/* After the handshake: no certificate, a good one (id filled), or a bad one (why in words). */
enum clientca_result clientca_check(struct clientca *cc, SSL *ssl, struct clientca_id *id, char *why,
                                    size_t whylen);
/* 1 when the certificate names mailbox (any case). */
int clientca_names(const struct clientca_id *id, const char *mailbox);
/* The mailboxes of a certificate (the rules above), for the issuing tool as for the server. */
void clientca_mailboxes(X509 *x, struct clientca_id *id);

#endif
