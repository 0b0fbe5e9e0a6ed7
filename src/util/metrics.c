/*
 * metrics.c - counters, histograms and the TLS table behind /metrics (metrics.h).
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic unsigned long long counters[MET_COUNT];

#define NBUCKETS 12
static const double bounds[HIST_COUNT][NBUCKETS] = {
	[HIST_COMMIT_BATCH] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096 },
	[HIST_COMMIT_SECONDS] = { .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5 },
	[HIST_DELIVERY_SECONDS] = { .01, .05, .1, .5, 1, 5, 10, 60, 300, 1800, 3600, 86400 },
	[HIST_CHECKPOINT_SECONDS] = { .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5 },
};

struct hist {
	_Atomic unsigned long long bucket[NBUCKETS + 1];      /* the last one: above every bound */
	_Atomic unsigned long long sum_micro;                  /* the sum, in millionths */
};
static struct hist hists[HIST_COUNT];

#define NTLS 64
static pthread_mutex_t tls_mu = PTHREAD_MUTEX_INITIALIZER;
static struct { char version[16], cipher[64]; unsigned long long n; } tls_seen[NTLS];
static size_t ntls;
static unsigned long long tls_other;

void metrics_add(enum metric m, unsigned long long n)
{
	if (m < MET_COUNT)
		atomic_fetch_add_explicit(&counters[m], n, memory_order_relaxed);
}

void metrics_observe(enum metric_hist h, double v)
{
	size_t b = 0;

	if (h >= HIST_COUNT)
		return;
	while (b < NBUCKETS && v > bounds[h][b])
		b++;
	atomic_fetch_add_explicit(&hists[h].bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&hists[h].sum_micro, (unsigned long long)(v > 0 ? v * 1e6 : 0), memory_order_relaxed);
}

void metrics_tls(const char *version, const char *cipher)
{
	pthread_mutex_lock(&tls_mu);
	size_t i = 0;
	while (i < ntls && (strcmp(tls_seen[i].version, version) != 0 || strcmp(tls_seen[i].cipher, cipher) != 0))
		i++;
	if (i == ntls && ntls < NTLS && strlen(version) < sizeof(tls_seen[0].version) &&
	    strlen(cipher) < sizeof(tls_seen[0].cipher)) {
		snprintf(tls_seen[i].version, sizeof(tls_seen[i].version), "%s", version);
		snprintf(tls_seen[i].cipher, sizeof(tls_seen[i].cipher), "%s", cipher);
		ntls++;
	}
	if (i < ntls)
		tls_seen[i].n++;
	else
		tls_other++;
	pthread_mutex_unlock(&tls_mu);
}

static unsigned long long get(enum metric m)
{
	return atomic_load_explicit(&counters[m], memory_order_relaxed);
}

static void head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void hist_render(FILE *out, enum metric_hist h, const char *name, const char *help)
{
	unsigned long long cum = 0;

	head(out, name, "histogram", help);
	for (size_t b = 0; b <= NBUCKETS; b++) {
		cum += atomic_load_explicit(&hists[h].bucket[b], memory_order_relaxed);
		if (b < NBUCKETS)
			fprintf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[h][b], cum);
		else
			fprintf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, cum);
	}
	fprintf(out, "%s_sum %.6f\n%s_count %llu\n", name,
	        (double)atomic_load_explicit(&hists[h].sum_micro, memory_order_relaxed) / 1e6, name, cum);
}

void metrics_render(FILE *out, const struct metrics_gauges *g, const char *const *role_names)
{
	head(out, "mailport_sessions_total", "counter", "SMTP sessions accepted, by listener role.");
	for (int r = 0; r < 3; r++)
		fprintf(out, "mailport_sessions_total{role=\"%s\"} %llu\n", role_names[r], get((enum metric)(MET_SESSIONS + r)));
	head(out, "mailport_connections", "gauge", "SMTP sessions open now.");
	fprintf(out, "mailport_connections %u\n", g->connections);
	head(out, "mailport_tls_handshakes_total", "counter", "TLS handshakes completed, by version and cipher.");
	pthread_mutex_lock(&tls_mu);
	for (size_t i = 0; i < ntls; i++)
		fprintf(out, "mailport_tls_handshakes_total{version=\"%s\",cipher=\"%s\"} %llu\n", tls_seen[i].version,
		        tls_seen[i].cipher, tls_seen[i].n);
	if (tls_other)
		fprintf(out, "mailport_tls_handshakes_total{version=\"other\",cipher=\"other\"} %llu\n", tls_other);
	pthread_mutex_unlock(&tls_mu);
	head(out, "mailport_auth_total", "counter", "AUTH attempts by result (locked: refused during a lockout).");
	fprintf(out, "mailport_auth_total{result=\"ok\"} %llu\nmailport_auth_total{result=\"failed\"} %llu\n"
	        "mailport_auth_total{result=\"locked\"} %llu\n", get(MET_AUTH_OK), get(MET_AUTH_FAILED), get(MET_AUTH_LOCKED));
	head(out, "mailport_rate_limited_total", "counter", "MAIL refused by max_messages_per_user (450 4.7.1).");
	fprintf(out, "mailport_rate_limited_total %llu\n", get(MET_RATE_LIMITED));
	if (g->shared >= 0) {
		head(out, "mailport_shared_counters_up", "gauge",
		     "1 while the shared counters ([limits] redis) answer; 0 while limits are counted on this node alone.");
		fprintf(out, "mailport_shared_counters_up %d\n", g->shared);
	}
	head(out, "mailport_messages_accepted_total", "counter", "Messages accepted (on disk before the 250), by role.");
	for (int r = 0; r < 3; r++)
		fprintf(out, "mailport_messages_accepted_total{role=\"%s\"} %llu\n", role_names[r],
		        get((enum metric)(MET_ACCEPTED + r)));
	head(out, "mailport_deliveries_total", "counter",
	     "Delivery outcomes per recipient (deferred: per attempt that failed temporarily).");
	fprintf(out, "mailport_deliveries_total{result=\"delivered\"} %llu\nmailport_deliveries_total{result=\"deferred\"} "
	        "%llu\nmailport_deliveries_total{result=\"bounced\"} %llu\n", get(MET_DELIVERED), get(MET_DEFERRED),
	        get(MET_BOUNCED));
	head(out, "mailport_queue_messages", "gauge", "Messages in the queue.");
	fprintf(out, "mailport_queue_messages %llu\n", g->queue_messages);
	head(out, "mailport_queue_oldest_seconds", "gauge", "Age of the oldest message in the queue (0: empty).");
	fprintf(out, "mailport_queue_oldest_seconds %.0f\n", g->queue_oldest_seconds);
	hist_render(out, HIST_COMMIT_BATCH, "mailport_journal_commit_batch_messages",
	            "Messages made durable by one journal commit.");
	hist_render(out, HIST_COMMIT_SECONDS, "mailport_journal_commit_seconds", "Time of one journal commit (write and fsync).");
	hist_render(out, HIST_CHECKPOINT_SECONDS, "mailport_journal_checkpoint_seconds",
	            "Time commits waited for a journal checkpoint (its last part; the rest runs beside them).");
	hist_render(out, HIST_DELIVERY_SECONDS, "mailport_delivery_seconds",
	            "Time from acceptance to delivery, per recipient.");
	head(out, "mailport_dns_failures_total", "counter", "DNS lookups that failed (SERVFAIL, timeout, bogus DNSSEC).");
	fprintf(out, "mailport_dns_failures_total %llu\n", get(MET_DNS_FAILURES));
	head(out, "mailport_policy_fetch_failures_total", "counter", "MTA-STS policies that could not be fetched.");
	fprintf(out, "mailport_policy_fetch_failures_total %llu\n", get(MET_POLICY_FETCH_FAILURES));
	head(out, "mailport_http_requests_total", "counter", "Requests to the HTTPS and metrics listeners.");
	fprintf(out, "mailport_http_requests_total %llu\n", get(MET_HTTP_REQUESTS));
}
