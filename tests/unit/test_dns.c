/*
 * test_dns.c - libunbound contexts created from many threads at once (dns_new): the first
 * ub_ctx_create() in a process initialises a process-wide lock without synchronisation
 * (NLnetLabs/unbound#1492); without dns.c's set-up lock, about one fresh process in 900
 * aborts here with "pthread_mutex_lock: Assertion `mutex->__data.__owner == 0' failed", as
 * `mailport check` once did in CI. So each round is a fresh process whose 16 threads start
 * their first dns_new() together; 1,500 rounds catch the race most of the time without the
 * lock (measured), and never with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/dns.h"

#define ROUNDS 1500
#define THREADS 16

static pthread_barrier_t start;

static void *create_one(void *arg)
{
	char err[128];
	struct dns *d;

	(void)arg;
	pthread_barrier_wait(&start);
	d = dns_new("127.0.0.1:9", DNS_HOSTS, err, sizeof(err));
	dns_free(d);
	return NULL;
}

static void test_contexts_created_concurrently(void **state)
{
	int crashed = 0;

	(void)state;
	for (int k = 0; k < ROUNDS; k++) {
		pid_t pid = fork();
		int status;
		assert_true(pid >= 0);
		if (pid == 0) {
			pthread_t t[THREADS];
			pthread_barrier_init(&start, NULL, THREADS);
			for (int i = 0; i < THREADS; i++)
				if (pthread_create(&t[i], NULL, create_one, NULL) != 0)
					_exit(3);
			for (int i = 0; i < THREADS; i++)
				pthread_join(t[i], NULL);
			_exit(0);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		crashed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	assert_int_equal(crashed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_contexts_created_concurrently),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
