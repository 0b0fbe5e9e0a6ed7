/*
 * keytab.c - see keytab.h. Chained hash (FNV-1a); a record lives right after its node.
 */
#include "keytab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BUCKETS 4096

struct node {
	struct node *next;
	char key[KEYTAB_KEY_MAX];
	/* the record follows */
};

_Static_assert(sizeof(struct node) % 8 == 0, "records start 8-aligned");

struct keytab {
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

struct keytab *keytab_new(size_t record_size, size_t max_keys, const char *what)
{
	struct keytab *t = calloc(1, sizeof(*t));

	if (t != NULL) {
		t->recsize = record_size;
		t->max = max_keys;
		t->what = what;
	}
	return t;
}

void keytab_free(struct keytab *t)
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

static void *find(const struct keytab *t, unsigned h, const char *key)
{
	for (struct node *n = t->buckets[h]; n; n = n->next)
		if (strcmp(n->key, key) == 0)
			return REC(n);
	return NULL;
}

void *keytab_get(struct keytab *t, const char *key)
{
	return find(t, hash_key(key), key);
}

static void purge(struct keytab *t, int (*idle)(const void *rec, void *arg), void *arg)
{
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct node **pp = &t->buckets[b]; *pp;) {
			if (idle(REC(*pp), arg)) {
				struct node *dead = *pp;
				*pp = dead->next;
				free(dead);
				t->count--;
			} else
				pp = &(*pp)->next;
		}
}

void *keytab_add(struct keytab *t, const char *key, int (*idle)(const void *rec, void *arg), void *arg)
{
	unsigned h = hash_key(key);
	void *rec = find(t, h, key);

	if (rec != NULL)
		return rec;
	if (t->count >= t->max) {
		if (idle != NULL)
			purge(t, idle, arg);
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

void keytab_del(struct keytab *t, const char *key)
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

size_t keytab_count(const struct keytab *t) { return t->count; }
