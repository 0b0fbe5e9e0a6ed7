/* test_addrlist.c - RFC 5322 address lists and the header walker used by `send -t`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "msg/addrlist.h"

struct got {
	char all[1024];
};

static void collect(void *arg, const char *addr, size_t len)
{
	struct got *g = arg;
	size_t n = strlen(g->all);
	snprintf(g->all + n, sizeof(g->all) - n, "%s%.*s", n ? " " : "", (int)len, addr);
}

static const struct { const char *in; int n; const char *want; } cases[] = {
	{ "a@x.example", 1, "a@x.example" },
	{ "A <a@x.example>", 1, "a@x.example" },
	{ "\"Doe, John\" <john@x.example>, jane@x.example", 2, "john@x.example jane@x.example" },
	{ "a@x.example (Alice, the first), b@y.example", 2, "a@x.example b@y.example" },
	{ "Team: a@x.example, B <b@x.example>;, c@y.example", 3, "a@x.example b@x.example c@y.example" },
	{ "undisclosed-recipients:;", 0, "" },
	{ "=?utf-8?q?J=C3=B6rg?= <joerg@x.example>", 1, "joerg@x.example" },
	{ "\"a\\\"b\" <ab@x.example>", 1, "ab@x.example" },
	{ "Alice\r\n <alice@x.example>,\r\n\tbob@x.example", 2, "alice@x.example bob@x.example" },
	{ "\"quoted local\"@x.example", 1, "\"quoted local\"@x.example" },
	{ "<@route.example:a@x.example>", 1, "@route.example:a@x.example" },
	{ "no address here", 0, "" },
	{ "", 0, "" },
	{ "a@x.example,,b@x.example", 2, "a@x.example b@x.example" },
	{ "\"unterminated <a@x.example>", -1, "" },
	{ "(unterminated a@x.example", -1, "" },
	{ "a@x.example>", -1, "a@x.example" },
	/* Comments nest and quote (RFC 5322 3.2.2): what is inside is never part of an address. */
	{ "(a (nested) comment) a@x.example", 1, "a@x.example" },
	{ "(a \\) quoted paren) a@x.example", 1, "a@x.example" },
	{ "\"Mallory <m@evil.example>\" <a@x.example>", 1, "a@x.example" },
	{ "a@x.example (at home <m@evil.example>, or not)", 1, "a@x.example" },
	{ "\"a\\\"b\"@x.example", 1, "\"a\\\"b\"@x.example" },
	/* longer than any address can be (RFC 5321 4.5.3.1.3): malformed, not cut */
	{ "<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "@x.example>", -1, "" },
};

static void test_lists(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct got g = { "" };
		int n = addrlist_parse(cases[i].in, strlen(cases[i].in), collect, &g);
		if (n != cases[i].n || (n >= 0 && strcmp(g.all, cases[i].want) != 0))
			fail_msg("case %zu \"%s\": %d \"%s\"", i, cases[i].in, n, g.all);
	}
}

struct fields {
	char names[512];
	size_t bcc_start, bcc_end;
};

static void field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen, size_t start, size_t end)
{
	struct fields *f = arg;
	size_t n = strlen(f->names);
	(void)value;
	(void)vlen;
	snprintf(f->names + n, sizeof(f->names) - n, "%s%.*s", n ? "," : "", (int)nlen, name);
	if (nlen == 3 && strncmp(name, "Bcc", 3) == 0) {
		f->bcc_start = start;
		f->bcc_end = end;
	}
}

static void test_header_walk(void **state)
{
	static const char msg[] = "From: a@x\r\nTo: b@x,\r\n c@x\r\nBcc: d@x,\r\n\te@x\r\nSubject: hi\r\n\r\nBody: not a header\r\n";
	struct fields f = { "", 0, 0 };
	size_t body;

	(void)state;
	body = header_walk(msg, sizeof(msg) - 1, field, &f);
	assert_string_equal(f.names, "From,To,Bcc,Subject");
	assert_memory_equal(msg + body, "Body:", 5);
	assert_memory_equal(msg + f.bcc_start, "Bcc: d@x,\r\n\te@x\r\n", f.bcc_end - f.bcc_start);
	/* no empty line: the first line that is not a header starts the body */
	memset(&f, 0, sizeof(f));
	body = header_walk("Subject: x\r\nplain text\r\n", 24, field, &f);
	assert_int_equal(body, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_header_walk),
	};
	return cmocka_run_group_tests_name("addrlist", tests, NULL, NULL);
}
