/*
 * committer.c - group commit and checkpoints (committer.h). Three kinds of thread meet here:
 * the event loops submit (each hears back on its own), the committer (a batch workpool)
 * appends and syncs, the checkpointer prepares checkpoints. cm->mu is the journal's write side: whoever holds it appends or
 * syncs. cm->cpmu guards the checkpointer's flags only.
 */
#include "committer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "../util/metrics.h"
#include "../util/workpool.h"

#define CHECKPOINT_MS 1000          /* a message not delivered by then is written to queue/ */
#define CHECKPOINT_BYTES (16L * 1024 * 1024)    /* or when the journal is this long */
#define DONE_MS 10                  /* done records wait this long for a batch to carry them */
#define PREPARE_ROUNDS 3            /* the checkpointer's passes over what arrived meanwhile, */
#define PREPARE_LEFT 32             /* until no more than this many are left to the committer */

struct committer {
	struct workpool *pool;
	struct spool *sp;
	struct journal *j;
	pthread_mutex_t mu;
	struct timespec last_checkpoint, last_sync, last_warning;
	unsigned long failures;
	pthread_t cpthread;
	int cpstarted;
	pthread_mutex_t cpmu;
	pthread_cond_t cpcv;
	int asked, prepared, stopping;
};

struct commit_job {
	struct spool_msg *m;
	char qid[SPOOL_QID_MAX];
	struct commit_outcome o;
	int journaled;
	commit_done_fn done;
	void *arg;
};

static int no_space(int err) { return err == ENOSPC || err == EDQUOT; }

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

/* ---- checkpoints --------------------------------------------------------------------------- */

static void *checkpointer_main(void *arg)
{
	struct committer *cm = arg;

	pthread_setname_np(pthread_self(), "checkpointer");    /* top -H, bench's CPU per thread */
	pthread_mutex_lock(&cm->cpmu);
	for (;;) {
		while (!cm->asked && !cm->stopping)
			pthread_cond_wait(&cm->cpcv, &cm->cpmu);
		if (cm->stopping)
			break;
		pthread_mutex_unlock(&cm->cpmu);
		size_t left = 0;
		for (int round = 0; round < PREPARE_ROUNDS; round++)
			if (spool_mem_prespill(cm->sp, &left) < 0 || left <= PREPARE_LEFT)
				break;  /* a failure is the checkpoint's to report: it writes them itself */
		pthread_mutex_lock(&cm->cpmu);
		cm->asked = 0;
		cm->prepared = 1;
		pthread_mutex_unlock(&cm->cpmu);
		workpool_kick(cm->pool);
		pthread_mutex_lock(&cm->cpmu);
	}
	pthread_mutex_unlock(&cm->cpmu);
	return NULL;
}

static int checkpoint_due(struct committer *cm)
{
	return ms_since(&cm->last_checkpoint) >= CHECKPOINT_MS || journal_bytes(cm->j) >= CHECKPOINT_BYTES;
}

/* The journal's next generation, once the checkpointer wrote what the table held: only the
 * messages accepted since are left to write here, with the commits waiting. */
static void checkpoint_finish(struct committer *cm)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (journal_checkpoint(cm->j) < 0) {
		/* It is retried at every batch: say so once, then every ten seconds at most. */
		if (cm->failures++ == 0 || ms_since(&cm->last_warning) >= 10000) {
			log_warn(NULL, "journal checkpoint failed (%lu times so far); retrying (accepted mail stays safe "
			         "in the journal)", cm->failures);
			clock_gettime(CLOCK_MONOTONIC, &cm->last_warning);
		}
	} else if (cm->failures > 0) {
		log_info(NULL, "journal checkpoint succeeded again after %lu failures", cm->failures);
		cm->failures = 0;
	}
	metrics_observe(HIST_CHECKPOINT_SECONDS, (double)ms_since(&t0) / 1e3);
	clock_gettime(CLOCK_MONOTONIC, &cm->last_checkpoint);
}

/* With cm->mu held: ask the checkpointer when one is due, finish what it prepared. */
static void checkpoint_step(struct committer *cm)
{
	int finish = 0;

	if (!checkpoint_due(cm))
		return;
	pthread_mutex_lock(&cm->cpmu);
	if (cm->prepared) {
		cm->prepared = 0;
		finish = 1;
	} else if (!cm->asked) {
		cm->asked = 1;
		pthread_cond_signal(&cm->cpcv);
	}
	pthread_mutex_unlock(&cm->cpmu);
	if (finish)
		checkpoint_finish(cm);
}

/* ---- group commit -------------------------------------------------------------------------- */

static int sync_journal(struct committer *cm)
{
	clock_gettime(CLOCK_MONOTONIC, &cm->last_sync);
	return journal_sync(cm->j);
}

/* Classic durability for one message: fsync, rename, fsync(dir). m is freed. */
static void classic(struct spool_msg *m, struct commit_outcome *o)
{
	o->ok = spool_msg_commit(m) == 0;
	o->nospace = !o->ok && no_space(errno);
}

static void commit_classic(struct commit_job *job)
{
	classic(job->m, &job->o);
	job->m = NULL;              /* freed by the commit, whatever the outcome */
	job->journaled = 0;
}

static void commit_batch_locked(struct committer *cm, void **jobs, size_t n)
{
	size_t appended = 0;

	if (journal_pending(cm->j) == 0)
		clock_gettime(CLOCK_MONOTONIC, &cm->last_checkpoint);
	for (size_t i = 0; i < n; i++) {
		struct commit_job *job = jobs[i];
		int r;
		if (spool_msg_finish(job->m) < 0) {
			spool_msg_abort(job->m);
			r = -1;
		} else if ((r = journal_append(cm->j, job->m)) == 1) {
			commit_classic(job);    /* too large for the journal, or it is full */
			continue;
		}
		if (r < 0) {
			job->o.nospace = no_space(errno);
			log_warn(job->qid, "cannot append to the journal");
		}
		job->m = NULL;
		job->o.ok = r == 0;
		job->journaled = r == 0;
		appended += r == 0;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int synced = appended > 0 ? sync_journal(cm) : 0;
	if (appended > 0) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		metrics_observe(HIST_COMMIT_BATCH, (double)appended);
		metrics_observe(HIST_COMMIT_SECONDS, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	if (appended > 0 && synced < 0) {
		/* Unknown what reached the disk: answer 451 (a resend may duplicate, never lose). */
		int nospace = no_space(errno);
		log_warn(NULL, "journal fdatasync failed: %zu messages refused with %s", appended, nospace ? "452" : "451");
		for (size_t i = 0; i < n; i++) {
			struct commit_job *job = jobs[i];
			if (job->journaled) {
				job->o.ok = 0;
				job->o.nospace = nospace;
			}
		}
	}
	checkpoint_step(cm);
}

static void on_batch(void **jobs, size_t n, void *arg)
{
	struct committer *cm = arg;

	pthread_mutex_lock(&cm->mu);
	commit_batch_locked(cm, jobs, n);
	pthread_mutex_unlock(&cm->mu);
}

static long idle_locked(struct committer *cm)
{
	long age;

	if (journal_pending(cm->j) == 0)
		return -1;
	/* Delivered messages' done records: with the next batch, or after DONE_MS at the latest
	 * (at once when a runner thread waits for one). A checkpoint being prepared does not hold
	 * them up: that is the point of preparing it elsewhere. */
	if (journal_done_pending(cm->j) &&
	    (journal_done_waiting(cm->j) || ms_since(&cm->last_sync) >= DONE_MS) && sync_journal(cm) < 0)
		log_warn(NULL, "journal fdatasync failed (done records; retrying)");
	checkpoint_step(cm);
	if (journal_pending(cm->j) == 0)
		return -1;
	age = ms_since(&cm->last_checkpoint);
	return CHECKPOINT_MS - age < DONE_MS && CHECKPOINT_MS - age > 0 ? CHECKPOINT_MS - age : DONE_MS;
}

static long on_idle(void *arg)
{
	struct committer *cm = arg;

	pthread_mutex_lock(&cm->mu);
	long ms = idle_locked(cm);
	pthread_mutex_unlock(&cm->mu);
	return ms;
}

static void on_done(void *arg, int ran)
{
	struct commit_job *job = arg;

	if (!ran)
		commit_classic(job);    /* the committer stopped first: it was promised, do it here */
	job->done(job->arg, &job->o);
	free(job);
}

enum commit_when commit_submit(struct committer *cm, struct workpool_home *home, struct spool_msg *m, int alone,
                               commit_done_fn done, void *arg, struct commit_outcome *now)
{
	struct commit_job *job = cm != NULL ? calloc(1, sizeof(*job)) : NULL;

	if (job != NULL) {
		job->m = m;
		snprintf(job->qid, sizeof(job->qid), "%s", spool_msg_qid(m));
		job->done = done;
		job->arg = arg;
		if (alone && pthread_mutex_trylock(&cm->mu) == 0) {
			void *one = job;
			int first = journal_pending(cm->j) == 0;
			commit_batch_locked(cm, &one, 1);
			pthread_mutex_unlock(&cm->mu);
			/* The committer did not see this one. With nothing pending before, it sleeps until
			 * the next job and would never checkpoint: an idle server's journal would keep
			 * delivered messages forever. Once woken it looks again while anything is pending,
			 * so only the first of a generation wakes it (each kick costs the next commit). */
			if (first)
				workpool_kick(cm->pool);
			*now = job->o;
			free(job);
			return COMMIT_NOW;
		}
		if (workpool_submit_to(cm->pool, home, job, NULL, on_done) == 0)
			return COMMIT_LATER;
		free(job);
	}
	/* No committer, or no memory for the job: durable right here. */
	classic(m, now);
	return COMMIT_NOW;
}

/* ---- the spool's done hooks: to the journal, whose sync runs on the committer's thread ---- */

static unsigned long done_hook(void *arg, const char *qid, unsigned gen)
{
	return journal_done(arg, qid, gen);
}

static unsigned long note_hook(void *arg, const char *qid, unsigned gen, const char *line, size_t len)
{
	return journal_note(arg, qid, gen, line, len);
}

static void wait_hook(void *arg, unsigned long ticket)
{
	journal_done_wait(arg, ticket);
}

static void kick(void *arg)
{
	workpool_kick(arg);
}

struct committer *committer_start(struct spool *sp, struct journal *j)
{
	struct committer *cm = calloc(1, sizeof(*cm));

	if (cm == NULL) {
		log_errx(NULL, "cannot start the queue committer: out of memory");
		return NULL;
	}
	cm->sp = sp;
	cm->j = j;
	pthread_mutex_init(&cm->mu, NULL);
	pthread_mutex_init(&cm->cpmu, NULL);
	pthread_cond_init(&cm->cpcv, NULL);
	clock_gettime(CLOCK_MONOTONIC, &cm->last_checkpoint);
	cm->last_sync = cm->last_checkpoint;
	if ((cm->pool = workpool_new_batch(NULL, on_batch, on_idle, cm, "queue commit")) == NULL ||
	    (errno = pthread_create(&cm->cpthread, NULL, checkpointer_main, cm)) != 0) {
		log_errx(NULL, "cannot start the queue committer");
		committer_stop(cm);
		return NULL;
	}
	cm->cpstarted = 1;
	journal_on_done(j, kick, cm->pool);
	spool_mem_on_done(sp, done_hook, note_hook, wait_hook, j);
	return cm;
}

void committer_stop(struct committer *cm)
{
	if (cm == NULL)
		return;
	if (cm->cpstarted) {        /* first: it kicks the pool */
		pthread_mutex_lock(&cm->cpmu);
		cm->stopping = 1;
		pthread_cond_signal(&cm->cpcv);
		pthread_mutex_unlock(&cm->cpmu);
		pthread_join(cm->cpthread, NULL);
	}
	workpool_free(cm->pool);        /* commits in flight finish (delivered next start) */
	spool_mem_on_done(cm->sp, NULL, NULL, NULL, NULL);
	journal_on_done(cm->j, NULL, NULL);
	pthread_mutex_destroy(&cm->mu);
	pthread_mutex_destroy(&cm->cpmu);
	pthread_cond_destroy(&cm->cpcv);
	free(cm);
}
