/*
 * fsutil.c - write-temp/fsync/rename/fsync(dir) building blocks.
 * Knows nothing about mail; the queue and Maildir code compose these into their protocols.
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int fs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	struct iovec v = { (void *)buf, len };

	return fs_pwritev_all(fd, &v, 1, off);
}

int fs_pwritev_all(int fd, struct iovec *iov, int cnt, off_t off)
{
	while (cnt > 0) {
		ssize_t n = pwritev(fd, iov, cnt, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += n;
		/* A short write: skip what went, go on with the rest (iov is the caller's, changed). */
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int fs_fsync_dir(const char *path)
{
	int fd, r, saved;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

int fs_fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL)
		return fs_fsync_dir(".");
	n = (size_t)(slash - path);
	if (n == 0)
		return fs_fsync_dir("/");
	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	return fs_fsync_dir(dir);
}

int fs_rename_durable(const char *from, const char *to)
{
	if (rename(from, to) < 0)
		return -1;
	return fs_fsync_parent(to);
}

int fs_write_file_durable(const char *path, const void *buf, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	unlink(tmp);            /* left by a crash of this pid's predecessor */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
		return -1;
	if (fs_write_all(fd, buf, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (close(fd) < 0 || fs_rename_durable(tmp, path) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

int fs_path_clean(const char *path)
{
	const char *p = path[0] == '/' ? path + 1 : path;

	for (;;) {
		size_t l = strcspn(p, "/");
		if ((l == 0 && p[0] == '/') || (l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (p[l] == '\0')
			return 1;
		p += l + 1;
	}
}

int fs_mkdir_p(const char *path, mode_t mode)
{
	return fs_mkdir_p_owned(path, mode, (uid_t)-1, (gid_t)-1);
}

int fs_mkdir_p_owned(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = len ? ENAMETOOLONG : ENOENT;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(buf, mode) == 0) {
				if (uid != (uid_t)-1 && lchown(buf, uid, gid) < 0)
					return -1;
			} else if (errno != EEXIST)
				return -1;
			*p = saved;
			if (saved == '\0')
				break;
		}
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

char *fs_read_file(const char *path, size_t max, size_t *len, int flags)
{
	/* Non-blocking open: a FIFO without a writer must not hang a regular-only reader. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | ((flags & FS_REGULAR) ? O_NONBLOCK | O_NOCTTY : 0));
	char *buf = NULL;
	size_t cap = 0, n = 0;
	struct stat st;

	if (fd < 0)
		return NULL;
	if ((flags & FS_REGULAR) && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	for (;;) {
		if (n + 1 >= cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nb;
			if (cap > max) {
				errno = EFBIG;
				goto fail;
			}
			nb = realloc(buf, ncap);
			if (nb == NULL)
				goto fail;
			buf = nb;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	if (buf == NULL && (buf = malloc(1)) == NULL)
		return NULL;
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
fail:;
	int saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

int fs_same_version(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}
