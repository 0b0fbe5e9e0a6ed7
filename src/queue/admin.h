/*
 * admin.h - what `mailport queue` shows and does, as text: list, show, delete, bounce.
 * Runs in the server (over its control socket), so it sees the queue the server sees.
 * Output goes into a growing buffer the caller frees.
 */
#ifndef MAILPORT_QUEUE_ADMIN_H
#define MAILPORT_QUEUE_ADMIN_H

#include <stddef.h>

struct spool;

struct admin_out {
	char *buf;
	size_t len, cap;
};

void admin_printf(struct admin_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One block per message: id, age, size, sender, then each recipient with its state. */
void admin_list(struct spool *sp, struct admin_out *o);
/* The envelope, every recipient's state, and the message's header section. Returns -1 if unknown. */
int admin_show(struct spool *sp, const char *qid, struct admin_out *o);
int admin_delete(struct spool *sp, const char *qid, struct admin_out *o);
/* Fail every undecided recipient ("5.0.0 returned by the postmaster"); the runner bounces. */
int admin_bounce(struct spool *sp, const char *qid, struct admin_out *o);

#endif
