/*
 * lookup.h - the DNS questions SPF, DKIM verification and DMARC ask, as callbacks: the rules
 * (spf.c, dkimverify.c, dmarc.c) stay pure and are unit-tested with a table of answers; the
 * server answers them with libunbound (server/sendercheck.c).
 *
 * Each callback returns LOOKUP_OK (n may be 0: the name exists without such records),
 * LOOKUP_NXDOMAIN or LOOKUP_TEMP (timeout, SERVFAIL, a bogus DNSSEC answer).
 *
 * Names, asked and answered, are the octets of their labels joined by dots, whatever the octets
 * (a macro may put a space in one, RFC 7208 7.3); the answering side writes them for DNS. A NUL
 * octet inside a TXT string comes up as DEL (0x7f), which no record these rules read allows
 * either: such a record is refused, not cut short at the NUL.
 */
#ifndef MAILPORT_LOOKUP_H
#define MAILPORT_LOOKUP_H

#include <stddef.h>

#define LOOKUP_OK       0
#define LOOKUP_TEMP     (-1)
#define LOOKUP_NXDOMAIN (-2)

#define LOOKUP_NAME_MAX 256
#define LOOKUP_ADDR_MAX 46

struct lookup {
	void *arg;
	/* TXT records of name, each one's strings joined: *n NUL-terminated strings back to back
	 * in buf (those that fit). */
	int (*txt)(void *arg, const char *name, char *buf, size_t buflen, size_t *n);
	/* A (v6 == 0) or AAAA (v6 == 1) records of name as text. */
	int (*addrs)(void *arg, const char *name, int v6, char out[][LOOKUP_ADDR_MAX], size_t max, size_t *n);
	/* MX targets of name (preference does not matter here). */
	int (*mx)(void *arg, const char *name, char out[][LOOKUP_NAME_MAX], size_t max, size_t *n);
	/* PTR names of an address given as text. */
	int (*ptr)(void *arg, const char *ip, char out[][LOOKUP_NAME_MAX], size_t max, size_t *n);
};

#endif
