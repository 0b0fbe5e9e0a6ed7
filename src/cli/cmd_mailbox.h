/*
 * cmd_mailbox.h - `mailport user add|passwd|delete|list`: mailboxes in whichever directory the
 * configuration names (the users file, or PostgreSQL for more than one node).
 */
#ifndef MAILPORT_CLI_CMD_MAILBOX_H
#define MAILPORT_CLI_CMD_MAILBOX_H

#include <stddef.h>

/* a: the words after "user" (a[0] is the verb); aliases: "a@x,b@x" or NULL. */
int mailbox_main(const char *config, int n, char **a, const char *aliases, int allow_weak);

struct config;
/* One parameterised statement on [directory] postgresql: 0, or an exit status (said why on
 * stderr); out holds the first column of each row. */
int mailbox_sql(const struct config *c, const char *sql, const char *const *p, int n, long *rows, char *out,
                size_t outlen);

#endif
