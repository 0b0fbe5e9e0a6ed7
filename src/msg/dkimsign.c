/*
 * dkimsign.c - DKIM signing (dkimsign.h): the header hash input in h= order and the signature with
 * OpenSSL, over the canonicalisations of dkimcanon.c. Written here rather than with Debian's
 * libopendkim: its ed25519-sha256 signing path (2.11.0~beta2) leaks about 470 bytes per
 * message (seen under AddressSanitizer), and the canonicalisation is small, pure and judged by
 * independent verifiers (python3-dkim, opendkim-testmsg) in the tests.
 */
#include "dkimsign.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../util/base64.h"
#include "../util/fsutil.h"
#include "addrlist.h"
#include "dkimcanon.h"

/* RFC 6376 5.4.1's recommended fields and the MIME ones; From once more than it occurs
 * (over-signed), so that a From added later breaks the signature. */
static const char *const sign_hdrs[] = {
	"from", "to", "cc", "subject", "date", "message-id", "reply-to", "in-reply-to", "references",
	"mime-version", "content-type", "content-transfer-encoding", "content-disposition", "list-id",
	"list-unsubscribe", NULL,
};

struct key {
	char *domain, *selector;
	EVP_PKEY *pk;
	int ed25519;
	int active;
};

struct dkim_keys {
	_Atomic int refs;               /* the runconf that loaded it, and the runner's settings */
	struct key k[DKIM_MAX_KEYS];
	size_t n;
};

struct dkim_signer {
	const struct dkim_keys *keys;
	char domain[256];
	struct dkim_hdrbuf h;
	struct dkim_body body;          /* relaxed, streamed */
};

const char *dkim_signer_domain(const struct dkim_signer *s)
{
	return s->domain;
}

struct dkim_keys *dkim_keys_ref(struct dkim_keys *k)
{
	if (k != NULL)
		k->refs++;
	return k;
}

static void keys_destroy(struct dkim_keys *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->k[i].domain);
		free(k->k[i].selector);
		EVP_PKEY_free(k->k[i].pk);
	}
	free(k);
}

void dkim_keys_free(struct dkim_keys *k)
{
	if (k != NULL && --k->refs == 0)
		keys_destroy(k);
}

/* The key file, after the checks: RSA of 2048 bits or more (RFC 8301), or Ed25519. */
static EVP_PKEY *read_key(const char *path, int *ed25519, char *err, size_t errlen)
{
	struct stat sb;
	size_t len = 0;
	char *text;

	if (stat(path, &sb) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (sb.st_mode & 007) {
		snprintf(err, errlen, "%s can be read by every user (mode %04o): a signing key must be private (chmod "
		         "600, owned by the mail user)", path, (unsigned)(sb.st_mode & 07777));
		return NULL;
	}
	if ((text = fs_read_file(path, 65536, &len, FS_REGULAR)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	explicit_bzero(text, len);
	free(text);
	int type = pk ? EVP_PKEY_get_base_id(pk) : 0, bits = pk ? EVP_PKEY_get_bits(pk) : 0;
	if ((type == EVP_PKEY_RSA && bits >= 2048) || type == EVP_PKEY_ED25519) {
		*ed25519 = type == EVP_PKEY_ED25519;
		return pk;
	}
	snprintf(err, errlen, "%s: %s", path, pk == NULL ? "not a PEM private key" :
	         type == EVP_PKEY_RSA ? "an RSA key shorter than 2048 bits (RFC 8301)" : "neither RSA nor Ed25519");
	EVP_PKEY_free(pk);
	return NULL;
}

struct dkim_keys *dkim_keys_load(const struct dkim_key_conf *c, size_t n, char *err, size_t errlen,
                                 unsigned *bad_line)
{
	struct dkim_keys *k = calloc(1, sizeof(*k));

	*bad_line = 0;
	if (k == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->refs = 1;
	for (size_t i = 0; i < n && i < DKIM_MAX_KEYS; i++) {
		struct key *e = &k->k[k->n];
		if ((e->pk = read_key(c[i].path, &e->ed25519, err, errlen)) == NULL) {
			*bad_line = c[i].line;
			keys_destroy(k);
			return NULL;
		}
		k->n++;
		e->domain = strdup(c[i].domain);
		e->selector = strdup(c[i].selector);
		e->active = c[i].active;
		if (e->domain == NULL || e->selector == NULL) {
			snprintf(err, errlen, "out of memory");
			keys_destroy(k);
			return NULL;
		}
	}
	return k;
}

size_t dkim_keys_active(const struct dkim_keys *k)
{
	size_t n = 0;

	for (size_t i = 0; k && i < k->n; i++)
		n += k->k[i].active != 0;
	return n;
}

size_t dkim_keys_for(const struct dkim_keys *k, const char *domain)
{
	size_t n = 0;

	for (size_t i = 0; k && i < k->n; i++)
		n += k->k[i].active && strcasecmp(k->k[i].domain, domain) == 0;
	return n;
}

const char *dkim_keys_domain_of(const struct dkim_keys *k, const char *host)
{
	for (const char *h = host; h != NULL && *h; h = strchr(h, '.') ? strchr(h, '.') + 1 : NULL)
		for (size_t i = 0; k && i < k->n; i++)
			if (k->k[i].active && strcasecmp(k->k[i].domain, h) == 0)
				return k->k[i].domain;
	return NULL;
}

int dkim_key_public(const char *path, char *p, size_t plen, const char **ktype, char *err, size_t errlen)
{
	size_t len = 0;
	char *text = fs_read_file(path, 65536, &len, FS_REGULAR);
	BIO *bio = text ? BIO_new_mem_buf(text, (int)len) : NULL;
	EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	unsigned char der[1024], *q = der;
	int r = -1;

	BIO_free(bio);
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	if (pk == NULL) {
		snprintf(err, errlen, "%s: not a readable PEM private key", path);
		return -1;
	}
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519) {
		/* RFC 8463 4.2: p= is the raw 32-octet public key. */
		size_t rl = sizeof(der);
		if (EVP_PKEY_get_raw_public_key(pk, der, &rl) == 1 && (rl + 2) / 3 * 4 < plen) {
			base64_encode(der, rl, p);
			*ktype = "ed25519";
			r = 0;
		}
	} else {
		/* RFC 6376 3.6.1: the SubjectPublicKeyInfo, DER. */
		int dl = i2d_PUBKEY(pk, NULL);
		if (dl > 0 && (size_t)dl <= sizeof(der) && ((size_t)dl + 2) / 3 * 4 < plen && i2d_PUBKEY(pk, &q) == dl) {
			base64_encode(der, (size_t)dl, p);
			*ktype = "rsa";
			r = 0;
		}
	}
	EVP_PKEY_free(pk);
	if (r != 0)
		snprintf(err, errlen, "%s: cannot encode its public key", path);
	return r;
}

struct dkim_signer *dkim_signer_new(const struct dkim_keys *k, const char *domain, const char *id, char *err,
                                    size_t errlen)
{
	struct dkim_signer *s;

	(void)id;
	err[0] = '\0';
	if (dkim_keys_for(k, domain) == 0)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL || dkim_body_init(&s->body, EVP_sha256(), 1, -1) < 0) {
		snprintf(err, errlen, "out of memory");
		dkim_signer_free(s);
		return NULL;
	}
	s->keys = k;
	snprintf(s->domain, sizeof(s->domain), "%s", domain);
	return s;
}

int dkim_signer_feed(struct dkim_signer *s, const char *p, size_t n)
{
	if (!s->h.in_body) {
		size_t took = dkim_hdrbuf_feed(&s->h, p, n);
		if (took == (size_t)-1)
			return -1;
		p += took;
		n -= took;
	}
	if (n > 0)
		dkim_body_feed(&s->body, p, n);
	return 0;
}

/* Where h= is folded: a line of the signature field stays under RFC 5322's 78 characters
 * (2.1.1), whatever the number of fields signed; FWS is allowed around h='s colons (RFC 6376
 * 3.5). */
#define H_TAG_LINE 70

/* One DKIM-Signature field for key e, appended to out. Every field and h= are taken whole, of
 * any length (dkimcanon.h): the hash input and the field grow as they need to. */
static int sign_one(const struct dkim_signer *s, const struct key *e, const char *bh, struct dkim_buf *out,
                    char *err, size_t errlen)
{
	struct dkim_buf h = { 0 }, data = { 0 }, head = { 0 };
	struct dkim_field *fs = NULL;
	size_t col = 3;                 /* after "\th=" */
	char tag[256];

	/* h=: each listed field as often as it occurs (verifiers take instances from the bottom
	 * up, RFC 6376 5.4.2), From once more; the hash input in the same order. */
	for (size_t i = 0; sign_hdrs[i] != NULL; i++) {
		size_t nf = dkim_fields_named(s->h.hdr, s->h.hlen, sign_hdrs[i], NULL, 0);
		size_t extra = strcmp(sign_hdrs[i], "from") == 0, nl = strlen(sign_hdrs[i]);
		free(fs);
		if ((fs = calloc(nf + 1, sizeof(*fs))) == NULL)
			goto oom;
		(void)dkim_fields_named(s->h.hdr, s->h.hlen, sign_hdrs[i], fs, nf);
		for (size_t k = 0; k < nf + extra; k++) {
			if (h.len > 0 && col + nl + 1 > H_TAG_LINE) {
				if (dkim_buf_add(&h, ":\r\n\t", 4) < 0)
					goto oom;
				col = 1;
			} else if (h.len > 0 && dkim_buf_add(&h, ":", 1) < 0)
				goto oom;
			if (dkim_buf_add(&h, sign_hdrs[i], nl) < 0)
				goto oom;
			col += nl + 1;
			if (k < nf) {
				const struct dkim_field *f = &fs[nf - 1 - k];
				if (dkim_buf_field(&data, s->h.hdr + f->off, f->len, 1, 1) < 0)
					goto oom;
			}
		}
	}
	int n = snprintf(tag, sizeof(tag), "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; d=%s; s=%s;\r\n\tt=%lld; "
	                 "bh=%s;\r\n\th=", e->ed25519 ? "ed25519-sha256" : "rsa-sha256", e->domain, e->selector,
	                 (long long)time(NULL), bh);
	if (n <= 0 || (size_t)n >= sizeof(tag) || dkim_buf_add(&head, tag, (size_t)n) < 0 ||
	    dkim_buf_add(&head, h.p, h.len) < 0 || dkim_buf_add(&head, ";\r\n\tb=", 6) < 0 ||
	    dkim_buf_field(&data, head.p, head.len, 1, 0) < 0)
		goto oom;
	unsigned char sig[1024], digest[32];
	size_t sl = sizeof(sig);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;
	if (e->ed25519)
		/* RFC 8463 3: PureEdDSA over the SHA-256 hash of the hash input. */
		ok = ctx != NULL && EVP_Digest(data.p, data.len, digest, NULL, EVP_sha256(), NULL) == 1 &&
		     EVP_DigestSignInit(ctx, NULL, NULL, NULL, e->pk) == 1 && EVP_DigestSign(ctx, sig, &sl, digest, 32) == 1;
	else
		ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, e->pk) == 1 &&
		     EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)data.p, data.len) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		snprintf(err, errlen, "OpenSSL could not sign with %s (selector %s)", e->domain, e->selector);
		goto fail;
	}
	char b64[1400];
	size_t bl = base64_encode(sig, sl, b64);
	if (dkim_buf_add(out, head.p, head.len) < 0)
		goto oom;
	for (size_t o = 0; o < bl; o += 64)
		if ((o && dkim_buf_add(out, "\r\n\t ", 4) < 0) ||
		    dkim_buf_add(out, b64 + o, bl - o < 64 ? bl - o : 64) < 0)
			goto oom;
	if (dkim_buf_add(out, "\r\n", 2) < 0)
		goto oom;
	free(fs);
	dkim_buf_free(&h);
	dkim_buf_free(&data);
	dkim_buf_free(&head);
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	free(fs);
	dkim_buf_free(&h);
	dkim_buf_free(&data);
	dkim_buf_free(&head);
	return -1;
}

char *dkim_sign_finish(struct dkim_signer *s, char *err, size_t errlen)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	char bh[64];
	struct dkim_buf out = { 0 };

	/* A message that is all header has an empty body. */
	if (s->h.failed) {
		snprintf(err, errlen, "the header block is too large to sign");
		return NULL;
	}
	unsigned dl = dkim_body_final(&s->body, digest);
	if (dl == 0) {
		snprintf(err, errlen, "cannot hash the body");
		return NULL;
	}
	base64_encode(digest, dl, bh);
	for (size_t i = 0; i < s->keys->n; i++) {
		const struct key *e = &s->keys->k[i];
		if (e->active && strcasecmp(e->domain, s->domain) == 0 &&
		    sign_one(s, e, bh, &out, err, errlen) < 0) {
			dkim_buf_free(&out);
			return NULL;
		}
	}
	return out.p;
}

void dkim_signer_free(struct dkim_signer *s)
{
	if (s == NULL)
		return;
	dkim_body_free(&s->body);
	dkim_hdrbuf_free(&s->h);
	free(s);
}

struct from_scan {
	const char *value;              /* the first From field's value (folds and all), or NULL */
	size_t vlen;
	char addr[ADDRLIST_ADDR_MAX + 1];       /* its first address */
	int naddr;
};

static void from_field(void *arg, const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                       size_t end)
{
	struct from_scan *f = arg;

	(void)start;
	(void)end;
	if (f->value == NULL && nlen == 4 && strncasecmp(name, "from", 4) == 0) {
		f->value = value;
		f->vlen = vlen;
	}
}

static void from_addr(void *arg, const char *addr, size_t len)
{
	struct from_scan *f = arg;

	if (f->naddr++ == 0)
		snprintf(f->addr, sizeof(f->addr), "%.*s", (int)len, addr);
}

/* The From field is read by the address parser that `send -t` and DMARC use (addrlist.h), so
 * a '<' in a quoted display name, an '@' in a comment, a group or an encoded word are read the
 * same way everywhere: the signer never signs for a domain other than the one DMARC will see. */
int dkim_from_domain(const char *hdr, size_t len, char *out, size_t outlen)
{
	struct from_scan f = { 0 };

	(void)header_walk(hdr, len, from_field, &f);
	if (f.value == NULL)
		return -1;
	if (addrlist_parse(f.value, f.vlen, from_addr, &f) < 0 || f.naddr == 0)
		return -2;
	/* The domain is what follows the last '@' (a quoted local part may hold one). It must be
	 * a host name, possibly with UTF-8 labels (RFC 6532): no domain literal, nothing quoted. */
	const char *at = strrchr(f.addr, '@'), *d = at ? at + 1 : "";
	size_t n = 0;
	for (; *d && n + 1 < outlen; d++, n++) {
		unsigned char c = (unsigned char)*d;
		if (!(isalnum(c) || c == '-' || c == '.' || c >= 0x80))
			return -2;
		out[n] = (char)tolower(c);
	}
	out[n] = '\0';
	return n > 0 && *d == '\0' ? 0 : -2;
}
