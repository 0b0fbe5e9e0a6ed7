/*
 * dmarc.h - DMARC (RFC 7489): the policy record found for a From: domain (its own _dmarc, else
 * its organizational domain's), the organizational domain from the Public Suffix List
 * (libpsl, the newest of its built-in list and Debian's publicsuffix file), and the verdict:
 * pass when SPF passed for an aligned MAIL FROM domain or a DKIM signature passed for an
 * aligned d=. Pure but for libpsl: DNS goes through struct lookup.
 *
 * A From: field may name several domains (several addresses, or several From: fields): each
 * is judged on its own and the strictest failing policy applies (RFC 7489 6.6.1), so adding an
 * address of one's own cannot take a message out from under another domain's p=reject.
 */
#ifndef MAILPORT_DMARC_H
#define MAILPORT_DMARC_H

#include <stddef.h>

#include "dkimverify.h"
#include "lookup.h"

/* The longest record parsed. RFC 7489 sets no bound; real records are under 300 octets, and
 * one longer than this is taken as no policy at all (6.6.3 step 6), never cut short. */
#define DMARC_RECORD_MAX 2048
/* Distinct From: domains judged for one message. Each costs up to two DNS lookups; a From: naming
 * more is not checked domain by domain (permerror) but refused under dmarc_reject: judging only
 * the first ones would let a sender list harmless domains ahead of the one it forges. */
#define DMARC_AUTHORS_MAX 8

enum dmarc_result { DMARC_NONE, DMARC_PASS, DMARC_FAIL, DMARC_TEMPERROR, DMARC_PERMERROR };

struct dmarc_record {
	char p[12], sp[12];             /* none, quarantine, reject (lower case); sp "" = as p */
	int adkim_strict, aspf_strict;
	unsigned pct;
	char rua[512];                  /* as published, "" = none */
};

/* One From: domain's own verdict. */
struct dmarc_author {
	char domain[256];               /* lower case, no trailing dot */
	enum dmarc_result result;
	char policy[12];                /* as dmarc_eval.policy, for this domain */
};

struct dmarc_eval {
	enum dmarc_result result;
	char from_domain[256];          /* the From: domain the result is about: of several, the one that
	                                   decided it (the strictest failing policy); "" = none */
	char policy[12];                /* the policy that applies to it: none, quarantine, reject, after
	                                   pct= for a failure; "" = no record */
	int reject;                     /* refuse under dmarc_reject: fail with the policy reject (pct= chose
	                                   this message), or more From: domains than DMARC_AUTHORS_MAX */
	char why[320];
	struct dmarc_author authors[DMARC_AUTHORS_MAX];
	size_t nauthors;                /* the distinct From: domains judged, in the order written */
};

const char *dmarc_result_name(enum dmarc_result r);

/* A DMARC record (RFC 7489 6.3, 6.4): tag names and the values of p, sp, adkim and aspf in any
 * case; white space around "=" and ";"; unknown tags ignored. Returns
 *   0   a policy record, every tag understood;
 *   1   a policy record with errors a receiver works around, said in why: a bad pct, adkim or aspf
 *       value gives way to its default (6.3), and a missing or bad p= (or a bad sp=) next to a
 *       valid rua= is read as p=none (6.6.3 step 6);
 *   -1  no policy record, said in why: it does not begin with v=DMARC1 (exactly that case, 6.3),
 *       a tag appears twice (the DKIM tag-list rules of RFC 6376 3.2, which 6.3 adopts), or no
 *       valid p= and no valid rua=. A receiver then applies no DMARC to the domain.
 * r is filled for 0 and 1. */
int dmarc_record_parse(const char *txt, struct dmarc_record *r, char *why, size_t whylen);
/* The organizational domain of domain (lower case) into out. */
void dmarc_org_domain(const char *domain, char *out, size_t outlen);
/* Whether two domains are aligned: the same (strict), or of one organizational domain. */
int dmarc_aligned(const char *a, const char *b, int strict);

/* The verdict for a message whose From: names the n distinct domains from[] (6.6.1): n == 0 is
 * permerror (no From: address); n > DMARC_AUTHORS_MAX is permerror with reject set, and nothing
 * is looked up (from[] is not read). spf_domain: the MAIL FROM (or HELO) domain SPF judged,
 * spf_pass whether it passed. sigs: the DKIM results. rnd100: a number in [0, 100) for pct=
 * sampling. */
void dmarc_check_authors(const struct lookup *lk, const char *const *from, size_t n, const char *spf_domain,
                         int spf_pass, const struct dkim_vsig *sigs, size_t nsigs, unsigned rnd100,
                         struct dmarc_eval *out);
/* The same for one domain (NULL: none, permerror). */
void dmarc_check(const struct lookup *lk, const char *from_domain, const char *spf_domain, int spf_pass,
                 const struct dkim_vsig *sigs, size_t nsigs, unsigned rnd100, struct dmarc_eval *out);

#endif
