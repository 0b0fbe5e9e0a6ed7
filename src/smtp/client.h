/*
 * client.h - the SMTP client session as a pure state machine, shared by the queue's relay,
 * `mailport send` and `mailport check` (so they can never disagree about what a server did).
 *
 * Call order: smtp_client_new(); then for every complete server reply (from reply.h, starting
 * with the greeting) smtp_client_reply(), and do what out->step says: write out->buf and wait
 * for the next reply (SC_WRITE), start TLS and call smtp_client_tls_started() (SC_STARTTLS; the
 * transport must refuse if the server sent anything after the 220), send the dot-stuffed body
 * and ".\r\n" and wait (SC_BODY), or stop (SC_DONE after writing out->buf = QUIT; SC_FAIL).
 * No I/O, no clock, no allocation after _new. AUTH is only ever sent inside TLS.
 *
 * Results: every recipient ends with the reply that decided it (250 = delivered), or with code
 * 0 when nothing decided it (connection lost, failure before MAIL): treat those as temporary.
 * The envelope and conf are borrowed and must outlive the client; the caller may clear
 * conf->user before smtp_client_tls_started() (check withholds a password from a server whose
 * certificate is not valid). smtp_client_free(NULL) is ok.
 */
#ifndef MAILPORT_SMTP_CLIENT_H
#define MAILPORT_SMTP_CLIENT_H

#include <stddef.h>

#include "reply.h"
#include "session.h"

enum smtp_client_tls {
	SC_TLS_NONE,            /* plaintext by explicit choice (smtp://, a local relay) */
	SC_TLS_IMPLICIT,        /* the transport is TLS from the first byte (smtps://) */
	SC_TLS_REQUIRED,        /* STARTTLS or nothing is sent (smtp+starttls://) */
	SC_TLS_OPPORTUNISTIC,   /* STARTTLS when offered (MX on port 25, RFC 3207) */
};

struct smtp_client_conf {
	const char *helo;
	enum smtp_client_tls tls;
	const char *user, *password;    /* AUTH when user is set: SCRAM-SHA-256 when the server offers
	                                   it and scram_nonce is given, else PLAIN (or LOGIN) */
	/* `mailport check`: probe stops where MAIL would be sent (after TLS and AUTH) and may have
	 * no recipients; rcpt_only stops after the RCPT replies and never sends DATA (relay test). */
	unsigned probe : 1, rcpt_only : 1;
	const char *scram_nonce;        /* random, printable, no ','; NULL: no SCRAM */
	int scram_only;                 /* never PLAIN or LOGIN: SCRAM-SHA-256 or nothing */
	int external;                   /* no user: log in with the TLS client certificate (AUTH
	                                   EXTERNAL, RFC 4422 appendix A), or fail if not offered */
	int lmtp;                       /* LMTP (RFC 2033): LHLO instead of EHLO, and after the data one
	                                   reply per accepted recipient, each deciding its own */
};

struct smtp_client_envelope {
	const char *sender;
	const char *const *rcpts;
	size_t nrcpts;
	size_t size;                    /* for SIZE= (RFC 1870) */
	int smtputf8, body8;
	int requiretls;                 /* MAIL ... REQUIRETLS (RFC 8689): inside TLS, to a server
	                                   offering it, or not at all (550 5.7.30, stage "local");
	                                   that the TLS is authenticated is the caller's part */
};

enum smtp_client_step { SC_WRITE, SC_STARTTLS, SC_BODY, SC_DONE, SC_FAIL };

struct smtp_client_out {
	enum smtp_client_step step;
	char buf[SMTP_AUTH_LINE_MAX];
	size_t len;
};

struct smtp_client_result {
	int code;                       /* 0 = undecided (temporary) */
	char esc[16];
	char text[512];
	char stage[16];                 /* "greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "local" */
};

struct smtp_client;

struct smtp_client *smtp_client_new(const struct smtp_client_conf *conf,
                                    const struct smtp_client_envelope *env);
/* A new transaction on a connection a previous client left after SC_DONE (without sending
 * its QUIT): starts by writing RSET (out is filled), keeps that session's TLS, AUTH and
 * capabilities. A reply other than 250 to the RSET fails with stage "rset": reconnect.
 * conf replaces prev's (the caller may have moved it). */
struct smtp_client *smtp_client_reuse(const struct smtp_client *prev, const struct smtp_client_conf *conf,
                                      const struct smtp_client_envelope *env, struct smtp_client_out *out);
void smtp_client_free(struct smtp_client *c);
void smtp_client_reply(struct smtp_client *c, const struct smtp_reply *r, struct smtp_client_out *out);
void smtp_client_tls_started(struct smtp_client *c, struct smtp_client_out *out);
/* Once TLS is up (after the handshake, before smtp_client_tls_started(); with implicit TLS
 * before the greeting): its tls-exporter binding (tls_channel_binding()), which makes the client
 * prefer SCRAM-SHA-256-PLUS and say "y" (could bind) to a server offering only SCRAM-SHA-256. */
void smtp_client_tls_binding(struct smtp_client *c, const unsigned char *cb);

const struct smtp_client_result *smtp_client_rcpt_result(const struct smtp_client *c, size_t i);
/* Why the session stopped early (SC_FAIL), for the log and for undecided recipients. */
const struct smtp_client_result *smtp_client_failure(const struct smtp_client *c);
const struct smtp_caps *smtp_client_caps(const struct smtp_client *c);
/* For `mailport check`: the greeting; the capabilities announced before STARTTLS (all zero
 * when the session never said EHLO in plaintext); whether EHLO was answered at all; the AUTH
 * outcome (code 0 = not attempted, 235 = accepted). */
const struct smtp_client_result *smtp_client_greeting(const struct smtp_client *c);
const struct smtp_caps *smtp_client_caps_plain(const struct smtp_client *c, int *seen);
int smtp_client_esmtp(const struct smtp_client *c);
const struct smtp_client_result *smtp_client_auth_result(const struct smtp_client *c);
/* The server's answer to STARTTLS (code 0 = not sent: not offered, or TLS not wanted), also
 * when an opportunistic session went on in plaintext after a refusal (TLS-RPT counts it). */
const struct smtp_client_result *smtp_client_starttls_result(const struct smtp_client *c);

#endif
