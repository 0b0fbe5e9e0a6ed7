/*
 * clientlimits.h - per-client connection limits (named after Postfix's anvil(8), which does the same
 * job): how many sessions one client may hold at once, and how many new connections it may
 * open per minute. A client is a key from throttle_key(): an IPv4 address, or an IPv6 /64.
 * Pure bookkeeping, no I/O; time is passed in; every event loop counts in the same one (a
 * mutex held for one lookup). Memory is bounded (CLIENTLIMITS_MAX_KEYS); when the
 * table is full, idle entries are dropped and, failing that, a new client is let through
 * untracked (better than refusing everyone when under a wide attack).
 */
#ifndef MAILPORT_CLIENTLIMITS_H
#define MAILPORT_CLIENTLIMITS_H

#define CLIENTLIMITS_MAX_KEYS 65536

enum clientlimits_verdict { CLIENTLIMITS_OK, CLIENTLIMITS_TOO_MANY, CLIENTLIMITS_TOO_FAST };

struct clientlimits;

/* max_conn: sessions at once per client (0 = no limit); rate: new connections per minute
 * per client (0 = no limit). */
struct clientlimits *clientlimits_new(unsigned max_conn, unsigned rate);
void clientlimits_configure(struct clientlimits *a, unsigned max_conn, unsigned rate);
void clientlimits_free(struct clientlimits *a);
/* A new connection from key at now (seconds): CLIENTLIMITS_OK lets it in, anything else refuses it.
 * *counted says whether it was counted (limits on, table not full): then pair it with one
 * clientlimits_disconnect(). */
enum clientlimits_verdict clientlimits_connect(struct clientlimits *a, const char *key, long long now, int *counted);
void clientlimits_disconnect(struct clientlimits *a, const char *key);
/* Clients tracked, for tests. */
unsigned clientlimits_size(struct clientlimits *a);

#endif
