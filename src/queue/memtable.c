/*
 * memtable.c - accepted messages held in memory while the journal makes them durable
 * (journal.h): the table, loading an entry from it, writing one to queue/ when it needs a
 * state line or at a checkpoint, and letting one go when it is delivered.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fsutil.h"
#include "../util/log.h"
#include "spool_int.h"

static unsigned hash_of(const char *qid)
{
	unsigned h = 2166136261u;

	for (; *qid; qid++)
		h = (h ^ (unsigned char)*qid) * 16777619u;
	return h % MEM_BUCKETS;
}

struct spool_mnode *spool_mem_find_locked(struct spool *sp, const char *qid)
{
	struct spool_mnode *n;

	for (n = sp->hash[hash_of(qid)]; n != NULL; n = n->hnext)
		if (strcmp(n->qid, qid) == 0)
			return n;
	return NULL;
}

void spool_mem_unref_locked(struct spool_mnode *n)
{
	if (--n->refs == 0) {
		n->sp->membytes -= (long)n->cap;
		free(n->st);
		free(n->buf);
		free(n);
	}
}

static void mem_insert(struct spool *sp, struct spool_mnode *n)
{
	unsigned h = hash_of(n->qid);

	n->sp = sp;
	n->in_table = 1;
	n->refs = 1;
	pthread_mutex_lock(&sp->mu);
	n->hnext = sp->hash[h];
	sp->hash[h] = n;
	n->next = sp->head;
	if (sp->head)
		sp->head->prev = n;
	sp->head = n;
	sp->nmem++;
	pthread_mutex_unlock(&sp->mu);
}

void spool_mem_drop_locked(struct spool *sp, struct spool_mnode *n)
{
	struct spool_mnode **pp = &sp->hash[hash_of(n->qid)];

	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	if (n->prev)
		n->prev->next = n->next;
	else
		sp->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	n->in_table = 0;
	sp->nmem--;
	spool_mem_unref_locked(n);
}

/* An entry of the memory table, its body behind an fd like a queue file's (a memfd: no
 * file system, no inode to allocate and free). */
struct spool_entry *spool_mem_load(struct spool_entry *e, struct spool_mnode *n, char *st, size_t stlen)
{
	FILE *fp = fmemopen(n->buf, n->len, "r");
	int r;

	if (fp == NULL)
		return NULL;
	r = spool_parse_entry(e, fp, (off_t)n->len, 0);
	fclose(fp);
	if (r < 0) {
		errno = r == -2 ? EBADMSG : errno;
		return NULL;
	}
	if (stlen > 0 && (fp = fmemopen(st, stlen, "r")) != NULL) {
		spool_parse_state(e, fp);
		fclose(fp);
	}
	e->fd = memfd_create("mailport-msg", MFD_CLOEXEC);
	if (e->fd < 0 || fs_pwrite_all(e->fd, n->buf, n->len, 0) < 0)
		return NULL;
	return e;
}

/* A state line needs the queue file beside it: an entry from memory gets it now, durably. */
int spool_mem_materialize(struct spool *sp, struct spool_mnode *n)
{
	int r = 0;

	pthread_mutex_lock(&sp->mu);
	if (n->state != M_DISK && (r = spool_restore_file(sp, n->qid, n->buf, n->len, n->st, n->stlen)) == 0)
		n->state = M_DISK;
	else if (n->state == M_DISK && n->unsynced) {
		/* A checkpoint just renamed it into queue/: the line must not outlive the name. */
		char path[PATH_MAX];
		if ((r = spool_sub(sp, path, sizeof(path), "queue/%c/%s", spool_bucket(n->qid), n->qid)) == 0 &&
		    (r = fs_fsync_parent(path)) == 0)
			n->unsynced = 0;
	}
	pthread_mutex_unlock(&sp->mu);
	return r;
}

/* A state line of a message still only in memory: kept with it and written to the journal
 * (durable when this returns); 0 when it is in queue/ by now, so the line goes beside it. */
int spool_mem_state_line(struct spool *sp, struct spool_mnode *n, const char *line, size_t len)
{
	unsigned long ticket;

	pthread_mutex_lock(&sp->mu);
	if (n->state == M_DISK || sp->note == NULL) {
		pthread_mutex_unlock(&sp->mu);
		return 0;
	}
	char *ns = realloc(n->st, n->stlen + len);
	if (ns == NULL) {
		pthread_mutex_unlock(&sp->mu);
		return -1;
	}
	memcpy(ns + n->stlen, line, len);
	n->st = ns;
	n->stlen += len;
	ticket = sp->note(sp->done_arg, n->qid, n->gen, line, len);
	pthread_mutex_unlock(&sp->mu);
	if (ticket == 0)
		return -1;
	/* Durable in the journal, or (a checkpoint came first) beside the spilled message. */
	sp->done_wait(sp->done_arg, ticket);
	return 1;
}

/* A message of the journal's current generation (in the memory table) leaves it: the journal
 * is told, so a crash before its checkpoint does not bring the message back. When it is in
 * queue/ too, the journal must know for sure before the file goes: a crash between the unlink
 * and the done record's sync would replay the journal's copy, with only the state it had when
 * it went to queue/, and what was delivered since would go again. Otherwise we wait only
 * when something went out that must not go twice. Never waits with the table locked: the
 * checkpoint takes that lock. 1 = nothing left to do (it was never in queue/). */
int spool_mem_forget(struct spool *sp, struct spool_entry *e)
{
	unsigned long ticket = 0;
	int disk;

	pthread_mutex_lock(&sp->mu);
	struct spool_mnode *n = e->mem != NULL ? e->mem : spool_mem_find_locked(sp, e->qid);
	if (n == NULL || !n->in_table) {
		pthread_mutex_unlock(&sp->mu);
		return 0;
	}
	disk = n->state == M_DISK;
	if (sp->done != NULL && (ticket = sp->done(sp->done_arg, n->qid, n->gen)) == 0 && disk) {
		pthread_mutex_unlock(&sp->mu);
		errno = ENOMEM;         /* no done record: the file stays, the removal is tried again */
		return -1;
	}
	spool_mem_drop_locked(sp, n);
	pthread_mutex_unlock(&sp->mu);
	if (ticket != 0 && sp->done_wait != NULL && (disk || e->unrecorded))
		sp->done_wait(sp->done_arg, ticket);
	return disk ? 0 : 1;
}

/* ---- the memory table (see spool.h) ------------------------------------------------------ */

int spool_mem_adopt(struct spool *sp, struct spool_msg *m, unsigned gen)
{
	struct spool_mnode *n = calloc(1, sizeof(*n));

	if (n == NULL || m->fd >= 0 || !m->finished) {
		free(n);
		errno = n ? EINVAL : ENOMEM;
		return -1;
	}
	snprintf(n->qid, sizeof(n->qid), "%s", m->qid);
	n->buf = m->mem;
	n->len = (size_t)m->pos;
	n->cap = m->memcap;
	n->gen = gen;
	n->state = M_LIVE;
	free(m);
	mem_insert(sp, n);
	return 0;
}

int spool_mem_recover(struct spool *sp, const char *qid, const void *buf, size_t len, const char *st, size_t stlen,
                      unsigned gen)
{
	struct spool_entry *probe = calloc(1, sizeof(*probe));
	struct spool_mnode *n = calloc(1, sizeof(*n));
	FILE *fp = NULL;
	int r = -1;

	if (probe == NULL || n == NULL || (n->buf = malloc(len ? len : 1)) == NULL ||
	    (stlen > 0 && (n->st = malloc(stlen)) == NULL) || (fp = fmemopen((void *)buf, len, "r")) == NULL)
		goto out;
	probe->fd = -1;
	/* Its structure; not its checksum: the journal's CRC, just checked, covers every octet
	 * (and was derived from that checksum when the record was written). */
	if ((r = spool_parse_entry(probe, fp, (off_t)len, 0)) < 0) {
		errno = r == -2 ? EBADMSG : errno;
		r = -1;
		goto out;
	}
	snprintf(n->qid, sizeof(n->qid), "%s", qid);
	memcpy(n->buf, buf, len);
	n->len = n->cap = len;
	sp->membytes += (long)len;
	if (stlen > 0)
		memcpy(n->st, st, stlen);
	n->stlen = stlen;
	n->gen = gen;
	/* A checkpoint or a state line wrote it to queue/ before the crash: that file and its
	 * state log are what counts; the table only keeps it until the journal forgets it. */
	n->state = spool_in_queue(sp, qid, buf, len) ? M_DISK : M_LIVE;
	mem_insert(sp, n);
	n = NULL;
	r = 0;
out:
	if (fp != NULL)
		fclose(fp);
	if (probe != NULL)
		spool_entry_clear(probe);
	free(probe);
	if (n != NULL) {
		free(n->buf);
		free(n->st);
		free(n);
	}
	return r;
}

void spool_mem_on_done(struct spool *sp, spool_done_fn done, spool_note_fn note, spool_wait_fn wait, void *arg)
{
	pthread_mutex_lock(&sp->mu);
	sp->done = done;
	sp->note = note;
	sp->done_wait = wait;
	sp->done_arg = arg;
	pthread_mutex_unlock(&sp->mu);
}

void spool_mem_budget(struct spool *sp, long bytes) { sp->membudget = bytes; }

size_t spool_mem_count(struct spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	size_t n = sp->nmem;
	pthread_mutex_unlock(&sp->mu);
	return n;
}

static int spill_rename(struct spool *sp, const char *qid, const char *suffix, const char *ext)
{
	char tmp[PATH_MAX], path[PATH_MAX];

	if (spool_sub(sp, tmp, sizeof(tmp), "tmp/%s%s", qid, suffix) < 0 ||
	    spool_sub(sp, path, sizeof(path), "queue/%c/%s%s", spool_bucket(qid), qid, ext) < 0)
		return -1;
	return rename(tmp, path);
}

/* A message's data and state lines into tmp/QID.spill and tmp/QID.st.spill, not synced (a
 * syncfs follows for all of them). */
static int spill_write(struct spool *sp, const struct spool_mnode *n, const char *st, size_t stlen)
{
	char name[SPOOL_QID_MAX + 16];

	snprintf(name, sizeof(name), "%s.spill", n->qid);
	if (spool_write_tmp(sp, name, n->buf, n->len, 0, NULL) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s.st.spill", n->qid);
	return spool_write_state(sp, name, st, stlen, 0, NULL);
}

/* Messages of the table not in queue/ yet. */
static size_t live_locked(const struct spool *sp)
{
	size_t k = 0;

	for (const struct spool_mnode *n = sp->head; n != NULL; n = n->next)
		k += n->state != M_DISK;
	return k;
}

int spool_mem_spill(struct spool *sp, int (*commit)(void *arg), void *arg)
{
	struct spool_mnode *n;
	int r = 0;
	size_t wrote = 0;

	pthread_mutex_lock(&sp->mu);
	/* 1. the data of every message not yet in queue/ (and its state lines), 2. on disk, */
	for (n = sp->head; n != NULL && r == 0; n = n->next)
		if (n->state != M_DISK) {
			wrote++;
			r = spill_write(sp, n, n->st, n->stlen);
		}
	if (r == 0 && wrote > 0 && syncfs(sp->lockfd) < 0)
		r = -1;
	/* 3. their names in queue/, 4. on disk. A runner may be delivering one right now: from
	 * here on its state lines go beside this file, and its removal removes it. */
	for (n = sp->head; n != NULL && r == 0; n = n->next) {
		if (n->state == M_DISK)
			continue;
		/* The log first (see spool_restore_file), then the message. */
		if (spill_rename(sp, n->qid, ".st.spill", ".st") < 0 ||
		    spill_rename(sp, n->qid, ".spill", "") < 0)
			r = -1;
		else
			n->state = M_DISK;
	}
	/* (and the names a checkpoint's first part renamed, if its syncfs has not made them durable) */
	for (n = sp->head; n != NULL && wrote == 0; n = n->next)
		wrote += n->unsynced;
	if (r == 0 && wrote > 0 && syncfs(sp->lockfd) < 0)
		r = -1;
	/* 5. the journal lets go of them, 6. so does the table. On failure the table keeps
	 * them (some now DISK) and the journal its records: the next checkpoint finishes. */
	if (r == 0 && commit != NULL && (r = commit(arg)) == 0)
		while (sp->head != NULL)        /* each drop unlinks the head first */
			spool_mem_drop_locked(sp, sp->head);  // NOLINT(clang-analyzer-unix.Malloc): not a use after free
	pthread_mutex_unlock(&sp->mu);
	return r;
}

/* ---- a checkpoint prepared beside the commits ------------------------------------------- */

struct prespill {
	struct spool_mnode *n;
	char *st;               /* a copy of its state lines, written with it */
	size_t stlen;
	int written;
};

static void prespill_unlink(struct spool *sp, const char *qid)
{
	char path[PATH_MAX];

	if (spool_sub(sp, path, sizeof(path), "tmp/%s.spill", qid) == 0)
		unlink(path);
	if (spool_sub(sp, path, sizeof(path), "tmp/%s.st.spill", qid) == 0)
		unlink(path);
}

/* Under the table's lock: p's message into queue/ unless it left the table meanwhile. State
 * lines that came after its copy are written again (synced: the syncfs that made the copy
 * durable is behind us). 1 moved, 0 not needed, -1 failed. */
static int prespill_move_locked(struct spool *sp, const struct prespill *p)
{
	struct spool_mnode *n = p->n;
	char name[SPOOL_QID_MAX + 16];

	if (!p->written || !n->in_table || n->state == M_DISK) {
		prespill_unlink(sp, n->qid);
		return 0;
	}
	snprintf(name, sizeof(name), "%s.st.spill", n->qid);
	if (n->stlen != p->stlen && spool_write_state(sp, name, n->st, n->stlen, 1, NULL) < 0)
		return -1;
	if (spill_rename(sp, n->qid, ".st.spill", ".st") < 0 || spill_rename(sp, n->qid, ".spill", "") < 0)
		return -1;
	n->state = M_DISK;
	n->unsynced = 1;
	return 1;
}

int spool_mem_prespill(struct spool *sp, size_t *left)
{
	struct prespill *ps = NULL;
	struct spool_mnode *n;
	size_t np, i;
	int r = 0, moved = 0;

	/* 1. which messages, each held by a reference, with a copy of its state lines (a
	 * message's bytes never change once adopted; its state lines may grow), */
	pthread_mutex_lock(&sp->mu);
	if ((np = live_locked(sp)) == 0 || (ps = calloc(np, sizeof(*ps))) == NULL) {
		pthread_mutex_unlock(&sp->mu);
		*left = np;         /* none, or all of them when there is no memory to move one */
		return np == 0 ? 0 : -1;
	}
	np = 0;
	for (n = sp->head; n != NULL; n = n->next)
		if (n->state != M_DISK) {
			n->refs++;
			ps[np].n = n;
			ps[np].stlen = n->stlen;
			if (n->stlen > 0 && (ps[np].st = malloc(n->stlen)) != NULL)
				memcpy(ps[np].st, n->st, n->stlen);
			np++;
		}
	pthread_mutex_unlock(&sp->mu);
	/* 2. their data written into tmp/ without the lock, 3. on disk, */
	for (i = 0; i < np && r == 0; i++) {
		if (ps[i].stlen > 0 && ps[i].st == NULL)
			r = -1;
		else
			r = spill_write(sp, ps[i].n, ps[i].st, ps[i].stlen);
		ps[i].written = r == 0;
	}
	if (r == 0 && np > 0 && syncfs(sp->lockfd) < 0)
		r = -1;
	/* 4. their names in queue/, with the table locked (renames only: a few milliseconds), and
	 * 5. on disk, without it: commits and done records go on meanwhile. From the rename on a
	 * state line goes beside the file, so until the syncfs is done each is marked unsynced,
	 * and a line syncs the name first (spool_mem_materialize); so does the checkpoint. */
	pthread_mutex_lock(&sp->mu);
	for (i = 0; i < np; i++) {
		int m = r == 0 ? prespill_move_locked(sp, &ps[i]) : (prespill_unlink(sp, ps[i].n->qid), 0);
		if (m < 0)
			r = -1;
		moved += m > 0;
	}
	pthread_mutex_unlock(&sp->mu);
	int synced = moved > 0 && syncfs(sp->lockfd) == 0;
	if (moved > 0 && !synced)
		r = -1;
	pthread_mutex_lock(&sp->mu);
	for (i = 0; i < np; i++) {
		if (synced)
			ps[i].n->unsynced = 0;
		spool_mem_unref_locked(ps[i].n);
	}
	*left = live_locked(sp);
	pthread_mutex_unlock(&sp->mu);
	for (i = 0; i < np; i++)
		free(ps[i].st);
	free(ps);
	return r;
}
