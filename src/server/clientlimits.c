/*
 * clientlimits.c - per-client connection limits; see clientlimits.h. The rate is counted in fixed
 * one-minute windows: simple, bounded, and at most twice the limit across a window edge.
 */
#include "clientlimits.h"

#include <pthread.h>
#include <stdlib.h>

#include "../util/hashtab.h"

struct client {
	unsigned sessions;          /* open now */
	unsigned started;           /* opened in the current window */
	long long window;           /* its start, seconds */
};

struct clientlimits {
	pthread_mutex_t mu;         /* every event loop counts here; held for one lookup */
	struct hashtab *tab;
	unsigned max_conn, rate;
	long long now;
};

struct clientlimits *clientlimits_new(unsigned max_conn, unsigned rate)
{
	struct clientlimits *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	if ((a->tab = hashtab_new(sizeof(struct client), CLIENTLIMITS_MAX_KEYS, "connection limits")) == NULL) {
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->mu, NULL);
	clientlimits_configure(a, max_conn, rate);
	return a;
}

void clientlimits_configure(struct clientlimits *a, unsigned max_conn, unsigned rate)
{
	pthread_mutex_lock(&a->mu);
	a->max_conn = max_conn;
	a->rate = rate;
	pthread_mutex_unlock(&a->mu);
}

void clientlimits_free(struct clientlimits *a)
{
	if (a == NULL)
		return;
	hashtab_free(a->tab);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

/* Nothing open and its window over: forgetting it changes no answer. */
static int idle(const void *rec, void *arg)
{
	const struct client *c = rec;
	const struct clientlimits *a = arg;

	return c->sessions == 0 && a->now - c->window >= 60;
}

static enum clientlimits_verdict connect_locked(struct clientlimits *a, const char *key, long long now, int *counted)
{
	struct client *c;

	*counted = 0;
	if (a->max_conn == 0 && a->rate == 0)
		return CLIENTLIMITS_OK;
	a->now = now;
	if ((c = hashtab_add(a->tab, key, idle, a)) == NULL)
		return CLIENTLIMITS_OK;        /* table full: untracked (logged once by the table) */
	if (now - c->window >= 60) {
		c->window = now;
		c->started = 0;
	}
	if (a->max_conn && c->sessions >= a->max_conn)
		return CLIENTLIMITS_TOO_MANY;
	if (a->rate && c->started >= a->rate)
		return CLIENTLIMITS_TOO_FAST;
	c->sessions++;
	c->started++;
	*counted = 1;
	return CLIENTLIMITS_OK;
}

enum clientlimits_verdict clientlimits_connect(struct clientlimits *a, const char *key, long long now, int *counted)
{
	pthread_mutex_lock(&a->mu);
	enum clientlimits_verdict v = connect_locked(a, key, now, counted);
	pthread_mutex_unlock(&a->mu);
	return v;
}

void clientlimits_disconnect(struct clientlimits *a, const char *key)
{
	pthread_mutex_lock(&a->mu);
	struct client *c = hashtab_get(a->tab, key);
	if (c != NULL && c->sessions > 0)
		c->sessions--;
	pthread_mutex_unlock(&a->mu);
}

unsigned clientlimits_size(struct clientlimits *a)
{
	pthread_mutex_lock(&a->mu);
	unsigned n = (unsigned)hashtab_count(a->tab);
	pthread_mutex_unlock(&a->mu);
	return n;
}
