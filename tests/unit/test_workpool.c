/*
 * test_workpool.c - what several event loops rely on (issue 36): one pool answering each job on
 * the loop that submitted it (util/workpool.c homes), answers that outlive a loop, and the
 * tables every loop counts in at once (server/clientlimits.c, util/windowcount.c) staying exact
 * under threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "server/clientlimits.h"
#include "util/windowcount.h"
#include "util/workpool.h"

#define JOBS 200

struct loop {
	struct event_base *base;
	struct workpool_home *home;
	pthread_t thread;
	int answered, expected;
	struct event *keepalive;        /* keeps the loop running until every answer came */
};

struct job {
	struct loop *want;
	pthread_t ran_on, answered_on;
	int ran, answered;
};

static __thread struct loop *current;   /* the loop this thread runs, if any */

static void job_run(void *arg)
{
	struct job *j = arg;

	j->ran_on = pthread_self();
}

static void job_done(void *arg, int ran)
{
	struct job *j = arg;

	j->ran = ran;
	j->answered = 1;
	j->answered_on = pthread_self();
	if (current != NULL && ++current->answered == current->expected)
		event_base_loopexit(current->base, NULL);
}

static void noop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct timeval tv = { 3600, 0 };

	current = l;
	l->keepalive = event_new(l->base, -1, EV_PERSIST, noop, NULL);
	event_add(l->keepalive, &tv);
	event_base_dispatch(l->base);
	event_free(l->keepalive);
	current = NULL;
	return NULL;
}

/* Jobs of two loops through one pool (the committer's shape): each answer on its own loop. */
static void test_answers_on_the_submitting_loop(void **state)
{
	struct loop loops[2];
	struct job *jobs = calloc(JOBS, sizeof(*jobs));
	struct workpool *p = workpool_new(NULL, 2, "test");

	(void)state;
	assert_non_null(p);
	for (int i = 0; i < 2; i++) {
		memset(&loops[i], 0, sizeof(loops[i]));
		loops[i].base = event_base_new();
		loops[i].home = workpool_home_new(loops[i].base);
		assert_non_null(loops[i].home);
		loops[i].expected = JOBS / 2;
	}
	/* Submitted before the loops run: the answers wait in their homes. */
	for (int i = 0; i < JOBS; i++) {
		jobs[i].want = &loops[i % 2];
		assert_int_equal(workpool_submit_to(p, jobs[i].want->home, &jobs[i], job_run, job_done), 0);
	}
	assert_int_equal(workpool_submit(p, &jobs[0], job_run, job_done), -1);     /* no home of its own */
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(loops[i].thread, NULL);
	for (int i = 0; i < JOBS; i++) {
		assert_true(jobs[i].answered);
		assert_int_equal(jobs[i].ran, 1);
		assert_true(pthread_equal(jobs[i].answered_on, jobs[i].want->thread));
		assert_false(pthread_equal(jobs[i].ran_on, jobs[i].want->thread));
	}
	workpool_free(p);
	for (int i = 0; i < 2; i++) {
		workpool_home_free(loops[i].home);
		event_base_free(loops[i].base);
	}
	free(jobs);
}

/* A loop that ended before its answers came: the pool goes first, then the home, whose freeing
 * answers what it holds (ran = 1), each exactly once. */
static void test_home_outlives_its_loop(void **state)
{
	struct event_base *base = event_base_new();
	struct workpool_home *h = workpool_home_new(base);
	struct workpool *p = workpool_new(NULL, 1, "test");
	struct job jobs[10];

	(void)state;
	memset(jobs, 0, sizeof(jobs));
	for (int i = 0; i < 10; i++)
		assert_int_equal(workpool_submit_to(p, h, &jobs[i], job_run, job_done), 0);
	workpool_free(p);               /* the jobs ran (or were answered ran = 0 here) */
	workpool_home_free(h);
	for (int i = 0; i < 10; i++)
		assert_true(jobs[i].answered);
	event_base_free(base);
}

struct hammer {
	struct clientlimits *cl;
	struct windowcount *wc;
	int taken;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	unsigned left;
	int counted;

	for (int i = 0; i < 20000; i++) {
		if (clientlimits_connect(h->cl, "192.0.2.7", 1000, &counted) == CLIENTLIMITS_OK && counted)
			clientlimits_disconnect(h->cl, "192.0.2.7");
		if (windowcount_take(h->wc, "alice@example.test", 30000, 3600, 1000, &left))
			__atomic_add_fetch(&h->taken, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Four threads counting in the same tables: nothing lost, no session left counted. */
static void test_tables_exact_under_threads(void **state)
{
	struct hammer h = { clientlimits_new(1000, 0), windowcount_new(16, "test"), 0 };
	pthread_t t[4];
	unsigned left;
	int counted;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &h), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(h.taken, 30000);   /* exactly the limit, of 80,000 tries */
	assert_false(windowcount_take(h.wc, "alice@example.test", 30000, 3600, 1000, &left));
	clientlimits_configure(h.cl, 1, 0);
	assert_int_equal(clientlimits_connect(h.cl, "192.0.2.7", 1000, &counted), CLIENTLIMITS_OK);
	assert_int_equal(clientlimits_connect(h.cl, "192.0.2.7", 1000, &counted), CLIENTLIMITS_TOO_MANY);
	clientlimits_free(h.cl);
	windowcount_free(h.wc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers_on_the_submitting_loop),
		cmocka_unit_test(test_home_outlives_its_loop),
		cmocka_unit_test(test_tables_exact_under_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
