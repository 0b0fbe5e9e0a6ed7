/* test_scram.c - SCRAM-SHA-256's server side against RFC 7677 section 3's exchange (user "user",
 * password "pencil"): the same server-first, the proof accepted, the same server signature;
 * a wrong proof refused, a changed nonce or channel-binding header refused, the stored form
 * round trip, malformed first messages; channel binding (tls-exporter, RFC 9266) between our
 * client and server, with another connection's binding refused, and the downgrade rules of RFC
 * 5802 section 6. msmtp and gsasl (GNU SASL) log in with it in tests_scram.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "sasl/scram.h"
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
	assert_int_equal(scram_server_first(s, 0, NULL, CFIRST, strlen(CFIRST), user, sizeof(user), why, sizeof(why)), 0);
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
	assert_int_equal(scram_client_first(&c, "user", "rOprNGfwEbeRWgbNEkqO", SCRAM_BIND_NONE, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, CFIRST);
	assert_int_equal(scram_client_final(&c, "pencil", SFIRST, strlen(SFIRST), out, sizeof(out), why, sizeof(why)), 0);
	assert_string_equal(out, CFINAL);
	assert_int_equal(scram_client_verify(&c, SFINAL, strlen(SFINAL)), 0);
	assert_int_equal(scram_client_verify(&c, "v=AAAA", 6), -1);
	/* a nonce that is not ours, too few iterations */
	assert_int_equal(scram_client_first(&c, "user", "abc", SCRAM_BIND_NONE, NULL, out, sizeof(out)), 0);
	assert_int_equal(scram_client_final(&c, "pencil", SFIRST, strlen(SFIRST), out, sizeof(out), why, sizeof(why)), -1);
	assert_int_equal(scram_client_first(&c, "user", "rOprNGfwEbeRWgbNEkqO", SCRAM_BIND_NONE, NULL, out, sizeof(out)), 0);
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
		"x,,n=user,r=abc", "n,,n=,r=abc", "n,,n=user,r=", "n,a=x\r\n250 x,n=user,r=abc", "n,,n=us\ter,r=a",
		"p=tls\r\nexporter,,n=u,r=a",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(scram_server_first(&s, 0, NULL, bad[i], strlen(bad[i]), user, sizeof(user), why, sizeof(why)), -1);
	assert_int_equal(scram_server_first(&s, 0, NULL, "n,,n=a=2Cb=3Dc,r=xyz", 20, user, sizeof(user), why, sizeof(why)), 0);
	assert_string_equal(user, "a,b=c");
	assert_int_equal(scram_server_first(&s, 0, NULL, "y,a=alice@example.org,n=alice@example.org,r=xyz", 47, user, sizeof(user),
	                                    why, sizeof(why)), 0);
	/* an authzid other than the user: refused, as PLAIN's is */
	assert_int_equal(scram_server_first(&s, 0, NULL, "n,a=bob@example.org,n=alice@example.org,r=xyz", 45, user, sizeof(user),
	                                    why, sizeof(why)), -1);
	assert_non_null(strstr(why, "acting for another user"));
}

/* Our client and server with a binding: the same one logs in; a man in the middle's (another
 * TLS connection, another binding) is refused even with the right password. */
static int bound_exchange(const unsigned char *client_cb, const unsigned char *server_cb, enum scram_bind bind, int plus)
{
	struct scram_server s;
	struct scram_client c;
	struct scram_creds cr;
	char m1[SCRAM_MSG_MAX], m2[SCRAM_MSG_MAX], m3[SCRAM_MSG_MAX], m4[SCRAM_MSG_MAX], user[64], why[160];

	assert_int_equal(scram_creds_make("pencil", 4096, &cr), 0);
	assert_int_equal(scram_client_first(&c, "user", "clientnonce", bind, client_cb, m1, sizeof(m1)), 0);
	if (scram_server_first(&s, plus, server_cb, m1, strlen(m1), user, sizeof(user), why, sizeof(why)) < 0)
		return -2;
	assert_int_equal(scram_server_challenge(&s, &cr, m2, sizeof(m2)), 0);
	assert_int_equal(scram_client_final(&c, "pencil", m2, strlen(m2), m3, sizeof(m3), why, sizeof(why)), 0);
	int r = scram_server_final(&s, m3, strlen(m3), m4, sizeof(m4), why, sizeof(why));
	if (r == 1)
		assert_int_equal(scram_client_verify(&c, m4, strlen(m4)), 0);
	return r;
}

static void test_channel_binding(void **state)
{
	unsigned char a[SCRAM_CB_LEN], b[SCRAM_CB_LEN];
	struct scram_server s;
	char user[64], why[160];

	(void)state;
	memset(a, 0xa5, sizeof(a));
	memset(b, 0x5a, sizeof(b));
	assert_int_equal(bound_exchange(a, a, SCRAM_BIND_USE, 1), 1);
	assert_int_equal(bound_exchange(a, b, SCRAM_BIND_USE, 1), -1);          /* a man in the middle */
	assert_int_equal(bound_exchange(NULL, a, SCRAM_BIND_NONE, 0), 1);       /* "n": no binding here */
	assert_int_equal(bound_exchange(a, NULL, SCRAM_BIND_CAN, 0), 1);        /* "y", server without -PLUS */
	assert_int_equal(bound_exchange(a, a, SCRAM_BIND_CAN, 0), -2);          /* "y" while we offer -PLUS */
	assert_int_equal(bound_exchange(NULL, a, SCRAM_BIND_NONE, 1), -2);      /* -PLUS without binding */
	assert_int_equal(scram_server_first(&s, 0, a, "p=tls-exporter,,n=u,r=x", 23, user, sizeof(user), why,
	                                    sizeof(why)), -1);                  /* "p" needs -PLUS */
	assert_int_equal(scram_server_first(&s, 1, a, "p=tls-unique,,n=u,r=x", 21, user, sizeof(user), why, sizeof(why)),
	                 -1);
	assert_non_null(strstr(why, "tls-unique is not supported"));
	assert_int_equal(scram_server_first(&s, 1, a, "p=tls-exporter,a=u,n=u,r=x", 26, user, sizeof(user), why,
	                                    sizeof(why)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677_exchange),
		cmocka_unit_test(test_rfc7677_client),
		cmocka_unit_test(test_malformed_first),
		cmocka_unit_test(test_channel_binding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
