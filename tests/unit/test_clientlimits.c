/*
 * test_anvil.c - per-client connection limits (server/clientlimits.c), the bounded table under them
 * (util/hashtab.c) and the exemption lists (util/netmatch.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "server/clientlimits.h"
#include "util/hashtab.h"
#include "util/log.h"
#include "util/netmatch.h"
#include "util/windowcount.h"
#include "util/endpoint.h"

static void test_concurrency_limit(void **state)
{
	struct clientlimits *a = clientlimits_new(3, 0);
	int counted;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(clientlimits_connect(a, "192.0.2.1", 1000, &counted), CLIENTLIMITS_OK);
		assert_true(counted);
	}
	assert_int_equal(clientlimits_connect(a, "192.0.2.1", 1000, &counted), CLIENTLIMITS_TOO_MANY);
	assert_false(counted);
	assert_int_equal(clientlimits_connect(a, "192.0.2.2", 1000, &counted), CLIENTLIMITS_OK);    /* another client */
	clientlimits_disconnect(a, "192.0.2.1");
	assert_int_equal(clientlimits_connect(a, "192.0.2.1", 1000, &counted), CLIENTLIMITS_OK);
	clientlimits_free(a);
}

static void test_rate_limit_per_minute(void **state)
{
	struct clientlimits *a = clientlimits_new(0, 5);
	int counted;

	(void)state;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(clientlimits_connect(a, "2001:db8::/64", 1000 + i, &counted), CLIENTLIMITS_OK);
		clientlimits_disconnect(a, "2001:db8::/64");
	}
	assert_int_equal(clientlimits_connect(a, "2001:db8::/64", 1010, &counted), CLIENTLIMITS_TOO_FAST);
	/* a refused attempt does not count against the next minute */
	assert_int_equal(clientlimits_connect(a, "2001:db8::/64", 1060, &counted), CLIENTLIMITS_OK);
	clientlimits_free(a);
}

static void test_limits_off_and_reconfigured(void **state)
{
	struct clientlimits *a = clientlimits_new(0, 0);
	int counted = 1;

	(void)state;
	for (int i = 0; i < 100; i++)
		assert_int_equal(clientlimits_connect(a, "198.51.100.9", 1000, &counted), CLIENTLIMITS_OK);
	assert_false(counted);                          /* nothing tracked, nothing to undo */
	assert_int_equal(clientlimits_size(a), 0);
	clientlimits_configure(a, 1, 0);
	assert_int_equal(clientlimits_connect(a, "198.51.100.9", 1000, &counted), CLIENTLIMITS_OK);
	assert_int_equal(clientlimits_connect(a, "198.51.100.9", 1000, &counted), CLIENTLIMITS_TOO_MANY);
	clientlimits_free(a);
}

static int always_idle(const void *rec, void *arg)
{
	(void)rec;
	(void)arg;
	return 1;
}

static int never_idle(const void *rec, void *arg)
{
	(void)rec;
	(void)arg;
	return 0;
}

static void test_keytab_is_bounded(void **state)
{
	struct hashtab *t = hashtab_new(sizeof(long long), 4, "test");
	char key[32];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		long long *v = hashtab_add(t, key, never_idle, NULL);
		assert_non_null(v);
		assert_int_equal(*v, 0);
		*v = i;
	}
	assert_null(hashtab_add(t, "k4", never_idle, NULL));           /* full, nothing idle */
	assert_int_equal(*(long long *)hashtab_get(t, "k2"), 2);
	assert_non_null(hashtab_add(t, "k4", always_idle, NULL));      /* the idle ones make room */
	assert_int_equal(hashtab_count(t), 1);
	hashtab_del(t, "k4");
	assert_null(hashtab_get(t, "k4"));
	assert_int_equal(hashtab_count(t), 0);
	hashtab_free(t);
}

static void test_anvil_table_full_lets_clients_through(void **state)
{
	struct clientlimits *a = clientlimits_new(1, 0);
	char key[32];
	int counted;

	(void)state;
	for (int i = 0; i < CLIENTLIMITS_MAX_KEYS; i++) {
		snprintf(key, sizeof(key), "10.%d.%d.1", i / 256, i % 256);
		assert_int_equal(clientlimits_connect(a, key, 1000, &counted), CLIENTLIMITS_OK);
	}
	/* Everyone holds a session: a new client is let in untracked rather than refused. */
	assert_int_equal(clientlimits_connect(a, "203.0.113.5", 1000, &counted), CLIENTLIMITS_OK);
	assert_false(counted);
	assert_int_equal(clientlimits_size(a), CLIENTLIMITS_MAX_KEYS);
	clientlimits_free(a);
}

static void test_netmatch(void **state)
{
	char err[200];
	struct netmatch *m = netmatch_parse("127.0.0.0/8, ::1 192.0.2.128/25\t2001:db8::/32", err, sizeof(err));

	(void)state;
	assert_non_null(m);
	assert_true(netmatch_match(m, "127.1.2.3"));
	assert_true(netmatch_match(m, "::1"));
	assert_true(netmatch_match(m, "::ffff:127.0.0.1"));            /* IPv4-mapped */
	assert_true(netmatch_match(m, "192.0.2.200"));
	assert_false(netmatch_match(m, "192.0.2.127"));
	assert_true(netmatch_match(m, "2001:db8:ffff::1"));
	assert_false(netmatch_match(m, "2001:db9::1"));
	assert_false(netmatch_match(m, "10.0.0.1"));
	assert_false(netmatch_match(m, "not an address"));
	netmatch_free(m);
	m = netmatch_parse("", err, sizeof(err));                     /* nothing exempt */
	assert_non_null(m);
	assert_false(netmatch_match(m, "127.0.0.1"));
	netmatch_free(m);
	assert_null(netmatch_parse("10.0.0.0/33", err, sizeof(err)));
	assert_non_null(strstr(err, "10.0.0.0/33"));
	assert_null(netmatch_parse("localhost", err, sizeof(err)));
	assert_null(netmatch_parse("10.0.0.0/", err, sizeof(err)));
	assert_true(netmatch_match(m = netmatch_parse("0.0.0.0/0", err, sizeof(err)), "8.8.8.8"));
	netmatch_free(m);
}

/* Messages per user in fixed windows: the limit, the window's end, keys told apart in any case
 * and at any length (the table keeps 63 octets of a key). */
static void test_wincount(void **state)
{
	struct windowcount *w = windowcount_new(16, "test");
	char longa[200], longb[200];
	unsigned left;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_true(windowcount_take(w, "alice@example.org", 3, 3600, 1000 + i, &left));
	assert_false(windowcount_take(w, "Alice@Example.ORG", 3, 3600, 1010, &left));
	assert_int_equal(left, 3590);
	assert_true(windowcount_take(w, "bob@example.org", 3, 3600, 1010, &left));
	assert_true(windowcount_take(w, "alice@example.org", 3, 3600, 4600, &left));     /* a new hour */
	memset(longa, 'a', sizeof(longa));
	memcpy(longb, longa, sizeof(longb));
	longa[199] = longb[199] = '\0';
	longb[150] = 'b';
	assert_true(windowcount_take(w, longa, 1, 60, 1000, &left));
	assert_false(windowcount_take(w, longa, 1, 60, 1001, &left));        /* found again, not a new entry */
	assert_true(windowcount_take(w, longb, 1, 60, 1001, &left));         /* differs past the kept octets */
	assert_true(windowcount_take(w, "x", 0, 60, 1001, &left));           /* no limit */
	windowcount_free(w);
}

static void test_where(void **state)
{
	static const struct { const char *in, *out; } good[] = {
		{ "127.0.0.1:6379", "127.0.0.1:6379" }, { "[::1]:6379", "[::1]:6379" }, { "unix:/run/redis.sock", "/run/redis.sock" },
		{ "/run/redis.sock", "/run/redis.sock" }, { "inet:redis.internal:6380", "redis.internal:6380" },
	};
	static const char *const bad[] = { "redis", "127.0.0.1:", "127.0.0.1:99999", "unix:run/x", "::1:6379", ":6379",
	                                   "host:port" };
	char where[300], host[64];
	const char *why;
	int port;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(endpoint_parse(good[i].in, where, sizeof(where), &why), 0);
		assert_string_equal(where, good[i].out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(endpoint_parse(bad[i], where, sizeof(where), &why), -1);
	assert_int_equal(endpoint_split("[::1]:6379", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 6379);
	assert_int_equal(endpoint_split("/run/redis.sock", host, sizeof(host), &port), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrency_limit),
		cmocka_unit_test(test_rate_limit_per_minute),
		cmocka_unit_test(test_limits_off_and_reconfigured),
		cmocka_unit_test(test_keytab_is_bounded),
		cmocka_unit_test(test_anvil_table_full_lets_clients_through),
		cmocka_unit_test(test_netmatch),
		cmocka_unit_test(test_wincount),
		cmocka_unit_test(test_where),
	};
	log_set_level(LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
