/*
 * anvil.h - per-client connection limits (named after Postfix's anvil(8), which does the same
 * job): how many sessions one client may hold at once, and how many new connections it may
 * open per minute. A client is a key from throttle_key(): an IPv4 address, or an IPv6 /64.
 * Pure bookkeeping, no I/O; time is passed in. Memory is bounded (ANVIL_MAX_KEYS); when the
 * table is full, idle entries are dropped and, failing that, a new client is let through
 * untracked (better than refusing everyone when under a wide attack).
 */
#ifndef MAILPORT_ANVIL_H
#define MAILPORT_ANVIL_H

#define ANVIL_MAX_KEYS 65536

enum anvil_verdict { ANVIL_OK, ANVIL_TOO_MANY, ANVIL_TOO_FAST };

struct anvil;

/* max_conn: sessions at once per client (0 = no limit); rate: new connections per minute
 * per client (0 = no limit). */
struct anvil *anvil_new(unsigned max_conn, unsigned rate);
void anvil_configure(struct anvil *a, unsigned max_conn, unsigned rate);
void anvil_free(struct anvil *a);
/* A new connection from key at now (seconds): ANVIL_OK lets it in, anything else refuses it.
 * *counted says whether it was counted (limits on, table not full): then pair it with one
 * anvil_disconnect(). */
enum anvil_verdict anvil_connect(struct anvil *a, const char *key, long long now, int *counted);
void anvil_disconnect(struct anvil *a, const char *key);
/* Clients tracked, for tests. */
unsigned anvil_size(const struct anvil *a);

#endif
