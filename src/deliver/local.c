/*
 * local.c - a Maildir copy for one recipient, exactly once across crashes (runner.h says how):
 * the copy in tmp/ by the delivery agent, the intent recorded, the move into new/, done.
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

#include "../auth/users.h"
#include "../queue/spool.h"
#include "../util/duration.h"
#include "../util/errlist.h"
#include "../util/log.h"
#include "agent.h"
#include "maildir.h"
#include "mx.h"
#include "runner_int.h"

/* ---- local delivery -------------------------------------------------------------------- */

/* Record recipient i as done, unless it is the message's last open recipient: then the
 * caller removes the whole message next, and a crash before that removal is safe without the
 * record (a Maildir copy is found again through its intent record; a discard is repeated). */
static int mark_done(struct spool *sp, struct spool_entry *e, size_t i, int last)
{
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
	char md[PATH_MAX], name[512], tmp[PATH_MAX], newp[PATH_MAX], err[PATH_MAX + 128];
	const char *qid = e->qid;

	if (r->intent != NULL) {
		/* Recovery: step 2 happened before the crash; no tmp file means step 3 did too. */
		if (agent_publish(st->agent, r->intent, newp, sizeof(newp), err, sizeof(err)) < 0) {
			log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
			return 0;
		}
		if (mark_done(sp, e, i, last) < 0) {
			log_warn(qid, "cannot record delivery to=<%s>", r->target);
			return 0;
		}
		log_info(qid, "delivered to=<%s> relay=maildir recovered=yes", r->target);
		return 1;
	}
	if (strcmp(st->maildir, "discard:") == 0) {
		/* Postfix's discard transport: the message was durable, the recipient is done. */
		if (mark_done(sp, e, i, last) < 0) {
			log_warn(qid, "cannot record delivery to=<%s>", r->target);
			return 0;
		}
		log_info(qid, "delivered to=<%s> relay=discard size=%zu", r->target, e->body_len);
		return 1;
	}
	if (maildir_expand(st->maildir, r->target, md, sizeof(md)) < 0) {
		log_warnx(qid, "delivery deferred to=<%s> reason=\"maildir pattern %s gives no valid path\"",
		          r->target, st->maildir);
		return 0;
	}
	maildir_name(name, sizeof(name), e->arrival, e->qid, i, st->hostname);
	if (agent_write(st->agent, st->maildir, r->target, name, e->fd, e->body_off, e->body_len, e->sender,
	                tmp, sizeof(tmp), err, sizeof(err)) < 0) {
		log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
		return 0;
	}
	if (spool_entry_intent(sp, e, i, tmp) < 0) {
		/* The tmp/ copy stays: the retry writes the same name over it. */
		log_warn(qid, "delivery deferred to=<%s>: cannot record intent", r->target);
		return 0;
	}
	if (agent_publish(st->agent, tmp, newp, sizeof(newp), err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "%s vanished before it reached new/", tmp);
		log_warnx(qid, "delivery deferred to=<%s> reason=\"%s\"", r->target, err);
		return 0;
	}
	if (mark_done(sp, e, i, last) < 0) {
		log_warn(qid, "delivered to=<%s> but cannot record it yet", r->target);
		return 0;
	}
	log_info(qid, "delivered to=<%s> relay=maildir size=%zu path=%s", r->target, e->body_len, newp);
	return 1;
}
