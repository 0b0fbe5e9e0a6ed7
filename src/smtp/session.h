/*
 * session.h - the SMTP server session as a pure state machine (RFC 5321, 1870, 2920, 3463,
 * 6152, 6531).
 *
 * The core never touches sockets, files, clocks or libraries: the I/O adapter feeds it bytes
 * with smtp_session_recv() and events (timeout, shutdown, commit result), and the core calls
 * back for replies and for the decisions it does not own (recipient policy, spooling).
 *
 * Call order: smtp_session_new(), smtp_session_start() (queues the 220 greeting), then any
 * number of smtp_session_recv() / event calls; after each, check smtp_session_closing() and,
 * if set, flush the replies and close. smtp_session_free() at the end (NULL is a no-op).
 *
 * Ownership: the session copies what it keeps (conf strings excepted: conf and everything it
 * points to must outlive the session). Callbacks borrow their arguments for the call only.
 * Callbacks must not free or feed the session they are called from.
 */
#ifndef MAILPORT_SMTP_SESSION_H
#define MAILPORT_SMTP_SESSION_H

#include <stddef.h>

#include "parse.h"

#define SMTP_QID_MAX      32
#define SMTP_RCPTS_MIN    100   /* RFC 5321 §4.5.3.1.8: servers must accept at least 100 */
/* RFC 4954 §4 allows AUTH lines of 12288 octets; real PLAIN credentials (255-octet user,
 * long password) fit in 2048, and every session pays for the buffer. */
#define SMTP_AUTH_LINE_MAX 2048
#define SMTP_USER_MAX     255

/* Listener policy, in struct smtp_session_conf.policy. */
#define SMTP_POLICY_STARTTLS      0x01  /* offer STARTTLS while the session is plaintext */
#define SMTP_POLICY_TLS_REQUIRED  0x02  /* MAIL, RCPT, DATA, AUTH, VRFY need TLS: 530 5.7.0 */
#define SMTP_POLICY_AUTH          0x04  /* offer AUTH PLAIN LOGIN, and only inside TLS */
#define SMTP_POLICY_AUTH_REQUIRED 0x08  /* MAIL needs a successful AUTH: 530 5.7.0 */
#define SMTP_POLICY_SCRAM         0x10  /* with AUTH: offer SCRAM-SHA-256 too ([auth] scram) */

/* Results of the auth callback. */
#define SMTP_AUTH_OK       0
#define SMTP_AUTH_FAIL    -1        /* 535 5.7.8 */
#define SMTP_AUTH_LOCKED  -2        /* 454 4.7.0 and close (too many failures from the peer) */
#define SMTP_AUTH_TEMPFAIL -3       /* 454 4.7.0: the password service did not answer (RFC 4954) */
#define SMTP_AUTH_PENDING  1        /* answer comes through smtp_session_auth_done() */

struct smtp_session;
struct scram_creds;

struct smtp_session_conf {
	const char *hostname;       /* in the greeting and EHLO reply */
	size_t max_message_size;    /* octets of message data; 0 = no limit */
	unsigned max_rcpts;         /* per transaction (452 4.5.3 past it) */
	unsigned max_errors;        /* 4xx/5xx replies before 421 and close */
	unsigned policy;            /* SMTP_POLICY_* of the listener */
};

struct smtp_rcpt {
	char *addr;                 /* as given in RCPT TO, without brackets */
	char *target;               /* what the policy resolved it to (delivery address) */
	int local;                  /* the policy says it is delivered here */
};

/* The transaction: one MAIL, its RCPTs and its DATA. Read-only for callers. */
struct smtp_tx {
	char *sender;               /* "" for the null reverse-path <> */
	struct smtp_rcpt *rcpts;
	size_t nrcpts, rcpts_cap;
	size_t declared_size;       /* SIZE=, 0 when absent */
	unsigned smtputf8 : 1;      /* MAIL carried SMTPUTF8 */
	unsigned body_8bit : 1;     /* BODY=8BITMIME */
	unsigned requiretls : 1;    /* MAIL carried REQUIRETLS (RFC 8689), inside TLS */
};

#define SMTP_VERDICT_PENDING 1

/* What the recipient policy answers. code 250 accepts; target must then be filled. */
struct smtp_verdict {
	int code;
	const char *esc;            /* enhanced status code, e.g. "5.1.1" */
	const char *text;
	char target[SMTP_ADDR_MAX + 1];
	int local;
};

struct smtp_session_cb {
	/* Write reply octets (one or more complete CRLF-terminated lines). */
	void (*reply)(void *ctx, const char *buf, size_t len);
	/* Sender policy, optional (NULL accepts): tx has sender and declared_size filled. A code
	 * of SMTP_VERDICT_PENDING defers the answer to smtp_session_mail_done(); the session reads
	 * no input until then (a shared counter is being asked). */
	void (*mail)(void *ctx, const struct smtp_tx *tx, struct smtp_verdict *v);
	/* Recipient policy. addr is the mailbox without brackets, or "postmaster". */
	void (*rcpt)(void *ctx, const struct smtp_tx *tx, const char *addr, struct smtp_verdict *v);
	/* Open the spool file for a transaction. 0 = ok; -1 = 451 4.3.0; -2 = 452 4.3.1 (no space). */
	int (*data_begin)(void *ctx, const struct smtp_tx *tx);
	/* Append decoded message octets. 0 = ok; -1 = remembered, the message is refused with 451
	 * (-2: 452 4.3.1, no space). */
	int (*data_write)(void *ctx, const char *p, size_t n);
	/* Make the message durable. 0 = done, qid filled; -1 = 451; -2 = 452 4.3.1 (no space);
	 * -3 = refused by a content check, 550 5.7.1 with the text in qid;
	 * 1 = pending: the adapter calls smtp_session_commit_done() later and the session reads no
	 * input until then. */
	int (*data_commit)(void *ctx, const struct smtp_tx *tx, char *qid, size_t qidsz);
	/* Throw away the open spool file (size exceeded, bad content, session ended). */
	void (*data_abort)(void *ctx);
	/* Check credentials (SMTP_AUTH_*). authzid is "" when not given. The core wipes the
	 * password after the call: copy it if the answer is pending. */
	int (*auth)(void *ctx, const char *authzid, const char *user, const char *password);
	/* SCRAM-SHA-256 (SMTP_POLICY_SCRAM): the stored credentials of user into out (made-up ones
	 * for a user without any, so the exchange looks the same) and SMTP_AUTH_OK, or
	 * SMTP_AUTH_LOCKED. Synchronous: a lookup, no hashing. */
	int (*scram_creds)(void *ctx, const char *user, struct scram_creds *out);
	/* The outcome of a SCRAM exchange (ok: the proof was good; mech "SCRAM-SHA-256" or
	 * "SCRAM-SHA-256-PLUS") for logs and the throttle: SMTP_AUTH_OK or SMTP_AUTH_FAIL. Synchronous. */
	int (*auth_outcome)(void *ctx, const char *user, int ok, const char *mech);
	/* SASL EXTERNAL (RFC 4422 appendix A), offered when the adapter said the client showed a
	 * certificate we verified: authzid is "" or the mailbox the client asks to be; the adapter
	 * answers from the certificate and the mailbox's policy, with the mailbox in user.
	 * SMTP_AUTH_OK, _FAIL or _LOCKED. Synchronous. Optional. */
	int (*auth_external)(void *ctx, const char *authzid, char *user, size_t userlen);
};

struct smtp_session *smtp_session_new(const struct smtp_session_conf *conf,
                                      const struct smtp_session_cb *cb, void *ctx);
void smtp_session_free(struct smtp_session *s);

/* Queue the 220 greeting. */
void smtp_session_start(struct smtp_session *s);

/* Feed octets from the client. Returns how many were consumed: all of them unless the session
 * waits for a pending commit (feed the rest after smtp_session_commit_done()) or is closing
 * (the rest is to be discarded). */
size_t smtp_session_recv(struct smtp_session *s, const char *buf, size_t len);

/* Events from the adapter. */
void smtp_session_timeout(struct smtp_session *s);      /* 421 4.4.2 and close */
void smtp_session_shutdown(struct smtp_session *s);     /* 421 4.3.2 and close */
/* The adapter saw something that rules the session out (a TLS ClientHello on a plaintext
 * port): this reply (a 4xx or 5xx) and close. */
void smtp_session_refuse(struct smtp_session *s, int code, const char *esc, const char *text);
/* ok: 1 = durable (250), 0 = not (451 4.3.0), SMTP_COMMIT_NOSPACE = not, for want of space
 * (452 4.3.1: the client tries again later, as RFC 3463 means it). */
#define SMTP_COMMIT_NOSPACE (-2)
void smtp_session_commit_done(struct smtp_session *s, int ok, const char *qid);
/* The pending commit did not happen because a content check refused the message (the adapter
 * threw the spool file away): 550 5.7.1 with text. */
void smtp_session_commit_refuse(struct smtp_session *s, const char *text);
/* The client went away: aborts an open message (data_abort) and marks the session closed. */
void smtp_session_eof(struct smtp_session *s);

/* TLS. Implicit TLS (465): smtp_session_set_tls() before smtp_session_start(). STARTTLS: after
 * smtp_session_recv() returns, smtp_session_wants_tls() says the 220 is queued and input stopped
 * right after the STARTTLS line; the adapter flushes the reply, discards every octet it still
 * holds from the client (CVE-2011-0411), runs the handshake and calls smtp_session_tls_started()
 * (the session is then back to its pre-EHLO state, RFC 3207 §4.2), or closes on failure. */
void smtp_session_set_tls(struct smtp_session *s);
int smtp_session_wants_tls(const struct smtp_session *s);
void smtp_session_tls_started(struct smtp_session *s);
/* After the handshake, before smtp_session_tls_started() or _start(): this connection's
 * tls-exporter channel binding (SCRAM_CB_LEN octets; NULL when TLS cannot give one, TLS 1.2
 * without the extended master secret), which makes SCRAM-SHA-256-PLUS available; and whether
 * the client showed a certificate we verified, which makes EXTERNAL available. */
void smtp_session_tls_peer(struct smtp_session *s, const unsigned char *cbind, int client_cert);
int smtp_session_tls(const struct smtp_session *s);
/* The authenticated user, or NULL. */
const char *smtp_session_auth_user(const struct smtp_session *s);
void smtp_session_auth_done(struct smtp_session *s, int result);
/* The pending sender verdict: code 250 accepts the MAIL, anything else refuses it with esc and
 * text (copied). Ignored unless a MAIL is waiting. */
void smtp_session_mail_done(struct smtp_session *s, int code, const char *esc, const char *text);
/* Before answering SMTP_AUTH_LOCKED: how long the lockout lasts, for the 454's words. */
void smtp_session_auth_retry_after(struct smtp_session *s, unsigned long seconds);

int smtp_session_closing(const struct smtp_session *s);
const char *smtp_session_helo(const struct smtp_session *s);   /* "" before HELO/EHLO */
int smtp_session_esmtp(const struct smtp_session *s);
/* Counters for the close log line. */
unsigned smtp_session_messages(const struct smtp_session *s);

#endif
