/*
 * maildir.c - write one copy into a Maildir, durably. Knows nothing about queues or retries.
 */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fsutil.h"

#define COPY_BUF (64 * 1024)

int maildir_expand(const char *pattern, const char *address, char *out, size_t outlen)
{
	const char *at = strrchr(address, '@');
	size_t o = 0;

	if (at == NULL || at == address)
		return -1;
	for (const char *p = pattern; *p; p++) {
		const char *s = NULL;
		size_t n = 1;
		if (*p == '%' && p[1] == 'd') {
			s = at + 1;
			n = strlen(s);
			p++;
		} else if (*p == '%' && p[1] == 'u') {
			s = address;
			n = (size_t)(at - address);
			p++;
		} else if (*p == '%' && p[1] == '%') {
			s = "%";
			p++;
		} else
			s = p;
		if (s != p && (memchr(s, '/', n) || s[0] == '.' || n == 0))
			return -1;
		if (o + n >= outlen)
			return -1;
		memcpy(out + o, s, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

void maildir_name(char *out, size_t outlen, long long arrival, const char *qid, size_t rcpt,
                  const char *hostname)
{
	char host[256];
	size_t h = 0;

	/* The Maildir spec's escapes for the two characters a name cannot hold. */
	for (const char *p = hostname; *p && h + 5 < sizeof(host); p++) {
		if (*p == '/') {
			memcpy(host + h, "\\057", 4);
			h += 4;
		} else if (*p == ':') {
			memcpy(host + h, "\\072", 4);
			h += 4;
		} else
			host[h++] = *p;
	}
	host[h] = '\0';
	snprintf(out, outlen, "%lld.Q%sR%zu.%s", arrival, qid, rcpt, host);
}

static int ensure_maildir(const char *maildir, char *err, size_t errlen)
{
	static const char *subdirs[] = { "tmp", "new", "cur" };
	char path[PATH_MAX];

	if (fs_mkdir_p(maildir, 0700) < 0) {
		snprintf(err, errlen, "cannot create Maildir %s: %s", maildir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", maildir, subdirs[i]);
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Copy [off, off+len) of fd to out, CRLF -> LF (the Unix Maildir convention; the receiver
 * refused bare CR and LF, so the conversion loses nothing). */
static int copy_body(int in, off_t off, size_t len, int out)
{
	char *ibuf = malloc(COPY_BUF), *obuf = malloc(COPY_BUF);
	int held_cr = 0, r = -1;

	if (ibuf == NULL || obuf == NULL)
		goto done;
	while (len > 0) {
		size_t want = len < COPY_BUF ? len : COPY_BUF, o = 0;
		ssize_t n = pread(in, ibuf, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;    /* the spool file is shorter than it said */
			goto done;
		}
		for (ssize_t i = 0; i < n; i++) {
			char c = ibuf[i];
			if (held_cr) {
				held_cr = 0;
				if (c != '\n')
					obuf[o++] = '\r';
			}
			if (c == '\r') {
				held_cr = 1;
				continue;
			}
			obuf[o++] = c;
		}
		if (fs_write_all(out, obuf, o) < 0)
			goto done;
		off += n;
		len -= (size_t)n;
	}
	if (held_cr && fs_write_all(out, "\r", 1) < 0)
		goto done;
	r = 0;
done:
	free(ibuf);
	free(obuf);
	return r;
}

int maildir_write_tmp(const char *maildir, const char *name, int fd, off_t off, size_t len,
                      const char *return_path, const char *delivered_to,
                      char *tmppath, size_t tmplen, char *err, size_t errlen)
{
	char head[1024];
	int out, n, saved;

	if (ensure_maildir(maildir, err, errlen) < 0)
		return -1;
	if ((size_t)snprintf(tmppath, tmplen, "%s/tmp/%s", maildir, name) >= tmplen) {
		snprintf(err, errlen, "Maildir path too long");
		return -1;
	}
	/* O_TRUNC, not O_EXCL: the name is ours alone (qid + recipient), and a leftover is a
	 * previous attempt of this very delivery that never reached new/. */
	out = open(tmppath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (out < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmppath, strerror(errno));
		return -1;
	}
	n = snprintf(head, sizeof(head), "Return-Path: <%s>\nDelivered-To: %s\n", return_path, delivered_to);
	if (n < 0 || (size_t)n >= sizeof(head) || fs_write_all(out, head, (size_t)n) < 0 ||
	    copy_body(fd, off, len, out) < 0 || fsync(out) < 0) {
		saved = errno;
		close(out);
		unlink(tmppath);
		snprintf(err, errlen, "cannot write %s: %s", tmppath, strerror(saved));
		return -1;
	}
	if (close(out) < 0) {
		saved = errno;
		unlink(tmppath);
		snprintf(err, errlen, "cannot write %s: %s", tmppath, strerror(saved));
		return -1;
	}
	return 0;
}

int maildir_publish(const char *tmppath, char *newpath, size_t newlen, char *err, size_t errlen)
{
	const char *slash = strrchr(tmppath, '/');
	size_t dirlen;

	if (slash == NULL || slash - tmppath < 4 || memcmp(slash - 4, "/tmp", 4) != 0) {
		snprintf(err, errlen, "not a Maildir tmp path: %s", tmppath);
		return -1;
	}
	dirlen = (size_t)(slash - 4 - tmppath);
	if ((size_t)snprintf(newpath, newlen, "%.*s/new%s", (int)dirlen, tmppath, slash) >= newlen) {
		snprintf(err, errlen, "Maildir path too long");
		return -1;
	}
	if (fs_rename_durable(tmppath, newpath) < 0) {
		snprintf(err, errlen, "cannot move %s to new/: %s", tmppath, strerror(errno));
		return -1;
	}
	return 0;
}
