/*
 * scram.c - SCRAM-SHA-256's server side (scram.h): the messages parsed strictly in the order
 * RFC 5802 7 gives their attributes, the proof checked in constant time. Not the SMTP exchange
 * (smtp/session_auth.c) and not where the credentials come from (users.c).
 */
#include "scram.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "../util/base64.h"

static int hmac(const unsigned char *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
	unsigned int ol = 32;

	return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &ol) != NULL && ol == 32 ? 0 : -1;
}

int scram_creds_derive(const char *password, const unsigned char *salt, size_t saltlen, unsigned iter,
                       struct scram_creds *out)
{
	unsigned char salted[32], ckey[32];
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (saltlen > sizeof(out->salt))
		return -1;
	out->iter = iter;
	out->saltlen = saltlen;
	memcpy(out->salt, salt, saltlen);
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, (int)iter, EVP_sha256(), 32,
	                      salted) == 1 &&
	    hmac(salted, 32, "Client Key", 10, ckey) == 0 && EVP_Digest(ckey, 32, out->stored, NULL, EVP_sha256(), NULL) == 1 &&
	    hmac(salted, 32, "Server Key", 10, out->server) == 0)
		r = 0;
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	return r;
}

int scram_creds_make(const char *password, unsigned iter, struct scram_creds *out)
{
	unsigned char salt[16];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -1;
	return scram_creds_derive(password, salt, sizeof(salt), iter, out);
}

int scram_creds_format(const struct scram_creds *c, char *out, size_t outlen)
{
	char salt[64], stored[64], server[64];

	base64_encode(c->salt, c->saltlen, salt);
	base64_encode(c->stored, 32, stored);
	base64_encode(c->server, 32, server);
	int n = snprintf(out, outlen, "%u,%s,%s,%s", c->iter, salt, stored, server);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* base64 field into out (exactly want octets; 0 = up to max): its length, or -1. */
static long b64_field(const char *s, size_t len, unsigned char *out, size_t max, size_t want)
{
	unsigned char buf[128];

	if (len == 0 || len / 4 * 3 > sizeof(buf))
		return -1;
	long n = base64_decode(s, len, buf);
	if (n <= 0 || (size_t)n > max || (want && (size_t)n != want))
		return -1;
	memcpy(out, buf, (size_t)n);
	return n;
}

int scram_creds_parse(const char *text, struct scram_creds *out)
{
	const char *f[4];
	size_t fl[4], n = 0;

	memset(out, 0, sizeof(*out));
	for (const char *p = text; n < 4; n++) {
		f[n] = p;
		fl[n] = strcspn(p, ",");
		p += fl[n];
		if (*p == ',')
			p++;
		else if (n < 3)
			return -1;
		else if (*p != '\0')
			return -1;
	}
	char *end;
	unsigned long iter = strtoul(f[0], &end, 10);
	if (end != f[0] + fl[0] || iter < 4096 || iter > 10000000)
		return -1;
	out->iter = (unsigned)iter;
	long sl = b64_field(f[1], fl[1], out->salt, sizeof(out->salt), 0);
	if (sl < 8 || b64_field(f[2], fl[2], out->stored, 32, 32) < 0 || b64_field(f[3], fl[3], out->server, 32, 32) < 0 ||
	    f[3][fl[3]] != '\0')
		return -1;
	out->saltlen = (size_t)sl;
	return 0;
}

/* A saslname (RFC 5802 5.1: "=2C" is ',' and "=3D" is '='; no other '=') into out. */
static int saslname(const char *p, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (c == '=') {
			if (i + 2 < len && p[i + 1] == '2' && p[i + 2] == 'C')
				c = ',';
			else if (i + 2 < len && p[i + 1] == '3' && p[i + 2] == 'D')
				c = '=';
			else
				return -1;
			i += 2;
		} else if (c == ',' || (unsigned char)c < 0x20 || c == 0x7f)
			return -1;      /* no control characters: names go into replies and logs */
		if (o + 1 >= outlen)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return o > 0 ? 0 : -1;
}

int scram_server_first(struct scram_server *s, int plus, const unsigned char *cb, const char *msg, size_t len,
                       char *user, size_t userlen, char *why, size_t whylen)
{
	memset(s, 0, sizeof(*s));
	if (len >= SCRAM_MSG_MAX || memchr(msg, '\0', len) != NULL)
		goto bad;
	/* gs2-header: "n", "y" or "p=TYPE", then [a=authzid], then the bare message */
	const char *c1 = memchr(msg, ',', len);
	if (c1 == NULL || c1 == msg)
		goto bad;
	size_t fl = (size_t)(c1 - msg);
	if (msg[0] == 'p' && fl > 2 && msg[1] == '=') {
		if (!plus) {
			snprintf(why, whylen, "channel binding needs SCRAM-SHA-256-PLUS");
			return -1;
		}
		/* cb-name = 1*(ALPHA / DIGIT / "." / "-"); it goes into our reply, so nothing else may */
		for (size_t i = 2; i < fl; i++)
			if (!((msg[i] >= 'a' && msg[i] <= 'z') || (msg[i] >= 'A' && msg[i] <= 'Z') ||
			      (msg[i] >= '0' && msg[i] <= '9') || msg[i] == '.' || msg[i] == '-'))
				goto bad;
		if (fl - 2 != strlen(SCRAM_CB_TYPE) || strncmp(msg + 2, SCRAM_CB_TYPE, fl - 2) != 0) {
			snprintf(why, whylen, "channel binding type %.*s is not supported (" SCRAM_CB_TYPE " is)",
			         (int)(fl - 2 > 40 ? 40 : fl - 2), msg + 2);
			return -1;
		}
		if (cb == NULL) {
			snprintf(why, whylen, "no channel binding on this connection");
			return -1;
		}
		memcpy(s->cbind, cb, SCRAM_CB_LEN);
		s->cblen = SCRAM_CB_LEN;
	} else if (fl == 1 && (msg[0] == 'n' || msg[0] == 'y')) {
		if (plus) {
			snprintf(why, whylen, "SCRAM-SHA-256-PLUS needs channel binding (p=" SCRAM_CB_TYPE ")");
			return -1;
		}
		/* RFC 5802 6: "y" says the client binds when the server can; we offered -PLUS on this
		 * connection, so someone removed it from the EHLO reply on the way */
		if (msg[0] == 'y' && cb != NULL) {
			snprintf(why, whylen, "the client supports channel binding and so do we: "
			         "SCRAM-SHA-256-PLUS was offered (was it removed on the way?)");
			return -1;
		}
	} else
		goto bad;
	const char *c2 = memchr(c1 + 1, ',', len - fl - 1);
	if (c2 == NULL || (c2 != c1 + 1 && strncmp(c1 + 1, "a=", 2) != 0))
		goto bad;
	char authzid[SCRAM_MSG_MAX] = "";
	if (c2 != c1 + 1 && saslname(c1 + 3, (size_t)(c2 - c1 - 3), authzid, sizeof(authzid)) < 0)
		goto bad;
	size_t gl = (size_t)(c2 + 1 - msg);
	if (gl >= sizeof(s->gs2))
		goto bad;
	memcpy(s->gs2, msg, gl);
	s->gs2[gl] = '\0';
	const char *bare = c2 + 1;
	size_t bl = len - gl;
	memcpy(s->first_bare, bare, bl);
	s->first_bare[bl] = '\0';
	/* n=user,r=nonce[,extensions] ("m=" reserved: must be refused) */
	if (strncmp(s->first_bare, "n=", 2) != 0)
		goto bad;
	const char *uend = strchr(s->first_bare + 2, ',');
	if (uend == NULL || strncmp(uend + 1, "r=", 2) != 0 ||
	    saslname(s->first_bare + 2, (size_t)(uend - s->first_bare - 2), user, userlen) < 0)
		goto bad;
	const char *nonce = uend + 3;
	size_t nl = strcspn(nonce, ",");
	if (nl == 0 || nl + 64 >= sizeof(s->nonce))
		goto bad;
	for (size_t i = 0; i < nl; i++)
		if (nonce[i] < 0x21 || nonce[i] > 0x7e)
			goto bad;
	memcpy(s->nonce, nonce, nl);
	s->nonce[nl] = '\0';
	/* Acting for someone else is not something we offer (as with PLAIN's authzid). */
	if (authzid[0] && strcasecmp(authzid, user) != 0) {
		snprintf(why, whylen, "acting for another user (a=%.60s) is not offered", authzid);
		return -1;
	}
	s->step = 1;
	return 0;
bad:
	snprintf(why, whylen, "a malformed first message");
	return -1;
}

int scram_server_challenge_nonce(struct scram_server *s, const struct scram_creds *c, const char *nonce, char *out,
                                 size_t outlen)
{
	char salt[64];

	if (s->step != 1 || strlen(s->nonce) + strlen(nonce) + 1 >= sizeof(s->nonce))
		return -1;
	strncat(s->nonce, nonce, sizeof(s->nonce) - strlen(s->nonce) - 1);
	s->creds = *c;
	base64_encode(c->salt, c->saltlen, salt);
	int n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%u", s->nonce, salt, c->iter);
	if (n <= 0 || (size_t)n >= sizeof(s->server_first) || (size_t)n >= outlen)
		return -1;
	memcpy(out, s->server_first, (size_t)n + 1);
	return 0;
}

int scram_server_challenge(struct scram_server *s, const struct scram_creds *c, char *out, size_t outlen)
{
	unsigned char r[18];
	char nonce[32];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return -1;
	base64_encode(r, sizeof(r), nonce);     /* 24 characters, none of them ',' */
	return scram_server_challenge_nonce(s, c, nonce, out, outlen);
}

int scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out, size_t outlen, char *why,
                       size_t whylen)
{
	char copy[SCRAM_MSG_MAX], cb[480], authmsg[3 * SCRAM_MSG_MAX];
	unsigned char proof[32], sig[32], ckey[32], stored[32], ssig[32], cbin[320 + SCRAM_CB_LEN];

	if (s->step != 1 || len >= sizeof(copy) || memchr(msg, '\0', len) != NULL)
		goto bad;
	memcpy(copy, msg, len);
	copy[len] = '\0';
	/* c=base64(gs2-header),r=nonce[,extensions],p=proof */
	const char *p = strstr(copy, ",p=");
	if (strncmp(copy, "c=", 2) != 0 || p == NULL || strchr(p + 3, ',') != NULL)
		goto bad;
	size_t wl = (size_t)(p - copy);         /* client-final-message-without-proof */
	const char *r = strchr(copy, ',');
	if (r == NULL || strncmp(r, ",r=", 3) != 0)
		goto bad;
	/* c= is the gs2 header again and, with "p", the binding of the connection the client sees:
	 * a man in the middle's TLS has another one */
	size_t gl = strlen(s->gs2);
	memcpy(cbin, s->gs2, gl);
	memcpy(cbin + gl, s->cbind, s->cblen);
	base64_encode(cbin, gl + s->cblen, cb);
	if ((size_t)(r - copy - 2) != strlen(cb) || strncmp(copy + 2, cb, strlen(cb)) != 0) {
		snprintf(why, whylen, s->cblen ? "the channel binding does not match: the client's TLS connection does "
		         "not end here" : "the channel binding does not match the first message");
		return -1;
	}
	size_t nl = strcspn(r + 3, ",");
	if (nl != strlen(s->nonce) || strncmp(r + 3, s->nonce, nl) != 0) {
		snprintf(why, whylen, "the nonce does not match");
		return -1;
	}
	if (b64_field(p + 3, strlen(p + 3), proof, 32, 32) < 0)
		goto bad;
	int n = snprintf(authmsg, sizeof(authmsg), "%s,%s,%.*s", s->first_bare, s->server_first, (int)wl, copy);
	if (n <= 0 || (size_t)n >= sizeof(authmsg))
		goto bad;
	if (hmac(s->creds.stored, 32, authmsg, (size_t)n, sig) < 0)
		goto bad;
	for (int i = 0; i < 32; i++)
		ckey[i] = proof[i] ^ sig[i];
	if (EVP_Digest(ckey, 32, stored, NULL, EVP_sha256(), NULL) != 1)
		goto bad;
	s->step = 2;
	int ok = CRYPTO_memcmp(stored, s->creds.stored, 32) == 0;
	OPENSSL_cleanse(ckey, sizeof(ckey));
	if (!ok)
		return 0;
	char v[64];
	if (hmac(s->creds.server, 32, authmsg, (size_t)n, ssig) < 0)
		goto bad;
	base64_encode(ssig, 32, v);
	snprintf(out, outlen, "v=%s", v);
	return 1;
bad:
	snprintf(why, whylen, "a malformed final message");
	return -1;
}

void scram_server_clear(struct scram_server *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

int scram_creds_fake(const unsigned char secret[32], const char *user, struct scram_creds *out)
{
	unsigned char m[32];
	char lower[512];
	size_t n = 0;

	for (; user[n] && n + 1 < sizeof(lower); n++)
		lower[n] = (char)(user[n] >= 'A' && user[n] <= 'Z' ? user[n] - 'A' + 'a' : user[n]);
	lower[n] = '\0';
	memset(out, 0, sizeof(*out));
	out->iter = SCRAM_ITER;
	out->saltlen = 16;
	/* the same made-up salt for the same name every time: a real user's never changes either */
	if (hmac(secret, 32, lower, n, m) < 0 || hmac(m, 32, "salt", 4, out->stored) < 0)
		return -1;
	memcpy(out->salt, out->stored, 16);
	if (RAND_bytes(out->stored, 32) != 1 || RAND_bytes(out->server, 32) != 1)
		return -1;
	return 0;
}

int scram_client_first(struct scram_client *c, const char *user, const char *nonce, enum scram_bind bind,
                       const unsigned char *cb, char *out, size_t outlen)
{
	char name[600];
	size_t o = 0;

	memset(c, 0, sizeof(*c));
	for (const char *p = user; *p && o + 4 < sizeof(name); p++) {
		if (*p == ',' || *p == '=') {
			o += (size_t)snprintf(name + o, sizeof(name) - o, "=%s", *p == ',' ? "2C" : "3D");
			continue;
		}
		name[o++] = *p;
	}
	name[o] = '\0';
	if (strlen(nonce) >= sizeof(c->nonce) || strchr(nonce, ',') != NULL)
		return -1;
	snprintf(c->nonce, sizeof(c->nonce), "%s", nonce);
	if (bind == SCRAM_BIND_USE) {
		if (cb == NULL)
			return -1;
		memcpy(c->cbind, cb, SCRAM_CB_LEN);
		c->cblen = SCRAM_CB_LEN;
	}
	snprintf(c->gs2, sizeof(c->gs2), "%s,,", bind == SCRAM_BIND_USE ? "p=" SCRAM_CB_TYPE : bind == SCRAM_BIND_CAN ? "y" : "n");
	int n = snprintf(c->first_bare, sizeof(c->first_bare), "n=%s,r=%s", name, nonce);
	if (n <= 0 || (size_t)n >= sizeof(c->first_bare))
		return -1;
	n = snprintf(out, outlen, "%s%s", c->gs2, c->first_bare);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int scram_client_final(struct scram_client *c, const char *password, const char *server_first, size_t len, char *out,
                       size_t outlen, char *why, size_t whylen)
{
	char sf[SCRAM_MSG_MAX], without[SCRAM_MSG_MAX], authmsg[3 * SCRAM_MSG_MAX], proof64[64], cb64[128];
	unsigned char salt[64], salted[32], ckey[32], stored[32], csig[32], skey[32], proof[32], cbin[96];
	int r = -1;

	if (len >= sizeof(sf) || memchr(server_first, '\0', len) != NULL)
		goto bad;
	memcpy(sf, server_first, len);
	sf[len] = '\0';
	/* r=NONCE,s=SALT,i=ITER[,extensions] */
	char *rp = sf, *sp = strstr(sf, ",s="), *ip = strstr(sf, ",i=");
	if (strncmp(rp, "r=", 2) != 0 || sp == NULL || ip == NULL || ip < sp)
		goto bad;
	size_t nl = (size_t)(sp - rp - 2);
	if (nl <= strlen(c->nonce) || strncmp(rp + 2, c->nonce, strlen(c->nonce)) != 0) {
		snprintf(why, whylen, "the server did not extend our nonce");
		return -1;
	}
	long sl = b64_field(sp + 3, (size_t)(ip - sp - 3), salt, sizeof(salt), 0);
	char *end;
	unsigned long iter = strtoul(ip + 3, &end, 10);
	if (sl <= 0 || (*end != '\0' && *end != ','))
		goto bad;
	if (iter < 4096 || iter > 1000000) {
		snprintf(why, whylen, "the server asks for %lu iterations (4096 to 1000000 accepted)", iter);
		return -1;
	}
	size_t gl = strlen(c->gs2);
	memcpy(cbin, c->gs2, gl);
	memcpy(cbin + gl, c->cbind, c->cblen);
	base64_encode(cbin, gl + c->cblen, cb64);
	int wn = snprintf(without, sizeof(without), "c=%s,r=%.*s", cb64, (int)nl, rp + 2);
	int an = snprintf(authmsg, sizeof(authmsg), "%s,%s,%s", c->first_bare, sf, without);
	if (wn <= 0 || (size_t)wn >= sizeof(without) || an <= 0 || (size_t)an >= sizeof(authmsg))
		goto bad;
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)sl, (int)iter, EVP_sha256(), 32, salted) != 1 ||
	    hmac(salted, 32, "Client Key", 10, ckey) < 0 || EVP_Digest(ckey, 32, stored, NULL, EVP_sha256(), NULL) != 1 ||
	    hmac(stored, 32, authmsg, (size_t)an, csig) < 0 || hmac(salted, 32, "Server Key", 10, skey) < 0 ||
	    hmac(skey, 32, authmsg, (size_t)an, c->server_sig) < 0)
		goto out;
	for (int i = 0; i < 32; i++)
		proof[i] = ckey[i] ^ csig[i];
	base64_encode(proof, 32, proof64);
	int n = snprintf(out, outlen, "%s,p=%s", without, proof64);
	r = n > 0 && (size_t)n < outlen ? 0 : -1;
out:
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(skey, sizeof(skey));
	if (r < 0)
		snprintf(why, whylen, "cannot compute the proof");
	return r;
bad:
	snprintf(why, whylen, "a malformed first message from the server");
	return -1;
}

int scram_client_verify(const struct scram_client *c, const char *server_final, size_t len)
{
	unsigned char v[32];

	if (len < 3 || strncmp(server_final, "v=", 2) != 0 || b64_field(server_final + 2, len - 2, v, 32, 32) < 0)
		return -1;
	return CRYPTO_memcmp(v, c->server_sig, 32) == 0 ? 0 : -1;
}
