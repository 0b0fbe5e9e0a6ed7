/*
 * apppw.h - app passwords: several named, generated credentials per mailbox, each revocable on
 * its own, so a mailbox's main secret never has to travel to a mail client.
 *
 * A generated password is 32 characters of a 31-symbol alphabet without look-alikes (shown in
 * groups of four): the first four are its id (looked up in the clear, so one login costs one
 * hash whatever the number of app passwords), the other 28 carry 138 bits. Only a yescrypt
 * hash of the whole is stored. Dashes and spaces a mail client kept are ignored; case too.
 *
 * The store is a text file (`[auth] app_passwords`, default SPOOL/app-passwords), one line per
 * credential, written only whole (temporary file, fsync, rename, fsync of the directory):
 *
 *     address:id:created:hash:label
 *
 * When each was last used, and from which address, is kept beside it in DIR/ADDRESS.ID files
 * (one small durable write per full password check; a cached login does not write).
 *
 * Ownership: apppw_load() gives a table with one reference; apppw_ref()/apppw_unref() from any
 * thread. The table is immutable.
 */
#ifndef MAILPORT_APPPW_H
#define MAILPORT_APPPW_H

#include <stddef.h>
#include <sys/types.h>

#include "../util/errlist.h"

#define APPPW_LEN 32                    /* characters of a generated password, without dashes */
#define APPPW_ID_LEN 4
#define APPPW_LABEL_MAX 64

struct apppw_entry {
	char address[256];              /* lower case */
	char id[APPPW_ID_LEN + 1];
	long long created;
	char *hash;
	char label[APPPW_LABEL_MAX];
	unsigned line;
};

struct apppw;

/* The store at path; a missing file is an empty table. NULL with errs (file:line). */
struct apppw *apppw_load(const char *path, struct errlist *errs);
/* The same from buf (len octets, NUL-terminated; consumed: wiped and freed; NULL: an empty
 * table); path names it in errors. */
struct apppw *apppw_parse(const char *path, char *buf, size_t len, struct errlist *errs);
struct apppw *apppw_ref(struct apppw *t);
void apppw_unref(struct apppw *t);
size_t apppw_count(const struct apppw *t);
const struct apppw_entry *apppw_entry(const struct apppw *t, size_t i);

/* The password as typed, reduced to its 32 characters (dashes, spaces gone, lower case) in out
 * (APPPW_LEN + 1): 0, or -1 when it is not an app password at all. */
int apppw_normalize(const char *password, char *out);
/* The entry of address with the id of normalized password np, or NULL. */
const struct apppw_entry *apppw_find(const struct apppw *t, const char *address, const char *np);

/* A new password (normalized, APPPW_LEN + 1) and its display form (groups of four, 40 octets). */
int apppw_generate(char *pw, char *display);

/* The store rewritten with entries (n of them), owned by uid:gid (-1: unchanged), mode 0600. */
int apppw_store(const char *path, const struct apppw_entry *e, size_t n, uid_t uid, gid_t gid);

/* Last use: recorded in dir (mode 0700, made when missing) as ADDRESS.ID = "TIME IP". */
int apppw_note_use(const char *dir, const char *address, const char *id, long long when, const char *ip);
/* The last use of an entry: 0 with *when and ip, or -1 when never used (or unreadable). */
int apppw_last_use(const char *dir, const char *address, const char *id, long long *when, char *ip, size_t iplen);

#endif
