/*
 * admin.c - queue listing and actions for the operator. Not access control (the control
 * socket's permissions and peer check are server/control.c's) and not delivery.
 */
#include "admin.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/duration.h"
#include "spool.h"

void admin_printf(struct admin_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = o->cap - o->len;
		va_start(ap, fmt);
		n = vsnprintf(o->buf ? o->buf + o->len : NULL, o->buf ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (o->buf && (size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		size_t ncap = (o->cap ? o->cap * 2 : 4096) + (size_t)n;
		char *nb = realloc(o->buf, ncap);
		if (nb == NULL)
			return;
		o->buf = nb;
		o->cap = ncap;
	}
}

/* A recipient still open after a failed attempt is deferred: when it is tried next and what
 * the last attempt met (the state log keeps one error per message: the last one). */
static const char *rcpt_state(const struct spool_entry *e, const struct spool_rcpt *r, long long now, char *buf,
                              size_t len)
{
	char when[80] = "now", in[32];

	if (r->done)
		return "delivered";
	if (r->fail_code) {
		snprintf(buf, len, "failed%s: %d %s", r->bounced ? " (bounced)" : "", r->fail_code,
		         r->fail_text ? r->fail_text : "");
		return buf;
	}
	if (r->local || e->attempts == 0)
		return r->local ? "queued (local)" : "queued";
	if (e->next_attempt > now) {
		time_t t = (time_t)e->next_attempt;
		struct tm tm;
		gmtime_r(&t, &tm);
		duration_words(e->next_attempt - now, in, sizeof(in));
		snprintf(when, sizeof(when), "in %s", in);
		strftime(in, sizeof(in), " (%H:%M:%S UTC)", &tm);
		strncat(when, in, sizeof(when) - strlen(when) - 1);
	}
	snprintf(buf, len, "deferred after %u attempt%s, next attempt %s: %s", e->attempts, e->attempts == 1 ? "" : "s",
	         when, e->last_error && e->last_error[0] ? e->last_error : "no answer");
	return buf;
}

static void describe(const struct spool_entry *e, struct admin_out *o)
{
	long long now = (long long)time(NULL), age = now - e->arrival;
	char state[1200];

	admin_printf(o, "%s  %5lldm  %8zu  <%s>%s\n", e->qid, age / 60, e->body_len, e->sender,
	             e->flags & SPOOL_F_REQUIRETLS ? "  REQUIRETLS (only over authenticated TLS)" :
	             e->flags & SPOOL_F_TLS_OPTIONAL ? "  TLS-Required: No" : "");
	for (size_t i = 0; i < e->nrcpts; i++)
		admin_printf(o, "    <%s>  %s\n", e->rcpts[i].target, rcpt_state(e, &e->rcpts[i], now, state, sizeof(state)));
}

struct list_ctx {
	struct spool *sp;
	struct admin_out *o;
	size_t n;
};

static void list_cb(void *arg, const char *qid)
{
	struct list_ctx *lc = arg;
	struct spool_entry *e = spool_entry_peek(lc->sp, qid);

	if (e == NULL)
		return;                 /* delivered meanwhile, or quarantined */
	describe(e, lc->o);
	lc->n++;
	spool_entry_free(e);
}

void admin_list(struct spool *sp, struct admin_out *o)
{
	struct list_ctx lc = { sp, o, 0 };

	admin_printf(o, "%-18s  %6s  %8s  %s\n", "ID", "AGE", "SIZE", "SENDER / RECIPIENTS");
	spool_scan(sp, list_cb, &lc);
	admin_printf(o, "%zu message%s in the queue\n", lc.n, lc.n == 1 ? "" : "s");
}

static int valid_qid(const char *qid)
{
	size_t n = strlen(qid);

	return n > 0 && n < SPOOL_QID_MAX && strspn(qid, "0123456789ABCDEF") == n;
}

static struct spool_entry *load(struct spool *sp, const char *qid, struct admin_out *o, int change)
{
	struct spool_entry *e = NULL;

	errno = ENOENT;
	if (valid_qid(qid))
		e = change ? spool_entry_load(sp, qid) : spool_entry_peek(sp, qid);
	if (e == NULL && errno == EBUSY)
		admin_printf(o, "error: %s is being delivered right now; try again\n", qid);
	else if (e == NULL)
		admin_printf(o, "error: no message %s in the queue\n", qid);
	return e;
}

int admin_show(struct spool *sp, const char *qid, struct admin_out *o)
{
	struct spool_entry *e = load(sp, qid, o, 0);
	char head[8192];
	ssize_t n;

	if (e == NULL)
		return -1;
	describe(e, o);
	n = pread(e->fd, head, e->body_len < sizeof(head) ? e->body_len : sizeof(head), e->body_off);
	if (n > 0) {
		char *end = memmem(head, (size_t)n, "\r\n\r\n", 4);
		admin_printf(o, "\n%.*s\n", (int)(end ? end - head : n), head);
	}
	spool_entry_free(e);
	return 0;
}

int admin_delete(struct spool *sp, const char *qid, struct admin_out *o)
{
	struct spool_entry *e = load(sp, qid, o, 1);
	int r;

	if (e == NULL)
		return -1;
	/* "deleted" must stay true after a crash: the removal waits until the journal knows. */
	e->unrecorded = 1;
	r = spool_entry_remove(sp, e);
	admin_printf(o, r == 0 ? "%s deleted\n" : "error: cannot delete %s\n", qid);
	spool_entry_free(e);
	return r;
}

int admin_bounce(struct spool *sp, const char *qid, struct admin_out *o)
{
	struct spool_entry *e = load(sp, qid, o, 1);
	size_t n = 0;

	if (e == NULL)
		return -1;
	for (size_t i = 0; i < e->nrcpts; i++)
		if (!e->rcpts[i].done && e->rcpts[i].fail_code == 0) {
			if (spool_entry_failed(sp, e, i, 550, "5.0.0 returned to the sender by the postmaster") == 0)
				n++;
		}
	admin_printf(o, "%s: %zu recipient%s will be bounced\n", qid, n, n == 1 ? "" : "s");
	spool_entry_free(e);
	return 0;
}
