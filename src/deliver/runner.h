/*
 * runner.h - the delivery runner: a worker thread that takes committed messages from the
 * spool and delivers their local recipients into Maildirs, exactly once.
 *
 * Exactly once across crashes, per recipient:
 *   1. write the copy to Maildir tmp/NAME and fsync it;
 *   2. append "I n tmp/NAME" to the state log and fdatasync (intent);
 *   3. rename tmp/NAME to new/NAME and fsync new/ (the delivery);
 *   4. append "D n" and fdatasync.
 * After a crash, a recipient with an intent whose tmp file still exists resumes at step 3; one
 * whose tmp file is gone was delivered in step 3, so it is only marked done. A crash before
 * step 2 leaves at most an orphan tmp file that the retry overwrites (NAME is per qid and
 * recipient). Nothing is delivered twice and nothing acknowledged is lost.
 *
 * Non-local recipients stay queued (the relay comes with the outbound delivery work).
 * runner_wake() may be called from any thread. runner_stop() finishes the message in hand,
 * joins the thread and frees the runner (NULL is a no-op).
 */
#ifndef MAILPORT_RUNNER_H
#define MAILPORT_RUNNER_H

struct spool;
struct runner;

struct runner_conf {
	const char *maildir;        /* pattern with %d/%u */
	const char *hostname;
	unsigned retry_interval;    /* seconds between scans of the whole queue */
};

struct runner *runner_start(struct spool *sp, const struct runner_conf *rc);
/* Deliver qid soon (it was just committed). */
void runner_wake(struct runner *r, const char *qid);
/* Take new settings (SIGHUP); copied. */
void runner_reconfigure(struct runner *r, const struct runner_conf *rc);
void runner_stop(struct runner *r);
/* Deliver what is queued now on the calling thread, then return (tests, `queue flush`). */
void runner_run_once(struct spool *sp, const struct runner_conf *rc);

#endif
