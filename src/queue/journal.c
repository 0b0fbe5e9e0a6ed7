/*
 * journal.c - the acceptance journal: appends, one fdatasync per batch, checkpoints, replay.
 * Not the queue format (spool.c) and not when to checkpoint (the committer in net/policy.c).
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../util/fsutil.h"
#include "../util/log.h"

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

static off_t aligned(off_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

static int path_of(struct journal *j, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", spool_dir(j->sp), name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static uint32_t hdr_crc(const struct hdr *h)
{
	struct hdr c = *h;

	c.hcrc = 0;
	return (uint32_t)crc32(0L, (const Bytef *)&c, HDR);
}

/* "<gen> <nonce> <crc>\n" (the first format: "<gen>\n"). 1 = read, 0 = no file yet, -1 = damaged. */
static int read_gen(struct journal *j, uint32_t *gen, uint32_t *nonce)
{
	char text[64] = "", *end;
	ssize_t n = pread(j->genfd, text, sizeof(text) - 1, 0);
	unsigned long g, x, c;

	if (n <= 0)
		return 0;
	errno = 0;
	g = strtoul(text, &end, 10);
	if (errno || end != text + 20 || g > UINT32_MAX)
		return -1;
	if (*end == '\n') {
		*gen = (uint32_t)g;
		*nonce = 0;
		return 1;
	}
	if (*end != ' ' || sscanf(end, " %8lx %8lx", &x, &c) != 2 ||
	    crc32(0L, (const Bytef *)text, 29) != c)
		return -1;
	*gen = (uint32_t)g;
	*nonce = (uint32_t)x;
	return 1;
}

static int write_gen(struct journal *j)
{
	char text[64];
	int n = snprintf(text, sizeof(text), "%020u %08x", j->gen, j->nonce);

	n += snprintf(text + n, sizeof(text) - (size_t)n, " %08lx\n", crc32(0L, (const Bytef *)text, (uInt)n));
	/* One small write into one sector of a preallocated file: it is there or it is not. */
	if (pwrite(j->genfd, text, (size_t)n, 0) != n || fdatasync(j->genfd) < 0)
		return -1;
	return 0;
}

/* Real (zeroed) blocks ahead of the appends, so an append changes no metadata and its
 * fdatasync flushes only data. The file only grows to what one checkpoint interval needs.
 * Only ever past what the journal holds: nothing unreplayed is zeroed. */
static int grow(struct journal *j, off_t to)
{
	static const char zero[65536];

	to = (to + GROW - 1) / GROW * GROW;
	if (to > JOURNAL_SIZE)
		return -1;
	for (off_t o = j->size; o < to; o += (off_t)sizeof(zero)) {
		size_t n = to - o < (off_t)sizeof(zero) ? (size_t)(to - o) : sizeof(zero);
		if (fs_pwrite_all(j->fd, zero, n, o) < 0)
			return -1;
	}
	if (fsync(j->fd) < 0)
		return -1;
	j->size = to;
	return 0;
}

/* A header of generation gen and tag nonce that can be believed (its own CRC, where the
 * format has one), for a record that fits in the file. */
static int hdr_ok(const struct journal *j, const struct hdr *h, off_t pos, uint32_t gen, uint32_t nonce)
{
	return h->gen == gen && h->nonce == nonce && (nonce == 0 || h->hcrc == hdr_crc(h)) &&
	       (memcmp(h->magic, MAGIC, 4) == 0 || memcmp(h->magic, MAGIC_DONE, 4) == 0 ||
	        memcmp(h->magic, MAGIC_STATE, 4) == 0 || memcmp(h->magic, MAGIC_GEN, 4) == 0) &&
	       h->len <= JOURNAL_MAX_MESSAGE + 4096 && pos + HDR + (off_t)h->len <= j->size &&
	       memchr(h->qid, '\0', sizeof(h->qid)) != NULL;
}

static int read_hdr(const struct journal *j, off_t pos, struct hdr *h)
{
	return pos + HDR <= j->size && pread(j->fd, h, HDR, pos) == HDR ? 0 : -1;
}

/* 0: a whole record of the current generation; 1: its header is good, its payload is not
 * (the id in h can be named); -1: no record here. */
static int read_record(struct journal *j, off_t pos, struct hdr *h, char **payload)
{
	if (read_hdr(j, pos, h) < 0 || !hdr_ok(j, h, pos, j->gen, j->nonce))
		return -1;
	char *p = realloc(*payload, h->len ? h->len : 1);
	if (p == NULL)
		return 1;
	*payload = p;
	if (pread(j->fd, p, h->len, pos + HDR) != (ssize_t)h->len || crc32(0L, (const Bytef *)p, (uInt)h->len) != h->crc)
		return 1;
	return 0;
}

/* The next whole record of the current generation after a bad one, or -1. Only a tagged
 * generation can be searched: its nonce is what a forged header in a message cannot know. */
static off_t resync(struct journal *j, off_t from, char **payload)
{
	struct hdr h;

	if (j->nonce == 0)
		return -1;
	for (off_t pos = aligned(from); pos + HDR <= j->size; pos += ALIGN)
		if (read_hdr(j, pos, &h) == 0 && hdr_ok(j, &h, pos, j->gen, j->nonce) &&
		    read_record(j, pos, &h, payload) == 0)
			return pos;
	return -1;
}

/* The generation to replay: the larger of what journal.gen says and what the record at
 * offset 0 says (a checkpoint writes that first, then journal.gen). A damaged journal.gen
 * costs nothing while offset 0 is readable; when neither is, the newest tagged header. */
static void find_generation(struct journal *j)
{
	struct hdr h;
	uint32_t gen = 0, nonce = 0;
	int r = read_gen(j, &gen, &nonce);

	if (r < 0)
		log_errx(NULL, "journal: %s/journal.gen is damaged; the generation is taken from the journal itself",
		         spool_dir(j->sp));
	if (r < 0)
		gen = nonce = 0;
	/* r == 0 (no journal.gen) with records in the journal: it was lost, the same thing. */
	if (read_hdr(j, 0, &h) == 0 && h.nonce != 0 && hdr_ok(j, &h, 0, h.gen, h.nonce) && h.gen >= gen) {
		gen = h.gen;
		nonce = h.nonce;
	} else if (r <= 0 && read_hdr(j, 0, &h) == 0 && h.nonce == 0 && hdr_ok(j, &h, 0, h.gen, 0)) {
		gen = h.gen;            /* a journal of the first format */
	} else if (r <= 0) {
		for (off_t pos = 0; pos + HDR <= j->size; pos += ALIGN)
			if (read_hdr(j, pos, &h) == 0 && h.nonce != 0 && hdr_ok(j, &h, pos, h.gen, h.nonce) &&
			    h.gen > gen) {
				gen = h.gen;
				nonce = h.nonce;
			}
	}
	j->gen = gen;
	j->nonce = nonce;
}

static int qid_cmp(const void *a, const void *b) { return strcmp(a, b); }

static int note_cmp(const void *a, const void *b)
{
	const struct note *x = a, *y = b;
	int c = strcmp(x->qid, y->qid);

	return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void free_notes(struct note *notes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(notes[i].line);
	free(notes);
}

/* What a replay found. */
struct replay {
	off_t *at;              /* whole records, in order */
	size_t nat, atcap;
	uint32_t max_batch;
	size_t restored, skipped;
	/* damage: acknowledged records that cannot be read */
	size_t gaps, lost_known, lost_done;
	off_t gap_first, gap_last, gap_octets;
	char lost[LOST_NAMED][SPOOL_QID_MAX];
	size_t nlost;
	int torn;               /* only the last, unacknowledged batch is partly missing */
	off_t cut;              /* the file ends here, before its records did (0: it does not) */
};

struct gap {
	off_t start, end;
	uint32_t before, after; /* batches of the whole records either side (0: none before) */
	char qid[SPOOL_QID_MAX];        /* a message whose header survived, or "" */
	size_t done_slots;      /* a done record whose header survived: how many deliveries */
};

static int add_at(struct replay *rp, off_t pos)
{
	if (rp->nat == rp->atcap) {
		size_t nc = rp->atcap ? rp->atcap * 2 : 256;
		off_t *na = realloc(rp->at, nc * sizeof(*na));
		if (na == NULL)
			return -1;
		rp->at = na;
		rp->atcap = nc;
	}
	rp->at[rp->nat++] = pos;
	return 0;
}

/* Walk the current generation from offset 0. A bad record is either the torn tail (nothing
 * whole follows it: the last batch, never acknowledged) or damage, and then every whole
 * record after it is still found. Returns where the generation ends (the next append). */
static off_t walk(struct journal *j, struct replay *rp, struct gap **gaps, size_t *ngaps, char **payload)
{
	struct hdr h;
	off_t pos = 0;
	uint32_t prev = 0;

	while (pos + HDR <= j->size) {
		int r = read_record(j, pos, &h, payload);
		if (r == 0) {
			if (add_at(rp, pos) < 0)
				return -1;
			if (h.batch > rp->max_batch)
				rp->max_batch = h.batch;
			prev = h.batch;
			pos = aligned(pos + HDR + (off_t)h.len);
			continue;
		}
		/* A header that survived says how long its record was and what it held. */
		struct hdr bad = h;
		off_t next = resync(j, r == 1 && j->nonce != 0 ? pos + HDR + (off_t)h.len : pos + ALIGN, payload);
		if (next < 0)
			break;
		struct gap *ng = realloc(*gaps, (*ngaps + 1) * sizeof(**gaps));
		if (ng == NULL)
			return -1;
		*gaps = ng;
		struct gap *g = &ng[(*ngaps)++];
		memset(g, 0, sizeof(*g));
		g->start = pos;
		g->end = next;
		g->before = prev;
		if (read_hdr(j, next, &h) == 0)
			g->after = h.batch;
		if (r == 1 && memcmp(bad.magic, MAGIC, 4) == 0)
			snprintf(g->qid, sizeof(g->qid), "%s", bad.qid);
		else if (r == 1 && memcmp(bad.magic, MAGIC_DONE, 4) == 0)
			g->done_slots = bad.len / SPOOL_QID_MAX;
		pos = next;
	}
	/* Cut short: a record runs past the end, or the records reach the very end of a file that
	 * was never that long (it grows in whole GROW steps, zeros first). */
	if ((read_hdr(j, pos, &h) == 0 && j->nonce != 0 && h.gen == j->gen && h.nonce == j->nonce &&
	     h.hcrc == hdr_crc(&h) && pos + HDR + (off_t)h.len > j->size) ||
	    (pos + HDR > j->size && j->size % GROW != 0))
		rp->cut = pos;
	return pos;
}

/* Two passes over the whole records: which messages were delivered (done records) and their
 * state lines, then every other message back into the memory table, with its lines. Nothing
 * is written: a full disk does not stop a start, the next checkpoint writes them to queue/. */
static int replay(struct journal *j, struct replay *rp)
{
	struct hdr h;
	char *payload = NULL, (*done)[SPOOL_QID_MAX] = NULL, *st = NULL;
	struct note *notes = NULL;
	struct gap *gaps = NULL;
	size_t ndone = 0, nnotes = 0, ngaps = 0;
	int r = -1;

	if ((j->pos = walk(j, rp, &gaps, &ngaps, &payload)) < 0)
		goto out;
	for (size_t i = 0; i < rp->nat; i++) {
		if (read_record(j, rp->at[i], &h, &payload) != 0)
			goto out;
		if (memcmp(h.magic, MAGIC_STATE, 4) == 0) {
			void *nn = realloc(notes, (nnotes + 1) * sizeof(*notes));
			if (nn == NULL)
				goto out;
			notes = nn;
			snprintf(notes[nnotes].qid, SPOOL_QID_MAX, "%s", h.qid);
			notes[nnotes].order = nnotes;
			notes[nnotes].len = h.len;
			if ((notes[nnotes].line = malloc(h.len ? h.len : 1)) == NULL)
				goto out;
			memcpy(notes[nnotes++].line, payload, h.len);
			continue;
		}
		if (memcmp(h.magic, MAGIC_DONE, 4) != 0 || h.len % SPOOL_QID_MAX != 0)
			continue;
		size_t k = h.len / SPOOL_QID_MAX;
		void *nd = realloc(done, (ndone + k) * SPOOL_QID_MAX + 1);
		if (nd == NULL)
			goto out;
		done = nd;
		memcpy(done[ndone], payload, h.len);
		for (size_t d = 0; d < k; d++)
			done[ndone + d][SPOOL_QID_MAX - 1] = '\0';
		ndone += k;
	}
	if (ndone > 0)
		qsort(done, ndone, SPOOL_QID_MAX, qid_cmp);
	if (nnotes > 0)
		qsort(notes, nnotes, sizeof(*notes), note_cmp);
	/* The gaps: the last batch torn (never acknowledged), or damage to what was. */
	for (size_t i = 0; i < ngaps; i++) {
		struct gap *g = &gaps[i];
		if (g->before == rp->max_batch && g->after == rp->max_batch) {
			rp->torn = 1;
			continue;
		}
		rp->gaps++;
		if (rp->gaps == 1)
			rp->gap_first = g->start;
		rp->gap_last = g->end;
		rp->gap_octets += g->end - g->start;
		rp->lost_done += g->done_slots;
		if (g->qid[0] != '\0' && (ndone == 0 || bsearch(g->qid, done, ndone, SPOOL_QID_MAX, qid_cmp) == NULL)) {
			if (rp->nlost < LOST_NAMED)
				snprintf(rp->lost[rp->nlost++], SPOOL_QID_MAX, "%s", g->qid);
			rp->lost_known++;
		}
	}
	for (size_t i = 0; i < rp->nat; i++) {
		if (read_record(j, rp->at[i], &h, &payload) != 0)
			goto out;
		if (memcmp(h.magic, MAGIC, 4) != 0)
			continue;
		j->appended++;          /* the checkpoint owes it to queue/ (or to its done record) */
		if (ndone > 0 && bsearch(h.qid, done, ndone, SPOOL_QID_MAX, qid_cmp) != NULL) {
			rp->skipped++;
			continue;
		}
		/* Its state lines, in the order they were written. */
		size_t stlen = 0, lo = 0, hi = nnotes;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (strcmp(notes[mid].qid, h.qid) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t k = lo; k < nnotes && strcmp(notes[k].qid, h.qid) == 0; k++) {
			char *ns = realloc(st, stlen + notes[k].len + 1);
			if (ns == NULL)
				goto out;
			st = ns;
			memcpy(st + stlen, notes[k].line, notes[k].len);
			stlen += notes[k].len;
		}
		if (spool_mem_recover(j->sp, h.qid, payload, h.len, st, stlen, j->gen) < 0) {
			if (errno != EBADMSG)
				goto out;
			log_errx(h.qid, "journal: a replayed message failed validation; kept in the damaged journal");
			snprintf(j->keep, sizeof(j->keep), "journal.%u.%lld", j->gen, (long long)time(NULL));
			continue;
		}
		rp->restored++;
	}
	r = 0;
out:
	free(payload);
	free(done);
	free(st);
	free(gaps);
	free_notes(notes, nnotes);
	return r;
}

static void report(struct journal *j, const struct replay *rp)
{
	char ids[LOST_NAMED * (SPOOL_QID_MAX + 1) + 1] = "";
	size_t o = 0;

	if (rp->restored > 0 || rp->skipped > 0)
		log_info(NULL, "journal restored=%zu accepted messages put back into the queue, delivered=%zu skipped",
		         rp->restored, rp->skipped);
	if (rp->torn)
		log_info(NULL, "journal: the last batch was only partly written before the stop (never acknowledged: "
		         "its clients were not told 250 and send it again)");
	if (rp->nat == 0 && j->nonce != 0) {
		/* journal.gen names a tagged generation, whose first record was written before it:
		 * a journal without it was emptied or overwritten, not torn. */
		snprintf(j->keep, sizeof(j->keep), "journal.%u.%lld", j->gen, (long long)time(NULL));
		log_errx(NULL, "journal damaged: generation=%u not one record of it can be read (%lld octets): every "
		         "acknowledged message it held is lost. What is left is kept as %s/corrupt/%s", j->gen,
		         (long long)j->size, spool_dir(j->sp), j->keep);
		return;
	}
	if (rp->cut > 0) {
		snprintf(j->keep, sizeof(j->keep), "journal.%u.%lld", j->gen, (long long)time(NULL));
		log_errx(NULL, "journal damaged: generation=%u the file was cut short at offset %lld (%lld octets; it is "
		         "only ever written in whole MiB): acknowledged messages after that offset are lost. The damaged "
		         "journal is kept as %s/corrupt/%s", j->gen, (long long)rp->cut, (long long)j->size,
		         spool_dir(j->sp), j->keep);
	}
	if (rp->gaps == 0)
		return;
	snprintf(j->keep, sizeof(j->keep), "journal.%u.%lld", j->gen, (long long)time(NULL));
	for (size_t i = 0; i < rp->nlost; i++)
		o += (size_t)snprintf(ids + o, sizeof(ids) - o, "%s%s", i ? " " : "", rp->lost[i]);
	log_errx(NULL, "journal damaged: generation=%u %zu region%s between offsets %lld and %lld (%lld octets) cannot "
	         "be read; every whole record after %s was recovered. Lost: %zu message%s whose id survived%s%s%s, and "
	         "whatever else the %s held (acknowledged, cannot be named)%s. The damaged journal is kept as "
	         "%s/corrupt/%s", j->gen, rp->gaps, rp->gaps == 1 ? "" : "s", (long long)rp->gap_first,
	         (long long)rp->gap_last, (long long)rp->gap_octets, rp->gaps == 1 ? "it" : "them", rp->lost_known,
	         rp->lost_known == 1 ? "" : "s", o ? " (" : "", ids, o ? (rp->lost_known > rp->nlost ? " ...)" : ")") : "",
	         rp->gaps == 1 ? "region" : "regions",
	         rp->lost_done ? "; a damaged done record: messages already delivered may be delivered again" : "",
	         spool_dir(j->sp), j->keep);
}

static uint32_t new_nonce(void)
{
	uint32_t n = 0;

	while (n == 0)
		if (getrandom(&n, sizeof(n), 0) != (ssize_t)sizeof(n))
			n = (uint32_t)time(NULL) ^ (uint32_t)getpid() ^ (uint32_t)(uintptr_t)&n;
	return n;
}

/* A generation begins: its record at offset 0 is the commit (the previous generation's
 * records are in queue/ by now), journal.gen a second copy. */
static int new_generation(struct journal *j)
{
	struct hdr h;

	if (j->size < ALIGN && grow(j, ALIGN) < 0)
		return -1;
	memset(&h, 0, HDR);
	memcpy(h.magic, MAGIC_GEN, 4);
	h.gen = j->gen + 1;
	h.nonce = new_nonce();
	h.crc = (uint32_t)crc32(0L, Z_NULL, 0);
	h.hcrc = hdr_crc(&h);
	if (fs_pwrite_all(j->fd, &h, HDR, 0) < 0 || fdatasync(j->fd) < 0)
		return -1;
	j->gen = h.gen;
	j->nonce = h.nonce;
	j->batch = 1;
	j->pos = ALIGN;
	j->appended = 0;
	if (write_gen(j) < 0)
		log_warn(NULL, "journal: cannot write %s/journal.gen (the journal itself says generation %u)",
		         spool_dir(j->sp), j->gen);
	return 0;
}

/* Damage found at the start stays readable for a human: a copy in corrupt/ before the
 * journal is reused. Until the copy is made, the journal is not reused. */
static int keep_aside(struct journal *j)
{
	char from[PATH_MAX], to[PATH_MAX], tmp[PATH_MAX], buf[65536];
	int out = -1, r = -1;
	ssize_t n;

	if (path_of(j, "journal", from, sizeof(from)) < 0 || snprintf(to, sizeof(to), "%s/corrupt/%s",
	    spool_dir(j->sp), j->keep) >= (int)sizeof(to) || snprintf(tmp, sizeof(tmp), "%s/tmp/%s", spool_dir(j->sp),
	    j->keep) >= (int)sizeof(tmp))
		return -1;
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -1;
	for (off_t o = 0; o < j->size; o += n)
		if ((n = pread(j->fd, buf, sizeof(buf), o)) <= 0 || fs_write_all(out, buf, (size_t)n) < 0)
			goto out;
	if (fsync(out) < 0)
		goto out;
	r = close(out);
	out = -1;
	if (r == 0)
		r = fs_rename_durable(tmp, to);
	if (r == 0) {
		log_info(NULL, "journal: the damaged journal is kept as %s", to);
		j->keep[0] = '\0';
	}
out:
	if (out >= 0)
		close(out);
	if (r < 0)
		unlink(tmp);
	return r;
}

struct journal *journal_open(struct spool *sp, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	char path[PATH_MAX];
	struct stat st;
	struct replay rp;

	memset(&rp, 0, sizeof(rp));
	if (j == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->sp = sp;
	j->fd = j->genfd = -1;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->synced_cv, NULL);
	if (path_of(j, "journal.gen", path, sizeof(path)) < 0 ||
	    (j->genfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		goto fail;
	if (path_of(j, "journal", path, sizeof(path)) < 0 ||
	    (j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || fstat(j->fd, &st) < 0)
		goto fail;
	/* As long as it is: a journal cut short is read to its end, never padded with zeros first. */
	j->size = st.st_size;
	if (fs_fsync_parent(path) < 0 && errno != ENOSPC)
		goto fail;
	find_generation(j);
	if (j->gen != 0) {
		if (replay(j, &rp) < 0)
			goto fail;
		report(j, &rp);
		j->batch = rp.max_batch + 1;
	}
	/* The replayed messages stay in this generation until the first checkpoint writes them to
	 * queue/; with none, a new generation now, unless the disk is full (then at that
	 * checkpoint: until then every message takes the classic path). */
	if (j->appended == 0 && j->keep[0] == '\0' && new_generation(j) < 0) {
		if (j->gen == 0)
			log_warn(NULL, "journal: cannot prepare %s (the classic path until it can)", path);
		else
			j->pos = aligned(j->pos);
	}
	free(rp.at);
	return j;
fail:
	free(rp.at);
	snprintf(err, errlen, "journal in %s: %s", spool_dir(sp), strerror(errno));
	journal_close(j);
	return NULL;
}

size_t journal_pending(const struct journal *j) { return j->appended; }
off_t journal_bytes(const struct journal *j) { return j->pos; }

void journal_on_done(struct journal *j, void (*kick)(void *arg), void *arg)
{
	j->kick = kick;
	j->kick_arg = arg;
}

/* One record at j->pos: header, then the payload, in one write. crc: the payload's, when the
 * caller knows it (a message: from its own checksum), else 0 and computed here. */
static int put_record_crc(struct journal *j, const char *magic, const char *qid, const void *p, size_t len,
                          int have_crc, uint32_t crc)
{
	struct hdr h;
	struct iovec iov[2];
	off_t end = aligned(j->pos + HDR + (off_t)len);

	if (end > j->size && grow(j, end) < 0)
		return 1;       /* full until the next checkpoint */
	memset(&h, 0, HDR);
	memcpy(h.magic, magic, 4);
	h.gen = j->gen;
	h.len = (uint64_t)len;
	h.crc = have_crc ? crc : (uint32_t)crc32(0L, (const Bytef *)p, (uInt)len);
	snprintf(h.qid, sizeof(h.qid), "%s", qid);
	h.batch = j->batch;
	h.nonce = j->nonce;
	h.hcrc = hdr_crc(&h);
	iov[0].iov_base = &h;
	iov[0].iov_len = HDR;
	iov[1].iov_base = (void *)p;
	iov[1].iov_len = len;
	if (fs_pwritev_all(j->fd, iov, 2, j->pos) < 0)
		return -1;
	j->pos = end;
	return 0;
}

static int put_record(struct journal *j, const char *magic, const char *qid, const void *p, size_t len)
{
	return put_record_crc(j, magic, qid, p, len, 0, 0);
}

int journal_append(struct journal *j, struct spool_msg *m)
{
	size_t len;
	const void *p = spool_msg_mem(m, &len);
	int r, saved;

	if (p == NULL || len > JOURNAL_MAX_MESSAGE)
		return 1;
	if (j->gen == 0 && new_generation(j) < 0)
		return 1;       /* no journal yet (a full disk at the start) */
	/* The message already has the CRC of all but its last few octets: one pass, not two. */
	size_t covered;
	uint32_t sum = spool_msg_sum(m, &covered);
	uLong crc = covered <= len ? crc32_combine(sum, crc32(0L, (const Bytef *)p + covered, (uInt)(len - covered)),
	                                           (z_off_t)(len - covered)) : 0;
	if ((r = put_record_crc(j, MAGIC, spool_msg_qid(m), p, len, covered <= len, (uint32_t)crc)) == 1)
		return 1;       /* the classic path for this one */
	if (r < 0 || spool_mem_adopt(j->sp, m, j->gen) < 0) {
		/* The record may be there: a crash before the checkpoint would deliver a message
		 * refused with 451 (a duplicate when the client resends), never lose one. */
		saved = errno;
		spool_msg_abort(m);
		errno = saved;
		return -1;
	}
	j->appended++;
	return 0;
}

unsigned long journal_done(struct journal *j, const char *qid, unsigned gen)
{
	unsigned long ticket = 0;

	pthread_mutex_lock(&j->mu);
	if (gen == j->gen) {
		if (j->ndone == j->donecap) {
			size_t nc = j->donecap ? j->donecap * 2 : 256;
			void *nd = realloc(j->done, nc * SPOOL_QID_MAX);
			if (nd == NULL) {
				pthread_mutex_unlock(&j->mu);
				return 0;       /* no record: a crash now could deliver it once more */
			}
			j->done = nd;
			j->donecap = nc;
		}
		memset(j->done[j->ndone], 0, SPOOL_QID_MAX);
		snprintf(j->done[j->ndone++], SPOOL_QID_MAX, "%s", qid);
		ticket = ++j->done_seq;
	}
	pthread_mutex_unlock(&j->mu);
	return ticket;
}

unsigned long journal_note(struct journal *j, const char *qid, unsigned gen, const char *line, size_t len)
{
	unsigned long ticket = 0;
	char *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return 0;
	memcpy(copy, line, len);
	pthread_mutex_lock(&j->mu);
	if (gen == j->gen && j->nnotes == j->notecap) {
		size_t nc = j->notecap ? j->notecap * 2 : 64;
		void *nn = realloc(j->notes, nc * sizeof(*j->notes));
		if (nn != NULL) {
			j->notes = nn;
			j->notecap = nc;
		}
	}
	if (gen == j->gen && j->nnotes < j->notecap) {
		struct note *n = &j->notes[j->nnotes++];
		snprintf(n->qid, sizeof(n->qid), "%s", qid);
		n->line = copy;
		n->len = len;
		copy = NULL;
		ticket = ++j->done_seq;
	}
	pthread_mutex_unlock(&j->mu);
	free(copy);
	return ticket;
}

void journal_done_wait(struct journal *j, unsigned long ticket)
{
	pthread_mutex_lock(&j->mu);
	if (j->done_synced < ticket) {
		j->waiting++;
		pthread_mutex_unlock(&j->mu);
		if (j->kick)
			j->kick(j->kick_arg);
		pthread_mutex_lock(&j->mu);
		while (j->done_synced < ticket)
			pthread_cond_wait(&j->synced_cv, &j->mu);
		j->waiting--;
	}
	pthread_mutex_unlock(&j->mu);
}

int journal_done_waiting(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	int n = j->waiting > 0;
	pthread_mutex_unlock(&j->mu);
	return n;
}

int journal_done_pending(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	int n = j->ndone > 0 || j->nnotes > 0;
	pthread_mutex_unlock(&j->mu);
	return n;
}

static void done_synced(struct journal *j, unsigned long seq)
{
	pthread_mutex_lock(&j->mu);
	if (seq > j->done_synced)
		j->done_synced = seq;
	pthread_cond_broadcast(&j->synced_cv);
	pthread_mutex_unlock(&j->mu);
}

int journal_sync(struct journal *j)
{
	char (*done)[SPOOL_QID_MAX] = NULL;
	struct note *notes = NULL;
	size_t n, nnotes;
	unsigned long seq;
	int r = 0;

	pthread_mutex_lock(&j->mu);
	n = j->ndone;
	nnotes = j->nnotes;
	seq = j->done_seq;
	if (n > 0) {
		done = j->done;
		j->done = NULL;
		j->ndone = j->donecap = 0;
	}
	if (nnotes > 0) {
		notes = j->notes;
		j->notes = NULL;
		j->nnotes = j->notecap = 0;
	}
	pthread_mutex_unlock(&j->mu);
	/* They ride on the same fdatasync. When the journal is full they are not written and
	 * their waiters wait for the checkpoint (due now: the journal is long), which writes the
	 * state lines beside the spilled messages and makes the done records moot. */
	for (size_t i = 0; i < nnotes && r == 0; i++)
		r = put_record(j, MAGIC_STATE, notes[i].qid, notes[i].line, notes[i].len);
	if (n > 0 && r == 0)
		r = put_record(j, MAGIC_DONE, "", done, n * SPOOL_QID_MAX);
	free(done);
	free_notes(notes, nnotes);
	if (fdatasync(j->fd) < 0)
		return -1;
	j->batch++;
	if (r == 0)
		done_synced(j, seq);
	return 0;
}

/* The checkpoint's last step (spool_mem_spill calls it with every remaining message in
 * queue/): a new generation, so the journal forgets its records, from offset 0. */
static int next_generation(void *arg)
{
	struct journal *j = arg;
	unsigned long seq;

	if (j->keep[0] != '\0' && keep_aside(j) < 0)
		return -1;
	if (new_generation(j) < 0)
		return -1;
	pthread_mutex_lock(&j->mu);
	j->ndone = 0;           /* moot: those messages are forgotten now, or in queue/ */
	for (size_t i = 0; i < j->nnotes; i++)
		free(j->notes[i].line);
	j->nnotes = 0;
	seq = j->done_seq;
	pthread_mutex_unlock(&j->mu);
	done_synced(j, seq);
	return 0;
}

int journal_checkpoint(struct journal *j)
{
	if (j->appended == 0 && j->keep[0] == '\0' && j->gen != 0)
		return 0;
	return spool_mem_spill(j->sp, next_generation, j);
}

void journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (journal_checkpoint(j) < 0)
		log_warn(NULL, "journal: final checkpoint failed; the next start replays it");
	free(j->done);
	free_notes(j->notes, j->nnotes);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->synced_cv);
	if (j->fd >= 0)
		close(j->fd);
	if (j->genfd >= 0)
		close(j->genfd);
	free(j);
}
