/*
 * maildir.h - durable delivery of one message copy into a Maildir (cr.yp.to/proto/maildir.html).
 *
 * Two steps so the caller can record an intent between them (deliver/runner.c):
 *   maildir_write_tmp()  creates the Maildir (0700, with tmp/ new/ cur/) if missing, writes the
 *                        copy to tmp/NAME with Return-Path: and Delivered-To: prepended and
 *                        CRLF turned into LF, fsyncs and closes it;
 *   maildir_publish()    renames tmp/NAME to new/NAME and fsyncs new/.
 * Both return 0, or -1 with a reason in err.
 */
#ifndef MAILPORT_MAILDIR_H
#define MAILPORT_MAILDIR_H

#include <stddef.h>
#include <sys/types.h>

/* Expand %d (domain), %u (local part) and %% of pattern for a lower-case address.
 * Refuses expansions that contain "/" or start with "." (no path traversal). */
int maildir_expand(const char *pattern, const char *address, char *out, size_t outlen);

/* A Maildir unique name that is the same for the same (qid, recipient) so a retry overwrites
 * its own half-written copy instead of adding another. */
void maildir_name(char *out, size_t outlen, long long arrival, const char *qid, size_t rcpt,
                  const char *hostname);

int maildir_write_tmp(const char *maildir, const char *name, int fd, off_t off, size_t len,
                      const char *return_path, const char *delivered_to,
                      char *tmppath, size_t tmplen, char *err, size_t errlen);
int maildir_publish(const char *tmppath, char *newpath, size_t newlen, char *err, size_t errlen);

#endif
