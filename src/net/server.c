/*
 * server.c - accept, read, feed the session core, write its replies; signals and reload.
 * Not protocol: every SMTP decision is in smtp/session.c; this file only moves bytes, keeps
 * time, and answers the core's questions (recipient policy, spooling).
 */
#include "server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "../auth/users.h"
#include "../conf/config.h"
#include "../deliver/runner.h"
#include "../queue/spool.h"
#include "../smtp/session.h"
#include "../util/log.h"

#define OUTPUT_HIGH   (256 * 1024)  /* replies queued for a client that does not read: pause */
#define INPUT_CHUNK   (64 * 1024)   /* most we let libevent buffer per read */
#define LISTEN_BACKLOG 1024

/* A configuration snapshot. Sessions hold a reference, so a reload never frees what a session
 * in flight still points at (the session conf strings point into cfg). */
struct runconf {
	int refs;
	struct config *cfg;
	struct users *users;
	struct smtp_session_conf sconf;
};

struct server;

struct conn {
	struct conn *prev, *next;
	struct server *srv;
	struct runconf *rc;
	struct bufferevent *bev;
	struct smtp_session *sess;
	struct spool_msg *msg;
	char id[20];
	char peer_ip[INET6_ADDRSTRLEN];
	int peer_port;
	int closing;
	int read_paused;
};

struct server {
	struct event_base *base;
	const char *config_path;
	struct runconf *rc;
	struct spool *spool;
	struct runner *runner;
	struct evconnlistener *listeners[ROLE_COUNT * CONFIG_MAX_LISTEN];
	size_t nlisteners;
	struct event *ev_term, *ev_int, *ev_hup, *ev_grace;
	struct conn *conns;
	unsigned nconns;
	int stopping;
	unsigned long next_id;
};

/* ---- configuration snapshots ----------------------------------------------------------- */

static void runconf_unref(struct runconf *rc)
{
	if (rc == NULL || --rc->refs > 0)
		return;
	config_free(rc->cfg);
	users_free(rc->users);
	free(rc);
}

static struct runconf *runconf_load(const char *path, struct errlist *errs)
{
	struct runconf *rc = calloc(1, sizeof(*rc));

	if (rc == NULL)
		return NULL;
	rc->refs = 1;
	rc->cfg = config_load(path, errs);
	if (rc->cfg != NULL)
		rc->users = users_load(rc->cfg->users, errs);
	if (rc->cfg == NULL || rc->users == NULL) {
		runconf_unref(rc);
		return NULL;
	}
	rc->sconf.hostname = rc->cfg->hostname;
	rc->sconf.max_message_size = rc->cfg->max_message_size;
	rc->sconf.max_rcpts = rc->cfg->max_recipients;
	rc->sconf.max_errors = rc->cfg->max_errors;
	return rc;
}

/* ---- connections ----------------------------------------------------------------------- */

static void conn_free(struct conn *c)
{
	struct server *srv = c->srv;

	log_info(c->id, "disconnect address=%s messages=%u", c->peer_ip,
	         c->sess ? smtp_session_messages(c->sess) : 0);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	smtp_session_free(c->sess);    /* aborts an open message through data_abort */
	spool_msg_abort(c->msg);
	bufferevent_free(c->bev);
	runconf_unref(c->rc);
	free(c);
	if (srv->stopping && srv->nconns == 0)
		event_base_loopexit(srv->base, NULL);
}

/* After the core ran: close when it asked to, once the replies are flushed. */
static void after_io(struct conn *c)
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
	if (!c->read_paused && evbuffer_get_length(out) > OUTPUT_HIGH) {
		/* A client that pipelines but never reads must not make us buffer without bound. */
		c->read_paused = 1;
		bufferevent_disable(c->bev, EV_READ);
	}
}

static void process_input(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (!c->read_paused && !smtp_session_closing(c->sess)) {
		struct evbuffer_iovec v;
		size_t used;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		used = smtp_session_recv(c->sess, v.iov_base, v.iov_len);
		evbuffer_drain(in, used);
		if (used < v.iov_len)
			break;
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > OUTPUT_HIGH)
			break;
	}
	if (smtp_session_closing(c->sess))
		evbuffer_drain(in, evbuffer_get_length(in));
	after_io(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	process_input(arg);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->closing) {
		conn_free(c);
		return;
	}
	if (c->read_paused) {
		c->read_paused = 0;
		bufferevent_enable(c->bev, EV_READ);
		process_input(c);
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		if ((what & BEV_EVENT_WRITING) || c->closing) {
			log_info(c->id, "timeout address=%s reason=client-not-reading", c->peer_ip);
			conn_free(c);
			return;
		}
		log_info(c->id, "timeout address=%s", c->peer_ip);
		smtp_session_timeout(c->sess);
		after_io(c);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		log_info(c->id, "connection error address=%s: %s", c->peer_ip,
		         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		smtp_session_eof(c->sess);
		conn_free(c);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* The client may only have shut its sending side (printf ... | nc): the replies
		 * already queued are still owed, so flush them before closing. */
		smtp_session_eof(c->sess);
		after_io(c);
	}
}

/* ---- core callbacks -------------------------------------------------------------------- */

static void cb_reply(void *ctx, const char *buf, size_t len)
{
	struct conn *c = ctx;

	bufferevent_write(c->bev, buf, len);
}

static void set_verdict(struct smtp_verdict *v, int code, const char *esc, const char *text)
{
	v->code = code;
	v->esc = esc;
	v->text = text;
}

static void cb_rcpt(void *ctx, const struct smtp_tx *tx, const char *addr, struct smtp_verdict *v)
{
	struct conn *c = ctx;
	const struct config *cfg = c->rc->cfg;
	const struct user *u;
	char buf[SMTP_ADDR_MAX + 1];
	const char *at, *domain;
	size_t dlen;

	(void)tx;
	/* RFC 5321 4.5.1: <Postmaster> with no domain reaches the postmaster of our first domain. */
	if (strcmp(addr, "postmaster") == 0 && cfg->nlocal_domains > 0) {
		snprintf(buf, sizeof(buf), "postmaster@%s", cfg->local_domains[0]);
		addr = buf;
	}
	at = strrchr(addr, '@');
	if (at == NULL) {
		set_verdict(v, 550, "5.1.1", "Recipient address rejected: user unknown");
		return;
	}
	domain = at + 1;
	dlen = strlen(domain);
	if (!config_is_local_domain(cfg, domain, dlen)) {
		set_verdict(v, 550, "5.7.1", "Relay access denied: this server only accepts mail for its own domains");
		log_info(c->id, "reject rcpt=<%s> reason=relay-denied address=%s", addr, c->peer_ip);
		return;
	}
	u = users_lookup(c->rc->users, addr, strlen(addr));
	if (u == NULL && cfg->recipient_delimiter[0] != '\0') {
		const char *plus = memchr(addr, cfg->recipient_delimiter[0], (size_t)(at - addr));
		if (plus != NULL && plus != addr) {
			char base[SMTP_ADDR_MAX + 1];
			int n = snprintf(base, sizeof(base), "%.*s%s", (int)(plus - addr), addr, at);
			if (n > 0 && (size_t)n < sizeof(base))
				u = users_lookup(c->rc->users, base, (size_t)n);
		}
	}
	if (u == NULL) {
		/* At RCPT time, not after DATA: no bounce to a forged sender (no backscatter). */
		set_verdict(v, 550, "5.1.1", "Recipient address rejected: user unknown");
		log_info(c->id, "reject rcpt=<%s> reason=unknown-user address=%s", addr, c->peer_ip);
		return;
	}
	set_verdict(v, 250, "2.1.5", "Ok");
	snprintf(v->target, sizeof(v->target), "%s", u->address);
	v->local = 1;
}

/* Printable, comment-safe text for a Received: header field taken from the client. */
static void header_safe(char *out, size_t outlen, const char *in)
{
	size_t o = 0;

	for (; *in && o + 1 < outlen; in++) {
		unsigned char ch = (unsigned char)*in;
		out[o++] = (ch > 32 && ch < 127 && ch != '(' && ch != ')' && ch != '\\') ? (char)ch : '_';
	}
	out[o] = '\0';
}

/* Is there room for need more octets above the configured floor? Unknown counts as yes:
 * statvfs failing is no reason to refuse mail. */
static int spool_has_room(const struct conn *c, size_t need)
{
	const struct config *cfg = c->rc->cfg;
	struct statvfs vfs;

	if (cfg->min_free_space == 0 || statvfs(cfg->spool, &vfs) < 0)
		return 1;
	return (unsigned long long)vfs.f_bavail * vfs.f_frsize >=
	       (unsigned long long)cfg->min_free_space + need;
}

static void cb_mail(void *ctx, const struct smtp_tx *tx, struct smtp_verdict *v)
{
	struct conn *c = ctx;

	if (!spool_has_room(c, tx->declared_size)) {
		log_warnx(c->id, "refused mail: spool free space below min_free_space");
		set_verdict(v, 452, "4.3.1", "Insufficient system storage, try again later");
	}
}

static int cb_data_begin(void *ctx, const struct smtp_tx *tx)
{
	struct conn *c = ctx;
	char hdr[2048], helo[300], date[64];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	if (!spool_has_room(c, tx->declared_size))
		return -2;
	c->msg = spool_msg_begin(c->srv->spool, (long long)now);
	if (c->msg == NULL) {
		log_warn(c->id, "cannot create queue file");
		return -1;
	}
	if (spool_msg_sender(c->msg, tx->sender) < 0)
		goto fail;
	for (size_t i = 0; i < tx->nrcpts; i++)
		if (spool_msg_rcpt(c->msg, tx->rcpts[i].target, tx->rcpts[i].addr, tx->rcpts[i].local) < 0)
			goto fail;
	/* RFC 5321 4.4 trace header, added here because only the receiving side knows it.
	 * The "for" clause only for a single recipient: it would disclose Bcc recipients. */
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	header_safe(helo, sizeof(helo), smtp_session_helo(c->sess));
	/* Protocol names: RFC 3848 (ESMTP), RFC 6531 3.7.3 (UTF8SMTP). */
	n = snprintf(hdr, sizeof(hdr), "Received: from %s ([%s])\r\n\tby %s (mailport) with %s id %s",
	             helo, c->peer_ip, c->rc->cfg->hostname,
	             tx->smtputf8 ? "UTF8SMTP" : smtp_session_esmtp(c->sess) ? "ESMTP" : "SMTP",
	             spool_msg_qid(c->msg));
	if (tx->nrcpts == 1)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "\r\n\tfor <%s>", tx->rcpts[0].addr);
	n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, ";\r\n\t%s\r\n", date);
	if ((size_t)n >= sizeof(hdr) || spool_msg_write(c->msg, hdr, (size_t)n) < 0)
		goto fail;
	return 0;
fail:
	log_warn(c->id, "cannot write queue file");
	spool_msg_abort(c->msg);
	c->msg = NULL;
	return -1;
}

static int cb_data_write(void *ctx, const char *p, size_t n)
{
	struct conn *c = ctx;

	if (spool_msg_write(c->msg, p, n) < 0) {
		log_warn(c->id, "cannot write queue file");
		return -1;
	}
	return 0;
}

static int cb_data_commit(void *ctx, const struct smtp_tx *tx, char *qid, size_t qidsz)
{
	struct conn *c = ctx;
	struct spool_msg *m = c->msg;
	char to[1024];
	size_t o = 0;

	size_t size = spool_msg_size(m);

	c->msg = NULL;
	snprintf(qid, qidsz, "%s", spool_msg_qid(m));
	if (spool_msg_commit(m) < 0) {
		log_warn(qid, "queue commit failed, replied 451");
		return -1;
	}
	to[0] = '\0';
	for (size_t i = 0; i < tx->nrcpts && o + 4 < sizeof(to); i++)
		o += (size_t)snprintf(to + o, sizeof(to) - o, "%s<%s>", i ? "," : "", tx->rcpts[i].addr);
	if (o >= sizeof(to))
		o = sizeof(to) - 1;
	log_info(qid, "accepted session=%s address=%s from=<%s> to=%s nrcpt=%zu size=%zu", c->id,
	         c->peer_ip, tx->sender, to, tx->nrcpts, size);
	runner_wake(c->srv->runner, qid);
	return 0;
}

static void cb_data_abort(void *ctx)
{
	struct conn *c = ctx;

	spool_msg_abort(c->msg);
	c->msg = NULL;
}

static const struct smtp_session_cb session_cb = {
	.reply = cb_reply,
	.mail = cb_mail,
	.rcpt = cb_rcpt,
	.data_begin = cb_data_begin,
	.data_write = cb_data_write,
	.data_commit = cb_data_commit,
	.data_abort = cb_data_abort,
};

/* ---- accepting --------------------------------------------------------------------------- */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	struct runconf *rc = srv->rc;
	struct conn *c;
	struct timeval tv = { (time_t)rc->cfg->timeout, 0 };
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0, one = 1;

	(void)l;
	(void)salen;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
	}
	if (srv->nconns >= rc->cfg->max_connections) {
		char msg[300];
		int n = snprintf(msg, sizeof(msg), "421 4.7.0 %s Too many connections, try again later\r\n",
		                 rc->cfg->hostname);
		(void)!send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		evutil_closesocket(fd);
		log_info(NULL, "reject address=%s port=%d reason=max_connections limit=%u", ip, port,
		         rc->cfg->max_connections);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->srv = srv;
	c->rc = rc;
	rc->refs++;
	snprintf(c->id, sizeof(c->id), "s%06lx", ++srv->next_id);
	snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", ip);
	c->peer_port = port;
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->sess = smtp_session_new(&rc->sconf, &session_cb, c);
	if (c->bev == NULL || c->sess == NULL) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		smtp_session_free(c->sess);
		runconf_unref(rc);
		free(c);
		return;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, INPUT_CHUNK);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_info(c->id, "connect address=%s port=%d", ip, port);
	smtp_session_start(c->sess);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	/* EMFILE and friends: log and keep going; the listener retries on the next event. */
	log_warn(NULL, "accept failed");
}

static int bind_listeners(struct server *srv, const struct config *cfg)
{
	for (int role = 0; role < ROLE_COUNT; role++) {
		for (size_t i = 0; i < cfg->nlisten[role]; i++) {
			const struct config_listen *l = &cfg->listen[role][i];
			int fd, one = 1;

			fd = socket(l->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0)
				goto fail;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			/* [::]:25 next to 0.0.0.0:25 must not collide: each socket one family. */
			if (l->ss.ss_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			if (bind(fd, (const struct sockaddr *)&l->ss, l->sslen) < 0 ||
			    listen(fd, LISTEN_BACKLOG) < 0) {
				log_warn(NULL, "cannot listen on %s", l->text);
				close(fd);
				return -1;
			}
			srv->listeners[srv->nlisteners] = evconnlistener_new(srv->base, on_accept, srv,
			        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
			if (srv->listeners[srv->nlisteners] == NULL) {
				close(fd);
				goto fail;
			}
			evconnlistener_set_error_cb(srv->listeners[srv->nlisteners], on_accept_error);
			srv->nlisteners++;
			log_info(NULL, "listening address=%s role=smtp", l->text);
		}
	}
	return 0;
fail:
	log_warn(NULL, "cannot create listener");
	return -1;
}

/* ---- signals ------------------------------------------------------------------------------ */

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct conn *c, *next;

	(void)fd;
	(void)what;
	log_info(NULL, "shutdown grace period over: closing %u sessions", srv->nconns);
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;     /* after_io may free c */
		if (c->closing)
			continue;
		smtp_session_shutdown(c->sess);
		after_io(c);
	}
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval tv;

	(void)what;
	if (srv->stopping)
		return;
	srv->stopping = 1;
	log_info(NULL, "shutdown signal=%s sessions=%u grace=%us", sig == SIGTERM ? "TERM" : "INT",
	         srv->nconns, srv->rc->cfg->shutdown_grace);
	for (size_t i = 0; i < srv->nlisteners; i++)
		evconnlistener_free(srv->listeners[i]);
	srv->nlisteners = 0;
	if (srv->nconns == 0) {
		event_base_loopexit(srv->base, NULL);
		return;
	}
	tv.tv_sec = srv->rc->cfg->shutdown_grace;
	tv.tv_usec = 0;
	srv->ev_grace = evtimer_new(srv->base, on_grace, srv);
	evtimer_add(srv->ev_grace, &tv);
}

static int same_listeners(const struct config *a, const struct config *b)
{
	for (int role = 0; role < ROLE_COUNT; role++) {
		if (a->nlisten[role] != b->nlisten[role])
			return 0;
		for (size_t i = 0; i < a->nlisten[role]; i++)
			if (strcmp(a->listen[role][i].text, b->listen[role][i].text) != 0)
				return 0;
	}
	return 1;
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct errlist errs = { 0 };
	struct runconf *rc;

	(void)sig;
	(void)what;
	rc = runconf_load(srv->config_path, &errs);
	if (rc == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			log_errx(NULL, "reload failed, keeping the running configuration: %s", errs.msgs[i]);
		errlist_free(&errs);
		return;
	}
	if (!same_listeners(rc->cfg, srv->rc->cfg))
		log_warnx(NULL, "reload: listen addresses changed; they take effect at the next restart");
	if (strcmp(rc->cfg->spool, srv->rc->cfg->spool) != 0)
		log_warnx(NULL, "reload: spool changed; it takes effect at the next restart");
	runconf_unref(srv->rc);
	srv->rc = rc;
	runner_reconfigure(srv->runner, &(struct runner_conf){ rc->cfg->maildir, rc->cfg->hostname,
	                                                        rc->cfg->retry_interval });
	log_info(NULL, "reloaded config=%s users=%zu domains=%zu", srv->config_path,
	         users_count(rc->users), rc->cfg->nlocal_domains);
}

/* ---- main ---------------------------------------------------------------------------------- */

static void raise_fd_limit(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)want + 64)
		log_warnx(NULL, "open file limit %llu is below max_connections %u plus spare; raise it "
		          "(ulimit -n) or lower max_connections", (unsigned long long)rl.rlim_cur, want);
}

int server_main(const char *config_path)
{
	struct server srv;
	struct errlist errs = { 0 };
	char err[512];
	int rc = EX_OSERR;

	memset(&srv, 0, sizeof(srv));
	srv.config_path = config_path;
	srv.rc = runconf_load(config_path, &errs);
	if (srv.rc == NULL) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		return EX_CONFIG;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(srv.rc->cfg->max_connections);
	srv.spool = spool_open(srv.rc->cfg->spool, err, sizeof(err));
	if (srv.spool == NULL) {
		log_errx(NULL, "%s", err);
		runconf_unref(srv.rc);
		return EX_CANTCREAT;
	}
	srv.base = event_base_new();
	if (srv.base == NULL || bind_listeners(&srv, srv.rc->cfg) < 0)
		goto out;
	srv.runner = runner_start(srv.spool, &(struct runner_conf){ srv.rc->cfg->maildir,
	                          srv.rc->cfg->hostname, srv.rc->cfg->retry_interval });
	if (srv.runner == NULL) {
		log_errx(NULL, "cannot start the delivery runner");
		goto out;
	}
	srv.ev_term = evsignal_new(srv.base, SIGTERM, on_stop, &srv);
	srv.ev_int = evsignal_new(srv.base, SIGINT, on_stop, &srv);
	srv.ev_hup = evsignal_new(srv.base, SIGHUP, on_hup, &srv);
	evsignal_add(srv.ev_term, NULL);
	evsignal_add(srv.ev_int, NULL);
	evsignal_add(srv.ev_hup, NULL);
	log_info(NULL, "started hostname=%s spool=%s domains=%zu users=%zu", srv.rc->cfg->hostname,
	         srv.rc->cfg->spool, srv.rc->cfg->nlocal_domains, users_count(srv.rc->users));
	event_base_dispatch(srv.base);
	/* Sessions that outlived the loop (should be none) are closed without a word. */
	while (srv.conns)
		conn_free(srv.conns);
	rc = 0;
	log_info(NULL, "stopped");
out:
	for (size_t i = 0; i < srv.nlisteners; i++)
		evconnlistener_free(srv.listeners[i]);
	runner_stop(srv.runner);
	if (srv.ev_term)
		event_free(srv.ev_term);
	if (srv.ev_int)
		event_free(srv.ev_int);
	if (srv.ev_hup)
		event_free(srv.ev_hup);
	if (srv.ev_grace)
		event_free(srv.ev_grace);
	if (srv.base)
		event_base_free(srv.base);
	spool_close(srv.spool);
	runconf_unref(srv.rc);
	libevent_global_shutdown();
	return rc;
}
