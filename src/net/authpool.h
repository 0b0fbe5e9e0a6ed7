/*
 * authpool.h - password hashing off the event loop. A yescrypt verification takes tens of
 * milliseconds; done inline, a burst of AUTH attempts would stall every session. Jobs go to a
 * few worker threads; answers come back on the event loop (a socketpair wakes it), where the
 * done callback runs for every job, exactly once: with the verdict, or with -2 when the pool is
 * freed first. The owner decides there whether anyone is still waiting for the answer.
 */
#ifndef MAILPORT_AUTHPOOL_H
#define MAILPORT_AUTHPOOL_H

#include <event2/event.h>

struct users;
struct authpool;
struct auth_job;

/* Runs on the event loop with the verdict (0 = good credentials, -1 = bad, -2 = not checked)
 * for the owner passed to authpool_submit(). */
typedef void (*authpool_done_fn)(void *owner, int ok_or_fail);

struct authpool *authpool_new(struct event_base *base, unsigned threads, authpool_done_fn done);
/* users must stay valid until the done callback ran (the owner holds a reference). The password
 * is copied and wiped after use. Returns the job, or NULL (then verify inline). */
struct auth_job *authpool_submit(struct authpool *p, const struct users *users, const char *authzid,
                                 const char *user, const char *password, void *owner);
/* Stop the workers, run the done callback (-2) for every job left, free the pool; NULL is ok. */
void authpool_free(struct authpool *p);

#endif
