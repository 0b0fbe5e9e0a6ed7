/*
 * session_int.h - what the server session's files share, and nobody else, in layers:
 * session_reply.c (replies, the transaction's end, closing) below session_auth.c (STARTTLS
 * and AUTH) below session.c (the command table, MAIL/RCPT/DATA, input, lifecycle: the
 * interface, session.h). Pure like them: no I/O, no policy.
 */
#ifndef MAILPORT_SESSION_INT_H
#define MAILPORT_SESSION_INT_H

#include "data.h"
#include "parse.h"
#include "session.h"

#define HELO_MAX  255   /* a domain or address literal */
/* What makes a message unacceptable (a bare LF is normalised instead, see data.h). */
#define DATA_REFUSED (SMTP_DATA_BARE_CR | SMTP_DATA_NUL)

enum state {
	S_NEW,          /* before the greeting */
	S_CMD,          /* reading commands */
	S_DATA,         /* inside DATA */
	S_COMMIT,       /* waiting for the adapter's commit result */
	S_MAIL_WAIT,    /* MAIL: waiting for the adapter's sender verdict */
	S_AUTH,         /* AUTH: waiting for the client's next base64 line */
	S_AUTH_WAIT,    /* AUTH: waiting for the adapter's verdict */
	S_STARTTLS,     /* 220 to STARTTLS queued: the adapter must switch to TLS */
	S_CLOSING,      /* final reply queued; no more input */
};

enum auth_mech { MECH_PLAIN = 1, MECH_LOGIN, MECH_SCRAM, MECH_SCRAM_PLUS, MECH_EXTERNAL };

struct smtp_session {
	const struct smtp_session_conf *conf;
	const struct smtp_session_cb *cb;
	void *ctx;
	enum state state;

	char *line;                 /* a partial line (no terminator), SMTP_AUTH_LINE_MAX octets, held
	                               only while one is incomplete: an idle session has none */
	size_t line_len;
	int line_overflow;          /* discarding the rest of an over-long line */

	char *helo;                 /* NULL until HELO or EHLO; at most HELO_MAX octets */
	int esmtp;
	int tls;
	unsigned char cbind[32];        /* tls-exporter (SCRAM-SHA-256-PLUS) when has_cbind */
	unsigned has_cbind : 1, client_cert : 1;
	char *auth_user;                /* NULL until AUTH succeeds */
	enum auth_mech auth_mech;
	int auth_step;                  /* LOGIN: 0 = username next, 1 = password next; SCRAM: 0
	                                   client-first, 1 client-final, 2 the empty line after ours */
	struct scram_server *scram;     /* during a SCRAM exchange, else NULL */
	char *auth_login;               /* the identity of an AUTH exchange under way, else NULL */
	unsigned long retry_after;      /* seconds a lockout lasts (smtp_session_auth_retry_after) */
	unsigned errors;
	unsigned messages;

	struct smtp_tx *tx;         /* NULL outside a transaction */
	struct smtp_data data;
	int data_open;              /* data_begin succeeded, not yet committed or aborted */
	int data_too_big, data_io_error;
};

/* ---- session_reply.c ---- */
void sess_reply_raw(struct smtp_session *s, const char *buf, size_t len);
/* The single place a one-line reply is formatted; every 4xx/5xx counts toward max_errors,
 * except 452 4.5.3 and 421. */
void sess_reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* This reply, then nothing more: the session is closing. */
void sess_close_with(struct smtp_session *s, int code, const char *esc, const char *text);
void sess_data_abort(struct smtp_session *s);
void sess_tx_free(struct smtp_session *s);
void sess_enter_closing(struct smtp_session *s);
char *sess_dup_slice(const char *p, size_t n);
void sess_oom(struct smtp_session *s);
void sess_do_not_offered(struct smtp_session *s, const struct smtp_cmd *c);

/* ---- session_auth.c ---- */
void sess_do_starttls(struct smtp_session *s, const struct smtp_cmd *c);
void sess_do_auth(struct smtp_session *s, const struct smtp_cmd *c);
/* A line of base64 while in S_AUTH. */
void sess_auth_response(struct smtp_session *s, const char *b64, size_t len);
/* Wipe and free a SCRAM exchange's state (none: no-op). */
void sess_scram_end(struct smtp_session *s);
/* Wipe and free auth_login (none: no-op). */
void sess_login_clear(struct smtp_session *s);

#endif
