/*
 * dane.h - the TLSA records of an SMTP server (RFC 6698, RFC 7671, RFC 7672), looked up on a
 * validating dns context: what DANE says about one MX host, for tlspolicy.c to decide and
 * transport.c to check the certificate against.
 *
 * Only DANE-TA(2) and DANE-EE(3) records are usable for SMTP (RFC 7672 3.1.3); PKIX-TA(0) and
 * PKIX-EE(1), unknown selectors or matching types, and data of the wrong length are counted
 * as unusable. A struct dane_rrset is a plain value (zero-filled before use); nothing to free.
 */
#ifndef MAILPORT_DANE_H
#define MAILPORT_DANE_H

#include <stddef.h>

#include "../tls/tlsa.h"

enum dane_status {
	DANE_NONE = 0,                  /* no secure TLSA RRset (insecure, NXDOMAIN, NODATA): the next policy */
	DANE_USABLE = 1,                /* at least one usable record: TLS mandatory, checked against them */
	DANE_UNUSABLE = 2,              /* a secure RRset without one usable record: TLS mandatory,
	                                   not authenticated (RFC 7672 2.2) */
	DANE_DEFER = -1,                /* bogus, or the lookup failed: this host cannot be used now */
};

struct dns;

/* _PORT._tcp.MX on d (MX: the host name, reached through a secure MX lookup). err says why on
 * DANE_DEFER, and what was found otherwise. */
enum dane_status dane_lookup(struct dns *d, const char *mx, unsigned port, struct dane_rrset *out, char *err,
                             size_t errlen);
/* One record's rdata (usage, selector, matching type, data) into rr: 1 usable, 0 not. Pure
 * (unit tests and fuzzing). */
int dane_parse_tlsa(const unsigned char *rdata, size_t len, struct dane_tlsa *rr);

#endif
