/*
 * journal.h - group commit for accepted messages: the durable point before 250 is one append
 * to a preallocated journal file plus one fdatasync per batch of messages, instead of
 * fsync(file) + rename + fsync(dir) per message, and a message delivered soon after needs no
 * queue file at all.
 *
 * Layout: spool/journal (preallocated, reused from offset 0 in each generation) and
 * spool/journal.gen (a second copy of the current generation, with its CRC). A record: a
 * 64-octet header (magic, generation, payload length, CRC-32 of the payload, queue id, the
 * batch (fdatasync) it rode on, the generation's random tag, CRC-32 of the header) and its
 * payload, padded to 512. "MPJG": a generation begins (at offset 0, written by the checkpoint
 * that starts it: the journal says which generation is current even without journal.gen).
 * "MPJ1": a message, the payload its queue file's exact bytes. "MPJD": messages delivered
 * since, the payload their queue ids in 32-octet slots. "MPJS": a state line (a Maildir
 * intent) of a message still in memory. Only whole records of the current generation count.
 * A bad one with nothing whole after it is the torn last batch (never acknowledged); one
 * with whole records after it is damage: those are still found (a search at every 512
 * octets for a header with the generation's tag), the loss is logged, and the file is copied
 * to corrupt/ before the journal is reused.
 *
 * Life of a message: received in memory (spool.h), journal_append() for every message of a
 * batch, one journal_sync(), the 250s, and the runner is woken: it loads the message from
 * the spool's memory table and delivers it. Its removal adds it to the done list, written by
 * the next journal_sync(). journal_checkpoint() writes whatever the table still holds into
 * queue/ (syncfs, renames, syncfs) and starts the next generation: the records are forgotten.
 * A crash replays the records of the current generation that have no done record, so an
 * accepted message is never lost, and one delivered is not delivered again unless the crash
 * came between its delivery and the next sync (a window of milliseconds; a remote delivery
 * waits for that sync before it counts as finished).
 *
 * journal_open() replays what the last run left into the spool's memory table (nothing is
 * written: a full disk does not stop a start; a message queue/ already holds identically
 * keeps its file and state log there) and continues that generation until the first
 * checkpoint; call it after spool_open() and before anything reads the queue. Appends, syncs and checkpoints come from one thread;
 * journal_done() and journal_done_wait() from any. Errors: -1 and errno; a failed append or
 * sync means the batch must be answered 451.
 */
#ifndef MAILPORT_JOURNAL_H
#define MAILPORT_JOURNAL_H

#include <stddef.h>

#include "spool.h"

#define JOURNAL_MAX_MESSAGE SPOOL_MEM_MAX     /* larger messages take the classic path */

struct journal;

struct journal *journal_open(struct spool *sp, char *err, size_t errlen);
/* Checkpoints what is left and closes. */
void journal_close(struct journal *j);

/* Append m (finished with spool_msg_finish) and take it: 1 = it is not in memory, too large,
 * or the journal is full (m untouched: commit it the classic way); 0 = appended, m now in the
 * spool's memory table; -1 = failed (m freed). */
int journal_append(struct journal *j, struct spool_msg *m);
/* Make every append and every done record so far durable. */
int journal_sync(struct journal *j);
/* Messages appended in this generation, and the journal's length. */
size_t journal_pending(const struct journal *j);
off_t journal_bytes(const struct journal *j);
/* Write what the memory table holds into queue/, durably, and forget every record. */
int journal_checkpoint(struct journal *j);

/* The spool's done hooks (spool_mem_on_done): record that qid was delivered, return a ticket;
 * wait until that record is durable (kick(arg) first, so that the committing thread syncs
 * soon even when no message arrives). Done records pending; threads waiting for them. */
unsigned long journal_done(struct journal *j, const char *qid, unsigned gen);
/* The same for a state line of qid (spool_note_fn). */
unsigned long journal_note(struct journal *j, const char *qid, unsigned gen, const char *line, size_t len);
void journal_done_wait(struct journal *j, unsigned long ticket);
int journal_done_pending(struct journal *j);
int journal_done_waiting(struct journal *j);
void journal_on_done(struct journal *j, void (*kick)(void *arg), void *arg);

#endif
