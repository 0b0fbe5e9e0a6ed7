/*
 * committer.h - accepted messages made durable before their 250: group commit through the
 * journal (journal.h), one fdatasync for every message that arrived while the last one ran;
 * delivered messages' done records synced within milliseconds; and the journal's checkpoints,
 * whose slow part (writing the undelivered messages to queue/) runs on a thread of its own
 * beside the commits, so that neither new messages nor done records wait behind it. As in
 * Postfix, where cleanup owns the fsync and smtpd only talks: the session hands its message
 * over with commit_submit() and hears back on its event loop.
 *
 * Owns its threads and the journal's write side (appends, syncs, checkpoints) while it runs;
 * the journal itself is the caller's (journal_open before, journal_close after). A message
 * handed over is the committer's from then on, whatever the outcome.
 */
#ifndef MAILPORT_COMMITTER_H
#define MAILPORT_COMMITTER_H

#include <event2/event.h>

#include "journal.h"
#include "../util/workpool.h"

struct committer;

struct commit_outcome {
	int ok;                 /* durable: answer 250 */
	int nospace;            /* failed for want of space: 452 4.3.1 rather than 451 4.3.0 */
};

/* On the submitting event loop, once, with the outcome. */
typedef void (*commit_done_fn)(void *arg, const struct commit_outcome *o);

/* Starts the committing and checkpointing threads on j, and routes the spool's done records
 * and state lines to j. NULL (logged) when a thread cannot start. */
struct committer *committer_start(struct spool *sp, struct journal *j);
/* Commits in flight finish (their done callbacks run), the threads stop; NULL ok. The
 * journal is left to journal_close(), which writes its last checkpoint. */
void committer_stop(struct committer *cm);

enum commit_when { COMMIT_LATER, COMMIT_NOW };
/* Makes m durable (spool_msg_finish, then the journal; a message too large for it, or with
 * the journal full, the classic way: fsync, rename, fsync(dir)). Every event loop submits
 * with its own home, and its messages join the same group commits. COMMIT_LATER: done(arg, o)
 * comes on home's loop. COMMIT_NOW: *now holds the outcome and done is not called: when alone
 * (the only session: no one else waits on the loop, and the hop to the committer's thread and
 * back is a good part of a lone client's wait) and the committer is idle it commits right
 * here; with cm NULL or no memory for the job, the classic way, here. */
enum commit_when commit_submit(struct committer *cm, struct workpool_home *home, struct spool_msg *m, int alone,
                               commit_done_fn done, void *arg, struct commit_outcome *now);

#endif
