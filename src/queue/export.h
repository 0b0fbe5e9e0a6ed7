/*
 * export.h - a queued message as it travels from a node being retired to another node
 * (`mailport queue export | mailport queue import`). Pure: bytes in, bytes out.
 *
 * A stream is "MAILPORT-EXPORT 1\n" and then messages, each in the queue file's own style
 * (spool.h): typed, length-prefixed records "<T> <len>\n<payload>\n": X (origin: the exporting
 * node's host name and queue id, which makes an import of the same stream twice a no-op),
 * T (arrival, epoch seconds), P (flags, a number: SPOOL_F_*), S (sender), then per recipient
 * R (target), O (original address), L (1 local, 0 relayed) and, for one that failed for good
 * and whose bounce is still owed, F ("CODE ESC TEXT"); M (the message), K (CRC-32 of every
 * octet of the message's records before it, 8 hex digits) and E (end, length 0). A message
 * that does not end in a good K and an E is refused whole: a torn or damaged transfer never
 * enqueues half a message.
 *
 * Only what is still to be done travels: delivered recipients are left out, and a message
 * with nothing left is not exported at all.
 */
#ifndef MAILPORT_EXPORT_H
#define MAILPORT_EXPORT_H

#include <stddef.h>

#define EXPORT_MAGIC     "MAILPORT-EXPORT 1\n"
#define EXPORT_ORIGIN_MAX 300

struct export_rcpt {
	const char *target, *orig;
	int local;
	int fail_code;              /* 0: to be delivered; else failed for good, the bounce owed */
	const char *fail_text;      /* "ESC TEXT" */
};

struct export_msg {
	const char *origin;         /* "HOST/QID" */
	long long arrival;
	unsigned flags;
	const char *sender;
	struct export_rcpt *rcpts;
	size_t nrcpts;
	const char *body;
	size_t body_len;
};

/* One message's records into a malloc'd buffer (*len octets); NULL when out of memory. */
char *export_format(const struct export_msg *m, size_t *len);

/* How many octets of buf the message at its start takes: 0 when more are needed to tell, -1
 * when buf does not begin with a well-formed message (a record that is not one, or longer
 * than max octets in all). */
long export_length(const char *buf, size_t len, size_t max);

/* Parse one whole message (export_length octets): 0, with m's strings pointing into a copy
 * that *store owns (free it, and m->rcpts, after use), or -1 with why. */
int export_parse(const char *buf, size_t len, struct export_msg *m, char **store, const char **why);

#endif
