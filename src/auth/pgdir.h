/*
 * pgdir.h - the directory kept in PostgreSQL, for more than one node (docs/scale-out.md):
 * mailboxes, aliases and app passwords in tables (pgdir_schema()), read whole into a snapshot
 * in the users file's own format (users.h, apppw.h: one parser for both backends), and read
 * again as soon as a table changes: a trigger NOTIFYs mailport_directory, which a thread of
 * ours LISTENs to. Lookups read the snapshot and never wait for the database. When the
 * database cannot be reached the snapshot is still served for max_stale seconds, then every
 * lookup says "temporary" (451/454), never "no such user" (550).
 *
 * Ownership: pgdir_open() returns a directory freed with pgdir_free(); pgdir_start() starts its
 * thread (after the process confined itself: the thread inherits the confinement). Snapshots
 * are reference-counted: any thread may look up while the listener swaps them.
 */
#ifndef MAILPORT_PGDIR_H
#define MAILPORT_PGDIR_H

#include <stddef.h>

#include "../util/errlist.h"

struct pgdir;
struct users;
struct apppw;

struct pgdir_snap {
	int refs;
	struct users *users;
	struct apppw *ap;
	char *crl;                      /* the client certificates' CRL (PEM), or NULL: none in the database */
};

/* conninfo: a libpq connection string; password: NULL or the role's password (from
 * [directory] password_file); quiet: log nothing (a second reader). One synchronous load now (a database that is down is logged, and
 * lookups are temporary failures until it answers). NULL only for a bad conninfo (errs). */
struct pgdir *pgdir_open(const char *conninfo, const char *password, unsigned max_stale, int quiet,
                         struct errlist *errs);
int pgdir_start(struct pgdir *p);
/* Before pgdir_start(): copy the directory's client-certificate CRL to path whenever it
 * changes (the server's [auth] client_crl; the runner's copy does not). */
void pgdir_crl_path(struct pgdir *p, const char *path);
void pgdir_free(struct pgdir *p);

/* The current snapshot with a reference (pgdir_snap_unref), or NULL when there is none or it
 * is older than max_stale: the caller answers "try again later". */
struct pgdir_snap *pgdir_snap(struct pgdir *p);
void pgdir_snap_unref(struct pgdir_snap *s);
/* From one thread (the event loop): 1 when a new snapshot came since the last call (logins
 * cached under the old one are forgotten), else 0. */
int pgdir_changed(struct pgdir *p);
/* Mailboxes in the current snapshot (0 when none). */
size_t pgdir_count(struct pgdir *p);

/* The schema's migrations, in order (version i+1 is pgdir_schema()[i]), NULL-terminated. */
const char *const *pgdir_schema(void);
/* `mailport directory migrate`: applies the versions the database lacks, each in its own
 * transaction under an advisory lock (two nodes migrating at once wait for each other).
 * 0 (msg says what was done), or -1 (msg says why). */
int pgdir_migrate(const char *conninfo, const char *password, char *msg, size_t msglen);

/* `mailport user` on the database: one parameterised statement. 0 with out holding the first
 * column of each row, one per line, and *rows the rows returned or changed; -1 with out saying
 * why. */
int pgdir_admin(const char *conninfo, const char *password, const char *sql, const char *const *params, int nparams,
                char *out, size_t outlen, long *rows);

#endif
