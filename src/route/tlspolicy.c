/*
 * tlspolicy.c - the outbound TLS policy (tlspolicy.h): which source decides for a destination,
 * and what a failed handshake allows. The DNS work DANE needs (DNSSEC, TLSA) is done here, on
 * the worker's thread, before remote_attempt.c connects; the certificate check is transport.c's.
 */
#include "tlspolicy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dane.h"
#include "../net/dns.h"
#include "../util/log.h"
#include "mtasts.h"
#include "mx.h"

/* The domain levels: the transport levels plus "DANE or nothing". */
enum mx_level { MX_LEVEL_NONE, MX_LEVEL_MAY, MX_LEVEL_ENCRYPT, MX_LEVEL_DANE, MX_LEVEL_DANE_ONLY };

#define MAX_OVERRIDES 64

struct tlspolicy {
	char *smarthost;
	enum tls_level smarthost_level;
	int smarthost_implicit;
	char *smarthost_ca_file;
	enum mx_level mx_default;
	struct { char *domain; enum mx_level level; } over[MAX_OVERRIDES];
	size_t nover;
	char *trust_anchor, *resolver;
	unsigned mx_port;
	long timeout_ms;
	char *sts_cache_dir, *sts_ca_file;
	unsigned sts_port;
};

static int parse_level(const char *w, size_t n, enum mx_level *out)
{
	static const struct { const char *name; enum mx_level level; } words[] = {
		{ "none", MX_LEVEL_NONE }, { "may", MX_LEVEL_MAY }, { "encrypt", MX_LEVEL_ENCRYPT },
		{ "dane", MX_LEVEL_DANE }, { "dane-only", MX_LEVEL_DANE_ONLY },
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].name) == n && strncasecmp(words[i].name, w, n) == 0) {
			*out = words[i].level;
			return 0;
		}
	return -1;
}

/* "LEVEL [DOMAIN:LEVEL ...]": 0, or -1 with err naming the bad word. */
static int parse_mx_policy(struct tlspolicy *tp, const char *text, char *err, size_t errlen)
{
	const char *p = text;
	int have_default = 0;

	tp->mx_default = MX_LEVEL_DANE;
	while (*p) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, " \t,");
		if (n == 0)
			break;
		const char *colon = memchr(p, ':', n);
		enum mx_level lv;
		if (colon == NULL) {
			if (have_default || parse_level(p, n, &lv) < 0) {
				snprintf(err, errlen, "\"%.*s\": expected one default level (dane, dane-only, encrypt, may or "
				         "none) first, then DOMAIN:LEVEL", (int)n, p);
				return -1;
			}
			tp->mx_default = lv;
			have_default = 1;
		} else {
			if (colon == p || parse_level(colon + 1, n - (size_t)(colon - p) - 1, &lv) < 0 ||
			    tp->nover == MAX_OVERRIDES) {
				snprintf(err, errlen, "\"%.*s\": expected DOMAIN:LEVEL with a level of dane, dane-only, encrypt, "
				         "may or none (at most %d domains)", (int)n, p, MAX_OVERRIDES);
				return -1;
			}
			if ((tp->over[tp->nover].domain = strndup(p, (size_t)(colon - p))) == NULL)
				return -1;
			tp->over[tp->nover++].level = lv;
		}
		p += n;
	}
	return 0;
}

static char *dup_or_null(const char *s, int *failed)
{
	char *d = s ? strdup(s) : NULL;
	if (s && d == NULL)
		*failed = 1;
	return d;
}

struct tlspolicy *tlspolicy_new(const struct tlspolicy_conf *conf, char *err, size_t errlen)
{
	struct tlspolicy *tp = calloc(1, sizeof(*tp));
	int failed = 0;

	if (tp == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tp->smarthost_level = conf->smarthost_level;
	tp->smarthost_implicit = conf->smarthost_implicit;
	tp->smarthost = dup_or_null(conf->smarthost, &failed);
	tp->smarthost_ca_file = dup_or_null(conf->smarthost_ca_file, &failed);
	tp->trust_anchor = dup_or_null(conf->trust_anchor, &failed);
	tp->resolver = dup_or_null(conf->resolver, &failed);
	tp->sts_cache_dir = dup_or_null(conf->sts_cache_dir, &failed);
	tp->sts_ca_file = dup_or_null(conf->sts_ca_file, &failed);
	tp->sts_port = conf->sts_port ? conf->sts_port : 443;
	tp->mx_port = conf->mx_port ? conf->mx_port : 25;
	tp->timeout_ms = conf->timeout_ms;
	if (failed)
		snprintf(err, errlen, "out of memory");
	if (failed || parse_mx_policy(tp, conf->mx_policy ? conf->mx_policy : "dane", err, errlen) < 0) {
		tlspolicy_free(tp);
		return NULL;
	}
	return tp;
}

void tlspolicy_free(struct tlspolicy *tp)
{
	if (tp == NULL)
		return;
	free(tp->smarthost);
	free(tp->smarthost_ca_file);
	free(tp->trust_anchor);
	free(tp->resolver);
	free(tp->sts_cache_dir);
	free(tp->sts_ca_file);
	for (size_t i = 0; i < tp->nover; i++)
		free(tp->over[i].domain);
	free(tp);
}

void tlspolicy_smarthost(const struct tlspolicy *tp, struct tls_policy *out)
{
	*out = (struct tls_policy){ tp->smarthost_level, tp->smarthost_implicit, tp->smarthost,
	                            tp->smarthost_ca_file, NULL, "smarthost", 0 };
}

static enum mx_level configured_level(const struct tlspolicy *tp, const char *domain)
{
	for (size_t i = 0; i < tp->nover; i++)
		if (strcasecmp(tp->over[i].domain, domain) == 0)
			return tp->over[i].level;
	return tp->mx_default;
}

/* The level for this message: REQUIRETLS needs what DANE's path looks up (DNSSEC, TLSA,
 * MTA-STS) even where tls_policy asks for less; "TLS-Required: No" turns the recipient's
 * policies (the dane level's DANE and MTA-STS) into "may", and leaves the admin's own
 * dane-only, encrypt and none as they are. */
static enum mx_level domain_level(const struct tlspolicy *tp, const char *domain, unsigned want)
{
	enum mx_level lv = configured_level(tp, domain);

	if (want & TLSPOLICY_REQUIRETLS)
		return lv == MX_LEVEL_DANE_ONLY ? lv : MX_LEVEL_DANE;
	if ((want & TLSPOLICY_TLS_OPTIONAL) && lv == MX_LEVEL_DANE)
		return MX_LEVEL_MAY;
	return lv;
}

struct dns *tlspolicy_dns(const struct tlspolicy *tp, const char *domain, unsigned want, char *err,
                          size_t errlen)
{
	enum mx_level lv = domain_level(tp, domain, want);
	struct dns *d;

	if ((lv == MX_LEVEL_DANE || lv == MX_LEVEL_DANE_ONLY) && tp->trust_anchor != NULL)
		d = dns_new_validating(tp->resolver, DNS_ASK_ALL, tp->trust_anchor, err, errlen);
	else
		d = dns_new(tp->resolver, DNS_ASK_ALL, err, errlen);
	if (d != NULL)
		dns_set_timeout(d, tp->timeout_ms);
	return d;
}

void tlspolicy_sts_conf(const struct tlspolicy *tp, struct sts_conf *out)
{
	*out = (struct sts_conf){ tp->sts_cache_dir, tp->sts_ca_file, tp->sts_port, tp->timeout_ms };
}

void tlspolicy_sts(const struct tlspolicy *tp, struct dns *d, const char *domain, unsigned want,
                   struct sts_policy *sts, char *err, size_t errlen)
{
	struct sts_conf c;

	tlspolicy_sts_conf(tp, &c);
	memset(sts, 0, sizeof(*sts));
	err[0] = '\0';
	if (domain_level(tp, domain, want) == MX_LEVEL_DANE && sts_get(d, &c, domain, sts, err, errlen) != 0)
		sts->found = 0;
}

/* A host without DANE: MTA-STS where the domain has a policy, else may; dane-only waits. */
static int no_dane(const struct tlspolicy *tp, enum mx_level lv, const char *domain, const struct mx_host *mx,
                   const struct sts_policy *sts, const char *why, struct tls_policy *out, char *err, size_t errlen)
{
	if (lv == MX_LEVEL_DANE_ONLY) {
		snprintf(err, errlen, "tls_policy dane-only, but %s has no DANE: %s", mx->name, why);
		return -1;
	}
	if (sts != NULL && sts->found && sts->mode != STS_MODE_NONE) {
		int named = sts_mx_match(sts, mx->name);
		if (sts->mode == STS_MODE_ENFORCE && !named) {
			snprintf(err, errlen, "mta-sts-failed mx=%s: not one of the MX hosts that the enforced MTA-STS policy "
			         "of %s (id %s) names", mx->name, domain, sts->id);
			return -1;
		}
		if (sts->mode == STS_MODE_ENFORCE) {
			*out = (struct tls_policy){ TLS_LEVEL_VERIFY, 0, mx->name, tp->sts_ca_file, NULL, "mta-sts", 0 };
			return 0;
		}
		if (!named)
			log_info(NULL, "mta-sts testing domain=%s id=%s: mx=%s is not in the policy (enforce would refuse "
			         "it)", domain, sts->id, mx->name);
		/* RFC 8461 5: testing validates as enforce does and reports what fails, but delivers
		 * as if there were no policy: "may", with the check enforce would make riding along. */
		*out = (struct tls_policy){ TLS_LEVEL_MAY, 0, mx->name, tp->sts_ca_file, NULL, "opportunistic", 1 };
		return 0;
	}
	*out = (struct tls_policy){ TLS_LEVEL_MAY, 0, NULL, NULL, NULL, "opportunistic", 0 };
	return 0;
}

/* RFC 8689 4.2.1 for a host whose policy p came out: its name authenticated by DNSSEC (the MX
 * lookup was secure) or by MTA-STS (a policy of the domain names it), its certificate verified
 * by DANE or else as WebPKI for that name. */
static int requiretls(const struct tlspolicy *tp, struct dns *d, const char *domain, const struct mx_host *mx,
                      const struct sts_policy *sts, struct tls_policy *p, char *err, size_t errlen)
{
	const char *why;

	if (p->level == TLS_LEVEL_DANE || (p->level == TLS_LEVEL_VERIFY && strcmp(p->source, "mta-sts") == 0))
		return 0;
	if (dns_validating(d, &why) && mx->secure) {
		*p = (struct tls_policy){ TLS_LEVEL_VERIFY, 0, mx->name, tp->sts_ca_file, NULL, "requiretls", 0 };
		return 0;
	}
	if (sts != NULL && sts->found && sts->mode != STS_MODE_NONE && sts_mx_match(sts, mx->name)) {
		*p = (struct tls_policy){ TLS_LEVEL_VERIFY, 0, mx->name, tp->sts_ca_file, NULL, "mta-sts", 0 };
		return 0;
	}
	snprintf(err, errlen, "REQUIRETLS needed: nothing authenticates mx=%s: its MX lookup is not DNSSEC-signed and no "
	         "MTA-STS policy of %s names it (RFC 8689 4.2.1)", mx->name, domain);
	return TLSPOLICY_EREQUIRETLS;
}

static int policy_mx(const struct tlspolicy *tp, struct dns *d, const char *domain, const struct mx_host *mx,
                     const struct sts_policy *sts, enum mx_level lv, struct tls_policy *out,
                     struct dane_rrset *dane, char *err, size_t errlen)
{
	const char *why;
	char derr[600];

	switch (lv) {
	case MX_LEVEL_NONE:
		*out = (struct tls_policy){ TLS_LEVEL_NONE, 0, NULL, NULL, NULL, "policy", 0 };
		return 0;
	case MX_LEVEL_MAY:
		*out = (struct tls_policy){ TLS_LEVEL_MAY, 0, NULL, NULL, NULL, "opportunistic", 0 };
		return 0;
	case MX_LEVEL_ENCRYPT:
		*out = (struct tls_policy){ TLS_LEVEL_ENCRYPT, 0, NULL, NULL, NULL, "policy", 0 };
		return 0;
	case MX_LEVEL_DANE:
	case MX_LEVEL_DANE_ONLY:
		break;
	}
	if (!dns_validating(d, &why))
		return no_dane(tp, lv, domain, mx, sts, why, out, err, errlen);
	if (!mx->secure)
		return no_dane(tp, lv, domain, mx, sts, "its MX or address records are not DNSSEC-signed", out, err,
		               errlen);
	switch (dane_lookup(d, mx->name, tp->mx_port, dane, derr, sizeof(derr))) {
	case DANE_USABLE:
		*out = (struct tls_policy){ TLS_LEVEL_DANE, 0, mx->name, NULL, dane, "dane", 0 };
		return 0;
	case DANE_UNUSABLE:
		/* RFC 7672 2.2: a secure TLSA RRset with no usable record still means TLS. */
		*out = (struct tls_policy){ TLS_LEVEL_ENCRYPT, 0, NULL, NULL, NULL, "dane-unusable", 0 };
		return 0;
	case DANE_NONE:
		return no_dane(tp, lv, domain, mx, sts, derr, out, err, errlen);
	case DANE_DEFER:
		break;
	}
	snprintf(err, errlen, "dane-failed mx=%s: %s", mx->name, derr);
	return -1;
}

int tlspolicy_mx(const struct tlspolicy *tp, struct dns *d, const char *domain, const struct mx_host *mx,
                 const struct sts_policy *sts, unsigned want, struct tls_policy *out, struct dane_rrset *dane,
                 char *err, size_t errlen)
{
	int r = policy_mx(tp, d, domain, mx, sts, domain_level(tp, domain, want), out, dane, err, errlen);

	if (r == 0 && (want & TLSPOLICY_REQUIRETLS))
		r = requiretls(tp, d, domain, mx, sts, out, err, errlen);
	return r;
}

int tlspolicy_fallback(const struct tls_policy *p, struct tls_policy *out)
{
	if (p->level != TLS_LEVEL_MAY)
		return 0;
	*out = *p;
	out->level = TLS_LEVEL_NONE;
	return 1;
}

const char *tlspolicy_outcome(const struct tls_policy *p, int encrypted)
{
	if (!encrypted)
		return "none";
	switch (p->level) {
	case TLS_LEVEL_DANE: return "dane-verified";
	case TLS_LEVEL_VERIFY: return strcmp(p->source, "mta-sts") == 0 ? "mta-sts-verified" : "verified";
	case TLS_LEVEL_ENCRYPT: return "encrypted";
	case TLS_LEVEL_MAY:
	case TLS_LEVEL_NONE: break;
	}
	return "opportunistic";
}
