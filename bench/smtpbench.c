/*
 * smtpbench.c - an SMTP load generator for `make bench`: C concurrent sessions, K messages per
 * connection, plaintext, STARTTLS or implicit TLS, optional AUTH PLAIN and TLS session
 * resumption. Every reply is checked; a message counts only after the 250 to its end of data.
 * Single-threaded on libevent (like Postfix's smtp-source) so it takes as little of the
 * machine as it can from the server it measures. Not a test: it reports, it does not judge.
 *
 * Output: one line of key=value pairs (msgs, failed, conns, secs, msgs_per_s, conns_per_s,
 * p50_ms, p99_ms, max_ms), latency being MAIL-sent to 250-after-data, per message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "smtp/reply.h"
#include "util/base64.h"

enum mode { M_PLAIN, M_STARTTLS, M_IMPLICIT };
enum st { S_GREETING, S_EHLO, S_STARTTLS, S_EHLO2, S_AUTH, S_MAIL, S_RCPT, S_DATA, S_BODY, S_QUIT };

struct opts {
	struct sockaddr_storage addr;
	int addrlen;
	enum mode mode;
	unsigned conc, per_conn, total, size;
	const char *auth, *from, *to, *helo;
	int resume, handshake_only, idle;
	double max_secs;
};

struct bench {
	struct opts o;
	struct event_base *base;
	SSL_CTX *ctx;
	SSL_SESSION *session;           /* for resumption */
	char *body;
	size_t body_len;
	char auth_line[600];
	unsigned started, done, failed, conns, active, msgs_started, idle_ready;
	int idle_reported;
	double *lat;
	size_t nlat;
	struct timespec t0;
	struct event *deadline;
	int stopping;
};

struct sess {
	struct bench *b;
	struct bufferevent *bev;
	SSL *ssl;
	enum st st;
	unsigned sent;                  /* messages done on this connection */
	struct smtp_reply_parser rp;
	struct timespec msg_t0;
};

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double since(const struct timespec *a)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - a->tv_sec) + (double)(t.tv_nsec - a->tv_nsec) / 1e9;
}

static void start_conn(struct bench *b);

/* Say what went wrong, but only the first few times: a benchmark of a broken server must not
 * flood the terminal. */
static unsigned complaints;
#define COMPLAIN(...) do { if (++complaints <= 5) fprintf(stderr, __VA_ARGS__); } while (0)

static void maybe_finish(struct bench *b)
{
	if (b->active == 0 && (b->stopping || b->msgs_started >= b->o.total))
		event_base_loopexit(b->base, NULL);
}

/* Idle mode: once every session has its greeting or has failed, say how many are held. */
static void idle_report(struct bench *b)
{
	if (b->o.idle && !b->idle_reported && b->idle_ready + b->failed >= b->o.conc) {
		b->idle_reported = 1;
		printf("idle=%u failed=%u\n", b->idle_ready, b->failed);
		fflush(stdout);
	}
}

#define IDLE_RAMP 256

static void sess_end(struct sess *s, int failed)
{
	struct bench *b = s->b;

	if (failed)
		b->failed++;
	idle_report(b);
	if (s->ssl && !failed)
		/* close_notify, as a mail client sends after QUIT: OpenSSL marks the session of a
		 * connection freed without it as not resumable */
		(void)SSL_shutdown(s->ssl);
	if (s->ssl && b->o.resume) {
		SSL_SESSION *ss = SSL_get1_session(s->ssl);
		if (ss != NULL) {
			SSL_SESSION_free(b->session);
			b->session = ss;
		}
	}
	bufferevent_free(s->bev);       /* frees the SSL and closes the socket */
	free(s);
	b->active--;
	if (b->failed > 100 && b->failed > b->done) {
		/* A broken or vanished server: stop rather than spin. */
		if (!b->stopping)
			fprintf(stderr, "smtpbench: too many failures, stopping\n");
		b->stopping = 1;
	}
	if (!b->stopping && b->msgs_started < b->o.total)
		start_conn(b);
	maybe_finish(b);
}

static void say(struct sess *s, const char *fmt, const char *arg)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out, fmt, arg);
}

static void next_message(struct sess *s)
{
	struct bench *b = s->b;

	if (s->sent >= b->o.per_conn || b->msgs_started >= b->o.total || b->stopping) {
		s->st = S_QUIT;
		say(s, "%s", "QUIT\r\n");
		return;
	}
	b->msgs_started++;
	clock_gettime(CLOCK_MONOTONIC, &s->msg_t0);
	s->st = S_MAIL;
	say(s, "MAIL FROM:<%s>\r\n", b->o.from);
}

static void after_ehlo(struct sess *s)
{
	if (s->b->o.auth) {
		s->st = S_AUTH;
		say(s, "%s", s->b->auth_line);
		return;
	}
	next_message(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg);
static void on_read(struct bufferevent *bev, void *arg);

/* The server's name, as every mail client sends it. */
static void sni(SSL *ssl)
{
	SSL_set_tlsext_host_name(ssl, "mx.example.test");
}

static int start_tls(struct sess *s, int filter)
{
	struct bench *b = s->b;
	SSL *ssl = SSL_new(b->ctx);
	struct bufferevent *nb;

	if (ssl == NULL)
		return -1;
	sni(ssl);
	if (b->session)
		SSL_set_session(ssl, b->session);
	if (filter)
		nb = bufferevent_openssl_filter_new(b->base, s->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
		                                    BEV_OPT_CLOSE_ON_FREE);
	else
		nb = bufferevent_openssl_socket_new(b->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (nb == NULL) {
		SSL_free(ssl);
		return -1;
	}
	s->bev = nb;
	s->ssl = ssl;
	bufferevent_setcb(nb, on_read, NULL, on_event, s);
	bufferevent_enable(nb, EV_READ | EV_WRITE);
	return 0;
}
/* 1 when the caller must stop reading: the session ended, or TLS took over the connection. */
static int on_reply(struct sess *s, const struct smtp_reply *r)
{
	struct bench *b = s->b;

	switch (s->st) {
	case S_GREETING:
		if (r->code != 220)
			goto fail;
		if (b->o.idle) {
			/* Idle mode: hold the session open after its greeting, say nothing; the next
			 * one starts connecting now (see IDLE_RAMP). */
			b->idle_ready++;
			idle_report(b);
			if (!b->stopping && b->msgs_started < b->o.total)
				start_conn(b);
			return 0;
		}
		s->st = S_EHLO;
		say(s, "EHLO %s\r\n", b->o.helo);
		return 0;
	case S_EHLO:
	case S_EHLO2:
		if (r->code != 250)
			goto fail;
		if (s->st == S_EHLO && b->o.mode == M_STARTTLS) {
			s->st = S_STARTTLS;
			say(s, "%s", "STARTTLS\r\n");
			return 0;
		}
		after_ehlo(s);
		return 0;
	case S_STARTTLS:
		if (r->code != 220 || start_tls(s, 1) < 0)
			goto fail;
		smtp_reply_init(&s->rp);
		s->st = S_EHLO2;
		say(s, "EHLO %s\r\n", b->o.helo);
		return 1;
	case S_AUTH:
		if (r->code != 235)
			goto fail;
		next_message(s);
		return 0;
	case S_MAIL:
		if (r->code != 250)
			goto fail;
		s->st = S_RCPT;
		say(s, "RCPT TO:<%s>\r\n", b->o.to);
		return 0;
	case S_RCPT:
		if (r->code != 250)
			goto fail;
		s->st = S_DATA;
		say(s, "%s", "DATA\r\n");
		return 0;
	case S_DATA:
		if (r->code != 354)
			goto fail;
		s->st = S_BODY;
		bufferevent_write(s->bev, b->body, b->body_len);
		return 0;
	case S_BODY:
		if (r->code != 250)
			goto fail;
		if (b->nlat < b->o.total)
			b->lat[b->nlat++] = since(&s->msg_t0) * 1000.0;
		b->done++;
		s->sent++;
		next_message(s);
		return 0;
	case S_QUIT:
		sess_end(s, 0);
		return 1;
	}
fail:
	if (s->st == S_BODY || s->st == S_MAIL || s->st == S_RCPT || s->st == S_DATA)
		COMPLAIN("smtpbench: unexpected reply %d %s\n", r->code, r->text);
	else
		COMPLAIN("smtpbench: session setup failed: %d %s\n", r->code, r->text);
	sess_end(s, 1);
	return 1;
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct sess *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (evbuffer_get_length(in) > 0) {
		struct smtp_reply r;
		size_t used = 0, len = evbuffer_get_contiguous_space(in);
		const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
		int got = smtp_reply_feed(&s->rp, p, len, &used, &r);
		evbuffer_drain(in, used);
		if (got < 0) {
			COMPLAIN("smtpbench: not an SMTP reply\n");
			sess_end(s, 1);
			return;
		}
		if (got == 0)
			continue;
		if (on_reply(s, &r))
			return;
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct sess *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->b->o.handshake_only) {
			s->b->done++;
			s->b->msgs_started++;
			sess_end(s, 0);
		}
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
		if (s->st != S_QUIT) {
			unsigned long e = bufferevent_get_openssl_error(s->bev);
			COMPLAIN("smtpbench: connection %s in state %d%s%s\n", what & BEV_EVENT_EOF ? "closed" : "failed",
			         s->st, e ? ": " : "", e ? ERR_error_string(e, NULL) : "");
		}
		sess_end(s, s->st != S_QUIT);
	}
}

static void start_conn(struct bench *b)
{
	struct sess *s = calloc(1, sizeof(*s));
	int fd, one = 1;

	if (s == NULL)
		return;
	s->b = b;
	smtp_reply_init(&s->rp);
	fd = socket(b->o.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		free(s);
		b->failed++;
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	b->active++;
	b->conns++;
	if (b->o.idle)
		b->msgs_started++;      /* one session each, never more */
	if (b->o.mode == M_IMPLICIT || b->o.handshake_only) {
		SSL *ssl = SSL_new(b->ctx);
		sni(ssl);
		if (b->session)
			SSL_set_session(ssl, b->session);
		s->ssl = ssl;
		s->bev = bufferevent_openssl_socket_new(b->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
		                                        BEV_OPT_CLOSE_ON_FREE);
	} else
		s->bev = bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&b->o.addr, b->o.addrlen) < 0)
		sess_end(s, 1);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;

	(void)fd;
	(void)what;
	b->stopping = 1;
	if (!b->o.idle)
		fprintf(stderr, "smtpbench: time limit reached\n");
	event_base_loopexit(b->base, NULL);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void make_body(struct bench *b)
{
	size_t cap = b->o.size + 512, o;

	b->body = malloc(cap + 8);
	o = (size_t)snprintf(b->body, cap, "From: <%s>\r\nTo: <%s>\r\nSubject: smtpbench\r\nMessage-ID: <bench@smtpbench>\r\n"
	                     "Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n", b->o.from, b->o.to);
	while (o + 80 < b->o.size) {
		static const char line[] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz012345\r\n";
		memcpy(b->body + o, line, sizeof(line) - 1);    /* 80 octets, no NUL */
		o += 80;
	}
	memcpy(b->body + o, ".\r\n", 3);
	b->body_len = o + 3;
}

static void usage(void)
{
	fprintf(stderr, "usage: smtpbench -s ADDR:PORT [-m plain|starttls|implicit] [-c CONC] [-k PER_CONN]\n"
	                "                 [-n TOTAL] [-S SIZE] [-a USER:PASS] [-r] [-H] [-d MAX_SECONDS]\n"
	                "  -r resume TLS sessions; -H TLS handshakes only (connect, handshake, close)\n"
	                "  -I idle: open CONC sessions, hold them; once each has its greeting or failed, print idle=N failed=M\n"
	                "     until -d seconds have passed\n");
	exit(64);
}

int main(int argc, char **argv)
{
	struct bench b;
	int ch;
	double secs;

	memset(&b, 0, sizeof(b));
	b.o.conc = 16;
	b.o.per_conn = 10;
	b.o.total = 10000;
	b.o.size = 1024;
	b.o.from = "bench@example.test";
	b.o.to = "sink@example.test";
	b.o.helo = "smtpbench.example.test";
	b.o.max_secs = 120;
	b.o.addrlen = sizeof(b.o.addr);
	while ((ch = getopt(argc, argv, "s:m:c:k:n:S:a:rHId:f:t:")) != -1) {
		switch (ch) {
		case 's':
			b.o.addrlen = sizeof(b.o.addr);
			if (evutil_parse_sockaddr_port(optarg, (struct sockaddr *)&b.o.addr, &b.o.addrlen) < 0)
				usage();
			break;
		case 'm':
			b.o.mode = strcmp(optarg, "starttls") == 0 ? M_STARTTLS : strcmp(optarg, "implicit") == 0 ? M_IMPLICIT :
			           M_PLAIN;
			break;
		case 'c': b.o.conc = (unsigned)atoi(optarg); break;
		case 'k': b.o.per_conn = (unsigned)atoi(optarg); break;
		case 'n': b.o.total = (unsigned)atoi(optarg); break;
		case 'S': b.o.size = (unsigned)atoi(optarg); break;
		case 'a': b.o.auth = optarg; break;
		case 'r': b.o.resume = 1; break;
		case 'H': b.o.handshake_only = 1; break;
		case 'I': b.o.idle = 1; break;
		case 'd': b.o.max_secs = atof(optarg); break;
		case 'f': b.o.from = optarg; break;
		case 't': b.o.to = optarg; break;
		default: usage();
		}
	}
	if (b.o.addr.ss_family == 0 || b.o.conc == 0 || b.o.per_conn == 0 || b.o.total == 0)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (b.o.auth) {
		/* AUTH PLAIN with the initial response: "\0user\0pass". */
		unsigned char raw[300];
		char b64[420];
		const char *colon = strchr(b.o.auth, ':');
		size_t ul = colon ? (size_t)(colon - b.o.auth) : 0, pl = colon ? strlen(colon + 1) : 0;
		if (colon == NULL || ul + pl + 2 > sizeof(raw))
			usage();
		raw[0] = 0;
		memcpy(raw + 1, b.o.auth, ul);
		raw[1 + ul] = 0;
		memcpy(raw + 2 + ul, colon + 1, pl);
		base64_encode(raw, ul + pl + 2, b64);
		snprintf(b.auth_line, sizeof(b.auth_line), "AUTH PLAIN %s\r\n", b64);
	}
	b.base = event_base_new();
	b.ctx = SSL_CTX_new(TLS_client_method());
	/* A benchmark of the server's TLS, not of certificate checking: no verification here. */
	SSL_CTX_set_verify(b.ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(b.ctx, SSL_SESS_CACHE_CLIENT);
	b.lat = calloc(b.o.total, sizeof(double));
	make_body(&b);
	{
		struct timeval tv = { (time_t)b.o.max_secs, (suseconds_t)((b.o.max_secs - (double)(time_t)b.o.max_secs) * 1e6) };
		b.deadline = evtimer_new(b.base, on_deadline, &b);
		evtimer_add(b.deadline, &tv);
	}
	double t0 = now_s();
	if (b.o.idle)
		b.o.total = b.o.conc;
	/* Idle mode measures sessions held, not a SYN flood: at most IDLE_RAMP connect at once
	 * (all at once overflow the listen queue, and the dropped SYNs come back seconds later). */
	for (unsigned i = 0; i < b.o.conc && i < b.o.total && (!b.o.idle || i < IDLE_RAMP); i++)
		start_conn(&b);
	event_base_dispatch(b.base);
	secs = now_s() - t0;
	qsort(b.lat, b.nlat, sizeof(double), cmp_double);
	printf("msgs=%u failed=%u conns=%u secs=%.3f msgs_per_s=%.1f conns_per_s=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
	       b.done, b.failed, b.conns, secs, b.done / secs, b.conns / secs,
	       b.nlat ? b.lat[b.nlat / 2] : 0.0, b.nlat ? b.lat[(size_t)((double)b.nlat * 0.99)] : 0.0,
	       b.nlat ? b.lat[b.nlat - 1] : 0.0);
	return b.failed ? 1 : 0;
}
