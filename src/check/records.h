/*
 * records.h - the DNS records a domain served by this server needs, from its configuration:
 * what `mailport dns` prints and what `mailport check --domain` compares with what is
 * published. One list, so the two can never disagree.
 *
 * A struct dns_rec is a plain value; records_for() fills the caller's array.
 */
#ifndef MAILPORT_CHECK_RECORDS_H
#define MAILPORT_CHECK_RECORDS_H

#include <stddef.h>

struct config;

enum rec_kind { REC_MX, REC_ADDR, REC_SPF, REC_DKIM, REC_DMARC, REC_SRV, REC_TLSRPT, REC_MTASTS, REC_TLSA,
                REC_AUTOCONFIG };

#define RECORDS_MAX 64

struct dns_rec {
	enum rec_kind kind;
	int publish;                    /* 0: printed commented out, with what to do first */
	char name[600];                 /* absolute, with the final dot */
	char type[8];
	char data[1500];                /* zone-file data */
	char why[600];
	/* what check compares */
	char value[1100];               /* DKIM: p= (base64); TLSA: the 3 1 1 digest (hex); SRV: the target; ADDR: the address */
	char selector[64];              /* DKIM */
	char ktype[8];                  /* DKIM: rsa or ed25519 */
	unsigned port;                  /* SRV, TLSA: the port; 0 for SRV = not offered */
	int role;                       /* TLSA: the listener role whose port it is */
};

/* Every record for domain (lower case) under configuration c, in the order `mailport dns`
 * prints them; how many. Problems that leave a record out (an unreadable key or certificate)
 * are written to warn, one line each. */
size_t records_for(const struct config *c, const char *domain, struct dns_rec *out, size_t max, char *warn,
                   size_t warnlen);

/* TLSA 3 1 1 (DANE-EE, SPKI, SHA-256) of the first certificate in file, as hex: 0 or -1. */
int records_tlsa_311(const char *file, char *hex, size_t hexlen);

#endif
