/*
 * listener.c - the table of listener kinds (listener.h). Data and two lookups; binding the
 * sockets is server/server.c's, speaking on them server/conn.c's.
 */
#include "listener.h"

#include <stddef.h>

#include "../smtp/session.h"

static const struct listener_kind kinds[ROLE_COUNT] = {
	[ROLE_SMTP] = { ROLE_SMTP, LISTENER_PROTO_SMTP, "smtp", 25, LISTENER_TLS_OFFERED, 0, 0,
	                "port 25 role (MX): ADDR:PORT ..., e.g. 0.0.0.0:25 [::]:25; STARTTLS offered when [tls] is "
	                "set" },
	[ROLE_SUBMISSIONS] = { ROLE_SUBMISSIONS, LISTENER_PROTO_SMTP, "submissions", 465, LISTENER_TLS_IMPLICIT, 1,
	                       SMTP_POLICY_AUTH | SMTP_POLICY_AUTH_REQUIRED,
	                       "port 465 role: implicit TLS from the first byte, AUTH required (RFC 8314)" },
	[ROLE_SUBMISSION] = { ROLE_SUBMISSION, LISTENER_PROTO_SMTP, "submission", 587, LISTENER_TLS_REQUIRED, 1,
	                      SMTP_POLICY_STARTTLS | SMTP_POLICY_TLS_REQUIRED | SMTP_POLICY_AUTH |
	                      SMTP_POLICY_AUTH_REQUIRED,
	                      "port 587 role: STARTTLS required before AUTH or MAIL, AUTH required (RFC 6409)" },
	[ROLE_HTTPS] = { ROLE_HTTPS, LISTENER_PROTO_HTTP, "https", 443, LISTENER_TLS_IMPLICIT, 0, 0,
	                 "HTTPS for mail clients and MTA-STS: ADDR:PORT ..., e.g. 0.0.0.0:443; serves autoconfig, "
	                 "Autodiscover, Apple profiles and the MTA-STS policy of each local domain (unset: off)" },
	[ROLE_METRICS] = { ROLE_METRICS, LISTENER_PROTO_HTTP, "metrics", 9464, LISTENER_TLS_NONE, 0, 0,
	                   "Prometheus metrics in plain HTTP at /metrics: ADDR:PORT, e.g. 127.0.0.1:9464 (unset: off; "
	                   "keep it on loopback or a private network)" },
};

const struct listener_kind *listener_kind(enum listener_role role)
{
	return &kinds[role < ROLE_COUNT ? role : ROLE_SMTP];
}

const char *listener_tls_words(const struct listener_kind *k, int have_certificate)
{
	switch (k->tls) {
	case LISTENER_TLS_IMPLICIT: return "implicit";
	case LISTENER_TLS_REQUIRED: return "starttls-required";
	case LISTENER_TLS_NONE: return "none";
	case LISTENER_TLS_OFFERED: break;
	}
	return have_certificate ? "starttls-offered" : "none";
}
