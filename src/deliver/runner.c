/*
 * runner.c - the delivery runner: the queue scan, the workers, one message from its load to
 * its removal (local.c, remote.c and bounce.c do the deliveries and the reports), retries,
 * expiry and reconfiguration.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../auth/directory.h"
#include "../net/dns.h"
#include "../msg/dkimsign.h"
#include "../queue/spool.h"
#include "../util/duration.h"
#include "../util/errlist.h"
#include "../util/log.h"
#include "target.h"
#include "../route/mtasts.h"
#include "../route/mx.h"
#include "../route/tlsrpt.h"
#include "runner_int.h"

/* ---- settings -------------------------------------------------------------------------- */

static void settings_unref(struct settings *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	free(s->hostname);
	free(s->delimiter);
	free(s->tlsrpt_dir);
	free(s->tlsrpt_contact);
	dkim_keys_free(s->dkim);
	relay_conf_clear(&s->relay);
	directory_free(s->dir);
	target_free(s->target);
	tlspolicy_free(s->tls);
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
	struct tlspolicy_conf tc;
	char perr[300];
	relay_tlspolicy_conf(&s->relay, &tc);
	tc.mx_policy = rc->tls_policy;
	tc.trust_anchor = rc->trust_anchor;
	tc.sts_cache_dir = rc->sts_cache_dir;
	tc.sts_ca_file = rc->sts_ca_file;
	tc.sts_port = rc->sts_port;
	if (rc->tlsrpt_dir != NULL) {
		s->tlsrpt_dir = strdup(rc->tlsrpt_dir);
		s->tlsrpt_contact = strdup(rc->tlsrpt_contact ? rc->tlsrpt_contact : "postmaster");
	}
	s->dkim = dkim_keys_ref(rc->dkim);
	if ((s->tls = tlspolicy_new(&tc, perr, sizeof(perr))) == NULL)
		log_warnx(NULL, "relay: tls_policy: %s", perr);
	if (rc->users_path != NULL || rc->pg_conninfo != NULL) {
		struct errlist errs = { 0 };
		/* warned already; lookups only */
		struct directory_conf dc = { rc->users_path, 1, NULL, NULL, NULL, rc->pg_conninfo, rc->pg_password,
		                             rc->pg_max_stale, NULL };
		if ((s->dir = directory_open(&dc, &errs)) != NULL && directory_start(s->dir) < 0)
			log_warnx(NULL, "runner: cannot start the directory's listener");
		errlist_free(&errs);
	}
	if (s->hostname != NULL) {
		char err[128];
		if ((s->target = target_new(rc->maildir, rc->agent, s->hostname, err, sizeof(err))) == NULL)
			log_warnx(NULL, "local delivery: %s", err);
	}
	s->local_domains = calloc(rc->nlocal_domains + 1, sizeof(char *));
	for (size_t i = 0; s->local_domains && i < rc->nlocal_domains; i++)
		if ((s->local_domains[i] = strdup(rc->local_domains[i])) != NULL)
			s->nlocal_domains++;
	if (s->hostname == NULL || s->target == NULL || s->tls == NULL || s->delimiter == NULL || s->local_domains == NULL) {
		settings_unref(s);
		return NULL;
	}
	return s;
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
			if (runner_deliver_local(sp, st, e, i, open == 1) == 1)
				open--;
	runner_deliver_remote(rn, sp, st, e, force);
	for (size_t i = 0; i < e->nrcpts; i++) {
		if (e->rcpts[i].fail_code && !e->rcpts[i].bounced)
			failed = 1;
		else if (!e->rcpts[i].done && !e->rcpts[i].fail_code)
			pending = 1;
	}
	if (failed) {
		char bqid[SPOOL_QID_MAX] = "";
		int r = e->sender[0] == '\0' ? 1 : runner_make_bounce(sp, st, e, bqid);
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

/* ---- background jobs: TLS-RPT reports (tlsrpt.h), the MTA-STS refresh (mtasts.h) ---------- */

#define STS_REFRESH_EVERY 3600          /* seconds; and once at start */

enum bg_kind { BG_TLSRPT = 1, BG_STS = 2 };

struct bg_job {
	struct runner *r;
	struct settings *st;
	enum bg_kind kind;
	char day[11];
};

static void tlsrpt_queued(void *arg, const char *qid)
{
	runner_wake(arg, qid);
}

static void *bg_main(void *arg)
{
	struct bg_job *j = arg;
	struct settings *st = j->st;
	struct sts_conf sc;
	char err[300];

	tlspolicy_sts_conf(st->tls, &sc);
	struct dns *d = dns_new(st->relay.resolver, DNS_ASK_ALL, err, sizeof(err));
	if (d == NULL)
		log_warnx(NULL, "%s: %s", j->kind == BG_TLSRPT ? "tlsrpt" : "mta-sts refresh", err);
	else {
		dns_set_timeout(d, sc.timeout_ms);
		if (j->kind == BG_TLSRPT) {
			struct tlsrpt_send_conf c = { st->tlsrpt_dir, st->hostname, st->tlsrpt_contact, sc.ca_file,
			                              sc.timeout_ms, j->r->sp, tlsrpt_queued, j->r };
			int n = tlsrpt_send_day(&c, d, j->day, 1);
			log_info(NULL, "tlsrpt day=%s: %d report%s sent", j->day, n < 0 ? 0 : n, n == 1 ? "" : "s");
		} else
			(void)sts_refresh(d, &sc);
		dns_free(d);
	}
	pthread_mutex_lock(&j->r->mu);
	j->r->bg_busy &= ~(unsigned)j->kind;
	settings_unref(st);
	pthread_mutex_unlock(&j->r->mu);
	free(j);
	return NULL;
}

/* With r->mu held; one job of a kind at a time. The thread is detached: runner_stop() waits
 * for bg_busy to clear. */
static void bg_start_locked(struct runner *r, enum bg_kind kind, const char *day)
{
	struct bg_job *j;
	pthread_t t;
	pthread_attr_t at;

	if ((r->bg_busy & (unsigned)kind) || (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->r = r;
	j->st = r->set;
	j->st->refs++;
	j->kind = kind;
	snprintf(j->day, sizeof(j->day), "%s", day ? day : "");
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, bg_main, j) != 0) {
		j->st->refs--;
		free(j);
	} else
		r->bg_busy |= (unsigned)kind;
	pthread_attr_destroy(&at);
}

void runner_tlsrpt(struct runner *r, const char *day)
{
	pthread_mutex_lock(&r->mu);
	if (r->set->tlsrpt_dir != NULL)
		bg_start_locked(r, BG_TLSRPT, day);
	pthread_mutex_unlock(&r->mu);
}

/* At each scan: yesterday's reports once (unless a .sent mark says they went, also before a
 * restart), and the MTA-STS refresh hourly. */
static void bg_due_locked(struct runner *r)
{
	char day[11], mark[4200];
	struct stat sb;
	long long now = (long long)time(NULL);
	struct sts_conf sc;

	tlspolicy_sts_conf(r->set->tls, &sc);
	if (sc.cache_dir != NULL && now >= r->sts_next) {
		r->sts_next = now + STS_REFRESH_EVERY;
		bg_start_locked(r, BG_STS, NULL);
	}
	if (r->set->tlsrpt_dir == NULL || tlsrpt_day("yesterday", day) != 0 || strcmp(day, r->tlsrpt_checked) == 0)
		return;
	snprintf(r->tlsrpt_checked, sizeof(r->tlsrpt_checked), "%s", day);
	snprintf(mark, sizeof(mark), "%s/%s", r->set->tlsrpt_dir, day);
	if (stat(mark, &sb) != 0)
		return;                 /* nothing recorded that day */
	snprintf(mark, sizeof(mark), "%s/%s.sent", r->set->tlsrpt_dir, day);
	if (stat(mark, &sb) != 0)
		bg_start_locked(r, BG_TLSRPT, day);
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
	pthread_setname_np(pthread_self(), "runner");
	pthread_mutex_lock(&r->mu);
	for (;;) {
		struct timespec until;
		while (!r->stop && r->head == NULL && !(r->scan_now && !r->scanning)) {
			long long now = (long long)time(NULL);
			/* Kept connections nobody used for a while are closed politely (QUIT). */
			long long expire = runner_pool_expire_locked(r, 0);
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
			bg_due_locked(r);
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
	runner_pool_expire_locked(r, 1);
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
	pthread_mutex_unlock(&r->mu);
	/* Signalled after the unlock: woken under the lock, the runner would at once block on
	 * it, and the event loop (which wakes it once per accepted message) with it. */
	pthread_cond_signal(&r->cv);
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
	/* A background job holds the runner: its DNS and HTTPS timeouts bound the wait. */
	pthread_mutex_lock(&r->mu);
	while (r->bg_busy) {
		pthread_mutex_unlock(&r->mu);
		usleep(20000);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
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
