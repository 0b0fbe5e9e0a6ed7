/*
 * targetspec.h - the syntax of the [server] maildir setting, where local mail goes: a Maildir
 * pattern (with %d and %u), "discard:", or "lmtp:" and a socket path or HOST:PORT. Pure: the
 * configuration checks it when it is read, deliver/target.c acts on it.
 */
#ifndef MAILPORT_TARGETSPEC_H
#define MAILPORT_TARGETSPEC_H

#include <stddef.h>

/* Whether the [server] maildir setting names Maildirs (not "discard:" or "lmtp:..."). */
int target_has_maildir(const char *spec);

/* spec after "lmtp:": into where, a unix socket path ("/...") or "HOST:PORT". 0, or -1 with why. */
int lmtp_parse(const char *spec, char *where, size_t wlen, const char **why);

#endif
