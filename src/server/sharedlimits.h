/*
 * sharedlimits.h - the limits every node counts together, in Redis or Valkey: AUTH failures and
 * lockouts, new connections per client, messages per user. Without it each node of a cluster
 * counts alone and an attacker who spreads over n nodes gets n times every limit.
 *
 * Asynchronous on the server's event loop (hiredis with its libevent adapter): a question is
 * one Lua script the store runs atomically (count, compare, expire in one step), and its answer
 * comes back through a callback. Nothing here ever waits: when the store is not connected the
 * calls return NULL at once and the caller decides with its local counters (clientlimits.h, auth.h,
 * windowcount.h), which keep counting all along. A question unanswered after SHARED_TIMEOUT_MS
 * takes the store down with it: every waiting question is answered "unavailable", the
 * connection is dropped and tried again (1 s, doubling to 30 s). Going down and coming back
 * are logged once each.
 *
 * One store, not Redis Cluster (the lockout script touches keys of two slots); a replica with
 * Sentinel in front is fine. hiredis 0.14 (Debian 12) has no TLS: loopback, a unix socket or a
 * private network (docs/scale-out.md).
 */
#ifndef MAILPORT_SHAREDLIMITS_H
#define MAILPORT_SHAREDLIMITS_H

#define SHARED_TIMEOUT_MS 500

struct event_base;
struct shared;
struct shared_req;

struct shared_answer {
	int ok;                 /* 1: the store answered; 0: it is unavailable, decide locally */
	long long count;        /* the count after this question */
	long long ttl;          /* seconds until the window or the lockout ends (0: none) */
	int yes;                /* shared_take: counted (under the limit); shared_failure: this
	                           failure started the lockout */
};
typedef void shared_cb(void *arg, const struct shared_answer *a);

struct shared_conf {
	const char *address;    /* HOST:PORT, [IPv6]:PORT or unix:PATH */
	const char *user;       /* ACL user (Redis 6+), or NULL */
	const char *password;   /* or NULL; kept in memory for reconnects, never logged */
	const char *prefix;     /* of every key ("mailport:"): several clusters may share a store */
};

/* Starts connecting at once (in the background). NULL when out of memory. One per event loop:
 * the loops' clients of one node are siblings (NULL for the first), which say a change of the
 * store's state in the log once for the node. */
struct shared *shared_new(struct event_base *base, const struct shared_conf *conf, struct shared *sibling);
/* Every waiting question is answered "unavailable" first. NULL is a no-op. */
void shared_free(struct shared *sh);
int shared_up(const struct shared *sh);
const char *shared_address(const struct shared *sh);

/* Questions. Each returns NULL when the store is not connected (cb is never called), else a
 * request whose cb is called exactly once, later, unless shared_cancel()ed first. */

/* One event of kind for key in fixed windows of window seconds, counted only if fewer than
 * limit were: yes = counted, count = the window's count, ttl = what is left of the window. */
struct shared_req *shared_take(struct shared *sh, const char *kind, const char *key, unsigned limit,
                               unsigned window, shared_cb *cb, void *arg);
/* Is client key locked out? ttl > 0: for that many seconds more. */
struct shared_req *shared_locked(struct shared *sh, const char *key, shared_cb *cb, void *arg);
/* One failed AUTH of client key for user: count = failures in the window; at max_failures
 * the key is locked for window seconds (yes = 1 on the failure that did it; ttl = lockout
 * left, also when it was locked already). */
struct shared_req *shared_failure(struct shared *sh, const char *key, const char *user, unsigned max_failures,
                                  unsigned window, shared_cb *cb, void *arg);
/* Forget the failures and lockout of client key, or of every key whose failures named user
 * (what contains '@'). Fire and forget; logged. 0 sent, -1 store not connected. */
int shared_forgive(struct shared *sh, const char *what);
/* The caller no longer wants the answer (its connection ended). */
void shared_cancel(struct shared_req *r);

#endif
