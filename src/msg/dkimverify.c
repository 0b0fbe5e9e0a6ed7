/*
 * dkimverify.c - DKIM verification (dkimverify.h): the signatures parsed when the header block
 * ends, their body hashes streamed, then per signature the key record, the header hash input
 * in h= order (instances from the bottom up, 5.4.2) and the signature checked with OpenSSL.
 * Not DNS (lookup.h) and not what a result means for the message (DMARC, authres).
 */
#include "dkimverify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "../util/base64.h"
#include "dkimcanon.h"

/* RFC 6376 3.5 defines 14 tags; more than this is not a signature worth reading. Tag values
 * and fields have no bound of their own but the header block's (dkimcanon.h): an h= of 2 KB
 * (a signer that lists many fields, or over-signs them) is valid and is read whole. */
#define MAX_TAGS 32

struct tags {
	char *name[MAX_TAGS], *val[MAX_TAGS];
	size_t n;
};

struct sig {
	struct dkim_vsig out;           /* result and names so far */
	int broken;                     /* out.result is final (a syntax error found already) */
	size_t field;                   /* the DKIM-Signature field's index among all fields */
	int relaxed_hdr, sha1, ed25519;
	long long expires;              /* x=, -1 = none */
	char bh[128];                   /* a SHA-256 hash is 44 characters of base64 */
	char *bval, *h;                 /* b= without FWS, and h=: malloc()ed, any length */
	struct dkim_body body;
};

/* A header field by its name: the index sorts them by name (any case), then by position. */
struct named {
	const char *name;
	size_t nlen, field;
};

struct dkim_verifier {
	struct dkim_hdrbuf h;
	struct dkim_field *all;         /* every header field, when the header block has ended */
	size_t nall;
	struct named *by_name;          /* the fields with a name and a colon, sorted (by_name_cmp) */
	size_t nnamed;
	int started;                    /* the signatures were read */
	struct sig sig[DKIM_VERIFY_MAX];
	size_t nsig;
};

const char *dkim_vresult_name(enum dkim_vresult r)
{
	static const char *const n[] = { "pass", "fail", "policy", "neutral", "temperror", "permerror" };
	return n[r];
}

static int wsp(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* RFC 6376 3.2 tag-list, parsed in place: names and values trimmed of FWS. -1: malformed, or
 * a tag twice. */
static int tags_parse(char *s, struct tags *t)
{
	t->n = 0;
	for (char *seg = s; seg != NULL;) {
		char *semi = strchr(seg, ';'), *next = semi ? semi + 1 : NULL;
		if (semi)
			*semi = '\0';
		while (wsp((unsigned char)*seg))
			seg++;
		if (*seg == '\0') {
			if (next != NULL)
				return -1;      /* an empty tag-spec is only allowed after the last ';' */
			break;
		}
		char *eq = strchr(seg, '=');
		if (eq == NULL || t->n >= MAX_TAGS)
			return -1;
		char *ne = eq;
		while (ne > seg && wsp((unsigned char)ne[-1]))
			ne--;
		*ne = '\0';
		if (!isalpha((unsigned char)*seg))
			return -1;
		for (char *q = seg; *q; q++)
			if (!isalnum((unsigned char)*q) && *q != '_')
				return -1;
		char *v = eq + 1, *ve = v + strlen(v);
		while (wsp((unsigned char)*v))
			v++;
		while (ve > v && wsp((unsigned char)ve[-1]))
			*--ve = '\0';
		for (size_t i = 0; i < t->n; i++)
			if (strcmp(t->name[i], seg) == 0)
				return -1;
		t->name[t->n] = seg;
		t->val[t->n++] = v;
		seg = next;
	}
	return 0;
}

static const char *tag(const struct tags *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->name[i], name) == 0)
			return t->val[i];
	return NULL;
}

/* A value without its folding white space, malloc()ed (NULL: out of memory). */
static char *squeeze_dup(const char *v)
{
	char *out = malloc(strlen(v) + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (; *v; v++)
		if (!wsp((unsigned char)*v))
			out[o++] = *v;
	out[o] = '\0';
	return out;
}

/* A base64 value without its folding white space, into out: 0, or -1 when it does not fit. */
static int squeeze(const char *v, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *v; v++)
		if (!wsp((unsigned char)*v)) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = *v;
		}
	out[o] = '\0';
	return 0;
}

/* base64 text into out when it fits: the octets, or -1. */
static long b64(const char *in, unsigned char *out, size_t outlen)
{
	size_t len = strlen(in);

	return len / 4 * 3 > outlen ? -1 : base64_decode(in, len, out);
}

static void broken(struct sig *s, enum dkim_vresult r, const char *why)
{
	s->out.result = r;
	snprintf(s->out.why, sizeof(s->out.why), "%s", why);
	s->broken = 1;
}

static void sig_tags(struct sig *s, const struct tags *t);

/* One DKIM-Signature field's tags into s; the body hash set up. */
static void sig_read(struct sig *s, const char *field, size_t len)
{
	struct tags t;
	const char *colon = memchr(field, ':', len);
	char *text;

	s->expires = -1;
	if (colon == NULL) {
		broken(s, DKIM_V_PERMERROR, "malformed signature (no colon)");
		return;
	}
	/* The field's value, whole: it is as long as its signer made it (dkimcanon.h). */
	size_t vl = len - (size_t)(colon + 1 - field);
	if ((text = malloc(vl + 1)) == NULL) {
		broken(s, DKIM_V_TEMPERROR, "out of memory");
		return;
	}
	memcpy(text, colon + 1, vl);
	text[vl] = '\0';
	if (memchr(text, '\0', vl) != NULL || tags_parse(text, &t) < 0) {
		broken(s, DKIM_V_PERMERROR, "malformed signature (tag list)");
		free(text);
		return;
	}
	sig_tags(s, &t);
	free(text);
}

/* What the report names the signature by (d=, s=, a= and the start of b=), valid or not. */
static void sig_names(struct sig *s, const char *d, const char *sel, const char *a, const char *b)
{
	if (d != NULL) {
		size_t k = 0;
		for (; d[k] && k + 1 < sizeof(s->out.domain); k++)
			s->out.domain[k] = (char)tolower((unsigned char)d[k]);
		s->out.domain[k] = '\0';
	}
	snprintf(s->out.selector, sizeof(s->out.selector), "%s", sel ? sel : "");
	snprintf(s->out.algo, sizeof(s->out.algo), "%s", a ? a : "");
	if (b != NULL) {
		size_t k = 0;
		for (const char *p = b; *p && k < 8; p++)
			if (!wsp((unsigned char)*p))
				s->out.b[k++] = *p;
		s->out.b[k] = '\0';
	}
}

/* a= into s->ed25519 and s->sha1; -1 (s broken) for an algorithm we do not know. */
static int sig_algo(struct sig *s, const char *a)
{
	if (strcasecmp(a, "rsa-sha256") == 0)
		;
	else if (strcasecmp(a, "ed25519-sha256") == 0)
		s->ed25519 = 1;
	else if (strcasecmp(a, "rsa-sha1") == 0)
		s->sha1 = 1;
	else {
		broken(s, DKIM_V_PERMERROR, "unknown signing algorithm");
		return -1;
	}
	return 0;
}

/* c= (NULL: simple/simple) into s->relaxed_hdr and *bc, the body's; -1 (s broken) if unknown. */
static int sig_canon(struct sig *s, const char *c, const char **bc)
{
	*bc = "simple";
	if (c == NULL)
		return 0;
	const char *sl = strchr(c, '/');
	size_t hl = sl ? (size_t)(sl - c) : strlen(c);
	if (hl == 7 && strncasecmp(c, "relaxed", 7) == 0)
		s->relaxed_hdr = 1;
	else if (!(hl == 6 && strncasecmp(c, "simple", 6) == 0)) {
		broken(s, DKIM_V_PERMERROR, "unknown header canonicalization");
		return -1;
	}
	*bc = sl ? sl + 1 : "simple";
	if (strcasecmp(*bc, "relaxed") != 0 && strcasecmp(*bc, "simple") != 0) {
		broken(s, DKIM_V_PERMERROR, "unknown body canonicalization");
		return -1;
	}
	return 0;
}

/* 3.5: h= must name From. */
static int h_names_from(const char *h)
{
	int from = 0;

	for (const char *p = h; *p;) {
		size_t n = strcspn(p, ":");
		const char *e = p + n;
		while (p < e && wsp((unsigned char)*p))
			p++;
		while (e > p && wsp((unsigned char)e[-1]))
			e--;
		from |= e - p == 4 && strncasecmp(p, "from", 4) == 0;
		p += strcspn(p, ":");
		p += *p == ':';
	}
	return from;
}

/* 3.5: the identity's domain is d= or a subdomain of it. */
static int i_within_d(const char *i, const char *d)
{
	const char *at = strrchr(i, '@');
	size_t il = at ? strlen(at + 1) : 0, dl = strlen(d);

	return !(at == NULL || il < dl || strcasecmp(at + 1 + il - dl, d) != 0 ||
	         (il > dl && at[1 + il - dl - 1] != '.'));
}

/* l= into *limit (-1: none) and x= into s->expires; -1 (s broken) when either is malformed. */
static int sig_numbers(struct sig *s, const char *l, const char *x, long long *limit)
{
	*limit = -1;
	if (l != NULL) {
		char *e;
		*limit = strtoll(l, &e, 10);
		if (*e || e == l || *limit < 0 || strlen(l) > 76) {
			broken(s, DKIM_V_PERMERROR, "malformed l= tag");
			return -1;
		}
	}
	if (x != NULL) {
		char *e;
		s->expires = strtoll(x, &e, 10);
		if (*e || e == x) {
			broken(s, DKIM_V_PERMERROR, "malformed x= tag");
			return -1;
		}
	}
	return 0;
}

/* The tags of one signature into s (t's strings are freed after this returns). */
static void sig_tags(struct sig *s, const struct tags *t)
{
	const char *v = tag(t, "v"), *a = tag(t, "a"), *b = tag(t, "b"), *bh = tag(t, "bh"), *c = tag(t, "c"),
	           *d = tag(t, "d"), *h = tag(t, "h"), *sel = tag(t, "s"), *l = tag(t, "l"), *x = tag(t, "x"),
	           *i = tag(t, "i"), *q = tag(t, "q");
	const char *bc;
	long long limit;

	sig_names(s, d, sel, a, b);
	if (v == NULL || strcmp(v, "1") != 0 || a == NULL || b == NULL || bh == NULL || d == NULL || h == NULL ||
	    sel == NULL) {
		broken(s, DKIM_V_PERMERROR, v && strcmp(v, "1") != 0 ? "unknown signature version" :
		       "a required tag (v, a, b, bh, d, h, s) is missing");
		return;
	}
	if (squeeze(bh, s->bh, sizeof(s->bh)) < 0) {
		broken(s, DKIM_V_PERMERROR, "bh= is too long for a hash");
		return;
	}
	if ((s->bval = squeeze_dup(b)) == NULL || (s->h = strdup(h)) == NULL) {
		broken(s, DKIM_V_TEMPERROR, "out of memory");
		return;
	}
	if (sig_algo(s, a) < 0 || sig_canon(s, c, &bc) < 0)
		return;
	if (q != NULL && strncasecmp(q, "dns/txt", 7) != 0) {
		broken(s, DKIM_V_PERMERROR, "unknown query method");
		return;
	}
	if (!h_names_from(s->h)) {
		broken(s, DKIM_V_PERMERROR, "From is not among the signed header fields");
		return;
	}
	if (i != NULL && !i_within_d(i, d)) {
		broken(s, DKIM_V_PERMERROR, "i= is not within the domain d=");
		return;
	}
	if (sig_numbers(s, l, x, &limit) < 0)
		return;
	if (dkim_body_init(&s->body, s->sha1 ? EVP_sha1() : EVP_sha256(), strcasecmp(bc, "relaxed") == 0, limit) < 0)
		broken(s, DKIM_V_TEMPERROR, "out of memory");
}

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int r = strncasecmp(a, b, al < bl ? al : bl);

	return r != 0 ? r : al < bl ? -1 : al > bl;
}

static int by_name_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int r = name_cmp(x->name, x->nlen, y->name, y->nlen);

	return r != 0 ? r : x->field < y->field ? -1 : x->field > y->field;
}

/* The name index: an h= entry finds its instances by binary search, so a header block of many
 * fields and an h= of many entries cost O(entries log fields), not their product. */
static int index_names(struct dkim_verifier *v)
{
	if ((v->by_name = calloc(v->nall + 1, sizeof(*v->by_name))) == NULL)
		return -1;
	for (size_t i = 0; i < v->nall; i++) {
		const char *f = v->h.hdr + v->all[i].off, *colon = memchr(f, ':', v->all[i].len);
		if (colon == NULL)
			continue;               /* no name a signature could list */
		size_t nl = (size_t)(colon - f);
		while (nl > 0 && (f[nl - 1] == ' ' || f[nl - 1] == '\t'))
			nl--;                   /* "Name :" (RFC 5322 4.5, obsolete) */
		v->by_name[v->nnamed++] = (struct named){ f, nl, i };
	}
	qsort(v->by_name, v->nnamed, sizeof(*v->by_name), by_name_cmp);
	return 0;
}

/* The header block is complete: read every DKIM-Signature field. */
static void start(struct dkim_verifier *v)
{
	/* Every field, however many the header block holds: a signature may name any of them. */
	size_t n = dkim_fields_all(v->h.hdr, v->h.hlen, NULL, 0);

	v->started = 1;
	if ((v->all = calloc(n + 1, sizeof(*v->all))) == NULL) {
		v->h.failed = 1;        /* out of memory: judged as a header block too large */
		return;
	}
	v->nall = dkim_fields_all(v->h.hdr, v->h.hlen, v->all, n);
	if (index_names(v) < 0) {
		v->h.failed = 1;
		return;
	}
	for (size_t i = 0; i < v->nall && v->nsig < DKIM_VERIFY_MAX; i++) {
		const char *f = v->h.hdr + v->all[i].off;
		size_t k = 14;
		if (v->all[i].len <= k || strncasecmp(f, "dkim-signature", k) != 0)
			continue;
		while (k < v->all[i].len && (f[k] == ' ' || f[k] == '\t'))
			k++;
		if (k >= v->all[i].len || f[k] != ':')
			continue;
		struct sig *s = &v->sig[v->nsig++];
		s->field = i;
		sig_read(s, f, v->all[i].len);
	}
}

struct dkim_verifier *dkim_verifier_new(void)
{
	return calloc(1, sizeof(struct dkim_verifier));
}

void dkim_verifier_feed(struct dkim_verifier *v, const char *p, size_t n)
{
	if (!v->h.in_body) {
		size_t took = dkim_hdrbuf_feed(&v->h, p, n);
		if (took == (size_t)-1)
			return;             /* too large a header block: nothing will be verified */
		p += took;
		n -= took;
		if (!v->h.in_body)
			return;
		start(v);
	}
	for (size_t i = 0; n > 0 && i < v->nsig; i++)
		if (!v->sig[i].broken)
			dkim_body_feed(&v->sig[i].body, p, n);
}

/* ---- keys ---------------------------------------------------------------------------------- */

int dkim_key_record(const char *txt, char *ktype, size_t ktlen, char *p, size_t plen, char *why, size_t whylen)
{
	char copy[4096];
	struct tags t;

	if (snprintf(copy, sizeof(copy), "%s", txt) >= (int)sizeof(copy) || tags_parse(copy, &t) < 0) {
		snprintf(why, whylen, "the key record is malformed");
		return -1;
	}
	const char *v = tag(&t, "v"), *k = tag(&t, "k"), *pv = tag(&t, "p");
	if (v != NULL && (strcmp(v, "DKIM1") != 0 || t.n == 0 || strcmp(t.name[0], "v") != 0)) {
		snprintf(why, whylen, "the key record's v= is not DKIM1 (or not first)");
		return -1;
	}
	if (pv == NULL) {
		snprintf(why, whylen, "the key record has no p=");
		return -1;
	}
	if (k == NULL)
		k = "rsa";
	if (strcmp(k, "rsa") != 0 && strcmp(k, "ed25519") != 0) {
		snprintf(why, whylen, "the key record's k=%.20s is unknown", k);
		return -1;
	}
	snprintf(ktype, ktlen, "%s", k);
	if (squeeze(pv, p, plen) < 0) {
		snprintf(why, whylen, "the key record's p= is too long");
		return -1;
	}
	return 0;
}

/* The public key of a record; NULL with the result and why in s. */
static EVP_PKEY *key_of(struct sig *s, const char *txt)
{
	char ktype[16], p[2048], why[120];
	unsigned char der[1536];
	char copy[4096];
	struct tags t;

	if (dkim_key_record(txt, ktype, sizeof(ktype), p, sizeof(p), why, sizeof(why)) < 0) {
		broken(s, DKIM_V_PERMERROR, why);
		return NULL;
	}
	snprintf(copy, sizeof(copy), "%s", txt);
	(void)tags_parse(copy, &t);
	const char *h = tag(&t, "h"), *svc = tag(&t, "s"), *flags = tag(&t, "t");
	if (p[0] == '\0') {
		broken(s, DKIM_V_PERMERROR, "the key has been revoked (empty p=)");
		return NULL;
	}
	if ((strcmp(ktype, "ed25519") == 0) != (s->ed25519 != 0)) {
		broken(s, DKIM_V_PERMERROR, "the key type does not match the signing algorithm");
		return NULL;
	}
	if (h != NULL && strstr(h, s->sha1 ? "sha1" : "sha256") == NULL) {
		broken(s, DKIM_V_PERMERROR, "the key does not allow this hash algorithm (h=)");
		return NULL;
	}
	if (svc != NULL && strstr(svc, "*") == NULL && strstr(svc, "email") == NULL) {
		broken(s, DKIM_V_PERMERROR, "the key is not for email (s=)");
		return NULL;
	}
	(void)flags;
	long dl = b64(p, der, sizeof(der));
	EVP_PKEY *pk = NULL;
	if (dl <= 0) {
		broken(s, DKIM_V_PERMERROR, "the key's p= is not base64");
		return NULL;
	}
	if (s->ed25519)
		pk = dl == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, 32) : NULL;
	else {
		const unsigned char *q = der;
		pk = d2i_PUBKEY(NULL, &q, (long)dl);
		if (pk == NULL) {           /* some publish the bare RSAPublicKey */
			q = der;
			pk = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)dl);
		}
		if (pk != NULL && EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
	}
	if (pk == NULL) {
		broken(s, DKIM_V_PERMERROR, "the key's p= is not a public key of its type");
		return NULL;
	}
	if (!s->ed25519 && EVP_PKEY_get_bits(pk) < 1024) {
		EVP_PKEY_free(pk);
		broken(s, DKIM_V_POLICY, "an RSA key under 1024 bits (RFC 8301)");
		return NULL;
	}
	return pk;
}

/* The signature field itself with b='s value taken out, canonicalised, no final CRLF, appended
 * to out: 0, or -1 (out of memory). */
static int sig_field_input(const struct sig *s, const char *f, size_t len, struct dkim_buf *out)
{
	struct dkim_buf tmp = { 0 };

	if (len >= 2 && f[len - 2] == '\r' && f[len - 1] == '\n')
		len -= 2;
	for (size_t i = 0; i < len;) {
		/* at a tag's start (after ':' or ';' and FWS): is it "b" = ? */
		if (dkim_buf_add(&tmp, f + i, 1) < 0)
			goto oom;
		if (f[i] == ':' || f[i] == ';') {
			size_t k = i + 1;
			while (k < len && wsp((unsigned char)f[k]))
				k++;
			size_t ns = k;
			while (k < len && (isalnum((unsigned char)f[k]) || f[k] == '_'))
				k++;
			size_t ne = k;
			while (k < len && wsp((unsigned char)f[k]))
				k++;
			if (ne - ns == 1 && f[ns] == 'b' && k < len && f[k] == '=') {
				/* keep "b=" and what came before it; drop the value up to ';' or the end */
				if (dkim_buf_add(&tmp, f + i + 1, k - i) < 0)
					goto oom;
				i = k + 1;
				while (i < len && f[i] != ';')
					i++;
				continue;
			}
		}
		i++;
	}
	int r = dkim_buf_field(out, tmp.p ? tmp.p : "", tmp.len, s->relaxed_hdr, 0);
	dkim_buf_free(&tmp);
	return r;
oom:
	dkim_buf_free(&tmp);
	return -1;
}

/* The first entry of the index named name (any case), or v->nnamed when there is none. */
static size_t first_named(const struct dkim_verifier *v, const char *name, size_t nl)
{
	size_t lo = 0, hi = v->nnamed;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (name_cmp(v->by_name[mid].name, v->by_name[mid].nlen, name, nl) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->nnamed && name_cmp(v->by_name[lo].name, v->by_name[lo].nlen, name, nl) == 0 ? lo : v->nnamed;
}

/* Where the run of entries named name that starts at first ends (the next name's first). */
static size_t run_end(const struct dkim_verifier *v, size_t first, const char *name, size_t nl)
{
	size_t lo = first, hi = v->nnamed;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (name_cmp(v->by_name[mid].name, v->by_name[mid].nlen, name, nl) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The header hash input of s (5.4.2: each name in h= takes the next instance from the bottom),
 * malloc()ed, its length in *len; NULL when out of memory. */
static char *header_input(const struct dkim_verifier *v, const struct sig *s, size_t *len)
{
	struct dkim_buf buf = { 0 };
	size_t *taken = calloc(v->nnamed + 1, sizeof(*taken));    /* per name, at its first entry */

	*len = 0;
	if (taken == NULL)
		return NULL;
	for (const char *p = s->h; *p;) {
		size_t n = strcspn(p, ":");
		const char *ns = p, *ne = p + n;
		while (ns < ne && wsp((unsigned char)*ns))
			ns++;
		while (ne > ns && wsp((unsigned char)ne[-1]))
			ne--;
		p += n + (p[n] == ':');
		size_t nl = (size_t)(ne - ns), first = first_named(v, ns, nl);
		if (nl == 0 || first == v->nnamed)
			continue;               /* none of that name: it adds nothing */
		/* its instances are in message order: the bottom-most not yet taken is end - 1 - taken */
		size_t end = run_end(v, first, ns, nl);
		if (taken[first] >= end - first)
			continue;               /* every instance taken already: nothing (5.4.2) */
		const struct dkim_field *f = &v->all[v->by_name[end - 1 - taken[first]++].field];
		if (dkim_buf_field(&buf, v->h.hdr + f->off, f->len, s->relaxed_hdr, 1) < 0)
			goto oom;
	}
	const struct dkim_field *sf = &v->all[s->field];
	if (sig_field_input(s, v->h.hdr + sf->off, sf->len, &buf) < 0)
		goto oom;
	free(taken);
	*len = buf.len;
	return buf.p;
oom:
	free(taken);
	dkim_buf_free(&buf);
	return NULL;
}

/* One signature, its body hash already known. */
static void check_sig(struct dkim_verifier *v, struct sig *s, const struct lookup *lk, long long now)
{
	unsigned char digest[EVP_MAX_MD_SIZE], want[EVP_MAX_MD_SIZE], sigbin[1024];
	unsigned dl = dkim_body_final(&s->body, digest);
	long wl = b64(s->bh, want, sizeof(want));

	if (s->sha1) {
		broken(s, DKIM_V_POLICY, "rsa-sha1 is not accepted (RFC 8301)");
		return;
	}
	if (s->expires >= 0 && s->expires < now) {
		broken(s, DKIM_V_FAIL, "the signature has expired (x=)");
		return;
	}
	char name[600], txt[4096];
	size_t n = 0;
	snprintf(name, sizeof(name), "%s._domainkey.%s", s->out.selector, s->out.domain);
	int r = lk->txt(lk->arg, name, txt, sizeof(txt), &n);
	if (r == LOOKUP_TEMP) {
		broken(s, DKIM_V_TEMPERROR, "the key lookup failed");
		return;
	}
	if (r == LOOKUP_NXDOMAIN || n == 0) {
		broken(s, DKIM_V_PERMERROR, "no key published for the signature");
		return;
	}
	if (dl == 0 || wl != (long)dl || memcmp(digest, want, dl) != 0) {
		broken(s, DKIM_V_FAIL, "body hash did not verify");
		return;
	}
	EVP_PKEY *pk = key_of(s, txt);
	if (pk == NULL)
		return;
	size_t hl;
	long sl = b64(s->bval, sigbin, sizeof(sigbin));
	char *input = header_input(v, s, &hl);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;
	if (input != NULL && ctx != NULL && sl > 0) {
		if (s->ed25519) {
			unsigned char hash[32];
			ok = EVP_Digest(input, hl, hash, NULL, EVP_sha256(), NULL) == 1 &&
			     EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
			     EVP_DigestVerify(ctx, sigbin, (size_t)sl, hash, 32) == 1;
		} else
			ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
			     EVP_DigestVerify(ctx, sigbin, (size_t)sl, (const unsigned char *)input, hl) == 1;
	}
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	free(input);
	if (ok) {
		s->out.result = DKIM_V_PASS;
		s->out.why[0] = '\0';
		s->broken = 1;
	} else
		broken(s, DKIM_V_FAIL, "signature did not verify");
}

size_t dkim_verify_finish(struct dkim_verifier *v, const struct lookup *lk, long long now, struct dkim_vsig *out,
                          size_t max)
{
	if (v->h.failed)
		return 0;
	if (!v->started) {
		/* all header, no body (or no empty line): the body is empty */
		v->h.in_body = 1;
		start(v);
	}
	for (size_t i = 0; i < v->nsig; i++) {
		if (!v->sig[i].broken)
			check_sig(v, &v->sig[i], lk, now);
		if (i < max)
			out[i] = v->sig[i].out;
	}
	return v->nsig;
}

void dkim_verifier_free(struct dkim_verifier *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->nsig; i++) {
		dkim_body_free(&v->sig[i].body);
		free(v->sig[i].bval);
		free(v->sig[i].h);
	}
	free(v->all);
	free(v->by_name);
	dkim_hdrbuf_free(&v->h);
	free(v);
}

const char *dkim_verifier_header(const struct dkim_verifier *v, size_t *len)
{
	*len = v->h.failed ? 0 : v->h.hlen;
	return v->h.failed ? NULL : v->h.hdr;
}
