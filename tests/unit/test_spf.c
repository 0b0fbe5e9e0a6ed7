/* test_spf.c - RFC 7208's record grammar (4.5, 6, 7.1) as spf_record_syntax() and check_host()
 * judge it: one labelled table of records, each well-formed or not, with the section that says
 * so; then the terms whose evaluation the grammar alone does not settle (the %{p} macro, a
 * quoted local part, names holding octets a host name would not). The RFC's own suite runs
 * through port 25 in tests/integration/tests_spfsuite.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "msg/spf.h"
#include "dnstable.h"

static const struct {
	const char *record;
	int ok;
	const char *why;
} syntax[] = {
	{ "v=spf1", 1, "no terms at all (4.5)" },
	{ "v=spf1 -all  ", 1, "trailing spaces (4.5: record = version terms *SP)" },
	{ "v=spf1  a   mx", 1, "several spaces between terms (1*SP)" },
	{ "V=SPF1 A:Example.COM -ALL", 1, "ABNF strings are case-insensitive (RFC 5234 2.3)" },
	{ "v=spf1 a:foo-bar -all", 0, "domain-end: a name of one label (7.1)" },
	{ "v=spf1 a:example.com:8080", 0, "toplabel with a colon (7.1)" },
	{ "v=spf1 a:foo:bar/baz.example.com", 1, "':' and '/' are macro-literals inside a domain-spec" },
	{ "v=spf1 a:111.222.33.44", 0, "a numeric toplabel (7.1)" },
	{ "v=spf1 a:abc.123", 0, "a numeric toplabel (7.1)" },
	{ "v=spf1 a:example.-com", 0, "a toplabel starting with '-' (7.1)" },
	{ "v=spf1 a:museum", 0, "a toplabel alone, no '.' before it (7.1)" },
	{ "v=spf1 a:museum.", 0, "a trailing dot does not make one (7.1)" },
	{ "v=spf1 a:example.com.", 1, "a trailing dot after the toplabel ([ \".\" ])" },
	{ "v=spf1 a:123-4.example.12-3", 1, "a toplabel of digits with a hyphen (7.1 second form)" },
	{ "v=spf1 a:%{d}", 1, "domain-end may be a macro-expand" },
	{ "v=spf1 a:%{d}.", 0, "a macro then a bare dot: neither domain-end" },
	{ "v=spf1 a:%{ir}.example.com/24//64", 1, "macros, a toplabel and a dual CIDR length" },
	{ "v=spf1 a/24//64 mx//48", 1, "a and mx with only CIDR lengths" },
	{ "v=spf1 a/33", 0, "ip4-cidr-length over 32 (5.6)" },
	{ "v=spf1 mx//129", 0, "ip6-cidr-length over 128 (5.6)" },
	{ "v=spf1 a/024", 0, "a CIDR length with a leading zero (7.1)" },
	{ "v=spf1 a:", 0, "':' with no domain-spec" },
	{ "v=spf1 mx: -all", 0, "':' with no domain-spec" },
	{ "v=spf1 exists:mail.example.com/24", 0, "exists takes no CIDR length (5.7)" },
	{ "v=spf1 include:example.com/24", 0, "include takes no CIDR length (5.2)" },
	{ "v=spf1 ptr:example.com/24", 0, "ptr takes no CIDR length (5.5)" },
	{ "v=spf1 ptr", 1, "ptr without a domain" },
	{ "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all", 1, "networks" },
	{ "v=spf1 ip4:192.0.2.300", 0, "not an IPv4 address" },
	{ "v=spf1 ip4:192.0.2.1//24", 0, "ip4 has no dual CIDR length" },
	{ "v=spf1 ip6:2001:db8:://32", 0, "ip6 has no dual CIDR length" },
	{ "v=spf1 ip4:192.0.2.0/033", 0, "leading zero in an ip4-cidr-length" },
	{ "v=spf1 ip4", 0, "ip4 needs an address" },
	{ "v=spf1 allx", 0, "unknown mechanism (4.6)" },
	{ "v=spf1 -all:foo", 0, "all takes no argument (5.1)" },
	{ "v=spf1 redirect=-all ?all", 0, "redirect's domain-spec is not one (6.1)" },
	{ "v=spf1 exp=-all", 0, "exp's domain-spec is not one (6.2)" },
	{ "v=spf1 -all exp=%{r}.example.com", 0, "c, r and t only in explanation text (7.2)" },
	{ "v=spf1 -all exp=%{ir}.example.com", 1, "i in exp's domain-spec" },
	{ "v=spf1 -all foo=%abc", 0, "an unknown modifier's value must be a macro-string (6)" },
	{ "v=spf1 -all foo=%{c}bar moo=x", 1, "unknown modifiers are ignored when well-formed" },
	{ "v=spf1 -all 1foo=bar", 0, "a modifier name starts with a letter (6)" },
	{ "v=spf1 redirect=a.example redirect=b.example", 0, "two redirect= (6)" },
	{ "v=spf1 exp=a.example exp=b.example -all", 0, "two exp= (6)" },
	{ "v=spf1 a:macro%%percent%_%_space%-url-space.example.com", 1, "the literal macros (7.1)" },
	{ "v=spf1 exists:%(ir).sbl.example.com", 0, "'%(' is no macro" },
	{ "v=spf1 exists:foo%.sbl.example.com", 0, "'%' then '.' is no macro" },
	{ "v=spf1 exists:%{x}.example.com", 0, "x is no macro letter" },
	{ "v=spf1 exists:%{l1r-}.%{ir}.%{v}._spf.%{d2}", 1, "transformers and delimiters (7.1 examples)" },
	{ "v=spf1 a:foo.example.com\x7f", 0, "DEL (a NUL in DNS) is no macro-literal (7.1)" },
	{ "v=spf1 a:b\xc3\xa4r.example.com", 0, "records are 7-bit ASCII (3.1)" },
	{ "v=spf1\ta", 0, "terms are separated by SP, not tabs (4.5)" },
	{ "v=spf10", 0, "the version must stand alone" },
};

static void test_record_grammar(void **state)
{
	unsigned n;
	char why[200];

	(void)state;
	for (size_t i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++) {
		int r = spf_record_syntax(syntax[i].record, &n, why, sizeof(why));
		if ((r == 0) != syntax[i].ok)
			fail_msg("\"%s\": %s, yet %s (%s)", syntax[i].record, syntax[i].ok ? "well-formed" : "malformed",
			         r == 0 ? "accepted" : "refused", syntax[i].why);
	}
}

/* ---- evaluation: a small zone --------------------------------------------------------------- */

static const struct rr zone[] = {
	{ "p.example", 'T', "v=spf1 exists:%{p}.ok.p.example -all" },
	{ "192.0.2.42", 'P', "other.example" },
	{ "192.0.2.42", 'P', "host.p.example" },
	{ "192.0.2.42", 'P', "unvalidated.p.example" },
	{ "other.example", 'A', "192.0.2.42" },
	{ "host.p.example", 'A', "192.0.2.42" },
	{ "unvalidated.p.example", 'A', "192.0.2.99" },
	{ "host.p.example.ok.p.example", 'A', "127.0.0.2" },
	{ "l.example", 'T', "v=spf1 exists:%{l}.l.example -all" },
	{ "macro error.l.example", 'A', "127.0.0.2" },
	{ "postmaster.l.example", 'A', "127.0.0.2" },
	{ "space.example", 'T', "v=spf1 a:x%_y.space.example -all" },
	{ "x y.space.example", 'A', "192.0.2.1" },
	{ NULL, 0, NULL },
};

static void test_evaluation(void **state)
{
	char why[300];

	(void)state;
	table = zone;
	/* %{p}: the validated name below the domain, preferred to one elsewhere (7.3) */
	assert_int_equal(spf_check(&LK, "192.0.2.42", "p.example", "x@p.example", "h.example", why, sizeof(why)),
	                 SPF_PASS);
	/* without a validated name, %{p} is "unknown" */
	assert_int_equal(spf_check(&LK, "192.0.2.7", "p.example", "x@p.example", "h.example", why, sizeof(why)),
	                 SPF_FAIL);
	/* a quoted local part is the local part itself for %{l}; an empty one is "postmaster" (4.3) */
	assert_int_equal(spf_check(&LK, "192.0.2.1", "l.example", "\"Macro Error\"@l.example", "h.example", why,
	                           sizeof(why)), SPF_PASS);
	assert_int_equal(spf_check(&LK, "192.0.2.1", "l.example", "\"\"@l.example", "h.example", why, sizeof(why)),
	                 SPF_PASS);
	/* %_ expands to a space, and the name is asked with it (7.3) */
	assert_int_equal(spf_check(&LK, "192.0.2.1", "space.example", "x@space.example", "h.example", why,
	                           sizeof(why)), SPF_PASS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_grammar),
		cmocka_unit_test(test_evaluation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
