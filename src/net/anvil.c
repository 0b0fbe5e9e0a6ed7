/*
 * anvil.c - per-client connection limits; see anvil.h. The rate is counted in fixed
 * one-minute windows: simple, bounded, and at most twice the limit across a window edge.
 */
#include "anvil.h"

#include <stdlib.h>

#include "../util/keytab.h"

struct client {
	unsigned sessions;          /* open now */
	unsigned started;           /* opened in the current window */
	long long window;           /* its start, seconds */
};

struct anvil {
	struct keytab *tab;
	unsigned max_conn, rate;
	long long now;
};

struct anvil *anvil_new(unsigned max_conn, unsigned rate)
{
	struct anvil *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	if ((a->tab = keytab_new(sizeof(struct client), ANVIL_MAX_KEYS, "connection limits")) == NULL) {
		free(a);
		return NULL;
	}
	anvil_configure(a, max_conn, rate);
	return a;
}

void anvil_configure(struct anvil *a, unsigned max_conn, unsigned rate)
{
	a->max_conn = max_conn;
	a->rate = rate;
}

void anvil_free(struct anvil *a)
{
	if (a == NULL)
		return;
	keytab_free(a->tab);
	free(a);
}

/* Nothing open and its window over: forgetting it changes no answer. */
static int idle(const void *rec, void *arg)
{
	const struct client *c = rec;
	const struct anvil *a = arg;

	return c->sessions == 0 && a->now - c->window >= 60;
}

enum anvil_verdict anvil_connect(struct anvil *a, const char *key, long long now, int *counted)
{
	struct client *c;

	*counted = 0;
	if (a->max_conn == 0 && a->rate == 0)
		return ANVIL_OK;
	a->now = now;
	if ((c = keytab_add(a->tab, key, idle, a)) == NULL)
		return ANVIL_OK;        /* table full: untracked (logged once by the table) */
	if (now - c->window >= 60) {
		c->window = now;
		c->started = 0;
	}
	if (a->max_conn && c->sessions >= a->max_conn)
		return ANVIL_TOO_MANY;
	if (a->rate && c->started >= a->rate)
		return ANVIL_TOO_FAST;
	c->sessions++;
	c->started++;
	*counted = 1;
	return ANVIL_OK;
}

void anvil_disconnect(struct anvil *a, const char *key)
{
	struct client *c = keytab_get(a->tab, key);

	if (c != NULL && c->sessions > 0)
		c->sessions--;
}

unsigned anvil_size(const struct anvil *a) { return (unsigned)keytab_count(a->tab); }
