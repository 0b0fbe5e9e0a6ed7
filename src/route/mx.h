/*
 * mx.h - where mail for a domain goes (RFC 5321 §5.1), through libunbound: MX records by
 * preference (shuffled among equal preferences), the domain itself when it has no MX
 * (implicit MX), RFC 7505 null MX as "accepts no mail". MX hosts that do not resolve are left
 * out; each host comes with its IPv6 and IPv4 addresses.
 *
 * resolver: "ADDR" or "ADDR:PORT" (IPv6 as [ADDR]:PORT) of a DNS server to ask instead of the
 * system's (tests, split DNS); NULL = /etc/resolv.conf. Blocking; call from a worker thread.
 */
#ifndef MAILPORT_MX_H
#define MAILPORT_MX_H

#include <stddef.h>

#define MX_MAX_HOSTS 16
#define MX_MAX_ADDRS 8

enum mx_status {
	MX_OK = 0,
	MX_TEMP = -1,           /* SERVFAIL, REFUSED, timeout: try again later */
	MX_NXDOMAIN = -2,       /* the domain does not exist: bounce */
	MX_NULL = -3,           /* null MX: the domain accepts no mail: bounce */
	MX_NOHOST = -4,         /* MX records, but none of their hosts resolves: try later */
};

struct mx_host {
	char name[256];
	unsigned preference;
	int secure;             /* the MX RRset and this host's addresses validated (DNSSEC):
	                           only then may its TLSA records be used (RFC 7672 2.2) */
	char addrs[MX_MAX_ADDRS][46];
	size_t naddrs;
};

/* A resolver given is asked about every name, special-use ones too (dns.h's DNS_ASK_ALL): it
 * is the admin's own DNS. Each query is bounded by timeout_ms (0 = dns.h's default). */
int mx_lookup(const char *resolver, long timeout_ms, const char *domain, struct mx_host *hosts, size_t *nhosts,
              char *err, size_t errlen);
/* The same on the caller's context (dns.h: a validating one fills each host's secure);
 * MX_TEMP also when an answer was bogus (err says so). */
struct dns;
int mx_lookup_dns(struct dns *ctx, const char *domain, struct mx_host *hosts, size_t *nhosts, char *err,
                  size_t errlen);

#endif
