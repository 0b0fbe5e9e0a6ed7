/*
 * authpool.c - a job queue, a done queue, worker threads and a socketpair back to libevent.
 * Not the AUTH exchange (smtp/session.c) nor the throttle (policy.c, on the event loop).
 */
#include "authpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../auth/auth.h"
#include "../util/log.h"

#define AUTHPOOL_MAX_THREADS 16

struct auth_job {
	struct auth_job *next;
	const struct users *users;
	void *owner;
	int result;
	char authzid[256], user[256], password[512];
};

struct authpool {
	pthread_t threads[AUTHPOOL_MAX_THREADS];
	unsigned nthreads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct auth_job *todo, *todo_tail, *done;
	int stop;
	int wake[2];                    /* workers write, the event loop reads */
	struct event *ev;
	authpool_done_fn fn;
};

static void *worker(void *arg)
{
	struct authpool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->todo == NULL)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		struct auth_job *j = p->todo;
		p->todo = j->next;
		if (p->todo == NULL)
			p->todo_tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->result = auth_verify(j->users, j->authzid, j->user, j->password);
		explicit_bzero(j->password, sizeof(j->password));
		pthread_mutex_lock(&p->mu);
		j->next = p->done;
		p->done = j;
		(void)!write(p->wake[1], "x", 1);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* On the event loop: hand each finished job's answer to its owner, if it still has one. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct authpool *p = arg;
	struct auth_job *list;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&p->mu);
	list = p->done;
	p->done = NULL;
	pthread_mutex_unlock(&p->mu);
	while (list != NULL) {
		struct auth_job *j = list;
		list = j->next;
		p->fn(j->owner, j->result);
		free(j);
	}
}

struct authpool *authpool_new(struct event_base *base, unsigned threads, authpool_done_fn done)
{
	struct authpool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->fn = done;
	p->wake[0] = p->wake[1] = -1;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->wake) < 0)
		goto fail;
	p->ev = event_new(base, p->wake[0], EV_READ | EV_PERSIST, on_wake, p);
	if (p->ev == NULL || event_add(p->ev, NULL) < 0)
		goto fail;
	if (threads > AUTHPOOL_MAX_THREADS)
		threads = AUTHPOOL_MAX_THREADS;
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&p->threads[p->nthreads], NULL, worker, p) == 0)
			p->nthreads++;
	if (p->nthreads == 0)
		goto fail;
	return p;
fail:
	log_warn(NULL, "cannot start password hashing threads; hashing inline");
	authpool_free(p);
	return NULL;
}

struct auth_job *authpool_submit(struct authpool *p, const struct users *users, const char *authzid,
                                 const char *user, const char *password, void *owner)
{
	struct auth_job *j;

	if (p == NULL || (j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	if (strlen(password) >= sizeof(j->password) || strlen(user) >= sizeof(j->user) ||
	    strlen(authzid) >= sizeof(j->authzid)) {
		free(j);
		return NULL;
	}
	j->users = users;
	j->owner = owner;
	j->result = -1;
	strcpy(j->authzid, authzid);
	strcpy(j->user, user);
	strcpy(j->password, password);
	pthread_mutex_lock(&p->mu);
	if (p->todo_tail)
		p->todo_tail->next = j;
	else
		p->todo = j;
	p->todo_tail = j;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return j;
}

void authpool_free(struct authpool *p)
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
	struct auth_job *lists[2] = { p->todo, p->done };
	for (int k = 0; k < 2; k++)
		while (lists[k]) {
			struct auth_job *j = lists[k];
			lists[k] = j->next;
			explicit_bzero(j->password, sizeof(j->password));
			p->fn(j->owner, k == 0 ? -2 : j->result);
			free(j);
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
