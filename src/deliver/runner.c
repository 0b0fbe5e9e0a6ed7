/*
 * runner.c - the delivery worker thread and the per-recipient exactly-once protocol.
 * Not a scheduler for remote destinations yet: it delivers locally and leaves the rest queued.
 */
#include "runner.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../queue/spool.h"
#include "../util/log.h"
#include "maildir.h"

struct qnode {
	struct qnode *next;
	char qid[SPOOL_QID_MAX];
};

struct runner {
	struct spool *sp;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct qnode *head, *tail;
	int stop;
	int scan_now;
	char *maildir, *hostname;
	unsigned retry_interval;
};

/* Settings snapshot for one message, so a reload mid-message cannot change them under us. */
struct dconf {
	char maildir[PATH_MAX];
	char hostname[256];
};

static void deliver_one(struct spool *sp, const struct dconf *dc, const char *qid)
{
	struct spool_entry *e = spool_entry_load(sp, qid);
	int pending = 0;

	if (e == NULL) {
		if (errno == EBADMSG)
			log_errx(qid, "queue file failed validation: moved to corrupt/ for inspection");
		else if (errno != ENOENT)
			log_warn(qid, "delivery deferred: cannot read queue file");
		return;
	}
	for (size_t i = 0; i < e->nrcpts; i++) {
		struct spool_rcpt *r = &e->rcpts[i];
		char md[PATH_MAX], name[512], tmp[PATH_MAX], newp[PATH_MAX], err[PATH_MAX + 128];

		if (r->done)
			continue;
		if (!r->local) {
			pending = 1;
			continue;
		}
		if (r->intent != NULL) {
			/* Recovery: step 2 happened before the crash. */
			if (access(r->intent, F_OK) == 0) {
				if (maildir_publish(r->intent, newp, sizeof(newp), err, sizeof(err)) < 0) {
					log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
					pending = 1;
					continue;
				}
			}
			if (spool_entry_done(sp, e, i) < 0) {
				log_warn(qid, "cannot record delivery to=<%s>", r->target);
				pending = 1;
				continue;
			}
			log_info(qid, "delivered to=<%s> relay=maildir recovered=yes", r->target);
			continue;
		}
		if (maildir_expand(dc->maildir, r->target, md, sizeof(md)) < 0) {
			log_warnx(qid, "delivery deferred to=<%s> reason=\"maildir pattern %s gives no valid path\"",
			          r->target, dc->maildir);
			pending = 1;
			continue;
		}
		maildir_name(name, sizeof(name), e->arrival, e->qid, i, dc->hostname);
		if (maildir_write_tmp(md, name, e->fd, e->body_off, e->body_len, e->sender, r->target,
		                      tmp, sizeof(tmp), err, sizeof(err)) < 0) {
			log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
			pending = 1;
			continue;
		}
		if (spool_entry_intent(sp, e, i, tmp) < 0) {
			log_warn(qid, "delivery deferred to=<%s>: cannot record intent", r->target);
			unlink(tmp);
			pending = 1;
			continue;
		}
		if (maildir_publish(tmp, newp, sizeof(newp), err, sizeof(err)) < 0) {
			log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
			pending = 1;
			continue;
		}
		if (spool_entry_done(sp, e, i) < 0) {
			log_warn(qid, "delivered to=<%s> but cannot record it yet", r->target);
			pending = 1;
			continue;
		}
		log_info(qid, "delivered to=<%s> relay=maildir size=%zu path=%s", r->target, e->body_len, newp);
	}
	if (!pending) {
		if (spool_entry_remove(sp, e) < 0)
			log_warn(qid, "cannot remove delivered message from queue");
		else
			log_info(qid, "removed");
	}
	spool_entry_free(e);
}

static void dconf_fill(struct dconf *dc, const char *maildir, const char *hostname)
{
	snprintf(dc->maildir, sizeof(dc->maildir), "%s", maildir);
	snprintf(dc->hostname, sizeof(dc->hostname), "%s", hostname);
}

struct scan_ctx {
	struct spool *sp;
	const struct dconf *dc;
	struct runner *r;
};

static void enqueue_locked(struct runner *r, const char *qid)
{
	struct qnode *n = malloc(sizeof(*n));

	if (n == NULL)
		return;                 /* the periodic scan will find it */
	snprintf(n->qid, sizeof(n->qid), "%s", qid);
	n->next = NULL;
	if (r->tail)
		r->tail->next = n;
	else
		r->head = n;
	r->tail = n;
}

static void scan_cb(void *arg, const char *qid)
{
	struct scan_ctx *sc = arg;

	if (sc->r != NULL) {
		pthread_mutex_lock(&sc->r->mu);
		enqueue_locked(sc->r, qid);
		pthread_mutex_unlock(&sc->r->mu);
	} else
		deliver_one(sc->sp, sc->dc, qid);
}

void runner_run_once(struct spool *sp, const struct runner_conf *rc)
{
	struct dconf dc;
	struct scan_ctx sc = { sp, &dc, NULL };

	dconf_fill(&dc, rc->maildir, rc->hostname);
	spool_scan(sp, scan_cb, &sc);
}

static void *runner_main(void *arg)
{
	struct runner *r = arg;
	struct timespec next;

	clock_gettime(CLOCK_REALTIME, &next);
	pthread_mutex_lock(&r->mu);
	r->scan_now = 1;
	for (;;) {
		struct dconf dc;
		struct qnode *n;

		while (!r->stop && r->head == NULL && !r->scan_now) {
			if (pthread_cond_timedwait(&r->cv, &r->mu, &next) == ETIMEDOUT)
				r->scan_now = 1;
		}
		if (r->stop)
			break;
		dconf_fill(&dc, r->maildir, r->hostname);
		if (r->scan_now && r->head == NULL) {
			struct scan_ctx sc = { r->sp, &dc, r };
			r->scan_now = 0;
			clock_gettime(CLOCK_REALTIME, &next);
			next.tv_sec += r->retry_interval;
			pthread_mutex_unlock(&r->mu);
			spool_scan(r->sp, scan_cb, &sc);
			pthread_mutex_lock(&r->mu);
			continue;
		}
		n = r->head;
		r->head = n->next;
		if (r->head == NULL)
			r->tail = NULL;
		pthread_mutex_unlock(&r->mu);
		deliver_one(r->sp, &dc, n->qid);
		free(n);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

struct runner *runner_start(struct spool *sp, const struct runner_conf *rc)
{
	struct runner *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->sp = sp;
	r->maildir = strdup(rc->maildir);
	r->hostname = strdup(rc->hostname);
	r->retry_interval = rc->retry_interval;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (r->maildir == NULL || r->hostname == NULL ||
	    pthread_create(&r->thread, NULL, runner_main, r) != 0) {
		free(r->maildir);
		free(r->hostname);
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

void runner_reconfigure(struct runner *r, const struct runner_conf *rc)
{
	char *md = strdup(rc->maildir), *hn = strdup(rc->hostname);

	if (md == NULL || hn == NULL) {
		free(md);
		free(hn);
		return;
	}
	pthread_mutex_lock(&r->mu);
	free(r->maildir);
	free(r->hostname);
	r->maildir = md;
	r->hostname = hn;
	r->retry_interval = rc->retry_interval;
	r->scan_now = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void runner_stop(struct runner *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	while (r->head) {
		struct qnode *n = r->head;
		r->head = n->next;
		free(n);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->maildir);
	free(r->hostname);
	free(r);
}
