/*
 * runner.h - the delivery runner: worker threads that take committed messages from the spool
 * and deliver every recipient exactly once: local ones into Maildirs, the others through the
 * smarthost ([relay]), with retries, expiry and bounces.
 *
 * Exactly once across crashes, per local recipient:
 *   1. write the copy to Maildir tmp/NAME and fsync it;
 *   2. append "I n tmp/NAME" to the state log and fdatasync (intent);
 *   3. rename tmp/NAME to new/NAME and fsync new/ (the delivery);
 *   4. append "D n" and fdatasync.
 * After a crash, a recipient with an intent whose tmp file still exists resumes at step 3; one
 * whose tmp file is gone was delivered in step 3, so it is only marked done. A crash before
 * step 2 leaves at most an orphan tmp file that the retry overwrites (NAME is per qid and
 * recipient). For a remote recipient the window is the one no SMTP client can close: between
 * the server's 250 to the end of data and our "D n" a crash means one resend. For a message
 * still in the journal that "D n" is its done record, synced by the committer within DONE_MS
 * (10 ms) plus one fdatasync, never behind a checkpoint (queue/committer.h): under kill -9
 * with a slow smarthost (make soak-relay) the longest such window measured 18 ms.
 *
 * Temporary failures are retried on retry_schedule; after max_queue_lifetime, or on a
 * permanent failure, the recipient fails ("F n ...") and, once every recipient is decided, one
 * RFC 3464 bounce goes to the sender ("B" records that it is queued). No bounce to <>.
 *
 * runner_wake() may be called from any thread. runner_stop() lets each worker finish the
 * message in hand, joins them and frees the runner (NULL is a no-op).
 */
#ifndef MAILPORT_RUNNER_H
#define MAILPORT_RUNNER_H

#include <stddef.h>

#include "remote_attempt.h"

struct spool;
struct runner;
struct agent;
struct dkim_keys;

struct runner_conf {
	const char *maildir;            /* pattern with %d/%u */
	const char *hostname;
	unsigned retry_interval;        /* seconds between scans of the whole queue */
	const struct relay_conf *relay; /* scheme RELAY_NONE: no smarthost */
	const unsigned *retry;          /* retry schedule, seconds; the last repeats */
	size_t nretry;
	unsigned lifetime;              /* max_queue_lifetime, seconds */
	unsigned workers;
	unsigned dest_concurrency;      /* connections at once to one destination */
	const char *users_path;         /* for routing bounces to local senders */
	const char *pg_conninfo, *pg_password;  /* or the PostgreSQL directory (auth/pgdir.h) */
	unsigned pg_max_stale;
	const char *const *local_domains;
	size_t nlocal_domains;
	const char *delimiter;          /* recipient_delimiter */
	struct agent *agent;            /* writes the Maildirs (agent.h); NULL: this process does */
	const char *tls_policy;         /* [relay] tls_policy (tlspolicy.h); NULL = "dane" */
	const char *trust_anchor;       /* DNSSEC trust anchor file; NULL = no DNSSEC */
	const char *sts_cache_dir;      /* MTA-STS policies (SPOOL/sts) */
	const char *sts_ca_file;        /* NULL = the system store */
	unsigned sts_port;
	const char *tlsrpt_dir;         /* TLS-RPT (tlsrpt.h): SPOOL/tlsrpt, NULL = off */
	struct dkim_keys *dkim;         /* [dkim] sign (msg/dkimsign.h): bounces are signed too; the
	                                   runner takes its own reference */
	const char *tlsrpt_contact;
};

struct runner *runner_start(struct spool *sp, const struct runner_conf *rc);
/* Deliver qid soon (it was just committed). */
void runner_wake(struct runner *r, const char *qid);
/* Send day's TLS-RPT reports (tlsrpt.h) now, on a thread of their own; the log says how it
 * went. The runner does it by itself for yesterday, once, after midnight UTC. */
void runner_tlsrpt(struct runner *r, const char *day);
/* Retry every deferred message now, ignoring their next-attempt times. */
void runner_flush(struct runner *r);
/* Take new settings (SIGHUP); copied. */
void runner_reconfigure(struct runner *r, const struct runner_conf *rc);
void runner_stop(struct runner *r);
/* Deliver what is queued now on the calling thread, then return (tests). */
void runner_run_once(struct spool *sp, const struct runner_conf *rc);

#endif
