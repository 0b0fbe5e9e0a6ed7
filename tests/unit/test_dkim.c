/* test_dkim.c - DKIM signing's own rules (msg/dkim.h): relaxed body canonicalisation as the body
 * hash shows it (RFC 6376 3.4.5's example, the empty body), the same hash in any chunking, the
 * header list, the From: domain, and the key checks. The signatures themselves are judged by
 * python3-dkim in tests/integration/tests_dkim.py. */
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

#include "msg/dkim.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_canonicalisation),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_from_domain),
	};
	return cmocka_run_group_tests_name("dkim", tests, NULL, NULL);
}
