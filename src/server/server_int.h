/*
 * server_int.h - what the server's three files share; nothing outside src/net includes it.
 *   server.c   listeners, signals, reload, the event loop
 *   conn.c     one client connection: bytes in and out, TLS (implicit and STARTTLS), timeouts
 *   policy.c   the answers the SMTP core asks for: recipients, senders, AUTH, spooling
 * (runningconf.h, the configuration snapshot they all read, is below them and includes none.)
 */
#ifndef MAILPORT_SERVER_INT_H
#define MAILPORT_SERVER_INT_H

#include <pthread.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#include "../auth/auth.h"
#include "../conf/config.h"
#include "../deliver/remote_attempt.h"
#include "../deliver/runner.h"
#include "../msg/hdrscan.h"
#include "../queue/spool.h"
#include "../smtp/session.h"
#include <time.h>

#include "../util/workpool.h"
#include "../auth/authcache.h"
#include "../queue/committer.h"
#include "clientlimits.h"
#include "sharedlimits.h"
#include "runningconf.h"
#include "../msg/dkimsign.h"

#define HEADER_HOLD_MAX (100 * 1024)   /* header block held back for submission hygiene */
#define CHECK_THREADS 8                 /* port 25's sender checks at once, per loop (its checkpool) */
#define SERVER_MAX_LOOPS 64

struct server;

struct listener {
	struct server *srv;
	enum listener_role role;
	struct evconnlistener *l;       /* SMTP roles */
	struct evhttp *http;            /* HTTP roles (http.c) */
	int fd;                         /* an HTTP role's socket until http_start() hands it over */
	char text[128];
};

struct conn;
struct passwd;

/* What the layer below a connection (policy.c) may ask of it: the connection hands these in,
 * so the arrows point one way (server.c -> conn.c -> policy.c, never back). */
struct conn_ops {
	void (*resume)(struct conn *c);         /* feed input held back for an answer; may free c */
	void (*log_connect)(struct conn *c);    /* the deferred "connect" line, once */
};

struct conn {
	const struct conn_ops *ops;
	struct conn *prev, *next;
	struct server *srv;
	struct runconf *rc;
	enum listener_role role;
	struct bufferevent *bev;
	evutil_socket_t fd;
	int tls_bev;                /* bev is an OpenSSL bufferevent (it owns fd and SSL) */
	int handshaking;
	struct timespec hs_start;       /* when the handshake began (backpressure counts fresh ones) */
	int starttls_pending;       /* 220 queued: switch to TLS once it is flushed */
	struct clientca_id *cert;   /* a verified client certificate ([auth] client_ca), else NULL */
	struct smtp_session *sess;
	struct spool_msg *msg;
	const struct smtp_tx *tx;   /* borrowed from the session between data_begin and its end */
	struct auth_wait *auth_wait;    /* a password check in the pool, or NULL */
	/* authcache key of the last failed credentials: a client retrying the same ones with
	 * another mechanism (smtplib: PLAIN, then LOGIN) is one failure, not two */
	unsigned char failed_key[32];
	int failed_once;
	struct commit_wait *commit_wait; /* a message being made durable, or NULL */
	int shutdown_after_commit;      /* the grace period ended while it was */
	int eof_pending;                /* the client shut its side while a commit was pending */
	/* submission hygiene: the header block held back until we know what it lacks */
	int hold;
	struct hdrscan hs;
	char *held;
	size_t held_len;
	struct dkim_signer *dkim;       /* submission: signing this message (msg/dkimsign.h), or NULL */
	char dkim_unsigned[160];        /* submission with keys: why this message goes unsigned, or "" */
	struct sendercheck_job *inbound;    /* port 25: the sender checks of this message (sendercheck.h), or NULL */
	char id[20];
	char peer_ip[INET6_ADDRSTRLEN];
	char client_key[64];            /* throttle_key() of peer_ip: connection limits and AUTH throttle */
	char via[INET6_ADDRSTRLEN];     /* the load balancer that sent a PROXY header naming peer_ip, or "" */
	struct proxy_wait *proxy;       /* its header still being read (conn.c), or NULL */
	long long line_start;           /* ms, monotonic: first octet of an unfinished line; 0 = none */
	struct event *ev_line;          /* its deadline (conn.c, "slow clients") */
	int clientlimits_counted;              /* counted by the client limits: uncount at the end */
	struct shared_req *sreq;        /* a question to the shared counters this connection waits on */
	int peer_port;
	int closing;
	int read_paused;
	int connect_logged;             /* the "connect" line: written before the session's first other line */
	int ended_in_one_line;          /* a failed handshake said everything in one line: no "disconnect" */
	int seen_input;                 /* the client has sent something (TLS-first detection) */
};

/* One per event loop ([server] workers; server.c's loops). A loop's connections, listeners,
 * pools, Redis client and snapshot in use are its own; everything else points at the
 * primary's objects (spool, committer, runner, limits), which are safe across threads. The
 * primary (loop 0, on the main thread) also owns the signals, reloads, the control socket and
 * HTTP. Nothing here is touched by another loop's thread except primary's atomics below. */
struct server {
	struct server *primary;         /* loop 0's (itself there) */
	struct server *loops;           /* primary only: the other loops, nloops - 1 of them */
	unsigned nloops, index;
	pthread_t thread;
	int running;                    /* its thread started and not yet joined */
	int cmd[2];                     /* the primary's commands to this loop (a pipe; server.c) */
	struct event *ev_cmd;
	struct workpool_home *home;     /* where the committer answers this loop */
	_Atomic unsigned sessions;      /* primary: every loop's sessions (max_connections, metrics) */
	_Atomic unsigned long next_id;  /* primary: session ids, unique across loops */
	struct event_base *base;
	const char *config_path;
	struct runconf *rc;
	struct spool *spool;
	struct runner *runner;
	struct throttle *throttle;
	struct clientlimits *clientlimits;            /* per-client connection limits */
	struct shared *shared;          /* [limits] redis: counters all nodes share, or NULL */
	struct windowcount *userrate;      /* messages per user, counted here ([limits] max_messages_per_user) */
	struct workpool *authpool;     /* password hashing, DKIM signing */
	/* primary: password checks in a pool, one per credentials across all loops (smtp_login.c) */
	pthread_mutex_t auth_mu;
	struct auth_wait *auth_leaders;
	struct workpool *checkpool;    /* port 25's sender checks: threads that mostly wait on DNS */
	unsigned char scram_secret[32]; /* made-up SCRAM salts for unknown users (random at start) */
	struct committer *committer;    /* group commit through the journal (queue/committer.h) */
	struct journal *journal;
	struct listener listeners[ROLE_COUNT * CONFIG_MAX_LISTEN];
	size_t nlisteners;
	unsigned handshakes;            /* TLS handshakes in progress */
	int tls_accept_paused;          /* implicit-TLS listeners paused: too many handshakes */
	struct event *ev_term, *ev_int, *ev_hup, *ev_grace;
	struct event *ev_hs;            /* while TLS accepts are paused: looks again every 100 ms */
	struct event *ev_accept;        /* out of descriptors: every listener rests until it fires */
	/* A TLS handshake starts (1) or ends, any way (0): conn.c tells the server through this,
	 * which keeps the number in progress bounded by pausing the implicit-TLS listeners. */
	void (*handshake)(struct server *srv, int begin);
	int accept_paused;
	unsigned long accept_failures;  /* since the last log line about them */
	struct timespec accept_logged;
	struct evconnlistener *control;
	struct conn *conns;             /* this loop's */
	unsigned nconns;
	int https_conns;                /* open on the HTTPS listener (http.c) */
	int stopping;
	int exit_status;                /* nonzero: why the server stopped on its own */
	struct agent *agent;            /* writes the Maildirs; NULL with maildir = discard: */
	struct event *ev_chld;
};

/* loop.c: an event loop's listeners (HTTP roles on the primary only; SO_REUSEPORT with more
 * than one loop), its stop, the TLS handshake count that pauses it; 0 or -1 (logged). */
int loop_listen(struct server *srv, const struct config *cfg);
void loop_unlisten(struct server *srv);
void loop_stop(struct server *srv);
void loop_handshake(struct server *srv, int begin);
/* A loop's sessions closed without a word (should there be any left), then its pools, whose
 * answers find no one: before the committer stops, as an answer may commit. */
void loop_end_sessions(struct server *l);
/* What a loop leaves once its sessions are over and the committer has stopped (its last
 * answers run here): listeners, pools, Redis client, events, home, base, snapshot. */
void loop_free(struct server *l);
/* The loops, from the primary: n of them with their bases and listeners (before privileges
 * are dropped), then started once the shared parts run; a new snapshot to each; stop; wait for
 * their threads; free what they leave (after the committer has stopped). */
int loops_create(struct server *p, unsigned n);
int loops_start(struct server *p);
void loops_reload(struct server *p);
void loops_stop(struct server *p);
void loops_join(struct server *p);
void loops_free(struct server *p);

/* conn.c */
void conn_accept(struct listener *l, evutil_socket_t fd, struct sockaddr *sa);
/* A session's log lines go through CLOG: its "connect" line is written only before its first
 * other line, so a version probe (a handshake that fails, nothing else) is one line, not three. */
#define CLOG(logfn, c, ...) ((c)->ops->log_connect(c), logfn((c)->id, __VA_ARGS__))
void conn_after_io(struct conn *c);
void conn_free(struct conn *c);
/* privileges.c: the mail user of the configuration into *pw (NULL: none), or errors in errs;
 * the spool given to it; the delivery agent into srv->agent; Landlock. 0 or -1. */
int server_user(const struct config *cfg, struct passwd **pw, struct errlist *errs);
int server_give_spool(const char *spool, const struct passwd *pw);
int server_start_agent(struct server *srv, const struct passwd *pw);
int server_confine(const struct runconf *rc);
/* Sends a reply of the session (its reply callback: straight to the socket when it can). */
void conn_reply(void *ctx, const char *buf, size_t len);

/* http.c: evhttp on the HTTP roles' sockets (bound with the others), and its end. */
int http_start(struct server *srv);
void http_stop(struct server *srv);

/* control.c */
struct evconnlistener *control_open(struct server *srv, const char *spooldir);

/* The committer thread's work (workpool batch mode). */
/* A password check waiting in the pool: the connection (NULL once it went away) and the
 * snapshot whose directory the worker reads. */
struct auth_wait {
	struct conn *c;                 /* NULL once the connection went away */
	struct server *srv;
	struct runconf *rc;
	int result;
	unsigned char cache_key[32];    /* authcache key of these credentials */
	char authzid[256], user[256], password[512];
	char client_ip[64];
	char via[96];                   /* "app-password=LABEL" when one of those matched */
	unsigned generation;            /* authcache_generation() when the check began */
	char client_key[64];
	int locked_here;                /* the local count started a lockout (logged already) */
	/* One hash for the same credentials at once (policy.c, auth_check): a check in the pool
	 * leads, in srv->auth_leaders through next; others wait on it, in its followers list. */
	struct auth_wait *next, *followers;
	int leader_ran;                 /* a follower: whether its leader's check ran */
};
/* A message in the commit pool: the connection (NULL once it went away) waits for its 250. */
struct commit_wait {
	struct conn *c;
	struct server *srv;
	struct spool_msg *m;
	int ok;
	int nospace;                    /* it failed for want of space (452 4.3.1, not 451) */
	char qid[64];
	int role;                       /* the listener it came in on, for the metrics */
	char *accepted;                 /* the "accepted ..." log line, written once it is durable */
	struct dkim_signer *dkim;       /* to sign on a worker thread before the commit, or NULL */
	struct sendercheck_job *inbound;    /* port 25's sender checks, likewise, or NULL */
	int refused;                    /* the checks refused it: not committed, 550 refuse */
	char refuse[300];
};

#endif
