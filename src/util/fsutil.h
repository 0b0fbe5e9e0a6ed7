/*
 * fsutil.h - durable file-system primitives: every durable write in mailport goes through here.
 *
 * The rule (redis fsyncFileDir, Postfix mail_stream_finish_file plus the step they skip):
 * write to a temporary name in the same directory tree, check every write, fsync, close and
 * check the close, rename into place, then fsync the directory that gained the name.
 * All functions return 0 on success, -1 with errno set on failure.
 */
#ifndef MAILPORT_FSUTIL_H
#define MAILPORT_FSUTIL_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

/* write(2) until all of buf is written; retries EINTR. */
int fs_write_all(int fd, const void *buf, size_t len);
/* pwrite() all of buf at off, retrying short writes and EINTR. */
int fs_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* pwritev until all is written; iov may be changed. */
int fs_pwritev_all(int fd, struct iovec *iov, int cnt, off_t off);
/* fsync the directory at path. */
int fs_fsync_dir(const char *path);
/* fsync the directory containing path (path's dirname). */
int fs_fsync_parent(const char *path);
/* mkdir -p with mode for each created component; existing directories are fine. */
int fs_mkdir_p(const char *path, mode_t mode);
/* The same, and each directory it creates is given to uid:gid (root handing a tree to the mail
 * user); what existed keeps its owner. */
int fs_mkdir_p_owned(const char *path, mode_t mode, uid_t uid, gid_t gid);
/* Whether path has no empty, "." or ".." component (a leading "/" and a trailing one are
 * fine): what it names is what it says, for checks such as "beneath this directory". */
int fs_path_clean(const char *path);
/* rename(from, to) and fsync the parent of to: after it returns, the name "to" survives a
 * crash. The old name's removal is not made durable: callers must tolerate "from" coming back
 * after a crash (the spool deletes tmp/ at start; a Maildir tmp/ copy is re-published under
 * the same name). */
int fs_rename_durable(const char *from, const char *to);
/* The whole of buf as path, durably: a temporary file beside it (O_EXCL, mode), written,
 * fsynced and closed, then fs_rename_durable. 0, or -1 with errno (the temporary is gone). */
int fs_write_file_durable(const char *path, const void *buf, size_t len, mode_t mode);
/* 1 when a and b (from stat) are the same version of the same file: device, inode, size, mtime
 * and ctime alike. ctime counts: a chown or chmod after a rename (a file given to the server's
 * user) is a new version for a reader that could not read the old one. */
int fs_same_version(const struct stat *a, const struct stat *b);
/* Read a whole small file into a NUL-terminated malloc'd buffer; *len excludes the NUL. */
#define FS_REGULAR 1   /* refuse anything but a regular file (EINVAL): a FIFO, a device */
char *fs_read_file(const char *path, size_t max, size_t *len, int flags);

#endif
