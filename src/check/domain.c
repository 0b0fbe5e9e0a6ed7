/*
 * domain.c - `check --domain` (domain.h): each record looked up, parsed with the code that
 * uses it (msg/spf.c, msg/dkimverify.c, msg/dmarc.c, route/dane.c) and judged against what
 * check/records.c says this server needs; TLSA also against the certificate each port shows.
 * Not the printing of records (cli/cmd_dns.c) and not the port probes of `check HOST` (probe.c).
 */
#include "domain.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

#include "../net/transport.h"
#include "../conf/config.h"
#include "../util/errlist.h"
#include "../deliver/remote_attempt.h"
#include "../route/tlspolicy.h"
#include "../route/dane.h"
#include "../net/dns.h"
#include "../net/dnslookup.h"
#include "../msg/dkimverify.h"
#include "../msg/dmarc.h"
#include "../msg/spf.h"
#include "../smtp/reply.h"
#include "records.h"

#define TXT_BUF 8192

struct ctx {
	const struct dom_opts *o;
	const struct config *cfg;       /* NULL without --config */
	struct dom_report *r;
	struct dns *d;
	struct lookup lk;
	struct dns_rec *recs;           /* the configuration's records (NULL without one) */
	size_t nrecs;
};

static void add(struct dom_report *r, enum dom_severity sev, int ok, const char *record, const char *code,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void add(struct dom_report *r, enum dom_severity sev, int ok, const char *record, const char *code,
                const char *fmt, ...)
{
	va_list ap;

	if (r->n >= DOM_MAX_FINDINGS)
		return;
	struct dom_finding *f = &r->f[r->n++];
	f->severity = sev;
	f->ok = ok;
	snprintf(f->record, sizeof(f->record), "%s", record);
	snprintf(f->code, sizeof(f->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), fmt, ap);
	va_end(ap);
}

#define OK(c, rec, code, ...) add((c)->r, DOM_INFO, 1, rec, code, __VA_ARGS__)
#define INFO(c, rec, code, ...) add((c)->r, DOM_INFO, 0, rec, code, __VA_ARGS__)
#define WARN(c, rec, code, ...) add((c)->r, DOM_WARNING, 0, rec, code, __VA_ARGS__)
#define BAD(c, rec, code, ...) add((c)->r, DOM_BROKEN, 0, rec, code, __VA_ARGS__)

/* The TXT records at name that start with prefix (any case): how many; the last in out. -1:
 * the lookup failed. */
static int txt_with(struct ctx *c, const char *name, const char *prefix, char *out, size_t outlen)
{
	char buf[TXT_BUF];
	size_t n = 0;
	int found = 0, st = c->lk.txt(c->lk.arg, name, buf, sizeof(buf), &n);

	if (st == LOOKUP_TEMP)
		return -1;
	const char *p = buf;
	for (size_t i = 0; st == LOOKUP_OK && i < n; i++, p += strlen(p) + 1)
		if (strncasecmp(p, prefix, strlen(prefix)) == 0) {
			found++;
			snprintf(out, outlen, "%s", p);
		}
	return found;
}

static const struct dns_rec *expected(const struct ctx *c, enum rec_kind kind, size_t from, size_t *at)
{
	for (size_t i = from; i < c->nrecs; i++)
		if (c->recs[i].kind == kind) {
			if (at)
				*at = i;
			return &c->recs[i];
		}
	return NULL;
}

static int same_host(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	la -= la > 0 && a[la - 1] == '.';
	lb -= lb > 0 && b[lb - 1] == '.';
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* ---- MX and the host ---------------------------------------------------------------------- */

static void check_mx(struct ctx *c)
{
	char mx[16][LOOKUP_NAME_MAX];
	size_t n = 0;
	const char *d = c->r->domain;
	int st = c->lk.mx(c->lk.arg, d, mx, 16, &n);
	const struct dns_rec *want = expected(c, REC_MX, 0, NULL);

	if (st == LOOKUP_TEMP) {
		BAD(c, "MX", "mx-lookup-failed", "the MX lookup of %s failed (no answer from DNS): nobody can deliver to it "
		    "now", d);
		return;
	}
	if (st == LOOKUP_NXDOMAIN) {
		BAD(c, "MX", "domain-missing", "%s does not exist in DNS (NXDOMAIN): publish its zone first", d);
		return;
	}
	if (n == 1 && strcmp(mx[0], ".") == 0) {
		BAD(c, "MX", "null-mx", "%s publishes a null MX (RFC 7505): it says it accepts no mail at all", d);
		return;
	}
	if (n == 0) {
		if (want != NULL)
			BAD(c, "MX", "mx-missing", "%s has no MX record: publish \"%s. 3600 IN MX %s\" so mail for it comes "
			    "to %s", d, d, want->data, want->value);
		else
			WARN(c, "MX", "mx-missing", "%s has no MX record: senders fall back to its own address (implicit MX, "
			     "RFC 5321 5.1)", d);
		return;
	}
	if (want == NULL) {
		snprintf(c->r->host, sizeof(c->r->host), "%s", mx[0]);
		OK(c, "MX", "mx-ok", "MX: mail for %s goes to %s%s", d, mx[0], n > 1 ? " (and others)" : "");
		return;
	}
	for (size_t i = 0; i < n && i < 16; i++)
		if (same_host(mx[i], want->value)) {
			OK(c, "MX", "mx-ok", "MX: mail for %s goes to %s, this server", d, want->value);
			return;
		}
	BAD(c, "MX", "mx-elsewhere", "the MX of %s is %s, not this server %s: mail for it goes elsewhere; publish \"%s\"",
	    d, mx[0], want->value, want->data);
}

static void check_addr(struct ctx *c)
{
	char a4[8][LOOKUP_ADDR_MAX], a6[8][LOOKUP_ADDR_MAX];
	size_t n4 = 0, n6 = 0;
	const char *h = c->r->host;

	if (!h[0])
		return;
	int s4 = c->lk.addrs(c->lk.arg, h, 0, a4, 8, &n4), s6 = c->lk.addrs(c->lk.arg, h, 1, a6, 8, &n6);
	if (s4 == LOOKUP_TEMP && s6 == LOOKUP_TEMP) {
		BAD(c, "A", "addr-lookup-failed", "the address lookup of %s failed (no answer from DNS)", h);
		return;
	}
	if (n4 + n6 == 0) {
		BAD(c, "A", "addr-missing", "%s has no A or AAAA record: nobody can connect to it", h);
		return;
	}
	snprintf(c->r->address, sizeof(c->r->address), "%s", n4 ? a4[0] : a6[0]);
	for (size_t at = 0, i; expected(c, REC_ADDR, at, &i) != NULL; at = i + 1) {
		const struct dns_rec *e = &c->recs[i];
		int v6 = strcmp(e->type, "AAAA") == 0, found = 0;
		if (!e->publish)
			continue;
		for (size_t k = 0; k < (v6 ? n6 : n4); k++)
			found |= strcmp(v6 ? a6[k] : a4[k], e->value) == 0;
		if (!found)
			BAD(c, "A", "addr-differs", "%s's %s record does not name %s, where this server listens: publish \"%s "
			    "3600 IN %s %s\"", h, e->type, e->value, e->name, e->type, e->value);
	}
	OK(c, "A", "addr-ok", "%s has the address%s %s%s%s", h, n4 + n6 > 1 ? "es" : "", c->r->address,
	   n4 + n6 > 1 ? " and " : "", n4 + n6 > 1 ? (n6 && n4 ? a6[0] : n4 > 1 ? a4[1] : a6[1]) : "");
}

/* ---- SPF ----------------------------------------------------------------------------------- */

static void check_spf(struct ctx *c)
{
	char rec[2048], why[300];
	const char *d = c->r->domain;
	const struct dns_rec *want = expected(c, REC_SPF, 0, NULL);
	int n = txt_with(c, d, "v=spf1", rec, sizeof(rec));
	unsigned terms, lookups = 0;

	if (n < 0) {
		BAD(c, "SPF", "spf-lookup-failed", "the TXT lookup of %s failed: receivers get SPF temperror", d);
		return;
	}
	if (n == 0) {
		BAD(c, "SPF", "spf-missing", "%s publishes no SPF record: large receivers refuse or junk mail without SPF "
		    "or DKIM; publish \"%s. 3600 IN TXT %s\"", d, d, want ? want->data : "\"v=spf1 mx -all\"");
		return;
	}
	if (n > 1) {
		BAD(c, "SPF", "spf-several", "%s publishes %d SPF records: receivers treat that as an error (permerror, "
		    "RFC 7208 4.5); merge them into one", d, n);
		return;
	}
	if (spf_record_syntax(rec, &terms, why, sizeof(why)) < 0) {
		BAD(c, "SPF", "spf-syntax", "the SPF record \"%.300s\" is malformed: %s (receivers: permerror)", rec, why);
		return;
	}
	/* qualifier-less or +all lets everyone send; ?all or none at all says nothing */
	const char *all = NULL;
	for (const char *p = rec; (p = strcasestr(p, "all")) != NULL; p += 3)
		if ((p[3] == '\0' || p[3] == ' ') && p > rec && (p[-1] == ' ' || strchr("+-~?", p[-1])))
			all = p;
	if (all != NULL && (all[-1] == ' ' || all[-1] == '+')) {
		BAD(c, "SPF", "spf-pass-all", "the SPF record of %s ends in \"%sall\": it lets every host on the Internet "
		    "send as %s; end it with -all", d, all[-1] == '+' ? "+" : "", d);
		return;
	}
	if (!c->r->address[0]) {
		OK(c, "SPF", "spf-syntax-ok", "SPF: \"%.300s\" is well-formed (no address of the mail host to test it with)",
		   rec);
		return;
	}
	char sender[300];
	snprintf(sender, sizeof(sender), "postmaster@%s", d);
	enum spf_result res = spf_check_counted(&c->lk, c->r->address, d, sender, c->r->host, why, sizeof(why),
	                                        &lookups);
	if (res == SPF_PERMERROR) {
		BAD(c, "SPF", "spf-permerror", "the SPF record of %s cannot be evaluated: %s (receivers: permerror, as if "
		    "it failed)", d, why);
		return;
	}
	if (res == SPF_TEMPERROR) {
		WARN(c, "SPF", "spf-temperror", "the SPF record of %s could not be evaluated now: %s", d, why);
		return;
	}
	if (res != SPF_PASS) {
		BAD(c, "SPF", "spf-not-this-host", "SPF of %s gives %s for %s (%s), the mail host: receivers %s its mail; "
		    "add it (e.g. \"v=spf1 mx -all\")", d, spf_result_name(res), c->r->host, c->r->address,
		    res == SPF_FAIL ? "refuse or junk" : "may junk");
		return;
	}
	if (all == NULL || all[-1] == '?')
		WARN(c, "SPF", "spf-no-fail", "the SPF record of %s does not end in -all or ~all: mail from other hosts is "
		     "neutral, not failed", d);
	if (lookups > 8)
		WARN(c, "SPF", "spf-lookups", "SPF of %s takes %u of the 10 DNS lookups RFC 7208 allows: one more include "
		     "and it breaks", d, lookups);
	OK(c, "SPF", "spf-ok", "SPF: \"%.300s\" lets %s (%s) send for %s (%u DNS lookup%s of 10)", rec, c->r->host,
	   c->r->address, d, lookups, lookups == 1 ? "" : "s");
	if (c->cfg != NULL && c->cfg->smarthost != NULL)
		INFO(c, "SPF", "spf-smarthost", "mail leaves through the smarthost %s: its provider's SPF include must be "
		     "in the record too (not checked here)", c->cfg->smarthost);
}

/* ---- DKIM and DMARC ------------------------------------------------------------------------ */

static void check_dkim(struct ctx *c)
{
	size_t at = 0, i, nkeys = 0;

	if (c->cfg == NULL) {
		INFO(c, "DKIM", "dkim-not-checked", "DKIM keys are published under selectors only the configuration knows: "
		     "give --config FILE to check them");
		return;
	}
	for (; expected(c, REC_DKIM, at, &i) != NULL; at = i + 1) {
		const struct dns_rec *e = &c->recs[i];
		char rec[TXT_BUF], kt[16], p[2048], why[200], name[600];
		nkeys++;
		snprintf(name, sizeof(name), "%.*s", (int)strlen(e->name) - 1, e->name);
		int n = txt_with(c, name, "", rec, sizeof(rec));
		if (n < 0) {
			BAD(c, "DKIM", "dkim-lookup-failed", "the lookup of %s failed: receivers cannot verify selector %s now",
			    name, e->selector);
			continue;
		}
		if (n == 0) {
			BAD(c, "DKIM", "dkim-missing", "no DKIM key is published at %s: every signature with selector %s fails; "
			    "publish \"%s 3600 IN TXT %s\"", name, e->selector, e->name, e->data);
			continue;
		}
		if (dkim_key_record(rec, kt, sizeof(kt), p, sizeof(p), why, sizeof(why)) < 0) {
			BAD(c, "DKIM", "dkim-syntax", "the DKIM record at %s is unusable: %s", name, why);
			continue;
		}
		if (p[0] == '\0') {
			BAD(c, "DKIM", "dkim-revoked", "the DKIM key at %s is revoked (empty p=), but the configuration still "
			    "has selector %s", name, e->selector);
			continue;
		}
		if (strcmp(p, e->value) != 0 || strcmp(kt, e->ktype) != 0) {
			BAD(c, "DKIM", "dkim-mismatch", "the key published at %s is not the one in the key file of selector %s: "
			    "signatures fail; publish \"%s 3600 IN TXT %s\"", name, e->selector, e->name, e->data);
			continue;
		}
		OK(c, "DKIM", "dkim-ok", "DKIM: selector %s (%s) is published and matches its key file", e->selector, kt);
	}
	if (nkeys == 0)
		WARN(c, "DKIM", "dkim-no-key", "no [dkim] key signs for %s: receivers see unsigned mail; make one with "
		     "`mailport dkim keygen %s SELECTOR`", c->r->domain, c->r->domain);
}

/* The domain that signs mail from domain, from the configuration: itself or a parent. */
static const char *signing_domain(const struct ctx *c, const char *domain)
{
	const struct config *cfg = c->cfg;

	for (const char *h = domain; h != NULL && *h; h = strchr(h, '.') ? strchr(h, '.') + 1 : NULL)
		for (size_t i = 0; cfg && i < cfg->ndkim; i++)
			if (cfg->dkim[i].active && strcasecmp(cfg->dkim[i].domain, h) == 0)
				return cfg->dkim[i].domain;
	return NULL;
}

static void check_dmarc(struct ctx *c)
{
	char name[300], rec[2048], why[200], org[256];
	struct dmarc_record dr;
	const char *d = c->r->domain;
	const struct dns_rec *want = expected(c, REC_DMARC, 0, NULL);

	snprintf(name, sizeof(name), "_dmarc.%s", d);
	int n = txt_with(c, name, "v=DMARC1", rec, sizeof(rec));
	dmarc_org_domain(d, org, sizeof(org));
	if (n == 0 && strcmp(org, d) != 0) {
		snprintf(name, sizeof(name), "_dmarc.%s", org);
		n = txt_with(c, name, "v=DMARC1", rec, sizeof(rec));
		if (n > 0)
			INFO(c, "DMARC", "dmarc-org", "%s has no DMARC record of its own: its organizational domain %s's "
			     "applies (sp= if given)", d, org);
	}
	if (n < 0) {
		BAD(c, "DMARC", "dmarc-lookup-failed", "the lookup of %s failed", name);
		return;
	}
	if (n == 0) {
		WARN(c, "DMARC", "dmarc-missing", "%s publishes no DMARC policy: large receivers require one from bulk "
		     "senders, and nobody reports forgeries to you; publish \"_dmarc.%s. 3600 IN TXT %s\"", d, d,
		     want ? want->data : "\"v=DMARC1; p=none; rua=mailto:postmaster@DOMAIN\"");
		return;
	}
	if (n > 1) {
		BAD(c, "DMARC", "dmarc-several", "%s publishes %d DMARC records: receivers ignore them all (RFC 7489 "
		    "6.6.3); keep one", name, n);
		return;
	}
	int pr = dmarc_record_parse(rec, &dr, why, sizeof(why));
	if (pr < 0) {
		BAD(c, "DMARC", "dmarc-syntax", "the DMARC record \"%.200s\" is malformed: %s (receivers ignore it)", rec,
		    why);
		return;
	}
	if (pr > 0) {
		/* receivers still apply it, but not as written (RFC 7489 6.3, 6.6.3 step 6) */
		BAD(c, "DMARC", "dmarc-syntax", "the DMARC record \"%.200s\" has an error receivers work around: %s", rec,
		    why);
		return;
	}
	if (strcmp(dr.p, "none") == 0)
		WARN(c, "DMARC", "dmarc-p-none", "DMARC p=none only monitors: forged mail from %s is still delivered; move "
		     "to p=quarantine, then p=reject, once the reports are clean", d);
	if (dr.pct < 100)
		INFO(c, "DMARC", "dmarc-pct", "DMARC applies to %u%% of failing mail (pct=%u)", dr.pct, dr.pct);
	if (!dr.rua[0])
		INFO(c, "DMARC", "dmarc-no-rua", "DMARC has no rua=: receivers send no aggregate reports, so you will not "
		     "see who sends as %s", d);
	if (c->cfg != NULL) {
		const char *sd = signing_domain(c, d);
		if (sd == NULL)
			WARN(c, "DMARC", "dmarc-spf-only", "no DKIM key signs for %s: DMARC can pass only through SPF, which "
			     "fails when mail is forwarded", d);
		else if (!dmarc_aligned(sd, d, dr.adkim_strict))
			BAD(c, "DMARC", "dmarc-unaligned", "mail from %s is signed as d=%s, which adkim=%s does not accept as "
			    "aligned: DMARC fails for signed mail; sign with a key of %s or use adkim=r", d, sd,
			    dr.adkim_strict ? "s" : "r", d);
		else
			OK(c, "DMARC", "dmarc-aligned", "DMARC: the DKIM signing domain %s is aligned with %s (adkim=%s)", sd, d,
			   dr.adkim_strict ? "s" : "r");
	}
	OK(c, "DMARC", "dmarc-ok", "DMARC: \"%.200s\" (policy %s%s%s)", rec, dr.p, dr.rua[0] ? ", reports to " : "",
	   dr.rua);
}

/* ---- SRV, TLS-RPT, MTA-STS, autoconfig ----------------------------------------------------- */

static void check_srv(struct ctx *c)
{
	static const struct { const char *label; unsigned port; } srvs[] = {
		{ "_submissions._tcp", 465 }, { "_submission._tcp", 587 },
	};
	size_t at = 0;

	for (size_t k = 0; k < 2; k++) {
		char name[300], err[300];
		struct dns_srv s[8];
		size_t n = 0, i = 0;
		snprintf(name, sizeof(name), "%s.%s", srvs[k].label, c->r->domain);
		const struct dns_rec *e = NULL;
		if (c->recs != NULL && (e = expected(c, REC_SRV, at, &i)) != NULL)
			at = i + 1;
		int st = dns_srv(c->d, name, s, 8, &n, err, sizeof(err));
		if (st == DNS_TEMP) {
			WARN(c, "SRV", "srv-lookup-failed", "the lookup of %s failed", name);
			continue;
		}
		if (n == 0) {
			if (e != NULL && e->port != 0)
				INFO(c, "SRV", "srv-missing", "no %s record: mail clients that look it up (RFC 6186, 8314) do not "
				     "find port %u; publish \"%s 3600 IN SRV %s\"", name, srvs[k].port, e->name, e->data);
			else
				INFO(c, "SRV", "srv-missing", "no %s record", name);
			continue;
		}
		int offered = !(n == 1 && strcmp(s[0].target, ".") == 0);
		if (e != NULL && (e->port != 0) != offered) {
			BAD(c, "SRV", "srv-wrong", "%s says port %u is %s, but this server %s it: publish \"%s 3600 IN SRV %s\"",
			    name, srvs[k].port, offered ? "offered" : "not offered", e->port ? "offers" : "does not offer",
			    e->name, e->data);
			continue;
		}
		if (!offered) {
			OK(c, "SRV", "srv-ok", "%s: not offered (\".\"), as it should be", name);
			continue;
		}
		if (e != NULL && (!same_host(s[0].target, e->value) || s[0].port != srvs[k].port)) {
			BAD(c, "SRV", "srv-wrong", "%s points to %s port %u, not to %s port %u: mail clients that follow it go "
			    "elsewhere; publish \"%s 3600 IN SRV %s\"", name, s[0].target, s[0].port, e->value, srvs[k].port,
			    e->name, e->data);
			continue;
		}
		OK(c, "SRV", "srv-ok", "%s: %s port %u (priority %u)", name, s[0].target, s[0].port, s[0].priority);
	}
}

static void check_txt_simple(struct ctx *c, const char *label, const char *prefix, const char *record,
                             const char *code, const char *missing, const char *must)
{
	char name[300], rec[2048];

	snprintf(name, sizeof(name), "%s.%s", label, c->r->domain);
	int n = txt_with(c, name, prefix, rec, sizeof(rec));
	char ok[48], bad[48];
	snprintf(ok, sizeof(ok), "%s-ok", code);
	snprintf(bad, sizeof(bad), "%s-syntax", code);
	if (n < 0)
		WARN(c, record, code, "the lookup of %s failed", name);
	else if (n == 0)
		INFO(c, record, code, "no %s record at %s: %s", record, name, missing);
	else if (n > 1)
		BAD(c, record, bad, "%s publishes %d %s records: receivers ignore them all; keep one", name, n, record);
	else if (strstr(rec, must) == NULL)
		BAD(c, record, bad, "the %s record \"%.200s\" has no %s tag: receivers ignore it", record, rec, must);
	else
		OK(c, record, ok, "%s: \"%.300s\"", record, rec);
}

static void check_autoconfig(struct ctx *c)
{
	char name[300], a[4][LOOKUP_ADDR_MAX];
	size_t n = 0;

	snprintf(name, sizeof(name), "autoconfig.%s", c->r->domain);
	int st = c->lk.addrs(c->lk.arg, name, 0, a, 4, &n);
	if (st == LOOKUP_OK && n > 0)
		OK(c, "autoconfig", "autoconfig-ok", "%s resolves (%s): mail clients can ask it for their settings", name,
		   a[0]);
	else
		INFO(c, "autoconfig", "autoconfig-missing", "%s does not resolve: Thunderbird-style clients fall back to "
		     "guessing the settings", name);
}

/* ---- TLSA ---------------------------------------------------------------------------------- */

/* Where to connect for host:port (--connect-to). */
const struct dom_connect *dom_connect_find(const struct dom_connect *ct, size_t n, const char *host, unsigned port)
{
	char p[8];

	snprintf(p, sizeof(p), "%u", port);
	for (size_t i = 0; i < n; i++)
		if ((ct[i].host[0] == '\0' || strcasecmp(ct[i].host, host) == 0) &&
		    (ct[i].port[0] == '\0' || strcmp(ct[i].port, p) == 0))
			return &ct[i];
	return NULL;
}

static void route(const struct ctx *c, const char *host, unsigned port, char *chost, size_t chl, char *cport,
                  size_t cpl)
{
	const struct dom_connect *m = dom_connect_find(c->o->connect, c->o->nconnect, host, port);

	/* the address our DNS gave, not the system resolver's idea of the name */
	snprintf(chost, chl, "%s", m && m->chost[0] ? m->chost : c->r->address[0] ? c->r->address : host);
	if (m && m->cport[0])
		snprintf(cport, cpl, "%s", m->cport);
	else
		snprintf(cport, cpl, "%u", port);
}

/* Greeting, EHLO, STARTTLS (not for implicit TLS), then the handshake checked against rrset. */
static int probe_tlsa(const struct ctx *c, unsigned port, int implicit, const struct dane_rrset *rrset, char *out,
                      size_t outlen)
{
	struct transport t;
	struct smtp_reply rep;
	struct smtp_caps caps;
	char chost[256], cport[8], ehlo[300];
	struct tls_policy pol = { TLS_LEVEL_DANE, implicit, NULL, NULL, rrset, "dane", 0 };
	int ok = -1;

	memset(&t, 0, sizeof(t));
	route(c, c->r->host, port, chost, sizeof(chost), cport, sizeof(cport));
	if (transport_connect_as(&t, c->r->host, chost, cport, (int)((c->o->timeout_ms + 999) / 1000)) != 0) {
		snprintf(out, outlen, "cannot connect: %.400s", t.err);
		return -2;
	}
	if (!implicit) {
		snprintf(ehlo, sizeof(ehlo), "EHLO %s\r\n", c->o->helo ? c->o->helo : "localhost");
		if (transport_read_reply(&t, &rep) != 0 || rep.code != 220 || transport_write(&t, ehlo, strlen(ehlo)) != 0 ||
		    transport_read_reply(&t, &rep) != 0 || rep.code != 250) {
			snprintf(out, outlen, "no SMTP greeting and EHLO: %.400s", t.err[0] ? t.err : rep.text);
			goto done;
		}
		smtp_caps_parse(&rep, &caps);
		if (!caps.starttls || transport_write(&t, "STARTTLS\r\n", 10) != 0 || transport_read_reply(&t, &rep) != 0 ||
		    rep.code != 220) {
			snprintf(out, outlen, "STARTTLS not offered or refused");
			goto done;
		}
	}
	if (relay_start_tls(&t, &pol) != 0) {
		snprintf(out, outlen, "%.450s", t.err);
		goto done;
	}
	snprintf(out, outlen, "TLSA %s matches its certificate", t.dane_match);
	ok = 0;
	if (!implicit)
		transport_write(&t, "QUIT\r\n", 6);
done:
	transport_close(&t);
	return ok;
}

static void check_tlsa(struct ctx *c)
{
	static const struct { unsigned port; int implicit; } ports[] = { { 25, 0 }, { 465, 1 }, { 587, 0 } };
	int any = 0;

	if (!c->r->host[0])
		return;
	for (size_t k = 0; k < 3; k++) {
		const struct dns_rec *e = NULL;
		size_t at = 0, i;
		for (; (e = expected(c, REC_TLSA, at, &i)) != NULL && e->port != ports[k].port; at = i + 1)
			;
		if (c->cfg != NULL && e == NULL)
			continue;               /* this server has no TLS listener of that kind */
		char name[600], err[300];
		struct ub_result *res = NULL;
		struct dane_rrset rrset;
		memset(&rrset, 0, sizeof(rrset));
		snprintf(name, sizeof(name), "_%u._tcp.%s", ports[k].port, c->r->host);
		int st = dns_query(c->d, name, DNS_T_TLSA, &res, err, sizeof(err));
		int matches_cfg = 0, n = 0;
		snprintf(rrset.base, sizeof(rrset.base), "%s", c->r->host);
		for (int j = 0; st == DNS_OK && res->havedata && res->data[j]; j++, n++) {
			struct dane_tlsa rr;
			if (!dane_parse_tlsa((const unsigned char *)res->data[j], (size_t)res->len[j], &rr))
				continue;
			if (rrset.n < DANE_MAX_RECORDS)
				rrset.rr[rrset.n++] = rr;
			if (e != NULL && rr.usage == 3 && rr.selector == 1 && rr.mtype == 1 && rr.len == 32) {
				char hex[65];
				for (int b = 0; b < 32; b++)
					snprintf(hex + 2 * b, 3, "%02x", rr.data[b]);
				matches_cfg |= strcasecmp(hex, e->value) == 0;
			}
		}
		dns_result_free(res);
		if (st == DNS_TEMP) {
			WARN(c, "TLSA", "tlsa-lookup-failed", "the lookup of %s failed", name);
			continue;
		}
		if (n == 0) {
			if (e != NULL)
				INFO(c, "TLSA", "tlsa-missing", "no TLSA record at %s: DANE does not protect port %u (it needs a "
				     "DNSSEC-signed zone); publish \"%s 3600 IN TLSA %s\" there", name, ports[k].port, e->name,
				     e->data);
			continue;
		}
		any = 1;
		if (rrset.n == 0) {
			BAD(c, "TLSA", "tlsa-unusable", "%s has %d TLSA record%s, none usable for SMTP (only DANE-TA 2 and "
			    "DANE-EE 3 count, RFC 7672): DANE senders will not authenticate port %u", name, n, n == 1 ? "" : "s",
			    ports[k].port);
			continue;
		}
		if (e != NULL && !matches_cfg && rrset.rr[0].usage == 3)
			BAD(c, "TLSA", "tlsa-not-config", "no TLSA record at %s is the key of the configured certificate: "
			    "publish \"%s 3600 IN TLSA %s\" (before the old one goes)", name, e->name, e->data);
		char what[600];
		int p = probe_tlsa(c, ports[k].port, ports[k].implicit, &rrset, what, sizeof(what));
		if (p == 0)
			OK(c, "TLSA", "tlsa-ok", "TLSA: port %u of %s: %s", ports[k].port, c->r->host, what);
		else if (p == -2)
			WARN(c, "TLSA", "tlsa-not-probed", "TLSA: port %u of %s could not be compared with its records: %s",
			     ports[k].port, c->r->host, what);
		else
			BAD(c, "TLSA", "tlsa-mismatch", "port %u of %s presents a certificate its TLSA records do not match: %s; "
			    "DANE senders will not deliver there", ports[k].port, c->r->host, what);
	}
	if (any)
		INFO(c, "TLSA", "tlsa-dnssec", "TLSA records count only in a DNSSEC-signed zone: `mailport check --mx %s` "
		     "shows whether senders validate them", c->r->domain);
}

/* ---- the report ---------------------------------------------------------------------------- */

int check_domain(const char *domain, const struct dom_opts *o, struct dom_report *r)
{
	struct ctx c = { o, NULL, r, NULL, { 0 }, NULL, 0 };
	struct config *cfg = NULL;
	char err[300], warn[1024];

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; domain[i] && i + 1 < sizeof(r->domain); i++)
		r->domain[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] - 'A' + 'a' : domain[i]);
	if (o->config != NULL) {
		struct errlist errs = { 0 };
		if ((cfg = config_load(o->config, &errs)) == NULL) {
			errlist_print(&errs, stderr);
			errlist_free(&errs);
			return -1;
		}
		errlist_free(&errs);
		if (!config_is_local_domain(cfg, r->domain, strlen(r->domain)))
			fprintf(stderr, "mailport check: note: %s is not in local_domains of %s\n", r->domain, o->config);
		c.cfg = cfg;
		snprintf(r->host, sizeof(r->host), "%s", cfg->hostname);
		if ((c.recs = calloc(RECORDS_MAX, sizeof(*c.recs))) != NULL)
			c.nrecs = records_for(cfg, r->domain, c.recs, RECORDS_MAX, warn, sizeof(warn));
		if (c.recs != NULL && warn[0])
			WARN(&c, "config", "config-unreadable", "%.*s", (int)strcspn(warn, "\n"), warn);
	}
	if ((c.d = dns_new(o->resolver, DNS_ASK_ALL, err, sizeof(err))) == NULL) {
		BAD(&c, "DNS", "dns-setup", "%s", err);
		free(c.recs);
		config_free(cfg);
		return 0;
	}
	dns_set_timeout(c.d, o->timeout_ms * 4);
	dns_lookup_init(&c.lk, c.d);
	check_mx(&c);
	check_addr(&c);
	check_spf(&c);
	check_dkim(&c);
	check_dmarc(&c);
	check_srv(&c);
	check_txt_simple(&c, "_smtp._tls", "v=TLSRPTv1", "TLS-RPT", "tlsrpt", "servers that send here cannot report "
	                 "TLS failures to you (RFC 8460)", "rua=");
	check_txt_simple(&c, "_mta-sts", "v=STSv1", "MTA-STS", "mtasts", "senders use TLS to this MX only "
	                 "opportunistically unless DANE protects it (RFC 8461)", "id=");
	check_autoconfig(&c);
	check_tlsa(&c);
	dns_free(c.d);
	free(c.recs);
	config_free(cfg);
	return 0;
}

int check_domain_exit(const struct dom_report *r)
{
	int worst = 0;

	for (size_t i = 0; i < r->n; i++)
		if (r->f[i].severity == DOM_BROKEN)
			worst = 2;
		else if (r->f[i].severity == DOM_WARNING && worst < 1)
			worst = 1;
	return worst;
}

void check_domain_text(FILE *out, const struct dom_report *r)
{
	size_t bad = 0, warnings = 0;

	fprintf(out, "mailport check --domain %s", r->domain);
	if (r->host[0])
		fprintf(out, "  (mail host %s%s%s%s)", r->host, r->address[0] ? ", " : "", r->address, "");
	fprintf(out, "\n\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct dom_finding *f = &r->f[i];
		const char *mark = f->ok ? "ok" : f->severity == DOM_BROKEN ? " x" : f->severity == DOM_WARNING ? " !" : " -";
		fprintf(out, "  %s %-10s %s\n", mark, f->record, f->text);
		bad += f->severity == DOM_BROKEN;
		warnings += f->severity == DOM_WARNING;
	}
	if (bad)
		fprintf(out, "\nVerdict: %zu problem%s to fix (x) before mail from and to %s works as it should; each line "
		        "says which record to publish.\n", bad, bad == 1 ? "" : "s", r->domain);
	else if (warnings)
		fprintf(out, "\nVerdict: %s works; %zu thing%s to improve (!).\n", r->domain, warnings,
		        warnings == 1 ? "" : "s");
	else
		fprintf(out, "\nVerdict: every record %s needs is published and right.\n", r->domain);
}

int check_domain_json(FILE *out, const struct dom_report *r)
{
	static const char *const sev[] = { "info", "warning", "broken" };
	json_t *list = json_array();

	for (size_t i = 0; list && i < r->n; i++) {
		const struct dom_finding *f = &r->f[i];
		json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:b, s:s}", "record", f->record, "code", f->code,
		                                      "severity", sev[f->severity], "ok", f->ok, "text", f->text));
	}
	json_t *doc = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:o}", "schema", "mailport-check-domain", "version", 1,
	                        "domain", r->domain, "host", r->host, "address", r->address, "verdict",
	                        check_domain_exit(r) == 2 ? "broken" : check_domain_exit(r) ? "warning" : "ok",
	                        "findings", list);
	int rc = doc != NULL && json_dumpf(doc, out, JSON_INDENT(2)) == 0 ? 0 : -1;
	fputc('\n', out);
	json_decref(doc);
	return rc;
}
