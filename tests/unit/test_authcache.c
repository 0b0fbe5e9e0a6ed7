/*
 * test_authcache.c - the verified-credential cache: only what was put is a hit, only for its
 * TTL, keys differ for every change of authzid, user or password (including where the NULs
 * fall), and two caches (a reload) never share entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "auth/authcache.h"

static void test_hit_miss_and_expiry(void **state)
{
	struct authcache *c = authcache_new(60), *other = authcache_new(60);
	unsigned char k[AUTHCACHE_KEY], k2[AUTHCACHE_KEY];

	(void)state;
	assert_non_null(c);
	authcache_key(c, "", "alice@example.org", "secret", k);
	assert_false(authcache_hit(c, k, 1000));
	authcache_put(c, k, 1000);
	assert_true(authcache_hit(c, k, 1000));
	assert_true(authcache_hit(c, k, 1059));
	assert_false(authcache_hit(c, k, 1060));       /* the TTL is over */
	authcache_key(c, "", "alice@example.org", "Secret", k2);
	assert_memory_not_equal(k, k2, AUTHCACHE_KEY);
	assert_false(authcache_hit(c, k2, 1000));
	/* ("ab", "c") is not ("a", "bc"). */
	authcache_key(c, "", "ab", "c", k);
	authcache_key(c, "", "a", "bc", k2);
	assert_memory_not_equal(k, k2, AUTHCACHE_KEY);
	authcache_key(c, "x", "a", "b", k);
	authcache_key(c, "", "xa", "b", k2);
	assert_memory_not_equal(k, k2, AUTHCACHE_KEY);
	/* Another cache (after a reload) has another secret: nothing carries over. */
	authcache_key(c, "", "alice@example.org", "secret", k);
	authcache_put(c, k, 1000);
	authcache_key(other, "", "alice@example.org", "secret", k2);
	assert_memory_not_equal(k, k2, AUTHCACHE_KEY);
	assert_false(authcache_hit(other, k2, 1000));
	/* No cache (it could not be made): never a hit. */
	authcache_key(NULL, "", "alice@example.org", "secret", k);
	assert_false(authcache_hit(NULL, k, 1000));
	authcache_free(c);
	authcache_free(other);
	authcache_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_hit_miss_and_expiry) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
