/*
 * tlspolicy.h - how the last hop must be encrypted. For each connection the runner makes (to
 * the smarthost, or to one MX host of a recipient domain) it says what TLS the connection must
 * have and which certificate it must show; relay.c then only carries the policy out.
 * Today: the smarthost's URL (smtps:// and smtp+starttls:// verified against its name,
 * smtp:// plaintext) and opportunistic STARTTLS for MX hosts (RFC 7435: encrypt when offered,
 * try the same host in plaintext when the handshake fails). DANE, MTA-STS and REQUIRETLS are
 * new sources of policy in tlspolicy.c, not new branches in remote.c.
 *
 * Ownership: tlspolicy_new() copies what it is given; the caller frees the result with
 * tlspolicy_free() (NULL is a no-op). It does not change once made, so every worker thread
 * may ask it at once. A struct tls_policy it fills borrows strings from the tlspolicy and from
 * the arguments of the call, for as long as both live.
 */
#ifndef MAILPORT_TLSPOLICY_H
#define MAILPORT_TLSPOLICY_H

#include <stddef.h>

/* The levels, as Postfix names them (smtp_tls_security_level). */
enum tls_level {
	TLS_LEVEL_NONE,                 /* plaintext: smtp:// by configuration, or a "may" after its
	                                   handshake failed */
	TLS_LEVEL_MAY,                  /* STARTTLS when offered, certificate not checked */
	TLS_LEVEL_VERIFY,               /* TLS required, certificate valid for match */
};

struct tls_policy {
	enum tls_level level;
	int implicit;                   /* TLS from the first byte (smtps://), not STARTTLS */
	const char *match;              /* VERIFY: the name the certificate must carry */
	const char *ca_file;            /* VERIFY: the CAs to trust; NULL: the system store */
	const char *source;             /* for the log: "smarthost", "opportunistic" */
};

/* What the configuration says about the smarthost; host NULL: none (direct MX delivery). */
struct tlspolicy_conf {
	const char *smarthost;
	enum tls_level smarthost_level;
	int smarthost_implicit;
	const char *smarthost_ca_file;
};

struct tlspolicy;

struct tlspolicy *tlspolicy_new(const struct tlspolicy_conf *conf);
void tlspolicy_free(struct tlspolicy *tp);

/* The policy for the smarthost. */
void tlspolicy_smarthost(const struct tlspolicy *tp, struct tls_policy *out);
/* The policy for MX host mx of domain: 0, or -1 with err when delivery to the domain must
 * wait (reserved for policies that cannot be learned now: a bogus DNSSEC answer, an MTA-STS
 * policy in enforce mode that cannot be fetched). */
int tlspolicy_mx(const struct tlspolicy *tp, const char *domain, const char *mx, struct tls_policy *out,
                 char *err, size_t errlen);
/* After a failed TLS handshake under p: 1 and the policy to try the same host with once more,
 * or 0 when the host must not be tried without TLS. */
int tlspolicy_fallback(const struct tls_policy *p, struct tls_policy *out);

#endif
