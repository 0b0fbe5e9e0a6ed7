/*
 * dkimsign.h - DKIM signing (RFC 6376, ed25519 RFC 8463) of a message as it is stored: our own
 * canonicalisation (dkimcanon.h) and OpenSSL for the keys and signatures.
 *
 * Keys: [dkim] sign = DOMAIN SELECTOR FILE [active|standby], loaded once (dkim_keys_load) and
 * shared read-only by every thread. A message is signed by every active key of the domain of
 * its From: address (DMARC alignment), rsa-sha256 and ed25519-sha256 side by side, relaxed/
 * relaxed, with From over-signed. The octets are fed as the queue stores them (CRLF lines,
 * dot-unstuffed); the RSA signature is made in dkim_sign_finish(), which the server calls on
 * its commit thread, never on the event loop.
 *
 * Ownership: dkim_keys_load() returns a set with one reference; dkim_keys_ref() takes another
 * (from any thread) and dkim_keys_free() drops one, freeing the set with the last. A
 * dkim_signer borrows the set and is freed with dkim_signer_free() (NULL is a no-op).
 */
#ifndef MAILPORT_DKIMSIGN_H
#define MAILPORT_DKIMSIGN_H

#include <stddef.h>

#define DKIM_MAX_KEYS 32

struct dkim_key_conf {
	const char *domain, *selector, *path;
	int active;                     /* 0: standby, published but not signing (rotation) */
	unsigned line;                  /* in the config file, for errors */
};

struct dkim_keys;
struct dkim_signer;

/* Read and check every key: not readable by every user (0600, or 0640 with a group, as the
 * TLS keys), RSA of at least
 * 2048 bits or Ed25519. NULL with err naming the key's line's problem (the caller adds
 * file:line from *bad_line). n == 0 gives an empty set, not NULL. */
struct dkim_keys *dkim_keys_load(const struct dkim_key_conf *c, size_t n, char *err, size_t errlen,
                                 unsigned *bad_line);
struct dkim_keys *dkim_keys_ref(struct dkim_keys *k);
void dkim_keys_free(struct dkim_keys *k);
/* How many active keys there are, for any domain: 0 when nothing is signed at all. */
size_t dkim_keys_active(const struct dkim_keys *k);
/* How many active keys sign for domain. */
size_t dkim_keys_for(const struct dkim_keys *k, const char *domain);
/* The domain with active keys that is host or the nearest parent of it (a bounce from
 * MAILER-DAEMON@mx.example.org is signed as example.org: DMARC's relaxed alignment), or NULL. */
const char *dkim_keys_domain_of(const struct dkim_keys *k, const char *host);

/* The public key of a key file as the TXT record's p= (base64), and its k= ("rsa" or
 * "ed25519"): 0, or -1 with err. */
int dkim_key_public(const char *path, char *p, size_t plen, const char **ktype, char *err, size_t errlen);

/* A signer for a message From: domain; NULL when no active key signs for it (or out of memory:
 * then err says so). */
struct dkim_signer *dkim_signer_new(const struct dkim_keys *k, const char *domain, const char *id, char *err,
                                    size_t errlen);
/* The domain it signs for (d=). */
const char *dkim_signer_domain(const struct dkim_signer *s);
/* The message's octets, from its first header line, in any chunking. 0, or -1 (err). */
int dkim_signer_feed(struct dkim_signer *s, const char *p, size_t n);
/* The DKIM-Signature header fields, CRLF-terminated, folded, into a malloc()ed string. NULL
 * with err. */
char *dkim_sign_finish(struct dkim_signer *s, char *err, size_t errlen);
void dkim_signer_free(struct dkim_signer *s);

/* The domain of the first address of the first From: field in a header block (CRLF lines),
 * lower case, into out, as addrlist_parse() reads the field: 0; -1 when there is no From:
 * field; -2 when it has no address with a host name as its domain (malformed, empty, a bare
 * name, a domain literal, or one longer than outlen). */
int dkim_from_domain(const char *hdr, size_t len, char *out, size_t outlen);

#endif
