/*
 * journal.c - the acceptance journal: appends, one fdatasync per batch, checkpoints, replay.
 * Not the queue format (spool.c) and not when to checkpoint (the committer in net/policy.c).
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../util/fsutil.h"
#include "../util/log.h"

#define MAGIC "MPJ1"
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

struct pending {
	char qid[SPOOL_QID_MAX];
	char *tmp;
};

struct journal {
	struct spool *sp;
	int fd, genfd;
	uint32_t gen;
	off_t pos, size;
	char *buf;              /* one record being assembled */
	size_t bufcap;
	struct pending *pend;
	size_t npend, cap;
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

static int replay(struct journal *j, size_t *restored)
{
	struct hdr h;
	off_t pos = 0;
	char *payload = NULL;

	*restored = 0;
	while (pos + HDR <= j->size) {
		if (pread(j->fd, &h, HDR, pos) != HDR || memcmp(h.magic, MAGIC, 4) != 0 || h.gen != j->gen ||
		    h.len > JOURNAL_MAX_MESSAGE + 4096 || pos + HDR + (off_t)h.len > j->size ||
		    memchr(h.qid, '\0', sizeof(h.qid)) == NULL)
			break;
		char *p = realloc(payload, h.len ? h.len : 1);
		if (p == NULL)
			break;
		payload = p;
		if (pread(j->fd, payload, h.len, pos + HDR) != (ssize_t)h.len ||
		    crc32(0L, (const Bytef *)payload, (uInt)h.len) != h.crc)
			break;      /* a torn last append: it was never acknowledged */
		if (spool_restore(j->sp, h.qid, payload, h.len) < 0) {
			free(payload);
			return -1;
		}
		(*restored)++;
		pos = aligned(pos + HDR + (off_t)h.len);
	}
	free(payload);
	return 0;
}

struct journal *journal_open(struct spool *sp, char *err, size_t errlen)
{
	struct journal *j = calloc(1, sizeof(*j));
	char path[PATH_MAX], text[32] = "";
	struct stat st;
	size_t restored = 0;

	if (j == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->sp = sp;
	j->fd = j->genfd = -1;
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
	if (replay(j, &restored) < 0)
		goto fail;
	if (restored > 0)
		log_info(NULL, "journal restored=%zu accepted messages put back into the queue", restored);
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

size_t journal_pending(const struct journal *j) { return j->npend; }

int journal_append(struct journal *j, struct spool_msg *m)
{
	off_t bytes = spool_msg_bytes(m);
	size_t need = HDR + (size_t)bytes;
	struct hdr *h;
	int saved;

	if (bytes > JOURNAL_MAX_MESSAGE)
		return 1;
	if (aligned(j->pos + (off_t)need) > j->size && grow(j, aligned(j->pos + (off_t)need)) < 0)
		return 1;       /* full until the next checkpoint: the classic path for this one */
	if (need > j->bufcap) {
		char *nb = realloc(j->buf, need);
		if (nb == NULL)
			goto fail;
		j->buf = nb;
		j->bufcap = need;
	}
	if (j->npend == j->cap) {
		size_t nc = j->cap ? j->cap * 2 : 256;
		struct pending *np = realloc(j->pend, nc * sizeof(*np));
		if (np == NULL)
			goto fail;
		j->pend = np;
		j->cap = nc;
	}
	/* The tmp/ file is in the page cache: read it back rather than keep a second copy. */
	if (pread(spool_msg_fd(m), j->buf + HDR, (size_t)bytes, 0) != bytes)
		goto fail;
	h = (struct hdr *)j->buf;
	memset(h, 0, HDR);
	memcpy(h->magic, MAGIC, 4);
	h->gen = j->gen;
	h->len = (uint64_t)bytes;
	h->crc = (uint32_t)crc32(0L, (const Bytef *)j->buf + HDR, (uInt)bytes);
	snprintf(h->qid, sizeof(h->qid), "%s", spool_msg_qid(m));
	if (fs_pwrite_all(j->fd, j->buf, need, j->pos) < 0)
		goto fail;
	j->pos = aligned(j->pos + (off_t)need);
	snprintf(j->pend[j->npend].qid, sizeof(j->pend[j->npend].qid), "%s", spool_msg_qid(m));
	if ((j->pend[j->npend].tmp = strdup(spool_msg_tmp(m))) == NULL)
		goto fail;
	j->npend++;
	if (spool_msg_release(m) < 0) {
		/* A deferred write error on the tmp/ file: the journal holds the bytes, but the
		 * checkpoint would publish a damaged file. Refuse this one. */
		j->npend--;
		unlink(j->pend[j->npend].tmp);
		free(j->pend[j->npend].tmp);
		return -1;
	}
	return 0;
fail:
	saved = errno;
	spool_msg_abort(m);         /* removes its tmp/ file too */
	errno = saved;
	return -1;
}

int journal_sync(struct journal *j) { return fdatasync(j->fd); }

int journal_checkpoint(struct journal *j, void (*wake)(void *arg, const char *qid), void *arg)
{
	int r = 0;

	if (j->npend == 0)
		return 0;
	/* 1. every tmp/ file's data (written without fsync) on disk. */
	if (spool_sync(j->sp) < 0)
		return -1;
	spool_publish_lock(j->sp);
	/* 2. their names in queue/, 3. those names on disk. */
	for (size_t i = 0; i < j->npend; i++)
		if (spool_publish(j->sp, j->pend[i].tmp, j->pend[i].qid) < 0)
			r = -1;
	if (r == 0 && spool_sync(j->sp) < 0)
		r = -1;
	if (r < 0) {
		spool_publish_unlock(j->sp);
		return -1;      /* the records stay: the next checkpoint (or a replay) finishes it */
	}
	/* 4. the journal lets go of them: a new generation, from offset 0. */
	j->gen++;
	if (write_gen(j) < 0) {
		j->gen--;
		spool_publish_unlock(j->sp);
		return -1;
	}
	j->pos = 0;
	spool_publish_unlock(j->sp);
	for (size_t i = 0; i < j->npend; i++) {
		if (wake)
			wake(arg, j->pend[i].qid);
		free(j->pend[i].tmp);
	}
	j->npend = 0;
	return 0;
}

void journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	if (j->npend > 0 && journal_checkpoint(j, NULL, NULL) < 0)
		log_warn(NULL, "journal: final checkpoint failed; the next start replays it");
	for (size_t i = 0; i < j->npend; i++)
		free(j->pend[i].tmp);
	free(j->pend);
	free(j->buf);
	if (j->fd >= 0)
		close(j->fd);
	if (j->genfd >= 0)
		close(j->genfd);
	free(j);
}
