/*
 * sendercheck.c - port 25's sender checks (sendercheck.h): the lookups of msg/lookup.h answered
 * through net/dns.h, and the verdict turned into a header field and a refusal. Not the rules
 * (msg/spf.c, msg/dkimverify.c, msg/dmarc.c) and not the session (policy.c).
 */
#include "sendercheck.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../net/dns.h"
#include "../net/dnslookup.h"
#include "../msg/authres.h"
#include "../util/log.h"

/* Time limits belong to a lookup and to a message, never to the server: a sender who owns a
 * slow-answering domain gets temperror for its own mail and nothing else. */
#define LOOKUP_TIMEOUT_MS 5000      /* one question */
#define CHECK_TIMEOUT_MS 20000      /* every lookup of one message (RFC 7208 4.6.4: at least 20 s) */
#define PROBE_TIMEOUT_MS 2000       /* our own question to the resolver after a lookup timed out */
#define DEAD_SECONDS 30             /* a resolver that did not answer it: mail skips DNS this long */

struct sendercheck_job {
	struct dkim_verifier *v;
	char *resolver, *authserv_id, *ip, *helo, *mail_from;
	int dmarc_reject;
};

/* One libunbound context per worker thread, kept: its cache serves the next messages (the same
 * senders' SPF and DKIM records come again and again), and its record of a server that does not
 * answer makes the next lookups fail at once. Made again when the resolver setting changes. */
struct thread_dns {
	struct dns *d;
	char resolver[300];
};

static pthread_key_t dns_key;
static pthread_once_t dns_key_once = PTHREAD_ONCE_INIT;

static void thread_dns_free(void *p)
{
	struct thread_dns *t = p;

	dns_free(t->d);
	free(t);
}

static void dns_key_make(void) { (void)pthread_key_create(&dns_key, thread_dns_free); }

/* The thread's context is dropped after one of its lookups timed out: libunbound remembers a
 * server that was slow (its back-off, then "server down" and SERVFAIL at once), and a slow
 * domain behind the resolver must not leave that memory to the next sender's lookups. */
static void thread_dns_drop(void)
{
	struct thread_dns *t = pthread_getspecific(dns_key);

	if (t != NULL) {
		dns_free(t->d);
		t->d = NULL;
	}
}

static struct dns *thread_dns(const char *resolver, char *err, size_t errlen)
{
	struct thread_dns *t;

	pthread_once(&dns_key_once, dns_key_make);
	if ((t = pthread_getspecific(dns_key)) == NULL) {
		if ((t = calloc(1, sizeof(*t))) == NULL || pthread_setspecific(dns_key, t) != 0) {
			free(t);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
	}
	if (t->d != NULL && strcmp(t->resolver, resolver ? resolver : "") == 0)
		return t->d;
	dns_free(t->d);
	snprintf(t->resolver, sizeof(t->resolver), "%s", resolver ? resolver : "");
	t->d = dns_new(resolver, DNS_ASK_ALL, err, errlen);
	return t->d;
}

/* The resolver that did not answer a question of our own lately (process-wide): mail meanwhile
 * is checked without lookups, so a dead resolver costs one message its wait, not each. Only our
 * probe decides this (resolver_alive), never how long a sender's own names took. */
static pthread_mutex_t dead_mu = PTHREAD_MUTEX_INITIALIZER;
static char dead_resolver[300];
static long long dead_until;

static int resolver_dead(const char *resolver, long long now)
{
	pthread_mutex_lock(&dead_mu);
	int dead = now < dead_until && strcmp(dead_resolver, resolver ? resolver : "") == 0;
	pthread_mutex_unlock(&dead_mu);
	return dead;
}

static void resolver_mark_dead(const char *resolver, long long now)
{
	pthread_mutex_lock(&dead_mu);
	snprintf(dead_resolver, sizeof(dead_resolver), "%s", resolver ? resolver : "");
	dead_until = now + DEAD_SECONDS;
	pthread_mutex_unlock(&dead_mu);
}

/* The lookups when DNS is known not to answer: each a temporary failure, at once. */
static int dead_txt(void *arg, const char *name, char *buf, size_t buflen, size_t *n)
{
	(void)arg;
	(void)name;
	(void)buf;
	(void)buflen;
	*n = 0;
	return LOOKUP_TEMP;
}

static int dead_addrs(void *arg, const char *name, int v6, char out[][LOOKUP_ADDR_MAX], size_t max, size_t *n)
{
	(void)arg;
	(void)name;
	(void)v6;
	(void)out;
	(void)max;
	*n = 0;
	return LOOKUP_TEMP;
}

static int dead_names(void *arg, const char *name, char out[][LOOKUP_NAME_MAX], size_t max, size_t *n)
{
	(void)arg;
	(void)name;
	(void)out;
	(void)max;
	*n = 0;
	return LOOKUP_TEMP;
}

/* After a lookup timed out: does the resolver answer at all? It is asked for the root's NS
 * records, which no sender controls, on a context of its own; any answer in time (NXDOMAIN or
 * SERVFAIL too) means the slowness was the sender's domain's. */
static int resolver_alive(const char *resolver)
{
	char err[300];
	struct ub_result *res = NULL;
	struct dns *p = dns_new(resolver, DNS_ASK_ALL, err, sizeof(err));

	if (p == NULL)
		return 1;               /* cannot tell: not a reason to stop checking */
	dns_set_timeout(p, PROBE_TIMEOUT_MS);
	(void)dns_query(p, ".", DNS_T_NS, &res, err, sizeof(err));
	int alive = dns_timeouts(p) == 0;
	dns_result_free(res);
	dns_free(p);
	return alive;
}

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

struct sendercheck_job *sendercheck_begin(const char *resolver, const char *authserv_id, int dmarc_reject, const char *ip,
                                  const char *helo, const char *mail_from)
{
	struct sendercheck_job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->v = dkim_verifier_new();
	j->resolver = resolver ? strdup(resolver) : NULL;
	j->authserv_id = dup_or_empty(authserv_id);
	j->ip = dup_or_empty(ip);
	j->helo = dup_or_empty(helo);
	j->mail_from = dup_or_empty(mail_from);
	j->dmarc_reject = dmarc_reject;
	if (j->v == NULL || (resolver && !j->resolver) || !j->authserv_id || !j->ip || !j->helo || !j->mail_from) {
		sendercheck_free(j);
		return NULL;
	}
	return j;
}

void sendercheck_feed(struct sendercheck_job *j, const char *p, size_t n)
{
	dkim_verifier_feed(j->v, p, n);
}

int sendercheck_run(struct sendercheck_job *j, char **hdr, char *sum, size_t sumlen, char *refuse, size_t refuselen)
{
	struct authres_in in = { j->authserv_id, j->ip, j->helo, j->mail_from };
	struct authres *r = calloc(1, sizeof(*r));
	char err[300];
	long long now = (long long)time(NULL);
	int dead = resolver_dead(j->resolver, now);
	struct dns *d = dead ? NULL : thread_dns(j->resolver, err, sizeof(err));
	int refused = 0;

	*hdr = NULL;
	snprintf(sum, sumlen, "checks=failed");
	if (r == NULL || (d == NULL && !dead)) {
		log_warnx(NULL, "sender checks: %s; the message goes on unchecked", r ? err : "out of memory");
		free(r);
		return 0;
	}
	struct lookup lk;
	unsigned timeouts = 0, answers = 0;
	dns_lookup_init(&lk, d);
	if (dead)
		lk = (struct lookup){ NULL, dead_txt, dead_addrs, dead_names, dead_names };
	else {
		dns_set_timeout(d, CHECK_TIMEOUT_MS);
		dns_set_query_timeout(d, LOOKUP_TIMEOUT_MS);
		timeouts = dns_timeouts(d);
		answers = dns_answers(d);
	}
	authres_evaluate(&lk, j->v, &in, now, arc4random_uniform(100), r);
	if (!dead && dns_timeouts(d) != timeouts) {
		/* the resolver answered other questions of this message, or answers ours */
		int alive = dns_answers(d) != answers || resolver_alive(j->resolver);
		thread_dns_drop();
		if (!alive) {
			log_warnx(NULL, "sender checks: the DNS server %s does not answer; for the next %d s mail is checked "
			          "without DNS (temperror)", j->resolver ? j->resolver : "of /etc/resolv.conf", DEAD_SECONDS);
			resolver_mark_dead(j->resolver, (long long)time(NULL));
		} else
			log_info(NULL, "sender checks: a DNS lookup of this sender's names took over %d s (temperror); the "
			         "resolver answers, other mail is checked as usual", LOOKUP_TIMEOUT_MS / 1000);
	}
	*hdr = authres_header(&in, r);
	authres_summary(r, sum, sumlen);
	/* A From: with several domains is refused for the strictest of them (RFC 7489 6.6.1), which
	 * from_domain names; one with too many to look up, because any of them may be the one. */
	if (j->dmarc_reject && r->dmarc.reject) {
		if (r->dmarc.result == DMARC_FAIL)
			snprintf(refuse, refuselen, "Message refused: %.200s publishes a DMARC policy of reject, and neither "
			         "SPF nor DKIM passed for it (RFC 7489)", r->dmarc.from_domain);
		else
			snprintf(refuse, refuselen, "Message refused: %.200s", r->dmarc.why);
		refused = 1;
	}
	free(r);
	return refused;
}

void sendercheck_free(struct sendercheck_job *j)
{
	if (j == NULL)
		return;
	dkim_verifier_free(j->v);
	free(j->resolver);
	free(j->authserv_id);
	free(j->ip);
	free(j->helo);
	free(j->mail_from);
	free(j);
}
