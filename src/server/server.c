/*
 * server.c - `mailport serve`: bind the listeners, run the event loop, handle signals and
 * reloads. Connections are conn.c's; the answers to the SMTP core are policy.c's.
 */
#include "server.h"


#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <curl/curl.h>
#include <signal.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "../deliver/agent.h"
#include "../deliver/runner.h"
#include "../queue/import.h"
#include "../sandbox/sandbox.h"
#include "../tls/tls.h"
#include "../util/fsutil.h"
#include "../util/log.h"
#include "../util/windowcount.h"
#include "../util/notify.h"
#include "../deliver/target.h"
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

static int bind_listeners(struct server *srv, const struct config *cfg)
{
	for (int role = 0; role < ROLE_COUNT; role++) {
		for (size_t i = 0; i < cfg->nlisten[role]; i++) {
			const struct config_listen *cl = &cfg->listen[role][i];
			struct listener *l = &srv->listeners[srv->nlisteners];
			int fd, one = 1;

			fd = socket(cl->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0)
				goto fail;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			/* [::]:25 next to 0.0.0.0:25 must not collide: each socket one family. */
			if (cl->ss.ss_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
			if (bind(fd, (const struct sockaddr *)&cl->ss, cl->sslen) < 0 ||
			    listen(fd, LISTEN_BACKLOG) < 0) {
				log_warn(NULL, "cannot listen on %s", cl->text);
				close(fd);
				return -1;
			}
			l->srv = srv;
			l->role = (enum listener_role)role;
			l->http = NULL;
			l->fd = -1;
			snprintf(l->text, sizeof(l->text), "%s", cl->text);
			if (listener_kind(l->role)->proto == LISTENER_PROTO_HTTP) {
				l->l = NULL;
				l->fd = fd;     /* http_start() gives it to evhttp */
				srv->nlisteners++;
				log_info(NULL, "listening address=%s role=%s tls=%s", cl->text, listener_kind(l->role)->name,
				         listener_tls_words(listener_kind(l->role), srv->rc->tls != NULL));
				continue;
			}
			l->l = evconnlistener_new(srv->base, on_accept, l,
			                          LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
			if (l->l == NULL) {
				close(fd);
				goto fail;
			}
			evconnlistener_set_error_cb(l->l, on_accept_error);
			srv->nlisteners++;
			log_info(NULL, "listening address=%s role=%s tls=%s", cl->text, listener_kind(l->role)->name,
			         listener_tls_words(listener_kind(l->role), srv->rc->tls != NULL));
		}
	}
	return 0;
fail:
	log_warn(NULL, "cannot create listener");
	return -1;
}

static void free_listeners(struct server *srv)
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

/* server.handshake: a TLS handshake begins (1) or ends, any way (0). */
static void server_handshake(struct server *srv, int begin)
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

static void server_stop(struct server *srv, const char *why)
{
	struct timeval tv;

	if (srv->stopping)
		return;
	srv->stopping = 1;
	log_info(NULL, "shutdown %s sessions=%u grace=%us", why, srv->nconns, srv->rc->cfg->shutdown_grace);
	notify_send("STOPPING=1\nSTATUS=stopping (%s), %u sessions finishing", why, srv->nconns);
	free_listeners(srv);
	if (srv->nconns == 0) {
		event_base_loopexit(srv->base, NULL);
		return;
	}
	tv.tv_sec = srv->rc->cfg->shutdown_grace;
	tv.tv_usec = 0;
	srv->ev_grace = evtimer_new(srv->base, on_grace, srv);
	evtimer_add(srv->ev_grace, &tv);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	server_stop(arg, sig == SIGTERM ? "signal=TERM" : "signal=INT");
}

/* The Maildir agent is part of the server: without it local mail cannot be delivered, and a
 * server that goes on accepting it would only fill the queue. Stop as OpenSMTPD does when one of
 * its processes dies; the queue keeps everything for the next start (a service manager's
 * restart). */
static void on_child(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	int status;

	(void)sig;
	(void)what;
	if (srv->agent == NULL || waitpid(agent_pid(srv->agent), &status, WNOHANG) <= 0)
		return;
	agent_reaped(srv->agent);
	if (WIFSIGNALED(status))
		log_errx(NULL, "local delivery agent pid=%ld killed by signal %d; stopping (local mail stays queued)",
		         (long)agent_pid(srv->agent), WTERMSIG(status));
	else
		log_errx(NULL, "local delivery agent pid=%ld exited status=%d; stopping (local mail stays queued)",
		         (long)agent_pid(srv->agent), WEXITSTATUS(status));
	srv->exit_status = EX_SOFTWARE;
	server_stop(srv, "reason=delivery-agent-gone");
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

static int same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* SIGHUP: configuration, users file and certificates are reloaded together, or not at all.
 * Sessions in progress keep the snapshot (and TLS context) they started with. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct errlist errs = { 0 };
	struct runconf *rc;

	(void)sig;
	(void)what;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long)now.tv_sec * 1000000ULL +
	            (unsigned long long)now.tv_nsec / 1000);
	rc = runconf_load(srv->config_path, &errs);
	if (rc == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			log_errx(NULL, "reload failed, keeping the running configuration: %s", errs.msgs[i]);
		notify_send("READY=1\nSTATUS=reload failed, running the previous configuration: %s",
		            errs.n ? errs.msgs[0] : "?");
		errlist_free(&errs);
		return;
	}
	if (!same_listeners(rc->cfg, srv->rc->cfg))
		log_warnx(NULL, "reload: listen addresses changed; they take effect at the next restart");
	if (strcmp(rc->cfg->spool, srv->rc->cfg->spool) != 0)
		log_warnx(NULL, "reload: spool changed; it takes effect at the next restart");
	if ((rc->tls == NULL) != (srv->rc->tls == NULL))
		log_warnx(NULL, "reload: [tls] added or removed; STARTTLS on port 25 follows at once, "
		          "listeners at the next restart");
	if (!same_text(rc->cfg->shared, srv->rc->cfg->shared) || !same_text(rc->cfg->shared_user, srv->rc->cfg->shared_user) ||
	    !same_text(rc->cfg->shared_password, srv->rc->cfg->shared_password) ||
	    !same_text(rc->cfg->shared_prefix, srv->rc->cfg->shared_prefix))
		log_warnx(NULL, "reload: [limits] redis, user, password_file or key_prefix changed; they take effect at the "
		          "next restart");
	if (directory_start(rc->dir) < 0)
		log_warnx(NULL, "reload: cannot start the directory's listener; lookups use what was loaded");
	runconf_unref(srv->rc);
	srv->rc = rc;
	throttle_configure(srv->throttle, rc->cfg->max_failures, rc->cfg->failure_window);
	clientlimits_configure(srv->clientlimits, rc->cfg->max_conn_per_ip, rc->cfg->conn_rate_per_ip);
	struct runner_conf rconf;
	runconf_runner(rc, &rconf);
	rconf.agent = srv->agent;
	runner_reconfigure(srv->runner, &rconf);
	log_info(NULL, "reloaded config=%s users=%zu domains=%zu certs=%zu", srv->config_path,
	         directory_count(rc->dir), rc->cfg->nlocal_domains, rc->cfg->ncerts);
	notify_send("READY=1\nSTATUS=reloaded: %zu users, %zu domains", directory_count(rc->dir),
	            rc->cfg->nlocal_domains);
}

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

/* The committer and the journal's hooks before the runner: a message the journal replayed may
 * be delivered at once, and its removal must reach the journal. 0 or -1 (logged). */
static int start_workers(struct server *srv)
{
	struct runner_conf rconf;

	if ((srv->committer = committer_start(srv->base, srv->spool, srv->journal)) == NULL)
		return -1;
	runconf_runner(srv->rc, &rconf);
	rconf.agent = srv->agent;
	srv->runner = runner_start(srv->spool, &rconf);
	srv->authpool = workpool_new(srv->base, 2, "password hashing");
	if (RAND_bytes(srv->scram_secret, sizeof(srv->scram_secret)) != 1)
		log_warnx(NULL, "no random bytes for SCRAM's made-up salts");
	/* More threads than cores: they wait on DNS answers, not on the CPU. */
	srv->checkpool = workpool_new(srv->base, CHECK_THREADS, "sender checks");
	if (srv->runner == NULL) {
		log_errx(NULL, "cannot start the delivery runner");
		return -1;
	}
	return 0;
}

static void add_signals(struct server *srv)
{
	srv->ev_term = evsignal_new(srv->base, SIGTERM, on_stop, srv);
	srv->ev_int = evsignal_new(srv->base, SIGINT, on_stop, srv);
	srv->ev_hup = evsignal_new(srv->base, SIGHUP, on_hup, srv);
	srv->ev_hs = evtimer_new(srv->base, on_hs_timer, srv);
	srv->ev_chld = evsignal_new(srv->base, SIGCHLD, on_child, srv);
	evsignal_add(srv->ev_chld, NULL);
	evsignal_add(srv->ev_term, NULL);
	evsignal_add(srv->ev_int, NULL);
	evsignal_add(srv->ev_hup, NULL);
}

/* After the loop: the parts stop in the order in which each stops needing the next. */
static void drain(struct server *srv)
{
	/* Sessions that outlived the loop (should be none) are closed without a word. */
	while (srv->conns)
		conn_free(srv->conns);
	workpool_free(srv->authpool);       /* after the sessions: its answers find no one */
	srv->authpool = NULL;
	workpool_free(srv->checkpool);
	srv->checkpool = NULL;
	/* Deliveries in flight finish while the committer still syncs their done records. */
	runner_stop(srv->runner);
	srv->runner = NULL;
	agent_stop(srv->agent);             /* after the last delivery that could ask it */
	srv->agent = NULL;
	committer_stop(srv->committer);     /* commits in flight finish (delivered next start) */
	srv->committer = NULL;
	journal_close(srv->journal);        /* the last checkpoint: all of it into queue/ */
	srv->journal = NULL;
}

/* Whatever was started, on any path out; each part that drain() stopped is NULL by now. */
static void free_server(struct server *srv)
{
	struct event **evs[] = { &srv->ev_term, &srv->ev_int, &srv->ev_hup, &srv->ev_chld, &srv->ev_grace,
	                         &srv->ev_hs, &srv->ev_accept };

	runner_stop(srv->runner);
	agent_stop(srv->agent);
	workpool_free(srv->authpool);
	workpool_free(srv->checkpool);
	committer_stop(srv->committer);
	journal_close(srv->journal);
	free_listeners(srv);
	if (srv->control) {
		char sock[PATH_MAX];
		evconnlistener_free(srv->control);
		snprintf(sock, sizeof(sock), "%s/control.sock", srv->rc->cfg->spool);
		unlink(sock);
	}
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (*evs[i])
			event_free(*evs[i]);
	shared_free(srv->shared);           /* after the sessions: its last answers find no one */
	windowcount_free(srv->userrate);
	if (srv->base)
		event_base_free(srv->base);
	throttle_free(srv->throttle);
	clientlimits_free(srv->clientlimits);
	spool_close(srv->spool);
	runconf_unref(srv->rc);
	libevent_global_shutdown();
	curl_global_cleanup();
	notify_close();
}

/* ---- main ---------------------------------------------------------------------------------- */

int server_main(const char *config_path)
{
	struct server srv;
	struct errlist errs = { 0 };
	struct passwd *pw;
	char err[512];
	int rc = EX_OSERR;

	memset(&srv, 0, sizeof(srv));
	srv.config_path = config_path;
	srv.handshake = server_handshake;
	srv.rc = runconf_load(config_path, &errs);
	if (srv.rc == NULL || server_user(srv.rc->cfg, &pw, &errs) != 0) {
		errlist_print(&errs, stderr);
		errlist_free(&errs);
		runconf_unref(srv.rc);
		return EX_CONFIG;
	}
	/* Before the privilege drop and the sandbox: the log socket is opened as whoever started us. */
	{
		const struct config *c = srv.rc->cfg;
		enum log_dest ld = strcmp(c->log_dest, "syslog") == 0 ? LOG_DEST_SYSLOG :
		                   strcmp(c->log_dest, "journal") == 0 ? LOG_DEST_JOURNAL : LOG_DEST_STDERR;
		if (log_open(ld, strcmp(c->log_format, "json") == 0, c->log_socket) < 0) {
			fprintf(stderr, "mailport: %s:%d: [server] log = %s: cannot open %s: %s\n", c->path,
			        config_line(c, "server", "log"), c->log_dest,
			        c->log_socket ? c->log_socket : ld == LOG_DEST_JOURNAL ? "/run/systemd/journal/socket" : "/dev/log",
			        strerror(errno));
			runconf_unref(srv.rc);
			return EX_CONFIG;
		}
	}
	if (notify_open() < 0)
		log_warn(NULL, "cannot reach the service manager at NOTIFY_SOCKET; readiness will not be told");
	signal(SIGPIPE, SIG_IGN);
	/* Before any thread: libcurl's global set-up is not thread-safe (MTA-STS fetches). */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	raise_fd_limit(srv.rc->cfg->max_connections);
	srv.spool = spool_open(srv.rc->cfg->spool, err, sizeof(err));
	/* Before anything reads the queue: what the last run accepted into its journal first. */
	if (srv.spool == NULL || (srv.journal = journal_open(srv.spool, err, sizeof(err))) == NULL) {
		log_errx(NULL, "%s", err);
		spool_close(srv.spool);
		runconf_unref(srv.rc);
		return EX_CANTCREAT;
	}
	/* Before any delivery: an import a crash cut between its two index lines (queue/import.h). */
	import_reconcile(srv.spool);
	if (pw != NULL && geteuid() == 0 && server_give_spool(srv.rc->cfg->spool, pw) < 0) {
		log_errx(NULL, "cannot give the spool %s to user %s", srv.rc->cfg->spool, pw->pw_name);
		rc = EX_CANTCREAT;
		goto out;
	}
	srv.throttle = throttle_new(srv.rc->cfg->max_failures, srv.rc->cfg->failure_window);
	srv.clientlimits = clientlimits_new(srv.rc->cfg->max_conn_per_ip, srv.rc->cfg->conn_rate_per_ip);
	srv.userrate = windowcount_new(THROTTLE_MAX_KEYS, "messages per user");
	srv.base = event_base_new();
	if (srv.throttle == NULL || srv.clientlimits == NULL || srv.userrate == NULL || srv.base == NULL || bind_listeners(&srv, srv.rc->cfg) < 0 ||
	    http_start(&srv) < 0)
		goto out;
	if (server_start_agent(&srv, pw) < 0)
		goto out;
	if (pw != NULL && geteuid() == 0) {
		if (sandbox_become(pw) < 0)
			goto out;
		log_info(NULL, "running as user=%s uid=%lu gid=%lu", pw->pw_name, (unsigned long)pw->pw_uid,
		         (unsigned long)pw->pw_gid);
	}
	if (server_confine(srv.rc) < 0 || directory_start(srv.rc->dir) < 0 || start_workers(&srv) < 0)
		goto out;
	if (srv.rc->cfg->shared != NULL) {
		const struct config *c = srv.rc->cfg;
		struct shared_conf sc = { c->shared, c->shared_user, c->shared_password, c->shared_prefix };
		if ((srv.shared = shared_new(srv.base, &sc)) == NULL)
			goto out;
	}
	srv.control = control_open(&srv, srv.rc->cfg->spool);
	add_signals(&srv);
	log_info(NULL, "started hostname=%s spool=%s domains=%zu users=%zu certs=%zu", srv.rc->cfg->hostname,
	         srv.rc->cfg->spool, srv.rc->cfg->nlocal_domains, directory_count(srv.rc->dir),
	         srv.rc->cfg->ncerts);
	notify_send("READY=1\nMAINPID=%ld\nSTATUS=accepting mail: %zu listeners, %zu users", (long)getpid(),
	            srv.nlisteners, directory_count(srv.rc->dir));
	event_base_dispatch(srv.base);
	drain(&srv);
	rc = srv.exit_status;
	log_info(NULL, "stopped");
out:
	free_server(&srv);
	return rc;
}
