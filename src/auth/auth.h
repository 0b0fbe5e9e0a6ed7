/*
 * auth.h - checking SMTP AUTH credentials and throttling those who guess.
 *
 * auth_verify() checks a password against the users file, or a mailbox's app passwords, with
 * crypt(3) from libxcrypt (yescrypt, bcrypt, sha512-crypt ...). An unknown user or a user that cannot log in costs a
 * full hash computation too, so response time does not reveal which users exist. It returns
 * 0 when the credentials are good, -1 otherwise; it never logs or keeps the password.
 *
 * The throttle counts failures per client key (an IPv4 address, or the /64 of an IPv6
 * address: one host usually owns a whole /64). After max_failures within window seconds the
 * key is locked for window seconds. Memory is bounded (THROTTLE_MAX_KEYS); when full, expired
 * entries are dropped and, failing that, a new key is not tracked (logged once).
 */
#ifndef MAILPORT_AUTH_H
#define MAILPORT_AUTH_H

#include <stddef.h>

#include "apppw.h"
#include "users.h"

#define THROTTLE_MAX_KEYS 65536

/* ap: the mailbox's app passwords (apppw.h; NULL = none). 0 when good, with *via the app
 * password that matched (NULL: the main password). */
int auth_verify(const struct users *u, const struct apppw *ap, const char *authzid, const char *user,
                const char *password, const struct apppw_entry **via);

/* A new yescrypt hash of password for the users file (mailport passwd). NULL on failure;
 * the caller frees. */
char *auth_hash_password(const char *password);

struct throttle;
struct throttle *throttle_new(unsigned max_failures, unsigned window);
void throttle_configure(struct throttle *t, unsigned max_failures, unsigned window);
void throttle_free(struct throttle *t);
/* The throttle key of a numeric peer address (text), into key (at least 64 octets). */
void throttle_key(const char *ip, char *key, size_t keylen);
/* When the lockout of key ends (epoch seconds), or 0 when it is not locked out. */
long long throttle_locked_until(struct throttle *t, const char *key, long long now);
/* Record one failure of key, trying user; returns the end of the lockout it starts, else 0. */
long long throttle_failure(struct throttle *t, const char *key, const char *user, long long now);
/* A lockout decided elsewhere (the shared counters of every node) kept here until until, so
 * that the synchronous checks (SCRAM, EXTERNAL) see it too. */
void throttle_lock(struct throttle *t, const char *key, const char *user, long long until, long long now);
/* Every client with failures in its window: its key, count, lockout end (0 = none) and the
 * last user it tried (truncated to THROTTLE_USER_MAX - 1 octets). */
#define THROTTLE_USER_MAX 128
void throttle_each(struct throttle *t, long long now,
                   void (*fn)(void *arg, const char *key, unsigned failures, long long until, const char *user),
                   void *arg);
/* Forget the failures of client key, or (what contains '@') of every client whose last
 * failed login was for that user. Returns how many clients were forgiven. */
size_t throttle_forgive(struct throttle *t, const char *what);

#endif
