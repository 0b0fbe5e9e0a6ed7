/*
 * import.h - exported messages (export.h) into this node's queue, each exactly once.
 *
 * SPOOL/imported is the index that makes an import idempotent: "P ORIGIN QID" is made durable
 * before the message is committed, "C ORIGIN QID" after. An origin with a C line is imported
 * already (a second run of the same stream skips it). One with a P line only was cut by a
 * crash between the two: import_reconcile(), at start and before any delivery, looks whether
 * QID made it into the queue and writes C (it did) or "A ORIGIN QID" (abandoned: importing it
 * again is right). The server runs both (the queue is the server's); `mailport queue import`
 * hands it one message at a time over the control socket.
 */
#ifndef MAILPORT_IMPORT_H
#define MAILPORT_IMPORT_H

#include <stddef.h>

struct spool;

#define IMPORT_NEW   0
#define IMPORT_SEEN  1

/* One exported message (export_length octets): IMPORT_NEW (queued as qid), IMPORT_SEEN (it
 * was, as qid), or -1 with why. */
int import_message(struct spool *sp, const char *buf, size_t len, char *qid, size_t qidlen, char *why, size_t whylen);
/* Settle every import cut between its P and C lines. Returns how many it settled. */
int import_reconcile(struct spool *sp);

#endif
