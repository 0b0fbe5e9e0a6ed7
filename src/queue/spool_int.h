/*
 * spool_int.h - what the spool's files share, and nobody else, in layers (each calls only
 * those below it): spoolfs.c (paths and whole-file writes), queuefile.c (the queue file and
 * state log formats, read and checked), memtable.c (accepted messages held in memory for the
 * journal), spool.c (directories, the commit protocol, entries and their state log: the
 * interface, spool.h). Everything here is private to src/queue/.
 *
 * Ownership: a struct spool owns its memory table; a node belongs to the table and to each
 * entry that loaded it (refs), and the last reference frees it. sp->mu guards the table.
 */
#ifndef MAILPORT_SPOOL_INT_H
#define MAILPORT_SPOOL_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "spool.h"

#define SPOOL_MAGIC      "MAILPORT-QUEUE 1\n"
#define SPOOL_WBUF       (64 * 1024)
#define SPOOL_LEN_DIGITS 20     /* fixed width so the length is patched in place */
#define SPOOL_REC_MAX    (1024 * 1024)  /* an envelope record; the message is exempt */

#define MEM_BUCKETS      4096

/* Every state log begins with this line (the parser skips it), written with its message: a
 * file that is not empty holds a whole block, so the lines a delivery needs (an intent, a
 * done) fit into space it already has, and a spool whose file system is full can still be
 * delivered, and emptied. */
#define ST_HEAD          "V 1\n"
#define ST_HEAD_LEN      (sizeof(ST_HEAD) - 1)

/* A message of the memory table: its queue file's bytes, immutable once adopted. */
enum mstate { M_LIVE, M_BUSY, M_DISK };
struct spool_mnode {
	struct spool *sp;
	char qid[SPOOL_QID_MAX];
	char *buf;
	size_t len;
	size_t cap;             /* counted in the spool's membytes */
	char *st;               /* state lines kept in memory (and in the journal) */
	size_t stlen;
	unsigned gen;
	enum mstate state;      /* BUSY: a runner entry has it; DISK: queue/ has it too */
	int unsynced;           /* DISK, but its names in queue/ may not be durable yet (a
	                           checkpoint's syncfs is under way): a state line syncs them first */
	int in_table;
	unsigned refs;          /* the table's and an entry's */
	struct spool_mnode *hnext, *prev, *next;
};

struct spool {
	char dir[PATH_MAX];
	int lockfd;
	_Atomic unsigned counter;      /* queue ids: every event loop makes them (spool_msg_begin) */
	pthread_mutex_t mu;         /* the memory table */
	struct spool_mnode *hash[MEM_BUCKETS], *head;
	size_t nmem;
	_Atomic long membytes;      /* buffers of messages in memory: at most membudget */
	long membudget;
	spool_done_fn done;
	spool_note_fn note;
	spool_wait_fn done_wait;
	void *done_arg;
};

struct spool_msg {
	struct spool *sp;
	char qid[SPOOL_QID_MAX];
	char tmp[PATH_MAX];
	int fd;                 /* -1 while in memory */
	char *mem;
	size_t memcap;
	int in_body;
	int finished;           /* spool_msg_finish() done */
	unsigned flags;         /* SPOOL_F_*, the P record */
	off_t len_off;          /* offset of the M record's length digits */
	uint32_t sum;           /* finished: CRC-32 of the first summed octets (the K record's) */
	size_t summed;
	size_t body_len;
	off_t pos;
	int failed;
	size_t wlen;
	char wbuf[SPOOL_WBUF];
};

/* ---- spoolfs.c (below the rest) ---- */
/* sp->dir + "/" + fmt into out; -1 (ENAMETOOLONG) when it does not fit. */
int spool_sub(const struct spool *sp, char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The bucket (queue/B/) of a queue id. */
char spool_bucket(const char *qid);
/* Write buf to tmp/name; with sync, fsync it and rename it to dst (the directory is not
 * synced: the caller syncs once for several). */
int spool_write_tmp(struct spool *sp, const char *name, const void *buf, size_t len, int sync, const char *dst);
/* The same for a state log: ST_HEAD, then st. */
int spool_write_state(struct spool *sp, const char *name, const char *st, size_t stlen, int sync, const char *dst);
/* Is queue/B/qid there, whole and the same as buf? */
int spool_in_queue(struct spool *sp, const char *qid, const void *buf, size_t len);
/* Write queue/B/qid with its state log st (stlen may be 0), durably (tmp, fsync, rename,
 * fsync(dir)), unless an identical file is already there. */
int spool_restore_file(struct spool *sp, const char *qid, const void *buf, size_t len, const char *st, size_t stlen);

/* ---- queuefile.c ---- */
/* The P record's payload for flags (SPOOL_F_*): its words, space-separated; their length. */
size_t spool_flags_words(unsigned flags, char *out, size_t outlen);
/* Parse a queue file from fp (size octets in all); with verify, its checksum (K) too, where
 * it has one. 0, -1 (errno) or -2 (it is corrupt). */
int spool_parse_entry(struct spool_entry *e, FILE *fp, off_t size, int verify);
/* Apply the state log lines in fp to e (a torn last line is ignored). */
void spool_parse_state(struct spool_entry *e, FILE *fp);
/* Free what parsing put into e (not its fd, its node or e itself). */
void spool_entry_clear(struct spool_entry *e);

/* ---- memtable.c (all _locked: with sp->mu held) ---- */
struct spool_mnode *spool_mem_find_locked(struct spool *sp, const char *qid);
void spool_mem_unref_locked(struct spool_mnode *n);
void spool_mem_drop_locked(struct spool *sp, struct spool_mnode *n);
/* e from node n (its bytes behind a memfd), with the state lines st; NULL on failure. */
struct spool_entry *spool_mem_load(struct spool_entry *e, struct spool_mnode *n, char *st, size_t stlen);
/* A state line needs the queue file beside it: write n to queue/ now, durably. */
int spool_mem_materialize(struct spool *sp, struct spool_mnode *n);
/* A state line of a message still only in memory: kept with it and written to the journal
 * (durable when this returns 1); 0 when it is in queue/ by now, so the line goes beside it. */
int spool_mem_state_line(struct spool *sp, struct spool_mnode *n, const char *line, size_t len);
/* e leaves the memory table and the journal (see the function); 1 = nothing left to do, it
 * was never in queue/; 0 = remove its files now; -1 = not now. */
int spool_mem_forget(struct spool *sp, struct spool_entry *e);

#endif
