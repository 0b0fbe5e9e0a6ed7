/*
 * client.c - what an SMTP client says next, given what the server said. Not a transport:
 * sockets, TLS and the clock belong to the caller.
 */
#include "client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sasl/scram.h"
#include "../util/base64.h"

enum cstate {
	C_GREETING, C_RSET, C_EHLO, C_HELO, C_STARTTLS, C_AUTH, C_AUTH_USER, C_AUTH_PASS, C_SCRAM1, C_SCRAM2,
	C_MAIL, C_RCPT, C_DATA, C_BODY, C_QUIT, C_END,
};

struct smtp_client {
	const struct smtp_client_conf *conf;
	const struct smtp_client_envelope *env;
	enum cstate state;
	int tls;
	int esmtp;
	size_t rcpt;                    /* RCPT being answered */
	size_t accepted;
	size_t lmtp_next;               /* LMTP: the recipient the next reply after the data is for */
	struct smtp_caps caps, caps_plain;
	int caps_plain_seen;
	struct smtp_client_result fail, greeting, auth, starttls;
	struct smtp_client_result *res;
	struct scram_client scram;
	unsigned char cbind[SCRAM_CB_LEN];
	int has_cbind;
};

static void result_set(struct smtp_client_result *r, int code, const char *esc, const char *text,
                       const char *stage)
{
	r->code = code;
	snprintf(r->esc, sizeof(r->esc), "%s", esc);
	snprintf(r->text, sizeof(r->text), "%s", text);
	/* One line for logs and bounces: a multi-line reply is joined. */
	for (char *p = r->text; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	snprintf(r->stage, sizeof(r->stage), "%s", stage);
}

static void emit(struct smtp_client_out *out, enum smtp_client_step step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void emit(struct smtp_client_out *out, enum smtp_client_step step, const char *fmt, ...)
{
	va_list ap;
	int n;

	out->step = step;
	va_start(ap, fmt);
	n = vsnprintf(out->buf, sizeof(out->buf), fmt, ap);
	va_end(ap);
	out->len = n < 0 ? 0 : (size_t)n >= sizeof(out->buf) ? sizeof(out->buf) - 1 : (size_t)n;
}

/* Stop before MAIL: nothing about the message was said, every recipient stays undecided. */
static void fail(struct smtp_client *c, struct smtp_client_out *out, int code, const char *esc,
                 const char *text, const char *stage)
{
	result_set(&c->fail, code, esc, text, stage);
	c->state = C_END;
	emit(out, SC_FAIL, "QUIT\r\n");
}

/* Every recipient not yet decided gets this reply. */
static void decide_rest(struct smtp_client *c, const struct smtp_reply *r, const char *stage, int only_accepted)
{
	for (size_t i = 0; i < c->env->nrcpts; i++) {
		struct smtp_client_result *res = &c->res[i];
		if (only_accepted ? res->code == 250 && strcmp(res->stage, "rcpt") == 0 : res->code == 0)
			result_set(res, r->code, r->esc, r->text, stage);
	}
}

static void quit(struct smtp_client *c, struct smtp_client_out *out)
{
	c->state = C_QUIT;
	emit(out, SC_DONE, "QUIT\r\n");
}

static void send_mail(struct smtp_client *c, struct smtp_client_out *out)
{
	char params[128] = "";
	size_t n = 0;

	if (c->conf->probe) {
		quit(c, out);
		return;
	}
	if (c->env->smtputf8 && !c->caps.smtputf8) {
		/* RFC 6531 3.2: an SMTPUTF8 message cannot go to a server without SMTPUTF8. */
		for (size_t i = 0; i < c->env->nrcpts; i++)
			result_set(&c->res[i], 553, "5.6.7", "the receiving server does not support SMTPUTF8", "local");
		quit(c, out);
		return;
	}
	if (c->env->requiretls && (!c->tls || !c->caps.requiretls)) {
		/* RFC 8689 4.2.1: the server must offer REQUIRETLS after TLS, or it gets nothing. */
		for (size_t i = 0; i < c->env->nrcpts; i++)
			result_set(&c->res[i], 550, "5.7.30", c->tls ? "REQUIRETLS needed: the receiving server does not "
			           "offer it (RFC 8689)" : "REQUIRETLS needed: the receiving server offered no TLS", "local");
		quit(c, out);
		return;
	}
	if (c->caps.size && c->env->size > c->caps.size) {
		for (size_t i = 0; i < c->env->nrcpts; i++)
			result_set(&c->res[i], 552, "5.3.4", "message larger than the receiving server's SIZE limit", "local");
		quit(c, out);
		return;
	}
	if (c->esmtp && c->caps.has_size)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SIZE=%zu", c->env->size);
	if (c->esmtp && c->env->body8 && c->caps.eightbitmime)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " BODY=8BITMIME");
	if (c->env->smtputf8)
		n += (size_t)snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
	if (c->env->requiretls)
		snprintf(params + n, sizeof(params) - n, " REQUIRETLS");
	c->state = C_MAIL;
	emit(out, SC_WRITE, "MAIL FROM:<%s>%s\r\n", c->env->sender, params);
}

static void send_auth(struct smtp_client *c, struct smtp_client_out *out)
{
	const char *u = c->conf->user, *pw = c->conf->password ? c->conf->password : "";
	unsigned char raw[SMTP_AUTH_LINE_MAX / 2];
	char b64[SMTP_AUTH_LINE_MAX];
	size_t ul = u != NULL ? strlen(u) : 0, pl = strlen(pw);

	if (!c->tls) {
		/* Never: a password in plaintext is the one mistake this project exists to prevent. */
		fail(c, out, 0, "4.7.0", "refusing to send credentials without TLS", "auth");
		return;
	}
	if (u == NULL) {
		/* conf->external: the certificate in the handshake is the credential, "=" the empty
		 * authorization identity (the mailbox it names) */
		if (c->caps.auth_external) {
			c->state = C_AUTH;
			emit(out, SC_WRITE, "AUTH EXTERNAL =\r\n");
		} else
			fail(c, out, 0, "4.7.0", "the server does not offer AUTH EXTERNAL (login with the client certificate): "
			     "it did not ask for the certificate, or did not accept it", "auth");
		return;
	}
	int plus = c->caps.auth_scram_plus && c->has_cbind;
	if ((c->caps.auth_scram || plus) && c->conf->scram_nonce != NULL) {
		char first[SCRAM_MSG_MAX];
		enum scram_bind bind = plus ? SCRAM_BIND_USE : c->has_cbind ? SCRAM_BIND_CAN : SCRAM_BIND_NONE;
		if (scram_client_first(&c->scram, u, c->conf->scram_nonce, bind, c->cbind, first, sizeof(first)) == 0 &&
		    strlen(first) / 3 * 4 + 30 < sizeof(b64)) {
			base64_encode((const unsigned char *)first, strlen(first), b64);
			c->state = C_SCRAM1;
			emit(out, SC_WRITE, "AUTH SCRAM-SHA-256%s %s\r\n", plus ? "-PLUS" : "", b64);
			return;
		}
	}
	if (c->conf->scram_only) {
		fail(c, out, 0, "4.7.0", "the account says auth = scram, and the server does not offer SCRAM-SHA-256: "
		     "the password was not sent", "auth");
		return;
	}
	if (c->caps.auth_plain && ul + pl + 2 < sizeof(raw) / 4 * 3 - 1) {
		raw[0] = '\0';
		memcpy(raw + 1, u, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, pw, pl);
		base64_encode(raw, ul + pl + 2, b64);
		explicit_bzero(raw, sizeof(raw));
		c->state = C_AUTH;
		emit(out, SC_WRITE, "AUTH PLAIN %s\r\n", b64);
		explicit_bzero(b64, sizeof(b64));
		return;
	}
	if (c->caps.auth_login && ul < sizeof(raw) / 2 && pl < sizeof(raw) / 2) {
		base64_encode((const unsigned char *)u, ul, b64);
		c->state = C_AUTH_USER;
		emit(out, SC_WRITE, "AUTH LOGIN %s\r\n", b64);
		return;
	}
	fail(c, out, 0, "4.7.0", c->caps.auth[0] ? "the server offers no AUTH mechanism we use (PLAIN, LOGIN)" :
	     "the server does not offer AUTH", "auth");
}

/* SCRAM-SHA-256's 334s: the server's first message, then its proof (checked: a server that
 * cannot make it does not have this account's keys), then an empty line for its 235. */
static void scram_reply(struct smtp_client *c, const struct smtp_reply *r, struct smtp_client_out *out)
{
	unsigned char data[SCRAM_MSG_MAX];
	char msg[SCRAM_MSG_MAX], b64[SMTP_AUTH_LINE_MAX], why[160];
	const char *t = r->text;
	size_t tl = strcspn(t, "\r\n");
	long n = r->code == 334 && tl / 4 * 3 < sizeof(data) ? base64_decode(t, tl, data) : -1;

	if (r->code != 334) {
		result_set(&c->auth, r->code, r->esc, r->text, "auth");
		fail(c, out, r->code, r->esc, r->text, "auth");
		return;
	}
	if (n < 0) {
		fail(c, out, 0, "5.7.0", "the server's SCRAM message is not base64", "auth");
		return;
	}
	if (c->state == C_SCRAM1) {
		int ok = scram_client_final(&c->scram, c->conf->password ? c->conf->password : "", (const char *)data,
		                            (size_t)n, msg, sizeof(msg), why, sizeof(why)) == 0;
		if (!ok || strlen(msg) / 3 * 4 + 8 >= sizeof(b64)) {
			fail(c, out, 0, "5.7.0", ok ? "SCRAM message too long" : why, "auth");
			return;
		}
		base64_encode((const unsigned char *)msg, strlen(msg), b64);
		explicit_bzero(msg, sizeof(msg));
		c->state = C_SCRAM2;
		emit(out, SC_WRITE, "%s\r\n", b64);
		return;
	}
	if (scram_client_verify(&c->scram, (const char *)data, (size_t)n) != 0) {
		fail(c, out, 0, "5.7.0", "the server's SCRAM proof is wrong: it does not know this account's keys (is it the "
		     "server it claims to be?)", "auth");
		return;
	}
	c->state = C_AUTH;
	emit(out, SC_WRITE, "\r\n");
}

/* After EHLO (or HELO): TLS first, then AUTH, then the transaction. */
static void after_hello(struct smtp_client *c, struct smtp_client_out *out)
{
	if (!c->tls && (c->conf->tls == SC_TLS_REQUIRED || c->conf->tls == SC_TLS_OPPORTUNISTIC)) {
		if (c->caps.starttls) {
			c->caps_plain = c->caps;
			c->caps_plain_seen = c->esmtp;
			c->state = C_STARTTLS;
			emit(out, SC_WRITE, "STARTTLS\r\n");
			return;
		}
		if (c->conf->tls == SC_TLS_REQUIRED) {
			fail(c, out, 0, "4.7.10", "STARTTLS is required but the server does not offer it; nothing was sent",
			     "starttls");
			return;
		}
	}
	if (c->conf->user != NULL || c->conf->external) {
		send_auth(c, out);
		return;
	}
	send_mail(c, out);
}

static void send_ehlo(struct smtp_client *c, struct smtp_client_out *out)
{
	c->state = C_EHLO;
	emit(out, SC_WRITE, "%s %s\r\n", c->conf->lmtp ? "LHLO" : "EHLO", c->conf->helo);
}

/* LMTP: the next recipient that RCPT accepted and the data has not decided yet, or nrcpts. */
static size_t lmtp_pending(const struct smtp_client *c, size_t from)
{
	while (from < c->env->nrcpts && !(c->res[from].code == 250 && strcmp(c->res[from].stage, "rcpt") == 0))
		from++;
	return from;
}

/* C_EHLO: the capabilities, or HELO for an old server that can still take plain mail. */
static void ehlo_reply(struct smtp_client *c, const struct smtp_reply *r, struct smtp_client_out *out)
{
	if (r->code >= 200 && r->code < 300) {
		c->esmtp = 1;
		smtp_caps_parse(r, &c->caps);
		after_hello(c, out);
		return;
	}
	/* An old server without EHLO can still take plain mail, never TLS or AUTH. */
	if (!c->conf->lmtp && !c->tls && c->conf->tls != SC_TLS_REQUIRED && c->conf->user == NULL && !c->conf->external && r->code >= 500) {
		c->state = C_HELO;
		emit(out, SC_WRITE, "HELO %s\r\n", c->conf->helo);
		return;
	}
	fail(c, out, r->code, r->esc, r->text, "ehlo");
}

/* C_AUTH_USER: AUTH LOGIN asks for the password next. */
static void auth_user_reply(struct smtp_client *c, const struct smtp_reply *r, struct smtp_client_out *out)
{
	if (r->code == 334) {
		char b64[SMTP_AUTH_LINE_MAX];
		const char *pw = c->conf->password ? c->conf->password : "";
		base64_encode((const unsigned char *)pw, strlen(pw), b64);
		c->state = C_AUTH_PASS;
		emit(out, SC_WRITE, "%s\r\n", b64);
		explicit_bzero(b64, sizeof(b64));
		return;
	}
	result_set(&c->auth, r->code, r->esc, r->text, "auth");
	fail(c, out, r->code, r->esc, r->text, "auth");
}

/* C_RCPT: the recipient's answer, then the next RCPT, DATA, or QUIT when none was accepted. */
static void rcpt_reply(struct smtp_client *c, const struct smtp_reply *r, struct smtp_client_out *out)
{
	int ok = r->code >= 200 && r->code < 300;

	result_set(&c->res[c->rcpt], ok ? 250 : r->code, r->esc, r->text, "rcpt");
	if (ok)
		c->accepted++;
	if (++c->rcpt < c->env->nrcpts) {
		emit(out, SC_WRITE, "RCPT TO:<%s>\r\n", c->env->rcpts[c->rcpt]);
		return;
	}
	if (c->accepted == 0 || c->conf->rcpt_only) {
		quit(c, out);
		return;
	}
	c->state = C_DATA;
	emit(out, SC_WRITE, "DATA\r\n");
}

/* C_BODY: the reply to the end of data (LMTP: one of them per accepted recipient). */
static void body_reply(struct smtp_client *c, const struct smtp_reply *r, struct smtp_client_out *out)
{
	int ok = r->code >= 200 && r->code < 300;

	if (c->conf->lmtp) {
		/* RFC 2033 4.2: one reply per recipient RCPT accepted, in that order */
		size_t i = lmtp_pending(c, c->lmtp_next);
		if (i < c->env->nrcpts)
			result_set(&c->res[i], ok ? 250 : r->code, r->esc, r->text, "data");
		c->lmtp_next = i + 1;
		if (lmtp_pending(c, c->lmtp_next) < c->env->nrcpts) {
			emit(out, SC_WRITE, "%s", "");     /* nothing to say: wait for the next reply */
			return;
		}
		quit(c, out);
		return;
	}
	/* The reply to the end of data decides every recipient that RCPT accepted. */
	decide_rest(c, r, "data", 1);
	for (size_t i = 0; i < c->env->nrcpts; i++)
		if (strcmp(c->res[i].stage, "data") == 0 && ok)
			c->res[i].code = 250;
	quit(c, out);
}

void smtp_client_reply(struct smtp_client *c, const struct smtp_reply *r, struct smtp_client_out *out)
{
	int ok = r->code >= 200 && r->code < 300;

	switch (c->state) {
	case C_RSET:
		if (r->code != 250) {
			fail(c, out, r->code, r->esc, r->text, "rset");
			return;
		}
		send_mail(c, out);
		return;
	case C_GREETING:
		result_set(&c->greeting, r->code, r->esc, r->text, "greeting");
		if (r->code != 220) {
			fail(c, out, r->code, r->esc, r->text, "greeting");
			return;
		}
		send_ehlo(c, out);
		return;
	case C_EHLO:
		ehlo_reply(c, r, out);
		return;
	case C_HELO:
		if (!ok) {
			fail(c, out, r->code, r->esc, r->text, "helo");
			return;
		}
		memset(&c->caps, 0, sizeof(c->caps));
		send_mail(c, out);
		return;
	case C_STARTTLS:
		result_set(&c->starttls, r->code, r->esc, r->text, "starttls");
		if (r->code == 220) {
			emit(out, SC_STARTTLS, "%s", "");
			return;
		}
		if (c->conf->tls == SC_TLS_REQUIRED) {
			fail(c, out, r->code, r->esc, r->text, "starttls");
			return;
		}
		c->caps.starttls = 0;   /* opportunistic: carry on in plaintext */
		after_hello(c, out);
		return;
	case C_AUTH:
	case C_AUTH_PASS:
		result_set(&c->auth, r->code, r->esc, r->text, "auth");
		if (r->code == 235) {
			send_mail(c, out);
			return;
		}
		fail(c, out, r->code, r->esc, r->text, "auth");
		return;
	case C_SCRAM1:
	case C_SCRAM2:
		scram_reply(c, r, out);
		return;
	case C_AUTH_USER:
		auth_user_reply(c, r, out);
		return;
	case C_MAIL:
		if (!ok) {
			decide_rest(c, r, "mail", 0);
			quit(c, out);
			return;
		}
		c->rcpt = 0;
		c->state = C_RCPT;
		emit(out, SC_WRITE, "RCPT TO:<%s>\r\n", c->env->rcpts[0]);
		return;
	case C_RCPT:
		rcpt_reply(c, r, out);
		return;
	case C_DATA:
		if (r->code != 354) {
			decide_rest(c, r, "data", 1);
			quit(c, out);
			return;
		}
		c->state = C_BODY;
		emit(out, SC_BODY, "%s", "");
		return;
	case C_BODY:
		body_reply(c, r, out);
		return;
	case C_QUIT:
	case C_END:
		c->state = C_END;
		emit(out, SC_DONE, "%s", "");
		out->len = 0;
		return;
	}
}

void smtp_client_tls_binding(struct smtp_client *c, const unsigned char *cb)
{
	c->has_cbind = cb != NULL;
	if (cb != NULL)
		memcpy(c->cbind, cb, sizeof(c->cbind));
}

void smtp_client_tls_started(struct smtp_client *c, struct smtp_client_out *out)
{
	c->tls = 1;
	/* RFC 3207 4.2: forget what the server said before TLS and ask again. */
	memset(&c->caps, 0, sizeof(c->caps));
	send_ehlo(c, out);
}

struct smtp_client *smtp_client_new(const struct smtp_client_conf *conf,
                                    const struct smtp_client_envelope *env)
{
	struct smtp_client *c = calloc(1, sizeof(*c));

	if (c == NULL || (env->nrcpts == 0 && !conf->probe))
		goto fail;
	c->res = calloc(env->nrcpts ? env->nrcpts : 1, sizeof(*c->res));
	if (c->res == NULL)
		goto fail;
	c->conf = conf;
	c->env = env;
	c->tls = conf->tls == SC_TLS_IMPLICIT;
	c->state = C_GREETING;
	return c;
fail:
	if (c)
		free(c->res);
	free(c);
	return NULL;
}

struct smtp_client *smtp_client_reuse(const struct smtp_client *prev, const struct smtp_client_conf *conf,
                                      const struct smtp_client_envelope *env, struct smtp_client_out *out)
{
	struct smtp_client *c = smtp_client_new(conf, env);

	if (c == NULL)
		return NULL;
	c->tls = prev->tls;
	c->has_cbind = prev->has_cbind;
	memcpy(c->cbind, prev->cbind, sizeof(c->cbind));
	c->esmtp = prev->esmtp;
	c->caps = prev->caps;
	c->state = C_RSET;
	emit(out, SC_WRITE, "RSET\r\n");
	return c;
}

void smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	free(c->res);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

const struct smtp_client_result *smtp_client_rcpt_result(const struct smtp_client *c, size_t i)
{
	return i < c->env->nrcpts ? &c->res[i] : NULL;
}

const struct smtp_client_result *smtp_client_failure(const struct smtp_client *c) { return &c->fail; }
const struct smtp_caps *smtp_client_caps(const struct smtp_client *c) { return &c->caps; }

const struct smtp_client_result *smtp_client_greeting(const struct smtp_client *c) { return &c->greeting; }
const struct smtp_client_result *smtp_client_auth_result(const struct smtp_client *c) { return &c->auth; }
const struct smtp_client_result *smtp_client_starttls_result(const struct smtp_client *c) { return &c->starttls; }
int smtp_client_esmtp(const struct smtp_client *c) { return c->esmtp; }

const struct smtp_caps *smtp_client_caps_plain(const struct smtp_client *c, int *seen)
{
	*seen = c->caps_plain_seen || (!c->tls && c->esmtp);
	return c->caps_plain_seen ? &c->caps_plain : &c->caps;
}
