/*
 * dns.c - libunbound behind the small interface mx.c and check need, plus the RFC 2782 rules
 * for SRV answers. Not DNSSEC policy (nothing here requires validation yet).
 */
#include "dns.h"

#include <ctype.h>

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>

#define C_IN 1
#define RCODE_SERVFAIL 2
#define RCODE_NXDOMAIN 3
#define RCODE_REFUSED  5

/* libunbound has no deadline of its own: a forwarder that never answers costs about 50 s of
 * retries per query. Queries run asynchronously (on libunbound's thread) and are cancelled here. */
#define DNS_DEFAULT_TIMEOUT_MS 30000

struct dns {
	struct ub_ctx *ub;
	long deadline_ms;               /* monotonic; 0 = each query gets the default */
	long since_ms;                  /* when the deadline was set */
};

/* libunbound's context creation and set-up are not safe from several threads at once: the
 * first ub_ctx_create() initialises a process-wide log lock without synchronisation
 * (NLnetLabs/unbound#1492), and its configuration parser is not reentrant. check's probe
 * threads and the delivery runner's workers create contexts concurrently, so creating,
 * configuring and deleting one takes this lock; lookups on a context do not. (Seen as an
 * abort in pthread_mutex_lock in one CI run of mailport check.) */
static pthread_mutex_t ub_setup = PTHREAD_MUTEX_INITIALIZER;

static struct dns *dns_new_locked(const char *resolver, int flags, char *err, size_t errlen);

struct dns *dns_new(const char *resolver, int flags, char *err, size_t errlen)
{
	pthread_mutex_lock(&ub_setup);
	struct dns *d = dns_new_locked(resolver, flags, err, errlen);
	pthread_mutex_unlock(&ub_setup);
	return d;
}

static void dns_free_locked(struct dns *d)
{
	ub_ctx_delete(d->ub);
	free(d);
}

static struct dns *dns_new_locked(const char *resolver, int flags, char *err, size_t errlen)
{
	struct dns *d = calloc(1, sizeof(*d));
	int r;

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
	/* A transparent zone without data lets the query through to the forwarder: the special-use
	 * names an admin's own DNS may serve (RFC 6761 test. and invalid., RFC 8375 home.arpa.).
	 * Last: it finalizes the context. */
	static const char *const special[] = { "test.", "invalid.", "home.arpa." };
	for (size_t i = 0; r == 0 && resolver != NULL && (flags & DNS_ASK_ALL) && i < 3; i++)
		r = ub_ctx_zone_add(d->ub, special[i], "transparent");
	if (r != 0) {
		snprintf(err, errlen, "DNS resolver setup failed: %s", ub_strerror(r));
		dns_free_locked(d);
		return NULL;
	}
	return d;
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

int dns_query(struct dns *d, const char *name, int type, struct ub_result **res, char *err, size_t errlen)
{
	struct answer a = { 0, 0, NULL };
	long start = d->deadline_ms ? d->since_ms : now_ms();
	long end = d->deadline_ms ? d->deadline_ms : start + DNS_DEFAULT_TIMEOUT_MS;
	int id, r = ub_resolve_async(d->ub, name, type, C_IN, &a, on_answer, &id);

	*res = NULL;
	while (r == 0 && !a.done) {
		long left = end - now_ms();
		struct pollfd pfd = { ub_fd(d->ub), POLLIN, 0 };
		if (left <= 0) {
			ub_cancel(d->ub, id);
			snprintf(err, errlen, "DNS lookup of %s timed out after %ld s: no answer from the DNS server",
			         name, (now_ms() - start + 500) / 1000);
			return DNS_TEMP;
		}
		if (poll(&pfd, 1, (int)left) > 0)
			r = ub_process(d->ub);
	}
	if (r == 0)
		r = a.err;
	*res = a.res;
	if (r != 0) {
		ub_resolve_free(*res);
		*res = NULL;
		snprintf(err, errlen, "DNS lookup of %s failed: %s", name, ub_strerror(r));
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
	static const int types[] = { DNS_T_AAAA, DNS_T_A };
	unsigned char bin[16];
	int status = DNS_OK, answered = 0;

	*n = 0;
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
			for (int i = 0; res->havedata && res->data[i] && *n < max; i++)
				if ((types[t] == DNS_T_A && res->len[i] == 4) || (types[t] == DNS_T_AAAA && res->len[i] == 16))
					inet_ntop(types[t] == DNS_T_A ? AF_INET : AF_INET6, res->data[i], addrs[(*n)++], DNS_ADDR_LEN);
		} else
			status = r;
		ub_resolve_free(res);
	}
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
