/*
 * send_int.h - what the files of `mailport send` share: the options, the message as read, the
 * header walk's findings and one attempt's outcome. Inside cli/ only; send.h is the verb.
 * Ownership: send_main owns every struct here; the other files borrow them for a call.
 */
#ifndef MAILPORT_CLI_SEND_INT_H
#define MAILPORT_CLI_SEND_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "../smtp/parse.h"

struct transport;
struct smtp_client;
struct smtp_client_envelope;
struct smtp_client_result;

#define MSG_MAX (64u * 1024 * 1024)
#define MAX_RCPTS 1000

/* TLS_DETECT: --tls auto on a port other than 465/587, which speaks whatever it speaks. */
enum tls_mode { TLS_AUTO, TLS_IMPLICIT, TLS_STARTTLS, TLS_NONE, TLS_DETECT };


struct send_opts {
	char *host, *port, *user, *password_file, *password_command, *cafile, *from, *account, *config;
	char *cert, *key;               /* --cert/--key: a TLS client certificate (EXTERNAL without --user) */
	char *acct_from;                /* from = of the account: the last choice for the sender */
	const char *mta_config;         /* sendmail -C FILE: the server's configuration, for -bp */
	enum tls_mode tls;
	int tls_set;
	int timeout;
	int extract, dot_ends, verbose;
	int requiretls;                 /* --requiretls: MAIL ... REQUIRETLS (RFC 8689) */
	int scram_only, auth_set;       /* --auth scram / auth = scram: never PLAIN or LOGIN */
	char *fullname;
	char auto_ports[2][8];          /* --tls auto: implicit TLS port, then STARTTLS port */
};

struct msg {
	char *buf;
	size_t len;
	const char *rcpts[MAX_RCPTS];
	size_t nrcpts;
	char *owned[MAX_RCPTS];
	size_t nowned;
	int bad_rcpt;
};

/* The addresses of one From: or Sender: field: how many, and the first. */
struct author {
	int n;
	char first[SMTP_PATH_MAX + 1];
};

struct hdr_state {
	struct msg *m;
	int extract;
	int have_date, have_msgid, have_from;
	struct author from, sender;
	size_t bcc_start[64], bcc_end[64];
	size_t nbcc;
};

struct attempt {
	int exit;               /* sysexits code of this attempt */
	int try_next;           /* auto mode: the next port may work */
	int plaintext;          /* detect mode: TLS was tried, but the port speaks plaintext */
	char why[1024];
};

/* "mailport send: " + the line, on stderr. Inline, so that every file may say things without
 * calling up into send.c. */
static inline void send_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void send_say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mailport send: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* send_account.c: the settings that do not come from the options: the [account] of send.conf,
 * then the password. */
/* auto, implicit, starttls or none: 0, else -1. */
int send_parse_tls_mode(const char *arg, enum tls_mode *mode);
/* Fills what the options left unset. 0, or EX_CONFIG after printing every error as file:line. */
int send_load_account(struct send_opts *o);
/* "any" (SCRAM-SHA-256 when offered, else PLAIN or LOGIN) or "scram" (SCRAM or nothing): 0, or -1. */
int send_parse_auth(const char *v, int *scram_only);
/* The password from password_file or password_command, malloc'd (the caller wipes and frees it),
 * or NULL after saying why. */
char *send_get_password(const struct send_opts *o);

/* send_msg.c: the message from standard input, and what it lacks. */
int send_read_message(struct msg *m, int dot_ends);
/* A recipient from the command line or a header; a bad one sets m->bad_rcpt. */
void send_add_rcpt(struct msg *m, const char *addr, size_t len);
/* header_walk's callback: arg is a struct hdr_state. */
void send_on_header(void *arg, const char *name, size_t nlen, const char *value, size_t vlen, size_t start,
                    size_t end);
int send_is_address(const char *s);
const char *send_choose_sender(const struct send_opts *o, const struct hdr_state *h, const char **whence);
char *send_complete_message(struct msg *m, const struct send_opts *o, const char *sender, struct hdr_state *h,
                            size_t *outlen);

/* send_explain.c: one attempt's failure, in words and as a sysexits code in a->exit. */
int send_explain_transport(struct attempt *a, struct transport *t, int err, int implicit, const char *port);
void send_explain_old_tls(struct attempt *a, const struct send_opts *o, const struct transport *t,
                          const char *port, int starttls, const char *helo);
void send_explain_failure(struct attempt *a, const struct smtp_client_result *f, const struct transport *t);
void send_judge_transaction(struct attempt *a, const struct send_opts *o, const struct smtp_client *c,
                            const struct smtp_client_envelope *env, const struct transport *t,
                            const char *whence);

#endif
