/* test_mtasts.c - the MTA-STS rules (RFC 8461) that need no network: the policy document, the
 * TXT record's id and the mx patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "route/mtasts.h"
#include "route/tlsrpt.h"

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

/* TLS-RPT (RFC 8460 4): sessions of one domain grouped by policy, failures by what they met;
 * other domains' lines and torn ones are left out. */
static void test_tlsrpt_report(void **state)
{
	static const char lines[] =
		"a.example\tsts\tversion: STSv1|mode: enforce|mx: *.a.example|max_age: 86400\t*.a.example\tmx1.a.example\t"
		"192.0.2.1\t-\t\n"
		"a.example\tsts\tversion: STSv1|mode: enforce|mx: *.a.example|max_age: 86400\t*.a.example\tmx1.a.example\t"
		"192.0.2.1\tcertificate-expired\tcertificate of mx1 not accepted: certificate has expired\n"
		"A.example\tsts\tversion: STSv1|mode: enforce|mx: *.a.example|max_age: 86400\t*.a.example\tmx1.a.example\t"
		"192.0.2.1\tcertificate-expired\tcertificate of mx1 not accepted: certificate has expired\n"
		"a.example\ttlsa\t3 1 1 ab\t\tmx2.a.example\t192.0.2.2\t-\t\n"
		"a.example\tsts\tversion: STSv1|mode: enforce|mx: *.a.example|max_age: 86400\t*.a.example\tmx1.a.example\t"
		"192.0.2.1\tstarttls-not-supported\tSTARTTLS refused: 454 4.7.0 not now\t198.51.100.7\n"
		"b.example\ttlsa\t3 1 1 cd\t\tmx.b.example\t192.0.2.3\t-\t\n"
		"a.example\ttlsa\t3 1";
	struct tlsrpt_report r = { "mx.example.org", "postmaster@example.org", "2026-12-04", "a.example" };
	char *out = tlsrpt_json(&r, lines, strlen(lines));
	json_t *doc = json_loads(out, 0, NULL), *sts, *tlsa;

	(void)state;
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "report-id")), "2026-12-04_a.example@mx.example.org");
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "date-range"), "end-datetime")),
	                    "2026-12-04T23:59:59Z");
	assert_int_equal(json_array_size(json_object_get(doc, "policies")), 2);
	sts = json_array_get(json_object_get(doc, "policies"), 0);
	tlsa = json_array_get(json_object_get(doc, "policies"), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(sts, "policy"), "policy-type")), "sts");
	assert_int_equal(json_array_size(json_object_get(json_object_get(sts, "policy"), "policy-string")), 4);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(sts, "policy"), "mx-host"),
	                                                     0)), "*.a.example");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sts, "summary"),
	                                                    "total-successful-session-count")), 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(sts, "summary"),
	                                                    "total-failure-session-count")), 3);
	json_t *f = json_array_get(json_object_get(sts, "failure-details"), 0);
	assert_int_equal(json_array_size(json_object_get(sts, "failure-details")), 2);
	assert_string_equal(json_string_value(json_object_get(f, "result-type")), "certificate-expired");
	assert_int_equal(json_integer_value(json_object_get(f, "failed-session-count")), 2);
	/* A line of eight fields (written before the sending address was kept) has none. */
	assert_null(json_object_get(f, "sending-mta-ip"));
	f = json_array_get(json_object_get(sts, "failure-details"), 1);
	assert_string_equal(json_string_value(json_object_get(f, "result-type")), "starttls-not-supported");
	assert_string_equal(json_string_value(json_object_get(f, "sending-mta-ip")), "198.51.100.7");
	assert_string_equal(json_string_value(json_object_get(f, "receiving-ip")), "192.0.2.1");
	assert_null(json_object_get(tlsa, "failure-details"));
	assert_null(json_object_get(json_object_get(tlsa, "policy"), "mx-host"));
	json_decref(doc);
	free(out);
	r.domain = "c.example";
	assert_null(tlsrpt_json(&r, lines, strlen(lines)));
	/* What an attempt met, in RFC 8460's words; not TLS at all: not counted. */
	assert_string_equal(tlsrpt_classify("STARTTLS is required but the server does not offer it"),
	                    "starttls-not-supported");
	assert_string_equal(tlsrpt_classify("certificate of x matches none of its 1 TLSA record (DANE): y"), "tlsa-invalid");
	assert_string_equal(tlsrpt_classify("certificate of x not accepted: Hostname mismatch"),
	                    "certificate-host-mismatch");
	assert_string_equal(tlsrpt_classify("certificate of x not accepted: unable to get local issuer certificate"),
	                    "certificate-not-trusted");
	assert_null(tlsrpt_classify("cannot connect to 192.0.2.1:25: Connection refused"));
	char day[11];
	assert_int_equal(tlsrpt_day("2026-12-04", day), 0);
	assert_int_equal(tlsrpt_day("2026-1204", day), -1);
	assert_int_equal(tlsrpt_day("today", day), 0);
	assert_int_equal(strlen(day), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_txt_id),
		cmocka_unit_test(test_tlsrpt_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
