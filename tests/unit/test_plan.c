/* test_plan.c - a domain's plan (route/plan.h) against a made-up DNS (fakedns.h): the hosts in
 * preference order, each with the TLS it requires, whether a failed handshake may go on in
 * plaintext, and why a host is not to be used; what a failed MX lookup or an MTA-STS policy
 * that cannot be had leaves. No DNSSEC here: DANE itself is the integration suite's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakedns.h"
#include "route/mtasts.h"
#include "route/mx.h"
#include "route/plan.h"
#include "route/tlspolicy.h"

static const struct fakedns_rr zone[] = {
	{ "two.test", FAKEDNS_MX, "20 mx2.two.test" },
	{ "two.test", FAKEDNS_MX, "10 mx1.two.test" },
	{ "mx1.two.test", FAKEDNS_A, "192.0.2.1" },
	{ "mx2.two.test", FAKEDNS_A, "192.0.2.2" },
	{ "mx2.two.test", FAKEDNS_AAAA, "2001:db8::2" },
	{ "_mta-sts.two.test", FAKEDNS_TXT, "v=spf1 -all" },   /* a TXT record, not a policy */
	{ "one.test", FAKEDNS_A, "192.0.2.3" },                 /* no MX: the implicit MX */
	{ "null.test", FAKEDNS_MX, "0 ." },
	{ "lost.test", FAKEDNS_MX, "10 gone.lost.test" },
	{ "broken.test", FAKEDNS_SERVFAIL, "" },
	{ "sts.test", FAKEDNS_MX, "10 mx.sts.test" },
	{ "mx.sts.test", FAKEDNS_A, "192.0.2.4" },
	{ "_mta-sts.sts.test", FAKEDNS_TXT, "v=STSv1; id=20240101" },   /* announced, not to be had */
	{ NULL, 0, NULL },
};

static char resolver[64];

static int setup(void **state)
{
	(void)state;
	fakedns_table = zone;
	return fakedns_start(resolver, sizeof(resolver));
}

static int teardown(void **state)
{
	(void)state;
	fakedns_stop();
	return 0;
}

static struct tlspolicy *policy(const char *mx_policy)
{
	struct tlspolicy_conf tc = { .resolver = resolver, .mx_policy = mx_policy, .timeout_ms = 5000 };
	char err[300];
	struct tlspolicy *tp = tlspolicy_new(&tc, err, sizeof(err));

	assert_non_null(tp);
	return tp;
}

static struct route_plan *plan_of(const struct tlspolicy *tp, const char *domain, unsigned want)
{
	char err[600];
	struct route_plan *p = route_plan_new(tp, domain, want, err, sizeof(err));

	if (p == NULL)
		fail_msg("no plan for %s: %s", domain, err);
	return p;
}

/* The default (dane) without DNSSEC: every host opportunistic, in preference order, and only
 * that may go on in plaintext after a failed handshake. */
static void test_hosts_in_order_opportunistic(void **state)
{
	struct tlspolicy *tp = policy(NULL);
	struct route_plan *p = plan_of(tp, "two.test", 0);
	const char *why;

	(void)state;
	assert_int_equal(route_plan_mx(p, &why), MX_OK);
	assert_string_equal(why, "");
	assert_int_equal(route_plan_dnssec(p, &why), 0);
	assert_true(why[0] != '\0');
	assert_int_equal(route_plan_sts(p, &why)->found, 0);
	assert_string_equal(why, "");
	assert_non_null(route_plan_dns(p));
	assert_int_equal(route_plan_nhops(p), 2);
	static const char *const names[] = { "mx1.two.test", "mx2.two.test" };
	for (size_t i = 0; i < 2; i++) {
		const struct route_hop *h = route_plan_hop(p, i);
		assert_non_null(h);
		assert_string_equal(h->mx->name, names[i]);
		assert_int_equal(h->status, 0);
		assert_int_equal(h->tls.level, TLS_LEVEL_MAY);
		assert_string_equal(h->tls.source, "opportunistic");
		assert_int_equal(h->plaintext_retry, 1);
		assert_int_equal(h->plaintext.level, TLS_LEVEL_NONE);
		assert_string_equal(h->why, "");
		assert_string_equal(h->dane, "");
		assert_ptr_equal(route_plan_hop(p, i), h);      /* decided once */
	}
	assert_int_equal(route_plan_hop(p, 1)->mx->naddrs, 2);
	assert_null(route_plan_hop(p, 2));
	route_plan_free(p);
	route_plan_free(NULL);
	tlspolicy_free(tp);
}

/* [relay] tls_policy per domain: encrypt never falls back; dane-only without DANE makes the
 * host unusable, in words; REQUIRETLS finds nothing that authenticates the hosts. */
static void test_levels_and_unusable_hosts(void **state)
{
	struct tlspolicy *tp = policy("may two.test:encrypt one.test:dane-only");
	struct route_plan *p = plan_of(tp, "two.test", 0);
	const struct route_hop *h;

	(void)state;
	assert_int_equal(route_plan_nhops(p), 2);
	h = route_plan_hop(p, 0);
	assert_int_equal(h->status, 0);
	assert_int_equal(h->tls.level, TLS_LEVEL_ENCRYPT);
	assert_string_equal(h->tls.source, "policy");
	assert_int_equal(h->plaintext_retry, 0);
	route_plan_free(p);

	p = plan_of(tp, "one.test", 0);
	assert_int_equal(route_plan_nhops(p), 1);
	h = route_plan_hop(p, 0);
	assert_string_equal(h->mx->name, "one.test");
	assert_int_equal(h->status, -1);
	assert_non_null(strstr(h->why, "dane-only"));
	route_plan_free(p);

	p = plan_of(tp, "two.test", TLSPOLICY_REQUIRETLS);
	for (size_t i = 0; i < route_plan_nhops(p); i++) {
		h = route_plan_hop(p, i);
		assert_int_equal(h->status, TLSPOLICY_EREQUIRETLS);
		assert_non_null(strstr(h->why, "REQUIRETLS"));
	}
	route_plan_free(p);
	tlspolicy_free(tp);
}

/* A failed MX lookup still gives a plan, without hosts, saying how it failed. */
static void test_mx_failures(void **state)
{
	static const struct { const char *domain; int status; const char *words; } cases[] = {
		{ "nowhere.test", MX_NXDOMAIN, "does not exist" },
		{ "null.test", MX_NULL, "null MX" },
		{ "lost.test", MX_NOHOST, "has an address" },
		{ "broken.test", MX_TEMP, "" },
	};
	struct tlspolicy *tp = policy(NULL);
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route_plan *p = plan_of(tp, cases[i].domain, 0);
		assert_int_equal(route_plan_mx(p, &why), cases[i].status);
		assert_true(why[0] != '\0');
		assert_non_null(strstr(why, cases[i].words));
		assert_int_equal(route_plan_nhops(p), 0);
		assert_null(route_plan_hop(p, 0));
		assert_int_equal(route_plan_sts(p, &why)->found, 0);
		assert_string_equal(why, "");
		route_plan_free(p);
	}
	tlspolicy_free(tp);
}

/* An MTA-STS policy announced but not to be had counts as none (RFC 8461 5.1), and says why;
 * "TLS-Required: No" does not even ask. */
static void test_sts_not_to_be_had(void **state)
{
	struct tlspolicy *tp = policy(NULL);
	struct route_plan *p = plan_of(tp, "sts.test", 0);
	const char *why;

	(void)state;
	assert_int_equal(route_plan_mx(p, &why), MX_OK);
	assert_int_equal(route_plan_sts(p, &why)->found, 0);
	assert_non_null(strstr(why, "announced (id 20240101) but not fetched"));
	assert_int_equal(route_plan_hop(p, 0)->tls.level, TLS_LEVEL_MAY);
	route_plan_free(p);
	p = plan_of(tp, "sts.test", TLSPOLICY_TLS_OPTIONAL);
	assert_int_equal(route_plan_sts(p, &why)->found, 0);
	assert_string_equal(why, "");
	route_plan_free(p);
	tlspolicy_free(tp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hosts_in_order_opportunistic),
		cmocka_unit_test(test_levels_and_unusable_hosts),
		cmocka_unit_test(test_mx_failures),
		cmocka_unit_test(test_sts_not_to_be_had),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
