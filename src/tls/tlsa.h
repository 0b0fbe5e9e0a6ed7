/*
 * tlsa.h - TLSA records (RFC 6698) as values: what route/dane.c finds in DNS for an MX host and
 * net/transport.c checks its certificate against. A struct dane_rrset is a plain value
 * (zero-filled before use); nothing to free.
 */
#ifndef MAILPORT_TLSA_H
#define MAILPORT_TLSA_H

#include <stddef.h>

#define DANE_MAX_RECORDS 8
#define DANE_MAX_DATA 2048      /* a whole certificate (matching type 0) fits; larger ones are unusable */

struct dane_tlsa {
	unsigned char usage, selector, mtype;
	size_t len;
	unsigned char data[DANE_MAX_DATA];
};

struct dane_rrset {
	char base[256];                 /* the TLSA base domain: the MX host name */
	struct dane_tlsa rr[DANE_MAX_RECORDS];
	size_t n;                       /* usable records */
	size_t unusable;
	char words[300];                /* what the lookup found, for reports ("" before one) */
};

#endif
