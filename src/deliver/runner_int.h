/*
 * runner_int.h - what the delivery runner's files share, and nobody else: runner.c (the queue
 * scan, the workers, one message from load to removal, reconfiguration), local.c (a Maildir
 * copy, exactly once), remote.c (smarthost or MX, the per-destination connection slots and the
 * kept connections), bounce.c (RFC 3464 reports). runner.c calls the other three; they call
 * nothing of runner.c (they share its structs, under its lock where it says so).
 */
#ifndef MAILPORT_RUNNER_INT_H
#define MAILPORT_RUNNER_INT_H

#include <pthread.h>

#include "../queue/spool.h"
#include "remote_attempt.h"
#include "../route/tlspolicy.h"
#include "runner.h"

#define MAX_WORKERS 256

/* Settings shared by the workers; replaced whole on reconfigure, freed by the last user. */
struct settings {
	int refs;
	char *hostname, *delimiter;
	unsigned retry_interval, lifetime, dest_limit;
	unsigned retry[16];
	size_t nretry;
	struct relay_conf relay;
	struct tlspolicy *tls;          /* the TLS each remote connection must have */
	struct directory *dir;          /* may be NULL: bounces then go to the relay only */
	char **local_domains;
	size_t nlocal_domains;
	struct target *target;          /* where local copies go (target.h); it borrows the agent */
	char *tlsrpt_dir, *tlsrpt_contact;      /* NULL: no TLS-RPT */
	struct dkim_keys *dkim;         /* bounces are signed with these (msg/dkimsign.h); may be NULL */
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
	char tlsrpt_checked[11];        /* the last day whose reports were looked at */
	long long sts_next;             /* when the MTA-STS refresh runs next (0: at the first scan) */
	unsigned bg_busy;               /* background jobs running, by kind (runner.c) */
	struct settings *set;
	/* connections open per destination (smarthost host:port, or MX domain) */
	pthread_cond_t dest_cv;
	struct { char key[300]; unsigned count; } dests[MAX_WORKERS];
	struct { struct relay_cache cache; char dest[300]; long long idle_since; } pool[MAX_WORKERS];
};

/* local.c: recipient i of e into its Maildir (last: e's only open recipient, so the caller
 * removes the message next and no done line is written). 1 = done, 0 = stays pending. */
int runner_deliver_local(struct spool *sp, const struct settings *st, struct spool_entry *e, size_t i, int last);
/* remote.c: every open remote recipient of e, grouped by destination. */
void runner_deliver_remote(struct runner *rn, struct spool *sp, const struct settings *st, struct spool_entry *e,
                           int force);
/* remote.c: close kept connections idle for long enough (all with force), with r->mu held;
 * when the next one expires (0: none). */
long long runner_pool_expire_locked(struct runner *r, int force);
/* bounce.c: queue a bounce to e's sender for its failed recipients (qid_out: its id);
 * 0, 1 when there is no one to send it to, -1 on failure. */
int runner_make_bounce(struct spool *sp, const struct settings *st, const struct spool_entry *e, char *qid_out);

#endif
