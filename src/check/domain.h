/*
 * domain.h - `mailport check --domain DOMAIN`: what a sending and receiving domain publishes in
 * DNS, compared with what it needs: MX, the host's address, SPF (syntax, the 10-lookup limit,
 * and whether it lets this server send), DKIM keys (against the key files of --config),
 * DMARC (syntax, policy, alignment with the DKIM signing domain), the submission SRV records,
 * TLS-RPT, MTA-STS, autoconfig, and TLSA records (against the configured certificate, and
 * against the certificate each port presents, probed). With a configuration the expectations
 * are check/records.h's, the very records `mailport dns` prints; without one, what is
 * published is judged on its own.
 *
 * A struct dom_report is a plain value check_domain() fills; nothing to free.
 */
#ifndef MAILPORT_CHECK_DOMAIN_H
#define MAILPORT_CHECK_DOMAIN_H

#include <stdio.h>

struct dom_connect {                /* --connect-to HOST:PORT:HOST2:PORT2 */
	char host[256], port[8], chost[256], cport[8];
};

/* The first rule for host:port (an empty host or port matches any, as curl's option), or NULL.
 * An empty HOST2 or PORT2 in the rule keeps the original. */
const struct dom_connect *dom_connect_find(const struct dom_connect *ct, size_t n, const char *host, unsigned port);

struct dom_opts {
	const char *resolver;           /* dns.h's; NULL = /etc/resolv.conf */
	long timeout_ms;
	const char *helo;
	const char *config;             /* mailport.conf; NULL: judge what is published on its own */
	const struct dom_connect *connect;
	size_t nconnect;
};

#define DOM_MAX_FINDINGS 64

enum dom_severity { DOM_INFO, DOM_WARNING, DOM_BROKEN };

struct dom_finding {
	enum dom_severity severity;     /* DOM_INFO also for "all is well" lines (ok = 1) */
	int ok;
	char record[16];                /* "MX", "SPF", "DKIM", "DMARC", "SRV", "TLS-RPT", "MTA-STS", "TLSA" ... */
	char code[32];                  /* stable, for --json */
	char text[600];
};

struct dom_report {
	char domain[256];
	char host[256];                 /* the mail host: the configuration's, else the first MX */
	char address[48];               /* its address, as DNS says */
	struct dom_finding f[DOM_MAX_FINDINGS];
	size_t n;
};

/* 0, or -1 when the configuration cannot be loaded (its errors, file:line, on stderr). */
int check_domain(const char *domain, const struct dom_opts *o, struct dom_report *r);
/* 0: nothing broken or to warn about; 1: warnings; 2: something broken. */
int check_domain_exit(const struct dom_report *r);
void check_domain_text(FILE *out, const struct dom_report *r);
int check_domain_json(FILE *out, const struct dom_report *r);

#endif
