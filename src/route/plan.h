/*
 * plan.h - where mail for one domain goes and with which TLS: the one entry point that both
 * direct delivery (deliver/remote.c) and `mailport check DOMAIN --mx` (check/mxpolicy.c) ask,
 * so that the check can never say something delivery would do differently.
 *
 * route_plan_new() does, for the destination domain, what comes before any connection: the DNS
 * context (validating when the domain's level needs DANE: tlspolicy.h), the MX lookup (mx.h),
 * and the domain's MTA-STS policy (mtasts.h). The plan then holds the MX hosts in the order
 * they are to be tried, and for each a struct route_hop: whether it may be used now, the TLS it
 * requires (tlspolicy.h's struct tls_policy: DANE TLSA records, an MTA-STS match, [relay]
 * tls_policy for the domain), whether a failed handshake may be retried in plaintext, and why,
 * in words for the log and for the check.
 *
 * A host's hop is decided when it is first asked for (route_plan_hop), on the plan's DNS
 * context: a delivery that the first host takes never looks up the TLSA records of the others,
 * and each decision is logged where it is made, as before there was a plan.
 *
 * Ownership: the caller frees the plan with route_plan_free() (NULL is a no-op). The plan
 * borrows the tlspolicy, which must outlive it, and copies the domain. Everything it hands out
 * (hops, their tls_policy, the MTA-STS policy, the DNS context, the words) is borrowed from the
 * plan, valid until route_plan_free(). A plan belongs to the thread that made it (the DNS
 * context is not shared). Blocking: worker threads and command-line verbs only.
 */
#ifndef MAILPORT_ROUTE_PLAN_H
#define MAILPORT_ROUTE_PLAN_H

#include <stddef.h>

#include "mx.h"
#include "tlspolicy.h"

struct route_plan;
struct dns;
struct sts_policy;

#define ROUTE_WHY_MAX 600

struct route_hop {
	const struct mx_host *mx;       /* the host: name, preference, secure, addresses */
	int status;                     /* 0: use it, under tls; -1: not now (bogus DNSSEC, a failed
	                                   TLSA lookup, dane-only without DANE, not named by an
	                                   enforced MTA-STS policy); TLSPOLICY_EREQUIRETLS: not for
	                                   this message (RFC 8689 4.2.1) */
	struct tls_policy tls;          /* status 0: the TLS the host must be reached with; its
	                                   source ("dane", "mta-sts", "policy" ...) says why */
	int plaintext_retry;            /* status 0: a failed handshake may be retried once in
	                                   plaintext, under plaintext (tlspolicy_fallback) */
	struct tls_policy plaintext;
	char why[ROUTE_WHY_MAX];        /* status != 0: why not, in words; "" when usable */
	const char *dane;               /* what its TLSA lookup found, in words; "" when none was made */
};

/* The plan for domain under tp, for a message that wants want (tlspolicy.h's TLSPOLICY_*; 0
 * for the check). NULL with err when there is none to be had: out of memory, or no DNS
 * context (then nothing was looked up). An MX lookup that failed still gives a plan, without
 * hosts: route_plan_mx() says how it failed. */
struct route_plan *route_plan_new(const struct tlspolicy *tp, const char *domain, unsigned want, char *err,
                                  size_t errlen);
void route_plan_free(struct route_plan *p);

/* mx.h's status of the MX lookup (MX_OK, MX_TEMP, MX_NXDOMAIN, MX_NULL, MX_NOHOST); *why: the
 * error in words when it is not MX_OK, else "". */
int route_plan_mx(const struct route_plan *p, const char **why);
/* 1 when the plan's DNS answers are validated (DNSSEC), else 0 and *why (dns.h). */
int route_plan_dnssec(const struct route_plan *p, const char **why);
/* The domain's MTA-STS policy (tlspolicy_sts), looked up only when the MX lookup succeeded and
 * the domain's level asks for one: found 0 when there is none. *err: "", or words for the
 * caller to log: why a policy announced could not be had (it then counts as none, RFC 8461
 * 5.1), or what the TXT lookup met (an _mta-sts name that does not exist says so). */
const struct sts_policy *route_plan_sts(const struct route_plan *p, const char **err);
/* The plan's DNS context, for further questions about the domain (TLS-RPT's rua). */
struct dns *route_plan_dns(const struct route_plan *p);

/* How many hosts, and host i (i < route_plan_nhops()) in the order they are to be tried,
 * decided on first asking. Never NULL for such an i. */
size_t route_plan_nhops(const struct route_plan *p);
const struct route_hop *route_plan_hop(struct route_plan *p, size_t i);

#endif
