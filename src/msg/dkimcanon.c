/*
 * dkimcanon.c - DKIM's canonicalisations (dkimcanon.h), streamed: the header block kept whole
 * (it is hashed by field, in h= order), the body hashed as it passes. Not signing, not keys.
 */
#include "dkimcanon.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

size_t dkim_hdrbuf_feed(struct dkim_hdrbuf *h, const char *p, size_t n)
{
	size_t i = 0;

	if (h->failed)
		return (size_t)-1;
	for (; i < n && !h->in_body; i++) {
		/* eoh: 0 at a line start, 1 after a CR there, 2 inside a line */
		char c = p[i];
		if (c == '\n') {
			h->in_body = h->eoh == 1;
			h->eoh = 0;
		} else
			h->eoh = c == '\r' && h->eoh == 0 ? 1 : 2;
	}
	if (h->hlen + i > DKIM_HEADER_MAX) {
		h->failed = 1;
		return (size_t)-1;
	}
	if (h->hlen + i > h->hcap) {
		size_t cap = h->hcap ? h->hcap : 4096;
		while (cap < h->hlen + i)
			cap *= 2;
		char *nh = realloc(h->hdr, cap);
		if (nh == NULL) {
			h->failed = 1;
			return (size_t)-1;
		}
		h->hdr = nh;
		h->hcap = cap;
	}
	memcpy(h->hdr + h->hlen, p, i);
	h->hlen += i;
	return i;
}

void dkim_hdrbuf_free(struct dkim_hdrbuf *h)
{
	free(h->hdr);
	h->hdr = NULL;
	h->hlen = h->hcap = 0;
}

/* Where the field starting at at ends: after its last folded line. */
static size_t field_end(const char *hdr, size_t hlen, size_t at)
{
	size_t end = at;

	do {
		const char *e = memchr(hdr + end, '\n', hlen - end);
		end = e ? (size_t)(e - hdr) + 1 : hlen;
	} while (end < hlen && (hdr[end] == ' ' || hdr[end] == '\t'));
	return end;
}

size_t dkim_fields_all(const char *hdr, size_t hlen, struct dkim_field *out, size_t max)
{
	size_t n = 0;

	for (size_t at = 0; at < hlen;) {
		size_t end = field_end(hdr, hlen, at);
		if (end - at <= 2 && hdr[at] == '\r')
			break;                  /* the empty line */
		if (n < max)
			out[n] = (struct dkim_field){ at, end - at };
		n++;
		at = end;
	}
	return n;
}

size_t dkim_fields_named(const char *hdr, size_t hlen, const char *name, struct dkim_field *out, size_t max)
{
	size_t nl = strlen(name), n = 0;

	for (size_t at = 0; at < hlen;) {
		size_t end = field_end(hdr, hlen, at);
		if (end - at > nl && strncasecmp(hdr + at, name, nl) == 0) {
			size_t k = at + nl;
			while (k < end && (hdr[k] == ' ' || hdr[k] == '\t'))
				k++;
			if (k < end && hdr[k] == ':') {
				if (n < max)
					out[n] = (struct dkim_field){ at, end - at };
				n++;
			}
		}
		at = end;
	}
	return n;
}

size_t dkim_canon_relaxed(const char *f, size_t len, char *out, size_t outlen, int crlf)
{
	size_t o = 0, i = 0;
	int wsp = 0, started = 0;

	if (outlen < DKIM_CANON_ROOM(len))
		return 0;
	/* o never passes i + 1 (one octet out per octet in, and the colon even when the field has
	 * none), so the room asked for above holds all of it. */
	for (; i < len && f[i] != ':'; i++)
		if (f[i] != ' ' && f[i] != '\t')
			out[o++] = (char)tolower((unsigned char)f[i]);
	out[o++] = ':';
	for (i++; i < len; i++) {
		char c = f[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == ' ' || c == '\t') {
			wsp = 1;
			continue;
		}
		if (wsp && started)
			out[o++] = ' ';
		wsp = 0;
		started = 1;
		out[o++] = c;
	}
	if (crlf) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	return o;
}

/* Room for n more octets and the NUL: 0, or -1. Bounded by what is put in, which is itself
 * bounded by the header block (DKIM_HEADER_MAX) and its fields. */
static int buf_room(struct dkim_buf *b, size_t n)
{
	if (b->p != NULL && b->len + n + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 1024;
	while (cap < b->len + n + 1)
		cap *= 2;
	char *np = realloc(b->p, cap);
	if (np == NULL)
		return -1;
	b->p = np;
	b->cap = cap;
	return 0;
}

int dkim_buf_add(struct dkim_buf *b, const char *p, size_t n)
{
	if (buf_room(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int dkim_buf_field(struct dkim_buf *b, const char *f, size_t len, int relaxed, int crlf)
{
	if (!relaxed)
		return dkim_buf_add(b, f, len);
	if (buf_room(b, DKIM_CANON_ROOM(len)) < 0)
		return -1;
	b->len += dkim_canon_relaxed(f, len, b->p + b->len, b->cap - b->len, crlf);
	b->p[b->len] = '\0';
	return 0;
}

void dkim_buf_free(struct dkim_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int dkim_body_init(struct dkim_body *b, const EVP_MD *md, int relaxed, long long limit)
{
	memset(b, 0, sizeof(*b));
	b->relaxed = relaxed;
	b->limit = limit;
	if ((b->md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(b->md, md, NULL) != 1)
		return -1;
	return 0;
}

static void body_out(struct dkim_body *b, const void *p, size_t n)
{
	if (b->limit >= 0) {
		unsigned long long room = (unsigned long long)b->limit - b->hashed;
		if (n > room)
			n = (size_t)room;
	}
	if (b->outlen + n > sizeof(b->out)) {
		EVP_DigestUpdate(b->md, b->out, b->outlen);
		b->outlen = 0;
	}
	memcpy(b->out + b->outlen, p, n);
	b->outlen += n;
	b->hashed += n;
}

/* One content octet of a line: the CRLFs held back and (relaxed) a WSP run as one SP first. */
static void body_content(struct dkim_body *b, char c)
{
	for (; b->pending_crlf > 0; b->pending_crlf--)
		body_out(b, "\r\n", 2);
	if (b->wsp)
		body_out(b, " ", 1);
	b->wsp = 0;
	body_out(b, &c, 1);
	b->any_content = 1;
}

/* Empty lines at the end of the body go (both); relaxed: WSP runs become one SP and WSP at a
 * line's end goes. CRLFs are held back until content follows them. */
void dkim_body_feed(struct dkim_body *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		int after_cr = b->cr;
		b->cr = 0;
		if (after_cr && c != '\n')
			body_content(b, '\r');          /* a CR without LF is content (none is stored) */
		if (c == '\r')
			b->cr = 1;
		else if (c == '\n' && after_cr) {
			b->wsp = 0;                     /* relaxed: WSP at the end of a line goes */
			b->pending_crlf++;
		} else if (b->relaxed && (c == ' ' || c == '\t'))
			b->wsp = 1;
		else
			body_content(b, c);
	}
}

unsigned dkim_body_final(struct dkim_body *b, unsigned char *digest)
{
	unsigned dl = 0;

	if (b->cr)
		body_content(b, '\r');
	b->cr = 0;
	/* The last line's CRLF; an empty body is "" relaxed, one CRLF simple (3.4.3, 3.4.4). */
	if (b->any_content || !b->relaxed)
		body_out(b, "\r\n", 2);
	if (EVP_DigestUpdate(b->md, b->out, b->outlen) != 1 || EVP_DigestFinal_ex(b->md, digest, &dl) != 1)
		return 0;
	b->outlen = 0;
	return dl;
}

void dkim_body_free(struct dkim_body *b)
{
	EVP_MD_CTX_free(b->md);
	b->md = NULL;
}
