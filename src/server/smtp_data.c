/*
 * smtp_data.c - the session's answers during DATA (hooks.h): where the octets go (a queue file
 * in the spool, with the trace field and a submission's missing Date and Message-ID), the
 * DKIM signature and port 25's sender checks on worker threads, then the message to the
 * committer (queue/committer.h) and its outcome back to the session as 250, 451, 452 or the
 * checks' 550. Not I/O (conn.c) and not durability (the committer's).
 */
#include "hooks.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/bufferevent_ssl.h>

#include "../deliver/runner.h"
#include "../msg/authres.h"
#include "../queue/committer.h"
#include "../tls/tls.h"
#include "../util/log.h"
#include "../util/metrics.h"
#include "sendercheck.h"
#include "server_int.h"

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

int hook_data_begin(void *ctx, const struct smtp_tx *tx)
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

int hook_data_write(void *ctx, const char *p, size_t n)
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
	if (commit_submit(cw->srv->committer, cw->srv->home, m, alone, commit_done, cw, &now) == COMMIT_LATER)
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

/* The message's signer and sender checks, not run. */
static void drop_checks(struct conn *c)
{
	dkim_signer_free(c->dkim);
	c->dkim = NULL;
	sendercheck_free(c->inbound);
	c->inbound = NULL;
}

int hook_data_commit(void *ctx, const struct smtp_tx *tx, char *qid, size_t qidsz)
{
	struct conn *c = ctx;
	struct spool_msg *m = c->msg;
	struct commit_wait *cw;
	char to[1024], line[2048];
	size_t o = 0, size;

	if (c->hold && release_held(c, tx) < 0) {    /* a message that is all header */
		CLOG(log_warn, c, "cannot write queue file");
		hook_data_abort(c);
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
	drop_checks(c);                 /* no memory for the job: unsigned rather than lost */
	/* No memory for the job: durable right here, the classic way. */
	struct commit_outcome now;
	commit_submit(NULL, NULL, m, 1, NULL, NULL, &now);
	return data_commit_code(commit_announce(c->srv, (int)c->role, qid, line, now.ok, now.nospace, ""));
}

void hook_data_abort(void *ctx)
{
	struct conn *c = ctx;

	spool_msg_abort(c->msg);
	c->msg = NULL;
	drop_checks(c);
	free(c->held);
	c->held = NULL;
	c->held_len = 0;
}
