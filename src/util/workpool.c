/*
 * workpool.c - a job queue, a done queue, worker threads and a socketpair back to libevent.
 * Not what the jobs do: that is the caller's.
 */
#include "workpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define WORKPOOL_MAX_THREADS 64

struct node {
	struct node *next;
	void *job;
	workpool_run_fn run;
	workpool_done_fn done;
};

struct workpool {
	pthread_t threads[WORKPOOL_MAX_THREADS];
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct node *todo, *todo_tail, *done, *done_tail;
	int stop;
	int wake[2];                    /* workers write, the event loop reads */
	int wake_pending;               /* one wake-up byte in flight is enough */
	struct event *ev;
	workpool_batch_fn batch;
	workpool_idle_fn idle;
	int kicked;                     /* batch mode: call idle again now */
	void *batch_arg;
};

/* Finished nodes go to the done list (in order); the event loop hears of it once. */
static void finished_locked(struct workpool *p, struct node *first, struct node *last)
{
	if (p->done_tail)
		p->done_tail->next = first;
	else
		p->done = first;
	p->done_tail = last;
	if (!p->wake_pending) {
		p->wake_pending = 1;
		(void)!write(p->wake[1], "x", 1);
	}
}

static void *worker(void *arg)
{
	struct workpool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->todo == NULL)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		struct node *n = p->todo;
		p->todo = n->next;
		if (p->todo == NULL)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->mu);
		n->run(n->job);
		pthread_mutex_lock(&p->mu);
		/* In completion order, first done first answered. */
		n->next = NULL;
		finished_locked(p, n, n);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void *batch_worker(void *arg)
{
	struct workpool *p = arg;
	void **jobs = NULL;
	size_t cap = 0;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		if (p->todo == NULL) {
			if (p->stop)
				break;
			p->kicked = 0;
			pthread_mutex_unlock(&p->mu);
			long ms = p->idle ? p->idle(p->batch_arg) : -1;
			pthread_mutex_lock(&p->mu);
			if (p->todo != NULL || p->stop || p->kicked)
				continue;
			if (ms < 0)
				pthread_cond_wait(&p->cv, &p->mu);
			else {
				struct timespec ts;
				clock_gettime(CLOCK_REALTIME, &ts);
				ts.tv_sec += ms / 1000;
				ts.tv_nsec += (ms % 1000) * 1000000L;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				pthread_cond_timedwait(&p->cv, &p->mu, &ts);
			}
			continue;
		}
		struct node *first = p->todo, *last = p->todo_tail;
		size_t n = 0;
		p->todo = p->todo_tail = NULL;
		pthread_mutex_unlock(&p->mu);
		for (struct node *x = first; x != NULL; x = x->next)
			n++;
		if (n > cap) {
			void **nj = realloc(jobs, n * sizeof(*nj));
			if (nj != NULL) {
				jobs = nj;
				cap = n;
			}
		}
		if (n <= cap) {
			size_t i = 0;
			for (struct node *x = first; x != NULL; x = x->next)
				jobs[i++] = x->job;
			p->batch(jobs, n, p->batch_arg);
		} else
			for (struct node *x = first; x != NULL; x = x->next)
				p->batch(&x->job, 1, p->batch_arg);
		pthread_mutex_lock(&p->mu);
		finished_locked(p, first, last);
	}
	pthread_mutex_unlock(&p->mu);
	free(jobs);
	return NULL;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct workpool *p = arg;
	struct node *list;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&p->mu);
	list = p->done;
	p->done = p->done_tail = NULL;
	p->wake_pending = 0;
	pthread_mutex_unlock(&p->mu);
	while (list != NULL) {
		struct node *n = list;
		list = n->next;
		n->done(n->job, 1);
		free(n);
	}
}

static struct workpool *start(struct event_base *base, unsigned threads, const char *what, workpool_batch_fn batch,
                              workpool_idle_fn idle, void *arg)
{
	struct workpool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->batch = batch;       /* set before any thread looks at it */
	p->idle = idle;
	p->batch_arg = arg;
	p->wake[0] = p->wake[1] = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->wake) < 0)
		goto fail;
	p->ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, on_wake, p);
	if (p->ev == NULL || event_add(p->ev, NULL) < 0)
		goto fail;
	if (threads > WORKPOOL_MAX_THREADS)
		threads = WORKPOOL_MAX_THREADS;
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&p->threads[p->nthreads], NULL, batch ? batch_worker : worker, p) == 0)
			p->nthreads++;
	if (p->nthreads == 0)
		goto fail;
	return p;
fail:
	log_warn(NULL, "cannot start %s threads; doing that work inline", what);
	workpool_free(p);
	return NULL;
}

struct workpool *workpool_new(struct event_base *base, unsigned threads, const char *what)
{
	return start(base, threads, what, NULL, NULL, NULL);
}

struct workpool *workpool_new_batch(struct event_base *base, workpool_batch_fn batch, workpool_idle_fn idle,
                                    void *arg, const char *what)
{
	return start(base, 1, what, batch, idle, arg);
}

int workpool_submit(struct workpool *p, void *job, workpool_run_fn run, workpool_done_fn done)
{
	struct node *n;

	if (p == NULL || (n = calloc(1, sizeof(*n))) == NULL)
		return -1;
	n->job = job;
	n->run = run;
	n->done = done;
	pthread_mutex_lock(&p->mu);
	if (p->todo_tail)
		p->todo_tail->next = n;
	else
		p->todo = n;
	p->todo_tail = n;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void workpool_free(struct workpool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* Every owner hears back exactly once, so it can release what it holds. */
	struct node *lists[2] = { p->done, p->todo };
	for (int k = 0; k < 2; k++)
		while (lists[k]) {
			struct node *n = lists[k];
			lists[k] = n->next;
			n->done(n->job, k == 0);
			free(n);
		}
	if (p->ev)
		event_free(p->ev);
	if (p->wake[0] >= 0)
		close(p->wake[0]);
	if (p->wake[1] >= 0)
		close(p->wake[1]);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p);
}

void workpool_kick(struct workpool *p)
{
	pthread_mutex_lock(&p->mu);
	p->kicked = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}
