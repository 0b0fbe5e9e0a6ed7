/*
 * authcache.h - a short-lived memory of credentials that just passed a full password check,
 * so a client that logs in for every message (a mail client, an application sending one
 * message per connection) does not cost a yescrypt computation each time.
 *
 * Only successes are kept, as an HMAC-SHA256 under a random key made at start (never the
 * password, and nothing an attacker could precompute), for ttl seconds, in a fixed table
 * (AUTHCACHE_SLOTS; a new entry may push out an older one). Failures always take the full
 * check and count for the throttle. One cache per configuration snapshot: a reload (which may
 * change passwords) starts empty. Event-loop only: no locking.
 */
#ifndef MAILPORT_AUTHCACHE_H
#define MAILPORT_AUTHCACHE_H

#define AUTHCACHE_SLOTS 4096
#define AUTHCACHE_KEY 32

struct authcache;

struct authcache *authcache_new(unsigned ttl);
void authcache_free(struct authcache *c);
/* The cache key of these credentials (the caller wipes the password afterwards). */
void authcache_key(const struct authcache *c, const char *authzid, const char *user, const char *password,
                   unsigned char key[AUTHCACHE_KEY]);
/* Whether key is one: authcache_key leaves it all zero when it could not make one, and such a
 * key stands for no credentials in particular (never a hit, never shared). */
int authcache_key_made(const unsigned char key[AUTHCACHE_KEY]);
int authcache_hit(struct authcache *c, const unsigned char key[AUTHCACHE_KEY], long long now);
void authcache_put(struct authcache *c, const unsigned char key[AUTHCACHE_KEY], long long now);
/* Forget every entry (credentials were revoked). */
void authcache_clear(struct authcache *c);
/* Changes with every clear: a check that began before one must not put its answer. */
unsigned authcache_generation(const struct authcache *c);

#endif
