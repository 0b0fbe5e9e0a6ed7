/*
 * smtp_envelope.c - the session's answers to MAIL and RCPT (hooks.h): who may receive (local
 * mailboxes through the directory; anyone once authenticated), who may send as whom, the
 * per-user message rate (local and shared), and room in the spool. Not I/O (conn.c) and not
 * the protocol (smtp/session.c).
 */
#include "hooks.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>

#include "../util/duration.h"
#include "../util/log.h"
#include "../util/metrics.h"
#include "../util/windowcount.h"
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

void hook_rcpt(void *ctx, const struct smtp_tx *tx, const char *addr, struct smtp_verdict *v)
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
int spool_has_room(const struct conn *c, size_t need)
{
	const struct config *cfg = c->rc->cfg;
	struct statvfs vfs;

	if (cfg->min_free_space == 0 || statvfs(cfg->spool, &vfs) < 0)
		return 1;
	return (unsigned long long)vfs.f_bavail * vfs.f_frsize >=
	       (unsigned long long)cfg->min_free_space + need;
}

/* 450 4.7.1, as Postfix's smtpd_client_message_rate_limit says it: the client tries again
 * later, a person sees when. One buffer for every connection of a loop (one per thread): the
 * session formats its reply from a verdict before its loop runs anything else, so no two are
 * ever outstanding. */
static const char *rate_words(const struct conn *c, long long left)
{
	static _Thread_local char words[200];
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

void hook_mail(void *ctx, const struct smtp_tx *tx, struct smtp_verdict *v)
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
