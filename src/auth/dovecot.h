/*
 * dovecot.h - passwords checked by Dovecot's auth service, over its auth-client protocol
 * (the one Postfix's smtpd_sasl_type = dovecot speaks): one mailbox list and one set of
 * passwords for IMAP and submission. The protocol's lines are built and read by pure
 * functions (unit-tested, fuzzed); dovecot_auth_verify() does the blocking exchange and runs on
 * the hashing pool's threads, never on the event loop.
 */
#ifndef MAILPORT_DOVECOT_H
#define MAILPORT_DOVECOT_H

#include <stddef.h>

enum dovecot_result { DOVECOT_OK = 0, DOVECOT_FAIL = -1, DOVECOT_TEMPFAIL = -2 };

struct dovecot_login {
	const char *authzid, *user, *password;  /* borrowed; the password is wiped from our buffers */
	const char *client_ip;                  /* rip=, may be NULL */
	int secured;                            /* the client spoke over TLS */
};

/* The AUTH line for a PLAIN login with request id id, into out: its length, or 0 when it does
 * not fit or a name has a NUL (nothing to send). */
size_t dovecot_auth_line(unsigned id, const struct dovecot_login *l, char *out, size_t outlen);

/* One line of the server's answer to AUTH id (without its LF): DOVECOT_OK, DOVECOT_FAIL (a
 * wrong password, an unknown user), DOVECOT_TEMPFAIL ("temp" said, or a line we cannot use);
 * 1 when the line is not the answer (a handshake line). */
int dovecot_auth_reply(unsigned id, const char *line);

/* The whole exchange with the auth-client socket at path (a unix socket, or HOST:PORT), at most
 * timeout_s seconds. why gets a reason for the log on anything but DOVECOT_OK. */
enum dovecot_result dovecot_auth_verify(const char *path, const struct dovecot_login *l, unsigned timeout_s,
                                        char *why, size_t whylen);

#endif
