/*
 * discover.h - which servers to probe for an e-mail address: RFC 6186 SRV records
 * (_submissions._tcp, _submission._tcp; "." = not offered), else the autoconfig XML many
 * providers publish (Thunderbird's format, fetched over HTTPS with libcurl, certificate
 * verified), else a guess from MX; and always the first MX host for port 25.
 *
 * check_discover() blocks (DNS and HTTPS within opts->timeout_ms each) and fills *d; every
 * step it took, and what each answered, is in d->steps for the report. autoconfig_parse() is
 * pure (libxml2, no network, no entity expansion) so it can be tested and fuzzed.
 */
#ifndef MAILPORT_CHECK_DISCOVER_H
#define MAILPORT_CHECK_DISCOVER_H

#include <stddef.h>

#include "check.h"

#define DISCOVER_MAX_TARGETS 8
#define DISCOVER_MAX_STEPS 8

struct check_target {
	char host[256];
	unsigned port;
	enum check_role role;
	char source[16];
	int published_plain;    /* autoconfig said socketType plain: clients told to send unencrypted */
};

struct discover_step {
	char source[16];        /* "srv", "autoconfig", "mx" */
	char query[300];        /* the name or URL asked */
	char result[400];       /* what it answered, in words */
};

struct discovery {
	char domain[256];
	char source[16];        /* where the submission servers came from: "srv", "autoconfig", "mx", "none" */
	struct discover_step steps[DISCOVER_MAX_STEPS];
	size_t nsteps;
	struct check_target targets[DISCOVER_MAX_TARGETS];
	size_t ntargets;
	int nxdomain;           /* the domain does not exist */
	int dns_failed;         /* DNS did not answer (SERVFAIL, timeout): nothing is known */
	char dns_error[256];    /* the first such failure, in words */
};

struct discover_opts {
	const char *resolver;
	const char *cafile;
	long timeout_ms;
	const char *const *connect_to;  /* curl's "HOST:PORT:CHOST:CPORT" rules for HTTPS too */
	size_t nconnect_to;
};

void check_discover(const char *address, const struct discover_opts *o, struct discovery *d);

/* The SMTP servers of an autoconfig document; %EMAILDOMAIN% in a host name becomes domain.
 * Returns 0 (with *n possibly 0) or -1 when the document is not well-formed XML. */
int autoconfig_parse(const char *xml, size_t len, const char *domain, struct check_target *out, size_t max,
                     size_t *n);

#endif
