/*
 * tlspolicy.h - how the last hop must be encrypted. For each connection the runner makes (to
 * the smarthost, or to one MX host of a recipient domain) it says what TLS the connection must
 * have and which certificate it must show; remote_attempt.c then only carries the policy out.
 * For MX hosts, delivery and `check --mx` ask plan.h, which makes the calls below in their
 * order (tlspolicy_dns, tlspolicy_sts, tlspolicy_mx per host, tlspolicy_fallback).
 *
 * Sources, strongest first:
 *   - the smarthost's URL: smtps:// and smtp+starttls:// verified against its name (ca_file or
 *     the system store), smtp:// plaintext;
 *   - per recipient domain, [relay] tls_policy (a default level, then DOMAIN:LEVEL overrides):
 *       dane       DANE (RFC 7672) where the MX host publishes usable TLSA records reached
 *                  through DNSSEC: TLS mandatory, the certificate matched against them; else
 *                  MTA-STS (RFC 8461) where the domain publishes a policy: in mode enforce,
 *                  only MX hosts its mx patterns name, TLS mandatory with a WebPKI
 *                  certificate valid for the MX name; in mode testing, delivered as "may"
 *                  and what enforce would have refused (an MX not named, no STARTTLS, a
 *                  certificate not valid for the MX name) is logged and counted for
 *                  TLS-RPT (sts_testing); else "may". DANE wins
 *                  where both exist (RFC 8461 2). The default.
 *       dane-only  DANE or nothing: no secure TLSA records means the mail waits.
 *       encrypt    TLS mandatory, the certificate not checked.
 *       may        STARTTLS when offered, the same host in plaintext when the handshake fails
 *                  (RFC 7435).
 *       none       plaintext.
 * A bogus DNSSEC answer, or a TLSA lookup that fails for a secure MX host, makes that host
 * unusable for now (RFC 7672 2.2): the next MX host is tried, and the mail waits if none is
 * left. Mandatory TLS never falls back to plaintext.
 *
 * Ownership: tlspolicy_new() copies what it is given; the caller frees the result with
 * tlspolicy_free() (NULL is a no-op). It does not change once made, so every worker thread
 * may ask it at once. A struct tls_policy it fills borrows strings from the tlspolicy and from
 * the arguments of the call (the mx_host, the dane_rrset), for as long as they live.
 */
#ifndef MAILPORT_TLSPOLICY_H
#define MAILPORT_TLSPOLICY_H

#include <stddef.h>

/* The levels, as Postfix names them (smtp_tls_security_level). */
enum tls_level {
	TLS_LEVEL_NONE,                 /* plaintext: by configuration, or a "may" after its
	                                   handshake failed */
	TLS_LEVEL_MAY,                  /* STARTTLS when offered, certificate not checked */
	TLS_LEVEL_ENCRYPT,              /* TLS required, certificate not checked */
	TLS_LEVEL_VERIFY,               /* TLS required, certificate valid for match (WebPKI) */
	TLS_LEVEL_DANE,                 /* TLS required, certificate matches one of dane's records */
};

struct dane_rrset;

struct tls_policy {
	enum tls_level level;
	int implicit;                   /* TLS from the first byte (smtps://), not STARTTLS */
	const char *match;              /* VERIFY: the name the certificate must carry */
	const char *ca_file;            /* VERIFY: the CAs to trust; NULL: the system store */
	const struct dane_rrset *dane;  /* DANE: the usable TLSA records */
	const char *source;             /* for the log: "smarthost", "dane", "dane-unusable",
	                                   "mta-sts", "policy" (tls_policy said so), "opportunistic" */
	int sts_testing;                /* MAY under an MTA-STS policy in mode testing: the
	                                   certificate is checked against match and ca_file as
	                                   VERIFY would, for TLS-RPT only; the verdict never
	                                   refuses the host (RFC 8461 5: report, deliver anyway) */
};

struct tlspolicy_conf {
	const char *smarthost;          /* host name, or NULL: direct MX delivery */
	enum tls_level smarthost_level;
	int smarthost_implicit;
	const char *smarthost_ca_file;
	const char *mx_policy;          /* [relay] tls_policy; NULL = "dane" */
	const char *trust_anchor;       /* DNSSEC trust anchor file; NULL = no DNSSEC (no DANE) */
	const char *resolver;           /* dns.h's resolver */
	unsigned mx_port;               /* TLSA records are looked up at _PORT._tcp.MX */
	long timeout_ms;                /* per DNS query */
	const char *sts_cache_dir;      /* MTA-STS policies cached here (SPOOL/sts); NULL: none */
	const char *sts_ca_file;        /* CAs for MTA-STS (policy host, MX certificates); NULL: system */
	unsigned sts_port;              /* the policy host's HTTPS port; 0 = 443 */
};

struct tlspolicy;
struct dns;
struct mx_host;
struct sts_policy;

/* NULL with err (the first bad word of tls_policy, in words) when the conf is wrong. */
struct tlspolicy *tlspolicy_new(const struct tlspolicy_conf *conf, char *err, size_t errlen);
void tlspolicy_free(struct tlspolicy *tp);

/* What the message asks of the last hop (RFC 8689), the want argument below. */
#define TLSPOLICY_REQUIRETLS   0x01  /* REQUIRETLS: only a hop whose name DNSSEC or MTA-STS
                                        authenticates, its certificate verified (DANE or
                                        WebPKI), whatever tls_policy says for the domain */
#define TLSPOLICY_TLS_OPTIONAL 0x02  /* "TLS-Required: No": the recipient's DANE and MTA-STS
                                        do not hold it back; tls_policy's own words still do */
/* tlspolicy_mx() for a REQUIRETLS message and a host that cannot be authenticated: the mail
 * is not to wait for it (RFC 8689 4.2.1 bounces it with 5.7.30 when no host is left). */
#define TLSPOLICY_EREQUIRETLS (-2)

/* Where and how MTA-STS policies are fetched and cached (mtasts.h's conf), for the background
 * refresh; its CAs and timeout serve TLS-RPT's https: endpoints too. */
struct sts_conf;
void tlspolicy_sts_conf(const struct tlspolicy *tp, struct sts_conf *out);

/* The policy for the smarthost. */
void tlspolicy_smarthost(const struct tlspolicy *tp, struct tls_policy *out);
/* A DNS context for domain's MX lookups: validating (DNSSEC) when its level needs DANE and a
 * trust anchor is configured. The caller frees it with dns_free(). NULL with err. */
struct dns *tlspolicy_dns(const struct tlspolicy *tp, const char *domain, unsigned want, char *err,
                          size_t errlen);
/* The domain's MTA-STS policy (mtasts.h) when its level asks for one, once per delivery:
 * sts->found 0 when there is none. A policy announced but not to be had is logged by the
 * caller from err and counts as none (RFC 8461 5.1). */
void tlspolicy_sts(const struct tlspolicy *tp, struct dns *d, const char *domain, unsigned want,
                   struct sts_policy *sts, char *err, size_t errlen);
/* The policy for MX host mx of domain, found on d: 0, or -1 with err when this host cannot be
 * used now (bogus DNSSEC, a failed TLSA lookup, dane-only without DANE, an MTA-STS policy in
 * enforce mode that does not name it), or TLSPOLICY_EREQUIRETLS. dane: storage for the TLSA
 * records the policy then points at; sts: from tlspolicy_sts(). */
int tlspolicy_mx(const struct tlspolicy *tp, struct dns *d, const char *domain, const struct mx_host *mx,
                 const struct sts_policy *sts, unsigned want, struct tls_policy *out, struct dane_rrset *dane,
                 char *err, size_t errlen);
/* After a failed TLS handshake under p: 1 and the policy to try the same host with once more,
 * or 0 when the host must not be tried without TLS. */
int tlspolicy_fallback(const struct tls_policy *p, struct tls_policy *out);
/* The word for the log's tls= after a delivery under p: "none", "opportunistic", "encrypted",
 * "verified", "mta-sts-verified", "dane-verified". */
const char *tlspolicy_outcome(const struct tls_policy *p, int encrypted);

#endif
