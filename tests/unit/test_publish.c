/* test_publish.c - the documents published for mail clients and MTA-STS senders: the
 * Autodiscover request parser (a request's address; a DTD, another root, two addresses or
 * markup characters refused), the autoconfig order (465 SSL before 587 STARTTLS), the MTA-STS
 * policy lines, the Apple profile's stable UUIDs. Real parsers (xmllint, xml.etree, plistlib,
 * openssl cms, Prometheus) read them in tests_https.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "publish/publish.h"

static const struct publish_settings PS = { "mail.example.org", 465, 587, NULL, 0 };

static char *doc(int kind, const char *arg, const struct publish_settings *ps)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r = kind == 0 ? publish_autoconfig(ps, arg, f) : kind == 1 ? publish_autodiscover(ps, arg, f) :
	        kind == 2 ? publish_mobileconfig(ps, arg, f) : publish_mtasts(arg, 86400, "mail.example.org", f);
	fclose(f);
	if (r != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void test_autodiscover_request(void **state)
{
	char email[300];
	static const char good[] = "<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/"
	                           "autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>\n alice@example.org "
	                           "</EMailAddress></Request></Autodiscover>";
	static const char *const bad[] = {
		"<Autodiscover><Request></Request></Autodiscover>",
		"<Other><Request><EMailAddress>a@b</EMailAddress></Request></Other>",
		"<Autodiscover><Request><EMailAddress>a b@c</EMailAddress></Request></Autodiscover>",
		"<Autodiscover><Request><EMailAddress>&lt;x&gt;@c</EMailAddress></Request></Autodiscover>",
		"<Autodiscover><Request><EMailAddress>no-at-sign</EMailAddress></Request></Autodiscover>",
		"<!DOCTYPE a [<!ENTITY x \"a@b\">]><Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request>"
		"</Autodiscover>",
		"<Autodiscover><Request><EMailAddress>a@b",
	};

	(void)state;
	assert_int_equal(publish_autodiscover_request(good, sizeof(good) - 1, email, sizeof(email)), 0);
	assert_string_equal(email, "alice@example.org");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(publish_autodiscover_request(bad[i], strlen(bad[i]), email, sizeof(email)), -1);
}

static void test_documents(void **state)
{
	(void)state;
	char *a = doc(0, "example.org", &PS);
	assert_non_null(a);
	char *ssl = strstr(a, "<port>465</port>\n      <socketType>SSL</socketType>");
	char *stls = strstr(a, "<port>587</port>\n      <socketType>STARTTLS</socketType>");
	assert_non_null(ssl);
	assert_non_null(stls);
	assert_true(ssl < stls);
	assert_null(strstr(a, "incomingServer"));
	free(a);
	/* no IMAP server: no Apple profile (its accounts have one); with one, stable UUIDs */
	assert_null(doc(2, "alice@example.org", &PS));
	struct publish_settings imap = PS;
	imap.imap_host = "imap.example.org";
	imap.imap_port = 993;
	char *p1 = doc(2, "alice@example.org", &imap), *p2 = doc(2, "alice@example.org", &imap), *p3 = doc(2, "bob@example.org", &imap);
	assert_non_null(p1);
	assert_string_equal(p1, p2);
	assert_string_not_equal(p1, p3);
	free(p1);
	free(p2);
	free(p3);
	char *ad = doc(1, "alice@example.org", &PS);
	assert_non_null(strstr(ad, "<Type>SMTP</Type>\n        <Server>mail.example.org</Server>\n        <Port>465</Port>"));
	assert_non_null(strstr(ad, "<Encryption>SSL</Encryption>"));
	free(ad);
	char *m = doc(3, "enforce", &PS);
	assert_string_equal(m, "version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmax_age: 86400\r\n");
	free(m);
	m = doc(3, "none", &PS);
	assert_string_equal(m, "version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n");
	free(m);
	char host[64];
	unsigned port;
	assert_int_equal(publish_parse_hostport("imap.example.org:993", host, sizeof(host), &port), 0);
	assert_string_equal(host, "imap.example.org");
	assert_int_equal(port, 993);
	assert_int_equal(publish_parse_hostport("imap.example.org", host, sizeof(host), &port), -1);
	assert_int_equal(publish_parse_hostport("a b:1", host, sizeof(host), &port), -1);
	assert_int_equal(publish_parse_hostport("h:70000", host, sizeof(host), &port), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_autodiscover_request),
		cmocka_unit_test(test_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
