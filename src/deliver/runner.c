/*
 * runner.c - delivery workers: the per-recipient exactly-once protocol, remote delivery
 * through the smarthost, retries, expiry and bounces. Not a DNS resolver yet: without a
 * smarthost, non-local mail waits in the queue (direct MX delivery is the next step).
 */
#include "runner.h"

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

#include "../auth/users.h"
#include "../queue/spool.h"
#include "../util/duration.h"
#include "../util/errlist.h"
#include "../util/log.h"
#include "agent.h"
#include "maildir.h"
#include "mx.h"

#define MAX_WORKERS 256

/* Settings shared by the workers; replaced whole on reconfigure, freed by the last user. */
struct settings {
	int refs;
	char *maildir, *hostname, *delimiter;
	unsigned retry_interval, lifetime, dest_limit;
	unsigned retry[16];
	size_t nretry;
	struct relay_conf relay;
	struct users *users;            /* may be NULL: bounces then go to the relay only */
	char **local_domains;
	size_t nlocal_domains;
	struct agent *agent;            /* not owned; NULL: Maildirs are written by this process */
};

struct qnode {
	struct qnode *next;
	int force;                      /* from a flush: ignore the next-attempt time */
	char qid[SPOOL_QID_MAX];
};

struct runner {
	struct spool *sp;
	pthread_t threads[MAX_WORKERS];
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct qnode *head, *tail;
	char inflight[MAX_WORKERS][SPOOL_QID_MAX];
	int stop, scan_now, scanning, force;
	long long next_scan;
	struct settings *set;
	/* connections open per destination (smarthost host:port, or MX domain) */
	pthread_cond_t dest_cv;
	struct { char key[300]; unsigned count; } dests[MAX_WORKERS];
	struct { struct relay_cache cache; char dest[300]; long long idle_since; } pool[MAX_WORKERS];
};

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
static long long pool_expire_locked(struct runner *r, int force)
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

/* ---- settings -------------------------------------------------------------------------- */

static void settings_unref(struct settings *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	free(s->maildir);
	free(s->hostname);
	free(s->delimiter);
	relay_conf_clear(&s->relay);
	users_free(s->users);
	for (size_t i = 0; i < s->nlocal_domains; i++)
		free(s->local_domains[i]);
	free(s->local_domains);
	free(s);
}

static struct settings *settings_new(const struct runner_conf *rc)
{
	struct settings *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->refs = 1;
	s->maildir = strdup(rc->maildir);
	s->hostname = strdup(rc->hostname);
	s->delimiter = strdup(rc->delimiter ? rc->delimiter : "");
	s->retry_interval = rc->retry_interval;
	s->lifetime = rc->lifetime ? rc->lifetime : 5 * 86400;
	s->dest_limit = rc->dest_concurrency ? rc->dest_concurrency : 4;
	s->nretry = rc->nretry < 16 ? rc->nretry : 16;
	if (s->nretry > 0)
		memcpy(s->retry, rc->retry, s->nretry * sizeof(unsigned));
	if (s->nretry == 0) {
		s->retry[0] = 60;
		s->nretry = 1;
	}
	if (rc->relay != NULL)
		relay_conf_copy(&s->relay, rc->relay);
	if (rc->users_path != NULL) {
		struct errlist errs = { 0 };
		s->users = users_load(rc->users_path, &errs);
		errlist_free(&errs);
	}
	s->agent = rc->agent;
	s->local_domains = calloc(rc->nlocal_domains + 1, sizeof(char *));
	for (size_t i = 0; s->local_domains && i < rc->nlocal_domains; i++)
		if ((s->local_domains[i] = strdup(rc->local_domains[i])) != NULL)
			s->nlocal_domains++;
	if (s->maildir == NULL || s->hostname == NULL || s->delimiter == NULL || s->local_domains == NULL) {
		settings_unref(s);
		return NULL;
	}
	return s;
}

/* ---- local delivery -------------------------------------------------------------------- */

/* Record recipient i as done, unless it is the message's last open recipient: then the
 * caller removes the whole message next, and a crash before that removal is safe without the
 * record (a Maildir copy is found again through its intent record; a discard is repeated). */
static int mark_done(struct spool *sp, struct spool_entry *e, size_t i, int last)
{
	if (last) {
		e->rcpts[i].done = 1;
		return 0;
	}
	return spool_entry_done(sp, e, i);
}

/* Returns 1 when the recipient is now done, 0 when it stays pending. last: see mark_done. */
static int deliver_local(struct spool *sp, const struct settings *st, struct spool_entry *e, size_t i, int last)
{
	struct spool_rcpt *r = &e->rcpts[i];
	char md[PATH_MAX], name[512], tmp[PATH_MAX], newp[PATH_MAX], err[PATH_MAX + 128];
	const char *qid = e->qid;

	if (r->intent != NULL) {
		/* Recovery: step 2 happened before the crash; no tmp file means step 3 did too. */
		if (agent_publish(st->agent, r->intent, newp, sizeof(newp), err, sizeof(err)) < 0) {
			log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
			return 0;
		}
		if (mark_done(sp, e, i, last) < 0) {
			log_warn(qid, "cannot record delivery to=<%s>", r->target);
			return 0;
		}
		log_info(qid, "delivered to=<%s> relay=maildir recovered=yes", r->target);
		return 1;
	}
	if (strcmp(st->maildir, "discard:") == 0) {
		/* Postfix's discard transport: the message was durable, the recipient is done. */
		if (mark_done(sp, e, i, last) < 0) {
			log_warn(qid, "cannot record delivery to=<%s>", r->target);
			return 0;
		}
		log_info(qid, "delivered to=<%s> relay=discard size=%zu", r->target, e->body_len);
		return 1;
	}
	if (maildir_expand(st->maildir, r->target, md, sizeof(md)) < 0) {
		log_warnx(qid, "delivery deferred to=<%s> reason=\"maildir pattern %s gives no valid path\"",
		          r->target, st->maildir);
		return 0;
	}
	maildir_name(name, sizeof(name), e->arrival, e->qid, i, st->hostname);
	if (agent_write(st->agent, st->maildir, r->target, name, e->fd, e->body_off, e->body_len, e->sender,
	                tmp, sizeof(tmp), err, sizeof(err)) < 0) {
		log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
		return 0;
	}
	if (spool_entry_intent(sp, e, i, tmp) < 0) {
		/* The tmp/ copy stays: the retry writes the same name over it. */
		log_warn(qid, "delivery deferred to=<%s>: cannot record intent", r->target);
		return 0;
	}
	if (agent_publish(st->agent, tmp, newp, sizeof(newp), err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "%s vanished before it reached new/", tmp);
		log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
		return 0;
	}
	if (mark_done(sp, e, i, last) < 0) {
		log_warn(qid, "delivered to=<%s> but cannot record it yet", r->target);
		return 0;
	}
	log_info(qid, "delivered to=<%s> relay=maildir size=%zu path=%s", r->target, e->body_len, newp);
	return 1;
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
	char tls[160];
};

/* Direct delivery of the recipients idx[0..n) of one domain: MX hosts in order, each of their
 * addresses, until a server decides the recipients. */
static void deliver_direct(const struct settings *st, const struct spool_entry *e, const size_t *idx, size_t n,
                           struct smtp_client_result *res, char *err, size_t errlen, struct where *w,
                           struct relay_cache *cache)
{
	struct mx_host *hosts = calloc(MX_MAX_HOSTS, sizeof(*hosts));
	const char *domain = strrchr(e->rcpts[idx[0]].target, '@') + 1;
	size_t nhosts = 0;
	int r;

	if (hosts == NULL) {
		snprintf(err, errlen, "out of memory");
		return;
	}
	r = mx_lookup(st->relay.resolver, st->relay.timeout * 1000L, domain, hosts, &nhosts, err, errlen);
	snprintf(w->host, sizeof(w->host), "%s", domain);
	if (r == MX_NXDOMAIN || r == MX_NULL) {
		for (size_t k = 0; k < n; k++) {
			res[k].code = r == MX_NULL ? 556 : 550;
			snprintf(res[k].esc, sizeof(res[k].esc), "%s", r == MX_NULL ? "5.1.10" : "5.1.2");
			snprintf(res[k].text, sizeof(res[k].text), "%.500s", err);
			snprintf(res[k].stage, sizeof(res[k].stage), "dns");
		}
		free(hosts);
		return;
	}
	for (size_t h = 0; r == MX_OK && h < nhosts; h++) {
		for (size_t a = 0; a < hosts[h].naddrs; a++) {
			struct relay_conf rc = st->relay;
			char attempt_err[600];
			rc.scheme = RELAY_OPPORTUNISTIC;
			rc.host = hosts[h].addrs[a];
			rc.name = hosts[h].name;
			rc.port = st->relay.mx_port ? st->relay.mx_port : "25";
			rc.user = rc.password = NULL;       /* never AUTH to an MX */
			int rr = relay_deliver(&rc, e, idx, n, res, attempt_err, sizeof(attempt_err), w->tls, sizeof(w->tls),
			                       cache);
			if (rr == RELAY_ETLS) {
				/* RFC 3207 opportunistic TLS failed: the same host in plaintext, as no
				 * policy requires TLS for this destination. */
				log_info(e->qid, "tls failed with %s [%s]: retrying in plaintext: %s", hosts[h].name,
				         hosts[h].addrs[a], attempt_err);
				rc.scheme = RELAY_PLAIN;
				relay_deliver(&rc, e, idx, n, res, attempt_err, sizeof(attempt_err), w->tls, sizeof(w->tls),
				              NULL);
			}
			snprintf(w->host, sizeof(w->host), "%s[%s]:%s", hosts[h].name, hosts[h].addrs[a], rc.port);
			int decided = 0;
			for (size_t k = 0; k < n; k++)
				if (res[k].code != 0)
					decided = 1;
			if (decided) {
				err[0] = '\0';
				free(hosts);
				return;
			}
			snprintf(err, errlen, "%s", attempt_err);   /* this host failed: the next one */
		}
	}
	free(hosts);
}

static void deliver_remote(struct runner *rn, struct spool *sp, const struct settings *st, struct spool_entry *e,
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
		struct where w = { "", "" };
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
		if (st->relay.scheme != RELAY_NONE) {
			relay_deliver(&st->relay, e, idx + start, end - start, res + start, err, sizeof(err), w.tls,
			              sizeof(w.tls), cache);
			snprintf(w.host, sizeof(w.host), "%s:%s", st->relay.host, st->relay.port);
		} else
			deliver_direct(st, e, idx + start, end - start, res + start, err, sizeof(err), &w, cache);
		if (rn != NULL)
			dest_put(rn, dest, cache);
		for (size_t k = start; k < end; k++) {
			size_t i = idx[k];
			const struct smtp_client_result *r = &res[k];
			if (r->code == 250) {
				accepted++;
				if (defer_records)
					e->rcpts[i].done = 1;   /* recorded below, or by the removal */
				else if (spool_entry_done(sp, e, i) < 0)
					log_warn(e->qid, "delivered to=<%s> but cannot record it yet", e->rcpts[i].target);
				log_info(e->qid, "delivered to=<%s> relay=%s tls=%s", e->rcpts[i].target, w.host,
				         w.tls[0] ? w.tls : "none");
			} else if (r->code >= 500) {
				snprintf(why, sizeof(why), "%s%s%s (%s, at %s)", r->esc, r->esc[0] ? " " : "", r->text,
				         w.host, r->stage);
				fail_rcpt(sp, e, i, r->code, why);
			} else {
				temp = 1;
				if (r->code)
					snprintf(why, sizeof(why), "%d %s %s (%s, at %s)", r->code, r->esc, r->text, w.host, r->stage);
				else
					snprintf(why, sizeof(why), "%s", err[0] ? err : "no answer");
				log_info(e->qid, "deferred to=<%s> relay=%s reason=\"%s\"", e->rcpts[i].target, w.host, why);
			}
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

/* ---- bounces (RFC 3464) ---------------------------------------------------------------- */

/* Postfix's bounce_size_limit: a larger original comes back as its header only (RFC 3464 2.1
 * lets the third part be text/rfc822-headers), and the text says so. */
#define BOUNCE_RETURN_MAX 50000
#define BOUNCE_RETURN_TEXT "50,000"

static int is_local_domain(const struct settings *st, const char *addr)
{
	const char *at = strrchr(addr, '@');

	for (size_t i = 0; at && i < st->nlocal_domains; i++)
		if (strcasecmp(st->local_domains[i], at + 1) == 0)
			return 1;
	return 0;
}

static int put(struct spool_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(struct spool_msg *m, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	return spool_msg_write(m, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* The original's header block (up to the empty line, at most 64 KiB), for text/rfc822-headers. */
static int copy_headers(struct spool_msg *m, const struct spool_entry *e)
{
	char buf[64 * 1024];
	size_t want = e->body_len < sizeof(buf) ? e->body_len : sizeof(buf);
	ssize_t n = want ? pread(e->fd, buf, want, e->body_off) : 0;
	char *end;

	if (n < 0)
		return -1;
	end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
	size_t len = end ? (size_t)(end - buf) + 2 : (size_t)n;
	if (spool_msg_write(m, buf, len) < 0)
		return -1;
	return len >= 2 && buf[len - 2] == '\r' ? 0 : spool_msg_write(m, "\r\n", 2);
}

/* The whole original (at most BOUNCE_RETURN_MAX octets), for message/rfc822. */
static int copy_message(struct spool_msg *m, const struct spool_entry *e)
{
	char buf[16384];
	int crlf_end = 0;

	for (size_t off = 0; off < e->body_len;) {
		size_t want = e->body_len - off < sizeof(buf) ? e->body_len - off : sizeof(buf);
		ssize_t n = pread(e->fd, buf, want, e->body_off + (off_t)off);
		if (n <= 0 || spool_msg_write(m, buf, (size_t)n) < 0)
			return -1;
		off += (size_t)n;
		crlf_end = n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n';
	}
	return crlf_end ? 0 : spool_msg_write(m, "\r\n", 2);
}

static int make_bounce(struct spool *sp, const struct settings *st, const struct spool_entry *e, char *qid_out)
{
	struct spool_msg *m = spool_msg_begin(sp, (long long)time(NULL));
	const struct user *u = NULL;
	char date[64], arrival[64], target[SMTP_ADDR_MAX + 1];
	time_t now = time(NULL), arr = (time_t)e->arrival;
	struct tm tm;
	int local = is_local_domain(st, e->sender), whole = e->body_len <= BOUNCE_RETURN_MAX;

	if (m == NULL)
		return -1;
	snprintf(qid_out, SPOOL_QID_MAX, "%s", spool_msg_qid(m));
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	localtime_r(&arr, &tm);
	strftime(arrival, sizeof(arrival), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (local && st->users != NULL)
		u = users_resolve(st->users, e->sender, st->delimiter[0]);
	snprintf(target, sizeof(target), "%s", u ? u->address : e->sender);
	if (local && u == NULL) {
		spool_msg_abort(m);
		log_warnx(e->qid, "no bounce: the local sender <%s> has no mailbox", e->sender);
		return 1;
	}
	if (spool_msg_sender(m, "") < 0 || spool_msg_rcpt(m, target, e->sender, local) < 0)
		goto fail;
	const char *b = spool_msg_qid(m);
	if (put(m, "Received: by %s (mailport) id %s;\r\n\t%s\r\n", st->hostname, b, date) < 0 ||
	    put(m, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\n", st->hostname, e->sender) < 0 ||
	    put(m, "Subject: Undelivered Mail Returned to Sender\r\nDate: %s\r\n", date) < 0 ||
	    put(m, "Message-ID: <%s.bounce@%s>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n", b,
	        st->hostname) < 0 ||
	    put(m, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s/%s\"\r\n\r\n",
	        b, st->hostname) < 0 ||
	    put(m, "This is a MIME-encapsulated message.\r\n\r\n--%s/%s\r\n", b, st->hostname) < 0 ||
	    put(m, "Content-Type: text/plain; charset=utf-8\r\n\r\nThis is the mail system at %s.\r\n\r\n"
	        "Your message could not be delivered to one or more recipients. %s\r\n\r\n"
	        "What happened:\r\n\r\n", st->hostname, whole ? "It is attached below." :
	        "Its header is attached below (the whole message is larger than the " BOUNCE_RETURN_TEXT
	        " octets this server returns).") < 0)
		goto fail;
	for (size_t i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i].fail_code && !e->rcpts[i].bounced &&
		    put(m, "<%s>: %d %s\r\n", e->rcpts[i].orig, e->rcpts[i].fail_code,
		        e->rcpts[i].fail_text ? e->rcpts[i].fail_text : "") < 0)
			goto fail;
	if (put(m, "\r\n--%s/%s\r\nContent-Type: message/delivery-status\r\n\r\n", b, st->hostname) < 0 ||
	    put(m, "Reporting-MTA: dns; %s\r\nX-Mailport-Queue-ID: %s\r\nArrival-Date: %s\r\n", st->hostname,
	        e->qid, arrival) < 0)
		goto fail;
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct spool_rcpt *r = &e->rcpts[i];
		char status[16] = "5.0.0";
		if (!r->fail_code || r->bounced)
			continue;
		/* The text starts with the enhanced code when the server gave one. */
		if (r->fail_text && strlen(r->fail_text) >= 5 && (r->fail_text[0] == '4' || r->fail_text[0] == '5') &&
		    r->fail_text[1] == '.')
			sscanf(r->fail_text, "%15s", status);
		if (status[0] == '4')
			status[0] = '5';        /* expired: a temporary code became final */
		if (put(m, "\r\nFinal-Recipient: rfc822; %s\r\nOriginal-Recipient: rfc822; %s\r\nAction: failed\r\n"
		        "Status: %s\r\nDiagnostic-Code: smtp; %d %s\r\n", r->target, r->orig, status, r->fail_code,
		        r->fail_text ? r->fail_text : "") < 0)
			goto fail;
	}
	if (put(m, "\r\n--%s/%s\r\nContent-Type: %s\r\n\r\n", b, st->hostname,
	        whole ? "message/rfc822" : "text/rfc822-headers") < 0 ||
	    (whole ? copy_message(m, e) : copy_headers(m, e)) < 0 || put(m, "\r\n--%s/%s--\r\n", b, st->hostname) < 0)
		goto fail;
	return spool_msg_commit(m) < 0 ? -1 : 0;
fail:
	spool_msg_abort(m);
	return -1;
}

/* ---- one message --------------------------------------------------------------------------- */

static void deliver_one(struct runner *rn, struct spool *sp, const struct settings *st, const char *qid, int force)
{
	struct spool_entry *e = spool_entry_load(sp, qid);
	int pending = 0, failed = 0;

	if (e == NULL) {
		if (errno == EBUSY && rn != NULL)
			runner_wake(rn, qid);       /* the operator looks at it right now: after that */
		else if (errno == EBADMSG)
			log_errx(qid, "queue file failed validation: moved to corrupt/ for inspection");
		else if (errno != ENOENT)
			log_warn(qid, "delivery deferred: cannot read queue file");
		return;
	}
	size_t open = 0;
	for (size_t i = 0; i < e->nrcpts; i++)
		if (!e->rcpts[i].done && e->rcpts[i].fail_code == 0)
			open++;
	for (size_t i = 0; i < e->nrcpts; i++)
		if (!e->rcpts[i].done && e->rcpts[i].fail_code == 0 && e->rcpts[i].local)
			if (deliver_local(sp, st, e, i, open == 1) == 1)
				open--;
	deliver_remote(rn, sp, st, e, force);
	for (size_t i = 0; i < e->nrcpts; i++) {
		if (e->rcpts[i].fail_code && !e->rcpts[i].bounced)
			failed = 1;
		else if (!e->rcpts[i].done && !e->rcpts[i].fail_code)
			pending = 1;
	}
	if (failed) {
		char bqid[SPOOL_QID_MAX] = "";
		int r = e->sender[0] == '\0' ? 1 : make_bounce(sp, st, e, bqid);
		if (r < 0) {
			log_warn(qid, "cannot queue the bounce; will try again");
			pending = 1;
		} else {
			if (r == 0) {
				log_info(qid, "bounce queued id=%s to=<%s>", bqid, e->sender);
				if (rn != NULL)
					runner_wake(rn, bqid);
			} else if (e->sender[0] == '\0')
				log_info(qid, "no bounce for a message from <> (no bounce loops)");
			/* XXX a crash between the bounce's commit and these records sends that bounce
			 * twice; the window is a few fdatasyncs, the alternative is losing it. */
			for (size_t i = 0; i < e->nrcpts; i++)
				if (e->rcpts[i].fail_code && !e->rcpts[i].bounced && spool_entry_bounced(sp, e, i) < 0)
					pending = 1;
		}
	}
	if (pending && spool_entry_keep(sp, e) < 0)
		log_warn(qid, "cannot write the deferred message to the queue (the journal keeps it)");
	if (!pending && spool_entry_remove(sp, e) == 0)
		log_info(qid, "removed");
	else {
		if (!pending)
			log_warn(qid, "cannot remove delivered message from queue");
		/* The message stays: the done records it went without are owed after all. */
		if (e->unrecorded)
			for (size_t i = 0; i < e->nrcpts; i++)
				if (e->rcpts[i].done && !e->rcpts[i].local && spool_entry_done(sp, e, i) < 0)
					log_warn(qid, "cannot record delivery to=<%s>", e->rcpts[i].target);
	}
	spool_entry_free(e);
}

/* ---- workers ------------------------------------------------------------------------------- */

static void enqueue_locked(struct runner *r, const char *qid)
{
	struct qnode *n;

	for (n = r->head; n != NULL; n = n->next)
		if (strcmp(n->qid, qid) == 0) {
			n->force |= r->force;
			return;             /* already waiting */
		}
	n = malloc(sizeof(*n));
	if (n == NULL)
		return;                 /* the periodic scan will find it */
	n->force = r->force;
	snprintf(n->qid, sizeof(n->qid), "%s", qid);
	n->next = NULL;
	if (r->tail)
		r->tail->next = n;
	else
		r->head = n;
	r->tail = n;
}

struct scan_ctx {
	struct runner *r;
	struct spool *sp;
	const struct settings *st;
};

static void scan_cb(void *arg, const char *qid)
{
	struct scan_ctx *sc = arg;

	if (sc->r != NULL) {
		pthread_mutex_lock(&sc->r->mu);
		enqueue_locked(sc->r, qid);
		pthread_cond_signal(&sc->r->cv);
		pthread_mutex_unlock(&sc->r->mu);
	} else
		deliver_one(NULL, sc->sp, sc->st, qid, 1);
}

void runner_run_once(struct spool *sp, const struct runner_conf *rc)
{
	struct settings *st = settings_new(rc);
	struct scan_ctx sc = { NULL, sp, st };

	if (st == NULL)
		return;
	spool_scan(sp, scan_cb, &sc);
	settings_unref(st);
}

struct worker_arg {
	struct runner *r;
	unsigned id;
};

static void *worker_main(void *arg)
{
	struct runner *r = ((struct worker_arg *)arg)->r;
	unsigned id = ((struct worker_arg *)arg)->id;
	free(arg);
	pthread_mutex_lock(&r->mu);
	for (;;) {
		struct timespec until;
		while (!r->stop && r->head == NULL && !(r->scan_now && !r->scanning)) {
			long long now = (long long)time(NULL);
			/* Kept connections nobody used for a while are closed politely (QUIT). */
			long long expire = pool_expire_locked(r, 0);
			if (r->head != NULL || r->stop)
				break;
			if (now >= r->next_scan && !r->scanning) {
				r->scan_now = 1;
				break;
			}
			until.tv_sec = (time_t)(expire && expire < r->next_scan ? expire : r->next_scan);
			until.tv_nsec = 0;
			pthread_cond_timedwait(&r->cv, &r->mu, &until);
		}
		if (r->stop)
			break;
		if (r->head == NULL && r->scan_now && !r->scanning) {
			struct settings *st = r->set;
			st->refs++;
			r->scan_now = 0;
			r->scanning = 1;
			r->next_scan = (long long)time(NULL) + st->retry_interval;
			pthread_mutex_unlock(&r->mu);
			struct scan_ctx sc = { r, r->sp, st };
			spool_scan(r->sp, scan_cb, &sc);
			pthread_mutex_lock(&r->mu);
			r->scanning = 0;
			r->force = 0;       /* the flush is carried by the queued nodes now */
			settings_unref(st);
			continue;
		}
		if (r->head == NULL)
			continue;
		struct qnode *n = r->head;
		r->head = n->next;
		if (r->head == NULL)
			r->tail = NULL;
		int busy = 0;
		for (unsigned k = 0; k < r->nthreads; k++)
			if (strcmp(r->inflight[k], n->qid) == 0)
				busy = 1;
		if (busy) {             /* another worker has it; the next scan brings it back */
			free(n);
			continue;
		}
		snprintf(r->inflight[id], SPOOL_QID_MAX, "%s", n->qid);
		struct settings *st = r->set;
		int force = n->force;
		st->refs++;
		pthread_mutex_unlock(&r->mu);
		deliver_one(r, r->sp, st, n->qid, force);
		free(n);
		pthread_mutex_lock(&r->mu);
		r->inflight[id][0] = '\0';
		settings_unref(st);
	}
	pool_expire_locked(r, 1);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

struct runner *runner_start(struct spool *sp, const struct runner_conf *rc)
{
	struct runner *r = calloc(1, sizeof(*r));
	unsigned want = rc->workers ? rc->workers : 1;

	if (r == NULL)
		return NULL;
	r->sp = sp;
	r->set = settings_new(rc);
	if (r->set == NULL) {
		free(r);
		return NULL;
	}
	r->scan_now = 1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_cond_init(&r->dest_cv, NULL);
	if (want > MAX_WORKERS)
		want = MAX_WORKERS;
	pthread_mutex_lock(&r->mu);
	for (unsigned i = 0; i < want; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		if (wa == NULL)
			break;
		wa->r = r;
		wa->id = i;
		if (pthread_create(&r->threads[i], NULL, worker_main, wa) != 0) {
			free(wa);
			break;
		}
		r->nthreads++;
	}
	pthread_mutex_unlock(&r->mu);
	if (r->nthreads == 0) {
		settings_unref(r->set);
		free(r);
		return NULL;
	}
	return r;
}

void runner_wake(struct runner *r, const char *qid)
{
	pthread_mutex_lock(&r->mu);
	enqueue_locked(r, qid);
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void runner_flush(struct runner *r)
{
	pthread_mutex_lock(&r->mu);
	r->force = 1;
	r->scan_now = 1;
	r->next_scan = 0;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void runner_reconfigure(struct runner *r, const struct runner_conf *rc)
{
	struct settings *st = settings_new(rc);

	if (st == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	settings_unref(r->set);
	r->set = st;
	r->scan_now = 1;
	r->next_scan = 0;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void runner_stop(struct runner *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	for (unsigned i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
	while (r->head) {
		struct qnode *n = r->head;
		r->head = n->next;
		free(n);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	pthread_cond_destroy(&r->dest_cv);
	settings_unref(r->set);
	free(r);
}
