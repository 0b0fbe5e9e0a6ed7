/*
 * secret.h - a password for the command-line verbs (`send`, `check`): the first line of a
 * file, never an argument (argv is visible to every user in ps). Not the server's users file.
 */
#ifndef MAILPORT_CLI_SECRET_H
#define MAILPORT_CLI_SECRET_H

#include <stddef.h>

/* The first line of path without its line end, malloc'd (the caller wipes and frees it), or
 * NULL with errno set. A file every user of the machine may read still works, with a warning
 * on stderr that names the fix, as ssh does for keys; prog starts the warning. */
char *secret_read_file(const char *prog, const char *path);
/* A new password for user (NULL: no mailbox named) on standard input (twice, without echo, on a
 * terminal), refused when weak (with why, on stderr, as prog) unless allow_weak: 0 with it in
 * pw, or an exit status (EX_DATAERR). The caller wipes pw. */
int secret_new_password(const char *prog, const char *user, int allow_weak, char *pw, size_t len);

#endif
