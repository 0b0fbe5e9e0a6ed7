/*
 * remote.c - remote recipients: through the smarthost or to each domain's MX hosts, at most
 * dest_limit connections per destination, kept connections reused between messages.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../net/transport.h"
#include "../queue/spool.h"
#include "../route/dane.h"
#include "../route/mtasts.h"
#include "../route/mx.h"
#include "../route/plan.h"
#include "../route/tlsrpt.h"
#include "../util/duration.h"
#include "../util/errlist.h"
#include "../util/log.h"
#include "runner_int.h"

#define POOL_IDLE 2             /* seconds an unused kept connection stays open */

/* Connection slots per destination (at most dest_limit at once, kept connections included),
 * and the kept connections themselves, free for any worker going to the same destination.
 * Returns the cache to deliver with: a kept connection, or an empty one (NULL: no memory). */
static struct relay_cache *dest_get(struct runner *r, const char *key, unsigned limit)
{
	struct relay_cache *got = NULL;
	int have_slot = 0;

	pthread_mutex_lock(&r->mu);
	while (!have_slot) {
		int free_slot = -1, found = -1;
		for (int i = 0; i < MAX_WORKERS && got == NULL; i++)
			if (r->pool[i].cache.open && strcmp(r->pool[i].dest, key) == 0 &&
			    (got = malloc(sizeof(*got))) != NULL) {
				*got = r->pool[i].cache;        /* it already holds a slot */
				memset(&r->pool[i], 0, sizeof(r->pool[i]));
			}
		if (got != NULL)
			break;
		for (int i = 0; i < MAX_WORKERS; i++) {
			if (r->dests[i].count > 0 && strcmp(r->dests[i].key, key) == 0)
				found = i;
			else if (r->dests[i].count == 0 && free_slot < 0)
				free_slot = i;
		}
		if (found >= 0 && r->dests[found].count < limit) {
			r->dests[found].count++;
			have_slot = 1;
		} else if (found < 0 && free_slot >= 0) {
			snprintf(r->dests[free_slot].key, sizeof(r->dests[free_slot].key), "%s", key);
			r->dests[free_slot].count = 1;
			have_slot = 1;
		} else
			pthread_cond_wait(&r->dest_cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	if (got == NULL)
		got = calloc(1, sizeof(*got));
	return got;
}

static void slot_release_locked(struct runner *r, const char *key)
{
	for (int i = 0; i < MAX_WORKERS; i++)
		if (r->dests[i].count > 0 && strcmp(r->dests[i].key, key) == 0) {
			r->dests[i].count--;
			break;
		}
	pthread_cond_broadcast(&r->dest_cv);
}

/* After a delivery: an open connection goes to the pool (keeping its slot), else the slot goes. */
static void dest_put(struct runner *r, const char *key, struct relay_cache *cache)
{
	pthread_mutex_lock(&r->mu);
	for (int i = 0; cache != NULL && cache->open && i < MAX_WORKERS; i++)
		if (!r->pool[i].cache.open) {
			r->pool[i].cache = *cache;
			snprintf(r->pool[i].dest, sizeof(r->pool[i].dest), "%s", key);
			r->pool[i].idle_since = (long long)time(NULL);
			cache->open = 0;
			pthread_cond_broadcast(&r->dest_cv);
			pthread_mutex_unlock(&r->mu);
			free(cache);
			return;
		}
	pthread_mutex_unlock(&r->mu);
	relay_cache_close(cache);       /* no connection kept (or no room): the slot goes back */
	free(cache);
	pthread_mutex_lock(&r->mu);
	slot_release_locked(r, key);
	pthread_mutex_unlock(&r->mu);
}

/* Close kept connections idle for POOL_IDLE or more (all of them with force). Called with the
 * lock held; drops it around the network I/O. Returns when the next one expires (0: none). */
long long runner_pool_expire_locked(struct runner *r, int force)
{
	long long now = (long long)time(NULL), next = 0;

	for (int i = 0; i < MAX_WORKERS; i++) {
		if (!r->pool[i].cache.open)
			continue;
		if (force || now - r->pool[i].idle_since >= POOL_IDLE) {
			struct relay_cache c = r->pool[i].cache;
			char key[300];
			snprintf(key, sizeof(key), "%s", r->pool[i].dest);
			memset(&r->pool[i], 0, sizeof(r->pool[i]));
			pthread_mutex_unlock(&r->mu);
			relay_cache_close(&c);
			pthread_mutex_lock(&r->mu);
			slot_release_locked(r, key);
		} else if (next == 0 || r->pool[i].idle_since + POOL_IDLE < next)
			next = r->pool[i].idle_since + POOL_IDLE;
	}
	return next;
}

/* ---- remote delivery ------------------------------------------------------------------- */

static void fail_rcpt(struct spool *sp, struct spool_entry *e, size_t i, int code, const char *text)
{
	if (spool_entry_failed(sp, e, i, code, text) < 0)
		log_warn(e->qid, "cannot record failure to=<%s>", e->rcpts[i].target);
	else
		log_info(e->qid, "bounced to=<%s> reason=\"%d %s\"", e->rcpts[i].target, code, text);
}

/* Where an attempt went, for the log. */
struct where {
	char host[300];
	char tls[160];                  /* what was negotiated; "" in plaintext */
	const char *outcome;            /* tlspolicy_outcome(): the log's tls= word */
};

static int decided_any(const struct smtp_client_result *res, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (res[k].code != 0)
			return 1;
	return 0;
}

/* One MX host under its hop's policy, address by address, until a server decides the
 * recipients. 1 decided, 0 not (err: what the last address met). */
static int try_host(const struct settings *st, const struct spool_entry *e, const size_t *idx, size_t n,
                    struct smtp_client_result *res, const struct route_hop *hop, struct where *w,
                    struct relay_cache *cache, struct relay_tlsrpt *rpt, char *err, size_t errlen)
{
	const struct mx_host *host = hop->mx;
	const struct tls_policy *tls = &hop->tls;

	for (size_t a = 0; a < host->naddrs; a++) {
		struct relay_conf rc = st->relay;
		const struct tls_policy *used = tls;
		char attempt_err[600];
		rc.host = (char *)host->addrs[a];
		rc.name = host->name;
		rc.port = st->relay.mx_port ? st->relay.mx_port : "25";
		rc.user = rc.password = NULL;       /* never AUTH to an MX */
		int rr = relay_deliver(&rc, tls, e, idx, n, res, attempt_err, sizeof(attempt_err), w->tls, sizeof(w->tls),
		                       cache, rpt);
		if (rr == RELAY_ETLS && hop->plaintext_retry) {
			/* RFC 3207 opportunistic TLS failed: the same host in plaintext, as no policy
			 * requires TLS for this destination. What the handshake met stays the session's
			 * TLS-RPT verdict (MTA-STS testing counts it; the plaintext retry delivers). */
			log_info(e->qid, "tls failed with %s [%s]: retrying in plaintext: %s", host->name, host->addrs[a],
			         attempt_err);
			used = &hop->plaintext;
			relay_deliver(&rc, used, e, idx, n, res, attempt_err, sizeof(attempt_err), w->tls, sizeof(w->tls),
			              NULL, NULL);
		} else if (rr != 0 && tls->level == TLS_LEVEL_DANE && !decided_any(res, n))
			log_info(e->qid, "dane-failed mx=%s [%s]: not delivered: %s", host->name, host->addrs[a], attempt_err);
		else if (rr != 0 && tls->level >= TLS_LEVEL_ENCRYPT && !decided_any(res, n))
			log_info(e->qid, "tls required by policy=%s mx=%s [%s]: not delivered: %s", tls->source, host->name,
			         host->addrs[a], attempt_err);
		snprintf(w->host, sizeof(w->host), "%s[%s]:%s", host->name, host->addrs[a], rc.port);
		w->outcome = tlspolicy_outcome(used, w->tls[0] != '\0');
		if (decided_any(res, n)) {
			err[0] = '\0';
			return 1;
		}
		snprintf(err, errlen, "%s", attempt_err);   /* this address failed: the next one */
	}
	return 0;
}

/* One attempt under a DANE or MTA-STS policy, for TLS-RPT (tlsrpt.h); others are not kept.
 * rpt: what relay_deliver() saw of the connection's TLS; NULL for a host skipped before any
 * connection (then err says why, and the host's first address is reported as where it would
 * have gone). decided: a server decided the recipients. */
static void note_session(const struct settings *st, const char *domain, const struct tls_policy *tls,
                         const struct sts_policy *sts, const struct mx_host *mx, const char *where,
                         const struct relay_tlsrpt *rpt, int decided, const char *err)
{
	struct tlsrpt_session s = { domain, NULL, { 0 }, 0, { 0 }, 0, mx->name, "", NULL, "", "" };
	char strs[TLSRPT_STRINGS_MAX][600], ip[64] = "", local[64] = "", reason[700];
	const char *lb = strchr(where, '['), *rb = lb ? strchr(lb, ']') : NULL;

	if (st->tlsrpt_dir == NULL)
		return;
	if (lb && rb && rb - lb < (long)sizeof(ip))
		snprintf(ip, sizeof(ip), "%.*s", (int)(rb - lb - 1), lb + 1);
	else if (rpt == NULL && mx->naddrs > 0)
		/* Skipped before connecting (RFC 8460 4.3 still asks where): the address the attempt
		 * would have gone to, and ours towards it. mx_lookup_dns keeps only hosts that have one. */
		snprintf(ip, sizeof(ip), "%s", mx->addrs[0]);
	if (rpt != NULL)
		snprintf(local, sizeof(local), "%s", rpt->local);
	else if (ip[0])
		(void)transport_source_addr(ip, local, sizeof(local));
	s.ip = ip;
	s.sending_ip = local;
	if (tls != NULL && tls->sts_testing && sts != NULL && !sts_mx_match(sts, mx->name)) {
		/* RFC 8461 5: testing reports what enforce would have refused; the mail went anyway. */
		snprintf(reason, sizeof(reason), "mx=%s is not one of the MX hosts that the MTA-STS policy of %s (id %s, "
		         "mode testing) names: delivered anyway", mx->name, domain, sts->id);
		s.result = "validation-failure";
		s.reason = reason;
	} else if (rpt != NULL && rpt->result != NULL) {
		s.result = rpt->result;
		s.reason = rpt->reason;
	} else if (rpt == NULL || !decided || !rpt->tls) {
		/* Not a TLS verdict: a policy that stopped the host, or a connection lost before TLS
		 * (not counted: RFC 8460 reports on TLS, not on reachability). */
		if ((s.result = tlsrpt_classify(err)) == NULL)
			return;
		s.reason = err;
	}
	if (tls != NULL && tls->level == TLS_LEVEL_DANE && tls->dane != NULL) {
		s.type = "tlsa";
		for (size_t i = 0; i < tls->dane->n && i < TLSRPT_STRINGS_MAX; i++) {
			const struct dane_tlsa *r = &tls->dane->rr[i];
			int o = snprintf(strs[i], sizeof(strs[i]), "%u %u %u ", r->usage, r->selector, r->mtype);
			for (size_t k = 0; k < r->len && o + 3 < (int)sizeof(strs[i]); k++)
				o += snprintf(strs[i] + o, sizeof(strs[i]) - (size_t)o, "%02x", r->data[k]);
			s.strings[s.nstrings++] = strs[i];
		}
	} else if (sts != NULL && sts->found && sts->mode != STS_MODE_NONE) {
		/* policy-string: the policy's lines (RFC 8460 4.3), as it was parsed. */
		size_t k = 0;
		s.type = "sts";
		snprintf(strs[k++], sizeof(strs[0]), "version: STSv1");
		snprintf(strs[k++], sizeof(strs[0]), "mode: %s", sts_mode_name(sts->mode));
		for (size_t i = 0; i < sts->nmx && k + 1 < TLSRPT_STRINGS_MAX; i++) {
			snprintf(strs[k++], sizeof(strs[0]), "mx: %s", sts->mx[i]);
			s.mx_patterns[s.npatterns++] = sts->mx[i];
		}
		snprintf(strs[k++], sizeof(strs[0]), "max_age: %lld", sts->max_age);
		for (s.nstrings = 0; s.nstrings < k; s.nstrings++)
			s.strings[s.nstrings] = strs[s.nstrings];
	} else if (s.result != NULL && err != NULL && strncmp(err, "dane-failed", 11) == 0)
		s.type = "tlsa";                /* the TLSA RRset could not be had: no strings */
	else
		return;
	tlsrpt_note(st->tlsrpt_dir, &s);
}

/* Did the client core refuse to send (REQUIRETLS not offered, or no TLS) rather than a server? */
static int requiretls_refused(const struct smtp_client_result *res, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (strcmp(res[k].esc, "5.7.30") != 0 || strcmp(res[k].stage, "local") != 0)
			return 0;
	return n > 0;
}

/* What the message asks of the last hop (tlspolicy.h's want): RFC 8689 4.2.1, a bounce (null
 * reverse-path) of a REQUIRETLS message is not held to it. */
static unsigned tls_want(const struct spool_entry *e)
{
	return (e->flags & SPOOL_F_REQUIRETLS) && e->sender[0] ? TLSPOLICY_REQUIRETLS :
	       (e->flags & SPOOL_F_TLS_OPTIONAL) ? TLSPOLICY_TLS_OPTIONAL : 0;
}

/* Every recipient refused for good by us, at stage, for text. */
static void refuse_all(struct smtp_client_result *res, size_t n, int code, const char *esc, const char *text,
                       const char *stage)
{
	for (size_t k = 0; k < n; k++) {
		res[k].code = code;
		snprintf(res[k].esc, sizeof(res[k].esc), "%s", esc);
		snprintf(res[k].text, sizeof(res[k].text), "%.500s", text);
		snprintf(res[k].stage, sizeof(res[k].stage), "%s", stage);
	}
}

/* The plan's hosts in order, each of their addresses, until a server decides the recipients
 * idx[0..n) of the plan's domain. */
static void try_hops(const struct settings *st, const struct spool_entry *e, const size_t *idx, size_t n,
                     struct smtp_client_result *res, struct route_plan *plan, char *err, size_t errlen,
                     struct where *w, struct relay_cache *cache)
{
	const char *domain = strrchr(e->rcpts[idx[0]].target, '@') + 1, *ignored;
	const struct sts_policy *sts = route_plan_sts(plan, &ignored);
	size_t nhops = route_plan_nhops(plan), unauthenticated = 0;
	unsigned want = tls_want(e);
	struct smtp_client_result *saved = NULL;

	for (size_t h = 0; h < nhops; h++) {
		const struct route_hop *hop = route_plan_hop(plan, h);
		if (hop->status != 0) {
			/* This host cannot be used now (bogus DNSSEC, a failed TLSA lookup, dane-only
			 * without DANE), or not for this message (REQUIRETLS): the next one, and the mail
			 * waits if none is left. */
			snprintf(err, errlen, "%s", hop->why);
			log_info(e->qid, "skipped mx=%s: %s", hop->mx->name, err);
			unauthenticated += hop->status == TLSPOLICY_EREQUIRETLS;
			if (hop->status != TLSPOLICY_EREQUIRETLS)
				note_session(st, domain, NULL, sts, hop->mx, "", NULL, 0, err);
			continue;
		}
		struct relay_tlsrpt rpt;
		int decided = try_host(st, e, idx, n, res, hop, w, cache, &rpt, err, errlen);
		note_session(st, domain, &hop->tls, sts, hop->mx, w->host, &rpt, decided, err);
		if (!decided)
			continue;
		if (!(want & TLSPOLICY_REQUIRETLS) || !requiretls_refused(res, n))
			break;
		/* RFC 8689 4.2.1: a host without REQUIRETLS is passed over for the next one; its
		 * answer stands if no other host takes the message. */
		log_info(e->qid, "skipped mx=%s: %s", hop->mx->name, res[0].text);
		if (saved == NULL && (saved = malloc(n * sizeof(*saved))) != NULL)
			memcpy(saved, res, n * sizeof(*saved));
		memset(res, 0, n * sizeof(*res));
	}
	if (!decided_any(res, n) && saved != NULL)
		memcpy(res, saved, n * sizeof(*res));
	else if (!decided_any(res, n) && unauthenticated == nhops && nhops > 0)
		/* Not one host of the domain can be authenticated: that does not change by waiting. */
		refuse_all(res, n, 550, "5.7.30", err, "policy");
	free(saved);
}

/* Direct delivery of the recipients idx[0..n) of one domain, by its plan (route/plan.h). */
static void deliver_direct(const struct settings *st, const struct spool_entry *e, const size_t *idx, size_t n,
                           struct smtp_client_result *res, char *err, size_t errlen, struct where *w,
                           struct relay_cache *cache)
{
	const char *domain = strrchr(e->rcpts[idx[0]].target, '@') + 1, *why;
	unsigned want = tls_want(e);
	struct route_plan *plan;
	int r;

	snprintf(w->host, sizeof(w->host), "%s", domain);
	if ((plan = route_plan_new(st->tls, domain, want, err, errlen)) == NULL)
		return;
	if ((r = route_plan_mx(plan, &why)) != MX_OK)
		snprintf(err, errlen, "%s", why);
	if (r == MX_NXDOMAIN || r == MX_NULL) {
		refuse_all(res, n, r == MX_NULL ? 556 : 550, r == MX_NULL ? "5.1.10" : "5.1.2", err, "dns");
		route_plan_free(plan);
		return;
	}
	if (r == MX_OK) {
		const struct sts_policy *sts = route_plan_sts(plan, &why);
		snprintf(err, errlen, "%s", why);
		if (err[0])
			log_info(e->qid, "mta-sts: %s; delivering as without a policy (RFC 8461 5.1)", err);
		else if (sts->found)
			log_debug(e->qid, "mta-sts domain=%s id=%s mode=%s from=%s", domain, sts->id, sts_mode_name(sts->mode),
			          sts->from);
	}
	if (want & TLSPOLICY_TLS_OPTIONAL)
		log_info(e->qid, "tls-required=no: the recipient's DANE and MTA-STS do not hold this message back "
		         "(RFC 8689 5)");
	if (r == MX_OK)
		try_hops(st, e, idx, n, res, plan, err, errlen, w, cache);
	route_plan_free(plan);
}

/* The recipients idx[0..n) through the smarthost, under its policy (its URL's). */
static void deliver_smarthost(const struct settings *st, const struct spool_entry *e, const size_t *idx, size_t n,
                              struct smtp_client_result *res, char *err, size_t errlen, struct where *w,
                              struct relay_cache *cache)
{
	struct tls_policy tls;

	tlspolicy_smarthost(st->tls, &tls);
	relay_deliver(&st->relay, &tls, e, idx, n, res, err, errlen, w->tls, sizeof(w->tls), cache, NULL);
	w->outcome = tlspolicy_outcome(&tls, w->tls[0] != '\0');
	snprintf(w->host, sizeof(w->host), "%s:%s", st->relay.host, st->relay.port);
}

/* What one destination said about recipient i: 1 accepted (recorded now, or marked done
 * for the removal to record when defer), 0 refused for good, -1 try again (why: the reason). */
static int judge_rcpt(struct spool *sp, struct spool_entry *e, size_t i, const struct smtp_client_result *r,
                      const struct where *w, const char *err, int defer, char *why, size_t whylen)
{
	if (r->code == 250) {
		spool_entry_delivered(e);
		if (defer)
			e->rcpts[i].done = 1;           /* recorded by the caller, or by the removal */
		else if (spool_entry_done(sp, e, i) < 0)
			log_warn(e->qid, "delivered to=<%s> but cannot record it yet", e->rcpts[i].target);
		if (w->tls[0])
			log_info(e->qid, "delivered to=<%s> relay=%s tls=%s tls_detail=\"%s\"", e->rcpts[i].target, w->host,
			         w->outcome ? w->outcome : "encrypted", w->tls);
		else
			log_info(e->qid, "delivered to=<%s> relay=%s tls=none", e->rcpts[i].target, w->host);
		return 1;
	}
	if (r->code >= 500) {
		snprintf(why, whylen, "%s%s%s (%s, at %s)", r->esc, r->esc[0] ? " " : "", r->text, w->host, r->stage);
		fail_rcpt(sp, e, i, r->code, why);
		return 0;
	}
	if (r->code)
		snprintf(why, whylen, "%d %s %s (%s, at %s)", r->code, r->esc, r->text, w->host, r->stage);
	else
		snprintf(why, whylen, "%s", err[0] ? err : "no answer");
	log_info(e->qid, "deferred to=<%s> relay=%s reason=\"%s\"", e->rcpts[i].target, w->host, why);
	return -1;
}

void runner_deliver_remote(struct runner *rn, struct spool *sp, const struct settings *st, struct spool_entry *e,
                           int force)
{
	size_t idx[1024], n = 0;
	long long now = (long long)time(NULL);
	char err[600], why[900];
	int temp = 0;

	for (size_t i = 0; i < e->nrcpts && n < 1024; i++)
		if (!e->rcpts[i].done && e->rcpts[i].fail_code == 0 && !e->rcpts[i].local)
			idx[n++] = i;
	if (n == 0)
		return;
	if (now - e->arrival >= (long long)st->lifetime) {
		char span[32];
		duration_words((long long)st->lifetime, span, sizeof(span));
		/* What happened, in the bounce's words: for how long, and what the last try met. */
		snprintf(why, sizeof(why), "4.4.7 not delivered for %s (the longest this server keeps trying); the last "
		         "attempt: %s", span, e->last_error && e->last_error[0] ? e->last_error : "no answer");
		for (size_t k = 0; k < n; k++)
			fail_rcpt(sp, e, idx[k], 500, why);
		return;
	}
	if (!force && e->next_attempt > now)
		return;
	/* Recipients of one domain next to each other (insertion sort: n is small). */
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && strcasecmp(strrchr(e->rcpts[idx[b - 1]].target, '@'),
		                                       strrchr(e->rcpts[idx[b]].target, '@')) > 0; b--) {
			size_t t = idx[b];
			idx[b] = idx[b - 1];
			idx[b - 1] = t;
		}
	struct smtp_client_result *res = calloc(n, sizeof(*res));
	if (res == NULL)
		return;
	/* When these are the message's only open recipients and all are accepted, the removal
	 * that follows (made durable) records them: no done record each (see deliver_one). */
	size_t open_total = 0, accepted = 0;
	for (size_t i = 0; i < e->nrcpts; i++)
		if (!e->rcpts[i].done && e->rcpts[i].fail_code == 0)
			open_total++;
	int defer_records = open_total == n;
	err[0] = '\0';
	/* One attempt per destination: the smarthost takes everyone, direct delivery goes by domain. */
	for (size_t start = 0; start < n; ) {
		size_t end = start + 1;
		struct where w = { "", "", NULL };
		if (st->relay.scheme != RELAY_NONE)
			end = n;
		else {
			const char *d = strrchr(e->rcpts[idx[start]].target, '@');
			while (end < n && strcasecmp(strrchr(e->rcpts[idx[end]].target, '@'), d) == 0)
				end++;
		}
		char dest[300];
		struct relay_cache *cache = NULL;
		if (st->relay.scheme != RELAY_NONE)
			snprintf(dest, sizeof(dest), "%s:%s", st->relay.host, st->relay.port);
		else
			snprintf(dest, sizeof(dest), "%s", strrchr(e->rcpts[idx[start]].target, '@') + 1);
		if (rn != NULL)
			cache = dest_get(rn, dest, st->dest_limit);
		if (st->relay.scheme != RELAY_NONE)
			deliver_smarthost(st, e, idx + start, end - start, res + start, err, sizeof(err), &w, cache);
		else
			deliver_direct(st, e, idx + start, end - start, res + start, err, sizeof(err), &w, cache);
		if (rn != NULL)
			dest_put(rn, dest, cache);
		for (size_t k = start; k < end; k++) {
			int got = judge_rcpt(sp, e, idx[k], &res[k], &w, err, defer_records, why, sizeof(why));
			accepted += got > 0;
			temp |= got < 0;
		}
		start = end;
	}
	if (defer_records && accepted == n)
		e->unrecorded = 1;
	else if (defer_records)
		/* Not all done: no removal follows, so each acceptance must be recorded now. */
		for (size_t k = 0; k < n; k++)
			if (res[k].code == 250 && spool_entry_done(sp, e, idx[k]) < 0)
				log_warn(e->qid, "delivered to=<%s> but cannot record it yet", e->rcpts[idx[k]].target);
	if (temp) {
		unsigned wait = st->retry[e->attempts < st->nretry ? e->attempts : st->nretry - 1];
		if (spool_entry_retry(sp, e, now + wait, why) < 0)
			log_warn(e->qid, "cannot record the attempt");
	}
	free(res);
}
