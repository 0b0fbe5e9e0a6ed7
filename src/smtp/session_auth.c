/*
 * session_auth.c - STARTTLS (RFC 3207) and AUTH PLAIN, LOGIN, SCRAM-SHA-256(-PLUS) and EXTERNAL
 * (RFC 4954, RFC 5802, RFC 7677, RFC 9266, RFC 4422) in the server session:
 * the states between the command and the adapter's answer. Pure: the verdict comes from the
 * auth callback, asynchronously when it says so.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sasl/scram.h"
#include "../util/base64.h"
#include "../util/duration.h"
#include "session_int.h"

/* ---- STARTTLS and AUTH ----------------------------------------------------------------- */

void sess_do_starttls(struct smtp_session *s, const struct smtp_cmd *c)
{
	if (!(s->conf->policy & SMTP_POLICY_STARTTLS)) {
		sess_do_not_offered(s, c);
		return;
	}
	if (s->tls) {
		sess_reply(s, 503, "5.5.1", "Error: TLS already active");
		return;
	}
	sess_reply(s, 220, "2.0.0", "Ready to start TLS");
	/* Stop here: whatever the client sent after this line was sent in plaintext and must
	 * never be read as if it came through TLS (CVE-2011-0411). */
	s->state = S_STARTTLS;
}

void sess_login_clear(struct smtp_session *s)
{
	if (s->auth_login != NULL) {
		explicit_bzero(s->auth_login, strlen(s->auth_login));
		free(s->auth_login);
		s->auth_login = NULL;
	}
}

/* Held only while an exchange is under way: an idle session has none. -1: no memory. */
static int login_set(struct smtp_session *s, const char *user, size_t len)
{
	sess_login_clear(s);
	return (s->auth_login = sess_dup_slice(user, len)) != NULL ? 0 : -1;
}

static void auth_finish(struct smtp_session *s, const char *authzid, const char *user, char *pass,
                        size_t passlen)
{
	int r;

	if (strlen(user) == 0 || strlen(user) > SMTP_USER_MAX) {
		explicit_bzero(pass, passlen);
		s->state = S_CMD;
		sess_reply(s, 535, "5.7.8", "Authentication credentials invalid");
		return;
	}
	if (login_set(s, user, strlen(user)) < 0) {
		explicit_bzero(pass, passlen);
		s->state = S_CMD;
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
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
	if (result == SMTP_AUTH_OK && s->auth_login == NULL)
		result = SMTP_AUTH_TEMPFAIL;        /* its copy could not be made */
	if (result == SMTP_AUTH_OK) {
		s->auth_user = s->auth_login;       /* the session owns it now */
		s->auth_login = NULL;
		sess_reply(s, 235, "2.7.0", "Authentication successful");
	} else if (result == SMTP_AUTH_LOCKED) {
		char text[160], span[32];
		duration_words((long long)s->retry_after, span, sizeof(span));
		snprintf(text, sizeof(text), "Too many failed authentications from your address; try again %s%s",
		         s->retry_after ? "in " : "later", s->retry_after ? span : "");
		sess_close_with(s, 454, "4.7.0", text);
	} else if (result == SMTP_AUTH_TEMPFAIL)
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure, try again later");
	else
		sess_reply(s, 535, "5.7.8", "Authentication credentials invalid");
	sess_login_clear(s);
}

void sess_scram_end(struct smtp_session *s)
{
	if (s->scram != NULL) {
		scram_server_clear(s->scram);
		free(s->scram);
		s->scram = NULL;
	}
}

/* 334 with data, base64-encoded. */
static void reply_334(struct smtp_session *s, const char *data)
{
	char b64[2 * SCRAM_MSG_MAX];
	size_t n = base64_encode((const unsigned char *)data, strlen(data), b64 + 4);

	memcpy(b64, "334 ", 4);
	memcpy(b64 + 4 + n, "\r\n", 2);
	sess_reply_raw(s, b64, n + 6);
}

/* The end of a SCRAM exchange: the adapter logs and counts it; 235 or 535. */
static void scram_done(struct smtp_session *s, const char *user, int ok)
{
	int r = s->cb->auth_outcome(s->ctx, user, ok, s->auth_mech == MECH_SCRAM_PLUS ? "SCRAM-SHA-256-PLUS" :
	                            "SCRAM-SHA-256");

	sess_scram_end(s);
	(void)login_set(s, user, strlen(user));     /* none: auth_done says 454 */
	s->state = S_AUTH_WAIT;
	smtp_session_auth_done(s, ok && r == SMTP_AUTH_OK ? SMTP_AUTH_OK : SMTP_AUTH_FAIL);
}

/* RFC 5802 over RFC 4954: client-first -> 334 server-first; client-final -> 334 server-final
 * (or 535); an empty line -> 235. A malformed message ends it with 501. */
static void scram_step(struct smtp_session *s, const char *msg, size_t len)
{
	char out[SCRAM_MSG_MAX], why[120];

	if (s->scram == NULL && (s->scram = calloc(1, sizeof(*s->scram))) == NULL) {
		s->state = S_CMD;
		sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
		return;
	}
	if (s->auth_step == 0) {
		char user[SMTP_USER_MAX + 1];
		struct scram_creds creds;
		if (scram_server_first(s->scram, s->auth_mech == MECH_SCRAM_PLUS, s->has_cbind ? s->cbind : NULL, msg, len,
		                       user, sizeof(user), why, sizeof(why)) < 0) {
			sess_scram_end(s);
			s->state = S_CMD;
			sess_reply(s, 501, "5.5.2", "SCRAM: %s", why);
			return;
		}
		if (login_set(s, user, strlen(user)) < 0) {
			sess_scram_end(s);
			s->state = S_CMD;
			sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
			return;
		}
		int r = s->cb->scram_creds(s->ctx, user, &creds);
		if (r == SMTP_AUTH_LOCKED) {
			sess_scram_end(s);
			s->state = S_AUTH_WAIT;
			smtp_session_auth_done(s, SMTP_AUTH_LOCKED);
			return;
		}
		int c = scram_server_challenge(s->scram, &creds, out, sizeof(out));
		explicit_bzero(&creds, sizeof(creds));
		if (c < 0) {
			sess_scram_end(s);
			s->state = S_CMD;
			sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
			return;
		}
		s->auth_step = 1;
		s->state = S_AUTH;
		reply_334(s, out);
		return;
	}
	char user[SMTP_USER_MAX + 1];
	snprintf(user, sizeof(user), "%s", s->auth_login ? s->auth_login : "");
	if (s->auth_step == 1) {
		int r = scram_server_final(s->scram, msg, len, out, sizeof(out), why, sizeof(why));
		if (r < 0) {
			sess_scram_end(s);
			s->state = S_CMD;
			sess_reply(s, 501, "5.5.2", "SCRAM: %s", why);
			return;
		}
		if (r == 0) {
			scram_done(s, user, 0);
			return;
		}
		/* RFC 4954 4: the server's last data goes in a 334; the client answers with an empty line. */
		s->auth_step = 2;
		s->state = S_AUTH;
		reply_334(s, out);
		return;
	}
	if (len != 0) {
		sess_scram_end(s);
		s->state = S_CMD;
		sess_reply(s, 501, "5.5.2", "SCRAM: expected an empty response");
		return;
	}
	scram_done(s, user, 1);
}

/* RFC 4422 appendix A: the one message is the authorization identity, empty for "the one my
 * certificate names"; the certificate is the credential. */
static void external_step(struct smtp_session *s, const char *authzid, size_t len)
{
	char user[SMTP_USER_MAX + 1] = "";

	if (len > SMTP_USER_MAX || memchr(authzid, '\0', len) != NULL) {
		s->state = S_AUTH_WAIT;
		smtp_session_auth_done(s, SMTP_AUTH_FAIL);
		return;
	}
	int r = s->cb->auth_external(s->ctx, authzid, user, sizeof(user));
	(void)login_set(s, user, strlen(user));     /* none: auth_done says 454 */
	s->state = S_AUTH_WAIT;
	smtp_session_auth_done(s, r == SMTP_AUTH_OK && user[0] ? SMTP_AUTH_OK : r == SMTP_AUTH_LOCKED ? r : SMTP_AUTH_FAIL);
}

/* One base64 response of the AUTH exchange (or the initial response). */
void sess_auth_response(struct smtp_session *s, const char *b64, size_t len)
{
	unsigned char buf[SMTP_AUTH_LINE_MAX];
	long n;

	if (len == 1 && b64[0] == '*') {
		sess_scram_end(s);
		s->state = S_CMD;
		sess_reply(s, 501, "5.0.0", "Authentication cancelled");
		return;
	}
	if (len == 1 && b64[0] == '=')      /* RFC 4954: "=" is an empty initial response */
		len = 0;
	n = base64_decode(b64, len, buf);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		s->state = S_CMD;
		sess_reply(s, 501, "5.5.2", "Cannot decode the response (base64)");
		return;
	}
	buf[n] = '\0';
	if (s->auth_mech == MECH_SCRAM || s->auth_mech == MECH_SCRAM_PLUS) {
		scram_step(s, (const char *)buf, (size_t)n);
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	if (s->auth_mech == MECH_EXTERNAL) {
		external_step(s, (const char *)buf, (size_t)n);
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	if (s->auth_mech == MECH_PLAIN) {
		/* RFC 4616: [authzid] NUL authcid NUL passwd */
		const unsigned char *z1 = memchr(buf, '\0', (size_t)n), *z2;
		if (z1 == NULL || (z2 = memchr(z1 + 1, '\0', (size_t)(buf + n - (z1 + 1)))) == NULL) {
			explicit_bzero(buf, sizeof(buf));
			s->state = S_CMD;
			sess_reply(s, 501, "5.5.2", "Invalid PLAIN response");
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
		sess_reply(s, 501, "5.5.2", "Invalid LOGIN response");
		return;
	}
	if (s->auth_step == 0) {
		/* too long: kept as "", which fails after the password as any wrong one */
		if (login_set(s, (char *)buf, (size_t)n > SMTP_USER_MAX ? 0 : (size_t)n) < 0) {
			explicit_bzero(buf, sizeof(buf));
			s->state = S_CMD;
			sess_reply(s, 454, "4.7.0", "Temporary authentication failure");
			return;
		}
		s->auth_step = 1;
		s->state = S_AUTH;
		sess_reply_raw(s, "334 UGFzc3dvcmQ6\r\n", 18);   /* "Password:" */
		return;
	}
	char user[SMTP_USER_MAX + 1];
	snprintf(user, sizeof(user), "%s", s->auth_login ? s->auth_login : "");
	auth_finish(s, "", user, (char *)buf, (size_t)n);
	explicit_bzero(buf, sizeof(buf));
}

void sess_do_auth(struct smtp_session *s, const struct smtp_cmd *c)
{
	const char *sp;
	size_t mlen;

	if (!(s->conf->policy & SMTP_POLICY_AUTH)) {
		sess_do_not_offered(s, c);
		return;
	}
	if (!s->tls) {
		sess_reply(s, 538, "5.7.11", "Encryption required for requested authentication mechanism");
		return;
	}
	if (!s->esmtp) {
		sess_reply(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->auth_user != NULL) {
		sess_reply(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (s->tx != NULL) {
		sess_reply(s, 503, "5.5.1", "Error: AUTH not allowed during a mail transaction");
		return;
	}
	sp = memchr(c->arg, ' ', c->arglen);
	mlen = sp ? (size_t)(sp - c->arg) : c->arglen;
	if (smtp_slice_ieq(c->arg, mlen, "PLAIN"))
		s->auth_mech = MECH_PLAIN;
	else if (smtp_slice_ieq(c->arg, mlen, "LOGIN"))
		s->auth_mech = MECH_LOGIN;
	else if (smtp_slice_ieq(c->arg, mlen, "SCRAM-SHA-256") && (s->conf->policy & SMTP_POLICY_SCRAM) &&
	         s->cb->scram_creds != NULL && s->cb->auth_outcome != NULL)
		s->auth_mech = MECH_SCRAM;
	else if (smtp_slice_ieq(c->arg, mlen, "SCRAM-SHA-256-PLUS") && (s->conf->policy & SMTP_POLICY_SCRAM) &&
	         s->has_cbind && s->cb->scram_creds != NULL && s->cb->auth_outcome != NULL)
		s->auth_mech = MECH_SCRAM_PLUS;
	else if (smtp_slice_ieq(c->arg, mlen, "EXTERNAL") && s->client_cert && s->cb->auth_external != NULL)
		s->auth_mech = MECH_EXTERNAL;
	else {
		sess_reply(s, 504, "5.5.4", "Unrecognized authentication mechanism");
		return;
	}
	s->auth_step = 0;
	sess_login_clear(s);
	if (sp != NULL) {
		const char *ir = sp;
		while (ir < c->arg + c->arglen && *ir == ' ')
			ir++;
		sess_auth_response(s, ir, (size_t)(c->arg + c->arglen - ir));
		return;
	}
	s->state = S_AUTH;
	if (s->auth_mech != MECH_LOGIN)
		sess_reply_raw(s, "334 \r\n", 6);
	else
		sess_reply_raw(s, "334 VXNlcm5hbWU6\r\n", 18);   /* "Username:" */
}
