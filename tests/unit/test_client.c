/*
 * test_client.c - the reply parser and the client state machine, driven by scripted server
 * replies. Each script line: "S:" a server reply line (fed through the reply parser, CRLF
 * added), "C:" the exact line the client must write next, "A:" the step it must ask for
 * (starttls, body, done, fail), "T" the TLS handshake completed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/client.h"
#include "smtp/reply.h"

struct script {
	const char *name;
	enum smtp_client_tls tls;
	const char *user;
	const char *lines[40];
	int results[4];                 /* expected code per recipient; -1 = unused */
	const char *fail_stage;         /* expected failure stage, or NULL */
	int requiretls;                 /* the envelope asks for REQUIRETLS (RFC 8689) */
	int lmtp;                       /* LMTP (RFC 2033) */
};

static const char *rcpts[] = { "a@remote.example", "b@remote.example", "c@remote.example" };

#define EHLO_PLAIN "S: 250-mx.remote.example", "S: 250-PIPELINING", "S: 250 SIZE 1000000"
#define EHLO_TLS "S: 250-mx.remote.example", "S: 250-STARTTLS", "S: 250 8BITMIME"
#define EHLO_AUTH "S: 250-mx.remote.example", "S: 250-AUTH PLAIN LOGIN", "S: 250 SIZE 1000000"

static const struct script scripts[] = {
	{ "plain delivery, one recipient refused", SC_TLS_NONE, NULL, {
		"S: 220 mx.remote.example ESMTP", "C: EHLO me.example", EHLO_PLAIN,
		"C: MAIL FROM:<s@me.example> SIZE=100", "S: 250 2.1.0 ok",
		"C: RCPT TO:<a@remote.example>", "S: 250 2.1.5 ok",
		"C: RCPT TO:<b@remote.example>", "S: 550 5.1.1 no such user",
		"C: RCPT TO:<c@remote.example>", "S: 451 4.3.0 try later",
		"C: DATA", "S: 354 go", "A: body", "S: 250 2.0.0 queued",
		"A: done", "C: QUIT", NULL }, { 250, 550, 451, -1 }, NULL },
	{ "STARTTLS required but not offered: nothing sent", SC_TLS_REQUIRED, NULL, {
		"S: 220 mx", "C: EHLO me.example", EHLO_PLAIN, "A: fail", "C: QUIT", NULL },
		{ 0, 0, 0, -1 }, "starttls" },
	{ "STARTTLS required and refused", SC_TLS_REQUIRED, NULL, {
		"S: 220 mx", "C: EHLO me.example", EHLO_TLS, "C: STARTTLS", "S: 454 4.7.0 TLS not available",
		"A: fail", NULL }, { 0, 0, 0, -1 }, "starttls" },
	{ "STARTTLS then AUTH PLAIN then mail", SC_TLS_REQUIRED, "u@me.example", {
		"S: 220 mx", "C: EHLO me.example", EHLO_TLS, "C: STARTTLS", "S: 220 2.0.0 go ahead",
		"A: starttls", "T", "C: EHLO me.example", EHLO_AUTH,
		"C: AUTH PLAIN AHVAbWUuZXhhbXBsZQBwdw==", "S: 235 2.7.0 ok",
		"C: MAIL FROM:<s@me.example> SIZE=100", "S: 250 ok",
		"C: RCPT TO:<a@remote.example>", "S: 250 ok",
		"C: RCPT TO:<b@remote.example>", "S: 250 ok",
		"C: RCPT TO:<c@remote.example>", "S: 250 ok",
		"C: DATA", "S: 354 go", "A: body", "S: 250 2.0.0 queued", "A: done", NULL },
		{ 250, 250, 250, -1 }, NULL },
	{ "credentials never without TLS", SC_TLS_NONE, "u@me.example", {
		"S: 220 mx", "C: EHLO me.example", EHLO_AUTH, "A: fail", NULL }, { 0, 0, 0, -1 }, "auth" },
	{ "opportunistic TLS not offered: plaintext", SC_TLS_OPPORTUNISTIC, NULL, {
		"S: 220 mx", "C: EHLO me.example", EHLO_PLAIN, "C: MAIL FROM:<s@me.example> SIZE=100", NULL },
		{ -1, -1, -1, -1 }, NULL },
	{ "opportunistic TLS refused: plaintext", SC_TLS_OPPORTUNISTIC, NULL, {
		"S: 220 mx", "C: EHLO me.example", EHLO_TLS, "C: STARTTLS", "S: 454 4.7.0 no",
		"C: MAIL FROM:<s@me.example>", NULL }, { -1, -1, -1, -1 }, NULL },
	{ "AUTH LOGIN", SC_TLS_IMPLICIT, "u@me.example", {
		"S: 220 mx", "C: EHLO me.example", "S: 250-mx", "S: 250 AUTH LOGIN",
		"C: AUTH LOGIN dUBtZS5leGFtcGxl", "S: 334 UGFzc3dvcmQ6", "C: cHc=", "S: 235 ok",
		"C: MAIL FROM:<s@me.example>", NULL }, { -1, -1, -1, -1 }, NULL },
	{ "AUTH rejected", SC_TLS_IMPLICIT, "u@me.example", {
		"S: 220 mx", "C: EHLO me.example", EHLO_AUTH, "C: AUTH PLAIN AHVAbWUuZXhhbXBsZQBwdw==",
		"S: 535 5.7.8 bad credentials", "A: fail", NULL }, { 0, 0, 0, -1 }, "auth" },
	{ "greeting refused", SC_TLS_NONE, NULL, { "S: 554 5.7.1 go away", "A: fail", NULL },
		{ 0, 0, 0, -1 }, "greeting" },
	{ "MAIL refused decides everyone", SC_TLS_NONE, NULL, {
		"S: 220 mx", "C: EHLO me.example", EHLO_PLAIN, "C: MAIL FROM:<s@me.example> SIZE=100",
		"S: 452 4.3.1 full", "A: done", NULL }, { 452, 452, 452, -1 }, NULL },
	{ "end of data refused", SC_TLS_NONE, NULL, {
		"S: 220 mx", "C: EHLO me.example", EHLO_PLAIN, "C: MAIL FROM:<s@me.example> SIZE=100", "S: 250 ok",
		"C: RCPT TO:<a@remote.example>", "S: 250 ok", "C: RCPT TO:<b@remote.example>", "S: 550 5.1.1 no",
		"C: RCPT TO:<c@remote.example>", "S: 250 ok", "C: DATA", "S: 354 go", "A: body",
		"S: 554 5.6.0 content refused", "A: done", NULL }, { 554, 550, 554, -1 }, NULL },
	{ "no recipient accepted: no DATA", SC_TLS_NONE, NULL, {
		"S: 220 mx", "C: EHLO me.example", EHLO_PLAIN, "C: MAIL FROM:<s@me.example> SIZE=100", "S: 250 ok",
		"C: RCPT TO:<a@remote.example>", "S: 550 no", "C: RCPT TO:<b@remote.example>", "S: 550 no",
		"C: RCPT TO:<c@remote.example>", "S: 450 later", "A: done", "C: QUIT", NULL }, { 550, 550, 450, -1 }, NULL },
	{ "old server without EHLO", SC_TLS_NONE, NULL, {
		"S: 220 mx", "C: EHLO me.example", "S: 502 5.5.1 what", "C: HELO me.example", "S: 250 hi",
		"C: MAIL FROM:<s@me.example>", NULL }, { -1, -1, -1, -1 }, NULL },
	{ "REQUIRETLS: a plaintext server gets nothing, even when it claims REQUIRETLS", SC_TLS_OPPORTUNISTIC, NULL, {
		"S: 220 mx", "C: EHLO me.example", "S: 250-mx", "S: 250 REQUIRETLS", "A: done", "C: QUIT", NULL },
		{ 550, 550, 550, -1 }, NULL, 1 },
	{ "REQUIRETLS: TLS, but the server does not offer it", SC_TLS_REQUIRED, NULL, {
		"S: 220 mx", "C: EHLO me.example", EHLO_TLS, "C: STARTTLS", "S: 220 go", "A: starttls", "T",
		"C: EHLO me.example", EHLO_PLAIN, "A: done", "C: QUIT", NULL }, { 550, 550, 550, -1 }, NULL, 1 },
	{ "REQUIRETLS passed on", SC_TLS_IMPLICIT, NULL, {
		"S: 220 mx", "C: EHLO me.example", "S: 250-mx", "S: 250 REQUIRETLS",
		"C: MAIL FROM:<s@me.example> REQUIRETLS", NULL }, { -1, -1, -1, -1 }, NULL, 1 },
	{ "too large for the server's SIZE", SC_TLS_NONE, NULL, {
		"S: 220 mx", "C: EHLO me.example", "S: 250-mx", "S: 250 SIZE 10", "A: done", NULL },
		{ 552, 552, 552, -1 }, NULL },
	{ "LMTP: LHLO, and one reply per accepted recipient after the data", SC_TLS_NONE, NULL, {
		"S: 220 dovecot ready", "C: LHLO me.example", "S: 250-dovecot", "S: 250 PIPELINING",
		"C: MAIL FROM:<s@me.example>", "S: 250 2.1.0 ok",
		"C: RCPT TO:<a@remote.example>", "S: 250 2.1.5 ok",
		"C: RCPT TO:<b@remote.example>", "S: 550 5.1.1 <b@remote.example> User doesn't exist",
		"C: RCPT TO:<c@remote.example>", "S: 250 2.1.5 ok",
		"C: DATA", "S: 354 go", "A: body",
		"S: 250 2.0.0 <a@remote.example> Saved", "A: write",
		"S: 452 4.2.2 <c@remote.example> Quota exceeded", "C: QUIT", NULL },
		{ 250, 550, 452, -1 }, NULL, 0, 1 },
	{ "LMTP: a server refusing LHLO is not asked HELO", SC_TLS_NONE, NULL, {
		"S: 220 x", "C: LHLO me.example", "S: 500 5.5.1 what", "A: fail", "C: QUIT", NULL },
		{ 0, 0, 0, -1 }, "ehlo", 0, 1 },
};

static void run_script(const struct script *s)
{
	struct smtp_client_conf conf = { "me.example", s->tls, s->user, "pw", 0, 0, NULL, 0, 0, s->lmtp };
	struct smtp_client_envelope env = { "s@me.example", rcpts, 3, 100, 0, 0, s->requiretls };
	struct smtp_client *c = smtp_client_new(&conf, &env);
	struct smtp_reply_parser p;
	struct smtp_client_out out;
	int have_out = 0;

	assert_non_null(c);
	smtp_reply_init(&p);
	memset(&out, 0, sizeof(out));
	for (size_t i = 0; s->lines[i]; i++) {
		const char *l = s->lines[i];
		if (l[0] == 'S') {
			char buf[600];
			struct smtp_reply r;
			size_t used;
			int n = snprintf(buf, sizeof(buf), "%s\r\n", l + 3);
			int got = smtp_reply_feed(&p, buf, (size_t)n, &used, &r);
			assert_int_not_equal(got, -1);
			assert_int_equal(used, (size_t)n);
			if (got == 1) {
				smtp_client_reply(c, &r, &out);
				have_out = 1;
			}
		} else if (l[0] == 'T') {
			smtp_client_tls_started(c, &out);
			have_out = 1;
		} else if (l[0] == 'C') {
			char want[600];
			snprintf(want, sizeof(want), "%s\r\n", l + 3);
			assert_true(have_out);
			if (out.len != strlen(want) || memcmp(out.buf, want, out.len) != 0)
				fail_msg("%s: line %zu: wrote \"%.*s\", expected \"%s\"", s->name, i, (int)out.len, out.buf, l + 3);
			have_out = 0;
		} else if (l[0] == 'A') {
			static const char *names[] = { "write", "starttls", "body", "done", "fail" };
			assert_true(have_out);
			if (strcmp(names[out.step], l + 3) != 0)
				fail_msg("%s: line %zu: step %s, expected %s", s->name, i, names[out.step], l + 3);
		}
	}
	for (size_t i = 0; i < 3; i++)
		if (s->results[i] >= 0 && smtp_client_rcpt_result(c, i)->code != s->results[i])
			fail_msg("%s: recipient %zu: code %d, expected %d", s->name, i,
			         smtp_client_rcpt_result(c, i)->code, s->results[i]);
	if (s->fail_stage)
		assert_string_equal(smtp_client_failure(c)->stage, s->fail_stage);
	/* The answer to STARTTLS is kept (TLS-RPT counts a refusal), 0 when it was never sent. */
	int starttls = 0;
	for (size_t i = 0; s->lines[i]; i++)
		if (strcmp(s->lines[i], "C: STARTTLS") == 0)
			for (size_t k = i + 1; s->lines[k] && starttls == 0; k++)
				if (s->lines[k][0] == 'S')
					starttls = atoi(s->lines[k] + 3);
	if (smtp_client_starttls_result(c)->code != starttls)
		fail_msg("%s: STARTTLS answered %d, kept %d", s->name, starttls, smtp_client_starttls_result(c)->code);
	smtp_client_free(c);
}

static void test_scripts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
		run_script(&scripts[i]);
}

static void test_reply_parser(void **state)
{
	static const char multi[] = "250-mx.example greets you\r\n250-SIZE 35882577\r\n250-AUTH LOGIN PLAIN XOAUTH2\r\n"
	                            "250-STARTTLS\r\n250 SMTPUTF8\r\n421 4.7.0 next";
	struct smtp_reply_parser p;
	struct smtp_reply r;
	struct smtp_caps caps;
	size_t used, off = 0;
	int got = 0;

	(void)state;
	/* fed one octet at a time */
	smtp_reply_init(&p);
	while (off < sizeof(multi) - 1 && got == 0) {
		got = smtp_reply_feed(&p, multi + off, 1, &used, &r);
		off += used;
	}
	assert_int_equal(got, 1);
	assert_int_equal(r.code, 250);
	assert_int_equal(r.nlines, 5);
	smtp_caps_parse(&r, &caps);
	assert_true(caps.starttls && caps.smtputf8 && caps.auth_plain && caps.auth_login && caps.has_size);
	assert_int_equal(caps.size, 35882577);
	assert_false(caps.pipelining);
	assert_true(smtp_reply_pending(&p) == 0);
	/* the rest (a partial line) stays pending */
	got = smtp_reply_feed(&p, multi + off, sizeof(multi) - 1 - off, &used, &r);
	assert_int_equal(got, 0);
	assert_true(smtp_reply_pending(&p));

	smtp_reply_init(&p);
	assert_int_equal(smtp_reply_feed(&p, "550 5.1.1 <x@y>: no such user\r\n", 31, &used, &r), 1);
	assert_string_equal(r.esc, "5.1.1");
	assert_string_equal(r.text, "<x@y>: no such user");
	/* An enhanced code must carry the reply's class (RFC 2034 §4): otherwise it is text. */
	smtp_reply_init(&p);
	assert_int_equal(smtp_reply_feed(&p, "250 5.0.0 odd but ok\r\n", 22, &used, &r), 1);
	assert_string_equal(r.esc, "");
	assert_string_equal(r.text, "5.0.0 odd but ok");
	smtp_reply_init(&p);
	assert_int_equal(smtp_reply_feed(&p, "250\r\n", 5, &used, &r), 1);
	assert_int_equal(r.code, 250);

	static const char *bad[] = { "hello\r\n", "25 x\r\n", "250x\r\n", "999 x\r\n", "250-a\r\n251 b\r\n", "099 x\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_reply_init(&p);
		got = smtp_reply_feed(&p, bad[i], strlen(bad[i]), &used, &r);
		if (got == 1)     /* "250-a" then "251": the first call may complete nothing */
			fail_msg("bad reply %zu parsed", i);
		if (got == 0)
			got = smtp_reply_feed(&p, bad[i] + used, strlen(bad[i]) - used, &used, &r);
		assert_int_equal(got, -1);
	}
	char longline[2000];
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "250 ", 4);
	smtp_reply_init(&p);
	assert_int_equal(smtp_reply_feed(&p, longline, sizeof(longline), &used, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_parser),
		cmocka_unit_test(test_scripts),
	};
	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
