/*
 * control.c - the local control socket `mailport queue` talks to: spool/control.sock, mode
 * 0600, and the peer must be our own user or root (SO_PEERCRED) even if the mode were wrong.
 * One command line per connection, a text answer, then close. Not the queue logic (queue/admin.c)
 * nor the AUTH throttle's (auth/auth.c): `mailport auth` reads and forgives through it here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../auth/auth.h"
#include "../route/tlsrpt.h"
#include "../queue/admin.h"
#include "../queue/import.h"
#include "../util/duration.h"
#include "../util/log.h"
#include "server_int.h"

#define CONTROL_LINE_MAX 512

struct status_ctx {
	struct admin_out *o;
	size_t n;
};

static void status_line(void *arg, const char *key, unsigned failures, long long until, const char *user)
{
	struct status_ctx *x = arg;
	char when[32] = "";

	if (until != 0)
		time_utc(until, when, sizeof(when));
	x->n++;
	admin_printf(x->o, "%-40s %s failures=%u last-user=%s%s%s\n", key, until ? "LOCKED" : "failing", failures,
	             user[0] ? user : "-", until ? " until=" : "", when);
}

static void auth_status(struct server *srv, struct admin_out *o)
{
	struct status_ctx x = { o, 0 };

	admin_printf(o, "max_failures=%u failure_window=%us\n", srv->rc->cfg->max_failures,
	             srv->rc->cfg->failure_window);
	if (srv->shared != NULL)
		admin_printf(o, "shared counters at %s: %s\n", shared_address(srv->shared),
		             shared_up(srv->shared) ? "up (lockouts there apply to every node; below is what this node saw)"
		                                    : "UNAVAILABLE (this node counts alone until they are back)");
	throttle_each(srv->throttle, (long long)time(NULL), status_line, &x);
	if (x.n == 0)
		admin_printf(o, "no failed logins in the window%s: nobody is locked out\n", srv->shared ? " on this node" : "");
}

/* IP (an IPv6 address stands for its /64, as the lockout does) or a user's address. */
static void auth_unlock(struct server *srv, const char *what, struct admin_out *o)
{
	unsigned char a[16];
	char key[64];
	const char *target = what;
	size_t n;

	if (strchr(what, '@') == NULL) {
		if (inet_pton(AF_INET, what, a) != 1 && inet_pton(AF_INET6, what, a) != 1) {
			admin_printf(o, "error: %s is neither an IP address nor a user's address\n", what);
			return;
		}
		throttle_key(what, key, sizeof(key));
		target = key;
	}
	n = throttle_forgive(srv->throttle, target);
	if (shared_forgive(srv->shared, target) == 0) {
		log_info(NULL, "auth unlock %s=%s clients=%zu shared=yes by the operator", target == what ? "user" : "key",
		         target, n);
		admin_printf(o, "unlocked %s on every node (shared counters at %s)\n", what, shared_address(srv->shared));
		return;
	}
	if (srv->shared != NULL)
		admin_printf(o, "warning: the shared counters at %s are unavailable: unlocked on this node only\n",
		             shared_address(srv->shared));
	if (n == 0) {
		admin_printf(o, "%s has no failed logins on record: nothing to unlock\n", what);
		return;
	}
	log_info(NULL, "auth unlock %s=%s clients=%zu by the operator", target == what ? "user" : "key", target, n);
	admin_printf(o, "unlocked %s: %zu client%s may log in again\n", what, n, n == 1 ? "" : "s");
}

static void ctl_done(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void ctl_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	bufferevent_free(bev);
}

/* The answer, then close once it is written. */
static void ctl_answer(struct bufferevent *bev, struct server *srv, struct admin_out *o)
{
	bufferevent_disable(bev, EV_READ);
	if (o->len)
		bufferevent_write(bev, o->buf, o->len);
	free(o->buf);
	bufferevent_setcb(bev, NULL, ctl_done, ctl_event, srv);
	ctl_done(bev, srv);
}

/* IMPORT LEN: one exported message of LEN octets follows the line (queue/import.h). */
struct import_wait {
	struct server *srv;
	size_t len;
};

static void import_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	free(arg);
	bufferevent_free(bev);
}

static void import_read(struct bufferevent *bev, void *arg)
{
	struct import_wait *iw = arg;
	struct server *srv = iw->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct admin_out o = { NULL, 0, 0 };
	char qid[64], why[300];
	int r;

	if (evbuffer_get_length(in) < iw->len)
		return;
	r = import_message(srv->spool, (const char *)evbuffer_pullup(in, (ev_ssize_t)iw->len), iw->len, qid, sizeof(qid),
	                   why, sizeof(why));
	if (r == IMPORT_NEW) {
		runner_wake(srv->runner, qid);
		admin_printf(&o, "imported %s\n", qid);
	} else if (r == IMPORT_SEEN)
		admin_printf(&o, "seen %s\n", qid);
	else {
		log_warnx(NULL, "import refused a message: %s", why);
		admin_printf(&o, "error: %s\n", why);
	}
	free(iw);
	ctl_answer(bev, srv, &o);
}

static void import_start(struct bufferevent *bev, struct server *srv, const char *lenword)
{
	struct admin_out o = { NULL, 0, 0 };
	struct import_wait *iw;
	char *end;
	unsigned long long len = strtoull(lenword, &end, 10);

	if (*end != '\0' || len == 0 || len > (unsigned long long)srv->rc->cfg->max_message_size + (1ULL << 20) ||
	    (iw = calloc(1, sizeof(*iw))) == NULL) {
		admin_printf(&o, "error: IMPORT needs the message's length, at most max_message_size + 1M\n");
		ctl_answer(bev, srv, &o);
		return;
	}
	iw->srv = srv;
	iw->len = (size_t)len;
	bufferevent_setwatermark(bev, EV_READ, iw->len, 0);
	bufferevent_setcb(bev, import_read, NULL, import_event, iw);
	import_read(bev, iw);
}

static void ctl_read(struct bufferevent *bev, void *arg)
{
	struct server *srv = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct admin_out o = { NULL, 0, 0 };
	char *line, cmd[16] = "", id[256] = "";
	size_t len;

	line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
			bufferevent_free(bev);
		return;
	}
	sscanf(line, "%15s %255s", cmd, id);
	free(line);
	if (strcmp(cmd, "LIST") == 0)
		admin_list(srv->spool, &o);
	else if (strcmp(cmd, "SHOW") == 0)
		admin_show(srv->spool, id, &o);
	else if (strcmp(cmd, "DELETE") == 0) {
		if (admin_delete(srv->spool, id, &o) == 0)
			log_info(id, "deleted by the operator");
	} else if (strcmp(cmd, "BOUNCE") == 0) {
		if (admin_bounce(srv->spool, id, &o) == 0) {
			log_info(id, "returned to sender by the operator");
			runner_wake(srv->runner, id);
		}
	} else if (strcmp(cmd, "FLUSH") == 0) {
		runner_flush(srv->runner);
		log_info(NULL, "queue flush requested by the operator");
		admin_printf(&o, "flush: every deferred message is being retried now\n");
	} else if (strcmp(cmd, "TLSRPT") == 0) {
		char day[11];
		if (tlsrpt_day(id[0] ? id : "yesterday", day) != 0)
			admin_printf(&o, "error: the day is today, yesterday or YYYY-MM-DD\n");
		else {
			runner_tlsrpt(srv->runner, day);
			log_info(NULL, "tlsrpt reports for %s requested by the operator", day);
			admin_printf(&o, "tlsrpt: the reports for %s are being sent; the log says where\n", day);
		}
	} else if (strcmp(cmd, "AUTH-STATUS") == 0)
		auth_status(srv, &o);
	else if (strcmp(cmd, "AUTH-UNLOCK") == 0 && id[0] != '\0')
		auth_unlock(srv, id, &o);
	else if (strcmp(cmd, "IMPORT") == 0) {
		import_start(bev, srv, id);
		return;
	} else
		admin_printf(&o, "error: unknown command (LIST, SHOW id, FLUSH, DELETE id, BOUNCE id, AUTH-STATUS, "
		             "AUTH-UNLOCK what, TLSRPT day, IMPORT len)\n");
	ctl_answer(bev, srv, &o);
}

static void ctl_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	struct bufferevent *bev;
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	(void)l;
	(void)sa;
	(void)salen;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		log_warnx(NULL, "control socket: refused a client with uid %ld", (long)cred.uid);
		evutil_closesocket(fd);
		return;
	}
	bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(bev, ctl_read, NULL, ctl_event, srv);
	bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_LINE_MAX * 2);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct evconnlistener *control_open(struct server *srv, const char *spooldir)
{
	struct sockaddr_un sun;
	struct evconnlistener *l;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/control.sock", spooldir) >= sizeof(sun.sun_path)) {
		log_warnx(NULL, "control socket path too long; mailport queue will not work");
		return NULL;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	unlink(sun.sun_path);           /* left by a process that died; the spool lock says it is ours now */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(sun.sun_path, 0600) < 0 ||
	    listen(fd, 16) < 0) {
		umask(old);
		log_warn(NULL, "cannot open control socket %s", sun.sun_path);
		close(fd);
		return NULL;
	}
	umask(old);
	l = evconnlistener_new(srv->base, ctl_accept, srv, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL)
		close(fd);
	return l;
}
