/*
 * test_dovecot.c - the lines of Dovecot's auth-client protocol (auth/dovecot.c) and the LMTP
 * address forms (deliver/lmtp.c). The exchanges themselves run against a real Dovecot in
 * tests/integration/tests_dovecot.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "auth/dovecot.h"
#include "deliver/lmtp.h"

static void test_auth_line(void **state)
{
	struct dovecot_login l = { "", "alice@example.test", "pw", "192.0.2.1", 1 };
	char out[600];
	size_t n;

	(void)state;
	n = dovecot_auth_line(7, &l, out, sizeof(out));
	/* base64("\0alice@example.test\0pw") */
	assert_string_equal(out, "AUTH\t7\tPLAIN\tservice=smtp\tnologin\tsecured\trip=192.0.2.1\t"
	                         "resp=AGFsaWNlQGV4YW1wbGUudGVzdABwdw==\n");
	assert_int_equal(n, strlen(out));
	l.client_ip = "1.2.3.4\tuser=root";                  /* never a field of its own */
	assert_int_equal(dovecot_auth_line(7, &l, out, sizeof(out)), 0);
	l.client_ip = NULL;
	l.secured = 0;
	dovecot_auth_line(8, &l, out, sizeof(out));
	assert_non_null(strstr(out, "\tnologin\tresp="));
	assert_int_equal(dovecot_auth_line(8, &l, out, 20), 0);  /* does not fit */
}

static void test_auth_reply(void **state)
{
	(void)state;
	assert_int_equal(dovecot_auth_reply(1, "OK\t1\tuser=alice@example.test"), DOVECOT_OK);
	assert_int_equal(dovecot_auth_reply(1, "OK\t1"), DOVECOT_OK);
	assert_int_equal(dovecot_auth_reply(1, "FAIL\t1\tuser=alice@example.test"), DOVECOT_FAIL);
	assert_int_equal(dovecot_auth_reply(1, "FAIL\t1\ttemp"), DOVECOT_TEMPFAIL);
	assert_int_equal(dovecot_auth_reply(1, "FAIL\t1\tuser=x\ttemp\treason=db down"), DOVECOT_TEMPFAIL);
	assert_int_equal(dovecot_auth_reply(1, "FAIL\t1\tuser=temp"), DOVECOT_FAIL);
	assert_int_equal(dovecot_auth_reply(1, "OK\t12\tuser=x"), DOVECOT_TEMPFAIL);  /* not our id */
	assert_int_equal(dovecot_auth_reply(1, "CONT\t1\t"), DOVECOT_TEMPFAIL);
	assert_int_equal(dovecot_auth_reply(1, "SPID\t1234"), 1);
	assert_int_equal(dovecot_auth_reply(1, "DONE"), 1);
}

static void test_lmtp_where(void **state)
{
	char w[256];
	const char *why;

	(void)state;
	assert_int_equal(lmtp_parse("unix:/run/dovecot/lmtp", w, sizeof(w), &why), 0);
	assert_string_equal(w, "/run/dovecot/lmtp");
	assert_int_equal(lmtp_parse("inet:127.0.0.1:24", w, sizeof(w), &why), 0);
	assert_string_equal(w, "127.0.0.1:24");
	assert_int_equal(lmtp_parse("[::1]:24", w, sizeof(w), &why), 0);
	assert_int_equal(lmtp_parse("unix:run/lmtp", w, sizeof(w), &why), -1);
	assert_int_equal(lmtp_parse("localhost", w, sizeof(w), &why), -1);
	assert_int_equal(lmtp_parse("localhost:0", w, sizeof(w), &why), -1);
	assert_int_equal(lmtp_parse("localhost:99999", w, sizeof(w), &why), -1);
	assert_int_equal(lmtp_parse(":24", w, sizeof(w), &why), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_line),
		cmocka_unit_test(test_auth_reply),
		cmocka_unit_test(test_lmtp_where),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
