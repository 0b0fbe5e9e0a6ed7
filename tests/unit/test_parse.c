/* test_parse.c - table-driven tests of the RFC 5321 path, parameter and command parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "smtp/parse.h"

struct path_case {
	const char *in;
	unsigned flags;
	int want;                   /* SMTP_PATH_* */
	const char *local, *domain; /* expected slices when OK (NULL: don't check) */
};

#define U SMTP_PATH_UTF8
#define N SMTP_PATH_ALLOW_NULL
#define P SMTP_PATH_ALLOW_POSTMASTER
#define B SMTP_PATH_REQUIRE_BRACKETS

static const struct path_case path_cases[] = {
	/* plain */
	{ "<user@example.org>", 0, SMTP_PATH_OK, "user", "example.org" },
	{ "user@example.org", 0, SMTP_PATH_OK, "user", "example.org" },
	{ "user@example.org", B, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a@b>", 0, SMTP_PATH_OK, "a", "b" },
	{ "<first.last@sub.example.org>", 0, SMTP_PATH_OK, "first.last", "sub.example.org" },
	{ "<user+tag@example.org>", 0, SMTP_PATH_OK, "user+tag", "example.org" },
	{ "<!#$%&'*+-/=?^_`{|}~@example.org>", 0, SMTP_PATH_OK, "!#$%&'*+-/=?^_`{|}~", "example.org" },
	{ "<USER@EXAMPLE.ORG>", 0, SMTP_PATH_OK, "USER", "EXAMPLE.ORG" },
	{ "<a@x-y.example>", 0, SMTP_PATH_OK, "a", "x-y.example" },
	{ "<a@1.2.3.4.example>", 0, SMTP_PATH_OK, "a", "1.2.3.4.example" },
	{ "<a@123>", 0, SMTP_PATH_OK, "a", "123" },
	/* null and postmaster */
	{ "<>", N, SMTP_PATH_OK, NULL, NULL },
	{ "<>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<Postmaster>", P, SMTP_PATH_OK, NULL, NULL },
	{ "<POSTMASTER>", P, SMTP_PATH_OK, NULL, NULL },
	{ "<postmaster>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<postmaster@example.org>", P, SMTP_PATH_OK, "postmaster", "example.org" },
	/* quoted local parts */
	{ "<\"john doe\"@example.org>", 0, SMTP_PATH_OK, "\"john doe\"", "example.org" },
	{ "<\"a\\\"b\"@example.org>", 0, SMTP_PATH_OK, "\"a\\\"b\"", "example.org" },
	{ "<\"a@b\"@example.org>", 0, SMTP_PATH_OK, "\"a@b\"", "example.org" },
	{ "<\"\"@example.org>", 0, SMTP_PATH_OK, "\"\"", "example.org" },
	{ "<\"unterminated@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<\"tab\there\"@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<\"bad\\\x01\"@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	/* address literals */
	{ "<a@[192.0.2.1]>", 0, SMTP_PATH_OK, "a", "[192.0.2.1]" },
	{ "<a@[IPv6:2001:db8::1]>", 0, SMTP_PATH_OK, "a", "[IPv6:2001:db8::1]" },
	{ "<a@[ipv6:::1]>", 0, SMTP_PATH_OK, "a", "[ipv6:::1]" },
	{ "<a@[IPv6:2001:db8::1::2]>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a@[300.1.1.1]>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a@[1.2.3]>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a@[1.2.3.4>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a@[]>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a@[x-tag:content]>", 0, SMTP_PATH_OK, "a", "[x-tag:content]" },
	{ "<a@[tag:]>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	/* source routes are accepted and ignored (RFC 5321 appendix C) */
	{ "<@relay.example:user@example.org>", 0, SMTP_PATH_OK, "user", "example.org" },
	{ "<@a.example,@b.example:user@example.org>", 0, SMTP_PATH_OK, "user", "example.org" },
	{ "<@a.example,b.example:user@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<@:user@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	/* syntax errors */
	{ "", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@example.org", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<.user@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user.@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<us..er@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<us er@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@exa mple.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@-example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@example-.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@example..org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@.example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@example.org.>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@exa_mple.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user(comment)@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@example.org>>", 0, SMTP_PATH_OK, "user", "example.org" }, /* rest is the caller's */
	{ "<a@b@c>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user\x01@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<user@example.org\x7f>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a\\b@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a,b@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a;b@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<a:b@example.org>", 0, SMTP_PATH_ESYNTAX, NULL, NULL },
	/* RFC 6531 UTF-8 */
	{ "<j\xc3\xb6rg@example.org>", U, SMTP_PATH_OK, "j\xc3\xb6rg", "example.org" },
	{ "<j\xc3\xb6rg@example.org>", 0, SMTP_PATH_EUTF8, NULL, NULL },
	{ "<user@b\xc3\xbc" "cher.example>", U, SMTP_PATH_OK, "user", "b\xc3\xbc" "cher.example" },
	{ "<user@b\xc3\xbc" "cher.example>", 0, SMTP_PATH_EUTF8, NULL, NULL },
	{ "<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>", U, SMTP_PATH_OK, NULL, NULL },
	{ "<\"q\xc3\xa9\"@example.org>", U, SMTP_PATH_OK, "\"q\xc3\xa9\"", "example.org" },
	{ "<bad\xc3@example.org>", U, SMTP_PATH_ESYNTAX, NULL, NULL },          /* truncated */
	{ "<bad\xc0\xaf@example.org>", U, SMTP_PATH_ESYNTAX, NULL, NULL },      /* overlong */
	{ "<bad\xed\xa0\x80@example.org>", U, SMTP_PATH_ESYNTAX, NULL, NULL },  /* surrogate */
	{ "<bad\xf4\x90\x80\x80@example.org>", U, SMTP_PATH_ESYNTAX, NULL, NULL }, /* > U+10FFFF */
	{ "<bad\xff@example.org>", U, SMTP_PATH_ESYNTAX, NULL, NULL },
	{ "<bad\x80@example.org>", U, SMTP_PATH_ESYNTAX, NULL, NULL },
};

static void test_paths(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		struct smtp_path p;
		size_t used = 0;
		int r = smtp_parse_path(c->in, strlen(c->in), c->flags, &p, &used);
		if (r != c->want)
			fail_msg("case %zu \"%s\": got %d want %d", i, c->in, r, c->want);
		if (r == SMTP_PATH_OK && c->local) {
			if (p.local_len != strlen(c->local) || memcmp(p.local, c->local, p.local_len) != 0)
				fail_msg("case %zu \"%s\": local \"%.*s\"", i, c->in, (int)p.local_len, p.local);
			if (p.domain_len != strlen(c->domain) || memcmp(p.domain, c->domain, p.domain_len) != 0)
				fail_msg("case %zu \"%s\": domain \"%.*s\"", i, c->in, (int)p.domain_len, p.domain);
		}
	}
}

/* Place the input against an unreadable page: any over-read crashes (picohttpparser test.c). */
static void test_paths_guard_page(void **state)
{
	long pg = sysconf(_SC_PAGESIZE);
	char *mem = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	assert_true(mem != MAP_FAILED);
	assert_int_equal(mprotect(mem + pg, (size_t)pg, PROT_NONE), 0);
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const char *in = path_cases[i].in;
		size_t n = strlen(in);
		/* every prefix, ending exactly at the guard */
		for (size_t k = 0; k <= n; k++) {
			char *at = mem + pg - k;
			struct smtp_path p;
			size_t used;
			memcpy(at, in, k);
			(void)smtp_parse_path(at, k, path_cases[i].flags, &p, &used);
		}
	}
	munmap(mem, (size_t)pg * 2);
}

static void test_limits(void **state)
{
	char buf[600];
	struct smtp_path p;
	size_t used;

	(void)state;
	/* local-part: 64 ok, 65 too long */
	snprintf(buf, sizeof(buf), "<%s@example.org>", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(smtp_parse_path(buf, strlen(buf), 0, &p, &used), SMTP_PATH_OK);
	snprintf(buf, sizeof(buf), "<%s@example.org>", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(smtp_parse_path(buf, strlen(buf), 0, &p, &used), SMTP_PATH_ETOOLONG);
	/* label of 64 is a syntax error, domain over 255 too long */
	memset(buf, 0, sizeof(buf));
	strcpy(buf, "<a@");
	memset(buf + 3, 'b', 64);
	strcat(buf, ".org>");
	assert_int_equal(smtp_parse_path(buf, strlen(buf), 0, &p, &used), SMTP_PATH_ESYNTAX);
	strcpy(buf, "<a@");
	for (int i = 0; i < 5; i++)
		strcat(buf, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.");
	strcat(buf, "org>");
	assert_int_equal(smtp_parse_path(buf, strlen(buf), 0, &p, &used), SMTP_PATH_ETOOLONG);
}

struct cmd_case {
	const char *in;
	enum smtp_verb verb;
	const char *arg;
	int ret;
};

static const struct cmd_case cmd_cases[] = {
	{ "EHLO client.example", SMTP_V_EHLO, "client.example", 0 },
	{ "ehlo client.example", SMTP_V_EHLO, "client.example", 0 },
	{ "HeLo x", SMTP_V_HELO, "x", 0 },
	{ "MAIL FROM:<a@b>", SMTP_V_MAIL, "FROM:<a@b>", 0 },
	{ "RCPT TO:<a@b>  ", SMTP_V_RCPT, "TO:<a@b>", 0 },
	{ "DATA", SMTP_V_DATA, "", 0 },
	{ "data", SMTP_V_DATA, "", 0 },
	{ "QUIT", SMTP_V_QUIT, "", 0 },
	{ "RSET", SMTP_V_RSET, "", 0 },
	{ "NOOP anything", SMTP_V_NOOP, "anything", 0 },
	{ "VRFY alice", SMTP_V_VRFY, "alice", 0 },
	{ "EXPN list", SMTP_V_EXPN, "list", 0 },
	{ "HELP", SMTP_V_HELP, "", 0 },
	{ "STARTTLS", SMTP_V_STARTTLS, "", 0 },
	{ "AUTH PLAIN", SMTP_V_AUTH, "PLAIN", 0 },
	{ "BDAT 10 LAST", SMTP_V_BDAT, "10 LAST", 0 },
	{ "DATAX", SMTP_V_UNKNOWN, "", -1 },
	{ "MAILFROM:<a@b>", SMTP_V_UNKNOWN, "", -1 },
	{ "", SMTP_V_UNKNOWN, "", -1 },
	{ " EHLO x", SMTP_V_UNKNOWN, "", -1 },
	{ "GET / HTTP/1.1", SMTP_V_UNKNOWN, "", -1 },
};

static void test_commands(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		struct smtp_cmd cmd;
		int r = smtp_parse_command(c->in, strlen(c->in), &cmd);
		if (r != c->ret || cmd.verb != c->verb)
			fail_msg("case \"%s\": ret %d verb %d", c->in, r, cmd.verb);
		if (r == 0 && (cmd.arglen != strlen(c->arg) || memcmp(cmd.arg, c->arg, cmd.arglen) != 0))
			fail_msg("case \"%s\": arg \"%.*s\"", c->in, (int)cmd.arglen, cmd.arg);
	}
}

struct arg_case {
	const char *in;
	const char *prefix;
	unsigned flags;
	int ret;
	size_t nparams;
};

static const struct arg_case arg_cases[] = {
	{ "FROM:<a@b.example>", "FROM:", N, 0, 0 },
	{ "from:<a@b.example>", "FROM:", N, 0, 0 },
	{ "FROM: <a@b.example>", "FROM:", N, 0, 0 },
	{ "FROM:<>", "FROM:", N, 0, 0 },
	{ "FROM:<> SIZE=100", "FROM:", N, 0, 1 },
	{ "FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8", "FROM:", N, 0, 3 },
	{ "FROM:<a@b.example>  SIZE=100", "FROM:", N, 0, 1 },
	{ "FROM:<a@b.example>SIZE=100", "FROM:", N, SMTP_ARG_EPARAMS, 0 },
	{ "FROM:<a@b.example> SIZE=", "FROM:", N, SMTP_ARG_EPARAMS, 0 },
	{ "FROM:<a@b.example> =1", "FROM:", N, SMTP_ARG_EPARAMS, 0 },
	{ "FROM:<a@b.example> -X=1", "FROM:", N, SMTP_ARG_EPARAMS, 0 },
	{ "FROM:<a@b.example> X=a=b", "FROM:", N, SMTP_ARG_EPARAMS, 0 },
	{ "FROM:<a@b.example> A B C D E F G H I J K L M N O P Q", "FROM:", N, SMTP_ARG_EPARAMS, 0 },
	{ "FROM <a@b.example>", "FROM:", N, SMTP_ARG_EFORM, 0 },
	{ "FROM:", "FROM:", N, SMTP_ARG_EFORM, 0 },
	{ "TO:<a@b.example>", "FROM:", N, SMTP_ARG_EFORM, 0 },
	{ "FROM:<j\xc3\xb6rg@b.example>", "FROM:", N, SMTP_PATH_EUTF8, 0 },
	{ "FROM:<j\xc3\xb6rg@b.example> SMTPUTF8", "FROM:", N, 0, 1 },
	{ "FROM:<j\xc3\xb6rg@b.example> smtputf8", "FROM:", N, 0, 1 },
	{ "TO:<j\xc3\xb6rg@b.example>", "TO:", U, 0, 0 },
	{ "TO:<j\xc3\xb6rg@b.example>", "TO:", 0, SMTP_PATH_EUTF8, 0 },
	{ "TO:<Postmaster>", "TO:", P, 0, 0 },
	{ "TO:<>", "TO:", 0, SMTP_PATH_ESYNTAX, 0 },
	{ "TO:<a@b.example> NOTIFY=NEVER", "TO:", 0, 0, 1 },
};

static void test_mail_args(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(arg_cases) / sizeof(arg_cases[0]); i++) {
		const struct arg_case *c = &arg_cases[i];
		struct smtp_param params[SMTP_PARAMS_MAX];
		size_t n = SMTP_PARAMS_MAX;
		struct smtp_path p;
		int r = smtp_parse_mail_arg(c->in, strlen(c->in), c->prefix, c->flags, &p, params, &n);
		if (r != c->ret)
			fail_msg("case \"%s\": got %d want %d", c->in, r, c->ret);
		if (r == 0 && n != c->nparams)
			fail_msg("case \"%s\": %zu params, want %zu", c->in, n, c->nparams);
	}
}

static void test_utf8(void **state)
{
	static const struct { const char *s; size_t len, want; } cases[] = {
		{ "a", 1, 1 }, { "\xc3\xa9", 2, 2 }, { "\xe2\x82\xac", 3, 3 }, { "\xf0\x9f\x98\x80", 4, 4 },
		{ "\xc3", 1, 0 }, { "\xc1\xbf", 2, 0 }, { "\xe0\x80\xaf", 3, 0 }, { "\xed\xbf\xbf", 3, 0 },
		{ "\xf0\x80\x80\xaf", 4, 0 }, { "\xf5\x80\x80\x80", 4, 0 }, { "\x80", 1, 0 },
		{ "\xc3\x28", 2, 0 }, { "\xef\xbf\xbf", 3, 3 }, { "\xf4\x8f\xbf\xbf", 4, 4 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const unsigned char *p = (const unsigned char *)cases[i].s;
		assert_int_equal(smtp_utf8_seq(p, p + cases[i].len), cases[i].want);
	}
}

static void test_domains(void **state)
{
	(void)state;
	assert_true(smtp_domain_valid("example.org", 11, 0));
	assert_true(smtp_domain_valid("localhost", 9, 0));
	assert_false(smtp_domain_valid("", 0, 0));
	assert_false(smtp_domain_valid("a..b", 4, 0));
	assert_false(smtp_domain_valid("b\xc3\xbc" "cher.example", 14, 0));
	assert_true(smtp_domain_valid("b\xc3\xbc" "cher.example", 14, 1));
	assert_false(smtp_domain_valid("under_score.example", 19, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_paths_guard_page),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_mail_args),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_domains),
	};
	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
