/*
 * lmtp.h - local delivery by LMTP (RFC 2033), to Dovecot's lmtp service or any LMTP server:
 * [server] maildir = lmtp:unix:/run/dovecot/lmtp, lmtp:inet:HOST:PORT or lmtp:HOST:PORT
 * (Postfix's spelling). One recipient per transaction, so each copy is decided by its own reply
 * and retried or bounced on its own. Blocking: the runner's threads call it.
 */
#ifndef MAILPORT_LMTP_H
#define MAILPORT_LMTP_H

#include <stddef.h>
#include <sys/types.h>

#include "../conf/targetspec.h"     /* lmtp_parse(): the setting's syntax */

/* One copy: 0 delivered; -1 not now (err; the queue retries); -2 refused for good (*code is the
 * 5xx reply, err its text: the sender gets a bounce). */
int lmtp_deliver(const char *where, const char *helo, const char *sender, const char *rcpt, int fd, off_t off,
                 size_t len, int *code, char *err, size_t errlen);

#endif
