/*
 * authcache.c - verified-credential cache: HMAC-SHA256 keys in a direct-mapped table.
 * Not the password check (auth.c) nor the throttle.
 */
#include "authcache.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	unsigned char key[AUTHCACHE_KEY];
	long long expires;
};

/* Every event loop asks the same cache: a slot is read and written under its stripe's lock,
 * so that no loop waits on another's unrelated credentials. */
#define STRIPES 16

struct authcache {
	EVP_MAC *mac;           /* fetched once: a fetch per AUTH would be a provider lookup each */
	unsigned char secret[32];
	unsigned ttl;
	_Atomic unsigned generation;    /* one more at each clear */
	pthread_mutex_t mu[STRIPES];
	struct slot slots[AUTHCACHE_SLOTS];
};

struct authcache *authcache_new(unsigned ttl)
{
	struct authcache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (RAND_bytes(c->secret, sizeof(c->secret)) != 1 || (c->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
		free(c);
		return NULL;
	}
	c->ttl = ttl;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&c->mu[i], NULL);
	return c;
}

void authcache_free(struct authcache *c)
{
	if (c == NULL)
		return;
	EVP_MAC_free(c->mac);
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&c->mu[i]);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

void authcache_key(const struct authcache *c, const char *authzid, const char *user, const char *password,
                   unsigned char key[AUTHCACHE_KEY])
{
	memset(key, 0, AUTHCACHE_KEY);     /* all zero = no key: never a hit */
	if (c == NULL)
		return;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(c->mac);
	OSSL_PARAM params[2] = { OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
	                         OSSL_PARAM_construct_end() };
	size_t out = 0;
	if (ctx != NULL && EVP_MAC_init(ctx, c->secret, sizeof(c->secret), params) == 1) {
		/* The NULs keep ("ab","c") and ("a","bc") apart. */
		EVP_MAC_update(ctx, (const unsigned char *)authzid, strlen(authzid) + 1);
		EVP_MAC_update(ctx, (const unsigned char *)user, strlen(user) + 1);
		EVP_MAC_update(ctx, (const unsigned char *)password, strlen(password));
		EVP_MAC_final(ctx, key, &out, AUTHCACHE_KEY);
	}
	EVP_MAC_CTX_free(ctx);
}

static unsigned slot_index(const unsigned char key[AUTHCACHE_KEY])
{
	return ((unsigned)key[0] | (unsigned)key[1] << 8) % AUTHCACHE_SLOTS;
}

int authcache_key_made(const unsigned char key[AUTHCACHE_KEY])
{
	static const unsigned char zero[AUTHCACHE_KEY];

	return CRYPTO_memcmp(key, zero, AUTHCACHE_KEY) != 0;
}

int authcache_hit(struct authcache *c, const unsigned char key[AUTHCACHE_KEY], long long now)
{
	if (c == NULL || c->ttl == 0 || !authcache_key_made(key))
		return 0;
	unsigned i = slot_index(key);
	pthread_mutex_lock(&c->mu[i % STRIPES]);
	const struct slot *s = &c->slots[i];
	int hit = s->expires > now && CRYPTO_memcmp(s->key, key, AUTHCACHE_KEY) == 0;
	pthread_mutex_unlock(&c->mu[i % STRIPES]);
	return hit;
}

void authcache_put(struct authcache *c, const unsigned char key[AUTHCACHE_KEY], long long now)
{
	if (c == NULL || c->ttl == 0)
		return;
	unsigned i = slot_index(key);
	pthread_mutex_lock(&c->mu[i % STRIPES]);
	memcpy(c->slots[i].key, key, AUTHCACHE_KEY);
	c->slots[i].expires = now + c->ttl;
	pthread_mutex_unlock(&c->mu[i % STRIPES]);
}

void authcache_clear(struct authcache *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_lock(&c->mu[i]);
	memset(c->slots, 0, sizeof(c->slots));
	c->generation++;
	for (int i = STRIPES - 1; i >= 0; i--)
		pthread_mutex_unlock(&c->mu[i]);
}

unsigned authcache_generation(const struct authcache *c)
{
	return c ? c->generation : 0;
}
