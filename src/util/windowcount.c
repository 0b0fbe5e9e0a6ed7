/*
 * windowcount.c - events per key in fixed windows; see windowcount.h.
 */
#include "windowcount.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashtab.h"

struct slot {
	unsigned count;
	long long start;            /* of its window, seconds */
	unsigned window;
};

struct windowcount {
	pthread_mutex_t mu;         /* every event loop counts here */
	struct hashtab *tab;
	long long now;
};

struct windowcount *windowcount_new(unsigned max_keys, const char *what)
{
	struct windowcount *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	if ((w->tab = hashtab_new(sizeof(struct slot), max_keys, what)) == NULL) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	return w;
}

void windowcount_free(struct windowcount *w)
{
	if (w == NULL)
		return;
	hashtab_free(w->tab);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* A slot whose window is over says nothing any more. */
static int idle(const void *rec, void *arg)
{
	const struct slot *s = rec;
	const struct windowcount *w = arg;

	return w->now - s->start >= (long long)s->window;
}

/* key in lower case into buf; one longer than the table keeps is shortened and told apart by
 * a hash of the whole (FNV-1a 64). */
static void table_key(char *buf, const char *key)
{
	unsigned long long h = 14695981039346656037ULL;
	size_t n = strlen(key);

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)tolower((unsigned char)key[i])) * 1099511628211ULL;
	if (n < HASHTAB_KEY_MAX)
		snprintf(buf, HASHTAB_KEY_MAX, "%s", key);
	else
		snprintf(buf, HASHTAB_KEY_MAX, "%.40s#%016llx", key, h);
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

int windowcount_take(struct windowcount *w, const char *key, unsigned limit, unsigned window, long long now,
                  unsigned *left)
{
	struct slot *s;
	char k[HASHTAB_KEY_MAX];

	*left = 0;
	if (limit == 0 || window == 0)
		return 1;
	table_key(k, key);
	pthread_mutex_lock(&w->mu);
	w->now = now;
	if ((s = hashtab_add(w->tab, k, idle, w)) == NULL) {
		pthread_mutex_unlock(&w->mu);
		return 1;
	}
	if (s->window != window || now - s->start >= (long long)window || now < s->start) {
		s->start = now;
		s->window = window;
		s->count = 0;
	}
	int ok = s->count < limit;
	if (ok)
		s->count++;
	else
		*left = (unsigned)(s->start + window - now);
	pthread_mutex_unlock(&w->mu);
	return ok;
}
