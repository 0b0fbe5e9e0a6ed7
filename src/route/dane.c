/*
 * dane.c - TLSA lookups and the RFC 7672 rules on which records count (dane.h). Not the
 * certificate check (OpenSSL's DANE API, in net/transport.c) and not the decision what a
 * result means for delivery (route/tlspolicy.c).
 */
#include "dane.h"

#include <stdio.h>
#include <string.h>
#include <unbound.h>

#include "../net/dns.h"

int dane_parse_tlsa(const unsigned char *rdata, size_t len, struct dane_tlsa *rr)
{
	static const size_t digest_len[] = { 0, 32, 64 };   /* matching types 0 (full), 1 (SHA-256), 2 (SHA-512) */

	if (len < 4)
		return 0;
	rr->usage = rdata[0];
	rr->selector = rdata[1];
	rr->mtype = rdata[2];
	rr->len = len - 3;
	if (rr->usage != 2 && rr->usage != 3)
		return 0;               /* PKIX-TA(0), PKIX-EE(1) and unknown usages: not for SMTP */
	if (rr->selector > 1 || rr->mtype > 2)
		return 0;
	if (rr->mtype != 0 && rr->len != digest_len[rr->mtype])
		return 0;
	if (rr->len > DANE_MAX_DATA)
		return 0;
	memcpy(rr->data, rdata + 3, rr->len);
	return 1;
}

enum dane_status dane_lookup(struct dns *d, const char *mx, unsigned port, struct dane_rrset *out, char *err,
                             size_t errlen)
{
	char name[300];
	struct ub_result *res = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	snprintf(out->base, sizeof(out->base), "%s", mx);
	snprintf(name, sizeof(name), "_%u._tcp.%s", port, mx);
	r = dns_query(d, name, DNS_T_TLSA, &res, err, errlen);
	if (r == DNS_NXDOMAIN) {
		/* NXDOMAIN is as good as no records only when it is proven (RFC 7672 2.2.2). */
		int proven = dns_secure(res);
		dns_result_free(res);
		snprintf(err, errlen, "no TLSA records at %s (%s)", name, proven ? "secure NXDOMAIN" : "insecure");
		snprintf(out->words, sizeof(out->words), "%s", err);
		return DANE_NONE;
	}
	if (r != DNS_OK) {
		dns_result_free(res);
		snprintf(out->words, sizeof(out->words), "%s", err);
		return DANE_DEFER;      /* bogus or failed: err says which */
	}
	if (!dns_secure(res) || !res->havedata) {
		snprintf(err, errlen, "no TLSA records at %s (%s)", name, dns_secure(res) ? "secure, none" : "insecure");
		snprintf(out->words, sizeof(out->words), "%s", err);
		dns_result_free(res);
		return DANE_NONE;
	}
	for (int i = 0; res->data[i] != NULL; i++) {
		if (out->n < DANE_MAX_RECORDS && dane_parse_tlsa((const unsigned char *)res->data[i], (size_t)res->len[i],
		                                                 &out->rr[out->n]))
			out->n++;
		else
			out->unusable++;
	}
	dns_result_free(res);
	snprintf(err, errlen, "%zu usable TLSA record%s at %s (%zu unusable)", out->n, out->n == 1 ? "" : "s", name,
	         out->unusable);
	snprintf(out->words, sizeof(out->words), "%s", err);
	return out->n > 0 ? DANE_USABLE : DANE_UNUSABLE;
}
