/*
 * tlsrpt.h - SMTP TLS Reporting (RFC 8460): what each delivery attempt under a DANE or MTA-STS
 * policy met, kept per UTC day, and once a day one aggregate report per policy domain (the
 * JSON of RFC 8460 4, gzip) to the rua of its _smtp._tls TXT record: mailto: through our own
 * queue, https: as a POST.
 *
 * Sessions are appended to DIR/YYYY-MM-DD, one tab-separated line each (the sending address
 * last, so that lines written before it was kept still read, without it; no fsync: a report is
 * a statistic, and a crash loses at most the page cache's last lines); DIR/YYYY-MM-DD.sent
 * marks a day whose reports went out. tlsrpt_note() may be called from every worker thread at
 * once. Sessions without a policy (no DANE, no MTA-STS) are not kept: RFC 8460 reports are
 * about policies, and a domain without one has nothing to learn from them.
 */
#ifndef MAILPORT_TLSRPT_H
#define MAILPORT_TLSRPT_H

#include <stddef.h>

#define TLSRPT_STRINGS_MAX 16

struct tlsrpt_session {
	const char *domain;             /* the policy domain: the recipient domain */
	const char *type;               /* "tlsa" or "sts" */
	const char *strings[TLSRPT_STRINGS_MAX];    /* policy-string: TLSA records, or the policy's lines */
	size_t nstrings;
	const char *mx_patterns[TLSRPT_STRINGS_MAX];    /* sts: the policy's mx lines */
	size_t npatterns;
	const char *mx_host;            /* the MX host tried ("" when none was reached) */
	const char *ip;                 /* its address (for a host skipped before connecting, the
	                                   one it would have been reached at), "" when none */
	const char *result;             /* NULL: a successful session; else an RFC 8460 4.3 result-type */
	const char *reason;             /* failure-reason-code: our words, for a human */
	const char *sending_ip;         /* sending-mta-ip: our address on the connection (towards
	                                   ip when none was made), "" when not known */
};

/* Append one session to dir's file of today (UTC). Failures are logged once and ignored. */
void tlsrpt_note(const char *dir, const struct tlsrpt_session *s);

/* The result-type (RFC 8460 4.3) of a failed attempt whose error text is err, or NULL when
 * it was not a TLS failure (a refused connection, a timeout before TLS): not counted. */
const char *tlsrpt_classify(const char *err);

struct tlsrpt_report {
	const char *org;                /* organization-name: the host name */
	const char *contact;            /* contact-info */
	const char *day;                /* YYYY-MM-DD, UTC */
	const char *domain;
};

/* Aggregate the session lines (a day file's text) of r->domain into the report's JSON: a
 * malloc()ed string, or NULL. Pure, for the tests and the fuzzer. */
char *tlsrpt_json(const struct tlsrpt_report *r, const char *lines, size_t len);

struct dns;

struct spool;

struct tlsrpt_send_conf {
	const char *dir;
	const char *org, *contact;
	const char *ca_file;            /* for https: rua endpoints; NULL: the system store */
	long timeout_ms;
	struct spool *spool;            /* mailto: reports are queued here */
	void (*queued)(void *arg, const char *qid);     /* then this is told, to deliver it */
	void *arg;
};

/* Send day's reports: for every domain with sessions that day whose _smtp._tls TXT names a
 * rua (looked up on d). force: even when the day is marked sent. Returns how many reports went
 * out (queued or posted), -1 when the day has nothing (or was sent); the log says the rest. */
int tlsrpt_send_day(const struct tlsrpt_send_conf *c, struct dns *d, const char *day, int force);

/* The rua of _smtp._tls.domain (RFC 8460 3), looked up on d: "" when the domain asks for no
 * reports. */
void tlsrpt_rua(struct dns *d, const char *domain, char *rua, size_t rualen);

/* "today" and "yesterday" (UTC) as YYYY-MM-DD; another text is taken as it is when it has
 * that form. 0, or -1. */
int tlsrpt_day(const char *word, char out[11]);

#endif
