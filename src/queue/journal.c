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
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "../util/fsutil.h"
#include "../util/log.h"

#define MAGIC "MPJ1"                             /* an accepted message */
#define MAGIC_DONE "MPJD"                        /* messages delivered since: qid slots */
#define MAGIC_STATE "MPJS"                       /* a state line (a Maildir intent) of qid */
#define HDR 64
#define ALIGN 512
#define GROW (1L * 1024 * 1024)                 /* zeroed ahead in steps of this */
#define JOURNAL_SIZE (64L * 1024 * 1024)         /* at most; then the classic path */

struct hdr {
	char magic[4];
	uint32_t gen;
	uint64_t len;
	uint32_t crc;
	char qid[SPOOL_QID_MAX];
	char pad[HDR - 4 - 4 - 8 - 4 - SPOOL_QID_MAX];
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
	uint32_t gen;
	off_t pos, size;
	size_t appended;        /* messages in this generation */
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

static int write_gen(struct journal *j)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%020u\n", j->gen);

	/* One small write into one sector of a preallocated file: it is there or it is not. */
	if (pwrite(j->genfd, text, (size_t)n, 0) != n || fdatasync(j->genfd) < 0)
		return -1;
	return 0;
}

/* Real (zeroed) blocks ahead of the appends, so an append changes no metadata and its
 * fdatasync flushes only data. The file only grows to what one checkpoint interval needs. */
static int grow(struct journal *j, off_t to)
{
	static const char zero[65536];

	to = (to + GROW - 1) / GROW * GROW;
	if (to > JOURNAL_SIZE)
		return -1;
	for (off_t o = j->size; o < to; o += (off_t)sizeof(zero))
		if (fs_pwrite_all(j->fd, zero, sizeof(zero), o) < 0)
			return -1;
	if (fsync(j->fd) < 0)
		return -1;
	j->size = to;
	return 0;
}

static int read_record(struct journal *j, off_t pos, struct hdr *h, char **payload)
{
	if (pos + HDR > j->size || pread(j->fd, h, HDR, pos) != HDR || h->gen != j->gen ||
	    (memcmp(h->magic, MAGIC, 4) != 0 && memcmp(h->magic, MAGIC_DONE, 4) != 0 &&
	     memcmp(h->magic, MAGIC_STATE, 4) != 0) ||
	    h->len > JOURNAL_MAX_MESSAGE + 4096 || pos + HDR + (off_t)h->len > j->size ||
	    memchr(h->qid, '\0', sizeof(h->qid)) == NULL)
		return -1;
	char *p = realloc(*payload, h->len ? h->len : 1);
	if (p == NULL)
		return -1;
	*payload = p;
	if (pread(j->fd, p, h->len, pos + HDR) != (ssize_t)h->len || crc32(0L, (const Bytef *)p, (uInt)h->len) != h->crc)
		return -1;      /* a torn last append: it was never acknowledged */
	return 0;
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

/* Two passes: which messages were delivered (done records) and their state lines, then every
 * other message back, with its lines. */
static int replay(struct journal *j, size_t *restored, size_t *skipped)
{
	struct hdr h;
	char *payload = NULL, (*done)[SPOOL_QID_MAX] = NULL, *st = NULL;
	struct note *notes = NULL;
	size_t ndone = 0, nnotes = 0;
	off_t pos, end = 0;
	int r = -1;

	*restored = *skipped = 0;
	for (pos = 0; read_record(j, pos, &h, &payload) == 0; pos = aligned(pos + HDR + (off_t)h.len)) {
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
		for (size_t i = 0; i < k; i++)
			done[ndone + i][SPOOL_QID_MAX - 1] = '\0';
		ndone += k;
	}
	end = pos;
	if (ndone > 0)
		qsort(done, ndone, SPOOL_QID_MAX, qid_cmp);
	if (nnotes > 0)
		qsort(notes, nnotes, sizeof(*notes), note_cmp);
	for (pos = 0; pos < end && read_record(j, pos, &h, &payload) == 0; pos = aligned(pos + HDR + (off_t)h.len)) {
		if (memcmp(h.magic, MAGIC, 4) != 0)
			continue;
		if (ndone > 0 && bsearch(h.qid, done, ndone, SPOOL_QID_MAX, qid_cmp) != NULL) {
			(*skipped)++;
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
		for (size_t i = lo; i < nnotes && strcmp(notes[i].qid, h.qid) == 0; i++) {
			char *ns = realloc(st, stlen + notes[i].len + 1);
			if (ns == NULL)
				goto out;
			st = ns;
			memcpy(st + stlen, notes[i].line, notes[i].len);
			stlen += notes[i].len;
		}
		if (spool_restore(j->sp, h.qid, payload, h.len, st, stlen) < 0)
			goto out;
		(*restored)++;
	}
	r = 0;
out:
	free(payload);
	free(done);
	free(st);
	free_notes(notes, nnotes);
	return r;
}

struct journal *journal_open(struct spool *sp, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	char path[PATH_MAX], text[32] = "";
	struct stat st;
	size_t restored = 0, skipped = 0;

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
	if (pread(j->genfd, text, sizeof(text) - 1, 0) > 0)
		j->gen = (uint32_t)strtoul(text, NULL, 10);
	if (path_of(j, "journal", path, sizeof(path)) < 0 ||
	    (j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || fstat(j->fd, &st) < 0)
		goto fail;
	j->size = st.st_size / GROW * GROW;
	if (j->size < GROW && grow(j, GROW) < 0)
		goto fail;
	if (fs_fsync_parent(path) < 0)
		goto fail;
	if (replay(j, &restored, &skipped) < 0)
		goto fail;
	if (restored > 0 || skipped > 0)
		log_info(NULL, "journal restored=%zu accepted messages put back into the queue, delivered=%zu skipped",
		         restored, skipped);
	/* Everything the last run accepted is in queue/ now: a new generation forgets it. */
	j->gen++;
	if (write_gen(j) < 0)
		goto fail;
	return j;
fail:
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

/* One record at j->pos: header, then the payload, in one write. */
static int put_record(struct journal *j, const char *magic, const char *qid, const void *p, size_t len)
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
	h.crc = (uint32_t)crc32(0L, (const Bytef *)p, (uInt)len);
	snprintf(h.qid, sizeof(h.qid), "%s", qid);
	iov[0].iov_base = &h;
	iov[0].iov_len = HDR;
	iov[1].iov_base = (void *)p;
	iov[1].iov_len = len;
	if (fs_pwritev_all(j->fd, iov, 2, j->pos) < 0)
		return -1;
	j->pos = end;
	return 0;
}

int journal_append(struct journal *j, struct spool_msg *m)
{
	size_t len;
	const void *p = spool_msg_mem(m, &len);
	int r, saved;

	if (p == NULL || len > JOURNAL_MAX_MESSAGE)
		return 1;
	if ((r = put_record(j, MAGIC, spool_msg_qid(m), p, len)) == 1)
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

	j->gen++;
	if (write_gen(j) < 0) {
		j->gen--;
		return -1;
	}
	j->pos = 0;
	j->appended = 0;
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
	if (j->appended == 0 && j->pos == 0)
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
