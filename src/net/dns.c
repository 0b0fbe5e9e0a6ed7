/*
 * dns.c - libunbound behind the small interface mx.c, tlspolicy.c and check need: lookups,
 * DNSSEC validation from a trust anchor, and the RFC 2782 rules for SRV answers. Not DNSSEC
 * policy (what an insecure or bogus answer means is the caller's).
 */
#include "dns.h"

#include <ctype.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unbound.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/metrics.h"

#define C_IN 1
#define RCODE_SERVFAIL 2
#define RCODE_NXDOMAIN 3
#define RCODE_REFUSED  5

/* libunbound has no deadline of its own: a forwarder that never answers costs about 50 s of
 * retries per query. Queries run asynchronously (on libunbound's thread) and are cancelled here. */
#define DNS_DEFAULT_TIMEOUT_MS 30000

struct dns {
	struct ub_ctx *ub;
	int validating;
	const char *why_not;            /* when not validating: why, for the log */
	long deadline_ms;               /* monotonic; 0 = each query gets the default */
	long since_ms;                  /* when the deadline was set */
	long query_ms;                  /* each query's own limit within it; 0 = none */
	unsigned timeouts;              /* queries that ran out of time */
	unsigned answers;               /* queries the server answered, whatever it said */
};

/* libunbound's context creation and set-up are not safe from several threads at once: the
 * first ub_ctx_create() initialises a process-wide log lock without synchronisation
 * (NLnetLabs/unbound#1492), and its configuration parser is not reentrant. check's probe
 * threads and the delivery runner's workers create contexts concurrently, so creating,
 * configuring and deleting one takes this lock; lookups on a context do not. (Seen as an
 * abort in pthread_mutex_lock in one CI run of mailport check.) */
static pthread_mutex_t ub_setup = PTHREAD_MUTEX_INITIALIZER;

static struct dns *dns_new_locked(const char *resolver, int flags, const char *anchor, char *err, size_t errlen);

struct dns *dns_new(const char *resolver, int flags, char *err, size_t errlen)
{
	pthread_mutex_lock(&ub_setup);
	struct dns *d = dns_new_locked(resolver, flags, NULL, err, errlen);
	pthread_mutex_unlock(&ub_setup);
	return d;
}

static void dns_free_locked(struct dns *d)
{
	ub_ctx_delete(d->ub);
	free(d);
}

/* The zones libunbound answers itself, NXDOMAIN without asking, made transparent (their
 * questions go to the resolver) when the admin names a resolver of their own: the special-use
 * names it may serve (RFC 6761 test. and invalid., RFC 8375 home.arpa., RFC 7686 onion.), and the
 * reverse zones of private, shared, link-local and documentation addresses (RFC 6303), for
 * which it may well serve PTR records (SPF's ptr and %{p} for a client on 10/8 or 192.168/16
 * never matched otherwise). localhost and the loopback reverse zones stay local (RFC 6761 6.3:
 * they never leave the host). Last in the set-up: it finalizes the context. */
static int ask_resolver_for_local_zones(struct ub_ctx *ub)
{
	static const char *const zones[] = {
		"test.", "invalid.", "home.arpa.", "onion.",
		"10.in-addr.arpa.", "168.192.in-addr.arpa.", "0.in-addr.arpa.", "254.169.in-addr.arpa.",
		"2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
		"255.255.255.255.in-addr.arpa.", "d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.",
		"b.e.f.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.",
		"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
	};
	char z[32];
	int r = 0;

	for (size_t i = 0; r == 0 && i < sizeof(zones) / sizeof(zones[0]); i++)
		r = ub_ctx_zone_add(ub, zones[i], "transparent");
	for (int n = 16; r == 0 && n <= 31; n++) {            /* 172.16/12 */
		snprintf(z, sizeof(z), "%d.172.in-addr.arpa.", n);
		r = ub_ctx_zone_add(ub, z, "transparent");
	}
	for (int n = 64; r == 0 && n <= 127; n++) {           /* 100.64/10, RFC 6598 */
		snprintf(z, sizeof(z), "%d.100.in-addr.arpa.", n);
		r = ub_ctx_zone_add(ub, z, "transparent");
	}
	return r;
}

static struct dns *dns_new_locked(const char *resolver, int flags, const char *anchor, char *err, size_t errlen)
{
	struct dns *d = calloc(1, sizeof(*d));
	int r, sp[2];

	/* libunbound leaks an allocation (192 octets) each time ub_ctx_create() fails because its
	 * socketpair() does (out of descriptors, found by tests_faults under ASan): try one first. */
	if (d != NULL && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		snprintf(err, errlen, "cannot create a DNS resolver: %s", strerror(errno));
		free(d);
		return NULL;
	}
	if (d != NULL) {
		close(sp[0]);
		close(sp[1]);
	}
	if (d == NULL || (d->ub = ub_ctx_create()) == NULL) {
		snprintf(err, errlen, "cannot create a DNS resolver");
		free(d);
		return NULL;
	}
	/* A thread, not a forked process, answers the asynchronous queries. */
	r = ub_ctx_async(d->ub, 1);
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
		ub_ctx_set_option(d->ub, "do-not-query-localhost:", "no");
		if (r == 0)
			r = ub_ctx_set_fwd(d->ub, fwd);
	} else if (r == 0)
		r = ub_ctx_resolvconf(d->ub, NULL);
	if (r == 0 && (flags & DNS_HOSTS))
		r = ub_ctx_hosts(d->ub, NULL);
	if (r == 0 && anchor != NULL && (r = ub_ctx_add_ta_file(d->ub, anchor)) != 0) {
		snprintf(err, errlen, "trust anchor %s: %s", anchor, ub_strerror(r));
		dns_free_locked(d);
		return NULL;
	}
	if (r == 0 && resolver != NULL && (flags & DNS_ASK_ALL))
		r = ask_resolver_for_local_zones(d->ub);
	if (r != 0) {
		snprintf(err, errlen, "DNS resolver setup failed: %s", ub_strerror(r));
		dns_free_locked(d);
		return NULL;
	}
	return d;
}

/* The owner name of the first record in a trust-anchor file ("." for the root key). */
static int anchor_owner(const char *path, char *out, size_t outlen)
{
	FILE *fp = fopen(path, "r");
	char line[1024];
	int r = -1;

	if (fp == NULL)
		return -1;
	while (r < 0 && fgets(line, sizeof(line), fp) != NULL) {
		char *p = line + strspn(line, " \t");
		if (*p == ';' || *p == '#' || *p == '\n' || *p == '\0' || *p == '$')
			continue;
		size_t n = strcspn(p, " \t\r\n");
		if (n > 0 && n < outlen) {
			snprintf(out, outlen, "%.*s", (int)n, p);
			r = 0;
		}
	}
	fclose(fp);
	return r;
}

/* What the last probe of a resolver and anchor found, for PROBE_TTL seconds. */
#define PROBE_TTL 300
static pthread_mutex_t probe_mu = PTHREAD_MUTEX_INITIALIZER;
static struct { char key[600]; long long until; int ok; } probe_memo[8];

static int probe_cached(const char *key, int *ok)
{
	long long now = (long long)time(NULL);
	int found = 0;

	pthread_mutex_lock(&probe_mu);
	for (size_t i = 0; i < sizeof(probe_memo) / sizeof(probe_memo[0]) && !found; i++)
		if (probe_memo[i].until > now && strcmp(probe_memo[i].key, key) == 0) {
			*ok = probe_memo[i].ok;
			found = 1;
		}
	pthread_mutex_unlock(&probe_mu);
	return found;
}

static void probe_remember(const char *key, int ok, const char *resolver, const char *owner)
{
	long long now = (long long)time(NULL);
	size_t slot = 0;
	int changed = 1;

	pthread_mutex_lock(&probe_mu);
	for (size_t i = 0; i < sizeof(probe_memo) / sizeof(probe_memo[0]); i++) {
		if (strcmp(probe_memo[i].key, key) == 0) {
			changed = probe_memo[i].ok != ok;
			slot = i;
			break;
		}
		if (probe_memo[i].until < probe_memo[slot].until)
			slot = i;
	}
	snprintf(probe_memo[slot].key, sizeof(probe_memo[slot].key), "%s", key);
	probe_memo[slot].until = now + PROBE_TTL;
	probe_memo[slot].ok = ok;
	pthread_mutex_unlock(&probe_mu);
	if (changed && !ok)
		log_warnx(NULL, "dnssec unavailable resolver=%s anchor=%s: the resolver returns no validatable DNSKEY "
		          "for the trust anchor, so answers count as insecure (DANE is not used) until it does",
		          resolver ? resolver : "system", owner);
	else if (changed)
		log_info(NULL, "dnssec validating resolver=%s anchor=%s", resolver ? resolver : "system", owner);
}

/* A context that does not validate, saying why. */
static struct dns *not_validating(const char *resolver, int flags, char *err, size_t errlen)
{
	struct dns *d = dns_new(resolver, flags, err, errlen);

	if (d != NULL)
		d->why_not = "the resolver returns no validatable DNSKEY for the trust anchor";
	return d;
}

struct dns *dns_new_validating(const char *resolver, int flags, const char *anchor_file, char *err,
                               size_t errlen)
{
	char owner[256], key[600], perr[256];
	struct ub_result *res = NULL;
	struct dns *d;
	int ok = 0;

	if (anchor_file == NULL)
		return dns_new(resolver, flags, err, errlen);
	snprintf(key, sizeof(key), "%s|%s", resolver ? resolver : "", anchor_file);
	int known = probe_cached(key, &ok);
	if (known && !ok)
		return not_validating(resolver, flags, err, errlen);
	pthread_mutex_lock(&ub_setup);
	d = dns_new_locked(resolver, flags, anchor_file, err, errlen);
	pthread_mutex_unlock(&ub_setup);
	if (d == NULL)
		return NULL;
	if (!known) {
		/* The probe: the anchor's own keys, validated, or the path cannot do DNSSEC. */
		if (anchor_owner(anchor_file, owner, sizeof(owner)) < 0) {
			snprintf(err, errlen, "cannot read a trust anchor from %s", anchor_file);
			dns_free(d);
			return NULL;
		}
		ok = dns_query(d, owner, 48 /* DNSKEY */, &res, perr, sizeof(perr)) == DNS_OK && res->secure;
		dns_result_free(res);
		probe_remember(key, ok, resolver, owner);
		if (!ok) {
			dns_free(d);
			return not_validating(resolver, flags, err, errlen);
		}
	}
	d->validating = 1;
	return d;
}

int dns_validating(const struct dns *d, const char **why)
{
	if (why != NULL)
		*why = d->validating ? NULL : d->why_not ? d->why_not : "no trust anchor configured";
	return d->validating;
}

int dns_secure(const struct ub_result *res)
{
	return res != NULL && res->secure && !res->bogus;
}

void dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&ub_setup);
	dns_free_locked(d);
	pthread_mutex_unlock(&ub_setup);
}

void dns_result_free(struct ub_result *res) { ub_resolve_free(res); }

int dns_has_data(const struct ub_result *res) { return res != NULL && res->havedata; }

size_t dns_wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	if (outlen < 2)
		return 0;
	while (i < len) {
		size_t l = p[i++];
		if (l == 0) {
			if (o == 0)
				out[o++] = '.';     /* the root: "." */
			out[o] = '\0';
			return i;
		}
		if (l > 63 || i + l > len || o + l + 2 > outlen)
			return 0;
		/* A host name (letters, digits, hyphens; underscores in service labels): a NUL, a dot
		 * inside a label or a control character would change the name we connect to, send as
		 * SNI and check the certificate against. */
		for (size_t k = 0; k < l; k++)
			if (!isalnum(p[i + k]) && p[i + k] != '-' && p[i + k] != '_')
				return 0;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	return 0;
}


struct answer {
	int done, err;
	struct ub_result *res;
};

static void on_answer(void *arg, int err, struct ub_result *res)
{
	struct answer *a = arg;

	a->done = 1;
	a->err = err;
	a->res = res;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void dns_set_timeout(struct dns *d, long ms)
{
	d->since_ms = now_ms();
	d->deadline_ms = ms > 0 ? d->since_ms + ms : 0;
}

void dns_set_query_timeout(struct dns *d, long ms)
{
	d->query_ms = ms > 0 ? ms : 0;
}

unsigned dns_timeouts(const struct dns *d)
{
	return d->timeouts;
}

unsigned dns_answers(const struct dns *d)
{
	return d->answers;
}

int dns_query(struct dns *d, const char *name, int type, struct ub_result **res, char *err, size_t errlen)
{
	struct answer a = { 0, 0, NULL };
	long asked = now_ms(), start = d->deadline_ms ? d->since_ms : asked;
	long end = d->deadline_ms ? d->deadline_ms : start + DNS_DEFAULT_TIMEOUT_MS;
	if (d->query_ms > 0 && asked + d->query_ms < end) {
		start = asked;
		end = asked + d->query_ms;
	}
	int id, r = ub_resolve_async(d->ub, name, type, C_IN, &a, on_answer, &id);

	*res = NULL;
	while (r == 0 && !a.done) {
		long left = end - now_ms();
		struct pollfd pfd = { ub_fd(d->ub), POLLIN, 0 };
		if (left <= 0) {
			ub_cancel(d->ub, id);
			d->timeouts++;
			snprintf(err, errlen, "DNS lookup of %s timed out after %ld s: no answer from the DNS server",
			         name, (now_ms() - start + 500) / 1000);
			metrics_add(MET_DNS_FAILURES, 1);
			return DNS_TEMP;
		}
		if (poll(&pfd, 1, (int)left) > 0)
			r = ub_process(d->ub);
	}
	if (r == 0)
		r = a.err;
	*res = a.res;
	/* SERVFAIL may be libunbound's own word for a server it gave up on: not proof of life */
	if (r == 0 && ((*res)->rcode == 0 || (*res)->rcode == RCODE_NXDOMAIN))
		d->answers++;
	if (r == 0 && (*res)->bogus) {
		snprintf(err, errlen, "DNSSEC validation of %s failed (bogus): %s", name,
		         (*res)->why_bogus ? (*res)->why_bogus : "no reason given");
		metrics_add(MET_DNS_FAILURES, 1);
		return DNS_BOGUS;
	}
	if (r != 0) {
		ub_resolve_free(*res);
		*res = NULL;
		snprintf(err, errlen, "DNS lookup of %s failed: %s", name, ub_strerror(r));
		metrics_add(MET_DNS_FAILURES, 1);
		return DNS_TEMP;
	}
	if ((*res)->rcode == RCODE_NXDOMAIN) {
		snprintf(err, errlen, "%s does not exist (NXDOMAIN)", name);
		return DNS_NXDOMAIN;
	}
	if ((*res)->rcode != 0) {
		snprintf(err, errlen, "DNS lookup of %s failed: rcode %d%s", name, (*res)->rcode,
		         (*res)->rcode == RCODE_SERVFAIL ? " (SERVFAIL)" : (*res)->rcode == RCODE_REFUSED ? " (REFUSED)" : "");
		return DNS_TEMP;
	}
	return DNS_OK;
}

int dns_addrs(struct dns *d, const char *name, char addrs[][DNS_ADDR_LEN], size_t max, size_t *n,
              char *err, size_t errlen)
{
	return dns_addrs_sec(d, name, addrs, max, n, NULL, err, errlen);
}

int dns_addrs_sec(struct dns *d, const char *name, char addrs[][DNS_ADDR_LEN], size_t max, size_t *n,
                  int *secure, char *err, size_t errlen)
{
	static const int types[] = { DNS_T_AAAA, DNS_T_A };
	unsigned char bin[16];
	int status = DNS_OK, answered = 0, all_secure = 1;

	*n = 0;
	if (secure != NULL)
		*secure = 0;
	if (inet_pton(AF_INET, name, bin) == 1 || inet_pton(AF_INET6, name, bin) == 1) {
		if (max > 0) {
			snprintf(addrs[0], DNS_ADDR_LEN, "%s", name);
			*n = 1;
		}
		return DNS_OK;
	}
	for (int t = 0; t < 2; t++) {
		struct ub_result *res = NULL;
		int r = dns_query(d, name, types[t], &res, err, errlen);
		if (r == DNS_OK) {
			answered = 1;
			all_secure &= dns_secure(res);
			for (int i = 0; res->havedata && res->data[i] && *n < max; i++)
				if ((types[t] == DNS_T_A && res->len[i] == 4) || (types[t] == DNS_T_AAAA && res->len[i] == 16))
					inet_ntop(types[t] == DNS_T_A ? AF_INET : AF_INET6, res->data[i], addrs[(*n)++], DNS_ADDR_LEN);
		} else
			status = r;
		ub_resolve_free(res);
	}
	if (secure != NULL)
		*secure = answered && status == DNS_OK && all_secure;
	if (*n > 0 || answered)
		return DNS_OK;
	return status;
}

int dns_srv(struct dns *d, const char *name, struct dns_srv *out, size_t max, size_t *n, char *err, size_t errlen)
{
	struct ub_result *res = NULL;
	int r = dns_query(d, name, DNS_T_SRV, &res, err, errlen);

	*n = 0;
	for (int i = 0; r == DNS_OK && res->havedata && res->data[i] && *n < max; i++) {
		const unsigned char *p = (const unsigned char *)res->data[i];
		struct dns_srv *s = &out[*n];
		if (res->len[i] < 7)
			continue;
		s->priority = (unsigned)(p[0] << 8 | p[1]);
		s->weight = (unsigned)(p[2] << 8 | p[3]);
		s->port = (unsigned)(p[4] << 8 | p[5]);
		if (dns_wire_name(p + 6, (size_t)res->len[i] - 6, s->target, sizeof(s->target)) == 0)
			continue;
		(*n)++;
	}
	ub_resolve_free(res);
	if (r == DNS_OK)
		dns_srv_order(out, *n, NULL);
	return r;
}

static unsigned default_rnd(unsigned k) { return k ? arc4random_uniform(k) : 0; }

static int by_priority(const void *a, const void *b)
{
	const struct dns_srv *x = a, *y = b;
	return x->priority < y->priority ? -1 : x->priority > y->priority;
}

void dns_srv_order(struct dns_srv *s, size_t n, unsigned (*rnd)(unsigned))
{
	if (rnd == NULL)
		rnd = default_rnd;
	qsort(s, n, sizeof(*s), by_priority);
	for (size_t start = 0; start < n;) {
		size_t end = start;
		while (end < n && s[end].priority == s[start].priority)
			end++;
		/* RFC 2782: pick by running sum of weights among those left, move it to the front. */
		for (size_t i = start; i + 1 < end; i++) {
			unsigned long total = 0, pick, run = 0;
			for (size_t j = i; j < end; j++)
				total += s[j].weight + 1;   /* +1: weight 0 keeps a small chance */
			pick = rnd((unsigned)total);
			for (size_t j = i; j < end; j++) {
				run += s[j].weight + 1;
				if (run > pick) {
					struct dns_srv t = s[i];
					s[i] = s[j];
					s[j] = t;
					break;
				}
			}
		}
		start = end;
	}
}

size_t dns_txt_string(const struct ub_result *res, int i, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)res->data[i];
	size_t tl = 0;

	for (int o = 0; o < res->len[i];) {
		size_t l = p[o++];
		if (o + (int)l > res->len[i] || tl + l >= outlen)
			break;
		memcpy(out + tl, p + o, l);
		tl += l;
		o += (int)l;
	}
	out[tl] = '\0';
	return tl;
}
