/*
 * authres.c - SPF, DKIM and DMARC put together for one received message (authres.h), and the
 * Authentication-Results: field (RFC 8601) written from their results. Not the rules
 * themselves (spf.c, dkimverify.c, dmarc.c) and not the server's reaction (server/sendercheck.c).
 */
#include "authres.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addrlist.h"

/* The domains of every address in every From: field, each once, in the order written: RFC 7489
 * 6.6.1 judges each of them. One more than DMARC_AUTHORS_MAX is kept, to say "too many". */
struct from_scan {
	char domain[DMARC_AUTHORS_MAX + 1][256];
	const char *list[DMARC_AUTHORS_MAX + 1];
	size_t n;
};

static void from_addr(void *arg, const char *addr, size_t len)
{
	struct from_scan *f = arg;
	const char *at = NULL;
	char d[256];
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (addr[i] == '@')
			at = addr + i;
	if (at == NULL || f->n > DMARC_AUTHORS_MAX)
		return;                 /* no domain to judge; or already too many */
	for (const char *q = at + 1; q < addr + len && n + 1 < sizeof(d); q++)
		d[n++] = (char)tolower((unsigned char)*q);
	while (n > 0 && d[n - 1] == '.')
		n--;
	d[n] = '\0';
	if (n == 0)
		return;
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->domain[i], d) == 0)
			return;
	snprintf(f->domain[f->n], sizeof(f->domain[0]), "%s", d);
	f->list[f->n] = f->domain[f->n];
	f->n++;
}

static void from_field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                       size_t end)
{
	(void)start;
	(void)end;
	/* Several From: fields are as good as one with several addresses: a second field must not
	 * hide the domain of the other (a malformed list gives the addresses before the error). */
	if (nlen == 4 && strncasecmp(name, "from", 4) == 0)
		(void)addrlist_parse(value, vlen, from_addr, arg);
}

/* RFC 7489 6.6.1: the From: domains into f; how many (DMARC_AUTHORS_MAX + 1: more than that). */
static size_t from_domains(const char *hdr, size_t len, struct from_scan *f)
{
	memset(f, 0, sizeof(*f));
	if (hdr != NULL)
		header_walk(hdr, len, from_field, f);
	return f->n;
}

void authres_evaluate(const struct lookup *lk, struct dkim_verifier *v, const struct authres_in *in, long long now,
                      unsigned rnd100, struct authres *out)
{
	char sender[600];
	const char *at = strrchr(in->mail_from, '@');
	struct from_scan fs;
	size_t hlen = 0;

	memset(out, 0, sizeof(*out));
	/* RFC 7208 2.4: a null sender is checked as postmaster@ the HELO name. */
	out->spf_helo = in->mail_from[0] == '\0' || at == NULL;
	if (out->spf_helo) {
		snprintf(out->spf_domain, sizeof(out->spf_domain), "%s", in->helo);
		snprintf(sender, sizeof(sender), "postmaster@%s", in->helo);
	} else {
		snprintf(out->spf_domain, sizeof(out->spf_domain), "%s", at + 1);
		snprintf(sender, sizeof(sender), "%s", in->mail_from);
	}
	for (char *p = out->spf_domain; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	out->spf = spf_check(lk, in->ip, out->spf_domain, sender, in->helo, out->spf_why, sizeof(out->spf_why));
	out->nsigs = dkim_verify_finish(v, lk, now, out->sigs, DKIM_VERIFY_MAX);
	if (out->nsigs > DKIM_VERIFY_MAX)
		out->nsigs = DKIM_VERIFY_MAX;
	const char *hdr = dkim_verifier_header(v, &hlen);
	/* DMARC's SPF identifier is the MAIL FROM domain only (RFC 7489 3.1.2: HELO for a null
	 * sender), which is the domain SPF judged either way. */
	size_t nfrom = from_domains(hdr, hlen, &fs);
	dmarc_check_authors(lk, fs.list, nfrom, out->spf_domain, out->spf == SPF_PASS, out->sigs, out->nsigs, rnd100,
	                    &out->dmarc);
}

/* ---- the header field ------------------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;

	for (int tries = 0; tries < 2 && !b->oom; tries++) {
		va_start(ap, fmt);
		int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if (b->p != NULL && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 512;
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* Text safe inside a comment (RFC 5322 ctext): no parentheses, backslashes or controls. */
static void ctext(char *out, size_t outlen, const char *in)
{
	size_t o = 0;

	for (; *in && o + 1 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		out[o++] = c >= 32 && c < 127 && c != '(' && c != ')' && c != '\\' ? (char)c : '_';
	}
	out[o] = '\0';
}

/* A property value (RFC 8601 2.2 pvalue): as it is when it is an addr-spec or domain of plain
 * characters, else a quoted-string. */
static void pvalue(char *out, size_t outlen, const char *in)
{
	int plain = *in != '\0';

	for (const char *p = in; *p; p++)
		if (!isalnum((unsigned char)*p) && strchr("!#$%&'*+-/=?^_`{|}~.@", *p) == NULL)
			plain = 0;
	if (plain) {
		snprintf(out, outlen, "%s", in);
		return;
	}
	size_t o = 0;
	out[o++] = '"';
	for (; *in && o + 3 < outlen; in++) {
		unsigned char c = (unsigned char)*in;
		if (c < 32 || c >= 127)
			c = '_';
		if (c == '"' || c == '\\')
			out[o++] = '\\';
		out[o++] = (char)c;
	}
	out[o++] = '"';
	out[o] = '\0';
}

/* The dmarc= result's comment: the policy applied (or why there is none), then, for a From:
 * naming several domains, each other domain's own verdict. */
static void dmarc_comment(const struct dmarc_eval *d, char *out, size_t outlen)
{
	size_t o;

	if (d->policy[0])
		o = (size_t)snprintf(out, outlen, "p=%s", d->policy);
	else
		o = (size_t)snprintf(out, outlen, "%s", d->why);
	for (size_t i = 0, first = 1; d->nauthors > 1 && i < d->nauthors && o < outlen; i++) {
		if (strcmp(d->authors[i].domain, d->from_domain) == 0)
			continue;
		o += (size_t)snprintf(out + o, outlen - o, "%s%s=%s", first ? "; other From: domains: " : ", ",
		                      d->authors[i].domain, dmarc_result_name(d->authors[i].result));
		first = 0;
	}
}

char *authres_header(const struct authres_in *in, const struct authres *r)
{
	struct buf b = { 0 };
	/* comments stay well inside RFC 5322's 998-octet line (2.1.1) however many From: domains */
	char c[600], v[600], w[600];

	ctext(c, sizeof(c), r->spf_why);
	put(&b, "Authentication-Results: %s;\r\n\tspf=%s", in->authserv_id, spf_result_name(r->spf));
	if (c[0])
		put(&b, " (%s)", c);
	if (r->spf_helo) {
		pvalue(v, sizeof(v), r->spf_domain);
		put(&b, " smtp.helo=%s", v);
	} else {
		pvalue(v, sizeof(v), in->mail_from);
		put(&b, " smtp.mailfrom=%s", v);
	}
	if (r->nsigs == 0)
		put(&b, ";\r\n\tdkim=none (no signature)");
	for (size_t i = 0; i < r->nsigs; i++) {
		const struct dkim_vsig *s = &r->sigs[i];
		put(&b, ";\r\n\tdkim=%s", dkim_vresult_name(s->result));
		if (s->result != DKIM_V_PASS && s->why[0]) {
			ctext(c, sizeof(c), s->why);
			pvalue(v, sizeof(v), c);
			put(&b, " reason=%s", v);
		}
		if (s->domain[0]) {
			pvalue(v, sizeof(v), s->domain);
			put(&b, " header.d=%s", v);
		}
		if (s->selector[0]) {
			pvalue(v, sizeof(v), s->selector);
			put(&b, " header.s=%s", v);
		}
		if (s->algo[0]) {
			pvalue(v, sizeof(v), s->algo);
			put(&b, " header.a=%s", v);
		}
		if (s->b[0]) {
			pvalue(v, sizeof(v), s->b);
			put(&b, " header.b=%s", v);
		}
	}
	put(&b, ";\r\n\tdmarc=%s", dmarc_result_name(r->dmarc.result));
	dmarc_comment(&r->dmarc, w, sizeof(w));
	if (w[0]) {
		ctext(c, sizeof(c), w);
		put(&b, " (%s)", c);
	}
	/* With several From: domains, header.from names the one whose verdict is the message's
	 * (the strictest failing policy); the comment gives the others' verdicts. */
	if (r->dmarc.from_domain[0]) {
		pvalue(v, sizeof(v), r->dmarc.from_domain);
		put(&b, " header.from=%s", v);
	}
	put(&b, "\r\n");
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

void authres_summary(const struct authres *r, char *out, size_t outlen)
{
	size_t o = (size_t)snprintf(out, outlen, "spf=%s dkim=", spf_result_name(r->spf));

	if (r->nsigs == 0 && o < outlen)
		o += (size_t)snprintf(out + o, outlen - o, "none");
	for (size_t i = 0; i < r->nsigs && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s(%s)", i ? "," : "", dkim_vresult_name(r->sigs[i].result),
		                      r->sigs[i].domain);
	if (o < outlen)
		o += (size_t)snprintf(out + o, outlen - o, " dmarc=%s%s%s", dmarc_result_name(r->dmarc.result),
		                      r->dmarc.from_domain[0] ? "/" : "", r->dmarc.from_domain);
	/* several From: domains: each one's verdict, in the order written */
	for (size_t i = 0; r->dmarc.nauthors > 1 && i < r->dmarc.nauthors && o < outlen; i++)
		o += (size_t)snprintf(out + o, outlen - o, "%s%s:%s", i ? "," : " dmarc_from=", r->dmarc.authors[i].domain,
		                      dmarc_result_name(r->dmarc.authors[i].result));
}

struct strip {
	const char *id;
	size_t cut[64][2];              /* fields to remove: [start, end) */
	unsigned n;
};

static void strip_field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                        size_t end)
{
	struct strip *st = arg;
	size_t i = 0, il = strlen(st->id);

	if (nlen != 22 || strncasecmp(name, "authentication-results", 22) != 0 || st->n >= 64)
		return;
	/* the authserv-id: the first word of the value, after white space and comments */
	for (int depth = 0; i < vlen; i++) {
		char c = value[i];
		if (c == '(')
			depth++;
		else if (c == ')' && depth > 0)
			depth--;
		else if (depth == 0 && c != ' ' && c != '\t' && c != '\r' && c != '\n')
			break;
	}
	size_t e = i;
	while (e < vlen && value[e] != ';' && value[e] != ' ' && value[e] != '\t' && value[e] != '\r' &&
	       value[e] != '\n' && value[e] != '(')
		e++;
	if (e - i == il && strncasecmp(value + i, st->id, il) == 0) {
		st->cut[st->n][0] = start;
		st->cut[st->n][1] = end;
		st->n++;
	}
}

size_t authres_strip_own(char *hdr, size_t len, const char *authserv_id, unsigned *removed)
{
	struct strip st = { authserv_id, { { 0 } }, 0 };

	header_walk(hdr, len, strip_field, &st);
	/* from the last to the first, so earlier offsets stay right */
	for (unsigned k = st.n; k-- > 0;) {
		memmove(hdr + st.cut[k][0], hdr + st.cut[k][1], len - st.cut[k][1]);
		len -= st.cut[k][1] - st.cut[k][0];
	}
	*removed = st.n;
	return len;
}
