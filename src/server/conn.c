/*
 * conn.c - one client connection: read, feed the session core, write its replies; TLS from
 * the first byte (465) or after STARTTLS; timeouts and backpressure.
 * Not policy: what to answer is the core's (smtp/session.c) and policy.c's business.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../tls/tls.h"
#include "proxyhdr.h"
#include "../util/netmatch.h"
#include "../auth/auth.h"
#include "../util/log.h"
#include "../util/metrics.h"
#include "hooks.h"
#include "server_int.h"

/* What the SMTP core asks, and where its replies go. */
static const struct smtp_session_cb session_hooks = {
	.reply = conn_reply,
	.mail = hook_mail,
	.rcpt = hook_rcpt,
	.data_begin = hook_data_begin,
	.data_write = hook_data_write,
	.data_commit = hook_data_commit,
	.data_abort = hook_data_abort,
	.auth = hook_auth,
	.scram_creds = hook_scram_creds,
	.auth_outcome = hook_auth_outcome,
	.auth_external = hook_auth_external,
};

#define OUTPUT_HIGH   (256 * 1024)  /* replies queued for a client that does not read: pause */
#define INPUT_CHUNK   (64 * 1024)   /* most we let libevent buffer per read */

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void proxy_done(struct conn *c);

static void conn_log_connect(struct conn *c)
{
	if (c->connect_logged)
		return;
	c->connect_logged = 1;
	log_info(c->id, "connect address=%s port=%d role=%s%s%s", c->peer_ip, c->peer_port, listener_kind(c->role)->name,
	         c->via[0] ? " proxy=" : "", c->via);
}

void conn_free(struct conn *c)
{
	struct server *srv = c->srv;

	if (!c->ended_in_one_line)
		CLOG(log_info, c, "disconnect address=%s messages=%u", c->peer_ip,
		     c->sess ? smtp_session_messages(c->sess) : 0);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	srv->primary->sessions--;
	if (c->clientlimits_counted)
		clientlimits_disconnect(srv->clientlimits, c->client_key);
	if (c->handshaking)
		srv->handshake(srv, 0);
	if (c->auth_wait != NULL)
		c->auth_wait->c = NULL;     /* its answer now has no one to go to */
	if (c->commit_wait != NULL)
		c->commit_wait->c = NULL;   /* the message still becomes durable and is delivered */
	shared_cancel(c->sreq);
	if (c->ev_line)
		event_free(c->ev_line);
	if (c->proxy != NULL)
		proxy_done(c);
	smtp_session_free(c->sess);    /* aborts an open message through data_abort */
	spool_msg_abort(c->msg);
	free(c->held);
	free(c->cert);
	if (c->bev)
		bufferevent_free(c->bev);
	if (!c->tls_bev)
		evutil_closesocket(c->fd);  /* a TLS bufferevent closes it itself */
	runconf_unref(c->rc);
	free(c);
	if (srv->stopping && srv->nconns == 0)
		event_base_loopexit(srv->base, NULL);
}

static void setup_bev(struct conn *c)
{
	struct timeval tv = { (time_t)c->rc->cfg->timeout, 0 };

	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, INPUT_CHUNK);
	/* The same timeout bounds a handshake: a client that stalls mid-handshake is dropped. */
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

#define TLS_READ_CHUNK 960       /* with libevent's chain header: one 1 KiB allocation */

static int start_tls(struct conn *c)
{
	SSL *ssl = tls_server_ssl(c->rc->tls);

	if (ssl == NULL) {
		char err[256];
		tls_last_error(err, sizeof(err));
		CLOG(log_warnx, c, "cannot create TLS session: %s", err);
		return -1;
	}
	/* Client certificates are asked for where people log in, never on the MX port. */
	if (c->rc->clientca != NULL && (c->rc->sconf[c->role].policy & SMTP_POLICY_AUTH) &&
	    clientca_request(c->rc->clientca, ssl) < 0) {
		SSL_free(ssl);
		return -1;
	}
	c->bev = bufferevent_openssl_socket_new(c->srv->base, c->fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                        BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		SSL_free(ssl);
		return -1;
	}
	c->tls_bev = 1;
	c->handshaking = 1;
	clock_gettime(CLOCK_MONOTONIC, &c->hs_start);
	c->srv->handshake(c->srv, 1);
	/* A client that closes without close_notify is an EOF, not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	/* libevent reserves this much input buffer for each SSL_read and keeps the empty chain
	 * while the session idles; its default costs 8 KiB per idle TLS session. */
	bufferevent_set_max_single_read(c->bev, TLS_READ_CHUNK);
	setup_bev(c);
	return 0;
}

/* The 220 to STARTTLS is on the wire: discard what the client sent after STARTTLS and before
 * the handshake (injected plaintext, CVE-2011-0411), then put TLS on the same socket. */
static void switch_to_tls(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t junk = evbuffer_get_length(in);

	c->starttls_pending = 0;
	if (junk > 0)
		CLOG(log_info, c, "starttls discarded octets=%zu address=%s reason=pipelined-before-handshake",
		         junk, c->peer_ip);
	bufferevent_free(c->bev);       /* without BEV_OPT_CLOSE_ON_FREE: the socket stays open */
	c->bev = NULL;
	if (start_tls(c) < 0) {
		conn_free(c);
		return;
	}
}

/* After the core ran: start TLS, close, or pause, as it asked. */
void conn_after_io(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (smtp_session_closing(c->sess) && !c->closing) {
		c->closing = 1;
		bufferevent_disable(c->bev, EV_READ);
	}
	if (c->closing) {
		if (evbuffer_get_length(out) == 0)
			conn_free(c);
		return;
	}
	if (smtp_session_wants_tls(c->sess) && !c->starttls_pending) {
		c->starttls_pending = 1;
		bufferevent_disable(c->bev, EV_READ);
	}
	if (c->starttls_pending) {
		if (evbuffer_get_length(out) == 0)
			switch_to_tls(c);
		return;
	}
	if (!c->read_paused && evbuffer_get_length(out) > OUTPUT_HIGH) {
		/* A client that pipelines but never reads must not make us buffer without bound. */
		c->read_paused = 1;
		bufferevent_disable(c->bev, EV_READ);
	}
}

/* ---- slow clients ------------------------------------------------------------------------
 * libevent's read timeout restarts with every read, so a client trickling one byte at a time
 * would keep its session (and its memory) for ever. So a line, a command or a line of the
 * message, must also be complete within timeout of its first octet (Postfix's
 * smtpd_per_record_deadline). The timer is armed once and looks at the line's start when it
 * fires: streaming clients cost no timer operations per read. */

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void arm_line_timer(struct conn *c, long long ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(c->ev_line, &tv);
}

static void on_line_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	long long limit = (long long)c->rc->cfg->timeout * 1000, age;

	(void)fd;
	(void)what;
	if (c->line_start == 0 || c->closing)
		return;
	age = now_ms() - c->line_start;
	if (age < limit) {
		arm_line_timer(c, limit - age);
		return;
	}
	CLOG(log_info, c, "timeout address=%s reason=line-not-completed seconds=%u", c->peer_ip, c->rc->cfg->timeout);
	smtp_session_timeout(c->sess);
	conn_after_io(c);
}

/* The core took n octets at p: where does the line in progress, if any, start? */
static void note_progress(struct conn *c, const char *p, size_t n)
{
	const char *lf;

	if (n == 0)
		return;
	lf = memrchr(p, '\n', n);
	if (lf == p + n - 1) {
		c->line_start = 0;      /* every line complete */
		return;
	}
	if (lf != NULL || c->line_start == 0)
		c->line_start = now_ms();
	if (c->ev_line == NULL && (c->ev_line = evtimer_new(c->srv->base, on_line_deadline, c)) == NULL)
		return;
	if (!evtimer_pending(c->ev_line, NULL))
		arm_line_timer(c, (long long)c->rc->cfg->timeout * 1000);
}

/* The first octets of a TLS handshake record (a ClientHello) where a plaintext command
 * belongs: the client is set to "SSL/TLS" on a port that speaks plaintext first. */
static int tls_hello_first(struct conn *c, struct evbuffer *in)
{
	unsigned char head[2];
	ev_ssize_t n;

	if (c->seen_input || c->tls_bev)
		return 0;
	if ((n = evbuffer_copyout(in, head, sizeof(head))) < 1)
		return 0;
	c->seen_input = 1;
	return head[0] == 0x16 && (n < 2 || head[1] == 0x03);
}

static void refuse_tls_hello(struct conn *c)
{
	const char *implicit = NULL;

	for (size_t i = 0; i < c->srv->nlisteners && implicit == NULL; i++)
		if (listener_kind(c->srv->listeners[i].role)->tls == LISTENER_TLS_IMPLICIT)
			implicit = c->srv->listeners[i].text;
	CLOG(log_info, c, "client speaks TLS first address=%s role=%s: set it to \"STARTTLS\" for this port%s%s%s",
	     c->peer_ip, listener_kind(c->role)->name, implicit ? ", or use the implicit-TLS port " : "",
	     implicit ? implicit : "", implicit ? " with \"SSL/TLS\"" : "");
	smtp_session_refuse(c->sess, 421, "4.7.0", "This port speaks plaintext first: use STARTTLS, or the "
	                    "implicit-TLS port");
}

static void process_input(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (tls_hello_first(c, in))
		refuse_tls_hello(c);

	while (!c->read_paused && !smtp_session_closing(c->sess) && !smtp_session_wants_tls(c->sess)) {
		struct evbuffer_iovec v;
		size_t used;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		used = smtp_session_recv(c->sess, v.iov_base, v.iov_len);
		note_progress(c, v.iov_base, used);
		evbuffer_drain(in, used);
		if (used < v.iov_len)
			break;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_HIGH)
			break;
	}
	if (smtp_session_closing(c->sess))
		evbuffer_drain(in, evbuffer_get_length(in));
	else if (c->eof_pending && c->commit_wait == NULL && evbuffer_get_length(in) == 0)
		smtp_session_eof(c->sess);
	conn_after_io(c);
}

static void conn_resume(struct conn *c)
{
	process_input(c);
}

/* What policy.c may ask of a connection (server_int.h). */
static const struct conn_ops conn_ops = { .resume = conn_resume, .log_connect = conn_log_connect };

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	process_input(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	/* libevent may run this for an earlier drain (the implicit-TLS greeting, say) after the
	 * client's next commands were read and answered in the same turn: replies queued since
	 * are still owed. */
	int drained = evbuffer_get_length(bufferevent_get_output(bev)) == 0;

	if (c->closing) {
		if (drained)
			conn_free(c);
		return;
	}
	if (c->starttls_pending) {
		if (drained)
			switch_to_tls(c);
		return;
	}
	if (c->read_paused) {
		c->read_paused = 0;
		bufferevent_enable(c->bev, EV_READ);
		process_input(c);
	}
}

/* What the client's certificate is worth, said once in the log: a bad one is ignored (the
 * client may still log in with a password), never a reason to drop the connection. */
static void client_cert(struct conn *c, SSL *ssl)
{
	struct clientca_id id;
	char why[200] = "";

	if (c->rc->clientca == NULL || !(c->rc->sconf[c->role].policy & SMTP_POLICY_AUTH))
		return;
	enum clientca_result r = clientca_check(c->rc->clientca, ssl, &id, why, sizeof(why));
	if (r == CLIENTCA_NONE)
		return;
	if (r == CLIENTCA_BAD) {
		CLOG(log_info, c, "client certificate refused address=%s serial=%s%s%s reason=\"%s\"", c->peer_ip, id.serial,
		         id.n ? " mailbox=" : "", id.n ? id.mailbox[0] : "", why);
		return;
	}
	if ((c->cert = malloc(sizeof(*c->cert))) == NULL)
		return;
	*c->cert = id;
	CLOG(log_info, c, "client certificate address=%s mailbox=%s serial=%s", c->peer_ip, id.mailbox[0], id.serial);
}

static void handshake_done(struct conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	char desc[160];

	c->handshaking = 0;
	c->srv->handshake(c->srv, 0);
	tls_describe(ssl, desc, sizeof(desc));
	CLOG(log_info, c, "tls established address=%s role=%s %s%s", c->peer_ip, listener_kind(c->role)->name,
	         desc, SSL_session_reused(ssl) ? " resumed=yes" : "");
	metrics_tls(SSL_get_version(ssl), SSL_get_cipher_name(ssl));
	client_cert(c, ssl);
	unsigned char cb[32];
	int have_cb = tls_channel_binding(ssl, cb) == 0;
	smtp_session_tls_peer(c->sess, have_cb ? cb : NULL, c->cert != NULL);
	OPENSSL_cleanse(cb, sizeof(cb));
	if (smtp_session_wants_tls(c->sess))
		smtp_session_tls_started(c->sess);
	else
		smtp_session_start(c->sess);    /* implicit TLS: the greeting comes after the handshake */
	process_input(c);
}

/* One line for a handshake that failed. A session that said nothing else yet (a TLS version
 * probe, a client with the wrong setting) is that line alone, with the connect details; a
 * version probe is marked as one: it is what mailport check and testssl.sh do on purpose. */
static void handshake_failed(struct conn *c, const char *why, int probe)
{
	if (!c->connect_logged) {
		c->connect_logged = c->ended_in_one_line = 1;
		log_info(c->id, "tls handshake failed address=%s port=%d role=%s%s reason=\"%s\"", c->peer_ip,
		         c->peer_port, listener_kind(c->role)->name, probe ? " probe=yes" : "", why);
	} else
		log_info(c->id, "tls handshake failed address=%s%s reason=\"%s\"", c->peer_ip, probe ? " probe=yes" : "",
		         why);
	conn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		handshake_done(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->handshaking) {
			handshake_failed(c, listener_kind(c->role)->tls == LISTENER_TLS_IMPLICIT ?
			                 "timeout: no TLS handshake from the client (one set to STARTTLS or to no encryption "
			                 "on this implicit-TLS port waits for a greeting that never comes: set it to 'SSL/TLS')" :
			                 "timeout: the client stopped in the middle of the handshake", 0);
			return;
		}
		if ((what & BEV_EVENT_WRITING) || c->closing) {
			CLOG(log_info, c, "timeout address=%s reason=client-not-reading", c->peer_ip);
			conn_free(c);
			return;
		}
		CLOG(log_info, c, "timeout address=%s", c->peer_ip);
		smtp_session_timeout(c->sess);
		conn_after_io(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		if (c->tls_bev) {
			unsigned long e, first = 0;
			/* The first error with a library is the cause; libevent adds an errno-less one. */
			while ((e = bufferevent_get_openssl_error(bev)) != 0)
				if (first == 0 && ERR_GET_LIB(e) != 0)
					first = e;
			ERR_clear_error();
			if (c->handshaking) {
				char why[320];
				int probe;
				tls_accept_failure(bufferevent_openssl_get_ssl(bev), first, why, sizeof(why), &probe);
				handshake_failed(c, why, probe);
				return;
			}
			if (first != 0) {
				const char *r = ERR_reason_error_string(first);
				CLOG(log_info, c, "tls error address=%s reason=\"%s\"", c->peer_ip, r ? r : "TLS error");
			}
		} else
			CLOG(log_info, c, "connection error address=%s: %s", c->peer_ip,
			         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		smtp_session_eof(c->sess);
		conn_free(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		if (c->handshaking) {
			handshake_failed(c, "the client closed the connection during the handshake", 0);
			return;
		}
		if (c->commit_wait != NULL) {
			/* A half-closed client (printf ... | nc) still gets the 250 for its message and
			 * the replies to what it sent after it: the EOF counts once the commit is done. */
			c->eof_pending = 1;
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		/* The client may only have shut its sending side (printf ... | nc): the replies
		 * already queued are still owed, so flush them before closing. Not over TLS: after
		 * the peer's close_notify nothing more can be written, and the output would wait
		 * for a write event that never comes, holding the session until its timeout. */
		smtp_session_eof(c->sess);
		if (c->tls_bev && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
			CLOG(log_info, c, "closed by client address=%s unsent=%zu", c->peer_ip,
			         evbuffer_get_length(bufferevent_get_output(c->bev)));
			conn_free(c);
			return;
		}
		conn_after_io(c);
	}
}

/* Turned away at the door: a 421 where the client speaks plaintext SMTP first (on 465 it
 * would be garbage to a TLS client: it only sees the close). The caller closes. */
static void refuse(const struct server *srv, enum listener_role role, evutil_socket_t fd, const char *why)
{
	if (listener_kind(role)->tls != LISTENER_TLS_IMPLICIT) {
		char msg[300];
		int n = snprintf(msg, sizeof(msg), "421 4.7.0 %s %s\r\n", srv->rc->cfg->hostname, why);
		(void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
}

/* Refused for a per-client limit: the words for the client, the line for the log. The caller
 * frees the connection. */
static void turn_away(struct conn *c, enum clientlimits_verdict v, int shared)
{
	const struct config *cfg = c->rc->cfg;

	/* The line first: whoever sees the 421 finds it in the log. */
	log_info(NULL, "reject address=%s port=%d reason=%s limit=%u%s%s%s", c->peer_ip, c->peer_port,
	         v == CLIENTLIMITS_TOO_MANY ? "max_connections_per_ip" : "max_connection_rate_per_ip",
	         v == CLIENTLIMITS_TOO_MANY ? cfg->max_conn_per_ip : cfg->conn_rate_per_ip, shared ? " counted=shared" : "",
	         c->via[0] ? " proxy=" : "", c->via);
	refuse(c->srv, c->role, c->fd, v == CLIENTLIMITS_TOO_MANY ? "Too many connections from your address, try again later"
	                                                   : "Too many new connections from your address, slow down");
	c->ended_in_one_line = 1;
}

static void conn_admit(struct conn *c);

/* The shared count of this client's new connections across the nodes, this one included. */
static void rate_answer(void *arg, const struct shared_answer *a)
{
	struct conn *c = arg;

	c->sreq = NULL;
	if (a->ok && !a->yes) {
		turn_away(c, CLIENTLIMITS_TOO_FAST, 1);
		conn_free(c);
		return;
	}
	conn_admit(c);
}

/* The client is known (from the socket, or from its balancer's PROXY header): its limits,
 * then the session. Sessions at once are counted here (they end here); new connections per
 * minute here and, with [limits] redis, by all the nodes together: the session starts when
 * the store has answered (within SHARED_TIMEOUT_MS, else as if it were not there). */
static void conn_start(struct conn *c)
{
	struct server *srv = c->srv;
	const struct config *cfg = c->rc->cfg;
	int counted = 0;

	throttle_key(c->peer_ip, c->client_key, sizeof(c->client_key));
	if (!netmatch_match(cfg->limits_exempt, c->peer_ip)) {
		enum clientlimits_verdict v = clientlimits_connect(srv->clientlimits, c->client_key, (long long)time(NULL), &counted);
		if (v != CLIENTLIMITS_OK) {
			turn_away(c, v, 0);
			conn_free(c);
			return;
		}
		c->clientlimits_counted = counted;
		if (cfg->conn_rate_per_ip > 0 &&
		    (c->sreq = shared_take(srv->shared, "conn", c->client_key, cfg->conn_rate_per_ip, 60, rate_answer, c)) != NULL)
			return;
	}
	conn_admit(c);
}

/* Past the limits: the session, in plaintext or TLS as the listener says. */
static void conn_admit(struct conn *c)
{
	struct server *srv = c->srv;
	int one = 1;

	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	metrics_add((enum metric)(MET_SESSIONS + c->role), 1);
	c->sess = smtp_session_new(&c->rc->sconf[c->role], &session_hooks, c);
	if (c->sess == NULL) {
		conn_free(c);
		return;
	}
	if (listener_kind(c->role)->tls == LISTENER_TLS_IMPLICIT) {
		smtp_session_set_tls(c->sess);
		if (start_tls(c) < 0)
			conn_free(c);
		return;
	}
	c->bev = bufferevent_socket_new(srv->base, c->fd, 0);
	if (c->bev == NULL) {
		conn_free(c);
		return;
	}
	setup_bev(c);
	smtp_session_start(c->sess);
}

/* ---- PROXY protocol ---------------------------------------------------------------------
 * Behind a load balancer the socket's peer is the balancer; its PROXY header names the client.
 * The header is read with exact lengths (proxyhdr_length), never one octet past it: on 465
 * the client's ClientHello follows at once and belongs to OpenSSL. */

#define PROXY_TIMEOUT 10            /* seconds for the whole header (Postfix waits 5) */

struct proxy_wait {
	struct event *ev;
	long long deadline;             /* ms, monotonic */
	size_t have;
	unsigned char buf[PROXYHDR_MAX];
};

static void proxy_done(struct conn *c)
{
	event_free(c->proxy->ev);
	free(c->proxy);
	c->proxy = NULL;
}

static void proxy_refuse(struct conn *c, const char *why)
{
	log_info(c->id, "reject address=%s port=%d role=%s reason=\"%s\"", c->via, c->peer_port,
	         listener_kind(c->role)->name, why);
	c->ended_in_one_line = 1;
	conn_free(c);
}

static long long now_ms(void);

static void proxy_arm(struct conn *c)
{
	long long left = c->proxy->deadline - now_ms();
	struct timeval tv = { 0, 0 };

	if (left > 0) {
		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	}
	event_add(c->proxy->ev, &tv);
}

static void on_proxy_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct proxy_wait *w = c->proxy;
	struct proxyhdr h;
	const char *why = "";
	ssize_t n;
	long total;

	if (what & EV_TIMEOUT) {
		proxy_refuse(c, w->have ? "PROXY header not completed in time" : "no PROXY header in time");
		return;
	}
	n = recv(fd, w->buf + w->have, sizeof(w->buf) - w->have, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		proxy_arm(c);
		return;
	}
	if (n <= 0) {
		if (n == 0 && w->have == 0) {
			/* A balancer's TCP health check: connect and close. Not worth a line each time. */
			log_debug(c->id, "proxy closed before its header address=%s", c->via);
			c->ended_in_one_line = 1;
			conn_free(c);
		} else
			proxy_refuse(c, n == 0 ? "closed in the middle of the PROXY header" : strerror(errno));
		return;
	}
	total = proxyhdr_length(w->buf, w->have + (size_t)n, &why);
	if (total < 0) {
		proxy_refuse(c, why);
		return;
	}
	size_t take = (size_t)n;
	if (total > 0 && (size_t)total - w->have < take)
		take = (size_t)total - w->have;
	if (recv(fd, w->buf + w->have, take, 0) != (ssize_t)take) {
		proxy_refuse(c, "cannot read the PROXY header");
		return;
	}
	w->have += take;
	if (total == 0 || w->have < (size_t)total) {
		proxy_arm(c);
		return;
	}
	if (proxyhdr_parse(w->buf, w->have, &h, &why) < 0) {
		proxy_refuse(c, why);
		return;
	}
	proxy_done(c);
	if (!h.local) {
		snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", h.src);
		c->peer_port = (int)h.src_port;
	}
	conn_start(c);
}

void conn_accept(struct listener *l, evutil_socket_t fd, struct sockaddr *sa)
{
	struct server *srv = l->srv;
	struct runconf *rc = srv->rc;
	struct conn *c;
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
	}
	/* All loops' sessions: two loops may pass this at once, so the limit can be exceeded by
	 * the number of loops less one, never more. */
	if (srv->primary->sessions >= rc->cfg->max_connections) {
		log_info(NULL, "reject address=%s port=%d reason=max_connections limit=%u", ip, port,
		         rc->cfg->max_connections);
		if (!rc->proxy[l->role])
			refuse(srv, l->role, fd, "Too many connections, try again later");
		evutil_closesocket(fd);
		return;
	}
	if (rc->proxy[l->role] && !netmatch_match(rc->cfg->proxy_from[l->role], ip)) {
		/* Not our balancer: it could name any client it liked, so it is not heard at all. */
		log_info(NULL, "reject address=%s port=%d role=%s reason=\"not in [%s] proxy_from: this listener "
		         "takes connections from its load balancers only\"", ip, port, listener_kind(l->role)->name,
		         listener_kind(l->role)->name);
		evutil_closesocket(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->ops = &conn_ops;
	c->srv = srv;
	c->rc = runconf_ref(rc);
	c->role = l->role;
	c->fd = fd;
	snprintf(c->id, sizeof(c->id), "s%06lx", ++srv->primary->next_id);
	snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", ip);
	c->peer_port = port;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	srv->primary->sessions++;
	if (!rc->proxy[l->role]) {
		conn_start(c);
		return;
	}
	snprintf(c->via, sizeof(c->via), "%s", ip);
	if ((c->proxy = calloc(1, sizeof(*c->proxy))) == NULL ||
	    (c->proxy->ev = event_new(srv->base, fd, EV_READ, on_proxy_read, c)) == NULL) {
		free(c->proxy);
		c->proxy = NULL;
		conn_free(c);
		return;
	}
	c->proxy->deadline = now_ms() + PROXY_TIMEOUT * 1000;
	proxy_arm(c);
}

/* The session's replies (its reply callback). */
void conn_reply(void *ctx, const char *buf, size_t len)
{
	struct conn *c = ctx;

	/* Plaintext with nothing queued: straight to the socket. Through the bufferevent a reply
	 * waits a turn of the loop for epoll to say the socket is writable, which it always is for
	 * a few dozen octets: an epoll_ctl, an epoll_wait and another epoll_ctl per reply, on
	 * the path of every command a client waits for. What the socket does not take, and any
	 * error, go the bufferevent's way (conn_after_io closes or starts TLS once it is empty). */
	if (!c->tls_bev && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	if (len > 0)
		bufferevent_write(c->bev, buf, len);
}
