/*
 * session.c - the SMTP server state machine: command table, MAIL/RCPT/DATA, input, lifecycle
 * (replies are session_reply.c's, STARTTLS and AUTH session_auth.c's; see session_int.h).
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
#include "session_int.h"

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
		sess_reply(s, 501, "5.5.4", "Syntax: %s hostname (too long)", ehlo ? "EHLO" : "HELO");
		return;
	}
	char *h = sess_dup_slice(c->arg, n);
	if (h == NULL) {
		sess_oom(s);
		return;
	}
	sess_tx_free(s);
	free(s->helo);
	s->helo = h;
	s->esmtp = ehlo;
	if (!ehlo) {
		char buf[SMTP_LINE_MAX];
		int len = snprintf(buf, sizeof(buf), "250 %s\r\n", s->conf->hostname);
		sess_reply_raw(s, buf, (size_t)len);
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
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "250-AUTH PLAIN LOGIN%s%s%s\r\n",
		                s->conf->policy & SMTP_POLICY_SCRAM ? " SCRAM-SHA-256" : "",
		                (s->conf->policy & SMTP_POLICY_SCRAM) && s->has_cbind ? " SCRAM-SHA-256-PLUS" : "",
		                s->client_cert && s->cb->auth_external != NULL ? " EXTERNAL" : "");
	/* RFC 8689 2: REQUIRETLS only inside TLS, where the promise it makes can be kept. */
	if (s->tls)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "250-REQUIRETLS\r\n");
	len += snprintf(buf + len, sizeof(buf) - (size_t)len,
	                "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
	sess_reply_raw(s, buf, (size_t)len);
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
		sess_reply(s, 501, "5.5.4", "Syntax: %s", sender ? "MAIL FROM:<address>" : "RCPT TO:<address>");
		break;
	case SMTP_ARG_EPARAMS:
		sess_reply(s, 501, "5.5.4", "Syntax error in parameters");
		break;
	case SMTP_PATH_ETOOLONG:
		sess_reply(s, 501, esc, "Bad %s address: too long (RFC 5321 4.5.3.1)", who);
		break;
	case SMTP_PATH_EUTF8:
		sess_reply(s, 553, "5.6.7", "Non-ASCII %s address requires SMTPUTF8", who);
		break;
	default:
		sess_reply(s, 501, esc, "Bad %s address syntax", who);
		break;
	}
}

static void do_mail(struct smtp_session *s, const struct smtp_cmd *c)
{
	struct smtp_param params[SMTP_PARAMS_MAX];
	size_t nparams = SMTP_PARAMS_MAX, size = 0;
	struct smtp_path path;
	int r, utf8 = 0, body = 0, have_size = 0, requiretls = 0;

	r = smtp_parse_mail_arg(c->arg, c->arglen, "FROM:", SMTP_PATH_ALLOW_NULL, &path, params, &nparams);
	if (r != 0) {
		path_error(s, r, 1);
		return;
	}
	for (size_t i = 0; i < nparams; i++) {
		const struct smtp_param *p = &params[i];
		if (!s->esmtp) {
			sess_reply(s, 555, "5.5.4", "MAIL parameters need EHLO");
			return;
		}
		if (smtp_slice_ieq(p->key, p->key_len, "SIZE")) {
			if (have_size++ || p->value == NULL || parse_size(p->value, p->value_len, &size) < 0) {
				sess_reply(s, 501, "5.5.4", "Bad SIZE parameter");
				return;
			}
		} else if (smtp_slice_ieq(p->key, p->key_len, "BODY")) {
			if (body || p->value == NULL) {
				sess_reply(s, 501, "5.5.4", "Bad BODY parameter");
				return;
			}
			if (smtp_slice_ieq(p->value, p->value_len, "8BITMIME"))
				body = 8;
			else if (smtp_slice_ieq(p->value, p->value_len, "7BIT"))
				body = 7;
			else {
				sess_reply(s, 501, "5.5.4", "Bad BODY parameter: 7BIT or 8BITMIME");
				return;
			}
		} else if (smtp_slice_ieq(p->key, p->key_len, "SMTPUTF8")) {
			if (utf8 || p->value != NULL) {
				sess_reply(s, 501, "5.5.4", "Bad SMTPUTF8 parameter");
				return;
			}
			utf8 = 1;
		} else if (smtp_slice_ieq(p->key, p->key_len, "REQUIRETLS")) {
			if (requiretls || p->value != NULL) {
				sess_reply(s, 501, "5.5.4", "Bad REQUIRETLS parameter: once, without a value");
				return;
			}
			if (!s->tls) {
				/* Not advertised outside TLS (RFC 8689 2): a client asking for it here has
				 * lost its TLS on the way, and the message must not go on in plaintext. */
				sess_reply(s, 530, "5.7.10", "REQUIRETLS needs a TLS session: STARTTLS first");
				return;
			}
			requiretls = 1;
		} else {
			sess_reply(s, 555, "5.5.4", "Unsupported parameter %.*s", (int)(p->key_len > 64 ? 64 : p->key_len), p->key);
			return;
		}
	}
	if (s->conf->max_message_size && size > s->conf->max_message_size) {
		sess_reply(s, 552, "5.3.4", "Message size exceeds fixed limit of %zu octets", s->conf->max_message_size);
		return;
	}
	struct smtp_tx *tx = calloc(1, sizeof(*tx));
	if (tx == NULL || (tx->sender = sess_dup_slice(path.mailbox ? path.mailbox : "", path.mailbox_len)) == NULL) {
		free(tx);
		sess_oom(s);
		return;
	}
	tx->declared_size = size;
	tx->smtputf8 = utf8;
	tx->body_8bit = body == 8;
	tx->requiretls = requiretls;
	s->tx = tx;
	if (s->cb->mail != NULL) {
		struct smtp_verdict v;
		memset(&v, 0, sizeof(v));
		v.code = 250;
		s->cb->mail(s->ctx, tx, &v);
		if (v.code == SMTP_VERDICT_PENDING) {
			s->state = S_MAIL_WAIT;
			return;
		}
		if (v.code != 250) {
			sess_tx_free(s);
			sess_reply(s, v.code, v.esc, "%s", v.text);
			return;
		}
	}
	sess_reply(s, 250, "2.1.0", "Ok");
}

void smtp_session_mail_done(struct smtp_session *s, int code, const char *esc, const char *text)
{
	if (s->state != S_MAIL_WAIT)
		return;
	s->state = S_CMD;
	if (code == 250) {
		sess_reply(s, 250, "2.1.0", "Ok");
		return;
	}
	sess_tx_free(s);
	sess_reply(s, code, esc, "%s", text);
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
	r->addr = sess_dup_slice(addr, addrlen);
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
		sess_reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	r = smtp_parse_mail_arg(c->arg, c->arglen, "TO:",
	                        SMTP_PATH_ALLOW_POSTMASTER | (s->tx->smtputf8 ? SMTP_PATH_UTF8 : 0),
	                        &path, params, &nparams);
	if (r == SMTP_PATH_EUTF8 && !s->tx->smtputf8) {
		sess_reply(s, 553, "5.6.7", "Non-ASCII recipient needs SMTPUTF8 on MAIL FROM");
		return;
	}
	if (r != 0) {
		path_error(s, r, 0);
		return;
	}
	if (nparams > 0) {
		sess_reply(s, 555, "5.5.4", "Unsupported RCPT parameter %.*s",
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
		sess_reply(s, v.code, v.esc, "%s", v.text);
		return;
	}
	if (add_rcpt(s->tx, addr, addrlen, &v) < 0) {
		sess_oom(s);
		return;
	}
	sess_reply(s, 250, "2.1.5", "Ok");
}

static void do_data(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	if (s->tx->nrcpts == 0) {
		sess_reply(s, 554, "5.5.1", "Error: no valid recipients");
		return;
	}
	s->data_too_big = s->data_io_error = 0;
	switch (s->cb->data_begin(s->ctx, s->tx)) {
	case 0:
		break;
	case -2:
		sess_reply(s, 452, "4.3.1", "Insufficient system storage, try again later");
		return;
	default:
		sess_reply(s, 451, "4.3.0", "Local error: cannot queue now, try again later");
		return;
	}
	s->data_open = 1;
	smtp_data_init(&s->data);
	s->state = S_DATA;
	sess_reply(s, 354, "2.0.0", "End data with <CR><LF>.<CR><LF>");
}

static void do_rset(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	sess_tx_free(s);
	sess_reply(s, 250, "2.0.0", "Ok");
}

static void do_noop(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	sess_reply(s, 250, "2.0.0", "Ok");
}

static void do_quit(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	sess_reply(s, 221, "2.0.0", "Bye");
	sess_enter_closing(s);
}

static void do_vrfy(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	/* RFC 5321 §3.5.3: 252 when we will not confirm; telling would help address harvesting. */
	sess_reply(s, 252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void do_expn(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	sess_reply(s, 502, "5.5.1", "EXPN is not supported");
}

static void do_help(struct smtp_session *s, const struct smtp_cmd *c)
{
	(void)c;
	sess_reply(s, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
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
	{ SMTP_V_STARTTLS, CMD_NO_ARG, "STARTTLS", sess_do_starttls },
	{ SMTP_V_AUTH, CMD_NEED_TLS | CMD_NEED_ARG, "AUTH mechanism [initial-response]", sess_do_auth },
	{ SMTP_V_BDAT, CMD_NEED_TLS, "BDAT", sess_do_not_offered },
};

static void dispatch(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	const struct cmd *e = NULL;

	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\0') {
			sess_reply(s, 500, "5.5.2", "Syntax error: NUL octet in command");
			return;
		}
		if (line[i] == '\r') {
			sess_reply(s, 500, "5.5.2", "Syntax error: bare CR in command");
			return;
		}
	}
	if (smtp_parse_command(line, len, &c) < 0) {
		sess_reply(s, 500, "5.5.1", "Unknown command");
		return;
	}
	for (size_t i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++)
		if (cmd_table[i].verb == c.verb)
			e = &cmd_table[i];
	if (e == NULL) {
		sess_reply(s, 500, "5.5.1", "Unknown command");
		return;
	}
	if ((e->flags & CMD_NEED_TLS) && (s->conf->policy & SMTP_POLICY_TLS_REQUIRED) && !s->tls) {
		sess_reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	if ((e->flags & CMD_NO_ARG) && c.arglen > 0) {
		sess_reply(s, 501, "5.5.4", "Syntax: %s", e->usage);
		return;
	}
	if ((e->flags & CMD_NEED_ARG) && c.arglen == 0) {
		sess_reply(s, 501, "5.5.4", "Syntax: %s", e->usage);
		return;
	}
	if ((e->flags & CMD_NEED_HELO) && (s->helo == NULL || s->helo[0] == '\0')) {
		sess_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if ((e->flags & CMD_NEED_TX) && s->tx == NULL) {
		sess_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (c.verb == SMTP_V_MAIL && s->tx != NULL) {
		sess_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (c.verb == SMTP_V_MAIL && (s->conf->policy & SMTP_POLICY_AUTH_REQUIRED) && s->auth_user == NULL) {
		sess_reply(s, 530, "5.7.0", "Authentication required");
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
		sess_data_abort(s);
		return;
	}
	if (s->data.flags & DATA_REFUSED) {
		sess_data_abort(s);          /* refused at the end anyway: stop writing now */
		return;
	}
	int r = s->cb->data_write(s->ctx, p, n);
	if (r < 0) {
		s->data_io_error = r == -2 ? 2 : 1;
		sess_data_abort(s);
	}
}

static void data_end(struct smtp_session *s)
{
	char qid[320] = "";       /* a queue id, or the text of a -3 refusal */
	int r;

	s->state = S_CMD;
	if (s->data_too_big || (s->conf->max_message_size && s->data.octets > s->conf->max_message_size)) {
		sess_data_abort(s);
		sess_reply(s, 552, "5.3.4", "Message size exceeds fixed limit of %zu octets; nothing stored",
		      s->conf->max_message_size);
	} else if (s->data.flags & DATA_REFUSED) {
		sess_data_abort(s);
		sess_reply(s, 550, "5.6.0", "Message refused: %s in message data (RFC 5321 2.3.8); nothing stored",
		      (s->data.flags & SMTP_DATA_NUL) ? "NUL octet" : "bare CR");
	} else if (s->data_io_error == 2) {
		sess_data_abort(s);
		sess_reply(s, 452, "4.3.1", "Insufficient system storage; message not stored, try again later");
	} else if (s->data_io_error || !s->data_open) {
		sess_data_abort(s);
		sess_reply(s, 451, "4.3.0", "Local error in processing; message not stored, try again later");
	} else {
		s->data_open = 0;       /* the commit owns the spool file now, whatever its outcome */
		r = s->cb->data_commit(s->ctx, s->tx, qid, sizeof(qid));
		if (r == 1) {
			s->state = S_COMMIT;
			return;
		}
		if (r == -3) {
			smtp_session_commit_refuse(s, qid);
			return;
		}
		smtp_session_commit_done(s, r == 0 ? 1 : r == -2 ? SMTP_COMMIT_NOSPACE : 0, qid);
		return;
	}
	sess_tx_free(s);
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
		sess_reply(s, 250, "2.0.0", "Ok: queued as %s", qid);
	} else if (ok == SMTP_COMMIT_NOSPACE)
		sess_reply(s, 452, "4.3.1", "Insufficient system storage; message not queued, try again later");
	else
		sess_reply(s, 451, "4.3.0", "Local error: message not queued, try again later");
	sess_tx_free(s);
}

void smtp_session_commit_refuse(struct smtp_session *s, const char *text)
{
	if (s->state == S_CLOSING)
		return;
	s->state = S_CMD;
	sess_reply(s, 550, "5.7.1", "%s", text);
	sess_tx_free(s);
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
			sess_reply(s, 500, "5.5.6", "Authentication Exchange line is too long");
		} else
			sess_auth_response(s, line, len);
	} else if (too_long)
		sess_reply(s, 500, "5.5.2", "Syntax error: line too long (max %d octets)", SMTP_LINE_MAX);
	else
		dispatch(s, line, len);
	if (s->state != S_CLOSING && s->conf->max_errors && s->errors >= s->conf->max_errors)
		sess_close_with(s, 421, "4.7.0", "Error: too many errors, closing connection");
}

/* The partial-line buffer goes as soon as its line is complete (it may have held an AUTH
 * exchange: wiped first). */
static void line_drop(struct smtp_session *s)
{
	if (s->line == NULL)
		return;
	explicit_bzero(s->line, SMTP_AUTH_LINE_MAX);
	free(s->line);
	s->line = NULL;
}

size_t smtp_session_recv(struct smtp_session *s, const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (s->state == S_CLOSING || s->state == S_NEW)
			return len;
		if (s->state == S_COMMIT || s->state == S_AUTH_WAIT || s->state == S_STARTTLS || s->state == S_MAIL_WAIT)
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
				if (s->line == NULL && (s->line = malloc(SMTP_AUTH_LINE_MAX)) == NULL) {
					sess_oom(s);
					return len;
				}
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
		line_drop(s);
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
	sess_tx_free(s);
	sess_scram_end(s);
	sess_login_clear(s);
	line_drop(s);
	free(s->helo);
	free(s->auth_user);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

void smtp_session_start(struct smtp_session *s)
{
	char buf[SMTP_LINE_MAX];
	int n = snprintf(buf, sizeof(buf), "220 %s ESMTP mailport\r\n", s->conf->hostname);

	s->state = S_CMD;
	sess_reply_raw(s, buf, (size_t)n);
}

void smtp_session_timeout(struct smtp_session *s)
{
	sess_close_with(s, 421, "4.4.2", "Error: timeout exceeded, closing connection");
}

void smtp_session_shutdown(struct smtp_session *s)
{
	sess_close_with(s, 421, "4.3.2", "Service shutting down, closing connection");
}

void smtp_session_refuse(struct smtp_session *s, int code, const char *esc, const char *text)
{
	sess_close_with(s, code, esc, text);
}

void smtp_session_eof(struct smtp_session *s)
{
	sess_enter_closing(s);
}

void smtp_session_set_tls(struct smtp_session *s) { s->tls = 1; }
int smtp_session_wants_tls(const struct smtp_session *s) { return s->state == S_STARTTLS; }
int smtp_session_tls(const struct smtp_session *s) { return s->tls; }
const char *smtp_session_auth_user(const struct smtp_session *s) { return s->auth_user; }

void smtp_session_tls_peer(struct smtp_session *s, const unsigned char *cbind, int client_cert)
{
	s->has_cbind = cbind != NULL;
	if (cbind != NULL)
		memcpy(s->cbind, cbind, sizeof(s->cbind));
	s->client_cert = client_cert != 0;
}

void smtp_session_tls_started(struct smtp_session *s)
{
	if (s->state != S_STARTTLS)
		return;
	/* RFC 3207 §4.2: discard all knowledge obtained from the client before TLS. */
	sess_tx_free(s);
	s->tls = 1;
	free(s->helo);
	s->helo = NULL;
	s->esmtp = 0;
	free(s->auth_user);
	s->auth_user = NULL;
	s->line_len = 0;
	s->line_overflow = 0;
	line_drop(s);
	s->state = S_CMD;
}

int smtp_session_closing(const struct smtp_session *s) { return s->state == S_CLOSING; }
const char *smtp_session_helo(const struct smtp_session *s) { return s->helo ? s->helo : ""; }
int smtp_session_esmtp(const struct smtp_session *s) { return s->esmtp; }
unsigned smtp_session_messages(const struct smtp_session *s) { return s->messages; }
