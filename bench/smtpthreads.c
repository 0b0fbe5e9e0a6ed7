/*
 * smtpthreads.c - the second load generator of `make bench`: the same dialogue, options and
 * output as smtpbench.c, but one blocking thread per session, as a real mail client or an
 * application server is one blocking connection that writes a command and waits for its
 * reply. smtpbench multiplexes every session on one libevent loop, which costs the machine
 * little; this one costs a thread and a context switch per reply, as real clients do. Where
 * the two disagree about a server, the difference is the generator's, not the server's.
 *
 * Lock-step (no PIPELINING), like smtpbench. Every reply is checked; a message counts only
 * after the 250 to its end of data. Output: one line of key=value pairs (msgs, failed, conns,
 * secs, msgs_per_s, conns_per_s, p50_ms, p99_ms, max_ms), latency being MAIL-sent to
 * 250-after-data, per message. smtpbench's -H (handshakes only) and -I (idle sessions) are not
 * here: ten thousand idle sessions are ten thousand threads, a test of this program, not of
 * the server. -C CAFILE verifies the server's certificate; without it, as in smtpbench, none.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "smtp/reply.h"
#include "util/base64.h"

enum mode { M_PLAIN, M_STARTTLS, M_IMPLICIT };

static struct {
	struct addrinfo *ai;
	enum mode mode;
	unsigned conc, per_conn, total, size;
	const char *from, *to, *helo, *cafile;
	int resume;
	double max_secs;
} o = { .conc = 16, .per_conn = 10, .total = 10000, .size = 1024, .from = "bench@example.test",
        .to = "sink@example.test", .helo = "smtpthreads.example.test", .max_secs = 120 };

static SSL_CTX *ctx;
static char auth_line[600];
static char *body;
static size_t body_len;

/* Shared between the threads: which message comes next, what happened, the latencies. */
static atomic_uint started, done, failed, conns, nlat;
static atomic_int stopping;
static double *lat;

/* Each thread's socket, so that the deadline can cut a thread out of a blocking read. */
static atomic_int *fds;

/* The threads that have finished, so main can wait for them or for the deadline. */
static unsigned finished;
static pthread_mutex_t finish_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t finish_cond = PTHREAD_COND_INITIALIZER;

static unsigned complaints;
static pthread_mutex_t complain_lock = PTHREAD_MUTEX_INITIALIZER;

/* Say what went wrong, but only the first few times (smtpbench's habit). */
static void complain(const char *fmt, int code, const char *text)
{
	pthread_mutex_lock(&complain_lock);
	if (++complaints <= 5)
		fprintf(stderr, fmt, code, text);
	pthread_mutex_unlock(&complain_lock);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct conn {
	int fd;
	SSL *ssl;
	struct smtp_reply_parser rp;
	char buf[16384];
	size_t len, pos;
	struct smtp_reply r;
};

static int put(struct conn *c, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;
		if (c->ssl) {
			int k = SSL_write(c->ssl, p, (int)n);
			w = k > 0 ? k : -1;
		} else
			w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR && !c->ssl)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The next whole reply into c->r; its code, or -1 on a broken connection or a non-reply. */
static int reply(struct conn *c)
{
	for (;;) {
		if (c->pos < c->len) {
			size_t used = 0;
			int got = smtp_reply_feed(&c->rp, c->buf + c->pos, c->len - c->pos, &used, &c->r);
			c->pos += used;
			if (got < 0)
				return -1;
			if (got > 0)
				return c->r.code;
			continue;
		}
		ssize_t n;
		if (c->ssl) {
			int k = SSL_read(c->ssl, c->buf, sizeof(c->buf));
			n = k > 0 ? k : -1;
		} else {
			do
				n = recv(c->fd, c->buf, sizeof(c->buf), 0);
			while (n < 0 && errno == EINTR);
		}
		if (n <= 0)
			return -1;
		c->len = (size_t)n;
		c->pos = 0;
	}
}

/* Send a command (NULL: none, for the greeting) and expect one reply code. */
static int step(struct conn *c, const char *line, int want)
{
	if (line && put(c, line, strlen(line)) < 0)
		return -1;
	return reply(c) == want ? 0 : -1;
}

static int tls(struct conn *c, SSL_SESSION *session)
{
	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL)
		return -1;
	/* The server's name, as every mail client sends it (and checks, with -C). */
	SSL_set_tlsext_host_name(c->ssl, "mx.example.test");
	if (o.cafile)
		SSL_set1_host(c->ssl, "mx.example.test");
	if (session)
		SSL_set_session(c->ssl, session);
	SSL_set_fd(c->ssl, c->fd);
	return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

/* Claim the next message, if there is one to send and time left. */
static int claim(void)
{
	if (atomic_load(&stopping))
		return 0;
	if (atomic_fetch_add(&started, 1) >= o.total) {
		atomic_fetch_sub(&started, 1);
		return 0;
	}
	return 1;
}

/* One connection: greeting, EHLO, STARTTLS, AUTH, up to K messages, QUIT. The message for
 * this connection is already claimed. 0 when it ended with the 221. */
static int session(struct conn *c, SSL_SESSION **session)
{
	char ehlo[300], mail[600], rcpt[600];
	unsigned sent = 0;
	int more = 1, in_msg = 0;

	snprintf(ehlo, sizeof(ehlo), "EHLO %s\r\n", o.helo);
	snprintf(mail, sizeof(mail), "MAIL FROM:<%s>\r\n", o.from);
	snprintf(rcpt, sizeof(rcpt), "RCPT TO:<%s>\r\n", o.to);
	if (connect(c->fd, o.ai->ai_addr, o.ai->ai_addrlen) < 0)
		goto fail;
	if (o.mode == M_IMPLICIT && tls(c, *session) < 0)
		goto fail;
	if (step(c, NULL, 220) < 0 || step(c, ehlo, 250) < 0)
		goto fail;
	if (o.mode == M_STARTTLS) {
		if (step(c, "STARTTLS\r\n", 220) < 0 || c->pos != c->len || tls(c, *session) < 0)
			goto fail;
		smtp_reply_init(&c->rp);
		if (step(c, ehlo, 250) < 0)
			goto fail;
	}
	if (auth_line[0] && step(c, auth_line, 235) < 0)
		goto fail;
	in_msg = 1;
	while (more) {
		double t0 = now_s();
		if (step(c, mail, 250) < 0 || step(c, rcpt, 250) < 0 || step(c, "DATA\r\n", 354) < 0 ||
		    put(c, body, body_len) < 0 || reply(c) != 250)
			goto fail;
		unsigned i = atomic_fetch_add(&nlat, 1);
		if (i < o.total)
			lat[i] = (now_s() - t0) * 1000.0;
		atomic_fetch_add(&done, 1);
		more = ++sent < o.per_conn && claim();
	}
	if (step(c, "QUIT\r\n", 221) < 0)
		goto fail;
	if (c->ssl) {
		/* close_notify, as a mail client sends after QUIT (OpenSSL marks a session freed
		 * without it as not resumable); then keep the session for the next connection. */
		(void)SSL_shutdown(c->ssl);
		if (o.resume) {
			SSL_SESSION *ss = SSL_get1_session(c->ssl);
			if (ss) {
				SSL_SESSION_free(*session);
				*session = ss;
			}
		}
	}
	return 0;
fail:
	if (!atomic_load(&stopping)) {
		/* No reply to show: the connection or TLS failed (OpenSSL's queue is per thread). */
		unsigned long e = ERR_get_error();
		char why[256];
		if (e)
			ERR_error_string_n(e, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", strerror(errno));
		complain(in_msg ? "smtpthreads: unexpected reply %d %s\n" : "smtpthreads: session setup failed: %d %s\n",
		         c->r.code, c->r.code ? c->r.text : why);
	}
	return -1;
}

static void *worker(void *arg)
{
	unsigned id = (unsigned)(size_t)arg;
	SSL_SESSION *sess = NULL;
	struct conn *c = malloc(sizeof(*c));

	while (c && claim()) {
		int one = 1;
		memset(c, 0, offsetof(struct conn, buf));
		smtp_reply_init(&c->rp);
		c->fd = socket(o.ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			atomic_fetch_add(&failed, 1);
			break;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		atomic_store(&fds[id], c->fd);
		atomic_fetch_add(&conns, 1);
		if (atomic_load(&stopping))
			shutdown(c->fd, SHUT_RDWR);     /* the deadline passed us by while we set up */
		if (session(c, &sess) < 0 && !atomic_load(&stopping))
			atomic_fetch_add(&failed, 1);
		atomic_store(&fds[id], -1);
		SSL_free(c->ssl);
		close(c->fd);
		if (atomic_load(&failed) > 100 && atomic_load(&failed) > atomic_load(&done)) {
			/* A broken or vanished server: stop rather than spin. */
			if (!atomic_exchange(&stopping, 1))
				fprintf(stderr, "smtpthreads: too many failures, stopping\n");
		}
	}
	SSL_SESSION_free(sess);
	free(c);
	pthread_mutex_lock(&finish_lock);
	finished++;
	pthread_cond_signal(&finish_cond);
	pthread_mutex_unlock(&finish_lock);
	return NULL;
}

/* The same message as smtpbench's, octet for octet: the two generators must differ only in
 * how they drive the sessions. */
static void make_body(void)
{
	static const char line[] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz012345\r\n";
	size_t cap = o.size + 512, n;

	body = malloc(cap + 8);
	n = (size_t)snprintf(body, cap, "From: <%s>\r\nTo: <%s>\r\nSubject: smtpbench\r\nMessage-ID: <bench@smtpbench>\r\n"
	                     "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n", o.from, o.to);
	while (n + 80 < o.size) {
		memcpy(body + n, line, sizeof(line) - 1);
		n += 80;
	}
	memcpy(body + n, ".\r\n", 3);
	body_len = n + 3;
}

static void usage(void)
{
	fprintf(stderr, "usage: smtpthreads -s ADDR:PORT [-m plain|starttls|implicit] [-c CONC] [-k PER_CONN]\n"
	                "                   [-n TOTAL] [-S SIZE] [-a USER:PASS] [-f FROM] [-t TO] [-r] [-C CAFILE]\n"
	                "                   [-d MAX_SECONDS]\n"
	                "  one blocking thread per session; -r resume TLS sessions (per thread);\n"
	                "  -C verify the server's certificate (mx.example.test) against CAFILE (default: none, as smtpbench)\n");
	exit(64);
}

/* "127.0.0.1:25" or "[::1]:25": numeric only, as the bench passes them. */
static int parse_addr(char *s)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	char *colon = strrchr(s, ':'), *host = s;

	if (colon == NULL)
		return -1;
	*colon = 0;
	if (host[0] == '[' && colon[-1] == ']') {
		host++;
		colon[-1] = 0;
	}
	return getaddrinfo(host, colon + 1, &hints, &o.ai) == 0 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *auth = NULL;
	pthread_t *th;
	int ch;

	while ((ch = getopt(argc, argv, "s:m:c:k:n:S:a:rd:f:t:C:")) != -1) {
		switch (ch) {
		case 's':
			if (parse_addr(optarg) < 0)
				usage();
			break;
		case 'm':
			o.mode = strcmp(optarg, "starttls") == 0 ? M_STARTTLS : strcmp(optarg, "implicit") == 0 ? M_IMPLICIT :
			         M_PLAIN;
			break;
		case 'c': o.conc = (unsigned)atoi(optarg); break;
		case 'k': o.per_conn = (unsigned)atoi(optarg); break;
		case 'n': o.total = (unsigned)atoi(optarg); break;
		case 'S': o.size = (unsigned)atoi(optarg); break;
		case 'a': auth = optarg; break;
		case 'r': o.resume = 1; break;
		case 'd': o.max_secs = atof(optarg); break;
		case 'f': o.from = optarg; break;
		case 't': o.to = optarg; break;
		case 'C': o.cafile = optarg; break;
		default: usage();
		}
	}
	if (o.ai == NULL || o.conc == 0 || o.conc > 4096 || o.per_conn == 0 || o.total == 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (auth) {
		/* AUTH PLAIN with the initial response: "\0user\0pass". */
		unsigned char raw[300];
		char b64[420];
		const char *colon = strchr(auth, ':');
		size_t ul = colon ? (size_t)(colon - auth) : 0, pl = colon ? strlen(colon + 1) : 0;
		if (colon == NULL || ul + pl + 2 > sizeof(raw))
			usage();
		raw[0] = 0;
		memcpy(raw + 1, auth, ul);
		raw[1 + ul] = 0;
		memcpy(raw + 2 + ul, colon + 1, pl);
		base64_encode(raw, ul + pl + 2, b64);
		snprintf(auth_line, sizeof(auth_line), "AUTH PLAIN %s\r\n", b64);
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (o.cafile) {
		if (SSL_CTX_load_verify_locations(ctx, o.cafile, NULL) != 1) {
			fprintf(stderr, "smtpthreads: cannot load %s\n", o.cafile);
			return 64;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else
		/* A benchmark of the server's TLS, not of certificate checking (as smtpbench). */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	make_body();
	lat = calloc(o.total, sizeof(double));
	fds = malloc(o.conc * sizeof(*fds));
	th = calloc(o.conc, sizeof(*th));
	if (lat == NULL || fds == NULL || th == NULL)
		return 70;
	for (unsigned i = 0; i < o.conc; i++)
		atomic_init(&fds[i], -1);

	double t0 = now_s(), secs;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 256 * 1024);     /* 4096 threads must fit */
	for (unsigned i = 0; i < o.conc; i++)
		if (pthread_create(&th[i], &at, worker, (void *)(size_t)i) != 0) {
			perror("smtpthreads: pthread_create");
			return 70;
		}
	/* Wait for every thread or the time limit; at the limit, cut every thread out of its
	 * blocking read and count only what was done before (smtpbench stops its loop there). */
	struct timespec limit;
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += (time_t)o.max_secs;
	limit.tv_nsec += (long)((o.max_secs - (double)(time_t)o.max_secs) * 1e9);
	if (limit.tv_nsec >= 1000000000L) {
		limit.tv_sec++;
		limit.tv_nsec -= 1000000000L;
	}
	int timed_out = 0;
	pthread_mutex_lock(&finish_lock);
	while (finished < o.conc && !timed_out)
		timed_out = pthread_cond_timedwait(&finish_cond, &finish_lock, &limit) == ETIMEDOUT;
	pthread_mutex_unlock(&finish_lock);
	secs = now_s() - t0;
	unsigned msgs = atomic_load(&done), nconns = atomic_load(&conns);
	if (timed_out) {
		fprintf(stderr, "smtpthreads: time limit reached\n");
		atomic_store(&stopping, 1);
		for (unsigned i = 0; i < o.conc; i++) {
			int fd = atomic_load(&fds[i]);
			if (fd >= 0)
				shutdown(fd, SHUT_RDWR);
		}
	}
	for (unsigned i = 0; i < o.conc; i++)
		pthread_join(th[i], NULL);
	unsigned n = atomic_load(&nlat) < o.total ? atomic_load(&nlat) : o.total;
	qsort(lat, n, sizeof(double), cmp_double);
	printf("msgs=%u failed=%u conns=%u secs=%.3f msgs_per_s=%.1f conns_per_s=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
	       msgs, atomic_load(&failed), nconns, secs, msgs / secs, nconns / secs, n ? lat[n / 2] : 0.0,
	       n ? lat[(size_t)((double)n * 0.99)] : 0.0, n ? lat[n - 1] : 0.0);
	freeaddrinfo(o.ai);
	SSL_CTX_free(ctx);
	return atomic_load(&failed) ? 1 : 0;
}
