/*
 * remote_attempt.h - hand one queued message to a remote SMTP server: the smarthost of [relay]
 * (smtps://, smtp+starttls://, smtp://) or an MX host, with AUTH inside TLS only, and the TLS
 * that the destination's policy (tlspolicy.h) asks for: for the smarthost, the certificate and
 * host name verified against ca_file (or the system store).
 *
 * relay_deliver() fills one result per requested recipient: code 250 delivered, 5xx refused
 * for good, 4xx or 0 (undecided) try again later; err says what happened at the connection
 * level ("" when the server was reached and answered). It returns 0, -1, or RELAY_ETLS when
 * the TLS handshake itself failed (the host's plan, route/plan.h, says whether the same host
 * may be tried again in plaintext). Blocking: call it from a worker thread.
 */
#ifndef MAILPORT_REMOTE_ATTEMPT_H
#define MAILPORT_REMOTE_ATTEMPT_H

#include <stddef.h>

#include "../net/transport.h"
#include "../queue/spool.h"
#include "../smtp/client.h"
#include "../route/tlspolicy.h"

enum relay_scheme {
	RELAY_NONE = 0,         /* no smarthost: direct MX delivery */
	RELAY_SMTPS,            /* implicit TLS, certificate verified */
	RELAY_STARTTLS,         /* STARTTLS required, certificate verified */
	RELAY_PLAIN,            /* plaintext by configuration */
};

struct relay_conf {
	enum relay_scheme scheme;
	char *host, *port;
	const char *name;               /* direct MX: the MX host name that host is an address of (borrowed) */
	char *user, *password;          /* password never logged */
	char *ca_file;                  /* NULL: the system store */
	char *helo;
	int timeout;                    /* seconds per connect, read or write */
	char *resolver;                 /* direct MX: DNS server "ADDR[:PORT]", NULL = system */
	char *mx_port;                  /* direct MX: port, "25" */
};

/* Parse "smtps://host[:port]", "smtp+starttls://host[:port]", "smtp://host[:port]". */
int relay_parse_url(const char *url, struct relay_conf *rc, const char **why);
void relay_conf_clear(struct relay_conf *rc);
int relay_conf_copy(struct relay_conf *dst, const struct relay_conf *src);

/* What one attempt met that TLS-RPT (tlsrpt.h) counts, for a policy's session: relay_deliver()
 * fills it when given. A kept connection carries the verdict of the handshake it was made with. */
struct relay_tlsrpt {
	const char *result;             /* NULL: nothing failed that TLS-RPT counts; else an RFC 8460
	                                   4.3 result-type (a static string) */
	char reason[300];               /* failure-reason-code: what failed, in words */
	char local[48];                 /* sending-mta-ip: our address on the connection, "" when
	                                   none was made */
	int tls;                        /* the session ran inside TLS */
};

#define RELAY_ETLS (-2)
#define RELAY_CACHE_IDLE 30     /* seconds a kept connection may wait for the next message */

/* A kept connection: the next message to the same destination (same scheme, host, port and
 * user) goes over it after RSET instead of a new connect, TLS and AUTH. It may be moved by
 * value (the runner pools them). Zero-fill before use; relay_cache_close() sends QUIT, waits
 * for the reply and closes (safe when empty). */
struct relay_cache {
	int open;
	char key[600];
	long long used;
	struct transport *t;
	struct smtp_client *last;       /* the finished client whose session is reused */
	struct smtp_client_conf conf;   /* owned copy: last points at it */
	char helo[256], user[256], password[256];
	char tls_desc[160];
	struct relay_tlsrpt rpt;        /* what the connection's TLS met */
};

void relay_cache_close(struct relay_cache *cache);

/* The TLS handshake on t that the policy asks for: a CA and name (verify), TLSA records (DANE),
 * or none checked (may, encrypt); under MTA-STS testing the certificate is looked at but never
 * refused (relay_deliver() reports it). transport.h's codes. Also `check --mx`'s probe, so it
 * checks exactly as delivery does. */
int relay_start_tls(struct transport *t, const struct tls_policy *tls);

/* The policy of the destination's smarthost. */
void relay_tlspolicy_conf(const struct relay_conf *rc, struct tlspolicy_conf *out);

/* policy: how this connection must be encrypted (tlspolicy.h), borrowed for the call; tls gets
 * what was negotiated, for the log; rpt (NULL: not wanted) what TLS-RPT counts: a refused or
 * missing STARTTLS, a failed handshake, and under MTA-STS testing (policy->sts_testing) a
 * certificate that enforce would have refused although the message went. */
int relay_deliver(const struct relay_conf *rc, const struct tls_policy *policy, const struct spool_entry *e,
                  const size_t *idx, size_t n,
                  struct smtp_client_result *results, char *err, size_t errlen, char *tls, size_t tlslen,
                  struct relay_cache *cache, struct relay_tlsrpt *rpt);

#endif
