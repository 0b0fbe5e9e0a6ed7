/*
 * dnslookup.h - msg/lookup.h's questions (SPF, DKIM keys, DMARC) answered on a dns context:
 * what the server's sender checks and `mailport check --domain` ask with.
 */
#ifndef MAILPORT_DNSLOOKUP_H
#define MAILPORT_DNSLOOKUP_H

#include "../msg/lookup.h"

struct dns;

/* lk answers through d (borrowed: d must outlive lk's use). */
void dns_lookup_init(struct lookup *lk, struct dns *d);

#endif
