/*
 * users.h - the users file: who has a mailbox here, their aliases, and (for AUTH) their
 * crypt(3) hash. Format, one per line, '#' starts a comment:
 *
 *     address:crypt-hash[:alias,alias...[:OPTION OPTION...]]
 *
 * OPTIONs: login=app-passwords or login=any; scram=ITER,SALT,STOREDKEY,SERVERKEY (SCRAM-SHA-256
 * credentials of the same password, from mailport passwd --scram); auth=password (the default),
 * auth=certificate (only a TLS client certificate naming the mailbox logs in, with SASL
 * EXTERNAL) or auth=certificate+password (both: the certificate, then the password).
 *
 * login=app-passwords: only the mailbox's app passwords (apppw.h) log in, never its main
 * password, so the main secret never has to be typed into a mail client.
 * An empty hash, or one starting with '!' or '*', never logs in (a mailbox-only user such as
 * postmaster). Lookups are case-insensitive in the whole address, as Postfix does.
 *
 * users_load() reports every problem as file:line into errs and returns NULL when there was
 * any. The table is immutable after loading; users_free(NULL) is a no-op.
 */
#ifndef MAILPORT_USERS_H
#define MAILPORT_USERS_H

#include <stddef.h>

#include "../util/errlist.h"
#include "../sasl/scram.h"

struct users;

enum { USER_CERT_NO, USER_CERT_ONLY, USER_CERT_AND_PASSWORD };

struct user {
	char *address;      /* canonical, lower case */
	char *hash;         /* crypt(3) string; "" when the user cannot log in */
	int app_only;       /* login=app-passwords */
	int has_scram;      /* scram=...: SCRAM-SHA-256 credentials */
	int cert;           /* USER_CERT_* (auth=...) */
	struct scram_creds scram;
};

struct users *users_load(const char *path, struct errlist *errs);
/* The same from buf (NUL-terminated, in the users file's format, consumed: freed here); path
 * names it in errors (the PostgreSQL directory passes its own name, with lines numbered as
 * written). */
struct users *users_parse(const char *path, char *buf, struct errlist *errs);
void users_free(struct users *u);
/* Find the user owning address or alias key (any case). NULL when none. */
const struct user *users_lookup(const struct users *u, const char *addr, size_t len);
/* Like users_lookup(), and when that finds nothing, user+tag@domain as user@domain (delim is
 * the recipient delimiter; '\0' disables it). */
const struct user *users_resolve(const struct users *u, const char *addr, char delim);
size_t users_count(const struct users *u);
/* How many mailboxes have an MD5-crypt hash ($1$, crackable at billions a second), and the
 * first five of them, comma-separated, in *list (valid while u is). DES-crypt is refused. */
unsigned users_weak_hashes(const struct users *u, const char **list);

#endif
