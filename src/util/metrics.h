/*
 * metrics.h - the process's counters and histograms, rendered as Prometheus text (exposition
 * format 0.0.4) for [metrics] listen. Updated from any thread with relaxed atomics (a counter
 * costs one atomic add, nothing is locked on the mail path but the small TLS table); read by
 * the renderer, which may see one counter a moment ahead of another, as every scrape may.
 */
#ifndef MAILPORT_METRICS_H
#define MAILPORT_METRICS_H

#include <stdio.h>

enum metric {
	MET_SESSIONS,                   /* + listener role (3 SMTP roles) */
	MET_ACCEPTED = MET_SESSIONS + 3,        /* messages accepted (250 after DATA), + role */
	MET_AUTH_OK = MET_ACCEPTED + 3,
	MET_AUTH_FAILED,
	MET_AUTH_LOCKED,                /* AUTH refused: the client's address is locked out */
	MET_DELIVERED,                  /* per recipient: local or remote */
	MET_DEFERRED,                   /* per attempt that ended in a temporary failure */
	MET_BOUNCED,                    /* per recipient that failed for good */
	MET_DNS_FAILURES,               /* lookups that ended in SERVFAIL, a timeout or bogus DNSSEC */
	MET_POLICY_FETCH_FAILURES,      /* MTA-STS policies that could not be fetched */
	MET_HTTP_REQUESTS,
	MET_RATE_LIMITED,               /* MAIL refused by [limits] max_messages_per_user */
	MET_COUNT
};

enum metric_hist {
	HIST_COMMIT_BATCH,              /* messages made durable by one journal commit */
	HIST_COMMIT_SECONDS,            /* one journal commit (write + fsync) */
	HIST_DELIVERY_SECONDS,          /* from acceptance to delivery, per recipient */
	HIST_CHECKPOINT_SECONDS,        /* the part of a checkpoint that commits wait for */
	HIST_COUNT
};

void metrics_add(enum metric m, unsigned long long n);
void metrics_observe(enum metric_hist h, double v);
/* A TLS handshake that completed: its version and cipher (up to 64 pairs are told apart). */
void metrics_tls(const char *version, const char *cipher);

/* What only the server knows at the moment of the scrape. */
struct metrics_gauges {
	unsigned connections;           /* SMTP sessions open now */
	unsigned long long queue_messages;
	double queue_oldest_seconds;    /* 0 when the queue is empty */
	int shared;                     /* [limits] redis: 1 connected, 0 not; -1 not configured */
};

/* Everything, in Prometheus text. role_names: the 3 SMTP listener roles' names. */
void metrics_render(FILE *out, const struct metrics_gauges *g, const char *const *role_names);

#endif
