/*
 * loop.c - an event loop's part of the server: its listeners, the pauses that hold them (out
 * of descriptors, too many TLS handshakes), its end (the shutdown grace); and the loops beyond
 * the primary ([server] workers): each a thread with its own event base, listeners, pools and
 * Redis client, told by the primary through a pipe to take a new snapshot or to stop. What a
 * loop shares with the others is in server_int.h's struct server.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>

#include "../util/log.h"
#include "server_int.h"

#define LISTEN_BACKLOG 1024

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	(void)evl;
	(void)salen;
	conn_accept(arg, fd, sa);
}

/* Out of descriptors (or kernel memory), the pending connection stays in the queue and the
 * listener is readable again at once: retrying in a loop burns a core and writes a log line
 * each time. As nginx and Postfix do, every listener rests a moment (sessions that end free
 * descriptors meanwhile, and the waiting clients stay queued in the kernel), and the log says
 * so once per ACCEPT_LOG_S with a count. */
#define ACCEPT_PAUSE_MS 250
#define ACCEPT_LOG_S 10

/* Each listener accepts unless a pause holds it: out of descriptors (all of them), or too many
 * TLS handshakes in progress (the implicit-TLS ones). The one place that applies the two. */
static void apply_pauses(struct server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		struct listener *l = &srv->listeners[i];
		if (l->l == NULL)
			continue;
		if (srv->accept_paused || (listener_kind(l->role)->tls == LISTENER_TLS_IMPLICIT && srv->tls_accept_paused))
			evconnlistener_disable(l->l);
		else
			evconnlistener_enable(l->l);
	}
}

static void on_accept_timer(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	srv->accept_paused = 0;
	if (!srv->stopping)
		apply_pauses(srv);
}

static void on_accept_error(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	struct server *srv = l->srv;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };
	struct timespec now;

	(void)evl;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;         /* ECONNABORTED and the like: that one client, nothing to do */
	srv->accept_failures++;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (srv->accept_logged.tv_sec == 0 || now.tv_sec - srv->accept_logged.tv_sec >= ACCEPT_LOG_S) {
		log_warnx(NULL, "accept failed on %s: %s; new connections wait in the kernel's queue, retried every "
		          "%d ms (%lu time%s since the last such line)%s", l->text, strerror(err), ACCEPT_PAUSE_MS,
		          srv->accept_failures, srv->accept_failures == 1 ? "" : "s",
		          err == EMFILE || err == ENFILE ? ": raise the descriptor limit (ulimit -n, systemd LimitNOFILE=) "
		          "or lower max_connections" : "");
		srv->accept_logged = now;
		srv->accept_failures = 0;
	}
	if (srv->accept_paused)
		return;
	if (srv->ev_accept == NULL && (srv->ev_accept = evtimer_new(srv->base, on_accept_timer, srv)) == NULL)
		return;
	srv->accept_paused = 1;
	apply_pauses(srv);
	evtimer_add(srv->ev_accept, &tv);
}

/* One socket of a listen address. More than one loop: every loop has its own socket on the
 * address (SO_REUSEPORT; the kernel spreads new connections over them, and a loop that pauses
 * leaves its share waiting in its own queue). The primary's is bound before it joins the group,
 * so that another server already on the address is still an error rather than a silent
 * neighbour. */
static int listen_socket(const struct server *srv, const struct config_listen *cl)
{
	int fd, one = 1, reuse = srv->primary->nloops > 1;

	fd = socket(cl->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::]:25 next to 0.0.0.0:25 must not collide: each socket one family. */
	if (cl->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (reuse && srv != srv->primary && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&cl->ss, cl->sslen) < 0)
		goto fail;
	if (reuse && srv == srv->primary && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (listen(fd, LISTEN_BACKLOG) < 0)
		goto fail;
	return fd;
fail:
	log_warn(NULL, "cannot listen on %s", cl->text);
	close(fd);
	return -2;
}

int loop_listen(struct server *srv, const struct config *cfg)
{
	for (int role = 0; role < ROLE_COUNT; role++) {
		int http = listener_kind((enum listener_role)role)->proto == LISTENER_PROTO_HTTP;
		if (http && srv != srv->primary)
			continue;           /* HTTP is the primary's alone (http.c) */
		for (size_t i = 0; i < cfg->nlisten[role]; i++) {
			const struct config_listen *cl = &cfg->listen[role][i];
			struct listener *l = &srv->listeners[srv->nlisteners];
			int fd = listen_socket(srv, cl);

			if (fd == -2)
				return -1;
			if (fd < 0)
				goto fail;
			l->srv = srv;
			l->role = (enum listener_role)role;
			l->http = NULL;
			l->l = NULL;
			l->fd = -1;
			snprintf(l->text, sizeof(l->text), "%s", cl->text);
			if (http)
				l->fd = fd;     /* http_start() gives it to evhttp */
			else if ((l->l = evconnlistener_new(srv->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
			                                    -1, fd)) == NULL) {
				close(fd);
				goto fail;
			} else
				evconnlistener_set_error_cb(l->l, on_accept_error);
			srv->nlisteners++;
			if (srv == srv->primary)
				log_info(NULL, "listening address=%s role=%s tls=%s", cl->text, listener_kind(l->role)->name,
				         listener_tls_words(listener_kind(l->role), srv->rc->tls != NULL));
		}
	}
	return 0;
fail:
	log_warn(NULL, "cannot create listener");
	return -1;
}

void loop_unlisten(struct server *srv)
{
	http_stop(srv);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		if (srv->listeners[i].l != NULL)
			evconnlistener_free(srv->listeners[i].l);
		if (srv->listeners[i].fd >= 0)
			close(srv->listeners[i].fd);
	}
	srv->nlisteners = 0;
}

/* ---- TLS handshake backpressure ---------------------------------------------------------- */

/* A handshake holds tens of KiB of temporary memory until the client finishes it; thousands
 * at once (a connection storm) only fragment the heap and slow each other down. With this
 * many in progress, implicit-TLS accepts wait in the kernel's queue. Only fresh handshakes
 * count while paused: clients that stall theirs (slowloris) cannot keep the door shut, the
 * pause is re-examined every 100 ms and ignores handshakes older than a second. STARTTLS
 * upgrades are never refused, they only count. */
#define MAX_HANDSHAKES 64
#define HS_FRESH_MS 1000

static void tls_listeners(struct server *srv, int on)
{
	struct timeval tv = { 0, 100 * 1000 };

	srv->tls_accept_paused = !on;
	apply_pauses(srv);
	if (srv->ev_hs != NULL) {
		if (on)
			evtimer_del(srv->ev_hs);
		else
			evtimer_add(srv->ev_hs, &tv);
	}
}

static unsigned fresh_handshakes(const struct server *srv)
{
	struct timespec now;
	unsigned n = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	for (const struct conn *c = srv->conns; c != NULL; c = c->next)
		if (c->handshaking && (now.tv_sec - c->hs_start.tv_sec) * 1000 +
		                      (now.tv_nsec - c->hs_start.tv_nsec) / 1000000 < HS_FRESH_MS)
			n++;
	return n;
}

static void on_hs_timer(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval tv = { 0, 100 * 1000 };

	(void)fd;
	(void)what;
	if (!srv->tls_accept_paused || srv->stopping)
		return;
	if (fresh_handshakes(srv) <= MAX_HANDSHAKES / 2)
		tls_listeners(srv, 1);
	else
		evtimer_add(srv->ev_hs, &tv);
}

/* A TLS handshake on srv's loop begins (1) or ends, any way (0). */
void loop_handshake(struct server *srv, int begin)
{
	if (begin) {
		if (++srv->handshakes >= MAX_HANDSHAKES && !srv->tls_accept_paused && !srv->stopping &&
		    fresh_handshakes(srv) >= MAX_HANDSHAKES)
			tls_listeners(srv, 0);
		return;
	}
	if (srv->handshakes > 0)
		srv->handshakes--;
	if (srv->tls_accept_paused && !srv->stopping && fresh_handshakes(srv) <= MAX_HANDSHAKES / 2)
		tls_listeners(srv, 1);
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
		next = c->next;     /* conn_after_io may free c */
		/* A closing session still holding output has a peer that stopped reading (or a TLS
		 * peer that sent close_notify, after which nothing more can be written): the grace
		 * period was its chance. One without a session still waits for its PROXY header. */
		if (c->sess == NULL || c->closing || c->handshaking || c->starttls_pending) {
			conn_free(c);
			continue;
		}
		if (c->commit_wait != NULL) {
			/* Its 250 is moments away: a 421 now would make the client send it again. */
			c->shutdown_after_commit = 1;
			continue;
		}
		smtp_session_shutdown(c->sess);
		conn_after_io(c);
	}
}


/* No more accepts on srv's loop; its sessions get shutdown_grace, then 421 4.3.2. */
void loop_stop(struct server *srv)
{
	struct timeval tv;

	if (srv->stopping)
		return;
	srv->stopping = 1;
	loop_unlisten(srv);
	if (srv->nconns == 0) {
		event_base_loopexit(srv->base, NULL);
		return;
	}
	tv.tv_sec = srv->rc->cfg->shutdown_grace;
	tv.tv_usec = 0;
	if ((srv->ev_grace = evtimer_new(srv->base, on_grace, srv)) != NULL)
		evtimer_add(srv->ev_grace, &tv);
}

/* ---- the other loops ----------------------------------------------------------------------- */

enum loop_op { LOOP_RELOAD, LOOP_STOP };

struct loop_cmd {
	enum loop_op op;
	struct runconf *rc;             /* LOOP_RELOAD: the new snapshot, one reference for the loop */
};

static void on_cmd(evutil_socket_t fd, short what, void *arg)
{
	struct server *l = arg;
	struct loop_cmd cmd;

	(void)what;
	/* A pipe's writes up to PIPE_BUF arrive whole. */
	while (read(fd, &cmd, sizeof(cmd)) == (ssize_t)sizeof(cmd)) {
		if (cmd.op == LOOP_RELOAD) {
			runconf_unref(l->rc);
			l->rc = cmd.rc;
		} else
			loop_stop(l);
	}
}

static void send_cmd(struct server *l, enum loop_op op, struct runconf *rc)
{
	struct loop_cmd cmd = { op, rc };

	if (write(l->cmd[1], &cmd, sizeof(cmd)) != (ssize_t)sizeof(cmd)) {
		log_warn(NULL, "cannot reach event loop %u", l->index);
		runconf_unref(rc);
	}
}

/* What every loop has: its base, and the handshake count that pauses its listeners. */
static int loop_init(struct server *l, struct server *p, unsigned index)
{
	l->primary = p;
	l->index = index;
	if (l == p)
		pthread_mutex_init(&p->auth_mu, NULL);
	l->handshake = loop_handshake;
	return (l->base = event_base_new()) == NULL ? -1 : 0;
}

int loops_create(struct server *p, unsigned n)
{
	p->nloops = n;
	/* The primary's listeners first: see listen_socket(). */
	if (loop_init(p, p, 0) < 0 || loop_listen(p, p->rc->cfg) < 0)
		return -1;
	if (n > 1 && (p->loops = calloc(n - 1, sizeof(*p->loops))) == NULL)
		return -1;
	for (unsigned i = 1; i < n; i++)
		p->loops[i - 1].cmd[0] = p->loops[i - 1].cmd[1] = -1;
	for (unsigned i = 1; i < n; i++) {
		struct server *l = &p->loops[i - 1];
		/* The shared parts: pointers to the primary's objects. */
		l->config_path = p->config_path;
		l->rc = runconf_ref(p->rc);
		l->spool = p->spool;
		l->throttle = p->throttle;
		l->clientlimits = p->clientlimits;
		l->userrate = p->userrate;
		l->journal = p->journal;
		if (loop_init(l, p, i) < 0 || loop_listen(l, p->rc->cfg) < 0)
			return -1;
	}
	return 0;
}

/* What a loop's sessions need once they run: its pools and Redis client, and from the
 * primary (first: its shared parts and the first Redis client, the others' sibling) the rest. */
static int loop_ready(struct server *l)
{
	struct server *p = l->primary;

	l->authpool = workpool_new(l->base, 2, "password hashing");
	/* More threads than cores: they wait on DNS answers, not on the CPU. */
	l->checkpool = workpool_new(l->base, CHECK_THREADS, "sender checks");
	if (p->rc->cfg->shared != NULL) {
		const struct config *c = p->rc->cfg;
		struct shared_conf sc = { c->shared, c->shared_user, c->shared_password, c->shared_prefix };
		if ((l->shared = shared_new(l->base, &sc, l == p ? NULL : p->shared)) == NULL)
			return -1;
	}
	if (l != p) {
		l->runner = p->runner;
		l->committer = p->committer;
		l->agent = p->agent;
		memcpy(l->scram_secret, p->scram_secret, sizeof(l->scram_secret));
		if (pipe2(l->cmd, O_CLOEXEC) < 0 || fcntl(l->cmd[0], F_SETFL, O_NONBLOCK) < 0 ||
		    (l->ev_cmd = event_new(l->base, l->cmd[0], EV_READ | EV_PERSIST, on_cmd, l)) == NULL ||
		    event_add(l->ev_cmd, NULL) < 0)
			return -1;
	}
	l->ev_hs = evtimer_new(l->base, on_hs_timer, l);
	return (l->home = workpool_home_new(l->base)) == NULL || l->ev_hs == NULL ? -1 : 0;
}

void loop_end_sessions(struct server *l)
{
	/* Sessions that outlived the loop (should be none) are closed without a word. */
	while (l->conns)
		conn_free(l->conns);
	workpool_free(l->authpool);         /* after the sessions: its answers find no one */
	l->authpool = NULL;
	workpool_free(l->checkpool);
	l->checkpool = NULL;
}

/* A loop's thread: its sessions until it is told to stop and they are over; then what only
 * its thread may free (the primary frees the rest once every thread is gone). */
static void *loop_main(void *arg)
{
	struct server *l = arg;
	char name[16];

	/* top -H and /proc show which loop is busy. From the thread itself: another's name is
	 * written through /proc, closed to us once privileges are dropped. */
	snprintf(name, sizeof(name), "loop%u", l->index);
	pthread_setname_np(pthread_self(), name);
	event_base_dispatch(l->base);
	loop_end_sessions(l);
	shared_free(l->shared);
	l->shared = NULL;
	return NULL;
}

int loops_start(struct server *p)
{
	sigset_t all, old;
	int rc = 0;

	if (loop_ready(p) < 0)
		return -1;
	for (unsigned i = 1; i < p->nloops && p->loops != NULL; i++)
		if (loop_ready(&p->loops[i - 1]) < 0)
			return -1;
	/* Signals are the primary's (libevent's handlers on its base): the loops block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 1; i < p->nloops && p->loops != NULL; i++) {
		struct server *l = &p->loops[i - 1];
		if (pthread_create(&l->thread, NULL, loop_main, l) != 0) {
			log_errx(NULL, "cannot start event loop %u", i);
			rc = -1;
			break;
		}
		l->running = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

void loops_reload(struct server *p)
{
	for (unsigned i = 1; i < p->nloops && p->loops != NULL; i++)
		if (p->loops[i - 1].running)
			send_cmd(&p->loops[i - 1], LOOP_RELOAD, runconf_ref(p->rc));
}

void loops_stop(struct server *p)
{
	for (unsigned i = 1; i < p->nloops && p->loops != NULL; i++)
		if (p->loops[i - 1].running)
			send_cmd(&p->loops[i - 1], LOOP_STOP, NULL);
}

void loops_join(struct server *p)
{
	for (unsigned i = 1; i < p->nloops && p->loops != NULL; i++) {
		struct server *l = &p->loops[i - 1];
		if (l->running)
			pthread_join(l->thread, NULL);
		l->running = 0;
		l->runner = NULL;           /* the primary stops it next */
	}
}

void loop_free(struct server *l)
{
	struct event **evs[] = { &l->ev_cmd, &l->ev_grace, &l->ev_hs, &l->ev_accept };

	loop_unlisten(l);
	workpool_free(l->authpool);
	workpool_free(l->checkpool);
	shared_free(l->shared);
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (*evs[i])
			event_free(*evs[i]);
	workpool_home_free(l->home);
	if (l->base)
		event_base_free(l->base);
	for (int i = 0; i < 2; i++)
		if (l->cmd[i] >= 0)
			close(l->cmd[i]);
	runconf_unref(l->rc);
}

void loops_free(struct server *p)
{
	for (unsigned i = 1; i < p->nloops && p->loops != NULL; i++)
		loop_free(&p->loops[i - 1]);
	free(p->loops);
	p->loops = NULL;
}
