/*
 * workpool.c - a job queue, a done queue, worker threads and a socketpair back to libevent.
 * Not what the jobs do: that is the caller's.
 */
#include "workpool.h"

#include <pthread.h>
#include <stdio.h>
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
	struct workpool_home *home;
};

struct workpool_home {
	pthread_mutex_t mu;
	struct node *done, *done_tail;
	int wake[2];                    /* workers write, the home's event loop reads */
	int wake_pending;               /* one wake-up byte in flight is enough */
	struct event *ev;
};

struct workpool {
	pthread_t threads[WORKPOOL_MAX_THREADS];
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct node *todo, *todo_tail;
	int stop;
	struct workpool_home *home;     /* its base's, or NULL */
	workpool_batch_fn batch;
	workpool_idle_fn idle;
	int kicked;                     /* batch mode: call idle again now */
	void *batch_arg;
	char name[16];                  /* its threads' (top -H, /proc/PID/task/TID/comm) */
};

/* Finished nodes go to their homes' done lists (in order); each loop hears of it once. A
 * batch's nodes mostly share one home: a run of them is appended under one lock. */
static void finished(struct node *first)
{
	while (first != NULL) {
		struct workpool_home *h = first->home;
		struct node *last = first;
		while (last->next != NULL && last->next->home == h)
			last = last->next;
		struct node *rest = last->next;
		last->next = NULL;
		pthread_mutex_lock(&h->mu);
		if (h->done_tail)
			h->done_tail->next = first;
		else
			h->done = first;
		h->done_tail = last;
		if (!h->wake_pending) {
			h->wake_pending = 1;
			(void)!write(h->wake[1], "x", 1);
		}
		pthread_mutex_unlock(&h->mu);
		first = rest;
	}
}

static void *worker(void *arg)
{
	struct workpool *p = arg;

	pthread_setname_np(pthread_self(), p->name);

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
		/* In completion order, first done first answered. */
		n->next = NULL;
		finished(n);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void *batch_worker(void *arg)
{
	struct workpool *p = arg;
	void **jobs = NULL;
	size_t cap = 0;

	pthread_setname_np(pthread_self(), p->name);

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
		struct node *first = p->todo;
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
		finished(first);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	free(jobs);
	return NULL;
}

static void answer(struct workpool_home *h)
{
	struct node *list;

	pthread_mutex_lock(&h->mu);
	list = h->done;
	h->done = h->done_tail = NULL;
	h->wake_pending = 0;
	pthread_mutex_unlock(&h->mu);
	while (list != NULL) {
		struct node *n = list;
		list = n->next;
		n->done(n->job, 1);
		free(n);
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	answer(arg);
}

struct workpool_home *workpool_home_new(struct event_base *base)
{
	struct workpool_home *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	pthread_mutex_init(&h->mu, NULL);
	h->wake[0] = h->wake[1] = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, h->wake) < 0 ||
	    (h->ev = event_new(base, h->wake[0], EV_READ | EV_PERSIST, on_wake, h)) == NULL || event_add(h->ev, NULL) < 0) {
		workpool_home_free(h);
		return NULL;
	}
	return h;
}

void workpool_home_free(struct workpool_home *h)
{
	if (h == NULL)
		return;
	if (h->ev)
		event_free(h->ev);
	answer(h);      /* every owner hears back exactly once, so it can release what it holds */
	if (h->wake[0] >= 0)
		close(h->wake[0]);
	if (h->wake[1] >= 0)
		close(h->wake[1]);
	pthread_mutex_destroy(&h->mu);
	free(h);
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
	snprintf(p->name, sizeof(p->name), "%s", what);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (base != NULL && (p->home = workpool_home_new(base)) == NULL)
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
	return workpool_submit_to(p, p != NULL ? p->home : NULL, job, run, done);
}

int workpool_submit_to(struct workpool *p, struct workpool_home *home, void *job, workpool_run_fn run,
                       workpool_done_fn done)
{
	struct node *n;

	if (p == NULL || home == NULL || (n = calloc(1, sizeof(*n))) == NULL)
		return -1;
	n->job = job;
	n->run = run;
	n->done = done;
	n->home = home;
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

int workpool_post(struct workpool_home *home, void *job, workpool_done_fn done)
{
	struct node *n;

	if (home == NULL || (n = calloc(1, sizeof(*n))) == NULL)
		return -1;
	n->job = job;
	n->done = done;
	n->home = home;
	finished(n);
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
	/* Every owner hears back exactly once, so it can release what it holds: what never ran
	 * here, what ran and waits in the pool's own home when that goes. */
	while (p->todo) {
		struct node *n = p->todo;
		p->todo = n->next;
		n->done(n->job, 0);
		free(n);
	}
	workpool_home_free(p->home);
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
