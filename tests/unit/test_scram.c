/* test_scram.c - SCRAM-SHA-256's server side against RFC 7677 section 3's exchange (user "user",
 * password "pencil"): the same server-first, the proof accepted, the same server signature;
 * a wrong proof refused, a changed nonce or channel-binding header refused, the stored form
 * round trip, malformed first messages. msmtp (GNU SASL) logs in with it in tests_scram.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "auth/scram.h"
#include "util/base64.h"

static const char CFIRST[] = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
static const char SFIRST[] = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char CFINAL[] = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                             "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char SFINAL[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

static void start(struct scram_server *s, struct scram_creds *c)
{
	unsigned char salt[32];
	char user[64], why[100], out[SCRAM_MSG_MAX];
	long sl = base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt);

	assert_int_equal(scram_creds_derive("pencil", salt, (size_t)sl, 4096, c), 0);
	assert_int_equal(scram_server_first(s, CFIRST, strlen(CFIRST), user, sizeof(user), why, sizeof(why)), 0);
	assert_string_equal(user, "user");
	assert_int_equal(scram_server_challenge_nonce(s, c, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", out, sizeof(out)), 0);
	assert_string_equal(out, SFIRST);
}

static void test_rfc7677_exchange(void **state)
{
	struct scram_server s;
	struct scram_creds c, back;
	char out[SCRAM_MSG_MAX], why[100], text[300];

	(void)state;
	start(&s, &c);
	assert_int_equal(scram_server_final(&s, CFINAL, strlen(CFINAL), out, sizeof(out), why, sizeof(why)), 1);
	assert_string_equal(out, SFINAL);
	/* a proof with one bit changed */
	start(&s, &c);
	char bad[sizeof(CFINAL)];
	memcpy(bad, CFINAL, sizeof(CFINAL));
	bad[strlen(bad) - 5] ^= 1;
	assert_int_equal(scram_server_final(&s, bad, strlen(bad), out, sizeof(out), why, sizeof(why)), 0);
	/* another nonce, another gs2 header */
	start(&s, &c);
	memcpy(bad, CFINAL, sizeof(CFINAL));
	bad[12] = 'X';
	assert_int_equal(scram_server_final(&s, bad, strlen(bad), out, sizeof(out), why, sizeof(why)), -1);
	start(&s, &c);
	const char *ycb = "c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	assert_int_equal(scram_server_final(&s, ycb, strlen(ycb), out, sizeof(out), why, sizeof(why)), -1);
	/* stored form */
	assert_int_equal(scram_creds_format(&c, text, sizeof(text)), 0);
	assert_int_equal(scram_creds_parse(text, &back), 0);
	assert_memory_equal(&back, &c, sizeof(c));
	assert_int_equal(scram_creds_parse("100,AAAA,AAAA,AAAA", &back), -1);
	assert_int_equal(scram_creds_parse("4096,W22ZaJ0SNY7soEsUEjb6gQ==,short", &back), -1);
}

/* The client's side of the same exchange: the same final message, and the server's proof. */
static void test_rfc7677_client(void **state)
{
	struct scram_client c;
	char out[SCRAM_MSG_MAX], why[100];

	(void)state;
	assert_int_equal(scram_client_first(&c, "user", "rOprNGfwEbeRWgbNEkqO", out, sizeof(out)), 0);
	assert_string_equal(out, CFIRST);
	assert_int_equal(scram_client_final(&c, "pencil", SFIRST, strlen(SFIRST), out, sizeof(out), why, sizeof(why)), 0);
	assert_string_equal(out, CFINAL);
	assert_int_equal(scram_client_verify(&c, SFINAL, strlen(SFINAL)), 0);
	assert_int_equal(scram_client_verify(&c, "v=AAAA", 6), -1);
	/* a nonce that is not ours, too few iterations */
	assert_int_equal(scram_client_first(&c, "user", "abc", out, sizeof(out)), 0);
	assert_int_equal(scram_client_final(&c, "pencil", SFIRST, strlen(SFIRST), out, sizeof(out), why, sizeof(why)), -1);
	assert_int_equal(scram_client_first(&c, "user", "rOprNGfwEbeRWgbNEkqO", out, sizeof(out)), 0);
	const char *few = "r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1";
	assert_int_equal(scram_client_final(&c, "pencil", few, strlen(few), out, sizeof(out), why, sizeof(why)), -1);
	assert_non_null(strstr(why, "iterations"));
}

static void test_malformed_first(void **state)
{
	struct scram_server s;
	char user[64], why[100];
	static const char *const bad[] = {
		"", "n,,", "n,,r=abc", "n,,n=user", "n,,n=us,er,r=abc", "n,,n=a=3Xb,r=abc", "p=tls-unique,,n=user,r=abc",
		"x,,n=user,r=abc", "n,,n=,r=abc", "n,,n=user,r=",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(scram_server_first(&s, bad[i], strlen(bad[i]), user, sizeof(user), why, sizeof(why)), -1);
	assert_int_equal(scram_server_first(&s, "n,,n=a=2Cb=3Dc,r=xyz", 20, user, sizeof(user), why, sizeof(why)), 0);
	assert_string_equal(user, "a,b=c");
	assert_int_equal(scram_server_first(&s, "y,a=alice@example.org,n=alice@example.org,r=xyz", 47, user, sizeof(user),
	                                    why, sizeof(why)), 0);
	/* an authzid other than the user: refused, as PLAIN's is */
	assert_int_equal(scram_server_first(&s, "n,a=bob@example.org,n=alice@example.org,r=xyz", 45, user, sizeof(user),
	                                    why, sizeof(why)), -1);
	assert_non_null(strstr(why, "acting for another user"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_exchange),
		cmocka_unit_test(test_rfc7677_client),
		cmocka_unit_test(test_malformed_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
