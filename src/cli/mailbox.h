/*
 * mailbox.h - `mailport user add|passwd|delete|list`: mailboxes in whichever directory the
 * configuration names (the users file, or PostgreSQL for more than one node).
 */
#ifndef MAILPORT_CLI_MAILBOX_H
#define MAILPORT_CLI_MAILBOX_H

/* a: the words after "user" (a[0] is the verb); aliases: "a@x,b@x" or NULL. */
int mailbox_main(const char *config, int n, char **a, const char *aliases, int allow_weak);

#endif
