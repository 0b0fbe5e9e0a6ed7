/*
 * session.c - the SMTP server state machine: command table, transaction, replies.
 * Not I/O and not policy: it never decides who has a mailbox or where bytes are stored, it
 * only asks through the callbacks and turns the answers into replies with RFC 3463 codes.
 */
#include "session.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/base64.h"
#include "../util/duration.h"
#include "data.h"

#define HELO_MAX  255   /* a domain or address literal */
/* What makes a message unacceptable (a bare LF is normalised instead, see data.h). */
#define DATA_REFUSED (SMTP_DATA_BARE_CR | SMTP_DATA_NUL)

enum state {
	S_NEW,          /* before the greeting */
	S_CMD,          /* reading commands */
	S_DATA,         /* inside DATA */
	S_COMMIT,       /* waiting for the adapter's commit result */
	S_AUTH,         /* AUTH: waiting for the client's next base64 line */
	S_AUTH_WAIT,    /* AUTH: waiting for the adapter's verdict */
	S_STARTTLS,     /* 220 to STARTTLS queued: the adapter must switch to TLS */
	S_CLOSING,      /* final reply queued; no more input */
};

enum auth_mech { MECH_PLAIN = 1, MECH_LOGIN };

struct smtp_session {
	const struct smtp_session_conf *conf;
	const struct smtp_session_cb *cb;
	void *ctx;
	enum state state;

	char line[SMTP_AUTH_LINE_MAX];  /* partial line (no terminator) */
	size_t line_len;
	int line_overflow;          /* discarding the rest of an over-long line */

	char helo[HELO_MAX + 1];
	int esmtp;
	int tls;
	char auth_user[SMTP_USER_MAX + 1];  /* "" until AUTH succeeds */
	enum auth_mech auth_mech;
	int auth_step;                  /* LOGIN: 0 = username next, 1 = password next */
	char auth_login[SMTP_USER_MAX + 1];
	unsigned long retry_after;      /* seconds a lockout lasts (smtp_session_auth_retry_after) */
	unsigned errors;
	unsigned messages;

	struct smtp_tx *tx;         /* NULL outside a transaction */
	struct smtp_data data;
	int data_open;              /* data_begin succeeded, not yet committed or aborted */
	int data_too_big, data_io_error;
};

/* ---- replies ------------------------------------------------------------------------- */

static void enter_closing(struct smtp_session *s);

static void reply_raw(struct smtp_session *s, const char *buf, size_t len)
{
	s->cb->reply(s->ctx, buf, len);
}

/* The single place a one-line reply is formatted. Every 4xx/5xx counts toward max_errors,
 * except 452 4.5.3 (too many recipients is the client's normal pacing signal) and 421. */
static void reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void reply(struct smtp_session *s, int code, const char *esc, const char *fmt, ...)
{
	char buf[SMTP_LINE_MAX];
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "%d %s ", code, esc);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if ((size_t)n > sizeof(buf) - 3)
		n = (int)sizeof(buf) - 3;
	buf[n++] = '\r';
	buf[n++] = '\n';
	reply_raw(s, buf, (size_t)n);
	if (code >= 400 && code != 421 && code != 452)
		s->errors++;
}

static void close_with(struct smtp_session *s, int code, const char *esc, const char *text)
{
	if (s->state == S_CLOSING)
		return;
	reply(s, code, esc, "%s %s", s->conf->hostname, text);
	enter_closing(s);
}

/* ---- transaction --------------------------------------------------------------------- */

static void data_abort(struct smtp_session *s)
{
	if (s->data_open) {
		s->data_open = 0;
		s->cb->data_abort(s->ctx);
	}
}

static void tx_free(struct smtp_session *s)
{
	struct smtp_tx *tx = s->tx;

	data_abort(s);
	if (tx == NULL)
		return;
	for (size_t i = 0; i < tx->nrcpts; i++) {
		free(tx->rcpts[i].addr);
		free(tx->rcpts[i].target);
	}
	free(tx->rcpts);
	free(tx->sender);
	free(tx);
	s->tx = NULL;
}

static void enter_closing(struct smtp_session *s)
{
	tx_free(s);
	s->state = S_CLOSING;
}

static char *dup_slice(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* Out of memory inside a session fails the session, not the process (STYLE §4). */
static void oom(struct smtp_session *s)
{
	close_with(s, 421, "4.3.0", "Out of memory, closing connection");
}

/* ---- commands ------------------------------------------------------------------------ */

/* Per-verb flags; policy for later listeners (TLS required, AUTH) slots in here. */
#define CMD_NEED_HELO   0x01    /* 503 before HELO/EHLO */
#define CMD_NEED_TX     0x02    /* 503 without MAIL */
#define CMD_NO_ARG      0x04    /* 501 with an argument */
#define CMD_NEED_ARG    0x08    /* 501 without an argument */
#define CMD_NEED_TLS    0x10    /* 530 before STARTTLS where the listener requires TLS */

struct cmd {
	enum smtp_verb verb;
	unsigned flags;
	const char *usage;
	void (*proceed)(struct smtp_session *, const struct smtp_cmd *);
};

static void do_helo(struct smtp_session *s, const struct smtp_cmd *c)
{
	size_t n = c->arglen;
	int ehlo = c->verb == SMTP_V_EHLO;

	/* The argument is a domain or address literal; we record it, we do not judge it (a
	 * Received: header shows it next to the peer address, which is what matters). */
	for (size_t i = 0; i < n; i++)
		if (c->arg[i] == ' ') {
			n = i;
			break;
		}
	if (n > HELO_MAX) {
		reply(s, 501, "5.5.4", "Syntax: %s hostname (too long)", ehlo ? "EHLO" : "HELO");
		return;
	}
	tx_free(s);
	memcpy(s->helo, c->arg, n);
	s->helo[n] = '\0';
	s->esmtp = ehlo;
	if (!ehlo) {
		char buf[SMTP_LINE_MAX];
		int len = snprintf(buf, sizeof(buf), "250 %s\r\n", s->conf->hostname);
		reply_raw(s, buf, (size_t)len);
		return;
	}
	char buf[1024];
	int len = snprintf(buf, sizeof(buf), "250-%s\r\n250-PIPELINING\r\n", s->conf->hostname);
	if (s->conf->max_message_size)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "250-SIZE %zu\r\n",
		                s->conf->max_message_size);
	else
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "250-SIZE\r\n");
	if ((s->conf->policy & SMTP_POLICY_STARTTLS) && !s->tls)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "250-STARTTLS\r\n");
	/* AUTH is never advertised in plaintext: a client must not even be tempted. */
	if ((s->conf->policy & SMTP_POLICY_AUTH) && s->tls)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "250-AUTH PLAIN LOGIN\r\n");
	len += snprintf(buf + len, sizeof(buf) - (size_t)len,
	                "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
	reply_raw(s, buf, (size_t)len);
}

static int parse_size(const char *p, size_t n, size_t *out)
{
	size_t v = 0;

	if (n == 0 || n > 20)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (v > (SIZE_MAX - 9) / 10)
			v = SIZE_MAX;       /* saturate: any such size is over every limit */
		else
			v = v * 10 + (size_t)(p[i] - '0');
	}
	*out = v;
	return 0;
}

/* Replies for path parse errors; which = "sender" or "recipient". */
static void path_error(struct smtp_session *s, int r, int sender)
{
	const char *esc = sender ? "5.1.7" : "5.1.3";
	const char *who = sender ? "sender" : "recipient";

	switch (r) {
	case SMTP_ARG_EFORM:
		reply(s, 501, "5.5.4", "Syntax: %s", sender ? "MAIL FROM:<address>" : "RCPT TO:<address>");
		break;
	case SMTP_ARG_EPARAMS:
		reply(s, 501, "5.5.4", "Syntax error in parameters");
		break;
	case SMTP_PATH_ETOOLONG:
		reply(s, 501, esc, "Bad %s address: too long (RFC 5321 4.5.3.1)", who);
		break;
	case SMTP_PATH_EUTF8:
		reply(s, 553, "5.6.7", "Non-ASCII %s address requires SMTPUTF8", who);
		break;
	default:
		reply(s, 501, esc, "Bad %s address syntax", who);
		break;
	}
}

static void do_mail(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_param params[SMTP_PARAMS_MAX];
	size_t nparams = SMTP_PARAMS_MAX, size = 0;
	struct smtp_path path;
	int r, utf8 = 0, body = 0, have_size = 0;

	r = smtp_parse_mail_arg(c->arg, c->arglen, "FROM:", SMTP_PATH_ALLOW_NULL, &path, params, &nparams);
	if (r != 0) {
		path_error(s, r, 1);
		return;
	}
	for (size_t i = 0; i < nparams; i++) {
		const struct smtp_param *p = &params[i];
		if (!s->esmtp) {
			reply(s, 555, "5.5.4", "MAIL parameters need EHLO");
			return;
		}
		if (smtp_slice_ieq(p->key, p->key_len, "SIZE")) {
			if (have_size++ || p->value == NULL || parse_size(p->value, p->value_len, &size) < 0) {
				reply(s, 501, "5.5.4", "Bad SIZE parameter");
				return;
			}
		} else if (smtp_slice_ieq(p->key, p->key_len, "BODY")) {
			if (body || p->value == NULL) {
				reply(s, 501, "5.5.4", "Bad BODY parameter");
				return;
			}
			if (smtp_slice_ieq(p->value, p->value_len, "8BITMIME"))
				body = 8;
			else if (smtp_slice_ieq(p->value, p->value_len, "7BIT"))
				body = 7;
			else {
				reply(s, 501, "5.5.4", "Bad BODY parameter: 7BIT or 8BITMIME");
				return;
			}
		} else if (smtp_slice_ieq(p->key, p->key_len, "SMTPUTF8")) {
			if (utf8 || p->value != NULL) {
				reply(s, 501, "5.5.4", "Bad SMTPUTF8 parameter");
				return;
			}
			utf8 = 1;
		} else {
			reply(s, 555, "5.5.4", "Unsupported parameter %.*s", (int)(p->key_len > 64 ? 64 : p->key_len), p->key);
			return;
		}
	}
	if (s->conf->max_message_size && size > s->conf->max_message_size) {
		reply(s, 552, "5.3.4", "Message size exceeds fixed limit of %zu octets", s->conf->max_message_size);
		return;
	}
	struct smtp_tx *tx = calloc(1, sizeof(*tx));
	if (tx == NULL || (tx->sender = dup_slice(path.mailbox ? path.mailbox : "", path.mailbox_len)) == NULL) {
		free(tx);
		oom(s);
		return;
	}
	tx->declared_size = size;
	tx->smtputf8 = utf8;
	tx->body_8bit = body == 8;
	s->tx = tx;
	if (s->cb->mail != NULL) {
		struct smtp_verdict v;
		memset(&v, 0, sizeof(v));
		v.code = 250;
		s->cb->mail(s->ctx, tx, &v);
		if (v.code != 250) {
			tx_free(s);
			reply(s, v.code, v.esc, "%s", v.text);
			return;
		}
	}
	reply(s, 250, "2.1.0", "Ok");
}

static int add_rcpt(struct smtp_tx *tx, const char *addr, size_t addrlen, const struct smtp_verdict *v)
{
	/* Two RCPTs that resolve to one mailbox are delivered once (Postfix does the same). */
	for (size_t i = 0; i < tx->nrcpts; i++)
		if (strcmp(tx->rcpts[i].target, v->target) == 0)
			return 0;
	if (tx->nrcpts == tx->rcpts_cap) {
		size_t ncap = tx->rcpts_cap ? tx->rcpts_cap * 2 : 4;
		struct smtp_rcpt *n = realloc(tx->rcpts, ncap * sizeof(*n));
		if (n == NULL)
			return -1;
		tx->rcpts = n;
		tx->rcpts_cap = ncap;
	}
	struct smtp_rcpt *r = &tx->rcpts[tx->nrcpts];
	r->addr = dup_slice(addr, addrlen);
	r->target = strdup(v->target);
	r->local = v->local;
	if (r->addr == NULL || r->target == NULL) {
		free(r->addr);
		free(r->target);
		return -1;
	}
	tx->nrcpts++;
	return 0;
}

static void do_rcpt(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_param params[SMTP_PARAMS_MAX];
	size_t nparams = SMTP_PARAMS_MAX;
	struct smtp_path path;
	struct smtp_verdict v;
	char addr[SMTP_ADDR_MAX + 1];
	size_t addrlen;
	int r;

	if (s->tx->nrcpts >= s->conf->max_rcpts) {
		reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	r = smtp_parse_mail_arg(c->arg, c->arglen, "TO:",
	                        SMTP_PATH_ALLOW_POSTMASTER | (s->tx->smtputf8 ? SMTP_PATH_UTF8 : 0),
	                        &path, params, &nparams);
	if (r == SMTP_PATH_EUTF8 && !s->tx->smtputf8) {
		reply(s, 553, "5.6.7", "Non-ASCII recipient needs SMTPUTF8 on MAIL FROM");
		return;
	}
	if (r != 0) {
		path_error(s, r, 0);
		return;
	}
	if (nparams > 0) {
		reply(s, 555, "5.5.4", "Unsupported RCPT parameter %.*s",
		      (int)(params[0].key_len > 64 ? 64 : params[0].key_len), params[0].key);
		return;
	}
	if (path.is_postmaster) {
		addrlen = 10;
		memcpy(addr, "postmaster", addrlen);
	} else {
		addrlen = path.mailbox_len;
		memcpy(addr, path.mailbox, addrlen);
	}
	addr[addrlen] = '\0';
	memset(&v, 0, sizeof(v));
	v.code = 550;
	v.esc = "5.1.1";
	v.text = "Recipient rejected";
	s->cb->rcpt(s->ctx, s->tx, addr, &v);
	if (v.code != 250) {
		reply(s, v.code, v.esc, "%s", v.text);
		return;
	}
	if (add_rcpt(s->tx, addr, addrlen, &v) < 0) {
		oom(s);
		return;
	}
	reply(s, 250, "2.1.5", "Ok");
}

static void do_data(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	if (s->tx->nrcpts == 0) {
		reply(s, 554, "5.5.1", "Error: no valid recipients");
		return;
	}
	s->data_too_big = s->data_io_error = 0;
	switch (s->cb->data_begin(s->ctx, s->tx)) {
	case 0:
		break;
	case -2:
		reply(s, 452, "4.3.1", "Insufficient system storage, try again later");
		return;
	default:
		reply(s, 451, "4.3.0", "Local error: cannot queue now, try again later");
		return;
	}
	s->data_open = 1;
	smtp_data_init(&s->data);
	s->state = S_DATA;
	reply(s, 354, "2.0.0", "End data with <CR><LF>.<CR><LF>");
}

static void do_rset(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	tx_free(s);
	reply(s, 250, "2.0.0", "Ok");
}

static void do_noop(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	reply(s, 250, "2.0.0", "Ok");
}

static void do_quit(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	reply(s, 221, "2.0.0", "Bye");
	enter_closing(s);
}

static void do_vrfy(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	/* RFC 5321 §3.5.3: 252 when we will not confirm; telling would help address harvesting. */
	reply(s, 252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void do_expn(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	reply(s, 502, "5.5.1", "EXPN is not supported");
}

static void do_help(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	reply(s, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
}

static void do_not_offered(struct smtp_session *s, const struct smtp_cmd *c)
{
	reply(s, 502, "5.5.1", "%s is not available on this port", smtp_verb_name(c->verb));
}

/* ---- STARTTLS and AUTH ----------------------------------------------------------------- */

static void do_starttls(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (!(s->conf->policy & SMTP_POLICY_STARTTLS)) {
		do_not_offered(s, c);
		return;
	}
	if (s->tls) {
		reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	reply(s, 220, "2.0.0", "Ready to start TLS");
	/* Stop here: whatever the client sent after this line was sent in plaintext and must
	 * never be read as if it came through TLS (CVE-2011-0411). */
	s->state = S_STARTTLS;
}

static void auth_finish(struct smtp_session *s, const char *authzid, const char *user, char *pass,
                        size_t passlen)
{
	int r;

	if (strlen(user) == 0 || strlen(user) > SMTP_USER_MAX) {
		explicit_bzero(pass, passlen);
		s->state = S_CMD;
		reply(s, 535, "5.7.8", "Authentication credentials invalid");
		return;
	}
	snprintf(s->auth_login, sizeof(s->auth_login), "%s", user);
	s->state = S_AUTH_WAIT;
	r = s->cb->auth(s->ctx, authzid, user, pass);
	explicit_bzero(pass, passlen);
	if (r != SMTP_AUTH_PENDING)
		smtp_session_auth_done(s, r);
}

void smtp_session_auth_retry_after(struct smtp_session *s, unsigned long seconds)
{
	s->retry_after = seconds;
}

void smtp_session_auth_done(struct smtp_session *s, int result)
{
	if (s->state != S_AUTH_WAIT)
		return;
	s->state = S_CMD;
	if (result == SMTP_AUTH_OK) {
		snprintf(s->auth_user, sizeof(s->auth_user), "%s", s->auth_login);
		reply(s, 235, "2.7.0", "Authentication successful");
	} else if (result == SMTP_AUTH_LOCKED) {
		char text[160], span[32];
		duration_words((long long)s->retry_after, span, sizeof(span));
		snprintf(text, sizeof(text), "Too many failed authentications from your address; try again %s%s",
		         s->retry_after ? "in " : "later", s->retry_after ? span : "");
		close_with(s, 454, "4.7.0", text);
	} else
		reply(s, 535, "5.7.8", "Authentication credentials invalid");
	explicit_bzero(s->auth_login, sizeof(s->auth_login));
}

/* One base64 response of the AUTH exchange (or the initial response). */
static void auth_response(struct smtp_session *s, const char *b64, size_t len)
{
	unsigned char buf[SMTP_AUTH_LINE_MAX];
	long n;

	if (len == 1 && b64[0] == '*') {
		s->state = S_CMD;
		reply(s, 501, "5.0.0", "Authentication cancelled");
		return;
	}
	if (len == 1 && b64[0] == '=')      /* RFC 4954: "=" is an empty initial response */
		len = 0;
	n = base64_decode(b64, len, buf);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		s->state = S_CMD;
		reply(s, 501, "5.5.2", "Cannot decode the response (base64)");
		return;
	}
	buf[n] = '\0';
	if (s->auth_mech == MECH_PLAIN) {
		/* RFC 4616: [authzid] NUL authcid NUL passwd */
		const unsigned char *z1 = memchr(buf, '\0', (size_t)n), *z2;
		if (z1 == NULL || (z2 = memchr(z1 + 1, '\0', (size_t)(buf + n - (z1 + 1)))) == NULL) {
			explicit_bzero(buf, sizeof(buf));
			s->state = S_CMD;
			reply(s, 501, "5.5.2", "Invalid PLAIN response");
			return;
		}
		auth_finish(s, (const char *)buf, (const char *)z1 + 1, (char *)z2 + 1,
		            (size_t)(buf + n - (z2 + 1)));
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	if (memchr(buf, '\0', (size_t)n) != NULL) {
		explicit_bzero(buf, sizeof(buf));
		s->state = S_CMD;
		reply(s, 501, "5.5.2", "Invalid LOGIN response");
		return;
	}
	if (s->auth_step == 0) {
		snprintf(s->auth_login, sizeof(s->auth_login), "%.*s", (int)SMTP_USER_MAX, (char *)buf);
		if ((size_t)n > SMTP_USER_MAX)
			s->auth_login[0] = '\0';      /* too long: fails after the password, as any */
		s->auth_step = 1;
		s->state = S_AUTH;
		reply_raw(s, "334 UGFzc3dvcmQ6\r\n", 18);   /* "Password:" */
		return;
	}
	char user[SMTP_USER_MAX + 1];
	snprintf(user, sizeof(user), "%s", s->auth_login);
	auth_finish(s, "", user, (char *)buf, (size_t)n);
	explicit_bzero(buf, sizeof(buf));
}

static void do_auth(struct smtp_session *s, const struct smtp_cmd *c)
{
	const char *sp;
	size_t mlen;

	if (!(s->conf->policy & SMTP_POLICY_AUTH)) {
		do_not_offered(s, c);
		return;
	}
	if (!s->tls) {
		reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return;
	}
	if (!s->esmtp) {
		reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->auth_user[0]) {
		reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (s->tx != NULL) {
		reply(s, 503, "5.5.1", "Error: AUTH not allowed during a mail transaction");
		return;
	}
	sp = memchr(c->arg, ' ', c->arglen);
	mlen = sp ? (size_t)(sp - c->arg) : c->arglen;
	if (smtp_slice_ieq(c->arg, mlen, "PLAIN"))
		s->auth_mech = MECH_PLAIN;
	else if (smtp_slice_ieq(c->arg, mlen, "LOGIN"))
		s->auth_mech = MECH_LOGIN;
	else {
		reply(s, 504, "5.5.4", "Unrecognized authentication mechanism");
		return;
	}
	s->auth_step = 0;
	s->auth_login[0] = '\0';
	if (sp != NULL) {
		const char *ir = sp;
		while (ir < c->arg + c->arglen && *ir == ' ')
			ir++;
		auth_response(s, ir, (size_t)(c->arg + c->arglen - ir));
		return;
	}
	s->state = S_AUTH;
	if (s->auth_mech == MECH_PLAIN)
		reply_raw(s, "334 \r\n", 6);
	else
		reply_raw(s, "334 VXNlcm5hbWU6\r\n", 18);   /* "Username:" */
}

static const struct cmd cmd_table[] = {
	{ SMTP_V_HELO, CMD_NEED_ARG, "HELO hostname", do_helo },
	{ SMTP_V_EHLO, CMD_NEED_ARG, "EHLO hostname", do_helo },
	{ SMTP_V_MAIL, CMD_NEED_TLS | CMD_NEED_HELO | CMD_NEED_ARG, "MAIL FROM:<address>", do_mail },
	{ SMTP_V_RCPT, CMD_NEED_TLS | CMD_NEED_HELO | CMD_NEED_TX | CMD_NEED_ARG, "RCPT TO:<address>", do_rcpt },
	{ SMTP_V_DATA, CMD_NEED_TLS | CMD_NEED_HELO | CMD_NEED_TX | CMD_NO_ARG, "DATA", do_data },
	{ SMTP_V_RSET, CMD_NO_ARG, "RSET", do_rset },
	{ SMTP_V_NOOP, 0, "NOOP", do_noop },
	{ SMTP_V_QUIT, CMD_NO_ARG, "QUIT", do_quit },
	{ SMTP_V_VRFY, CMD_NEED_TLS | CMD_NEED_ARG, "VRFY address", do_vrfy },
	{ SMTP_V_EXPN, CMD_NEED_TLS | CMD_NEED_ARG, "EXPN list", do_expn },
	{ SMTP_V_HELP, 0, "HELP", do_help },
	{ SMTP_V_STARTTLS, CMD_NO_ARG, "STARTTLS", do_starttls },
	{ SMTP_V_AUTH, CMD_NEED_TLS | CMD_NEED_ARG, "AUTH mechanism [initial-response]", do_auth },
	{ SMTP_V_BDAT, CMD_NEED_TLS, "BDAT", do_not_offered },
};

static void dispatch(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	const struct cmd *e = NULL;

	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\0') {
			reply(s, 500, "5.5.2", "Syntax error: NUL octet in command");
			return;
		}
		if (line[i] == '\r') {
			reply(s, 500, "5.5.2", "Syntax error: bare CR in command");
			return;
		}
	}
	if (smtp_parse_command(line, len, &c) < 0) {
		reply(s, 500, "5.5.1", "Unknown command");
		return;
	}
	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		if (cmd_table[i].verb == c.verb)
			e = &cmd_table[i];
	if (e == NULL) {
		reply(s, 500, "5.5.1", "Unknown command");
		return;
	}
	if ((e->flags & CMD_NEED_TLS) && (s->conf->policy & SMTP_POLICY_TLS_REQUIRED) && !s->tls) {
		reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	if ((e->flags & CMD_NO_ARG) && c.arglen > 0) {
		reply(s, 501, "5.5.4", "Syntax: %s", e->usage);
		return;
	}
	if ((e->flags & CMD_NEED_ARG) && c.arglen == 0) {
		reply(s, 501, "5.5.4", "Syntax: %s", e->usage);
		return;
	}
	if ((e->flags & CMD_NEED_HELO) && s->helo[0] == '\0') {
		reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if ((e->flags & CMD_NEED_TX) && s->tx == NULL) {
		reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (c.verb == SMTP_V_MAIL && s->tx != NULL) {
		reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (c.verb == SMTP_V_MAIL && (s->conf->policy & SMTP_POLICY_AUTH_REQUIRED) && !s->auth_user[0]) {
		reply(s, 530, "5.7.0", "Authentication required");
		return;
	}
	e->proceed(s, &c);
}

/* ---- DATA ---------------------------------------------------------------------------- */

static void data_sink(void *ctx, const char *p, size_t n)
{
	struct smtp_session *s = ctx;

	if (!s->data_open)
		return;
	if (s->conf->max_message_size && s->data.octets > s->conf->max_message_size) {
		s->data_too_big = 1;
		data_abort(s);
		return;
	}
	if (s->data.flags & DATA_REFUSED) {
		data_abort(s);          /* refused at the end anyway: stop writing now */
		return;
	}
	int r = s->cb->data_write(s->ctx, p, n);
	if (r < 0) {
		s->data_io_error = r == -2 ? 2 : 1;
		data_abort(s);
	}
}

static void data_end(struct smtp_session *s)
{
	char qid[SMTP_QID_MAX] = "";
	int r;

	s->state = S_CMD;
	if (s->data_too_big || (s->conf->max_message_size && s->data.octets > s->conf->max_message_size)) {
		data_abort(s);
		reply(s, 552, "5.3.4", "Message size exceeds fixed limit of %zu octets; nothing stored",
		      s->conf->max_message_size);
	} else if (s->data.flags & DATA_REFUSED) {
		data_abort(s);
		reply(s, 550, "5.6.0", "Message refused: %s in message data (RFC 5321 2.3.8); nothing stored",
		      (s->data.flags & SMTP_DATA_NUL) ? "NUL octet" : "bare CR");
	} else if (s->data_io_error == 2) {
		data_abort(s);
		reply(s, 452, "4.3.1", "Insufficient system storage; message not stored, try again later");
	} else if (s->data_io_error || !s->data_open) {
		data_abort(s);
		reply(s, 451, "4.3.0", "Local error in processing; message not stored, try again later");
	} else {
		s->data_open = 0;       /* the commit owns the spool file now, whatever its outcome */
		r = s->cb->data_commit(s->ctx, s->tx, qid, sizeof(qid));
		if (r == 1) {
			s->state = S_COMMIT;
			return;
		}
		smtp_session_commit_done(s, r == 0 ? 1 : r == -2 ? SMTP_COMMIT_NOSPACE : 0, qid);
		return;
	}
	tx_free(s);
}

void smtp_session_commit_done(struct smtp_session *s, int ok, const char *qid)
{
	if (s->state == S_CLOSING)
		return;
	s->state = S_CMD;
	if (ok == 1) {
		/* Like Postfix's smtpd_hard_error_limit ("errors ... without delivering mail"): a
		 * client that gets mail through is not the one the limit is for. */
		s->errors = 0;
		s->messages++;
		reply(s, 250, "2.0.0", "Ok: queued as %s", qid);
	} else if (ok == SMTP_COMMIT_NOSPACE)
		reply(s, 452, "4.3.1", "Insufficient system storage; message not queued, try again later");
	else
		reply(s, 451, "4.3.0", "Local error: message not queued, try again later");
	tx_free(s);
}

/* ---- input --------------------------------------------------------------------------- */

static void command_line(struct smtp_session *s, const char *line, size_t len)
{
	/* len + 1 (the LF) is the line's length on the wire. Ordinary commands are held to
	 * RFC 5321's 512; AUTH lines get SMTP_AUTH_LINE_MAX (RFC 4954 §4). */
	int auth = s->state == S_AUTH || (len >= 5 && smtp_slice_ieq(line, 5, "AUTH "));
	int too_long = s->line_overflow || (!auth && len + 1 > SMTP_LINE_MAX);

	if (len > 0 && line[len - 1] == '\r')
		len--;
	s->line_overflow = 0;
	if (s->state == S_AUTH) {
		if (too_long) {
			s->state = S_CMD;
			reply(s, 500, "5.5.6", "Authentication Exchange line is too long");
		} else
			auth_response(s, line, len);
	} else if (too_long)
		reply(s, 500, "5.5.2", "Syntax error: line too long (max %d octets)", SMTP_LINE_MAX);
	else
		dispatch(s, line, len);
	if (s->state != S_CLOSING && s->conf->max_errors && s->errors >= s->conf->max_errors)
		close_with(s, 421, "4.7.0", "Error: too many errors, closing connection");
}

size_t smtp_session_recv(struct smtp_session *s, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (s->state == S_CLOSING || s->state == S_NEW)
			return len;
		if (s->state == S_COMMIT || s->state == S_AUTH_WAIT || s->state == S_STARTTLS)
			return i;
		if (s->state == S_DATA) {
			int done;
			i += smtp_data_feed(&s->data, buf + i, len - i, &done, data_sink, s);
			if (done)
				data_end(s);
			continue;
		}
		const char *lf = memchr(buf + i, '\n', len - i);
		size_t chunk = lf ? (size_t)(lf - (buf + i)) : len - i;

		/* Check the limit before looking further (redis "too big inline request"): the
		 * line buffer never grows, an over-long line is discarded up to its LF. */
		if (!s->line_overflow && s->line_len + chunk > SMTP_AUTH_LINE_MAX - 1) {
			s->line_overflow = 1;
			s->line_len = 0;
		}
		if (lf == NULL) {
			if (!s->line_overflow) {
				memcpy(s->line + s->line_len, buf + i, chunk);
				s->line_len += chunk;
			}
			return len;
		}
		if (s->line_len == 0 || s->line_overflow) {
			command_line(s, buf + i, chunk);
		} else {
			memcpy(s->line + s->line_len, buf + i, chunk);
			command_line(s, s->line, s->line_len + chunk);
		}
		s->line_len = 0;
		i += chunk + 1;
	}
	return i;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

struct smtp_session *smtp_session_new(const struct smtp_session_conf *conf,
                                      const struct smtp_session_cb *cb, void *ctx)
{
	struct smtp_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->conf = conf;
	s->cb = cb;
	s->ctx = ctx;
	s->state = S_NEW;
	return s;
}

void smtp_session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	tx_free(s);
	/* The line buffer may have held an AUTH exchange. */
	explicit_bzero(s, sizeof(*s));
	free(s);
}

void smtp_session_start(struct smtp_session *s)
{
	char buf[SMTP_LINE_MAX];
	int n = snprintf(buf, sizeof(buf), "220 %s ESMTP mailport\r\n", s->conf->hostname);

	s->state = S_CMD;
	reply_raw(s, buf, (size_t)n);
}

void smtp_session_timeout(struct smtp_session *s)
{
	close_with(s, 421, "4.4.2", "Error: timeout exceeded, closing connection");
}

void smtp_session_shutdown(struct smtp_session *s)
{
	close_with(s, 421, "4.3.2", "Service shutting down, closing connection");
}

void smtp_session_refuse(struct smtp_session *s, int code, const char *esc, const char *text)
{
	close_with(s, code, esc, text);
}

void smtp_session_eof(struct smtp_session *s)
{
	enter_closing(s);
}

void smtp_session_set_tls(struct smtp_session *s) { s->tls = 1; }
int smtp_session_wants_tls(const struct smtp_session *s) { return s->state == S_STARTTLS; }
int smtp_session_tls(const struct smtp_session *s) { return s->tls; }
const char *smtp_session_auth_user(const struct smtp_session *s) { return s->auth_user[0] ? s->auth_user : NULL; }

void smtp_session_tls_started(struct smtp_session *s)
{
	if (s->state != S_STARTTLS)
		return;
	/* RFC 3207 §4.2: discard all knowledge obtained from the client before TLS. */
	tx_free(s);
	s->tls = 1;
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->auth_user[0] = '\0';
	s->line_len = 0;
	s->line_overflow = 0;
	s->state = S_CMD;
}

int smtp_session_closing(const struct smtp_session *s) { return s->state == S_CLOSING; }
const char *smtp_session_helo(const struct smtp_session *s) { return s->helo; }
int smtp_session_esmtp(const struct smtp_session *s) { return s->esmtp; }
unsigned smtp_session_messages(const struct smtp_session *s) { return s->messages; }
