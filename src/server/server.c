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
#include <sched.h>
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

/* Every loop stops accepting and gives its sessions the grace period; the primary's loop ends
 * with its own sessions, and drain() waits for the others'. */
static void server_stop(struct server *srv, const char *why)
{
	if (srv->stopping)
		return;
	log_info(NULL, "shutdown %s sessions=%u grace=%us", why, srv->sessions, srv->rc->cfg->shutdown_grace);
	notify_send("STOPPING=1\nSTATUS=stopping (%s), %u sessions finishing", why, srv->sessions);
	loops_stop(srv);
	loop_stop(srv);
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
	if (rc->cfg->workers != srv->rc->cfg->workers)
		log_warnx(NULL, "reload: workers changed; it takes effect at the next restart");
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
	loops_reload(srv);
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

/* [server] workers, 0 meaning one loop per core this process may run on. */
static unsigned server_loops(const struct config *cfg)
{
	cpu_set_t set;
	int n;

	if (cfg->workers > 0)
		return cfg->workers;
	n = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > SERVER_MAX_LOOPS ? SERVER_MAX_LOOPS : (unsigned)n;
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

	if ((srv->committer = committer_start(srv->spool, srv->journal)) == NULL)
		return -1;
	runconf_runner(srv->rc, &rconf);
	rconf.agent = srv->agent;
	srv->runner = runner_start(srv->spool, &rconf);
	if (RAND_bytes(srv->scram_secret, sizeof(srv->scram_secret)) != 1)
		log_warnx(NULL, "no random bytes for SCRAM's made-up salts");
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
	srv->ev_chld = evsignal_new(srv->base, SIGCHLD, on_child, srv);
	evsignal_add(srv->ev_chld, NULL);
	evsignal_add(srv->ev_term, NULL);
	evsignal_add(srv->ev_int, NULL);
	evsignal_add(srv->ev_hup, NULL);
}

/* After the loop: the parts stop in the order in which each stops needing the next. */
static void drain(struct server *srv)
{
	/* The other loops end once their sessions have (within the grace period). */
	loops_join(srv);
	loop_end_sessions(srv);
	/* Deliveries in flight finish while the committer still syncs their done records. */
	runner_stop(srv->runner);
	srv->runner = NULL;
	agent_stop(srv->agent);             /* after the last delivery that could ask it */
	srv->agent = NULL;
	committer_stop(srv->committer);     /* commits in flight finish (delivered next start) */
	srv->committer = NULL;
	loops_free(srv);                    /* the loops' last answers from it, then their bases */
	journal_close(srv->journal);        /* the last checkpoint: all of it into queue/ */
	srv->journal = NULL;
}

/* Whatever was started, on any path out; each part that drain() stopped is NULL by now. */
static void free_server(struct server *srv)
{
	struct event **evs[] = { &srv->ev_term, &srv->ev_int, &srv->ev_hup, &srv->ev_chld };

	loops_stop(srv);
	loops_join(srv);
	runner_stop(srv->runner);
	agent_stop(srv->agent);
	loop_end_sessions(srv);             /* before the committer: a job's answer may commit */
	committer_stop(srv->committer);
	loops_free(srv);
	journal_close(srv->journal);
	if (srv->control) {
		char sock[PATH_MAX];
		evconnlistener_free(srv->control);
		snprintf(sock, sizeof(sock), "%s/control.sock", srv->rc->cfg->spool);
		unlink(sock);
	}
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (*evs[i])
			event_free(*evs[i]);
	loop_free(srv);                     /* its loop's part, as every loop's (loop.c) */
	windowcount_free(srv->userrate);
	throttle_free(srv->throttle);
	clientlimits_free(srv->clientlimits);
	spool_close(srv->spool);
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
	srv.primary = &srv;
	srv.cmd[0] = srv.cmd[1] = -1;       /* the primary's commands are its signals */
	srv.config_path = config_path;
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
	/* Every loop's base and listeners now, while the ports can still be bound. */
	if (srv.throttle == NULL || srv.clientlimits == NULL || srv.userrate == NULL ||
	    loops_create(&srv, server_loops(srv.rc->cfg)) < 0 || http_start(&srv) < 0)
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
	if (loops_start(&srv) < 0)
		goto out;
	srv.control = control_open(&srv, srv.rc->cfg->spool);
	add_signals(&srv);
	log_info(NULL, "started hostname=%s spool=%s domains=%zu users=%zu certs=%zu loops=%u", srv.rc->cfg->hostname,
	         srv.rc->cfg->spool, srv.rc->cfg->nlocal_domains, directory_count(srv.rc->dir),
	         srv.rc->cfg->ncerts, srv.nloops);
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
