/*
 * journal.c - the acceptance journal: appends, one fdatasync per batch, done records,
 * checkpoints (the formats are journal_file.c's, the replay journal_replay.c's).
 * Not the queue format (spool.c) and not when to checkpoint (the committer in server/policy.c).
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "../util/fsutil.h"
#include "../util/log.h"
#include "journal_int.h"

/* Damage found at the start stays readable for a human: a copy in corrupt/ before the
 * journal is reused. Until the copy is made, the journal is not reused. */
static int keep_aside(struct journal *j)
{
	char from[PATH_MAX], to[PATH_MAX], tmp[PATH_MAX], buf[65536];
	int out = -1, r = -1;
	ssize_t n;

	if (jr_path_of(j, "journal", from, sizeof(from)) < 0 || snprintf(to, sizeof(to), "%s/corrupt/%s",
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
	if (j == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->sp = sp;
	j->fd = j->genfd = -1;
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->synced_cv, NULL);
	if (jr_path_of(j, "journal.gen", path, sizeof(path)) < 0 ||
	    (j->genfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		goto fail;
	if (jr_path_of(j, "journal", path, sizeof(path)) < 0 ||
	    (j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 || fstat(j->fd, &st) < 0)
		goto fail;
	/* As long as it is: a journal cut short is read to its end, never padded with zeros first. */
	j->size = st.st_size;
	if (fs_fsync_parent(path) < 0 && errno != ENOSPC)
		goto fail;
	if (jr_replay(j) < 0)
		goto fail;
	/* The replayed messages stay in this generation until the first checkpoint writes them to
	 * queue/; with none, a new generation now, unless the disk is full (then at that
	 * checkpoint: until then every message takes the classic path). */
	if (j->appended == 0 && j->keep[0] == '\0' && jr_new_generation(j) < 0) {
		if (j->gen == 0)
			log_warn(NULL, "journal: cannot prepare %s (the classic path until it can)", path);
		else
			j->pos = jr_aligned(j->pos);
	}
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

/* One record at j->pos: header, then the payload (whose CRC is crc), in one write. */
static int put_record_crc(struct journal *j, const char *magic, const char *qid, const void *p, size_t len,
                          uint32_t crc)
{
	struct hdr h;
	struct iovec iov[2];
	off_t end = jr_aligned(j->pos + HDR + (off_t)len);

	if (end > j->size && jr_grow(j, end) < 0)
		return 1;       /* full until the next checkpoint */
	jr_hdr_make(&h, magic, j->gen, j->nonce, j->batch, qid, len, crc);
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
	return put_record_crc(j, magic, qid, p, len, (uint32_t)crc32(0L, (const Bytef *)p, (uInt)len));
}

int journal_append(struct journal *j, struct spool_msg *m)
{
	size_t len;
	const void *p = spool_msg_mem(m, &len);
	int r, saved;

	if (p == NULL || len > JOURNAL_MAX_MESSAGE)
		return 1;
	if (j->gen == 0 && jr_new_generation(j) < 0)
		return 1;       /* no journal yet (a full disk at the start) */
	/* The message already has the CRC of all but its last few octets: one pass, not two. */
	size_t covered;
	uint32_t sum = spool_msg_sum(m, &covered);
	uLong crc = crc32_combine(sum, crc32(0L, (const Bytef *)p + covered, (uInt)(len - covered)),
	                          (z_off_t)(len - covered));
	if ((r = put_record_crc(j, MAGIC, spool_msg_qid(m), p, len, (uint32_t)crc)) == 1)
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
	jr_free_notes(notes, nnotes);
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
	if (jr_new_generation(j) < 0)
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
	jr_free_notes(j->notes, j->nnotes);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->synced_cv);
	if (j->fd >= 0)
		close(j->fd);
	if (j->genfd >= 0)
		close(j->genfd);
	free(j);
}
