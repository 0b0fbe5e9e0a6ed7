/*
 * dmarc.c - DMARC's record, policy discovery (RFC 7489 6.6.3) and identifier alignment
 * (3.1). Not SPF or DKIM themselves (spf.c, dkimverify.c) and not what the server does with
 * a failure (net/inbound.c).
 */
#include "dmarc.h"

#include <ctype.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TXT_BUF 8192

static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static psl_ctx_t *psl;

/* Read once, shared read-only by every thread: libpsl's lookups do not write the context. */
static void psl_load(void) { psl = psl_latest(NULL); }

const char *dmarc_result_name(enum dmarc_result r)
{
	static const char *const n[] = { "none", "pass", "fail", "temperror", "permerror" };
	return n[r];
}

void dmarc_org_domain(const char *domain, char *out, size_t outlen)
{
	char low[256];
	size_t n = 0;

	for (; domain[n] && n + 1 < sizeof(low); n++)
		low[n] = (char)tolower((unsigned char)domain[n]);
	while (n > 0 && low[n - 1] == '.')
		n--;
	low[n] = '\0';
	pthread_once(&psl_once, psl_load);
	const char *reg = psl ? psl_registrable_domain(psl, low) : NULL;
	snprintf(out, outlen, "%s", reg ? reg : low);
}

int dmarc_aligned(const char *a, const char *b, int strict)
{
	char oa[256], ob[256];

	if (strcasecmp(a, b) == 0)
		return 1;
	if (strict)
		return 0;
	dmarc_org_domain(a, oa, sizeof(oa));
	dmarc_org_domain(b, ob, sizeof(ob));
	return strcmp(oa, ob) == 0;
}

static int policy_word(const char *v) { return !strcmp(v, "none") || !strcmp(v, "quarantine") || !strcmp(v, "reject"); }

int dmarc_record_parse(const char *txt, struct dmarc_record *r, char *why, size_t whylen)
{
	char copy[2048], *sv = NULL;
	int first = 1, have_p = 0;

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	if (snprintf(copy, sizeof(copy), "%s", txt) >= (int)sizeof(copy)) {
		snprintf(why, whylen, "the record is too long");
		return -1;
	}
	for (char *t = strtok_r(copy, ";", &sv); t != NULL; t = strtok_r(NULL, ";", &sv), first = 0) {
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t == '\0')
			continue;
		char *eq = strchr(t, '='), *e;
		if (eq == NULL) {
			snprintf(why, whylen, "\"%.40s\" is not tag=value", t);
			return -1;
		}
		for (e = eq; e > t && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		char *v = eq + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = '\0';
		if (first) {
			if (strcmp(t, "v") != 0 || strcmp(v, "DMARC1") != 0) {
				snprintf(why, whylen, "it does not start with v=DMARC1");
				return -1;
			}
		} else if (!strcmp(t, "p") || !strcmp(t, "sp")) {
			if (!policy_word(v)) {
				snprintf(why, whylen, "%s=%.20s: expected none, quarantine or reject", t, v);
				return -1;
			}
			snprintf(!strcmp(t, "p") ? r->p : r->sp, sizeof(r->p), "%s", v);
			have_p |= !strcmp(t, "p");
		} else if (!strcmp(t, "adkim") || !strcmp(t, "aspf")) {
			if (strcmp(v, "r") != 0 && strcmp(v, "s") != 0) {
				snprintf(why, whylen, "%s=%.20s: expected r or s", t, v);
				return -1;
			}
			*(!strcmp(t, "adkim") ? &r->adkim_strict : &r->aspf_strict) = v[0] == 's';
		} else if (!strcmp(t, "pct")) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);
			if (*end || end == v || n > 100) {
				snprintf(why, whylen, "pct=%.20s: expected 0 to 100", v);
				return -1;
			}
			r->pct = (unsigned)n;
		} else if (!strcmp(t, "rua"))
			snprintf(r->rua, sizeof(r->rua), "%s", v);
		/* ruf, fo, rf, ri and unknown tags do not change the verdict (6.3: ignore unknown) */
	}
	if (first) {
		snprintf(why, whylen, "the record is empty");
		return -1;
	}
	if (!have_p) {
		/* 6.6.3: without a valid p= a record with a rua is taken as p=none */
		if (r->rua[0] == '\0') {
			snprintf(why, whylen, "it has no p= tag");
			return -1;
		}
		snprintf(r->p, sizeof(r->p), "none");
	}
	return 0;
}

/* The one DMARC record at _dmarc.domain: 1 found (in r), 0 none, -1 temperror. */
static int fetch(const struct lookup *lk, const char *domain, struct dmarc_record *r, char *why, size_t whylen)
{
	char name[300], buf[TXT_BUF];
	const char *rec = NULL;
	size_t n = 0, found = 0;

	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	int s = lk->txt(lk->arg, name, buf, sizeof(buf), &n);
	if (s == LOOKUP_TEMP) {
		snprintf(why, whylen, "the DNS lookup of %.100s failed", name);
		return -1;
	}
	const char *p = buf;
	for (size_t i = 0; s == LOOKUP_OK && i < n; i++, p += strlen(p) + 1)
		if (strncmp(p, "v=DMARC1", 8) == 0 && (p[8] == ';' || p[8] == ' ' || p[8] == '\0')) {
			found++;
			rec = p;
		}
	/* 6.6.3: none, several, or one that does not parse: as if there were none */
	return found == 1 && dmarc_record_parse(rec, r, why, whylen) == 0;
}

static const char *lesser(const char *p)
{
	return !strcmp(p, "reject") ? "quarantine" : "none";
}

void dmarc_check(const struct lookup *lk, const char *from_domain, const char *spf_domain, int spf_pass,
                 const struct dkim_vsig *sigs, size_t nsigs, unsigned rnd100, struct dmarc_eval *out)
{
	struct dmarc_record rec;
	char org[256];

	memset(out, 0, sizeof(*out));
	if (from_domain == NULL) {
		out->result = DMARC_PERMERROR;
		snprintf(out->why, sizeof(out->why), "the message has no single From: address");
		return;
	}
	size_t k = 0;
	for (; from_domain[k] && k + 1 < sizeof(out->from_domain); k++)
		out->from_domain[k] = (char)tolower((unsigned char)from_domain[k]);
	out->from_domain[k] = '\0';
	int f = fetch(lk, out->from_domain, &rec, out->why, sizeof(out->why));
	int at_org = 0;
	dmarc_org_domain(out->from_domain, org, sizeof(org));
	if (f == 0 && strcmp(org, out->from_domain) != 0) {
		f = fetch(lk, org, &rec, out->why, sizeof(out->why));
		at_org = 1;
	}
	if (f < 0) {
		out->result = DMARC_TEMPERROR;
		return;
	}
	if (f == 0) {
		out->result = DMARC_NONE;
		snprintf(out->why, sizeof(out->why), "%.200s publishes no DMARC policy", out->from_domain);
		return;
	}
	snprintf(out->policy, sizeof(out->policy), "%s", at_org && rec.sp[0] ? rec.sp : rec.p);
	if (spf_pass && spf_domain != NULL && dmarc_aligned(spf_domain, out->from_domain, rec.aspf_strict)) {
		out->result = DMARC_PASS;
		snprintf(out->why, sizeof(out->why), "SPF passed for the aligned domain %.200s", spf_domain);
		return;
	}
	for (size_t i = 0; i < nsigs; i++)
		if (sigs[i].result == DKIM_V_PASS && dmarc_aligned(sigs[i].domain, out->from_domain, rec.adkim_strict)) {
			out->result = DMARC_PASS;
			snprintf(out->why, sizeof(out->why), "DKIM passed for the aligned domain %.200s", sigs[i].domain);
			return;
		}
	out->result = DMARC_FAIL;
	snprintf(out->why, sizeof(out->why), "neither SPF nor DKIM passed for a domain aligned with %.200s",
	         out->from_domain);
	/* 6.6.4: a message outside pct= gets the next policy down */
	if (rnd100 >= rec.pct)
		snprintf(out->policy, sizeof(out->policy), "%s", lesser(out->policy));
	out->reject = strcmp(out->policy, "reject") == 0;
}
