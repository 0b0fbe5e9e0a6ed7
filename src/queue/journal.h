/*
 * journal.h - group commit for accepted messages: the durable point before 250 becomes one
 * append to a preallocated journal file plus one fdatasync per batch of messages, instead of
 * fsync(file) + rename + fsync(dir) per message. The queue files themselves still go through
 * write-temp, sync, rename, sync: in batches, in the background (journal_checkpoint).
 *
 * Layout: spool/journal (preallocated, reused from offset 0 in each generation) and
 * spool/journal.gen (the current generation). A record: a 64-octet header (magic, generation,
 * payload length, CRC-32 of the payload, queue id) and the queue file's exact bytes, padded to
 * 512. Only records of the current generation with a good CRC count; replay stops at the
 * first that is not.
 *
 * Life of a message: journal_append() (its tmp/ file is complete, not synced) for every
 * message of a batch, one journal_sync(), then the 250s. Later journal_checkpoint(): syncfs,
 * rename each tmp/ file into queue/, syncfs, next generation (the records are forgotten),
 * then wake(qid) for each: only now may it be delivered, so a crash can never replay a
 * message that was already delivered and removed.
 *
 * journal_open() replays what the last run left (each record restored into queue/ durably,
 * unless an identical file is there) and starts a new generation; call it after spool_open()
 * and before anything reads the queue. One thread uses a journal at a time. Errors: -1 and
 * errno; a failed append or sync means the batch must be answered 451.
 */
#ifndef MAILPORT_JOURNAL_H
#define MAILPORT_JOURNAL_H

#include <stddef.h>

#include "spool.h"

#define JOURNAL_MAX_MESSAGE (1024 * 1024)      /* larger messages take the classic path */

struct journal;

struct journal *journal_open(struct spool *sp, char *err, size_t errlen);
/* Checkpoints what is pending (wake is not called: nothing may deliver any more), closes. */
void journal_close(struct journal *j);

/* Append m's queue file (m must be finished with spool_msg_finish) and take m: it is
 * released in every case. 1 = the message is too large for the journal (m untouched, commit
 * it the classic way); 0 = appended; -1 = failed (m freed, its tmp/ file removed). */
int journal_append(struct journal *j, struct spool_msg *m);
/* Make every append so far durable. */
int journal_sync(struct journal *j);
/* Messages appended since the last checkpoint. */
size_t journal_pending(const struct journal *j);
/* Publish the pending messages into queue/ durably, forget their records, wake(arg, qid). */
int journal_checkpoint(struct journal *j, void (*wake)(void *arg, const char *qid), void *arg);

#endif
