/*
 * mtasts.h - MTA-STS (RFC 8461): a recipient domain's published promise that its MX hosts
 * speak TLS with a valid WebPKI certificate. The TXT record _mta-sts.DOMAIN ("v=STSv1;
 * id=...") announces a policy; the policy itself is fetched over HTTPS from
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt (certificate verified, no redirects,
 * text/plain, at most STS_MAX_BYTES, bounded in time) and cached in the spool (sts/DOMAIN)
 * for its max_age. A cached policy is used while it is fresh and its id is still the one
 * announced; a new id, or an expired cache, fetches again; a failed fetch keeps using a
 * cached policy that has not expired (RFC 8461 5.1), and with none there is no policy.
 *
 * A struct sts_policy is a plain value (zero-filled before use); nothing to free. Blocking:
 * worker threads only.
 */
#ifndef MAILPORT_MTASTS_H
#define MAILPORT_MTASTS_H

#include <stddef.h>

#define STS_MAX_MX 16
#define STS_MAX_BYTES 65536             /* RFC 8461 3.3 suggests 64 KiB */
#define STS_MAX_AGE_LIMIT 31557600LL    /* RFC 8461 3.2: at most one year */

enum sts_mode { STS_MODE_NONE = 0, STS_MODE_TESTING, STS_MODE_ENFORCE };

struct sts_policy {
	int found;                      /* 0: the domain has no (usable) policy */
	enum sts_mode mode;
	char id[33];                    /* from the TXT record: 1 to 32 letters and digits */
	long long fetched, max_age;     /* epoch seconds, seconds */
	char mx[STS_MAX_MX][256];       /* patterns: "mx.example.org" or "*.example.org" */
	size_t nmx;
	const char *from;               /* "fetched" or "cache" */
};

struct sts_conf {
	const char *cache_dir;          /* SPOOL/sts; NULL: no cache */
	const char *ca_file;            /* for the policy host; NULL: the system store */
	unsigned https_port;            /* 443; tests put their HTTPS server elsewhere */
	long timeout_ms;
};

struct dns;

/* The domain's policy, on d (its addresses too). 0 (out->found says whether there is one), or
 * -1 with err when the policy is announced but neither fetched nor cached: callers treat the
 * domain as without policy (RFC 8461 5.1) and report it. */
int sts_get(struct dns *d, const struct sts_conf *c, const char *domain, struct sts_policy *out, char *err,
            size_t errlen);
/* The background refresh (RFC 8461 5.1: fetch again before max_age runs out, so that a policy
 * is there when mail comes, and a change that kept its id is seen): every cached policy older
 * than half its max_age (at most a day) is fetched again while its domain still announces
 * one; one that cannot be had stays until it expires. Returns how many were renewed; the log
 * names each. */
int sts_refresh(struct dns *d, const struct sts_conf *c);
/* Whether MX host name mx matches one of the policy's mx patterns (RFC 8461 4.1). */
int sts_mx_match(const struct sts_policy *p, const char *mx);

/* The pure parts (unit tests, fuzzing). */
/* A policy document: 0, or -1 with err (no STSv1 version, no or a bad mode, no max_age, an
 * enforce or testing policy without mx). */
int sts_parse(const char *text, size_t len, struct sts_policy *out, char *err, size_t errlen);
/* The id of an "v=STSv1; id=...;" TXT record: 0, or -1 when it is not one. */
int sts_txt_id(const char *txt, size_t len, char *id, size_t idlen);
const char *sts_mode_name(enum sts_mode m);

#endif
