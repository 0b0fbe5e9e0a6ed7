/*
 * mx.c - MX, A and AAAA lookups with libunbound, and the RFC 5321/7505 rules on their answers.
 * Not DANE or MTA-STS (policy that requires TLS per destination is future work).
 */
#include "mx.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unbound.h>

#include "../util/log.h"

#define T_A    1
#define T_MX   15
#define T_AAAA 28
#define C_IN   1
#define RCODE_SERVFAIL 2
#define RCODE_NXDOMAIN 3

static struct ub_ctx *make_ctx(const char *resolver, char *err, size_t errlen)
{
	struct ub_ctx *ctx = ub_ctx_create();
	int r;

	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a DNS resolver");
		return NULL;
	}
	if (resolver != NULL) {
		char fwd[128];
		const char *colon = strrchr(resolver, ':');
		/* libunbound writes a forwarder's port after '@'. */
		if (resolver[0] == '[') {
			const char *rb = strchr(resolver, ']');
			snprintf(fwd, sizeof(fwd), "%.*s%s%s", rb ? (int)(rb - resolver - 1) : 0, resolver + 1,
			         rb && rb[1] == ':' ? "@" : "", rb && rb[1] == ':' ? rb + 2 : "");
		} else if (colon != NULL && strchr(resolver, ':') == colon)
			snprintf(fwd, sizeof(fwd), "%.*s@%s", (int)(colon - resolver), resolver, colon + 1);
		else
			snprintf(fwd, sizeof(fwd), "%s", resolver);
		/* A resolver on loopback is the point of this setting, not something to refuse. */
		ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
		r = ub_ctx_set_fwd(ctx, fwd);
	} else
		r = ub_ctx_resolvconf(ctx, NULL);
	if (r != 0) {
		snprintf(err, errlen, "DNS resolver setup failed: %s", ub_strerror(r));
		ub_ctx_delete(ctx);
		return NULL;
	}
	return ctx;
}

/* A domain name in uncompressed wire format into dotted text; returns octets used or 0. */
static size_t wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t l = p[i++];
		if (l == 0) {
			if (o == 0 && outlen > 1)
				out[o++] = '.';     /* the root: "." */
			out[o] = '\0';
			return i;
		}
		if (l > 63 || i + l > len || o + l + 2 > outlen)
			return 0;
		if (o > 0 && !(o == 1 && out[0] == '.'))
			out[o++] = '.';
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	return 0;
}

static int query(struct ub_ctx *ctx, const char *name, int type, struct ub_result **res, char *err, size_t errlen)
{
	int r = ub_resolve(ctx, name, type, C_IN, res);

	if (r != 0) {
		snprintf(err, errlen, "DNS lookup of %s failed: %s", name, ub_strerror(r));
		return MX_TEMP;
	}
	if ((*res)->rcode == RCODE_NXDOMAIN)
		return MX_NXDOMAIN;
	if ((*res)->rcode != 0) {
		snprintf(err, errlen, "DNS lookup of %s failed: rcode %d%s", name, (*res)->rcode,
		         (*res)->rcode == RCODE_SERVFAIL ? " (SERVFAIL)" : (*res)->rcode == 5 ? " (REFUSED)" : "");
		return MX_TEMP;
	}
	return MX_OK;
}

static void add_addrs(struct ub_ctx *ctx, struct mx_host *h, char *err, size_t errlen)
{
	static const int types[] = { T_AAAA, T_A };

	for (int t = 0; t < 2; t++) {
		struct ub_result *res = NULL;
		if (query(ctx, h->name, types[t], &res, err, errlen) == MX_OK && res->havedata)
			for (int i = 0; res->data[i] && h->naddrs < MX_MAX_ADDRS; i++)
				if ((types[t] == T_A && res->len[i] == 4) || (types[t] == T_AAAA && res->len[i] == 16))
					inet_ntop(types[t] == T_A ? AF_INET : AF_INET6, res->data[i], h->addrs[h->naddrs++], 46);
		ub_resolve_free(res);
	}
}

static int by_preference(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;
	return x->preference < y->preference ? -1 : x->preference > y->preference;
}

int mx_lookup(const char *resolver, const char *domain, struct mx_host *hosts, size_t *nhosts,
              char *err, size_t errlen)
{
	struct ub_ctx *ctx = make_ctx(resolver, err, errlen);
	struct ub_result *res = NULL;
	size_t n = 0, resolved = 0;
	int r;

	*nhosts = 0;
	if (ctx == NULL)
		return MX_TEMP;
	r = query(ctx, domain, T_MX, &res, err, errlen);
	if (r == MX_NXDOMAIN) {
		snprintf(err, errlen, "domain %s does not exist (NXDOMAIN)", domain);
		goto out;
	}
	if (r != MX_OK)
		goto out;
	for (int i = 0; res->havedata && res->data[i] && n < MX_MAX_HOSTS; i++) {
		const unsigned char *d = (const unsigned char *)res->data[i];
		if (res->len[i] < 3)
			continue;
		memset(&hosts[n], 0, sizeof(hosts[n]));
		hosts[n].preference = (unsigned)(d[0] << 8 | d[1]);
		if (wire_name(d + 2, (size_t)res->len[i] - 2, hosts[n].name, sizeof(hosts[n].name)) == 0)
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
		add_addrs(ctx, &hosts[i], err, errlen);
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
	ub_ctx_delete(ctx);
	return r;
}
