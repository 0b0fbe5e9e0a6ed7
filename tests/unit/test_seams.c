/* test_seams.c - the four interfaces the next features plug into keep their contracts: the
 * directory (users file backend), the delivery target (Maildir and discard), the outbound TLS
 * policy (and which TLSA records DANE may use), and the table of listener kinds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/directory.h"
#include "conf/listener.h"
#include "route/dane.h"
#include "net/dns.h"
#include "route/mx.h"
#include "deliver/remote_attempt.h"
#include "deliver/target.h"
#include "route/mtasts.h"
#include "route/tlspolicy.h"
#include "smtp/session.h"

static char dir[] = "/tmp/mailport-test-seams-XXXXXX";

static const char *path_in(const char *name)
{
	static char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* directory_verify() with the login's parts as arguments. */
static int verify(const struct directory *d, const char *authzid, const char *user, const char *password)
{
	struct dir_login l = { authzid, user, password, "192.0.2.1" };
	char via[96];

	return directory_verify(d, &l, via, sizeof(via));
}

static void test_directory_file_backend(void **state)
{
	struct errlist errs = { 0 };
	char *hash = auth_hash_password("correct horse");
	char mbox[256];
	FILE *fp;

	(void)state;
	assert_non_null(hash);
	fp = fopen(path_in("users"), "w");
	assert_non_null(fp);
	fprintf(fp, "alice@example.org:%s:sales@example.org\nbob@example.org:\n", hash);
	fclose(fp);
	struct directory_conf dc = { path_in("users"), 0, NULL, NULL };
	struct directory *d = directory_open(&dc, &errs);
	assert_non_null(d);
	assert_int_equal(directory_count(d), 2);
	assert_int_equal(directory_mailbox(d, "Sales@EXAMPLE.org", '+', mbox, sizeof(mbox)), DIR_FOUND);
	assert_string_equal(mbox, "alice@example.org");
	assert_int_equal(directory_mailbox(d, "alice+list@example.org", '+', mbox, sizeof(mbox)), DIR_FOUND);
	assert_string_equal(mbox, "alice@example.org");
	assert_int_equal(directory_mailbox(d, "alice+list@example.org", '\0', mbox, sizeof(mbox)), DIR_NONE);
	assert_int_equal(directory_mailbox(d, "carol@example.org", '+', mbox, sizeof(mbox)), DIR_NONE);
	assert_int_equal(verify(d, "", "alice@example.org", "correct horse"), 0);
	assert_int_equal(verify(d, "", "alice@example.org", "wrong"), -1);
	assert_int_equal(verify(d, "", "sales@example.org", "correct horse"), -1);   /* an alias */
	assert_int_equal(verify(d, "bob@example.org", "alice@example.org", "correct horse"), -1);
	assert_int_equal(verify(d, "", "bob@example.org", ""), -1);                 /* no hash */
	directory_free(d);
	directory_free(NULL);
	free(hash);
	errlist_free(&errs);
}

static void test_directory_reports_file_line(void **state)
{
	struct errlist errs = { 0 };
	FILE *fp = fopen(path_in("bad-users"), "w");

	(void)state;
	assert_non_null(fp);
	fputs("not an address:x\n", fp);
	fclose(fp);
	struct directory_conf dc = { path_in("bad-users"), 0, NULL, NULL };
	assert_null(directory_open(&dc, &errs));
	assert_true(errs.n > 0);
	assert_non_null(strstr(errs.msgs[0], "bad-users:1"));
	errlist_free(&errs);
}

static void test_target_maildir_two_steps(void **state)
{
	char err[512], handle[PATH_MAX], where[PATH_MAX], pattern[PATH_MAX];
	const char msg[] = "Subject: hi\r\n\r\nbody\r\n";
	int fd = open(path_in("msg"), O_RDWR | O_CREAT | O_TRUNC, 0600);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, sizeof(msg) - 1), (ssize_t)(sizeof(msg) - 1));
	snprintf(pattern, sizeof(pattern), "%s/mail/%%d/%%u", dir);
	struct target *t = target_new(pattern, NULL, "mx.example.org", err, sizeof(err));
	assert_non_null(t);
	assert_string_equal(target_name(t), "maildir");
	struct target_copy c = { "alice@example.org", "Q1", 0, 1700000000, fd, 0, sizeof(msg) - 1, "bob@example.net" };
	assert_int_equal(target_stage(t, &c, handle, sizeof(handle), err, sizeof(err)), 0);
	assert_true(handle[0] != '\0');
	assert_non_null(strstr(handle, "/tmp/"));
	assert_int_equal(access(handle, F_OK), 0);
	assert_int_equal(target_publish(t, handle, where, sizeof(where), err, sizeof(err)), 0);
	assert_non_null(strstr(where, "/new/"));
	assert_int_equal(access(where, F_OK), 0);
	/* After a crash the recorded handle is published again: "already", not an error. */
	assert_int_equal(target_publish(t, handle, where, sizeof(where), err, sizeof(err)), 1);
	/* A pattern that expands to no valid path is refused in words before any write. */
	target_free(t);
	snprintf(pattern, sizeof(pattern), "%s/mail/%%u", dir);
	t = target_new(pattern, NULL, "mx.example.org", err, sizeof(err));
	c.mailbox = "..@example.org";
	assert_int_equal(target_stage(t, &c, handle, sizeof(handle), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "gives no valid path"));
	target_free(t);
	target_free(NULL);
	close(fd);
}

static void test_target_discard_is_one_step(void **state)
{
	char err[128], handle[64] = "x";
	struct target *t = target_new("discard:", NULL, "mx.example.org", err, sizeof(err));
	struct target_copy c = { "alice@example.org", "Q1", 0, 0, -1, 0, 0, "" };

	(void)state;
	assert_non_null(t);
	assert_string_equal(target_name(t), "discard");
	assert_int_equal(target_stage(t, &c, handle, sizeof(handle), err, sizeof(err)), 0);
	assert_string_equal(handle, "");
	target_free(t);
}

static void test_tlspolicy(void **state)
{
	struct relay_conf rc = { 0 };
	struct tlspolicy_conf tc;
	struct tls_policy p, q;
	struct dane_rrset dane;
	struct mx_host mx = { .name = "mx.example.net", .secure = 1 };
	char err[300];
	const char *why;

	(void)state;
	/* Direct MX without DNSSEC: opportunistic, and only that may fall back to plaintext. */
	relay_tlspolicy_conf(&rc, &tc);
	struct tlspolicy *tp = tlspolicy_new(&tc, err, sizeof(err));
	assert_non_null(tp);
	struct dns *d = tlspolicy_dns(tp, "example.net", 0, err, sizeof(err));
	assert_non_null(d);
	assert_int_equal(tlspolicy_mx(tp, d, "example.net", &mx, NULL, 0, &p, &dane, err, sizeof(err)), 0);
	assert_int_equal(p.level, TLS_LEVEL_MAY);
	assert_null(p.match);
	assert_int_equal(tlspolicy_fallback(&p, &q), 1);
	assert_int_equal(q.level, TLS_LEVEL_NONE);
	assert_int_equal(tlspolicy_fallback(&q, &p), 0);
	assert_string_equal(tlspolicy_outcome(&q, 0), "none");
	/* MTA-STS testing (RFC 8461 5): delivered as "may", with the check enforce would make
	 * riding along for TLS-RPT, the MX named or not. */
	struct sts_policy testing = { .found = 1, .mode = STS_MODE_TESTING, .nmx = 1 };
	snprintf(testing.mx[0], sizeof(testing.mx[0]), "other.example.net");
	assert_int_equal(tlspolicy_mx(tp, d, "example.net", &mx, &testing, 0, &p, &dane, err, sizeof(err)), 0);
	assert_int_equal(p.level, TLS_LEVEL_MAY);
	assert_int_equal(p.sts_testing, 1);
	assert_string_equal(p.match, "mx.example.net");
	assert_string_equal(p.source, "opportunistic");
	assert_int_equal(tlspolicy_fallback(&p, &q), 1);
	testing.mode = STS_MODE_ENFORCE;
	snprintf(testing.mx[0], sizeof(testing.mx[0]), "*.example.net");
	assert_int_equal(tlspolicy_mx(tp, d, "example.net", &mx, &testing, 0, &p, &dane, err, sizeof(err)), 0);
	assert_int_equal(p.level, TLS_LEVEL_VERIFY);
	assert_int_equal(p.sts_testing, 0);
	dns_free(d);
	tlspolicy_free(tp);
	/* Per-domain levels; dane-only without DNSSEC makes the host unusable, never plaintext. */
	tc.mx_policy = "may example.org:encrypt Example.NET:dane-only plain.example:none";
	tp = tlspolicy_new(&tc, err, sizeof(err));
	assert_non_null(tp);
	d = tlspolicy_dns(tp, "example.org", 0, err, sizeof(err));
	assert_int_equal(tlspolicy_mx(tp, d, "example.org", &mx, NULL, 0, &p, &dane, err, sizeof(err)), 0);
	assert_int_equal(p.level, TLS_LEVEL_ENCRYPT);
	assert_int_equal(tlspolicy_fallback(&p, &q), 0);
	assert_string_equal(tlspolicy_outcome(&p, 1), "encrypted");
	assert_int_equal(tlspolicy_mx(tp, d, "example.net", &mx, NULL, 0, &p, &dane, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "dane-only"));
	assert_int_equal(tlspolicy_mx(tp, d, "plain.example", &mx, NULL, 0, &p, &dane, err, sizeof(err)), 0);
	assert_int_equal(p.level, TLS_LEVEL_NONE);
	assert_int_equal(tlspolicy_mx(tp, d, "other.example", &mx, NULL, 0, &p, &dane, err, sizeof(err)), 0);
	assert_int_equal(p.level, TLS_LEVEL_MAY);
	/* REQUIRETLS (RFC 8689): without DNSSEC or an MTA-STS policy naming the host, no level of
	 * tls_policy lets it go there; with a policy in testing mode that names it, WebPKI. */
	struct sts_policy sts = { .found = 1, .mode = STS_MODE_TESTING, .nmx = 1 };
	snprintf(sts.mx[0], sizeof(sts.mx[0]), "*.example.net");
	static const char *const any[] = { "example.org", "plain.example", "other.example" };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(tlspolicy_mx(tp, d, any[i], &mx, NULL, TLSPOLICY_REQUIRETLS, &p, &dane, err,
		                              sizeof(err)), TLSPOLICY_EREQUIRETLS);
		assert_non_null(strstr(err, "REQUIRETLS"));
	}
	assert_int_equal(tlspolicy_mx(tp, d, "other.example", &mx, &sts, TLSPOLICY_REQUIRETLS, &p, &dane, err,
	                              sizeof(err)), 0);
	assert_int_equal(p.level, TLS_LEVEL_VERIFY);
	assert_string_equal(p.match, "mx.example.net");
	assert_int_equal(tlspolicy_fallback(&p, &q), 0);
	/* "TLS-Required: No" leaves the admin's own levels alone. */
	assert_int_equal(tlspolicy_mx(tp, d, "example.org", &mx, NULL, TLSPOLICY_TLS_OPTIONAL, &p, &dane, err,
	                              sizeof(err)), 0);
	assert_int_equal(p.level, TLS_LEVEL_ENCRYPT);
	dns_free(d);
	tlspolicy_free(tp);
	/* Bad words are refused in words. */
	static const char *const bad[] = { "sometimes", "dane may", "example.org:", ":dane", "dane x.org:maybe" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tc.mx_policy = bad[i];
		assert_null(tlspolicy_new(&tc, err, sizeof(err)));
		assert_non_null(strstr(err, "expected"));
	}
	/* A smarthost over smtps:// or smtp+starttls:// is verified against its name, never downgraded. */
	static const struct { const char *url; enum tls_level level; int implicit; } cases[] = {
		{ "smtps://relay.example.org", TLS_LEVEL_VERIFY, 1 },
		{ "smtp+starttls://relay.example.org:2587", TLS_LEVEL_VERIFY, 0 },
		{ "smtp://127.0.0.1:2525", TLS_LEVEL_NONE, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&rc, 0, sizeof(rc));
		assert_int_equal(relay_parse_url(cases[i].url, &rc, &why), 0);
		relay_tlspolicy_conf(&rc, &tc);
		tp = tlspolicy_new(&tc, err, sizeof(err));
		tlspolicy_smarthost(tp, &p);
		assert_int_equal(p.level, cases[i].level);
		assert_int_equal(p.implicit, cases[i].implicit);
		assert_string_equal(p.match, rc.host);
		assert_string_equal(p.source, "smarthost");
		assert_int_equal(tlspolicy_fallback(&p, &q), 0);
		tlspolicy_free(tp);
		relay_conf_clear(&rc);
	}
	tlspolicy_free(NULL);
}

/* RFC 7672 3.1.3: only DANE-TA(2) and DANE-EE(3), with known selectors and digest lengths. */
static void test_dane_parse(void **state)
{
	unsigned char rd[3 + 64];
	struct dane_tlsa rr;

	(void)state;
	memset(rd, 0xab, sizeof(rd));
	rd[0] = 3, rd[1] = 1, rd[2] = 1;
	assert_int_equal(dane_parse_tlsa(rd, 3 + 32, &rr), 1);
	assert_int_equal(rr.len, 32);
	assert_int_equal(dane_parse_tlsa(rd, 3 + 31, &rr), 0);         /* SHA-256 of the wrong length */
	rd[2] = 2;
	assert_int_equal(dane_parse_tlsa(rd, 3 + 64, &rr), 1);
	rd[0] = 2, rd[1] = 0;
	assert_int_equal(dane_parse_tlsa(rd, 3 + 64, &rr), 1);
	rd[0] = 1;                                                      /* PKIX-EE */
	assert_int_equal(dane_parse_tlsa(rd, 3 + 64, &rr), 0);
	rd[0] = 0;                                                      /* PKIX-TA */
	assert_int_equal(dane_parse_tlsa(rd, 3 + 64, &rr), 0);
	rd[0] = 3, rd[1] = 2;                                           /* unknown selector */
	assert_int_equal(dane_parse_tlsa(rd, 3 + 64, &rr), 0);
	rd[1] = 0, rd[2] = 3;                                           /* unknown matching type */
	assert_int_equal(dane_parse_tlsa(rd, 3 + 64, &rr), 0);
	assert_int_equal(dane_parse_tlsa(rd, 3, &rr), 0);
}

static void test_listener_table(void **state)
{
	(void)state;
	for (int r = 0; r < ROLE_COUNT; r++)
		assert_int_equal(listener_kind((enum listener_role)r)->role, r);
	assert_string_equal(listener_kind(ROLE_SMTP)->name, "smtp");
	assert_int_equal(listener_kind(ROLE_SUBMISSIONS)->port, 465);
	assert_int_equal(listener_kind(ROLE_SUBMISSIONS)->tls, LISTENER_TLS_IMPLICIT);
	assert_int_equal(listener_kind(ROLE_SUBMISSION)->port, 587);
	/* Submission never without TLS, and never without AUTH (RFC 6409, RFC 8314). */
	assert_true(listener_kind(ROLE_SUBMISSION)->session_policy & SMTP_POLICY_TLS_REQUIRED);
	assert_true(listener_kind(ROLE_SUBMISSIONS)->session_policy & SMTP_POLICY_AUTH_REQUIRED);
	assert_true(listener_kind(ROLE_SUBMISSION)->session_policy & SMTP_POLICY_AUTH_REQUIRED);
	assert_false(listener_kind(ROLE_SMTP)->session_policy & SMTP_POLICY_AUTH);
	assert_false(listener_kind(ROLE_SMTP)->submission);
	assert_string_equal(listener_tls_words(listener_kind(ROLE_SMTP), 0), "none");
	assert_string_equal(listener_tls_words(listener_kind(ROLE_SMTP), 1), "starttls-offered");
	assert_string_equal(listener_tls_words(listener_kind(ROLE_SUBMISSION), 1), "starttls-required");
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directory_file_backend),
		cmocka_unit_test(test_directory_reports_file_line),
		cmocka_unit_test(test_target_maildir_two_steps),
		cmocka_unit_test(test_target_discard_is_one_step),
		cmocka_unit_test(test_tlspolicy),
		cmocka_unit_test(test_dane_parse),
		cmocka_unit_test(test_listener_table),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
