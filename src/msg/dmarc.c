/*
 * dmarc.c - DMARC's record, policy discovery (RFC 7489 6.6.3), identifier alignment (3.1) and
 * the verdict over every From: domain (6.6.1). Not SPF or DKIM themselves (spf.c,
 * dkimverify.c), not finding the From: domains (authres.c) and not what the server does with a
 * failure (server/sendercheck.c).
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

/* ---- the record (6.3, 6.4) ---------------------------------------------------------------- */

static int is_wsp(char c) { return c == ' ' || c == '\t'; }

/* dmarc-version and its dmarc-sep (6.4): "v" *WSP "=" *WSP "DMARC1", then *WSP and ";" or the
 * end. "v" is an ABNF string (any case); DMARC1 is given as %x octets and "MUST match
 * precisely" (6.3). The length of the match, or 0: not a DMARC record (6.6.3 step 2). */
static size_t version_tag(const char *s)
{
	size_t i = 0;

	if (s[i] != 'v' && s[i] != 'V')
		return 0;
	for (i++; is_wsp(s[i]); i++)
		;
	if (s[i++] != '=')
		return 0;
	while (is_wsp(s[i]))
		i++;
	if (strncmp(s + i, "DMARC1", 6) != 0)
		return 0;
	for (i += 6; is_wsp(s[i]); i++)
		;
	return s[i] == ';' || s[i] == '\0' ? i : 0;
}

/* "none", "quarantine" or "reject" in any case (ABNF strings, 6.4) into out, lower case. */
static int policy_word(const char *v, char *out, size_t outlen)
{
	static const char *const words[] = { "none", "quarantine", "reject" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(v, words[i]) == 0) {
			snprintf(out, outlen, "%s", words[i]);
			return 1;
		}
	return 0;
}

/* dmarc-uri (6.4): an RFC 3986 URI (a scheme, ":", then URI characters), optionally "!" and a
 * size with a unit. Checked as far as 6.6.3 step 6 needs: is it a URI a report could go to. */
static int uri_valid(const char *u, size_t len)
{
	size_t i = 0, end = len;

	for (size_t k = 0; k < len; k++)
		if (u[k] == '!') {
			end = k;
			size_t d = k + 1;
			while (d < len && isdigit((unsigned char)u[d]))
				d++;
			if (d == k + 1 || (d < len && (d + 1 != len || strchr("kmgtKMGT", u[d]) == NULL)))
				return 0;
			break;
		}
	if (end == 0 || !isalpha((unsigned char)u[0]))
		return 0;
	while (i < end && (isalnum((unsigned char)u[i]) || u[i] == '+' || u[i] == '-' || u[i] == '.'))
		i++;
	if (i == end || u[i] != ':' || i + 1 == end)
		return 0;
	for (i++; i < end; i++)
		if (!isalnum((unsigned char)u[i]) && strchr("-._~:/?#[]@!$&'()*+;=%", u[i]) == NULL)
			return 0;
	return 1;
}

/* rua's value (6.4 dmarc-auri): a comma-separated list; 6.6.3 step 6 asks for at least one
 * syntactically valid URI in it. */
static int rua_valid(const char *v)
{
	while (*v) {
		const char *e = strchr(v, ',');
		size_t len = e ? (size_t)(e - v) : strlen(v);
		size_t a = 0, b = len;
		while (a < b && is_wsp(v[a]))
			a++;
		while (b > a && is_wsp(v[b - 1]))
			b--;
		if (uri_valid(v + a, b - a))
			return 1;
		if (e == NULL)
			break;
		v = e + 1;
	}
	return 0;
}

/* why gets the first problem only: one is enough to act on. */
static void note(char *why, size_t whylen, int *noted, const char *fmt, const char *a, const char *b)
{
	if (!*noted)
		snprintf(why, whylen, fmt, a, b);
	*noted = 1;
}

int dmarc_record_parse(const char *txt, struct dmarc_record *r, char *why, size_t whylen)
{
	/* the tags each record may carry once (RFC 6376 3.2); unknown tags are not tracked */
	static const char *const known[] = { "v", "p", "sp", "adkim", "aspf", "pct", "rua", "ruf", "fo", "rf", "ri" };
	char copy[DMARC_RECORD_MAX];
	unsigned seen = 1;               /* bit k: known[k] seen; v= was, in front */
	int noted = 0, bad_p = 0, bad_sp = 0, have_p = 0;
	size_t at = version_tag(txt);

	memset(r, 0, sizeof(*r));
	r->pct = 100;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (at == 0) {
		snprintf(why, whylen, "it does not start with v=DMARC1");
		return -1;
	}
	if (snprintf(copy, sizeof(copy), "%s", txt + at) >= (int)sizeof(copy)) {
		snprintf(why, whylen, "the record is longer than %d octets", DMARC_RECORD_MAX);
		return -1;
	}
	for (char *t = copy, *next; t != NULL; t = next) {
		next = strchr(t, ';');
		if (next != NULL)
			*next++ = '\0';
		while (is_wsp(*t))
			t++;
		char *e = t + strlen(t);
		while (e > t && is_wsp(e[-1]))
			*--e = '\0';
		if (*t == '\0')
			continue;               /* ";;" or the final ";" */
		char *eq = strchr(t, '=');
		if (eq == NULL) {
			/* 6.3: syntax errors in the rest of the record are ignored */
			note(why, whylen, &noted, "\"%.40s%s\" is not tag=value: ignored", t, "");
			continue;
		}
		char *v = eq + 1;
		for (e = eq; e > t && is_wsp(e[-1]); e--)
			;
		*e = '\0';
		while (is_wsp(*v))
			v++;
		size_t k = 0;
		for (; k < sizeof(known) / sizeof(known[0]) && strcasecmp(t, known[k]) != 0; k++)
			;
		if (k < sizeof(known) / sizeof(known[0])) {
			if (seen & (1u << k)) {
				snprintf(why, whylen, "the tag %.20s appears twice (RFC 6376 3.2: the record is invalid)",
				         known[k]);
				return -1;
			}
			seen |= 1u << k;
		}
		if (k == 1 || k == 2) {
			if (policy_word(v, k == 1 ? r->p : r->sp, sizeof(r->p)))
				have_p |= k == 1;
			else {
				*(k == 1 ? &bad_p : &bad_sp) = 1;
				note(why, whylen, &noted, "%s=%.20s: expected none, quarantine or reject", known[k], v);
			}
		} else if (k == 3 || k == 4) {
			if (strcasecmp(v, "r") == 0 || strcasecmp(v, "s") == 0)
				*(k == 3 ? &r->adkim_strict : &r->aspf_strict) = tolower((unsigned char)v[0]) == 's';
			else
				note(why, whylen, &noted, "%s=%.20s: expected r or s, r (the default) used", known[k], v);
		} else if (k == 5) {
			/* 6.4 dmarc-percent: 1*3DIGIT, at most 100 (6.3) */
			size_t nd = strspn(v, "0123456789");
			if (nd >= 1 && nd <= 3 && v[nd] == '\0' && atoi(v) <= 100)
				r->pct = (unsigned)atoi(v);
			else
				note(why, whylen, &noted, "pct=%.20s: expected 0 to 100, 100 (the default) used%s", v, "");
		} else if (k == 6)
			snprintf(r->rua, sizeof(r->rua), "%s", v);
		/* ruf, fo, rf, ri and unknown tags do not change the verdict (6.3: ignore unknown) */
	}
	if (!have_p || bad_sp) {
		/* 6.6.3 step 6: without a valid p=, or with a bad sp=, a record with a valid rua is taken
		 * as "v=DMARC1; p=none"; any other is no policy */
		if (!rua_valid(r->rua)) {
			snprintf(why, whylen, "%s, and no valid rua=",
			         bad_p ? "p= is not none, quarantine or reject" : bad_sp ? "sp= is not none, quarantine or reject"
			                                                         : "it has no p= tag");
			return -1;
		}
		snprintf(r->p, sizeof(r->p), "none");
		r->sp[0] = '\0';
		/* a record for reports only, with no p= at all, is a form in use, not an error */
		if (bad_p || bad_sp)
			note(why, whylen, &noted, "%s: read as p=none, for its rua=%s", bad_p ? "p= is invalid" : "sp= is invalid",
			     "");
	}
	return noted ? 1 : 0;
}

/* ---- policy discovery (6.6.3) --------------------------------------------------------------- */

enum found {
	FOUND_TEMP = -1,                /* the lookup failed: temperror */
	FOUND_NOTHING = 0,              /* no record starting with v=DMARC1: ask the organizational domain */
	FOUND_POLICY = 1,               /* one, parsed into r */
	FOUND_UNUSABLE = 2,             /* several, or one that is no policy record: DMARC does not apply */
};

/* What _dmarc.domain publishes (6.6.3 steps 1, 2, 5 and 6). */
static enum found fetch(const struct lookup *lk, const char *domain, struct dmarc_record *r, char *why, size_t whylen)
{
	char name[300], buf[TXT_BUF], pwhy[200];
	const char *rec = NULL;
	size_t n = 0, found = 0;

	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	int s = lk->txt(lk->arg, name, buf, sizeof(buf), &n);
	if (s == LOOKUP_TEMP) {
		snprintf(why, whylen, "the DNS lookup of %.100s failed", name);
		return FOUND_TEMP;
	}
	const char *p = buf;
	for (size_t i = 0; s == LOOKUP_OK && i < n; i++, p += strlen(p) + 1)
		if (version_tag(p) != 0) {
			found++;
			rec = p;
		}
	if (found == 0)
		return FOUND_NOTHING;
	/* Step 5 and 6 end discovery here: a broken or doubled record at a subdomain does not hand
	 * the domain to its parent's policy, which may be stricter than what its owner meant. */
	if (found > 1) {
		snprintf(why, whylen, "%.100s has %zu DMARC records: no policy (RFC 7489 6.6.3)", name, found);
		return FOUND_UNUSABLE;
	}
	if (dmarc_record_parse(rec, r, pwhy, sizeof(pwhy)) < 0) {
		snprintf(why, whylen, "the DMARC record of %.100s is no policy: %.150s (RFC 7489 6.6.3)", name, pwhy);
		return FOUND_UNUSABLE;
	}
	return FOUND_POLICY;
}

static const char *lesser(const char *p)
{
	return !strcmp(p, "reject") ? "quarantine" : "none";
}

/* One From: domain (lower case): its result and policy into a, its reason into why. */
static void check_one(const struct lookup *lk, struct dmarc_author *a, const char *spf_domain, int spf_pass,
                      const struct dkim_vsig *sigs, size_t nsigs, unsigned rnd100, char *why, size_t whylen)
{
	struct dmarc_record rec;
	char org[256];
	int at_org = 0;

	enum found f = fetch(lk, a->domain, &rec, why, whylen);
	if (f == FOUND_NOTHING) {
		/* step 3: only when the From: domain publishes no DMARC record at all */
		dmarc_org_domain(a->domain, org, sizeof(org));
		if (strcmp(org, a->domain) != 0) {
			f = fetch(lk, org, &rec, why, whylen);
			at_org = 1;
		}
	}
	if (f == FOUND_TEMP) {
		a->result = DMARC_TEMPERROR;
		return;
	}
	if (f != FOUND_POLICY) {
		a->result = DMARC_NONE;
		if (f == FOUND_NOTHING)
			snprintf(why, whylen, "%.200s publishes no DMARC policy", a->domain);
		return;
	}
	/* sp= is for subdomains that have no record of their own (6.3) */
	snprintf(a->policy, sizeof(a->policy), "%s", at_org && rec.sp[0] ? rec.sp : rec.p);
	if (spf_pass && spf_domain != NULL && dmarc_aligned(spf_domain, a->domain, rec.aspf_strict)) {
		a->result = DMARC_PASS;
		snprintf(why, whylen, "SPF passed for the aligned domain %.200s", spf_domain);
		return;
	}
	for (size_t i = 0; i < nsigs; i++)
		if (sigs[i].result == DKIM_V_PASS && dmarc_aligned(sigs[i].domain, a->domain, rec.adkim_strict)) {
			a->result = DMARC_PASS;
			snprintf(why, whylen, "DKIM passed for the aligned domain %.200s", sigs[i].domain);
			return;
		}
	a->result = DMARC_FAIL;
	snprintf(why, whylen, "neither SPF nor DKIM passed for a domain aligned with %.200s", a->domain);
	/* 6.6.4: a message outside pct= gets the next policy down */
	if (rnd100 >= rec.pct)
		snprintf(a->policy, sizeof(a->policy), "%s", lesser(a->policy));
}

/* Which author's verdict speaks for the message: a failure under the strictest policy first
 * (6.6.1), then a lookup that failed (that domain may have been the strict one), then a domain
 * without a policy (the message is not authenticated for it), and pass only when all passed. */
static int weight(const struct dmarc_author *a)
{
	switch (a->result) {
	case DMARC_FAIL:
		return 10 + (!strcmp(a->policy, "reject") ? 2 : !strcmp(a->policy, "quarantine") ? 1 : 0);
	case DMARC_TEMPERROR:
		return 5;
	case DMARC_NONE:
		return 3;
	default:
		return 1;
	}
}

void dmarc_check_authors(const struct lookup *lk, const char *const *from, size_t n, const char *spf_domain,
                         int spf_pass, const struct dkim_vsig *sigs, size_t nsigs, unsigned rnd100,
                         struct dmarc_eval *out)
{
	char why[sizeof(out->why)];
	size_t best = 0;

	memset(out, 0, sizeof(*out));
	if (n == 0) {
		out->result = DMARC_PERMERROR;
		snprintf(out->why, sizeof(out->why), "the message has no From: address with a domain");
		return;
	}
	if (n > DMARC_AUTHORS_MAX) {
		out->result = DMARC_PERMERROR;
		out->reject = 1;
		snprintf(out->why, sizeof(out->why), "its From: names more than %d domains, too many to check each "
		         "one's DMARC policy (RFC 7489 6.6.1)", DMARC_AUTHORS_MAX);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct dmarc_author *a = &out->authors[i];
		size_t k = 0;
		for (; from[i][k] && k + 1 < sizeof(a->domain); k++)
			a->domain[k] = (char)tolower((unsigned char)from[i][k]);
		while (k > 0 && a->domain[k - 1] == '.')
			k--;
		a->domain[k] = '\0';
		why[0] = '\0';
		check_one(lk, a, spf_domain, spf_pass, sigs, nsigs, rnd100, why, sizeof(why));
		if (i == 0 || weight(a) > weight(&out->authors[best])) {
			best = i;
			snprintf(out->why, sizeof(out->why), "%s", why);
		}
	}
	out->nauthors = n;
	out->result = out->authors[best].result;
	snprintf(out->from_domain, sizeof(out->from_domain), "%s", out->authors[best].domain);
	snprintf(out->policy, sizeof(out->policy), "%s", out->authors[best].policy);
	out->reject = out->result == DMARC_FAIL && strcmp(out->policy, "reject") == 0;
}

void dmarc_check(const struct lookup *lk, const char *from_domain, const char *spf_domain, int spf_pass,
                 const struct dkim_vsig *sigs, size_t nsigs, unsigned rnd100, struct dmarc_eval *out)
{
	dmarc_check_authors(lk, &from_domain, from_domain != NULL, spf_domain, spf_pass, sigs, nsigs, rnd100, out);
}
