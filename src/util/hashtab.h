/*
 * hashtab.h - a bounded table of per-client records keyed by a short string (a client address
 * or /64): the auth throttle's and the connection limits' memory. Records are zeroed on
 * creation and owned by the table. When the table is full, the records the caller calls idle
 * are dropped; failing that, nothing new is added (the caller lets the client through
 * untracked, and the table says so in the log once). Not thread-safe: one event loop.
 */
#ifndef MAILPORT_HASHTAB_H
#define MAILPORT_HASHTAB_H

#include <stddef.h>

#define HASHTAB_KEY_MAX 64

struct hashtab;

/* what names the table in the full-table warning. */
struct hashtab *hashtab_new(size_t record_size, size_t max_keys, const char *what);
void hashtab_free(struct hashtab *t);
/* The record of key, or NULL. */
void *hashtab_get(struct hashtab *t, const char *key);
/* The record of key, created (zeroed) if absent; NULL when the table is full even after
 * dropping every record for which idle(record, arg) is true, or out of memory. */
void *hashtab_add(struct hashtab *t, const char *key, int (*idle)(const void *rec, void *arg), void *arg);
void hashtab_del(struct hashtab *t, const char *key);
/* Visit every record; fn returns 1 to drop the one it was given. Returns how many were dropped. */
size_t hashtab_sweep(struct hashtab *t, int (*fn)(const char *key, void *rec, void *arg), void *arg);
size_t hashtab_count(const struct hashtab *t);

#endif
