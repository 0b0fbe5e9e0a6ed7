/*
 * test_auth.c - the AUTH failure throttle as `mailport auth` sees it: a lockout's end, the
 * last user a client tried, forgiving by client or by user; and the words a lockout is said
 * in (duration_words).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "util/duration.h"

struct seen {
	char lines[8][200];
	int n;
};

static void collect(void *arg, const char *key, unsigned failures, long long until, const char *user)
{
	struct seen *s = arg;

	if (s->n < 8)
		snprintf(s->lines[s->n++], sizeof(s->lines[0]), "%s %u %lld %s", key, failures, until, user);
}

static void test_lockout_end_user_and_forgiveness(void **state)
{
	struct throttle *t = throttle_new(3, 600);
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(throttle_failure(t, "192.0.2.1", "Alice@Example.org", 1000), 0);
	assert_int_equal(throttle_failure(t, "192.0.2.1", "alice@example.org", 1001), 0);
	assert_int_equal(throttle_locked_until(t, "192.0.2.1", 1002), 0);
	/* The third within the window starts a lockout, and says until when. */
	assert_int_equal(throttle_failure(t, "192.0.2.1", "alice@example.org", 1002), 1602);
	assert_int_equal(throttle_locked_until(t, "192.0.2.1", 1100), 1602);
	/* Further failures while locked do not start (or log) another one. */
	assert_int_equal(throttle_failure(t, "192.0.2.1", "alice@example.org", 1200), 0);
	assert_int_equal(throttle_failure(t, "2001:db8::/64", "bob@example.org", 1200), 0);
	throttle_each(t, 1300, collect, &s);
	assert_int_equal(s.n, 2);
	assert_true(strcmp(s.lines[0], "192.0.2.1 4 1602 alice@example.org") == 0 ||
	            strcmp(s.lines[1], "192.0.2.1 4 1602 alice@example.org") == 0);
	assert_true(strcmp(s.lines[0], "2001:db8::/64 1 0 bob@example.org") == 0 ||
	            strcmp(s.lines[1], "2001:db8::/64 1 0 bob@example.org") == 0);
	/* By user (any case), then by client key; an unknown one is nothing to forgive. */
	assert_int_equal(throttle_forgive(t, "ALICE@example.org"), 1);
	assert_int_equal(throttle_locked_until(t, "192.0.2.1", 1300), 0);
	assert_int_equal(throttle_forgive(t, "alice@example.org"), 0);
	assert_int_equal(throttle_forgive(t, "2001:db8::/64"), 1);
	assert_int_equal(throttle_forgive(t, "198.51.100.7"), 0);
	s.n = 0;
	throttle_each(t, 1300, collect, &s);
	assert_int_equal(s.n, 0);
	/* Expired entries are not listed. */
	throttle_failure(t, "192.0.2.9", "carol@example.org", 1000);
	s.n = 0;
	throttle_each(t, 5000, collect, &s);
	assert_int_equal(s.n, 0);
	throttle_free(t);
}

static void test_duration_words(void **state)
{
	static const struct { long long s; const char *want; } cases[] = {
		{ 0, "0 seconds" }, { 1, "1 second" }, { 45, "45 seconds" }, { 60, "1 minute" }, { 599, "10 minutes" },
		{ 600, "10 minutes" }, { 3599, "1 hour" }, { 5400, "90 minutes" }, { 4000, "67 minutes" },
		{ 129600, "36 hours" }, { 86400, "1 day" },
		{ 5 * 86400, "5 days" }, { 5 * 86400 - 30, "5 days" }, { -5, "0 seconds" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		duration_words(cases[i].s, buf, sizeof(buf));
		if (strcmp(buf, cases[i].want) != 0)
			fail_msg("%lld s: \"%s\", want \"%s\"", cases[i].s, buf, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lockout_end_user_and_forgiveness),
		cmocka_unit_test(test_duration_words),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
