/*
 * spool.c - the spool's directories, the commit protocol, and entries with their state log.
 * The file formats are queuefile.c's, the memory table memtable.c's (see spool_int.h).
 * Not the scheduler (deliver/runner.c decides when and what to deliver) and not the network.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "../util/fsutil.h"
#include "../util/log.h"
#include "../util/metrics.h"
#include "spool_int.h"

const char *spool_dir(const struct spool *sp) { return sp->dir; }

/* The spool's directories, created as needed (mode 0700). */
static int make_dirs(const struct spool *sp, char *errbuf, size_t errlen)
{
	static const char *dirs[] = { "tmp", "queue", "corrupt" };
	char path[PATH_MAX];

	if (fs_mkdir_p(sp->dir, 0700) < 0) {
		snprintf(errbuf, errlen, "spool %s: %s", sp->dir, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < 3 + 16; i++) {
		if ((i < 3 ? spool_sub(sp, path, sizeof(path), "%s", dirs[i]) :
		             spool_sub(sp, path, sizeof(path), "queue/%X", (unsigned)(i - 3))) < 0 ||
		    (mkdir(path, 0700) < 0 && errno != EEXIST)) {
			snprintf(errbuf, errlen, "spool %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int spool_check(const char *dir, char *errbuf, size_t errlen)
{
	struct spool *sp = calloc(1, sizeof(*sp));
	char path[PATH_MAX];
	int fd, r = -1;

	if (sp == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	snprintf(sp->dir, sizeof(sp->dir), "%s", dir);
	if (make_dirs(sp, errbuf, errlen) < 0)
		goto out;
	/* Writable, as a message would be written: a file in tmp/, created and removed. */
	if (spool_sub(sp, path, sizeof(path), "tmp/.check.%ld", (long)getpid()) < 0 ||
	    (fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		snprintf(errbuf, errlen, "spool %s: cannot write in tmp/: %s", dir, strerror(errno));
		goto out;
	}
	close(fd);
	unlink(path);
	r = 0;
out:
	free(sp);
	return r;
}

struct spool *spool_open(const char *dir, char *errbuf, size_t errlen)
{
	struct spool *sp = calloc(1, sizeof(*sp));
	char path[PATH_MAX];

	if (sp == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	sp->lockfd = -1;
	sp->membudget = SPOOL_MEM_BUDGET;
	pthread_mutex_init(&sp->mu, NULL);
	snprintf(sp->dir, sizeof(sp->dir), "%s", dir);
	if (make_dirs(sp, errbuf, errlen) < 0)
		goto fail;
	spool_sub(sp, path, sizeof(path), "lock");
	sp->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->lockfd < 0 || flock(sp->lockfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(errbuf, errlen, "spool %s: %s", dir,
		         errno == EWOULDBLOCK ? "in use by another mailport process" : strerror(errno));
		goto fail;
	}
	/* Nothing in tmp/ was ever acknowledged with 250: the client will send it again. */
	spool_sub(sp, path, sizeof(path), "tmp");
	DIR *d = opendir(path);
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			char f[PATH_MAX];
			if (de->d_name[0] == '.')
				continue;
			if (spool_sub(sp, f, sizeof(f), "tmp/%s", de->d_name) == 0)
				unlink(f);
		}
		closedir(d);
	}
	fs_fsync_dir(sp->dir);
	return sp;
fail:
	spool_close(sp);
	return NULL;
}

void spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->lockfd >= 0)
		close(sp->lockfd);
	while (sp->head != NULL)
		spool_mem_drop_locked(sp, sp->head);  // NOLINT(clang-analyzer-unix.Malloc): each drop unlinks the head first
	pthread_mutex_destroy(&sp->mu);
	free(sp);
}

/* ---- writing ------------------------------------------------------------------------- */

static int wflush(struct spool_msg *m)
{
	if (m->wlen && fs_write_all(m->fd, m->wbuf, m->wlen) < 0) {
		m->failed = 1;
		return -1;
	}
	m->wlen = 0;
	return 0;
}

/* From memory to tmp/: the message outgrew SPOOL_MEM_MAX, or it is committed the classic way. */
static int to_file(struct spool_msg *m)
{
	for (int tries = 0; tries < 2; tries++) {
		m->fd = open(m->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (m->fd >= 0 || errno != EEXIST)
			break;
		unlink(m->tmp);         /* a leftover of a crashed run that reused the name */
	}
	if (m->fd < 0 || fs_write_all(m->fd, m->mem, (size_t)m->pos) < 0) {
		m->failed = 1;
		return -1;
	}
	free(m->mem);
	m->sp->membytes -= (long)m->memcap;
	m->mem = NULL;
	m->memcap = 0;
	return 0;
}

static int wput(struct spool_msg *m, const void *p, size_t n)
{
	if (m->failed)
		return -1;
	if (m->fd < 0) {
		size_t need = (size_t)m->pos + n, cap = m->memcap ? m->memcap : 4096;
		while (cap < need)
			cap *= 2;
		/* Within the budget, or to tmp/: many large messages at once cannot exhaust memory. */
		if (need <= SPOOL_MEM_MAX && (cap == m->memcap || m->sp->membytes + (long)(cap - m->memcap) <= m->sp->membudget)) {
			if (cap > m->memcap) {
				char *nm = realloc(m->mem, cap);
				if (nm == NULL) {
					m->failed = 1;
					return -1;
				}
				m->sp->membytes += (long)(cap - m->memcap);
				m->mem = nm;
				m->memcap = cap;
			}
			memcpy(m->mem + m->pos, p, n);
			m->pos += (off_t)n;
			return 0;
		}
		if (to_file(m) < 0)
			return -1;
	}
	if (m->wlen + n > sizeof(m->wbuf)) {
		if (wflush(m) < 0)
			return -1;
		if (n > sizeof(m->wbuf)) {
			if (fs_write_all(m->fd, p, n) < 0) {
				m->failed = 1;
				return -1;
			}
			m->pos += (off_t)n;
			return 0;
		}
	}
	memcpy(m->wbuf + m->wlen, p, n);
	m->wlen += n;
	m->pos += (off_t)n;
	return 0;
}

static int record(struct spool_msg *m, char type, const char *payload, size_t len)
{
	char head[48];
	int n = snprintf(head, sizeof(head), "%c %zu\n", type, len);

	if (m->in_body) {
		errno = EINVAL;
		return -1;
	}
	if (wput(m, head, (size_t)n) < 0 || wput(m, payload, len) < 0 || wput(m, "\n", 1) < 0)
		return -1;
	return 0;
}

struct spool_msg *spool_msg_begin(struct spool *sp, long long arrival)
{
	struct spool_msg *m = malloc(sizeof(*m));
	struct timeval tv;
	char num[32];

	if (m == NULL)
		return NULL;
	memset(m, 0, offsetof(struct spool_msg, wbuf));
	m->sp = sp;
	m->fd = -1;
	gettimeofday(&tv, NULL);
	/* Seconds, microseconds, a counter (sortable by arrival and unique for one process; the
	 * spool lock makes the process the only writer), then the bucket: the tenth of a second,
	 * so messages committed together share one directory and one fsync of it. */
	snprintf(m->qid, sizeof(m->qid), "%08" PRIX64 "%05lX%04X%X", (uint64_t)tv.tv_sec,
	         (unsigned long)tv.tv_usec, (++sp->counter) & 0xffff,
	         (unsigned)(((uint64_t)tv.tv_sec * 10 + (uint64_t)tv.tv_usec / 100000) & 0xf));
	if (spool_sub(sp, m->tmp, sizeof(m->tmp), "tmp/%s", m->qid) < 0)
		goto fail;
	snprintf(num, sizeof(num), "%lld", arrival);
	if (wput(m, SPOOL_MAGIC, sizeof(SPOOL_MAGIC) - 1) < 0 || record(m, 'T', num, strlen(num)) < 0)
		goto fail;
	return m;
fail:
	sp->membytes -= (long)m->memcap;
	free(m->mem);
	free(m);
	return NULL;
}

const char *spool_msg_qid(const struct spool_msg *m) { return m->qid; }
size_t spool_msg_size(const struct spool_msg *m) { return m->body_len; }

int spool_msg_sender(struct spool_msg *m, const char *sender)
{
	return record(m, 'S', sender, strlen(sender));
}

void spool_msg_flags(struct spool_msg *m, unsigned flags)
{
	m->flags = flags;
}

int spool_msg_rcpt(struct spool_msg *m, const char *target, const char *orig, int local)
{
	if (record(m, 'R', target, strlen(target)) < 0 || record(m, 'O', orig, strlen(orig)) < 0)
		return -1;
	return record(m, 'L', local ? "1" : "0", 1);
}

int spool_msg_write(struct spool_msg *m, const char *p, size_t n)
{
	if (!m->in_body) {
		char head[SPOOL_LEN_DIGITS + 4];
		snprintf(head, sizeof(head), "M %0*d\n", SPOOL_LEN_DIGITS, 0);
		m->len_off = m->pos + 2;
		if (wput(m, head, strlen(head)) < 0)
			return -1;
		m->in_body = 1;
	}
	m->body_len += n;
	return wput(m, p, n);
}

int spool_msg_prepend(struct spool_msg *m, const char *p, size_t n)
{
	off_t start = m->len_off + SPOOL_LEN_DIGITS + 1, old = m->pos;

	if (m->finished || !m->in_body || m->failed) {
		errno = EINVAL;
		return -1;
	}
	/* Room for n more octets first (in memory, or the message moves to tmp/ now). */
	if (m->fd < 0 && wput(m, p, n) < 0)
		return -1;
	if (m->fd < 0) {
		memmove(m->mem + start + n, m->mem + start, (size_t)(old - start));
		memcpy(m->mem + start, p, n);
		m->body_len += n;
		return 0;
	}
	if (wflush(m) < 0)
		return -1;
	/* In the file: the body moves up by n, from its end down, then p goes in front. */
	for (off_t end = old; end > start;) {
		size_t k = end - start < (off_t)sizeof(m->wbuf) ? (size_t)(end - start) : sizeof(m->wbuf);
		if (pread(m->fd, m->wbuf, k, end - (off_t)k) != (ssize_t)k ||
		    fs_pwrite_all(m->fd, m->wbuf, k, end - (off_t)k + (off_t)n) < 0) {
			m->failed = 1;
			return -1;
		}
		end -= (off_t)k;
	}
	if (fs_pwrite_all(m->fd, p, n, start) < 0) {
		m->failed = 1;
		return -1;
	}
	m->pos = old + (off_t)n;
	m->body_len += n;
	return 0;
}

int spool_msg_finish(struct spool_msg *m)
{
	char digits[SPOOL_LEN_DIGITS + 1];

	if (m->finished)
		return 0;
	if (!m->in_body && spool_msg_write(m, "", 0) < 0)
		return -1;
	if (wput(m, "\n", 1) < 0)
		return -1;
	if (m->flags) {
		char words[64];
		int wn = (int)spool_flags_words(m->flags, words, sizeof(words));
		char head[16];
		int hn = snprintf(head, sizeof(head), "P %d\n", wn);
		if (wput(m, head, (size_t)hn) < 0 || wput(m, words, (size_t)wn) < 0 || wput(m, "\n", 1) < 0)
			return -1;
	}
	if (wflush(m) < 0)
		return -1;
	snprintf(digits, sizeof(digits), "%0*zu", SPOOL_LEN_DIGITS, m->body_len);
	if (m->fd < 0)
		memcpy(m->mem + m->len_off, digits, SPOOL_LEN_DIGITS);
	else if (pwrite(m->fd, digits, SPOOL_LEN_DIGITS, m->len_off) != SPOOL_LEN_DIGITS)
		return -1;
	/* The checksum of everything so far, in one pass over large pieces (per line it costs a
	 * third of the server's time); a message in tmp/ is read back from the page cache. */
	uLong sum = crc32(0L, Z_NULL, 0);
	if (m->fd < 0)
		sum = crc32_z(sum, (const Bytef *)m->mem, (z_size_t)m->pos);
	else
		for (off_t o = 0; o < m->pos; ) {
			ssize_t n = pread(m->fd, m->wbuf, sizeof(m->wbuf), o);
			if (n <= 0)
				return -1;
			sum = crc32_z(sum, (const Bytef *)m->wbuf, (z_size_t)n);
			o += n;
		}
	m->sum = (uint32_t)sum;
	m->summed = (size_t)m->pos;
	char tail[32];
	int tn = snprintf(tail, sizeof(tail), "K 8\n%08lx\nE 0\n\n", (unsigned long)sum);
	if (wput(m, tail, (size_t)tn) < 0 || wflush(m) < 0)
		return -1;
	m->finished = 1;
	return 0;
}

uint32_t spool_msg_sum(const struct spool_msg *m, size_t *covered)
{
	*covered = m->summed;
	return m->sum;
}

const void *spool_msg_mem(const struct spool_msg *m, size_t *len)
{
	*len = (size_t)m->pos;
	return m->fd < 0 && m->finished ? m->mem : NULL;
}

int spool_msg_commit(struct spool_msg *m)
{
	char path[PATH_MAX];
	int saved;

	if (spool_msg_finish(m) < 0 || (m->fd < 0 && to_file(m) < 0))
		goto fail;
	/* The durability point: data and metadata on disk before the name appears in queue/. */
	if (fsync(m->fd) < 0)
		goto fail;
	/* close() can report a deferred write error even after fsync (Postfix checks it too). */
	saved = close(m->fd);
	m->fd = -1;
	if (saved < 0)
		goto fail;
	if (spool_sub(m->sp, path, sizeof(path), "queue/%c/%s", spool_bucket(m->qid), m->qid) < 0)
		goto fail;
	/* Its state log's block, before the name (one directory fsync for both; should the
	 * log's name be lost in a crash, the first state line makes it again). */
	char stname[SPOOL_QID_MAX + 8], stpath[PATH_MAX + 4];
	snprintf(stname, sizeof(stname), "%s.st", m->qid);
	snprintf(stpath, sizeof(stpath), "%s.st", path);
	if (spool_write_state(m->sp, stname, NULL, 0, 0, stpath) < 0)
		goto fail;
	/* rename + fsync(queue/B): after this returns the message survives a crash. */
	if (fs_rename_durable(m->tmp, path) < 0) {
		saved = errno;
		/* XXX if rename succeeded but the directory fsync failed, the name may or may not
		 * survive a crash; we reply 451 and the client resends: a duplicate is possible,
		 * a loss is not. Remove our copy so the likely case stays duplicate-free. */
		unlink(path);
		unlink(stpath);
		errno = saved;
		goto fail;
	}
	free(m);
	return 0;
fail:
	saved = errno;
	spool_msg_abort(m);
	errno = saved;
	return -1;
}

void spool_msg_abort(struct spool_msg *m)
{
	if (m == NULL)
		return;
	if (m->fd >= 0)
		close(m->fd);
	if (m->fd >= 0 || m->mem == NULL)   /* it went to tmp/ at some point */
		unlink(m->tmp);
	m->sp->membytes -= (long)m->memcap;
	free(m->mem);
	free(m);
}

static void quarantine(struct spool *sp, const char *qid)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (spool_sub(sp, from, sizeof(from), "queue/%c/%s", spool_bucket(qid), qid) == 0 &&
	    spool_sub(sp, to, sizeof(to), "corrupt/%s", qid) == 0)
		fs_rename_durable(from, to);
}

static int load_state(struct spool *sp, struct spool_entry *e)
{
	char path[PATH_MAX];
	FILE *fp;

	if (spool_sub(sp, path, sizeof(path), "queue/%c/%s.st", spool_bucket(e->qid), e->qid) < 0)
		return -1;
	fp = fopen(path, "re");
	if (fp == NULL)
		return errno == ENOENT ? 0 : -1;
	spool_parse_state(e, fp);
	fclose(fp);
	return 0;
}

static struct spool_entry *entry_load(struct spool *sp, const char *qid, int claim)
{
	struct spool_entry *e = calloc(1, sizeof(*e));
	char path[PATH_MAX];
	FILE *fp = NULL;
	int fd = -1, saved, r;
	struct stat st;

	if (e == NULL)
		return NULL;
	e->fd = -1;
	snprintf(e->qid, sizeof(e->qid), "%s", qid);
	pthread_mutex_lock(&sp->mu);
	struct spool_mnode *n = spool_mem_find_locked(sp, qid);
	if (n != NULL && n->state == M_BUSY && claim) {
		pthread_mutex_unlock(&sp->mu);
		errno = EBUSY;          /* someone else has it right now */
		goto fail;
	}
	char *stcopy = NULL;
	size_t stlen = 0;
	if (n != NULL && n->state != M_DISK) {
		if (claim)
			n->state = M_BUSY;
		n->refs++;
		e->mem = n;
		if (n->stlen > 0 && (stcopy = malloc(n->stlen)) != NULL) {
			memcpy(stcopy, n->st, n->stlen);
			stlen = n->stlen;
		}
	}
	pthread_mutex_unlock(&sp->mu);
	if (e->mem != NULL) {
		struct spool_mnode *m = e->mem;
		struct spool_entry *got = spool_mem_load(e, m, stcopy, stlen);
		saved = errno;
		free(stcopy);
		if (!claim) {           /* a look only: the bytes, no claim on the message */
			e->mem = NULL;
			pthread_mutex_lock(&sp->mu);
			spool_mem_unref_locked(m);
			pthread_mutex_unlock(&sp->mu);
		} else if (got == NULL)
			log_errx(qid, "message in memory failed validation: %s", strerror(saved));
		if (got == NULL) {
			spool_entry_free(e);
			errno = saved;
		}
		return got;
	}
	if (spool_sub(sp, path, sizeof(path), "queue/%c/%s", spool_bucket(qid), qid) < 0)
		goto fail;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	int fd2 = dup(fd);
	if (fd2 < 0 || (fp = fdopen(fd2, "r")) == NULL) {
		if (fd2 >= 0)
			close(fd2);
		goto fail;
	}
	if (fstat(fd, &st) < 0)
		goto fail;
	if ((r = spool_parse_entry(e, fp, st.st_size, claim)) == -2)
		goto corrupt;
	if (r < 0)
		goto fail;
	fclose(fp);
	fp = NULL;
	e->fd = fd;
	if (load_state(sp, e) < 0) {
		e->fd = -1;
		goto fail;
	}
	return e;
corrupt:
	quarantine(sp, qid);
	errno = EBADMSG;
fail:
	saved = errno;
	if (fp)
		fclose(fp);
	if (fd >= 0)
		close(fd);
	spool_entry_free(e);
	errno = saved;
	return NULL;
}

struct spool_entry *spool_entry_load(struct spool *sp, const char *qid) { return entry_load(sp, qid, 1); }
struct spool_entry *spool_entry_peek(struct spool *sp, const char *qid) { return entry_load(sp, qid, 0); }

int spool_entry_keep(struct spool *sp, struct spool_entry *e)
{
	return e->mem != NULL ? spool_mem_materialize(sp, e->mem) : 0;
}

void spool_entry_free(struct spool_entry *e)
{
	if (e == NULL)
		return;
	spool_entry_clear(e);
	if (e->fd >= 0)
		close(e->fd);
	if (e->mem != NULL) {
		struct spool *sp = e->mem->sp;
		pthread_mutex_lock(&sp->mu);
		if (e->mem->state == M_BUSY)
			e->mem->state = M_LIVE;     /* still owed: the next attempt or the checkpoint */
		spool_mem_unref_locked(e->mem);
		pthread_mutex_unlock(&sp->mu);
	}
	free(e);
}

static int state_append(struct spool *sp, const struct spool_entry *e, const char *line, size_t len)
{
	char path[PATH_MAX];
	int fd, r = -1, saved, created;
	struct stat st;

	if (e->mem != NULL && spool_mem_materialize(sp, e->mem) < 0)
		return -1;

	if (spool_sub(sp, path, sizeof(path), "queue/%c/%s.st", spool_bucket(e->qid), e->qid) < 0)
		return -1;
	created = stat(path, &st) < 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (fs_write_all(fd, line, len) == 0 && fdatasync(fd) == 0)
		r = 0;
	saved = errno;
	if (close(fd) < 0 && r == 0) {
		r = -1;
		saved = errno;
	}
	/* A new log's name must be durable too, or the line could vanish with it. */
	if (r == 0 && created && fs_fsync_parent(path) < 0) {
		r = -1;
		saved = errno;
	}
	errno = saved;
	return r;
}

/* Format one state line and append it durably; a line that does not fit is refused whole. */
static int state_appendf(struct spool *sp, const struct spool_entry *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int state_appendf(struct spool *sp, const struct spool_entry *e, const char *fmt, ...)
{
	char line[PATH_MAX + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return state_append(sp, e, line, (size_t)n);
}

int spool_entry_intent(struct spool *sp, struct spool_entry *e, size_t rcpt, const char *path)
{
	char line[PATH_MAX + 64];
	int n, r = 0;

	if (strchr(path, '\n') != NULL) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(line, sizeof(line), "I %zu %s\n", rcpt, path);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (e->mem != NULL && (r = spool_mem_state_line(sp, e->mem, line, (size_t)n)) < 0)
		return -1;
	if (r == 0 && state_append(sp, e, line, (size_t)n) < 0)
		return -1;
	free(e->rcpts[rcpt].intent);
	e->rcpts[rcpt].intent = strdup(path);
	return 0;
}

void spool_entry_delivered(const struct spool_entry *e)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	metrics_add(MET_DELIVERED, 1);
	metrics_observe(HIST_DELIVERY_SECONDS, (double)now.tv_sec + (double)now.tv_nsec / 1e9 - (double)e->arrival);
}

int spool_entry_done(struct spool *sp, struct spool_entry *e, size_t rcpt)
{
	if (state_appendf(sp, e, "D %zu\n", rcpt) < 0)
		return -1;
	e->rcpts[rcpt].done = 1;
	return 0;
}

/* One log line of free text: no newline, bounded. */
static void one_line(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
	for (char *p = dst; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

int spool_entry_failed(struct spool *sp, struct spool_entry *e, size_t rcpt, int code, const char *text)
{
	char t[900];

	one_line(t, sizeof(t), text);
	if (state_appendf(sp, e, "F %zu %d %s\n", rcpt, code, t) < 0)
		return -1;
	metrics_add(MET_BOUNCED, 1);
	e->rcpts[rcpt].fail_code = code;
	free(e->rcpts[rcpt].fail_text);
	e->rcpts[rcpt].fail_text = strdup(t);
	return 0;
}

int spool_entry_retry(struct spool *sp, struct spool_entry *e, long long next, const char *text)
{
	char t[900];

	one_line(t, sizeof(t), text);
	if (state_appendf(sp, e, "R %lld %u %s\n", next, e->attempts + 1, t) < 0)
		return -1;
	metrics_add(MET_DEFERRED, 1);
	e->next_attempt = next;
	e->attempts++;
	free(e->last_error);
	e->last_error = strdup(t);
	return 0;
}

int spool_entry_bounced(struct spool *sp, struct spool_entry *e, size_t rcpt)
{
	if (state_appendf(sp, e, "B %zu\n", rcpt) < 0)
		return -1;
	e->rcpts[rcpt].bounced = 1;
	return 0;
}

int spool_entry_remove(struct spool *sp, struct spool_entry *e)
{
	char path[PATH_MAX], st[PATH_MAX];
	int r = spool_mem_forget(sp, e);

	if (r != 0)
		return r < 0 ? -1 : 0;
	if (spool_sub(sp, path, sizeof(path), "queue/%c/%s", spool_bucket(e->qid), e->qid) < 0 ||
	    spool_sub(sp, st, sizeof(st), "queue/%c/%s.st", spool_bucket(e->qid), e->qid) < 0)
		return -1;
	/* Message first: a log without its message is an orphan spool_scan() removes; a
	 * message without its log would be delivered again. Both names live in one directory,
	 * so one fsync of it makes both removals durable (ext4 and xfs keep their order). */
	struct stat sb;
	int stateless = stat(st, &sb) < 0 ? errno == ENOENT : (size_t)sb.st_size <= ST_HEAD_LEN;
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	if (unlink(st) < 0 && errno != ENOENT)
		return -1;
	/* No state lines and nothing done in memory only: nothing was delivered that a second
	 * pass could duplicate (a discard; a Maildir copy always leaves an intent record first),
	 * so a removal that a crash undoes costs one more harmless pass: no flush. */
	if (stateless && !e->unrecorded)
		return 0;
	return fs_fsync_parent(path);
}

static int qid_cmp(const void *a, const void *b) { return strcmp(a, b); }

int spool_scan(struct spool *sp, void (*fn)(void *arg, const char *qid), void *arg)
{
	char path[PATH_MAX];
	char (*mem)[SPOOL_QID_MAX] = NULL;
	size_t nmem = 0;

	/* The memory table's messages first (copied: fn may load them, which takes the lock),
	 * then queue/, where one written there meanwhile is not listed a second time. */
	pthread_mutex_lock(&sp->mu);
	if (sp->nmem > 0 && (mem = malloc(sp->nmem * SPOOL_QID_MAX)) != NULL)
		for (struct spool_mnode *n = sp->head; n != NULL; n = n->next)
			if (n->state != M_DISK)
				snprintf(mem[nmem++], SPOOL_QID_MAX, "%s", n->qid);
	pthread_mutex_unlock(&sp->mu);
	for (size_t i = 0; i < nmem; i++)
		fn(arg, mem[i]);
	if (nmem > 1)
		qsort(mem, nmem, SPOOL_QID_MAX, qid_cmp);

	for (int b = 0; b < 16; b++) {
		DIR *d;
		struct dirent *de;

		if (spool_sub(sp, path, sizeof(path), "queue/%X", b) < 0 || (d = opendir(path)) == NULL) {
			free(mem);
			return -1;
		}
		while ((de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);
			if (de->d_name[0] == '.' || n >= SPOOL_QID_MAX + 3)
				continue;
			if (n > 3 && strcmp(de->d_name + n - 3, ".st") == 0) {
				char msg[PATH_MAX];
				struct stat st;
				if (spool_sub(sp, msg, sizeof(msg), "queue/%X/%.*s", b, (int)(n - 3), de->d_name) == 0 &&
				    stat(msg, &st) < 0 && errno == ENOENT) {
					char stp[PATH_MAX];
					if (spool_sub(sp, stp, sizeof(stp), "queue/%X/%s", b, de->d_name) == 0)
						unlink(stp);
				}
				continue;
			}
			if (nmem == 0 || bsearch(de->d_name, mem, nmem, SPOOL_QID_MAX, qid_cmp) == NULL)
				fn(arg, de->d_name);
		}
		closedir(d);
	}
	free(mem);
	return 0;
}
