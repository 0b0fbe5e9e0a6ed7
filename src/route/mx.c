/*
 * mx.c - MX, A and AAAA lookups with libunbound, and the RFC 5321/7505 rules on their answers.
 * Not DANE or MTA-STS: whether TLS is required is tlspolicy.c's, from what this finds.
 */
#include "mx.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

#include "../net/dns.h"
#include "../util/log.h"

static int query(struct dns *d, const char *name, int type, struct ub_result **res, char *err, size_t errlen)
{
	int r = dns_query(d, name, type, res, err, errlen);
	return r == DNS_NXDOMAIN ? MX_NXDOMAIN : r == DNS_OK ? MX_OK : MX_TEMP;
}

static int by_preference(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;
	return x->preference < y->preference ? -1 : x->preference > y->preference;
}

int mx_lookup(const char *resolver, long timeout_ms, const char *domain, struct mx_host *hosts, size_t *nhosts,
              char *err, size_t errlen)
{
	struct dns *ctx = dns_new(resolver, DNS_ASK_ALL, err, errlen);
	int r;

	*nhosts = 0;
	if (ctx == NULL)
		return MX_TEMP;
	dns_set_timeout(ctx, timeout_ms);
	r = mx_lookup_dns(ctx, domain, hosts, nhosts, err, errlen);
	dns_free(ctx);
	return r;
}

int mx_lookup_dns(struct dns *ctx, const char *domain, struct mx_host *hosts, size_t *nhosts, char *err,
                  size_t errlen)
{
	struct ub_result *res = NULL;
	size_t n = 0, resolved = 0;
	int r, mx_secure;

	*nhosts = 0;
	r = query(ctx, domain, DNS_T_MX, &res, err, errlen);
	if (r == MX_NXDOMAIN) {
		snprintf(err, errlen, "domain %s does not exist (NXDOMAIN)", domain);
		goto out;
	}
	if (r != MX_OK)
		goto out;
	mx_secure = dns_secure(res);
	for (int i = 0; res->havedata && res->data[i] && n < MX_MAX_HOSTS; i++) {
		const unsigned char *d = (const unsigned char *)res->data[i];
		if (res->len[i] < 3)
			continue;
		memset(&hosts[n], 0, sizeof(hosts[n]));
		hosts[n].preference = (unsigned)(d[0] << 8 | d[1]);
		if (dns_wire_name(d + 2, (size_t)res->len[i] - 2, hosts[n].name, sizeof(hosts[n].name)) == 0)
			continue;
		n++;
	}
	if (n == 1 && strcmp(hosts[0].name, ".") == 0) {
		/* RFC 7505: "MX 0 ." is the domain saying it accepts no mail at all. */
		snprintf(err, errlen, "domain %s accepts no mail (null MX, RFC 7505)", domain);
		r = MX_NULL;
		goto out;
	}
	if (n == 0) {
		/* RFC 5321 5.1: no MX records: the domain itself is the implicit MX. */
		memset(&hosts[0], 0, sizeof(hosts[0]));
		snprintf(hosts[0].name, sizeof(hosts[0].name), "%s", domain);
		n = 1;
	}
	/* Preference order; equal preferences in random order to spread the load (RFC 5321 5.1). */
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)arc4random_uniform((unsigned)i);
		struct mx_host t = hosts[i - 1];
		hosts[i - 1] = hosts[j];
		hosts[j] = t;
	}
	qsort(hosts, n, sizeof(*hosts), by_preference);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(hosts[i].name, ".") == 0)
			continue;
		int addr_secure;
		dns_addrs_sec(ctx, hosts[i].name, hosts[i].addrs, MX_MAX_ADDRS, &hosts[i].naddrs, &addr_secure, err,
		              errlen);
		/* An implicit MX is the domain's own address records: the MX answer (NODATA) and
		 * the addresses must both be secure. */
		hosts[i].secure = mx_secure && addr_secure;
		if (hosts[i].naddrs > 0)
			hosts[resolved++] = hosts[i];   /* a host that does not resolve is skipped */
	}
	*nhosts = resolved;
	if (resolved == 0) {
		snprintf(err, errlen, "no MX host of %s has an address", domain);
		r = MX_NOHOST;
	} else
		r = MX_OK;
out:
	ub_resolve_free(res);
	return r;
}
