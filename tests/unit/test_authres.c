/* test_authres.c - port 25's sender checks without DNS: SPF (RFC 7208, its 7.4 macro examples,
 * the limits of 4.6.4), DKIM verification of our own signer's output (and of it changed), DMARC
 * records and alignment, and the Authentication-Results field (written, and forged ones taken
 * out). Every lookup is answered from a table. Peers judge the same code in tests_inbound.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "msg/authres.h"
#include "msg/dkimsign.h"
#include "dnstable.h"


static enum spf_result spf(const char *ip, const char *domain, const char *sender)
{
	char why[200];

	nqueried = 0;
	return spf_check(&LK, ip, domain, sender, "helo.example", why, sizeof(why));
}


/* ---- SPF ---------------------------------------------------------------------------------- */

static void test_spf_mechanisms(void **state)
{
	static const struct rr t[] = {
		{ "ip.example", 'T', "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all" },
		{ "ip.example", 'T', "google-site-verification=abc" },
		{ "soft.example", 'T', "v=spf1 ~all" },
		{ "neutral.example", 'T', "v=spf1" },
		{ "a.example", 'T', "v=spf1 a -all" },
		{ "a.example", 'A', "192.0.2.10" },
		{ "a24.example", 'T', "v=spf1 a/24 a:v6.example//64 -all" },
		{ "a24.example", 'A', "198.51.100.1" },
		{ "v6.example", '6', "2001:db8:1:2::1" },
		{ "mx.example", 'T', "v=spf1 mx -all" },
		{ "mx.example", 'M', "mail.mx.example" },
		{ "mail.mx.example", 'A', "203.0.113.5" },
		{ "inc.example", 'T', "v=spf1 include:soft.example include:ip.example -all" },
		{ "incnone.example", 'T', "v=spf1 include:nothing.example -all" },
		{ "red.example", 'T', "v=spf1 redirect=ip.example" },
		{ "rednone.example", 'T', "v=spf1 redirect=nothing.example" },
		{ "two.example", 'T', "v=spf1 -all" },
		{ "two.example", 'T', "v=spf1 +all" },
		{ "bad.example", 'T', "v=spf1 ip4:192.0.2.300 -all" },
		{ "badmech.example", 'T', "v=spf1 foo:bar -all" },
		{ "tmp.example", 'T', "v=spf1 include:broken.example -all" },
		{ "broken.example", 'F', "" },
		{ "ptr.example", 'T', "v=spf1 ptr -all" },
		{ "192.0.2.77", 'P', "host.ptr.example" },
		{ "host.ptr.example", 'A', "192.0.2.77" },
		{ "case.example", 'T', "V=SPF1 IP4:192.0.2.1 -ALL" },
		{ "unknown.example", 'T', "v=spf1 foo=bar ip4:192.0.2.1 -all" },
		{ "spf10.example", 'T', "v=spf1 a:x1.example a:x2.example a:x3.example a:x4.example a:x5.example "
		                        "a:x6.example a:x7.example a:x8.example a:x9.example a:x10.example a:x11.example -all" },
		{ "void.example", 'T', "v=spf1 a:n1.example a:n2.example a:n3.example ?all" },
		{ "void2.example", 'T', "v=spf1 a:n1.example a:n2.example ?all" },
		{ "ex.example", 'T', "v=spf1 exists:%{ir}.%{l}._e.%{d} -all" },
		{ "1.2.0.192.a._e.ex.example", 'A', "127.0.0.2" },
		{ NULL, 0, NULL },
	};
	(void)state;
	table = t;
	assert_int_equal(spf("192.0.2.1", "ip.example", "a@ip.example"), SPF_PASS);
	assert_int_equal(spf("2001:db8::5", "ip.example", "a@ip.example"), SPF_PASS);
	assert_int_equal(spf("::ffff:192.0.2.1", "ip.example", "a@ip.example"), SPF_PASS);
	assert_int_equal(spf("198.51.100.1", "ip.example", "a@ip.example"), SPF_FAIL);
	assert_int_equal(spf("198.51.100.1", "soft.example", "a@soft.example"), SPF_SOFTFAIL);
	assert_int_equal(spf("198.51.100.1", "neutral.example", "a@x"), SPF_NEUTRAL);
	assert_int_equal(spf("198.51.100.1", "nothing.example", "a@nothing.example"), SPF_NONE);
	assert_int_equal(spf("192.0.2.10", "a.example", "a@a.example"), SPF_PASS);
	assert_int_equal(spf("192.0.2.11", "a.example", "a@a.example"), SPF_FAIL);
	assert_int_equal(spf("198.51.100.200", "a24.example", "a@a24.example"), SPF_PASS);
	assert_int_equal(spf("2001:db8:1:2::99", "a24.example", "a@a24.example"), SPF_PASS);
	assert_int_equal(spf("2001:db8:1:3::99", "a24.example", "a@a24.example"), SPF_FAIL);
	assert_int_equal(spf("203.0.113.5", "mx.example", "a@mx.example"), SPF_PASS);
	assert_int_equal(spf("203.0.113.6", "mx.example", "a@mx.example"), SPF_FAIL);
	assert_int_equal(spf("192.0.2.1", "inc.example", "a@inc.example"), SPF_PASS);
	assert_int_equal(spf("203.0.113.6", "inc.example", "a@inc.example"), SPF_FAIL);  /* include's softfail: no match */
	assert_int_equal(spf("192.0.2.1", "incnone.example", "a@incnone.example"), SPF_PERMERROR);
	assert_int_equal(spf("192.0.2.1", "red.example", "a@red.example"), SPF_PASS);
	assert_int_equal(spf("198.51.100.1", "red.example", "a@red.example"), SPF_FAIL);
	assert_int_equal(spf("192.0.2.1", "rednone.example", "a@rednone.example"), SPF_PERMERROR);
	assert_int_equal(spf("192.0.2.1", "two.example", "a@two.example"), SPF_PERMERROR);
	assert_int_equal(spf("192.0.2.1", "bad.example", "a@bad.example"), SPF_PERMERROR);
	assert_int_equal(spf("192.0.2.1", "badmech.example", "a@badmech.example"), SPF_PERMERROR);
	assert_int_equal(spf("192.0.2.1", "tmp.example", "a@tmp.example"), SPF_TEMPERROR);
	assert_int_equal(spf("192.0.2.1", "broken.example", "a@broken.example"), SPF_TEMPERROR);
	assert_int_equal(spf("192.0.2.77", "ptr.example", "a@ptr.example"), SPF_PASS);
	assert_int_equal(spf("192.0.2.78", "ptr.example", "a@ptr.example"), SPF_FAIL);
	assert_int_equal(spf("192.0.2.1", "case.example", "a@case.example"), SPF_PASS);
	assert_int_equal(spf("192.0.2.1", "ex.example", "a@ex.example"), SPF_PASS);
	assert_int_equal(spf("192.0.2.1", "ex.example", "b@ex.example"), SPF_FAIL);
	assert_int_equal(spf("192.0.2.1", "unknown.example", "a@unknown.example"), SPF_PASS);
	/* 4.6.4: the eleventh DNS-querying term, and the third void lookup, are permerror */
	assert_int_equal(spf("192.0.2.1", "spf10.example", "a@spf10.example"), SPF_PERMERROR);
	assert_int_equal(spf("192.0.2.1", "void.example", "a@void.example"), SPF_PERMERROR);
	assert_int_equal(spf("192.0.2.1", "void2.example", "a@void2.example"), SPF_NEUTRAL);
	/* 4.3: not a domain at all */
	assert_int_equal(spf("192.0.2.1", "nodot", "a@nodot"), SPF_NONE);
	assert_int_equal(spf("192.0.2.1", "a..example", "a@a..example"), SPF_NONE);
}

/* RFC 7208 7.4's examples, seen as the name an exists: mechanism asks for. */
static void test_spf_macros(void **state)
{
	static const struct { const char *macro, *want, *ip; } ex[] = {
		{ "%{s}", "strong-bad@email.example.com", "192.0.2.3" },
		{ "%{o}", "email.example.com", "192.0.2.3" },
		{ "%{d}", "email.example.com", "192.0.2.3" },
		{ "%{d4}", "email.example.com", "192.0.2.3" },
		{ "%{d3}", "email.example.com", "192.0.2.3" },
		{ "%{d2}", "example.com", "192.0.2.3" },
		{ "%{d1}", "com", "192.0.2.3" },
		{ "%{dr}", "com.example.email", "192.0.2.3" },
		{ "%{d2r}", "example.email", "192.0.2.3" },
		{ "%{l}", "strong-bad", "192.0.2.3" },
		{ "%{l-}", "strong.bad", "192.0.2.3" },
		{ "%{lr}", "strong-bad", "192.0.2.3" },
		{ "%{lr-}", "bad.strong", "192.0.2.3" },
		{ "%{l1r-}", "strong", "192.0.2.3" },
		{ "%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com", "192.0.2.3" },
		{ "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com", "192.0.2.3" },
		{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com", "192.0.2.3" },
		{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com", "192.0.2.3" },
		{ "%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net", "192.0.2.3" },
		{ "%{ir}.%{v}._spf.%{d2}",
		  "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com", "2001:db8::cb01" },
		{ "%%%-.%{h}", "%%20.helo.example", "192.0.2.3" },
	};
	char rec[300], want[400];
	struct rr rows[3] = { { "email.example.com", 'T', rec }, { NULL, 0, NULL }, { NULL, 0, NULL } };

	(void)state;
	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		snprintf(rec, sizeof(rec), "v=spf1 exists:%s -all", ex[i].macro);
		table = rows;
		(void)spf(ex[i].ip, "email.example.com", "strong-bad@email.example.com");
		snprintf(want, sizeof(want), "A %s", ex[i].want);
		if (!was_queried(want)) {
			for (size_t k = 0; k < nqueried; k++)
				print_message("queried: %s\n", queried[k]);
			fail_msg("%s should ask for %s", ex[i].macro, ex[i].want);
		}
	}
	/* a bad macro is a syntax error: permerror */
	snprintf(rec, sizeof(rec), "v=spf1 exists:%%{q}.example -all");
	assert_int_equal(spf("192.0.2.3", "email.example.com", "a@email.example.com"), SPF_PERMERROR);
}

static void test_spf_record_syntax(void **state)
{
	unsigned n;
	char why[200];

	(void)state;
	assert_int_equal(spf_record_syntax("v=spf1 mx a include:_spf.example.net ip4:192.0.2.0/24 -all", &n, why,
	                                   sizeof(why)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(spf_record_syntax("v=spf1 redirect=_spf.example.net", &n, why, sizeof(why)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(spf_record_syntax("v=spf1 ip4:1.2.3.4/33 -all", &n, why, sizeof(why)), -1);
	assert_int_equal(spf_record_syntax("v=spf2 -all", &n, why, sizeof(why)), -1);
	assert_int_equal(spf_record_syntax("v=spf1 redirect=a.example redirect=b.example", &n, why, sizeof(why)), -1);
	assert_int_equal(spf_record_syntax("v=spf1 include -all", &n, why, sizeof(why)), -1);
	assert_int_equal(spf_record_syntax("v=spf1 ip6:2001:db8::/32 a/24//64 mx//48 -all", &n, why, sizeof(why)), 0);
	assert_int_equal(spf_record_syntax("v=spf1 ip6:2001:db8:://32 -all", &n, why, sizeof(why)), -1);
	assert_int_equal(spf_record_syntax("v=spf1 ip4:192.0.2.0//24 -all", &n, why, sizeof(why)), -1);
}

/* ---- DKIM: our signer's output, verified ---------------------------------------------------- */

static char pub_txt[2][1200];

static struct dkim_keys *make_keys(char paths[2][64])
{
	struct dkim_key_conf kc[2];
	static const int types[2] = { EVP_PKEY_RSA, EVP_PKEY_ED25519 };
	static const char *const sel[2] = { "r", "e" };
	char err[200];
	unsigned line;

	for (int i = 0; i < 2; i++) {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(types[i], NULL);
		EVP_PKEY *pk = NULL;
		snprintf(paths[i], 64, "/tmp/mailport-authres-%d-%d.key", (int)getpid(), i);
		assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
		if (i == 0)
			assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
		assert_int_equal(EVP_PKEY_keygen(ctx, &pk), 1);
		FILE *fp = fopen(paths[i], "w");
		assert_non_null(fp);
		assert_int_equal(PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL), 1);
		fclose(fp);
		chmod(paths[i], 0600);
		EVP_PKEY_free(pk);
		EVP_PKEY_CTX_free(ctx);
		const char *kt;
		char p[1100];
		assert_int_equal(dkim_key_public(paths[i], p, sizeof(p), &kt, err, sizeof(err)), 0);
		snprintf(pub_txt[i], sizeof(pub_txt[i]), "v=DKIM1; k=%s; p=%s", kt, p);
		kc[i] = (struct dkim_key_conf){ "example.org", sel[i], paths[i], 1, 1 };
	}
	struct dkim_keys *k = dkim_keys_load(kc, 2, err, sizeof(err), &line);
	assert_non_null(k);
	return k;
}

static void verify_msg(const char *msg, size_t step, enum dkim_vresult want0, enum dkim_vresult want1)
{
	struct dkim_verifier *v = dkim_verifier_new();
	struct dkim_vsig out[DKIM_VERIFY_MAX];
	size_t len = strlen(msg);
	static const struct rr t[] = {
		{ "r._domainkey.example.org", 'T', pub_txt[0] },
		{ "e._domainkey.example.org", 'T', pub_txt[1] },
		{ NULL, 0, NULL },
	};

	table = t;
	for (size_t o = 0; o < len; o += step)
		dkim_verifier_feed(v, msg + o, len - o < step ? len - o : step);
	size_t n = dkim_verify_finish(v, &LK, 1800000000LL, out, DKIM_VERIFY_MAX);
	assert_int_equal(n, 2);
	if (out[0].result != want0 || out[1].result != want1)
		fail_msg("got %s (%s), %s (%s)", dkim_vresult_name(out[0].result), out[0].why,
		         dkim_vresult_name(out[1].result), out[1].why);
	assert_string_equal(out[0].domain, "example.org");
	dkim_verifier_free(v);
}

static void test_dkim_round_trip(void **state)
{
	char paths[2][64], err[200];
	struct dkim_keys *k = make_keys(paths);
	static const char *const bodies[] = {
		"From: A <a@example.org>\r\nTo: b@example.net\r\nSubject: folded\r\n  subject line\r\n\r\nbody  line \t\r\n\r\n\r\n",
		"From: a@example.org\r\nSubject: empty\r\n\r\n",
		"From: a@example.org\r\nSubject: all header\r\n",
		"From: a@example.org\r\nSubject: 8bit\r\n\r\nK\xc3\xb6ln\r\n.dot\r\n",
	};

	(void)state;
	for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
		struct dkim_signer *s = dkim_signer_new(k, "example.org", "t", err, sizeof(err));
		assert_non_null(s);
		assert_int_equal(dkim_signer_feed(s, bodies[b], strlen(bodies[b])), 0);
		char *sig = dkim_sign_finish(s, err, sizeof(err));
		assert_non_null(sig);
		dkim_signer_free(s);
		size_t need = strlen(sig) + strlen(bodies[b]) + 16;
		char *msg = malloc(need);
		snprintf(msg, need, "%s%s", sig, bodies[b]);
		verify_msg(msg, 1, DKIM_V_PASS, DKIM_V_PASS);
		verify_msg(msg, 7, DKIM_V_PASS, DKIM_V_PASS);
		verify_msg(msg, 100000, DKIM_V_PASS, DKIM_V_PASS);
		/* a signed field changed: both fail; an unsigned field added: both still pass */
		char *subj = strstr(msg, "Subject: ");
		subj[9] ^= 0x20;
		verify_msg(msg, 100000, DKIM_V_FAIL, DKIM_V_FAIL);
		subj[9] ^= 0x20;
		snprintf(msg, need, "%sX-Added: yes\r\n%s", sig, bodies[b]);
		verify_msg(msg, 100000, DKIM_V_PASS, DKIM_V_PASS);
		/* a second From above (over-signed): fails */
		snprintf(msg, need, "%sFrom: evil@example.org\r\n%s", sig, bodies[b]);
		verify_msg(msg, 100000, DKIM_V_FAIL, DKIM_V_FAIL);
		free(msg);
		free(sig);
	}
	unlink(paths[0]);
	unlink(paths[1]);
	dkim_keys_free(k);
}

/* ---- DMARC ------------------------------------------------------------------------------ */

static void test_dmarc(void **state)
{
	struct dmarc_record r;
	struct dmarc_eval e;
	char why[200], org[256];
	struct dkim_vsig sig = { .result = DKIM_V_PASS, .domain = "mail.example.org" };
	static const struct rr t[] = {
		{ "_dmarc.example.org", 'T', "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.org" },
		{ "_dmarc.strict.example", 'T', "v=DMARC1; p=reject; adkim=s; aspf=s" },
		{ "_dmarc.pct.example", 'T', "v=DMARC1; p=reject; pct=10" },
		{ "_dmarc.two.example", 'T', "v=DMARC1; p=reject" },
		{ "_dmarc.two.example", 'T', "v=DMARC1; p=none" },
		{ "_dmarc.tmp.example", 'F', "" },
		{ NULL, 0, NULL },
	};

	(void)state;
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=quarantine; pct=50; adkim=s", &r, why, sizeof(why)), 0);
	assert_string_equal(r.p, "quarantine");
	assert_int_equal(r.pct, 50);
	assert_int_equal(r.adkim_strict, 1);
	assert_int_equal(dmarc_record_parse("v=DMARC1; rua=mailto:x@example.org", &r, why, sizeof(why)), 0);
	assert_string_equal(r.p, "none");
	assert_int_equal(dmarc_record_parse("v=DMARC1", &r, why, sizeof(why)), -1);
	assert_int_equal(dmarc_record_parse("p=reject; v=DMARC1", &r, why, sizeof(why)), -1);
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=block", &r, why, sizeof(why)), -1);
	/* RFC 7489 6.3: a bad value in the rest of the record gives way to the default (pct=100);
	 * the record still applies (1: with an error worked around) */
	assert_int_equal(dmarc_record_parse("v=DMARC1; p=none; pct=101", &r, why, sizeof(why)), 1);
	assert_int_equal(r.pct, 100);
	assert_string_equal(r.p, "none");

	dmarc_org_domain("Mail.Example.ORG.", org, sizeof(org));
	assert_string_equal(org, "example.org");
	dmarc_org_domain("a.b.example.co.uk", org, sizeof(org));
	assert_string_equal(org, "example.co.uk");
	assert_int_equal(dmarc_aligned("bounce.example.org", "example.org", 0), 1);
	assert_int_equal(dmarc_aligned("bounce.example.org", "example.org", 1), 0);
	assert_int_equal(dmarc_aligned("example.co.uk", "other.co.uk", 0), 0);

	table = t;
	dmarc_check(&LK, "example.org", "bounce.example.org", 1, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_PASS);
	dmarc_check(&LK, "example.org", "evil.example", 0, &sig, 1, 0, &e);
	assert_int_equal(e.result, DMARC_PASS);
	dmarc_check(&LK, "example.org", "evil.example", 1, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_FAIL);
	assert_string_equal(e.policy, "reject");
	assert_int_equal(e.reject, 1);
	/* a subdomain without its own record: the organizational domain's sp= */
	dmarc_check(&LK, "news.example.org", "evil.example", 0, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_FAIL);
	assert_string_equal(e.policy, "quarantine");
	assert_int_equal(e.reject, 0);
	dmarc_check(&LK, "strict.example", "bounce.strict.example", 1, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_FAIL);
	/* pct=10: a message outside the sample gets quarantine, not reject */
	dmarc_check(&LK, "pct.example", "evil.example", 0, NULL, 0, 50, &e);
	assert_int_equal(e.result, DMARC_FAIL);
	assert_int_equal(e.reject, 0);
	dmarc_check(&LK, "pct.example", "evil.example", 0, NULL, 0, 5, &e);
	assert_int_equal(e.reject, 1);
	dmarc_check(&LK, "two.example", "evil.example", 0, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_NONE);
	dmarc_check(&LK, "none.example", "evil.example", 0, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_NONE);
	dmarc_check(&LK, "tmp.example", "evil.example", 0, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_TEMPERROR);
	dmarc_check(&LK, NULL, "evil.example", 0, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_PERMERROR);
}

/* RFC 7489 6.3 and 6.4, case by case: what the record parser makes of each. */
static void test_dmarc_record_syntax(void **state)
{
	static const struct {
		const char *label, *txt;
		int ret;                        /* 0 clean, 1 errors worked around, -1 no policy */
		const char *p, *sp;
		unsigned pct;
		int adkim_strict, aspf_strict;
	} cases[] = {
		{ "plain", "v=DMARC1; p=reject", 0, "reject", "", 100, 0, 0 },
		{ "p= value in upper case (ABNF strings)", "v=DMARC1; p=REJECT", 0, "reject", "", 100, 0, 0 },
		{ "tag names in any case", "V=DMARC1; P=Quarantine; SP=None; ADKIM=S; Aspf=s", 0, "quarantine", "none",
		  100, 1, 1 },
		{ "white space around = and ;", "v = DMARC1 ;\tp = reject ; pct = 50 ;", 0, "reject", "", 50, 0, 0 },
		{ "no space, final ;", "v=DMARC1;p=none;", 0, "none", "", 100, 0, 0 },
		{ "empty tags between ;", "v=DMARC1;; p=none;;", 0, "none", "", 100, 0, 0 },
		{ "unknown and reporting tags ignored", "v=DMARC1; p=reject; foo=bar; ruf=mailto:f@example.org; fo=1; "
		  "rf=afrf; ri=3600", 0, "reject", "", 100, 0, 0 },
		{ "only rua: p=none (6.6.3 step 6)", "v=DMARC1; rua=mailto:d@example.org", 0, "none", "", 100, 0, 0 },
		{ "pct=0", "v=DMARC1; p=reject; pct=0", 0, "reject", "", 0, 0, 0 },
		{ "pct=100", "v=DMARC1; p=reject; pct=100", 0, "reject", "", 100, 0, 0 },
		/* errors in the rest of the record: defaults (6.3) */
		{ "pct over 100: default", "v=DMARC1; p=reject; pct=150", 1, "reject", "", 100, 0, 0 },
		{ "pct not a number: default", "v=DMARC1; p=reject; pct=abc", 1, "reject", "", 100, 0, 0 },
		{ "pct negative: default", "v=DMARC1; p=reject; pct=-1", 1, "reject", "", 100, 0, 0 },
		{ "pct with a sign: default", "v=DMARC1; p=reject; pct=+5", 1, "reject", "", 100, 0, 0 },
		{ "pct four digits: default", "v=DMARC1; p=reject; pct=0050", 1, "reject", "", 100, 0, 0 },
		{ "adkim neither r nor s: relaxed", "v=DMARC1; p=reject; adkim=x; aspf=s", 1, "reject", "", 100, 0, 1 },
		{ "a part without =: ignored", "v=DMARC1; p=reject; junk", 1, "reject", "", 100, 0, 0 },
		/* a bad p= or sp= (6.6.3 step 6): p=none with a valid rua, else no policy */
		{ "bad p, valid rua: p=none", "v=DMARC1; p=block; rua=mailto:d@example.org", 1, "none", "", 100, 0, 0 },
		{ "bad sp, valid rua: p=none", "v=DMARC1; p=reject; sp=block; rua=mailto:d@example.org", 1, "none", "", 100,
		  0, 0 },
		{ "bad p, one valid rua of two", "v=DMARC1; p=block; rua=d@example.org, mailto:d@example.org!10m", 1, "none",
		  "", 100, 0, 0 },
		{ "bad p, rua not a URI", "v=DMARC1; p=block; rua=d@example.org", -1, "", "", 0, 0, 0 },
		{ "bad p, rua with a bad size", "v=DMARC1; p=block; rua=mailto:d@example.org!x", -1, "", "", 0, 0, 0 },
		{ "bad p, no rua", "v=DMARC1; p=block", -1, "", "", 0, 0, 0 },
		{ "bad sp, no rua", "v=DMARC1; p=reject; sp=block", -1, "", "", 0, 0, 0 },
		{ "no p, no rua", "v=DMARC1", -1, "", "", 0, 0, 0 },
		{ "no p, only ruf", "v=DMARC1; ruf=mailto:f@example.org", -1, "", "", 0, 0, 0 },
		/* v=DMARC1, exactly and first (6.3) */
		{ "v= value in lower case", "v=dmarc1; p=reject", -1, "", "", 0, 0, 0 },
		{ "another version", "v=DMARC10; p=reject", -1, "", "", 0, 0, 0 },
		{ "v= not first", "p=reject; v=DMARC1", -1, "", "", 0, 0, 0 },
		{ "white space before v=", " v=DMARC1; p=reject", -1, "", "", 0, 0, 0 },
		{ "no ; after the version", "v=DMARC1 p=reject", -1, "", "", 0, 0, 0 },
		{ "empty", "", -1, "", "", 0, 0, 0 },
		/* a tag twice: the tag-list is invalid (RFC 6376 3.2, adopted by 6.3) */
		{ "p twice", "v=DMARC1; p=none; p=reject", -1, "", "", 0, 0, 0 },
		{ "p twice, in two cases", "v=DMARC1; p=none; P=reject", -1, "", "", 0, 0, 0 },
		{ "v twice", "v=DMARC1; v=DMARC1; p=none", -1, "", "", 0, 0, 0 },
	};
	struct dmarc_record r;
	char why[200], longrec[DMARC_RECORD_MAX + 64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = dmarc_record_parse(cases[i].txt, &r, why, sizeof(why));
		if (ret != cases[i].ret)
			fail_msg("%s: \"%s\" gave %d (%s), expected %d", cases[i].label, cases[i].txt, ret, why, cases[i].ret);
		if (ret != 0 && why[0] == '\0')
			fail_msg("%s: no reason given", cases[i].label);
		if (ret < 0)
			continue;
		if (strcmp(r.p, cases[i].p) != 0 || strcmp(r.sp, cases[i].sp) != 0 || r.pct != cases[i].pct ||
		    r.adkim_strict != cases[i].adkim_strict || r.aspf_strict != cases[i].aspf_strict)
			fail_msg("%s: p=%s sp=%s pct=%u adkim_strict=%d aspf_strict=%d", cases[i].label, r.p, r.sp, r.pct,
			         r.adkim_strict, r.aspf_strict);
	}
	/* longer than DMARC_RECORD_MAX: no policy, never a record cut short */
	snprintf(longrec, sizeof(longrec), "v=DMARC1; p=reject; x=%0*d", DMARC_RECORD_MAX, 0);
	assert_int_equal(dmarc_record_parse(longrec, &r, why, sizeof(why)), -1);
}

/* 6.6.3: the organizational domain's record only when the From: domain publishes none at all;
 * two records, or one that is no policy, at a subdomain mean no policy (not the parent's). */
static void test_dmarc_discovery(void **state)
{
	static const struct rr t[] = {
		{ "_dmarc.parent.example", 'T', "v=DMARC1; p=reject" },
		{ "_dmarc.two.parent.example", 'T', "v=DMARC1; p=none" },
		{ "_dmarc.two.parent.example", 'T', "v=DMARC1; p=quarantine" },
		{ "_dmarc.bad.parent.example", 'T', "v=DMARC1; p=bogus" },
		{ "_dmarc.badsp.parent.example", 'T', "v=DMARC1; p=none; sp=bogus" },
		{ "_dmarc.dup.parent.example", 'T', "v=DMARC1; p=none; p=none" },
		{ "_dmarc.lc.parent.example", 'T', "v=dmarc1; p=none" },
		{ "_dmarc.other.parent.example", 'T', "google-site-verification=abc" },
		{ "_dmarc.tmp.parent.example", 'F', "" },
		{ "_dmarc.sp.example", 'T', "v=DMARC1; p=reject; sp=none" },
		{ "_dmarc.own.sp.example", 'T', "v=DMARC1; p=quarantine; sp=none" },
		{ "_dmarc.upper.example", 'T', "v=DMARC1; p=REJECT" },
		{ "_dmarc.rua.example", 'T', "v=DMARC1; p=invalid; rua=mailto:d@rua.example" },
		{ "_dmarc.pct0.example", 'T', "v=DMARC1; p=reject; pct=0" },
		{ "_dmarc.space.example", 'T', "v = DMARC1 ; p = reject" },
		{ "_dmarc.lcorg.example", 'T', "v=dmarc1; p=reject" },
		{ NULL, 0, NULL },
	};
	static const struct {
		const char *label, *from;
		enum dmarc_result result;
		const char *policy;
		int reject, asks_parent;        /* _dmarc.parent.example is asked */
	} cases[] = {
		{ "the domain's own record", "parent.example", DMARC_FAIL, "reject", 1, 1 },
		{ "two records at a subdomain: no policy", "two.parent.example", DMARC_NONE, "", 0, 0 },
		{ "a bad p= at a subdomain: no policy", "bad.parent.example", DMARC_NONE, "", 0, 0 },
		{ "a bad sp= at a subdomain: no policy", "badsp.parent.example", DMARC_NONE, "", 0, 0 },
		{ "a tag twice at a subdomain: no policy", "dup.parent.example", DMARC_NONE, "", 0, 0 },
		{ "a subdomain without a record: the parent's", "norec.parent.example", DMARC_FAIL, "reject", 1, 1 },
		{ "not DMARC (v=dmarc1) is discarded: the parent's", "lc.parent.example", DMARC_FAIL, "reject", 1, 1 },
		{ "other TXT records only: the parent's", "other.parent.example", DMARC_FAIL, "reject", 1, 1 },
		{ "a failed lookup at the subdomain: temperror", "tmp.parent.example", DMARC_TEMPERROR, "", 0, 0 },
		{ "sp= for a subdomain without a record", "news.sp.example", DMARC_FAIL, "none", 0, 0 },
		{ "sp= not for the domain itself", "sp.example", DMARC_FAIL, "reject", 1, 0 },
		{ "a subdomain's own record: its p=, not its sp=", "own.sp.example", DMARC_FAIL, "quarantine", 0, 0 },
		{ "p=REJECT", "upper.example", DMARC_FAIL, "reject", 1, 0 },
		{ "a bad p= with a valid rua: p=none", "rua.example", DMARC_FAIL, "none", 0, 0 },
		{ "pct=0: the next policy down", "pct0.example", DMARC_FAIL, "quarantine", 0, 0 },
		{ "white space in the record", "space.example", DMARC_FAIL, "reject", 1, 0 },
		{ "a From: domain in upper case", "Parent.EXAMPLE", DMARC_FAIL, "reject", 1, 1 },
		{ "an organizational domain with v=dmarc1: none", "lcorg.example", DMARC_NONE, "", 0, 0 },
	};
	struct dmarc_eval e;

	(void)state;
	table = t;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		nqueried = 0;
		dmarc_check(&LK, cases[i].from, "evil.example", 0, NULL, 0, 0, &e);
		if (e.result != cases[i].result || strcmp(e.policy, cases[i].policy) != 0 || e.reject != cases[i].reject)
			fail_msg("%s: dmarc=%s policy=\"%s\" reject=%d (%s)", cases[i].label, dmarc_result_name(e.result),
			         e.policy, e.reject, e.why);
		if (was_queried("T _dmarc.parent.example") != cases[i].asks_parent)
			fail_msg("%s: the parent was%s asked", cases[i].label, cases[i].asks_parent ? " not" : "");
		if (e.why[0] == '\0')
			fail_msg("%s: no reason given", cases[i].label);
	}
	/* the reason says what was wrong with the subdomain's records */
	dmarc_check(&LK, "two.parent.example", "evil.example", 0, NULL, 0, 0, &e);
	assert_non_null(strstr(e.why, "has 2 DMARC records"));
	dmarc_check(&LK, "bad.parent.example", "evil.example", 0, NULL, 0, 0, &e);
	assert_non_null(strstr(e.why, "no policy"));
}

/* 6.6.1: each From: domain judged, the strictest failing policy applied. */
static void test_dmarc_authors(void **state)
{
	static const struct rr t[] = {
		{ "_dmarc.bank.example", 'T', "v=DMARC1; p=reject" },
		{ "_dmarc.soft.example", 'T', "v=DMARC1; p=quarantine" },
		{ "_dmarc.mine.example", 'T', "v=DMARC1; p=reject" },
		{ "_dmarc.watch.example", 'T', "v=DMARC1; p=none" },
		{ "_dmarc.tmp.example", 'F', "" },
		{ NULL, 0, NULL },
	};
	static const struct {
		const char *label, *from[3];
		size_t n;
		enum dmarc_result result;
		const char *domain, *policy;
		int reject;
	} cases[] = {
		{ "a forged domain after one's own", { "mine.example", "bank.example" }, 2, DMARC_FAIL, "bank.example",
		  "reject", 1 },
		{ "a forged domain before one's own", { "bank.example", "mine.example" }, 2, DMARC_FAIL, "bank.example",
		  "reject", 1 },
		{ "the strictest of two failures", { "soft.example", "bank.example", "watch.example" }, 3, DMARC_FAIL,
		  "bank.example", "reject", 1 },
		{ "quarantine over none", { "watch.example", "soft.example" }, 2, DMARC_FAIL, "soft.example", "quarantine",
		  0 },
		{ "pass and no policy: none", { "mine.example", "nothing.example" }, 2, DMARC_NONE, "nothing.example", "", 0 },
		{ "pass and temperror: temperror", { "mine.example", "tmp.example" }, 2, DMARC_TEMPERROR, "tmp.example", "",
		  0 },
		{ "a failure over temperror", { "tmp.example", "bank.example" }, 2, DMARC_FAIL, "bank.example", "reject", 1 },
		{ "one domain", { "mine.example" }, 1, DMARC_PASS, "mine.example", "reject", 0 },
	};
	static const char *const many[DMARC_AUTHORS_MAX + 1] = { "a.example", "b.example", "c.example", "d.example",
	                                                         "e.example", "f.example", "g.example", "h.example",
	                                                         "bank.example" };
	struct dmarc_eval e;

	(void)state;
	table = t;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* SPF passed for mine.example: mail from it passes, whatever else its From: says */
		dmarc_check_authors(&LK, cases[i].from, cases[i].n, "mine.example", 1, NULL, 0, 0, &e);
		if (e.result != cases[i].result || strcmp(e.from_domain, cases[i].domain) != 0 ||
		    strcmp(e.policy, cases[i].policy) != 0 || e.reject != cases[i].reject)
			fail_msg("%s: dmarc=%s header.from=%s policy=\"%s\" reject=%d (%s)", cases[i].label,
			         dmarc_result_name(e.result), e.from_domain, e.policy, e.reject, e.why);
		assert_int_equal(e.nauthors, cases[i].n);
		for (size_t k = 0; k < cases[i].n; k++)
			assert_string_equal(e.authors[k].domain, cases[i].from[k]);
	}
	dmarc_check_authors(&LK, cases[0].from, 2, "mine.example", 1, NULL, 0, 0, &e);
	assert_int_equal(e.authors[0].result, DMARC_PASS);
	assert_int_equal(e.authors[1].result, DMARC_FAIL);
	/* more domains than are looked up: permerror, refused under dmarc_reject, nothing asked */
	nqueried = 0;
	dmarc_check_authors(&LK, many, DMARC_AUTHORS_MAX + 1, "mine.example", 1, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_PERMERROR);
	assert_int_equal(e.reject, 1);
	assert_int_equal(nqueried, 0);
	dmarc_check_authors(&LK, many, DMARC_AUTHORS_MAX, "mine.example", 1, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_NONE);
	assert_int_equal(e.nauthors, DMARC_AUTHORS_MAX);
	dmarc_check_authors(&LK, NULL, 0, "mine.example", 1, NULL, 0, 0, &e);
	assert_int_equal(e.result, DMARC_PERMERROR);
	assert_int_equal(e.reject, 0);
}

/* The From: domains as authres finds them in a message, and how several are reported: one
 * dmarc= result (the message's), header.from the domain that decided it, the others in the
 * comment; the log line lists each. */
static void test_authres_from_domains(void **state)
{
	static const struct rr t[] = {
		{ "mine.example", 'T', "v=spf1 ip4:192.0.2.1 -all" },
		{ "_dmarc.mine.example", 'T', "v=DMARC1; p=reject" },
		{ "_dmarc.bank.example", 'T', "v=DMARC1; p=reject" },
		{ NULL, 0, NULL },
	};
	static const struct {
		const char *label, *hdr;
		enum dmarc_result result;
		const char *domain;
		size_t nauthors;
		int reject;
	} cases[] = {
		{ "one address", "From: A <a@mine.example>\r\n", DMARC_PASS, "mine.example", 1, 0 },
		{ "one domain twice, in two cases", "From: a@mine.example, B <b@MINE.example.>\r\n", DMARC_PASS,
		  "mine.example", 1, 0 },
		{ "two domains, the forged one last", "From: a@mine.example, b@bank.example\r\n", DMARC_FAIL, "bank.example",
		  2, 1 },
		{ "two domains, folded, in a group", "From: team: a@mine.example,\r\n b@bank.example;\r\n", DMARC_FAIL,
		  "bank.example", 2, 1 },
		{ "two From: fields", "From: a@mine.example\r\nFrom: b@bank.example\r\n", DMARC_FAIL, "bank.example", 2, 1 },
		{ "no From:", "Subject: x\r\n", DMARC_PERMERROR, "", 0, 0 },
		{ "a group without addresses", "From: undisclosed:;\r\n", DMARC_PERMERROR, "", 0, 0 },
		{ "nine domains", "From: a@a.example, b@b.example, c@c.example, d@d.example, e@e.example, f@f.example, "
		  "g@g.example, h@h.example, x@mine.example\r\n", DMARC_PERMERROR, "", 0, 1 },
		{ "eight domains", "From: a@a.example, b@b.example, c@c.example, d@d.example, e@e.example, f@f.example, "
		  "g@g.example, x@mine.example, y@mine.example\r\n", DMARC_NONE, "a.example", 8, 0 },
	};
	struct authres_in in = { "mx.example.net", "192.0.2.1", "helo.example", "x@mine.example" };
	struct authres r;
	char msg[1024], sum[600];

	(void)state;
	table = t;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dkim_verifier *v = dkim_verifier_new();
		snprintf(msg, sizeof(msg), "%sSubject: hi\r\n\r\nbody\r\n", cases[i].hdr);
		dkim_verifier_feed(v, msg, strlen(msg));
		authres_evaluate(&LK, v, &in, 1800000000LL, 0, &r);
		dkim_verifier_free(v);
		if (r.dmarc.result != cases[i].result || strcmp(r.dmarc.from_domain, cases[i].domain) != 0 ||
		    r.dmarc.nauthors != cases[i].nauthors || r.dmarc.reject != cases[i].reject)
			fail_msg("%s: dmarc=%s header.from=%s nauthors=%zu reject=%d (%s)", cases[i].label,
			         dmarc_result_name(r.dmarc.result), r.dmarc.from_domain, r.dmarc.nauthors, r.dmarc.reject,
			         r.dmarc.why);
		assert_int_equal(r.spf, SPF_PASS);
	}

	struct dkim_verifier *v = dkim_verifier_new();
	snprintf(msg, sizeof(msg), "From: a@mine.example, b@bank.example\r\nSubject: hi\r\n\r\nbody\r\n");
	dkim_verifier_feed(v, msg, strlen(msg));
	authres_evaluate(&LK, v, &in, 1800000000LL, 0, &r);
	dkim_verifier_free(v);
	char *h = authres_header(&in, &r);
	assert_non_null(h);
	assert_non_null(strstr(h, "\tdmarc=fail (p=reject; other From: domains: mine.example=pass) "
	                          "header.from=bank.example\r\n"));
	free(h);
	authres_summary(&r, sum, sizeof(sum));
	assert_non_null(strstr(sum, " dmarc=fail/bank.example dmarc_from=mine.example:pass,bank.example:fail"));
	/* one domain: the log line as before */
	v = dkim_verifier_new();
	snprintf(msg, sizeof(msg), "From: a@bank.example\r\nSubject: hi\r\n\r\nbody\r\n");
	dkim_verifier_feed(v, msg, strlen(msg));
	authres_evaluate(&LK, v, &in, 1800000000LL, 0, &r);
	dkim_verifier_free(v);
	authres_summary(&r, sum, sizeof(sum));
	assert_string_equal(sum, "spf=pass dkim=none dmarc=fail/bank.example");
}

/* ---- the header field ------------------------------------------------------------------- */

static void test_header_and_strip(void **state)
{
	struct authres_in in = { "mx.example.net", "192.0.2.1", "helo.example", "user@example.org" };
	struct authres r;
	unsigned removed;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.spf = SPF_PASS;
	snprintf(r.spf_domain, sizeof(r.spf_domain), "example.org");
	snprintf(r.spf_why, sizeof(r.spf_why), "example.org: ip4:192.0.2.0/24 (a comment)");
	r.nsigs = 1;
	r.sigs[0] = (struct dkim_vsig){ DKIM_V_FAIL, "example.org", "sel", "rsa-sha256", "AbCdEfGh", "body hash \"x\"" };
	r.dmarc.result = DMARC_PASS;
	snprintf(r.dmarc.from_domain, sizeof(r.dmarc.from_domain), "example.org");
	snprintf(r.dmarc.policy, sizeof(r.dmarc.policy), "reject");
	char *h = authres_header(&in, &r);
	assert_non_null(h);
	assert_string_equal(h, "Authentication-Results: mx.example.net;\r\n"
	                       "\tspf=pass (example.org: ip4:192.0.2.0/24 _a comment_) smtp.mailfrom=user@example.org;\r\n"
	                       "\tdkim=fail reason=\"body hash \\\"x\\\"\" header.d=example.org header.s=sel "
	                       "header.a=rsa-sha256 header.b=AbCdEfGh;\r\n"
	                       "\tdmarc=pass (p=reject) header.from=example.org\r\n");
	free(h);

	char hdr[] = "Authentication-Results: MX.example.net; spf=pass\r\n"
	             "Received: from x\r\n"
	             "Authentication-Results: (c) mx.example.net;\r\n\tdkim=pass\r\n"
	             "Authentication-Results: mx.example.net.evil; dkim=pass\r\n"
	             "Authentication-Results: other.example; dkim=pass\r\n"
	             "\r\n";
	size_t n = authres_strip_own(hdr, strlen(hdr), "mx.example.net", &removed);
	hdr[n] = '\0';
	assert_int_equal(removed, 2);
	assert_string_equal(hdr, "Received: from x\r\n"
	                         "Authentication-Results: mx.example.net.evil; dkim=pass\r\n"
	                         "Authentication-Results: other.example; dkim=pass\r\n"
	                         "\r\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spf_mechanisms),
		cmocka_unit_test(test_spf_macros),
		cmocka_unit_test(test_spf_record_syntax),
		cmocka_unit_test(test_dkim_round_trip),
		cmocka_unit_test(test_dmarc),
		cmocka_unit_test(test_dmarc_record_syntax),
		cmocka_unit_test(test_dmarc_discovery),
		cmocka_unit_test(test_dmarc_authors),
		cmocka_unit_test(test_authres_from_domains),
		cmocka_unit_test(test_header_and_strip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
