/*
 * spoolfs.c - the spool's file primitives, below everything else in src/queue/: paths under
 * the spool, a file written whole in tmp/ (synced or not) and renamed into place, and a
 * queue file restored durably from bytes. No format, no table.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fsutil.h"
#include "spool_int.h"

int spool_sub(const struct spool *sp, char *out, size_t outlen, const char *fmt, ...)
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

char spool_bucket(const char *qid)
{
	size_t n = strlen(qid);
	return n ? qid[n - 1] : '0';
}

/* Write buf to tmp/name; with sync, fsync it and rename it to dst (the directory is not
 * synced: the caller syncs once for several). */
int spool_write_tmp(struct spool *sp, const char *name, const void *buf, size_t len, int sync, const char *dst)
{
	char tmp[PATH_MAX];
	int fd, saved;

	if (spool_sub(sp, tmp, sizeof(tmp), "tmp/%s", name) < 0)
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
int spool_write_state(struct spool *sp, const char *name, const char *st, size_t stlen, int sync, const char *dst)
{
	char *buf = malloc(ST_HEAD_LEN + stlen);
	int r;

	if (buf == NULL)
		return -1;
	memcpy(buf, ST_HEAD, ST_HEAD_LEN);
	if (stlen > 0)
		memcpy(buf + ST_HEAD_LEN, st, stlen);
	r = spool_write_tmp(sp, name, buf, ST_HEAD_LEN + stlen, sync, dst);
	free(buf);
	return r;
}

/* Is queue/B/qid there, whole and the same as buf? */
int spool_in_queue(struct spool *sp, const char *qid, const void *buf, size_t len)
{
	char path[PATH_MAX];
	struct stat sb;
	int fd, same = 0;

	if (spool_sub(sp, path, sizeof(path), "queue/%c/%s", spool_bucket(qid), qid) < 0)
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
int spool_restore_file(struct spool *sp, const char *qid, const void *buf, size_t len, const char *st, size_t stlen)
{
	char path[PATH_MAX], stpath[PATH_MAX], name[SPOOL_QID_MAX + 16];

	if (spool_sub(sp, path, sizeof(path), "queue/%c/%s", spool_bucket(qid), qid) < 0 ||
	    spool_sub(sp, stpath, sizeof(stpath), "queue/%c/%s.st", spool_bucket(qid), qid) < 0)
		return -1;
	/* Already there (with whatever state it has gathered): done. */
	if (spool_in_queue(sp, qid, buf, len))
		return 0;
	/* The state log first: a log without its message is an orphan a scan removes; a message
	 * without its intent lines could be delivered twice. One directory fsync for both. */
	snprintf(name, sizeof(name), "%s.st.restore", qid);
	if (spool_write_state(sp, name, st, stlen, stlen > 0, stpath) < 0)
		return -1;
	snprintf(name, sizeof(name), "%s.restore", qid);
	if (spool_write_tmp(sp, name, buf, len, 1, path) < 0)
		return -1;
	return fs_fsync_parent(path);
}
