/*
 * dkimcanon.h - what DKIM signing (dkim.c) and verification (dkimverify.c) share: the header
 * block split off a message streamed in any chunking, header fields found by name, the
 * relaxed header canonicalisation (RFC 6376 3.4.2), and the body canonicalisations, simple
 * (3.4.3) and relaxed (3.4.4), hashed as they stream, with an optional l= limit.
 *
 * Ownership: a struct dkim_hdrbuf is zero-filled by its owner and its buffer freed with
 * dkim_hdrbuf_free(); a struct dkim_body is set up by dkim_body_init() and freed with
 * dkim_body_free() (also after a failed init). Field slices point into the hdrbuf and stay
 * valid until its next feed.
 */
#ifndef MAILPORT_DKIMCANON_H
#define MAILPORT_DKIMCANON_H

#include <stddef.h>

#include <openssl/evp.h>

#define DKIM_HEADER_MAX (256 * 1024)    /* a larger header block is neither signed nor verified */

struct dkim_hdrbuf {
	char *hdr;                      /* the header block with its empty line */
	size_t hlen, hcap;
	int eoh;                        /* state of CRLF CRLF at a line start (0 = at one) */
	int in_body, failed;
};

/* Take octets into the header block until its empty line: how many of p[0..n) it took (the
 * rest is body), or (size_t)-1 when the block grew past DKIM_HEADER_MAX or memory ran out. */
size_t dkim_hdrbuf_feed(struct dkim_hdrbuf *h, const char *p, size_t n);
void dkim_hdrbuf_free(struct dkim_hdrbuf *h);

struct dkim_field { size_t off, len; };     /* a field with its folded lines and final CRLF */

/* The fields named name (any case) in message order, at most max; how many there are in all. */
size_t dkim_fields_named(const char *hdr, size_t hlen, const char *name, struct dkim_field *out, size_t max);
/* Every field in message order, at most max; how many there are in all. */
size_t dkim_fields_all(const char *hdr, size_t hlen, struct dkim_field *out, size_t max);

/* RFC 6376 3.4.2: the name in lower case, no WSP around the colon, the value unfolded with WSP
 * runs as one SP and none at either end; then CRLF (crlf) or nothing. Its length in out. */
size_t dkim_canon_relaxed(const char *f, size_t len, char *out, size_t outlen, int crlf);

struct dkim_body {
	EVP_MD_CTX *md;
	int relaxed;
	long long limit;                /* octets hashed at most (l=), -1 = all */
	unsigned long long hashed;
	int wsp, any_content, cr;
	unsigned long pending_crlf;
	unsigned char out[4096];
	size_t outlen;
};

/* 0, or -1 (out of memory). md: EVP_sha256() or EVP_sha1(). */
int dkim_body_init(struct dkim_body *b, const EVP_MD *md, int relaxed, long long limit);
void dkim_body_feed(struct dkim_body *b, const char *p, size_t n);
/* The body hash into digest (at least EVP_MAX_MD_SIZE): its length, or 0 on error. */
unsigned dkim_body_final(struct dkim_body *b, unsigned char *digest);
void dkim_body_free(struct dkim_body *b);

#endif
