/* test_pwquality.c - the password rules (auth/pwquality.h) one by one: the order they are told
 * in (a common password before its length), UTF-8 counted as characters, the parts of the
 * address, and the estimate's threshold. `mailport passwd` and python3-zxcvbn judge the same
 * rules in tests/integration/tests_passwords.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "auth/pwquality.h"

static void refused(const char *pw, const char *user, const char *words)
{
	char why[400];

	if (pwquality_check(pw, user, why, sizeof(why), NULL) == 0)
		fail_msg("\"%s\" was accepted", pw);
	if (strstr(why, words) == NULL)
		fail_msg("\"%s\": \"%s\" does not say \"%s\"", pw, why, words);
}

static void test_rules(void **state)
{
	char why[400];
	double bits;

	(void)state;
	refused("123456", NULL, "most common passwords");          /* common first, not "6 characters" */
	refused("Xk9#mQ2!", NULL, "it has 8 characters; at least 12");
	/* characters, not octets: twelve umlauts are 24 octets but only 12 characters */
	refused("\xc3\xa4\xc3\xb6\xc3\xbc\xc3\xa4\xc3\xb6\xc3\xbc\xc3\xa4\xc3\xb6\xc3\xbc\xc3\xa4\xc3\xb6", NULL,
	        "it has 11 characters");
	refused("zebra-Alice-lantern-91", "alice@example.org", "contains \"alice\"");
	refused("my example mail 2026!", "bob@example.org", "contains \"example\"");
	refused("zxcvfdsaqwer", NULL, "keyboard pattern");
	refused("abcdefghijklmnop", NULL, "sequence");
	assert_int_equal(pwquality_check("correct horse battery staple", "alice@example.org", why, sizeof(why), &bits), 0);
	assert_true(bits >= PWQ_MIN_BITS);
	/* "org" is too short a label to refuse; "bob" too short a local part */
	assert_int_equal(pwquality_check("org bob quartz lantern 47 meadow", "bob@example.org", why, sizeof(why), NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_rules) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
