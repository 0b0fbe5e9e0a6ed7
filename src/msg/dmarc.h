/*
 * dmarc.h - DMARC (RFC 7489): the policy record found for a From: domain (its own _dmarc, else
 * its organizational domain's), the organizational domain from the Public Suffix List
 * (libpsl, the newest of its built-in list and Debian's publicsuffix file), and the verdict:
 * pass when SPF passed for an aligned MAIL FROM domain or a DKIM signature passed for an
 * aligned d=. Pure but for libpsl: DNS goes through struct lookup.
 */
#ifndef MAILPORT_DMARC_H
#define MAILPORT_DMARC_H

#include <stddef.h>

#include "dkimverify.h"
#include "lookup.h"

enum dmarc_result { DMARC_NONE, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR };

struct dmarc_record {
	char p[12], sp[12];             /* none, quarantine, reject; sp "" = as p */
	int adkim_strict, aspf_strict;
	unsigned pct;
	char rua[512];                  /* as published, "" = none */
};

struct dmarc_eval {
	enum dmarc_result result;
	char from_domain[256];          /* RFC5322.From's domain, lower case */
	char policy[12];                /* the policy that applies to it: none, quarantine, reject; "" = no record */
	int reject;                     /* fail, the policy is reject, and pct= chose this message */
	char why[320];
};

const char *dmarc_result_name(enum dmarc_result r);

/* A "v=DMARC1; ..." record: 0, or -1 with why. */
int dmarc_record_parse(const char *txt, struct dmarc_record *r, char *why, size_t whylen);
/* The organizational domain of domain (lower case) into out. */
void dmarc_org_domain(const char *domain, char *out, size_t outlen);
/* Whether two domains are aligned: the same (strict), or of one organizational domain. */
int dmarc_aligned(const char *a, const char *b, int strict);

/* The verdict for a message. from_domain: the domain of its one From: address (NULL when it
 * has none, or several: permerror, RFC 7489 6.6.1). spf_domain: the MAIL FROM (or HELO) domain
 * SPF judged, spf_pass whether it passed. sigs: the DKIM results. rnd100: a number in
 * [0, 100) for pct= sampling. */
void dmarc_check(const struct lookup *lk, const char *from_domain, const char *spf_domain, int spf_pass,
                 const struct dkim_vsig *sigs, size_t nsigs, unsigned rnd100, struct dmarc_eval *out);

#endif
