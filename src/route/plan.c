/*
 * plan.c - a domain's plan (plan.h): the tlspolicy.h sequence (the DNS context, the MTA-STS
 * policy, each host's policy and its plaintext fallback) around mx.h's lookup, in one place.
 * Not the decisions themselves (tlspolicy.c) and not the connections (deliver/, check/).
 */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../net/dns.h"
#include "dane.h"
#include "mtasts.h"

struct route_plan {
	const struct tlspolicy *tp;     /* borrowed */
	char *domain;
	unsigned want;
	struct dns *d;
	int mx_status;
	char mx_error[ROUTE_WHY_MAX];
	struct sts_policy sts;
	char sts_error[ROUTE_WHY_MAX];
	struct mx_host hosts[MX_MAX_HOSTS];
	size_t nhosts;
	struct route_hop hops[MX_MAX_HOSTS];
	struct dane_rrset *dane[MX_MAX_HOSTS];  /* what hops[i].tls points at; NULL before deciding */
	unsigned char decided[MX_MAX_HOSTS];
};

struct route_plan *route_plan_new(const struct tlspolicy *tp, const char *domain, unsigned want, char *err,
                                  size_t errlen)
{
	struct route_plan *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->domain = strdup(domain)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(p);
		return NULL;
	}
	p->tp = tp;
	p->want = want;
	if ((p->d = tlspolicy_dns(tp, domain, want, err, errlen)) == NULL) {
		route_plan_free(p);
		return NULL;
	}
	p->mx_status = mx_lookup_dns(p->d, domain, p->hosts, &p->nhosts, p->mx_error, sizeof(p->mx_error));
	if (p->mx_status != MX_OK) {
		p->nhosts = 0;
		return p;
	}
	p->mx_error[0] = '\0';
	tlspolicy_sts(tp, p->d, domain, want, &p->sts, p->sts_error, sizeof(p->sts_error));
	return p;
}

void route_plan_free(struct route_plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < MX_MAX_HOSTS; i++)
		free(p->dane[i]);
	dns_free(p->d);
	free(p->domain);
	free(p);
}

int route_plan_mx(const struct route_plan *p, const char **why)
{
	*why = p->mx_error;
	return p->mx_status;
}

int route_plan_dnssec(const struct route_plan *p, const char **why)
{
	return dns_validating(p->d, why);
}

const struct sts_policy *route_plan_sts(const struct route_plan *p, const char **err)
{
	*err = p->sts_error;
	return &p->sts;
}

struct dns *route_plan_dns(const struct route_plan *p)
{
	return p->d;
}

size_t route_plan_nhops(const struct route_plan *p)
{
	return p->nhosts;
}

/* Host i's policy (tlspolicy_mx, which looks up its TLSA records when DANE may apply) and what
 * a failed handshake then allows (tlspolicy_fallback). */
static void decide(struct route_plan *p, size_t i)
{
	struct route_hop *h = &p->hops[i];

	h->mx = &p->hosts[i];
	h->dane = "";
	if ((p->dane[i] = calloc(1, sizeof(*p->dane[i]))) == NULL) {
		h->status = -1;
		snprintf(h->why, sizeof(h->why), "out of memory");
		return;
	}
	h->dane = p->dane[i]->words;
	h->status = tlspolicy_mx(p->tp, p->d, p->domain, h->mx, &p->sts, p->want, &h->tls, p->dane[i], h->why,
	                         sizeof(h->why));
	if (h->status == 0) {
		h->why[0] = '\0';
		h->plaintext_retry = tlspolicy_fallback(&h->tls, &h->plaintext);
	}
}

const struct route_hop *route_plan_hop(struct route_plan *p, size_t i)
{
	if (i >= p->nhosts)
		return NULL;
	if (!p->decided[i]) {
		decide(p, i);
		p->decided[i] = 1;
	}
	return &p->hops[i];
}
