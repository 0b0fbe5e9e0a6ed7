/*
 * auth.c - password verification (libxcrypt) and the failure throttle.
 * Not the SMTP AUTH exchange (smtp/session.c) and not the users file format (users.c).
 */
#include "auth.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/hashtab.h"
#include "../util/log.h"

/* A hash with the default yescrypt cost, computed once, used for users that do not exist. */
static char dummy_hash[CRYPT_OUTPUT_SIZE];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;   /* every loop's password threads ask */

static void make_dummy_hash(void)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data data;

	memset(&data, 0, sizeof(data));
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) != NULL &&
	    crypt_rn("mailport-no-such-user", salt, &data, sizeof(data)) != NULL)
		snprintf(dummy_hash, sizeof(dummy_hash), "%s", data.output);
}

static const char *get_dummy_hash(void)
{
	pthread_once(&dummy_once, make_dummy_hash);
	return dummy_hash;
}

static int hash_matches(const char *password, const char *hash)
{
	struct crypt_data *data = calloc(1, sizeof(*data));
	const char *out;
	int ok = 0;

	if (data == NULL)
		return 0;
	out = crypt_rn(password, hash, data, sizeof(*data));
	/* libxcrypt returns NULL or a "*"-prefixed failure token for an invalid setting. */
	if (out != NULL && out[0] != '*' && strlen(out) == strlen(hash))
		ok = CRYPTO_memcmp(out, hash, strlen(hash)) == 0;
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ok;
}

int auth_verify(const struct users *u, const struct apppw *ap, const char *authzid, const char *user,
                const char *password, const struct apppw_entry **via)
{
	const struct user *usr = users_lookup(u, user, strlen(user));
	int can_login = usr != NULL && usr->hash[0] == '$';
	/* Login is by the mailbox's own address, not an alias: an alias lookup returns its owner. */
	int is_address = usr != NULL && strcasecmp(usr->address, user) == 0;
	char np[APPPW_LEN + 1];
	const struct apppw_entry *e = NULL;
	const char *hash;
	int ok;

	*via = NULL;
	/* One hash, whatever the path: an app password by its id, else the main password (unless
	 * the mailbox takes app passwords only), else the dummy. */
	if (can_login && is_address && apppw_normalize(password, np) == 0 && (e = apppw_find(ap, usr->address, np)) != NULL)
		ok = hash_matches(np, e->hash);
	else {
		hash = can_login && is_address && !usr->app_only ? usr->hash : get_dummy_hash();
		ok = hash_matches(password, hash) && hash != get_dummy_hash();
	}
	explicit_bzero(np, sizeof(np));
	if (!can_login || !is_address || !ok)
		return -1;
	if (authzid[0] != '\0' && strcasecmp(authzid, usr->address) != 0)
		return -1;      /* acting for someone else is not something we offer */
	*via = e;
	return 0;
}

char *auth_hash_password(const char *password)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data = calloc(1, sizeof(*data));
	char *out = NULL;

	if (data == NULL)
		return NULL;
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) != NULL &&
	    crypt_rn(password, salt, data, sizeof(*data)) != NULL && data->output[0] == '$')
		out = strdup(data->output);
	explicit_bzero(data, sizeof(*data));
	free(data);
	return out;
}

/* ---- throttle ---------------------------------------------------------------------------- */

struct tentry {
	long long first_failure, locked_until;
	unsigned failures;
	char user[THROTTLE_USER_MAX];   /* the last one tried, lower case: `mailport auth` */
};

struct throttle {
	pthread_mutex_t mu;     /* every event loop (and `mailport auth`'s control socket) counts here */
	struct hashtab *tab;
	unsigned max_failures, window;
	long long now;          /* for expired() as a purge predicate */
};

struct throttle *throttle_new(unsigned max_failures, unsigned window)
{
	struct throttle *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	if ((t->tab = hashtab_new(sizeof(struct tentry), THROTTLE_MAX_KEYS, "auth throttle")) == NULL) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	throttle_configure(t, max_failures, window);
	return t;
}

void throttle_configure(struct throttle *t, unsigned max_failures, unsigned window)
{
	pthread_mutex_lock(&t->mu);
	t->max_failures = max_failures;
	t->window = window;
	pthread_mutex_unlock(&t->mu);
}

void throttle_free(struct throttle *t)
{
	if (t == NULL)
		return;
	hashtab_free(t->tab);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

void throttle_key(const char *ip, char *key, size_t keylen)
{
	unsigned char a6[16];

	if (strchr(ip, ':') != NULL && inet_pton(AF_INET6, ip, a6) == 1) {
		memset(a6 + 8, 0, 8);
		char text[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, a6, text, sizeof(text));
		snprintf(key, keylen, "%s/64", text);
	} else
		snprintf(key, keylen, "%s", ip);
}

static int expired(const void *rec, void *arg)
{
	const struct tentry *e = rec;
	const struct throttle *t = arg;

	return e->locked_until <= t->now && t->now - e->first_failure >= t->window;
}

static struct tentry *find(struct throttle *t, const char *key, long long now, int create)
{
	struct tentry *e = hashtab_get(t->tab, key);

	t->now = now;
	if (e != NULL && expired(e, t)) {
		e->failures = 0;
		e->first_failure = now;
		e->locked_until = 0;
	}
	if (e == NULL && create && (e = hashtab_add(t->tab, key, expired, t)) != NULL)
		e->first_failure = now;
	return e;
}

long long throttle_locked_until(struct throttle *t, const char *key, long long now)
{
	pthread_mutex_lock(&t->mu);
	struct tentry *e = find(t, key, now, 0);
	long long until = e != NULL && e->locked_until > now ? e->locked_until : 0;
	pthread_mutex_unlock(&t->mu);
	return until;
}

static long long failure_locked(struct throttle *t, const char *key, const char *user, long long now)
{
	struct tentry *e = find(t, key, now, 1);
	size_t i;

	if (e == NULL)
		return 0;
	for (i = 0; user[i] != '\0' && i + 1 < sizeof(e->user); i++)
		e->user[i] = (char)tolower((unsigned char)user[i]);
	e->user[i] = '\0';
	if (++e->failures >= t->max_failures && e->locked_until <= now) {
		e->locked_until = now + t->window;
		return e->locked_until;
	}
	return 0;
}

long long throttle_failure(struct throttle *t, const char *key, const char *user, long long now)
{
	pthread_mutex_lock(&t->mu);
	long long until = failure_locked(t, key, user, now);
	pthread_mutex_unlock(&t->mu);
	return until;
}

static void lock_locked(struct throttle *t, const char *key, const char *user, long long until, long long now)
{
	struct tentry *e = find(t, key, now, 1);
	size_t i;

	if (e == NULL || until <= now)
		return;
	if (user[0] != '\0') {
		for (i = 0; user[i] != '\0' && i + 1 < sizeof(e->user); i++)
			e->user[i] = (char)tolower((unsigned char)user[i]);
		e->user[i] = '\0';
	}
	if (e->failures < t->max_failures)
		e->failures = t->max_failures;
	if (e->locked_until < until)
		e->locked_until = until;
}

void throttle_lock(struct throttle *t, const char *key, const char *user, long long until, long long now)
{
	pthread_mutex_lock(&t->mu);
	lock_locked(t, key, user, until, now);
	pthread_mutex_unlock(&t->mu);
}

struct each_ctx {
	struct throttle *t;
	void (*fn)(void *arg, const char *key, unsigned failures, long long until, const char *user);
	void *arg;
	const char *what;
};

static int visit(const char *key, void *rec, void *arg)
{
	struct each_ctx *x = arg;
	const struct tentry *e = rec;

	if (!expired(e, x->t))
		x->fn(x->arg, key, e->failures, e->locked_until > x->t->now ? e->locked_until : 0, e->user);
	return 0;
}

void throttle_each(struct throttle *t, long long now,
                   void (*fn)(void *arg, const char *key, unsigned failures, long long until, const char *user),
                   void *arg)
{
	struct each_ctx x = { t, fn, arg, NULL };

	pthread_mutex_lock(&t->mu);
	t->now = now;
	hashtab_sweep(t->tab, visit, &x);
	pthread_mutex_unlock(&t->mu);
}

static int forgive_user(const char *key, void *rec, void *arg)
{
	const struct each_ctx *x = arg;
	const struct tentry *e = rec;

	(void)key;
	return strcasecmp(e->user, x->what) == 0;
}

size_t throttle_forgive(struct throttle *t, const char *what)
{
	struct each_ctx x = { t, NULL, NULL, what };
	size_t n = 0;

	pthread_mutex_lock(&t->mu);
	if (strchr(what, '@') != NULL)
		n = hashtab_sweep(t->tab, forgive_user, &x);
	else if (hashtab_get(t->tab, what) != NULL) {
		hashtab_del(t->tab, what);
		n = 1;
	}
	pthread_mutex_unlock(&t->mu);
	return n;
}
