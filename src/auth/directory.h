/*
 * directory.h - who has a mailbox here and how they log in: the one interface the server and
 * the runner ask, whatever keeps the answers. One backend today, the users file (users.h, its
 * hashes checked by auth.h); Dovecot's auth, PostgreSQL, app passwords and client certificates
 * come as further backends (struct dir_backend in directory.c), not as new calls in net/ or
 * deliver/.
 *
 * Ownership: directory_open() returns a directory that the caller frees with directory_free()
 * (NULL is a no-op). Once open it does not change, so any thread may look up and verify at the
 * same time (the hashing pool verifies while the event loop resolves recipients). Answers are
 * copied out: nothing returned points into the directory. A reload opens a new directory.
 */
#ifndef MAILPORT_DIRECTORY_H
#define MAILPORT_DIRECTORY_H

#include <stddef.h>

#include "../util/errlist.h"
#include "../sasl/scram.h"

/* A lookup's answer. DIR_TEMPFAIL: the backend could not answer (a database that is down);
 * callers answer 4xx then, never 5xx, so that no mail is refused for good by an outage. */
enum dir_result { DIR_TEMPFAIL = -1, DIR_NONE = 0, DIR_FOUND = 1 };

struct directory;

struct directory_conf {
	const char *users_file;         /* the file backend: [auth] users */
	int quiet;                      /* log no warning (a second reader of what the server loaded) */
	const char *app_passwords;      /* the app-password store (auth/apppw.h); NULL: none */
	const char *used_dir;           /* where their last use is noted; NULL: not noted */
	const char *dovecot_auth;       /* Dovecot's auth-client socket checks the passwords (the users
	                                   file still names the mailboxes); NULL: the users file's hashes */
	const char *postgresql;         /* a libpq connection string: the directory is in PostgreSQL
	                                   (pgdir.h), not in users_file; NULL: the file */
	const char *pg_password;        /* its role's password, or NULL */
	unsigned max_stale;             /* seconds the last snapshot serves while the database is away */
	const char *crl_path;           /* PostgreSQL: copy the directory's client-certificate CRL here
	                                   ([auth] client_crl); NULL: not */
};

/* One login attempt. The password is borrowed, never kept or logged. */
struct dir_login {
	const char *authzid;            /* "" when not given */
	const char *user;
	const char *password;
	const char *client_ip;          /* for the app passwords' last use; may be NULL */
};

/* Every problem goes into errs as file:line; NULL when there was any. */
struct directory *directory_open(const struct directory_conf *dc, struct errlist *errs);
void directory_free(struct directory *d);

/* The mailbox that addr delivers to (an alias's owner; user+tag@domain as user@domain when
 * delim is not '\0'), lower case, into mailbox (outlen octets). */
enum dir_result directory_mailbox(const struct directory *d, const char *addr, char delim, char *mailbox,
                                  size_t outlen);
/* SMTP AUTH: 0 when user (a mailbox's own address, not an alias) may log in with password and
 * act as authzid ("" or itself), else -1. The password is the mailbox's main one (unless its
 * users-file line says login=app-passwords) or one of its app passwords; via gets
 * "app-password=LABEL" for the latter, "" for the former (NULL: not wanted). As long as a good
 * check whatever the reason, so the time taken does not tell which users exist. Blocking (a
 * password hash, a durable note of an app password's use): not on the event loop. */
int directory_verify(const struct directory *d, const struct dir_login *l, char *via, size_t vialen);
/* directory_verify()'s answer when the password service did not answer (Dovecot down): the
 * client is told to try again (454), and it is not counted as a failed login. */
#define DIR_VERIFY_TEMPFAIL (-2)
/* SCRAM-SHA-256: the stored credentials of user (a mailbox's own address that may log in with
 * its main password and has scram= credentials) into out: 0, or -1 (none: the caller makes up
 * some). A lookup, no hashing. */
int directory_scram(const struct directory *d, const char *user, struct scram_creds *out);
/* How user (a mailbox's own address) logs in: USER_CERT_NO (passwords), USER_CERT_ONLY (a
 * client certificate, EXTERNAL), USER_CERT_AND_PASSWORD; -1 when there is no such mailbox. */
int directory_cert_policy(const struct directory *d, const char *user);
/* Event loop, before a login: reads the app-password store again when its file changed (a
 * revocation takes effect for the next AUTH). 1 when it did (the caller forgets cached
 * logins), 0 when nothing changed, -1 when the new store did not load (the old one stays). */
int directory_refresh(struct directory *d);
/* How many mailboxes, for the logs. */
size_t directory_count(const struct directory *d);
/* Start what keeps the directory current (PostgreSQL's listener thread; nothing for the file):
 * after the process confined itself, which the thread inherits. 0 or -1. */
int directory_start(struct directory *d);

#endif
