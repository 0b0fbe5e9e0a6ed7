/*
 * server.h - `mailport serve`: the libevent adapter that owns sockets and drives the SMTP core.
 *
 * server_main() loads the configuration, binds every listener, opens the spool, starts the
 * delivery runner and runs the event loop until SIGTERM/SIGINT. It returns a sysexits code:
 * 0 after a clean stop, 78 for configuration errors (each printed as file:line), 73 when the
 * spool cannot be opened, 71 when a listener cannot be bound.
 */
#ifndef MAILPORT_SERVER_H
#define MAILPORT_SERVER_H

int server_main(const char *config_path);
/* `serve --check-config`: everything serve checks before it binds: the configuration, users
 * file, certificates and keys (each key must match its certificate), the mail user, the spool
 * and the Maildir root (created when missing, as serve would). Prints "configuration OK" or
 * every error as file:line; returns 0 or 78. */
int server_check_config(const char *config_path);

#endif
