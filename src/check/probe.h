/*
 * probe.h - the blocking probes behind `mailport check`: one SMTP session per port (through
 * the same client core and transport as `mailport send`), and one handshake per TLS version.
 * Each call is bounded by opts->timeout_ms from its start and fills only its own fields of *p,
 * so probes of different ports, or of one port's versions, may run on threads at once.
 */
#ifndef MAILPORT_CHECK_PROBE_H
#define MAILPORT_CHECK_PROBE_H

#include "check.h"

struct check_opts {
	const char *helo;               /* our EHLO name */
	const char *cafile;             /* NULL = the system store */
	const char *resolver;           /* see dns.h; NULL = /etc/resolv.conf (and /etc/hosts) */
	long timeout_ms;
	const char *user, *password;    /* a login test on submission ports, only inside TLS
	                                 * with a valid certificate */
	int relay_test;                 /* port 25: MAIL + RCPT to a foreign domain, never DATA */
};

/* Connect, find out what the port speaks, greet, EHLO, STARTTLS, inspect TLS, EHLO again,
 * optionally log in or test relaying, QUIT. Fills the findings of *p. */
void check_probe(struct check_port *p, const struct check_opts *o);
/* After check_probe found TLS: does the port accept TLS version idx (0 = 1.0 .. 3 = 1.3)? */
void check_probe_version(struct check_port *p, int idx, const struct check_opts *o);

/* How long a port of unknown kind may stay silent before we take it for TLS-first (check,
 * and send --tls auto on a port other than 465/587). A plaintext server greets at once; a slow
 * one (Postfix's postscreen pause) answers the TLS handshake with its greeting, which the
 * caller then takes for plaintext. */
#define CHECK_GUESS_GREETING_MS 1500

#define CHECK_RELAY_SENDER "mailport-check@example.org"
#define CHECK_RELAY_RCPT   "relay-test@example.com"

#endif
