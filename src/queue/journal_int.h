/*
 * journal_int.h - what the journal's files share, and nobody else, in layers: journal_file.c
 * (the record and generation formats: headers with their CRC and tag, journal.gen, growing
 * the file, starting a generation) below journal_replay.c (reading back what a crash or
 * damage left) below journal.c (the interface, journal.h: appends, syncs, done records,
 * checkpoints). One thread uses a struct journal, except for its done list (j->mu).
 */
#ifndef MAILPORT_JOURNAL_INT_H
#define MAILPORT_JOURNAL_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "journal.h"
#include "spool.h"

#define MAGIC "MPJ1"                             /* an accepted message */
#define MAGIC_DONE "MPJD"                        /* messages delivered since: qid slots */
#define MAGIC_STATE "MPJS"                       /* a state line (a Maildir intent) of qid */
#define MAGIC_GEN "MPJG"                         /* a generation begins (offset 0, no payload) */
#define HDR 64
#define ALIGN 512
#define GROW (1L * 1024 * 1024)                 /* zeroed ahead in steps of this */
#define JOURNAL_SIZE (64L * 1024 * 1024)         /* at most; then the classic path */
#define LOST_NAMED 8                             /* ids a damage report names */

/* batch, nonce and hcrc were padding (zero) in the first format; such records still replay,
 * they only cannot be told from damage by their header (nonce 0: no resync past a bad one). */
struct hdr {
	char magic[4];
	uint32_t gen;
	uint64_t len;
	uint32_t crc;           /* of the payload */
	char qid[SPOOL_QID_MAX];
	uint32_t batch;         /* the fdatasync it rode on, from 1 in each generation */
	uint32_t nonce;         /* the generation's random tag: a header inside a payload is not one */
	uint32_t hcrc;          /* of this header with hcrc 0 */
};

struct note {
	char qid[SPOOL_QID_MAX];
	char *line;
	size_t len;
	size_t order;
};

struct journal {
	struct spool *sp;
	int fd, genfd;
	uint32_t gen, nonce;    /* gen 0: no generation yet (a full disk at the first start) */
	uint32_t batch;
	off_t pos, size;
	size_t appended;        /* messages in this generation (replayed ones too) */
	char keep[64];          /* damage found: copied to corrupt/<keep> before it is reused */
	pthread_mutex_t mu;     /* the done list, from the runner's threads */
	pthread_cond_t synced_cv;
	char (*done)[SPOOL_QID_MAX];
	size_t ndone, donecap;
	unsigned long done_seq, done_synced;
	unsigned waiting;       /* threads in journal_done_wait() */
	struct note *notes;     /* state lines, written by the next sync */
	size_t nnotes, notecap;
	void (*kick)(void *arg);
	void *kick_arg;
};

_Static_assert(sizeof(struct hdr) == HDR, "journal header is 64 octets");

static inline off_t jr_aligned(off_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

/* ---- journal_file.c ---- */
int jr_path_of(struct journal *j, const char *name, char *out, size_t len);
uint32_t jr_hdr_crc(const struct hdr *h);
/* journal.gen: 1 = read, 0 = no file yet, -1 = damaged. */
int jr_read_gen(struct journal *j, uint32_t *gen, uint32_t *nonce);
int jr_write_gen(struct journal *j);
/* Zeroed blocks ahead of the appends, up to to (rounded to GROW), never over what is there. */
int jr_grow(struct journal *j, off_t to);
/* A header of generation gen and tag nonce that can be believed (its own CRC, where the format
 * has one); _ok: and its record, at pos, fits in the file. */
int jr_hdr_valid(const struct hdr *h, uint32_t gen, uint32_t nonce);
int jr_hdr_ok(const struct journal *j, const struct hdr *h, off_t pos, uint32_t gen, uint32_t nonce);
/* A whole header, its own CRC included. */
void jr_hdr_make(struct hdr *h, const char *magic, uint32_t gen, uint32_t nonce, uint32_t batch, const char *qid,
                 size_t len, uint32_t crc);
int jr_read_hdr(const struct journal *j, off_t pos, struct hdr *h);
/* 0: a whole record of the current generation; 1: its header is good, its payload is not;
 * -1: no record here. */
int jr_read_record(struct journal *j, off_t pos, struct hdr *h, char **payload);
/* The next generation begins: its marker at offset 0 (the commit), then journal.gen. */
int jr_new_generation(struct journal *j);
void jr_free_notes(struct note *notes, size_t n);

/* ---- journal_replay.c ---- */
/* Find the current generation, bring its messages back into the spool's memory table, and
 * log what was torn or damaged (j->keep names the copy to keep). -1 with errno on failure. */
int jr_replay(struct journal *j);

#endif
