/*
 * sharedlimits.c - limits counted in Redis or Valkey by every node; see sharedlimits.h.
 *
 * Replies on one connection come in the order the questions went out, so the questions
 * waiting are a FIFO and only its head can be late: one timer looks at it every 100 ms.
 */
#include "sharedlimits.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <ctype.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "../util/endpoint.h"

#define TICK_MS           100
#define CONNECT_TIMEOUT_MS 2000
#define BACKOFF_MIN_S     1
#define BACKOFF_MAX_S     30
#define KEY_MAX           300

enum sh_state { SH_DOWN, SH_CONNECTING, SH_UP };

struct shared_req {
	struct shared_req *next;
	shared_cb *cb;              /* NULL once answered or cancelled */
	void *arg;
	long long sent_ms;
	int kind;                   /* what the reply looks like: REQ_* */
};

enum { REQ_SCRIPT, REQ_TTL, REQ_FORGIVE };

/* What the clients of one node (one per event loop) say in the log together: the store is
 * unavailable once when the first of them loses it, up or back once the last has it again. */
struct voice {
	_Atomic int refs;
	_Atomic int down;           /* clients not up */
	_Atomic int said_down, ever_up;
};

struct shared {
	struct voice *voice;
	int counted_down;           /* counted in voice->down */
	struct event_base *base;
	redisAsyncContext *ac;
	enum sh_state state;
	struct event *tick;
	struct shared_req *head, *tail;     /* sent, waiting for their replies in order */
	long long connect_started_ms, retry_at_ms;
	unsigned backoff;
	char where[300];
	char *user, *password, *prefix;
};

/* Count under the limit, or say how far over it is. One step in the store: two nodes asking
 * at once cannot both take the last slot. A key that lost its expiry gets it back. */
static const char take_lua[] =
	"local n = tonumber(redis.call('GET', KEYS[1]) or '0') "
	"local yes = 0 "
	"if n < tonumber(ARGV[1]) then n = redis.call('INCR', KEYS[1]) yes = 1 end "
	"local t = redis.call('TTL', KEYS[1]) "
	"if t < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) t = tonumber(ARGV[2]) end "
	"return {n, t, yes}";

/* KEYS: failures, lock, the user's keys. ARGV: max, window, user, client key. A locked key is
 * not counted further; the failure that reaches max locks it for the window. */
static const char failure_lua[] =
	"local l = redis.call('TTL', KEYS[2]) "
	"if l > 0 then return {0, l, 0} end "
	"local n = redis.call('INCR', KEYS[1]) "
	"if n == 1 or redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end "
	"redis.call('SADD', KEYS[3], ARGV[4]) "
	"redis.call('EXPIRE', KEYS[3], ARGV[2]) "
	"if n >= tonumber(ARGV[1]) then "
	"  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2]) "
	"  redis.call('DEL', KEYS[1]) "
	"  return {n, tonumber(ARGV[2]), 1} "
	"end "
	"return {n, 0, 0}";

/* ARGV: prefix, client key or "", user or "". Returns how many keys were deleted. */
static const char forgive_lua[] =
	"local n = 0 "
	"local function forget(k) n = n + redis.call('DEL', ARGV[1]..'authfail:'..k, ARGV[1]..'lock:'..k) end "
	"if ARGV[2] ~= '' then forget(ARGV[2]) end "
	"if ARGV[3] ~= '' then "
	"  for _, k in ipairs(redis.call('SMEMBERS', ARGV[1]..'byuser:'..ARGV[3])) do forget(k) end "
	"  redis.call('DEL', ARGV[1]..'byuser:'..ARGV[3]) "
	"end "
	"return n";

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void answer(struct shared_req *r, const struct shared_answer *a)
{
	shared_cb *cb = r->cb;

	if (cb == NULL)
		return;
	r->cb = NULL;
	cb(r->arg, a);
}

/* Every question still waiting learns the store is gone; the requests stay in the FIFO until
 * hiredis gives each its (NULL) reply, which frees it. */
static void answer_all_unavailable(struct shared *sh)
{
	struct shared_answer a = { 0 };

	for (struct shared_req *r = sh->head; r != NULL; r = r->next)
		answer(r, &a);
}

static void went_down(struct shared *sh, const char *why)
{
	long long now = now_ms();

	if (!sh->counted_down) {
		sh->counted_down = 1;
		sh->voice->down++;
	}
	/* Once for the node until it is up again, whichever client sees it first: the loops'
	 * clients lose a store that stops at the same moment. */
	if (atomic_exchange(&sh->voice->said_down, 1) == 0)
		log_warnx(NULL, "shared counters unavailable address=%s reason=\"%s\": limits are counted on this node "
		          "alone until it is back", sh->where, why);
	else
		log_debug(NULL, "shared counters still unavailable address=%s reason=\"%s\"", sh->where, why);
	sh->state = SH_DOWN;
	sh->retry_at_ms = now + (long long)sh->backoff * 1000;
	sh->backoff = sh->backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : sh->backoff * 2;
	answer_all_unavailable(sh);
	event_add(sh->tick, &(struct timeval){ 0, TICK_MS * 1000 });
}

static void went_up(struct shared *sh)
{
	sh->state = SH_UP;
	sh->backoff = BACKOFF_MIN_S;
	if (sh->counted_down) {
		sh->counted_down = 0;
		if (--sh->voice->down == 0) {
			log_info(NULL, "shared counters %s address=%s", sh->voice->ever_up ? "back" : "up", sh->where);
			sh->voice->ever_up = 1;
			sh->voice->said_down = 0;
		}
	}
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct shared *sh = ac->data;

	if (sh == NULL || sh->ac != ac)
		return;
	sh->ac = NULL;
	if (sh->state != SH_DOWN)
		went_down(sh, status == REDIS_OK ? "connection closed" : ac->errstr[0] ? ac->errstr : "connection lost");
}

static void on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct shared *sh = ac->data;
	redisReply *r = reply;

	(void)privdata;
	if (sh == NULL || sh->ac != ac || sh->state != SH_CONNECTING)
		return;
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		char why[200];
		snprintf(why, sizeof(why), "AUTH refused: %s", r != NULL && r->str != NULL ? r->str : "no reply");
		went_down(sh, why);
		sh->ac = NULL;
		redisAsyncDisconnect(ac);   /* from inside a callback: hiredis closes when it returns */
		return;
	}
	went_up(sh);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct shared *sh = ac->data;

	if (sh == NULL || sh->ac != ac)
		return;
	if (status != REDIS_OK) {
		sh->ac = NULL;              /* hiredis frees a context whose connect failed */
		went_down(sh, ac->errstr[0] ? ac->errstr : "cannot connect");
		return;
	}
	if (sh->password == NULL) {
		went_up(sh);
		return;
	}
	if (sh->user != NULL)
		redisAsyncCommand(ac, on_auth, NULL, "AUTH %s %s", sh->user, sh->password);
	else
		redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", sh->password);
}

static void start_connect(struct shared *sh)
{
	char host[256];
	int port;

	sh->ac = endpoint_split(sh->where, host, sizeof(host), &port) == 0 ? redisAsyncConnect(host, port)
	                                                                : redisAsyncConnectUnix(sh->where);
	sh->connect_started_ms = now_ms();
	if (sh->ac == NULL || sh->ac->err) {
		char why[200];
		snprintf(why, sizeof(why), "%s", sh->ac != NULL ? sh->ac->errstr : "out of memory");
		if (sh->ac != NULL)
			redisAsyncFree(sh->ac);
		sh->ac = NULL;
		sh->state = SH_CONNECTING;
		went_down(sh, why);
		return;
	}
	sh->ac->data = sh;
	sh->state = SH_CONNECTING;
	redisLibeventAttach(sh->ac, sh->base);
	redisAsyncSetConnectCallback(sh->ac, on_connect);
	redisAsyncSetDisconnectCallback(sh->ac, on_disconnect);
	event_add(sh->tick, &(struct timeval){ 0, TICK_MS * 1000 });
}

/* Drop the connection ourselves (never from inside a hiredis callback). */
static void drop(struct shared *sh, const char *why)
{
	redisAsyncContext *ac = sh->ac;

	went_down(sh, why);
	sh->ac = NULL;                  /* on_disconnect: not the current connection, nothing to do */
	if (ac != NULL)
		redisAsyncFree(ac);         /* gives every waiting request its NULL reply (on_reply frees it) */
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct shared *sh = arg;
	long long now = now_ms();

	(void)fd;
	(void)what;
	if (sh->state == SH_DOWN) {
		if (now >= sh->retry_at_ms)
			start_connect(sh);
		else
			event_add(sh->tick, &(struct timeval){ 0, TICK_MS * 1000 });
		return;
	}
	if (sh->state == SH_CONNECTING && now - sh->connect_started_ms > CONNECT_TIMEOUT_MS) {
		drop(sh, "connect timed out");
		return;
	}
	for (struct shared_req *r = sh->head; r != NULL; r = r->next) {
		if (r->cb == NULL)
			continue;
		if (now - r->sent_ms > SHARED_TIMEOUT_MS) {
			char why[80];
			snprintf(why, sizeof(why), "no reply within %d ms", SHARED_TIMEOUT_MS);
			drop(sh, why);
			return;
		}
		break;                      /* the oldest one still wanted is on time */
	}
	if (sh->state == SH_CONNECTING || sh->head != NULL)
		event_add(sh->tick, &(struct timeval){ 0, TICK_MS * 1000 });
}

static long long int_at(const redisReply *r, size_t i)
{
	if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
		return 0;
	return r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : 0;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct shared *sh = ac->data;
	struct shared_req *r = privdata, **pp;
	redisReply *rep = reply;
	struct shared_answer a = { 0 };

	if (r == NULL)
		return;
	/* Unlink: it is the head unless the connection is being torn down out of order. */
	if (sh != NULL) {
		for (pp = &sh->head; *pp != NULL && *pp != r; pp = &(*pp)->next)
			;
		if (*pp == r) {
			*pp = r->next;
			if (sh->tail == r) {
				struct shared_req *t = sh->head;
				while (t != NULL && t->next != NULL)
					t = t->next;
				sh->tail = t;
			}
		}
	}
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR) {
		/* The store answered but refused (a script error, a read-only replica): as good as down
		 * for this question; said once per kind of error at most in the debug log. */
		log_warnx(NULL, "shared counters refused a question address=%s reason=\"%s\"", sh ? sh->where : "?",
		          rep->str ? rep->str : "?");
	} else if (rep != NULL) {
		a.ok = 1;
		if (r->kind == REQ_TTL)
			a.ttl = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0 ? rep->integer : 0;
		else if (r->kind == REQ_SCRIPT) {
			a.count = int_at(rep, 0);
			a.ttl = int_at(rep, 1);
			a.yes = int_at(rep, 2) != 0;
		} else if (rep->type == REDIS_REPLY_INTEGER)
			a.count = rep->integer;
	}
	answer(r, &a);
	free(r);
}

static struct shared_req *new_req(struct shared *sh, int kind, shared_cb *cb, void *arg)
{
	struct shared_req *r;

	if (sh == NULL || sh->state != SH_UP || sh->ac == NULL || (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->cb = cb;
	r->arg = arg;
	r->kind = kind;
	r->sent_ms = now_ms();
	return r;
}

/* After a successful redisAsyncCommand: into the FIFO, and the timer on. */
static struct shared_req *queued(struct shared *sh, struct shared_req *r, int status)
{
	if (status != REDIS_OK) {
		free(r);
		return NULL;
	}
	if (sh->tail != NULL)
		sh->tail->next = r;
	else
		sh->head = r;
	sh->tail = r;
	if (!event_pending(sh->tick, EV_TIMEOUT, NULL))
		event_add(sh->tick, &(struct timeval){ 0, TICK_MS * 1000 });
	return r;
}

/* Users are counted by their address in lower case, as the throttle keeps them. */
static void lower(char *out, size_t outlen, const char *in)
{
	size_t i;

	for (i = 0; in[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

static void key(char *buf, const struct shared *sh, const char *kind, const char *k)
{
	snprintf(buf, KEY_MAX, "%s%s:%s", sh->prefix, kind, k);
}

struct shared_req *shared_take(struct shared *sh, const char *kind, const char *k, unsigned limit, unsigned window,
                               shared_cb *cb, void *arg)
{
	struct shared_req *r = new_req(sh, REQ_SCRIPT, cb, arg);
	char kb[KEY_MAX];

	char lk[256];

	if (r == NULL)
		return NULL;
	lower(lk, sizeof(lk), k);
	key(kb, sh, kind, lk);
	return queued(sh, r, redisAsyncCommand(sh->ac, on_reply, r, "EVAL %s 1 %s %u %u", take_lua, kb, limit,
	                                       window ? window : 1));
}

struct shared_req *shared_locked(struct shared *sh, const char *k, shared_cb *cb, void *arg)
{
	struct shared_req *r = new_req(sh, REQ_TTL, cb, arg);
	char kb[KEY_MAX];

	if (r == NULL)
		return NULL;
	key(kb, sh, "lock", k);
	return queued(sh, r, redisAsyncCommand(sh->ac, on_reply, r, "TTL %s", kb));
}

struct shared_req *shared_failure(struct shared *sh, const char *k, const char *user, unsigned max_failures,
                                  unsigned window, shared_cb *cb, void *arg)
{
	struct shared_req *r = new_req(sh, REQ_SCRIPT, cb, arg);
	char kf[KEY_MAX], kl[KEY_MAX], ku[KEY_MAX], lu[256];

	if (r == NULL)
		return NULL;
	lower(lu, sizeof(lu), user);
	key(kf, sh, "authfail", k);
	key(kl, sh, "lock", k);
	key(ku, sh, "byuser", lu);
	return queued(sh, r, redisAsyncCommand(sh->ac, on_reply, r, "EVAL %s 3 %s %s %s %u %u %s %s", failure_lua, kf,
	                                       kl, ku, max_failures, window ? window : 1, lu, k));
}

static void forgiven(void *arg, const struct shared_answer *a)
{
	struct shared *sh = arg;

	if (a->ok)
		log_info(NULL, "shared counters forgave keys=%lld address=%s", a->count, sh->where);
}

int shared_forgive(struct shared *sh, const char *what)
{
	struct shared_req *r = new_req(sh, REQ_FORGIVE, forgiven, sh);
	int user = strchr(what, '@') != NULL;
	char lw[256];

	if (r == NULL)
		return -1;
	lower(lw, sizeof(lw), what);
	return queued(sh, r, redisAsyncCommand(sh->ac, on_reply, r, "EVAL %s 0 %s %s %s", forgive_lua, sh->prefix,
	                                       user ? "" : lw, user ? lw : "")) != NULL ? 0 : -1;
}

void shared_cancel(struct shared_req *r)
{
	if (r != NULL)
		r->cb = NULL;
}

int shared_up(const struct shared *sh) { return sh != NULL && sh->state == SH_UP; }

const char *shared_address(const struct shared *sh) { return sh != NULL ? sh->where : ""; }

struct shared *shared_new(struct event_base *base, const struct shared_conf *conf, struct shared *sibling)
{
	struct shared *sh = calloc(1, sizeof(*sh));
	const char *why;

	if (sh == NULL)
		return NULL;
	if (sibling != NULL) {
		sh->voice = sibling->voice;
		sh->voice->refs++;
	} else if ((sh->voice = calloc(1, sizeof(*sh->voice))) == NULL) {
		free(sh);
		return NULL;
	} else
		sh->voice->refs = 1;
	sh->counted_down = 1;           /* up once connected */
	sh->voice->down++;
	sh->base = base;
	sh->backoff = BACKOFF_MIN_S;
	if (endpoint_parse(conf->address, sh->where, sizeof(sh->where), &why) < 0 ||
	    (sh->prefix = strdup(conf->prefix ? conf->prefix : "")) == NULL ||
	    (conf->user != NULL && (sh->user = strdup(conf->user)) == NULL) ||
	    (conf->password != NULL && (sh->password = strdup(conf->password)) == NULL) ||
	    (sh->tick = evtimer_new(base, on_tick, sh)) == NULL) {
		shared_free(sh);
		return NULL;
	}
	start_connect(sh);
	return sh;
}

void shared_free(struct shared *sh)
{
	if (sh == NULL)
		return;
	sh->state = SH_DOWN;            /* callbacks answered now cannot ask again */
	answer_all_unavailable(sh);
	if (sh->ac != NULL) {
		redisAsyncContext *ac = sh->ac;
		sh->ac = NULL;
		redisAsyncFree(ac);
	}
	/* hiredis gave each request its reply above (freeing it); what is left was never sent */
	while (sh->head != NULL) {
		struct shared_req *r = sh->head;
		sh->head = r->next;
		free(r);
	}
	if (sh->tick != NULL)
		event_free(sh->tick);
	free(sh->user);
	if (sh->password != NULL)
		explicit_bzero(sh->password, strlen(sh->password));
	free(sh->password);
	free(sh->prefix);
	if (sh->counted_down)
		sh->voice->down--;
	if (--sh->voice->refs == 0)
		free(sh->voice);
	free(sh);
}
