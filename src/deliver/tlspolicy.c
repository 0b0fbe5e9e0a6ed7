/*
 * tlspolicy.c - the outbound TLS policy (tlspolicy.h): which source decides for a destination,
 * and what a failed handshake allows. No I/O today; a source that needs DNS or HTTPS (DANE,
 * MTA-STS) does it here, on the worker's thread, before relay.c connects.
 */
#include "tlspolicy.h"

#include <stdlib.h>
#include <string.h>

struct tlspolicy {
	char *smarthost;
	enum tls_level smarthost_level;
	int smarthost_implicit;
	char *smarthost_ca_file;
};

struct tlspolicy *tlspolicy_new(const struct tlspolicy_conf *conf)
{
	struct tlspolicy *tp = calloc(1, sizeof(*tp));

	if (tp == NULL)
		return NULL;
	tp->smarthost_level = conf->smarthost_level;
	tp->smarthost_implicit = conf->smarthost_implicit;
	if ((conf->smarthost != NULL && (tp->smarthost = strdup(conf->smarthost)) == NULL) ||
	    (conf->smarthost_ca_file != NULL && (tp->smarthost_ca_file = strdup(conf->smarthost_ca_file)) == NULL)) {
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
	free(tp);
}

void tlspolicy_smarthost(const struct tlspolicy *tp, struct tls_policy *out)
{
	*out = (struct tls_policy){ tp->smarthost_level, tp->smarthost_implicit, tp->smarthost,
	                            tp->smarthost_ca_file, "smarthost" };
}

int tlspolicy_mx(const struct tlspolicy *tp, const char *domain, const char *mx, struct tls_policy *out,
                 char *err, size_t errlen)
{
	(void)tp, (void)domain, (void)mx, (void)err, (void)errlen;
	/* No policy source for the domain: encrypt without authenticating, as an MX host has no
	 * name we could check its certificate against without DANE or MTA-STS (RFC 7435). */
	*out = (struct tls_policy){ TLS_LEVEL_MAY, 0, NULL, NULL, "opportunistic" };
	return 0;
}

int tlspolicy_fallback(const struct tls_policy *p, struct tls_policy *out)
{
	if (p->level != TLS_LEVEL_MAY)
		return 0;
	*out = *p;
	out->level = TLS_LEVEL_NONE;
	return 1;
}
