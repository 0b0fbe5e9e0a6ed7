/*
 * policy.c - the answers the SMTP core asks for: who may receive (local users; anyone once
 * authenticated), who may send as whom, whether credentials are good, and where message
 * octets go (the spool, with trace and submission hygiene headers).
 * Not I/O (conn.c) and not the protocol (smtp/session.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>

#include "../deliver/runner.h"
#include "../queue/committer.h"
#include "../auth/users.h"
#include "../msg/authres.h"
#include "../tls/tls.h"
#include "../util/duration.h"
#include "../util/log.h"
#include "../util/metrics.h"
#include "../util/windowcount.h"
#include "sendercheck.h"
#include "server_int.h"

/* ---- recipients and senders ------------------------------------------------------------ */

static void set_verdict(struct smtp_verdict *v, int code, const char *esc, const char *text)
{
	v->code = code;
	v->esc = esc;
	v->text = text;
}

/* The local mailbox an address belongs to, honouring user+tag, into mailbox. */
static enum dir_result local_mailbox(const struct conn *c, const char *addr, char *mailbox, size_t len)
{
	return directory_mailbox(c->rc->dir, addr, c->rc->cfg->recipient_delimiter[0], mailbox, len);
}

static void cb_rcpt(void *ctx, const struct smtp_tx *tx, const char *addr, struct smtp_verdict *v)
{
	struct conn *c = ctx;
	const struct config *cfg = c->rc->cfg;
	char buf[SMTP_ADDR_MAX + 1];
	enum dir_result found;
	const char *at;

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
	if (!config_is_local_domain(cfg, at + 1, strlen(at + 1))) {
		if (smtp_session_auth_user(c->sess) != NULL && at[1] != '[') {
			/* An authenticated user may send anywhere; it waits in the queue for the relay. */
			size_t n = (size_t)(at - addr);
			snprintf(v->target, sizeof(v->target), "%.*s@", (int)n, addr);
			for (const char *d = at + 1; *d && n + 1 < sizeof(v->target) - 1; d++)
				v->target[++n] = (char)tolower((unsigned char)*d);
			v->target[n + 1] = '\0';
			v->local = 0;
			set_verdict(v, 250, "2.1.5", "Ok");
			return;
		}
		set_verdict(v, 550, "5.7.1", "Relay access denied: this server only accepts mail for its own domains");
		CLOG(log_info, c, "reject rcpt=<%s> reason=relay-denied address=%s", addr, c->peer_ip);
		return;
	}
	found = local_mailbox(c, addr, v->target, sizeof(v->target));
	if (found == DIR_TEMPFAIL) {
		CLOG(log_warnx, c, "defer rcpt=<%s> reason=directory-unavailable address=%s", addr, c->peer_ip);
		set_verdict(v, 451, "4.3.0", "Recipient lookup failed, try again later");
		return;
	}
	if (found == DIR_NONE) {
		/* At RCPT time, not after DATA: no bounce to a forged sender (no backscatter). */
		set_verdict(v, 550, "5.1.1", "Recipient address rejected: user unknown");
		CLOG(log_info, c, "reject rcpt=<%s> reason=unknown-user address=%s", addr, c->peer_ip);
		return;
	}
	set_verdict(v, 250, "2.1.5", "Ok");
	v->local = 1;
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

/* 450 4.7.1, as Postfix's smtpd_client_message_rate_limit says it: the client tries again
 * later, a person sees when. One buffer for every connection: the session formats its reply
 * from a verdict before the event loop runs anything else, so no two are ever outstanding. */
static const char *rate_words(const struct conn *c, long long left)
{
	static char words[200];
	const struct config_rate *lim = &c->rc->cfg->msgs_per_user;
	char per[32], wait[32];

	duration_words((long long)lim->window, per, sizeof(per));
	duration_words(left > 0 ? left : 1, wait, sizeof(wait));
	snprintf(words, sizeof(words), "Sending limit reached: %u messages per %s for this account; "
	         "try again in %s", lim->count, per, wait);
	return words;
}

static void user_rate_refused(struct conn *c, const char *user, long long left, const char *counted)
{
	const struct config_rate *lim = &c->rc->cfg->msgs_per_user;

	metrics_add(MET_RATE_LIMITED, 1);
	CLOG(log_info, c, "reject user=%s address=%s reason=max_messages_per_user limit=%u/%us counted=%s retry_in=%llds",
	     user, c->peer_ip, lim->count, lim->window, counted, left);
}

/* The answer of every node together about this user's messages in the period. */
static void user_rate_answer(void *arg, const struct shared_answer *a)
{
	struct conn *c = arg;

	c->sreq = NULL;
	if (a->ok && !a->yes) {
		const char *user = smtp_session_auth_user(c->sess);
		user_rate_refused(c, user ? user : "?", a->ttl, "shared");
		smtp_session_mail_done(c->sess, 450, "4.7.1", rate_words(c, a->ttl));
	} else
		smtp_session_mail_done(c->sess, 250, NULL, NULL);
	c->ops->resume(c);          /* may free c */
}

/* [limits] max_messages_per_user: counted here and, with [limits] redis, by every node (the
 * MAIL waits for the store's answer). A MAIL counts whether or not its message is then sent,
 * as Postfix counts. */
static void user_rate(struct conn *c, const char *user, struct smtp_verdict *v)
{
	const struct config_rate *lim = &c->rc->cfg->msgs_per_user;
	unsigned left;

	if (lim->count == 0)
		return;
	if (!windowcount_take(c->srv->userrate, user, lim->count, lim->window, (long long)time(NULL), &left)) {
		user_rate_refused(c, user, left, "here");
		set_verdict(v, 450, "4.7.1", rate_words(c, left));
		return;
	}
	if ((c->sreq = shared_take(c->srv->shared, "msgs", user, lim->count, lim->window, user_rate_answer, c)) != NULL)
		v->code = SMTP_VERDICT_PENDING;
}

static void cb_mail(void *ctx, const struct smtp_tx *tx, struct smtp_verdict *v)
{
	struct conn *c = ctx;
	const char *user = smtp_session_auth_user(c->sess);

	if (user != NULL) {
		/* An authenticated user sends as itself or one of its aliases, never as anyone else. */
		char owner[SMTP_ADDR_MAX + 1];
		enum dir_result found = tx->sender[0] ? local_mailbox(c, tx->sender, owner, sizeof(owner)) : DIR_NONE;
		if (found == DIR_TEMPFAIL) {
			CLOG(log_warnx, c, "defer sender=<%s> reason=directory-unavailable address=%s", tx->sender, c->peer_ip);
			set_verdict(v, 451, "4.3.0", "Sender lookup failed, try again later");
			return;
		}
		if (found == DIR_NONE || strcasecmp(owner, user) != 0) {
			CLOG(log_info, c, "reject sender=<%s> user=%s reason=not-owned address=%s", tx->sender,
			         user, c->peer_ip);
			set_verdict(v, 553, "5.7.1", "Sender address rejected: not owned by the authenticated user");
			return;
		}
	}
	if (!spool_has_room(c, tx->declared_size)) {
		CLOG(log_warnx, c, "refused mail: spool free space below min_free_space");
		set_verdict(v, 452, "4.3.1", "Insufficient system storage, try again later");
		return;
	}
	if (user != NULL)
		user_rate(c, user, v);
}

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

static void auth_done(void *job, int ran)
{
	struct auth_wait *aw = job, **pp, *f, *next;

	for (pp = &aw->srv->auth_leaders; *pp != NULL; pp = &(*pp)->next)
		if (*pp == aw) {
			*pp = aw->next;
			break;
		}
	if (ran && aw->result == 0 && aw->generation == authcache_generation(aw->rc->authcache))
		authcache_put(aw->rc->authcache, aw->cache_key, (long long)time(NULL));
	/* The same credentials, so the same answer; each session logs and counts its own. */
	for (f = aw->followers, aw->followers = NULL; f != NULL; f = next) {
		next = f->next;
		f->result = aw->result;
		memcpy(f->via, aw->via, sizeof(f->via));
		auth_answer(f, ran, 1);
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
	for (struct auth_wait *l = c->srv->auth_leaders; l != NULL && authcache_key_made(aw->cache_key); l = l->next)
		if (l->rc == aw->rc && l->generation == aw->generation &&
		    CRYPTO_memcmp(l->cache_key, aw->cache_key, sizeof(aw->cache_key)) == 0) {
			explicit_bzero(aw->password, sizeof(aw->password));
			aw->next = l->followers;
			l->followers = aw;
			return SMTP_AUTH_PENDING;
		}
	if (workpool_submit(c->srv->authpool, aw, auth_run, auth_done) == 0) {
		aw->next = c->srv->auth_leaders;
		c->srv->auth_leaders = aw;
		return SMTP_AUTH_PENDING;
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

static int cb_auth(void *ctx, const char *authzid, const char *user, const char *password)
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
	aw->rc = c->rc;
	c->rc->refs++;
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
static int cb_scram_creds(void *ctx, const char *user, struct scram_creds *out)
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

static int cb_auth_outcome(void *ctx, const char *user, int ok, const char *mech)
{
	char via[64];

	snprintf(via, sizeof(via), "mechanism=%s", mech);
	return auth_verdict_now(ctx, user, via, NULL, ok ? 0 : -1);
}

/* EXTERNAL: the verified certificate is the credential; it logs in as the mailbox it names
 * (the one asked for, or its first) when that mailbox says auth=certificate. */
static int cb_auth_external(void *ctx, const char *authzid, char *user, size_t userlen)
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

/* ---- spooling ---------------------------------------------------------------------------- */

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

static void rfc5322_date(char *buf, size_t len, time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* The trace header (RFC 5321 4.4), and on submission ports the fields RFC 6409 8.2/8.3 say a
 * submission server adds when the client left them out. */
/* Message octets into the spool, and to the DKIM signer when the message is being signed. */
static int msg_write(struct conn *c, const char *p, size_t n)
{
	if (c->dkim != NULL && dkim_signer_feed(c->dkim, p, n) < 0) {
		CLOG(log_warnx, c, "dkim: the signer refused the message; it goes unsigned");
		snprintf(c->dkim_unsigned, sizeof(c->dkim_unsigned), "header block too large or out of memory");
		dkim_signer_free(c->dkim);
		c->dkim = NULL;
	}
	return spool_msg_write(c->msg, p, n);
}

/* Submission: sign when a key of the From: domain is configured and the envelope sender (which
 * the login was allowed to use) is of that domain too, so no user signs for another's domain.
 * When keys are configured and this message is not signed, c->dkim_unsigned says why, for the
 * "accepted" log line: an unsigned message fails DMARC at its recipients, and the admin must be
 * able to see which ones and why. */
static void dkim_begin(struct conn *c, const struct smtp_tx *tx)
{
	const char *at = strrchr(tx->sender, '@');
	char err[300], domain[256];
	int r;

	c->dkim_unsigned[0] = '\0';
	if (c->rc->dkim == NULL || dkim_keys_active(c->rc->dkim) == 0)
		return;                 /* signing is not configured: nothing to explain */
	r = dkim_from_domain(c->held ? c->held : "", c->held_len, domain, sizeof(domain));
	if (r < 0) {
		snprintf(c->dkim_unsigned, sizeof(c->dkim_unsigned), "%s",
		         r == -1 ? "no From field" : "no domain in the From field");
		return;
	}
	if (at == NULL || strcasecmp(domain, at + 1) != 0) {
		snprintf(c->dkim_unsigned, sizeof(c->dkim_unsigned), "From domain %.64s is not the sender's", domain);
		return;
	}
	/* NULL with err empty: no key signs for the domain. */
	c->dkim = dkim_signer_new(c->rc->dkim, domain, spool_msg_qid(c->msg), err, sizeof(err));
	if (c->dkim == NULL && err[0]) {
		CLOG(log_warnx, c, "dkim: %s; the message goes unsigned", err);
		snprintf(c->dkim_unsigned, sizeof(c->dkim_unsigned), "%.100s", err);
	} else if (c->dkim == NULL)
		snprintf(c->dkim_unsigned, sizeof(c->dkim_unsigned), "no key for %.64s", domain);
}

static int write_added_headers(struct conn *c, const struct smtp_tx *tx, unsigned present)
{
	char hdr[2048], helo[300], date[64];
	const char *proto;
	int auth = smtp_session_auth_user(c->sess) != NULL, tls = smtp_session_tls(c->sess);
	char tls_desc[160];
	time_t now = time(NULL);
	size_t n = 0;

	/* RFC 3848 (ESMTPS, ESMTPSA) and RFC 6531 3.7.3 (UTF8SMTP...) protocol names. */
	static const char *names[2][2][2] = {
		{ { "ESMTP", "ESMTPA" }, { "ESMTPS", "ESMTPSA" } },
		{ { "UTF8SMTP", "UTF8SMTPA" }, { "UTF8SMTPS", "UTF8SMTPSA" } },
	};
	proto = smtp_session_esmtp(c->sess) ? names[tx->smtputf8][tls][auth] : "SMTP";
	rfc5322_date(date, sizeof(date), now);
	header_safe(helo, sizeof(helo), smtp_session_helo(c->sess));
	n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "Received: from %s ([%s])\r\n", helo, c->peer_ip);
	if (tls) {
		tls_describe(bufferevent_openssl_get_ssl(c->bev), tls_desc, sizeof(tls_desc));
		n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "\t(using %s)\r\n", tls_desc);
	}
	n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "\tby %s (mailport) with %s id %s", c->rc->cfg->hostname,
	                      proto, spool_msg_qid(c->msg));
	/* The "for" clause only for a single recipient: it would disclose Bcc recipients. */
	if (tx->nrcpts == 1 && n < sizeof(hdr))
		n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "\r\n\tfor <%s>", tx->rcpts[0].addr);
	if (n < sizeof(hdr))
		n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, ";\r\n\t%s\r\n", date);
	if (listener_kind(c->role)->submission) {
		if (!(present & HDR_DATE) && n < sizeof(hdr))
			n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "Date: %s\r\n", date);
		if (!(present & HDR_MESSAGE_ID) && n < sizeof(hdr))
			n += (size_t)snprintf(hdr + n, sizeof(hdr) - n, "Message-ID: <%s.%lld@%s>\r\n",
			                      spool_msg_qid(c->msg), (long long)now, c->rc->cfg->hostname);
	}
	if (n >= sizeof(hdr))
		return -1;
	return msg_write(c, hdr, n);
}

/* Write the held header block behind the added headers; from then on octets go straight on. */
static int release_held(struct conn *c, const struct smtp_tx *tx)
{
	int r;

	c->hold = 0;
	if (listener_kind(c->role)->submission)
		dkim_begin(c, tx);
	else if (c->held_len > 0) {
		/* Port 25 held it for this: only we may say what we found (RFC 8601 5). */
		unsigned removed = 0;
		c->held_len = authres_strip_own(c->held, c->held_len, c->rc->cfg->hostname, &removed);
		if (removed)
			CLOG(log_info, c, "removed %u Authentication-Results field%s that claimed to be ours (%s) address=%s",
			     removed, removed == 1 ? "" : "s", c->rc->cfg->hostname, c->peer_ip);
	}
	r = write_added_headers(c, tx, c->hs.seen);
	if (r == 0 && c->held_len > 0)
		r = msg_write(c, c->held, c->held_len);
	free(c->held);
	c->held = NULL;
	c->held_len = 0;
	return r;
}

/* The spool's file system is full (or the user's quota): 452 4.3.1, not 451. */
static int no_space(int err) { return err == ENOSPC || err == EDQUOT; }

static int cb_data_begin(void *ctx, const struct smtp_tx *tx)
{
	struct conn *c = ctx;

	if (!spool_has_room(c, tx->declared_size))
		return -2;
	c->dkim_unsigned[0] = '\0';
	c->msg = spool_msg_begin(c->srv->spool, (long long)time(NULL));
	if (c->msg == NULL) {
		CLOG(log_warn, c, "cannot create queue file");
		return -1;
	}
	if (spool_msg_sender(c->msg, tx->sender) < 0)
		goto fail;
	for (size_t i = 0; i < tx->nrcpts; i++)
		if (spool_msg_rcpt(c->msg, tx->rcpts[i].target, tx->rcpts[i].addr, tx->rcpts[i].local) < 0)
			goto fail;
	memset(&c->hs, 0, sizeof(c->hs));
	c->hold = listener_kind(c->role)->submission;
	/* Port 25: who sent it (SPF, DKIM, DMARC), judged on the octets as they arrive; the header
	 * block is held to take out forged Authentication-Results fields. */
	if (!c->hold && c->rc->sender_checks && smtp_session_auth_user(c->sess) == NULL) {
		c->inbound = sendercheck_begin(c->rc->cfg->resolver, c->rc->cfg->hostname, c->rc->dmarc_reject, c->peer_ip,
		                           smtp_session_helo(c->sess), tx->sender);
		if (c->inbound == NULL)
			CLOG(log_warnx, c, "sender checks: out of memory; the message goes on unchecked");
		c->hold = 1;
	}
	c->held_len = 0;
	c->tx = tx;
	if (!c->hold && write_added_headers(c, tx, 0) < 0)
		goto fail;
	return 0;
fail:
	CLOG(log_warn, c, "cannot write queue file");
	spool_msg_abort(c->msg);
	c->msg = NULL;
	sendercheck_free(c->inbound);
	c->inbound = NULL;
	return -1;
}

static int cb_data_write(void *ctx, const char *p, size_t n)
{
	struct conn *c = ctx;

	if (c->inbound != NULL)
		sendercheck_feed(c->inbound, p, n);
	if (c->hold) {
		size_t hdr = hdrscan_feed(&c->hs, p, n);
		if (c->held_len + hdr > HEADER_HOLD_MAX) {
			/* A header block this large is odd; stop holding and add nothing we cannot
			 * be sure is missing (only the trace header). */
			c->hs.seen = HDR_DATE | HDR_MESSAGE_ID;
			if (release_held(c, c->tx) < 0)
				goto fail;
		} else {
			char *nh = realloc(c->held, c->held_len + hdr + 1);
			if (nh == NULL)
				goto fail;
			c->held = nh;
			memcpy(c->held + c->held_len, p, hdr);
			c->held_len += hdr;
			p += hdr;
			n -= hdr;
			if (c->hs.done && release_held(c, c->tx) < 0)
				goto fail;
		}
	}
	else if (!c->hs.done)
		(void)hdrscan_feed(&c->hs, p, n);       /* for TLS-Required only: nothing is added */
	if (n > 0 && msg_write(c, p, n) < 0)
		goto fail;
	return 0;
fail:;
	int nospace = no_space(errno);
	CLOG(log_warn, c, "cannot write queue file");
	return nospace ? -2 : -1;
}

/* ---- the commit: from the end of DATA to the reply ------------------------------------- */

/* commit_announce's result (smtp_session_commit_done's) as data_commit returns it at once. */
static int data_commit_code(int result) { return result == 1 ? 0 : result == SMTP_COMMIT_NOSPACE ? -2 : -1; }

/* A commit's outcome, whichever way it was made: logged, and the message to the runner. */
static int commit_announce(struct server *srv, int role, const char *qid, const char *accepted, int ok, int nospace,
                           const char *note)
{
	if (ok) {
		metrics_add((enum metric)(MET_ACCEPTED + role), 1);
		log_info(qid, "%s%s", accepted, note);
		if (srv->runner != NULL)        /* NULL at shutdown: the queue keeps it for the next start */
			runner_wake(srv->runner, qid);
		return 1;
	}
	if (nospace)
		log_warnx(qid, "queue commit failed: no space left on the spool's file system, replied 452 4.3.1");
	else
		log_warn(qid, "queue commit failed, replied 451 4.3.0");
	return nospace ? SMTP_COMMIT_NOSPACE : 0;
}

/* A message the sender checks refused: thrown away, never acknowledged. */
static void refuse_drop(struct commit_wait *cw)
{
	spool_msg_abort(cw->m);
	cw->m = NULL;
	log_info(cw->qid, "refused %s reason=\"%s\"", cw->accepted + strlen("accepted "), cw->refuse);
}

/* The outcome to the session (250, 451, 452, or the checks' 550), if it is still there. */
static void commit_finish(struct commit_wait *cw)
{
	struct conn *c = cw->c;
	int result = 0;

	if (cw->refused)
		refuse_drop(cw);
	else
		result = commit_announce(cw->srv, cw->role, cw->qid, cw->accepted, cw->ok, cw->nospace,
		                         c ? "" : " (client gone before the reply)");
	if (c != NULL) {
		c->commit_wait = NULL;
		if (cw->refused)
			smtp_session_commit_refuse(c->sess, cw->refuse);
		else
			smtp_session_commit_done(c->sess, result, cw->qid);
		if (c->shutdown_after_commit)
			smtp_session_shutdown(c->sess);
		c->ops->resume(c);      /* may free c */
	}
	free(cw->accepted);
	free(cw);
}

/* The committer's answer, on the loop. */
static void commit_done(void *arg, const struct commit_outcome *o)
{
	struct commit_wait *cw = arg;

	cw->ok = o->ok;
	cw->nospace = o->nospace;
	commit_finish(cw);
}

/* cw's message to the committer: COMMIT_LATER (commit_done finishes it), or COMMIT_NOW with the
 * outcome in cw. */
static enum commit_when commit(struct commit_wait *cw, int alone)
{
	struct commit_outcome now;
	struct spool_msg *m = cw->m;

	cw->m = NULL;
	if (commit_submit(cw->srv->committer, m, alone, commit_done, cw, &now) == COMMIT_LATER)
		return COMMIT_LATER;
	cw->ok = now.ok;
	cw->nospace = now.nospace;
	return COMMIT_NOW;
}

/* On a worker thread before the message becomes durable, never on the event loop: the DKIM
 * signature (authpool; RSA takes about a millisecond) or port 25's sender checks (checkpool;
 * DNS lookups) in front of it. A signing or checking failure leaves the message as it is,
 * accepted: mail is not lost for a signature or a verdict. */
static void precommit_run(void *job)
{
	struct commit_wait *cw = job;
	char err[300] = "";

	if (cw->dkim != NULL) {
		char *sig = dkim_sign_finish(cw->dkim, err, sizeof(err));
		if (sig == NULL || spool_msg_prepend(cw->m, sig, strlen(sig)) < 0) {
			if (sig != NULL)
				snprintf(err, sizeof(err), "cannot write the signature: %s", strerror(errno));
			log_warnx(cw->qid, "dkim: %s; the message goes unsigned", err);
		}
		free(sig);
		dkim_signer_free(cw->dkim);
		cw->dkim = NULL;
	}
	if (cw->inbound != NULL) {
		char *hdr = NULL, sum[600], *line = NULL;
		cw->refused = sendercheck_run(cw->inbound, &hdr, sum, sizeof(sum), cw->refuse, sizeof(cw->refuse));
		if (!cw->refused && (hdr == NULL || spool_msg_prepend(cw->m, hdr, strlen(hdr)) < 0))
			log_warnx(cw->qid, "sender checks: cannot write Authentication-Results: %s; the message goes on "
			          "without it", hdr ? strerror(errno) : "out of memory");
		if (asprintf(&line, "%s %s", cw->accepted, sum) > 0) {
			free(cw->accepted);
			cw->accepted = line;
		}
		free(hdr);
		sendercheck_free(cw->inbound);
		cw->inbound = NULL;
	}
}

/* Back on the loop: now the commit, as for any message. */
static void precommit_done(void *job, int ran)
{
	struct commit_wait *cw = job;

	if (!ran)
		precommit_run(cw);
	if (cw->refused || commit(cw, 0) == COMMIT_NOW)
		commit_finish(cw);
}

static int cb_data_commit(void *ctx, const struct smtp_tx *tx, char *qid, size_t qidsz)
{
	struct conn *c = ctx;
	struct spool_msg *m = c->msg;
	struct commit_wait *cw;
	char to[1024], line[2048];
	size_t o = 0, size;

	if (c->hold && release_held(c, tx) < 0) {    /* a message that is all header */
		CLOG(log_warn, c, "cannot write queue file");
		spool_msg_abort(m);
		c->msg = NULL;
		dkim_signer_free(c->dkim);
		c->dkim = NULL;
		sendercheck_free(c->inbound);
		c->inbound = NULL;
		return -1;
	}
	/* RFC 8689 4.1: REQUIRETLS tags the message, and makes a TLS-Required field moot. */
	unsigned flags = tx->requiretls ? SPOOL_F_REQUIRETLS : (c->hs.seen & HDR_TLS_OPTIONAL) ? SPOOL_F_TLS_OPTIONAL : 0;
	spool_msg_flags(m, flags);
	size = spool_msg_size(m);
	c->msg = NULL;
	snprintf(qid, qidsz, "%s", spool_msg_qid(m));
	to[0] = '\0';
	for (size_t i = 0; i < tx->nrcpts && o + 4 < sizeof(to); i++)
		o += (size_t)snprintf(to + o, sizeof(to) - o, "%s<%s>", i ? "," : "", tx->rcpts[i].addr);
	snprintf(line, sizeof(line), "accepted session=%s address=%s from=<%s> to=%s nrcpt=%zu size=%zu%s%s%s%s%s%s%s%s",
	         c->id, c->peer_ip, tx->sender, to, tx->nrcpts, size, smtp_session_auth_user(c->sess) ? " user=" : "",
	         smtp_session_auth_user(c->sess) ? smtp_session_auth_user(c->sess) : "",
	         flags & SPOOL_F_REQUIRETLS ? " requiretls=yes" : flags & SPOOL_F_TLS_OPTIONAL ? " tls-required=no" : "",
	         c->dkim ? " dkim=" : "", c->dkim ? dkim_signer_domain(c->dkim) : "",
	         !c->dkim && c->dkim_unsigned[0] ? " dkim=unsigned dkim_reason=\"" : "",
	         !c->dkim ? c->dkim_unsigned : "", !c->dkim && c->dkim_unsigned[0] ? "\"" : "");
	cw = calloc(1, sizeof(*cw));
	if (cw != NULL && (cw->accepted = strdup(line)) != NULL) {
		cw->c = c;
		cw->role = (int)c->role;
		cw->srv = c->srv;
		cw->m = m;
		snprintf(cw->qid, sizeof(cw->qid), "%s", qid);
		if (c->dkim != NULL || c->inbound != NULL) {
			cw->dkim = c->dkim;
			cw->inbound = c->inbound;
			c->dkim = NULL;
			c->inbound = NULL;
			struct workpool *pool = cw->inbound != NULL ? c->srv->checkpool : c->srv->authpool;
			if (pool != NULL && workpool_submit(pool, cw, precommit_run, precommit_done) == 0) {
				c->commit_wait = cw;
				return 1;       /* signed or checked on a worker thread, then committed */
			}
			precommit_run(cw);  /* no pool: here */
			if (cw->refused) {
				refuse_drop(cw);
				snprintf(qid, qidsz, "%s", cw->refuse);
				free(cw->accepted);
				free(cw);
				return -3;      /* the 550 with its reason, in qid */
			}
		}
		if (commit(cw, c->srv->nconns == 1) == COMMIT_LATER) {
			c->commit_wait = cw;
			return 1;       /* the 250 (or 451) comes with smtp_session_commit_done() */
		}
		int result = commit_announce(c->srv, (int)c->role, qid, cw->accepted, cw->ok, cw->nospace, "");
		free(cw->accepted);
		free(cw);
		return data_commit_code(result);
	}
	free(cw);
	dkim_signer_free(c->dkim);      /* no memory for the job: unsigned rather than lost */
	c->dkim = NULL;
	sendercheck_free(c->inbound);
	c->inbound = NULL;
	/* No memory for the job: durable right here, the classic way. */
	struct commit_outcome now;
	commit_submit(NULL, m, 1, NULL, NULL, &now);
	return data_commit_code(commit_announce(c->srv, (int)c->role, qid, line, now.ok, now.nospace, ""));
}

static void cb_data_abort(void *ctx)
{
	struct conn *c = ctx;

	spool_msg_abort(c->msg);
	c->msg = NULL;
	dkim_signer_free(c->dkim);
	c->dkim = NULL;
	sendercheck_free(c->inbound);
	c->inbound = NULL;
	free(c->held);
	c->held = NULL;
	c->held_len = 0;
}

const struct smtp_session_cb policy_session_cb = {
	.reply = conn_reply,
	.mail = cb_mail,
	.rcpt = cb_rcpt,
	.data_begin = cb_data_begin,
	.data_write = cb_data_write,
	.data_commit = cb_data_commit,
	.data_abort = cb_data_abort,
	.auth = cb_auth,
	.scram_creds = cb_scram_creds,
	.auth_outcome = cb_auth_outcome,
	.auth_external = cb_auth_external,
};
