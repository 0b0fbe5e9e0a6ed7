/* test_mtasts.c - the MTA-STS rules (RFC 8461) that need no network: the policy document, the
 * TXT record's id and the mx patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "deliver/mtasts.h"

static void test_policy(void **state)
{
	struct sts_policy p;
	char err[200];
	const char *doc = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET\r\n"
	                  "max_age: 604800\r\nextension: ignored\r\n";

	(void)state;
	assert_int_equal(sts_parse(doc, strlen(doc), &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, STS_MODE_ENFORCE);
	assert_int_equal(p.nmx, 2);
	assert_int_equal(p.max_age, 604800);
	assert_string_equal(p.mx[1], "*.example.net");
	assert_true(sts_mx_match(&p, "mail.example.com"));
	assert_true(sts_mx_match(&p, "MAIL.example.com."));
	assert_true(sts_mx_match(&p, "mx1.example.net"));
	assert_false(sts_mx_match(&p, "example.net"));                 /* the wildcard needs a label */
	assert_false(sts_mx_match(&p, "a.b.example.net"));             /* exactly one */
	assert_false(sts_mx_match(&p, "mail.example.com.evil.org"));
	const char *capped = "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 9999999999\n";
	assert_int_equal(sts_parse(capped, strlen(capped), &p, err, sizeof(err)), 0);
	assert_int_equal(p.max_age, STS_MAX_AGE_LIMIT);
	static const struct { const char *doc, *why; } bad[] = {
		{ "mode: enforce\nmx: a\nmax_age: 1\n", "version" },
		{ "version: STSv2\nmode: enforce\nmx: a\nmax_age: 1\n", "version" },
		{ "version: STSv1\nmx: a\nmax_age: 1\n", "no mode" },
		{ "version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n", "bad mode" },
		{ "version: STSv1\nmode: enforce\nmx: a\n", "no max_age" },
		{ "version: STSv1\nmode: enforce\nmx: a\nmax_age: -5\n", "bad max_age" },
		{ "version: STSv1\nmode: enforce\nmax_age: 86400\n", "names no mx" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(sts_parse(bad[i].doc, strlen(bad[i].doc), &p, err, sizeof(err)), -1);
		assert_non_null(strstr(err, bad[i].why));
	}
	const char *none = "version: STSv1\nmode: none\nmax_age: 86400\n";
	assert_int_equal(sts_parse(none, strlen(none), &p, err, sizeof(err)), 0);
	assert_int_equal(p.mode, STS_MODE_NONE);
}

static void test_txt_id(void **state)
{
	char id[33];

	(void)state;
	assert_int_equal(sts_txt_id("v=STSv1; id=20160831085700Z;", 28, id, sizeof(id)), 0);
	assert_string_equal(id, "20160831085700Z");
	assert_int_equal(sts_txt_id("v=STSv1;id=abc", 14, id, sizeof(id)), 0);
	assert_string_equal(id, "abc");
	assert_int_equal(sts_txt_id("v=STSv2; id=abc;", 16, id, sizeof(id)), -1);
	assert_int_equal(sts_txt_id("v=STSv1;", 8, id, sizeof(id)), -1);
	assert_int_equal(sts_txt_id("v=STSv1; id=a-b;", 16, id, sizeof(id)), -1);
	assert_int_equal(sts_txt_id("v=STSv1; id=123456789012345678901234567890123;", 46, id, sizeof(id)), -1);
	assert_int_equal(sts_txt_id("id=abc; v=STSv1", 15, id, sizeof(id)), -1);   /* v= first */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_txt_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
