/*
 * scram.h - SCRAM-SHA-256 (RFC 5802, RFC 7677) for SMTP AUTH, server side: the password never
 * crosses the network, and the server keeps only StoredKey and ServerKey, which do not log in
 * anywhere. Pure (OpenSSL for HMAC, SHA-256 and PBKDF2); no I/O.
 *
 * Stored credentials, in the users file's fourth field as scram=ITER,SALT,STOREDKEY,SERVERKEY
 * (base64), made by `mailport passwd --scram`. Passwords are used as given (ASCII passwords
 * are unchanged by SASLprep; others must be typed the same way on every client).
 *
 * A struct scram_server is zero-filled by its owner; nothing to free.
 */
#ifndef MAILPORT_SCRAM_H
#define MAILPORT_SCRAM_H

#include <stddef.h>

#define SCRAM_ITER 4096             /* RFC 7677's minimum; the client pays it, not the server */
#define SCRAM_MSG_MAX 1024

struct scram_creds {
	unsigned iter;
	unsigned char salt[32];
	size_t saltlen;
	unsigned char stored[32], server[32];
};

/* New credentials for password (a random salt). 0 or -1. */
int scram_creds_make(const char *password, unsigned iter, struct scram_creds *out);
/* The same with the salt given. */
int scram_creds_derive(const char *password, const unsigned char *salt, size_t saltlen, unsigned iter,
                       struct scram_creds *out);
/* Credentials for a user who has none (or does not exist): the salt a stable function of the
 * name under secret, the keys random, so no proof ever matches and the exchange looks alike. */
int scram_creds_fake(const unsigned char secret[32], const char *user, struct scram_creds *out);
/* "ITER,SALT,STOREDKEY,SERVERKEY" into out: 0, or -1 when it does not fit. */
int scram_creds_format(const struct scram_creds *c, char *out, size_t outlen);
/* The reverse: 0, or -1 when malformed. */
int scram_creds_parse(const char *text, struct scram_creds *out);

/* Channel binding (RFC 5802 section 6, RFC 9266): SCRAM-SHA-256-PLUS proves that the client's
 * TLS connection ends at this server, not at a man in the middle with a certificate the client
 * trusts. The one type used is tls-exporter: 32 bytes of keying material exported with the
 * label "EXPORTER-Channel-Binding" (tls_channel_binding() in tls.h), defined for TLS 1.3, and
 * for TLS 1.2 only with the extended master secret. */
#define SCRAM_CB_LEN 32
#define SCRAM_CB_TYPE "tls-exporter"

struct scram_server {
	int step;                       /* 0: client-first next, 1: client-final next, 2: done */
	char gs2[320];                  /* the gs2 header as sent ("n,,", "y,,", "p=tls-exporter,,", "n,a=...,") */
	unsigned char cbind[SCRAM_CB_LEN];  /* the binding the client must prove ("p" only) */
	size_t cblen;
	char first_bare[SCRAM_MSG_MAX]; /* client-first-message-bare */
	char server_first[SCRAM_MSG_MAX];
	char nonce[256];                /* client nonce + ours */
	struct scram_creds creds;
};

/* The client's first message: its user name (authcid, unescaped) into user. 0, or -1 with why
 * (the exchange ends with 501/535). plus: the mechanism is SCRAM-SHA-256-PLUS. cb: this
 * connection's tls-exporter binding when we offer -PLUS on it (so a client saying "y", that it
 * could bind but thinks we cannot, is being downgraded and is refused), else NULL. */
int scram_server_first(struct scram_server *s, int plus, const unsigned char *cb, const char *msg, size_t len,
                       char *user, size_t userlen, char *why, size_t whylen);
/* Our first message for these credentials (real ones, or an unknown user's made-up ones), with
 * a random nonce of ours; _nonce takes it given (RFC 7677's test vector). 0 or -1. */
int scram_server_challenge(struct scram_server *s, const struct scram_creds *c, char *out, size_t outlen);
int scram_server_challenge_nonce(struct scram_server *s, const struct scram_creds *c, const char *nonce, char *out,
                                 size_t outlen);
/* The client's final message: 1 proof good (out: our final message "v=..."), 0 proof wrong,
 * -1 malformed (why). */
int scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out, size_t outlen, char *why,
                       size_t whylen);
void scram_server_clear(struct scram_server *s);

/* The client's side (mailport send): our first message, our proof for the server's first
 * message, and the server's proof that it knows the keys (mutual authentication). */
struct scram_client {
	char gs2[32];
	unsigned char cbind[SCRAM_CB_LEN];
	size_t cblen;
	char first_bare[SCRAM_MSG_MAX];
	char nonce[128];
	unsigned char server_sig[32];
};

/* How the client binds: SCRAM_BIND_NONE "n" (it cannot: no binding on this connection),
 * SCRAM_BIND_CAN "y" (it could, the server did not offer -PLUS), SCRAM_BIND_USE "p=tls-exporter"
 * (SCRAM-SHA-256-PLUS, cb given). */
enum scram_bind { SCRAM_BIND_NONE, SCRAM_BIND_CAN, SCRAM_BIND_USE };

/* "GS2,n=USER,r=NONCE" into out (nonce: printable, no ','). 0 or -1. */
int scram_client_first(struct scram_client *c, const char *user, const char *nonce, enum scram_bind bind,
                       const unsigned char *cb, char *out, size_t outlen);
/* Our final message for the server's first one: 0, or -1 with why (a nonce that is not ours
 * extended, a malformed message, too few or too many iterations). */
int scram_client_final(struct scram_client *c, const char *password, const char *server_first, size_t len, char *out,
                       size_t outlen, char *why, size_t whylen);
/* 0 when the server's final message carries the signature only the real keys make. */
int scram_client_verify(const struct scram_client *c, const char *server_final, size_t len);

#endif
