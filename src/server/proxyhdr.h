/*
 * proxyhdr.h - the PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that
 * a load balancer sends before the client's first octet, naming the client it relays. Pure:
 * octets in, an address out; the socket handling is conn.c's.
 *
 * Reading it must not take one octet of what follows (on an implicit-TLS port the ClientHello
 * comes right after), so the adapter asks proxyhdr_length() how long the header is before it
 * reads: it answers as soon as the octets seen so far decide it.
 */
#ifndef MAILPORT_PROXYHDR_H
#define MAILPORT_PROXYHDR_H

#include <stddef.h>

#define PROXYHDR_V1_MAX 107             /* the spec's bound, CRLF included */
#define PROXYHDR_MAX    (16 + 1024)     /* v2: we take TLVs up to this, and ignore them */

struct proxyhdr {
	int version;                    /* 1 or 2 */
	int local;                      /* v2 LOCAL or v1 UNKNOWN: no client named (a health check):
	                                   the connection's own addresses stand */
	char src[46], dst[46];          /* numeric; IPv4 or IPv6 */
	unsigned src_port, dst_port;
};

/* Given the first n octets received: the header's whole length once they decide it, 0 while
 * more are needed, -1 when they cannot begin a PROXY header (why says what is wrong). Never
 * more than PROXYHDR_MAX. */
long proxyhdr_length(const unsigned char *p, size_t n, const char **why);

/* p holds exactly one whole header of n octets (n from proxyhdr_length). 0 with *h filled, or
 * -1 with why. */
int proxyhdr_parse(const unsigned char *p, size_t n, struct proxyhdr *h, const char **why);

#endif
