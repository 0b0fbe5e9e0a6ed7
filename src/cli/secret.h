/*
 * secret.h - a password for the command-line verbs (`send`, `check`): the first line of a
 * file, never an argument (argv is visible to every user in ps). Not the server's users file.
 */
#ifndef MAILPORT_CLI_SECRET_H
#define MAILPORT_CLI_SECRET_H

/* The first line of path without its line end, malloc'd (the caller wipes and frees it), or
 * NULL with errno set. A file every user of the machine may read still works, with a warning
 * on stderr that names the fix, as ssh does for keys; prog starts the warning. */
char *secret_read_file(const char *prog, const char *path);

#endif
