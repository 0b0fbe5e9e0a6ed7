/*
 * spf.h - Sender Policy Framework (RFC 7208): check_host() for a client address, a domain and
 * the sender it came with. Pure: every DNS question goes through struct lookup (lookup.h).
 *
 * The limits of RFC 7208 4.6.4 hold: at most 10 terms that query DNS (include, a, mx, ptr,
 * exists, redirect), at most 10 MX or PTR names each, at most 2 lookups that find nothing
 * ("void lookups"); past any of them the result is permerror. A record is checked whole
 * against the grammar of 4.5 and 7.1 before any term is evaluated: every name a term gives (a,
 * mx, ptr, include, exists, redirect=, exp=) must be a domain-spec, every modifier's value a
 * macro-string. Macros (section 7) are expanded, %{p} with the client's validated PTR name (its
 * lookups made only when a record asks). exp= is checked but not fetched: the receiver here
 * never rejects on SPF, so no explanation is ever shown. A local part given quoted
 * ("a b"@example.com) stands for itself, unquoted, in %{l} and %{s}.
 */
#ifndef MAILPORT_SPF_H
#define MAILPORT_SPF_H

#include <stddef.h>

#include "lookup.h"

enum spf_result { SPF_NONE, SPF_NEUTRAL, SPF_PASS, SPF_FAIL, SPF_SOFTFAIL, SPF_TEMPERROR, SPF_PERMERROR };

/* "none", "pass", ... as Authentication-Results (RFC 8601 2.7.2) and Received-SPF name them. */
const char *spf_result_name(enum spf_result r);

/* ip: the client's address as text (IPv4 or IPv6). domain: the domain to check (the MAIL FROM
 * domain, or the HELO name for a null sender). sender: local@domain (for a null sender,
 * "postmaster@" + the HELO name, RFC 7208 2.4). helo: the HELO/EHLO name. why gets a short
 * reason in words (the mechanism that matched, or the error). */
enum spf_result spf_check(const struct lookup *lk, const char *ip, const char *domain, const char *sender,
                          const char *helo, char *why, size_t whylen);

/* The same, and how many DNS-querying terms the evaluation took (RFC 7208 4.6.4's count, at
 * most 10 before permerror), for `mailport check`. */
enum spf_result spf_check_counted(const struct lookup *lk, const char *ip, const char *domain, const char *sender,
                                  const char *helo, char *why, size_t whylen, unsigned *lookups);

/* Whether record is one syntactically valid SPF record ("v=spf1 ..."), and how many DNS-querying
 * terms it has itself (includes are not followed). 0, or -1 with why. For `mailport check`. */
int spf_record_syntax(const char *record, unsigned *dns_terms, char *why, size_t whylen);

#endif
