/*
 * local.c - one local recipient's copy, exactly once across crashes (runner.h says how): the
 * copy staged by its target (target.h; a Maildir's tmp/), the intent recorded, the copy
 * published (into new/), done. Which target, and how it writes, is target.c's.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../queue/spool.h"
#include "../util/log.h"
#include "runner_int.h"
#include "target.h"

/* ---- local delivery -------------------------------------------------------------------- */

/* Record recipient i as done, unless it is the message's last open recipient: then the
 * caller removes the whole message next, and a crash before that removal is safe without the
 * record (a Maildir copy is found again through its intent record; a discard is repeated). */
static int mark_done(struct spool *sp, struct spool_entry *e, size_t i, int last)
{
	spool_entry_delivered(e);
	if (last) {
		e->rcpts[i].done = 1;
		return 0;
	}
	return spool_entry_done(sp, e, i);
}

/* Returns 1 when the recipient is now done, 0 when it stays pending. last: see mark_done. */
int runner_deliver_local(struct spool *sp, const struct settings *st, struct spool_entry *e, size_t i, int last)
{
	struct spool_rcpt *r = &e->rcpts[i];
	char handle[PATH_MAX], where[PATH_MAX], err[PATH_MAX + 128];
	const char *qid = e->qid, *relay = target_name(st->target);

	if (r->intent != NULL) {
		/* Recovery: the copy was staged before the crash; "already" means it was published too. */
		if (target_publish(st->target, r->intent, where, sizeof(where), err, sizeof(err)) < 0) {
			log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
			return 0;
		}
		if (mark_done(sp, e, i, last) < 0) {
			log_warn(qid, "cannot record delivery to=<%s>", r->target);
			return 0;
		}
		log_info(qid, "delivered to=<%s> relay=%s recovered=yes", r->target, relay);
		return 1;
	}
	struct target_copy copy = { r->target, e->qid, i, e->arrival, e->fd, e->body_off, e->body_len, e->sender };
	int sr = target_stage(st->target, &copy, handle, sizeof(handle), err, sizeof(err));
	if (sr == TARGET_REFUSED) {
		/* Refused for good (LMTP's 550 5.1.1 user unknown): no longer open, the sender is told */
		int code = atoi(err);
		const char *text = strchr(err, ' ') ? strchr(err, ' ') + 1 : err;
		if (spool_entry_failed(sp, e, i, code >= 500 && code <= 599 ? code : 550, text) < 0) {
			log_warn(qid, "cannot record failure to=<%s>", r->target);
			return 0;
		}
		log_info(qid, "bounced to=<%s> relay=%s reason=\"%s\"", r->target, relay, err);
		return 1;
	}
	if (sr < 0) {
		log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
		return 0;
	}
	if (handle[0] == '\0') {
		/* Delivered in one step (discard): nothing staged, nothing to publish. */
		if (mark_done(sp, e, i, last) < 0) {
			log_warn(qid, "cannot record delivery to=<%s>", r->target);
			return 0;
		}
		log_info(qid, "delivered to=<%s> relay=%s size=%zu", r->target, relay, e->body_len);
		return 1;
	}
	if (spool_entry_intent(sp, e, i, handle) < 0) {
		/* The staged copy stays: the retry stages the same name over it. */
		log_warn(qid, "delivery deferred to=<%s>: cannot record intent", r->target);
		return 0;
	}
	if (target_publish(st->target, handle, where, sizeof(where), err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "%s vanished before it reached new/", handle);
		log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
		return 0;
	}
	if (mark_done(sp, e, i, last) < 0) {
		log_warn(qid, "delivered to=<%s> but cannot record it yet", r->target);
		return 0;
	}
	log_info(qid, "delivered to=<%s> relay=%s size=%zu path=%s", r->target, relay, e->body_len, where);
	return 1;
}
