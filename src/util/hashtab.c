/*
 * hashtab.c - see hashtab.h. Chained hash (FNV-1a); a record lives right after its node.
 */
#include "hashtab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BUCKETS 4096

struct node {
	struct node *next;
	char key[HASHTAB_KEY_MAX];
	/* the record follows */
};

_Static_assert(sizeof(struct node) % 8 == 0, "records start 8-aligned");

struct hashtab {
	struct node *buckets[BUCKETS];
	size_t count, max, recsize;
	const char *what;
	int warned_full;
};

#define REC(n) ((void *)((char *)(n) + sizeof(struct node)))

static unsigned hash_key(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % BUCKETS;
}

struct hashtab *hashtab_new(size_t record_size, size_t max_keys, const char *what)
{
	struct hashtab *t = calloc(1, sizeof(*t));

	if (t != NULL) {
		t->recsize = record_size;
		t->max = max_keys;
		t->what = what;
	}
	return t;
}

void hashtab_free(struct hashtab *t)
{
	if (t == NULL)
		return;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct node *n = t->buckets[b], *next; n; n = next) {
			next = n->next;
			free(n);
		}
	free(t);
}

static void *find(const struct hashtab *t, unsigned h, const char *key)
{
	for (struct node *n = t->buckets[h]; n; n = n->next)
		if (strcmp(n->key, key) == 0)
			return REC(n);
	return NULL;
}

void *hashtab_get(struct hashtab *t, const char *key)
{
	return find(t, hash_key(key), key);
}

size_t hashtab_sweep(struct hashtab *t, int (*fn)(const char *key, void *rec, void *arg), void *arg)
{
	size_t dropped = 0;

	for (size_t b = 0; b < BUCKETS; b++)
		for (struct node **pp = &t->buckets[b]; *pp;) {
			if (fn((*pp)->key, REC(*pp), arg)) {
				struct node *dead = *pp;
				*pp = dead->next;
				free(dead);
				t->count--;
				dropped++;
			} else
				pp = &(*pp)->next;
		}
	return dropped;
}

struct idle_sweep {
	int (*idle)(const void *rec, void *arg);
	void *arg;
};

static int idle_one(const char *key, void *rec, void *arg)
{
	const struct idle_sweep *is = arg;

	(void)key;
	return is->idle(rec, is->arg);
}

void *hashtab_add(struct hashtab *t, const char *key, int (*idle)(const void *rec, void *arg), void *arg)
{
	unsigned h = hash_key(key);
	void *rec = find(t, h, key);

	if (rec != NULL)
		return rec;
	if (t->count >= t->max) {
		if (idle != NULL) {
			struct idle_sweep is = { idle, arg };
			hashtab_sweep(t, idle_one, &is);
		}
		if (t->count >= t->max) {
			if (!t->warned_full++)
				log_warnx(NULL, "%s table full (%zu addresses); new addresses not tracked", t->what, t->max);
			return NULL;
		}
	}
	struct node *n = calloc(1, sizeof(*n) + t->recsize);
	if (n == NULL)
		return NULL;
	snprintf(n->key, sizeof(n->key), "%s", key);
	n->next = t->buckets[h];
	t->buckets[h] = n;
	t->count++;
	return REC(n);
}

void hashtab_del(struct hashtab *t, const char *key)
{
	for (struct node **pp = &t->buckets[hash_key(key)]; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->key, key) == 0) {
			struct node *dead = *pp;
			*pp = dead->next;
			free(dead);
			t->count--;
			return;
		}
}

size_t hashtab_count(const struct hashtab *t) { return t->count; }
