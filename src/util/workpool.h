/*
 * workpool.h - blocking work off the event loop: jobs run on worker threads, and each job's
 * done callback runs back on the event loop (a socketpair wakes it), exactly once: with ran = 1
 * after the job ran, or ran = 0 when the pool is freed before it could. The owner decides in
 * done whether anyone still waits for the answer. Used for password hashing (authpool) and for
 * making messages durable (fsync is where a single-threaded server would otherwise stall: many
 * commits in flight at once also let the file system merge their journal commits).
 */
#ifndef MAILPORT_WORKPOOL_H
#define MAILPORT_WORKPOOL_H

#include <event2/event.h>

struct workpool;
/* Where done callbacks run: one event loop. A pool has one of its own (its base's); a job may
 * name another, so that one pool (the committer's) serves several loops, each hearing back on
 * its own thread. */
struct workpool_home;

typedef void (*workpool_run_fn)(void *job);             /* on a worker thread */
typedef void (*workpool_done_fn)(void *job, int ran);   /* on the event loop */

/* NULL when no thread could be started (then do the work inline); what names it in the log. */
struct workpool *workpool_new(struct event_base *base, unsigned threads, const char *what);

/* Batch mode, one thread: it takes every queued job at once and runs batch(jobs, n, arg)
 * (jobs' own run functions are not used); with nothing queued it calls idle(arg), which
 * returns how many milliseconds to wait before calling it again (-1: until a job comes).
 * This is group commit: whatever arrived while one batch was made durable forms the next. */
typedef void (*workpool_batch_fn)(void **jobs, size_t n, void *arg);
typedef long (*workpool_idle_fn)(void *arg);
struct workpool *workpool_new_batch(struct event_base *base, workpool_batch_fn batch, workpool_idle_fn idle,
                                    void *arg, const char *what);
/* 0, or -1 (out of memory, or p is NULL): then nothing was queued and done will not run.
 * In batch mode run is not used and may be NULL. The pool's base must not be NULL. */
int workpool_submit(struct workpool *p, void *job, workpool_run_fn run, workpool_done_fn done);
/* The same, done on home's loop instead of the pool's (a pool made with base NULL has none). */
int workpool_submit_to(struct workpool *p, struct workpool_home *home, void *job, workpool_run_fn run,
                       workpool_done_fn done);

/* done(job, 1) on home's loop, from any thread, with nothing to run: an answer handed from one
 * loop to another. 0, or -1 without memory (then done will not run). */
int workpool_post(struct workpool_home *home, void *job, workpool_done_fn done);

/* A home on base: NULL without memory or descriptors. Freed after every pool that may still
 * finish a job for it; its jobs finished but not yet answered are answered (ran = 1) then, on
 * the freeing thread. NULL ok. */
struct workpool_home *workpool_home_new(struct event_base *base);
void workpool_home_free(struct workpool_home *h);
/* Batch mode: call idle now (from any thread), as if a job had come and gone. */
void workpool_kick(struct workpool *p);
/* Stop the workers (jobs already running finish), run done for every job left (on this thread;
 * finished jobs whose home is another's wait there), free; NULL ok. */
void workpool_free(struct workpool *p);

#endif
