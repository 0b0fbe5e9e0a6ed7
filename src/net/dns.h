/*
 * dns.h - lookups through libunbound (stub resolver, or a given server), shared by MX routing
 * and `mailport check`: addresses, MX and SRV answers, and RFC 2782's SRV ordering.
 *
 * resolver: "ADDR" or "ADDR:PORT" (IPv6 as [ADDR]:PORT) of a DNS server to ask instead of the
 * system's (tests, split DNS); NULL = /etc/resolv.conf. Flags: DNS_HOSTS also answers from
 * /etc/hosts (what a user typing "localhost" expects; MX routing does not); DNS_ASK_ALL sends
 * even RFC 6761 special-use names (.test, .invalid ...) to the given resolver instead of
 * answering NXDOMAIN locally, libunbound's default, and the reverse zones of private and
 * documentation addresses (RFC 6303) instead of answering them itself. Each query is bounded
 * by a timeout. Blocking: worker threads and command-line verbs only. dns_free(NULL) is a
 * no-op; results are copied into the caller's arrays.
 */
#ifndef MAILPORT_DNS_H
#define MAILPORT_DNS_H

#include <stddef.h>

enum dns_status {
	DNS_OK = 0,
	DNS_TEMP = -1,          /* SERVFAIL, REFUSED, timeout: try again later */
	DNS_NXDOMAIN = -2,      /* the name does not exist */
	DNS_BOGUS = -3,         /* DNSSEC validation failed: a forged or broken answer */
};

#define DNS_T_A    1
#define DNS_T_NS   2
#define DNS_T_MX   15
#define DNS_T_AAAA 28
#define DNS_T_SRV  33
#define DNS_T_TLSA 52
#define DNS_ADDR_LEN 46

struct dns;
struct ub_result;

#define DNS_HOSTS   1
#define DNS_ASK_ALL 2

struct dns *dns_new(const char *resolver, int flags, char *err, size_t errlen);
/* The same, validating DNSSEC against the trust anchors in anchor_file (DS or DNSKEY records
 * in zone-file form, as Debian's /usr/share/dns/root.key). A resolver path that cannot carry
 * DNSSEC at all (the anchor's own DNSKEY set does not validate: a forwarder that strips
 * signatures, a private DNS without them) would make every answer bogus and stop all mail:
 * then the context does not validate, dns_secure() says why, and every answer is insecure, as
 * Postfix treats a resolver that sets no AD bit. That verdict is kept for five minutes per
 * resolver and anchor, and logged once each time it changes. */
struct dns *dns_new_validating(const char *resolver, int flags, const char *anchor_file, char *err,
                               size_t errlen);
/* 1 when answers on d are validated, else 0 and why (a static sentence). */
int dns_validating(const struct dns *d, const char **why);
/* Whether the answer res (DNS_OK) was validated as secure: DNSSEC-signed from a trust anchor. */
int dns_secure(const struct ub_result *res);

/* Every query on d from now on fails as DNS_TEMP ("timed out") once ms have passed; without
 * it each query may take 30 s. */
void dns_set_timeout(struct dns *d, long ms);
/* Each query on d from now on also fails as DNS_TEMP once ms have passed since it was asked
 * (within dns_set_timeout's deadline, if any): one slow name costs one query's time, not the
 * whole deadline. 0: no such limit. */
void dns_set_query_timeout(struct dns *d, long ms);
/* How many queries on d have run out of time, ever: a caller can tell a timeout from an answer
 * of SERVFAIL, and libunbound's memory of a slow server (its back-off) from a fresh start. */
unsigned dns_timeouts(const struct dns *d);
/* How many queries on d a DNS server answered (records, none, or NXDOMAIN): it is alive. */
unsigned dns_answers(const struct dns *d);
void dns_free(struct dns *d);
/* One query; on DNS_OK *res holds the answer (DNS_BOGUS: err has libunbound's reason) (free with dns_result_free, also when not OK). */
int dns_query(struct dns *d, const char *name, int type, struct ub_result **res, char *err, size_t errlen);
/* Answer i of a TXT result, its character-strings joined, NUL-terminated in out: its length,
 * or what fits of it. */
size_t dns_txt_string(const struct ub_result *res, int i, char *out, size_t outlen);
void dns_result_free(struct ub_result *res);
/* Whether an answer (DNS_OK) has at least one record. */
int dns_has_data(const struct ub_result *res);
/* IPv6 then IPv4 addresses of name (a literal address is returned as itself). Returns DNS_OK
 * with *n = 0 when the name exists but has no address. */
int dns_addrs(struct dns *d, const char *name, char addrs[][DNS_ADDR_LEN], size_t max, size_t *n,
              char *err, size_t errlen);

/* The same; *secure: both answers (AAAA and A) validated as secure. */
int dns_addrs_sec(struct dns *d, const char *name, char addrs[][DNS_ADDR_LEN], size_t max, size_t *n,
                  int *secure, char *err, size_t errlen);

/* A domain name in uncompressed wire format (as libunbound returns rdata) into dotted text
 * ("." for the root); returns the octets used, 0 when malformed, too long for out, or not a
 * host name (a label of anything but letters, digits, hyphens and underscores). */
size_t dns_wire_name(const unsigned char *p, size_t len, char *out, size_t outlen);

struct dns_srv {
	unsigned priority, weight, port;
	char target[256];       /* "." = the service is decidedly not offered (RFC 2782, RFC 6186) */
};

/* SRV records of name, in the order a client should try them. DNS_OK with *n = 0: none. */
int dns_srv(struct dns *d, const char *name, struct dns_srv *out, size_t max, size_t *n, char *err, size_t errlen);
/* RFC 2782 order, pure: ascending priority; within one priority a weighted random order,
 * rnd(k) returning a uniform number in [0, k) (weight 0 records get a small chance). */
void dns_srv_order(struct dns_srv *s, size_t n, unsigned (*rnd)(unsigned));

#endif
