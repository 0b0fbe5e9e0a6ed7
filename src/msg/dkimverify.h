/*
 * dkimverify.h - DKIM verification (RFC 6376 6, RFC 8463, RFC 8301) of a message as it
 * arrives: the octets are fed as the queue stores them (CRLF lines, dot-unstuffed), each
 * DKIM-Signature's body hash is computed while they stream, and dkim_verify_finish() looks up
 * the keys (lookup.h) and checks the header signatures. Blocking there: worker threads only.
 *
 * Results as Authentication-Results names them (RFC 8601 2.7.1): pass; fail (a hash or
 * signature that does not verify, an expired signature); policy (what RFC 8301 forbids:
 * rsa-sha1, RSA keys under 1024 bits); neutral (a signature that cannot be judged);
 * temperror (the key lookup failed for now); permerror (a malformed signature or key record,
 * no key published, a revoked key).
 *
 * Ownership: dkim_verifier_new() gives one the caller frees with dkim_verifier_free() (NULL
 * is a no-op). At most DKIM_VERIFY_MAX signatures are checked; more are ignored.
 */
#ifndef MAILPORT_DKIMVERIFY_H
#define MAILPORT_DKIMVERIFY_H

#include <stddef.h>

#include "lookup.h"

#define DKIM_VERIFY_MAX 8

enum dkim_vresult { DKIM_V_PASS, DKIM_V_FAIL, DKIM_V_POLICY, DKIM_V_NEUTRAL, DKIM_V_TEMPERROR, DKIM_V_PERMERROR };

struct dkim_vsig {
	enum dkim_vresult result;
	char domain[256];               /* d=, lower case ("" when the signature has none) */
	char selector[64];              /* s= */
	char algo[20];                  /* a= */
	char b[9];                      /* the first 8 characters of b= (RFC 6008 header.b) */
	char why[160];                  /* in words, for a result other than pass */
};

struct dkim_verifier;

const char *dkim_vresult_name(enum dkim_vresult r);

struct dkim_verifier *dkim_verifier_new(void);
/* The message's octets, from its first header line, in any chunking. */
void dkim_verifier_feed(struct dkim_verifier *v, const char *p, size_t n);
/* Checks every signature found (now: seconds since the epoch, for x=); their results into out
 * in header order, at most max; how many there were. 0: the message carries no signature. */
size_t dkim_verify_finish(struct dkim_verifier *v, const struct lookup *lk, long long now, struct dkim_vsig *out,
                          size_t max);
void dkim_verifier_free(struct dkim_verifier *v);
/* The header block as fed so far (NULL when there was none, or it was too large). */
const char *dkim_verifier_header(const struct dkim_verifier *v, size_t *len);

/* A DKIM key record (the TXT at SELECTOR._domainkey.DOMAIN): 0 with its k= ("rsa",
 * "ed25519") and p= (base64, spaces removed) copied out, or -1 with why. For check. */
int dkim_key_record(const char *txt, char *ktype, size_t ktlen, char *p, size_t plen, char *why, size_t whylen);

#endif
