/*
 * dkimcanon.h - what DKIM signing (dkim.c) and verification (dkimverify.c) share: the header
 * block split off a message streamed in any chunking, header fields found by name, the
 * relaxed header canonicalisation (RFC 6376 3.4.2), and the body canonicalisations, simple
 * (3.4.3) and relaxed (3.4.4), hashed as they stream, with an optional l= limit.
 *
 * Lengths: RFC 5322 bounds a line (998 octets), not a field: a folded Cc: of 10 KB is valid, and
 * so is an h= tag of any length. The one bound is DKIM_HEADER_MAX on the whole header block;
 * every field, tag and hash input inside it is handled whole, whatever its length, in buffers
 * that grow (struct dkim_buf). A field is never cut: that would hash other octets than the
 * peer hashes, and fail every signature over it.
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

/* A larger header block is neither signed nor verified. Far above real mail (a header block of a
 * few KB; a 10 KB Cc: is rare), low enough that a worker's copies of it stay small. */
#define DKIM_HEADER_MAX (256 * 1024)

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

/* How much room dkim_canon_relaxed() needs for a field of len octets: it never grows a field
 * but for the CRLF it may add (and a colon, were the field to have none). */
#define DKIM_CANON_ROOM(len) ((len) + 3)

/* RFC 6376 3.4.2: the name in lower case, no WSP around the colon, the value unfolded with WSP
 * runs as one SP and none at either end; then CRLF (crlf) or nothing. Its length in out, which
 * has room for DKIM_CANON_ROOM(len) octets (less: the field would be cut, so nothing is written
 * and 0 comes back). */
size_t dkim_canon_relaxed(const char *f, size_t len, char *out, size_t outlen, int crlf);

/* A buffer that grows, for hash inputs and signature fields: zero-filled before use, freed
 * with dkim_buf_free(). p is NUL-terminated after len once anything was added. */
struct dkim_buf {
	char *p;
	size_t len, cap;
};

/* Append n octets: 0, or -1 (out of memory; the buffer is left as it was). */
int dkim_buf_add(struct dkim_buf *b, const char *p, size_t n);
/* Append a field as hashed: relaxed (3.4.2, then CRLF when crlf) or simple (as it is). 0 or -1. */
int dkim_buf_field(struct dkim_buf *b, const char *f, size_t len, int relaxed, int crlf);
void dkim_buf_free(struct dkim_buf *b);

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
