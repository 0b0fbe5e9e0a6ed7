/*
 * windowcount.h - events per key in fixed windows (a user's messages per hour): the local side of
 * a rate limit, what counts when no shared store does (server/sharedlimits.h), and alongside it.
 * Fixed windows are simple and bounded, and let at most twice the limit through across a
 * window's edge, like the connection limits (clientlimits.h). Memory is bounded by the key table
 * (util/hashtab.h): when full, a new key is not counted. Every event loop counts in
 * the same one (a mutex held for one lookup).
 */
#ifndef MAILPORT_WINDOWCOUNT_H
#define MAILPORT_WINDOWCOUNT_H

struct windowcount;

/* what names the table in its full-table warning. */
struct windowcount *windowcount_new(unsigned max_keys, const char *what);
void windowcount_free(struct windowcount *w);
/* One event of key at now (seconds) in windows of window seconds, if fewer than limit were
 * counted in the current one: returns 1 (counted) or 0 (limit reached; *left = seconds until
 * the window ends). An untracked key (table full) is counted as allowed. */
int windowcount_take(struct windowcount *w, const char *key, unsigned limit, unsigned window, long long now,
                  unsigned *left);

#endif
