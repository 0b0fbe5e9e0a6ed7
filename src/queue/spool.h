/*
 * spool.h - the durable queue on disk.
 *
 * Layout under the spool directory (one file system; rename is the commit):
 *   lock            flock()ed by the one server that owns the spool
 *   tmp/QID         a message being received; never acknowledged, deleted at start
 *   queue/B/QID     a committed message (B = last hex digit of QID: 16 buckets)
 *   queue/B/QID.st  its delivery state log: appended lines, each made durable
 *   corrupt/QID     a message file that failed validation, kept for a human
 *
 * Message file: "MAILPORT-QUEUE 1\n" then records "<T> <len>\n<payload>\n" with T in
 * T (arrival, epoch seconds) S (sender) R (recipient target) O (its original address)
 * L (1 if delivered locally, 0 if relayed) M (message) E (end, length 0). E is required and
 * must be last: a torn or truncated file never validates.
 *
 * State log lines: "I <n> <path>\n" (intent: recipient n's copy is complete at path, a
 * Maildir tmp/ file), "D <n>\n" (recipient n is done), "F <n> <code> <esc> <text>\n"
 * (recipient n failed for good), "R <next> <attempts> <text>\n" (an attempt failed
 * temporarily; try again at epoch second next), "B <n>\n" (recipient n's failure is in a
 * queued bounce). See deliver/runner.c for why this makes redelivery after a crash detectable.
 *
 * All functions return 0 / a pointer on success and -1 / NULL with errno set on failure.
 * Not thread-safe per object: one spool_msg per session, one spool_entry per worker.
 */
#ifndef MAILPORT_SPOOL_H
#define MAILPORT_SPOOL_H

#include <stddef.h>
#include <sys/types.h>

#define SPOOL_QID_MAX 32

struct spool;
struct spool_msg;

/* Open (creating as needed) the spool, take its lock and delete tmp/ leftovers.
 * On failure errbuf says why. */
struct spool *spool_open(const char *dir, char *errbuf, size_t errlen);
void spool_close(struct spool *sp);
const char *spool_dir(const struct spool *sp);

/* ---- writing a message (receive side) ---- */
struct spool_msg *spool_msg_begin(struct spool *sp, long long arrival);
const char *spool_msg_qid(const struct spool_msg *m);
/* Message octets written so far. */
size_t spool_msg_size(const struct spool_msg *m);
int spool_msg_sender(struct spool_msg *m, const char *sender);
int spool_msg_rcpt(struct spool_msg *m, const char *target, const char *orig, int local);
/* Message octets; the first call closes the envelope. */
int spool_msg_write(struct spool_msg *m, const char *p, size_t n);
/* Make it durable: flush, fsync, close, rename into queue/, fsync the directory. Frees m
 * whatever the outcome; on failure nothing is left behind. */
int spool_msg_commit(struct spool_msg *m);
/* Throw the message away and free m (NULL is a no-op). */
void spool_msg_abort(struct spool_msg *m);

/* ---- the journal's path (queue/journal.c): the same file, made durable another way ---- */
/* Complete the file in tmp/ (END record, length) without fsync; m stays open. */
int spool_msg_finish(struct spool_msg *m);
int spool_msg_fd(const struct spool_msg *m);
off_t spool_msg_bytes(const struct spool_msg *m);
const char *spool_msg_tmp(const struct spool_msg *m);
/* Close and free m, leaving its tmp/ file in place (the journal publishes it later). */
int spool_msg_release(struct spool_msg *m);
/* rename(tmp, queue/B/qid), not yet durable: spool_sync() makes a batch of them durable. */
int spool_publish(struct spool *sp, const char *tmp, const char *qid);
/* syncfs() of the spool's file system: every write and rename before it is durable. */
int spool_sync(struct spool *sp);
/* Held by the journal from its first publish to the moment it lets go of those records, so
 * that spool_scan() (which takes it shared) never hands the runner such a message early. */
void spool_publish_lock(struct spool *sp);
void spool_publish_unlock(struct spool *sp);
/* Write queue/B/qid from a journal record, durably (tmp, fsync, rename, fsync(dir)), unless
 * an identical file is already there. */
int spool_restore(struct spool *sp, const char *qid, const void *buf, size_t len);

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
	struct spool_rcpt *rcpts;
	size_t nrcpts;
	int fd;                 /* message file, open for reading */
	off_t body_off;
	size_t body_len;
	long long next_attempt; /* from the state log; 0 = now */
	int unrecorded;         /* recipients done in memory only (the removal must be durable) */
	unsigned attempts;
	char *last_error;
};

/* Load and validate queue/B/QID with its state log. A file that fails validation is moved to
 * corrupt/ and -1 is returned with errno EBADMSG. */
struct spool_entry *spool_entry_load(struct spool *sp, const char *qid);
void spool_entry_free(struct spool_entry *e);
/* Append a state line and make it durable (fdatasync). */
int spool_entry_intent(struct spool *sp, struct spool_entry *e, size_t rcpt, const char *path);
int spool_entry_done(struct spool *sp, struct spool_entry *e, size_t rcpt);
int spool_entry_failed(struct spool *sp, struct spool_entry *e, size_t rcpt, int code, const char *text);
int spool_entry_retry(struct spool *sp, struct spool_entry *e, long long next, const char *text);
int spool_entry_bounced(struct spool *sp, struct spool_entry *e, size_t rcpt);
/* Remove a message whose recipients are all done: message file first, then the log. */
int spool_entry_remove(struct spool *sp, struct spool_entry *e);

/* Call fn for every committed message id, in no particular order. */
int spool_scan(struct spool *sp, void (*fn)(void *arg, const char *qid), void *arg);

#endif
