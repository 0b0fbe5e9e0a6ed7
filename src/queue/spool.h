/*
 * spool.h - the durable queue on disk.
 *
 * Layout under the spool directory (one file system; rename is the commit):
 *   lock            flock()ed by the one server that owns the spool
 *   tmp/QID         a message being received (when too large for memory, below); never
 *                   acknowledged, deleted at start
 *   queue/B/QID     a committed message (B = last hex digit of QID: 16 buckets)
 *   queue/B/QID.st  its delivery state log: appended lines, each made durable
 *   corrupt/QID     a message file that failed validation, kept for a human
 *
 * Message file: "MAILPORT-QUEUE 1\n" then records "<T> <len>\n<payload>\n" with T in
 * T (arrival, epoch seconds) S (sender) R (recipient target) O (its original address)
 * L (1 if delivered locally, 0 if relayed) M (message) P (after M: how the message must
 * travel, words: REQUIRETLS (RFC 8689), TLS-OPTIONAL (it said "TLS-Required: No"); absent when
 * neither) K (CRC-32 of every octet before this
 * record, 8 hex digits: damage at rest is caught before delivery, and the file goes to
 * corrupt/) E (end, length 0). E is required and must be last: a torn or truncated file never
 * validates.
 *
 * State log lines: "I <n> <path>\n" (intent: recipient n's copy is complete at path, a
 * Maildir tmp/ file), "D <n>\n" (recipient n is done), "F <n> <code> <esc> <text>\n"
 * (recipient n failed for good), "R <next> <attempts> <text>\n" (an attempt failed
 * temporarily; try again at epoch second next), "B <n>\n" (recipient n's failure is in a
 * queued bounce). See deliver/runner.c for why this makes redelivery after a crash detectable.
 * A log begins with "V 1\n" (skipped by its reader), written with its message: it already
 * holds a block, so the lines a delivery needs fit even on a full file system.
 *
 * All functions return 0 / a pointer on success and -1 / NULL with errno set on failure.
 * Not thread-safe per object: one spool_msg per session, one spool_entry per worker.
 */
#ifndef MAILPORT_SPOOL_H
#define MAILPORT_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPOOL_QID_MAX 32

struct spool;
struct spool_msg;
struct spool_mnode;

/* Open (creating as needed) the spool, take its lock and delete tmp/ leftovers.
 * On failure errbuf says why. */
struct spool *spool_open(const char *dir, char *errbuf, size_t errlen);
void spool_close(struct spool *sp);
/* What `serve --check-config` asks: can the spool be opened and written (its directories are
 * created as spool_open would; no lock is taken, so a running server does not fail it)? 0, or
 * -1 with errbuf saying why. */
int spool_check(const char *dir, char *errbuf, size_t errlen);
const char *spool_dir(const struct spool *sp);

/* ---- writing a message (receive side) ---- */
struct spool_msg *spool_msg_begin(struct spool *sp, long long arrival);
const char *spool_msg_qid(const struct spool_msg *m);
/* Message octets written so far. */
size_t spool_msg_size(const struct spool_msg *m);
int spool_msg_sender(struct spool_msg *m, const char *sender);
int spool_msg_rcpt(struct spool_msg *m, const char *target, const char *orig, int local);
/* How the message must travel (written with its end, so a header seen in the data counts). */
#define SPOOL_F_REQUIRETLS   0x01   /* MAIL carried REQUIRETLS: only to authenticated TLS hops */
#define SPOOL_F_TLS_OPTIONAL 0x02   /* "TLS-Required: No": DANE and MTA-STS do not hold it back */
void spool_msg_flags(struct spool_msg *m, unsigned flags);
/* Message octets; the first call closes the envelope. */
int spool_msg_write(struct spool_msg *m, const char *p, size_t n);
/* Octets in front of the message written so far (a DKIM-Signature made once the whole
 * message was seen); before the commit. */
int spool_msg_prepend(struct spool_msg *m, const char *p, size_t n);
/* Make it durable: flush, fsync, close, rename into queue/, fsync the directory. Frees m
 * whatever the outcome; on failure nothing is left behind. */
int spool_msg_commit(struct spool_msg *m);
/* Throw the message away and free m (NULL is a no-op). */
void spool_msg_abort(struct spool_msg *m);

/* ---- the journal's path (queue/journal.c) ---------------------------------------------
 * A message of at most SPOOL_MEM_MAX octets is received in memory, not in tmp/. The journal
 * makes its bytes durable and hands it to the memory table, where the runner loads it like a
 * queue file and delivers it at once. Only a message that needs a state line (a Maildir
 * intent, a retry, a failure) or that is still there at the journal's next checkpoint is
 * written to queue/; one delivered before that never touches the file system again. */
#define SPOOL_MEM_MAX (1024 * 1024)
#define SPOOL_MEM_BUDGET (256L * 1024 * 1024)  /* all of them at once; beyond it, tmp/ */
void spool_mem_budget(struct spool *sp, long bytes);

/* Complete the message (END record, length); m stays open. */
int spool_msg_finish(struct spool_msg *m);
/* A finished message's checksum (its K record): the CRC-32 of its first *covered octets. */
uint32_t spool_msg_sum(const struct spool_msg *m, size_t *covered);
/* The finished queue file's bytes, or NULL when m went to tmp/ (larger than SPOOL_MEM_MAX). */
const void *spool_msg_mem(const struct spool_msg *m, size_t *len);
/* Take a finished in-memory m (freed) into the memory table under journal generation gen. */
int spool_mem_adopt(struct spool *sp, struct spool_msg *m, unsigned gen);
/* done(arg, qid, gen) is called, with the table locked (it must not call back into the
 * spool), when a message still in the memory table is removed: the journal records it, so
 * that a crash before its checkpoint does not replay it, and returns a ticket. When something
 * went out that must not go twice (a remote delivery), wait(arg, ticket) is called next,
 * unlocked, and returns once that record is durable. */
typedef unsigned long (*spool_done_fn)(void *arg, const char *qid, unsigned gen);
typedef void (*spool_wait_fn)(void *arg, unsigned long ticket);
/* A Maildir intent of a message in memory: note(arg, qid, gen, line, len) records the state
 * line in the journal (ticket, 0 on failure; the table is locked), then wait(arg, ticket). The
 * line also stays with the message, so that whatever writes it to queue/ writes it too. */
typedef unsigned long (*spool_note_fn)(void *arg, const char *qid, unsigned gen, const char *line, size_t len);
void spool_mem_on_done(struct spool *sp, spool_done_fn done, spool_note_fn note, spool_wait_fn wait, void *arg);
/* Messages in the memory table (delivered ones leave it at once). */
size_t spool_mem_count(struct spool *sp);
/* The checkpoint: every message in the table that is not in queue/ yet is written there
 * (data synced, then names synced, a syncfs each), then commit(arg) runs (the journal's next
 * generation) and, when it returns 0, the table is emptied. Runs with the table locked. */
int spool_mem_spill(struct spool *sp, int (*commit)(void *arg), void *arg);
/* The checkpoint's slow part, beside the commits: every message of the table not in queue/ yet
 * is written there (data synced without the table's lock, then the names, as above) and stays
 * in the table, in queue/ too, until spool_mem_spill lets go of it. A removal meanwhile goes
 * through the journal as for any message in queue/ (spool_mem_forget). left: messages still
 * only in memory after it (those accepted since). 0 or -1 (what was not moved stays as it was). */
int spool_mem_prespill(struct spool *sp, size_t *left);
/* A message the journal replayed (its queue file's bytes, copied) into the memory table under
 * generation gen, with its state lines st (stlen may be 0), as if just accepted; nothing is
 * written, so a start needs no free space. When queue/ already holds the same bytes, that
 * file and its state log are what counts. -1 with EBADMSG when buf is no valid queue file. */
int spool_mem_recover(struct spool *sp, const char *qid, const void *buf, size_t len, const char *st, size_t stlen,
                      unsigned gen);

/* ---- reading a committed message (delivery side) ---- */
struct spool_rcpt {
	char *target, *orig;
	int local;
	int done;               /* from the state log */
	char *intent;           /* from the state log: path of a complete copy, or NULL */
	int fail_code;          /* permanent failure: the reply code (0 = none) */
	char *fail_text;        /* "esc text" of that reply */
	int bounced;            /* the failure is in a queued bounce */
};

struct spool_entry {
	char qid[SPOOL_QID_MAX];
	long long arrival;
	char *sender;
	unsigned flags;         /* SPOOL_F_* */
	struct spool_rcpt *rcpts;
	size_t nrcpts;
	int fd;                 /* message file, open for reading */
	off_t body_off;
	size_t body_len;
	long long next_attempt; /* from the state log; 0 = now */
	int unrecorded;         /* recipients done in memory only (the removal must be durable) */
	unsigned attempts;
	char *last_error;
	struct spool_mnode *mem; /* loaded from the memory table (journal.h), NULL: from queue/ */
};

/* Load and validate queue/B/QID with its state log, or the message from the memory table. A
 * file that fails validation is moved to corrupt/ and -1 is returned with errno EBADMSG. The
 * caller may change and remove the message; EBUSY: another holds it (from memory) right now. */
struct spool_entry *spool_entry_load(struct spool *sp, const char *qid);
/* The same, to look at only: no claim, nothing may be changed through it. */
struct spool_entry *spool_entry_peek(struct spool *sp, const char *qid);
/* The message stays queued (a deferred delivery): one from memory is written to queue/ now,
 * so the queue shows it with its state and it no longer waits for a checkpoint. */
int spool_entry_keep(struct spool *sp, struct spool_entry *e);
void spool_entry_free(struct spool_entry *e);
/* Append a state line and make it durable (fdatasync). */
int spool_entry_intent(struct spool *sp, struct spool_entry *e, size_t rcpt, const char *path);
int spool_entry_done(struct spool *sp, struct spool_entry *e, size_t rcpt);
/* A recipient of e reached its destination: counted, and its time since arrival, for /metrics
 * (whether or not the done record is written: the last recipient's is the removal). */
void spool_entry_delivered(const struct spool_entry *e);
int spool_entry_failed(struct spool *sp, struct spool_entry *e, size_t rcpt, int code, const char *text);
int spool_entry_retry(struct spool *sp, struct spool_entry *e, long long next, const char *text);
int spool_entry_bounced(struct spool *sp, struct spool_entry *e, size_t rcpt);
/* Remove a message whose recipients are all done. One the journal still holds leaves the
 * journal first (its done record durable), then its message file, then its log. */
int spool_entry_remove(struct spool *sp, struct spool_entry *e);

/* Call fn for every committed message id, in memory or in queue/, in no particular order. */
int spool_scan(struct spool *sp, void (*fn)(void *arg, const char *qid), void *arg);

#endif
