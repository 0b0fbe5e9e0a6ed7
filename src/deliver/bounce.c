/*
 * bounce.c - bounces (RFC 3464 multipart/report) for recipients that failed for good, queued
 * as messages from <> so they cannot loop.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../auth/directory.h"
#include "../msg/dkimsign.h"
#include "../queue/spool.h"
#include "../util/duration.h"
#include "../util/errlist.h"
#include "../util/log.h"
#include "agent.h"
#include "maildir.h"
#include "../route/mx.h"
#include "runner_int.h"

/* ---- bounces (RFC 3464) ---------------------------------------------------------------- */

/* Postfix's bounce_size_limit: a larger original comes back as its header only (RFC 3464 2.1
 * lets the third part be text/rfc822-headers), and the text says so. */
#define BOUNCE_RETURN_MAX 50000
#define BOUNCE_RETURN_TEXT "50,000"

static int is_local_domain(const struct settings *st, const char *addr)
{
	const char *at = strrchr(addr, '@');

	for (size_t i = 0; at && i < st->nlocal_domains; i++)
		if (strcasecmp(st->local_domains[i], at + 1) == 0)
			return 1;
	return 0;
}

/* The bounce being written, and its DKIM signer when the host's domain has a key. */
struct bmsg {
	struct spool_msg *m;
	struct dkim_signer *dkim;
};

static int bwrite(struct bmsg *b, const char *p, size_t n)
{
	if (b->dkim != NULL && dkim_signer_feed(b->dkim, p, n) < 0) {
		dkim_signer_free(b->dkim);
		b->dkim = NULL;
	}
	return spool_msg_write(b->m, p, n);
}

static int put(struct bmsg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(struct bmsg *m, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	return bwrite(m, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* The original's header block (up to the empty line, at most 64 KiB), for text/rfc822-headers. */
static int copy_headers(struct bmsg *m, const struct spool_entry *e)
{
	char buf[64 * 1024];
	size_t want = e->body_len < sizeof(buf) ? e->body_len : sizeof(buf);
	ssize_t n = want ? pread(e->fd, buf, want, e->body_off) : 0;
	char *end;

	if (n < 0)
		return -1;
	end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
	size_t len = end ? (size_t)(end - buf) + 2 : (size_t)n;
	if (bwrite(m, buf, len) < 0)
		return -1;
	return len >= 2 && buf[len - 2] == '\r' ? 0 : bwrite(m, "\r\n", 2);
}

/* Of a REQUIRETLS original, only the fields that let its sender tell which message it was:
 * the bounce goes from <> without REQUIRETLS (RFC 8689 4.2.1 does not hold it to it), so it
 * carries none of the content and none of the other header fields (RFC 8689 5). */
static int copy_redacted(struct bmsg *m, const struct spool_entry *e)
{
	char buf[64 * 1024];
	size_t want = e->body_len < sizeof(buf) ? e->body_len : sizeof(buf);
	ssize_t n = want ? pread(e->fd, buf, want, e->body_off) : 0;
	int keep = 0;

	if (n <= 0)
		return n < 0 ? -1 : 0;
	char *end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
	size_t len = end ? (size_t)(end - buf) + 2 : (size_t)n;
	for (size_t at = 0; at < len;) {
		char *nl = memchr(buf + at, '\n', len - at);
		size_t ll = nl ? (size_t)(nl - (buf + at)) + 1 : len - at;
		if (buf[at] != ' ' && buf[at] != '\t')
			keep = strncasecmp(buf + at, "Message-ID:", 11) == 0 || strncasecmp(buf + at, "Date:", 5) == 0;
		if (keep && bwrite(m, buf + at, ll) < 0)
			return -1;
		at += ll;
	}
	return 0;
}

/* The whole original (at most BOUNCE_RETURN_MAX octets), for message/rfc822. */
static int copy_message(struct bmsg *m, const struct spool_entry *e)
{
	char buf[16384];
	int crlf_end = 0;

	for (size_t off = 0; off < e->body_len;) {
		size_t want = e->body_len - off < sizeof(buf) ? e->body_len - off : sizeof(buf);
		ssize_t n = pread(e->fd, buf, want, e->body_off + (off_t)off);
		if (n <= 0 || bwrite(m, buf, (size_t)n) < 0)
			return -1;
		off += (size_t)n;
		crlf_end = n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n';
	}
	return crlf_end ? 0 : bwrite(m, "\r\n", 2);
}

/* The header and the start of the text part, up to "What happened:". b: the bounce's queue id. */
static int bounce_head(struct bmsg *bp, const struct settings *st, const struct spool_entry *e, const char *b,
                       const char *date, int whole, int redact)
{
	if (put(bp, "Received: by %s (mailport) id %s;\r\n\t%s\r\n", st->hostname, b, date) < 0 ||
	    put(bp, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\nTo: <%s>\r\n", st->hostname, e->sender) < 0 ||
	    put(bp, "Subject: Undelivered Mail Returned to Sender\r\nDate: %s\r\n", date) < 0 ||
	    put(bp, "Message-ID: <%s.bounce@%s>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n", b,
	        st->hostname) < 0 ||
	    put(bp, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s/%s\"\r\n\r\n",
	        b, st->hostname) < 0 ||
	    put(bp, "This is a MIME-encapsulated message.\r\n\r\n--%s/%s\r\n", b, st->hostname) < 0 ||
	    put(bp, "Content-Type: text/plain; charset=utf-8\r\n\r\nThis is the mail system at %s.\r\n\r\n"
	        "Your message could not be delivered to one or more recipients. %s\r\n\r\n"
	        "What happened:\r\n\r\n", st->hostname, whole ? "It is attached below." : redact ?
	        "It was sent with REQUIRETLS, so only its Date and Message-ID are returned (RFC 8689): this "
	        "notice is not sent under REQUIRETLS." :
	        "Its header is attached below (the whole message is larger than the " BOUNCE_RETURN_TEXT
	        " octets this server returns).") < 0)
		return -1;
	for (size_t i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i].fail_code && !e->rcpts[i].bounced &&
		    put(bp, "<%s>: %d %s\r\n", e->rcpts[i].orig, e->rcpts[i].fail_code,
		        e->rcpts[i].fail_text ? e->rcpts[i].fail_text : "") < 0)
			return -1;
	return 0;
}

/* The message/delivery-status part (RFC 3464): one block per failed recipient not yet bounced. */
static int bounce_dsn(struct bmsg *bp, const struct settings *st, const struct spool_entry *e, const char *b,
                      const char *arrival)
{
	if (put(bp, "\r\n--%s/%s\r\nContent-Type: message/delivery-status\r\n\r\n", b, st->hostname) < 0 ||
	    put(bp, "Reporting-MTA: dns; %s\r\nX-Mailport-Queue-ID: %s\r\nArrival-Date: %s\r\n", st->hostname,
	        e->qid, arrival) < 0)
		return -1;
	for (size_t i = 0; i < e->nrcpts; i++) {
		const struct spool_rcpt *r = &e->rcpts[i];
		char status[16] = "5.0.0";
		if (!r->fail_code || r->bounced)
			continue;
		/* The text starts with the enhanced code when the server gave one. */
		if (r->fail_text && strlen(r->fail_text) >= 5 && (r->fail_text[0] == '4' || r->fail_text[0] == '5') &&
		    r->fail_text[1] == '.')
			sscanf(r->fail_text, "%15s", status);
		if (status[0] == '4')
			status[0] = '5';        /* expired: a temporary code became final */
		if (put(bp, "\r\nFinal-Recipient: rfc822; %s\r\nOriginal-Recipient: rfc822; %s\r\nAction: failed\r\n"
		        "Status: %s\r\nDiagnostic-Code: smtp; %d %s\r\n", r->target, r->orig, status, r->fail_code,
		        r->fail_text ? r->fail_text : "") < 0)
			return -1;
	}
	return 0;
}

/* Signed like submitted mail, as the nearest parent of the host name with a key: the signer, or
 * NULL (said in the log when keys are configured: it may fail DMARC at the sender's). */
static struct dkim_signer *bounce_signer(const struct settings *st, const struct spool_entry *e)
{
	struct dkim_signer *d = NULL;
	const char *dd = dkim_keys_domain_of(st->dkim, st->hostname);
	char derr[300];

	derr[0] = '\0';
	if (dd != NULL)
		d = dkim_signer_new(st->dkim, dd, e->qid, derr, sizeof(derr));
	/* With keys configured, an unsigned bounce is said (it may fail DMARC at the sender's). */
	if (d == NULL && dkim_keys_active(st->dkim) > 0)
		log_info(e->qid, "dkim: the bounce goes unsigned: %s", derr[0] ? derr : "no key for the host name or a "
		         "parent domain of it");
	return d;
}

/* The signature in front of the bounce; a failure leaves it unsigned, said in the log. */
static void bounce_sign(struct bmsg *bm, const struct spool_entry *e)
{
	char derr[300] = "";
	char *sig = dkim_sign_finish(bm->dkim, derr, sizeof(derr));

	if (sig == NULL || spool_msg_prepend(bm->m, sig, strlen(sig)) < 0)
		log_warnx(e->qid, "dkim: the bounce goes unsigned: %s", sig ? strerror(errno) : derr);
	free(sig);
	dkim_signer_free(bm->dkim);
}

int runner_make_bounce(struct spool *sp, const struct settings *st, const struct spool_entry *e, char *qid_out)
{
	struct spool_msg *m = spool_msg_begin(sp, (long long)time(NULL));
	enum dir_result found = DIR_NONE;
	char date[64], arrival[64], target[SMTP_ADDR_MAX + 1];
	time_t now = time(NULL), arr = (time_t)e->arrival;
	struct tm tm;
	int local = is_local_domain(st, e->sender), redact = (e->flags & SPOOL_F_REQUIRETLS) != 0;
	int whole = !redact && e->body_len <= BOUNCE_RETURN_MAX;

	struct bmsg bm = { m, NULL }, *bp = &bm;

	if (m == NULL)
		return -1;
	snprintf(qid_out, SPOOL_QID_MAX, "%s", spool_msg_qid(m));
	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	localtime_r(&arr, &tm);
	strftime(arrival, sizeof(arrival), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (local && st->dir != NULL)
		found = directory_mailbox(st->dir, e->sender, st->delimiter[0], target, sizeof(target));
	if (found != DIR_FOUND)
		snprintf(target, sizeof(target), "%s", e->sender);
	if (local && found == DIR_TEMPFAIL) {
		spool_msg_abort(m);
		log_warnx(e->qid, "bounce deferred: cannot look up the local sender <%s>", e->sender);
		return -1;
	}
	if (local && found == DIR_NONE) {
		spool_msg_abort(m);
		log_warnx(e->qid, "no bounce: the local sender <%s> has no mailbox", e->sender);
		return 1;
	}
	if (spool_msg_sender(m, "") < 0 || spool_msg_rcpt(m, target, e->sender, local) < 0)
		goto fail;
	bm.dkim = bounce_signer(st, e);
	const char *b = spool_msg_qid(m);
	if (bounce_head(bp, st, e, b, date, whole, redact) < 0 || bounce_dsn(bp, st, e, b, arrival) < 0)
		goto fail;
	if (put(bp, "\r\n--%s/%s\r\nContent-Type: %s\r\n\r\n", b, st->hostname,
	        whole ? "message/rfc822" : "text/rfc822-headers") < 0 ||
	    (whole ? copy_message(bp, e) : redact ? copy_redacted(bp, e) : copy_headers(bp, e)) < 0 || put(bp, "\r\n--%s/%s--\r\n", b, st->hostname) < 0)
		goto fail;
	if (bm.dkim != NULL)
		bounce_sign(&bm, e);
	return spool_msg_commit(m) < 0 ? -1 : 0;
fail:
	dkim_signer_free(bm.dkim);
	spool_msg_abort(m);
	return -1;
}
