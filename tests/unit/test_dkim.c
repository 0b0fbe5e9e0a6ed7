/* test_dkim.c - DKIM signing's own rules (msg/dkimsign.h): relaxed body canonicalisation as the body
 * hash shows it (RFC 6376 3.4.5's example, the empty body), the same hash in any chunking, the
 * header list, the From: domain, and the key checks. The verifier (msg/dkimverify.h) against
 * RFC 8463 Appendix A's signed message and keys, and both over fields and tags of any length.
 * The signatures themselves are judged by python3-dkim, Mail::DKIM and OpenDKIM in
 * tests/integration/tests_dkim.py and tests_dkim_cross.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "msg/dkimsign.h"
#include "msg/dkimverify.h"
#include "util/base64.h"

static char keypath[2][64];

static void write_key(int idx, int type, int bits, mode_t mode)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(type, NULL);
	EVP_PKEY *pk = NULL;

	snprintf(keypath[idx], sizeof(keypath[idx]), "/tmp/mailport-dkim-%d-%d.key", (int)getpid(), idx);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	if (type == EVP_PKEY_RSA)
		assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &pk), 1);
	FILE *fp = fopen(keypath[idx], "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
	chmod(keypath[idx], mode);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
}

/* The bh= of the first signature for msg fed in chunks of step octets. */
static void body_hash(struct dkim_keys *k, const char *msg, size_t step, char *bh, size_t bhlen)
{
	char err[200];
	struct dkim_signer *s = dkim_signer_new(k, "example.org", "t", err, sizeof(err));
	size_t len = strlen(msg);

	assert_non_null(s);
	for (size_t o = 0; o < len; o += step)
		assert_int_equal(dkim_signer_feed(s, msg + o, len - o < step ? len - o : step), 0);
	char *sig = dkim_sign_finish(s, err, sizeof(err));
	assert_non_null(sig);
	const char *b = strstr(sig, "bh=");
	assert_non_null(b);
	snprintf(bh, bhlen, "%.*s", (int)strcspn(b + 3, ";"), b + 3);
	free(sig);
	dkim_signer_free(s);
}

static void hash_of(const char *canon, char *out)
{
	unsigned char d[32];

	EVP_Digest(canon, strlen(canon), d, NULL, EVP_sha256(), NULL);
	base64_encode(d, 32, out);
}

static void test_body_canonicalisation(void **state)
{
	static const struct { const char *msg, *canon; } cases[] = {
		/* RFC 6376 3.4.5 */
		{ "A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n" },
		{ "From: a@example.org\r\n\r\n", "" },                  /* empty body: nothing (errata 3192) */
		{ "From: a@example.org\r\n\r\n\r\n\r\n", "" },
		{ "From: a@example.org\r\n\r\nno final line end", "no final line end\r\n" },
		{ "From: a@example.org\r\n\r\n.\r\n..x\r\n \r\n\t\r\ny\r\n", ".\r\n..x\r\n\r\n\r\ny\r\n" },
		{ "From: a@example.org\r\n\r\n\xc3\xbc  \xc3\xa4\r\n", "\xc3\xbc \xc3\xa4\r\n" },
	};
	struct dkim_key_conf kc = { "example.org", "s1", keypath[0], 1, 1 };
	char err[200], bh[64], want[64];
	unsigned line;

	(void)state;
	write_key(0, EVP_PKEY_ED25519, 0, 0600);
	struct dkim_keys *k = dkim_keys_load(&kc, 1, err, sizeof(err), &line);
	assert_non_null(k);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hash_of(cases[i].canon, want);
		for (size_t step = 1; step <= 4096; step *= 8) {
			body_hash(k, cases[i].msg, step, bh, sizeof(bh));
			if (strcmp(bh, want) != 0)
				fail_msg("case %zu step %zu: bh %s, want %s", i, step, bh, want);
		}
	}
	/* The header list: listed fields as often as they occur, From once more, nothing else. */
	struct dkim_signer *s = dkim_signer_new(k, "EXAMPLE.org", "t", err, sizeof(err));
	const char *msg = "Received: x\r\nFrom: a@example.org\r\nTo: b@x\r\nTo: c@x\r\nX-Mailer: y\r\n\r\nz\r\n";
	assert_int_equal(dkim_signer_feed(s, msg, strlen(msg)), 0);
	char *sig = dkim_sign_finish(s, err, sizeof(err));
	assert_non_null(strstr(sig, "\th=from:from:to:to;\r\n"));
	assert_non_null(strstr(sig, "a=ed25519-sha256") && strstr(sig, "d=example.org; s=s1;"));
	free(sig);
	dkim_signer_free(s);
	assert_null(dkim_signer_new(k, "other.org", "t", err, sizeof(err)));
	assert_int_equal(dkim_keys_for(k, "Example.Org"), 1);
	dkim_keys_free(k);
	unlink(keypath[0]);
}

static void test_keys(void **state)
{
	struct dkim_key_conf kc[2] = { { "example.org", "s1", keypath[0], 1, 7 }, { "example.org", "s2", keypath[1], 0, 8 } };
	char err[300], p[1024];
	const char *kt;
	unsigned line;

	(void)state;
	write_key(0, EVP_PKEY_RSA, 2048, 0600);
	write_key(1, EVP_PKEY_ED25519, 0, 0640);
	struct dkim_keys *k = dkim_keys_load(kc, 2, err, sizeof(err), &line);
	assert_non_null(k);
	assert_int_equal(dkim_keys_for(k, "example.org"), 1);     /* the standby one does not sign */
	dkim_keys_free(k);
	assert_int_equal(dkim_key_public(keypath[0], p, sizeof(p), &kt, err, sizeof(err)), 0);
	assert_string_equal(kt, "rsa");
	assert_true(strncmp(p, "MIIBIjAN", 8) == 0);             /* SubjectPublicKeyInfo, 2048 bits */
	assert_int_equal(dkim_key_public(keypath[1], p, sizeof(p), &kt, err, sizeof(err)), 0);
	assert_string_equal(kt, "ed25519");
	assert_int_equal(strlen(p), 44);                          /* 32 octets, RFC 8463 4.2 */
	chmod(keypath[1], 0604);
	assert_null(dkim_keys_load(kc, 2, err, sizeof(err), &line));
	assert_int_equal(line, 8);
	assert_non_null(strstr(err, "can be read by every user"));
	unlink(keypath[0]);
	write_key(0, EVP_PKEY_RSA, 1024, 0600);
	assert_null(dkim_keys_load(kc, 1, err, sizeof(err), &line));
	assert_non_null(strstr(err, "shorter than 2048 bits"));
	unlink(keypath[0]);
	unlink(keypath[1]);
}

static void test_from_domain(void **state)
{
	/* ret: 0 with domain; -1 no From field; -2 a From without a usable address. */
	static const struct { const char *hdr; int ret; const char *domain; } cases[] = {
		{ "Subject: x\r\nFrom: Alice <alice@Example.ORG>\r\n\r\n", 0, "example.org" },
		{ "from: alice@example.org (Alice)\r\n", 0, "example.org" },
		{ "From: \"a@b\" <alice@example.net>, bob@example.org\r\n", 0, "example.net" },
		{ "From:\r\n\tAlice\r\n\t<alice@folded.example>\r\n", 0, "folded.example" },
		{ "Sender: a@example.org\r\n", -1, NULL },
		{ "From: undisclosed\r\n", -2, NULL },
		/* The forms the address parser knows, the signer knows (addrlist.h). A '<' and an '@'
		 * in a quoted display name are text: */
		{ "From: \"Mallory <m@evil.example>\" <alice@example.org>\r\n", 0, "example.org" },
		{ "From: \"a \\\" <x@evil.example>\" <alice@example.org>\r\n", 0, "example.org" },
		/* an '@' (or a '<') in a comment is text, before or after the address, nested too */
		{ "From: alice@example.org (Alice @ home <x@evil.example>)\r\n", 0, "example.org" },
		{ "From: (on behalf of x@evil.example) alice@example.org\r\n", 0, "example.org" },
		{ "From: Alice (the (first) @ evil.example) <alice@example.org>\r\n", 0, "example.org" },
		{ "From: alice@(comment)example.org\r\n", 0, "example.org" },
		/* a group (RFC 5322 3.4), an encoded word (RFC 2047) */
		{ "From: Team: alice@example.org, bob@example.net;\r\n", 0, "example.org" },
		{ "From: =?utf-8?q?J=C3=B6rg_=3C@x?= <joerg@example.org>\r\n", 0, "example.org" },
		{ "From: \"quoted@local\"@example.org\r\n", 0, "example.org" },
		/* no domain one could sign for */
		{ "From: \"unterminated <alice@example.org>\r\n", -2, NULL },
		{ "From: (unterminated alice@example.org\r\n", -2, NULL },
		{ "From: alice@[192.0.2.1]\r\n", -2, NULL },
		{ "From: undisclosed-recipients:;\r\n", -2, NULL },
		{ "From: \r\n", -2, NULL },
		/* the first From field counts, the first address in it */
		{ "From: a@first.example\r\nFrom: b@second.example\r\n", 0, "first.example" },
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = dkim_from_domain(cases[i].hdr, strlen(cases[i].hdr), out, sizeof(out));
		if (r != cases[i].ret || (r == 0 && strcmp(out, cases[i].domain) != 0))
			fail_msg("case %zu %s: %d %s", i, cases[i].hdr, r, r == 0 ? out : "");
	}
}

/* ---- the verifier: RFC 8463 Appendix A, long fields and tags -------------------------------- */

/* RFC 8463 A.2's key records, and whatever a test adds. */
static const char *txt_name[4] = {
	"brisbane._domainkey.football.example.com",
	"test._domainkey.football.example.com",
};
static const char *txt_value[4] = {
	"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
	"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
	"iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
	"DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
	"Ip3G+2kryOTIKT+l/K4w3QIDAQAB",
};

static int t_txt(void *arg, const char *name, char *buf, size_t buflen, size_t *n)
{
	(void)arg;
	*n = 0;
	for (size_t i = 0; i < 4; i++)
		if (txt_name[i] != NULL && strcmp(name, txt_name[i]) == 0 && strlen(txt_value[i]) < buflen) {
			strcpy(buf, txt_value[i]);
			*n = 1;
			return 0;
		}
	return -2;                      /* LOOKUP_NXDOMAIN */
}

static const struct lookup LK = { NULL, t_txt, NULL, NULL, NULL };

/* RFC 8463 A.3, byte for byte: signed with Ed25519 (brisbane) and RSA (test). */
static const char rfc8463_signed[] =
	"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
	" d=football.example.com; i=@football.example.com;\r\n"
	" q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
	" subject : date : message-id : from : subject : date;\r\n"
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
	" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
	" d=football.example.com; i=@football.example.com;\r\n"
	" q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
	" date : message-id : from : subject : date;\r\n"
	" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
	" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
	" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
	"From: Joe SixPack <joe@football.example.com>\r\n"
	"To: Suzie Q <suzie@shopping.example.net>\r\n"
	"Subject: Is dinner ready?\r\n"
	"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
	"Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
	"\r\n"
	"Hi.\r\n"
	"\r\n"
	"We lost the game.  Are you hungry yet?\r\n"
	"\r\n"
	"Joe.\r\n";

/* The verdicts for msg fed in chunks of step octets, as "pass,fail" (in header order). */
static void verdicts(const char *msg, size_t len, size_t step, char *out, size_t outlen)
{
	struct dkim_verifier *v = dkim_verifier_new();
	struct dkim_vsig sig[DKIM_VERIFY_MAX];
	size_t o = 0;

	assert_non_null(v);
	for (size_t at = 0; at < len; at += step)
		dkim_verifier_feed(v, msg + at, len - at < step ? len - at : step);
	size_t n = dkim_verify_finish(v, &LK, 1800000000LL, sig, DKIM_VERIFY_MAX);
	out[0] = '\0';
	for (size_t i = 0; i < n && i < DKIM_VERIFY_MAX; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s", i ? "," : "", dkim_vresult_name(sig[i].result));
	dkim_verifier_free(v);
}

static void test_rfc8463_vectors(void **state)
{
	char got[200], *msg;
	size_t len = strlen(rfc8463_signed);

	(void)state;
	/* As published, whole and one octet at a time: both signatures pass. */
	for (size_t step = 1; step <= len; step = step == 1 ? 7 : step * 16) {
		verdicts(rfc8463_signed, len, step, got, sizeof(got));
		if (strcmp(got, "pass,pass") != 0)
			fail_msg("step %zu: %s", step, got);
	}
	/* A signed header field changed (the Subject), then a body line: both fail. */
	msg = strdup(rfc8463_signed);
	assert_non_null(msg);
	memcpy(strstr(msg, "dinner"), "supper", 6);
	verdicts(msg, len, len, got, sizeof(got));
	assert_string_equal(got, "fail,fail");
	strcpy(msg, rfc8463_signed);
	memcpy(strstr(msg, "hungry"), "Hungry", 6);
	verdicts(msg, len, len, got, sizeof(got));
	assert_string_equal(got, "fail,fail");
	/* An unsigned field added, and folding white space changed (relaxed/relaxed): still pass. */
	free(msg);
	const char *sub = strstr(rfc8463_signed, "Subject: Is dinner ready?\r\n");
	size_t at = (size_t)(sub - rfc8463_signed);
	char *m2 = malloc(len + 64);
	assert_non_null(m2);
	int n = snprintf(m2, len + 64, "%.*sX-Added: yes\r\nSubject:   Is dinner\r\n\tready?  \r\n%s", (int)at,
	                 rfc8463_signed, sub + strlen("Subject: Is dinner ready?\r\n"));
	verdicts(m2, (size_t)n, 1000, got, sizeof(got));
	assert_string_equal(got, "pass,pass");
	free(m2);
}

/* Our signer with RFC 8463 A.1's Ed25519 key (the RFC 8032 7.1 test key) for
 * football.example.com, over msg: the signed message, malloc()ed. */
static char *sign_rfc_key(const char *msg)
{
	static const char seed_b64[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
	unsigned char seed[48];
	char err[200];
	unsigned line;
	long sl = base64_decode(seed_b64, strlen(seed_b64), seed);

	assert_int_equal(sl, 32);
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	assert_non_null(pk);
	snprintf(keypath[0], sizeof(keypath[0]), "/tmp/mailport-dkim-%d-rfc.key", (int)getpid());
	FILE *fp = fopen(keypath[0], "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fp);
	EVP_PKEY_free(pk);
	chmod(keypath[0], 0600);
	struct dkim_key_conf kc = { "football.example.com", "brisbane", keypath[0], 1, 1 };
	struct dkim_keys *k = dkim_keys_load(&kc, 1, err, sizeof(err), &line);
	assert_non_null(k);
	unlink(keypath[0]);
	struct dkim_signer *s = dkim_signer_new(k, "football.example.com", "t", err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(dkim_signer_feed(s, msg, strlen(msg)), 0);
	char *sig = dkim_sign_finish(s, err, sizeof(err));
	assert_non_null(sig);
	dkim_signer_free(s);
	dkim_keys_free(k);
	char *out = malloc(strlen(sig) + strlen(msg) + 1);
	assert_non_null(out);
	strcpy(out, sig);
	strcat(out, msg);
	free(sig);
	return out;
}

/* A field far longer than any fixed buffer (a 10 KB Cc:, folded), and so many fields that h=
 * passes 1,023 characters: signed whole, verified whole, and a change inside them is seen. */
static void test_long_fields_and_tags(void **state)
{
	size_t cap = 64 * 1024, o = 0;
	char *msg = malloc(cap), got[64];

	(void)state;
	assert_non_null(msg);
	o += (size_t)snprintf(msg + o, cap - o, "From: Joe <joe@football.example.com>\r\nCc: ");
	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(msg + o, cap - o, "%sPerson %d <person%d@shopping.example.net>", i ? ",\r\n " : "",
		                      i, i);
	o += (size_t)snprintf(msg + o, cap - o, "\r\n");
	for (int i = 0; i < 400; i++)
		o += (size_t)snprintf(msg + o, cap - o, "To: r%d@shopping.example.net\r\n", i);
	snprintf(msg + o, cap - o, "Subject: long\r\n\r\nHi.\r\n");
	assert_true(strstr(msg, "\r\nTo: ") - strstr(msg, "Cc: ") > 10000);
	char *signed_msg = sign_rfc_key(msg);
	const char *h = strstr(signed_msg, "\th=");
	assert_true(strstr(h, ";") - h > 1023);       /* h= of 1,600 characters */
	/* h= is folded: each of its lines stays under 78 characters (RFC 5322 2.1.1) */
	for (const char *l = h; l < strstr(h, ";"); l = strstr(l, "\r\n") + 2)
		assert_true(strstr(l, "\r\n") - l < 78);
	size_t len = strlen(signed_msg);
	verdicts(signed_msg, len, len, got, sizeof(got));
	assert_string_equal(got, "pass");
	verdicts(signed_msg, len, 1, got, sizeof(got));
	assert_string_equal(got, "pass");
	/* the last Cc address and the last To changed: the whole field was hashed */
	char *p = strstr(signed_msg, "person299@");
	p[6] = '8';
	verdicts(signed_msg, len, len, got, sizeof(got));
	assert_string_equal(got, "fail");
	p[6] = '9';
	p = strstr(signed_msg, "To: r399@");
	p[5] = '8';
	verdicts(signed_msg, len, len, got, sizeof(got));
	assert_string_equal(got, "fail");
	free(signed_msg);
	free(msg);
	/* Instances are taken from the bottom up (RFC 6376 5.4.2): two To fields swapped fail; a
	 * field of a name the signature over-signed, added above, fails; one added below (where a
	 * verifier looks first) too; the name's case and the obsolete "Name :" form do not matter. */
	static const char two[] = "From: joe@football.example.com\r\nTo: a@x.example\r\nTo: b@x.example\r\n\r\nHi.\r\n";
	signed_msg = sign_rfc_key(two);
	len = strlen(signed_msg);
	verdicts(signed_msg, len, len, got, sizeof(got));
	assert_string_equal(got, "pass");
	char *sw = strdup(signed_msg), *t1 = strstr(sw, "To: a@"), *t2 = strstr(sw, "To: b@");
	assert_non_null(sw);
	t1[4] = 'b';
	t2[4] = 'a';
	verdicts(sw, len, len, got, sizeof(got));
	assert_string_equal(got, "fail");
	free(sw);
	char *re = malloc(len + 64);
	assert_non_null(re);
	const char *from = strstr(signed_msg, "From: joe");
	snprintf(re, len + 64, "%.*sfROM :joe@football.example.com\r\n%s", (int)(from - signed_msg), signed_msg,
	         strstr(from, "\r\n") + 2);
	verdicts(re, strlen(re), 7, got, sizeof(got));
	assert_string_equal(got, "pass");
	snprintf(re, len + 64, "%.*sFrom: eve@football.example.com\r\n%s", (int)(from - signed_msg), signed_msg, from);
	verdicts(re, strlen(re), strlen(re), got, sizeof(got));
	assert_string_equal(got, "fail");
	snprintf(re, len + 64, "%.*sFrom: eve@football.example.com\r\n%s", (int)(strstr(signed_msg, "\r\n\r\n") + 2 -
	         signed_msg), signed_msg, strstr(signed_msg, "\r\n\r\n") + 2);
	verdicts(re, strlen(re), strlen(re), got, sizeof(got));
	assert_string_equal(got, "fail");
	free(re);
	free(signed_msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_canonicalisation),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_rfc8463_vectors),
		cmocka_unit_test(test_long_fields_and_tags),
	};
	return cmocka_run_group_tests_name("dkim", tests, NULL, NULL);
}
