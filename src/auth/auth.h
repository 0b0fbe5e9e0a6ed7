/*
 * auth.h - checking SMTP AUTH credentials and throttling those who guess.
 *
 * auth_verify() checks a password against the users file with crypt(3) from libxcrypt
 * (yescrypt, bcrypt, sha512-crypt ...). An unknown user or a user that cannot log in costs a
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

#include "users.h"

#define THROTTLE_MAX_KEYS 65536

int auth_verify(const struct users *u, const char *authzid, const char *user, const char *password);

/* A new yescrypt hash of password for the users file (mailport passwd). NULL on failure;
 * the caller frees. */
char *auth_hash_password(const char *password);

struct throttle;
struct throttle *throttle_new(unsigned max_failures, unsigned window);
void throttle_configure(struct throttle *t, unsigned max_failures, unsigned window);
void throttle_free(struct throttle *t);
/* The throttle key of a numeric peer address (text), into key (at least 64 octets). */
void throttle_key(const char *ip, char *key, size_t keylen);
int throttle_locked(struct throttle *t, const char *key, long long now);
/* Record one failure; returns 1 when it starts a lockout. */
int throttle_failure(struct throttle *t, const char *key, long long now);

#endif
