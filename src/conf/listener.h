/*
 * listener.h - the one place where the kinds of listener are declared. For each role: the
 * config section it is set in, the port it is known by, how TLS starts on it, what the SMTP
 * core enforces there, and its words for logs and `serve --defaults`. A new listener (HTTPS
 * next) is a row in listener.c and the code that speaks its protocol; nothing else asks
 * "which port is this?" (STYLE: per-port policy in flags, not `if (port == ...)`).
 *
 * The table is static: listener_kind() returns a pointer into it, valid for the life of the
 * process, never freed.
 */
#ifndef MAILPORT_LISTENER_H
#define MAILPORT_LISTENER_H

/* [smtp] port 25 (MX), [submissions] port 465 (implicit TLS, RFC 8314), [submission] port 587
 * (STARTTLS required, RFC 6409); [https] the settings published for mail clients (autoconfig,
 * Autodiscover, Apple profiles, the MTA-STS policy), [metrics] Prometheus text. The order is the
 * order of the table. */
enum listener_role { ROLE_SMTP = 0, ROLE_SUBMISSIONS, ROLE_SUBMISSION, ROLE_HTTPS, ROLE_METRICS, ROLE_COUNT };

/* The protocol a listener speaks: each has its own connection code in net/ (conn.c, http.c). */
enum listener_proto { LISTENER_PROTO_SMTP, LISTENER_PROTO_HTTP };

enum listener_tls {
	LISTENER_TLS_NONE,              /* never TLS (metrics: loopback or a private network) */
	LISTENER_TLS_OFFERED,           /* STARTTLS offered when a certificate exists (RFC 3207) */
	LISTENER_TLS_REQUIRED,          /* STARTTLS before AUTH or MAIL (RFC 6409, RFC 8314 3.3) */
	LISTENER_TLS_IMPLICIT,          /* TLS from the first byte (RFC 8314 3.3) */
};

struct listener_kind {
	enum listener_role role;
	enum listener_proto proto;
	const char *name;               /* the config section, and role= in the logs */
	unsigned port;                  /* the port it is known by */
	enum listener_tls tls;
	int submission;                 /* a mail client's port: AUTH required, the message's missing
	                                   headers added, the sender bound to the login (RFC 6409) */
	unsigned session_policy;        /* SMTP_POLICY_* for the core; port 25 gains STARTTLS
	                                   when a certificate exists */
	const char *help;               /* the listen parameter's text in --defaults */
};

/* The row of role; role must be below ROLE_COUNT. */
const struct listener_kind *listener_kind(enum listener_role role);
/* How TLS starts, for logs: "implicit", "starttls-required", "starttls-offered" or "none". */
const char *listener_tls_words(const struct listener_kind *k, int have_certificate);

#endif
