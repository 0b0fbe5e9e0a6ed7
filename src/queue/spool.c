/*
 * spool.c - queue file format, commit protocol and state log.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "../util/fsutil.h"
#include "../util/log.h"

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
	int in_table;
	unsigned refs;          /* the table's and an entry's */
	struct spool_mnode *hnext, *prev, *next;
};

struct spool {
	char dir[PATH_MAX];
	int lockfd;
	unsigned counter;
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
	off_t len_off;          /* offset of the M record's length digits */
	uint32_t sum;           /* finished: CRC-32 of the first summed octets (the K record's) */
	size_t summed;
	size_t body_len;
	off_t pos;
	int failed;
	size_t wlen;
	char wbuf[SPOOL_WBUF];
};

static void mem_drop_locked(struct spool *sp, struct spool_mnode *n);
static void mem_insert(struct spool *sp, struct spool_mnode *n);
static int write_state(struct spool *sp, const char *name, const char *st, size_t stlen, int sync, const char *dst);

const char *spool_dir(const struct spool *sp) { return sp->dir; }

static int sub(const struct spool *sp, char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int sub(const struct spool *sp, char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(out, outlen, "%s/", sp->dir);

	va_start(ap, fmt);
	n += vsnprintf(out + n, outlen - (size_t)n, fmt, ap);
	va_end(ap);
	if ((size_t)n >= outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static char bucket_of(const char *qid)
{
	size_t n = strlen(qid);
	return n ? qid[n - 1] : '0';
}

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
		if ((i < 3 ? sub(sp, path, sizeof(path), "%s", dirs[i]) :
		             sub(sp, path, sizeof(path), "queue/%X", (unsigned)(i - 3))) < 0 ||
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
	if (sub(sp, path, sizeof(path), "tmp/.check.%ld", (long)getpid()) < 0 ||
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
	sub(sp, path, sizeof(path), "lock");
	sp->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->lockfd < 0 || flock(sp->lockfd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(errbuf, errlen, "spool %s: %s", dir,
		         errno == EWOULDBLOCK ? "in use by another mailport process" : strerror(errno));
		goto fail;
	}
	/* Nothing in tmp/ was ever acknowledged with 250: the client will send it again. */
	sub(sp, path, sizeof(path), "tmp");
	DIR *d = opendir(path);
	if (d != NULL) {
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			char f[PATH_MAX];
			if (de->d_name[0] == '.')
				continue;
			if (sub(sp, f, sizeof(f), "tmp/%s", de->d_name) == 0)
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
		mem_drop_locked(sp, sp->head);  // NOLINT(clang-analyzer-unix.Malloc): each drop unlinks the head first
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
	if (sub(sp, m->tmp, sizeof(m->tmp), "tmp/%s", m->qid) < 0)
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

int spool_msg_finish(struct spool_msg *m)
{
	char digits[SPOOL_LEN_DIGITS + 1];

	if (m->finished)
		return 0;
	if (!m->in_body && spool_msg_write(m, "", 0) < 0)
		return -1;
	if (wput(m, "\n", 1) < 0 || wflush(m) < 0)
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
	if (sub(m->sp, path, sizeof(path), "queue/%c/%s", bucket_of(m->qid), m->qid) < 0)
		goto fail;
	/* Its state log's block, before the name (one directory fsync for both; should the
	 * log's name be lost in a crash, the first state line makes it again). */
	char stname[SPOOL_QID_MAX + 8], stpath[PATH_MAX + 4];
	snprintf(stname, sizeof(stname), "%s.st", m->qid);
	snprintf(stpath, sizeof(stpath), "%s.st", path);
	if (write_state(m->sp, stname, NULL, 0, 0, stpath) < 0)
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

/* Write buf to tmp/name; with sync, fsync it and rename it to dst (the directory is not
 * synced: the caller syncs once for several). */
static int write_tmp(struct spool *sp, const char *name, const void *buf, size_t len, int sync, const char *dst)
{
	char tmp[PATH_MAX];
	int fd, saved;

	if (sub(sp, tmp, sizeof(tmp), "tmp/%s", name) < 0)
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (fs_write_all(fd, buf, len) < 0 || (sync && fsync(fd) < 0)) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0 || (dst != NULL && rename(tmp, dst) < 0)) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

/* tmp/name holds the state log: the head line, then st; see write_tmp. */
static int write_state(struct spool *sp, const char *name, const char *st, size_t stlen, int sync, const char *dst)
{
	char *buf = malloc(ST_HEAD_LEN + stlen);
	int r;

	if (buf == NULL)
		return -1;
	memcpy(buf, ST_HEAD, ST_HEAD_LEN);
	if (stlen > 0)
		memcpy(buf + ST_HEAD_LEN, st, stlen);
	r = write_tmp(sp, name, buf, ST_HEAD_LEN + stlen, sync, dst);
	free(buf);
	return r;
}

/* Is queue/B/qid there, whole and the same as buf? */
static int in_queue(struct spool *sp, const char *qid, const void *buf, size_t len)
{
	char path[PATH_MAX];
	struct stat sb;
	int fd, same = 0;

	if (sub(sp, path, sizeof(path), "queue/%c/%s", bucket_of(qid), qid) < 0)
		return 0;
	if (stat(path, &sb) == 0 && (size_t)sb.st_size == len && (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		char *cur = malloc(len ? len : 1);
		same = cur != NULL && pread(fd, cur, len, 0) == (ssize_t)len && memcmp(cur, buf, len) == 0;
		free(cur);
		close(fd);
	}
	return same;
}

/* Write queue/B/qid with its state log st (stlen may be 0), durably (tmp, fsync, rename,
 * fsync(dir)), unless an identical file is already there. */
static int restore(struct spool *sp, const char *qid, const void *buf, size_t len, const char *st, size_t stlen)
{
	char path[PATH_MAX], stpath[PATH_MAX], name[SPOOL_QID_MAX + 16];

	if (sub(sp, path, sizeof(path), "queue/%c/%s", bucket_of(qid), qid) < 0 ||
	    sub(sp, stpath, sizeof(stpath), "queue/%c/%s.st", bucket_of(qid), qid) < 0)
		return -1;
	/* Already there (with whatever state it has gathered): done. */
	if (in_queue(sp, qid, buf, len))
		return 0;
	/* The state log first: a log without its message is an orphan a scan removes; a message
	 * without its intent lines could be delivered twice. One directory fsync for both. */
	snprintf(name, sizeof(name), "%s.st.restore", qid);
	if (write_state(sp, name, st, stlen, stlen > 0, stpath) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s.restore", qid);
	if (write_tmp(sp, name, buf, len, 1, path) < 0)
		return -1;
	return fs_fsync_parent(path);
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

/* ---- reading ------------------------------------------------------------------------- */

static int read_head(FILE *fp, char *type, size_t *len)
{
	char line[64];
	char *end;

	if (fgets(line, sizeof(line), fp) == NULL)
		return -1;
	if (strlen(line) < 4 || line[1] != ' ' || line[strlen(line) - 1] != '\n')
		return -1;
	*type = line[0];
	errno = 0;
	unsigned long long v = strtoull(line + 2, &end, 10);
	if (errno || *end != '\n' || end == line + 2)
		return -1;
	*len = (size_t)v;
	return 0;
}

static char *read_payload(FILE *fp, size_t len)
{
	char *p;

	if (len > SPOOL_REC_MAX || (p = malloc(len + 1)) == NULL)
		return NULL;
	if (fread(p, 1, len, fp) != len || fgetc(fp) != '\n' || memchr(p, '\0', len) != NULL) {
		free(p);
		return NULL;
	}
	p[len] = '\0';
	return p;
}

static void quarantine(struct spool *sp, const char *qid)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (sub(sp, from, sizeof(from), "queue/%c/%s", bucket_of(qid), qid) == 0 &&
	    sub(sp, to, sizeof(to), "corrupt/%s", qid) == 0)
		fs_rename_durable(from, to);
}

static void parse_state(struct spool_entry *e, FILE *fp)
{
	char line[PATH_MAX + 64];

	while (fgets(line, sizeof(line), fp) != NULL) {
		size_t n;
		char *end, *nl = strchr(line, '\n');
		/* A line without its newline is a torn append: it was never made durable, and
		 * whatever it announced did not happen yet (the action follows the fdatasync). */
		if (nl == NULL)
			break;
		*nl = '\0';
		if (line[0] == 'R' && line[1] == ' ') {
			e->next_attempt = strtoll(line + 2, &end, 10);
			e->attempts = (unsigned)strtoul(end, &end, 10);
			free(e->last_error);
			e->last_error = strdup(*end == ' ' ? end + 1 : "");
			continue;
		}
		if ((line[0] != 'D' && line[0] != 'I' && line[0] != 'F' && line[0] != 'B') || line[1] != ' ')
			continue;
		n = strtoul(line + 2, &end, 10);
		if (n >= e->nrcpts)
			continue;
		if (line[0] == 'D' && *end == '\0')
			e->rcpts[n].done = 1;
		else if (line[0] == 'B' && *end == '\0')
			e->rcpts[n].bounced = 1;
		else if (line[0] == 'F' && *end == ' ') {
			e->rcpts[n].fail_code = (int)strtol(end + 1, &end, 10);
			free(e->rcpts[n].fail_text);
			e->rcpts[n].fail_text = strdup(*end == ' ' ? end + 1 : "");
		} else if (line[0] == 'I' && *end == ' ') {
			free(e->rcpts[n].intent);
			e->rcpts[n].intent = strdup(end + 1);
		}
	}
}

static int load_state(struct spool *sp, struct spool_entry *e)
{
	char path[PATH_MAX];
	FILE *fp;

	if (sub(sp, path, sizeof(path), "queue/%c/%s.st", bucket_of(e->qid), e->qid) < 0)
		return -1;
	fp = fopen(path, "re");
	if (fp == NULL)
		return errno == ENOENT ? 0 : -1;
	parse_state(e, fp);
	fclose(fp);
	return 0;
}

/* Does the CRC-32 of fp's first n octets match the K record's hex text? fp is left where it was. */
static int sum_ok(FILE *fp, off_t n, const char *hex)
{
	char buf[65536];
	uLong sum = crc32(0L, Z_NULL, 0);
	off_t at = ftello(fp);
	char *end;
	unsigned long want = strtoul(hex, &end, 16);

	if (*end != '\0' || strlen(hex) != 8 || fseeko(fp, 0, SEEK_SET) < 0)
		return 0;
	for (off_t o = 0; o < n; ) {
		size_t k = n - o < (off_t)sizeof(buf) ? (size_t)(n - o) : sizeof(buf);
		if (fread(buf, 1, k, fp) != k)
			return 0;
		sum = crc32(sum, (const Bytef *)buf, (uInt)k);
		o += (off_t)k;
	}
	return fseeko(fp, at, SEEK_SET) == 0 && sum == want;
}

/* Parse a queue file from fp (size octets in all); with verify, its checksum (K) too, where
 * it has one (files of mailport before it do not). 0, -1 (errno) or -2 (it is corrupt). */
static int parse_entry(struct spool_entry *e, FILE *fp, off_t size, int verify)
{
	char magic[sizeof(SPOOL_MAGIC)];
	int summed = 0;

	if (fread(magic, 1, sizeof(SPOOL_MAGIC) - 1, fp) != sizeof(SPOOL_MAGIC) - 1 ||
	    memcmp(magic, SPOOL_MAGIC, sizeof(SPOOL_MAGIC) - 1) != 0)
		return -2;
	for (;;) {
		char type;
		size_t len;
		char *p = NULL;
		off_t start = ftello(fp);

		if (read_head(fp, &type, &len) < 0)
			return -2;
		if (type == 'M') {
			e->body_off = ftello(fp);
			e->body_len = len;
			if (fseeko(fp, (off_t)len, SEEK_CUR) < 0 || fgetc(fp) != '\n')
				return -2;
			continue;
		}
		if (type == 'E') {
			if (len != 0 || fgetc(fp) != '\n')
				return -2;
			break;
		}
		if ((p = read_payload(fp, len)) == NULL)
			return -2;
		switch (type) {
		case 'K':
			/* After the message, once: a flipped octet anywhere before it is caught. */
			if (summed || e->body_off == 0 || (verify && !sum_ok(fp, start, p))) {
				if (verify && !summed && e->body_off != 0)
					log_errx(e->qid, "queue file checksum mismatch: its content changed on disk");
				free(p);
				return -2;
			}
			summed = 1;
			free(p);
			break;
		case 'T':
			e->arrival = atoll(p);
			free(p);
			break;
		case 'S':
			free(e->sender);
			e->sender = p;
			break;
		case 'R': {
			struct spool_rcpt *nr = realloc(e->rcpts, (e->nrcpts + 1) * sizeof(*nr));
			if (nr == NULL) {
				free(p);
				return -1;
			}
			e->rcpts = nr;
			memset(&e->rcpts[e->nrcpts], 0, sizeof(*nr));
			e->rcpts[e->nrcpts++].target = p;
			break;
		}
		case 'O':
		case 'L':
			if (e->nrcpts == 0) {
				free(p);
				return -2;
			}
			if (type == 'O') {
				free(e->rcpts[e->nrcpts - 1].orig);
				e->rcpts[e->nrcpts - 1].orig = p;
			} else {
				e->rcpts[e->nrcpts - 1].local = p[0] == '1';
				free(p);
			}
			break;
		default:
			free(p);
			return -2;
		}
	}
	/* Exactly E's blank line, then the end; the message must be there. */
	if (ftello(fp) != size || e->sender == NULL || e->nrcpts == 0 || e->body_off == 0)
		return -2;
	for (size_t i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i].orig == NULL)
			return -2;
	return 0;
}

static int materialize(struct spool *sp, struct spool_mnode *n);

static unsigned hash_of(const char *qid)
{
	unsigned h = 2166136261u;

	for (; *qid; qid++)
		h = (h ^ (unsigned char)*qid) * 16777619u;
	return h % MEM_BUCKETS;
}

static struct spool_mnode *mem_find_locked(struct spool *sp, const char *qid)
{
	struct spool_mnode *n;

	for (n = sp->hash[hash_of(qid)]; n != NULL; n = n->hnext)
		if (strcmp(n->qid, qid) == 0)
			return n;
	return NULL;
}

static void mem_unref_locked(struct spool_mnode *n)
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

static void mem_drop_locked(struct spool *sp, struct spool_mnode *n)
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
	mem_unref_locked(n);
}

/* An entry of the memory table, its body behind an fd like a queue file's (a memfd: no
 * file system, no inode to allocate and free). */
static struct spool_entry *load_mem(struct spool_entry *e, struct spool_mnode *n, char *st, size_t stlen)
{
	FILE *fp = fmemopen(n->buf, n->len, "r");
	int r;

	if (fp == NULL)
		return NULL;
	r = parse_entry(e, fp, (off_t)n->len, 0);
	fclose(fp);
	if (r < 0) {
		errno = r == -2 ? EBADMSG : errno;
		return NULL;
	}
	if (stlen > 0 && (fp = fmemopen(st, stlen, "r")) != NULL) {
		parse_state(e, fp);
		fclose(fp);
	}
	e->fd = memfd_create("mailport-msg", MFD_CLOEXEC);
	if (e->fd < 0 || fs_pwrite_all(e->fd, n->buf, n->len, 0) < 0)
		return NULL;
	return e;
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
	struct spool_mnode *n = mem_find_locked(sp, qid);
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
		struct spool_entry *got = load_mem(e, m, stcopy, stlen);
		saved = errno;
		free(stcopy);
		if (!claim) {           /* a look only: the bytes, no claim on the message */
			e->mem = NULL;
			pthread_mutex_lock(&sp->mu);
			mem_unref_locked(m);
			pthread_mutex_unlock(&sp->mu);
		} else if (got == NULL)
			log_errx(qid, "message in memory failed validation: %s", strerror(saved));
		if (got == NULL) {
			spool_entry_free(e);
			errno = saved;
		}
		return got;
	}
	if (sub(sp, path, sizeof(path), "queue/%c/%s", bucket_of(qid), qid) < 0)
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
	if ((r = parse_entry(e, fp, st.st_size, claim)) == -2)
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
	return e->mem != NULL ? materialize(sp, e->mem) : 0;
}

void spool_entry_free(struct spool_entry *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->nrcpts; i++) {
		free(e->rcpts[i].target);
		free(e->rcpts[i].orig);
		free(e->rcpts[i].intent);
		free(e->rcpts[i].fail_text);
	}
	free(e->rcpts);
	free(e->sender);
	free(e->last_error);
	if (e->fd >= 0)
		close(e->fd);
	if (e->mem != NULL) {
		struct spool *sp = e->mem->sp;
		pthread_mutex_lock(&sp->mu);
		if (e->mem->state == M_BUSY)
			e->mem->state = M_LIVE;     /* still owed: the next attempt or the checkpoint */
		mem_unref_locked(e->mem);
		pthread_mutex_unlock(&sp->mu);
	}
	free(e);
}

/* A state line needs the queue file beside it: an entry from memory gets it now, durably. */
static int materialize(struct spool *sp, struct spool_mnode *n)
{
	int r = 0;

	pthread_mutex_lock(&sp->mu);
	if (n->state != M_DISK && (r = restore(sp, n->qid, n->buf, n->len, n->st, n->stlen)) == 0)
		n->state = M_DISK;
	pthread_mutex_unlock(&sp->mu);
	return r;
}

static int state_append(struct spool *sp, const struct spool_entry *e, const char *line, size_t len)
{
	char path[PATH_MAX];
	int fd, r = -1, saved, created;
	struct stat st;

	if (e->mem != NULL && materialize(sp, e->mem) < 0)
		return -1;

	if (sub(sp, path, sizeof(path), "queue/%c/%s.st", bucket_of(e->qid), e->qid) < 0)
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

/* A state line of a message still only in memory: kept with it and written to the journal
 * (durable when this returns); 0 when it is in queue/ by now, so the line goes beside it. */
static int mem_state_line(struct spool *sp, struct spool_mnode *n, const char *line, size_t len)
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
	if (e->mem != NULL && (r = mem_state_line(sp, e->mem, line, (size_t)n)) < 0)
		return -1;
	if (r == 0 && state_append(sp, e, line, (size_t)n) < 0)
		return -1;
	free(e->rcpts[rcpt].intent);
	e->rcpts[rcpt].intent = strdup(path);
	return 0;
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

/* A message of the journal's current generation (in the memory table) leaves it: the journal
 * is told, so a crash before its checkpoint does not bring the message back. When it is in
 * queue/ too, the journal must know for sure before the file goes: a crash between the unlink
 * and the done record's sync would replay the journal's copy, with only the state it had when
 * it went to queue/, and what was delivered since would go again. Otherwise we wait only
 * when something went out that must not go twice. Never waits with the table locked: the
 * checkpoint takes that lock. 1 = nothing left to do (it was never in queue/). */
static int forget(struct spool *sp, struct spool_entry *e)
{
	unsigned long ticket = 0;
	int disk;

	pthread_mutex_lock(&sp->mu);
	struct spool_mnode *n = e->mem != NULL ? e->mem : mem_find_locked(sp, e->qid);
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
	mem_drop_locked(sp, n);
	pthread_mutex_unlock(&sp->mu);
	if (ticket != 0 && sp->done_wait != NULL && (disk || e->unrecorded))
		sp->done_wait(sp->done_arg, ticket);
	return disk ? 0 : 1;
}

int spool_entry_remove(struct spool *sp, struct spool_entry *e)
{
	char path[PATH_MAX], st[PATH_MAX];
	int r = forget(sp, e);

	if (r != 0)
		return r < 0 ? -1 : 0;
	if (sub(sp, path, sizeof(path), "queue/%c/%s", bucket_of(e->qid), e->qid) < 0 ||
	    sub(sp, st, sizeof(st), "queue/%c/%s.st", bucket_of(e->qid), e->qid) < 0)
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
	if ((r = parse_entry(probe, fp, (off_t)len, 1)) < 0) {
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
	n->state = in_queue(sp, qid, buf, len) ? M_DISK : M_LIVE;
	mem_insert(sp, n);
	n = NULL;
	r = 0;
out:
	if (fp != NULL)
		fclose(fp);
	spool_entry_free(probe);
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

	if (sub(sp, tmp, sizeof(tmp), "tmp/%s%s", qid, suffix) < 0 ||
	    sub(sp, path, sizeof(path), "queue/%c/%s%s", bucket_of(qid), qid, ext) < 0)
		return -1;
	return rename(tmp, path);
}

int spool_mem_spill(struct spool *sp, int (*commit)(void *arg), void *arg)
{
	struct spool_mnode *n;
	int r = 0;

	pthread_mutex_lock(&sp->mu);
	/* 1. the data of every message not yet in queue/ (and its state lines), 2. on disk, */
	for (n = sp->head; n != NULL && r == 0; n = n->next)
		if (n->state != M_DISK) {
			char name[SPOOL_QID_MAX + 16];
			snprintf(name, sizeof(name), "%s.spill", n->qid);
			if (write_tmp(sp, name, n->buf, n->len, 0, NULL) < 0)
				r = -1;
			snprintf(name, sizeof(name), "%s.st.spill", n->qid);
			if (r == 0 && write_state(sp, name, n->st, n->stlen, 0, NULL) < 0)
				r = -1;
		}
	if (r == 0 && sp->nmem > 0 && syncfs(sp->lockfd) < 0)
		r = -1;
	/* 3. their names in queue/, 4. on disk. A runner may be delivering one right now: from
	 * here on its state lines go beside this file, and its removal removes it. */
	for (n = sp->head; n != NULL && r == 0; n = n->next) {
		if (n->state == M_DISK)
			continue;
		/* The log first (see restore), then the message. */
		if (spill_rename(sp, n->qid, ".st.spill", ".st") < 0 ||
		    spill_rename(sp, n->qid, ".spill", "") < 0)
			r = -1;
		else
			n->state = M_DISK;
	}
	if (r == 0 && sp->nmem > 0 && syncfs(sp->lockfd) < 0)
		r = -1;
	/* 5. the journal lets go of them, 6. so does the table. On failure the table keeps
	 * them (some now DISK) and the journal its records: the next checkpoint finishes. */
	if (r == 0 && commit != NULL && (r = commit(arg)) == 0)
		while (sp->head != NULL)        /* each drop unlinks the head first */
			mem_drop_locked(sp, sp->head);  // NOLINT(clang-analyzer-unix.Malloc): not a use after free
	pthread_mutex_unlock(&sp->mu);
	return r;
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

		if (sub(sp, path, sizeof(path), "queue/%X", b) < 0 || (d = opendir(path)) == NULL) {
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
				if (sub(sp, msg, sizeof(msg), "queue/%X/%.*s", b, (int)(n - 3), de->d_name) == 0 &&
				    stat(msg, &st) < 0 && errno == ENOENT) {
					char stp[PATH_MAX];
					if (sub(sp, stp, sizeof(stp), "queue/%X/%s", b, de->d_name) == 0)
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
