/*
 * spf.c - RFC 7208's check_host(): the record chosen, its terms parsed whole before any is
 * evaluated (a syntax error anywhere is permerror), then evaluated left to right with the
 * DNS limits of 4.6.4. Not DNS (lookup.h) and not what a result means for the message.
 */
#include "spf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DNS_TERMS 10
#define MAX_VOID 2
#define MAX_NAMES 10            /* MX or PTR names looked at per term */
#define MAX_TERMS 64
#define DOMAIN_MAX 253
#define TXT_BUF 8192

struct spf {
	const struct lookup *lk;
	unsigned char ip[16];
	int v6;
	const char *sender, *helo;
	unsigned dns_terms, voids;
	char *why;
	size_t whylen;
	int ptr_done;                   /* %{p}: the client's validated names, looked up once */
	size_t nptr;
	char ptr[MAX_NAMES][LOOKUP_NAME_MAX];
};

enum mech { M_ALL, M_INCLUDE, M_A, M_MX, M_PTR, M_IP4, M_IP6, M_EXISTS };
static const char *const mech_names[] = { "all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists" };

struct term {
	char qual;                      /* '+', '-', '~', '?' */
	enum mech m;
	const char *arg;                /* domain-spec or address, NUL-terminated in the copy; NULL = none */
	int cidr4, cidr6;               /* -1 = not given */
};

const char *spf_result_name(enum spf_result r)
{
	static const char *const n[] = { "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" };
	return n[r];
}

static enum spf_result say(struct spf *s, enum spf_result r, const char *fmt, const char *a)
{
	if (s->why != NULL)
		snprintf(s->why, s->whylen, fmt, a);
	return r;
}

/* A name of labels of 1..63 octets, at most 253 in all; with multi, of two labels or more
 * (RFC 7208 4.3, for check_host's own domain). Any octet may stand in a label (RFC 2181 11):
 * a macro that expands to a space makes a name with a space, asked as it is (7.3). */
static int valid_name(const char *d, int multi)
{
	size_t len = strlen(d), label = 0;
	int dots = 0;

	if (len == 0 || len > DOMAIN_MAX + 1)
		return 0;
	for (const char *p = d; *p; p++) {
		if (*p == '.') {
			if (label == 0 && p[1] != '\0')
				return 0;
			label = 0;
			dots++;
		} else if (++label > 63)
			return 0;
	}
	return dots > 0 || !multi;
}

/* ---- macros (section 7) ------------------------------------------------------------------ */

static int url_unreserved(unsigned char c) { return isalnum(c) || strchr("-._~", c) != NULL; }

static int host_match(struct spf *s, const char *target, int cidr4, int cidr6, int count_void);

/* Is name the domain d or below it? */
static int in_domain(const char *name, const char *d)
{
	size_t nl = strlen(name), dl = strlen(d);

	if (dl > 0 && d[dl - 1] == '.')
		dl--;
	return (nl == dl && strncasecmp(name, d, dl) == 0) ||
	       (nl > dl && name[nl - dl - 1] == '.' && strncasecmp(name + nl - dl, d, dl) == 0);
}

/* The client's validated names (5.5: the PTR names, at most MAX_NAMES, one of whose
 * addresses is the client's), looked up the first time the ptr mechanism or %{p} asks, and
 * kept for the rest of the evaluation. A failed lookup leaves none: no match, not an error. */
static void validate_ptr(struct spf *s)
{
	char names[MAX_NAMES][LOOKUP_NAME_MAX], ipt[LOOKUP_ADDR_MAX];
	size_t n = 0;

	if (s->ptr_done)
		return;
	s->ptr_done = 1;
	inet_ntop(s->v6 ? AF_INET6 : AF_INET, s->ip, ipt, sizeof(ipt));
	if (s->lk->ptr(s->lk->arg, ipt, names, MAX_NAMES, &n) != LOOKUP_OK)
		return;
	for (size_t i = 0; i < n && i < MAX_NAMES; i++) {
		size_t nl = strlen(names[i]);
		if (nl > 0 && names[i][nl - 1] == '.')
			names[i][--nl] = '\0';
		if (nl > 0 && host_match(s, names[i], -1, -1, 0) == 1)
			memcpy(s->ptr[s->nptr++], names[i], nl + 1);
	}
}

/* 7.3's "p": of the validated names, the domain itself when it is one, else one below it, else
 * any; "unknown" when there is none. */
static void p_value(struct spf *s, const char *domain, char *out, size_t outlen)
{
	validate_ptr(s);
	const char *best = s->nptr > 0 ? s->ptr[0] : "unknown";
	for (size_t i = 0; i < s->nptr; i++)
		if (strcasecmp(s->ptr[i], domain) == 0) {
			best = s->ptr[i];
			break;
		} else if (in_domain(s->ptr[i], domain) && !in_domain(best, domain))
			best = s->ptr[i];
	snprintf(out, outlen, "%s", best);
}

/* The value of macro letter c (lower case), into out. -1: not a macro letter here. */
static int macro_value(struct spf *s, const char *domain, int c, char *out, size_t outlen)
{
	const char *at = strrchr(s->sender, '@');

	switch (c) {
	case 's': snprintf(out, outlen, "%s", s->sender); return 0;
	case 'l':
		if (at == NULL || at == s->sender)
			snprintf(out, outlen, "postmaster");
		else
			snprintf(out, outlen, "%.*s", (int)(at - s->sender), s->sender);
		return 0;
	case 'o': snprintf(out, outlen, "%s", at ? at + 1 : s->sender); return 0;
	case 'd': snprintf(out, outlen, "%s", domain); return 0;
	case 'h': snprintf(out, outlen, "%s", s->helo); return 0;
	case 'v': snprintf(out, outlen, "%s", s->v6 ? "ip6" : "in-addr"); return 0;
	case 'p': p_value(s, domain, out, outlen); return 0;
	case 'i':
		if (!s->v6)
			snprintf(out, outlen, "%u.%u.%u.%u", s->ip[0], s->ip[1], s->ip[2], s->ip[3]);
		else {
			size_t o = 0;
			for (int k = 0; k < 16 && o + 4 < outlen; k++)
				o += (size_t)snprintf(out + o, outlen - o, "%s%x.%x", k ? "." : "", s->ip[k] >> 4, s->ip[k] & 15);
		}
		return 0;
	default: return -1;
	}
}

/* The macro-string in [p, end) expanded into out: 0, or -1 (a syntax error). */
static int expand(struct spf *s, const char *domain, const char *p, const char *end, char *out, size_t outlen)
{
	size_t o = 0;

	for (; p < end; p++) {
		if (o + 1 >= outlen)
			return -1;
		if (*p != '%') {
			if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
				return -1;
			out[o++] = *p;
			continue;
		}
		if (++p >= end)
			return -1;
		if (*p == '%' || *p == '_' || *p == '-') {
			const char *lit = *p == '%' ? "%" : *p == '_' ? " " : "%20";
			for (; *lit && o + 1 < outlen; lit++)
				out[o++] = *lit;
			continue;
		}
		if (*p != '{' || ++p >= end)
			return -1;
		int letter = (unsigned char)*p++, upper = isupper(letter);
		char val[1024];
		if (macro_value(s, domain, tolower(letter), val, sizeof(val)) < 0)
			return -1;
		unsigned keep = 0;
		while (p < end && isdigit((unsigned char)*p))
			keep = keep * 10 + (unsigned)(*p++ - '0');
		if (keep > 128)
			keep = 128;
		int rev = 0;
		if (p < end && (*p == 'r' || *p == 'R')) {
			rev = 1;
			p++;
		}
		char delims[8] = "";
		size_t nd = 0;
		while (p < end && *p != '}' && nd + 1 < sizeof(delims)) {
			if (strchr(".-+,/_=", *p) == NULL)
				return -1;
			delims[nd++] = *p++;
		}
		delims[nd] = '\0';
		if (p >= end || *p != '}')
			return -1;
		if (nd == 0)
			strcpy(delims, ".");
		/* Split on the delimiters, reverse if asked, keep the rightmost keep parts, join with '.'. */
		char *part[128];
		size_t np = 0;
		for (char *t = val, *sv = NULL; np < 128 && (t = strtok_r(t, delims, &sv)) != NULL; t = NULL)
			part[np++] = t;
		if (rev)
			for (size_t i = 0; i < np / 2; i++) {
				char *x = part[i];
				part[i] = part[np - 1 - i];
				part[np - 1 - i] = x;
			}
		size_t first = keep && keep < np ? np - keep : 0;
		for (size_t i = first; i < np; i++) {
			if (i > first && o + 1 < outlen)
				out[o++] = '.';
			for (const char *q = part[i]; *q && o + 4 < outlen; q++) {
				if (upper && !url_unreserved((unsigned char)*q))
					o += (size_t)snprintf(out + o, outlen - o, "%%%02X", (unsigned char)*q);
				else
					out[o++] = *q;
			}
		}
	}
	out[o] = '\0';
	/* 7.3: a result longer than 253 octets loses labels on the left. */
	char *q = out;
	while (strlen(q) > DOMAIN_MAX && strchr(q, '.') != NULL)
		q = strchr(q, '.') + 1;
	if (q != out)
		memmove(out, q, strlen(q) + 1);
	return 0;
}

/* ---- parsing ----------------------------------------------------------------------------- */

/* RFC 7208 7.1's macro-string in [p, end): 0 when it is one, else -1. letters: the macro
 * letters allowed (c, r and t only in explanation text, 7.2). *tail: where the literal run at
 * its end begins (end itself when it ends with a macro-expand). */
static int macro_string_ok(const char *p, const char *end, const char *letters, const char **tail)
{
	*tail = p;
	while (p < end) {
		unsigned char c = (unsigned char)*p;
		if (c != '%') {
			if (c < 0x21 || c > 0x7e)       /* macro-literal = %x21-24 / %x26-7E */
				return -1;
			p++;
			continue;
		}
		if (p + 1 >= end)
			return -1;
		if (p[1] == '%' || p[1] == '_' || p[1] == '-') {
			p += 2;
			*tail = p;
			continue;
		}
		if (p[1] != '{' || p + 2 >= end || strchr(letters, tolower((unsigned char)p[2])) == NULL)
			return -1;
		p += 3;
		while (p < end && isdigit((unsigned char)*p))   /* transformers = *DIGIT [ "r" ] */
			p++;
		if (p < end && (*p == 'r' || *p == 'R'))
			p++;
		while (p < end && strchr(".-+,/_=", *p) != NULL)  /* *delimiter */
			p++;
		if (p >= end || *p != '}')
			return -1;
		*tail = ++p;
	}
	return 0;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static int toplabel_ok(const char *p, const char *end)
{
	int alpha = 0, hyphen = 0;

	if (p >= end || !isalnum((unsigned char)p[0]) || !isalnum((unsigned char)end[-1]))
		return 0;
	for (const char *q = p; q < end; q++) {
		if (*q == '-')
			hyphen = 1;
		else if (isalpha((unsigned char)*q))
			alpha = 1;
		else if (!isdigit((unsigned char)*q))
			return 0;
	}
	return alpha || hyphen;
}

/* domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) / macro-expand.
 * The one syntax check every term that names a domain shares (a, mx, ptr, include, exists,
 * redirect, exp): a name is judged as written, before any macro is expanded (7.1). */
static int domain_spec_ok(const char *p, const char *end)
{
	const char *tail;

	if (p >= end || macro_string_ok(p, end, "slodiphv", &tail) < 0)
		return 0;
	if (tail == end)
		return 1;                       /* ends with a macro-expand */
	if (end[-1] == '.')
		end--;
	const char *dot = NULL;
	for (const char *q = tail; q < end; q++)
		if (*q == '.')
			dot = q;
	return dot != NULL && toplabel_ok(dot + 1, end);
}

/* A CIDR length's digits in [p, end) (no leading zero, 7.1's ip4-cidr-length and
 * ip6-cidr-length), at most max: the length, or -1. */
static int cidr_len(const char *p, const char *end, int max)
{
	int v = 0;

	if (p >= end || end - p > 3 || (p[0] == '0' && end - p > 1))
		return -1;
	for (; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v <= max ? v : -1;
}

/* dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ] at the end of s (a, mx):
 * cut off and stored. A slash followed by digits at the end is a CIDR length; a bad one
 * ("/33", "//129", "/024") is a syntax error, not part of the name. */
static int take_dual_cidr(char *s, struct term *t)
{
	char *end = s + strlen(s), *q = end;

	while (q > s && isdigit((unsigned char)q[-1]))
		q--;
	if (q < end && q - s >= 2 && q[-1] == '/' && q[-2] == '/') {
		if ((t->cidr6 = cidr_len(q, end, 128)) < 0)
			return -1;
		end = q - 2;
		*end = '\0';
		for (q = end; q > s && isdigit((unsigned char)q[-1]);)
			q--;
	}
	if (q < end && q - s >= 1 && q[-1] == '/') {
		if ((t->cidr4 = cidr_len(q, end, 32)) < 0)
			return -1;
		q[-1] = '\0';
	}
	return 0;
}

/* "ADDR" or "ADDR/N" of ip4: or ip6:, strictly as 7.1 and RFC 4291 2.2 write them. */
static int take_network(char *arg, struct term *t)
{
	int v6 = t->m == M_IP6;
	char *sl = strchr(arg, '/');
	unsigned char b[16];

	if (sl != NULL) {
		int m = cidr_len(sl + 1, sl + strlen(sl), v6 ? 128 : 32);
		if (m < 0)
			return -1;
		*(v6 ? &t->cidr6 : &t->cidr4) = m;
		*sl = '\0';
	}
	return inet_pton(v6 ? AF_INET6 : AF_INET, arg, b) == 1 ? 0 : -1;
}

/* name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ): its length at w, 0 when w starts none. */
static size_t modifier_name(const char *w)
{
	size_t n = 0;

	if (!isalpha((unsigned char)w[0]))
		return 0;
	while (isalnum((unsigned char)w[n]) || w[n] == '-' || w[n] == '_' || w[n] == '.')
		n++;
	return n;
}

/* Record text (a copy the terms point into) into terms; redirect= into *redirect. The whole
 * record is checked against 4.5 and 7.1's grammar before anything is evaluated: one bad term
 * anywhere is permerror (4.6), however early a mechanism would have matched. */
static int parse_record(char *rec, struct term *terms, size_t *nterms, const char **redirect, char *why,
                        size_t whylen)
{
	char *sv = NULL;
	int seen_exp = 0;

	*nterms = 0;
	*redirect = NULL;
	(void)strtok_r(rec, " ", &sv);      /* "v=spf1"; terms = *( 1*SP ( directive / modifier ) ) */
	for (char *w; (w = strtok_r(NULL, " ", &sv)) != NULL;) {
		struct term t = { '+', M_ALL, NULL, -1, -1 };
		char *name = w, text[64];
		size_t ml = modifier_name(w);

		snprintf(text, sizeof(text), "%s", w);
		if (ml > 0 && w[ml] == '=') {
			const char *v = w + ml + 1, *vend = v + strlen(v), *tail;
			if (ml == 8 && strncasecmp(w, "redirect", 8) == 0) {
				if (*redirect != NULL) {
					snprintf(why, whylen, "two redirect= modifiers (RFC 7208 6)");
					return -1;
				}
				if (!domain_spec_ok(v, vend))
					goto badmod;
				*redirect = v;
			} else if (ml == 3 && strncasecmp(w, "exp", 3) == 0) {
				if (seen_exp++) {
					snprintf(why, whylen, "two exp= modifiers (RFC 7208 6)");
					return -1;
				}
				if (!domain_spec_ok(v, vend))
					goto badmod;
			} else if (macro_string_ok(v, vend, "slodiphvcrt", &tail) < 0)
				goto badmod;            /* unknown modifiers are ignored, but must be well-formed */
			continue;
badmod:
			snprintf(why, whylen, "bad modifier \"%.60s\"", w);
			return -1;
		}
		if (strchr("+-~?", *w) != NULL) {
			t.qual = *w;
			name++;
		}
		size_t nl = strcspn(name, ":/");
		size_t m = 0;
		for (; m < 8; m++)
			if (strlen(mech_names[m]) == nl && strncasecmp(name, mech_names[m], nl) == 0)
				break;
		if (m == 8) {
			snprintf(why, whylen, "unknown mechanism \"%.60s\"", w);
			return -1;
		}
		t.m = (enum mech)m;
		char *arg = name + nl;
		int colon = *arg == ':';
		if (colon)
			*arg++ = '\0';
		switch (t.m) {
		case M_ALL:
			if (colon || *arg)
				goto bad;
			break;
		case M_INCLUDE: case M_EXISTS:
			if (!colon || !domain_spec_ok(arg, arg + strlen(arg)))
				goto bad;
			t.arg = arg;
			break;
		case M_A: case M_MX:
			if (take_dual_cidr(arg, &t) < 0)
				goto bad;
			if (colon && !domain_spec_ok(arg, arg + strlen(arg)))
				goto bad;
			if (!colon && *arg)
				goto bad;
			t.arg = colon ? arg : NULL;
			break;
		case M_PTR:
			if (colon ? !domain_spec_ok(arg, arg + strlen(arg)) : *arg != '\0')
				goto bad;
			t.arg = colon ? arg : NULL;
			break;
		case M_IP4: case M_IP6:
			if (!colon || take_network(arg, &t) < 0)
				goto bad;
			t.arg = arg;
			break;
		}
		if (*nterms >= MAX_TERMS) {
			snprintf(why, whylen, "more than %d terms", MAX_TERMS);
			return -1;
		}
		terms[(*nterms)++] = t;
		continue;
bad:
		snprintf(why, whylen, "bad %s term \"%s\"", mech_names[t.m], text);
		return -1;
	}
	return 0;
}

int spf_record_syntax(const char *record, unsigned *dns_terms, char *why, size_t whylen)
{
	struct term terms[MAX_TERMS];
	const char *redirect;
	size_t n;
	char *copy;

	*dns_terms = 0;
	if (strncasecmp(record, "v=spf1", 6) != 0 || (record[6] != ' ' && record[6] != '\0')) {
		snprintf(why, whylen, "does not start with v=spf1");
		return -1;
	}
	if ((copy = strdup(record)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	int r = parse_record(copy, terms, &n, &redirect, why, whylen);
	for (size_t i = 0; r == 0 && i < n; i++)
		*dns_terms += terms[i].m == M_INCLUDE || terms[i].m == M_A || terms[i].m == M_MX || terms[i].m == M_PTR ||
		              terms[i].m == M_EXISTS;
	*dns_terms += r == 0 && redirect != NULL;
	free(copy);
	return r;
}

/* ---- evaluation -------------------------------------------------------------------------- */

static int in_cidr(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Does addr (text) match the client under the cidr lengths? */
static int addr_match(const struct spf *s, const char *addr, int cidr4, int cidr6)
{
	unsigned char b[16];

	if (inet_pton(s->v6 ? AF_INET6 : AF_INET, addr, b) != 1)
		return 0;
	return in_cidr(s->ip, b, s->v6 ? (cidr6 < 0 ? 128 : cidr6) : (cidr4 < 0 ? 32 : cidr4));
}

/* One lookup's outcome against the void-lookup limit: -1 temperror, -2 permerror, else n. */
static int counted(struct spf *s, int r, size_t n)
{
	if (r == LOOKUP_TEMP)
		return -1;
	if ((r == LOOKUP_NXDOMAIN || n == 0) && ++s->voids > MAX_VOID)
		return -2;
	return r == LOOKUP_OK ? (int)n : 0;
}

static enum spf_result check_host(struct spf *s, const char *domain, unsigned depth);

/* Does the host target have an address that matches? 1, 0, or -1/-2 as counted(). */
static int host_match(struct spf *s, const char *target, int cidr4, int cidr6, int count_void)
{
	char addrs[32][LOOKUP_ADDR_MAX];
	size_t n = 0;
	int r = s->lk->addrs(s->lk->arg, target, s->v6, addrs, 32, &n);

	if (count_void) {
		int c = counted(s, r, n);
		if (c < 0)
			return c;
	} else if (r == LOOKUP_TEMP)
		return -1;
	for (size_t i = 0; r == LOOKUP_OK && i < n && i < 32; i++)
		if (addr_match(s, addrs[i], cidr4, cidr6))
			return 1;
	return 0;
}

/* 1 matched, 0 not, or an error result as -(SPF_TEMPERROR) / -(SPF_PERMERROR). */
static int mech_match(struct spf *s, const struct term *t, const char *domain, unsigned depth)
{
	char target[1024];
	int r;

	if (t->m != M_ALL && t->m != M_IP4 && t->m != M_IP6 && ++s->dns_terms > MAX_DNS_TERMS) {
		say(s, SPF_PERMERROR, "more than %s DNS-querying terms (RFC 7208 4.6.4)", "10");
		return -SPF_PERMERROR;
	}
	if (t->m == M_IP4 || t->m == M_IP6 || t->m == M_ALL)
		snprintf(target, sizeof(target), "%s", t->arg ? t->arg : "");
	else if (t->arg == NULL)
		snprintf(target, sizeof(target), "%s", domain);
	else if (expand(s, domain, t->arg, t->arg + strlen(t->arg), target, sizeof(target)) < 0) {
		say(s, SPF_PERMERROR, "bad macro in \"%.80s\"", t->arg);
		return -SPF_PERMERROR;
	}
	switch (t->m) {
	case M_ALL:
		return 1;
	case M_IP4: case M_IP6:
		return (t->m == M_IP6) == (s->v6 != 0) && addr_match(s, target, t->cidr4, t->cidr6);
	case M_INCLUDE: {
		enum spf_result ir = check_host(s, target, depth + 1);
		if (ir == SPF_PASS)
			return 1;
		if (ir == SPF_TEMPERROR || ir == SPF_PERMERROR)
			return -(int)ir;
		if (ir == SPF_NONE) {
			say(s, SPF_PERMERROR, "include:%.200s has no SPF record", target);
			return -SPF_PERMERROR;
		}
		return 0;
	}
	case M_A: case M_EXISTS:
		if (!valid_name(target, 0))
			return 0;
		if (t->m == M_EXISTS) {
			/* exists: an A record of any value; IPv4 even for an IPv6 client */
			char a[4][LOOKUP_ADDR_MAX];
			size_t n = 0;
			r = s->lk->addrs(s->lk->arg, target, 0, a, 4, &n);
			r = counted(s, r, n);
			return r == -1 ? -SPF_TEMPERROR : r == -2 ? -SPF_PERMERROR : r > 0;
		}
		r = host_match(s, target, t->cidr4, t->cidr6, 1);
		return r == -1 ? -SPF_TEMPERROR : r == -2 ? -SPF_PERMERROR : r;
	case M_MX: {
		char mx[MAX_NAMES + 1][LOOKUP_NAME_MAX];
		size_t n = 0;
		if (!valid_name(target, 0))
			return 0;
		r = s->lk->mx(s->lk->arg, target, mx, MAX_NAMES + 1, &n);
		r = counted(s, r, n);
		if (r < 0)
			return r == -1 ? -SPF_TEMPERROR : -SPF_PERMERROR;
		if (n > MAX_NAMES) {
			say(s, SPF_PERMERROR, "mx:%.200s has more than 10 MX names (RFC 7208 4.6.4)", target);
			return -SPF_PERMERROR;
		}
		for (size_t i = 0; i < n; i++) {
			int m = host_match(s, mx[i], t->cidr4, t->cidr6, 0);
			if (m != 0)
				return m == -1 ? -SPF_TEMPERROR : 1;
		}
		return 0;
	}
	case M_PTR:
		/* 5.5: the validated names, then whether one is the target or below it */
		validate_ptr(s);
		for (size_t i = 0; i < s->nptr; i++)
			if (in_domain(s->ptr[i], target))
				return 1;
		return 0;
	}
	return 0;
}

static enum spf_result qualified(char q)
{
	return q == '-' ? SPF_FAIL : q == '~' ? SPF_SOFTFAIL : q == '?' ? SPF_NEUTRAL : SPF_PASS;
}

static enum spf_result check_host(struct spf *s, const char *domain, unsigned depth)
{
	char buf[TXT_BUF], *rec = NULL;
	size_t n = 0, found = 0;

	if (depth > MAX_DNS_TERMS)
		return say(s, SPF_PERMERROR, "includes nested too deep at %.200s", domain);
	if (!valid_name(domain, 1))
		return say(s, SPF_NONE, "%.200s is not a domain name", domain);
	int r = s->lk->txt(s->lk->arg, domain, buf, sizeof(buf), &n);
	if (r == LOOKUP_TEMP)
		return say(s, SPF_TEMPERROR, "the DNS lookup of %.200s failed", domain);
	if (r == LOOKUP_NXDOMAIN)
		return say(s, SPF_NONE, "%.200s does not exist", domain);
	const char *p = buf;
	for (size_t i = 0; i < n; i++, p += strlen(p) + 1)
		if (strncasecmp(p, "v=spf1", 6) == 0 && (p[6] == ' ' || p[6] == '\0')) {
			found++;
			rec = (char *)p;
		}
	if (found == 0)
		return say(s, SPF_NONE, "%.200s publishes no SPF record", domain);
	if (found > 1)
		return say(s, SPF_PERMERROR, "%.200s publishes more than one SPF record", domain);

	struct term terms[MAX_TERMS];
	size_t nt;
	const char *redirect;
	char err[160];
	char *copy = strdup(rec);
	if (copy == NULL)
		return say(s, SPF_TEMPERROR, "%s", "out of memory");
	if (parse_record(copy, terms, &nt, &redirect, err, sizeof(err)) < 0) {
		if (s->why != NULL)
			snprintf(s->why, s->whylen, "SPF record of %.200s: %s", domain, err);
		free(copy);
		return SPF_PERMERROR;
	}
	enum spf_result result = SPF_NEUTRAL;
	int matched = 0;
	for (size_t i = 0; i < nt && !matched; i++) {
		int m = mech_match(s, &terms[i], domain, depth);
		if (m < 0) {
			result = (enum spf_result)-m;
			if (s->why != NULL && result == SPF_TEMPERROR && strstr(s->why, "DNS") == NULL)
				snprintf(s->why, s->whylen, "a DNS lookup for %.200s's SPF record failed", domain);
			free(copy);
			return result;
		}
		if (m == 1) {
			matched = 1;
			result = qualified(terms[i].qual);
			if (s->why != NULL && depth == 0)
				snprintf(s->why, s->whylen, "%.200s: %s%s%s%s", domain, terms[i].qual == '+' ? "" :
				         (char[]){ terms[i].qual, 0 }, mech_names[terms[i].m], terms[i].arg ? ":" : "",
				         terms[i].arg ? terms[i].arg : "");
		}
	}
	if (!matched && redirect != NULL) {
		char target[1024];
		if (++s->dns_terms > MAX_DNS_TERMS)
			result = say(s, SPF_PERMERROR, "more than %s DNS-querying terms (RFC 7208 4.6.4)", "10");
		else if (expand(s, domain, redirect, redirect + strlen(redirect), target, sizeof(target)) < 0)
			result = say(s, SPF_PERMERROR, "bad macro in redirect=%.100s", redirect);
		else {
			result = check_host(s, target, depth + 1);
			if (result == SPF_NONE)
				result = say(s, SPF_PERMERROR, "redirect=%.200s has no SPF record", target);
		}
	} else if (!matched && s->why != NULL && depth == 0)
		snprintf(s->why, s->whylen, "%.200s: no mechanism matched", domain);
	free(copy);
	return result;
}

enum spf_result spf_check(const struct lookup *lk, const char *ip, const char *domain, const char *sender,
                          const char *helo, char *why, size_t whylen)
{
	unsigned lookups;

	return spf_check_counted(lk, ip, domain, sender, helo, why, whylen, &lookups);
}

/* The sender with a quoted local part ("Macro Error"@example.com, ""@example.com: RFC 5321
 * 4.1.2's Quoted-string) as the local part itself, which is what %{l} and %{s} stand for;
 * anything else as it is. */
static const char *unquoted(const char *sender, char *buf, size_t buflen)
{
	size_t o = 0;
	const char *p = sender + 1;

	if (sender[0] != '"')
		return sender;
	for (; *p && *p != '"' && o + 1 < buflen; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		buf[o++] = *p;
	}
	if (*p != '"' || p[1] != '@' || o + strlen(p + 1) >= buflen)
		return sender;
	snprintf(buf + o, buflen - o, "%s", p + 1);
	return buf;
}

enum spf_result spf_check_counted(const struct lookup *lk, const char *ip, const char *domain, const char *sender,
                                  const char *helo, char *why, size_t whylen, unsigned *lookups)
{
	char plain[LOOKUP_NAME_MAX * 2 + 2];
	struct spf s = { .lk = lk, .sender = unquoted(sender, plain, sizeof(plain)), .helo = helo ? helo : "",
	                 .why = why, .whylen = whylen };

	*lookups = 0;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (inet_pton(AF_INET, ip, s.ip) == 1)
		s.v6 = 0;
	else if (inet_pton(AF_INET6, ip, s.ip) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		s.v6 = 1;
		if (memcmp(s.ip, mapped, 12) == 0) {   /* 5: an IPv4-mapped client is its IPv4 address */
			memmove(s.ip, s.ip + 12, 4);
			s.v6 = 0;
		}
	} else
		return say(&s, SPF_NONE, "%.60s is not an IP address", ip);
	enum spf_result r = check_host(&s, domain, 0);
	*lookups = s.dns_terms;
	return r;
}
