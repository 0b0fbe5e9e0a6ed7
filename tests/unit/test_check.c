/*
 * test_check.c - the pure parts of `mailport check`: verdict rules and the recommendation
 * (findings in, words and exit code out), the autoconfig parser, RFC 2782 SRV ordering, DNS
 * wire names, and the client core's probe mode (what check says to a server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "check/discover.h"
#include "net/dns.h"
#include "smtp/client.h"

/* A port that did everything right: implicit TLS 1.3, valid certificate, AUTH after TLS. */
static struct check_port good(unsigned port, enum check_role role)
{
	struct check_port p;

	memset(&p, 0, sizeof(p));
	snprintf(p.host, sizeof(p.host), "mail.example.org");
	p.port = port;
	p.role = role;
	p.reach = REACH_CONNECTED;
	p.speaks = role == ROLE_SUBMISSIONS ? SPEAKS_TLS : SPEAKS_PLAIN;
	p.greeting_code = 220;
	p.esmtp = 1;
	if (role != ROLE_SUBMISSIONS) {
		p.ehlo_plain_seen = 1;
		p.ehlo_plain.starttls = 1;
		p.starttls_code = 220;
	}
	p.tls_ok = 1;
	snprintf(p.tls.version, sizeof(p.tls.version), "TLSv1.3");
	p.tls.have_cert = p.tls.chain_ok = p.tls.host_ok = 1;
	p.tls.days_left = 80;
	snprintf(p.tls.key_type, sizeof(p.tls.key_type), "EC");
	p.tls.key_bits = 256;
	snprintf(p.tls.signature, sizeof(p.tls.signature), "ecdsa-with-SHA256");
	p.versions_tested = 1;
	p.version_ok[2] = p.version_ok[3] = 1;
	p.ehlo_tls_seen = 1;
	if (role != ROLE_SMTP)
		snprintf(p.ehlo_tls.auth, sizeof(p.ehlo_tls.auth), "PLAIN LOGIN");
	return p;
}

static const char *has(const struct check_port *p, const char *code)
{
	for (size_t i = 0; i < p->nreasons; i++)
		if (strcmp(p->reasons[i].code, code) == 0)
			return p->reasons[i].text;
	return NULL;
}

static void test_all_good(void **state)
{
	struct check_port ports[3] = { good(465, ROLE_SUBMISSIONS), good(587, ROLE_SUBMISSION), good(25, ROLE_SMTP) };
	const struct check_port *best;
	char text[1024];

	(void)state;
	for (int i = 0; i < 3; i++) {
		check_judge(&ports[i], 0);
		assert_int_equal(ports[i].verdict, VERDICT_OK);
		assert_int_equal(ports[i].nreasons, 0);
		assert_true(check_port_secure(&ports[i]));
	}
	assert_int_equal(check_recommend(ports, 3, text, sizeof(text), &best), 0);
	assert_ptr_equal(best, &ports[0]);
	/* the same good port, published by an autoconfig file as "plain": the file is the finding */
	struct check_port pub = good(587, ROLE_SUBMISSION);
	pub.published_plain = 1;
	check_judge(&pub, 0);
	assert_int_equal(pub.verdict, VERDICT_BROKEN);
	assert_non_null(has(&pub, "published-plaintext"));
	assert_non_null(strstr(has(&pub, "published-plaintext"), "it must say STARTTLS"));
	assert_string_equal(text, "Use port 465 with SSL/TLS (implicit TLS 1.3, valid certificate). Port 587 with "
	                    "STARTTLS also works. Never choose \"no encryption\". Port 25 is for mail between servers; "
	                    "mail clients should not use it.");
}

static void test_certificate_rules(void **state)
{
	struct check_port sub = good(465, ROLE_SUBMISSIONS), mx = good(25, ROLE_SMTP);

	(void)state;
	/* Wrong host: fatal for submission, a warning on 25 where senders rarely verify. */
	sub.tls.host_ok = mx.tls.host_ok = 0;
	check_judge(&sub, 0);
	check_judge(&mx, 0);
	assert_int_equal(sub.verdict, VERDICT_BROKEN);
	assert_non_null(has(&sub, "cert-wrong-host"));
	assert_false(check_port_secure(&sub));
	assert_int_equal(mx.verdict, VERDICT_WARNING);
	assert_true(check_port_secure(&mx));

	sub = good(465, ROLE_SUBMISSIONS);
	sub.tls.chain_ok = 0;
	sub.tls.expired = 1;
	sub.tls.days_left = -3;
	sub.tls.chain_error = 10;       /* X509_V_ERR_CERT_HAS_EXPIRED */
	check_judge(&sub, 0);
	assert_string_equal(has(&sub, "cert-expired"), "the certificate expired 3 days ago ()");
	assert_null(has(&sub, "cert-expires-soon"));

	sub = good(465, ROLE_SUBMISSIONS);
	sub.tls.days_left = 5;
	sub.tls.key_bits = 1024;
	snprintf(sub.tls.key_type, sizeof(sub.tls.key_type), "RSA");
	snprintf(sub.tls.signature, sizeof(sub.tls.signature), "sha1WithRSAEncryption");
	check_judge(&sub, 0);
	assert_int_equal(sub.verdict, VERDICT_WARNING);
	assert_non_null(has(&sub, "cert-expires-soon"));
	assert_non_null(has(&sub, "cert-weak-key"));
	assert_non_null(has(&sub, "cert-weak-signature"));
	assert_true(check_port_secure(&sub));
}

static void test_plaintext_and_auth_rules(void **state)
{
	struct check_port p = good(587, ROLE_SUBMISSION), ports[1];
	const struct check_port *best;
	char text[1024];

	(void)state;
	/* No STARTTLS, AUTH offered in plaintext: broken, and the AUTH is called out. */
	p.starttls_code = 0;
	p.ehlo_plain.starttls = 0;
	p.tls_ok = 0;
	p.ehlo_tls_seen = 0;
	p.versions_tested = 0;
	memset(&p.tls, 0, sizeof(p.tls));
	snprintf(p.ehlo_plain.auth, sizeof(p.ehlo_plain.auth), "PLAIN");
	check_judge(&p, 0);
	assert_int_equal(p.verdict, VERDICT_BROKEN);
	assert_non_null(has(&p, "no-starttls"));
	assert_non_null(has(&p, "auth-before-tls"));
	ports[0] = p;
	assert_int_equal(check_recommend(ports, 1, text, sizeof(text), &best), 1);
	assert_null(best);
	assert_non_null(strstr(text, "Do not send a password to it"));

	/* A login that failed is the user's problem: the server works (a warning, still the port to
	 * use), the path does not work for this user (not secure), and the exit status says so. */
	p = good(465, ROLE_SUBMISSIONS);
	p.login_tested = 1;
	p.login_code = 535;
	snprintf(p.login_text, sizeof(p.login_text), "Authentication credentials invalid");
	check_judge(&p, 1);
	assert_int_equal(p.verdict, VERDICT_WARNING);
	assert_non_null(strstr(has(&p, "login-failed"), "the server works, but it refused this login: 535"));
	assert_false(check_port_secure(&p));
	ports[0] = p;
	assert_int_equal(check_recommend(ports, 1, text, sizeof(text), &best), CHECK_EXIT_LOGIN);
	assert_ptr_equal(best, &ports[0]);
	assert_non_null(strstr(text, "Use port 465 with SSL/TLS"));
	assert_non_null(strstr(text, "The server works, but it refused your login (535"));

	/* A chain that ends in a CA this machine does not know: --cafile is the advice. */
	p = good(465, ROLE_SUBMISSIONS);
	p.tls.chain_ok = 0;
	p.tls.chain_error = X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
	check_judge(&p, 0);
	assert_non_null(strstr(has(&p, "cert-private-ca"), "--cafile FILE"));
	p.tls.chain_error = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
	check_judge(&p, 0);
	assert_non_null(has(&p, "cert-private-ca"));
	p.tls.chain_error = X509_V_ERR_CERT_REVOKED;
	check_judge(&p, 0);
	assert_null(has(&p, "cert-private-ca"));
	assert_non_null(has(&p, "cert-untrusted"));

	/* DNS that fails is not a spelling mistake; a name that does not exist is. */
	p = good(465, ROLE_SUBMISSIONS);
	p.reach = REACH_DNS;
	p.dns_failed = 1;
	snprintf(p.error, sizeof(p.error), "DNS lookup of x.example timed out after 10 s: no answer from the DNS server");
	check_judge(&p, 0);
	assert_non_null(strstr(has(&p, "dns-failed"), "check this machine's network connection"));
	ports[0] = p;
	assert_int_equal(check_recommend(ports, 1, text, sizeof(text), &best), 2);
	assert_non_null(strstr(text, "because DNS failed"));
	assert_null(strstr(text, "spelling"));
	p.dns_failed = 0;
	snprintf(p.error, sizeof(p.error), "x.example has no address: x.example does not exist (NXDOMAIN)");
	check_judge(&p, 0);
	assert_non_null(strstr(has(&p, "dns"), "check the spelling"));
	ports[0] = p;
	check_recommend(ports, 1, text, sizeof(text), &best);
	assert_non_null(strstr(text, "check the spelling"));

	/* Login requested but withheld (invalid certificate): said, and the port stays broken. */
	p = good(465, ROLE_SUBMISSIONS);
	p.tls.chain_ok = 0;
	snprintf(p.login_text, sizeof(p.login_text), "the certificate is not valid");
	check_judge(&p, 1);
	assert_non_null(has(&p, "login-not-tested"));
	assert_non_null(has(&p, "cert-untrusted"));

	/* Open relay on 25. */
	p = good(25, ROLE_SMTP);
	p.relay_tested = p.relay_open = 1;
	p.relay_code = 250;
	check_judge(&p, 0);
	assert_int_equal(p.verdict, VERDICT_BROKEN);
	assert_non_null(has(&p, "open-relay"));
}

static void test_tls_version_rules(void **state)
{
	struct check_port p = good(465, ROLE_SUBMISSIONS);

	(void)state;
	p.version_ok[0] = p.version_ok[1] = 1;
	p.version_ok[3] = 0;
	snprintf(p.tls.version, sizeof(p.tls.version), "TLSv1.2");
	check_judge(&p, 0);
	assert_int_equal(p.verdict, VERDICT_WARNING);
	assert_string_equal(has(&p, "tls-old-versions"), "it still accepts TLS 1.0 and TLS 1.1 (deprecated by RFC 8996)");
	assert_non_null(has(&p, "no-tls13"));
	assert_true(check_port_secure(&p));

	/* Only TLS 1.0: the default handshake failed, the version probes found 1.0. */
	p = good(465, ROLE_SUBMISSIONS);
	p.tls_ok = 0;
	p.greeting_code = 0;
	memset(&p.tls, 0, sizeof(p.tls));
	memset(p.version_ok, 0, sizeof(p.version_ok));
	p.version_ok[0] = 1;
	check_judge(&p, 0);
	assert_int_equal(p.verdict, VERDICT_BROKEN);
	assert_non_null(has(&p, "tls-too-old"));
	assert_false(check_port_secure(&p));
}

static void test_wrong_client_settings_and_reachability(void **state)
{
	struct check_port ports[3] = { good(465, ROLE_SUBMISSIONS), good(587, ROLE_SUBMISSION), good(25, ROLE_SMTP) };
	const struct check_port *best;
	char text[1024];

	(void)state;
	ports[0].speaks = SPEAKS_PLAIN;     /* STARTTLS on 465 */
	ports[0].starttls_code = 220;
	ports[0].ehlo_plain_seen = 1;
	ports[1].speaks = SPEAKS_TLS;       /* implicit TLS on 587 */
	ports[1].ehlo_plain_seen = 0;
	ports[2].reach = REACH_TIMEOUT;
	for (int i = 0; i < 3; i++)
		check_judge(&ports[i], 0);
	assert_non_null(has(&ports[0], "starttls-on-implicit-port"));
	assert_non_null(has(&ports[1], "implicit-tls-on-starttls-port"));
	assert_non_null(strstr(has(&ports[2], "timeout"), "ISPs"));
	assert_int_equal(check_recommend(ports, 3, text, sizeof(text), &best), 0);
	assert_ptr_equal(best, &ports[1]);          /* the port that speaks implicit TLS */
	assert_non_null(strstr(text, "Use port 587 with SSL/TLS"));
	assert_non_null(strstr(text, "Port 465 with STARTTLS also works"));
	assert_non_null(strstr(text, "Port 25 timed out"));

	for (int i = 0; i < 2; i++) {
		memset(&ports[i], 0, sizeof(ports[i]));
		ports[i].port = i ? 587 : 465;
		ports[i].role = i ? ROLE_SUBMISSION : ROLE_SUBMISSIONS;
		ports[i].reach = REACH_REFUSED;
		check_judge(&ports[i], 0);
	}
	assert_int_equal(check_recommend(ports, 2, text, sizeof(text), &best), 2);
	assert_non_null(strstr(text, "No mail submission service answered"));

	/* Only 25 asked about: judged as the server-to-server port. */
	ports[0] = good(25, ROLE_SMTP);
	ports[0].tls.host_ok = 0;
	check_judge(&ports[0], 0);
	assert_int_equal(check_recommend(ports, 1, text, sizeof(text), &best), 0);
	assert_non_null(strstr(text, "would not pass a strict check"));
}

static void test_autoconfig_parse(void **state)
{
	static const char doc[] =
		"<?xml version=\"1.0\"?>\n<clientConfig version=\"1.1\"><emailProvider id=\"x\">"
		"<incomingServer type=\"imap\"><hostname>imap.x</hostname><port>993</port></incomingServer>"
		"<outgoingServer type=\"smtp\"><hostname> smtp.%EMAILDOMAIN% </hostname><port>465</port>"
		"<socketType>SSL</socketType></outgoingServer>"
		"<outgoingServer type=\"smtp\"><hostname>smtp.x</hostname><port>587</port>"
		"<socketType>STARTTLS</socketType></outgoingServer>"
		"<outgoingServer type=\"smtp\"><hostname>bad host</hostname><port>25</port></outgoingServer>"
		"<outgoingServer type=\"smtp\"><hostname>h</hostname><port>99999</port></outgoingServer>"
		"</emailProvider></clientConfig>";
	static const char laughs[] =
		"<?xml version=\"1.0\"?><!DOCTYPE clientConfig [<!ENTITY a \"aaaaaaaaaa\">"
		"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
		"<clientConfig><emailProvider><outgoingServer type=\"smtp\"><hostname>&c;</hostname><port>25</port>"
		"</outgoingServer></emailProvider></clientConfig>";
	struct check_target t[8];
	size_t n;

	(void)state;
	assert_int_equal(autoconfig_parse(doc, sizeof(doc) - 1, "example.org", t, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(t[0].host, "smtp.example.org");
	assert_int_equal(t[0].port, 465);
	assert_int_equal(t[0].role, ROLE_SUBMISSIONS);
	assert_string_equal(t[1].host, "smtp.x");
	assert_int_equal(t[1].role, ROLE_SUBMISSION);
	assert_int_equal(autoconfig_parse(doc, sizeof(doc) - 1, "example.org", t, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(autoconfig_parse("<clientConfig>", 14, "d", t, 8, &n), -1);
	assert_int_equal(autoconfig_parse("<html></html>", 13, "d", t, 8, &n), -1);
	assert_int_equal(autoconfig_parse("", 0, "d", t, 8, &n), -1);
	/* A document with its own DTD (entity expansion, "billion laughs") is refused. */
	assert_int_equal(autoconfig_parse(laughs, sizeof(laughs) - 1, "d", t, 8, &n), -1);
	assert_int_equal(n, 0);
	/* socketType plain is kept as a fact about the file, for check to judge */
	static const char plain[] = "<clientConfig><emailProvider><outgoingServer type=\"smtp\"><hostname>smtp.x</hostname>"
	                            "<port>587</port><socketType>plain</socketType></outgoingServer></emailProvider>"
	                            "</clientConfig>";
	assert_int_equal(autoconfig_parse(plain, sizeof(plain) - 1, "d", t, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_true(t[0].published_plain && t[0].role == ROLE_SUBMISSION);
}

static unsigned always_zero(unsigned k)
{
	(void)k;
	return 0;
}

static unsigned always_last(unsigned k) { return k ? k - 1 : 0; }

static void test_srv_order_and_wire_names(void **state)
{
	struct dns_srv s[4] = { { 10, 0, 1, "c" }, { 0, 5, 2, "a" }, { 0, 50, 3, "b" }, { 5, 1, 4, "x" } };
	static const unsigned char wire[] = "\4mail\7example\3org";
	char name[64];

	(void)state;
	dns_srv_order(s, 4, always_zero);
	assert_string_equal(s[0].target, "a");      /* priority 0, first by running sum at 0 */
	assert_string_equal(s[1].target, "b");
	assert_string_equal(s[2].target, "x");      /* then priority 5, then 10 */
	assert_string_equal(s[3].target, "c");
	dns_srv_order(s, 4, always_last);
	assert_string_equal(s[0].target, "b");      /* the heavier weight wins the top of the range */
	assert_int_equal(dns_wire_name(wire, sizeof(wire), name, sizeof(name)), sizeof(wire));
	assert_string_equal(name, "mail.example.org");
	assert_int_equal(dns_wire_name((const unsigned char *)"", 1, name, sizeof(name)), 1);
	assert_string_equal(name, ".");
	assert_int_equal(dns_wire_name(wire, 5, name, sizeof(name)), 0);           /* truncated */
	assert_int_equal(dns_wire_name(wire, sizeof(wire), name, 8), 0);          /* too long */
	/* Not host names: a NUL, a dot inside a label, a space or a control character would change
	 * the name we connect to and check the certificate for. */
	static const unsigned char nul[] = "\x04mail\x07exa\0ple\x03org", dot[] = "\x09mail.evil\x03org",
		sp[] = "\x04ma l\x03org", ctl[] = "\x04ma\nl\x03org", srv[] = "\x0b_submission\x04_tcp\x03org";
	assert_int_equal(dns_wire_name(nul, sizeof(nul), name, sizeof(name)), 0);
	assert_int_equal(dns_wire_name(dot, sizeof(dot), name, sizeof(name)), 0);
	assert_int_equal(dns_wire_name(sp, sizeof(sp), name, sizeof(name)), 0);
	assert_int_equal(dns_wire_name(ctl, sizeof(ctl), name, sizeof(name)), 0);
	assert_int_equal(dns_wire_name(srv, sizeof(srv), name, sizeof(name)), sizeof(srv));
	assert_string_equal(name, "_submission._tcp.org");
}

/* The client core in probe mode: what check says to a STARTTLS server, and what it keeps. */
static void feed(struct smtp_client *c, const char *text, struct smtp_client_out *out)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t used;

	smtp_reply_init(&p);
	assert_int_equal(smtp_reply_feed(&p, text, strlen(text), &used, &r), 1);
	smtp_client_reply(c, &r, out);
}

static void test_client_probe_mode(void **state)
{
	struct smtp_client_conf conf = { "check.example", SC_TLS_OPPORTUNISTIC, "u@example.org", "pw", 1, 0, NULL, 0, 0, 0 };
	struct smtp_client_envelope env = { "", NULL, 0, 0, 0, 0 };
	struct smtp_client_out out = { SC_WRITE, "", 0 };
	struct smtp_client *c = smtp_client_new(&conf, &env);
	int seen;

	(void)state;
	assert_non_null(c);
	feed(c, "220 mx ESMTP\r\n", &out);
	assert_string_equal(out.buf, "EHLO check.example\r\n");
	feed(c, "250-mx\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n", &out);
	assert_string_equal(out.buf, "STARTTLS\r\n");       /* never AUTH before TLS */
	feed(c, "220 go\r\n", &out);
	assert_int_equal(out.step, SC_STARTTLS);
	smtp_client_tls_started(c, &out);
	assert_string_equal(out.buf, "EHLO check.example\r\n");
	feed(c, "250-mx\r\n250 AUTH PLAIN LOGIN\r\n", &out);
	assert_memory_equal(out.buf, "AUTH PLAIN ", 11);
	feed(c, "235 2.7.0 ok\r\n", &out);
	assert_int_equal(out.step, SC_DONE);                /* probe: no MAIL, straight to QUIT */
	assert_string_equal(out.buf, "QUIT\r\n");
	assert_int_equal(smtp_client_greeting(c)->code, 220);
	assert_int_equal(smtp_client_auth_result(c)->code, 235);
	assert_string_equal(smtp_client_caps_plain(c, &seen)->auth, "PLAIN");
	assert_true(seen);
	assert_string_equal(smtp_client_caps(c)->auth, "PLAIN LOGIN");
	smtp_client_free(c);

	/* Relay test: MAIL and RCPT, never DATA. */
	static const char *const rcpt[] = { "relay-test@example.com" };
	struct smtp_client_conf rconf = { "check.example", SC_TLS_NONE, NULL, NULL, 0, 1, NULL, 0, 0, 0 };
	struct smtp_client_envelope renv = { "s@example.org", rcpt, 1, 0, 0, 0 };
	c = smtp_client_new(&rconf, &renv);
	feed(c, "220 mx ESMTP\r\n", &out);
	feed(c, "250 mx\r\n", &out);
	assert_string_equal(out.buf, "MAIL FROM:<s@example.org>\r\n");
	feed(c, "250 ok\r\n", &out);
	feed(c, "250 ok\r\n", &out);
	assert_int_equal(out.step, SC_DONE);
	assert_string_equal(out.buf, "QUIT\r\n");
	assert_int_equal(smtp_client_rcpt_result(c, 0)->code, 250);
	smtp_client_free(c);
}

/* The login methods a submission port offers, rated (issue 19: check --user says which are strong). */
static void test_auth_mechanism_strength(void **state)
{
	char words[400];

	(void)state;
	assert_string_equal(check_mech_strength("SCRAM-SHA-256-PLUS"), "strongest");
	assert_string_equal(check_mech_strength("scram-sha-256"), "strong");
	assert_string_equal(check_mech_strength("EXTERNAL"), "strong");
	assert_string_equal(check_mech_strength("PLAIN"), "password");
	assert_string_equal(check_mech_strength("CRAM-MD5"), "weak");
	assert_string_equal(check_mech_strength("X-FOO"), "unknown");
	check_mech_words("PLAIN LOGIN SCRAM-SHA-256 CRAM-MD5", words, sizeof(words));
	assert_non_null(strstr(words, "SCRAM-SHA-256 (the password never crosses the network"));
	assert_non_null(strstr(words, "PLAIN, LOGIN (the password itself, protected only by TLS"));
	assert_non_null(strstr(words, "CRAM-MD5 (obsolete"));
	assert_true(strstr(words, "SCRAM") < strstr(words, "PLAIN"));          /* strongest first */

	struct check_port p = good(465, ROLE_SUBMISSIONS);
	check_judge(&p, 1);                 /* with --user: the login methods are rated */
	int found = 0;
	for (size_t i = 0; i < p.nreasons; i++)
		found |= strcmp(p.reasons[i].code, "auth-mechanisms") == 0 && p.reasons[i].severity == SEV_INFO;
	assert_true(found);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_good),
		cmocka_unit_test(test_certificate_rules),
		cmocka_unit_test(test_plaintext_and_auth_rules),
		cmocka_unit_test(test_tls_version_rules),
		cmocka_unit_test(test_wrong_client_settings_and_reachability),
		cmocka_unit_test(test_autoconfig_parse),
		cmocka_unit_test(test_srv_order_and_wire_names),
		cmocka_unit_test(test_client_probe_mode),
		cmocka_unit_test(test_auth_mechanism_strength),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
