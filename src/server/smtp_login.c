/*
 * smtp_login.c - the session's answers to AUTH (hooks.h): passwords checked by the directory on
 * the hashing pool (one hash at a time for the same credentials), SCRAM's stored keys, client
 * certificates, and lockouts counted here and on every node. Not the SASL exchanges
 * (smtp/session_auth.c) and not the hashing (auth/).
 */
#include "hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../auth/users.h"
#include "../tls/tls.h"
#include "../util/duration.h"
#include "../util/log.h"
#include "../util/metrics.h"
#include "server_int.h"

/* ---- AUTH -------------------------------------------------------------------------------- */

/* The lockout's log line, once, on the node that saw the failure that started it. */
static void log_lockout(struct conn *c, long long until, const char *counted)
{
	char when[32];

	time_utc(until, when, sizeof(when));
	CLOG(log_warnx, c, "auth lockout address=%s key=%s failures=%u window=%us until=%s%s (mailport auth unlock "
	     "%s ends it)", c->peer_ip, c->client_key, c->rc->cfg->max_failures, c->rc->cfg->failure_window, when,
	     counted, c->peer_ip);
}

/* A shared answer about client key: a lockout the store knows of is kept here too, for the
 * synchronous checks (SCRAM, EXTERNAL) and for when the store goes away. */
static void mirror_lock(struct server *srv, const char *key, const char *user, const struct shared_answer *a)
{
	long long now = (long long)time(NULL);

	if (a->ok && a->ttl > 0)
		throttle_lock(srv->throttle, key, user, now + a->ttl, now);
}

/* A failure the session does not wait for (SCRAM, EXTERNAL): counted by every node all the
 * same; the answer only teaches this node of a lockout. */
struct fail_note {
	struct server *srv;
	char key[64];
	char user[SMTP_USER_MAX + 1];
};

static void fail_noted(void *arg, const struct shared_answer *a)
{
	struct fail_note *n = arg;

	mirror_lock(n->srv, n->key, n->user, a);
	if (a->ok && a->yes)
		log_warnx(NULL, "auth lockout key=%s failures=%lld counted=shared (mailport auth unlock ends it)", n->key,
		          a->count);
	free(n);
}

static void count_shared_failure(struct conn *c, const char *user)
{
	struct fail_note *n;
	const struct config *cfg = c->rc->cfg;

	if (!shared_up(c->srv->shared) || (n = calloc(1, sizeof(*n))) == NULL)
		return;
	n->srv = c->srv;
	snprintf(n->key, sizeof(n->key), "%s", c->client_key);
	snprintf(n->user, sizeof(n->user), "%s", user);
	if (shared_failure(c->srv->shared, n->key, n->user, cfg->max_failures, cfg->failure_window, fail_noted, n) == NULL)
		free(n);
}

#define COUNTED_NO      0
#define COUNTED_YES     1
#define COUNTED_LOCKED  2   /* and the local count started a lockout (logged) */

/* Log a verdict, count a failure against the client's address, map it for the session.
 * *counted says whether (and how) the failure was counted here; the caller counts it in the
 * shared store too. */
static int auth_verdict(struct conn *c, const char *user, const char *via, const unsigned char *key, int result,
                        int *counted)
{
	long long until;

	*counted = COUNTED_NO;
	if (result == 0) {
		metrics_add(MET_AUTH_OK, 1);
		CLOG(log_info, c, "auth ok user=%s address=%s%s%s", user, c->peer_ip, via[0] ? " " : "", via);
		return SMTP_AUTH_OK;
	}
	if (result == DIR_VERIFY_TEMPFAIL) {
		/* Not the client's fault: neither counted nor cached (the backend logged why) */
		CLOG(log_info, c, "auth tempfail user=%s address=%s reason=\"password service unavailable\"", user,
		     c->peer_ip);
		return SMTP_AUTH_TEMPFAIL;
	}
	metrics_add(MET_AUTH_FAILED, 1);
	if (key != NULL && c->failed_once && memcmp(c->failed_key, key, sizeof(c->failed_key)) == 0) {
		CLOG(log_info, c, "auth failed user=%s address=%s counted=no (the same credentials again)", user,
		         c->peer_ip);
		return SMTP_AUTH_FAIL;
	}
	if (key != NULL) {
		memcpy(c->failed_key, key, sizeof(c->failed_key));
		c->failed_once = 1;
	}
	CLOG(log_info, c, "auth failed user=%s address=%s", user, c->peer_ip);
	*counted = COUNTED_YES;
	if ((until = throttle_failure(c->srv->throttle, c->client_key, user, (long long)time(NULL))) != 0) {
		log_lockout(c, until, "");
		*counted = COUNTED_LOCKED;
	}
	return SMTP_AUTH_FAIL;
}

/* The synchronous mechanisms' verdicts: counted by every node, not waited for. */
static int auth_verdict_now(struct conn *c, const char *user, const char *via, const unsigned char *key, int result)
{
	int counted, v = auth_verdict(c, user, via, key, result, &counted);

	if (counted != COUNTED_NO)
		count_shared_failure(c, user);
	return v;
}

/* The end of a PLAIN or LOGIN exchange, whichever step decided it. */
static void auth_finish(struct auth_wait *aw, int verdict)
{
	struct conn *c = aw->c;

	explicit_bzero(aw->password, sizeof(aw->password));
	if (c != NULL) {
		c->auth_wait = NULL;
		smtp_session_auth_done(c->sess, verdict);
		c->ops->resume(c);      /* may free c */
	}
	runconf_unref(aw->rc);
	free(aw);
}

/* On a worker thread: the directory belongs to the snapshot aw holds a reference to. */
static void auth_run(void *job)
{
	struct auth_wait *aw = job;
	struct dir_login l = { aw->authzid, aw->user, aw->password, aw->client_ip };

	aw->result = directory_verify(aw->rc->dir, &l, aw->via, sizeof(aw->via));
	explicit_bzero(aw->password, sizeof(aw->password));
}

/* The shared count of a failure: the 535 waits for it, so the next guess, on any node, meets
 * the lockout this one may have started. */
static void auth_failure_counted(void *arg, const struct shared_answer *a)
{
	struct auth_wait *aw = arg;

	mirror_lock(aw->srv, aw->client_key, aw->user, a);
	if (a->ok && a->yes && aw->c != NULL && !aw->locked_here) {
		char counted[48];
		snprintf(counted, sizeof(counted), " counted=shared total=%lld", a->count);
		log_lockout(aw->c, (long long)time(NULL) + a->ttl, counted);
	}
	auth_finish(aw, SMTP_AUTH_FAIL);
}

static void auth_answer(struct auth_wait *aw, int ran, int follower);

/* A follower on another loop than its leader's hears the answer on its own. */
static void follower_done(void *job, int ran)
{
	struct auth_wait *f = job;

	(void)ran;
	auth_answer(f, f->leader_ran, 1);
}

static void auth_done(void *job, int ran)
{
	struct auth_wait *aw = job, **pp, *f, *next, *followers;
	struct server *p = aw->srv->primary;

	pthread_mutex_lock(&p->auth_mu);
	for (pp = &p->auth_leaders; *pp != NULL; pp = &(*pp)->next)
		if (*pp == aw) {
			*pp = aw->next;
			break;
		}
	followers = aw->followers;
	aw->followers = NULL;
	pthread_mutex_unlock(&p->auth_mu);
	if (ran && aw->result == 0 && aw->generation == authcache_generation(aw->rc->authcache))
		authcache_put(aw->rc->authcache, aw->cache_key, (long long)time(NULL));
	/* The same credentials, so the same answer; each session logs and counts its own. */
	for (f = followers; f != NULL; f = next) {
		next = f->next;
		f->result = aw->result;
		f->leader_ran = ran;
		memcpy(f->via, aw->via, sizeof(f->via));
		if (f->srv == aw->srv)
			auth_answer(f, ran, 1);
		else if (workpool_post(f->srv->home, f, follower_done) < 0)
			log_warnx(NULL, "no memory to hand a login's answer to its event loop; the session waits for its timeout");
	}
	auth_answer(aw, ran, 0);
}

static void auth_answer(struct auth_wait *aw, int ran, int follower)
{
	struct conn *c = aw->c;
	int verdict, counted;
	char via[sizeof(aw->via) + 20];

	explicit_bzero(aw->password, sizeof(aw->password));
	snprintf(via, sizeof(via), "%s%s%s", aw->via, aw->via[0] && follower ? " " : "", follower ? "shared-hash=yes" : "");
	if (c == NULL) {
		auth_finish(aw, SMTP_AUTH_FAIL);
		return;
	}
	verdict = auth_verdict(c, aw->user, via, aw->cache_key, ran ? aw->result : -1, &counted);
	aw->locked_here = counted == COUNTED_LOCKED;
	if (counted != COUNTED_NO && shared_failure(aw->srv->shared, aw->client_key, aw->user, c->rc->cfg->max_failures,
	                                            c->rc->cfg->failure_window, auth_failure_counted, aw) != NULL)
		return;
	auth_finish(aw, verdict);
}

/* A mailbox's auth= policy before any password is looked at: auth=certificate never logs in
 * with a password, auth=certificate+password only from a connection whose verified client
 * certificate names it. 0 go on; -1 refused (logged, counted as a failure). */
static int cert_gate(struct conn *c, const char *user)
{
	int p = directory_cert_policy(c->rc->dir, user);
	const char *why = NULL;

	if (p == USER_CERT_ONLY)
		why = "certificate-only";
	else if (p == USER_CERT_AND_PASSWORD && (c->cert == NULL || !clientca_names(c->cert, user)))
		why = c->cert == NULL ? "certificate-required" : "certificate-names-another-mailbox";
	if (why == NULL)
		return 0;
	CLOG(log_info, c, "auth refused user=%s address=%s reason=%s", user, c->peer_ip, why);
	return -1;
}

static int lockout_reply(struct conn *c, long long until, long long now)
{
	metrics_add(MET_AUTH_LOCKED, 1);
	/* The lockout itself was logged once, with its end, when it began. */
	CLOG(log_debug, c, "auth refused address=%s reason=locked-out", c->peer_ip);
	smtp_session_auth_retry_after(c->sess, (unsigned long)(until - now));
	return SMTP_AUTH_LOCKED;
}

static int locked_out(struct conn *c)
{
	long long now = (long long)time(NULL), until;

	if ((until = throttle_locked_until(c->srv->throttle, c->client_key, now)) == 0)
		return 0;
	lockout_reply(c, until, now);
	return 1;
}

/* Past the lockout: the cache, the mailbox's auth= policy, then the hash on a worker thread.
 * An SMTP_AUTH_* verdict, or SMTP_AUTH_PENDING when aw went to the worker (else aw is the
 * caller's to finish). */
static int auth_check(struct conn *c, struct auth_wait *aw)
{
	long long now = (long long)time(NULL);

	/* A revoked app password is refused from the next AUTH on: the store is read again when its
	 * file changed, and what the cache remembers of it is forgotten. */
	if (directory_refresh(c->rc->dir) == 1)
		authcache_clear(c->rc->authcache);
	authcache_key(c->rc->authcache, aw->authzid, aw->user, aw->password, aw->cache_key);
	if (cert_gate(c, aw->user) < 0)
		return auth_verdict_now(c, aw->user, "", aw->cache_key, -1);
	if (authcache_hit(c->rc->authcache, aw->cache_key, now)) {
		/* The same credentials passed a full check within the last minute. */
		metrics_add(MET_AUTH_OK, 1);
		CLOG(log_info, c, "auth ok user=%s address=%s cached=yes", aw->user, c->peer_ip);
		return SMTP_AUTH_OK;
	}
	/* The hash takes tens of milliseconds: on a worker thread, so other sessions go on. A
	 * client that opens many connections at once with one password (or all of them, when its
	 * cache entry expires) waits for one hash, not one each. */
	aw->generation = authcache_generation(c->rc->authcache);
	/* Leaders of every loop: a login storm spread over the loops still costs one hash. */
	struct server *p = c->srv->primary;
	pthread_mutex_lock(&p->auth_mu);
	for (struct auth_wait *l = p->auth_leaders; l != NULL && authcache_key_made(aw->cache_key); l = l->next)
		if (l->rc == aw->rc && l->generation == aw->generation &&
		    CRYPTO_memcmp(l->cache_key, aw->cache_key, sizeof(aw->cache_key)) == 0) {
			explicit_bzero(aw->password, sizeof(aw->password));
			aw->next = l->followers;
			l->followers = aw;
			pthread_mutex_unlock(&p->auth_mu);
			return SMTP_AUTH_PENDING;
		}
	/* Listed before the pool may answer it: its done takes the same lock. */
	aw->next = p->auth_leaders;
	p->auth_leaders = aw;
	pthread_mutex_unlock(&p->auth_mu);
	if (workpool_submit(c->srv->authpool, aw, auth_run, auth_done) == 0)
		return SMTP_AUTH_PENDING;
	pthread_mutex_lock(&p->auth_mu);
	struct auth_wait **pp = &p->auth_leaders;
	while (*pp != NULL && *pp != aw)
		pp = &(*pp)->next;
	if (*pp == aw)
		*pp = aw->next;
	struct auth_wait *late = aw->followers, *next;
	aw->followers = NULL;
	pthread_mutex_unlock(&p->auth_mu);
	/* No pool: those that joined meanwhile hear "not checked" on their loops (a 454, try again). */
	for (; late != NULL; late = next) {
		next = late->next;
		late->leader_ran = 0;
		if (workpool_post(late->srv->home, late, follower_done) < 0)
			log_warnx(NULL, "no memory to hand a login's answer to its event loop; the session waits for its timeout");
	}
	struct dir_login l = { aw->authzid, aw->user, aw->password, c->peer_ip };
	char via[96] = "";
	int r = directory_verify(c->rc->dir, &l, via, sizeof(via));
	if (r == 0)
		authcache_put(c->rc->authcache, aw->cache_key, now);
	return auth_verdict_now(c, aw->user, via, aw->cache_key, r);
}

/* Whether every node together has locked this client out. The store is the judge while it
 * answers: a lockout lifted there (mailport auth unlock on any node) is lifted here too. */
static void auth_lock_answer(void *arg, const struct shared_answer *a)
{
	struct auth_wait *aw = arg;
	struct conn *c = aw->c;
	long long now = (long long)time(NULL);
	int verdict;

	if (c == NULL) {
		auth_finish(aw, SMTP_AUTH_FAIL);
		return;
	}
	if (a->ok && a->ttl > 0) {
		mirror_lock(aw->srv, aw->client_key, "", a);
		auth_finish(aw, lockout_reply(c, now + a->ttl, now));
		return;
	}
	if (a->ok && throttle_locked_until(c->srv->throttle, c->client_key, now) != 0)
		throttle_forgive(c->srv->throttle, c->client_key);
	else if (!a->ok && locked_out(c)) {
		auth_finish(aw, SMTP_AUTH_LOCKED);
		return;
	}
	if ((verdict = auth_check(c, aw)) != SMTP_AUTH_PENDING)
		auth_finish(aw, verdict);
}

int hook_auth(void *ctx, const char *authzid, const char *user, const char *password)
{
	struct conn *c = ctx;
	struct auth_wait *aw;
	int verdict;

	if (!shared_up(c->srv->shared) && locked_out(c))
		return SMTP_AUTH_LOCKED;
	if ((aw = calloc(1, sizeof(*aw))) == NULL || strlen(password) >= sizeof(aw->password) ||
	    strlen(user) >= sizeof(aw->user) || strlen(authzid) >= sizeof(aw->authzid)) {
		free(aw);
		return SMTP_AUTH_FAIL;  /* longer than SMTP_AUTH_LINE_MAX allows: cannot happen */
	}
	aw->c = c;
	aw->srv = c->srv;
	aw->rc = runconf_ref(c->rc);
	aw->result = -1;
	memcpy(aw->user, user, strlen(user) + 1);
	memcpy(aw->authzid, authzid, strlen(authzid) + 1);
	memcpy(aw->password, password, strlen(password) + 1);
	snprintf(aw->client_ip, sizeof(aw->client_ip), "%s", c->peer_ip);
	snprintf(aw->client_key, sizeof(aw->client_key), "%s", c->client_key);
	c->auth_wait = aw;
	if (shared_locked(c->srv->shared, c->client_key, auth_lock_answer, aw) != NULL)
		return SMTP_AUTH_PENDING;
	if (locked_out(c))
		verdict = SMTP_AUTH_LOCKED;
	else if ((verdict = auth_check(c, aw)) == SMTP_AUTH_PENDING)
		return verdict;
	c->auth_wait = NULL;
	aw->c = NULL;
	auth_finish(aw, verdict);
	return verdict;
}

/* SCRAM-SHA-256: a locked-out client is refused before anything is computed; a user without
 * credentials gets made-up ones (the exchange then fails at the proof, like a wrong password). */
int hook_scram_creds(void *ctx, const char *user, struct scram_creds *out)
{
	struct conn *c = ctx;

	if (locked_out(c))
		return SMTP_AUTH_LOCKED;
	/* refused by its auth= policy: made-up keys, so the proof fails (and is counted) as any */
	if ((cert_gate(c, user) < 0 || directory_scram(c->rc->dir, user, out) < 0) &&
	    scram_creds_fake(c->srv->scram_secret, user, out) < 0)
		memset(out, 0, sizeof(*out));
	return SMTP_AUTH_OK;
}

int hook_auth_outcome(void *ctx, const char *user, int ok, const char *mech)
{
	char via[64];

	snprintf(via, sizeof(via), "mechanism=%s", mech);
	return auth_verdict_now(ctx, user, via, NULL, ok ? 0 : -1);
}

/* EXTERNAL: the verified certificate is the credential; it logs in as the mailbox it names
 * (the one asked for, or its first) when that mailbox says auth=certificate. */
int hook_auth_external(void *ctx, const char *authzid, char *user, size_t userlen)
{
	struct conn *c = ctx;

	if (locked_out(c))
		return SMTP_AUTH_LOCKED;
	if (c->cert == NULL)
		return SMTP_AUTH_FAIL;
	const char *want = authzid[0] ? authzid : c->cert->mailbox[0];
	snprintf(user, userlen, "%s", want);
	const char *why = NULL;
	int p = directory_cert_policy(c->rc->dir, want);
	if (!clientca_names(c->cert, want))
		why = "certificate-names-another-mailbox";
	else if (p < 0)
		why = "no-such-mailbox";
	else if (p == USER_CERT_NO)
		why = "mailbox-says-auth=password";
	else if (p == USER_CERT_AND_PASSWORD)
		why = "mailbox-says-auth=certificate+password";
	if (why != NULL)
		CLOG(log_info, c, "auth refused user=%s address=%s mechanism=EXTERNAL serial=%s reason=%s", want, c->peer_ip,
		         c->cert->serial, why);
	char via[96];
	snprintf(via, sizeof(via), "mechanism=EXTERNAL serial=%s", c->cert->serial);
	return auth_verdict_now(c, want, via, NULL, why == NULL ? 0 : -1);
}
